//! Validated SMTP/LMTP command arguments and a command encoder.
//!
//! Every argument type ([`Domain`], [`Mailbox`], [`ReversePath`], [`ForwardPath`],
//! [`SmtpString`], [`EsmtpParam`], ...) is validated when it is built, so a CR, LF, NUL or
//! other control byte can never reach a command line. [`Command::encode`] then checks what
//! depends on the whole command (SMTPUTF8, parameter conflicts, the 512-octet line limit)
//! before writing a single byte, and appends exactly one CRLF-terminated line or nothing.
//!
//! # SMTPUTF8
//!
//! Address and text types accept RFC 6531 non-ASCII at construction and report it through
//! `needs_smtputf8()`. Encoding refuses non-ASCII with [`CommandError::Utf8NotEnabled`]
//! unless SMTPUTF8 is in effect for that command:
//!
//! - `MAIL`: [`MailParams::smtputf8`] (which also writes the `SMTPUTF8` parameter);
//! - `RCPT`: the `smtputf8` flag of [`Command::Rcpt`], which the session sets when the
//!   transaction's MAIL carried `SMTPUTF8` (nothing is written for it);
//! - `VRFY`/`EXPN`: their `smtputf8` flag, which writes the ` SMTPUTF8` argument
//!   (RFC 6531 §3.7.4);
//! - EHLO/HELO/LHLO, HELP, NOOP: never (send A-labels in EHLO).
//!
//! # Example
//!
//! ```
//! use smtp_proto::command::{Command, ForwardPath, MailParams, Mailbox, ReversePath, Verb};
//!
//! let mut out = Vec::new();
//! let from = ReversePath::parse("<Smith@bar.com>").unwrap();
//! let mut mail = Command::mail(from);
//! if let Command::Mail { params, .. } = &mut mail {
//!     params.size = Some(1000);
//! }
//! mail.encode(&mut out).unwrap();
//! Command::rcpt(Mailbox::parse("Jones@foo.com").unwrap()).encode(&mut out).unwrap();
//! assert_eq!(out, b"MAIL FROM:<Smith@bar.com> SIZE=1000\r\nRCPT TO:<Jones@foo.com>\r\n");
//! assert_eq!(mail.verb(), Verb::Mail);
//! ```

mod abnf;
mod address;
mod auth;
mod error;
mod params;
mod text;
mod wire;
pub mod xtext;

use std::fmt;

pub use address::{
    Domain, DomainKind, ForwardPath, MAX_DOMAIN_LEN, MAX_LOCAL_PART_LEN, MAX_PATH_LEN, Mailbox,
    ReversePath,
};
pub use auth::{Mechanism, Secret};
pub use error::CommandError;
pub use params::{
    Body, By, ByMode, DateTime, Envid, EsmtpParam, FutureRelease, MailParams, MtPriority, Notify,
    Orcpt, RcptParams, Ret,
};
pub use text::{RawCommand, SmtpString};

use wire::{Counter, Sink};

/// Maximum command line length, CRLF included (RFC 5321 §4.5.3.1.4).
pub const MAX_LINE_LEN: usize = 512;

/// Maximum length of an AUTH continuation line ([`Command::AuthResponse`]), CRLF included.
///
/// RFC 4954 exempts these lines from the 512-octet limit; this cap bounds them anyway.
pub const MAX_AUTH_LINE_LEN: usize = 16 * 1024;

const REDACTED: &[u8] = b"<redacted>";

