//! What 7BIT and 8BITMIME content may not hold: NUL octets and lines over 1,000 octets.
//!
//! RFC 5322 §2.3 forbids NUL in a message, RFC 5321 §4.5.3.1.6 caps a text line at 1,000
//! octets including its CRLF, and RFC 6152 (8BITMIME) keeps both rules; only
//! `BODY=BINARYMIME` over BDAT (RFC 3030 §3) lifts them. The encoders record the first
//! violation as they go ([`BodyStats::first_violation`]), at no cost on their fast path;
//! [`BodyChecker`] runs the same scanner without producing output, to refuse a body before
//! its transaction starts.

use super::BodyStats;
use super::scan::Scanner;

/// Longest text line, in octets, CRLF included (RFC 5321 §4.5.3.1.6); a dot added by
/// dot-stuffing is not counted.
pub const MAX_TEXT_LINE: u64 = 1000;

/// The first thing in a body that rules out 7BIT and 8BITMIME (and so DATA).
///
/// Violations are ordered by the octet that shows them: a NUL at its own offset, a long
/// line at its 999th content octet (the one that takes it past [`MAX_TEXT_LINE`] with the
/// CRLF). Lines are counted as they are sent, after CRLF normalisation: a bare CR or a
/// bare LF ends a line as a CRLF does, and an unterminated last line counts as ended by
/// the CRLF that [`DataEncoder::finish`](super::DataEncoder::finish) adds.
///
/// ```
/// use smtp_proto::body::{BodyViolation, check_body};
///
/// assert_eq!(check_body(b"a\r\n\0"), Err(BodyViolation::Nul { offset: 3 }));
/// let mut long = b"x\n".to_vec();
/// long.extend_from_slice(&[b'y'; 999]);
/// long.push(b'\n');
/// assert_eq!(check_body(&long), Err(BodyViolation::LongLine { line: 2, length: 1001 }));
/// assert_eq!(check_body(&long[..1000]), Ok(()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum BodyViolation {
    /// A NUL octet (RFC 5322 §2.3, RFC 6152 §3).
    #[error("NUL octet at body offset {offset}")]
    Nul {
        /// Its 0-based offset in the body as given (before normalisation).
        offset: u64,
    },
    /// A line longer than [`MAX_TEXT_LINE`] octets (RFC 5321 §4.5.3.1.6).
    #[error("line {line} is {length} octets long with its CRLF (at most 1000)")]
    LongLine {
        /// Its 1-based line number, as sent.
        line: u64,
        /// Its length in octets, CRLF included (dot-stuffing not counted).
        length: u64,
    },
}

/// A body that cannot be sent the way it was declared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// The body holds a NUL or an over-long line but is sent as 7BIT or 8BITMIME (over
    /// DATA, or BDAT without `BODY=BINARYMIME`): nothing of it may be sent, and a message
    /// already under way must not be ended.
    #[error("body needs BODY=BINARYMIME: {0}")]
    NeedsBinaryMime(BodyViolation),
}

/// Streaming check for [`BodyViolation`]s, without encoding.
///
/// Feed the body in chunks of any size; the result does not depend on the split. It is
/// the scanner of the encoders (one pass, 256-byte blocks of ordinary text checked
/// branch-free), with nothing written.
///
/// ```
/// use smtp_proto::body::{BodyChecker, BodyViolation};
///
/// let mut c = BodyChecker::new();
/// assert_eq!(c.feed(b"Subject: x\r\n\r\nok\r"), Ok(()));
/// assert_eq!(c.feed(b"\nthen \0"), Err(BodyViolation::Nul { offset: 23 }));
/// assert_eq!(c.finish(), Err(BodyViolation::Nul { offset: 23 }));
/// assert_eq!(c.finish(), Ok(())); // reset by `finish`
/// ```
#[derive(Clone, Debug)]
pub struct BodyChecker {
    scan: Scanner,
}

impl Default for BodyChecker {
    fn default() -> Self {
        Self::new()
    }
}

impl BodyChecker {
    /// A checker at the start of a body.
    #[must_use]
    pub fn new() -> Self {
        Self {
            scan: Scanner::new(false, true),
        }
    }

    /// Scans the next chunk; fails as soon as a violation is known. A
    /// [`LongLine`](BodyViolation::LongLine) found here may still grow: its `length` is
    /// final after the line ends or after [`finish`](Self::finish).
    ///
    /// # Errors
    ///
    /// The first violation so far (again on every later call).
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), BodyViolation> {
        self.scan.feed(chunk, usize::MAX, &mut |_: &[u8]| {});
        self.violation()
    }

    /// The first violation so far.
    ///
    /// # Errors
    ///
    /// That violation.
    pub fn violation(&self) -> Result<(), BodyViolation> {
        match self.scan.stats().first_violation {
            Some(v) => Err(v),
            None => Ok(()),
        }
    }

    /// Stats so far, as the encoders count them (`bytes_out` counts normalised octets).
    #[must_use]
    pub fn stats(&self) -> BodyStats {
        self.scan.stats()
    }

    /// Ends the body and resets the checker for the next one.
    ///
    /// # Errors
    ///
    /// The first violation in the whole body.
    pub fn finish(&mut self) -> Result<(), BodyViolation> {
        self.scan.end_input();
        self.scan.close_line();
        let result = self.violation();
        self.scan.reset();
        result
    }
}

/// [`BodyChecker`] over a whole body.
///
/// # Errors
///
/// The first [`BodyViolation`].
pub fn check_body(body: &[u8]) -> Result<(), BodyViolation> {
    let mut c = BodyChecker::new();
    let _ = c.feed(body);
    c.finish()
}

