//! `reply` and `reply_chunks`: the incremental reply reader.

use arbitrary::{Arbitrary, Result, Unstructured};
use smtp_proto::reply::{self, ReplyLimits};
use smtp_proto::{Reply, ReplyError, ReplyReader, ReplyRef};

/// Limits with no cap, for parsing a re-encoded reply back.
const UNLIMITED: ReplyLimits = ReplyLimits::DEFAULT.with_caps(usize::MAX, usize::MAX, usize::MAX);

/// What the first input byte `c` selects:
///
/// - bit 0: [`ReplyLimits::allow_bare_lf`];
/// - bits 1-2: the caps (line octets, lines, reply octets): `0` the defaults
///   (2048, 64, 16384), `1` (64, 8, 256), `2` (16, 4, 48), `3` read from the next three
///   bytes `a b c` as (`a`, `b % 16`, `4 * c`), zero caps included;
/// - bits 3-7 (`reply` only), `v`: bytes per [`ReplyReader::push`]: all at once for `0`,
///   `v` for `1..=3`, `8 * v` above (split points in general are `reply_chunks`' job; small
///   pushes here would only slow the target down).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyConfig {
    /// The limits of the reader under test.
    pub limits: ReplyLimits,
    /// Bytes per push; 0 for one push of everything.
    pub push: usize,
}

impl ReplyConfig {
    /// Decodes the config byte (and, for custom caps, the three bytes after it) from the
    /// front of `data`; returns the config and the rest.
    pub fn split(data: &[u8]) -> (Self, &[u8]) {
        let Some((&c, rest)) = data.split_first() else {
            return (Self::new(0, [0; 3]), data);
        };
        if (c >> 1) & 3 == 3 {
            let mut caps = [0u8; 3];
            let n = rest.len().min(3);
            caps[..n].copy_from_slice(&rest[..n]);
            (Self::new(c, caps), &rest[n..])
        } else {
            (Self::new(c, [0; 3]), rest)
        }
    }

    fn new(c: u8, custom: [u8; 3]) -> Self {
        let base = ReplyLimits::DEFAULT.with_bare_lf(c & 1 == 1);
        let limits = match (c >> 1) & 3 {
            0 => base,
            1 => base.with_caps(64, 8, 256),
            2 => base.with_caps(16, 4, 48),
            _ => base.with_caps(
                usize::from(custom[0]),
                usize::from(custom[1] % 16),
                4 * usize::from(custom[2]),
            ),
        };
        let v = usize::from(c >> 3);
        ReplyConfig {
            limits,
            push: if v <= 3 { v } else { 8 * v },
        }
    }
}

/// The raw lines of a reply, each with its line ending (memchr: a byte loop here would be
/// instrumented byte by byte and halve the execution rate).
fn raw_lines(raw: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    memchr::memchr_iter(b'\n', raw).map(move |end| {
        let line = &raw[start..=end];
        start = end + 1;
        line
    })
}

