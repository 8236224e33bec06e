//! Fixed vectors and properties for the DATA and BDAT encoders.

use proptest::prelude::*;
use smtp_proto::body::{BdatEncoder, BodyClass, DataEncoder, decode_bdat, decode_data};

/// CRLF-normalises like the encoders (reference, byte by byte).
fn normalize(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if input.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// The body a DATA receiver must reconstruct: normalised, with a final CRLF if non-empty.
fn expected_body(input: &[u8]) -> Vec<u8> {
    let mut n = normalize(input);
    if !n.is_empty() && !n.ends_with(b"\r\n") {
        n.extend_from_slice(b"\r\n");
    }
    n
}

fn encode_chunks(chunks: &[&[u8]]) -> (Vec<u8>, smtp_proto::body::BodyStats) {
    let mut enc = DataEncoder::new();
    let mut out = Vec::new();
    for c in chunks {
        enc.encode(c, &mut out);
    }
    let stats = enc.finish(&mut out);
    (out, stats)
}

fn encode_zero_copy(chunks: &[&[u8]]) -> Vec<u8> {
    let mut enc = DataEncoder::new();
    let mut segs: Vec<&[u8]> = Vec::new();
    for c in chunks {
        enc.encode_segments(c, &mut segs);
    }
    enc.finish_with(|s| segs.push(s));
    segs.concat()
}

/// Every way of splitting that the fixed vectors are exercised with.
fn splits(input: &[u8]) -> Vec<Vec<&[u8]>> {
    let mut all = vec![
        vec![input],
        input.chunks(1).collect(),
        vec![&input[..0], input, &input[..0]],
    ];
    for k in 0..=input.len() {
        all.push(vec![&input[..k], &input[k..]]);
    }
    all
}

/// The output checked against the smuggling and well-formedness properties.
fn check_wire(input: &[u8], wire: &[u8]) {
    // Preceded by the DATA command's CRLF, `\r\n.\r\n` occurs once, at the very end.
    let mut framed = b"\r\n".to_vec();
    framed.extend_from_slice(wire);
    let hits = memchr::memmem::find_iter(&framed, b"\r\n.\r\n").collect::<Vec<_>>();
    assert_eq!(
        hits,
        [framed.len() - 5],
        "end-of-data not unique/at end in {wire:?}"
    );
    // No bare CR or LF.
    for (i, &b) in wire.iter().enumerate() {
        if b == b'\r' {
            assert_eq!(wire.get(i + 1), Some(&b'\n'), "bare CR at {i} in {wire:?}");
        }
        if b == b'\n' {
            assert!(i > 0 && wire[i - 1] == b'\r', "bare LF at {i} in {wire:?}");
        }
    }
    let d = decode_data(wire).expect("terminated");
    assert_eq!(d.trailing, 0);
    assert_eq!(d.body, expected_body(input));
}

fn check_all_splits(input: &[u8]) -> Vec<u8> {
    let (whole, stats) = encode_chunks(&[input]);
    check_wire(input, &whole);
    assert_eq!(stats.bytes_in, input.len() as u64);
    assert_eq!(stats.bytes_out + 3, whole.len() as u64);
    for chunks in splits(input) {
        let (w, s) = encode_chunks(&chunks);
        assert_eq!(w, whole, "chunking {chunks:?}");
        assert_eq!(s, stats, "stats for chunking {chunks:?}");
        assert_eq!(
            encode_zero_copy(&chunks),
            whole,
            "zero-copy chunking {chunks:?}"
        );
    }
    whole
}

#[test]
fn smuggling_sequences_are_neutralised() {
    for seq in [
        &b"\n.\n"[..],
        b"\n.\r\n",
        b"\r.\n",
        b"\r.\r\n",
        b"\r\n.\r\r\n",
        b"\r\r\n.\r\r\n",
        b"\r\n\x00.\r\n",
        b"\r\n.\n",
        b"\n.\r",
    ] {
        let mut input = b"MAIL FROM:<a@b>\r\nhello".to_vec();
        input.extend_from_slice(seq);
        input.extend_from_slice(b"RCPT TO:<evil@x>\r\nbye\r\n");
        check_all_splits(&input);
    }
}

#[test]
fn lettre_rustsec_2021_0069() {
    let wire = check_all_splits(b"a\r\n\r\n.\r\nX");
    assert_eq!(wire, b"a\r\n\r\n..\r\nX\r\n.\r\n");
}

#[test]
fn fixed_vectors() {
    let cases: &[(&[u8], &[u8])] = &[
        (b"", b".\r\n"),
        (b"\r\n", b"\r\n.\r\n"),
        (b".", b"..\r\n.\r\n"),
        (b".\r\n", b"..\r\n.\r\n"),
        (b".a\r\n.b", b"..a\r\n..b\r\n.\r\n"),
        (b"abc", b"abc\r\n.\r\n"),
        (b"abc\r\n", b"abc\r\n.\r\n"),
        (b"abc\n", b"abc\r\n.\r\n"),
        (b"abc\r", b"abc\r\n.\r\n"),
        (b"a\rb", b"a\r\nb\r\n.\r\n"),
        (b"a\r\rb", b"a\r\n\r\nb\r\n.\r\n"),
        (b"a\n\rb", b"a\r\n\r\nb\r\n.\r\n"),
        (b"a\r\n\nb", b"a\r\n\r\nb\r\n.\r\n"),
        (b"x.y\r\n. z", b"x.y\r\n.. z\r\n.\r\n"),
        (
            b"\t\x0b\x0c\x01 \xff\x00\r\n",
            b"\t\x0b\x0c\x01 \xff\x00\r\n.\r\n",
        ),
    ];
    for (input, want) in cases {
        assert_eq!(&check_all_splits(input)[..], *want, "input {input:?}");
    }
}

#[test]
fn crlf_split_and_cr_at_chunk_end() {
    let (w, s) = encode_chunks(&[b"ab\r", b"\ncd"]);
    assert_eq!(w, b"ab\r\ncd\r\n.\r\n");
    assert_eq!((s.bare_cr, s.bare_lf), (0, 0));
    let (w, s) = encode_chunks(&[b"ab\r", b"cd"]);
    assert_eq!(w, b"ab\r\ncd\r\n.\r\n");
    assert_eq!(s.bare_cr, 1);
    let (w, s) = encode_chunks(&[b"ab\r", b"", b".d"]);
    assert_eq!(w, b"ab\r\n..d\r\n.\r\n");
    assert_eq!((s.bare_cr, s.dots_stuffed), (1, 1));
    let (w, s) = encode_chunks(&[b"ab\r"]);
    assert_eq!(w, b"ab\r\n.\r\n");
    assert_eq!(s.bare_cr, 1);
}

#[test]
fn stats() {
    let long = vec![b'x'; 999];
    let mut input = b"a\xc3\xa9\nb\rc\x00\r\n".to_vec();
    input.extend_from_slice(&long);
    input.extend_from_slice(b"\r\n.");
    let (_, s) = encode_chunks(&[&input]);
    assert!(s.has_8bit && s.has_nul);
    assert_eq!(
        (s.bare_lf, s.bare_cr, s.long_lines, s.longest_line),
        (1, 1, 1, 999)
    );
    assert_eq!((s.lines, s.dots_stuffed), (5, 1));
    assert_eq!(s.class(), BodyClass::Binary);

    // Lines of at most 512 octets are not measured (see `BodyStats::longest_line`).
    let (_, s) = encode_chunks(&[b"short\r\nlines\r\n"]);
    assert_eq!((s.longest_line, s.lines), (0, 2));
    let (_, s) = encode_chunks(&[&vec![b'z'; 513]]);
    assert_eq!((s.longest_line, s.lines), (513, 1));

    let (_, s) = encode_chunks(&[&vec![b'y'; 998]]);
    assert_eq!((s.long_lines, s.longest_line, s.lines), (0, 998, 1));
    assert_eq!(s.class(), BodyClass::SevenBit);

    // Mid-stream: 8-bit data and a long unterminated line are visible before `finish`.
    let mut enc = DataEncoder::new();
    let mut out = Vec::new();
    enc.encode(b"plain\r\n", &mut out);
    assert_eq!(enc.stats().class(), BodyClass::SevenBit);
    enc.encode("é".as_bytes(), &mut out);
    assert_eq!(enc.stats().class(), BodyClass::EightBit);
    enc.encode(&long, &mut out);
    assert_eq!(enc.stats().long_lines, 1);
    assert_eq!(enc.stats().longest_line, 1001);
}

#[test]
fn encoder_is_reusable_after_finish() {
    let mut enc = DataEncoder::new();
    let mut out = Vec::new();
    enc.encode(b"a\r", &mut out);
    enc.finish(&mut out);
    out.clear();
    enc.encode(b".x", &mut out);
    let s = enc.finish(&mut out);
    assert_eq!(out, b"..x\r\n.\r\n");
    assert_eq!(s.bytes_in, 2);
}

fn bdat(binary: bool, size: usize, chunks: &[&[u8]]) -> (Vec<u8>, smtp_proto::body::BodyStats) {
    let mut enc = if binary {
        BdatEncoder::binary(size)
    } else {
        BdatEncoder::new(size)
    };
    let mut out = Vec::new();
    for c in chunks {
        enc.encode(c, &mut out);
    }
    let s = enc.finish(&mut out);
    (out, s)
}

fn check_bdat(binary: bool, size: usize, input: &[u8], every_split: bool) {
    let (whole, stats) = bdat(binary, size, &[input]);
    let d = decode_bdat(&whole).expect("valid frames");
    assert_eq!(d.trailing, 0);
    let want = if binary {
        input.to_vec()
    } else {
        normalize(input)
    };
    assert_eq!(d.body, want);
    let size = size.max(1);
    let (last, full) = d.chunk_sizes.split_last().unwrap();
    assert!(full.iter().all(|&n| n == size));
    assert!(*last < size);
    assert_eq!(stats.bytes_out, want.len() as u64);
    let all = if every_split {
        splits(input)
    } else {
        vec![input.chunks(977).collect()]
    };
    for chunks in all {
        let (w, s) = bdat(binary, size, &chunks);
        assert_eq!(w, whole);
        assert_eq!(s, stats);
    }
}

#[test]
fn bdat_vectors() {
    assert_eq!(bdat(false, 4, &[b""]).0, b"BDAT 0 LAST\r\n");
    assert_eq!(
        bdat(false, 4, &[b"abcd"]).0,
        b"BDAT 4\r\nabcdBDAT 0 LAST\r\n"
    );
    assert_eq!(
        bdat(false, 4, &[b"ab\nc"]).0,
        b"BDAT 4\r\nab\r\nBDAT 1 LAST\r\nc"
    );
    assert_eq!(
        bdat(true, 4, &[b"ab\nc"]).0,
        b"BDAT 4\r\nab\ncBDAT 0 LAST\r\n"
    );
    assert_eq!(bdat(true, 5, &[b"ab\nc"]).0, b"BDAT 4 LAST\r\nab\nc");
    assert_eq!(
        bdat(false, 100, &[b".x\r\n.\r\n"]).0,
        b"BDAT 7 LAST\r\n.x\r\n.\r\n"
    );
    for size in [0, 1, 2, 3, 7, 64] {
        for input in [
            &b""[..],
            b"a\r\n\r\n.\r\nX",
            b"\n.\n\r.\r\r\n\x00",
            b"line one\rline two\n\r\n",
        ] {
            check_bdat(false, size, input, true);
            check_bdat(true, size, input, true);
        }
    }
}

#[test]
fn long_inputs_cross_the_fast_path() {
    // Longer than a flush block, with every kind of event, split at odd sizes.
    let mut input = Vec::new();
    for i in 0..3000u32 {
        let line: &[u8] = match i % 7 {
            0 => b".dotted line here\r\n",
            1 => b"bare lf line\n",
            2 => b"bare cr line\r",
            3 => b"tab\tseparated and \xe2\x82\xac euro\r\n",
            4 => b"a line that is a bit longer than sixteen bytes, to cross windows\r\n",
            5 => b"\r\n",
            _ => b"x\x00y\r\n",
        };
        input.extend_from_slice(line);
    }
    let (whole, _) = encode_chunks(&[&input]);
    check_wire(&input, &whole);
    for size in [1, 15, 16, 17, 4093, 70000] {
        let chunks: Vec<&[u8]> = input.chunks(size).collect();
        assert_eq!(encode_chunks(&chunks).0, whole);
        assert_eq!(encode_zero_copy(&chunks), whole);
    }
    check_bdat(false, 1000, &input, false);
    check_bdat(true, 1000, &input, false);
}

/// Bytes biased towards the interesting ones.
fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            3 => Just(b'\r'),
            3 => Just(b'\n'),
            3 => Just(b'.'),
            1 => Just(0u8),
            1 => Just(0xffu8),
            4 => any::<u8>(),
            6 => Just(b'a'),
        ],
        0..300,
    )
}

