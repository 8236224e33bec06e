//! Actions, envelopes, events and outcomes of the session core.

use crate::command::{ForwardPath, MailParams, RcptParams, ReversePath, Verb};
use std::fmt;

use crate::reply::{Reply, ReplyCode};

use super::{AuthError, PeerError, Phase, UsageError};

/// What the driver should do next. See the [crate docs](crate) for the loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Write [`Client::pending_output`](super::Client::pending_output) (after the body
    /// segments of [`Client::write_body_segments`](super::Client::write_body_segments), if
    /// any are pending), waiting at most until
    /// [`Client::poll_timeout`](super::Client::poll_timeout), then call
    /// [`Client::consume_output`](super::Client::consume_output), `handle_timeout` or
    /// `handle_write_error`.
    Write,
    /// Read from the connection (until [`Client::poll_timeout`](super::Client::poll_timeout))
    /// and call `handle_input` / `handle_eof` / `handle_timeout` / `handle_io_error`.
    Read,
    /// Run the TLS handshake on the connection, then call
    /// [`Client::handle_tls_established`](super::Client::handle_tls_established).
    StartTls,
    /// Supply the body of this transaction with `write_body` and `finish_body`.
    SupplyBody(TxId),
    /// Nothing to do until the caller enqueues a command.
    Idle,
    /// The session is over; close the connection.
    Closed,
}

/// Identifies a transaction queued with [`Client::send_mail`](super::Client::send_mail).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId(pub(crate) u64);

/// The envelope of one message: sender, recipients and their parameters.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Envelope {
    /// `MAIL FROM` path.
    pub from: ReversePath,
    /// `MAIL FROM` parameters. `SIZE`, `SMTPUTF8` and `BODY` are filled in from
    /// [`size_hint`](Self::size_hint), the addresses and [`body`](Self::body) when the server
    /// advertises them.
    pub mail_params: MailParams,
    /// The recipients, each with its `RCPT TO` parameters.
    pub recipients: Vec<(ForwardPath, RcptParams)>,
    /// The body type: 7-bit (default), 8-bit MIME or binary. 8-bit content found in a body
    /// declared 7-bit aborts the transaction rather than send it undeclared.
    pub body: BodyType,
    /// The message size in octets, if known (sent as `SIZE=` when advertised, and checked
    /// against the server's limit before MAIL).
    pub size_hint: Option<u64>,
    /// Send the body with BDAT (CHUNKING) even if 8-bit or 7-bit DATA would do.
    pub prefer_bdat: bool,
}

impl Envelope {
    /// An envelope from `from` to `recipients`, with no parameters.
    pub fn new(from: ReversePath, recipients: impl IntoIterator<Item = ForwardPath>) -> Self {
        Envelope {
            from,
            mail_params: MailParams::default(),
            recipients: recipients
                .into_iter()
                .map(|r| (r, RcptParams::default()))
                .collect(),
            body: BodyType::SevenBit,
            size_hint: None,
            prefer_bdat: false,
        }
    }
}

/// The declared content of a body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BodyType {
    /// US-ASCII lines (no `BODY=` parameter).
    #[default]
    SevenBit,
    /// 8-bit lines (`BODY=8BITMIME`, RFC 6152).
    EightBitMime,
    /// Arbitrary octets (`BODY=BINARYMIME` with BDAT, RFC 3030).
    BinaryMime,
}

/// The final state of one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RcptStatus {
    /// The server took responsibility for delivery. The reply is the one to the end of data
    /// (SMTP: shared by all recipients; LMTP: this recipient's own).
    Accepted(Reply),
    /// A permanent refusal (5xx) at the given stage.
    Refused(Stage, Reply),
    /// A transient failure (4xx) at the given stage; retrying later may succeed. A `452`
    /// at RCPT ("too many recipients") lands here: send the rest in another transaction.
    Deferred(Stage, Reply),
    /// The message was certainly not delivered: the session failed before the end of data
    /// was sent (or the transaction could not start). Safe to retry.
    NotDelivered(Failure),
    /// The end of data was sent but no reply arrived: the server may have accepted the
    /// message. Retrying may deliver it twice.
    Unknown(Failure),
}

impl RcptStatus {
    /// Whether the server accepted the message for this recipient.
    pub fn is_accepted(&self) -> bool {
        matches!(self, RcptStatus::Accepted(_))
    }
}

/// Where in a transaction a reply was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The reply to MAIL FROM (applies to every recipient).
    Mail,
    /// The reply to this recipient's RCPT TO.
    Rcpt,
    /// The reply to DATA (or to a non-final BDAT).
    Data,
    /// A reply that arrived while the content was still being sent.
    DuringContent,
    /// The reply to the end of data (or `BDAT LAST`).
    EndOfData,
}

/// Why a recipient has no server verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// The session closed (see the [`CloseReason`] in [`Event::Closed`]).
    SessionClosed,
    /// The server closed the service with this 421 reply.
    ServiceClosing(Reply),
    /// The transaction was refused locally before MAIL was sent.
    Usage(UsageError),
    /// The transaction was given up (after [`Client::abort`](super::Client::abort), or a
    /// positive reply while the content was still being written).
    Aborted,
}

