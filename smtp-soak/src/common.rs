//! What both soaks share: messages, outcomes, the RSS/fd monitor and the check lines.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use smtp_async::{Error, SendReport};

/// No outcome recorded (the message is missing from the reports).
pub(crate) const PENDING: u8 = 0;
/// Accepted by the server.
pub(crate) const DELIVERED: u8 = 1;
/// Refused by the server (a 4xx/5xx verdict, after any retries).
pub(crate) const REFUSED: u8 = 2;
/// Not delivered: the attempts failed before the end of data (retry-safe errors, retries
/// used up).
pub(crate) const NOT_DELIVERED: u8 = 3;
/// The end of data went unanswered: may have been delivered.
pub(crate) const MAYBE: u8 = 4;
/// Any other error (printed).
pub(crate) const OTHER: u8 = 5;

/// splitmix64.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The Message-ID of message `i` of stream `kind` (`a`: async, `b`: blocking,
/// `p`: Postfix) in run `run`.
pub(crate) fn message_id(kind: char, i: u64, run: &str) -> String {
    format!("<{kind}{i}.{run}@soak.test>")
}

/// Parses [`message_id`] back: (kind, index) when it belongs to run `run`.
pub(crate) fn parse_id(id: &str, run: &str) -> Option<(char, u64)> {
    let s = id.strip_prefix('<')?.strip_suffix("@soak.test>")?;
    let (head, r) = s.split_once('.')?;
    if r != run {
        return None;
    }
    let mut chars = head.chars();
    let kind = chars.next()?;
    Some((kind, chars.as_str().parse().ok()?))
}

/// Writes message `i` into `buf`: 1-4 KiB (size drawn from `seed` and `i`), headers with
/// `id` as Message-ID, lines of pseudo-random text, some starting with a dot.
pub(crate) fn build_message(buf: &mut Vec<u8>, seed: u64, i: u64, id: &str, from: &str, to: &str) {
    const ALPHA: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,-";
    let mut rng = Rng(seed ^ i.wrapping_mul(0xA24B_AED4_963E_E407));
    let size = 1030 + (rng.next() % 3067) as usize;
    buf.clear();
    buf.extend_from_slice(
        format!(
            "From: <{from}>\r\nTo: <{to}>\r\nSubject: soak message {i}\r\nMessage-ID: {id}\r\n\
             MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        )
        .as_bytes(),
    );
    while buf.len() + 3 < size {
        let room = size - buf.len() - 2;
        let r = rng.next();
        let len = (1 + (r % 78) as usize).min(room);
        let start = buf.len();
        for _ in 0..len {
            let x = rng.next();
            buf.push(ALPHA[(x % ALPHA.len() as u64) as usize]);
        }
        if r.is_multiple_of(16) {
            buf[start] = b'.';
        }
        buf.extend_from_slice(b"\r\n");
    }
}

/// The outcome class of a send's result.
pub(crate) fn classify(r: &Result<SendReport, Error>) -> u8 {
    match r {
        Ok(rep) if rep.any_accepted() => DELIVERED,
        Ok(_) => REFUSED,
        Err(Error::DeliveryUnknown { .. }) => MAYBE,
        Err(
            Error::SenderRefused { .. }
            | Error::RecipientsRefused(_)
            | Error::DataRefused { .. }
            | Error::HeloRefused(_),
        ) => REFUSED,
        Err(e) if e.is_retry_safe() => NOT_DELIVERED,
        Err(_) => OTHER,
    }
}

/// Per-message outcomes, allocated (and touched) up front so they do not grow the RSS
/// during the run; plus the first few "other" errors, for the summary.
pub(crate) struct Outcomes {
    pub(crate) slots: Vec<AtomicU8>,
    others: Mutex<Vec<String>>,
    pub(crate) done: AtomicU64,
}

impl Outcomes {
    pub(crate) fn new(n: usize) -> Outcomes {
        let slots: Vec<AtomicU8> = (0..n).map(|_| AtomicU8::new(PENDING)).collect();
        for s in &slots {
            s.store(PENDING, Ordering::Relaxed);
        }
        Outcomes {
            slots,
            others: Mutex::new(Vec::with_capacity(16)),
            done: AtomicU64::new(0),
        }
    }

    pub(crate) fn set(&self, i: usize, r: &Result<SendReport, Error>) {
        let c = classify(r);
        if c == OTHER
            && let Err(e) = r
        {
            let mut o = self.others.lock().unwrap_or_else(|e| e.into_inner());
            if o.len() < 16 {
                o.push(format!("{e:?}"));
            }
        }
        self.slots[i].store(c, Ordering::Relaxed);
        self.done.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn get(&self, i: usize) -> u8 {
        self.slots[i].load(Ordering::Relaxed)
    }

    pub(crate) fn others(&self) -> Vec<String> {
        self.others
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Counts per class, indexed by the class constant.
    pub(crate) fn counts(&self, range: std::ops::Range<usize>) -> [u64; 6] {
        let mut c = [0u64; 6];
        for i in range {
            c[usize::from(self.get(i)).min(5)] += 1;
        }
        c
    }
}

/// One sample of the process.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    pub(crate) secs: f64,
    pub(crate) done: u64,
    pub(crate) rss_kib: u64,
    pub(crate) fds: u64,
}

/// VmRSS of this process, in KiB.
pub(crate) fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Open file descriptors of this process.
pub(crate) fn fd_count() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as u64)
        .unwrap_or(0)
}

