//! Async SMTP/LMTP client: drives the sans-IO [`smtp_proto`](crate::proto)
//! session core over async runtimes: tokio (feature `tokio`, default) and the
//! `futures-io` family (feature `futures-io`: smol, async-std), or any stream you connect
//! yourself.
//!
//! The API is `smtp-blocking`'s, method for method, as async functions: both run the
//! operations of the shared client layer ([`smtp_client`], re-exported here, with its
//! [`Options`], [`Error`], [`Reply`] and [`SendReport`]), so no protocol decision is
//! made twice. Every phase has the core's deadline, the greeting and the reply to the end
//! of data included. [`Pool`] keeps connections for high-volume sending.
//!
//! ```no_run
//! # async fn demo() -> Result<(), smtp_async::Error> {
//! use smtp_async::{Options, SmtpClient};
//!
//! let mut client = SmtpClient::connect("mail.example.com:587", Options::new()).await?;
//! client.login("alice", "secret").await?;
//! let report = client
//!     .sendmail(
//!         "alice@example.com",
//!         &["bob@example.net"],
//!         b"Subject: hi\r\n\r\nHello Bob.\r\n",
//!         Default::default(),
//!         Default::default(),
//!     )
//!     .await?;
//! for r in &report.recipients {
//!     println!("{}: {:?}", r.recipient, r.reply);
//! }
//! client.quit().await?;
//! # Ok(()) }
//! ```
//!
//! On smol or async-std, name the runtime:
//! `SmtpClient::connect_on(&smtp_async::AsyncIo, "mail.example.com:587", Options::new())`.
//!
//! The transcript goes to `tracing` at debug level under the target
//! [`TRANSCRIPT_TARGET`] (AUTH payloads redacted, content summarised). To see it on
//! stderr, install a subscriber before connecting (a session records its transcript only
//! when someone listens as it starts):
//!
//! ```
//! use tracing_subscriber::filter::{LevelFilter, Targets};
//! use tracing_subscriber::prelude::*;
//!
//! tracing_subscriber::registry()
//!     .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
//!     .with(Targets::new().with_target(smtp_async::TRANSCRIPT_TARGET, LevelFilter::DEBUG))
//!     .init();
//! ```
//!
//! Dropping a client closes its connection without QUIT (see [`SmtpClient`]); call
//! [`SmtpClient::quit`].
//!
//! Security defaults are the blocking crate's: STARTTLS required, certificates verified
//! (rustls through futures-rustls, with [`TlsOptions`]), no credentials over plaintext,
//! TCP_NODELAY, and no read-ahead before a TLS handshake.

#![forbid(unsafe_code)]

mod client;
mod pool;
pub mod runtime;

pub use client::{Body, SmtpClient, TlsUpgrade};
pub use pool::{Endpoint, HealthCheck, MechanismFactory, Pool, PoolConfig};
#[cfg(feature = "futures-io")]
pub use runtime::AsyncIo;
#[cfg(feature = "tokio")]
pub use runtime::Tokio;
pub use runtime::{AsyncStream, BoxStream, Runtime};

pub use smtp_client::{self as client_layer, proto};
pub use smtp_client::{
    AsyncTokenProvider, OAuthFlow, OAuthNext, TokenFuture, TokenProvider, is_token_refused,
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
