//! Typed MAIL and RCPT parameters.

use std::fmt;

use super::abnf::{self, Input};
use super::address::ReversePath;
use super::error::CommandError;
use super::wire::Sink;
use super::xtext;

/// `BODY=` values (RFC 6152, RFC 3030).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Body {
    /// `BODY=7BIT`.
    SevenBit,
    /// `BODY=8BITMIME` (RFC 6152).
    EightBitMime,
    /// `BODY=BINARYMIME` (RFC 3030; the message must be sent with BDAT).
    BinaryMime,
}

impl Body {
    /// The parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SevenBit => "7BIT",
            Self::EightBitMime => "8BITMIME",
            Self::BinaryMime => "BINARYMIME",
        }
    }
}

/// `RET=` values (RFC 3461 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ret {
    /// `RET=FULL`: return the whole message in a DSN.
    Full,
    /// `RET=HDRS`: return only the headers.
    Hdrs,
}

impl Ret {
    /// The parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "FULL",
            Self::Hdrs => "HDRS",
        }
    }
}

/// Checks that `s` is non-empty printable US-ASCII (SP allowed), as RFC 3461 requires of
/// ENVID and ORCPT values before xtext encoding.
fn printable_ascii(s: &str, field: &'static str) -> Result<(), CommandError> {
    if s.is_empty() {
        return Err(CommandError::Empty { field });
    }
    match s.bytes().position(|b| !matches!(b, 0x20..=0x7e)) {
        Some(i) => Err(abnf::unexpected(s, field, i, "printable US-ASCII")),
        None => Ok(()),
    }
}

/// An envelope identifier for `ENVID=` (RFC 3461 §4.4), held decoded and written as
/// xtext.
///
/// The decoded value must be printable US-ASCII; the xtext form is limited to 100
/// characters.
///
/// ```
/// use smtp_proto::command::Envid;
///
/// assert_eq!(Envid::new("QQ314159 a+b").unwrap().to_xtext(), "QQ314159+20a+2Bb");
/// assert!(Envid::new(&"x".repeat(101)).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Envid(String);

impl Envid {
    /// Maximum length of the xtext-encoded value.
    pub const MAX_LEN: usize = 100;

    /// Validates an envelope identifier (decoded form).
    pub fn new(id: &str) -> Result<Self, CommandError> {
        printable_ascii(id, "ENVID")?;
        let len = xtext::encoded_len(id.as_bytes());
        if len > Self::MAX_LEN {
            return Err(CommandError::TooLong {
                field: "ENVID",
                len,
                max: Self::MAX_LEN,
            });
        }
        Ok(Self(id.to_owned()))
    }

    /// The decoded identifier.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The xtext form written on the wire.
    pub fn to_xtext(&self) -> String {
        xtext::encode(self.0.as_bytes())
    }
}

/// `ORCPT=addr-type;xtext` (RFC 3461 §4.2), held decoded.
///
/// The address must be printable US-ASCII (the RFC 6533 `utf-8` address encoding is not
/// supported); the whole value `addr-type;xtext` is limited to 500 characters.
///
/// ```
/// use smtp_proto::command::{Mailbox, Orcpt};
///
/// let o = Orcpt::rfc822(&Mailbox::parse("Bob+x@example.com").unwrap()).unwrap();
/// assert_eq!(o.to_string(), "rfc822;Bob+2Bx@example.com");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Orcpt {
    addr_type: String,
    address: String,
}

impl Orcpt {
    /// Maximum length of the encoded value `addr-type;xtext`.
    pub const MAX_LEN: usize = 500;

    /// Validates an address type (an ASCII `atom`, e.g. `rfc822`) and a decoded address.
    pub fn new(addr_type: &str, address: &str) -> Result<Self, CommandError> {
        let inp = Input::new(addr_type, "ORCPT addr-type");
        if let Some(i) = abnf::first_non_ascii(addr_type) {
            return Err(inp.err(i, "atext"));
        }
        abnf::atom(inp, 0..addr_type.len())?;
        printable_ascii(address, "ORCPT address")?;
        let len = addr_type.len() + 1 + xtext::encoded_len(address.as_bytes());
        if len > Self::MAX_LEN {
            return Err(CommandError::TooLong {
                field: "ORCPT",
                len,
                max: Self::MAX_LEN,
            });
        }
        Ok(Self {
            addr_type: addr_type.to_owned(),
            address: address.to_owned(),
        })
    }

