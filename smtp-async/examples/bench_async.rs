//! Benchmark client for `shared/bench` (the CLI contract of its README) on tokio:
//!
//! ```text
//! bench-async --server 127.0.0.1:PORT --messages N --size BYTES --rcpts R --connections C
//! ```
//!
//! C concurrent connections on one tokio thread (the sink has the other core), each
//! reused for all its messages and pipelined: the end of data shares a write with the next
//! MAIL/RCPT/DATA. Messages over 4 MiB are streamed. Prints `sent=N seconds=S`.
//!
//! Beyond the contract: `--tls starttls|implicit` (with `--ca FILE` to trust a test CA)
//! and `--bdat 1` (bodies sent with BDAT).

use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use smtp_async::{Body, Options, SmtpClient, TlsOptions, TlsPolicy, envelope};

#[path = "../../smtp-blocking/examples/common/bench_message.rs"]
mod bench_message;

use bench_message::{
    FROM, HELO, STREAM_ABOVE, StreamMessage, StreamParts, build_message, rcpt, share,
};

impl futures_io::AsyncRead for StreamMessage<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(std::io::Read::read(self.get_mut(), buf))
    }
}

enum Message {
    Bytes(Vec<u8>),
    Stream(StreamParts),
}

fn main() {
    let args = bench_message::parse_args();
    let message = Arc::new(if args.size > STREAM_ABOVE {
        Message::Stream(StreamParts::new(args.size, args.rcpts))
    } else {
        Message::Bytes(build_message(args.size, args.rcpts))
    });
    let to: Arc<Vec<String>> = Arc::new((0..args.rcpts).map(rcpt).collect());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (conns, messages, bdat) = (args.conns, args.messages, args.bdat);
    let opts = options(&args.tls, args.ca.as_deref()).unwrap_or_else(|e| {
        let _ = writeln!(std::io::stderr(), "bench-async: {e}");
        std::process::exit(2)
    });
    let (sent, failed, seconds) = rt.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..conns)
            .map(|k| {
                let (server, message, to) = (args.server.clone(), message.clone(), to.clone());
                let opts = opts.clone();
                tokio::spawn(async move {
                    let n = share(messages, conns, k);
                    run_connection(&server, opts, bdat, n, &message, &to).await
                })
            })
            .collect();
        let (mut sent, mut failed) = (0, false);
        for t in tasks {
            match t.await {
                Ok(Ok(n)) => sent += n,
                Ok(Err(e)) => {
                    failed = true;
                    let _ = writeln!(std::io::stderr(), "bench-async: {e}");
                }
                Err(e) => {
                    failed = true;
                    let _ = writeln!(std::io::stderr(), "bench-async: task failed: {e}");
                }
            }
        }
        (sent, failed, start.elapsed().as_secs_f64())
    });
    let _ = writeln!(std::io::stdout(), "sent={sent} seconds={seconds:.6}");
    std::process::exit(i32::from(failed || sent != messages));
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

async fn run_connection(
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
    let mut c = SmtpClient::connect(server, opts)
        .await
        .map_err(|e| e.to_string())?;
    let to: Vec<&str> = to.iter().map(String::as_str).collect();
    let mut env = envelope(FROM, &to).map_err(|e| e.to_string())?;
    env.prefer_bdat = bdat;
    let mut sent = 0;
    let mut first_err = None;
    let mut readers: Vec<StreamMessage<'_>> = match message {
        Message::Stream(parts) => (0..n).map(|_| parts.reader()).collect(),
        Message::Bytes(_) => Vec::new(),
    };
    // Collected first: a lazy iterator of borrowed bodies trips rustc's higher-ranked
    // lifetime check on `Send` futures.
    let mut batch = Vec::with_capacity(n as usize);
    match message {
        Message::Bytes(m) => batch.extend((0..n).map(|_| (env.clone(), Body::Bytes(m)))),
        Message::Stream(_) => {
            batch.extend(readers.iter_mut().map(|r| (env.clone(), Body::Reader(r))));
        }
    }
    c.send_all(batch, |_, r| match r {
        Ok(rep) if rep.recipients.iter().all(|r| r.accepted) => sent += 1,
        Ok(_) => {
            first_err.get_or_insert_with(|| "a recipient was refused".to_owned());
        }
        Err(e) => {
            first_err.get_or_insert_with(|| e.to_string());
        }
    })
    .await
    .map_err(|e| e.to_string())?;
    c.quit().await.map_err(|e| e.to_string())?;
    match first_err {
        Some(e) => Err(e),
        None => Ok(sent),
    }
}