fn chunked(input: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.sort_unstable();
    let mut out = Vec::new();
    let mut prev = 0;
    for p in points {
        out.push(input[prev..p].to_vec());
        prev = p;
    }
    out.push(input[prev..].to_vec());
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn data_roundtrip(input in body_bytes(), cuts in prop::collection::vec(any::<usize>(), 0..8)) {
        let chunks = chunked(&input, &cuts);
        let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
        let (wire, stats) = encode_chunks(&refs);
        check_wire(&input, &wire);
        let (whole, whole_stats) = encode_chunks(&[&input]);
        prop_assert_eq!(&wire, &whole);
        prop_assert_eq!(stats, whole_stats);
        prop_assert_eq!(encode_zero_copy(&refs), wire);
    }

    #[test]
    fn bdat_roundtrip(
        input in body_bytes(),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
        size in 1usize..40,
        binary in any::<bool>(),
    ) {
        let chunks = chunked(&input, &cuts);
        let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
        let (wire, _) = bdat(binary, size, &refs);
        let d = decode_bdat(&wire).unwrap();
        prop_assert_eq!(d.trailing, 0);
        let want = if binary { input.clone() } else { normalize(&input) };
        prop_assert_eq!(&d.body, &want);
        let (last, full) = d.chunk_sizes.split_last().unwrap();
        prop_assert!(full.iter().all(|&n| n == size));
        prop_assert!(*last < size);
        prop_assert_eq!(wire, bdat(binary, size, &[&input]).0);
    }
}

