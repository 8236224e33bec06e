//! Zero-copy body segments, and deadlines too large for an instant.

use super::bdat::bdat_harness;
use super::*;

/// A driver that holds the segments a `write_body_segments` or `write_scanned_body` call
/// appended, writes them before `pending_output`, at most `step` octets per write, and
/// drops them when the core does.
struct Driver<S> {
    segs: Vec<S>,
    /// Octets written per "write" (a short write stops inside a segment).
    step: usize,
    /// Segments handed out, in octets (to tell that segments were used at all).
    handed: usize,
}

/// A segment the [`Driver`] holds: its unwritten octets, and dropping written ones.
trait Segment {
    fn bytes(&self) -> &[u8];
    fn advance(&mut self, n: usize);
}

impl Segment for &[u8] {
    fn bytes(&self) -> &[u8] {
        self
    }

    fn advance(&mut self, n: usize) {
        *self = &self[n..];
    }
}

impl Segment for BodySegment<'_> {
    fn bytes(&self) -> &[u8] {
        self.as_bytes()
    }

    fn advance(&mut self, n: usize) {
        BodySegment::advance(self, n);
    }
}

/// A driver that uses `write_body_segments`.
type SegDriver<'a> = Driver<&'a [u8]>;

impl<S: Segment> Driver<S> {
    fn held(&self) -> usize {
        self.segs.iter().map(|s| s.bytes().len()).sum()
    }

    /// Writes everything (segments first), like `Harness::drain`.
    fn drain(&mut self, h: &mut Harness) {
        loop {
            while let Some(e) = h.c.poll_event() {
                h.events.push(e);
            }
            if h.c.pending_segment_len() == 0 {
                self.segs.clear();
            }
            assert_eq!(self.held(), h.c.pending_segment_len());
            // One "vectored write" of at most `step` octets.
            let mut n = 0;
            let segs = self.segs.iter().map(Segment::bytes);
            for s in segs.chain([h.c.pending_output()]) {
                let k = s.len().min(self.step - n);
                h.wire.extend_from_slice(&s[..k]);
                n += k;
                if n == self.step {
                    break;
                }
            }
            if n == 0 {
                break;
            }
            h.c.consume_output(n, h.now);
            let mut left = n;
            while left > 0 && !self.segs.is_empty() {
                let first = self.segs[0].bytes().len();
                if left >= first {
                    left -= first;
                    self.segs.remove(0);
                } else {
                    self.segs[0].advance(left);
                    left = 0;
                }
            }
        }
    }
}

impl<'a> SegDriver<'a> {
    fn body(&mut self, h: &mut Harness, body: &'a [u8]) {
        assert!(matches!(h.c.next_action(), Action::SupplyBody(_)));
        let mut rest = body;
        while !rest.is_empty() {
            let before = self.segs.len();
            let n = h.c.write_body_segments(rest, &mut self.segs).unwrap();
            self.handed += self.segs[before..].iter().map(|s| s.len()).sum::<usize>();
            rest = &rest[n..];
            self.drain(h);
        }
        h.c.finish_body().unwrap();
        self.drain(h);
    }
}

/// Bodies where segments pay, where they do not, and mixtures (pieces are 64 KiB).
fn segment_bodies() -> Vec<Vec<u8>> {
    let line = |i: usize| format!("line {i:06} of a message body, some text to fill it up\r\n");
    let clean: Vec<u8> = (0..5000).flat_map(|i| line(i).into_bytes()).collect();
    let dotted: Vec<u8> = (0..5000)
        .flat_map(|i| {
            let l = line(i);
            if i % 97 == 0 { format!(".{l}") } else { l }.into_bytes()
        })
        .collect();
    let lf_only: Vec<u8> = clean.iter().copied().filter(|&b| b != b'\r').collect();
    let mut mixed = clean[..100_000].to_vec();
    mixed.extend_from_slice(&lf_only[..80_000]);
    mixed.extend_from_slice(&dotted[..150_000]);
    mixed.extend_from_slice(b"\r\n.\r\n.");
    mixed.extend_from_slice(&clean[..70_000]);
    // A CRLF and a leading dot split across the 64 KiB piece boundary.
    let mut split = vec![b'a'; 65_535];
    split.extend_from_slice(b"\r\n.b\r\nc\n\r");
    split.extend_from_slice(&clean[..1000]);
    vec![
        Vec::new(),
        b"x".to_vec(),
        b".".to_vec(),
        b"no final line ending".to_vec(),
        clean,
        dotted,
        lf_only,
        mixed,
        split,
    ]
}

