//! Sends a batch of messages through a [`Pool`]: concurrent sends spread over at most C
//! connections, each reused; the pool QUITs them at the end.
//!
//! ```text
//! cargo run -p smtp-async --example pool-batch -- [--server HOST:PORT] [--messages N] [--connections C]
//! ```
//!
//! With no `--server`, an embedded SMTP server on loopback receives the batch. Plain SMTP
//! (no TLS): point it at a test server only.

use std::io::Write;
use std::time::{Duration, Instant};

use smtp_async::{Body, Endpoint, Options, Pool, PoolConfig, TlsPolicy, envelope};

fn main() {
    let mut server = None;
    let (mut messages, mut conns) = (100usize, 4usize);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let val = args.next().unwrap_or_default();
        match flag.as_str() {
            "--server" => server = Some(val),
            "--messages" => messages = val.parse().unwrap_or(messages),
            "--connections" => conns = val.parse().unwrap_or(conns),
            _ => {
                let _ = writeln!(
                    std::io::stderr(),
                    "usage: pool-batch [--server HOST:PORT] [--messages N] [--connections C]"
                );
                std::process::exit(2);
            }
        }
    }
    let embedded = server
        .is_none()
        .then(|| smtp_test_server::TestServer::start(Default::default()));
    let server = server.unwrap_or_else(|| embedded.as_ref().expect("embedded").addr().to_string());

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let failed = rt.block_on(async {
        let mut opts = Options::new().with_timeout(Duration::from_secs(30));
        opts.core.tls = TlsPolicy::Never;
        opts.helo_name = Some("pool.example.test".into());
        let ep = match Endpoint::new(&server, opts) {
            Ok(ep) => ep,
            Err(e) => {
                let _ = writeln!(std::io::stderr(), "pool-batch: {e}");
                return 1;
            }
        };
        let mut cfg = PoolConfig::default();
        cfg.max_connections = conns;
        let pool = Pool::new(cfg);
        let start = Instant::now();
        let tasks: Vec<_> = (0..messages)
            .map(|i| {
                let (pool, ep) = (pool.clone(), ep.clone());
                tokio::spawn(async move {
                    let to = format!("rcpt{i}@example.test");
                    let env = envelope("sender@example.test", &[to.as_str()])?;
                    let body = format!("Subject: message {i}\r\n\r\nHello from the pool.\r\n");
                    pool.send(&ep, env, Body::Bytes(body.as_bytes())).await
                })
            })
            .collect();
        let mut failed = 0;
        for t in tasks {
            match t.await {
                Ok(Ok(report)) if report.any_accepted() => {}
                Ok(Ok(report)) => {
                    failed += 1;
                    let _ = writeln!(std::io::stderr(), "refused: {report:?}");
                }
                Ok(Err(e)) => {
                    failed += 1;
                    let _ = writeln!(std::io::stderr(), "failed: {e}");
                }
                Err(e) => {
                    failed += 1;
                    let _ = writeln!(std::io::stderr(), "task: {e}");
                }
            }
        }
        let idle = pool.idle_count();
        pool.close().await;
        let _ = writeln!(
            std::io::stdout(),
            "sent {} of {messages} messages in {:.3} s over {idle} pooled connections (max {conns})",
            messages - failed,
            start.elapsed().as_secs_f64()
        );
        failed
    });
    if let Some(s) = &embedded {
        let _ = writeln!(
            std::io::stdout(),
            "embedded server: {} sessions, {} messages received",
            s.sessions().len(),
            s.messages().len()
        );
    }
    std::process::exit(i32::from(failed > 0));
}
