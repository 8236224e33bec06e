//! The shared streaming line scanner behind [`DataEncoder`](super::DataEncoder) and
//! [`BdatEncoder`](super::BdatEncoder).
//!
//! The scanner walks the input once, in two gears:
//!
//! - The fast path takes ordinary text `BLOCK` (256) bytes at a time: one branch-free pass
//!   over the byte pairs of the block, which LLVM vectorises, tells whether it holds only
//!   text and CRLF line endings (no bare CR or LF, no line starting with `.` when
//!   stuffing, no NUL or 8-bit byte not yet recorded) and counts its LFs. Such a block
//!   passes through unchanged, and no line ending inside it is located: a line that
//!   starts in it is shorter than `2 * BLOCK` octets, which is why
//!   [`BodyStats::longest_line`] only measures lines longer than [`MEASURED_LINE`]; the
//!   length of the line still open after it is found (`memrchr`) only when needed.
//! - Anything else goes to the exact scanner, which skips 16 bytes at a time with a
//!   branch-free "is any byte special" test (one compare and one mask extraction per 16
//!   bytes) and stops at the special bytes (`\r`, `\n`, NUL, other C0 controls below
//!   0x0e and, until the first one is seen, bytes >= 0x80).
//!
//! Runs of input between insertion points are handed to the sink as slices of the
//! caller's buffer, so the copying form does a few large `extend_from_slice` calls while
//! the data is still in L1/L2, and the zero-copy form does no copying at all.

use super::{BodyStats, BodyViolation};

/// `\r\n`, emitted for a bare CR, a bare LF, or a missing final line ending.
pub(super) const CRLF: &[u8] = b"\r\n";
/// The extra dot inserted before a line that starts with `.`.
pub(super) const DOT: &[u8] = b".";

/// RFC 5321 §4.5.3.1.6: at most 998 octets of text before the CRLF.
pub(super) const MAX_LINE: u64 = 998;

/// Lines of at most this many octets are not measured: [`BodyStats::longest_line`] is
/// the length of the longest line only when that exceeds this bound (0 otherwise), so
/// that the fast path never has to find the line endings inside a block. Every line over
/// the bound, and every line over [`MAX_LINE`], is measured exactly.
pub(super) const MEASURED_LINE: u64 = 2 * BLOCK as u64;

/// Streaming normaliser state, independent of the framing (DATA or BDAT).
#[derive(Clone, Debug)]
pub(super) struct Scanner {
    /// Insert a `.` before each line that starts with `.` (DATA only).
    stuff_dots: bool,
    /// Rewrite bare CR and bare LF as CRLF (false in BDAT binary mode).
    normalize: bool,
    /// The next input byte starts a line whose leading-dot check is still pending.
    bol: bool,
    /// The previous input byte was a CR that ended a line (its CRLF is already emitted);
    /// an LF at the start of the next chunk belongs to it.
    after_cr: bool,
    /// Content octets of the current (unterminated) line so far.
    line_len: u64,
    /// Counters so far (the current line is folded in by [`Scanner::stats`]).
    stats: BodyStats,
    /// The first NUL: input offset, 1-based line number, 0-based column (content octets
    /// of its line before it).
    first_nul: Option<(u64, u64, u64)>,
    /// The first line longer than [`MAX_LINE`] that has ended: 1-based line number and
    /// content length.
    first_long: Option<(u64, u64)>,
}

impl Scanner {
    pub(super) fn new(stuff_dots: bool, normalize: bool) -> Self {
        Self {
            stuff_dots,
            normalize,
            bol: true,
            after_cr: false,
            line_len: 0,
            stats: BodyStats {
                normalized: normalize,
                ..BodyStats::default()
            },
            first_nul: None,
            first_long: None,
        }
    }

    /// Forgets everything, ready for a new message with the same settings.
    pub(super) fn reset(&mut self) {
        *self = Self::new(self.stuff_dots, self.normalize);
    }