/// Two pipelined transactions carrying `body`, written by `write` (copying or segments).
fn two_transactions(body: &[u8], write: &mut dyn FnMut(&mut Harness, &[u8])) -> (String, usize) {
    let mut cfg = config(TlsPolicy::Never);
    cfg.max_output = 200_000;
    // The `split` body is one 65,535-octet line (to put a CRLF on the piece boundary).
    cfg.allow_long_lines = true;
    let mut h = Harness::new(cfg);
    h.server(b"220 mx\r\n");
    h.server(EHLO_PIPE);
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    h.drain();
    h.server(b"250 ok\r\n250 ok\r\n354 go\r\n");
    h.c.send_mail(env("<a@x.org>", &["<c@y.org>"])).unwrap();
    write(&mut h, body);
    h.server(b"250 queued\r\n250 ok\r\n250 ok\r\n354 go\r\n");
    write(&mut h, body);
    h.server(b"250 queued\r\n");
    let done = h
        .events
        .iter()
        .filter(|e| matches!(e, Event::TransactionDone(o) if o.any_accepted()))
        .count();
    assert_eq!(done, 2);
    let transcript: Vec<TranscriptLine> = std::iter::from_fn(|| h.c.poll_transcript()).collect();
    (format!("{}{transcript:?}", h.sent()), h.wire.len())
}

#[test]
fn segments_put_the_same_bytes_on_the_wire_as_copying() {
    for body in segment_bodies() {
        let (copied, _) = two_transactions(&body, &mut |h, b| h.body(b));
        for step in [1usize, 7, 1000, 65_536 + 3, usize::MAX] {
            let mut handed = 0;
            let (seg, _) = two_transactions(&body, &mut |h, b| {
                let mut d = SegDriver {
                    segs: Vec::new(),
                    step,
                    handed: 0,
                };
                d.body(h, b);
                handed += d.handed;
            });
            assert!(
                seg == copied,
                "body of {} octets, writes of {step}: output differs",
                body.len()
            );
            if body.len() > 1000 && body[..1000].contains(&b'\r') {
                assert!(handed > 0, "segments never used ({} octets)", body.len());
            }
        }
    }
}

#[test]
fn short_segments_are_copied_and_clean_text_is_one_segment() {
    let mut cfg = config(TlsPolicy::Never);
    cfg.max_output = 1 << 20;
    let mut h = Harness::new(cfg);
    h.server(b"220 mx\r\n");
    h.server(EHLO_PIPE);
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    h.drain();
    h.server(b"250 ok\r\n250 ok\r\n354 go\r\n");
    h.sent();
    let clean: Vec<u8> =
        b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n".repeat(4096);
    let mut segs = Vec::new();
    assert_eq!(h.c.write_body_segments(&clean, &mut segs), Ok(clean.len()));
    assert_eq!(segs, [&clean[..]], "one segment for 256 KiB of clean text");
    assert_eq!(h.c.pending_segment_len(), clean.len());
    assert!(h.c.pending_output().is_empty());
    assert_eq!(h.c.next_action(), Action::Write);
    // Half of it written: the rest is still owed, before anything else.
    h.c.consume_output(clean.len() / 2, h.now);
    assert_eq!(h.c.pending_segment_len(), clean.len() - clean.len() / 2);
    h.c.consume_output(clean.len(), h.now);
    assert_eq!(h.c.pending_segment_len(), 0);
    // Bare LFs everywhere: copied into the output buffer, no segment.
    let lf = b"short\n".repeat(20_000);
    let mut segs2 = Vec::new();
    assert_eq!(h.c.write_body_segments(&lf, &mut segs2), Ok(lf.len()));
    assert!(segs2.is_empty());
    assert_eq!(h.c.pending_output(), &b"short\r\n".repeat(20_000)[..]);
    // With output pending, segments would overtake it: copied as well.
    let mut segs3 = Vec::new();
    assert_eq!(h.c.write_body_segments(&clean[..100], &mut segs3), Ok(100));
    assert!(segs3.is_empty());
}

