//! In-memory bodies scanned once ([`ScannedBody`]) and encoded from what that scan found,
//! without copying ([`ScannedEncoder`], [`BodySegment`]).
//!
//! A client checks an in-memory body before MAIL anyway (8-bit content to declare, NUL
//! and over-long lines to refuse). [`ScannedBody::new`] makes that one pass with the
//! encoders' own scanner and keeps what it learns: the stats the encoders would report,
//! and where the DATA encoding differs from the body (a `.` inserted before a line that
//! starts with one, a CRLF in place of a bare CR or LF). [`ScannedEncoder`] then produces
//! the DATA or BDAT encoding as [`BodySegment`]s without looking at the body again: runs
//! of the caller's bytes, the static inserts, and the `BDAT <n>[ LAST]\r\n` frame headers.
//! The octets are exactly those of [`DataEncoder`](super::DataEncoder) and
//! [`BdatEncoder`](super::BdatEncoder), however the body is split between calls.

use std::io::Write as _;
use std::marker::PhantomData;

use super::data::TERMINATOR;
use super::scan::{CRLF, DOT, Emit, Scanner};
use super::{BodyStats, BodyViolation};

/// At most one edit is kept per this many body octets (plus a few): a body with more
/// (many bare line endings or leading dots) is "dense" and scanned again as it is sent,
/// its encoding copied into the output (short segments cost more to write than to copy).
const EDIT_SPACING: usize = 512;

/// Where the DATA encoding of a body differs from the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Edit {
    /// A `.` inserted before the octet at this offset (dot-stuffing).
    Dot(usize),
    /// The bare CR or LF at this offset is sent as CRLF.
    Crlf(usize),
}

impl Edit {
    fn at(self) -> usize {
        match self {
            Edit::Dot(a) | Edit::Crlf(a) => a,
        }
    }
}

/// Records the scanner's inserts as [`Edit`]s, up to `cap`.
struct Recorder<'a> {
    base: usize,
    cur: usize,
    edits: Vec<Edit>,
    crlf: u64,
    cap: usize,
    over: bool,
    _body: PhantomData<&'a [u8]>,
}

impl<'a> Emit<'a> for Recorder<'a> {
    #[inline(always)]
    fn run(&mut self, s: &'a [u8]) {
        self.cur = s.as_ptr() as usize - self.base + s.len();
    }

    fn insert(&mut self, s: &'static [u8]) {
        let dot = s.len() == DOT.len();
        if !dot {
            self.crlf += 1;
        }
        if !self.over {
            if self.edits.len() == self.cap {
                self.over = true;
                self.edits = Vec::new();
            } else if dot {
                self.edits.push(Edit::Dot(self.cur));
            } else {
                self.edits.push(Edit::Crlf(self.cur));
            }
        }
        if !dot {
            // The bare CR or LF replaced by this CRLF.
            self.cur += 1;
        }
    }
}

/// An in-memory body and what one pass over it found: what it needs (`8BITMIME`,
/// `BINARYMIME`), whether it may be sent, and how its DATA and BDAT encodings differ from
/// it, so that [`ScannedEncoder`] need not scan it again.
///
/// ```
/// use smtp_proto::body::{BodyViolation, ScannedBody};
///
/// let b = ScannedBody::new(b"Subject: hi\r\n\r\n.dot\n");
/// assert!(!b.is_crlf_clean()); // the last LF is bare
/// assert!(b.has_dot_lines());
/// assert_eq!(b.violation(false), None);
/// assert_eq!(b.data_stats().bytes_out, 22); // one dot added, one LF made CRLF
/// assert_eq!(ScannedBody::new(b"a\0").violation(true), Some(BodyViolation::Nul { offset: 1 }));
/// ```
#[derive(Clone, Debug)]
pub struct ScannedBody<'a> {
    bytes: &'a [u8],
    /// The DATA scanner run over the whole body (input ended, last line not closed).
    scan: Scanner,
    /// The edits of the DATA encoding, in order; `None` when there were too many.
    edits: Option<Vec<Edit>>,
    /// Bare CRs and LFs (each one more octet in the normalised body).
    crlf: u64,
}