/// Stats computed byte by byte, the specification of [`smtp_proto::body::BodyStats`]:
/// `(lines, longest_line, long_lines, bare_cr, bare_lf, dots, has_8bit, has_nul)`.
fn reference_stats(input: &[u8]) -> (u64, u64, u64, u64, u64, u64, bool, bool) {
    let (mut lines, mut longest, mut long, mut bare_cr, mut bare_lf, mut dots) = (0, 0, 0, 0, 0, 0);
    let mut len = 0u64;
    let mut at_start = true;
    let mut end_line = |len: &mut u64| {
        lines += 1;
        // Lines of at most 512 octets are not measured.
        if *len > 512 {
            longest = longest.max(*len);
        }
        if *len > 998 {
            long += 1;
        }
        *len = 0;
    };
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if at_start && b == b'.' {
            dots += 1;
        }
        at_start = false;
        match b {
            b'\r' => {
                if input.get(i + 1) == Some(&b'\n') {
                    i += 1;
                } else {
                    bare_cr += 1;
                }
                end_line(&mut len);
                at_start = true;
            }
            b'\n' => {
                bare_lf += 1;
                end_line(&mut len);
                at_start = true;
            }
            _ => len += 1,
        }
        i += 1;
    }
    if !at_start {
        end_line(&mut len);
    }
    let has_8bit = input.iter().any(|&b| b >= 0x80);
    let has_nul = input.contains(&0);
    (
        lines, longest, long, bare_cr, bare_lf, dots, has_8bit, has_nul,
    )
}