#[test]
fn segments_are_bounded_by_max_output_and_timed_like_content() {
    let mut cfg = config(TlsPolicy::Never);
    cfg.max_output = 1000;
    let mut h = Harness::new(cfg);
    h.server(b"220 mx\r\n");
    h.server(EHLO_PIPE);
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    h.drain();
    h.server(b"250 ok\r\n250 ok\r\n354 go\r\n");
    let body = b"abcdefgh\r\n".repeat(500);
    let mut segs = Vec::new();
    assert_eq!(h.c.write_body_segments(&body, &mut segs), Ok(1000));
    assert_eq!(h.c.write_body_segments(&body[1000..], &mut segs), Ok(0));
    assert_eq!(h.c.pending_segment_len(), 1000);
    // The peer does not read: the data-block deadline applies to segments too.
    assert_eq!(h.c.poll_timeout(), Some(h.now + Duration::from_secs(180)));
    h.now += Duration::from_secs(180);
    h.c.handle_timeout(h.now);
    while let Some(e) = h.c.poll_event() {
        h.events.push(e);
    }
    assert!(matches!(
        h.closed(),
        Some(CloseReason::Timeout(Phase::DataBlock))
    ));
    assert_eq!(
        h.c.pending_segment_len(),
        0,
        "segments dropped, not written"
    );
    assert!(h.c.pending_output().is_empty(), "no QUIT inside content");
    assert_eq!(status_kinds(&h.outcome()), ["not-delivered"]);
}

#[test]
fn segments_are_dropped_on_io_error_abort_and_undeclared_8bit() {
    let start = |h: &mut Harness| {
        h.server(b"220 mx\r\n");
        h.server(EHLO_PIPE);
        h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
        h.drain();
        h.server(b"250 ok\r\n250 ok\r\n354 go\r\n");
        h.sent();
    };
    let body = b"plain text\r\n".repeat(100);
    for how in 0..3 {
        let mut h = Harness::new(config(TlsPolicy::Never));
        start(&mut h);
        let mut segs = Vec::new();
        h.c.write_body_segments(&body, &mut segs).unwrap();
        assert!(h.c.pending_segment_len() > 0);
        h.c.consume_output(10, h.now);
        match how {
            0 => h.c.handle_io_error(h.now),
            1 => h.c.abort(),
            _ => h.c.handle_eof(h.now),
        }
        assert_eq!(h.c.pending_segment_len(), 0, "case {how}");
        assert!(h.c.pending_output().is_empty(), "case {how}");
    }
    let mut h = Harness::new(config(TlsPolicy::Never));
    start(&mut h);
    let mut segs = Vec::new();
    assert_eq!(
        h.c.write_body_segments("caf\u{e9} au lait\r\n".as_bytes(), &mut segs),
        Err(UsageError::Undeclared8Bit)
    );
    assert!(segs.is_empty());
    assert_eq!(h.c.pending_segment_len(), 0);
    h.drain();
    assert_eq!(h.sent(), "");
    assert_eq!(status_kinds(&h.outcome()), ["not-delivered"]);
}

#[test]
fn segments_fall_back_to_copying_for_bdat() {
    let mut h = bdat_harness(100, Dialect::Smtp);
    let mut e = env("<a@x.org>", &["<b@y.org>"]);
    e.prefer_bdat = true;
    h.c.send_mail(e).unwrap();
    h.drain();
    h.server(b"250 ok\r\n250 ok\r\n");
    h.sent();
    let mut d = SegDriver {
        segs: Vec::new(),
        step: usize::MAX,
        handed: 0,
    };
    d.body(&mut h, b"hello\n");
    assert_eq!(d.handed, 0);
    assert_eq!(h.sent(), "BDAT 7 LAST\r\nhello\r\n");
}

#[test]
fn timeouts_too_large_for_an_instant_mean_no_deadline() {
    // `Duration::MAX` ("never time out") cannot be added to an instant: the core must not
    // panic, and there is simply no deadline.
    let mut cfg = config(TlsPolicy::Never);
    cfg.timeouts = Timeouts::all(Duration::MAX);
    let mut h = Harness::new(cfg);
    h.drain();
    assert_eq!(h.c.poll_timeout(), None);
    h.server(b"220 foo.com ready\r\n");
    h.server(EHLO_PLAIN);
    h.c.send_mail(env("<a@bar.com>", &["<b@foo.com>"])).unwrap();
    h.drain();
    assert_eq!(h.c.poll_timeout(), None);
    h.advance(Duration::from_secs(1_000_000));
    assert!(h.closed().is_none());
    for reply in [&b"250 OK\r\n"[..], b"250 OK\r\n", b"354 go\r\n"] {
        h.server(reply);
        assert_eq!(h.c.poll_timeout(), None);
    }
    h.body(b"x\r\n");
    h.server(b"250 OK\r\n");
    assert!(h.outcome().any_accepted());
}

