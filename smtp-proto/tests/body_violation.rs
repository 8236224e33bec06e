//! NUL octets and over-long lines (RFC 5322 §2.3, RFC 5321 §4.5.3.1.6, RFC 6152 §3):
//! [`check_body`], [`BodyChecker`] and [`BodyStats::first_violation`] of both encoders,
//! against a byte-by-byte reference, whatever the chunking.

use proptest::prelude::*;
use smtp_proto::body::{
    BdatEncoder, BodyChecker, BodyClass, BodyError, BodyStats, BodyViolation, DataEncoder,
    MAX_TEXT_LINE, check_body, quick_check, quick_scan,
};

/// The specification, byte by byte: lines end at CRLF, bare CR or bare LF (as the encoders
/// send them); a long line is found at its 999th content octet, a NUL at its offset; the
/// earlier wins; a long line's length is its full length plus CRLF.
fn reference(input: &[u8]) -> Option<BodyViolation> {
    let mut line = 1u64;
    let mut len = 0u64;
    // (trigger offset, violation); for a long line the length is filled in at its end.
    let mut first: Option<(usize, BodyViolation)> = None;
    let mut long_open = false;
    let mut i = 0;
    let end_line = |len: u64, long_open: &mut bool, first: &mut Option<(usize, BodyViolation)>| {
        if *long_open {
            if let Some((_, BodyViolation::LongLine { length, .. })) = first {
                *length = len + 2;
            }
            *long_open = false;
        }
    };
    while i < input.len() {
        let b = input[i];
        if b == b'\r' || b == b'\n' {
            end_line(len, &mut long_open, &mut first);
            line += 1;
            len = 0;
            i += if b == b'\r' && input.get(i + 1) == Some(&b'\n') {
                2
            } else {
                1
            };
            continue;
        }
        if b == 0 && first.is_none() {
            first = Some((i, BodyViolation::Nul { offset: i as u64 }));
        }
        len += 1;
        if len == MAX_TEXT_LINE - 1 && first.is_none() {
            first = Some((i, BodyViolation::LongLine { line, length: 0 }));
            long_open = true;
        }
        i += 1;
    }
    if len > 0 {
        end_line(len, &mut long_open, &mut first);
    }
    first.map(|(_, v)| v)
}

fn checker(chunks: &[&[u8]]) -> Result<(), BodyViolation> {
    let mut c = BodyChecker::new();
    for ch in chunks {
        let _ = c.feed(ch);
    }
    c.finish()
}

fn data_stats(chunks: &[&[u8]]) -> BodyStats {
    let mut enc = DataEncoder::new();
    let mut out = Vec::new();
    for ch in chunks {
        enc.encode(ch, &mut out);
    }
    enc.finish(&mut out)
}

fn bdat_stats(chunks: &[&[u8]]) -> BodyStats {
    let mut enc = BdatEncoder::new(100);
    let mut out = Vec::new();
    for ch in chunks {
        enc.encode(ch, &mut out);
    }
    enc.finish(&mut out)
}

/// Every entry point agrees with the reference, whole and split at `cut_points`.
fn check(input: &[u8], chunks: &[&[u8]]) {
    let want = reference(input);
    let want_result = want.map_or(Ok(()), Err);
    assert_eq!(check_body(input), want_result, "check_body");
    assert_eq!(quick_check(input, false), want_result, "quick_check");
    assert_eq!(
        quick_check(input, true),
        nul_only(input),
        "quick_check, long lines allowed"
    );
    assert_eq!(checker(chunks), want_result, "BodyChecker");
    assert_eq!(data_stats(chunks).first_violation, want, "DataEncoder");
    assert_eq!(
        data_stats(&[input]).first_violation,
        want,
        "DataEncoder whole"
    );
    assert_eq!(bdat_stats(chunks).first_violation, want, "BdatEncoder");
    let stats = data_stats(chunks);
    assert_eq!(
        want.is_some(),
        stats.has_nul || stats.long_lines > 0,
        "first_violation is Some exactly when has_nul or long_lines"
    );
    if want.is_some() {
        assert_eq!(stats.class(), BodyClass::Binary);
    }
}

fn check_splits(input: &[u8]) {
    check(input, &[input]);
    for size in [1, 2, 3, 7, 16, 255, 256, 257, 999, 1000, 1001, 4096] {
        let chunks: Vec<&[u8]> = input.chunks(size).collect();
        check(input, &chunks);
    }
}

/// What `quick_check(input, true)` must find: the first NUL only.
fn nul_only(input: &[u8]) -> Result<(), BodyViolation> {
    match input.iter().position(|&b| b == 0) {
        Some(offset) => Err(BodyViolation::Nul {
            offset: offset as u64,
        }),
        None => Ok(()),
    }
}