fn check_against_reference(input: &[u8], chunks: &[&[u8]]) {
    let (wire, s) = encode_chunks(chunks);
    check_wire(input, &wire);
    let (lines, longest, long, bare_cr, bare_lf, dots, has_8bit, has_nul) = reference_stats(input);
    assert_eq!(
        (s.lines, s.longest_line, s.long_lines, s.bare_cr, s.bare_lf),
        (lines, longest, long, bare_cr, bare_lf)
    );
    assert_eq!(
        (s.dots_stuffed, s.has_8bit, s.has_nul),
        (dots, has_8bit, has_nul)
    );
    assert_eq!(s.bytes_in, input.len() as u64);
    assert_eq!(s.bytes_out + 3, wire.len() as u64);
    assert_eq!(encode_zero_copy(chunks), wire);
    for binary in [false, true] {
        let (_, b) = bdat(binary, 4096, chunks);
        assert_eq!(
            (b.lines, b.longest_line, b.long_lines, b.bare_cr, b.bare_lf),
            (lines, longest, long, bare_cr, bare_lf)
        );
        assert_eq!(
            (b.dots_stuffed, b.has_8bit, b.has_nul),
            (0, has_8bit, has_nul)
        );
    }
}

/// Text-like bodies: mostly CRLF lines of every length (around the fast-path block size
/// too), with rare dots, bare line endings, NUL and 8-bit bytes.
fn text_body() -> impl Strategy<Value = Vec<u8>> {
    let line = (
        prop_oneof![
            6 => 0usize..140,
            2 => 60usize..300,
            1 => 240usize..530,
            1 => 990usize..1010,
        ],
        prop_oneof![20 => Just(b'a'), 1 => Just(b'.')],
        prop::collection::vec(
            prop_oneof![
                200 => Just(b'x'),
                1 => Just(b'\r'),
                1 => Just(b'\n'),
                1 => Just(0u8),
                1 => Just(0xe9u8),
                1 => Just(b'.'),
            ],
            1..2,
        ),
        prop_oneof![30 => Just(&b"\r\n"[..]), 1 => Just(&b"\n"[..]), 1 => Just(&b"\r"[..])],
    );
    prop::collection::vec(line, 0..40).prop_map(|lines| {
        let mut v = Vec::new();
        for (n, first, fill, end) in lines {
            if n > 0 {
                v.push(first);
            }
            for k in 1..n {
                v.push(if k % 37 == 0 { fill[0] } else { b'x' });
            }
            v.extend_from_slice(end);
        }
        v
    })
}

