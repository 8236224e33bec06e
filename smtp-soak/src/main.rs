//! `soak`: many messages under load and injected faults, then checked against what the
//! server received: nothing lost, nothing sent twice (issue 14). Dev only.
//!
//! ```text
//! soak [--async N] [--blocking M] [--connections 16] [--threads 4] [--seed S]
//!      [--timeout-ms 1000] [--stall-ms 2000] [--curve-rows 12]
//! soak postfix [--messages N] [--connections 16] [--seed S]
//!      [--restart FRACTION:ACTION]... [--lock FILE]
//! ```
//!
//! The first form runs `smtp_sink` (STARTTLS, recording, a seeded fault plan with
//! every fault kind) in a child process, sends N messages through the async pool and M
//! through blocking `Retrying` clients at the same time, samples RSS and open fds every
//! second, and compares each message's outcome with the sink's record. The second sends
//! through Postfix's submission port (the servers of `scripts/servers/start`, from the
//! `SMTP_TEST_*` variables) while `scripts/servers/postfix-ctl` runs ACTION (`reload`,
//! `restart`, ...) once FRACTION of the messages are done, then checks the maildir.
//! Both print one `PASS`/`FAIL` line per check and `N passed, M failed`, and exit 1 when
//! a check failed.
#![allow(clippy::print_stdout)]

mod common;
mod postfix;
mod sink;
mod soak;

use std::time::Duration;

fn usage() -> ! {
    eprintln!(
        "usage: soak [--async N] [--blocking M] [--connections C] [--threads T] [--seed S] \
         [--timeout-ms MS] [--stall-ms MS] [--curve-rows R]\n       \
         soak postfix [--messages N] [--connections C] [--seed S] [--restart FRACTION:ACTION]... \
         [--lock FILE]"
    );
    std::process::exit(2)
}

fn num<T: std::str::FromStr>(v: Option<String>) -> T {
    v.and_then(|v| v.parse().ok()).unwrap_or_else(|| usage())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--sink-child") {
        let seed = num(args.get(1).cloned());
        let stall: u64 = num(args.get(2).cloned());
        let ca = args.get(3).cloned().unwrap_or_else(|| usage());
        std::process::exit(sink::child_main(seed, Duration::from_millis(stall), &ca));
    }
    if args.first().map(String::as_str) == Some("postfix") {
        let mut s = postfix::Settings {
            messages: 2000,
            connections: 16,
            seed: 1,
            restarts: Vec::new(),
            lock: None,
            curve_rows: 12,
        };
        let mut it = args.into_iter().skip(1);
        while let Some(flag) = it.next() {
            match flag.as_str() {
                "--messages" => s.messages = num(it.next()),
                "--connections" => s.connections = num(it.next()),
                "--seed" => s.seed = num(it.next()),
                "--curve-rows" => s.curve_rows = num(it.next()),
                "--lock" => s.lock = Some(it.next().unwrap_or_else(|| usage())),
                "--restart" => {
                    let v = it.next().unwrap_or_else(|| usage());
                    let (f, a) = v.split_once(':').unwrap_or_else(|| usage());
                    s.restarts.push((num(Some(f.to_owned())), a.to_owned()));
                }
                _ => usage(),
            }
        }
        if s.restarts.is_empty() {
            s.restarts = vec![(0.3, "reload".into()), (0.6, "restart".into())];
        }
        std::process::exit(if postfix::run(&s) { 0 } else { 1 });
    }
    let mut s = soak::Settings {
        async_n: 20_000,
        blocking_n: 5_000,
        connections: 16,
        threads: 4,
        seed: 1,
        timeout: Duration::from_millis(1000),
        stall: Duration::from_millis(2000),
        curve_rows: 12,
    };
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--async" => s.async_n = num(it.next()),
            "--blocking" => s.blocking_n = num(it.next()),
            "--connections" => s.connections = num(it.next()),
            "--threads" => s.threads = num(it.next()),
            "--seed" => s.seed = num(it.next()),
            "--timeout-ms" => s.timeout = Duration::from_millis(num(it.next())),
            "--stall-ms" => s.stall = Duration::from_millis(num(it.next())),
            "--curve-rows" => s.curve_rows = num(it.next()),
            _ => usage(),
        }
    }
    std::process::exit(if soak::run(&s) { 0 } else { 1 });
}
