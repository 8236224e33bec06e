//! The EHLO reply grammar, one `nom` parser per ABNF rule, run on one reply line's text.
//!
//! The reply framer has already split the reply into lines, so these parsers use `nom`'s
//! *complete* combinators. Rules come from RFC 5321 §4.1.1.1 (the line), and from the RFC of
//! each extension for its parameters. Every parser is total: it returns an error, never
//! panics, on any input.

use nom::{
    IResult, Parser,
    branch::alt,
    bytes::complete::{tag, tag_no_case, take_while, take_while_m_n, take_while1},
    character::complete::digit1,
    combinator::{all_consuming, eof, map_opt, opt, recognize, value},
    multi::many0_count,
};

/// One line that matches [`ehlo_line`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EhloLine<'a> {
    /// The keyword, as sent.
    pub(crate) keyword: &'a [u8],
    /// Whether the keyword was followed by `=` (the old `AUTH=` form) rather than SP.
    pub(crate) equals: bool,
    /// The parameters after the separator, verbatim, trailing spaces removed (may be empty).
    pub(crate) params: &'a [u8],
}

/// Runs `parser` on the whole of `input`: `None` unless it matches and consumes everything.
pub(crate) fn complete<'a, O>(
    parser: impl Parser<&'a [u8], Output = O, Error = nom::error::Error<&'a [u8]>>,
    input: &'a [u8],
) -> Option<O> {
    all_consuming(parser).parse(input).ok().map(|(_, o)| o)
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn is_param_char(b: u8) -> bool {
    (33..=126).contains(&b)
}

/// `1*SP`: RFC 5321 separates parameters with exactly one SP; runs of spaces are tolerated.
fn sp1(input: &[u8]) -> IResult<&[u8], &[u8]> {
    take_while1(|b| b == b' ').parse(input)
}

/// `*SP`, for trailing spaces.
fn sp0(input: &[u8]) -> IResult<&[u8], &[u8]> {
    take_while(|b| b == b' ').parse(input)
}

/// ```abnf
/// ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
/// ```
///
/// RFC 5321 §4.1.1.1. Also the shape of Python smtplib's feature regex
/// `[A-Za-z0-9][A-Za-z0-9\-]*`.
pub(crate) fn ehlo_keyword(input: &[u8]) -> IResult<&[u8], &[u8]> {
    recognize((
        take_while_m_n(1, 1, is_alnum),
        take_while(|b| is_alnum(b) || b == b'-'),
    ))
    .parse(input)
}

/// ```abnf
/// ehlo-param = 1*(%d33-126)   ; any CHAR excluding SP and all control characters
/// ```
///
/// RFC 5321 §4.1.1.1.
pub(crate) fn ehlo_param(input: &[u8]) -> IResult<&[u8], &[u8]> {
    take_while1(is_param_char).parse(input)
}

/// ```abnf
/// ehlo-params = ehlo-param *( 1*SP ehlo-param )
/// ```
///
/// The parameter list of [`ehlo_line`], without trailing spaces.
fn ehlo_params(input: &[u8]) -> IResult<&[u8], &[u8]> {
    recognize((ehlo_param, many0_count((sp1, ehlo_param)))).parse(input)
}

/// ```abnf
/// ehlo-line = ehlo-keyword *( ( SP / "=" ) ehlo-param )
/// ```
///
/// RFC 5321 §4.1.1.1 `ehlo-keyword *( SP ehlo-param )`, widened in two ways seen in the wild:
/// the first separator may be `=` (the pre-RFC 2554 `AUTH=PLAIN LOGIN` form, in which case a
/// parameter must follow), and runs of spaces, including trailing ones, count as one SP.
/// Anything else (tabs, control characters, octets above 126, a leading space) fails.
pub(crate) fn ehlo_line(input: &[u8]) -> Option<EhloLine<'_>> {
    let line = |input| -> IResult<&[u8], EhloLine<'_>> {
        let (input, keyword) = ehlo_keyword(input)?;
        let (input, equals) =
            opt(alt((value(true, tag(&b"="[..])), value(false, sp1)))).parse(input)?;
        let (input, params) = match equals {
            Some(true) => ehlo_params(input)?,
            Some(false) => {
                let (rest, params) = opt(ehlo_params).parse(input)?;
                (rest, params.unwrap_or(&input[..0]))
            }
            None => (input, &input[..0]),
        };
        let (input, _) = (sp0, eof).parse(input)?;
        Ok((
            input,
            EhloLine {
                keyword,
                equals: equals == Some(true),
                params,
            },
        ))
    };
    line(input).ok().map(|(_, l)| l)
}

