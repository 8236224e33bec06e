//! Server replies: codes, enhanced status codes, and an incremental reader.
//!
//! Parsing has two layers, as in imap-codec: a *framer* finds CRLF-terminated lines and
//! enforces the [`ReplyLimits`] while bytes arrive, then a `nom` grammar (one function per
//! ABNF rule, RFC 5321 §4.2 and RFC 3463) checks each complete line. A multiline reply must
//! carry the same code on every line.
//!
//! - [`ReplyReader`] is the incremental, sans-IO entry point: [`push`](ReplyReader::push)
//!   bytes split anywhere, then drain [`next_reply`](ReplyReader::next_reply).
//! - [`parse`] parses one reply from the front of a slice, for callers that own the buffer.
//! - [`ReplyRef`] borrows the reader's buffer (no allocation); [`Reply`] owns its bytes.
//!
//! ## Line endings
//! Lines must end in CRLF (RFC 5321 §2.3.8). A bare LF is an error by default: accepting it
//! would let a server make this client see line boundaries that other parsers on the path do
//! not, which is how response smuggling starts. [`ReplyLimits::allow_bare_lf`] relaxes this
//! for broken servers. A CR anywhere else in a line is always an error.

mod grammar;
mod reader;

use std::fmt;

pub use grammar::LineErrorKind;
pub use reader::{ReplyReader, parse};

/// A reply code: three digits, the first 2-5 and the second 0-5 (RFC 5321 §4.2).
///
/// ```
/// use smtp_proto::ReplyCode;
/// let code = ReplyCode::new(451).unwrap();
/// assert!(code.is_transient());
/// assert_eq!(code.get(), 451);
/// assert!(ReplyCode::new(199).is_none());
/// assert_eq!(code, 451); // compares with a plain number
/// assert_ne!(code, 450);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReplyCode(u16);

impl ReplyCode {
    /// 211 System status, or system help reply.
    pub const SYSTEM_STATUS: Self = Self(211);
    /// 214 Help message.
    pub const HELP: Self = Self(214);
    /// 220 Service ready.
    pub const SERVICE_READY: Self = Self(220);
    /// 221 Service closing transmission channel.
    pub const CLOSING: Self = Self(221);
    /// 235 Authentication succeeded (RFC 4954).
    pub const AUTH_SUCCEEDED: Self = Self(235);
    /// 250 Requested mail action okay, completed.
    pub const OK: Self = Self(250);
    /// 251 User not local; will forward.
    pub const USER_NOT_LOCAL: Self = Self(251);
    /// 252 Cannot VRFY user, but will accept message and attempt delivery.
    pub const CANNOT_VERIFY: Self = Self(252);
    /// 334 Server challenge (RFC 4954).
    pub const AUTH_CHALLENGE: Self = Self(334);
    /// 354 Start mail input; end with `<CRLF>.<CRLF>`.
    pub const START_MAIL_INPUT: Self = Self(354);
    /// 421 Service not available, closing transmission channel.
    pub const SERVICE_NOT_AVAILABLE: Self = Self(421);
    /// 452 Insufficient system storage (also "too many recipients", RFC 5321 §4.5.3.1.10).
    pub const INSUFFICIENT_STORAGE: Self = Self(452);
    /// 454 TLS not available / temporary authentication failure.
    pub const TEMPORARY_FAILURE: Self = Self(454);
    /// 500 Syntax error, command unrecognized.
    pub const SYNTAX_ERROR: Self = Self(500);
    /// 502 Command not implemented.
    pub const NOT_IMPLEMENTED: Self = Self(502);
    /// 503 Bad sequence of commands.
    pub const BAD_SEQUENCE: Self = Self(503);
    /// 530 Authentication required / must issue STARTTLS first.
    pub const AUTH_REQUIRED: Self = Self(530);
    /// 535 Authentication credentials invalid.
    pub const AUTH_INVALID: Self = Self(535);
    /// 550 Mailbox unavailable.
    pub const MAILBOX_UNAVAILABLE: Self = Self(550);
    /// 552 Exceeded storage allocation.
    pub const EXCEEDED_STORAGE: Self = Self(552);
    /// 554 Transaction failed (or "no SMTP service here" as a greeting).
    pub const TRANSACTION_FAILED: Self = Self(554);

    /// Returns the code if `value` is a valid reply code.
    pub const fn new(value: u16) -> Option<Self> {
        let (a, b) = (value / 100, value / 10 % 10);
        if a >= 2 && a <= 5 && b <= 5 {
            Some(Self(value))
        } else {
            None
        }
    }

