//! Errors, after Python smtplib's exception classes, each saying whose fault it is.

use std::fmt;
use std::io;

use smtp_proto::Reply;
use smtp_proto::session::{AuthError, CloseReason, PeerError, Phase, UsageError};

use crate::proxy::ProxyError;
use crate::report::SendReport;

/// Whose fault an [`Error`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The server refused or misbehaved.
    Peer,
    /// The caller misused the API or gave invalid input.
    Caller,
    /// The network or the local system failed (includes timeouts).
    Io,
    /// The proxy (`Options::proxy`) refused or misbehaved; the mail server was not reached.
    Proxy,
}

/// What was going on when a deadline passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutPhase {
    /// Establishing the TCP connection.
    Connect,
    /// Opening the tunnel through the proxy (bounded by the connect deadline).
    ProxyHandshake,
    /// The TLS handshake (implicit TLS or after STARTTLS).
    TlsHandshake,
    /// Waiting for a reply or writing content, in this SMTP phase.
    Smtp(Phase),
}

impl fmt::Display for TimeoutPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeoutPhase::Connect => f.write_str("connect"),
            TimeoutPhase::ProxyHandshake => f.write_str("proxy handshake"),
            TimeoutPhase::TlsHandshake => f.write_str("TLS handshake"),
            TimeoutPhase::Smtp(p) => write!(f, "{p}"),
        }
    }
}