/// The outcome of one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RcptOutcome {
    /// The recipient.
    pub recipient: ForwardPath,
    /// The reply to its RCPT, if one arrived.
    pub rcpt_reply: Option<Reply>,
    /// Its final state.
    pub status: RcptStatus,
}

/// The outcome of a transaction: every recipient has exactly one [`RcptStatus`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxOutcome {
    /// The transaction.
    pub tx: TxId,
    /// The reply to MAIL FROM, if one arrived.
    pub mail_reply: Option<Reply>,
    /// The reply to DATA (the 354 or a refusal), if DATA was sent and answered.
    pub data_reply: Option<Reply>,
    /// One entry per recipient, in envelope order.
    pub recipients: Vec<RcptOutcome>,
}

impl TxOutcome {
    /// Whether at least one recipient was accepted.
    pub fn any_accepted(&self) -> bool {
        self.recipients.iter().any(|r| r.status.is_accepted())
    }

    /// Whether the sender was refused (the MAIL reply was 4xx or 5xx).
    pub fn sender_refused(&self) -> bool {
        self.mail_reply.as_ref().is_some_and(|r| !r.is_positive())
    }

    /// Whether the whole transaction may be sent again at once on a new connection, with
    /// no risk of delivering it twice and no deliberate refusal ignored: no recipient was
    /// accepted or is [`Unknown`](RcptStatus::Unknown), and every recipient failed with a
    /// 421 (at MAIL, RCPT, DATA or the end of data; RFC 5321 §4.2.5: a 4xx to the end of
    /// data means the message was not accepted) or is
    /// [`NotDelivered`](RcptStatus::NotDelivered) because the connection died before the
    /// end of data (`close`, the session's [`CloseReason`], says so with
    /// [`CloseReason::is_retry_safe`]). Other 4xx replies (say 452 at RCPT) are deferrals
    /// the server chose: retry those later, as its reply says.
    pub fn is_retry_safe(&self, close: Option<&CloseReason>) -> bool {
        let connection_died = close.is_some_and(CloseReason::is_retry_safe);
        !self.recipients.is_empty()
            && self.recipients.iter().all(|r| match &r.status {
                RcptStatus::Accepted(_) | RcptStatus::Unknown(_) => false,
                RcptStatus::Refused(_, reply) | RcptStatus::Deferred(_, reply) => {
                    reply.code() == ReplyCode::SERVICE_NOT_AVAILABLE
                }
                RcptStatus::NotDelivered(Failure::ServiceClosing(_)) => true,
                RcptStatus::NotDelivered(Failure::SessionClosed) => connection_died,
                RcptStatus::NotDelivered(_) => false,
            })
    }
}

/// Something the driver (or its caller) should know. Drain with
/// [`Client::poll_event`](super::Client::poll_event).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The server's 220 greeting.
    Greeting(Reply),
    /// EHLO was refused (any 4xx or 5xx but 421) and HELO is used instead (no
    /// extensions, no ESMTP parameters).
    HeloFallback(Reply),
    /// The session is ready for transactions (after EHLO/LHLO/HELO, and again after TLS).
    Ready,
    /// STARTTLS was offered but refused with this reply; the session goes on in plaintext
    /// ([`TlsPolicy::Opportunistic`](super::TlsPolicy::Opportunistic) only).
    StartTlsRefused(Reply),
    /// The TLS handshake is done and the session restarted with EHLO.
    TlsEstablished,
    /// AUTH ended. `Ok` carries the 235 reply (and, for SCRAM, the server proved it knows
    /// the password).
    AuthDone {
        /// The mechanism used (empty when none could be chosen).
        mechanism: String,
        /// The result.
        result: Result<Reply, AuthError>,
    },
    /// A reply to VRFY, EXPN, HELP, NOOP, RSET or a raw command.
    Reply {
        /// The command answered.
        verb: Verb,
        /// The reply.
        reply: Reply,
    },
    /// A transaction ended; every recipient has its outcome.
    TransactionDone(TxOutcome),
    /// The verdict of [`Client::check_health`](super::Client::check_health). When not
    /// healthy, the session closes next (QUIT is sent): do not reuse the connection.
    Health {
        /// Whether the reply was 2xx.
        healthy: bool,
        /// The reply to the NOOP or RSET.
        reply: Reply,
    },
    /// The session is over. Nothing else follows.
    Closed(CloseReason),
}

/// Why the session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// QUIT was answered (or the connection closed right after QUIT was sent).
    Quit(Option<Reply>),
    /// The server sent 421 (service closing).
    ServiceClosing(Reply),
    /// The server refused the session: 554 greeting, or EHLO/HELO refused.
    Refused(Reply),
    /// TLS was required but not offered, or STARTTLS was refused.
    TlsUnavailable(Option<Reply>),
    /// The server violated the protocol.
    Peer(PeerError),
    /// No complete reply before the deadline of this phase.
    Timeout(Phase),
    /// The caller aborted, or broke a rule that forced the session down.
    Usage(UsageError),
    /// The connection failed (reported by the driver with `handle_io_error` or
    /// `handle_write_error`).
    Transport,
    /// A health check ([`Client::check_health`](super::Client::check_health)) got this
    /// non-2xx reply: the connection is not to be reused.
    Unhealthy(Reply),
}

