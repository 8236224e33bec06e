//! Reply reader tests. Every input is fed whole, byte by byte, split at every offset, and
//! followed by trailing junk (after h11's `tr` helper): all feeds must agree.

use proptest::prelude::*;
use smtp_proto::reply::{LineErrorKind, parse};
use smtp_proto::{EnhancedStatus, Reply, ReplyCode, ReplyError, ReplyLimits, ReplyReader};

/// What a reader produced: the replies, then the error that poisoned it (if any).
#[derive(Debug, PartialEq)]
struct Outcome {
    replies: Vec<Reply>,
    error: Option<ReplyError>,
    partial: bool,
}

fn feed(chunks: &[&[u8]], limits: ReplyLimits) -> Outcome {
    let mut reader = ReplyReader::with_limits(limits);
    let mut replies = Vec::new();
    let mut error = None;
    for chunk in chunks {
        reader.push(chunk);
        while let Some(r) = reader.next_reply() {
            match r {
                Ok(reply) => replies.push(reply.to_owned()),
                Err(e) => {
                    assert!(error.is_none(), "a second error after poisoning");
                    error = Some(e);
                }
            }
        }
    }
    Outcome {
        replies,
        error,
        partial: reader.has_partial_reply(),
    }
}

/// Feeds `input` whole, byte by byte and split at every offset; asserts all agree.
fn feed_all_ways(input: &[u8], limits: ReplyLimits) -> Outcome {
    let whole = feed(&[input], limits);
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(feed(&bytes, limits), whole, "byte-by-byte differs");
    for i in 0..=input.len() {
        let (a, b) = input.split_at(i);
        assert_eq!(feed(&[a, b], limits), whole, "split at {i} differs");
    }
    whole
}

fn replies(input: &[u8]) -> Vec<Reply> {
    let out = feed_all_ways(input, ReplyLimits::DEFAULT);
    assert_eq!(
        out.error,
        None,
        "unexpected error for {:?}",
        String::from_utf8_lossy(input)
    );
    // With trailing junk, the same replies come out first.
    let mut junk = input.to_vec();
    junk.extend_from_slice(b"\x00junk\r\n");
    let with_junk = feed_all_ways(&junk, ReplyLimits::DEFAULT);
    assert_eq!(with_junk.replies, out.replies);
    assert!(with_junk.error.is_some());
    out.replies
}

fn error(input: &[u8], limits: ReplyLimits) -> ReplyError {
    let out = feed_all_ways(input, limits);
    out.error
        .unwrap_or_else(|| panic!("no error for {:?}", String::from_utf8_lossy(input)))
}

fn text(reply: &Reply) -> Vec<String> {
    reply
        .lines()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect()
}

#[test]
fn single_line_replies() {
    let r = replies(b"250 2.1.0 Ok\r\n");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].code(), ReplyCode::OK);
    assert_eq!(
        r[0].enhanced(),
        Some(EnhancedStatus {
            class: 2,
            subject: 1,
            detail: 0
        })
    );
    assert_eq!(text(&r[0]), ["2.1.0 Ok"]);
    assert_eq!(r[0].message_lines().collect::<Vec<_>>(), [&b"Ok"[..]]);
    assert_eq!(r[0].as_bytes(), b"250 2.1.0 Ok\r\n");
}

#[test]
fn code_alone_and_empty_text() {
    let r = replies(b"250\r\n250 \r\n354\r\n");
    assert_eq!(r.len(), 3);
    assert_eq!(text(&r[0]), [""]);
    assert_eq!(text(&r[1]), [""]);
    assert_eq!(r[2].code(), ReplyCode::START_MAIL_INPUT);
}

#[test]
fn multiline_ehlo_reply() {
    let input = b"250-mail.example.com Hello [127.0.0.1]\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n\
250-VRFY\r\n250-ETRN\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250 SMTPUTF8\r\n";
    let r = replies(input);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].lines().count(), 10);
    assert_eq!(text(&r[0])[2], "SIZE 10240000");
    assert_eq!(r[0].enhanced(), None);
}