/// Everything that can go wrong. [`Error::fault`] says whose fault it is;
/// [`Error::reply`] gives the server's reply when there is one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No address of the server could be connected to (I/O). Holds the last error.
    #[error("could not connect to {target}: {source}")]
    Connect {
        /// The host (and port) as given.
        target: String,
        /// The last connection error.
        source: io::Error,
    },
    /// The proxy did not open the tunnel to the mail server (its fault, the network's or
    /// the caller's: [`ProxyError::fault`]). Nothing reached the mail server.
    #[error("proxy {proxy}: {source}")]
    Proxy {
        /// The proxy URL, credentials redacted.
        proxy: String,
        /// What went wrong.
        source: ProxyError,
    },
    /// A deadline passed (I/O).
    #[error("timed out during {0}")]
    Timeout(TimeoutPhase),
    /// The server closed the connection unexpectedly (peer; smtplib's
    /// `SMTPServerDisconnected`).
    #[error("server disconnected while waiting for the {0} reply")]
    ServerDisconnected(Phase),
    /// The server refused the session: greeting other than 220, or EHLO/HELO refused
    /// (peer; smtplib's `SMTPHeloError` / `SMTPConnectError`).
    #[error("server refused the session: {0}")]
    HeloRefused(Reply),
    /// The server closed the service with 421 (peer).
    #[error("server is closing the service: {0}")]
    ServiceClosing(Reply),
    /// TLS was required but the server does not offer STARTTLS or refused it (peer; the
    /// message says how to send without TLS when that is what the caller wants).
    #[error(
        "TLS is required but {}; to send without it, set the TLS policy (Options::core.tls) \
         to TlsPolicy::Opportunistic or TlsPolicy::Never",
        match .0 { Some(r) => format!("the server refused STARTTLS: {r}"), None => "the server does not offer STARTTLS".to_owned() }
    )]
    TlsUnavailable(Option<Reply>),
    /// The TLS handshake failed, e.g. an unverifiable certificate (peer, or the caller's
    /// trust settings).
    #[error("TLS handshake failed: {0}")]
    Tls(#[source] io::Error),
    /// The server broke the protocol (peer).
    #[error("protocol violation by the server: {0}")]
    Protocol(#[from] PeerError),
    /// MAIL FROM was refused (peer; smtplib's `SMTPSenderRefused`).
    #[error("sender <{sender}> refused: {reply}")]
    SenderRefused {
        /// The refusal.
        reply: Reply,
        /// The sender.
        sender: String,
        /// The whole report (every recipient not delivered).
        report: Box<SendReport>,
    },
    /// Every recipient was refused (peer; smtplib's `SMTPRecipientsRefused`). The report
    /// holds every recipient with its reply.
    #[error("all recipients refused")]
    RecipientsRefused(Box<SendReport>),
    /// DATA or the end of data was refused for every recipient (peer; smtplib's
    /// `SMTPDataError`).
    #[error("message refused: {reply}")]
    DataRefused {
        /// The refusal.
        reply: Reply,
        /// The whole report.
        report: Box<SendReport>,
    },
    /// The end of data was sent but no reply came (the server disconnected, or the
    /// deadline passed: `source` says which): the server may have accepted the message,
    /// so sending it again may deliver it twice. Distinct from a refusal. The report holds
    /// every recipient, those without a verdict as
    /// [`RcptStatus::Unknown`](smtp_proto::session::RcptStatus::Unknown).
    #[error("the message may have been accepted: {source}")]
    DeliveryUnknown {
        /// What ended the session.
        source: Box<Error>,
        /// The whole report.
        report: Box<SendReport>,
    },
    /// Authentication failed (peer when refused, caller when no mechanism fits or the
    /// connection is unencrypted; smtplib's `SMTPAuthenticationError`).
    #[error("authentication failed ({mechanism}): {source}")]
    Auth {
        /// The mechanism tried (empty if none).
        mechanism: String,
        /// Why.
        source: AuthError,
    },
    /// The call needs an extension the server does not advertise, such as SMTPUTF8 for a
    /// non-ASCII address or BINARYMIME for a binary body (caller: do not ask this server
    /// for it; smtplib's `SMTPNotSupportedError`).
    #[error("the server does not support {0}, which this message needs")]
    NotSupported(String),
    /// API misuse or invalid input (caller).
    #[error(transparent)]
    Usage(UsageError),
    /// An earlier call on this connection was cancelled mid-operation (an async future
    /// dropped before it finished): the connection was closed, since the server's state
    /// is unknown, and it cannot be used again (caller).
    #[error("the connection was closed because an earlier operation on it was cancelled")]
    Cancelled,
    /// Invalid argument, such as an address that does not parse (caller).
    #[error("invalid argument: {0}")]
    InvalidInput(String),
    /// An I/O error on an established connection.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

impl From<UsageError> for Error {
    /// A usage error of the core; "not advertised" becomes [`Error::NotSupported`].
    fn from(e: UsageError) -> Error {
        match e {
            UsageError::NotAdvertised(ext) => Error::NotSupported(ext.to_owned()),
            e => Error::Usage(e),
        }
    }
}

impl Error {
    /// A failed TLS handshake, its message made readable (certificate problems say what
    /// is wrong and what to set; never rustls' `Debug` text).
    pub fn tls(e: io::Error) -> Error {
        Error::Tls(crate::tls_error::describe(e))
    }

    /// Whose fault this is.
    pub fn fault(&self) -> Fault {
        match self {
            Error::DeliveryUnknown { source, .. } => source.fault(),
            Error::Proxy { source, .. } => source.fault(),
            Error::Connect { .. } | Error::Timeout(_) | Error::Io(_) => Fault::Io,
            Error::Usage(_)
            | Error::InvalidInput(_)
            | Error::Cancelled
            | Error::NotSupported(_) => Fault::Caller,
            Error::Auth { source, .. } => match source {
                AuthError::Rejected { .. } => Fault::Peer,
                AuthError::Sasl(e) if e.fault() == smtp_proto::sasl::Fault::Server => Fault::Peer,
                _ => Fault::Caller,
            },
            _ => Fault::Peer,
        }
    }

    /// The server's reply behind this error, if any.
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            Error::HeloRefused(r)
            | Error::ServiceClosing(r)
            | Error::SenderRefused { reply: r, .. }
            | Error::DataRefused { reply: r, .. } => Some(r),
            Error::TlsUnavailable(r) => r.as_ref(),
            _ => None,
        }
    }

    /// Whether retrying later may succeed: a 4xx reply, a timeout, a disconnect or an
    /// I/O error (for [`Error::RecipientsRefused`]: every refusal was 4xx; for
    /// [`Error::DeliveryUnknown`]: its cause, though a retry may deliver twice).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::DeliveryUnknown { source, .. } => source.is_transient(),
            Error::Proxy { source, .. } => source.is_transient(),
            Error::RecipientsRefused(rep) => rep
                .recipients
                .iter()
                .all(|r| r.reply.as_ref().is_some_and(Reply::is_transient)),
            Error::Connect { .. }
            | Error::Timeout(_)
            | Error::Io(_)
            | Error::ServerDisconnected(_)
            | Error::ServiceClosing(_) => true,
            Error::Auth {
                source: AuthError::Rejected { reply, .. },
                ..
            } => reply.is_transient(),
            e => e.reply().is_some_and(Reply::is_transient),
        }
    }

    /// Whether sending the same message again on a new connection cannot deliver it twice:
    /// the connection failed or was refused before the end of data, or the server answered
    /// 421 ("closing the service") and accepted the message for no recipient (a 421 to the
    /// end of data counts: a 4xx there means "not accepted", RFC 5321 4.2.5). For the
    /// errors of a transaction this is the core's verdict on it
    /// ([`SendReport::retry_safe`]); never true for [`Error::DeliveryUnknown`] (the end of
    /// data went unanswered) nor for the server's other verdicts. The pool and
    /// [`RetryPolicy`](crate::RetryPolicy) retry only what it allows.
    pub fn is_retry_safe(&self) -> bool {
        match self {
            Error::SenderRefused { report, .. }
            | Error::RecipientsRefused(report)
            | Error::DataRefused { report, .. } => report.retry_safe,
            Error::DeliveryUnknown { .. } => false,
            // A session that failed outside a transaction: the core's close reason,
            // rebuilt from the error (the phase and reply are the core's).
            Error::ServerDisconnected(p) => {
                CloseReason::Peer(PeerError::UnexpectedEof { phase: *p }).is_retry_safe()
                    && *p != Phase::DataDone
            }
            Error::ServiceClosing(r) => CloseReason::ServiceClosing(r.clone()).is_retry_safe(),
            Error::Timeout(TimeoutPhase::Smtp(p)) => CloseReason::Timeout(*p).is_retry_safe(),
            Error::Timeout(
                TimeoutPhase::Connect | TimeoutPhase::ProxyHandshake | TimeoutPhase::TlsHandshake,
            ) => true,
            // The mail server was not reached.
            Error::Io(_) | Error::Connect { .. } | Error::Proxy { .. } => true,
            _ => false,
        }
    }

    /// A copy of a connection-level error (I/O errors are not `Clone`): I/O, timeout
    /// and TLS errors keep their kind and text; anything else becomes "closed".
    pub fn copy(&self) -> Error {
        match self {
            Error::Io(x) => Error::Io(io::Error::new(x.kind(), x.to_string())),
            Error::Timeout(p) => Error::Timeout(*p),
            Error::Tls(x) => Error::Tls(io::Error::new(x.kind(), x.to_string())),
            Error::Connect { target, source } => Error::Connect {
                target: target.clone(),
                source: io::Error::new(source.kind(), source.to_string()),
            },
            Error::Proxy { proxy, source } => Error::Proxy {
                proxy: proxy.clone(),
                source: source.copy(),
            },
            _ => Error::Usage(UsageError::Closed),
        }
    }

    /// The error a closed session stands for.
    pub fn from_close(reason: &CloseReason) -> Error {
        match reason {
            CloseReason::Quit(_) => Error::Usage(UsageError::Closed),
            CloseReason::ServiceClosing(r) => Error::ServiceClosing(r.clone()),
            CloseReason::Refused(r) => Error::HeloRefused(r.clone()),
            CloseReason::TlsUnavailable(r) => Error::TlsUnavailable(r.clone()),
            CloseReason::Peer(PeerError::UnexpectedEof { phase }) => {
                Error::ServerDisconnected(*phase)
            }
            CloseReason::Peer(e) => Error::Protocol(e.clone()),
            CloseReason::Timeout(p) => Error::Timeout(TimeoutPhase::Smtp(*p)),
            CloseReason::Usage(e) => Error::Usage(e.clone()),
            _ => Error::Usage(UsageError::Closed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: u16) -> Reply {
        Reply::parse(format!("{code} x\r\n").as_bytes()).expect("a valid reply")
    }

    #[test]
    fn retry_safe_only_when_nothing_can_have_been_delivered() {
        // (Transaction errors carry the core's verdict: tests/exchange.rs drives them.)
        let report = SendReport {
            mail_reply: None,
            data_reply: None,
            recipients: Vec::new(),
            retry_safe: true,
        };
        assert!(Error::ServerDisconnected(Phase::Mail).is_retry_safe());
        assert!(Error::ServiceClosing(reply(421)).is_retry_safe());
        assert!(Error::Io(io::ErrorKind::ConnectionReset.into()).is_retry_safe());
        // Whatever a report says, an unanswered end of data is never retry-safe.
        let unknown = Error::DeliveryUnknown {
            source: Box::new(Error::Io(io::ErrorKind::ConnectionReset.into())),
            report: Box::new(report.clone()),
        };
        assert!(!unknown.is_retry_safe());
        assert!(!Error::Timeout(TimeoutPhase::Smtp(Phase::DataDone)).is_retry_safe());
        assert!(!Error::ServerDisconnected(Phase::DataDone).is_retry_safe());
        assert!(Error::Timeout(TimeoutPhase::Smtp(Phase::Rcpt)).is_retry_safe());
        assert!(Error::Timeout(TimeoutPhase::Connect).is_retry_safe());
        let refused = Error::Connect {
            target: "x:25".into(),
            source: io::ErrorKind::ConnectionRefused.into(),
        };
        assert!(refused.is_retry_safe());
        let data = Error::DataRefused {
            reply: reply(554),
            report: Box::new(SendReport {
                retry_safe: false,
                ..report
            }),
        };
        assert!(!data.is_retry_safe());
    }
}
