//! The shared/bench client contract, shared by the `bench` (blocking) and `bench-async`
//! examples: arguments, and the standard message (copied from shared/bench/rust/src/lib.rs).
#![allow(dead_code, missing_docs)]

use std::io::Write;

pub(crate) const FROM: &str = "sender@example.test";
pub(crate) const HELO: &str = "bench.example.test";
pub(crate) const ALPHABET: &[u8] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/";
pub(crate) const LINE_CHARS: usize = 76;

// ---- the standard message, copied from shared/bench/rust/src/lib.rs ----

pub(crate) fn rcpt(i: usize) -> String {
    format!("rcpt{}@example.test", i + 1)
}

pub(crate) fn header(_rcpts: usize) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(format!("From: <{FROM}>\r\n").as_bytes());
    h.extend_from_slice(format!("To: <{}>\r\n", rcpt(0)).as_bytes());
    h.extend_from_slice(b"Subject: smtp bench\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\nMessage-ID: <bench@example.test>\r\n\r\n");
    h
}

pub(crate) fn append_body(out: &mut Vec<u8>, size: usize) {
    out.reserve(size);
    let mut left = size;
    let mut line = 0usize;
    while left > 0 {
        let take = left.min(LINE_CHARS + 2);
        if take <= 2 {
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

/// Lines per period of the body generator (the alphabet is 64 characters long).
pub(crate) const PERIOD: usize = 64 * (LINE_CHARS + 2);

/// Messages above this size are streamed (header, one repeated 64,896-octet chunk, tail)
/// instead of built in memory, like `StreamParts` in shared/bench: constant memory.
pub(crate) const STREAM_ABOVE: usize = 4 << 20;

/// The standard message as a reader that never holds it whole.
pub(crate) struct StreamMessage<'a> {
    parts: &'a StreamParts,
    /// Index of the current part (0 header, 1..=n chunks, n+1 tail) and offset in it.
    part: usize,
    offset: usize,
}

pub(crate) struct StreamParts {
    header: Vec<u8>,
    chunk: Vec<u8>,
    n_chunks: usize,
    tail: Vec<u8>,
}

impl StreamParts {
    pub(crate) fn new(size: usize, rcpts: usize) -> Self {
        let chunk_len = 13 * PERIOD;
        let n_chunks = size / chunk_len;
        let mut chunk = Vec::new();
        append_body(&mut chunk, chunk_len);
        let mut tail = Vec::new();
        append_body(&mut tail, size - n_chunks * chunk_len);
        StreamParts {
            header: header(rcpts),
            chunk,
            n_chunks,
            tail,
        }
    }

    pub(crate) fn reader(&self) -> StreamMessage<'_> {
        StreamMessage {
            parts: self,
            part: 0,
            offset: 0,
        }
    }
}

impl std::io::Read for StreamMessage<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let p = self.parts;
            let cur: &[u8] = match self.part {
                0 => &p.header,
                i if i <= p.n_chunks => &p.chunk,
                i if i == p.n_chunks + 1 => &p.tail,
                _ => return Ok(0),
            };
            if self.offset == cur.len() {
                self.part += 1;
                self.offset = 0;
                continue;
            }
            let n = buf.len().min(cur.len() - self.offset);
            buf[..n].copy_from_slice(&cur[self.offset..self.offset + n]);
            self.offset += n;
            return Ok(n);
        }
    }
}

pub(crate) fn build_message(size: usize, rcpts: usize) -> Vec<u8> {
    let mut m = header(rcpts);
    append_body(&mut m, size);
    m
}

pub(crate) fn share(total: u64, c: usize, k: usize) -> u64 {
    let c = c as u64;
    total / c + u64::from((k as u64) < total % c)
}

/// The contract's arguments.
pub(crate) struct Args {
    pub(crate) server: String,
    pub(crate) messages: u64,
    pub(crate) size: usize,
    pub(crate) rcpts: usize,
    pub(crate) conns: usize,
    /// `--tls starttls|implicit|none` (not in the contract; default none).
    pub(crate) tls: String,
    /// `--ca FILE`: the CA (PEM) to trust for TLS (default: the built-in roots).
    pub(crate) ca: Option<String>,
    /// `--bdat 1`: send bodies with BDAT (CHUNKING) instead of DATA.
    pub(crate) bdat: bool,
}

pub(crate) fn die(msg: &str) -> ! {
    let _ = writeln!(
        std::io::stderr(),
        "bench: {msg}\nusage: bench --server HOST:PORT --messages N --size BYTES --rcpts R --connections C"
    );
    std::process::exit(2)
}

/// Parses `--server HOST:PORT --messages N --size BYTES --rcpts R --connections C`, and
/// the optional `--tls starttls|implicit|none`, `--ca FILE`, `--bdat 0|1`.
pub(crate) fn parse_args() -> Args {
    let mut it = std::env::args().skip(1);
    let (mut server, mut messages, mut size, mut rcpts, mut conns) =
        (None, None, None, 1usize, 1usize);
    let (mut tls, mut ca, mut bdat) = ("none".to_owned(), None, false);
    while let Some(flag) = it.next() {
        let val = it
            .next()
            .unwrap_or_else(|| die(&format!("missing value for {flag}")));
        let num = |v: &str| {
            v.parse::<u64>()
                .unwrap_or_else(|_| die(&format!("bad {flag}")))
        };
        match flag.as_str() {
            "--server" => server = Some(val),
            "--messages" => messages = Some(num(&val)),
            "--size" => size = Some(num(&val) as usize),
            "--rcpts" => rcpts = (num(&val) as usize).max(1),
            "--connections" => conns = num(&val) as usize,
            "--tls" if ["none", "starttls", "implicit"].contains(&val.as_str()) => tls = val,
            "--ca" => ca = Some(val),
            "--bdat" => bdat = num(&val) != 0,
            f => die(&format!("unexpected argument {f}")),
        }
    }
    let args = Args {
        server: server.unwrap_or_else(|| die("--server is required")),
        messages: messages.unwrap_or_else(|| die("--messages is required")),
        size: size.unwrap_or_else(|| die("--size is required")),
        rcpts,
        conns,
        tls,
        ca,
        bdat,
    };
    if args.conns == 0 {
        die("--connections must be >= 1");
    }
    args
}
