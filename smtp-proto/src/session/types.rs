//! Configuration, actions, events, outcomes and errors of the session core.

use std::time::Duration;

use crate::command::{
    CommandError, Domain, ForwardPath, MailParams, RcptParams, ReversePath, Verb,
};
use crate::reply::{Reply, ReplyError, ReplyLimits};
use crate::sasl::SaslError;

/// SMTP (RFC 5321) or LMTP (RFC 2033).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Dialect {
    /// SMTP: `EHLO` (with `HELO` fallback), one reply to the end of data.
    #[default]
    Smtp,
    /// LMTP: `LHLO`, one reply per accepted recipient after the end of data.
    Lmtp,
}

/// When to use TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TlsPolicy {
    /// Never: plaintext only (`STARTTLS` is not sent even when offered).
    Never,
    /// Use `STARTTLS` when the server offers it; go on in plaintext otherwise.
    Opportunistic,
    /// Require `STARTTLS`: fail, sending nothing but `QUIT`, if it is not offered or refused.
    #[default]
    Required,
    /// Implicit TLS (port 465): the driver handshakes before the greeting.
    Implicit,
}

/// Per-phase reply deadlines. Defaults follow RFC 5321 §4.5.3.2.
///
/// Each deadline covers one whole reply, counted from when its command was written (or,
/// with pipelining, from when the reply before it arrived, whichever is later): a server
/// that drips one byte at a time still times out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// The greeting (220): 5 min.
    pub greeting: Duration,
    /// EHLO/HELO/LHLO: 5 min.
    pub ehlo: Duration,
    /// STARTTLS reply: 5 min (the TLS handshake itself is the driver's to bound).
    pub starttls: Duration,
    /// Each AUTH reply: 5 min.
    pub auth: Duration,
    /// MAIL: 5 min.
    pub mail: Duration,
    /// RCPT: 5 min.
    pub rcpt: Duration,
    /// DATA (the 354): 2 min.
    pub data_init: Duration,
    /// Each data block written without progress: 3 min.
    pub data_block: Duration,
    /// The reply to the final `.` or `BDAT LAST`: 10 min.
    pub data_done: Duration,
    /// RSET: 5 min (a pool's health check may want Postfix's 20 s).
    pub rset: Duration,
    /// QUIT: 5 min.
    pub quit: Duration,
    /// VRFY, EXPN, HELP, NOOP, raw commands, non-final BDAT: 5 min.
    pub other: Duration,
}

impl Timeouts {
    /// RFC 5321 §4.5.3.2 defaults.
    pub const RFC5321: Self = Self {
        greeting: Duration::from_secs(300),
        ehlo: Duration::from_secs(300),
        starttls: Duration::from_secs(300),
        auth: Duration::from_secs(300),
        mail: Duration::from_secs(300),
        rcpt: Duration::from_secs(300),
        data_init: Duration::from_secs(120),
        data_block: Duration::from_secs(180),
        data_done: Duration::from_secs(600),
        rset: Duration::from_secs(300),
        quit: Duration::from_secs(300),
        other: Duration::from_secs(300),
    };

    /// Every phase set to `d` (a command-line `--timeout`).
    pub const fn all(d: Duration) -> Self {
        Self {
            greeting: d,
            ehlo: d,
            starttls: d,
            auth: d,
            mail: d,
            rcpt: d,
            data_init: d,
            data_block: d,
            data_done: d,
            rset: d,
            quit: d,
            other: d,
        }
    }

