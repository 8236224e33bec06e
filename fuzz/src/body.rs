//! `data_encoder`: the DATA (dot-stuffing) and BDAT (chunking) body encoders.

use arbitrary::{Arbitrary, Result, Unstructured};
use smtp_proto::body::{
    BdatEncoder, BodyStats, DataEncoder, ScannedBody, ScannedEncoder, decode_bdat, decode_data,
};

/// `data_encoder` input: a mode byte, for BDAT a chunk-size byte, a list of split lengths
/// (each preceded by a continue byte, odd = another follows) and the body (the rest).
///
/// Mode `m`: `m % 3` picks DATA (0), BDAT normalising (1) or BDAT binary (2); for DATA,
/// bit 2 alternates the copying `encode` with the zero-copy `encode_segments` between
/// chunks. BDAT chunk size: `c + 1` for `c < 250`, else `2^(c - 240)` (1 KiB..32 KiB).
#[derive(Clone, Debug)]
pub struct BodyInput<'a> {
    /// Mode byte.
    pub mode: u8,
    /// BDAT chunk size byte (0 for DATA).
    pub chunk: u8,
    /// Chunk lengths, used in a cycle; 0 is an empty call.
    pub splits: Vec<u8>,
    /// The message body.
    pub body: &'a [u8],
}

impl<'a> Arbitrary<'a> for BodyInput<'a> {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let mode = u8::arbitrary(u)?;
        let chunk = if mode % 3 == 0 { 0 } else { u8::arbitrary(u)? };
        let mut splits = Vec::new();
        while u8::arbitrary(u)? & 1 == 1 {
            splits.push(u8::arbitrary(u)?);
        }
        let body = u.bytes(u.len())?;
        Ok(BodyInput {
            mode,
            chunk,
            splits,
            body,
        })
    }

    fn arbitrary_take_rest(mut u: Unstructured<'a>) -> Result<Self> {
        Self::arbitrary(&mut u)
    }
}

/// CRLF normalisation, as RFC 5321 §2.3.8 wants it: CRLF stays, a bare CR or bare LF
/// becomes CRLF. Also returns the number of bare CRs and bare LFs.
fn normalise(body: &[u8]) -> (Vec<u8>, u64, u64) {
    let mut out = Vec::with_capacity(body.len() + 8);
    let (mut cr, mut lf) = (0, 0);
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'\r' if body.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 2;
                continue;
            }
            b'\r' => {
                cr += 1;
                out.extend_from_slice(b"\r\n");
            }
            b'\n' => {
                lf += 1;
                out.extend_from_slice(b"\r\n");
            }
            b => out.push(b),
        }
        i += 1;
    }
    (out, cr, lf)
}

/// Every CR is followed by LF and every LF preceded by CR.
fn assert_only_crlf(wire: &[u8], what: &str) {
    for (i, &b) in wire.iter().enumerate() {
        match b {
            b'\r' => assert!(wire.get(i + 1) == Some(&b'\n'), "{what}: bare CR at {i}"),
            b'\n' => assert!(i > 0 && wire[i - 1] == b'\r', "{what}: bare LF at {i}"),
            _ => {}
        }
    }
}

/// An RFC 5321 §4.5.2 receiver written independently of the crate's: lines end at CRLF,
/// a line that is exactly `.` ends the data, one leading `.` is dropped from other lines.
/// Returns the body and the offset just past the end-of-data line.
fn receive_data(wire: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut body = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + 1 < wire.len() {
        if wire[i] == b'\r' && wire[i + 1] == b'\n' {
            let line = &wire[start..i];
            if line == b"." {
                return Some((body, i + 2));
            }
            body.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
            body.extend_from_slice(b"\r\n");
            i += 2;
            start = i;
        } else {
            i += 1;
        }
    }
    None
}

/// The chunks of `body` for a cyclic list of lengths (one call with the rest when every
/// length is 0 or the list is empty).
fn chunks<'d>(body: &'d [u8], splits: &[u8]) -> Vec<&'d [u8]> {
    let mut out = Vec::new();
    let mut rest = body;
    if splits.iter().any(|&s| s > 0) {
        for &s in splits.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (a, b) = rest.split_at(usize::from(s).min(rest.len()));
            out.push(a);
            rest = b;
        }
    }
    out.push(rest);
    out
}