/// One client command.
///
/// Build it from validated argument types, then [`encode`](Self::encode) it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// `EHLO domain` (RFC 5321 §4.1.1.1); the domain must be ASCII.
    Ehlo(Domain),
    /// `HELO domain`; address literals are accepted although RFC 5321 only lists `Domain`.
    Helo(Domain),
    /// `LHLO domain` (RFC 2033).
    Lhlo(Domain),
    /// `MAIL FROM:<reverse-path> [params]`.
    Mail {
        /// The sender.
        from: ReversePath,
        /// ESMTP parameters.
        params: MailParams,
    },
    /// `RCPT TO:<forward-path> [params]`.
    Rcpt {
        /// The recipient.
        to: ForwardPath,
        /// ESMTP parameters.
        params: RcptParams,
        /// SMTPUTF8 is in effect for this transaction: allows a non-ASCII recipient.
        /// Writes nothing.
        smtputf8: bool,
    },
    /// `DATA`.
    Data,
    /// `BDAT size [LAST]` (RFC 3030).
    Bdat {
        /// Chunk size in octets.
        size: u64,
        /// Whether this is the last chunk.
        last: bool,
    },
    /// `RSET`.
    Rset,
    /// `VRFY string [SMTPUTF8]`.
    Vrfy {
        /// What to verify.
        arg: SmtpString,
        /// Append `SMTPUTF8` (RFC 6531 §3.7.4.2) and allow a non-ASCII argument.
        smtputf8: bool,
    },
    /// `EXPN string [SMTPUTF8]`.
    Expn {
        /// The list to expand.
        arg: SmtpString,
        /// Append `SMTPUTF8` (RFC 6531 §3.7.4.2) and allow a non-ASCII argument.
        smtputf8: bool,
    },
    /// `HELP [string]`.
    Help(Option<SmtpString>),
    /// `NOOP [string]`.
    Noop(Option<SmtpString>),
    /// `QUIT`.
    Quit,
    /// `STARTTLS` (RFC 3207).
    StartTls,
    /// `AUTH mechanism [initial-response]` (RFC 4954 §4).
    ///
    /// The initial response is base64-encoded; an empty one is written `=`. If the line
    /// would exceed 512 octets, encoding fails with [`CommandError::LineTooLong`]: send
    /// `AUTH mechanism` alone and the response as an [`AuthResponse`](Self::AuthResponse).
    Auth {
        /// The SASL mechanism.
        mechanism: Mechanism,
        /// The decoded initial response, if any.
        initial_response: Option<Secret>,
    },
    /// An AUTH continuation line: the base64 client response (an empty response is an
    /// empty line). Capped at [`MAX_AUTH_LINE_LEN`] instead of 512.
    AuthResponse(Secret),
    /// The AUTH cancel line `*`.
    AuthCancel,
    /// A validated raw command line.
    Raw(RawCommand),
}

/// The kind of a [`Command`], for keying timeouts and pipelining rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Verb {
    /// EHLO.
    Ehlo,
    /// HELO.
    Helo,
    /// LHLO.
    Lhlo,
    /// MAIL.
    Mail,
    /// RCPT.
    Rcpt,
    /// DATA.
    Data,
    /// BDAT.
    Bdat,
    /// RSET.
    Rset,
    /// VRFY.
    Vrfy,
    /// EXPN.
    Expn,
    /// HELP.
    Help,
    /// NOOP.
    Noop,
    /// QUIT.
    Quit,
    /// STARTTLS.
    StartTls,
    /// AUTH.
    Auth,
    /// An AUTH continuation response.
    AuthResponse,
    /// The AUTH cancel line.
    AuthCancel,
    /// A raw command.
    Raw,
}

impl Verb {
    /// A short name for logs (`"MAIL"`, `"AUTH response"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ehlo => "EHLO",
            Self::Helo => "HELO",
            Self::Lhlo => "LHLO",
            Self::Mail => "MAIL",
            Self::Rcpt => "RCPT",
            Self::Data => "DATA",
            Self::Bdat => "BDAT",
            Self::Rset => "RSET",
            Self::Vrfy => "VRFY",
            Self::Expn => "EXPN",
            Self::Help => "HELP",
            Self::Noop => "NOOP",
            Self::Quit => "QUIT",
            Self::StartTls => "STARTTLS",
            Self::Auth => "AUTH",
            Self::AuthResponse => "AUTH response",
            Self::AuthCancel => "AUTH cancel",
            Self::Raw => "raw",
        }
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn require_ascii(text: &str, allowed: bool, field: &'static str) -> Result<(), CommandError> {
    match abnf::first_non_ascii(text) {
        Some(offset) if !allowed => Err(CommandError::Utf8NotEnabled { field, offset }),
        _ => Ok(()),
    }
}

