//! Tests of the ABNF validators.

use super::*;

type Rule = fn(Input<'_>, Range<usize>) -> Res;

fn run(rule: Rule, s: &str) -> Res {
    rule(Input::new(s, "test"), 0..s.len())
}

fn table(name: &str, rule: Rule, accept: &[&str], refuse: &[&str]) {
    for s in accept {
        assert!(
            run(rule, s).is_ok(),
            "{name} should accept {s:?}: {:?}",
            run(rule, s)
        );
    }
    for s in refuse {
        assert!(run(rule, s).is_err(), "{name} should refuse {s:?}");
    }
}

#[test]
fn atom_rule() {
    table(
        "Atom",
        atom,
        &["a", "Smith", "!#$%&'*+-/=?^_`{|}~", "0", "jöran"],
        &["", "a.b", "a b", "a@b", "\"a\"", "a\r", "(", "a,b", "[x]"],
    );
}

#[test]
fn dot_string_rule() {
    table(
        "Dot-string",
        dot_string,
        &["a", "a.b", "first.last+tag", "a.b.c.d"],
        &["", ".a", "a.", "a..b", "a b", "a\0b"],
    );
}

#[test]
fn quoted_string_rule() {
    let qs = |s: &str| quoted_string(Input::new(s, "t"), 0, s.len());
    assert_eq!(qs("\"\""), Ok(2));
    assert_eq!(qs("\"john doe\"@x"), Ok(10));
    assert_eq!(qs(r#""a\"b""#), Ok(6));
    assert_eq!(qs(r#""a\\b""#), Ok(6));
    assert_eq!(qs("\"ü\""), Ok(4));
    for bad in [
        "",
        "a",
        "\"abc",
        "\"a\rb\"",
        "\"a\\\u{7f}\"",
        "\"\\",
        "\"a\tb\"",
    ] {
        assert!(qs(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn quoted_pair_rule() {
    let qp = |s: &str| quoted_pair_smtp(Input::new(s, "t"), 0, s.len());
    assert!(qp("\\ ").is_ok());
    assert!(qp("\\~").is_ok());
    assert!(qp("\\\n").is_err());
    assert!(qp("\\").is_err());
    assert!(qp("x ").is_err());
}

#[test]
fn local_part_rule() {
    table(
        "Local-part",
        local_part,
        &["Smith", "a.b", "\"john doe\"", "\"\"", "\"a@b\""],
        &["", "john doe", "\"a\"b", "a.", "\"a"],
    );
}

#[test]
fn ldh_str_rule() {
    table(
        "Ldh-str",
        ldh_str,
        &["a", "a-b", "a--b", "-a", "123"],
        &["", "a-", "a_b", "a.b"],
    );
}

#[test]
fn sub_domain_rule() {
    let l63 = "a".repeat(63);
    let l64 = "a".repeat(64);
    table(
        "sub-domain",
        sub_domain,
        &["a", "a-b", "xn--bcher-kva", "bücher", "9", &l63],
        &["", "-a", "a-", "a_b", "a b", "a\n", &l64],
    );
}

#[test]
fn domain_rule() {
    table(
        "Domain",
        domain,
        &["example.com", "a", "a.b.c", "mail-1.example.org", "例え.jp"],
        &["", ".", "a.", ".a", "a..b", "a b", "exa_mple.com", "a.-b"],
    );
}

#[test]
fn address_literal_rule() {
    let al = |s: &str| address_literal(Input::new(s, "t"), 0..s.len());
    assert_eq!(
        al("[192.0.2.1]"),
        Ok(DomainKind::Ipv4(Ipv4Addr::new(192, 0, 2, 1)))
    );
    assert!(matches!(al("[IPv6:2001:db8::1]"), Ok(DomainKind::Ipv6(_))));
    assert!(matches!(
        al("[ipv6:::ffff:192.0.2.1]"),
        Ok(DomainKind::Ipv6(_))
    ));
    assert_eq!(al("[x-tag:some~content]"), Ok(DomainKind::General));
    for bad in [
        "",
        "[]",
        "192.0.2.1",
        "[192.0.2.1",
        "[192.0.2.256]",
        "[192.0.2]",
        "[192.0.2.1]x",
        "[IPv6:2001:db8::g]",
        "[IPv6:192.0.2.1]",
        "[tag:]",
        "[tag-:x]",
        "[tag:a\\b]",
        "[tag:a b]",
        "[1.2.3.4\r\n]",
    ] {
        assert!(al(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn ipv4_literal_rule() {
    let v4 = |s: &str| ipv4_address_literal(Input::new(s, "t"), 0..s.len());
    assert!(v4("0.0.0.0").is_ok());
    assert!(v4("255.255.255.255").is_ok());
    assert!(v4("1.2.3").is_err());
    assert!(v4("1.2.3.4.5").is_err());
    assert!(v4("a.b.c.d").is_err());
}

#[test]
fn general_literal_rule() {
    table(
        "General-address-literal",
        general_address_literal,
        &["x:y", "tag-1:!\"#Z^~"],
        &["x", ":y", "x:", "x-:y", "x:[", "x:]", "x:\\"],
    );
}

#[test]
fn esmtp_rules() {
    table(
        "esmtp-keyword",
        esmtp_keyword,
        &["SIZE", "X-FOO", "8BITMIME", "a"],
        &["", "-X", "X_Y", "X=Y", "X Y", "X\0"],
    );
    table(
        "esmtp-value",
        esmtp_value,
        &["1000", "a<b>c", "!~"],
        &["", "a=b", "a b", "a\r\n", "ü", "\u{7f}"],
    );
}

#[test]
fn sasl_mech_rule() {
    let twenty = "A".repeat(20);
    let twenty_one = "A".repeat(21);
    table(
        "sasl-mech",
        sasl_mech,
        &["PLAIN", "CRAM-MD5", "X_Y", &twenty, "plain"],
        &["", "PLAIN AAA", "A=", &twenty_one, "A\r"],
    );
}

#[test]
fn date_time_rule() {
    let dt = |s: &str| date_time(Input::new(s, "t"));
    for ok in [
        "1985-04-12T23:20:50.52Z",
        "1996-12-19T16:39:57-08:00",
        "1990-12-31T23:59:60Z",
        "2025-01-01t00:00:00z",
    ] {
        assert!(dt(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        "1985-04-12",
        "1985-04-12T23:20:50",
        "1985-00-12T23:20:50Z",
        "1985-04-32T23:20:50Z",
        "1985-04-12T24:20:50Z",
        "1985-04-12T23:20:50.Z",
        "1985-04-12T23:20:50+0800",
        "1985-04-12T23:20:50Z ",
        "1985-04-12 23:20:50Z",
    ] {
        assert!(dt(bad).is_err(), "{bad}");
    }
}

#[test]
fn errors_locate_control_bytes() {
    assert_eq!(
        run(dot_string, "ab\r\nc"),
        Err(CommandError::ControlByte {
            field: "test",
            offset: 2,
            byte: b'\r'
        })
    );
    assert_eq!(
        run(domain, "a..b"),
        Err(CommandError::Syntax {
            field: "test",
            offset: 2,
            found: Some('.'),
            expected: "letter or digit"
        })
    );
}