    /// The numeric value, 200..=559.
    pub const fn get(self) -> u16 {
        self.0
    }

    /// The first digit, 2-5.
    pub const fn class(self) -> u8 {
        (self.0 / 100) as u8
    }

    /// 2yz: the command succeeded.
    pub const fn is_positive(self) -> bool {
        self.class() == 2
    }

    /// 3yz: the server waits for more (354 after DATA, 334 during AUTH).
    pub const fn is_intermediate(self) -> bool {
        self.class() == 3
    }

    /// 4yz: a transient failure; the same command may succeed later.
    pub const fn is_transient(self) -> bool {
        self.class() == 4
    }

    /// 5yz: a permanent failure.
    pub const fn is_permanent(self) -> bool {
        self.class() == 5
    }
}

impl PartialEq<u16> for ReplyCode {
    fn eq(&self, other: &u16) -> bool {
        self.0 == *other
    }
}

impl PartialEq<ReplyCode> for u16 {
    fn eq(&self, other: &ReplyCode) -> bool {
        *self == other.0
    }
}

impl fmt::Debug for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReplyCode({})", self.0)
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An enhanced mail system status code, `class.subject.detail` (RFC 3463, RFC 2034).
///
/// It is taken from the start of a reply's first line, and only when its class matches the
/// reply code's first digit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EnhancedStatus {
    /// 2 (success), 4 (persistent transient failure) or 5 (permanent failure).
    pub class: u8,
    /// The subject, 0-999 (RFC 3463 §3: 0 other, 1 addressing, 2 mailbox, ... 7 security).
    pub subject: u16,
    /// The detail, 0-999.
    pub detail: u16,
}

impl fmt::Display for EnhancedStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

/// Limits that bound the memory and work spent on one reply. Checked while bytes arrive.
///
/// The defaults (2048 octets per line including CRLF, 64 lines, 16 KiB per reply) follow
/// Postfix's `line_length_limit`, msmtp's line cap, and the larger of the reply caps of
/// trusted clients; RFC 5321 §4.5.3.1.5 only promises 512 octets per line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ReplyLimits {
    /// Longest accepted line in octets, including the CRLF.
    pub max_line_len: usize,
    /// Most lines in one reply.
    pub max_lines: usize,
    /// Most octets in one reply, all lines and line endings included.
    pub max_reply_len: usize,
    /// Accept lines ended by a bare LF (off by default; see the [module docs](self)).
    pub allow_bare_lf: bool,
}

impl ReplyLimits {
    /// The default limits: 2048 octets per line, 64 lines, 16 KiB per reply, strict CRLF.
    pub const DEFAULT: Self = Self {
        max_line_len: 2048,
        max_lines: 64,
        max_reply_len: 16 * 1024,
        allow_bare_lf: false,
    };

    /// Returns these limits with bare-LF line endings accepted or refused.
    pub const fn with_bare_lf(mut self, allow: bool) -> Self {
        self.allow_bare_lf = allow;
        self
    }

    /// Returns these limits with the given line, line-count and reply caps.
    pub const fn with_caps(
        mut self,
        max_line_len: usize,
        max_lines: usize,
        max_reply_len: usize,
    ) -> Self {
        self.max_line_len = max_line_len;
        self.max_lines = max_lines;
        self.max_reply_len = max_reply_len;
        self
    }
}

impl Default for ReplyLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Why bytes from the server are not a valid reply. Always the peer's fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// A line is longer than [`ReplyLimits::max_line_len`].
    #[error("reply line longer than {limit} octets")]
    LineTooLong {
        /// The limit in force.
        limit: usize,
    },
    /// A reply has more lines than [`ReplyLimits::max_lines`].
    #[error("reply with more than {limit} lines")]
    TooManyLines {
        /// The limit in force.
        limit: usize,
    },
    /// A reply is longer than [`ReplyLimits::max_reply_len`].
    #[error("reply longer than {limit} octets")]
    ReplyTooLong {
        /// The limit in force.
        limit: usize,
    },
    /// A line ends in a bare LF and [`ReplyLimits::allow_bare_lf`] is off.
    #[error("reply line {line} ends in a bare LF instead of CRLF")]
    BareLineFeed {
        /// The line number within the reply, from 1.
        line: usize,
    },
    /// A line does not match the reply grammar.
    #[error("malformed reply line {line}: {kind}")]
    Malformed {
        /// The line number within the reply, from 1.
        line: usize,
        /// What is wrong with it.
        kind: LineErrorKind,
    },
    /// A line of a multiline reply carries a different code than the first line.
    #[error("reply code changed from {first} to {then} in the middle of a reply")]
    CodeChanged {
        /// The code of the first line.
        first: ReplyCode,
        /// The differing code.
        then: ReplyCode,
    },
    /// The input ended before the reply did (only from [`parse`] on a slice).
    #[error("incomplete reply")]
    Incomplete,
    /// Bytes follow the reply where exactly one reply was expected ([`Reply::parse`]).
    #[error("{len} octets after the end of the reply")]
    TrailingData {
        /// How many octets follow the reply.
        len: usize,
    },
}

