//! The BDAT (RFC 3030 CHUNKING) encoder.

use std::io::Write as _;

use super::BodyStats;
use super::scan::Scanner;

/// Runs of input are handed over at least this often (they are copied right away).
const FLUSH: usize = 16 * 1024;

/// Streaming BDAT encoder (RFC 3030): frames the body as `BDAT <n>\r\n` followed by
/// exactly n octets, every frame but the last holding exactly `chunk_size` octets, and
/// the last one sent as `BDAT <n> LAST\r\n` (`BDAT 0 LAST\r\n` when the body ended on a
/// frame boundary or is empty).
///
/// Line endings are normalised to CRLF as by [`DataEncoder`](super::DataEncoder) (but no
/// CRLF is appended to an unterminated last line: BDAT carries the octets as they are),
/// and there is no dot-stuffing. [`BdatEncoder::binary`] passes every byte through
/// unchanged, for `BODY=BINARYMIME`.
///
/// Since a frame's size precedes its bytes, the encoder keeps the unfinished frame's
/// payload between calls: memory is bounded by the chunk size. Within one
/// [`encode`](Self::encode) call, full frames are written straight into `out`.
///
/// ```
/// use smtp_proto::body::BdatEncoder;
///
/// let mut enc = BdatEncoder::new(8);
/// let mut wire = Vec::new();
/// enc.encode(b"Hello\nworld\n", &mut wire);
/// let stats = enc.finish(&mut wire);
/// assert_eq!(wire, b"BDAT 8\r\nHello\r\nwBDAT 6 LAST\r\norld\r\n");
/// assert_eq!(stats.bytes_out, 14);
/// ```
#[derive(Clone, Debug)]
pub struct BdatEncoder {
    scan: Scanner,
    chunk_size: usize,
    /// `BDAT <chunk_size>\r\n`.
    header: Vec<u8>,
    /// Payload of the unfinished frame (fewer than `chunk_size` octets).
    pending: Vec<u8>,
}

impl BdatEncoder {
    /// An encoder that normalises line endings to CRLF, with frames of `chunk_size`
    /// octets (at least 1; 0 is treated as 1).
    #[must_use]
    pub fn new(chunk_size: usize) -> Self {
        Self::with_scanner(chunk_size, Scanner::new(false, true))
    }

    /// An encoder in binary mode (`BODY=BINARYMIME`): bytes are framed but never altered.
    /// Bare CR/LF are still counted in the stats.
    ///
    /// ```
    /// use smtp_proto::body::BdatEncoder;
    ///
    /// let mut enc = BdatEncoder::binary(1 << 20);
    /// let mut wire = Vec::new();
    /// enc.encode(b"a\nb\r\0", &mut wire);
    /// let stats = enc.finish(&mut wire);
    /// assert_eq!(wire, b"BDAT 5 LAST\r\na\nb\r\0");
    /// assert_eq!((stats.bare_lf, stats.bare_cr, stats.has_nul), (1, 1, true));
    /// ```
    #[must_use]
    pub fn binary(chunk_size: usize) -> Self {
        Self::with_scanner(chunk_size, Scanner::new(false, false))
    }

    fn with_scanner(chunk_size: usize, scan: Scanner) -> Self {
        let chunk_size = chunk_size.max(1);
        let mut header = Vec::with_capacity(32);
        let _ = write!(header, "BDAT {chunk_size}\r\n");
        Self {
            scan,
            chunk_size,
            header,
            pending: Vec::new(),
        }
    }

    /// The configured frame size.
    #[must_use]
    pub fn chunk_size(&self) -> usize {
        self.chunk_size
    }

    /// Encodes the next chunk of the body, appending every completed frame (command line
    /// and payload) to `out`; an incomplete frame stays inside the encoder.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let Self {
            scan,
            chunk_size,
            header,
            pending,
        } = self;
        let size = *chunk_size;
        if pending.len() + input.len() < size {
            // Cannot complete a frame: buffer only (the output may grow by the bare
            // line endings, then the frame completes on a later call).
            scan.feed(input, FLUSH, &mut |s: &[u8]| {
                append(pending, size, header, s, out)
            });
            return;
        }
        // Open a frame in `out` speculatively, with the full-size header, and write the
        // payload straight after it; take the unfinished tail back at the end.
        out.reserve(header.len() + input.len() + input.len() / 64 + pending.len());
        let mut frame_start = out.len();
        out.extend_from_slice(header);
        out.extend_from_slice(pending);
        let mut filled = pending.len();
        pending.clear();
        scan.feed(input, FLUSH, &mut |mut s: &[u8]| {
            while s.len() >= size - filled {
                let (now, rest) = s.split_at(size - filled);
                out.extend_from_slice(now);
                s = rest;
                frame_start = out.len();
                out.extend_from_slice(header);
                filled = 0;
            }
            out.extend_from_slice(s);
            filled += s.len();
        });
        pending.extend_from_slice(&out[frame_start + header.len()..]);
        out.truncate(frame_start);
    }

    /// Ends the body: appends the last frame, `BDAT <n> LAST\r\n` and its payload. Returns
    /// the final stats and resets the encoder for a new message.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> BodyStats {
        self.scan.end_input();
        self.scan.close_line();
        let _ = write!(out, "BDAT {} LAST\r\n", self.pending.len());
        out.extend_from_slice(&self.pending);
        self.pending.clear();
        let stats = self.scan.stats();
        self.scan.reset();
        stats
    }

    /// Stats so far (payload octets still buffered in the encoder count as output).
    #[must_use]
    pub fn stats(&self) -> BodyStats {
        self.scan.stats()
    }
}

/// Appends `s` to the pending frame, flushing frames that fill up.
fn append(pending: &mut Vec<u8>, size: usize, header: &[u8], mut s: &[u8], out: &mut Vec<u8>) {
    while pending.len() + s.len() >= size {
        let (now, rest) = s.split_at(size - pending.len());
        out.extend_from_slice(header);
        out.extend_from_slice(pending);
        out.extend_from_slice(now);
        pending.clear();
        s = rest;
    }
    pending.extend_from_slice(s);
}
