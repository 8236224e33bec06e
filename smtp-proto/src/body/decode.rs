//! Reference receivers, for tests and fuzz targets (not optimised, not for production).

/// Why a reference decoder rejected its input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyDecodeError {
    /// DATA: no `<CRLF>.<CRLF>` end-of-data sequence.
    #[error("no end-of-data line")]
    Unterminated,
    /// BDAT: a command line is not `BDAT <n>\r\n` or `BDAT <n> LAST\r\n`.
    #[error("malformed BDAT command at offset {0}")]
    BadCommand(usize),
    /// BDAT: a frame declares more octets than remain.
    #[error("BDAT frame at offset {0} is truncated")]
    Truncated(usize),
    /// BDAT: the input ended without a `LAST` frame.
    #[error("no BDAT LAST frame")]
    NoLast,
}

/// The result of [`decode_data`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DataDecoded {
    /// The message, with dot-stuffing removed (lines end with CRLF).
    pub body: Vec<u8>,
    /// Octets after the end-of-data line (0 for a well-formed encoder output; anything
    /// else would be read by the server as further commands: smuggling).
    pub trailing: usize,
}

/// The result of [`decode_bdat`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BdatDecoded {
    /// The payloads, concatenated.
    pub body: Vec<u8>,
    /// The declared size of each frame, in order (the last one is the `LAST` frame).
    pub chunk_sizes: Vec<usize>,
    /// Octets after the payload of the `LAST` frame.
    pub trailing: usize,
}

/// Test helper: the RFC 5321 §4.5.2 receiver for DATA.
///
/// `wire` is what follows the CRLF of the `DATA` command (so offset 0 starts a line).
/// Lines are split at CRLF only; a line that is exactly `.` ends the data; otherwise one
/// leading `.` is removed. The returned body keeps the line endings (the CRLF before the
/// end-of-data line belongs to the last line).
///
/// ```
/// use smtp_proto::body::decode_data;
///
/// let d = decode_data(b"..a\r\nb\r\n.\r\nQUIT\r\n").unwrap();
/// assert_eq!(d.body, b".a\r\nb\r\n");
/// assert_eq!(d.trailing, 6);
/// ```
///
/// # Errors
///
/// [`BodyDecodeError::Unterminated`] when no end-of-data line is found.
pub fn decode_data(wire: &[u8]) -> Result<DataDecoded, BodyDecodeError> {
    let mut body = Vec::with_capacity(wire.len());
    let mut pos = 0;
    while pos < wire.len() {
        let rest = &wire[pos..];
        let Some(end) = memchr::memmem::find(rest, b"\r\n") else {
            break;
        };
        let line = &rest[..end];
        if line == b"." {
            return Ok(DataDecoded {
                body,
                trailing: rest.len() - 3,
            });
        }
        let line = line.strip_prefix(b".").unwrap_or(line);
        body.extend_from_slice(line);
        body.extend_from_slice(b"\r\n");
        pos += end + 2;
    }
    Err(BodyDecodeError::Unterminated)
}

/// Test helper: a strict receiver for a sequence of BDAT frames (command lines and
/// payloads), up to and including the `LAST` frame.
///
/// ```
/// use smtp_proto::body::decode_bdat;
///
/// let d = decode_bdat(b"BDAT 3\r\nabcBDAT 0 LAST\r\n").unwrap();
/// assert_eq!(d.body, b"abc");
/// assert_eq!(d.chunk_sizes, [3, 0]);
/// ```
///
/// # Errors
///
/// A malformed command line, a truncated payload, or no `LAST` frame.
pub fn decode_bdat(wire: &[u8]) -> Result<BdatDecoded, BodyDecodeError> {
    let mut body = Vec::with_capacity(wire.len());
    let mut chunk_sizes = Vec::new();
    let mut pos = 0;
    while pos < wire.len() {
        let rest = &wire[pos..];
        let end = memchr::memmem::find(rest, b"\r\n").ok_or(BodyDecodeError::BadCommand(pos))?;
        let line =
            std::str::from_utf8(&rest[..end]).map_err(|_| BodyDecodeError::BadCommand(pos))?;
        let mut words = line.split(' ');
        let (Some("BDAT"), Some(n)) = (words.next(), words.next()) else {
            return Err(BodyDecodeError::BadCommand(pos));
        };
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BodyDecodeError::BadCommand(pos));
        }
        let n: usize = n.parse().map_err(|_| BodyDecodeError::BadCommand(pos))?;
        let last = match (words.next(), words.next()) {
            (None, _) => false,
            (Some("LAST"), None) => true,
            _ => return Err(BodyDecodeError::BadCommand(pos)),
        };
        let payload = &rest[end + 2..];
        if payload.len() < n {
            return Err(BodyDecodeError::Truncated(pos));
        }
        body.extend_from_slice(&payload[..n]);
        chunk_sizes.push(n);
        pos += end + 2 + n;
        if last {
            return Ok(BdatDecoded {
                body,
                chunk_sizes,
                trailing: wire.len() - pos,
            });
        }
    }
    Err(BodyDecodeError::NoLast)
}