#[test]
fn rfc5321_appendix_d_server_replies() {
    // RFC 5321 D.1: every server line of the typical transaction, as one stream.
    let input = b"220 foo.com Simple Mail Transfer Service Ready\r\n\
250-foo.com greets bar.com\r\n250-8BITMIME\r\n250-SIZE\r\n250-DSN\r\n250 HELP\r\n\
250 OK\r\n250 OK\r\n550 No such user here\r\n250 OK\r\n\
354 Start mail input; end with <CRLF>.<CRLF>\r\n250 OK\r\n221 foo.com Service closing transmission channel\r\n";
    let r = replies(input);
    let codes: Vec<u16> = r.iter().map(|r| r.code().get()).collect();
    assert_eq!(codes, [220, 250, 250, 250, 550, 250, 354, 250, 221]);
    assert!(r[4].is_permanent());
    assert!(r[6].is_intermediate());
}

#[test]
fn rfc2920_pipelined_replies_arrive_in_one_read() {
    // RFC 2920 §3.2 example: replies to MAIL, 2x RCPT, DATA in one segment.
    let r =
        replies(b"250 2.1.0 <sender> Ok\r\n250 2.1.5 <rcpt> Ok\r\n550 5.1.1 Unknown\r\n354 go\r\n");
    assert_eq!(r.len(), 4);
    assert_eq!(r[2].enhanced().map(|e| e.to_string()), Some("5.1.1".into()));
}

#[test]
fn binary_text_is_kept_losslessly() {
    let r = replies(b"220 \xff\xfe caf\xc3\xa9 \x00\x1b[31m\r\n");
    assert_eq!(
        r[0].lines().next().unwrap(),
        b"\xff\xfe caf\xc3\xa9 \x00\x1b[31m"
    );
}

#[test]
fn enhanced_status_only_when_class_matches() {
    let r = replies(b"550 2.1.0 odd\r\n451-4.3.0 first\r\n451 5.0.0 second\r\n");
    assert_eq!(r[0].enhanced(), None);
    assert_eq!(r[1].enhanced().unwrap().to_string(), "4.3.0");
    assert_eq!(
        r[1].message_lines().collect::<Vec<_>>(),
        [&b"first"[..], b"5.0.0 second"]
    );
}

#[test]
fn negative_table() {
    let d = ReplyLimits::DEFAULT;
    assert_eq!(
        error(b"250-a\r\n251 b\r\n", d),
        ReplyError::CodeChanged {
            first: ReplyCode::new(250).unwrap(),
            then: ReplyCode::new(251).unwrap()
        }
    );
    let malformed = |kind| ReplyError::Malformed { line: 1, kind };
    assert_eq!(
        error(b"250x\r\n", d),
        malformed(LineErrorKind::BadSeparator)
    );
    assert_eq!(error(b"25\r\n", d), malformed(LineErrorKind::BadCode));
    assert_eq!(error(b"25x ok\r\n", d), malformed(LineErrorKind::BadCode));
    assert_eq!(error(b"150 ok\r\n", d), malformed(LineErrorKind::BadCode));
    assert_eq!(error(b"650 ok\r\n", d), malformed(LineErrorKind::BadCode));
    assert_eq!(error(b"260 ok\r\n", d), malformed(LineErrorKind::BadCode));
    assert_eq!(error(b"\r\n", d), malformed(LineErrorKind::BadCode));
    assert_eq!(
        error(b"250 a\rb\r\n", d),
        malformed(LineErrorKind::BareCarriageReturn)
    );
    assert_eq!(error(b"250 ok\n", d), ReplyError::BareLineFeed { line: 1 });
    assert_eq!(
        error(b"250-ok\r\n250 x\n", d),
        ReplyError::BareLineFeed { line: 2 }
    );
    assert_eq!(
        error(b"250-ok\r\n250\r\r\n", d),
        ReplyError::Malformed {
            line: 2,
            kind: LineErrorKind::BareCarriageReturn
        }
    );
    assert_eq!(
        error(b"250-ok\r\n250 a\rb\n", d.with_bare_lf(true)),
        ReplyError::Malformed {
            line: 2,
            kind: LineErrorKind::BareCarriageReturn
        }
    );
}

#[test]
fn bare_lf_is_accepted_only_when_allowed() {
    let lenient = ReplyLimits::DEFAULT.with_bare_lf(true);
    let out = feed_all_ways(b"250-a\n250 b\r\n220 c\n", lenient);
    assert_eq!(out.error, None);
    assert_eq!(out.replies.len(), 2);
    assert_eq!(text(&out.replies[0]), ["a", "b"]);
    assert_eq!(out.replies[0], Reply::parse(b"250-a\r\n250 b\r\n").unwrap());
}