    /// Stats so far, counting the unterminated current line as if it ended here.
    pub(super) fn stats(&self) -> BodyStats {
        let mut s = self.stats;
        let mut long = self.first_long;
        if self.line_len > MEASURED_LINE {
            s.longest_line = s.longest_line.max(self.line_len);
            if self.line_len > MAX_LINE {
                s.long_lines += 1;
                long = long.or(Some((s.lines + 1, self.line_len)));
            }
        }
        s.first_violation = first_violation(self.first_nul, long);
        s.first_nul = self.first_nul.map(|(offset, _, _)| offset);
        s
    }

    /// Adds `n` octets emitted outside [`Scanner::feed`] (the final CRLF).
    pub(super) fn count_out(&mut self, n: usize) {
        self.stats.bytes_out += n as u64;
    }

    /// Whether the output so far ends with a line ending (or is empty), that is whether
    /// the next byte written would start a line.
    pub(super) fn at_line_start(&self) -> bool {
        self.bol
    }

    /// Ends the input: a CR that ended the previous chunk can no longer be followed by
    /// its LF, so it was bare. Does not add a final line ending.
    pub(super) fn end_input(&mut self) {
        if self.after_cr {
            self.after_cr = false;
            self.stats.bare_cr += 1;
        }
    }

    /// Closes an unterminated last line (the caller emits the CRLF, see `count_out`).
    pub(super) fn close_line(&mut self) {
        if !self.bol {
            self.end_line(0);
        }
    }

    #[inline(always)]
    fn end_line(&mut self, extra: usize) {
        let len = self.line_len + extra as u64;
        self.line_len = 0;
        self.stats.lines += 1;
        if len > self.stats.longest_line.max(MEASURED_LINE) {
            self.stats.longest_line = len;
        }
        if len > MAX_LINE {
            self.stats.long_lines += 1;
            if self.first_long.is_none() {
                self.first_long = Some((self.stats.lines, len));
            }
        }
        self.bol = true;
    }

    /// Brings `line_len` up to date at input offset `p` if the current line started in the
    /// fast block at `lazy`.
    #[inline(always)]
    fn settle(&mut self, input: &[u8], lazy: &mut Option<usize>, p: usize) {
        if let Some(s) = lazy.take() {
            let block = &input[s..s + BLOCK];
            let last = memchr::memrchr(b'\n', block).unwrap_or(0);
            self.line_len = (p - (s + last + 1)) as u64;
        }
    }

    /// The fast path, for the block `c` (with `a` the same bytes shifted by one, starting
    /// with the byte before the block, already handled): if it holds nothing but text and CRLF line endings (no bare CR or LF, no
    /// line starting with `.` when stuffing, no NUL or 8-bit byte not yet recorded, no CR
    /// as the last byte), counts their LFs and returns `Some(count)`; otherwise `None`.
    #[inline(always)]
    fn fast_block(&self, a: &[u8; BLOCK], c: &[u8; BLOCK]) -> Option<usize> {
        let (lf, bad) = match (self.stuff_dots, self.stats.has_8bit, self.stats.has_nul) {
            (true, false, false) => summarise::<true, true, true>(a, c),
            (true, false, true) => summarise::<true, true, false>(a, c),
            (true, true, false) => summarise::<true, false, true>(a, c),
            (true, true, true) => summarise::<true, false, false>(a, c),
            (false, false, false) => summarise::<false, true, true>(a, c),
            (false, false, true) => summarise::<false, true, false>(a, c),
            (false, true, false) => summarise::<false, false, true>(a, c),
            (false, true, true) => summarise::<false, false, false>(a, c),
        };
        (!bad && c[BLOCK - 1] != b'\r').then_some(usize::from(lf))
    }

