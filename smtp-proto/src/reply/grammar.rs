//! The reply grammar, one `nom` parser per ABNF rule, run on one already framed line.
//!
//! Framing (finding CRLF, enforcing limits) happens before these parsers run, so they use
//! `nom`'s *complete* combinators and never see a partial line. The rules come from
//! RFC 5321 §4.2 and RFC 3463 §2.

use nom::{
    IResult, Parser,
    bytes::complete::take,
    combinator::map_opt,
    error::{Error, ErrorKind},
};

use super::{EnhancedStatus, ReplyCode};

/// The separator after the reply code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Separator {
    /// `-`: more lines follow.
    Continue,
    /// `SP` or nothing: this is the last line of the reply.
    Last,
}

/// One parsed reply line: code, separator and the text after the separator.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Line<'a> {
    pub(crate) code: ReplyCode,
    pub(crate) separator: Separator,
    pub(crate) text: &'a [u8],
}

/// Why a framed line does not match the grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LineErrorKind {
    /// The line does not start with a three-digit code `2xx`-`5xx` whose second digit is 0-5.
    BadCode,
    /// The code is followed by something other than `-`, a space, or the end of the line.
    BadSeparator,
    /// A carriage return appears inside the line (only CRLF may end a line).
    BareCarriageReturn,
}

impl std::fmt::Display for LineErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LineErrorKind::BadCode => "it does not start with a reply code 200-559",
            LineErrorKind::BadSeparator => {
                "the code is followed by something other than a space or a hyphen"
            }
            LineErrorKind::BareCarriageReturn => "it holds a carriage return without a line feed",
        })
    }
}

/// ```abnf
/// Reply-code = %x32-35 %x30-35 %x30-39
/// ```
///
/// RFC 5321 §4.2 (the first digit is limited to 2-5: a client never receives 1yz replies).
pub(crate) fn reply_code(input: &[u8]) -> IResult<&[u8], ReplyCode> {
    map_opt(take(3usize), |d: &[u8]| {
        if (b'2'..=b'5').contains(&d[0]) && (b'0'..=b'5').contains(&d[1]) && d[2].is_ascii_digit() {
            let v =
                u16::from(d[0] - b'0') * 100 + u16::from(d[1] - b'0') * 10 + u16::from(d[2] - b'0');
            Some(ReplyCode(v))
        } else {
            None
        }
    })
    .parse(input)
}

/// ```abnf
/// reply-line = Reply-code [ ( "-" / SP ) [ textstring ] ]
/// textstring = 1*(%d09 / %d32-126)   ; lossless here: any octet but CR and LF
/// ```
///
/// RFC 5321 §4.2 `Reply-line`, one line of it, without the CRLF. `250` alone and `250 ` with
/// an empty text are accepted (both are seen in the wild). The text is kept as raw octets: no
/// UTF-8 requirement, nothing is lost. The framer has already refused any CR or LF inside the
/// line, so this parser does not look for them again.
pub(crate) fn reply_line(input: &[u8]) -> Result<Line<'_>, LineErrorKind> {
    let (after_code, code) = reply_code(input).map_err(|_| LineErrorKind::BadCode)?;
    let (separator, text) = match after_code.split_first() {
        None => (Separator::Last, after_code),
        Some((b' ', text)) => (Separator::Last, text),
        Some((b'-', text)) => (Separator::Continue, text),
        Some(_) => return Err(LineErrorKind::BadSeparator),
    };
    debug_assert!(
        memchr::memchr2(b'\r', b'\n', text).is_none(),
        "framer let CR/LF through"
    );
    Ok(Line {
        code,
        separator,
        text,
    })
}

/// ```abnf
/// 1*3digit
/// ```
///
/// Written out by hand rather than with `take_while_m_n`: it runs on every reply.
fn digits_1_3(input: &[u8]) -> IResult<&[u8], u16> {
    let n = input
        .iter()
        .take(3)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if n == 0 {
        return Err(nom::Err::Error(Error::new(input, ErrorKind::Digit)));
    }
    let value = input[..n]
        .iter()
        .fold(0u16, |acc, b| acc * 10 + u16::from(b - b'0'));
    Ok((&input[n..], value))
}

/// ```abnf
/// "."
/// ```
fn dot(input: &[u8]) -> IResult<&[u8], ()> {
    match input.split_first() {
        Some((b'.', rest)) => Ok((rest, ())),
        _ => Err(nom::Err::Error(Error::new(input, ErrorKind::Char))),
    }
}

/// ```abnf
/// class = "2" / "4" / "5"
/// ```
fn class(input: &[u8]) -> IResult<&[u8], u8> {
    match input.split_first() {
        Some((&c @ (b'2' | b'4' | b'5'), rest)) => Ok((rest, c - b'0')),
        _ => Err(nom::Err::Error(Error::new(input, ErrorKind::OneOf))),
    }
}