/// The command of a health check ([`Client::check_health`](super::Client::check_health)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HealthProbe {
    /// `NOOP`: cheap, changes nothing.
    Noop,
    /// `RSET`: also proves the server would start a new transaction.
    Rset,
}

impl CloseReason {
    /// Whether the connection died (421, a transport failure, end of stream in the middle
    /// of the session, or a deadline passed before the reply to an end of data): what was
    /// not finished may be sent again on a new connection without being delivered twice
    /// (after a backoff, for a timeout: the server may be overloaded). False for a QUIT,
    /// a refused session, missing TLS, a caller's abort or misuse, a protocol violation,
    /// and a timeout waiting for the end-of-data reply (the server may be still working on
    /// the message: its recipients are [`Unknown`](RcptStatus::Unknown)).
    pub fn is_retry_safe(&self) -> bool {
        match self {
            CloseReason::ServiceClosing(_)
            | CloseReason::Transport
            | CloseReason::Peer(PeerError::UnexpectedEof { .. }) => true,
            CloseReason::Timeout(phase) => *phase != Phase::DataDone,
            _ => false,
        }
    }

    /// What this close means for a recipient left without a server verdict (the
    /// [`Failure`] in its [`RcptStatus::NotDelivered`] or [`RcptStatus::Unknown`]).
    pub fn failure(&self) -> Failure {
        match self {
            CloseReason::ServiceClosing(r) => Failure::ServiceClosing(r.clone()),
            CloseReason::Usage(UsageError::Aborted) => Failure::Aborted,
            _ => Failure::SessionClosed,
        }
    }
}

impl From<&CloseReason> for Failure {
    fn from(reason: &CloseReason) -> Failure {
        reason.failure()
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const WITHOUT_TLS: &str = "use TlsPolicy::Opportunistic or Never to send without it";
        match self {
            CloseReason::Quit(Some(reply)) => write!(f, "the session ended with QUIT: {reply}"),
            CloseReason::Quit(None) => f.write_str(
                "the session ended with QUIT (the server closed the connection without replying)",
            ),
            CloseReason::ServiceClosing(reply) => {
                write!(f, "the server closed the service: {reply}")
            }
            CloseReason::Refused(reply) => write!(f, "the server refused the session: {reply}"),
            CloseReason::TlsUnavailable(None) => write!(
                f,
                "TLS is required but the server does not offer STARTTLS; {WITHOUT_TLS}"
            ),
            CloseReason::TlsUnavailable(Some(reply)) => write!(
                f,
                "TLS is required but the server refused STARTTLS ({reply}); {WITHOUT_TLS}"
            ),
            CloseReason::Peer(e) => write!(f, "the server violated the protocol: {e}"),
            CloseReason::Timeout(Phase::DataBlock) => {
                f.write_str("timed out writing the message content (the server stopped reading it)")
            }
            CloseReason::Timeout(phase) => {
                let waiting = phase.waiting();
                write!(f, "timed out {}", waiting.trim_start_matches("while "))
            }
            CloseReason::Usage(UsageError::Aborted) => {
                f.write_str("the caller aborted the session")
            }
            CloseReason::Usage(e) => write!(f, "the session was closed after a misuse: {e}"),
            CloseReason::Transport => {
                f.write_str("the connection failed (a read or write error on the socket)")
            }
            CloseReason::Unhealthy(reply) => write!(
                f,
                "the health check failed, the connection is not to be reused: {reply}"
            ),
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Mail => "MAIL",
            Stage::Rcpt => "RCPT",
            Stage::Data => "DATA",
            Stage::DuringContent => "the message content",
            Stage::EndOfData => "the end of data",
        })
    }
}

impl fmt::Display for RcptStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RcptStatus::Accepted(reply) => write!(f, "accepted: {reply}"),
            RcptStatus::Refused(stage, reply) => write!(f, "refused at {stage}: {reply}"),
            RcptStatus::Deferred(stage, reply) => {
                write!(f, "deferred at {stage} (try again later): {reply}")
            }
            RcptStatus::NotDelivered(why) => {
                write!(f, "not delivered (no risk of a duplicate): {why}")
            }
            RcptStatus::Unknown(why) => write!(
                f,
                "unknown: the end of data was sent but no verdict came back ({why}); \
                 sending again may deliver twice"
            ),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::SessionClosed => f.write_str("the session closed first"),
            Failure::ServiceClosing(reply) => write!(f, "the server closed the service: {reply}"),
            Failure::Usage(e) => write!(f, "refused before MAIL: {e}"),
            Failure::Aborted => f.write_str("the transaction was given up"),
        }
    }
}

/// One line of the transcript: what was sent or received, with AUTH payloads redacted and
/// message content summarised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TranscriptLine {
    /// A command line sent (without CRLF).
    Sent(String),
    /// `n` octets of message content sent.
    Content(u64),
    /// A reply received.
    Received(Reply),
}
