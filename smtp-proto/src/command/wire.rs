//! Byte sinks: the same writer code counts, encodes and renders redacted transcripts.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Where encoded bytes go.
pub(crate) trait Sink {
    /// Appends raw bytes.
    fn put(&mut self, b: &[u8]);
    /// Appends the standard (padded) base64 encoding of `data`.
    fn put_base64(&mut self, data: &[u8]);
    /// Appends a decimal number.
    fn put_num(&mut self, n: impl std::fmt::Display) {
        self.put(n.to_string().as_bytes());
    }
}

impl Sink for Vec<u8> {
    fn put(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
    fn put_base64(&mut self, data: &[u8]) {
        let start = self.len();
        self.resize(
            start + base64::encoded_len(data.len(), true).unwrap_or(0),
            0,
        );
        let written = STANDARD.encode_slice(data, &mut self[start..]).unwrap_or(0);
        self.truncate(start + written);
    }
}

/// Counts the bytes that would be written.
#[derive(Default)]
pub(crate) struct Counter(pub(crate) usize);

impl Sink for Counter {
    fn put(&mut self, b: &[u8]) {
        self.0 += b.len();
    }
    fn put_base64(&mut self, data: &[u8]) {
        self.0 += base64::encoded_len(data.len(), true).unwrap_or(usize::MAX / 2);
    }
}