    /// `rfc822;<mailbox>`; fails for non-ASCII mailboxes.
    pub fn rfc822(mailbox: &super::Mailbox) -> Result<Self, CommandError> {
        Self::new("rfc822", mailbox.as_str())
    }

    /// The address type, e.g. `rfc822`.
    pub fn addr_type(&self) -> &str {
        &self.addr_type
    }

    /// The decoded original recipient address.
    pub fn address(&self) -> &str {
        &self.address
    }

    fn write<S: Sink>(&self, sink: &mut S) {
        sink.put(self.addr_type.as_bytes());
        sink.put(b";");
        xtext::write(sink, self.address.as_bytes());
    }
}

impl fmt::Display for Orcpt {
    /// The wire value `addr-type;xtext`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{};{}",
            self.addr_type,
            xtext::encode(self.address.as_bytes())
        )
    }
}

/// `NOTIFY=` (RFC 3461 §4.1): `NEVER` or a non-empty set of conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Notify {
    /// `NOTIFY=NEVER`.
    Never,
    /// `NOTIFY=SUCCESS,FAILURE,DELAY` (the conditions set); at least one must be `true`.
    On {
        /// Report successful delivery.
        success: bool,
        /// Report failure.
        failure: bool,
        /// Report delay.
        delay: bool,
    },
}

impl Notify {
    fn check(self) -> Result<(), CommandError> {
        match self {
            Self::On {
                success: false,
                failure: false,
                delay: false,
            } => Err(CommandError::Invalid {
                field: "NOTIFY",
                reason: "at least one of SUCCESS, FAILURE, DELAY is required",
            }),
            _ => Ok(()),
        }
    }

    fn write<S: Sink>(self, sink: &mut S) {
        match self {
            Self::Never => sink.put(b"NEVER"),
            Self::On {
                success,
                failure,
                delay,
            } => {
                let mut first = true;
                for (on, name) in [(success, "SUCCESS"), (failure, "FAILURE"), (delay, "DELAY")] {
                    if on {
                        if !first {
                            sink.put(b",");
                        }
                        sink.put(name.as_bytes());
                        first = false;
                    }
                }
            }
        }
    }
}

/// `MT-PRIORITY=` value (RFC 6710), `-9..=9`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MtPriority(i8);

impl MtPriority {
    /// Validates a priority in `-9..=9`.
    pub fn new(p: i8) -> Result<Self, CommandError> {
        if (-9..=9).contains(&p) {
            Ok(Self(p))
        } else {
            Err(CommandError::OutOfRange {
                field: "MT-PRIORITY",
                value: i64::from(p),
                min: -9,
                max: 9,
            })
        }
    }

    /// The priority.
    pub fn get(self) -> i8 {
        self.0
    }
}

/// An RFC 3339 `date-time`, as used by `HOLDUNTIL=` (RFC 4865).
///
/// ```
/// use smtp_proto::command::DateTime;
///
/// assert!(DateTime::parse("2025-06-01T12:00:00Z").is_ok());
/// assert!(DateTime::parse("2025-06-01T12:00:00.5+02:00").is_ok());
/// assert!(DateTime::parse("2025-13-01T12:00:00Z").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DateTime(String);