/// The same first [`BodyViolation`] as [`check_body`], found by a faster pass meant to
/// refuse an in-memory body before its transaction starts; with `allow_long_lines` only a
/// NUL counts.
///
/// It does not look at every line ending: `memchr` finds the first NUL, and lines are
/// checked by windows of 999 octets, each searched backwards for its last LF (else CR)
/// with `memrchr` and skipped past it, since every line that ends inside a window is
/// short enough. With 76-column text this is about 1,100 short backward searches per
/// MiB, run on each 16 KiB segment right after its NUL search, while it is in the L1
/// cache. A window with no line ending holds a long line; only then are its number and
/// length counted exactly (lines are numbered as sent: CRLF, a bare CR and a bare LF each
/// end one).
///
/// ```
/// use smtp_proto::body::{BodyViolation, quick_check};
///
/// let mut long = b"x\r\n".to_vec();
/// long.extend_from_slice(&[b'y'; 999]);
/// assert_eq!(quick_check(&long, false), Err(BodyViolation::LongLine { line: 2, length: 1001 }));
/// assert_eq!(quick_check(&long, true), Ok(()));
/// assert_eq!(quick_check(b"a\r\n\0", true), Err(BodyViolation::Nul { offset: 3 }));
/// ```
///
/// # Errors
///
/// The first violation, as [`check_body`] orders them.
pub fn quick_check(body: &[u8], allow_long_lines: bool) -> Result<(), BodyViolation> {
    match quick_scan(body, allow_long_lines).violation {
        Some(v) => Err(v),
        None => Ok(()),
    }
}

/// What [`quick_scan`] found in a body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct QuickScan {
    /// Whether the body holds an octet >= 0x80 (it needs `BODY=8BITMIME`, as
    /// `!body.is_ascii()` would say).
    pub eight_bit: bool,
    /// The first violation, as [`quick_check`] returns it.
    pub violation: Option<BodyViolation>,
}

/// [`quick_check`] fused with the 8-bit test a client runs on an in-memory body before
/// MAIL: one branch-free pass over each 16 KiB segment tells whether it holds a NUL or
/// an 8-bit octet (`(b - 1) | b` has its high bit set exactly when `b` is 0 or >= 0x80;
/// only then are `is_ascii` and `memchr` run on it), then the long-line walk of [`quick_check`] runs on it while it
/// is in the L1 cache. On 1 MiB of text this costs about the same as `is_ascii` plus a
/// dozen µs (see `benches/check.rs`).
///
/// ```
/// use smtp_proto::body::{BodyViolation, quick_scan};
///
/// let s = quick_scan("caf\u{e9}\r\n".as_bytes(), false);
/// assert!(s.eight_bit);
/// assert_eq!(s.violation, None);
/// let s = quick_scan(b"a\0", false);
/// assert!(!s.eight_bit);
/// assert_eq!(s.violation, Some(BodyViolation::Nul { offset: 1 }));
/// ```
#[must_use]
pub fn quick_scan(body: &[u8], allow_long_lines: bool) -> QuickScan {
    /// Content octets that make a line too long (998 allowed, plus CRLF).
    const WINDOW: usize = MAX_TEXT_LINE as usize - 1;
    /// Octets checked for NUL and 8-bit at a time, then walked for long lines while
    /// still in the L1 cache (walking the whole body after one pass over it costs a
    /// cache miss per window: twice as slow).
    const SEGMENT: usize = 16 * 1024;
    let mut eight_bit = false;
    let mut nul: Option<usize> = None;
    let mut scanned = 0;
    let mut start = 0;
    let mut long = None;
    while scanned < body.len() {
        let end = body.len().min(scanned + SEGMENT);
        let segment = &body[scanned..end];
        if (nul.is_none() || !eight_bit) && nul_or_high(segment) {
            eight_bit = eight_bit || !segment.is_ascii();
            if nul.is_none() {
                nul = memchr::memchr(0, segment).map(|i| scanned + i);
            }
        }
        scanned = end;
        if long.is_some() || allow_long_lines {
            continue;
        }
        // Windows wholly checked for NUL; a long line wins only if it is found (at its
        // 999th octet) before the NUL.
        let limit = nul.unwrap_or(usize::MAX);
        while start + WINDOW <= end && start + WINDOW - 1 < limit {
            let window = &body[start..start + WINDOW];
            // The last LF (a one-octet search, the common case), else the last bare CR.
            match memchr::memrchr(b'\n', window).or_else(|| memchr::memrchr(b'\r', window)) {
                Some(i) => start += i + 1,
                None => {
                    long = Some(long_line_at(body, start));
                    break;
                }
            }
        }
    }
    let violation = long.or(nul.map(|offset| BodyViolation::Nul {
        offset: offset as u64,
    }));
    QuickScan {
        eight_bit,
        violation,
    }
}

/// Whether some octet of `s` is 0 or >= 0x80: `(b - 1) | b` has its high bit set exactly
/// then. Branch-free, so LLVM vectorises it (three operations per 16 octets).
fn nul_or_high(s: &[u8]) -> bool {
    s.iter().fold(0u8, |acc, &b| acc | b.wrapping_sub(1) | b) & 0x80 != 0
}

/// The [`BodyViolation::LongLine`] for the line whose content starts at `start` (rare
/// path: counts the line endings before it).
#[cold]
fn long_line_at(body: &[u8], start: usize) -> BodyViolation {
    let before = &body[..start];
    let lf = memchr::memchr_iter(b'\n', before).count();
    let bare_cr = memchr::memchr_iter(b'\r', before)
        .filter(|&i| body.get(i + 1) != Some(&b'\n'))
        .count();
    let len = memchr::memchr2(b'\n', b'\r', &body[start..]).unwrap_or(body.len() - start);
    BodyViolation::LongLine {
        line: (lf + bare_cr) as u64 + 1,
        length: len as u64 + 2,
    }
}
