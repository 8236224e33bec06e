//! Validated addresses: [`Domain`], [`Mailbox`], [`ReversePath`] and [`ForwardPath`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::abnf::{self, Input};
use super::error::CommandError;

/// Maximum length of a local part in octets (RFC 5321 §4.5.3.1.1).
pub const MAX_LOCAL_PART_LEN: usize = 64;
/// Maximum length of a domain in octets (RFC 5321 §4.5.3.1.2).
pub const MAX_DOMAIN_LEN: usize = 255;
/// Maximum length of a path, `<` and `>` included, in octets (RFC 5321 §4.5.3.1.3).
pub const MAX_PATH_LEN: usize = 256;

/// What a [`Domain`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DomainKind {
    /// A domain name (`Domain` in RFC 5321, possibly with U-labels).
    Name,
    /// An IPv4 address literal such as `[192.0.2.1]`.
    Ipv4(Ipv4Addr),
    /// An IPv6 address literal such as `[IPv6:2001:db8::1]`.
    Ipv6(Ipv6Addr),
    /// A general address literal `[tag:content]`.
    General,
}

/// A domain name or an address literal: the argument of EHLO/HELO/LHLO and the right-hand
/// side of a [`Mailbox`].
///
/// ```
/// use smtp_proto::command::{Domain, DomainKind};
///
/// let d = Domain::parse("mail.example.com").unwrap();
/// assert_eq!(d.as_str(), "mail.example.com");
/// let lit = Domain::parse("[192.0.2.1]").unwrap();
/// assert!(matches!(lit.kind(), DomainKind::Ipv4(_)));
/// assert!(Domain::parse("bad..example").is_err());
/// assert!(Domain::parse("evil.example\r\nRSET").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Domain {
    text: String,
    kind: DomainKind,
}

impl Domain {
    /// Parses `Domain / address-literal` (RFC 5321 §4.1.2), at most 255 octets.
    ///
    /// Non-ASCII labels (RFC 6531 U-labels) are accepted here; see
    /// [`needs_smtputf8`](Self::needs_smtputf8).
    pub fn parse(s: &str) -> Result<Self, CommandError> {
        let inp = Input::new(s, "domain");
        let kind = abnf::domain_or_literal(inp, 0..s.len())?;
        if s.len() > MAX_DOMAIN_LEN {
            return Err(CommandError::TooLong {
                field: "domain",
                len: s.len(),
                max: MAX_DOMAIN_LEN,
            });
        }
        Ok(Self {
            text: s.to_owned(),
            kind,
        })
    }

    /// The address literal for `ip` (`[192.0.2.1]` or `[IPv6:2001:db8::1]`).
    pub fn from_ip(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self {
                text: format!("[{v4}]"),
                kind: DomainKind::Ipv4(v4),
            },
            IpAddr::V6(v6) => Self {
                text: format!("[IPv6:{v6}]"),
                kind: DomainKind::Ipv6(v6),
            },
        }
    }

    /// The wire form.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this is a name or an address literal.
    pub fn kind(&self) -> DomainKind {
        self.kind
    }

    /// `true` for `[...]` address literals.
    pub fn is_address_literal(&self) -> bool {
        self.kind != DomainKind::Name
    }

    /// `true` if the domain contains non-ASCII (U-labels), which needs SMTPUTF8.
    pub fn needs_smtputf8(&self) -> bool {
        !self.text.is_ascii()
    }
}

impl FromStr for Domain {
    type Err = CommandError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl AsRef<str> for Domain {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

/// `Mailbox = Local-part "@" ( Domain / address-literal )` (RFC 5321 §4.1.2).
///
/// Limits: local part 64 octets, domain 255 octets, and the whole path `<mailbox>` 256
/// octets, so a mailbox is at most 254 octets.
///
/// ```
/// use smtp_proto::command::{Domain, Mailbox};
///
/// let m = Mailbox::parse("\"john doe\"@example.com").unwrap();
/// assert_eq!(m.local_part(), "\"john doe\"");
/// let built = Mailbox::new("john doe", Domain::parse("example.com").unwrap()).unwrap();
/// assert_eq!(built, m);
/// assert!(Mailbox::parse("a@b>\r\nRCPT TO:<x@y").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mailbox {
    text: String,
    at: usize,
    domain: Domain,
}

impl Mailbox {
    /// Parses the wire form `local@domain`, including quoted local parts
    /// (`"john doe"@example.com`) and address literals (`user@[192.0.2.1]`).
    pub fn parse(s: &str) -> Result<Self, CommandError> {
        let inp = Input::new(s, "mailbox");
        let at = if s.starts_with('"') {
            abnf::quoted_string(inp, 0, s.len())?
        } else {
            s.find('@').unwrap_or(s.len())
        };
        abnf::local_part(inp, 0..at)?;
        if s.as_bytes().get(at) != Some(&b'@') {
            return Err(inp.err(at, "\"@\""));
        }
        let kind = abnf::domain_or_literal(inp, at + 1..s.len())?;
        let domain = Domain {
            text: s[at + 1..].to_owned(),
            kind,
        };
        Self::check_limits(s.to_owned(), at, domain)
    }

    /// Builds a mailbox from an unquoted local part and a domain, producing a
    /// `Quoted-string` (escaping `"` and `\`) when `local` is not a valid `Dot-string`.
    ///
    /// Control characters in `local` are refused.
    pub fn new(local: &str, domain: Domain) -> Result<Self, CommandError> {
        let inp = Input::new(local, "local-part");
        let wire = if abnf::dot_string(inp, 0..local.len()).is_ok() {
            local.to_owned()
        } else {
            abnf::no_controls(inp, false)?;
            let mut q = String::with_capacity(local.len() + 2);
            q.push('"');
            for c in local.chars() {
                if c == '"' || c == '\\' {
                    q.push('\\');
                }
                q.push(c);
            }
            q.push('"');
            q
        };
        let at = wire.len();
        let text = format!("{wire}@{}", domain.as_str());
        Self::check_limits(text, at, domain)
    }