#[test]
fn earlier_replies_come_out_before_the_error() {
    let out = feed_all_ways(
        b"250 ok\r\n354 go\r\n999 bad\r\n250 never\r\n",
        ReplyLimits::DEFAULT,
    );
    assert_eq!(out.replies.len(), 2);
    assert!(matches!(out.error, Some(ReplyError::Malformed { .. })));
}

#[test]
fn poisoned_reader_ignores_everything_after() {
    let mut reader = ReplyReader::new();
    reader.push(b"bad\r\n");
    assert!(reader.next_reply().unwrap().is_err());
    assert!(reader.is_poisoned());
    reader.push(b"250 ok\r\n");
    assert!(reader.next_reply().is_none());
}

#[test]
fn line_limit_is_checked_before_the_line_ends() {
    let limits = ReplyLimits::DEFAULT.with_caps(16, 64, 1024);
    // Exactly 16 octets with CRLF is fine; 17 is not.
    assert_eq!(replies_with(b"250 0123456789\r\n", limits).len(), 1);
    assert_eq!(
        error(b"250 0123456789a\r\n", limits),
        ReplyError::LineTooLong { limit: 16 }
    );
    // A line that never ends is refused once it cannot fit, without waiting for its LF.
    let mut reader = ReplyReader::with_limits(limits);
    reader.push(b"250 ");
    assert!(reader.next_reply().is_none());
    reader.push(&[b'x'; 12]);
    assert_eq!(
        reader.next_reply().unwrap().unwrap_err(),
        ReplyError::LineTooLong { limit: 16 }
    );
}

fn replies_with(input: &[u8], limits: ReplyLimits) -> Vec<Reply> {
    let out = feed_all_ways(input, limits);
    assert_eq!(out.error, None);
    out.replies
}

#[test]
fn line_count_and_reply_size_limits() {
    let limits = ReplyLimits::DEFAULT.with_caps(2048, 3, 40);
    assert_eq!(
        replies_with(b"250-a\r\n250-b\r\n250 c\r\n", limits).len(),
        1
    );
    assert_eq!(
        error(b"250-a\r\n250-b\r\n250-c\r\n250 d\r\n", limits),
        ReplyError::TooManyLines { limit: 3 }
    );
    assert_eq!(
        error(b"250-0123456789\r\n250-0123456789\r\n250 xyz\r\n", limits),
        ReplyError::ReplyTooLong { limit: 40 }
    );
    // The reply cap also applies to a partial line.
    let mut reader = ReplyReader::with_limits(limits);
    reader.push(b"250-0123456789\r\n250-0123456789\r\n250 01234");
    assert_eq!(
        reader.next_reply().unwrap().unwrap_err(),
        ReplyError::ReplyTooLong { limit: 40 }
    );
}

#[test]
fn default_limits_hold_with_a_flood() {
    let mut reader = ReplyReader::new();
    let chunk = [b'A'; 4096];
    reader.push(b"220 ");
    let mut got_error = false;
    for _ in 0..10_000 {
        reader.push(&chunk);
        if let Some(r) = reader.next_reply() {
            assert_eq!(r.unwrap_err(), ReplyError::LineTooLong { limit: 2048 });
            got_error = true;
        }
        assert!(reader.buffered().len() <= 2048 + 4096 + 4);
    }
    assert!(got_error);
    let mut reader = ReplyReader::new();
    for _ in 0..1000 {
        reader.push(b"250-x\r\n");
        if let Some(r) = reader.next_reply() {
            assert_eq!(r.unwrap_err(), ReplyError::TooManyLines { limit: 64 });
            return;
        }
    }
    panic!("no TooManyLines");
}

#[test]
fn partial_reply_is_visible_at_eof() {
    let out = feed_all_ways(b"250 ok\r\n250-more\r\n", ReplyLimits::DEFAULT);
    assert_eq!(out.replies.len(), 1);
    assert!(out.partial);
    assert!(!feed(&[b"250 ok\r\n"], ReplyLimits::DEFAULT).partial);
}

#[test]
fn take_buffered_hands_over_unparsed_bytes() {
    // The STARTTLS case: a 220 then injected plaintext in the same read.
    let mut reader = ReplyReader::new();
    reader.push(b"220 go ahead\r\n250 fake\r\n");
    assert_eq!(
        reader.next_reply().unwrap().unwrap().code(),
        ReplyCode::SERVICE_READY
    );
    assert_eq!(reader.take_buffered(), b"250 fake\r\n");
    assert!(reader.next_reply().is_none());
    reader.push(b"250 ok\r\n");
    assert_eq!(reader.next_reply().unwrap().unwrap().code(), ReplyCode::OK);
}

