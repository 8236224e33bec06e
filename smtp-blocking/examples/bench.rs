//! Benchmark client for `shared/bench` (the CLI contract of its README):
//!
//! ```text
//! bench --server 127.0.0.1:PORT --messages N --size BYTES --rcpts R --connections C
//! ```
//!
//! C threads, one connection each, reused for all its messages, pipelined: the next
//! transaction is queued before the previous end-of-data reply, so the end of data shares
//! a write with the next MAIL/RCPT/DATA. Prints `sent=N seconds=S`.
//!
//! Beyond the contract: `--tls starttls|implicit` (with `--ca FILE` to trust a test CA)
//! and `--bdat 1` (bodies sent with BDAT).

use std::io::Write;
use std::time::{Duration, Instant};

use smtp_blocking::{Body, Options, SmtpClient, TlsOptions, TlsPolicy, envelope};

#[path = "common/bench_message.rs"]
mod bench_message;

use bench_message::{
    FROM, HELO, STREAM_ABOVE, StreamMessage, StreamParts, build_message, parse_args, rcpt, share,
};

// ---- the client ----

fn main() {
    let args = parse_args();
    let (server, messages, size, rcpts, conns) = (
        args.server,
        args.messages,
        args.size,
        args.rcpts,
        args.conns,
    );
    let message = if size > STREAM_ABOVE {
        Message::Stream(StreamParts::new(size, rcpts))
    } else {
        Message::Bytes(build_message(size, rcpts))
    };
    let to: Vec<String> = (0..rcpts).map(rcpt).collect();
    let opts = options(&args.tls, args.ca.as_deref()).unwrap_or_else(|e| {
        let _ = writeln!(std::io::stderr(), "bench: {e}");
        std::process::exit(2)
    });
    let bdat = args.bdat;

    let start = Instant::now();
    let results: Vec<Result<u64, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..conns)
            .map(|k| {
                let (server, message, to, opts) = (&server, &message, &to, opts.clone());
                s.spawn(move || {
                    run_connection(server, opts, bdat, share(messages, conns, k), message, to)
                })
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

/// The connection options for `--tls` and `--ca`.
fn options(tls: &str, ca: Option<&str>) -> Result<Options, String> {
    let mut opts = Options::new().with_timeout(Duration::from_secs(120));
    opts.core.tls = match tls {
        "starttls" => TlsPolicy::Required,
        "implicit" => TlsPolicy::Implicit,
        _ => TlsPolicy::Never,
    };
    if let Some(ca) = ca {
        opts.tls_options = TlsOptions::new()
            .with_ca_file(ca)
            .map_err(|e| e.to_string())?;
    }
    opts.helo_name = Some(HELO.into());
    Ok(opts)
}

fn run_connection(
    server: &str,
    opts: Options,
    bdat: bool,
    n: u64,
    message: &Message,
    to: &[String],
) -> Result<u64, String> {
    if n == 0 {
        return Ok(0);
    }
    let mut c = SmtpClient::connect(server, opts).map_err(|e| e.to_string())?;
    let to: Vec<&str> = to.iter().map(String::as_str).collect();
    let mut env = envelope(FROM, &to).map_err(|e| e.to_string())?;
    env.prefer_bdat = bdat;
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