    /// Scans `input` and passes the encoded bytes to `emit`, in order, as slices of
    /// `input` or of static storage. Pending input is flushed at least every `flush_at`
    /// bytes (a copying sink wants the run to still be in cache).
    #[inline(always)]
    pub(super) fn feed<'a, F: Emit<'a>>(&mut self, input: &'a [u8], flush_at: usize, emit: &mut F) {
        let len = input.len();
        if len == 0 {
            return;
        }
        let base = self.stats.bytes_in;
        self.stats.bytes_in += len as u64;
        let mut out = Counted { n: 0, emit };
        let mut p = 0;
        if self.after_cr {
            self.after_cr = false;
            if input[0] == b'\n' {
                // The LF of a CRLF split across chunks: the CRLF was already emitted
                // (normalising) or the CR was (binary mode, which keeps the LF).
                p = 1;
            } else {
                self.stats.bare_cr += 1;
            }
        }
        let mut seg = if self.normalize { p } else { 0 };
        // Fast blocks are tried from `fast_from` on; after `fails` consecutive failures
        // the exact scanner takes over for `BLOCK << fails` bytes (text full of bare line
        // endings does not pay for a failed block test at every line). A block needs the
        // byte before it, hence `p >= 1`.
        let mut fast_from = p.max(1);
        let mut fails = 0u32;
        // Start of the last fast block, if the current line started in it: `line_len` is
        // then stale (the block's last LF is only looked up when the length matters).
        let mut lazy: Option<usize> = None;
        while p < len {
            if self.bol {
                self.bol = false;
                if self.stuff_dots && input[p] == b'.' {
                    if seg < p {
                        out.run(&input[seg..p]);
                    }
                    out.insert(DOT);
                    seg = p;
                    self.stats.dots_stuffed += 1;
                }
            }
            let mut limit = len;
            if p >= fast_from && len - p >= BLOCK {
                let a: &[u8; BLOCK] = input[p - 1..p - 1 + BLOCK]
                    .try_into()
                    .unwrap_or(&[0; BLOCK]);
                let c: &[u8; BLOCK] = input[p..p + BLOCK].try_into().unwrap_or(&[0; BLOCK]);
                if let Some(lfs) = self.fast_block(a, c) {
                    if lfs == 0 {
                        self.settle(input, &mut lazy, p);
                        self.line_len += BLOCK as u64;
                    } else {
                        if lazy.is_none() && self.line_len + BLOCK as u64 > MEASURED_LINE {
                            // The line that ends in this block may be measured.
                            let f = memchr::memchr(b'\n', c).unwrap_or(1);
                            self.end_line(f.saturating_sub(1));
                            self.stats.lines += lfs as u64 - 1;
                        } else {
                            // It is shorter than 2 * BLOCK octets.
                            self.stats.lines += lfs as u64;
                        }
                        lazy = Some(p);
                        self.bol = c[BLOCK - 1] == b'\n';
                    }
                    p += BLOCK;
                    fails = 0;
                    if p - seg >= flush_at {
                        out.run(&input[seg..p]);
                        seg = p;
                    }
                    continue;
                }
                fast_from = p + (BLOCK << fails.min(5));
                fails += 1;
            }
            if fast_from > p {
                limit = fast_from.min(len);
            }
            self.settle(input, &mut lazy, p);
            let hay = &input[..limit];
            let found = if self.stats.has_8bit {
                find_special::<false>(hay, p)
            } else {
                find_special::<true>(hay, p)
            };
            let Some(q) = found else {
                self.line_len += (limit - p) as u64;
                p = limit;
                continue;
            };
            match input[q] {
                b'\r' => {
                    if q + 1 < len {
                        if input[q + 1] == b'\n' {
                            self.end_line(q - p);
                            p = q + 2;
                            if p - seg >= flush_at {
                                out.run(&input[seg..p]);
                                seg = p;
                            }
                            continue;
                        }
                        self.stats.bare_cr += 1;
                    } else {
                        // Last byte of the chunk: whether it is bare depends on the next
                        // chunk, but the output is CRLF either way.
                        self.after_cr = true;
                    }
                    if self.normalize {
                        if seg < q {
                            out.run(&input[seg..q]);
                        }
                        out.insert(CRLF);
                        seg = q + 1;
                    }
                    self.end_line(q - p);
                    p = q + 1;
                }
                b'\n' => {
                    self.stats.bare_lf += 1;
                    if self.normalize {
                        if seg < q {
                            out.run(&input[seg..q]);
                        }
                        out.insert(CRLF);
                        seg = q + 1;
                    }
                    self.end_line(q - p);
                    p = q + 1;
                }
                b => {
                    if b == 0 {
                        if !self.stats.has_nul {
                            self.stats.has_nul = true;
                            let column = self.line_len + (q - p) as u64;
                            self.first_nul = Some((base + q as u64, self.stats.lines + 1, column));
                        }
                    } else if b >= 0x80 {
                        self.stats.has_8bit = true;
                    }
                    self.line_len += (q + 1 - p) as u64;
                    p = q + 1;
                }
            }
        }
        self.settle(input, &mut lazy, len);
        if seg < len {
            out.run(&input[seg..len]);
        }
        self.stats.bytes_out += out.n as u64;
    }
}

