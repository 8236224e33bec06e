//! Memory of idle sessions: opens N plain sessions (greeting and EHLO done) to a server
//! and prints the process's resident memory per session (Linux `/proc/self/status`).
//!
//! ```text
//! ulimit -n 4096; idle-sessions --server 127.0.0.1:PORT [--sessions 1000]
//! ```

use std::io::Write;
use std::time::Duration;

use smtp_async::{Options, SmtpClient, TlsPolicy};

/// Resident set size in KiB (0 where /proc is missing).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let mut server = None;
    let mut n = 1000usize;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let val = args.next().unwrap_or_default();
        match flag.as_str() {
            "--server" => server = Some(val),
            "--sessions" => n = val.parse().unwrap_or(n),
            _ => {
                let _ = writeln!(
                    std::io::stderr(),
                    "usage: idle-sessions --server HOST:PORT [--sessions N]"
                );
                std::process::exit(2);
            }
        }
    }
    let Some(server) = server else {
        let _ = writeln!(std::io::stderr(), "idle-sessions: --server is required");
        std::process::exit(2);
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let mut opts = Options::new().with_timeout(Duration::from_secs(30));
        opts.core.tls = TlsPolicy::Never;
        opts.helo_name = Some("idle.example.test".into());
        // One session first, so that the runtime, TLS roots and allocator pools are
        // counted in the baseline rather than in the sessions.
        let mut warm = SmtpClient::connect(&server, opts.clone())
            .await
            .expect("connect");
        let before = rss_kib();
        let mut sessions = Vec::with_capacity(n);
        for i in 0..n {
            match SmtpClient::connect(&server, opts.clone()).await {
                Ok(c) => sessions.push(c),
                Err(e) => {
                    let _ = writeln!(std::io::stderr(), "idle-sessions: session {i}: {e}");
                    std::process::exit(1);
                }
            }
        }
        let after = rss_kib();
        let per = (after.saturating_sub(before)) as f64 * 1024.0 / n as f64;
        let _ = writeln!(
            std::io::stdout(),
            "sessions={n} rss_before_kib={before} rss_after_kib={after} bytes_per_session={per:.0}"
        );
        for mut c in sessions {
            let _ = c.quit().await;
        }
        let _ = warm.quit().await;
    });
}