/// ```abnf
/// number = 1*DIGIT   ; checked into a u64: an overflow fails
/// ```
pub(crate) fn number_u64(input: &[u8]) -> IResult<&[u8], u64> {
    map_opt(digit1, |d: &[u8]| {
        d.iter().try_fold(0u64, |acc, b| {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        })
    })
    .parse(input)
}

/// ```abnf
/// number = 1*DIGIT   ; checked into a u32: an overflow fails
/// ```
pub(crate) fn number_u32(input: &[u8]) -> IResult<&[u8], u32> {
    map_opt(number_u64, |n| u32::try_from(n).ok()).parse(input)
}

/// ```abnf
/// size-param = [ 1*DIGIT ]   ; the maximum message size in octets, 0 or absent: no limit
/// ```
///
/// RFC 1870 §4 (SIZE). Returns 0 when the number is absent.
pub(crate) fn size_param(input: &[u8]) -> IResult<&[u8], u64> {
    opt(number_u64).map(Option::unwrap_or_default).parse(input)
}

/// ```abnf
/// sasl-mech = 1*(ALPHA / DIGIT / "-" / "_")
/// ```
///
/// RFC 4422 §3.1 allows upper-case letters only and at most 20 characters; lower case is
/// accepted here (and upper-cased by the caller) and the length is not capped.
pub(crate) fn sasl_mech(input: &[u8]) -> IResult<&[u8], &[u8]> {
    take_while1(|b: u8| is_alnum(b) || b == b'-' || b == b'_').parse(input)
}

/// ```abnf
/// auth-params = [ sasl-mech *( 1*SP sasl-mech ) ]
/// ```
///
/// RFC 4954 §3 (AUTH), for both `AUTH mech...` and the old `AUTH=mech...` form.
pub(crate) fn auth_params(input: &[u8]) -> IResult<&[u8], &[u8]> {
    recognize(opt((sasl_mech, many0_count((sp1, sasl_mech))))).parse(input)
}

/// ```abnf
/// min-by-time = 1*9DIGIT
/// deliverby-param = [ min-by-time *( "," deliverby-option ) ]
/// deliverby-option = 1*(%d33-43 / %d45-126)   ; future options, ignored
/// ```
///
/// RFC 2852 §2 (DELIVERBY): an optional comma-separated list whose first element is the
/// minimum by-time in seconds.
pub(crate) fn deliverby_param(input: &[u8]) -> IResult<&[u8], Option<u32>> {
    opt((
        map_opt(take_while_m_n(1, 9, |b: u8| b.is_ascii_digit()), |d| {
            complete(number_u32, d)
        }),
        many0_count((
            tag(&b","[..]),
            take_while1(|b| is_param_char(b) && b != b','),
        )),
    ))
    .map(|o| o.map(|(n, _)| n))
    .parse(input)
}

/// ```abnf
/// mt-priority-param = [ policy-name ]
/// policy-name = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-" / "_")
/// ```
///
/// RFC 6710 §3 (MT-PRIORITY): the optional name of the priority assignment policy, such as
/// `MIXER`, `STANAG4406` or `NSEP`.
pub(crate) fn mt_priority_param(input: &[u8]) -> IResult<&[u8], Option<&[u8]>> {
    opt(recognize((
        take_while_m_n(1, 1, is_alnum),
        take_while(|b| is_alnum(b) || b == b'-' || b == b'_'),
    )))
    .parse(input)
}