/// Where [`Scanner::feed`] sends the encoded bytes: runs of the input, and the static
/// inserts (the `.` of dot-stuffing, the CRLF of a bare line ending). A closure taking
/// slices receives both alike.
pub(super) trait Emit<'a> {
    /// A run of the input, as a slice of it.
    fn run(&mut self, s: &'a [u8]);
    /// An insert: [`DOT`] before the next input octet, or [`CRLF`] (in place of a bare
    /// CR or LF when the scanner normalises, the input octet then skipped).
    fn insert(&mut self, s: &'static [u8]) {
        self.run(s);
    }
}

impl<'a, F: FnMut(&'a [u8])> Emit<'a> for F {
    #[inline(always)]
    fn run(&mut self, s: &'a [u8]) {
        self(s);
    }
}

/// An [`Emit`] that counts the octets it passes on.
struct Counted<'e, E> {
    n: usize,
    emit: &'e mut E,
}

impl<'a, E: Emit<'a>> Counted<'_, E> {
    #[inline(always)]
    fn run(&mut self, s: &'a [u8]) {
        self.n += s.len();
        self.emit.run(s);
    }

    #[inline(always)]
    fn insert(&mut self, s: &'static [u8]) {
        self.n += s.len();
        self.emit.insert(s);
    }
}

/// The earlier of the first NUL and the first over-long line, in the order the octets
/// are sent: a long line is "found" at its 999th content octet (the one that makes it
/// exceed 1,000 octets with its CRLF), so a NUL further into the same line comes second.
fn first_violation(
    nul: Option<(u64, u64, u64)>,
    long: Option<(u64, u64)>,
) -> Option<BodyViolation> {
    let nul_v = |(offset, _, _)| BodyViolation::Nul { offset };
    let long_v = |(line, len): (u64, u64)| BodyViolation::LongLine {
        line,
        length: len + CRLF.len() as u64,
    };
    match (nul, long) {
        (None, None) => None,
        (Some(n), None) => Some(nul_v(n)),
        (None, Some(l)) => Some(long_v(l)),
        (Some(n @ (_, nul_line, column)), Some(l @ (long_line, _))) => {
            if nul_line < long_line || (nul_line == long_line && column <= MAX_LINE) {
                Some(nul_v(n))
            } else {
                Some(long_v(l))
            }
        }
    }
}

/// Bytes per fast-path block. At most 256: LFs are counted in `u8` lanes, and a block
/// that passes holds at most `BLOCK / 2` of them (each after a CR).
const BLOCK: usize = 256;

/// One branch-free pass over the byte pairs `(a[i], c[i])`, where `c` is a block and `a`
/// the same bytes shifted by one (starting with the byte before the block), which LLVM
/// vectorises (two unaligned loads and about ten operations per 16 bytes, no early exit).
/// Returns the number of LFs in `c`, and whether the block needs the exact scanner: some
/// CR not followed by LF or LF not preceded by CR, with `DOTS` some LF followed by `.`,
/// with `HIGH` some byte >= 0x80, with `NUL` some NUL.
#[inline(always)]
fn summarise<const DOTS: bool, const HIGH: bool, const NUL: bool>(
    a: &[u8; BLOCK],
    c: &[u8; BLOCK],
) -> (u8, bool) {
    let mut lf = 0u8;
    let mut bad = false;
    for i in 0..BLOCK {
        let c_lf = c[i] == b'\n';
        lf = lf.wrapping_add(u8::from(c_lf));
        bad |= (a[i] == b'\r') != c_lf;
        if DOTS {
            bad |= (a[i] == b'\n') & (c[i] == b'.');
        }
        bad |= match (HIGH, NUL) {
            (true, true) => (c[i] as i8) < 1,
            (true, false) => (c[i] as i8) < 0,
            (false, true) => c[i] == 0,
            (false, false) => false,
        };
    }
    (lf, bad)
}

