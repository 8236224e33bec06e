//! Properties of the scanned-body path ([`ScannedBody`] + [`ScannedEncoder`]): for any
//! body, split into any takes, its octets and stats are exactly those of the copying
//! reference encoders ([`DataEncoder`], [`BdatEncoder`]), and its pre-pass verdicts are
//! those of [`quick_scan`].

use proptest::prelude::*;
use smtp_proto::body::{
    BdatEncoder, BodySegment, BodyStats, DataEncoder, ScannedBody, ScannedEncoder, quick_scan,
};

/// Bodies mixing long runs of text (so that some are sparse: few edits, kept) with the
/// octets every rule is about: CR, LF, `.`, NUL, 8-bit.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => (0usize..1200).prop_map(|n| vec![b'x'; n]),
        2 => Just(b"\r\n".to_vec()),
        1 => Just(b"\r\n.".to_vec()),
        1 => Just(b"\n".to_vec()),
        1 => Just(b"\r".to_vec()),
        1 => Just(b".".to_vec()),
        1 => Just(b"\n.\n".to_vec()),
        1 => Just(b"\r.\r".to_vec()),
        1 => Just(vec![0u8]),
        1 => Just(vec![0xe9u8]),
        1 => prop::collection::vec(any::<u8>(), 0..40),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

/// The largest takes (0 is allowed: an output-full call), cycled until the body is done.
fn takes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(
        prop_oneof![Just(0usize), 1usize..8, 1usize..2000, Just(usize::MAX)],
        1..8,
    )
}

/// Runs `enc` over `body` with the takes cycled; the octets and the final stats.
fn run(enc: &mut ScannedEncoder, body: &ScannedBody<'_>, takes: &[usize]) -> Vec<u8> {
    let mut segs: Vec<BodySegment<'_>> = Vec::new();
    let mut taken = 0;
    let mut i = 0;
    let mut idle = 0;
    while !enc.is_done() {
        // All-zero takes: one octet at a time after a round of them.
        let max = if idle >= takes.len() {
            1
        } else {
            takes[i % takes.len()]
        };
        i += 1;
        let n = enc.encode(body, max, &mut segs);
        taken += n;
        assert_eq!(taken, enc.taken());
        idle = if n == 0 { idle + 1 } else { 0 };
        assert!(idle <= takes.len() + 1, "no progress");
    }
    assert_eq!(taken, body.bytes().len());
    // Nothing after the end.
    assert_eq!(enc.encode(body, usize::MAX, &mut segs), 0);
    let mut wire = Vec::new();
    for s in &segs {
        wire.extend_from_slice(s.as_bytes());
    }
    wire
}

fn reference_data(input: &[u8]) -> (Vec<u8>, BodyStats) {
    let mut enc = DataEncoder::new();
    let mut out = Vec::new();
    enc.encode(input, &mut out);
    let stats = enc.finish(&mut out);
    (out, stats)
}

fn reference_bdat(input: &[u8], chunk: usize, binary: bool) -> (Vec<u8>, BodyStats) {
    let mut enc = if binary {
        BdatEncoder::binary(chunk)
    } else {
        BdatEncoder::new(chunk)
    };
    let mut out = Vec::new();
    enc.encode(input, &mut out);
    let stats = enc.finish(&mut out);
    (out, stats)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn data_matches_the_reference(input in body(), takes in takes()) {
        let body = ScannedBody::new(&input);
        let (want, stats) = reference_data(&input);
        prop_assert_eq!(body.data_stats(), stats);
        let mut enc = ScannedEncoder::data(&body);
        prop_assert_eq!(enc.stats(), stats);
        let got = run(&mut enc, &body, &takes);
        prop_assert_eq!(got, want);
    }

    #[test]
    fn bdat_matches_the_reference(
        input in body(),
        takes in takes(),
        chunk in prop_oneof![1usize..16, 16usize..3000, Just(256 * 1024)],
        binary in any::<bool>(),
    ) {
        let body = ScannedBody::new(&input);
        let (want, stats) = reference_bdat(&input, chunk, binary);
        prop_assert_eq!(body.bdat_stats(binary), stats);
        let mut enc = ScannedEncoder::bdat(&body, chunk, binary);
        let got = run(&mut enc, &body, &takes);
        prop_assert_eq!(got, want);
    }

    #[test]
    fn verdicts_match_quick_scan(input in body(), allow in any::<bool>()) {
        let body = ScannedBody::new(&input);
        let q = quick_scan(&input, allow);
        prop_assert_eq!(body.eight_bit(), q.eight_bit);
        prop_assert_eq!(body.violation(allow), q.violation);
        prop_assert_eq!(body.is_crlf_clean(), {
            let (lf, cr) = (reference_data(&input).1.bare_lf, reference_data(&input).1.bare_cr);
            lf == 0 && cr == 0
        });
    }
}

