//! One validator per ABNF rule, each quoting its rule.
//!
//! Validators work on a range of the constructor's input so that errors carry offsets into
//! the string the caller passed. Rules that RFC 6531 extends with `UTF8-non-ascii` accept any
//! byte `>= 0x80` (the input is a `&str`, so it is well-formed UTF-8); whether SMTPUTF8 is
//! in effect is checked later, when a command is encoded.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use super::address::DomainKind;
use super::error::CommandError;

type Res<T = ()> = Result<T, CommandError>;

/// The input of a validator: the whole string given to a constructor and the field name
/// used in errors.
#[derive(Clone, Copy)]
pub(crate) struct Input<'a> {
    pub(crate) full: &'a str,
    pub(crate) field: &'static str,
}

impl<'a> Input<'a> {
    pub(crate) fn new(full: &'a str, field: &'static str) -> Self {
        Self { full, field }
    }

    fn b(&self) -> &'a [u8] {
        self.full.as_bytes()
    }

    /// The error for an unexpected byte (or the end of input) at `offset`.
    pub(crate) fn err(&self, offset: usize, expected: &'static str) -> CommandError {
        unexpected(self.full, self.field, offset, expected)
    }
}

/// Builds the error for an unexpected byte: control bytes get their own variant.
pub(crate) fn unexpected(
    full: &str,
    field: &'static str,
    offset: usize,
    expected: &'static str,
) -> CommandError {
    match full.as_bytes().get(offset) {
        Some(&byte) if is_control(byte) => CommandError::ControlByte {
            field,
            offset,
            byte,
        },
        _ => CommandError::Syntax {
            field,
            offset,
            found: full.get(offset..).and_then(|t| t.chars().next()),
            expected,
        },
    }
}

/// A C0 control (`%d0-31`) or DEL (`%d127`).
pub(crate) fn is_control(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

/// `UTF8-non-ascii = UTF8-2 / UTF8-3 / UTF8-4` (RFC 6532 §3.1): any byte of such a sequence.
pub(crate) fn is_utf8_non_ascii(b: u8) -> bool {
    b >= 0x80
}

/// `Let-dig = ALPHA / DIGIT` (RFC 5321 §4.1.2)
pub(crate) fn is_let_dig(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// `atext = ALPHA / DIGIT / "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "/" /
/// "=" / "?" / "^" / "_" / "`" / "{" / "|" / "}" / "~"` (RFC 5322 §3.2.3),
/// `atext =/ UTF8-non-ascii` (RFC 6531 §3.3)
pub(crate) fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b) || is_utf8_non_ascii(b)
}

/// `qtextSMTP = %d32-33 / %d35-91 / %d93-126` (RFC 5321 §4.1.2),
/// `qtextSMTP =/ UTF8-non-ascii` (RFC 6531 §3.3)
pub(crate) fn is_qtext_smtp(b: u8) -> bool {
    matches!(b, 32..=33 | 35..=91 | 93..=126) || is_utf8_non_ascii(b)
}

/// `dcontent = %d33-90 / %d94-126` (RFC 5321 §4.1.3)
pub(crate) fn is_dcontent(b: u8) -> bool {
    matches!(b, 33..=90 | 94..=126)
}

/// `Atom = 1*atext` (RFC 5321 §4.1.2)
pub(crate) fn atom(inp: Input<'_>, r: Range<usize>) -> Res {
    if r.is_empty() {
        return Err(inp.err(r.start, "atext"));
    }
    match inp.b()[r.clone()].iter().position(|&b| !is_atext(b)) {
        Some(i) => Err(inp.err(r.start + i, "atext")),
        None => Ok(()),
    }
}

/// `Dot-string = Atom *("."  Atom)` (RFC 5321 §4.1.2)
pub(crate) fn dot_string(inp: Input<'_>, r: Range<usize>) -> Res {
    let mut start = r.start;
    for i in r.clone() {
        if inp.b()[i] == b'.' {
            atom(inp, start..i)?;
            start = i + 1;
        }
    }
    atom(inp, start..r.end)
}