impl Command {
    /// `MAIL FROM:<from>` without parameters.
    pub fn mail(from: impl Into<ReversePath>) -> Self {
        Self::Mail {
            from: from.into(),
            params: MailParams::default(),
        }
    }

    /// `RCPT TO:<to>` without parameters, SMTPUTF8 not in effect.
    pub fn rcpt(to: impl Into<ForwardPath>) -> Self {
        Self::Rcpt {
            to: to.into(),
            params: RcptParams::default(),
            smtputf8: false,
        }
    }

    /// The kind of command.
    pub fn verb(&self) -> Verb {
        match self {
            Self::Ehlo(_) => Verb::Ehlo,
            Self::Helo(_) => Verb::Helo,
            Self::Lhlo(_) => Verb::Lhlo,
            Self::Mail { .. } => Verb::Mail,
            Self::Rcpt { .. } => Verb::Rcpt,
            Self::Data => Verb::Data,
            Self::Bdat { .. } => Verb::Bdat,
            Self::Rset => Verb::Rset,
            Self::Vrfy { .. } => Verb::Vrfy,
            Self::Expn { .. } => Verb::Expn,
            Self::Help(_) => Verb::Help,
            Self::Noop(_) => Verb::Noop,
            Self::Quit => Verb::Quit,
            Self::StartTls => Verb::StartTls,
            Self::Auth { .. } => Verb::Auth,
            Self::AuthResponse(_) => Verb::AuthResponse,
            Self::AuthCancel => Verb::AuthCancel,
            Self::Raw(_) => Verb::Raw,
        }
    }

    /// The line length limit for this command, CRLF included.
    pub fn max_line_len(&self) -> usize {
        match self {
            Self::AuthResponse(_) => MAX_AUTH_LINE_LEN,
            _ => MAX_LINE_LEN,
        }
    }

    /// Checks everything that depends on the whole command.
    fn check(&self) -> Result<(), CommandError> {
        match self {
            Self::Ehlo(d) | Self::Helo(d) | Self::Lhlo(d) => {
                require_ascii(d.as_str(), false, "greeting domain")
            }
            Self::Mail { from, params } => {
                require_ascii(from.inner_str(), params.smtputf8, "MAIL FROM path")?;
                if let Some(auth) = &params.auth {
                    require_ascii(auth.inner_str(), params.smtputf8, "AUTH= mailbox")?;
                }
                params.check()
            }
            Self::Rcpt {
                to,
                params,
                smtputf8,
            } => {
                require_ascii(to.inner_str(), *smtputf8, "RCPT TO path")?;
                params.check()
            }
            Self::Vrfy { arg, smtputf8 } | Self::Expn { arg, smtputf8 } => {
                require_ascii(arg.as_str(), *smtputf8, "VRFY/EXPN argument")
            }
            Self::Help(Some(arg)) | Self::Noop(Some(arg)) => {
                require_ascii(arg.as_str(), false, "HELP/NOOP argument")
            }
            _ => Ok(()),
        }
    }

