//! The real-server soak: messages through Postfix's submission port (STARTTLS, AUTH) with
//! the async pool while Postfix is reloaded and stopped + started, then checked against
//! the maildir Postfix delivers into.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use smtp_async::{Body, Endpoint, Options, Pool, PoolConfig, TlsOptions, TlsPolicy, envelope};

use crate::common::*;

/// Settings of a Postfix soak.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) messages: u64,
    pub(crate) connections: usize,
    pub(crate) seed: u64,
    /// (fraction of the messages done, action for scripts/servers/postfix-ctl).
    pub(crate) restarts: Vec<(f64, String)>,
    /// Run the restarts under `flock` on this file.
    pub(crate) lock: Option<String>,
    pub(crate) curve_rows: usize,
}

fn var(name: &str) -> String {
    let key = format!("SMTP_TEST_{name}");
    match std::env::var(&key) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{key} is not set: start the servers (scripts/servers/start DIR; . DIR/env) or run \
             scripts/test-all"
        ),
    }
}

fn ctl(dir: &str, action: &str, lock: Option<&str>) -> Result<(), String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/servers/postfix-ctl");
    let mut cmd = match lock {
        Some(l) => {
            let mut c = Command::new("flock");
            c.arg(l).arg(&script);
            c
        }
        None => Command::new(&script),
    };
    let st = cmd
        .arg(dir)
        .arg(action)
        .status()
        .map_err(|e| format!("{}: {e}", script.display()))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("postfix-ctl {action}: {st}"))
    }
}

/// Scans `dir` for files not seen yet, adding the Message-IDs of run `run` to `found`.
fn scan(dir: &Path, run: &str, seen: &mut HashSet<PathBuf>, found: &mut HashMap<u64, u32>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if seen.contains(&p) {
            continue;
        }
        let Ok(text) = std::fs::read(&p) else {
            continue;
        };
        seen.insert(p);
        let head_end = text
            .windows(4)
            .position(|w| w == b"\r\n\r\n" || w.starts_with(b"\n\n"))
            .unwrap_or(text.len());
        let head = String::from_utf8_lossy(&text[..head_end]);
        for line in head.lines() {
            let l = line.trim_end_matches('\r');
            if l.len() > 11 && l[..11].eq_ignore_ascii_case("message-id:") {
                if let Some(('p', i)) = parse_id(l[11..].trim(), run) {
                    *found.entry(i).or_insert(0) += 1;
                }
                break;
            }
        }
    }
}