/// ```abnf
/// status-code = class "." subject "." detail
/// subject     = 1*3digit
/// detail      = 1*3digit
/// ```
///
/// RFC 3463 §2, as placed at the start of a reply's text by RFC 2034 §4. Returns the text
/// after the detail digits; [`enhanced_for`] checks what follows.
pub(crate) fn status_code(input: &[u8]) -> IResult<&[u8], EnhancedStatus> {
    let (rest, (class, (), subject, (), detail)) =
        (class, dot, digits_1_3, dot, digits_1_3).parse(input)?;
    Ok((
        rest,
        EnhancedStatus {
            class,
            subject,
            detail,
        },
    ))
}

/// Parses the enhanced status code at the start of `text` when it is present, well formed,
/// followed by a space or the end of the text, and of the same class as `code`.
pub(crate) fn enhanced_for(code: ReplyCode, text: &[u8]) -> Option<EnhancedStatus> {
    // Fast reject: the text must start with the code's class digit followed by a dot.
    if text.len() < 5 || text[1] != b'.' || text[0] != b'0' + code.class() {
        return None;
    }
    match status_code(text) {
        Ok((after, status)) if after.is_empty() || after[0] == b' ' => Some(status),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &[u8]) -> Result<(u16, Separator, &[u8]), LineErrorKind> {
        reply_line(s).map(|l| (l.code.get(), l.separator, l.text))
    }

    #[test]
    fn reply_code_accepts_2xx_to_5xx_with_second_digit_0_to_5() {
        for ok in [&b"200"[..], b"250", b"354", b"421", b"554", b"559", b"220"] {
            assert!(reply_code(ok).is_ok(), "{:?}", ok);
        }
        for bad in [
            &b"100"[..],
            b"199",
            b"600",
            b"260",
            b"2a0",
            b"25",
            b"",
            b"25x",
            b"a50",
        ] {
            assert!(reply_code(bad).is_err(), "{:?}", bad);
        }
    }

    #[test]
    fn reply_line_table() {
        assert_eq!(line(b"250"), Ok((250, Separator::Last, &b""[..])));
        assert_eq!(line(b"250 "), Ok((250, Separator::Last, &b""[..])));
        assert_eq!(line(b"250 Ok"), Ok((250, Separator::Last, &b"Ok"[..])));
        assert_eq!(
            line(b"250-SIZE 10"),
            Ok((250, Separator::Continue, &b"SIZE 10"[..]))
        );
        assert_eq!(line(b"250-"), Ok((250, Separator::Continue, &b""[..])));
        assert_eq!(
            line(b"220 \xff\x00bin"),
            Ok((220, Separator::Last, &b"\xff\x00bin"[..]))
        );
        assert_eq!(line(b"250x"), Err(LineErrorKind::BadSeparator));
        assert_eq!(line(b"2500"), Err(LineErrorKind::BadSeparator));
        assert_eq!(line(b"25"), Err(LineErrorKind::BadCode));
        assert_eq!(line(b"650 no"), Err(LineErrorKind::BadCode));
        assert_eq!(line(b"150 no"), Err(LineErrorKind::BadCode));
    }

    #[test]
    fn status_code_table() {
        let c250 = ReplyCode(250);
        let c550 = ReplyCode(550);
        let st = |c, s, d| {
            Some(EnhancedStatus {
                class: c,
                subject: s,
                detail: d,
            })
        };
        assert_eq!(enhanced_for(c250, b"2.1.0 Ok"), st(2, 1, 0));
        assert_eq!(enhanced_for(c250, b"2.1.0"), st(2, 1, 0));
        assert_eq!(enhanced_for(c550, b"5.7.1 Relay denied"), st(5, 7, 1));
        assert_eq!(enhanced_for(c550, b"5.123.999 x"), st(5, 123, 999));
        // class mismatch, malformed, not delimited
        assert_eq!(enhanced_for(c550, b"2.1.0 Ok"), None);
        assert_eq!(enhanced_for(c250, b"2.1.0x"), None);
        assert_eq!(enhanced_for(c250, b"2.1234.0 x"), None);
        assert_eq!(enhanced_for(c250, b"2..0 x"), None);
        assert_eq!(enhanced_for(c250, b"2.1. x"), None);
        assert_eq!(enhanced_for(c250, b"Ok 2.1.0"), None);
        assert_eq!(enhanced_for(c250, b"2.1.0.5 x"), None);
        // 3xx replies have no enhanced class (RFC 3463 classes are 2, 4, 5)
        assert_eq!(enhanced_for(ReplyCode(354), b"3.0.0 go"), None);
    }
}
