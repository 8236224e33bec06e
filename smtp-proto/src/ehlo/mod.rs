//! Capabilities advertised in an EHLO or LHLO reply.
//!
//! [`Capabilities::from_reply`] reads the reply's first line as the greeting (domain and
//! optional text) and every further line as an `ehlo-line` (RFC 5321 §4.1.1.1). It never
//! fails: a line the typed view cannot use is kept, verbatim, among the
//! [unknown lines](Capabilities::unknown).
//!
//! ```
//! use smtp_proto::{Capabilities, Reply};
//! use smtp_proto::ehlo::SizeLimit;
//!
//! let reply = Reply::parse(
//!     b"250-mx.example.com Hello\r\n250-SIZE 10240000\r\n250-AUTH PLAIN login\r\n\
//!       250-XCLIENT NAME ADDR\r\n250 PIPELINING\r\n",
//! )
//! .unwrap();
//! let caps = Capabilities::from(&reply);
//! assert_eq!(caps.domain(), b"mx.example.com");
//! assert_eq!(caps.size(), SizeLimit::max(10_240_000));
//! assert!(caps.pipelining());
//! assert_eq!(caps.auth_mechanisms().collect::<Vec<_>>(), ["PLAIN", "LOGIN"]);
//! assert!(caps.has_extn("xclient"));
//! assert_eq!(caps.unknown().collect::<Vec<_>>(), [&b"XCLIENT NAME ADDR"[..]]);
//! ```
//!
//! ## Rules
//! - Keywords match whole tokens, ignoring ASCII case: `SIZEX` is not SIZE, `X-STARTTLS` is
//!   not STARTTLS.
//! - A line outside the grammar (tabs, control characters, octets above 126, blank) or whose
//!   parameters do not fit the extension's grammar (`SIZE abc`, a SIZE above `u64::MAX`) does
//!   not enable the extension; the line goes to [`unknown`](Capabilities::unknown).
//! - Extensions without parameters (PIPELINING, STARTTLS, ...) ignore any parameters sent.
//! - Repeated keywords: the first well-formed line wins for extensions with values (SIZE,
//!   DELIVERBY, MT-PRIORITY, FUTURERELEASE, LIMITS); later well-formed repeats are ignored by
//!   the typed view but still listed by [`iter`](Capabilities::iter). AUTH mechanisms from
//!   every AUTH line, `AUTH mech` and `AUTH=mech` alike, are merged: upper-cased,
//!   deduplicated, in first-seen order.
//! - The reply code is not checked: call this on the 250 reply to EHLO or LHLO.

mod grammar;
mod values;

use std::fmt;
use std::ops::Range;

use grammar::complete;

use crate::reply::{Reply, ReplyRef};

pub use values::{DeliverBy, Extension, FutureRelease, Limits, MtPriority, SizeLimit};

/// Bits of [`Capabilities::flags`].
mod bit {
    pub(super) const SIZE: u32 = 1 << 0;
    pub(super) const PIPELINING: u32 = 1 << 1;
    pub(super) const EIGHTBITMIME: u32 = 1 << 2;
    pub(super) const BINARYMIME: u32 = 1 << 3;
    pub(super) const CHUNKING: u32 = 1 << 4;
    pub(super) const SMTPUTF8: u32 = 1 << 5;
    pub(super) const STARTTLS: u32 = 1 << 6;
    pub(super) const AUTH: u32 = 1 << 7;
    pub(super) const DSN: u32 = 1 << 8;
    pub(super) const ENHANCEDSTATUSCODES: u32 = 1 << 9;
    pub(super) const REQUIRETLS: u32 = 1 << 10;
    pub(super) const DELIVERBY: u32 = 1 << 11;
    pub(super) const MT_PRIORITY: u32 = 1 << 12;
    pub(super) const FUTURERELEASE: u32 = 1 << 13;
    pub(super) const LIMITS: u32 = 1 << 14;
    pub(super) const VRFY: u32 = 1 << 15;
    pub(super) const EXPN: u32 = 1 << 16;
    pub(super) const HELP: u32 = 1 << 17;
    pub(super) const ETRN: u32 = 1 << 18;
}