/// `Quoted-string = DQUOTE *QcontentSMTP DQUOTE`,
/// `QcontentSMTP = qtextSMTP / quoted-pairSMTP` (RFC 5321 §4.1.2)
///
/// Parses a quoted string starting at `start`; returns the offset just past the closing
/// DQUOTE.
pub(crate) fn quoted_string(inp: Input<'_>, start: usize, end: usize) -> Res<usize> {
    if inp.b().get(start) != Some(&b'"') || start >= end {
        return Err(inp.err(start, "DQUOTE"));
    }
    let mut i = start + 1;
    while i < end {
        let b = inp.b()[i];
        if b == b'"' {
            return Ok(i + 1);
        } else if b == b'\\' {
            quoted_pair_smtp(inp, i, end)?;
            i += 2;
        } else if is_qtext_smtp(b) {
            i += 1;
        } else {
            return Err(inp.err(i, "qtextSMTP, quoted-pairSMTP or DQUOTE"));
        }
    }
    Err(inp.err(end, "closing DQUOTE"))
}

/// `quoted-pairSMTP = %d92 %d32-126` (RFC 5321 §4.1.2)
pub(crate) fn quoted_pair_smtp(inp: Input<'_>, at: usize, end: usize) -> Res {
    if inp.b().get(at) != Some(&b'\\') {
        return Err(inp.err(at, "\"\\\""));
    }
    match inp.b().get(at + 1) {
        Some(32..=126) if at + 1 < end => Ok(()),
        _ => Err(inp.err(at + 1, "printable US-ASCII after backslash")),
    }
}

/// `Local-part = Dot-string / Quoted-string` (RFC 5321 §4.1.2)
pub(crate) fn local_part(inp: Input<'_>, r: Range<usize>) -> Res {
    if inp.b().get(r.start) == Some(&b'"') {
        let end = quoted_string(inp, r.start, r.end)?;
        if end != r.end {
            return Err(inp.err(end, "end of local part"));
        }
        Ok(())
    } else {
        dot_string(inp, r)
    }
}

/// `Ldh-str = *( ALPHA / DIGIT / "-" ) Let-dig` (RFC 5321 §4.1.2)
pub(crate) fn ldh_str(inp: Input<'_>, r: Range<usize>) -> Res {
    if r.is_empty() {
        return Err(inp.err(r.start, "letter or digit"));
    }
    for i in r.clone() {
        let b = inp.b()[i];
        if !(is_let_dig(b) || b == b'-') {
            return Err(inp.err(i, "letter, digit or \"-\""));
        }
    }
    if !is_let_dig(inp.b()[r.end - 1]) {
        return Err(inp.err(r.end - 1, "letter or digit"));
    }
    Ok(())
}

/// `sub-domain = Let-dig [Ldh-str]` (RFC 5321 §4.1.2), `sub-domain =/ U-label`
/// (RFC 6531 §3.3)
///
/// A U-label is accepted as any label mixing letters, digits, inner hyphens and non-ASCII
/// characters; IDNA2008 validity is not checked. ASCII labels are limited to 63 octets
/// (RFC 1035 §2.3.4).
pub(crate) fn sub_domain(inp: Input<'_>, r: Range<usize>) -> Res {
    if r.is_empty() {
        return Err(inp.err(r.start, "letter or digit"));
    }
    let first = inp.b()[r.start];
    if !(is_let_dig(first) || is_utf8_non_ascii(first)) {
        return Err(inp.err(r.start, "letter or digit"));
    }
    for i in r.clone() {
        let b = inp.b()[i];
        if !(is_let_dig(b) || b == b'-' || is_utf8_non_ascii(b)) {
            return Err(inp.err(i, "letter, digit or \"-\""));
        }
    }
    if inp.b()[r.end - 1] == b'-' {
        return Err(inp.err(r.end - 1, "letter or digit"));
    }
    let label = &inp.b()[r.clone()];
    if label.is_ascii() && label.len() > 63 {
        return Err(CommandError::TooLong {
            field: "domain label",
            len: label.len(),
            max: 63,
        });
    }
    Ok(())
}

/// `Domain = sub-domain *("." sub-domain)` (RFC 5321 §4.1.2)
pub(crate) fn domain(inp: Input<'_>, r: Range<usize>) -> Res {
    let mut start = r.start;
    for i in r.clone() {
        if inp.b()[i] == b'.' {
            sub_domain(inp, start..i)?;
            start = i + 1;
        }
    }
    sub_domain(inp, start..r.end)
}

