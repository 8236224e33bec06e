//! The DATA encoder.

use super::BodyStats;
use super::scan::{CRLF, Scanner};

/// The end-of-data line sent by [`DataEncoder::finish`].
pub(super) const TERMINATOR: &[u8] = b".\r\n";

/// The copying form flushes runs of input at least this often, while they are in cache.
const COPY_FLUSH: usize = 16 * 1024;

/// Streaming DATA body encoder (RFC 5321 §4.5.2): CRLF normalisation, dot-stuffing and
/// the end-of-data terminator.
///
/// Its output is the bytes to send after the server's `354` reply (that is, right after
/// the CRLF of the `DATA` command line, which is why a leading `.` on the first line is
/// stuffed too). Feed the body with [`encode`](Self::encode) (copying) or
/// [`encode_with`](Self::encode_with) / [`encode_segments`](Self::encode_segments)
/// (zero-copy, for vectored writes), in chunks of any size, then call
/// [`finish`](Self::finish) once. Both forms produce the same bytes and may be mixed.
///
/// - Bare CR, bare LF and CRLF (even split across two chunks) all become one CRLF.
/// - Each line starting with `.` gets one more `.`.
/// - `finish` adds CRLF unless the body is empty or already ends with a line ending, then
///   `.\r\n`. The empty body is therefore just `.\r\n` (an empty message).
///
/// The output contains no bare CR or LF, so the only `<CRLF>.<CRLF>` (counting the DATA
/// command's own CRLF before it) is the terminator: no body can smuggle an end of data.
/// Memory is constant: nothing of the input is kept between calls.
///
/// ```
/// use smtp_proto::body::DataEncoder;
///
/// let mut enc = DataEncoder::new();
/// let mut wire = Vec::new();
/// for chunk in [&b"Subject: hi\n\n.\r"[..], b"\n.", b"\n"] {
///     enc.encode(chunk, &mut wire);
/// }
/// let stats = enc.finish(&mut wire);
/// assert_eq!(wire, b"Subject: hi\r\n\r\n..\r\n..\r\n.\r\n");
/// assert_eq!(stats.dots_stuffed, 2);
/// ```
#[derive(Clone, Debug)]
pub struct DataEncoder {
    scan: Scanner,
}

impl Default for DataEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl DataEncoder {
    /// A new encoder, at the start of a body.
    #[must_use]
    pub fn new() -> Self {
        Self {
            scan: Scanner::new(true, true),
        }
    }

    /// Appends the encoding of `input` (the next chunk of the body) to `out`.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + input.len() / 64 + 2);
        self.scan
            .feed(input, COPY_FLUSH, &mut |s: &[u8]| out.extend_from_slice(s));
    }

    /// Zero-copy form of [`encode`](Self::encode): passes the encoding of `input` to
    /// `sink` as consecutive segments, each a slice of `input` or a static `.` / `\r\n`.
    /// Concatenated, the segments are exactly what `encode` would append.
    ///
    /// ```
    /// use smtp_proto::body::DataEncoder;
    ///
    /// let mut enc = DataEncoder::new();
    /// let input = b"a\n.b\r\n";
    /// let mut segs: Vec<&[u8]> = Vec::new();
    /// enc.encode_with(input, |s| segs.push(s));
    /// assert_eq!(segs, [&b"a"[..], b"\r\n", b".", b".b\r\n"]);
    /// ```
    pub fn encode_with<'a>(&mut self, input: &'a [u8], mut sink: impl FnMut(&'a [u8])) {
        self.scan.feed(input, usize::MAX, &mut sink);
    }

    /// Zero-copy form that appends the segments of [`encode_with`](Self::encode_with) to
    /// a reusable list, e.g. to map them to `std::io::IoSlice` for a vectored write.
    pub fn encode_segments<'a>(&mut self, input: &'a [u8], segments: &mut Vec<&'a [u8]>) {
        self.encode_with(input, |s| segments.push(s));
    }

    /// Ends the body: appends CRLF if the last line is unterminated, then `.\r\n`.
    /// Returns the final stats and resets the encoder for a new message.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> BodyStats {
        self.finish_with(|s| out.extend_from_slice(s))
    }

    /// Zero-copy form of [`finish`](Self::finish): passes the closing bytes to `sink`.
    pub fn finish_with(&mut self, mut sink: impl FnMut(&'static [u8])) -> BodyStats {
        self.scan.end_input();
        if !self.scan.at_line_start() {
            sink(CRLF);
            self.scan.count_out(CRLF.len());
            self.scan.close_line();
        }
        sink(TERMINATOR);
        let stats = self.scan.stats();
        self.scan.reset();
        stats
    }

    /// Stats so far (e.g. to abort when 8-bit data shows up and the server lacks
    /// `8BITMIME`).
    #[must_use]
    pub fn stats(&self) -> BodyStats {
        self.scan.stats()
    }
}