/// Keywords without parameters, in rendering order.
const FLAGS: [(&str, u32); 13] = [
    ("PIPELINING", bit::PIPELINING),
    ("8BITMIME", bit::EIGHTBITMIME),
    ("BINARYMIME", bit::BINARYMIME),
    ("CHUNKING", bit::CHUNKING),
    ("SMTPUTF8", bit::SMTPUTF8),
    ("STARTTLS", bit::STARTTLS),
    ("DSN", bit::DSN),
    ("ENHANCEDSTATUSCODES", bit::ENHANCEDSTATUSCODES),
    ("REQUIRETLS", bit::REQUIRETLS),
    ("VRFY", bit::VRFY),
    ("EXPN", bit::EXPN),
    ("HELP", bit::HELP),
    ("ETRN", bit::ETRN),
];

/// The extensions a server advertised in its EHLO or LHLO reply.
///
/// Built by [`from_reply`](Self::from_reply) (or `From<&Reply>`), which never fails. Holds
/// a copy of the reply text (one allocation), a bitset, the values of the extensions that
/// have one, the AUTH mechanisms and the positions of the unknown lines: about 150 octets
/// plus the reply text.
///
/// Three views:
/// - typed accessors ([`size`](Self::size), [`starttls`](Self::starttls),
///   [`auth_mechanisms`](Self::auth_mechanisms), ...), strict, for decisions;
/// - [`iter`](Self::iter) over every well-formed line, and [`unknown`](Self::unknown) for
///   the lines the typed view did not use;
/// - [`has_extn`](Self::has_extn) and [`esmtp_features`](Self::esmtp_features), which
///   reproduce Python smtplib's lax parsing exactly.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// The text of every reply line, joined with `\n` (lines never contain CR or LF).
    text: Box<[u8]>,
    flags: u32,
    /// SIZE value; 0 means no fixed limit. Valid when `bit::SIZE` is set.
    size: u64,
    /// The upper-cased AUTH mechanisms, deduplicated, in first-seen order.
    auth: Vec<Box<str>>,
    /// DELIVERBY min-by-time. Valid when `bit::DELIVERBY` is set.
    deliver_by: Option<u32>,
    /// MT-PRIORITY policy name, a span of `text`. Valid when `bit::MT_PRIORITY` is set.
    mt_priority: Option<Range<usize>>,
    /// FUTURERELEASE interval and date-time span. Valid when `bit::FUTURERELEASE` is set.
    future_release: (u32, Range<usize>),
    /// LIMITS. Present when `bit::LIMITS` is set.
    limits: Option<Box<Limits>>,
    /// Spans of `text` holding the lines the typed view did not use.
    unknown: Vec<Range<usize>>,
}

/// The position of `inner` within `outer`, `None` if it is not a subslice of it.
fn offset_in(outer: &[u8], inner: &[u8]) -> Option<usize> {
    let at = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
    (at.checked_add(inner.len())? <= outer.len()).then_some(at)
}

fn ascii_str(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok()
}

impl Capabilities {
    /// Reads the capabilities from an EHLO or LHLO reply. Never fails; see the
    /// [module docs](self) for the rules.
    pub fn from_reply(reply: &ReplyRef<'_>) -> Capabilities {
        let mut text = Vec::with_capacity(reply.as_bytes().len());
        for (i, line) in reply.lines().enumerate() {
            if i > 0 {
                text.push(b'\n');
            }
            text.extend_from_slice(line);
        }
        let mut caps = Capabilities::default();
        let mut start = 0;
        for (i, line) in text.split(|&b| b == b'\n').enumerate() {
            let span = start..start + line.len();
            start = span.end + 1;
            if i > 0 && !caps.apply(&text, span.clone()) {
                caps.unknown.push(span);
            }
        }
        caps.text = text.into();
        caps
    }

    /// [`from_reply`](Self::from_reply) for an owned reply.
    pub fn from_owned_reply(reply: &Reply) -> Capabilities {
        Self::from_reply(&reply.as_ref())
    }