/// `address-literal = "[" ( IPv4-address-literal / IPv6-address-literal /
/// General-address-literal ) "]"` (RFC 5321 §4.1.2)
pub(crate) fn address_literal(inp: Input<'_>, r: Range<usize>) -> Res<DomainKind> {
    if inp.b().get(r.start) != Some(&b'[') || r.is_empty() {
        return Err(inp.err(r.start, "\"[\""));
    }
    let close = match inp.b()[r.clone()].iter().position(|&b| b == b']') {
        Some(p) => r.start + p,
        None => return Err(inp.err(r.end, "\"]\"")),
    };
    if close + 1 != r.end {
        return Err(inp.err(close + 1, "end of address literal"));
    }
    let content = (r.start + 1)..close;
    let bytes = &inp.b()[content.clone()];
    if bytes.len() >= 5 && bytes[..5].eq_ignore_ascii_case(b"IPv6:") {
        ipv6_address_literal(inp, content).map(DomainKind::Ipv6)
    } else if bytes.contains(&b':') {
        general_address_literal(inp, content).map(|()| DomainKind::General)
    } else {
        ipv4_address_literal(inp, content).map(DomainKind::Ipv4)
    }
}

/// `IPv4-address-literal = Snum 3("."  Snum)` (RFC 5321 §4.1.3), checked with
/// [`Ipv4Addr`]'s parser (which refuses leading zeros).
pub(crate) fn ipv4_address_literal(inp: Input<'_>, r: Range<usize>) -> Res<Ipv4Addr> {
    if let Some(i) = inp.b()[r.clone()]
        .iter()
        .position(|&b| !(b.is_ascii_digit() || b == b'.'))
    {
        return Err(inp.err(r.start + i, "digit or \".\" of an IPv4 address"));
    }
    inp.full[r.clone()]
        .parse()
        .map_err(|_| inp.err(r.start, "an IPv4 address"))
}

/// `IPv6-address-literal = "IPv6:" IPv6-addr` (RFC 5321 §4.1.3), the address checked with
/// [`Ipv6Addr`]'s parser.
pub(crate) fn ipv6_address_literal(inp: Input<'_>, r: Range<usize>) -> Res<Ipv6Addr> {
    let addr = (r.start + 5)..r.end;
    if let Some(i) = inp.b()[addr.clone()]
        .iter()
        .position(|&b| !(b.is_ascii_hexdigit() || b == b':' || b == b'.'))
    {
        return Err(inp.err(
            addr.start + i,
            "hex digit, \":\" or \".\" of an IPv6 address",
        ));
    }
    inp.full[addr.clone()]
        .parse()
        .map_err(|_| inp.err(addr.start, "an IPv6 address"))
}

/// `General-address-literal = Standardized-tag ":" 1*dcontent`,
/// `Standardized-tag = Ldh-str` (RFC 5321 §4.1.3)
pub(crate) fn general_address_literal(inp: Input<'_>, r: Range<usize>) -> Res {
    let colon = match inp.b()[r.clone()].iter().position(|&b| b == b':') {
        Some(p) => r.start + p,
        None => return Err(inp.err(r.end, "\":\"")),
    };
    ldh_str(inp, r.start..colon)?;
    let content = (colon + 1)..r.end;
    if content.is_empty() {
        return Err(inp.err(content.start, "dcontent"));
    }
    match inp.b()[content.clone()]
        .iter()
        .position(|&b| !is_dcontent(b))
    {
        Some(i) => Err(inp.err(content.start + i, "dcontent")),
        None => Ok(()),
    }
}

/// `Domain / address-literal`, the right-hand side of `Mailbox` (RFC 5321 §4.1.2)
pub(crate) fn domain_or_literal(inp: Input<'_>, r: Range<usize>) -> Res<DomainKind> {
    if inp.b().get(r.start) == Some(&b'[') {
        address_literal(inp, r)
    } else {
        domain(inp, r).map(|()| DomainKind::Name)
    }
}

/// `esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")` (RFC 5321 §4.1.2)
pub(crate) fn esmtp_keyword(inp: Input<'_>, r: Range<usize>) -> Res {
    if r.is_empty() {
        return Err(CommandError::Empty { field: inp.field });
    }
    if !is_let_dig(inp.b()[r.start]) {
        return Err(inp.err(r.start, "letter or digit"));
    }
    match inp.b()[r.clone()]
        .iter()
        .position(|&b| !(is_let_dig(b) || b == b'-'))
    {
        Some(i) => Err(inp.err(r.start + i, "letter, digit or \"-\"")),
        None => Ok(()),
    }
}

/// `esmtp-value = 1*(%d33-60 / %d62-126)` (RFC 5321 §4.1.2); the RFC 6531 extension to
/// UTF-8 is not supported here.
pub(crate) fn esmtp_value(inp: Input<'_>, r: Range<usize>) -> Res {
    if r.is_empty() {
        return Err(CommandError::Empty { field: inp.field });
    }
    match inp.b()[r.clone()]
        .iter()
        .position(|&b| !matches!(b, 33..=60 | 62..=126))
    {
        Some(i) => Err(inp.err(r.start + i, "printable US-ASCII other than \"=\"")),
        None => Ok(()),
    }
}

