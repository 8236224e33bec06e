//! Streaming message-body encoders: DATA (RFC 5321 §4.5.2 dot-stuffing) and BDAT
//! (RFC 3030 chunking), with CRLF normalisation and [`BodyStats`].
//!
//! Both encoders take the message in chunks of any size (one byte, empty, or the whole
//! message) and keep constant state between chunks: the output never depends on how the
//! input was split.
//!
//! - [`DataEncoder`] produces the bytes to send after the `354` reply: every bare CR and
//!   bare LF becomes CRLF, every line starting with `.` gets one more `.`, and
//!   [`finish`](DataEncoder::finish) ends the last line if needed and appends the single
//!   `.\r\n` terminator. Because the output holds no bare CR or LF, `<CRLF>.<CRLF>` can
//!   only appear once, at the very end, however leniently a server splits lines: SMTP
//!   smuggling through the encoder is impossible.
//! - [`BdatEncoder`] produces `BDAT <n>\r\n` + n octets frames of a configurable size and
//!   a final `BDAT <n> LAST\r\n`; it normalises line endings too, or passes bytes through
//!   untouched in [binary mode](BdatEncoder::binary) for `BODY=BINARYMIME`.
//! - [`BodyStats`] tells the session what the body needs (`8BITMIME`, `BINARYMIME`) or
//!   whether to refuse it; it is available mid-stream from both encoders.
//! - [`BodyChecker`] and [`check_body`] find the first NUL or over-long line without
//!   encoding (the encoders report the same in [`BodyStats::first_violation`]).
//! - [`ScannedBody`] scans an in-memory body once (stats, the verdicts a client needs
//!   before MAIL, and where its DATA encoding differs from it); [`ScannedEncoder`] then
//!   produces the DATA or BDAT encoding as [`BodySegment`]s (slices of the body, static
//!   inserts, inline BDAT headers) without reading the body again, octet for octet what
//!   the streaming encoders produce.
//! - [`decode_data`] and [`decode_bdat`] are reference receivers for tests and fuzzing.
//!
//! ```
//! use smtp_proto::body::{BodyClass, DataEncoder};
//!
//! let mut enc = DataEncoder::new();
//! let mut wire = Vec::new();
//! enc.encode(b".hidden\nline\r", &mut wire);
//! enc.encode(b"\nlast", &mut wire);
//! let stats = enc.finish(&mut wire);
//! assert_eq!(wire, b"..hidden\r\nline\r\nlast\r\n.\r\n");
//! assert_eq!(stats.bare_lf, 1);
//! assert_eq!(stats.class(), BodyClass::SevenBit);
//! ```

mod bdat;
mod check;
mod data;
mod decode;
mod scan;
mod scanned;

pub use bdat::BdatEncoder;
pub use check::{
    BodyChecker, BodyError, BodyViolation, MAX_TEXT_LINE, QuickScan, check_body, quick_check,
    quick_scan,
};
pub use data::DataEncoder;
pub use decode::{BdatDecoded, BodyDecodeError, DataDecoded, decode_bdat, decode_data};
pub use scanned::{BodySegment, FrameHeader, ScannedBody, ScannedEncoder};

/// What an encoder has seen and produced so far.
///
/// Line lengths count the content octets of the input line, excluding its line ending
/// and any dot added by stuffing (RFC 5321 §4.5.3.1.6 does not count that dot either).
/// A mid-stream snapshot ([`DataEncoder::stats`], [`BdatEncoder::stats`]) counts the
/// unterminated current line as if it ended there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BodyStats {
    /// Input octets consumed.
    pub bytes_in: u64,
    /// Body octets produced: normalised, dot-stuffed, plus the CRLF that `finish` may add;
    /// excluding the DATA terminator `.\r\n` and the BDAT command lines (for BDAT this is
    /// the sum of the declared chunk sizes).
    pub bytes_out: u64,
    /// Number of lines, counting an unterminated last line.
    pub lines: u64,
    /// Some byte is >= 0x80 (needs `8BITMIME` or `BINARYMIME`).
    pub has_8bit: bool,
    /// Some byte is NUL (not allowed in 7bit or 8bitmime content).
    pub has_nul: bool,
    /// Bare CRs (not followed by LF) seen in the input; rewritten as CRLF unless
    /// [`normalized`](Self::normalized) is false.
    pub bare_cr: u64,
    /// Bare LFs (not preceded by CR) seen in the input; rewritten as CRLF unless
    /// [`normalized`](Self::normalized) is false.
    pub bare_lf: u64,
    /// Lines longer than 998 octets (excluding the line ending).
    pub long_lines: u64,
    /// Length of the longest line, excluding its line ending, if it is longer than 512
    /// octets; 0 if no line is. Short lines are not measured, so that the encoders can
    /// skip through ordinary text a block at a time; every line over 512 octets (and so
    /// every line counted in [`long_lines`](Self::long_lines)) is measured exactly.
    pub longest_line: u64,
    /// Dots inserted by DATA dot-stuffing (always 0 for BDAT).
    pub dots_stuffed: u64,
    /// Whether bare CR/LF were rewritten to CRLF (false only in BDAT binary mode).
    pub normalized: bool,
    /// The first octet that only `BODY=BINARYMIME` may carry: a NUL (RFC 5322 §2.3) or a
    /// line longer than [`MAX_TEXT_LINE`] octets with its CRLF (RFC 5321 §4.5.3.1.6),
    /// whichever is sent first (see [`BodyViolation`]). `Some` exactly when
    /// [`has_nul`](Self::has_nul) or [`long_lines`](Self::long_lines) `> 0`. In a
    /// mid-stream snapshot the length of an unfinished long line is its length so far.
    pub first_violation: Option<BodyViolation>,
    /// Input offset of the first NUL octet, if any (known even when an earlier long line
    /// is the `first_violation`).
    pub first_nul: Option<u64>,
}

/// The weakest SMTP body type that can carry a body, from [`BodyStats::class`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BodyClass {
    /// Plain 7-bit text with lines of at most 998 octets: any server accepts it.
    SevenBit,
    /// 8-bit text (no NUL, lines of at most 998 octets): needs `BODY=8BITMIME`.
    EightBit,
    /// Anything else (NUL, long lines, or preserved bare CR/LF): needs
    /// `BODY=BINARYMIME`, hence `CHUNKING` (BDAT); refuse or re-encode otherwise.
    Binary,
}

impl BodyStats {
    /// The weakest body type that carries these bytes unchanged.
    ///
    /// ```
    /// use smtp_proto::body::{BodyClass, DataEncoder};
    ///
    /// let mut enc = DataEncoder::new();
    /// enc.encode("Grüße\n".as_bytes(), &mut Vec::new());
    /// assert_eq!(enc.stats().class(), BodyClass::EightBit);
    /// ```
    #[must_use]
    pub fn class(&self) -> BodyClass {
        let bare = !self.normalized && (self.bare_cr > 0 || self.bare_lf > 0);
        if self.has_nul || self.long_lines > 0 || bare {
            BodyClass::Binary
        } else if self.has_8bit {
            BodyClass::EightBit
        } else {
            BodyClass::SevenBit
        }
    }

    /// The first violation that rules the body out without `BODY=BINARYMIME`:
    /// [`first_violation`](Self::first_violation), or with `allow_long_lines` only the
    /// first NUL.
    pub(crate) fn violation(&self, allow_long_lines: bool) -> Option<BodyViolation> {
        if allow_long_lines {
            self.first_nul.map(|offset| BodyViolation::Nul { offset })
        } else {
            self.first_violation
        }
    }
}