    /// Feeds one extension line (the span `span` of `text`) to the typed view. Returns
    /// whether the typed view used it.
    fn apply(&mut self, text: &[u8], span: Range<usize>) -> bool {
        let line = &text[span.clone()];
        let Some(l) = grammar::ehlo_line(line) else {
            return false;
        };
        let is = |name: &str| l.keyword.eq_ignore_ascii_case(name.as_bytes());
        if let Some(&(_, flag)) = FLAGS.iter().find(|(name, _)| is(name)) {
            self.flags |= flag;
            return true;
        }
        if is("AUTH") {
            if complete(grammar::auth_params, l.params).is_none() {
                return false;
            }
            self.flags |= bit::AUTH;
            for mech in l.params.split(|&b| b == b' ').filter(|m| !m.is_empty()) {
                let Some(mech) = ascii_str(mech) else {
                    continue;
                };
                let mech = mech.to_ascii_uppercase();
                if !self.auth.iter().any(|m| **m == *mech) {
                    self.auth.push(mech.into());
                }
            }
            return true;
        }
        if l.equals {
            return false;
        }
        // Spans of `text` for values kept verbatim.
        let span_of = |part: &[u8]| {
            offset_in(line, part).map(|at| span.start + at..span.start + at + part.len())
        };
        let first = |caps: &Self, b: u32| caps.flags & b == 0;
        if is("SIZE") {
            let Some(n) = complete(grammar::size_param, l.params) else {
                return false;
            };
            if first(self, bit::SIZE) {
                self.flags |= bit::SIZE;
                self.size = n;
            }
        } else if is("DELIVERBY") {
            let Some(n) = complete(grammar::deliverby_param, l.params) else {
                return false;
            };
            if first(self, bit::DELIVERBY) {
                self.flags |= bit::DELIVERBY;
                self.deliver_by = n;
            }
        } else if is("MT-PRIORITY") {
            let Some(p) = complete(grammar::mt_priority_param, l.params) else {
                return false;
            };
            if first(self, bit::MT_PRIORITY) {
                self.flags |= bit::MT_PRIORITY;
                self.mt_priority = p.and_then(span_of);
            }
        } else if is("FUTURERELEASE") {
            let Some((interval, when)) = complete(grammar::futurerelease_params, l.params) else {
                return false;
            };
            if first(self, bit::FUTURERELEASE) {
                self.flags |= bit::FUTURERELEASE;
                self.future_release = (interval, span_of(when).unwrap_or_default());
            }
        } else if is("LIMITS") {
            let Some(limits) = Limits::parse(l.params) else {
                return false;
            };
            if first(self, bit::LIMITS) {
                self.flags |= bit::LIMITS;
                self.limits = Some(Box::new(limits));
            }
        } else {
            return false;
        }
        true
    }

    fn span(&self, span: &Range<usize>) -> &[u8] {
        self.text.get(span.clone()).unwrap_or_default()
    }

    fn span_str(&self, span: &Range<usize>) -> &str {
        ascii_str(self.span(span)).unwrap_or_default()
    }

    fn has(&self, b: u32) -> bool {
        self.flags & b != 0
    }

    /// The text of every reply line: the greeting, then the extension lines.
    fn all_lines(&self) -> impl Iterator<Item = &[u8]> {
        self.text.split(|&b| b == b'\n')
    }

    /// The extension lines (every line after the greeting), verbatim.
    pub fn lines(&self) -> impl Iterator<Item = &[u8]> {
        // A default (empty) value has no line at all.
        self.all_lines().skip(1)
    }

    /// The greeting line (the first line), verbatim: the domain and any text.
    pub fn greeting(&self) -> &[u8] {
        self.all_lines().next().unwrap_or_default()
    }

    /// The server's domain (or address literal) from the greeting line, verbatim.
    pub fn domain(&self) -> &[u8] {
        let g = self.greeting();
        g.split(|&b| b == b' ').next().unwrap_or_default()
    }

    /// The greeting text after the domain and its space, if any (`at your service` ...).
    pub fn greeting_text(&self) -> Option<&[u8]> {
        let g = self.greeting();
        memchr::memchr(b' ', g).map(|i| &g[i + 1..])
    }

    /// SIZE (RFC 1870): `None` if not advertised (or malformed).
    pub fn size(&self) -> Option<SizeLimit> {
        if self.has(bit::SIZE) {
            SizeLimit::max(self.size)
        } else {
            None
        }
    }