/// Is `b` a byte the scanner must look at? `HIGH` also stops at bytes >= 0x80 (until the
/// first one has been recorded). Tabs and the other C0 controls below 0x0e are false
/// positives that the scanner skips: one signed compare covers all cases.
#[inline(always)]
fn is_special<const HIGH: bool>(b: u8) -> bool {
    if HIGH { (b as i8) < 0x0e } else { b < 0x0e }
}

/// Branch-free test of 16 bytes, written so that LLVM emits a vector compare and a
/// single mask test.
#[inline(always)]
fn any_special<const HIGH: bool>(w: &[u8; 16]) -> bool {
    w.iter().fold(false, |acc, &b| acc | is_special::<HIGH>(b))
}

/// Index of the first special byte in `w` (which must contain one), by SWAR on two
/// 64-bit words: the high bit of `(b & 0x7f) + 0x72` is set iff `b & 0x7f >= 0x0e`.
#[inline(always)]
fn locate<const HIGH: bool>(w: &[u8; 16]) -> usize {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const BIAS: u64 = 0x7272_7272_7272_7272;
    const HI: u64 = 0x8080_8080_8080_8080;
    let hits = |x: u64| {
        let t = (x & LOW7) + BIAS;
        if HIGH { (x | !t) & HI } else { !(x | t) & HI }
    };
    let mut lo = [0u8; 8];
    lo.copy_from_slice(&w[..8]);
    let h = hits(u64::from_le_bytes(lo));
    if h != 0 {
        return (h.trailing_zeros() / 8) as usize;
    }
    let mut hi = [0u8; 8];
    hi.copy_from_slice(&w[8..]);
    8 + (hits(u64::from_le_bytes(hi)).trailing_zeros() / 8) as usize
}

/// First index `>= from` holding a special byte.
#[inline(always)]
fn find_special<const HIGH: bool>(hay: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    let mut chunks = hay[from..].chunks_exact(16);
    for c in &mut chunks {
        let w: &[u8; 16] = c.try_into().unwrap_or(&[0; 16]);
        if any_special::<HIGH>(w) {
            return Some(i + locate::<HIGH>(w));
        }
        i += 16;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| is_special::<HIGH>(b))
        .map(|k| i + k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_matches_scalar() {
        for high in [false, true] {
            for pos in 0..16 {
                for special in [0u8, 9, 10, 13, 0x80, 0xff] {
                    let mut w = [b'a'; 16];
                    w[pos] = special;
                    let scalar = w
                        .iter()
                        .position(|&b| if high { (b as i8) < 0x0e } else { b < 0x0e });
                    let Some(expect) = scalar else { continue };
                    let got = if high {
                        locate::<true>(&w)
                    } else {
                        locate::<false>(&w)
                    };
                    assert_eq!(got, expect, "pos {pos} byte {special:#x} high {high}");
                    // bytes that must not be special
                    for ok in [0x0eu8, b' ', b'.', 0x7f] {
                        let mut v = [ok; 16];
                        v[pos] = special;
                        let got = if high {
                            locate::<true>(&v)
                        } else {
                            locate::<false>(&v)
                        };
                        assert_eq!(got, expect);
                    }
                }
            }
        }
    }

    #[test]
    fn find_special_all_offsets() {
        let mut hay = vec![b'x'; 70];
        hay[40] = b'\r';
        for from in 0..=70 {
            let want = if from <= 40 { Some(40) } else { None };
            assert_eq!(find_special::<true>(&hay, from), want);
            assert_eq!(find_special::<false>(&hay, from), want);
        }
    }
}
