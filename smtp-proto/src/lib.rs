//! # smtp-proto: the sans-IO core of an SMTP/LMTP client
//!
//! This crate consumes server reply bytes and produces command bytes. It never touches a
//! socket, a clock, a thread, an async runtime or TLS: the `smtp-blocking` and `smtp-async`
//! crates (or your own event loop) move the bytes.
//!
//! The wire layer, each part usable on its own:
//!
//! - [`reply`]: an incremental [`ReplyReader`] that frames CRLF lines under hard limits
//!   and parses each line with a `nom` grammar, yielding [`ReplyRef`]/[`Reply`] values with
//!   the [`ReplyCode`], the RFC 3463 [`EnhancedStatus`] and the raw text lines;
//! - [`ehlo`]: [`Capabilities`], a typed view of an EHLO/LHLO reply;
//! - [`command`]: validated command arguments and an encoder that cannot emit CR, LF or NUL
//!   inside a command line;
//! - [`body`]: streaming DATA (dot-stuffing, CRLF normalisation) and BDAT encoders.
//!
//! ```
//! use smtp_proto::{ReplyReader, ReplyCode};
//!
//! let mut reader = ReplyReader::new();
//! reader.push(b"250-mail.example.com Hello\r\n250-PIPE");
//! assert!(reader.next_reply().is_none()); // incomplete: wait for more bytes
//! reader.push(b"LINING\r\n250 2.0.0 SIZE 1000\r\n");
//! let reply = reader.next_reply().unwrap().unwrap();
//! assert_eq!(reply.code(), ReplyCode::OK);
//! assert_eq!(reply.lines().count(), 3);
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod body;
pub mod command;
pub mod ehlo;
pub mod reply;
pub mod sasl;

pub use ehlo::Capabilities;
pub use reply::{EnhancedStatus, Reply, ReplyCode, ReplyError, ReplyLimits, ReplyReader, ReplyRef};

/// The README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