    /// PIPELINING (RFC 2920).
    pub fn pipelining(&self) -> bool {
        self.has(bit::PIPELINING)
    }

    /// 8BITMIME (RFC 6152).
    pub fn eight_bit_mime(&self) -> bool {
        self.has(bit::EIGHTBITMIME)
    }

    /// BINARYMIME (RFC 3030).
    pub fn binary_mime(&self) -> bool {
        self.has(bit::BINARYMIME)
    }

    /// CHUNKING, the BDAT command (RFC 3030).
    pub fn chunking(&self) -> bool {
        self.has(bit::CHUNKING)
    }

    /// SMTPUTF8 (RFC 6531).
    pub fn smtp_utf8(&self) -> bool {
        self.has(bit::SMTPUTF8)
    }

    /// STARTTLS (RFC 3207).
    pub fn starttls(&self) -> bool {
        self.has(bit::STARTTLS)
    }

    /// Whether AUTH (RFC 4954) was advertised, even with no mechanism.
    pub fn auth(&self) -> bool {
        self.has(bit::AUTH)
    }

    /// The AUTH mechanisms of every AUTH line (`AUTH ...` and `AUTH=...`), upper-cased,
    /// deduplicated, in first-seen order.
    pub fn auth_mechanisms(&self) -> impl Iterator<Item = &str> {
        self.auth.iter().map(|m| &**m)
    }

    /// Whether the AUTH mechanism `mechanism` was advertised (ASCII case ignored).
    pub fn supports_auth(&self, mechanism: &str) -> bool {
        self.auth.iter().any(|m| m.eq_ignore_ascii_case(mechanism))
    }

    /// DSN (RFC 3461).
    pub fn dsn(&self) -> bool {
        self.has(bit::DSN)
    }

    /// ENHANCEDSTATUSCODES (RFC 2034).
    pub fn enhanced_status_codes(&self) -> bool {
        self.has(bit::ENHANCEDSTATUSCODES)
    }

    /// REQUIRETLS (RFC 8689).
    pub fn require_tls(&self) -> bool {
        self.has(bit::REQUIRETLS)
    }

    /// DELIVERBY (RFC 2852) with its optional minimum by-time.
    pub fn deliver_by(&self) -> Option<DeliverBy> {
        self.has(bit::DELIVERBY).then_some(DeliverBy {
            min_by_time: self.deliver_by,
        })
    }