#[test]
fn slice_parse() {
    let limits = ReplyLimits::DEFAULT;
    let (used, r) = parse(b"250-a\r\n250 b\r\nX", &limits).unwrap();
    assert_eq!(used, 14);
    assert_eq!(r.lines().count(), 2);
    assert_eq!(
        parse(b"250-a\r\n250 b", &limits).unwrap_err(),
        ReplyError::Incomplete
    );
    assert_eq!(
        Reply::parse(b"250 a\r\nX").unwrap_err(),
        ReplyError::TrailingData { len: 1 }
    );
}

#[test]
fn from_lines_encodes_wire_form() {
    let r = Reply::from_lines(ReplyCode::OK, [&b"a"[..], b"", b"c"]).unwrap();
    assert_eq!(r.as_bytes(), b"250-a\r\n250-\r\n250 c\r\n");
    assert_eq!(
        Reply::from_lines(ReplyCode::OK, [&b""[..]])
            .unwrap()
            .as_bytes(),
        b"250\r\n"
    );
    assert!(Reply::from_lines(ReplyCode::OK, [&b"a\nb"[..]]).is_err());
    assert!(Reply::from_lines(ReplyCode::OK, std::iter::empty()).is_err());
    assert_eq!(r.to_string(), "250 a\n250 \n250 c");
    assert_eq!(r.text_lossy(), "a\n\nc");
}

// ---- property tests ----

fn arb_code() -> impl Strategy<Value = ReplyCode> {
    (2u16..=5, 0u16..=5, 0u16..=9)
        .prop_map(|(a, b, c)| ReplyCode::new(a * 100 + b * 10 + c).unwrap())
}

fn arb_text() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(
            any::<u8>().prop_filter("no CR/LF", |b| *b != b'\r' && *b != b'\n'),
            0..40
        ),
        "[245]\\.[0-9]{1,3}\\.[0-9]{1,3}( [ -~]{0,20})?".prop_map(String::into_bytes),
    ]
}

fn arb_reply() -> impl Strategy<Value = Reply> {
    (arb_code(), proptest::collection::vec(arb_text(), 1..6))
        .prop_map(|(code, lines)| Reply::from_lines(code, lines.iter().map(Vec::as_slice)).unwrap())
}

proptest! {
    #[test]
    fn encode_then_parse_round_trips(reply in arb_reply()) {
        let parsed = Reply::parse(reply.as_bytes()).unwrap();
        prop_assert_eq!(&parsed, &reply);
        prop_assert_eq!(parsed.enhanced(), reply.enhanced());
        prop_assert_eq!(parsed.as_bytes(), reply.as_bytes());
    }

    #[test]
    fn any_chunking_gives_the_same_replies(
        replies in proptest::collection::vec(arb_reply(), 1..5),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let stream: Vec<u8> = replies.iter().flat_map(|r| r.as_bytes().to_vec()).collect();
        let mut offsets: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        offsets.sort_unstable();
        let mut chunks = Vec::new();
        let mut last = 0;
        for o in offsets {
            chunks.push(&stream[last..o]);
            last = o;
        }
        chunks.push(&stream[last..]);
        let out = feed(&chunks, ReplyLimits::DEFAULT);
        prop_assert_eq!(out.error, None);
        prop_assert_eq!(out.replies, replies);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_respect_caps(
        chunks in proptest::collection::vec(proptest::collection::vec(
            prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'2'), Just(b'5'), Just(b'-'), Just(b' '), any::<u8>()], 0..64), 0..16),
        lf in any::<bool>(),
    ) {
        let limits = ReplyLimits::DEFAULT.with_caps(32, 4, 80).with_bare_lf(lf);
        let mut reader = ReplyReader::with_limits(limits);
        let mut max_chunk = 0;
        for chunk in &chunks {
            max_chunk = max_chunk.max(chunk.len());
            reader.push(chunk);
            while let Some(r) = reader.next_reply() {
                if let Ok(r) = r {
                    prop_assert!(r.as_bytes().len() <= 80);
                    prop_assert!(r.lines().count() <= 4);
                    prop_assert!(r.as_bytes().split(|b| *b == b'\n').all(|l| l.len() < 32));
                    // Whatever is accepted parses again on its own.
                    let (used, again) = parse(r.as_bytes(), &limits).unwrap();
                    prop_assert_eq!(used, r.as_bytes().len());
                    prop_assert_eq!(again, r);
                }
            }
            prop_assert!(reader.buffered().len() <= 80 + max_chunk);
        }
        // Chunking invariance on arbitrary input too.
        let whole: Vec<u8> = chunks.concat();
        let a = feed(&[&whole], limits);
        let parts: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
        prop_assert_eq!(feed(&parts, limits), a);
    }
}

