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
/// It does not look at every line ending: one `memchr` finds the first NUL, and lines are
/// checked by windows of 999 octets, each searched backwards for its last CR or LF
/// (`memrchr2`) and skipped past it, since every line that ends inside a window is short
/// enough. With 76-column text this is about 1,000 short backward searches per MiB. A
/// window with no line ending holds a long line; only then are its number and length
/// counted exactly (lines are numbered as sent: CRLF, a bare CR and a bare LF each end
/// one).
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
    /// Content octets that make a line too long (998 allowed, plus CRLF).
    const WINDOW: usize = MAX_TEXT_LINE as usize - 1;
    let nul = memchr::memchr(0, body);
    if !allow_long_lines {
        // The long line wins only if it is found (at its 999th octet) before the NUL.
        let limit = nul.unwrap_or(usize::MAX);
        let mut start = 0;
        while body.len() - start >= WINDOW && start + WINDOW - 1 < limit {
            match memchr::memrchr2(b'\n', b'\r', &body[start..start + WINDOW]) {
                Some(i) => start += i + 1,
                None => return Err(long_line_at(body, start)),
            }
        }
    }
    match nul {
        Some(offset) => Err(BodyViolation::Nul {
            offset: offset as u64,
        }),
        None => Ok(()),
    }
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
