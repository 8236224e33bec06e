//! The sink soak: the async pool and blocking `Retrying` clients, at once, against the
//! faulty sink in a child process; then every outcome against the sink's record.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use smtp_async::{Body, Endpoint, Options, Pool, PoolConfig, TlsOptions, TlsPolicy, envelope};

use crate::common::*;
use crate::sink::SinkChild;

/// Settings of a sink soak.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) async_n: u64,
    pub(crate) blocking_n: u64,
    pub(crate) connections: usize,
    pub(crate) threads: usize,
    pub(crate) seed: u64,
    pub(crate) timeout: Duration,
    pub(crate) stall: Duration,
    pub(crate) curve_rows: usize,
}

const FROM: &str = "soak@soak.test";
const TO: &str = "rcpt@soak.test";

fn options(ca_pem: &str, timeout: Duration) -> Options {
    let mut o = Options::new().with_timeout(timeout);
    o.core.tls = TlsPolicy::Required;
    o.helo_name = Some("soak.client.test".into());
    o.tls_options = TlsOptions::new()
        .with_ca_pem(ca_pem.as_bytes())
        .expect("the sink's CA")
        .with_server_name("localhost");
    o
}

/// Runs the soak and prints its summary and checks; whether every check passed.
pub(crate) fn run(s: &Settings) -> bool {
    let run_id = format!("s{}", s.seed);
    let total = (s.async_n + s.blocking_n) as usize;
    println!(
        "soak: {} messages through the async pool ({} connections), {} through the blocking \
         client ({} threads), seed {}, client deadline {:?}, stalls {:?}",
        s.async_n, s.connections, s.blocking_n, s.threads, s.seed, s.timeout, s.stall
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let sink = SinkChild::spawn(s.seed, s.stall).expect("the sink child starts");
    let addr = format!("127.0.0.1:{}", sink.port);
    let opts = options(&sink.ca_pem, s.timeout);
    // Retry what is retry-safe: 6 attempts, 20 ms doubling up to 500 ms, jitter 0.5.
    let policy = retry_policy(6, Duration::from_millis(20), Duration::from_millis(500));

    let outcomes = Arc::new(Outcomes::new(total));
    let fd0 = fd_count();
    let start = Instant::now();
    let monitor = Monitor::start(outcomes.clone(), start);

    // The blocking client: `threads` threads, each with its own `Retrying`.
    let next_b = Arc::new(AtomicU64::new(0));
    let blocking: Vec<_> = (0..s.threads)
        .map(|t| {
            let (outcomes, next, addr, opts, policy) = (
                outcomes.clone(),
                next_b.clone(),
                addr.clone(),
                opts.clone(),
                policy.clone(),
            );
            let (n, base, seed, run_id) = (s.blocking_n, s.async_n, s.seed, run_id.clone());
            std::thread::Builder::new()
                .name(format!("soak-blocking-{t}"))
                .spawn(move || {
                    let mut sender = smtp_blocking::Retrying::new(policy, move || {
                        smtp_blocking::SmtpClient::connect(&addr, opts.clone())
                    });
                    let mut buf = Vec::with_capacity(8192);
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            break;
                        }
                        let id = message_id('b', i, &run_id);
                        build_message(&mut buf, seed, base + i, &id, FROM, TO);
                        let mut env = envelope(FROM, &[TO]).expect("envelope");
                        env.prefer_bdat = i % 4 == 1;
                        let r = sender.send(env, &buf);
                        outcomes.set((base + i) as usize, &r);
                    }
                    sender.quit();
                })
                .expect("blocking thread")
        })
        .collect();

    // The async pool: 4 tasks per connection pull message numbers.
    rt.block_on(async {
        let mut cfg = PoolConfig::default();
        cfg.max_connections = s.connections;
        cfg.retry = policy.clone();
        cfg.check_timeout = s.timeout;
        let pool = Pool::new(cfg);
        let ep = Endpoint::new(&addr, opts.clone()).expect("endpoint");
        let next = Arc::new(AtomicU64::new(0));
        let tasks: Vec<_> = (0..s.connections * 4)
            .map(|_| {
                let (pool, ep, next, outcomes) =
                    (pool.clone(), ep.clone(), next.clone(), outcomes.clone());
                let (n, seed, run_id) = (s.async_n, s.seed, run_id.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::with_capacity(8192);
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            break;
                        }
                        let id = message_id('a', i, &run_id);
                        build_message(&mut buf, seed, i, &id, FROM, TO);
                        let mut env = envelope(FROM, &[TO]).expect("envelope");
                        env.prefer_bdat = i % 4 == 1;
                        let r = pool.send(&ep, env, Body::Bytes(&buf)).await;
                        outcomes.set(i as usize, &r);
                    }
                })
            })
            .collect();
        for t in tasks {
            let _ = t.await;
        }
        pool.close().await;
    });
    for b in blocking {
        let _ = b.join();
    }
    let elapsed = start.elapsed();
    let samples = monitor.finish();
    let fd_end = fd_count();
    let report = sink.finish().expect("the sink's record");

    // Compare.
    let a = outcomes.counts(0..s.async_n as usize);
    let b = outcomes.counts(s.async_n as usize..total);
    let mut received = vec![0u32; total];
    let mut unexpected = 0u64;
    for (key, n) in &report.delivered {
        match parse_id(key, &run_id) {
            Some(('a', i)) if i < s.async_n => received[i as usize] = *n,
            Some(('b', i)) if i < s.blocking_n => received[(s.async_n + i) as usize] = *n,
            _ => unexpected += 1,
        }
    }
    let (mut lost, mut dup, mut refused_got, mut maybe_got) = (0u64, 0u64, 0u64, 0u64);
    let mut examples = Vec::new();
    for (i, &n) in received.iter().enumerate() {
        let o = outcomes.get(i);
        if n > 1 {
            dup += 1;
        }
        match o {
            DELIVERED if n == 0 => lost += 1,
            REFUSED | NOT_DELIVERED | OTHER if n > 0 => refused_got += 1,
            MAYBE if n > 0 => maybe_got += 1,
            _ => continue,
        }
        if examples.len() < 10 && (n != 1 || o != MAYBE) {
            examples.push(format!("message {i}: outcome {o}, received {n} times"));
        }
    }
    let sum = |c: [u64; 6], k: usize| c[k];
    let sent = total as u64;
    let all: [u64; 6] = std::array::from_fn(|k| a[k] + b[k]);
    let st = report.stats;
    let fault_rate = st.faulted_sessions as f64 / st.sessions.max(1) as f64;
    let maybe_rate = all[MAYBE as usize] as f64 / sent.max(1) as f64;

    println!();
    println!(
        "{:<10} {:>9} {:>10} {:>8} {:>14} {:>9} {:>6} {:>6}",
        "client", "sent", "delivered", "refused", "not delivered", "maybe", "other", "none"
    );
    for (name, c, n) in [
        ("async", a, s.async_n),
        ("blocking", b, s.blocking_n),
        ("total", all, sent),
    ] {
        println!(
            "{:<10} {:>9} {:>10} {:>8} {:>14} {:>9} {:>6} {:>6}",
            name,
            n,
            sum(c, 1),
            sum(c, 2),
            sum(c, 3),
            sum(c, 4),
            sum(c, 5),
            sum(c, 0)
        );
    }
    println!(
        "sink: {} sessions, {} messages received ({} of them unanswered), {} refused at the \
         end of data; {} faults injected on {} connections ({:.1}% of connections, {:.2} \
         faults per 100 messages)",
        st.sessions,
        st.messages,
        st.unanswered,
        st.refused,
        st.faults,
        st.faulted_sessions,
        fault_rate * 100.0,
        st.faults as f64 * 100.0 / sent.max(1) as f64
    );
    println!(
        "check: lost {lost}, duplicated {dup}, received although refused/not delivered \
         {refused_got}, may-have-been-delivered received {maybe_got} of {} ({:.3}% of sent), \
         unexpected keys {unexpected}",
        all[MAYBE as usize],
        maybe_rate * 100.0
    );
    println!(
        "time {:.1} s, {:.0} messages/s",
        elapsed.as_secs_f64(),
        sent as f64 / elapsed.as_secs_f64()
    );
    for e in &examples {
        println!("  {e}");
    }
    for e in outcomes.others() {
        println!("  other error: {e}");
    }

    // RSS and fds after the warm-up (the first 10% of the messages).
    let warm = samples.iter().position(|x| x.done * 10 >= sent);
    let (rss_growth, base) = match warm {
        Some(w) => {
            let base = samples[w].rss_kib;
            let max = samples[w..].iter().map(|x| x.rss_kib).max().unwrap_or(base);
            (max.saturating_sub(base) as i64, Some(samples[w]))
        }
        None => (0, None),
    };
    let fd_max = samples.iter().map(|x| x.fds).max().unwrap_or(0);
    println!();
    print_curve(&samples, s.curve_rows);
    match base {
        Some(b) => println!(
            "after warm-up (t = {:.0} s, {} messages): RSS {} KiB, growth after it {} KiB; \
             fds before {fd0}, at most {fd_max}, after {fd_end}",
            b.secs, b.done, b.rss_kib, rss_growth
        ),
        None => println!("too short for a warm-up sample; fds before {fd0}, after {fd_end}"),
    }
    println!();

    let mut c = Checks::default();
    c.check(
        sum(all, 0) == 0,
        "every message has an outcome in the reports",
    );
    c.check(lost == 0, "every delivered message was received (lost = 0)");
    c.check(dup == 0, "no message was received twice (duplicated = 0)");
    c.check(
        refused_got == 0,
        "no refused or not-delivered message was received",
    );
    c.check(
        unexpected == 0,
        "the sink received nothing that was not sent",
    );
    c.check(
        sum(all, 5) == 0,
        "every failure is a refusal, retry-safe or may-have-been-delivered",
    );
    c.check(
        all[DELIVERED as usize] * 100 >= sent * 95,
        "at least 95% delivered",
    );
    c.check(
        fault_rate >= 0.05,
        "faults touched at least 5% of the connections",
    );
    c.check(
        maybe_rate < fault_rate && all[MAYBE as usize] <= st.faults,
        "may-have-been-delivered below the fault rate",
    );
    c.check(
        base.is_none() || rss_growth < 1024,
        "RSS grew less than 1 MiB after the warm-up",
    );
    c.check(
        fd_end <= fd0 && fd_max <= fd0 + (s.connections + s.threads) as u64 * 2 + 8,
        "open fds bounded during the run and back to the start after it",
    );
    c.finish()
}