/// Checks one reply returned under `limits`: caps, wire shape, accessors, and the
/// `from_lines` round trip.
pub(crate) fn check_reply(reply: &ReplyRef<'_>, limits: &ReplyLimits) {
    let raw = reply.as_bytes();
    let code = reply.code();
    let c = code.get();
    let digits = [
        b'0' + (c / 100) as u8,
        b'0' + (c / 10 % 10) as u8,
        b'0' + (c % 10) as u8,
    ];

    // Caps.
    assert!(
        raw.len() <= limits.max_reply_len,
        "reply of {} octets over the {} cap",
        raw.len(),
        limits.max_reply_len
    );
    let n_lines = raw_lines(raw).count();
    assert!(n_lines >= 1, "empty reply");
    assert!(
        n_lines <= limits.max_lines,
        "{n_lines} lines over the {} cap",
        limits.max_lines
    );

    // Wire shape: code on every line, `-` on all but the last, CRLF (or an allowed bare LF).
    let mut has_bare_lf = false;
    let mut last_len = 0;
    for (i, line) in raw_lines(raw).enumerate() {
        assert!(
            line.len() <= limits.max_line_len,
            "line {} of {} octets over the {} cap",
            i + 1,
            line.len(),
            limits.max_line_len
        );
        last_len = line.len();
        let body = line.strip_suffix(b"\n").expect("reply line without LF");
        let body = match body.strip_suffix(b"\r") {
            Some(b) => b,
            None => {
                assert!(limits.allow_bare_lf, "bare LF accepted while refused");
                has_bare_lf = true;
                body
            }
        };
        assert!(memchr::memchr(b'\r', body).is_none(), "CR inside a line");
        assert!(body.starts_with(&digits), "code changed inside a reply");
        let last = i + 1 == n_lines;
        match body.get(3) {
            Some(b'-') => assert!(!last, "last line has a '-' separator"),
            Some(b' ') | None => assert!(last, "line {} ends the reply early", i + 1),
            Some(other) => panic!("separator {other:#x} accepted"),
        }
    }
    assert!(raw.ends_with(b"\n"));
    assert!((2..=5).contains(&code.class()));

    // Accessors agree with the raw bytes.
    let lines: Vec<&[u8]> = reply.lines().collect();
    assert_eq!(lines.len(), n_lines);
    let mut messages = reply.message_lines();
    for (text, line) in lines.iter().zip(raw_lines(raw)) {
        assert!(text.len() + 4 <= line.len() || (text.is_empty() && line.len() <= 6));
        let m = messages.next().expect("fewer message lines than lines");
        assert!(
            text.ends_with(m),
            "message line is not a suffix of the text"
        );
    }
    assert!(messages.next().is_none(), "more message lines than lines");
    if let Some(e) = reply.enhanced() {
        assert_eq!(e.class, code.class(), "enhanced status of another class");
        assert!(lines[0].starts_with(&[b'0' + e.class, b'.']));
    }

    // Re-encode with `from_lines`. Canonical input (CRLF only, no `ddd SP CRLF` last
    // line) must come back byte for byte; anything else must parse back to an equal reply.
    let rebuilt = Reply::from_lines(code, lines.iter().copied())
        .unwrap_or_else(|e| panic!("from_lines refused the lines of a parsed reply: {e}"));
    assert_eq!(rebuilt.enhanced(), reply.enhanced());
    if !has_bare_lf && last_len != 6 {
        assert_eq!(
            rebuilt.as_bytes(),
            raw,
            "canonical reply re-encodes differently"
        );
    } else {
        let (used, back) = reply::parse(rebuilt.as_bytes(), &UNLIMITED)
            .unwrap_or_else(|e| panic!("re-encoded reply does not parse: {e}"));
        assert_eq!(
            used,
            rebuilt.as_bytes().len(),
            "re-encoded reply parses short"
        );
        assert!(
            back == *reply,
            "round trip changed the reply: {back:?} != {reply:?}"
        );
        assert_eq!(
            back.enhanced(),
            reply.enhanced(),
            "round trip changed the enhanced status"
        );
    }
}

/// `reply`: bytes into a [`ReplyReader`] (config from the first byte, see [`ReplyConfig`]).
///
/// Asserts: no panic; every reply passes [`check_reply`] (caps, shape, `from_lines`
/// round trip); the buffer holds at most one reply cap after draining and one cap plus
/// one push after a push; each reply and the error match [`reply::parse`] on the same
/// bytes (the error only when everything was pushed at once); a poisoned reader stays
/// empty and silent.
pub fn reply(data: &[u8]) {
    let (cfg, payload) = ReplyConfig::split(data);
    let limits = cfg.limits;
    let step = if cfg.push == 0 {
        payload.len().max(1)
    } else {
        cfg.push
    };
    let mut reader = ReplyReader::with_limits(limits);
    let mut off = 0; // start of the next reply in `payload`
    let mut failed = false;
    for chunk in payload.chunks(step) {
        reader.push(chunk);
        if failed {
            assert!(reader.buffered().is_empty(), "poisoned reader buffers");
            assert!(reader.next_reply().is_none(), "poisoned reader yields");
            continue;
        }
        assert!(
            reader.buffered().len() <= limits.max_reply_len.saturating_add(chunk.len()),
            "{} octets buffered: over one reply cap plus one push",
            reader.buffered().len()
        );
        while let Some(next) = reader.next_reply() {
            let expected = reply::parse(&payload[off..], &limits);
            match next {
                Ok(r) => {
                    check_reply(&r, &limits);
                    match expected {
                        Ok((used, e)) => {
                            assert_eq!(r.as_bytes(), &payload[off..off + used]);
                            assert_eq!((r.code(), r.enhanced()), (e.code(), e.enhanced()));
                            off += used;
                        }
                        Err(e) => panic!("reader gave {r:?}, parse gave {e:?}"),
                    }
                }
                Err(err) => {
                    match expected {
                        Ok((_, e)) => panic!("reader gave {err:?}, parse gave {e:?}"),
                        Err(ReplyError::Incomplete) => {
                            panic!("reader gave {err:?}, parse wants more input")
                        }
                        Err(e) if cfg.push == 0 => assert_eq!(err, e),
                        Err(_) => {}
                    }
                    failed = true;
                    assert!(reader.is_poisoned());
                    assert!(reader.buffered().is_empty());
                }
            }
        }
        if !failed {
            assert!(
                reader.buffered().len() <= limits.max_reply_len,
                "{} octets of a partial reply buffered",
                reader.buffered().len()
            );
        }
    }
    if !failed && off < payload.len() {
        assert_eq!(reader.buffered(), &payload[off..]);
        assert!(reader.has_partial_reply());
        assert_eq!(
            reply::parse(&payload[off..], &limits).err(),
            Some(ReplyError::Incomplete),
            "reader waits for more, parse does not"
        );
    }
}

