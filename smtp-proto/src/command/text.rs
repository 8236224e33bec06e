//! Free-text arguments: [`SmtpString`] (VRFY, EXPN, HELP, NOOP) and [`RawCommand`].

use std::fmt;

use super::abnf::{self, Input};
use super::error::CommandError;

/// `String = Atom / Quoted-string` (RFC 5321 §4.1.2): the argument of VRFY, EXPN, HELP and
/// NOOP.
///
/// [`SmtpString::new`] keeps an `Atom` or a mailbox (`local@domain`) as is and otherwise
/// produces a `Quoted-string`. A mailbox is not a `String` in the strict grammar, but it is
/// what VRFY and EXPN are used with (RFC 5321 §3.5: "a user name or a mailbox"), what other
/// clients send (smtplib: `VRFY user@example.com`), and what servers expect: quoted, it is
/// read as a local part without a domain (Exim: `501 "a@b": recipient address must contain
/// a domain`; aiosmtpd looks up `"a@b"`), as the interop matrix showed.
///
/// ```
/// use smtp_proto::command::SmtpString;
///
/// assert_eq!(SmtpString::new("Smith").unwrap().as_str(), "Smith");
/// assert_eq!(SmtpString::new("alice@example.com").unwrap().as_str(), "alice@example.com");
/// assert_eq!(SmtpString::new("John \"J\" Smith").unwrap().as_str(), r#""John \"J\" Smith""#);
/// assert!(SmtpString::new("a\r\nQUIT").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SmtpString(String);

impl SmtpString {
    /// Validates `text` and quotes it (escaping `"` and `\`) unless it is an `Atom` or a
    /// mailbox.
    ///
    /// Control characters and DEL are refused; non-ASCII is accepted here and checked
    /// against SMTPUTF8 when encoding.
    pub fn new(text: &str) -> Result<Self, CommandError> {
        let inp = Input::new(text, "string");
        if abnf::atom(inp, 0..text.len()).is_ok() || super::Mailbox::parse(text).is_ok() {
            return Ok(Self(text.to_owned()));
        }
        abnf::no_controls(inp, false)?;
        let mut q = String::with_capacity(text.len() + 2);
        q.push('"');
        for c in text.chars() {
            if c == '"' || c == '\\' {
                q.push('\\');
            }
            q.push(c);
        }
        q.push('"');
        Ok(Self(q))
    }

    /// The wire form (an `Atom` or a `Quoted-string`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `true` if the text contains non-ASCII.
    pub fn needs_smtputf8(&self) -> bool {
        !self.0.is_ascii()
    }
}

impl fmt::Display for SmtpString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A raw command line (without CRLF) for commands this module does not model.
///
/// Only printable US-ASCII, SP and HT are allowed, so CR, LF, NUL, other C0 controls, DEL
/// and non-ASCII are refused; at most 510 octets so that the line fits in 512 with CRLF.
///
/// ```
/// use smtp_proto::command::RawCommand;
///
/// assert!(RawCommand::new("XCLIENT NAME=spike.porcupine.org").is_ok());
/// assert!(RawCommand::new("NOOP\r\nQUIT").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawCommand(String);

impl RawCommand {
    /// Validates a raw command line.
    pub fn new(line: &str) -> Result<Self, CommandError> {
        if line.is_empty() {
            return Err(CommandError::Empty {
                field: "raw command",
            });
        }
        if let Some(i) = line
            .bytes()
            .position(|b| !(matches!(b, 0x20..=0x7e) || b == b'\t'))
        {
            return Err(abnf::unexpected(
                line,
                "raw command",
                i,
                "printable US-ASCII, SP or HT",
            ));
        }
        if line.len() > super::MAX_LINE_LEN - 2 {
            return Err(CommandError::TooLong {
                field: "raw command",
                len: line.len(),
                max: super::MAX_LINE_LEN - 2,
            });
        }
        Ok(Self(line.to_owned()))
    }

    /// The line without CRLF.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