    /// Writes the line, CRLF included; `redact` replaces credentials.
    fn write<S: Sink>(&self, s: &mut S, redact: bool) {
        match self {
            Self::Ehlo(d) => {
                s.put(b"EHLO ");
                s.put(d.as_str().as_bytes());
            }
            Self::Helo(d) => {
                s.put(b"HELO ");
                s.put(d.as_str().as_bytes());
            }
            Self::Lhlo(d) => {
                s.put(b"LHLO ");
                s.put(d.as_str().as_bytes());
            }
            Self::Mail { from, params } => {
                s.put(b"MAIL FROM:<");
                s.put(from.inner_str().as_bytes());
                s.put(b">");
                params.write(s);
            }
            Self::Rcpt { to, params, .. } => {
                s.put(b"RCPT TO:<");
                s.put(to.inner_str().as_bytes());
                s.put(b">");
                params.write(s);
            }
            Self::Data => s.put(b"DATA"),
            Self::Bdat { size, last } => {
                s.put(b"BDAT ");
                s.put_num(size);
                if *last {
                    s.put(b" LAST");
                }
            }
            Self::Rset => s.put(b"RSET"),
            Self::Vrfy { arg, smtputf8 } | Self::Expn { arg, smtputf8 } => {
                s.put(if matches!(self, Self::Vrfy { .. }) {
                    b"VRFY "
                } else {
                    b"EXPN "
                });
                s.put(arg.as_str().as_bytes());
                if *smtputf8 {
                    s.put(b" SMTPUTF8");
                }
            }
            Self::Help(arg) | Self::Noop(arg) => {
                s.put(if matches!(self, Self::Help(_)) {
                    b"HELP"
                } else {
                    b"NOOP"
                });
                if let Some(a) = arg {
                    s.put(b" ");
                    s.put(a.as_str().as_bytes());
                }
            }
            Self::Quit => s.put(b"QUIT"),
            Self::StartTls => s.put(b"STARTTLS"),
            Self::Auth {
                mechanism,
                initial_response,
            } => {
                s.put(b"AUTH ");
                s.put(mechanism.as_str().as_bytes());
                match initial_response {
                    None => {}
                    Some(_) if redact => {
                        s.put(b" ");
                        s.put(REDACTED);
                    }
                    Some(ir) if ir.is_empty() => s.put(b" ="),
                    Some(ir) => {
                        s.put(b" ");
                        s.put_base64(ir.expose());
                    }
                }
            }
            Self::AuthResponse(_) if redact => s.put(REDACTED),
            Self::AuthResponse(r) => s.put_base64(r.expose()),
            Self::AuthCancel => s.put(b"*"),
            Self::Raw(r) => s.put(r.as_str().as_bytes()),
        }
        s.put(b"\r\n");
    }

    /// Validates the command, then appends exactly one CRLF-terminated line to `out`.
    ///
    /// On error nothing is appended. Fails with [`CommandError::LineTooLong`] past
    /// [`max_line_len`](Self::max_line_len), and with [`CommandError::Utf8NotEnabled`] for
    /// non-ASCII outside SMTPUTF8 (see the [module docs](self)).
    ///
    /// ```
    /// use smtp_proto::command::{Command, Mechanism, Secret};
    ///
    /// let mut out = Vec::new();
    /// let auth = Command::Auth {
    ///     mechanism: Mechanism::PLAIN,
    ///     initial_response: Some(Secret::new(Vec::new())),
    /// };
    /// auth.encode(&mut out).unwrap();
    /// assert_eq!(out, b"AUTH PLAIN =\r\n");
    /// ```
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), CommandError> {
        self.check()?;
        let mut counter = Counter::default();
        self.write(&mut counter, false);
        let len = counter.0;
        let max = self.max_line_len();
        if len > max {
            return Err(CommandError::LineTooLong { len, max });
        }
        out.reserve(len);
        let start = out.len();
        self.write(out, false);
        debug_assert_eq!(out.len() - start, len);
        Ok(())
    }

    /// [`encode`](Self::encode) into a new vector.
    pub fn to_bytes(&self) -> Result<Vec<u8>, CommandError> {
        let mut out = Vec::new();
        self.encode(&mut out)?;
        Ok(out)
    }

    /// A transcript rendering without CRLF, credentials replaced by `<redacted>`.
    ///
    /// It renders even commands that [`encode`](Self::encode) would refuse.
    ///
    /// ```
    /// use smtp_proto::command::{Command, Mechanism, Secret};
    ///
    /// let auth = Command::Auth {
    ///     mechanism: Mechanism::PLAIN,
    ///     initial_response: Some(Secret::new(b"\0u\0p".to_vec())),
    /// };
    /// assert_eq!(auth.redacted().to_string(), "AUTH PLAIN <redacted>");
    /// ```
    pub fn redacted(&self) -> Redacted<'_> {
        Redacted(self)
    }
}

/// Display adapter returned by [`Command::redacted`].
#[derive(Debug, Clone, Copy)]
pub struct Redacted<'a>(&'a Command);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = Vec::new();
        self.0.write(&mut buf, true);
        buf.truncate(buf.len() - 2);
        f.write_str(&String::from_utf8_lossy(&buf))
    }
}
