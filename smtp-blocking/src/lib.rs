//! Blocking SMTP/LMTP client: drives the sans-IO [`smtp_proto`] session core over
//! `std::net` (and Unix) sockets, with rustls for implicit TLS and STARTTLS.
//!
//! The API mirrors Python's `smtplib`: [`SmtpClient::connect`] (greeting, EHLO and
//! STARTTLS per [`Options::tls`]), [`SmtpClient::login`], [`SmtpClient::sendmail`] /
//! [`SmtpClient::send_message`] returning a per-recipient [`SendReport`], and
//! [`SmtpClient::quit`]. Every protocol decision is the core's; this crate moves bytes,
//! runs the TLS handshake when the core asks for it, and sleeps until the core's deadline.
//!
//! Security defaults: STARTTLS required, certificates verified (Mozilla roots from
//! `webpki-roots`, see [`TlsOptions`]), no credentials over plaintext, TCP_NODELAY, and
//! no read-ahead before a TLS handshake (every byte read is handed to the core at once,
//! so bytes injected after the STARTTLS 220 are detected, never parsed).
//!
//! ```no_run
//! use smtp_blocking::{Options, SmtpClient};
//!
//! let mut client = SmtpClient::connect("mail.example.com:587", Options::new())?;
//! client.login("alice", "secret")?;
//! let report = client.sendmail(
//!     "alice@example.com",
//!     &["bob@example.net"],
//!     b"Subject: hi\r\n\r\nHello Bob.\r\n",
//!     Default::default(),
//!     Default::default(),
//! )?;
//! for r in &report.recipients {
//!     println!("{}: {:?}", r.recipient, r.reply);
//! }
//! client.quit()?;
//! # Ok::<(), smtp_blocking::Error>(())
//! ```
//!
//! The transcript goes to `tracing` at debug level under the target
//! [`TRANSCRIPT_TARGET`] (AUTH payloads redacted, content summarised).

#![forbid(unsafe_code)]

mod client;
pub mod driver;
mod error;
mod message;
mod report;
mod tls;
mod transport;

pub use client::{Body, Options, SmtpClient, TRANSCRIPT_TARGET, default_client_name, envelope};
pub use error::{Error, Fault, ServerReply, TimeoutPhase};
pub use message::{ExtractedEnvelope, extract_envelope, strip_headers};
pub use report::{RecipientResult, SendReport};
pub use tls::TlsOptions;
pub use transport::Target;

pub use smtp_proto as proto;
pub use smtp_proto::session::{BodyType, Dialect, Envelope, Phase, Timeouts, TlsPolicy};