/// Runs the soak; whether every check passed.
pub(crate) fn run(s: &Settings) -> bool {
    let dir = var("DIR");
    let server = var("POSTFIX_SUBMISSION");
    let (user, password, rcpt) = (var("USER"), var("PASSWORD"), var("RCPT"));
    let maildir = Path::new(&var("MAILDIR_ROOT"))
        .join(rcpt.split('@').next().unwrap_or("alice"))
        .join("new");
    let run_id = format!(
        "p{}x{}",
        s.seed,
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
    );
    let n = s.messages;
    println!(
        "postfix soak: {n} messages to {rcpt} through {server} (STARTTLS, AUTH {user}), \
         {} connections, restarts {:?}, run {run_id}",
        s.connections, s.restarts
    );
    let mut o = Options::new().with_timeout(Duration::from_secs(15));
    o.core.tls = TlsPolicy::Required;
    o.helo_name = Some("soak.client.test".into());
    o.tls_options = TlsOptions::new()
        .with_ca_file(var("CA"))
        .expect("the test CA")
        .with_server_name(var("TLS_NAME"));
    let ep = Endpoint::new(&server, o)
        .expect("endpoint")
        .with_login(&user, &password);
    // Retry what is retry-safe, long enough to ride out a stop + start (a few seconds):
    // 12 attempts, 100 ms doubling up to 3 s.
    let policy = retry_policy(12, Duration::from_millis(100), Duration::from_secs(3));

    let outcomes = Arc::new(Outcomes::new(n as usize));
    let start = Instant::now();
    let monitor = Monitor::start(outcomes.clone(), start);

    // Set when a restart fails: Postfix may be down for good, so the senders stop (the
    // messages left unsent then have no outcome, which fails the run) instead of retrying
    // every remaining message against a dead server.
    let abort = Arc::new(AtomicBool::new(false));
    // The restarts, on a thread, when their share of the messages is done.
    let restarter = {
        let abort = abort.clone();
        let (outcomes, restarts, dir, lock) = (
            outcomes.clone(),
            s.restarts.clone(),
            dir.clone(),
            s.lock.clone(),
        );
        std::thread::spawn(move || {
            let mut log = Vec::new();
            for (at, action) in restarts {
                while (outcomes.done.load(Ordering::Relaxed) as f64) < at * n as f64 {
                    std::thread::sleep(Duration::from_millis(20));
                }
                let t0 = Instant::now();
                let done = outcomes.done.load(Ordering::Relaxed);
                let r = ctl(&dir, &action, lock.as_deref());
                if r.is_err() {
                    abort.store(true, Ordering::Relaxed);
                }
                println!(
                    "restart: {action} after {done} messages: {} in {:.1} s",
                    match &r {
                        Ok(()) => "ok".to_owned(),
                        Err(e) => e.clone(),
                    },
                    t0.elapsed().as_secs_f64()
                );
                log.push(r.is_ok());
            }
            log
        })
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let mut cfg = PoolConfig::default();
        cfg.max_connections = s.connections;
        cfg.retry = policy.clone();
        let pool = Pool::new(cfg);
        let next = Arc::new(AtomicU64::new(0));
        let tasks: Vec<_> = (0..s.connections * 2)
            .map(|_| {
                let (pool, ep, next, outcomes, abort) = (
                    pool.clone(),
                    ep.clone(),
                    next.clone(),
                    outcomes.clone(),
                    abort.clone(),
                );
                let (seed, run_id, rcpt, user) =
                    (s.seed, run_id.clone(), rcpt.clone(), user.clone());
                tokio::spawn(async move {
                    let from = format!("{user}@test.example");
                    let mut buf = Vec::with_capacity(8192);
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n || abort.load(Ordering::Relaxed) {
                            break;
                        }
                        let id = message_id('p', i, &run_id);
                        build_message(&mut buf, seed, i, &id, &from, &rcpt);
                        let mut env = envelope(&from, &[rcpt.as_str()]).expect("envelope");
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
    let send_time = start.elapsed();
    let restarts_ok = restarter.join().unwrap_or_default();
    if abort.load(Ordering::Relaxed) {
        // Leave Postfix running for whatever runs next (the run has failed already).
        let r = ctl(&dir, "start", s.lock.as_deref());
        println!("restart failed: sending stopped; postfix-ctl start: {r:?}");
    }

    // Wait for delivery: until every delivered message is in the maildir, or nothing new
    // arrived for a while (flushing the deferred queue once, in case a restart deferred
    // some).
    let want = (0..n as usize)
        .filter(|&i| outcomes.get(i) == DELIVERED)
        .count();
    let (mut seen, mut found) = (HashSet::new(), HashMap::new());
    let (mut last_progress, mut last_count, mut flushed) = (Instant::now(), 0usize, false);
    loop {
        scan(&maildir, &run_id, &mut seen, &mut found);
        let have = (0..n)
            .filter(|i| outcomes.get(*i as usize) == DELIVERED && found.contains_key(i))
            .count();
        if have >= want {
            // The stragglers (may-have-been-delivered) get a moment more.
            std::thread::sleep(Duration::from_secs(2));
            scan(&maildir, &run_id, &mut seen, &mut found);
            break;
        }
        if have > last_count {
            (last_count, last_progress) = (have, Instant::now());
        }
        let idle = last_progress.elapsed();
        if !flushed && idle > Duration::from_secs(10) {
            let _ = ctl(&dir, "flush", s.lock.as_deref());
            flushed = true;
        }
        if idle > Duration::from_secs(120) {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let total_time = start.elapsed();
    let samples = monitor.finish();

    let c = outcomes.counts(0..n as usize);
    let (mut lost, mut dup, mut refused_got, mut maybe_got, mut unexpected) = (0, 0, 0, 0, 0);
    let mut examples = Vec::new();
    for i in 0..n {
        let got = found.get(&i).copied().unwrap_or(0);
        let o = outcomes.get(i as usize);
        if got > 1 {
            dup += 1;
        }
        match o {
            DELIVERED if got == 0 => lost += 1,
            REFUSED | NOT_DELIVERED | OTHER if got > 0 => refused_got += 1,
            MAYBE if got > 0 => maybe_got += 1,
            _ => continue,
        }
        if examples.len() < 10 && (got != 1 || o != MAYBE) {
            examples.push(format!(
                "message {i}: outcome {o}, in the maildir {got} times"
            ));
        }
    }
    unexpected += found.keys().filter(|&&i| i >= n).count();
    println!();
    println!(
        "{:<10} {:>9} {:>10} {:>8} {:>14} {:>9} {:>6} {:>6}",
        "client", "sent", "delivered", "refused", "not delivered", "maybe", "other", "none"
    );
    println!(
        "{:<10} {:>9} {:>10} {:>8} {:>14} {:>9} {:>6} {:>6}",
        "postfix", n, c[1], c[2], c[3], c[4], c[5], c[0]
    );
    println!(
        "maildir: {} messages of this run; lost {lost}, duplicated {dup}, received although \
         refused/not delivered {refused_got}, may-have-been-delivered found {maybe_got} of {}",
        found.len(),
        c[4]
    );
    println!(
        "sending {:.1} s ({:.0} messages/s), until the last delivery {:.1} s",
        send_time.as_secs_f64(),
        n as f64 / send_time.as_secs_f64(),
        total_time.as_secs_f64()
    );
    for e in &examples {
        println!("  {e}");
    }
    for e in outcomes.others() {
        println!("  other error: {e}");
    }
    println!();
    print_curve(&samples, s.curve_rows);
    println!();

    let mut k = Checks::default();
    k.check(c[0] == 0, "every message has an outcome in the reports");
    k.check(
        restarts_ok.len() == s.restarts.len() && restarts_ok.iter().all(|&b| b),
        "every Postfix restart ran",
    );
    k.check(
        lost == 0,
        "every delivered message is in the maildir (lost = 0)",
    );
    k.check(
        dup == 0,
        "no message is in the maildir twice (duplicated = 0)",
    );
    k.check(
        refused_got == 0,
        "no refused or not-delivered message is in the maildir",
    );
    k.check(unexpected == 0, "nothing in the maildir that was not sent");
    k.check(
        c[5] == 0,
        "every failure is a refusal, retry-safe or may-have-been-delivered",
    );
    k.check(
        c[2] + c[3] == 0,
        "no message refused or left undelivered (the retries ride out the restarts)",
    );
    k.check(
        c[4] <= (s.connections * s.restarts.len()) as u64,
        "may-have-been-delivered at most one per connection and restart",
    );
    k.finish()
}