#[test]
fn benchmark_like_body_matches_reference() {
    // 76-character lines + CRLF, some starting with `.`, then some short lines.
    let mut input = Vec::new();
    for i in 0..4000u32 {
        let c = if i % 97 == 0 {
            b'.'
        } else {
            b'a' + (i % 26) as u8
        };
        input.push(c);
        input.extend((0..75).map(|k| b'a' + ((i + k) % 26) as u8));
        input.extend_from_slice(b"\r\n");
        if i % 500 == 0 {
            input.extend_from_slice(b"short\r\n.\r\n\r\nx\r\n");
        }
    }
    for size in [input.len(), 1, 77, 78, 127, 128, 129, 4096, 65536] {
        let chunks: Vec<&[u8]> = input.chunks(size).collect();
        check_against_reference(&input, &chunks);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn text_matches_reference(input in text_body(), cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        let chunks = chunked(&input, &cuts);
        let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
        check_against_reference(&input, &refs);
        check_against_reference(&input, &[&input]);
    }
}

#[test]
fn events_at_every_offset_match_reference() {
    // A CRLF text background with one event moved across two fast-path blocks.
    let mut background = Vec::new();
    for i in 0..8 {
        background.extend((0..40 + i * 7).map(|k| b'a' + (k % 26) as u8));
        background.extend_from_slice(b"\r\n");
    }
    for event in [
        &b"\r"[..],
        b"\n",
        b"\r\n",
        b"\r\r\n",
        b"\n\r",
        b"\r\n.",
        b"\r\n..",
        b"\r\n.\r\n",
        b"\x00",
        b"\xc3\xa9",
        b"\r\n\r\n",
    ] {
        for at in 0..300 {
            let mut input = background[..at].to_vec();
            input.extend_from_slice(event);
            input.extend_from_slice(&background[at..]);
            check_against_reference(&input, &[&input]);
            let (a, b) = input.split_at(at / 2);
            check_against_reference(&input, &[a, b]);
        }
    }
}