impl<'a> ScannedBody<'a> {
    /// Scans `bytes` once (the encoders' scanner: 256-octet blocks of ordinary text are
    /// checked branch-free; memory kept: one edit per leading dot or bare line ending,
    /// at most one per 512 octets).
    #[must_use]
    pub fn new(bytes: &'a [u8]) -> Self {
        let mut scan = Scanner::new(true, true);
        let mut rec = Recorder {
            base: bytes.as_ptr() as usize,
            cur: 0,
            edits: Vec::new(),
            crlf: 0,
            cap: 16 + bytes.len() / EDIT_SPACING,
            over: false,
            _body: PhantomData,
        };
        scan.feed(bytes, usize::MAX, &mut rec);
        scan.end_input();
        let crlf = rec.crlf;
        let edits = (!rec.over).then_some(rec.edits);
        ScannedBody {
            bytes,
            scan,
            edits,
            crlf,
        }
    }

    /// The body.
    #[must_use]
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Some octet is >= 0x80 (the body needs `BODY=8BITMIME` or `BINARYMIME`).
    #[must_use]
    pub fn eight_bit(&self) -> bool {
        self.scan.stats().has_8bit
    }

    /// The first [`BodyViolation`] (as [`check_body`](super::check_body) orders them);
    /// with `allow_long_lines` only a NUL counts (as [`quick_scan`](super::quick_scan)).
    #[must_use]
    pub fn violation(&self, allow_long_lines: bool) -> Option<BodyViolation> {
        self.data_stats().violation(allow_long_lines)
    }

    /// No bare CR or LF: the normalised body is the body itself.
    #[must_use]
    pub fn is_crlf_clean(&self) -> bool {
        self.crlf == 0
    }

    /// Some line starts with `.` (DATA stuffs a dot before it).
    #[must_use]
    pub fn has_dot_lines(&self) -> bool {
        self.scan.stats().dots_stuffed > 0
    }

    /// Whether there were too many edits to keep (one per 512 octets): the encoder
    /// then scans the body again as it sends it.
    #[must_use]
    pub fn is_dense(&self) -> bool {
        self.edits.is_none()
    }

    /// The stats [`DataEncoder::finish`](super::DataEncoder::finish) returns for this body.
    #[must_use]
    pub fn data_stats(&self) -> BodyStats {
        let mut s = self.scan.clone();
        if !s.at_line_start() {
            s.count_out(CRLF.len());
            s.close_line();
        }
        s.stats()
    }

    /// The stats [`BdatEncoder::finish`](super::BdatEncoder::finish) returns for this
    /// body ([`BdatEncoder::binary`](super::BdatEncoder::binary) with `binary`).
    #[must_use]
    pub fn bdat_stats(&self, binary: bool) -> BodyStats {
        let mut s = self.scan.clone();
        s.close_line();
        let mut st = s.stats();
        st.bytes_out -= st.dots_stuffed;
        st.dots_stuffed = 0;
        if binary {
            st.bytes_out = st.bytes_in;
            st.normalized = false;
        }
        st
    }

    fn id(&self) -> (usize, usize) {
        (self.bytes.as_ptr() as usize, self.bytes.len())
    }
}

/// A `BDAT <n>\r\n` or `BDAT <n> LAST\r\n` command line, held inline.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    buf: [u8; 32],
    start: u8,
    end: u8,
}

impl FrameHeader {
    /// The header of a frame of `size` octets, the last one with `last`.
    #[must_use]
    pub fn new(size: u64, last: bool) -> Self {
        let mut buf = [0u8; 32];
        let mut w = &mut buf[..];
        // At most 5 + 20 + 5 + 2 = 32 octets: it always fits.
        let _ = write!(w, "BDAT {size}{}\r\n", if last { " LAST" } else { "" });
        let end = (32 - w.len()) as u8;
        FrameHeader { buf, start: 0, end }
    }

    /// The octets not written yet.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[usize::from(self.start)..usize::from(self.end)]
    }
}

impl std::fmt::Debug for FrameHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "FrameHeader({:?})",
            String::from_utf8_lossy(self.as_bytes())
        )
    }
}

/// One piece of a body's encoding for a vectored write: a slice of the caller's body or
/// of static storage (`.`, CRLF, `.\r\n`), or a BDAT frame header held inline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodySegment<'a> {
    /// Borrowed octets.
    Slice(&'a [u8]),
    /// A BDAT command line.
    Header(FrameHeader),
}