/// `sasl-mech = 1*20mech-char`, `mech-char = UPPER-ALPHA / DIGIT / HYPHEN / UNDERSCORE`
/// (RFC 4422 §3.1; lower-case letters are accepted here and upper-cased by the caller)
pub(crate) fn sasl_mech(inp: Input<'_>, r: Range<usize>) -> Res {
    if r.is_empty() {
        return Err(CommandError::Empty { field: inp.field });
    }
    if let Some(i) = inp.b()[r.clone()]
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    {
        return Err(inp.err(r.start + i, "letter, digit, \"-\" or \"_\""));
    }
    if r.len() > 20 {
        return Err(CommandError::TooLong {
            field: inp.field,
            len: r.len(),
            max: 20,
        });
    }
    Ok(())
}

fn digits(inp: Input<'_>, at: usize, n: usize) -> Res<u32> {
    let mut v = 0u32;
    for i in at..at + n {
        match inp.b().get(i) {
            Some(&b) if b.is_ascii_digit() => v = v * 10 + u32::from(b - b'0'),
            _ => return Err(inp.err(i, "digit")),
        }
    }
    Ok(v)
}

fn lit(inp: Input<'_>, at: usize, c: u8, expected: &'static str) -> Res {
    match inp.b().get(at) {
        Some(&b) if b.eq_ignore_ascii_case(&c) => Ok(()),
        _ => Err(inp.err(at, expected)),
    }
}

fn ranged(inp: Input<'_>, at: usize, n: usize, min: u32, max: u32) -> Res {
    let v = digits(inp, at, n)?;
    if (min..=max).contains(&v) {
        Ok(())
    } else {
        Err(CommandError::OutOfRange {
            field: inp.field,
            value: i64::from(v),
            min: i64::from(min),
            max: i64::from(max),
        })
    }
}

/// `date-time = full-date "T" full-time` (RFC 3339 §5.6), with
/// `full-date = date-fullyear "-" date-month "-" date-mday`,
/// `full-time = partial-time time-offset`,
/// `partial-time = time-hour ":" time-minute ":" time-second [time-secfrac]`,
/// `time-secfrac = "." 1*DIGIT`, `time-offset = "Z" / time-numoffset`,
/// `time-numoffset = ("+" / "-") time-hour ":" time-minute`.
pub(crate) fn date_time(inp: Input<'_>) -> Res {
    digits(inp, 0, 4)?;
    lit(inp, 4, b'-', "\"-\"")?;
    ranged(inp, 5, 2, 1, 12)?;
    lit(inp, 7, b'-', "\"-\"")?;
    ranged(inp, 8, 2, 1, 31)?;
    lit(inp, 10, b'T', "\"T\"")?;
    ranged(inp, 11, 2, 0, 23)?;
    lit(inp, 13, b':', "\":\"")?;
    ranged(inp, 14, 2, 0, 59)?;
    lit(inp, 16, b':', "\":\"")?;
    ranged(inp, 17, 2, 0, 60)?;
    let mut i = 19;
    if inp.b().get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while inp.b().get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return Err(inp.err(i, "digit"));
        }
    }
    match inp.b().get(i) {
        Some(b'Z' | b'z') => i += 1,
        Some(b'+' | b'-') => {
            ranged(inp, i + 1, 2, 0, 23)?;
            lit(inp, i + 3, b':', "\":\"")?;
            ranged(inp, i + 4, 2, 0, 59)?;
            i += 6;
        }
        _ => return Err(inp.err(i, "\"Z\", \"+\" or \"-\"")),
    }
    if i != inp.full.len() {
        return Err(inp.err(i, "end of date-time"));
    }
    Ok(())
}

/// Refuses any control byte or DEL in the whole input; `allow_ht` lets HT through.
pub(crate) fn no_controls(inp: Input<'_>, allow_ht: bool) -> Res {
    match inp
        .b()
        .iter()
        .position(|&b| is_control(b) && !(allow_ht && b == b'\t'))
    {
        Some(i) => Err(inp.err(i, "no control characters")),
        None => Ok(()),
    }
}

/// Offset of the first non-ASCII byte, if any.
pub(crate) fn first_non_ascii(s: &str) -> Option<usize> {
    s.bytes().position(|b| !b.is_ascii())
}

#[cfg(test)]
mod tests;