/// A reply that borrows its bytes (from a [`ReplyReader`] or a slice given to [`parse`]).
///
/// Holds the reply's wire bytes, already validated, with its code and enhanced status.
/// [`to_owned`](Self::to_owned) copies it into a [`Reply`].
#[derive(Clone, Copy)]
pub struct ReplyRef<'a> {
    code: ReplyCode,
    enhanced: Option<EnhancedStatus>,
    raw: &'a [u8],
}

/// A reply that owns its bytes. Compare with `==` on code and text lines.
///
/// ```
/// use smtp_proto::{Reply, ReplyCode};
/// let reply = Reply::from_lines(ReplyCode::OK, [&b"2.1.0 Ok"[..]]).unwrap();
/// assert_eq!(reply.as_bytes(), b"250 2.1.0 Ok\r\n");
/// assert_eq!(reply.enhanced().unwrap().to_string(), "2.1.0");
/// assert_eq!(Reply::parse(b"250 2.1.0 Ok\r\n").unwrap(), reply);
/// ```
#[derive(Clone)]
pub struct Reply {
    code: ReplyCode,
    enhanced: Option<EnhancedStatus>,
    raw: Box<[u8]>,
}

/// The text of each line of a reply, without code, separator and line ending.
#[derive(Clone, Debug)]
pub struct Lines<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let end = memchr::memchr(b'\n', self.rest).unwrap_or(self.rest.len());
        let mut line = &self.rest[..end];
        self.rest = self.rest.get(end + 1..).unwrap_or_default();
        if let [head @ .., b'\r'] = line {
            line = head;
        }
        Some(line.get(4..).unwrap_or_default())
    }
}

macro_rules! reply_accessors {
    () => {
        /// The reply code.
        pub fn code(&self) -> ReplyCode {
            self.code
        }

        /// The enhanced status code at the start of the first line, if it has one of the
        /// code's class.
        pub fn enhanced(&self) -> Option<EnhancedStatus> {
            self.enhanced
        }

        /// The text of each line, as raw octets (an enhanced status code stays in the text).
        pub fn lines(&self) -> Lines<'_> {
            Lines { rest: &self.raw }
        }

        /// The text of each line with the leading enhanced status code (and its space)
        /// removed where the first line carried one.
        pub fn message_lines(&self) -> impl Iterator<Item = &[u8]> + '_ {
            let code = self.code;
            let has = self.enhanced.is_some();
            self.lines().map(move |line| {
                if has && grammar::enhanced_for(code, line).is_some() {
                    let skip = memchr::memchr(b' ', line).map_or(line.len(), |i| i + 1);
                    &line[skip..]
                } else {
                    line
                }
            })
        }

        /// The reply exactly as received (or encoded), line endings included.
        pub fn as_bytes(&self) -> &[u8] {
            &self.raw
        }

        /// The text of all lines joined with `\n`, invalid UTF-8 replaced.
        pub fn text_lossy(&self) -> String {
            let mut out = String::new();
            for (i, line) in self.lines().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                out.push_str(&String::from_utf8_lossy(line));
            }
            out
        }

        /// The text of the message lines (without the enhanced status code) joined with
        /// `\n`, invalid UTF-8 replaced: what a person reads.
        pub fn message(&self) -> String {
            let mut out = String::new();
            for (i, line) in self.message_lines().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                out.push_str(&String::from_utf8_lossy(line));
            }
            out
        }

        /// 2yz: the command succeeded.
        pub fn is_positive(&self) -> bool {
            self.code.is_positive()
        }

        /// 3yz: the server waits for more.
        pub fn is_intermediate(&self) -> bool {
            self.code.is_intermediate()
        }

        /// 4yz: a transient failure.
        pub fn is_transient(&self) -> bool {
            self.code.is_transient()
        }

        /// 5yz: a permanent failure.
        pub fn is_permanent(&self) -> bool {
            self.code.is_permanent()
        }
    };
}