    /// MT-PRIORITY (RFC 6710) with its optional policy name.
    pub fn mt_priority(&self) -> Option<MtPriority<'_>> {
        self.has(bit::MT_PRIORITY).then(|| MtPriority {
            policy: self.mt_priority.as_ref().map(|s| self.span_str(s)),
        })
    }

    /// FUTURERELEASE (RFC 4865) with its two limits.
    pub fn future_release(&self) -> Option<FutureRelease<'_>> {
        self.has(bit::FUTURERELEASE).then(|| FutureRelease {
            max_interval: self.future_release.0,
            max_date_time: self.span_str(&self.future_release.1),
        })
    }

    /// LIMITS (RFC 9422).
    pub fn limits(&self) -> Option<&Limits> {
        self.limits.as_deref()
    }

    /// VRFY (RFC 5321 §3.5).
    pub fn vrfy(&self) -> bool {
        self.has(bit::VRFY)
    }

    /// EXPN (RFC 5321 §3.5).
    pub fn expn(&self) -> bool {
        self.has(bit::EXPN)
    }

    /// HELP (RFC 5321 §4.1.1.8).
    pub fn help(&self) -> bool {
        self.has(bit::HELP)
    }

    /// ETRN (RFC 1985).
    pub fn etrn(&self) -> bool {
        self.has(bit::ETRN)
    }

    /// Every well-formed extension line, in order, known or not, repeats included.
    pub fn iter(&self) -> impl Iterator<Item = Extension<'_>> {
        self.lines().filter_map(Extension::parse)
    }

    /// The extension lines the typed view did not use, verbatim, in order: unknown
    /// keywords, and lines that are malformed or carry a malformed value.
    pub fn unknown(&self) -> impl Iterator<Item = &[u8]> {
        self.unknown.iter().map(|s| self.span(s))
    }

    /// Whether the typed views of `self` and `other` are equal: same known extensions with
    /// the same values. The greeting, unknown lines and line order are not compared.
    pub fn same_known(&self, other: &Capabilities) -> bool {
        self.flags == other.flags
            && self.size() == other.size()
            && self.auth == other.auth
            && self.deliver_by() == other.deliver_by()
            && self.mt_priority() == other.mt_priority()
            && self.future_release() == other.future_release()
            && self.limits == other.limits
    }

    /// Python smtplib's `has_extn(name)`: whether `name`, lower-cased, is a key of
    /// [`esmtp_features`](Self::esmtp_features).
    ///
    /// Lax like smtplib: `SIZE abc` counts as SIZE here although [`size`](Self::size) is
    /// `None`. Prefer the typed accessors for known extensions.
    ///
    /// ```
    /// use smtp_proto::{Capabilities, Reply};
    /// let reply = Reply::parse(b"250-mx\r\n250-X-STARTTLS\r\n250 size abc\r\n").unwrap();
    /// let caps = Capabilities::from(&reply);
    /// assert!(caps.has_extn("SIZE") && caps.size().is_none());
    /// assert!(caps.has_extn("x-starttls") && !caps.has_extn("STARTTLS"));
    /// ```
    pub fn has_extn(&self, name: &str) -> bool {
        let name = name.to_lowercase();
        self.lines().filter_map(smtplib_feature).any(|f| match f {
            SmtplibFeature::OldAuth(_) => name == "auth",
            SmtplibFeature::Plain(k, _) => {
                k.len() == name.len() && k.eq_ignore_ascii_case(name.as_bytes())
            }
        })
    }

    /// Python smtplib's `esmtp_features` dictionary, as `(keyword, params)` pairs in its
    /// insertion order.
    ///
    /// Built exactly as smtplib's `ehlo()` does: each line after the first is decoded as
    /// Latin-1; a line starting `auth=` (any case) appends `" " + rest` to `auth`;
    /// otherwise a leading `[A-Za-z0-9][A-Za-z0-9-]*` is the lower-cased keyword and the rest
    /// of the line, stripped of whitespace, its parameters: appended (after a space) for
    /// `auth`, replacing any earlier value for the others. Lines matching neither are
    /// skipped.
    ///
    /// ```
    /// use smtp_proto::{Capabilities, Reply};
    /// let reply =
    ///     Reply::parse(b"250-mx\r\n250-AUTH PLAIN\r\n250-AUTH=LOGIN\r\n250 SIZE 10\r\n").unwrap();
    /// let features = Capabilities::from(&reply).esmtp_features();
    /// assert_eq!(features, [("auth".into(), " PLAIN LOGIN".into()), ("size".into(), "10".into())]);
    /// ```
    pub fn esmtp_features(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for feature in self.lines().filter_map(smtplib_feature) {
            let (key, params, append) = match feature {
                SmtplibFeature::OldAuth(rest) => ("auth".to_owned(), latin1(rest), true),
                SmtplibFeature::Plain(k, rest) => {
                    let key = latin1(k).to_ascii_lowercase();
                    let params = latin1(rest);
                    let params = params
                        .trim_matches(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c))
                        .to_owned();
                    let append = key == "auth";
                    (key, params, append)
                }
            };
            match out.iter_mut().find(|(k, _)| *k == key) {
                Some((_, v)) if append => {
                    v.push(' ');
                    v.push_str(&params);
                }
                Some((_, v)) => *v = params,
                None if append => out.push((key, format!(" {params}"))),
                None => out.push((key, params)),
            }
        }
        out
    }

    /// smtplib's `esmtp_features.get(name.lower())`.
    pub fn esmtp_feature(&self, name: &str) -> Option<String> {
        let name = name.to_lowercase();
        self.esmtp_features()
            .into_iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// Renders the capabilities back to EHLO reply lines (the text of each line, without
    /// code or CRLF): the greeting, every known extension in a canonical form, then the
    /// unknown lines verbatim. Parsing the result gives the same typed view
    /// ([`same_known`](Self::same_known)) and the same unknown lines.
    ///
    /// ```
    /// use smtp_proto::{Capabilities, Reply, ReplyCode};
    /// let reply = Reply::parse(b"250-mx\r\n250-auth=login\r\n250 SIZE\r\n").unwrap();
    /// let caps = Capabilities::from(&reply);
    /// let lines = caps.to_reply_lines();
    /// assert_eq!(lines, [&b"mx"[..], b"SIZE", b"AUTH LOGIN"]);
    /// let again = Reply::from_lines(ReplyCode::OK, lines.iter().map(Vec::as_slice)).unwrap();
    /// assert!(Capabilities::from(&again).same_known(&caps));
    /// ```
    pub fn to_reply_lines(&self) -> Vec<Vec<u8>> {
        let mut out = vec![self.greeting().to_vec()];
        if let Some(size) = self.size() {
            out.push(match size.limit() {
                Some(n) => format!("SIZE {n}").into_bytes(),
                None => b"SIZE".to_vec(),
            });
        }
        for (name, flag) in &FLAGS[..6] {
            if self.has(*flag) {
                out.push(name.as_bytes().to_vec());
            }
        }
        if self.auth() {
            let mut line = b"AUTH".to_vec();
            for mech in &self.auth {
                line.push(b' ');
                line.extend_from_slice(mech.as_bytes());
            }
            out.push(line);
        }
        for (name, flag) in &FLAGS[6..9] {
            if self.has(*flag) {
                out.push(name.as_bytes().to_vec());
            }
        }
        if let Some(d) = self.deliver_by() {
            out.push(match d.min_by_time {
                Some(n) => format!("DELIVERBY {n}").into_bytes(),
                None => b"DELIVERBY".to_vec(),
            });
        }
        if let Some(p) = self.mt_priority() {
            out.push(match p.policy {
                Some(p) => format!("MT-PRIORITY {p}").into_bytes(),
                None => b"MT-PRIORITY".to_vec(),
            });
        }
        if let Some(f) = self.future_release() {
            out.push(format!("FUTURERELEASE {} {}", f.max_interval, f.max_date_time).into_bytes());
        }
        if let Some(limits) = self.limits() {
            let mut line = Vec::new();
            limits.render(&mut line);
            out.push(line);
        }
        for (name, flag) in &FLAGS[9..] {
            if self.has(*flag) {
                out.push(name.as_bytes().to_vec());
            }
        }
        out.extend(self.unknown().map(<[u8]>::to_vec));
        out
    }
}