impl DateTime {
    /// Validates the RFC 3339 §5.6 `date-time` syntax and field ranges.
    pub fn parse(s: &str) -> Result<Self, CommandError> {
        abnf::date_time(Input::new(s, "HOLDUNTIL"))?;
        Ok(Self(s.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// FUTURERELEASE (RFC 4865): `HOLDFOR=` or `HOLDUNTIL=`, never both.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FutureRelease {
    /// `HOLDFOR=seconds` (`1*9DIGIT`, so at most 999 999 999).
    HoldFor(u32),
    /// `HOLDUNTIL=date-time`.
    HoldUntil(DateTime),
}

/// The `BY=` mode (RFC 2852 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ByMode {
    /// `N`: notify (delay DSN) if the deadline passes.
    Notify,
    /// `R`: return (fail) the message if the deadline passes.
    Return,
}

/// `BY=<by-time>;<by-mode>[T]` (RFC 2852 §4, DELIVERBY).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct By {
    /// Seconds, `-999_999_999..=999_999_999` (`["-" / "+"] 1*9DIGIT`).
    pub time: i32,
    /// What to do if the deadline passes.
    pub mode: ByMode,
    /// Request trace information (`T`).
    pub trace: bool,
}

impl By {
    /// A deadline without trace.
    pub fn new(time: i32, mode: ByMode) -> Self {
        Self {
            time,
            mode,
            trace: false,
        }
    }
}

/// An extra `esmtp-keyword[=esmtp-value]` parameter (RFC 5321 §4.1.2).
///
/// ```
/// use smtp_proto::command::EsmtpParam;
///
/// assert!(EsmtpParam::new("XFOO", Some("bar")).is_ok());
/// assert!(EsmtpParam::new("XFOO", Some("a b")).is_err());
/// assert!(EsmtpParam::new("X=Y", None).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EsmtpParam {
    keyword: String,
    value: Option<String>,
}

impl EsmtpParam {
    /// Validates `esmtp-keyword` and, if given, `esmtp-value` (ASCII only).
    pub fn new(keyword: &str, value: Option<&str>) -> Result<Self, CommandError> {
        abnf::esmtp_keyword(Input::new(keyword, "esmtp-keyword"), 0..keyword.len())?;
        if let Some(v) = value {
            abnf::esmtp_value(Input::new(v, "esmtp-value"), 0..v.len())?;
        }
        Ok(Self {
            keyword: keyword.to_owned(),
            value: value.map(str::to_owned),
        })
    }

    /// The keyword.
    pub fn keyword(&self) -> &str {
        &self.keyword
    }

    /// The value, if any.
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }

    fn write<S: Sink>(&self, sink: &mut S) {
        sink.put(self.keyword.as_bytes());
        if let Some(v) = &self.value {
            sink.put(b"=");
            sink.put(v.as_bytes());
        }
    }
}

fn check_extras(extra: &[EsmtpParam], reserved: &[&str]) -> Result<(), CommandError> {
    for (i, p) in extra.iter().enumerate() {
        if reserved.iter().any(|r| r.eq_ignore_ascii_case(&p.keyword)) {
            return Err(CommandError::ReservedParameter {
                keyword: p.keyword.clone(),
            });
        }
        if extra[..i]
            .iter()
            .any(|q| q.keyword.eq_ignore_ascii_case(&p.keyword))
        {
            return Err(CommandError::DuplicateParameter {
                keyword: p.keyword.clone(),
            });
        }
    }
    Ok(())
}

const MAIL_RESERVED: &[&str] = &[
    "SIZE",
    "BODY",
    "SMTPUTF8",
    "RET",
    "ENVID",
    "AUTH",
    "REQUIRETLS",
    "MT-PRIORITY",
    "HOLDFOR",
    "HOLDUNTIL",
    "BY",
];
const RCPT_RESERVED: &[&str] = &["NOTIFY", "ORCPT"];

/// Parameters of `MAIL FROM:<path>`, written in field order, extras last.
///
/// ```
/// use smtp_proto::command::{Body, MailParams};
///
/// let mut p = MailParams::default();
/// p.size = Some(1000);
/// p.body = Some(Body::EightBitMime);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MailParams {
    /// `SIZE=n` (RFC 1870).
    pub size: Option<u64>,
    /// `BODY=` (RFC 6152, RFC 3030).
    pub body: Option<Body>,
    /// `SMTPUTF8` (RFC 6531). Also what allows a non-ASCII reverse path.
    pub smtputf8: bool,
    /// `RET=` (RFC 3461).
    pub ret: Option<Ret>,
    /// `ENVID=` (RFC 3461).
    pub envid: Option<Envid>,
    /// `AUTH=` (RFC 4954 §5): `<>` or the xtext-encoded mailbox.
    pub auth: Option<ReversePath>,
    /// `REQUIRETLS` (RFC 8689).
    pub requiretls: bool,
    /// `MT-PRIORITY=` (RFC 6710).
    pub mt_priority: Option<MtPriority>,
    /// `HOLDFOR=` / `HOLDUNTIL=` (RFC 4865).
    pub future_release: Option<FutureRelease>,
    /// `BY=` (RFC 2852).
    pub by: Option<By>,
    /// Further parameters; keywords with a typed field above are refused.
    pub extra: Vec<EsmtpParam>,
}