    fn check_limits(text: String, at: usize, domain: Domain) -> Result<Self, CommandError> {
        if at > MAX_LOCAL_PART_LEN {
            return Err(CommandError::TooLong {
                field: "local-part",
                len: at,
                max: MAX_LOCAL_PART_LEN,
            });
        }
        if domain.text.len() > MAX_DOMAIN_LEN {
            return Err(CommandError::TooLong {
                field: "domain",
                len: domain.text.len(),
                max: MAX_DOMAIN_LEN,
            });
        }
        if text.len() + 2 > MAX_PATH_LEN {
            return Err(CommandError::TooLong {
                field: "path",
                len: text.len() + 2,
                max: MAX_PATH_LEN,
            });
        }
        Ok(Self { text, at, domain })
    }

    /// The wire form `local@domain`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The local part in wire form (quoted if it is a `Quoted-string`).
    pub fn local_part(&self) -> &str {
        &self.text[..self.at]
    }

    /// The domain or address literal.
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// `true` if the mailbox contains non-ASCII, which needs SMTPUTF8 (RFC 6531).
    pub fn needs_smtputf8(&self) -> bool {
        !self.text.is_ascii()
    }
}

impl FromStr for Mailbox {
    type Err = CommandError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl AsRef<str> for Mailbox {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

/// Strips one pair of angle brackets; returns the inner text and the offset shift.
fn strip_brackets<'a>(s: &'a str, field: &'static str) -> Result<(&'a str, usize), CommandError> {
    match s.strip_prefix('<') {
        Some(rest) => match rest.strip_suffix('>') {
            Some(inner) => Ok((inner, 1)),
            None => Err(abnf::unexpected(s, field, s.len(), "\">\"")),
        },
        None => Ok((s, 0)),
    }
}

/// `Reverse-path = Path / "<>"`: the MAIL FROM argument (also the AUTH= value).
///
/// Source routes are never produced (RFC 5321 §4.1.1.3 forbids generating them).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReversePath {
    /// The null reverse path `<>`, used for bounces.
    Null,
    /// A sender mailbox.
    Mailbox(Mailbox),
}

impl ReversePath {
    /// Parses `<>`, the empty string, `<mailbox>` or a bare `mailbox`.
    pub fn parse(s: &str) -> Result<Self, CommandError> {
        let (inner, shift) = strip_brackets(s, "reverse-path")?;
        if inner.is_empty() {
            return Ok(Self::Null);
        }
        Mailbox::parse(inner)
            .map(Self::Mailbox)
            .map_err(|e| e.shifted(shift))
    }

    /// The mailbox, `None` for the null path.
    pub fn mailbox(&self) -> Option<&Mailbox> {
        match self {
            Self::Null => None,
            Self::Mailbox(m) => Some(m),
        }
    }

    /// `true` if the mailbox contains non-ASCII, which needs SMTPUTF8.
    pub fn needs_smtputf8(&self) -> bool {
        self.mailbox().is_some_and(Mailbox::needs_smtputf8)
    }

    /// The text between the angle brackets (empty for the null path).
    pub fn inner_str(&self) -> &str {
        self.mailbox().map_or("", Mailbox::as_str)
    }
}

impl From<Mailbox> for ReversePath {
    fn from(m: Mailbox) -> Self {
        Self::Mailbox(m)
    }
}

impl FromStr for ReversePath {
    type Err = CommandError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for ReversePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}>", self.inner_str())
    }
}

/// `Forward-path = Path / "<Postmaster>"`: the RCPT TO argument.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ForwardPath {
    /// The bare `<Postmaster>` recipient (RFC 5321 §4.1.1.3).
    Postmaster,
    /// A recipient mailbox (`<Postmaster@domain>` is an ordinary mailbox).
    Mailbox(Mailbox),
}

impl ForwardPath {
    /// Parses `<Postmaster>`/`Postmaster` (any case), `<mailbox>` or a bare `mailbox`.
    pub fn parse(s: &str) -> Result<Self, CommandError> {
        let (inner, shift) = strip_brackets(s, "forward-path")?;
        if inner.eq_ignore_ascii_case("postmaster") {
            return Ok(Self::Postmaster);
        }
        Mailbox::parse(inner)
            .map(Self::Mailbox)
            .map_err(|e| e.shifted(shift))
    }

    /// The mailbox, `None` for `<Postmaster>`.
    pub fn mailbox(&self) -> Option<&Mailbox> {
        match self {
            Self::Postmaster => None,
            Self::Mailbox(m) => Some(m),
        }
    }

    /// `true` if the mailbox contains non-ASCII, which needs SMTPUTF8.
    pub fn needs_smtputf8(&self) -> bool {
        self.mailbox().is_some_and(Mailbox::needs_smtputf8)
    }

    /// The text between the angle brackets.
    pub fn inner_str(&self) -> &str {
        self.mailbox().map_or("Postmaster", Mailbox::as_str)
    }
}

impl From<Mailbox> for ForwardPath {
    fn from(m: Mailbox) -> Self {
        Self::Mailbox(m)
    }
}

impl FromStr for ForwardPath {
    type Err = CommandError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for ForwardPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}>", self.inner_str())
    }
}