/// ```abnf
/// futurerelease-params = max-future-release-interval SP max-future-release-date-time
/// max-future-release-interval = 1*9DIGIT
/// max-future-release-date-time = date-time
/// ```
///
/// RFC 4865 §3 (FUTURERELEASE). Returns the interval in seconds and the date-time verbatim.
pub(crate) fn futurerelease_params(input: &[u8]) -> IResult<&[u8], (u32, &[u8])> {
    let (input, interval) = map_opt(take_while_m_n(1, 9, |b: u8| b.is_ascii_digit()), |d| {
        complete(number_u32, d)
    })
    .parse(input)?;
    let (input, _) = sp1(input)?;
    let (input, when) = date_time(input)?;
    Ok((input, (interval, when)))
}

fn digits(n: usize) -> impl Fn(&[u8]) -> IResult<&[u8], &[u8]> {
    move |input| take_while_m_n(n, n, |b: u8| b.is_ascii_digit()).parse(input)
}

/// ```abnf
/// full-date = date-fullyear "-" date-month "-" date-mday   ; 4DIGIT "-" 2DIGIT "-" 2DIGIT
/// ```
///
/// RFC 3339 §5.6. Only the shape is checked, not the calendar.
pub(crate) fn full_date(input: &[u8]) -> IResult<&[u8], &[u8]> {
    recognize((
        digits(4),
        tag(&b"-"[..]),
        digits(2),
        tag(&b"-"[..]),
        digits(2),
    ))
    .parse(input)
}

/// ```abnf
/// partial-time = time-hour ":" time-minute ":" time-second [ time-secfrac ]
/// time-secfrac = "." 1*DIGIT
/// ```
///
/// RFC 3339 §5.6, two digits per field.
pub(crate) fn partial_time(input: &[u8]) -> IResult<&[u8], &[u8]> {
    recognize((
        digits(2),
        tag(&b":"[..]),
        digits(2),
        tag(&b":"[..]),
        digits(2),
        opt((tag(&b"."[..]), digit1)),
    ))
    .parse(input)
}

/// ```abnf
/// time-offset = "Z" / ( "+" / "-" ) time-hour ":" time-minute
/// ```
///
/// RFC 3339 §5.6 (`z` accepted, as §5.6 allows).
pub(crate) fn time_offset(input: &[u8]) -> IResult<&[u8], &[u8]> {
    alt((
        tag_no_case(&b"Z"[..]),
        recognize((
            alt((tag(&b"+"[..]), tag(&b"-"[..]))),
            digits(2),
            tag(&b":"[..]),
            digits(2),
        )),
    ))
    .parse(input)
}

/// ```abnf
/// date-time = full-date "T" partial-time time-offset
/// ```
///
/// RFC 3339 §5.6 (`t` accepted).
pub(crate) fn date_time(input: &[u8]) -> IResult<&[u8], &[u8]> {
    recognize((full_date, tag_no_case(&b"T"[..]), partial_time, time_offset)).parse(input)
}

/// ```abnf
/// limit-name = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-" / "_")
/// ```
///
/// RFC 9422 §3 (LIMITS); names compare case-insensitively.
pub(crate) fn limit_name(input: &[u8]) -> IResult<&[u8], &[u8]> {
    recognize((
        take_while_m_n(1, 1, is_alnum),
        take_while(|b| is_alnum(b) || b == b'-' || b == b'_'),
    ))
    .parse(input)
}

/// ```abnf
/// limit = limit-name "=" limit-value
/// limit-value = 1*(%d33-126)
/// ```
///
/// RFC 9422 §3: one `NAME=value` pair.
pub(crate) fn limit(input: &[u8]) -> IResult<&[u8], (&[u8], &[u8])> {
    let (input, name) = limit_name(input)?;
    let (input, _) = tag(&b"="[..]).parse(input)?;
    let (input, value) = ehlo_param(input)?;
    Ok((input, (name, value)))
}