impl BodySegment<'_> {
    /// The octets of this segment (not written yet).
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            BodySegment::Slice(s) => s,
            BodySegment::Header(h) => h.as_bytes(),
        }
    }

    /// Its length in octets.
    #[must_use]
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether it holds no octet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops the first `n` octets (written); all of them if `n` is larger.
    pub fn advance(&mut self, n: usize) {
        match self {
            BodySegment::Slice(s) => *s = &s[n.min(s.len())..],
            BodySegment::Header(h) => {
                let left = usize::from(h.end - h.start);
                h.start += n.min(left) as u8;
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Data,
    Bdat { chunk: u64, binary: bool },
}

/// Encodes one [`ScannedBody`] as DATA content (dot-stuffed, CRLF, then `.\r\n`) or as
/// BDAT frames, into [`BodySegment`]s, from the edits its scan recorded: the body itself
/// is not read again (unless it is [dense](ScannedBody::is_dense)) and never copied.
///
/// The output is octet for octet that of [`DataEncoder`](super::DataEncoder) (then
/// `finish`) or [`BdatEncoder`](super::BdatEncoder) (then `finish`) fed the same body,
/// however it is split between calls: BDAT frames hold exactly `chunk_size` octets, the
/// last one `BDAT <rest> LAST` (`BDAT 0 LAST` when the body ends on a frame boundary).
/// Since the body's encoded length is known from the scan, each frame's header goes out
/// before its payload, which stays in the caller's buffer.
///
/// ```
/// use smtp_proto::body::{BodySegment, ScannedBody, ScannedEncoder};
///
/// let body = ScannedBody::new(b"Hello\nworld\n");
/// let mut enc = ScannedEncoder::bdat(&body, 8, false);
/// let mut segs = Vec::new();
/// assert_eq!(enc.encode(&body, usize::MAX, &mut segs), 12);
/// assert!(enc.is_done());
/// let wire: Vec<u8> = segs.iter().flat_map(|s| s.as_bytes().to_vec()).collect();
/// assert_eq!(wire, b"BDAT 8\r\nHello\r\nwBDAT 6 LAST\r\norld\r\n");
/// ```
#[derive(Clone, Debug)]
pub struct ScannedEncoder {
    mode: Mode,
    /// The body this encoder is for (address, length).
    body: (usize, usize),
    /// Body octets taken.
    pos: usize,
    /// Index of the next edit to apply.
    next_edit: usize,
    /// Payload octets produced (for DATA: content octets, without the terminator).
    out: u64,
    /// BDAT: the payload octets of the whole body.
    total: u64,
    /// The scanner of a dense body, scanning it again as it goes.
    rescan: Option<Scanner>,
    /// Whether the body's end (terminator, last frame) is out.
    done: bool,
    /// The final stats.
    stats: BodyStats,
    /// Whether the body ends at a line start (DATA adds no CRLF then).
    at_line_start: bool,
}

impl ScannedEncoder {
    /// An encoder of `body` as DATA content.
    #[must_use]
    pub fn data(body: &ScannedBody<'_>) -> Self {
        Self::with_mode(body, Mode::Data, body.data_stats(), body.crlf > 0)
    }

    /// An encoder of `body` as BDAT frames of `chunk_size` octets (at least 1; 0 is
    /// treated as 1), normalising line endings, or passing every octet through with
    /// `binary` (`BODY=BINARYMIME`), as [`BdatEncoder`](super::BdatEncoder) does.
    #[must_use]
    pub fn bdat(body: &ScannedBody<'_>, chunk_size: usize, binary: bool) -> Self {
        let mode = Mode::Bdat {
            chunk: chunk_size.max(1) as u64,
            binary,
        };
        let stats = body.bdat_stats(binary);
        let mut e = Self::with_mode(body, mode, stats, !binary && body.crlf > 0);
        e.total = stats.bytes_out;
        e
    }

    fn with_mode(body: &ScannedBody<'_>, mode: Mode, stats: BodyStats, edits: bool) -> Self {
        let edits = edits || (mode == Mode::Data && body.has_dot_lines());
        let rescan = match mode {
            _ if !edits || !body.is_dense() => None,
            Mode::Data => Some(Scanner::new(true, true)),
            Mode::Bdat { binary, .. } => Some(Scanner::new(false, !binary)),
        };
        ScannedEncoder {
            mode,
            body: body.id(),
            pos: 0,
            next_edit: 0,
            out: 0,
            total: 0,
            rescan,
            done: false,
            stats,
            at_line_start: body.scan.at_line_start(),
        }
    }

    /// Whether this encoder is for `body` (the same bytes, at the same address).
    #[must_use]
    pub fn is_for(&self, body: &ScannedBody<'_>) -> bool {
        self.body == body.id()
    }

    /// Whether the body's segments are short (it is [dense](ScannedBody::is_dense) and
    /// needs edits): copying them is then cheaper than writing them one by one.
    #[must_use]
    pub fn is_dense(&self) -> bool {
        self.rescan.is_some()
    }

    /// Whether the whole body and its end (the terminator, or the last frame) are out.
    #[must_use]
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Body octets taken so far.
    #[must_use]
    pub fn taken(&self) -> usize {
        self.pos
    }

    /// Payload octets produced so far (for BDAT, of the frames begun; for DATA, the
    /// content without the final CRLF and terminator).
    #[must_use]
    pub fn payload_out(&self) -> u64 {
        self.out
    }

    /// The frame size (BDAT), or `None` (DATA).
    #[must_use]
    pub fn chunk_size(&self) -> Option<u64> {
        match self.mode {
            Mode::Data => None,
            Mode::Bdat { chunk, .. } => Some(chunk),
        }
    }

    /// The final stats (as the streaming encoder's `finish` returns them), known from
    /// the scan.
    #[must_use]
    pub fn stats(&self) -> BodyStats {
        self.stats
    }

    /// Takes up to `max` more octets of `body` and appends their encoding to `out`;
    /// once the last octet is taken, also the end (DATA: a CRLF if the last line is
    /// unterminated, then `.\r\n`; BDAT: `BDAT 0 LAST\r\n` if the body ended on a frame
    /// boundary). Returns the octets taken (0 for another body: see
    /// [`is_for`](Self::is_for)).
    pub fn encode<'a>(
        &mut self,
        body: &ScannedBody<'a>,
        max: usize,
        out: &mut Vec<BodySegment<'a>>,
    ) -> usize {
        if self.done || !self.is_for(body) {
            return 0;
        }
        let bytes = body.bytes;
        let start = self.pos;
        let end = start + max.min(bytes.len() - start);
        if let Some(mut scan) = self.rescan.take() {
            scan.feed(&bytes[start..end], usize::MAX, &mut |s: &'a [u8]| {
                self.put(s, out);
            });
            self.rescan = Some(scan);
        } else {
            let edits: &[Edit] = match (&body.edits, self.mode) {
                (_, Mode::Bdat { binary: true, .. }) | (None, _) => &[],
                (Some(e), _) => e,
            };
            let mut cur = start;
            while let Some(&e) = edits.get(self.next_edit)
                && e.at() < end
            {
                self.next_edit += 1;
                let (at, insert, skip) = match e {
                    Edit::Dot(_) if self.mode != Mode::Data => continue,
                    Edit::Dot(at) => (at, DOT, 0),
                    Edit::Crlf(at) => (at, CRLF, 1),
                };
                if at > cur {
                    self.put(&bytes[cur..at], out);
                }
                self.put(insert, out);
                cur = at + skip;
            }
            if end > cur {
                self.put(&bytes[cur..end], out);
            }
        }
        self.pos = end;
        if end == bytes.len() {
            self.done = true;
            match self.mode {
                Mode::Data => {
                    if !self.at_line_start {
                        out.push(BodySegment::Slice(CRLF));
                    }
                    out.push(BodySegment::Slice(TERMINATOR));
                }
                Mode::Bdat { chunk, .. } => {
                    if self.total.is_multiple_of(chunk) {
                        out.push(BodySegment::Header(FrameHeader::new(0, true)));
                    }
                }
            }
        }
        end - start
    }

    /// Appends payload `s`, opening BDAT frames where they start.
    #[inline]
    fn put<'a>(&mut self, mut s: &'a [u8], out: &mut Vec<BodySegment<'a>>) {
        let Mode::Bdat { chunk, .. } = self.mode else {
            self.out += s.len() as u64;
            out.push(BodySegment::Slice(s));
            return;
        };
        while !s.is_empty() {
            let into = self.out % chunk;
            if into == 0 {
                let rest = self.total.saturating_sub(self.out);
                out.push(BodySegment::Header(if rest >= chunk {
                    FrameHeader::new(chunk, false)
                } else {
                    FrameHeader::new(rest, true)
                }));
            }
            let k = (chunk - into).min(s.len() as u64) as usize;
            out.push(BodySegment::Slice(&s[..k]));
            self.out += k as u64;
            s = &s[k..];
        }
    }
}