impl<'a> ReplyRef<'a> {
    reply_accessors!();

    /// Copies this reply into an owned [`Reply`] (one allocation).
    pub fn to_owned(&self) -> Reply {
        Reply {
            code: self.code,
            enhanced: self.enhanced,
            raw: self.raw.into(),
        }
    }
}

impl Reply {
    reply_accessors!();

    /// Parses exactly one complete reply with the default limits; trailing bytes are an
    /// error ([`ReplyError::TrailingData`]).
    pub fn parse(bytes: &[u8]) -> Result<Reply, ReplyError> {
        let (used, reply) = parse(bytes, &ReplyLimits::DEFAULT)?;
        if used != bytes.len() {
            return Err(ReplyError::TrailingData {
                len: bytes.len() - used,
            });
        }
        Ok(reply.to_owned())
    }

    /// Builds a reply from its code and the text of each line, encoding it as
    /// `code-text CRLF ... code SP text CRLF` (a lone empty line encodes as `code CRLF`).
    ///
    /// Fails with [`ReplyError::Malformed`] if a text contains CR or LF, and with
    /// [`ReplyError::TooManyLines`] for zero lines.
    pub fn from_lines<'l>(
        code: ReplyCode,
        lines: impl IntoIterator<Item = &'l [u8]>,
    ) -> Result<Reply, ReplyError> {
        let mut raw = Vec::new();
        let mut prev: Option<&[u8]> = None;
        let code_digits = code.0.to_string();
        let emit = |raw: &mut Vec<u8>, text: &[u8], last: bool| {
            raw.extend_from_slice(code_digits.as_bytes());
            if !(last && text.is_empty()) {
                raw.push(if last { b' ' } else { b'-' });
            }
            raw.extend_from_slice(text);
            raw.extend_from_slice(b"\r\n");
        };
        for (n, text) in lines.into_iter().enumerate() {
            if memchr::memchr2(b'\r', b'\n', text).is_some() {
                return Err(ReplyError::Malformed {
                    line: n + 1,
                    kind: LineErrorKind::BareCarriageReturn,
                });
            }
            if let Some(p) = prev.replace(text) {
                emit(&mut raw, p, false);
            }
        }
        let Some(last) = prev else {
            return Err(ReplyError::TooManyLines { limit: 0 });
        };
        emit(&mut raw, last, true);
        let first = Lines { rest: &raw }.next().unwrap_or_default();
        Ok(Reply {
            code,
            enhanced: grammar::enhanced_for(code, first),
            raw: raw.into(),
        })
    }

    /// Borrows this reply as a [`ReplyRef`].
    pub fn as_ref(&self) -> ReplyRef<'_> {
        ReplyRef {
            code: self.code,
            enhanced: self.enhanced,
            raw: &self.raw,
        }
    }
}

impl PartialEq for ReplyRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.code == other.code && self.lines().eq(other.lines())
    }
}
impl Eq for ReplyRef<'_> {}

impl PartialEq for Reply {
    fn eq(&self, other: &Self) -> bool {
        self.as_ref() == other.as_ref()
    }
}
impl Eq for Reply {}

impl PartialEq<ReplyRef<'_>> for Reply {
    fn eq(&self, other: &ReplyRef<'_>) -> bool {
        self.as_ref() == *other
    }
}

impl From<ReplyRef<'_>> for Reply {
    fn from(r: ReplyRef<'_>) -> Reply {
        r.to_owned()
    }
}

fn debug_reply(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    code: ReplyCode,
    enhanced: Option<EnhancedStatus>,
    lines: Lines<'_>,
) -> fmt::Result {
    let lines: Vec<_> = lines.map(String::from_utf8_lossy).collect();
    f.debug_struct(name)
        .field("code", &code.0)
        .field("enhanced", &enhanced.map(|e| e.to_string()))
        .field("lines", &lines)
        .finish()
}

impl fmt::Debug for ReplyRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_reply(f, "ReplyRef", self.code, self.enhanced, self.lines())
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_reply(f, "Reply", self.code, self.enhanced, self.lines())
    }
}

/// Shows the reply as `code text`, one line per reply line, invalid UTF-8 replaced.
impl fmt::Display for ReplyRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, line) in self.lines().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{} {}", self.code, String::from_utf8_lossy(line))?;
        }
        Ok(())
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.as_ref(), f)
    }
}