    pub(crate) fn for_phase(&self, phase: Phase) -> Duration {
        match phase {
            Phase::Greeting => self.greeting,
            Phase::Ehlo => self.ehlo,
            Phase::StartTls => self.starttls,
            Phase::Auth => self.auth,
            Phase::Mail => self.mail,
            Phase::Rcpt => self.rcpt,
            Phase::DataInit => self.data_init,
            Phase::DataBlock => self.data_block,
            Phase::DataDone => self.data_done,
            Phase::Rset => self.rset,
            Phase::Quit => self.quit,
            Phase::Other => self.other,
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Self::RFC5321
    }
}

/// The phase a deadline belongs to (named in timeouts and protocol errors).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// Waiting for the 220 greeting.
    Greeting,
    /// EHLO, HELO or LHLO.
    Ehlo,
    /// STARTTLS.
    StartTls,
    /// AUTH and its continuation lines.
    Auth,
    /// MAIL FROM.
    Mail,
    /// RCPT TO.
    Rcpt,
    /// DATA, waiting for 354.
    DataInit,
    /// Writing the message content.
    DataBlock,
    /// Waiting for the reply to the final `.` or `BDAT LAST`.
    DataDone,
    /// RSET.
    Rset,
    /// QUIT.
    Quit,
    /// Any other command.
    Other,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Greeting => "greeting",
            Phase::Ehlo => "EHLO",
            Phase::StartTls => "STARTTLS",
            Phase::Auth => "AUTH",
            Phase::Mail => "MAIL",
            Phase::Rcpt => "RCPT",
            Phase::DataInit => "DATA",
            Phase::DataBlock => "message content",
            Phase::DataDone => "end of data",
            Phase::Rset => "RSET",
            Phase::Quit => "QUIT",
            Phase::Other => "command",
        })
    }
}

/// Session settings. Build with [`Config::new`] and adjust the fields.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// SMTP or LMTP.
    pub dialect: Dialect,
    /// The name sent with EHLO/HELO/LHLO (adapters default it to the host's FQDN).
    pub client_name: Domain,
    /// When to use TLS. Defaults to [`TlsPolicy::Required`].
    pub tls: TlsPolicy,
    /// Per-phase deadlines.
    pub timeouts: Timeouts,
    /// Limits on server replies.
    pub reply_limits: ReplyLimits,
    /// Most commands in flight with PIPELINING (RFC 2920; msmtp uses 100).
    pub max_in_flight: usize,
    /// Output buffered before [`Client::write_body`](super::Client::write_body) pushes
    /// back (returns a short count). Bounds the core's memory during a body.
    pub max_output: usize,
    /// Send credentials over an unencrypted connection (off by default).
    pub allow_plaintext_auth: bool,
    /// Fall back to HELO when EHLO is refused with 500/502 (ignored when TLS is required
    /// or implicit, and for LMTP).
    pub allow_helo_fallback: bool,
    /// Drop DSN parameters the server did not advertise instead of failing the transaction.
    pub drop_unsupported_dsn: bool,
    /// Record a transcript (see [`Client::poll_transcript`](super::Client::poll_transcript)).
    pub transcript: bool,
    /// Payload octets per `BDAT` chunk (the core buffers at most one chunk).
    pub bdat_chunk_size: usize,
}

impl Config {
    /// Defaults for `client_name`: SMTP, TLS required, RFC 5321 timeouts, default limits.
    pub fn new(client_name: Domain) -> Self {
        Config {
            dialect: Dialect::Smtp,
            client_name,
            tls: TlsPolicy::Required,
            timeouts: Timeouts::RFC5321,
            reply_limits: ReplyLimits::DEFAULT,
            max_in_flight: 100,
            max_output: 256 * 1024,
            allow_plaintext_auth: false,
            allow_helo_fallback: true,
            drop_unsupported_dsn: false,
            transcript: false,
            bdat_chunk_size: 256 * 1024,
        }
    }
}

/// What the driver should do next. See the [crate docs](crate) for the loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Write [`Client::pending_output`](super::Client::pending_output) (after the body
    /// segments of [`Client::write_body_segments`](super::Client::write_body_segments), if
    /// any are pending), then call
    /// [`Client::consume_output`](super::Client::consume_output).
    Write,
    /// Read from the connection (until [`Client::poll_timeout`](super::Client::poll_timeout))
    /// and call `handle_input` / `handle_eof` / `handle_timeout`.
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
    /// The transaction was given up (for example after `abort_body`).
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
}

/// Something the driver (or its caller) should know. Drain with
/// [`Client::poll_event`](super::Client::poll_event).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The server's 220 greeting.
    Greeting(Reply),
    /// EHLO was refused with 500/502 and HELO is used instead (no extensions).
    HeloFallback(Reply),
    /// The session is ready for transactions (after EHLO/LHLO/HELO, and again after TLS).
    Ready,
    /// STARTTLS was offered but refused with this reply; the session goes on in plaintext
    /// ([`TlsPolicy::Opportunistic`] only).
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
    /// The connection failed (reported by the driver with `handle_io_error`).
    Transport,
}

