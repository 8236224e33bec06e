//! Blocking SMTP/LMTP client: drives the sans-IO [`smtp_proto`] session core over
//! `std::net` (and Unix) sockets, with rustls for implicit TLS and STARTTLS.
//!
//! The API mirrors Python's `smtplib`: [`SmtpClient::connect`] (greeting, EHLO and
//! STARTTLS per the TLS policy), [`SmtpClient::login`], [`SmtpClient::sendmail`] /
//! [`SmtpClient::send_message`] returning a per-recipient [`SendReport`], and
//! [`SmtpClient::quit`]. Every protocol decision is the core's, and every operation is
//! written once in the shared client layer ([`smtp_client`], re-exported here): this
//! crate moves bytes, runs the TLS handshake when the core asks for it, and sleeps until
//! the core's deadline.
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
//! [`TRANSCRIPT_TARGET`] (AUTH payloads redacted, content summarised). To see it on
//! stderr (smtplib's `set_debuglevel(1)`), install a subscriber before connecting (a
//! session records its transcript only when someone listens as it starts):
//!
//! ```
//! use tracing_subscriber::filter::{LevelFilter, Targets};
//! use tracing_subscriber::prelude::*;
//!
//! tracing_subscriber::registry()
//!     .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
//!     .with(Targets::new().with_target(smtp_blocking::TRANSCRIPT_TARGET, LevelFilter::DEBUG))
//!     .init();
//! ```
//!
//! Dropping a client sends a best-effort QUIT when it is idle, without waiting for the
//! reply (see [`SmtpClient`]'s `Drop`); [`SmtpClient::quit`] waits for the 221.

#![forbid(unsafe_code)]

mod client;
mod retrying;
mod transport;

pub use client::{Body, SmtpClient};
pub use retrying::Retrying;

pub use smtp_client::{self as client_layer, proto};
pub use smtp_client::{
    AsyncTokenProvider, OAuthFlow, OAuthNext, TokenProvider, is_token_refused,
    message_envelope_with,
};
pub use smtp_client::{
    BodyType, Dialect, Envelope, Error, ExtractedEnvelope, Fault, Options, Phase, Proxy,
    ProxyError, ProxyKind, ProxyRefusal, RateLimit, RecipientResult, Reply, RetryPolicy,
    SendReport, TRANSCRIPT_TARGET, Target, TimeoutPhase, Timeouts, Timings, TlsInfo, TlsOptions,
    TlsPolicy, Verification, default_client_name, envelope, extract_envelope, strip_headers,
};
#[cfg(feature = "x509")]
pub use smtp_client::{CertParseError, CertSummary};