/// One line as Python smtplib's `ehlo()` sees it.
enum SmtplibFeature<'a> {
    /// `auth=(.*)` matched (case-insensitive): the rest of the line.
    OldAuth(&'a [u8]),
    /// The feature keyword and the rest of the line, unstripped.
    Plain(&'a [u8], &'a [u8]),
}

fn smtplib_feature(line: &[u8]) -> Option<SmtplibFeature<'_>> {
    if line.len() >= 5 && line[..5].eq_ignore_ascii_case(b"auth=") {
        return Some(SmtplibFeature::OldAuth(&line[5..]));
    }
    let (rest, keyword) = grammar::ehlo_keyword(line).ok()?;
    Some(SmtplibFeature::Plain(keyword, rest))
}

/// Decodes Latin-1, as smtplib does: every octet is the code point of the same value.
fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

impl From<&ReplyRef<'_>> for Capabilities {
    fn from(reply: &ReplyRef<'_>) -> Self {
        Self::from_reply(reply)
    }
}

impl From<&Reply> for Capabilities {
    fn from(reply: &Reply) -> Self {
        Self::from_owned_reply(reply)
    }
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines = self.to_reply_lines();
        let known: Vec<_> = lines[1..lines.len() - self.unknown.len()]
            .iter()
            .map(|l| String::from_utf8_lossy(l))
            .collect();
        f.debug_struct("Capabilities")
            .field("greeting", &String::from_utf8_lossy(self.greeting()))
            .field("known", &known)
            .field(
                "unknown",
                &self
                    .unknown()
                    .map(String::from_utf8_lossy)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}
