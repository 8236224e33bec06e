//! The line framer and the incremental reply reader.

use super::grammar::{self, Separator};
use super::{EnhancedStatus, LineErrorKind, ReplyCode, ReplyError, ReplyLimits, ReplyRef};

/// Finds the first CR or LF. Reply lines are short (most under 64 octets), where a word-wise
/// scan beats `memchr2`'s vector set-up; longer input goes to `memchr2`.
#[inline]
fn find_line_end(s: &[u8]) -> Option<usize> {
    #[inline(always)]
    fn hits(word: &[u8]) -> u64 {
        const LO: u64 = 0x0101_0101_0101_0101;
        const HI: u64 = 0x8080_8080_8080_8080;
        const CR: u64 = LO * b'\r' as u64;
        const LF: u64 = LO * b'\n' as u64;
        let w = u64::from_le_bytes(word.try_into().unwrap_or_default());
        let (x, y) = (w ^ CR, w ^ LF);
        // The lowest set bit is exactly the first byte equal to CR or LF (the zero-byte
        // trick's false positives only occur above a true match).
        ((x.wrapping_sub(LO) & !x) | (y.wrapping_sub(LO) & !y)) & HI
    }
    if s.len() < 8 {
        return s.iter().position(|&b| b == b'\r' || b == b'\n');
    }
    let mut i = 0;
    while i + 8 <= s.len() {
        if i >= 64 {
            return memchr::memchr2(b'\r', b'\n', &s[i..]).map(|p| i + p);
        }
        let hit = hits(&s[i..i + 8]);
        if hit != 0 {
            return Some(i + (hit.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    // The tail: one overlapping word ending at the end of `s`. Its bytes before `i` were
    // already searched, so its first hit is at or after `i`.
    let last = s.len() - 8;
    let hit = hits(&s[last..]);
    (hit != 0).then(|| last + (hit.trailing_zeros() / 8) as usize)
}

/// Checks the line and reply caps for a line that starts `line_start` octets into its
/// reply and of which `partial` octets (no line end yet) are known.
///
/// When both caps are exceeded, the one whose threshold comes at the earlier octet wins, as
/// it would for bytes arriving one at a time (the line cap trips when the line reaches
/// `max_line_len` octets, the reply cap when the reply passes `max_reply_len`): the
/// result is the same however the input was split.
#[inline]
fn check_caps(line_start: usize, partial: usize, limits: &ReplyLimits) -> Result<(), ReplyError> {
    let line = partial >= limits.max_line_len;
    let reply = line_start + partial > limits.max_reply_len;
    let line_first = line_start + limits.max_line_len <= limits.max_reply_len + 1;
    if line && (!reply || line_first) {
        return Err(ReplyError::LineTooLong {
            limit: limits.max_line_len,
        });
    }
    if reply {
        return Err(ReplyError::ReplyTooLong {
            limit: limits.max_reply_len,
        });
    }
    Ok(())
}

/// Framing progress through the reply that starts at `start`.
#[derive(Clone, Copy, Debug)]
struct Frame {
    /// Offset of the next line to frame.
    scan: usize,
    /// Octets of the partial line at `scan` already searched for a line end.
    searched: usize,
    /// Lines framed so far in this reply.
    lines: usize,
    /// The first line's code (valid once `lines > 0`).
    code: ReplyCode,
    /// The first line's enhanced status.
    enhanced: Option<EnhancedStatus>,
}

impl Frame {
    const fn new(start: usize) -> Self {
        Frame {
            scan: start,
            searched: 0,
            lines: 0,
            code: ReplyCode(0),
            enhanced: None,
        }
    }
}

/// Advances `frame` over the complete lines in `buf[frame.scan..]` of the reply that starts
/// at `start`. Returns `Ok(Some(end))` when the reply ends at `end`, `Ok(None)` when more
/// bytes are needed (the partial tail has been checked against the limits).
#[inline]
fn advance(
    buf: &[u8],
    start: usize,
    frame: &mut Frame,
    limits: &ReplyLimits,
) -> Result<Option<usize>, ReplyError> {
    loop {
        let rest = &buf[frame.scan..];
        // One scan finds the line end: the first CR or LF must be the CRLF that ends the line
        // (or, when allowed, a bare LF). Searching resumes where the last partial scan ended.
        let found = find_line_end(&rest[frame.searched..]).map(|i| i + frame.searched);
        if let Some(i) = found {
            // The caps first, exactly as a partial line of this length would have been
            // checked had the input been split just before its line end: the error must not
            // depend on how the bytes were chunked.
            let partial = if rest[i] == b'\r' { i + 1 } else { i };
            check_caps(frame.scan - start, partial, limits)?;
        }
        let (content, len) = match found {
            Some(i) if rest[i] == b'\n' => {
                if !limits.allow_bare_lf {
                    return Err(ReplyError::BareLineFeed {
                        line: frame.lines + 1,
                    });
                }
                (&rest[..i], i + 1)
            }
            Some(i) if i + 1 < rest.len() => {
                if rest[i + 1] != b'\n' {
                    return Err(ReplyError::Malformed {
                        line: frame.lines + 1,
                        kind: LineErrorKind::BareCarriageReturn,
                    });
                }
                (&rest[..i], i + 2)
            }
            _ => {
                // A partial line (possibly ending in CR): refuse it as soon as it cannot fit,
                // not when its line end arrives.
                check_caps(frame.scan - start, rest.len(), limits)?;
                frame.searched = found.unwrap_or(rest.len());
                return Ok(None);
            }
        };
        let line_no = frame.lines + 1;
        if len > limits.max_line_len {
            return Err(ReplyError::LineTooLong {
                limit: limits.max_line_len,
            });
        }
        let line = grammar::reply_line(content).map_err(|kind| ReplyError::Malformed {
            line: line_no,
            kind,
        })?;
        if frame.lines == 0 {
            frame.code = line.code;
            frame.enhanced = grammar::enhanced_for(line.code, line.text);
        } else if line.code != frame.code {
            return Err(ReplyError::CodeChanged {
                first: frame.code,
                then: line.code,
            });
        }
        frame.lines = line_no;
        if line_no > limits.max_lines {
            return Err(ReplyError::TooManyLines {
                limit: limits.max_lines,
            });
        }
        let end = frame.scan + len;
        if end - start > limits.max_reply_len {
            return Err(ReplyError::ReplyTooLong {
                limit: limits.max_reply_len,
            });
        }
        frame.scan = end;
        frame.searched = 0;
        if line.separator == Separator::Last {
            return Ok(Some(end));
        }
    }
}

/// Parses one complete reply from the front of `input`.
///
/// Returns the number of bytes the reply used and the reply, borrowing `input`. Fails with
/// [`ReplyError::Incomplete`] when `input` ends inside the reply (and within the limits).
///
/// ```
/// use smtp_proto::reply::{parse, ReplyLimits};
/// let input = b"250-first\r\n250 second\r\n354 next";
/// let (used, reply) = parse(input, &ReplyLimits::default()).unwrap();
/// assert_eq!(used, 23);
/// assert_eq!(reply.lines().collect::<Vec<_>>(), [&b"first"[..], b"second"]);
/// ```
pub fn parse<'a>(
    input: &'a [u8],
    limits: &ReplyLimits,
) -> Result<(usize, ReplyRef<'a>), ReplyError> {
    let mut frame = Frame::new(0);
    match advance(input, 0, &mut frame, limits)? {
        Some(end) => Ok((
            end,
            ReplyRef {
                code: frame.code,
                enhanced: frame.enhanced,
                raw: &input[..end],
            },
        )),
        None => Err(ReplyError::Incomplete),
    }
}

/// An incremental, sans-IO reply reader.
///
/// Feed it whatever the connection delivered with [`push`](Self::push), split anywhere,
/// then call [`next_reply`](Self::next_reply) until it returns `None`. Limits are checked
/// while bytes arrive, so the buffer never holds more than one reply's cap plus one push.
/// The first error poisons the reader: it is returned once, then nothing more is parsed.
///
/// In steady state (replies drained after each push) the reader does not allocate.
///
/// ```
/// use smtp_proto::{ReplyReader, ReplyError};
/// let mut reader = ReplyReader::new();
/// for byte in b"220 mx.example.org ESMTP\r\n250 Ok\r\n" {
///     reader.push(&[*byte]);
///     while let Some(reply) = reader.next_reply() {
///         println!("{}", reply.unwrap());
///     }
/// }
/// reader.push(b"250-a\r\n251 b\r\n");
/// assert!(matches!(reader.next_reply(), Some(Err(ReplyError::CodeChanged { .. }))));
/// assert!(reader.next_reply().is_none());
/// ```
#[derive(Debug, Clone)]
pub struct ReplyReader {
    buf: Vec<u8>,
    /// Start of the first unconsumed reply.
    start: usize,
    /// End of the reply returned by the last `next_reply`, consumed on the next call.
    consumed: usize,
    frame: Frame,
    /// The end of a complete, validated reply starting at `start`.
    ready: Option<usize>,
    error: Option<ReplyError>,
    poisoned: bool,
    limits: ReplyLimits,
}

impl Default for ReplyReader {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplyReader {
    /// A reader with the default [`ReplyLimits`].
    pub fn new() -> Self {
        Self::with_limits(ReplyLimits::DEFAULT)
    }

    /// A reader with the given limits.
    pub fn with_limits(limits: ReplyLimits) -> Self {
        ReplyReader {
            buf: Vec::new(),
            start: 0,
            consumed: 0,
            frame: Frame::new(0),
            ready: None,
            error: None,
            poisoned: false,
            limits,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &ReplyLimits {
        &self.limits
    }

    /// Appends received bytes and frames as far as they go.
    ///
    /// Ignored once the reader is poisoned. Drain [`next_reply`](Self::next_reply) after
    /// each push: a reader holding a complete reply keeps buffering what follows it.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.poisoned || self.error.is_some() {
            return;
        }
        self.discard_consumed();
        self.buf.extend_from_slice(bytes);
        self.frame_next();
    }

    /// Returns the next complete reply, `None` if more bytes are needed, or the error that
    /// poisoned the reader (once; `None` after that).
    #[inline]
    pub fn next_reply(&mut self) -> Option<Result<ReplyRef<'_>, ReplyError>> {
        if self.consumed > self.start {
            self.start = self.consumed;
            self.frame = Frame::new(self.start);
            if self.start == self.buf.len() {
                return None;
            }
            self.frame_next();
        }
        if let Some(end) = self.ready.take() {
            self.consumed = end;
            return Some(Ok(ReplyRef {
                code: self.frame.code,
                enhanced: self.frame.enhanced,
                raw: &self.buf[self.start..end],
            }));
        }
        if let Some(e) = self.error.take() {
            self.poisoned = true;
            self.buf = Vec::new();
            self.start = 0;
            self.consumed = 0;
            return Some(Err(e));
        }
        None
    }

    /// Whether an error was returned; a poisoned reader parses nothing more.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Octets received but not yet returned in a reply (nor discarded by an error).
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.consumed.max(self.start)..]
    }

    /// Whether bytes of an unfinished reply are buffered. At end of stream this means the
    /// connection closed mid-reply.
    pub fn has_partial_reply(&self) -> bool {
        self.ready.is_none() && !self.buffered().is_empty()
    }

    /// Removes and returns every buffered octet that is not part of a returned reply, and
    /// resets framing. Used at a STARTTLS boundary, where such bytes must be refused, never
    /// parsed later.
    pub fn take_buffered(&mut self) -> Vec<u8> {
        let rest = self.buffered().to_vec();
        self.buf.clear();
        self.start = 0;
        self.consumed = 0;
        self.frame = Frame::new(0);
        self.ready = None;
        self.error = None;
        rest
    }

    fn discard_consumed(&mut self) {
        if self.consumed > self.start {
            self.start = self.consumed;
            self.frame = Frame::new(self.start);
        }
        if self.start == 0 {
            return;
        }
        if self.start == self.buf.len() {
            self.buf.clear();
        } else {
            self.buf.drain(..self.start);
        }
        self.frame.scan -= self.start;
        if let Some(end) = self.ready.as_mut() {
            *end -= self.start;
        }
        self.consumed = 0;
        self.start = 0;
    }

    #[inline]
    fn frame_next(&mut self) {
        if self.ready.is_some() || self.error.is_some() {
            return;
        }
        match advance(&self.buf, self.start, &mut self.frame, &self.limits) {
            Ok(end) => self.ready = end,
            Err(e) => self.error = Some(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::find_line_end;

    #[test]
    fn find_line_end_matches_a_plain_search() {
        let mut buf = vec![b'a'; 200];
        assert_eq!(find_line_end(&buf), None);
        for pos in 0..200 {
            for byte in [b'\r', b'\n'] {
                buf.fill(b'a');
                buf[pos] = byte;
                // Bytes that trip the zero-byte trick's borrow (0x0c, 0x0b, 0x0e) after it.
                if pos + 1 < buf.len() {
                    buf[pos + 1] = 0x0c;
                }
                for start in 0..=pos {
                    assert_eq!(find_line_end(&buf[start..]), Some(pos - start));
                }
            }
        }
        for byte in 0..=255u8 {
            let s = [byte; 17];
            let want = s.iter().position(|&b| b == b'\r' || b == b'\n');
            assert_eq!(find_line_end(&s), want, "{byte}");
        }
    }
}