/// ```abnf
/// limits-params = [ limit *( 1*SP limit ) ]
/// ```
///
/// RFC 9422 §3. An empty list (a bare `LIMITS`) is accepted and means no limits.
pub(crate) fn limits_params(input: &[u8]) -> IResult<&[u8], &[u8]> {
    recognize(opt((limit, many0_count((sp1, limit))))).parse(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &[u8]) -> Option<(&[u8], bool, &[u8])> {
        ehlo_line(s).map(|l| (l.keyword, l.equals, l.params))
    }

    #[test]
    fn ehlo_line_table() {
        assert_eq!(line(b"SIZE"), Some((&b"SIZE"[..], false, &b""[..])));
        assert_eq!(line(b"SIZE "), Some((&b"SIZE"[..], false, &b""[..])));
        assert_eq!(line(b"SIZE 10"), Some((&b"SIZE"[..], false, &b"10"[..])));
        assert_eq!(line(b"SIZE  10  "), Some((&b"SIZE"[..], false, &b"10"[..])));
        assert_eq!(
            line(b"AUTH=PLAIN LOGIN"),
            Some((&b"AUTH"[..], true, &b"PLAIN LOGIN"[..]))
        );
        assert_eq!(line(b"X-A=b=c"), Some((&b"X-A"[..], true, &b"b=c"[..])));
        for bad in [
            &b""[..],
            b" ",
            b"\t",
            b" SIZE",
            b"-SIZE",
            b"SIZE\t10",
            b"SIZE 1\x7f",
            b"SIZE \xff",
            b"\xffSIZE",
            b"AUTH=",
            b"AUTH= PLAIN",
            b"SIZE\x00",
            b"SIZE_X",
        ] {
            assert_eq!(line(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(
            complete(number_u64, b"18446744073709551615"),
            Some(u64::MAX)
        );
        assert_eq!(complete(number_u64, b"18446744073709551616"), None);
        assert_eq!(complete(number_u64, b""), None);
        assert_eq!(complete(number_u32, b"4294967296"), None);
        assert_eq!(complete(size_param, b""), Some(0));
        assert_eq!(complete(size_param, b"10 20"), None);
    }

    #[test]
    fn parameter_rules() {
        assert_eq!(complete(deliverby_param, b""), Some(None));
        assert_eq!(complete(deliverby_param, b"240"), Some(Some(240)));
        assert_eq!(complete(deliverby_param, b"240,x,y"), Some(Some(240)));
        assert_eq!(complete(deliverby_param, b"1234567890"), None);
        assert_eq!(complete(deliverby_param, b"-5"), None);
        assert_eq!(
            complete(mt_priority_param, b"STANAG4406"),
            Some(Some(&b"STANAG4406"[..]))
        );
        assert_eq!(complete(mt_priority_param, b"A B"), None);
        assert_eq!(
            complete(futurerelease_params, b"604800 2012-10-28T23:59:59Z"),
            Some((604800, &b"2012-10-28T23:59:59Z"[..]))
        );
        assert!(complete(futurerelease_params, b"604800 2012-10-28t23:59:59.25+02:00").is_some());
        assert!(complete(futurerelease_params, b"604800").is_none());
        assert!(complete(futurerelease_params, b"604800 2012-10-28").is_none());
        assert!(complete(limits_params, b"RCPTMAX=5 MAILMAX=1 X_Y=a=b").is_some());
        assert!(complete(limits_params, b"RCPTMAX").is_none());
        assert!(complete(limits_params, b"RCPTMAX=").is_none());
        assert!(complete(auth_params, b"PLAIN login CRAM-MD5 X_Y").is_some());
        assert!(complete(auth_params, b"PLAIN LOGIN=").is_none());
    }
}