/// The octets of `enc` over `body`, taking the lengths of `pieces` in turn (then the rest).
fn scanned_wire(enc: &mut ScannedEncoder, body: &ScannedBody<'_>, pieces: &[&[u8]]) -> Vec<u8> {
    let mut segs = Vec::new();
    for p in pieces {
        enc.encode(body, p.len(), &mut segs);
    }
    enc.encode(body, usize::MAX, &mut segs);
    assert!(enc.is_done(), "scanned encoder not done");
    segs.iter().flat_map(|s| s.as_bytes().to_vec()).collect()
}

/// Checks the stats that follow from the input alone.
fn check_stats(stats: &BodyStats, body: &[u8], bare_cr: u64, bare_lf: u64, normalized: bool) {
    assert_eq!(stats.bytes_in, body.len() as u64, "bytes_in");
    assert_eq!(stats.bare_cr, bare_cr, "bare_cr");
    assert_eq!(stats.bare_lf, bare_lf, "bare_lf");
    assert_eq!(stats.has_8bit, body.iter().any(|&b| b >= 0x80), "has_8bit");
    assert_eq!(stats.has_nul, body.contains(&0), "has_nul");
    assert_eq!(stats.normalized, normalized);
    assert!(stats.long_lines == 0 || stats.longest_line > 998);
    assert!(stats.longest_line <= body.len() as u64);
    let _ = stats.class();
}

/// `data_encoder`: the body split at arbitrary points. DATA: the output is the same for
/// every split and both calling forms; it has no bare CR or LF; `<CRLF>.<CRLF>` occurs
/// once, at the very end, counting the DATA command's CRLF before it (so no lenient
/// server can be made to see an earlier end of data); it decodes (crate's reference
/// receiver and an independent one) to the CRLF-normalised body with a final line ending.
/// BDAT: same output for every split; every frame is `BDAT n\r\n` plus exactly n octets,
/// full-size but the `LAST` one; the payload is the normalised body (binary mode: the body
/// itself). Stats agree with the input. The scanned path ([`ScannedBody`] +
/// [`ScannedEncoder`], taking the split lengths as its takes) produces the same octets
/// and stats as the copying encoder.
pub fn data_encoder(input: BodyInput<'_>) {
    let pieces = chunks(input.body, &input.splits);
    match input.mode % 3 {
        0 => data(input.body, &pieces, input.mode & 4 == 4),
        m => {
            let size = if input.chunk < 250 {
                usize::from(input.chunk) + 1
            } else {
                1 << (input.chunk - 240).min(15)
            };
            bdat(input.body, &pieces, size, m == 2);
        }
    }
}

fn data(body: &[u8], pieces: &[&[u8]], mix: bool) {
    let mut whole = Vec::new();
    let mut enc = DataEncoder::new();
    enc.encode(body, &mut whole);
    let stats = enc.finish(&mut whole);

    let mut split = Vec::new();
    let mut segments: Vec<&[u8]> = Vec::new();
    let mut enc2 = DataEncoder::new();
    for (i, piece) in pieces.iter().enumerate() {
        if mix && i % 2 == 1 {
            segments.clear();
            enc2.encode_segments(piece, &mut segments);
            split.extend(segments.iter().flat_map(|s| s.iter()));
        } else {
            enc2.encode(piece, &mut split);
        }
        assert_eq!(
            enc2.stats().bytes_in,
            pieces[..=i].iter().map(|p| p.len() as u64).sum::<u64>()
        );
    }
    let stats2 = enc2.finish(&mut split);
    assert!(whole == split, "DATA output depends on the split");
    assert_eq!(stats, stats2, "DATA stats depend on the split");

    let scanned = ScannedBody::new(body);
    assert_eq!(scanned.data_stats(), stats, "scanned DATA stats");
    let mut enc3 = ScannedEncoder::data(&scanned);
    assert!(
        scanned_wire(&mut enc3, &scanned, pieces) == whole,
        "scanned DATA output"
    );

    // A finished encoder starts a new message.
    let mut again = Vec::new();
    enc.encode(body, &mut again);
    enc.finish(&mut again);
    assert!(again == whole, "encoder not reset by finish");

    let wire = &whole;
    assert_only_crlf(wire, "DATA");
    assert!(wire.ends_with(b".\r\n"));
    // The end-of-data sequence, counting the CRLF that ended the DATA command.
    let mut pre = Vec::with_capacity(wire.len() + 2);
    pre.extend_from_slice(b"\r\n");
    pre.extend_from_slice(wire);
    let first = memchr::memmem::find(&pre, b"\r\n.\r\n");
    assert_eq!(first, Some(pre.len() - 5), "<CRLF>.<CRLF> before the end");

    let (mut expected, bare_cr, bare_lf) = normalise(body);
    if !expected.is_empty() && !expected.ends_with(b"\r\n") {
        expected.extend_from_slice(b"\r\n");
    }
    let (got, end) = receive_data(wire).expect("no end of data");
    assert_eq!(end, wire.len(), "octets after the end of data");
    assert!(
        got == expected,
        "DATA does not decode to the normalised body"
    );
    let decoded = decode_data(wire).expect("reference decoder: no end of data");
    assert_eq!(decoded.trailing, 0);
    assert!(decoded.body == expected, "reference decoder disagrees");

    check_stats(&stats, body, bare_cr, bare_lf, true);
    assert_eq!(stats.bytes_out, wire.len() as u64 - 3, "bytes_out");
    let stuffed = pre.windows(3).filter(|w| w == b"\n..").count() as u64;
    assert_eq!(stats.dots_stuffed, stuffed, "dots_stuffed");
}