/// Samples RSS and fds every second on a thread until stopped.
pub(crate) struct Monitor {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<Vec<Sample>>>,
}

impl Monitor {
    pub(crate) fn start(outcomes: Arc<Outcomes>, start: Instant) -> Monitor {
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let handle = std::thread::Builder::new()
            .name("soak-monitor".into())
            .spawn(move || {
                let mut samples = Vec::with_capacity(1 << 16);
                let mut next = Instant::now();
                while !s2.load(Ordering::Relaxed) {
                    let sample = Sample {
                        secs: start.elapsed().as_secs_f64(),
                        done: outcomes.done.load(Ordering::Relaxed),
                        rss_kib: rss_kib(),
                        fds: fd_count(),
                    };
                    if samples.len() < samples.capacity() {
                        samples.push(sample);
                    }
                    next += Duration::from_secs(1);
                    while !s2.load(Ordering::Relaxed) && Instant::now() < next {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                samples
            })
            .expect("monitor thread");
        Monitor {
            stop,
            handle: Some(handle),
        }
    }

    pub(crate) fn finish(mut self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

/// The check lines and their tally.
#[derive(Default)]
pub(crate) struct Checks {
    passed: u32,
    failed: u32,
}

impl Checks {
    pub(crate) fn check(&mut self, ok: bool, what: &str) {
        if ok {
            self.passed += 1;
            println!("PASS {what}");
        } else {
            self.failed += 1;
            println!("FAIL {what}");
        }
    }

    /// Prints `N passed, M failed`; whether all passed.
    pub(crate) fn finish(&self) -> bool {
        println!("{} passed, {} failed", self.passed, self.failed);
        self.failed == 0
    }
}

/// Prints the samples (at most `rows` of them, evenly spread, the last included).
pub(crate) fn print_curve(samples: &[Sample], rows: usize) {
    println!(
        "{:>8} {:>10} {:>10} {:>6}",
        "t (s)", "messages", "RSS (KiB)", "fds"
    );
    if samples.is_empty() {
        return;
    }
    let n = samples.len();
    let step = n.div_ceil(rows.max(1)).max(1);
    let mut idx: Vec<usize> = (0..n).step_by(step).collect();
    if idx.last() != Some(&(n - 1)) {
        idx.push(n - 1);
    }
    for i in idx {
        let s = samples[i];
        println!(
            "{:>8.0} {:>10} {:>10} {:>6}",
            s.secs, s.done, s.rss_kib, s.fds
        );
    }
}

/// A retry policy: `attempts` in all, exponential backoff from `initial` up to `max`,
/// doubling, with jitter 0.5.
pub(crate) fn retry_policy(
    attempts: u32,
    initial: Duration,
    max: Duration,
) -> smtp_async::RetryPolicy {
    let mut p = smtp_async::RetryPolicy::attempts(attempts);
    p.initial_backoff = initial;
    p.max_backoff = max;
    p.multiplier = 2.0;
    p.jitter = 0.5;
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_messages_are_1_to_4_kib() {
        let id = message_id('a', 12345, "r7");
        assert_eq!(parse_id(&id, "r7"), Some(('a', 12345)));
        assert_eq!(parse_id(&id, "r8"), None);
        let mut buf = Vec::new();
        for i in 0..500 {
            build_message(&mut buf, 9, i, &id, "a@x", "b@y");
            assert!((1024..=4096).contains(&buf.len()), "{}", buf.len());
            assert!(buf.ends_with(b"\r\n"));
        }
    }
}