/// The server violated the protocol. The session is closed; nothing but QUIT is sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// A reply could not be parsed or broke a limit.
    #[error("malformed reply: {0}")]
    Reply(#[from] ReplyError),
    /// A reply arrived when none was expected (a surplus or unsolicited reply).
    #[error("unexpected reply {code} with no command outstanding")]
    UnexpectedReply {
        /// Its code.
        code: u16,
    },
    /// A reply code that makes no sense for the command (e.g. 354 to RCPT).
    #[error("reply code {code} is not a valid answer in phase {phase}")]
    WrongCode {
        /// The phase whose reply it was.
        phase: Phase,
        /// The code.
        code: u16,
    },
    /// Bytes arrived after the 220 to STARTTLS and before the TLS handshake (a response
    /// injection attempt): they are never parsed.
    #[error("{len} octets received after the STARTTLS 220 and before the TLS handshake")]
    DataAfterStartTls {
        /// How many.
        len: usize,
    },
    /// The connection closed before the reply of this phase was complete.
    #[error("connection closed while waiting for the {phase} reply")]
    UnexpectedEof {
        /// The phase.
        phase: Phase,
    },
    /// The server broke the SASL exchange (bad base64, too many rounds, failed proof).
    #[error("SASL exchange failed: {0}")]
    Sasl(String),
}

/// The caller misused the API. Returned from the call; the session is unchanged unless
/// said otherwise.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// The session is closed (or closing).
    #[error("the session is closed")]
    Closed,
    /// The call does not fit the session's state (e.g. `write_body` with no body wanted).
    #[error("not possible now: {0}")]
    WrongState(&'static str),
    /// Input was handed to the core during the TLS handshake: those bytes belong to TLS.
    #[error("input received during the TLS handshake")]
    InputDuringTlsHandshake,
    /// The transaction needs an extension the server did not advertise.
    #[error("the server does not advertise {0}")]
    NotAdvertised(&'static str),
    /// The message is larger than the server's SIZE limit.
    #[error("message of {size} octets exceeds the server's limit of {limit}")]
    TooLarge {
        /// The message size.
        size: u64,
        /// The advertised limit.
        limit: u64,
    },
    /// Credentials would travel unencrypted and `allow_plaintext_auth` is off.
    #[error("refusing to send credentials over an unencrypted connection")]
    PlaintextAuth,
    /// An envelope with no recipient.
    #[error("no recipients")]
    NoRecipients,
    /// The body holds 8-bit octets but was declared 7-bit.
    #[error("8-bit content in a body declared 7-bit")]
    Undeclared8Bit,
    /// A command could not be encoded.
    #[error("command refused: {0}")]
    Command(#[from] CommandError),
    /// The caller aborted the session.
    #[error("aborted by the caller")]
    Aborted,
}

/// Why authentication did not succeed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The server refused (4xx transient, 5xx permanent). `detail` carries an OAuth error
    /// report when the server sent one.
    #[error("authentication refused: {reply}")]
    Rejected {
        /// The server's reply.
        reply: Reply,
        /// The mechanism's view of the failure (e.g. the OAuth JSON error), if any.
        detail: Option<SaslError>,
    },
    /// No mechanism both offered by the server and allowed by the caller fits the
    /// credentials (or the server offers no AUTH at all).
    #[error("no usable authentication mechanism")]
    NoMechanism,
    /// The mechanism failed: bad credentials (the caller's fault) or a broken or
    /// unverifiable exchange (the server's fault; see [`SaslError::fault`]). `*` was sent.
    #[error("SASL: {0}")]
    Sasl(SaslError),
    /// Credentials would travel unencrypted and `allow_plaintext_auth` is off.
    #[error("refusing to send credentials over an unencrypted connection")]
    Plaintext,
    /// The AUTH command could not be built.
    #[error("{0}")]
    Usage(UsageError),
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