/// Found by the `reply_chunks` fuzz target: the error must not depend on where the input
/// was split (a limit seen on a partial line vs a grammar error seen on the whole line).
#[test]
fn errors_do_not_depend_on_chunking() {
    let small = ReplyLimits::DEFAULT.with_caps(16, 4, 40);
    let cases: &[&[u8]] = &[
        b"250 0123456789abcdef\nrest", // bare LF beyond the line limit
        b"250 0123456789abcdef\rX",    // bare CR beyond the line limit
        b"250-0123456789\r\n250-012345678\r\n251 0123456789\r\n", // code change vs reply size
        b"250-0123456789\r\n250-012345678\r\n2x0 0123456789\r\n", // malformed vs reply size
        b"250 012345678901\r\n",       // CR exactly at the limit
        b"250 01234567890\n",          // bare LF just inside
    ];
    for input in cases {
        for lf in [false, true] {
            let out = feed_all_ways(input, small.with_bare_lf(lf));
            assert!(out.error.is_some() || !out.replies.is_empty() || out.partial);
        }
    }
    let big = [b"250 ".as_slice(), &[b'x'; 2100], b"\n"].concat();
    let out = feed_all_ways(&big, ReplyLimits::DEFAULT);
    assert_eq!(out.error, Some(ReplyError::LineTooLong { limit: 2048 }));
}

/// Found by the `reply_chunks` fuzz target (finding 2): when both the line cap and the
/// reply cap are exceeded, the one reached at the earlier octet wins, whatever the split.
#[test]
fn line_cap_and_reply_cap_do_not_depend_on_chunking() {
    let small = ReplyLimits::DEFAULT.with_caps(40, 3, 20);
    let input = [b"250 ".as_slice(), &[b'x'; 36]].concat();
    let out = feed_all_ways(&input, small);
    assert_eq!(out.error, Some(ReplyError::ReplyTooLong { limit: 20 }));
    let line = [b"250-".as_slice(), &[b'x'; 1994], b"\r\n"].concat();
    let mut big = line.repeat(8);
    big.extend_from_slice(b"250-");
    big.extend_from_slice(&[b'y'; 2100]);
    for input in [big.clone(), [big.as_slice(), b"\r\n"].concat()] {
        // Whole, byte by byte, and in pieces of several sizes (every split offset of an
        // 18 KB input would be slow in a debug build).
        let whole = feed(&[&input], ReplyLimits::DEFAULT);
        assert_eq!(whole.error, Some(ReplyError::ReplyTooLong { limit: 16384 }));
        for size in [1, 7, 255, 2048, 4096] {
            let parts: Vec<&[u8]> = input.chunks(size).collect();
            assert_eq!(
                feed(&parts, ReplyLimits::DEFAULT),
                whole,
                "pieces of {size}"
            );
        }
    }
}

/// Found by the `reply` fuzz target (finding 3): caps set to `usize::MAX` ("unlimited")
/// must not overflow.
#[test]
fn unlimited_caps_do_not_overflow() {
    let unlimited = ReplyLimits::DEFAULT.with_caps(usize::MAX, usize::MAX, usize::MAX);
    let cases: [(&[u8], u16, &[&str]); 4] = [
        (b"220\n", 220, &[""]),
        (b"220 tt\n", 220, &["tt"]),
        (b"220 ok\r\n", 220, &["ok"]),
        (b"250-a\r\n250 b\r\n", 250, &["a", "b"]),
    ];
    for (input, code, lines) in cases {
        for lf in [false, true] {
            let out = feed_all_ways(input, unlimited.with_bare_lf(lf));
            let case = format!(
                "{:?} (bare LF allowed: {lf})",
                input.escape_ascii().to_string()
            );
            if !lf && !input.ends_with(b"\r\n") {
                assert!(out.replies.is_empty(), "{case}: {:?}", out.replies);
                assert!(out.error.is_some(), "{case}: bare LF accepted");
            } else {
                assert_eq!(out.error, None, "{case}");
                assert_eq!(out.replies.len(), 1, "{case}");
                assert_eq!(out.replies[0].code().get(), code, "{case}");
                assert_eq!(text(&out.replies[0]), lines, "{case}");
            }
        }
    }
}
