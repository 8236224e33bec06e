//! The I/O-free SMTP/LMTP client layer that every driver of the [`smtp_proto`] core
//! shares: `smtp-blocking`, `smtp-async`, and your own event loop.
//!
//! - [`Options`]: every connection setting, the core's whole
//!   [`Config`](smtp_proto::session::Config) included;
//! - [`Error`] (whose [`fault`](Error::fault) it is, whether it
//!   [`is_transient`](Error::is_transient) or [`is_retry_safe`](Error::is_retry_safe)),
//!   and the per-recipient [`SendReport`];
//! - the smtplib-style operations ([`ops`]), written once: each adapter runs them with
//!   its own I/O through an [`Exchange`] over a [`Session`];
//! - what a driver needs beyond moving bytes: the envelope from a message's headers
//!   ([`extract_envelope`]), zero-copy body [`Segments`], the pipelined [`Batch`], the
//!   transcript, the TLS configuration ([`TlsOptions`]), server addresses ([`Target`]),
//!   the TCP socket set-up ([`tcp_socket`]) and proxies ([`Proxy`], driven through the
//!   sans-IO [`ProxyHandshake`]);
//! - what a session learnt while opening, for tools that report on a server: the
//!   [`TlsInfo`] of its handshake (with the `x509` feature, a `CertSummary` of each
//!   certificate), the capabilities before STARTTLS
//!   ([`Session::capabilities_before_tls`]) and the [`Timings`] of each phase.
//!
//! Nothing here reads a socket or a clock: time comes in as `now`.
//!
//! # Driving an operation from your own loop
//!
//! ```
//! use std::time::Instant;
//! use smtp_client::{Exchange, Options, Session, Step, TlsPolicy, ops};
//!
//! let opts = Options::new().with_tls(TlsPolicy::Never);
//! let mut session = Session::new(&opts, "localhost", None, Instant::now())?;
//! // Bodies are `&[u8]` or a reader of your choice (here: none).
//! let mut x: Exchange<'_, '_, dyn std::io::Read, _> = Exchange::new(&mut session, ops::Ready)?;
//! // The core waits for the greeting first.
//! assert!(matches!(x.step(), Step::Read));
//! x.received(b"220 mx.example.org ESMTP\r\n", Instant::now());
//! // Then it writes EHLO.
//! assert!(matches!(x.step(), Step::Write));
//! # Ok::<(), smtp_client::Error>(())
//! ```

#![forbid(unsafe_code)]

mod batch;
mod body;
mod error;
mod message;
pub mod oauth;
pub mod ops;
mod options;
mod proxy;
mod report;
mod retry;
mod session;
mod target;
mod timings;
mod tls;
mod tls_error;
mod tls_info;

pub use batch::{
    Batch, envelope, message_envelope, message_envelope_with, sendmail_envelope, with_cause,
};
pub use body::{BODY_CHUNK, Body, Feeds, Segments};
pub use error::{Error, Fault, TimeoutPhase};
pub use message::{ExtractedEnvelope, extract_envelope, strip_headers};
pub use oauth::{
    AsyncTokenProvider, OAuthFlow, OAuthNext, TokenFuture, TokenProvider, is_token_refused,
};
pub use options::{Options, default_client_name};
pub use proxy::{
    MAX_HTTP_HEAD, Proxy, ProxyError, ProxyHandshake, ProxyKind, ProxyRefusal, ProxyStep,
};
pub use report::{RecipientResult, SendReport};
pub use retry::{RateLimit, RetryPolicy};
pub use session::{
    Exchange, MAX_TRANSCRIPT_LINES, Operation, Session, Step, Suspended, TRANSCRIPT_TARGET,
    transcript_text,
};
pub use target::{ConnectFailures, Target, connect_order, tcp_socket};
pub use timings::Timings;
pub use tls::TlsOptions;
#[cfg(feature = "x509")]
pub use tls_info::{CertParseError, CertSummary};
pub use tls_info::{TlsInfo, Verification};

pub use smtp_proto as proto;
pub use smtp_proto::Reply;
pub use smtp_proto::session::{BodyType, Dialect, Envelope, Phase, Timeouts, TlsPolicy};