/// A driver that uses `write_scanned_body`.
type ScanDriver<'a> = Driver<BodySegment<'a>>;

impl<'a> ScanDriver<'a> {
    fn body(&mut self, h: &mut Harness, body: &'a [u8]) {
        assert!(matches!(h.c.next_action(), Action::SupplyBody(_)));
        let scanned = ScannedBody::new(body);
        loop {
            let before = self.segs.len();
            let done = h.c.write_scanned_body(&scanned, &mut self.segs).unwrap();
            self.handed += self.segs[before..].iter().map(|s| s.len()).sum::<usize>();
            // The body is taken whole or not at all: write_body must refuse meanwhile.
            if !done {
                assert!(h.c.write_body(b"x").is_err() && h.c.finish_body().is_err());
            }
            self.drain(h);
            if done {
                break;
            }
        }
        assert!(!matches!(h.c.next_action(), Action::SupplyBody(_)));
    }
}

/// One BDAT transaction carrying `body` in frames of `chunk`, written by `write`.
fn bdat_transaction(
    body: &[u8],
    chunk: usize,
    binary: bool,
    write: &mut dyn FnMut(&mut Harness, &[u8]),
) -> String {
    let mut h = bdat_harness(chunk, Dialect::Smtp);
    let mut e = env("<a@x.org>", &["<b@y.org>"]);
    e.prefer_bdat = true;
    if binary {
        e.body = BodyType::BinaryMime;
    }
    h.c.send_mail(e).unwrap();
    h.drain();
    h.server(b"250 ok\r\n250 ok\r\n");
    write(&mut h, body);
    let sent = h.sent();
    let frames = sent.matches("BDAT ").count();
    for _ in 0..frames {
        h.server(b"250 ok\r\n");
    }
    assert_eq!(status_kinds(&h.outcome()), ["accepted"], "{frames} frames");
    let transcript: Vec<TranscriptLine> = std::iter::from_fn(|| h.c.poll_transcript()).collect();
    format!("{sent}{transcript:?}")
}

#[test]
fn scanned_bodies_put_the_same_bytes_on_the_wire_as_copying() {
    for body in segment_bodies() {
        let (copied, _) = two_transactions(&body, &mut |h, b| h.body(b));
        for step in [1usize, 1000, 65_536 + 3, usize::MAX] {
            let mut handed = 0;
            let (scanned, _) = two_transactions(&body, &mut |h, b| {
                let mut d = ScanDriver {
                    segs: Vec::new(),
                    step,
                    handed: 0,
                };
                d.body(h, b);
                handed += d.handed;
            });
            assert!(
                scanned == copied,
                "DATA, body of {} octets, writes of {step}: output differs",
                body.len()
            );
            if body.len() > 1000 && !ScannedBody::new(&body).is_dense() {
                assert!(handed > 0, "segments never used ({} octets)", body.len());
            }
        }
        if body.len() > 65_536 {
            // The one long line of `split` needs BINARYMIME.
            continue;
        }
        for (chunk, binary) in [(1, false), (1000, false), (65_536, false), (1000, true)] {
            let copied = bdat_transaction(&body, chunk, binary, &mut |h, b| h.body(b));
            for step in [7usize, usize::MAX] {
                let scanned = bdat_transaction(&body, chunk, binary, &mut |h, b| {
                    ScanDriver {
                        segs: Vec::new(),
                        step,
                        handed: 0,
                    }
                    .body(h, b)
                });
                assert!(
                    scanned == copied,
                    "BDAT {chunk} (binary {binary}), body of {} octets, writes of {step}: output differs",
                    body.len()
                );
            }
        }
    }
}

#[test]
fn scanned_body_is_refused_whole_before_any_of_it_is_sent() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.server(EHLO_PIPE);
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    h.drain();
    h.server(b"250 ok\r\n250 ok\r\n354 go\r\n");
    h.sent();
    // 8-bit at the very end of a body declared 7-bit: nothing of it goes out.
    let mut body = b"plain text\r\n".repeat(100_000);
    body.extend_from_slice("caf\u{e9}\r\n".as_bytes());
    let scanned = ScannedBody::new(&body);
    let mut segs = Vec::new();
    assert_eq!(
        h.c.write_scanned_body(&scanned, &mut segs),
        Err(UsageError::Undeclared8Bit)
    );
    assert!(segs.is_empty());
    assert_eq!(h.c.pending_segment_len(), 0);
    h.drain();
    assert_eq!(h.sent(), "");
    assert_eq!(status_kinds(&h.outcome()), ["not-delivered"]);
}