fn line(n: usize, fill: u8) -> Vec<u8> {
    vec![fill; n]
}

#[test]
fn nul_in_data_is_found_including_the_smuggling_shape() {
    // CRLF NUL "." CRLF: a receiver that drops NULs would see an end of data.
    let body = b"Subject: x\r\n\r\nhi\r\n\0.\r\nMAIL FROM:<evil@example>\r\n";
    assert_eq!(check_body(body), Err(BodyViolation::Nul { offset: 18 }));
    check_splits(body);
    check_splits(b"\0");
    check_splits(b"a\0b\0c");
}

#[test]
fn line_of_5000_octets_is_found_with_its_length() {
    let mut body = b"Subject: long\r\n\r\n".to_vec();
    body.extend(line(5000, b'a'));
    body.extend_from_slice(b"\r\nshort\r\n");
    assert_eq!(
        check_body(&body),
        Err(BodyViolation::LongLine {
            line: 3,
            length: 5002
        })
    );
    check_splits(&body);
}

#[test]
fn the_limit_is_1000_octets_with_crlf() {
    for ending in [&b"\r\n"[..], b"\n", b"\r", b""] {
        for n in [998usize, 999] {
            let mut body = line(n, b'x');
            body.extend_from_slice(ending);
            let want = (n > 998).then_some(BodyViolation::LongLine {
                line: 1,
                length: n as u64 + 2,
            });
            assert_eq!(
                check_body(&body),
                want.map_or(Ok(()), Err),
                "{n} {ending:?}"
            );
            check_splits(&body);
        }
    }
}

#[test]
fn bare_line_endings_count_as_sent() {
    // Three short lines ended by LF, CR and CRLF, then a long one: line 4.
    let mut body = b"a\nb\rc\r\n".to_vec();
    body.extend(line(1200, b'z'));
    assert_eq!(
        check_body(&body),
        Err(BodyViolation::LongLine {
            line: 4,
            length: 1202
        })
    );
    check_splits(&body);
    // A CRLF split across chunks is one line ending, not two.
    let mut c = BodyChecker::new();
    let _ = c.feed(b"a\r");
    let _ = c.feed(b"\n");
    let _ = c.feed(&line(999, b'q'));
    assert_eq!(
        c.finish(),
        Err(BodyViolation::LongLine {
            line: 2,
            length: 1001
        })
    );
}

#[test]
fn stuffed_dot_is_not_counted() {
    // 998 octets starting with '.': 1,001 on the wire after stuffing, still legal.
    let mut body = line(998, b'.');
    body.extend_from_slice(b"\r\n");
    assert_eq!(check_body(&body), Ok(()));
    let mut enc = DataEncoder::new();
    let mut wire = Vec::new();
    enc.encode(&body, &mut wire);
    let stats = enc.finish(&mut wire);
    assert_eq!(stats.dots_stuffed, 1);
    assert_eq!(stats.first_violation, None);
}

#[test]
fn earlier_octet_wins_within_a_line() {
    // NUL before the 999th octet of a long line: the NUL.
    let mut body = line(1500, b'x');
    body[500] = 0;
    assert_eq!(check_body(&body), Err(BodyViolation::Nul { offset: 500 }));
    check_splits(&body);
    // NUL after it: the long line (found first when sent in order).
    let mut body = line(1500, b'x');
    body[1200] = 0;
    assert_eq!(
        check_body(&body),
        Err(BodyViolation::LongLine {
            line: 1,
            length: 1502
        })
    );
    check_splits(&body);
    // NUL on the 999th octet itself: the NUL.
    let mut body = line(1500, b'x');
    body[998] = 0;
    assert_eq!(check_body(&body), Err(BodyViolation::Nul { offset: 998 }));
    check_splits(&body);
    // A long line before a NUL line, and the other way round.
    let mut body = line(1001, b'x');
    body.extend_from_slice(b"\r\n\0\r\n");
    assert!(matches!(
        check_body(&body),
        Err(BodyViolation::LongLine { line: 1, .. })
    ));
    let mut body = b"\0\r\n".to_vec();
    body.extend(line(1001, b'x'));
    assert_eq!(check_body(&body), Err(BodyViolation::Nul { offset: 0 }));
}

#[test]
fn mid_stream_the_violation_is_known_at_once() {
    let mut c = BodyChecker::new();
    assert_eq!(c.feed(&line(998, b'a')), Ok(()));
    assert_eq!(
        c.feed(b"b"),
        Err(BodyViolation::LongLine {
            line: 1,
            length: 1001
        })
    );
    let _ = c.feed(&line(100, b'c'));
    assert_eq!(
        c.violation(),
        Err(BodyViolation::LongLine {
            line: 1,
            length: 1101
        })
    );
    let _ = c.feed(b"\r\n\0");
    assert_eq!(
        c.finish(),
        Err(BodyViolation::LongLine {
            line: 1,
            length: 1101
        })
    );
    // The encoder's mid-stream snapshot says the same.
    let mut enc = DataEncoder::new();
    enc.encode(&line(1000, b'a'), &mut Vec::new());
    assert_eq!(
        enc.stats().first_violation,
        Some(BodyViolation::LongLine {
            line: 1,
            length: 1002
        })
    );
}