impl MailParams {
    pub(crate) fn check(&self) -> Result<(), CommandError> {
        if let Some(FutureRelease::HoldFor(s)) = self.future_release
            && s > 999_999_999
        {
            return Err(CommandError::OutOfRange {
                field: "HOLDFOR",
                value: i64::from(s),
                min: 0,
                max: 999_999_999,
            });
        }
        if let Some(by) = self.by
            && !(-999_999_999..=999_999_999).contains(&by.time)
        {
            return Err(CommandError::OutOfRange {
                field: "BY",
                value: i64::from(by.time),
                min: -999_999_999,
                max: 999_999_999,
            });
        }
        check_extras(&self.extra, MAIL_RESERVED)
    }

    pub(crate) fn write<S: Sink>(&self, sink: &mut S) {
        if let Some(n) = self.size {
            sink.put(b" SIZE=");
            sink.put_num(n);
        }
        if let Some(b) = self.body {
            sink.put(b" BODY=");
            sink.put(b.as_str().as_bytes());
        }
        if self.smtputf8 {
            sink.put(b" SMTPUTF8");
        }
        if let Some(r) = self.ret {
            sink.put(b" RET=");
            sink.put(r.as_str().as_bytes());
        }
        if let Some(e) = &self.envid {
            sink.put(b" ENVID=");
            xtext::write(sink, e.0.as_bytes());
        }
        if let Some(a) = &self.auth {
            sink.put(b" AUTH=");
            match a {
                ReversePath::Null => sink.put(b"<>"),
                ReversePath::Mailbox(m) => xtext::write(sink, m.as_str().as_bytes()),
            }
        }
        if self.requiretls {
            sink.put(b" REQUIRETLS");
        }
        if let Some(p) = self.mt_priority {
            sink.put(b" MT-PRIORITY=");
            sink.put_num(p.0);
        }
        match &self.future_release {
            Some(FutureRelease::HoldFor(s)) => {
                sink.put(b" HOLDFOR=");
                sink.put_num(s);
            }
            Some(FutureRelease::HoldUntil(t)) => {
                sink.put(b" HOLDUNTIL=");
                sink.put(t.0.as_bytes());
            }
            None => {}
        }
        if let Some(by) = self.by {
            sink.put(b" BY=");
            sink.put_num(by.time);
            sink.put(match by.mode {
                ByMode::Notify => b";N",
                ByMode::Return => b";R",
            });
            if by.trace {
                sink.put(b"T");
            }
        }
        for p in &self.extra {
            sink.put(b" ");
            p.write(sink);
        }
    }
}

/// Parameters of `RCPT TO:<path>`, written in field order, extras last.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RcptParams {
    /// `NOTIFY=` (RFC 3461).
    pub notify: Option<Notify>,
    /// `ORCPT=` (RFC 3461).
    pub orcpt: Option<Orcpt>,
    /// Further parameters; `NOTIFY` and `ORCPT` keywords are refused here.
    pub extra: Vec<EsmtpParam>,
}

impl RcptParams {
    pub(crate) fn check(&self) -> Result<(), CommandError> {
        if let Some(n) = self.notify {
            n.check()?;
        }
        check_extras(&self.extra, RCPT_RESERVED)
    }

    pub(crate) fn write<S: Sink>(&self, sink: &mut S) {
        if let Some(n) = self.notify {
            sink.put(b" NOTIFY=");
            n.write(sink);
        }
        if let Some(o) = &self.orcpt {
            sink.put(b" ORCPT=");
            o.write(sink);
        }
        for p in &self.extra {
            sink.put(b" ");
            p.write(sink);
        }
    }
}