fn bdat(body: &[u8], pieces: &[&[u8]], size: usize, binary: bool) {
    let new = || {
        if binary {
            BdatEncoder::binary(size)
        } else {
            BdatEncoder::new(size)
        }
    };
    let mut whole = Vec::new();
    let mut enc = new();
    assert_eq!(enc.chunk_size(), size);
    enc.encode(body, &mut whole);
    let stats = enc.finish(&mut whole);

    let mut split = Vec::new();
    let mut enc2 = new();
    for piece in pieces {
        enc2.encode(piece, &mut split);
    }
    let stats2 = enc2.finish(&mut split);
    assert!(whole == split, "BDAT output depends on the split");
    assert_eq!(stats, stats2, "BDAT stats depend on the split");

    let scanned = ScannedBody::new(body);
    assert_eq!(scanned.bdat_stats(binary), stats, "scanned BDAT stats");
    let mut enc3 = ScannedEncoder::bdat(&scanned, size, binary);
    assert!(
        scanned_wire(&mut enc3, &scanned, pieces) == whole,
        "scanned BDAT output"
    );

    // Frames, parsed here: `BDAT n\r\n` + n octets, `BDAT n LAST\r\n` + n octets at the end.
    let wire = &whole;
    let mut payload = Vec::new();
    let mut sizes = Vec::new();
    let mut pos = 0;
    loop {
        let rest = &wire[pos..];
        let eol = memchr::memmem::find(rest, b"\r\n").expect("BDAT command without CRLF");
        let line = std::str::from_utf8(&rest[..eol]).expect("BDAT command not ASCII");
        let args = line
            .strip_prefix("BDAT ")
            .expect("frame does not start with BDAT");
        let (n, last) = match args.strip_suffix(" LAST") {
            Some(n) => (n, true),
            None => (args, false),
        };
        assert!(
            !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()),
            "size {n:?}"
        );
        assert!(n == "0" || !n.starts_with('0'), "size with a leading zero");
        let n: usize = n.parse().expect("size");
        let data = rest
            .get(eol + 2..eol + 2 + n)
            .expect("frame shorter than its size");
        payload.extend_from_slice(data);
        sizes.push(n);
        pos += eol + 2 + n;
        if last {
            assert_eq!(pos, wire.len(), "octets after the LAST frame");
            break;
        }
        assert_eq!(n, size, "a frame before LAST is not full-size");
    }
    assert!(
        *sizes.last().unwrap_or(&0) < size,
        "LAST frame could have been a full frame"
    );

    let decoded = decode_bdat(wire).expect("reference decoder refused the frames");
    assert_eq!(decoded.chunk_sizes, sizes);
    assert_eq!(decoded.trailing, 0);
    assert!(decoded.body == payload);

    let (norm, bare_cr, bare_lf) = normalise(body);
    if binary {
        assert!(payload == body, "binary BDAT altered the body");
    } else {
        assert_only_crlf(&payload, "BDAT payload");
        assert!(payload == norm, "BDAT payload is not the normalised body");
    }
    check_stats(&stats, body, bare_cr, bare_lf, !binary);
    assert_eq!(stats.bytes_out, payload.len() as u64, "bytes_out");
    assert_eq!(stats.dots_stuffed, 0);
}
