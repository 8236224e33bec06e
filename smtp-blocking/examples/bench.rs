//! Benchmark client for `shared/bench` (the CLI contract of its README):
//!
//! ```text
//! bench --server 127.0.0.1:PORT --messages N --size BYTES --rcpts R --connections C
//! ```
//!
//! C threads, one connection each, reused for all its messages, pipelined: the next
//! transaction is queued before the previous end-of-data reply, so the end of data shares
//! a write with the next MAIL/RCPT/DATA. Prints `sent=N seconds=S`.

use std::io::Write;
use std::time::{Duration, Instant};

use smtp_blocking::{Body, Options, SmtpClient, TlsPolicy, envelope};

const FROM: &str = "sender@example.test";
const HELO: &str = "bench.example.test";
const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/";
const LINE_CHARS: usize = 76;

// ---- the standard message, copied from shared/bench/rust/src/lib.rs ----

fn rcpt(i: usize) -> String {
    format!("rcpt{}@example.test", i + 1)
}

fn header(_rcpts: usize) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(format!("From: <{FROM}>\r\n").as_bytes());
    h.extend_from_slice(format!("To: <{}>\r\n", rcpt(0)).as_bytes());
    h.extend_from_slice(b"Subject: smtp bench\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\nMessage-ID: <bench@example.test>\r\n\r\n");
    h
}

fn append_body(out: &mut Vec<u8>, size: usize) {
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
const PERIOD: usize = 64 * (LINE_CHARS + 2);

/// Messages above this size are streamed (header, one repeated 64,896-octet chunk, tail)
/// instead of built in memory, like `StreamParts` in shared/bench: constant memory.
const STREAM_ABOVE: usize = 4 << 20;

/// The standard message as a reader that never holds it whole.
struct StreamMessage<'a> {
    parts: &'a StreamParts,
    /// Index of the current part (0 header, 1..=n chunks, n+1 tail) and offset in it.
    part: usize,
    offset: usize,
}

struct StreamParts {
    header: Vec<u8>,
    chunk: Vec<u8>,
    n_chunks: usize,
    tail: Vec<u8>,
}

impl StreamParts {
    fn new(size: usize, rcpts: usize) -> Self {
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

    fn reader(&self) -> StreamMessage<'_> {
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

fn build_message(size: usize, rcpts: usize) -> Vec<u8> {
    let mut m = header(rcpts);
    append_body(&mut m, size);
    m
}

fn share(total: u64, c: usize, k: usize) -> u64 {
    let c = c as u64;
    total / c + u64::from((k as u64) < total % c)
}

// ---- the client ----

fn die(msg: &str) -> ! {
    let _ = writeln!(
        std::io::stderr(),
        "bench: {msg}\nusage: bench --server HOST:PORT --messages N --size BYTES --rcpts R --connections C"
    );
    std::process::exit(2)
}

fn main() {
    let mut it = std::env::args().skip(1);
    let (mut server, mut messages, mut size, mut rcpts, mut conns) =
        (None, None, None, 1usize, 1usize);
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
            f => die(&format!("unexpected argument {f}")),
        }
    }
    let server = server.unwrap_or_else(|| die("--server is required"));
    let messages = messages.unwrap_or_else(|| die("--messages is required"));
    let size = size.unwrap_or_else(|| die("--size is required"));
    if conns == 0 {
        die("--connections must be >= 1");
    }
    let message = if size > STREAM_ABOVE {
        Message::Stream(StreamParts::new(size, rcpts))
    } else {
        Message::Bytes(build_message(size, rcpts))
    };
    let to: Vec<String> = (0..rcpts).map(rcpt).collect();

    let start = Instant::now();
    let results: Vec<Result<u64, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..conns)
            .map(|k| {
                let (server, message, to) = (&server, &message, &to);
                s.spawn(move || run_connection(server, share(messages, conns, k), message, to))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("thread panicked".into())))
            .collect()
    });
    let seconds = start.elapsed().as_secs_f64();
    let mut sent = 0;
    let mut failed = false;
    for r in results {
        match r {
            Ok(n) => sent += n,
            Err(e) => {
                failed = true;
                let _ = writeln!(std::io::stderr(), "bench: {e}");
            }
        }
    }
    let _ = writeln!(std::io::stdout(), "sent={sent} seconds={seconds:.6}");
    std::process::exit(i32::from(failed || sent != messages));
}

enum Message {
    Bytes(Vec<u8>),
    Stream(StreamParts),
}

fn run_connection(server: &str, n: u64, message: &Message, to: &[String]) -> Result<u64, String> {
    if n == 0 {
        return Ok(0);
    }
    let mut opts = Options::new().with_timeout(Duration::from_secs(120));
    opts.tls = TlsPolicy::Never;
    opts.helo_name = Some(HELO.into());
    let mut c = SmtpClient::connect(server, opts).map_err(|e| e.to_string())?;
    let to: Vec<&str> = to.iter().map(String::as_str).collect();
    let env = envelope(FROM, &to).map_err(|e| e.to_string())?;
    let mut sent = 0;
    let mut first_err = None;
    let mut readers: Vec<StreamMessage<'_>> = match message {
        Message::Stream(parts) => (0..n).map(|_| parts.reader()).collect(),
        Message::Bytes(_) => Vec::new(),
    };
    let mut readers = readers.iter_mut();
    let bodies = (0..n).map(|_| match message {
        Message::Bytes(m) => Body::Bytes(m),
        Message::Stream(_) => match readers.next() {
            Some(r) => Body::Reader(r),
            None => Body::Bytes(&[]),
        },
    });
    c.send_all(bodies.map(|b| (env.clone(), b)), |_, r| match r {
        Ok(rep) if rep.recipients.iter().all(|r| r.accepted) => sent += 1,
        Ok(_) => {
            first_err.get_or_insert_with(|| "a recipient was refused".to_owned());
        }
        Err(e) => {
            first_err.get_or_insert_with(|| e.to_string());
        }
    })
    .map_err(|e| e.to_string())?;
    c.quit().map_err(|e| e.to_string())?;
    match first_err {
        Some(e) => Err(e),
        None => Ok(sent),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn streamed_message_is_the_built_message() {
        for size in [0, 5, 1024, 64_896, 64_897, 3 * 64_896 + 1000, 1 << 20] {
            let parts = StreamParts::new(size, 3);
            let mut streamed = Vec::new();
            let mut r = parts.reader();
            let mut buf = [0u8; 1000];
            loop {
                let n = r.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                streamed.extend_from_slice(&buf[..n]);
            }
            assert_eq!(streamed, build_message(size, 3), "size {size}");
        }
    }
}
