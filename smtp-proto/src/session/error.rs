//! Errors of the session core, by fault: the peer's ([`PeerError`]), the caller's
//! ([`UsageError`]), and authentication's ([`AuthError`]).

use crate::command::CommandError;
use crate::reply::{Reply, ReplyError};
use crate::sasl::SaslError;

use super::Phase;

/// The server violated the protocol. The session is closed; nothing but QUIT is sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// A reply could not be parsed or broke a limit.
    #[error("malformed reply: {0}")]
    Reply(#[from] ReplyError),
    /// A reply arrived when none was expected (a surplus or unsolicited reply).
    #[error("the server sent reply {code} when no reply was due")]
    UnexpectedReply {
        /// Its code.
        code: u16,
    },
    /// A reply code that makes no sense for the command (e.g. 354 to RCPT).
    #[error(
        "the server answered {phase} with reply code {code}, which is not a valid answer there"
    )]
    WrongCode {
        /// The phase whose reply it was.
        phase: Phase,
        /// The code.
        code: u16,
    },
    /// Bytes arrived after the 220 to STARTTLS and before the TLS handshake (a response
    /// injection attempt): they are never parsed.
    #[error(
        "the server sent {len} octets after its 220 to STARTTLS and before the TLS handshake (a response injection attempt?)"
    )]
    DataAfterStartTls {
        /// How many.
        len: usize,
    },
    /// The connection closed before the reply of this phase was complete.
    #[error("the server closed the connection {}", phase.waiting())]
    UnexpectedEof {
        /// The phase.
        phase: Phase,
    },
    /// The server broke the SASL exchange (bad base64, too many rounds, failed proof).
    #[error("the server broke the SASL exchange: {0}")]
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
    #[error("the call does not fit the session's state: {0}")]
    WrongState(&'static str),
    /// Input was handed to the core during the TLS handshake: those bytes belong to TLS.
    #[error("bytes were handed to the session during the TLS handshake; they belong to TLS")]
    InputDuringTlsHandshake,
    /// The transaction needs an extension the server did not advertise.
    #[error("the server does not advertise {0}")]
    NotAdvertised(&'static str),
    /// `REQUIRETLS` (RFC 8689 §4.2.1) was asked for on a connection that is not
    /// encrypted: the message is not sent.
    #[error("REQUIRETLS needs an encrypted connection")]
    RequireTlsUnencrypted,
    /// `REQUIRETLS` (RFC 8689 §4.2.1) was asked for on a connection whose server
    /// certificate is not validated (the caller turned certificate checks off): the
    /// message is not sent. Refused by the I/O layer, which knows the TLS settings.
    #[error("REQUIRETLS needs a validated server certificate, but certificate checks are off")]
    RequireTlsUnverified,
    /// AUTH (RFC 4954 §4) after a successful AUTH on this session: the server must refuse
    /// it with 503, so it is not sent.
    #[error("already authenticated: AUTH may succeed only once per session")]
    AlreadyAuthenticated,
    /// The message is larger than the server's SIZE limit.
    #[error("the message of {size} octets exceeds the server's limit of {limit} octets")]
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
    #[error("the envelope has no recipients")]
    NoRecipients,
    /// The body holds 8-bit octets but was declared 7-bit.
    #[error(
        "the body holds 8-bit octets but was declared 7-bit; declare it BodyType::EightBitMime"
    )]
    Undeclared8Bit,
    /// The body holds a NUL octet, or a line over 1,000 octets with its CRLF (unless
    /// [`Config::allow_long_lines`](super::Config::allow_long_lines)), and is not sent
    /// as `BODY=BINARYMIME` (RFC 5321 §4.5.3.1.6, RFC 5322 §2.3, RFC 6152 §3). Found in
    /// content, the session closes without ending the message, so nothing is delivered.
    #[error(transparent)]
    Body(#[from] crate::body::BodyError),
    /// A command could not be encoded.
    #[error("the command cannot be sent: {0}")]
    Command(#[from] CommandError),
    /// The caller aborted the session.
    #[error("the caller aborted the session")]
    Aborted,
}

/// Why authentication did not succeed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The server refused (4xx transient, 5xx permanent). `detail` carries an OAuth error
    /// report when the server sent one.
    #[error("the server refused authentication: {reply}")]
    Rejected {
        /// The server's reply.
        reply: Reply,
        /// The mechanism's view of the failure (e.g. the OAuth JSON error), if any.
        detail: Option<SaslError>,
    },
    /// No mechanism both offered by the server and allowed by the caller fits the
    /// credentials (or the server offers no AUTH at all).
    #[error(
        "no authentication mechanism is both offered by the server and allowed for these credentials"
    )]
    NoMechanism,
    /// The mechanism failed: bad credentials (the caller's fault) or a broken or
    /// unverifiable exchange (the server's fault; see [`SaslError::fault`]). `*` was sent.
    #[error("authentication failed: {0}")]
    Sasl(SaslError),
    /// Credentials would travel unencrypted and `allow_plaintext_auth` is off.
    #[error("refusing to send credentials over an unencrypted connection")]
    Plaintext,
    /// The AUTH command could not be built.
    #[error("the AUTH command cannot be sent: {0}")]
    Usage(UsageError),
}