#[test]
fn clean_body_is_the_callers_slices_plus_the_end() {
    let line = b"0123456789012345678901234567890123456789012345678901234567890123456789012\r\n";
    let input: Vec<u8> = line
        .iter()
        .copied()
        .cycle()
        .take(line.len() * 4000)
        .collect();
    let body = ScannedBody::new(&input);
    assert!(body.is_crlf_clean() && !body.has_dot_lines() && !body.is_dense());
    let mut enc = ScannedEncoder::data(&body);
    let mut segs = Vec::new();
    assert_eq!(enc.encode(&body, usize::MAX, &mut segs), input.len());
    assert_eq!(segs.len(), 2);
    assert_eq!(segs[0], BodySegment::Slice(&input[..]));
    assert_eq!(segs[1].as_bytes(), b".\r\n");

    // BDAT: one frame header per 256 KiB, every payload a slice of the body.
    let mut enc = ScannedEncoder::bdat(&body, 256 * 1024, false);
    let mut segs = Vec::new();
    enc.encode(&body, usize::MAX, &mut segs);
    let headers: Vec<&[u8]> = segs
        .iter()
        .filter(|s| matches!(s, BodySegment::Header(_)))
        .map(|s| s.as_bytes())
        .collect();
    assert_eq!(
        headers,
        [&b"BDAT 262144\r\n"[..], b"BDAT 37856 LAST\r\n"],
        "{} octets",
        input.len()
    );
    for s in &segs {
        if let BodySegment::Slice(s) = s {
            let p = s.as_ptr() as usize - input.as_ptr() as usize;
            assert!(
                p + s.len() <= input.len(),
                "payload not borrowed from the body"
            );
        }
    }
}

#[test]
fn smuggling_endings_are_never_the_end() {
    for input in [
        &b"a\n.\nb"[..],
        b"a\r.\rb",
        b"a\r\n.\nb",
        b"a\n.\r\nb",
        b".\r\n",
    ] {
        let body = ScannedBody::new(input);
        let mut enc = ScannedEncoder::data(&body);
        let mut segs = Vec::new();
        enc.encode(&body, usize::MAX, &mut segs);
        let wire: Vec<u8> = segs.iter().flat_map(|s| s.as_bytes().to_vec()).collect();
        let d = smtp_proto::body::decode_data(&wire).expect("one terminator, at the end");
        assert_eq!(d.trailing, 0, "{input:?}");
        assert_eq!(wire, reference_data(input).0);
    }
}

#[test]
fn dense_bodies_are_scanned_again_and_match() {
    let input: Vec<u8> = b"a\n.\r".iter().copied().cycle().take(100_000).collect();
    let body = ScannedBody::new(&input);
    assert!(body.is_dense());
    for takes in [&[usize::MAX][..], &[1, 7, 4096]] {
        let mut enc = ScannedEncoder::data(&body);
        assert!(enc.is_dense());
        assert_eq!(run(&mut enc, &body, takes), reference_data(&input).0);
        for chunk in [1, 100, 65536] {
            let mut enc = ScannedEncoder::bdat(&body, chunk, false);
            assert_eq!(
                run(&mut enc, &body, takes),
                reference_bdat(&input, chunk, false).0
            );
            // Binary BDAT needs no edit: never dense.
            let mut enc = ScannedEncoder::bdat(&body, chunk, true);
            assert!(!enc.is_dense());
            assert_eq!(
                run(&mut enc, &body, takes),
                reference_bdat(&input, chunk, true).0
            );
        }
    }
}