#[test]
fn clean_bodies_pass() {
    let mut body = Vec::new();
    for i in 0..3_000u32 {
        body.extend(line((i as usize * 37) % 999, b'a' + (i % 26) as u8));
        body.extend_from_slice(if i % 3 == 0 { b"\n" } else { b"\r\n" });
    }
    body.extend_from_slice("8-bit is fine: Grüße\r\n".as_bytes());
    assert_eq!(check_body(&body), Ok(()));
    check_splits(&body);
    assert_eq!(check_body(b""), Ok(()));
}

#[test]
fn error_values_display() {
    let v = BodyViolation::LongLine {
        line: 3,
        length: 5002,
    };
    assert_eq!(
        v.to_string(),
        "line 3 is 5002 octets long with its CRLF (at most 1000)"
    );
    assert_eq!(
        BodyError::NeedsBinaryMime(BodyViolation::Nul { offset: 7 }).to_string(),
        "body needs BODY=BINARYMIME: NUL octet at body offset 7"
    );
}

/// Text-like bodies: lines of every length around the limit, rare NULs and bare endings.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        6 => (0usize..1100).prop_map(|n| {
            let mut l = vec![b'x'; n];
            l.extend_from_slice(b"\r\n");
            l
        }),
        2 => (990usize..1010).prop_map(|n| vec![b'y'; n]),
        1 => Just(b"\n".to_vec()),
        1 => Just(b"\r".to_vec()),
        1 => Just(vec![0u8]),
        1 => Just(b".".to_vec()),
        1 => Just("é".as_bytes().to_vec()),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn same_result_whatever_the_chunking(
        input in body(),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks: Vec<&[u8]> = Vec::new();
        let mut prev = 0;
        for p in points {
            chunks.push(&input[prev..p]);
            prev = p;
        }
        chunks.push(&input[prev..]);
        let want = reference(&input);
        prop_assert_eq!(check_body(&input), want.map_or(Ok(()), Err));
        prop_assert_eq!(checker(&chunks), want.map_or(Ok(()), Err));
        prop_assert_eq!(data_stats(&chunks).first_violation, want);
        prop_assert_eq!(bdat_stats(&chunks).first_violation, want);
    }

    #[test]
    fn quick_check_finds_what_check_body_finds(input in body()) {
        prop_assert_eq!(quick_check(&input, false), check_body(&input));
        prop_assert_eq!(quick_check(&input, true), nul_only(&input));
        for allow in [false, true] {
            prop_assert_eq!(quick_scan(&input, allow).eight_bit, !input.is_ascii());
        }
    }

    #[test]
    fn quick_scan_agrees_on_bodies_over_many_segments(
        lines in prop::collection::vec((0usize..1100, any::<u8>()), 0..120),
    ) {
        // Up to ~130 KiB: several 16 KiB segments, violations and 8-bit octets anywhere.
        let mut input = Vec::new();
        for (n, f) in lines {
            input.extend(std::iter::repeat_n(b'a' + f % 26, n));
            match f % 11 {
                0 => input.push(0),
                1 => input.push(0xe9),
                2 => input.push(b'\r'),
                3 => input.push(b'\n'),
                _ => input.extend_from_slice(b"\r\n"),
            }
        }
        let want = check_body(&input).err();
        let got = quick_scan(&input, false);
        prop_assert_eq!(got.violation, want);
        prop_assert_eq!(got.eight_bit, !input.is_ascii());
        let nul = quick_scan(&input, true);
        prop_assert_eq!(nul.violation, nul_only(&input).err());
        prop_assert_eq!(nul.eight_bit, !input.is_ascii());
    }

    #[test]
    fn quick_check_agrees_on_long_random_bodies(
        pieces in prop::collection::vec(
            prop_oneof![
                8 => (0usize..1200, any::<u8>()).prop_map(|(n, f)| {
                    let mut l = vec![b'a' + f % 26; n];
                    l.extend_from_slice([&b"\r\n"[..], b"\n", b"\r"][usize::from(f % 3)]);
                    l
                }),
                1 => Just(vec![0u8]),
                1 => Just(b"\r\r\n\n".to_vec()),
            ],
            0..40,
        ),
    ) {
        let input = pieces.concat();
        prop_assert_eq!(quick_check(&input, false), check_body(&input));
        prop_assert_eq!(quick_check(&input, true), nul_only(&input));
    }
}
