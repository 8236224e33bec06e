//! Shared pieces of the benchmark clients: the CLI contract, the message
//! generator and the result line. Every client binary in this package (and
//! every client plugged into ../run.sh) must accept
//!
//!   --server HOST:PORT --messages N --size BYTES --rcpts R --connections C
//!
//! send N messages whose body is exactly BYTES bytes to R recipients each,
//! spread over C connections that are each reused for many messages, and
//! print exactly one line `sent=N seconds=S` on stdout (S = wall time from
//! before the first connect until the last connection is closed).
//! Exit status must be non-zero on any SMTP or I/O failure.

use std::time::Instant;

pub const FROM: &str = "sender@example.test";
pub const HELO: &str = "bench.example.test";

#[derive(Debug, Clone)]
pub struct Args {
    pub host: String,
    pub port: u16,
    pub messages: u64,
    pub size: usize,
    pub rcpts: usize,
    pub connections: usize,
    /// Flags not in the contract (client-specific variants), e.g. `--variant pool`.
    pub extra: Vec<(String, String)>,
}

impl Args {
    pub fn extra(&self, key: &str) -> Option<&str> {
        self.extra.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
    pub fn server(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

pub fn die(msg: &str) -> ! {
    eprintln!("error: {msg}");
    eprintln!("usage: CLIENT --server HOST:PORT --messages N --size BYTES --rcpts R --connections C");
    std::process::exit(2)
}

pub fn parse_args() -> Args {
    let mut it = std::env::args().skip(1);
    let (mut server, mut messages, mut size, mut rcpts, mut conns) = (None, None, None, None, None);
    let mut extra = Vec::new();
    while let Some(flag) = it.next() {
        let val = it.next().unwrap_or_else(|| die(&format!("missing value for {flag}")));
        match flag.as_str() {
            "--server" => server = Some(val),
            "--messages" => messages = Some(val.parse().unwrap_or_else(|_| die("bad --messages"))),
            "--size" => size = Some(val.parse().unwrap_or_else(|_| die("bad --size"))),
            "--rcpts" => rcpts = Some(val.parse().unwrap_or_else(|_| die("bad --rcpts"))),
            "--connections" => conns = Some(val.parse().unwrap_or_else(|_| die("bad --connections"))),
            f if f.starts_with("--") => extra.push((f[2..].to_string(), val)),
            f => die(&format!("unexpected argument {f}")),
        }
    }
    let server = server.unwrap_or_else(|| die("--server is required"));
    let (host, port) = server.rsplit_once(':').unwrap_or_else(|| die("--server must be HOST:PORT"));
    let port: u16 = port.parse().unwrap_or_else(|_| die("bad port"));
    let connections: usize = conns.unwrap_or(1);
    if connections == 0 {
        die("--connections must be >= 1");
    }
    Args {
        host: host.to_string(),
        port,
        messages: messages.unwrap_or_else(|| die("--messages is required")),
        size: size.unwrap_or_else(|| die("--size is required")),
        rcpts: rcpts.unwrap_or(1).max(1),
        connections,
        extra,
    }
}

/// Recipient address number `i` (0-based).
pub fn rcpt(i: usize) -> String {
    format!("rcpt{}@example.test", i + 1)
}

pub fn rcpts(n: usize) -> Vec<String> {
    (0..n).map(rcpt).collect()
}

/// How many messages connection `k` of `c` sends (static, even split).
pub fn share(total: u64, c: usize, k: usize) -> u64 {
    let c = c as u64;
    total / c + u64::from((k as u64) < total % c)
}

const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/";
pub const LINE_CHARS: usize = 76;

/// Minimal RFC 5322 header block (ends with the empty line).
pub fn header(rcpts: usize) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(format!("From: <{FROM}>\r\n").as_bytes());
    h.extend_from_slice(format!("To: <{}>\r\n", rcpt(0)).as_bytes());
    let _ = rcpts; // the header is the same whatever the recipient count
    h.extend_from_slice(b"Subject: smtp bench\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\nMessage-ID: <bench@example.test>\r\n\r\n");
    h
}

/// Appends exactly `size` body bytes: lines of 76 ASCII chars + CRLF (the
/// last line is shorter so the total is exact). Line `i` starts with
/// ALPHABET[i % 64], so no line starts with '.'.
pub fn append_body(out: &mut Vec<u8>, size: usize) {
    out.reserve(size);
    let mut left = size;
    let mut line = 0usize;
    while left > 0 {
        let take = left.min(LINE_CHARS + 2);
        if take <= 2 {
            // too short for text + CRLF: pad with text
            for _ in 0..take {
                out.push(b'x');
            }
            break;
        }
        for j in 0..take - 2 {
            out.push(ALPHABET[(line + j) % ALPHABET.len()]);
        }
        out.extend_from_slice(b"\r\n");
        left -= take;
        line += 1;
    }
}

/// Whole message (header + body of exactly `size` bytes).
pub fn build_message(size: usize, rcpts: usize) -> Vec<u8> {
    let mut m = header(rcpts);
    append_body(&mut m, size);
    m
}

/// The same message split for streaming APIs without holding it whole:
/// the body text repeats every 64 lines (64 * 78 bytes), so it is one
/// reusable chunk sent `n_chunks` times plus a short tail.
pub struct StreamParts {
    pub header: Vec<u8>,
    pub chunk: Vec<u8>,
    pub n_chunks: usize,
    pub tail: Vec<u8>,
}

pub const PERIOD: usize = 64 * (LINE_CHARS + 2);

impl StreamParts {
    pub fn new(size: usize, rcpts: usize) -> Self {
        let chunk_len = 13 * PERIOD; // 64,896 bytes
        let n_chunks = size / chunk_len;
        let mut chunk = Vec::new();
        append_body(&mut chunk, chunk_len);
        let mut tail = Vec::new();
        append_body(&mut tail, size - n_chunks * chunk_len);
        StreamParts { header: header(rcpts), chunk, n_chunks, tail }
    }
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        std::iter::once(&self.header[..])
            .chain(std::iter::repeat(&self.chunk[..]).take(self.n_chunks))
            .chain(std::iter::once(&self.tail[..]))
    }
}

pub struct Timer(Instant);
impl Timer {
    pub fn start() -> Self {
        Timer(Instant::now())
    }
    pub fn report(&self, sent: u64) {
        println!("sent={} seconds={:.6}", sent, self.0.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn body_is_exact() {
        for size in [0, 1, 2, 3, 77, 78, 79, 1024, 1 << 20] {
            let mut b = Vec::new();
            append_body(&mut b, size);
            assert_eq!(b.len(), size);
            assert!(!b.split(|&c| c == b'\n').any(|l| l.first() == Some(&b'.')));
        }
    }
    #[test]
    fn stream_parts_match() {
        for size in [0, 5, 1024, 64_896, 64_897, 3 * 64_896 + 1000, 1 << 20] {
            let sp = StreamParts::new(size, 3);
            let joined: Vec<u8> = sp.iter().flatten().copied().collect();
            assert_eq!(joined, build_message(size, 3));
        }
    }
    #[test]
    fn shares_add_up() {
        for (n, c) in [(5000u64, 1usize), (20000, 8), (7, 3)] {
            assert_eq!((0..c).map(|k| share(n, c, k)).sum::<u64>(), n);
        }
    }
}

/// `--tls none|starttls|implicit` (not in the contract; default none).
pub fn tls_mode(a: &Args) -> &str {
    a.extra("tls").unwrap_or("none")
}

/// A rustls client configuration (ring) trusting only the PEM CA of `--ca FILE`.
pub fn rustls_client_config(a: &Args) -> std::sync::Arc<rustls::ClientConfig> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let path = a.extra("ca").unwrap_or_else(|| die("--tls needs --ca FILE"));
    let pem = std::fs::read(path).unwrap_or_else(|e| die(&format!("{path}: {e}")));
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(&pem) {
        roots.add(c.expect("CA PEM")).expect("CA certificate");
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    std::sync::Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// The PEM bytes of `--ca FILE`.
pub fn ca_pem(a: &Args) -> Vec<u8> {
    let path = a.extra("ca").unwrap_or_else(|| die("--tls needs --ca FILE"));
    std::fs::read(path).unwrap_or_else(|e| die(&format!("{path}: {e}")))
}