/// `reply_chunks` input: the [`ReplyConfig`] byte (plus three cap bytes when it asks
/// for custom caps), a list of chunk lengths (each element preceded by a continue byte,
/// odd = another element follows), and the server bytes (the rest of the input).
#[derive(Clone, Debug)]
pub struct ChunkedInput<'a> {
    /// The config byte and custom cap bytes.
    pub config: Vec<u8>,
    /// Chunk lengths, used in a cycle; 0 is an empty push.
    pub splits: Vec<u8>,
    /// The server bytes.
    pub data: &'a [u8],
}

impl<'a> Arbitrary<'a> for ChunkedInput<'a> {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let c = u8::arbitrary(u)?;
        let mut config = vec![c];
        if (c >> 1) & 3 == 3 {
            for _ in 0..3 {
                config.push(u8::arbitrary(u)?);
            }
        }
        let mut splits = Vec::new();
        while u8::arbitrary(u)? & 1 == 1 {
            splits.push(u8::arbitrary(u)?);
        }
        let data = u.bytes(u.len())?;
        Ok(ChunkedInput {
            config,
            splits,
            data,
        })
    }

    fn arbitrary_take_rest(mut u: Unstructured<'a>) -> Result<Self> {
        Self::arbitrary(&mut u)
    }
}

/// Everything a reader yields, owned, for comparison.
#[derive(Debug, PartialEq, Eq)]
struct Run {
    replies: Vec<std::result::Result<Reply, ReplyError>>,
    buffered: Vec<u8>,
    poisoned: bool,
    partial: bool,
}

impl Run {
    /// The run with every error replaced by the same placeholder.
    fn without_error_kind(&self) -> Run {
        Run {
            replies: self
                .replies
                .iter()
                .map(|r| r.clone().map_err(|_| ReplyError::Incomplete))
                .collect(),
            buffered: self.buffered.clone(),
            poisoned: self.poisoned,
            partial: self.partial,
        }
    }
}

thread_local! {
    /// `SMTP_FUZZ_LAX_ERRORS=1`: `reply_chunks` only requires the same replies and an error
    /// at the same place, not the same error. A stop-gap for hunting other bugs while the
    /// known split-dependent error kinds (README, "Findings") are open: when the variable
    /// is set, those inputs pass and anything else still fails.
    static LAX_ERRORS: bool = std::env::var_os("SMTP_FUZZ_LAX_ERRORS").is_some_and(|v| v == "1");
}

fn drain(reader: &mut ReplyReader, out: &mut Vec<std::result::Result<Reply, ReplyError>>) {
    while let Some(r) = reader.next_reply() {
        out.push(r.map(|r| r.to_owned()));
    }
}

fn finish(reader: &ReplyReader, replies: Vec<std::result::Result<Reply, ReplyError>>) -> Run {
    Run {
        replies,
        buffered: reader.buffered().to_vec(),
        poisoned: reader.is_poisoned(),
        partial: reader.has_partial_reply(),
    }
}

/// The chunks of `data` for a cyclic list of lengths (one push of the rest when every
/// length is 0 or the list is empty).
fn chunks<'d>(data: &'d [u8], splits: &[u8]) -> Vec<&'d [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
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

/// `reply_chunks`: the same bytes fed whole and split at the given points (draining after
/// every push, and again draining only at the end) yield the same replies, the same error
/// and the same final state (differential).
pub fn reply_chunks(input: ChunkedInput<'_>) {
    let (cfg, _) = ReplyConfig::split(&input.config);
    let limits = cfg.limits;
    let same = |a: &Run, b: &Run, what: &str| {
        if LAX_ERRORS.with(|l| *l) {
            assert_eq!(a.without_error_kind(), b.without_error_kind(), "{what}");
        } else {
            assert_eq!(a, b, "{what}");
        }
    };

    let mut whole = ReplyReader::with_limits(limits);
    let mut replies = Vec::new();
    whole.push(input.data);
    drain(&mut whole, &mut replies);
    let whole = finish(&whole, replies);

    let pieces = chunks(input.data, &input.splits);
    let mut split = ReplyReader::with_limits(limits);
    let mut replies = Vec::new();
    for piece in &pieces {
        split.push(piece);
        drain(&mut split, &mut replies);
    }
    let split = finish(&split, replies);
    same(
        &whole,
        &split,
        "split feed (drained after each push) differs",
    );

    let mut lazy = ReplyReader::with_limits(limits);
    let mut replies = Vec::new();
    for piece in &pieces {
        lazy.push(piece);
    }
    drain(&mut lazy, &mut replies);
    let lazy = finish(&lazy, replies);
    same(&whole, &lazy, "split feed (drained at the end) differs");
}
