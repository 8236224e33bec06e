//! Retrying where it is safe, and sending no faster than allowed: [`RetryPolicy`]
//! (exponential backoff with jitter, only for what [`Error::is_retry_safe`] allows) and
//! [`RateLimit`] (a token bucket). Both are plain state: time and randomness come in as
//! arguments, so every driver (and your own loop) uses them the same way.

use std::time::{Duration, Instant};

use crate::error::Error;

/// When to send a message again after a failure.
///
/// Only failures after which the message cannot have been delivered are retried
/// ([`Error::is_retry_safe`]): the connection failed or was refused before the end of
/// data, or the server answered 421. A message whose end of data went unanswered
/// ([`Error::DeliveryUnknown`]) is never sent again by the library: that is the caller's
/// decision. The default policy retries twice (three attempts), after about 1 s and 2 s.
///
/// ```
/// use std::time::Duration;
/// use smtp_client::{Error, RetryPolicy};
///
/// let policy = RetryPolicy::default();
/// let dead = Error::Io(std::io::ErrorKind::ConnectionReset.into());
/// // The first retry waits between 0.5 s and 1 s (jitter 0.5, the random unit 0.0 or 1.0).
/// assert_eq!(policy.backoff(1, &dead, 0.0), Some(Duration::from_millis(500)));
/// assert_eq!(policy.backoff(1, &dead, 1.0), Some(Duration::from_secs(1)));
/// assert_eq!(policy.backoff(3, &dead, 0.5), None); // three attempts made
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts in all, the first included (default 3; 1 means no retry).
    pub max_attempts: u32,
    /// The wait before the first retry (default 1 s).
    pub initial_backoff: Duration,
    /// The longest wait (default 60 s).
    pub max_backoff: Duration,
    /// Each wait is this many times the one before (default 2).
    pub multiplier: f64,
    /// The share of each wait that is random (default 0.5: between half and all of it),
    /// so that many senders failing at once do not retry in lockstep.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            multiplier: 2.0,
            jitter: 0.5,
        }
    }
}

impl RetryPolicy {
    /// No retry at all.
    pub fn never() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// `max_attempts` attempts with the default backoff.
    pub fn attempts(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            ..RetryPolicy::default()
        }
    }

    /// How long to wait before retrying after `attempts_made` attempts ended with `err`,
    /// or `None` to give up (the error is not retry-safe, or the attempts are used up).
    /// `unit` is a random number in `[0, 1]` (the jitter).
    pub fn backoff(&self, attempts_made: u32, err: &Error, unit: f64) -> Option<Duration> {
        if attempts_made >= self.max_attempts || !err.is_retry_safe() {
            return None;
        }
        let exp = self
            .multiplier
            .max(1.0)
            .powi(attempts_made.saturating_sub(1).min(64) as i32);
        let full = self
            .initial_backoff
            .as_secs_f64()
            .mul_add(exp, 0.0)
            .min(self.max_backoff.as_secs_f64());
        let jitter = self.jitter.clamp(0.0, 1.0);
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.5
        };
        let secs = full * (1.0 - jitter + jitter * unit);
        Some(Duration::from_secs_f64(secs.max(0.0)))
    }
}

/// A token bucket: at most `per_second` messages a second on average, in bursts of at
/// most `burst`. Time comes in as `now`.
///
/// ```
/// use std::time::{Duration, Instant};
/// use smtp_client::RateLimit;
///
/// let t0 = Instant::now();
/// let mut limit = RateLimit::new(10.0, 2, t0); // 10/s, bursts of 2
/// assert_eq!(limit.acquire(t0), Ok(()));
/// assert_eq!(limit.acquire(t0), Ok(()));
/// // The third must wait 100 ms for a token.
/// assert_eq!(limit.acquire(t0), Err(t0 + Duration::from_millis(100)));
/// assert_eq!(limit.acquire(t0 + Duration::from_millis(100)), Ok(()));
/// ```
#[derive(Clone, Debug)]
pub struct RateLimit {
    per_second: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl RateLimit {
    /// A full bucket at `now`. A rate that is not positive and finite means no limit.
    pub fn new(per_second: f64, burst: u32, now: Instant) -> RateLimit {
        let burst = f64::from(burst.max(1));
        RateLimit {
            per_second,
            burst,
            tokens: burst,
            at: now,
        }
    }

    /// Takes a token at `now`, or says when one will be there (`Err(when)`: try again
    /// then).
    pub fn acquire(&mut self, now: Instant) -> Result<(), Instant> {
        if !(self.per_second.is_finite() && self.per_second > 0.0) {
            return Ok(());
        }
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        self.at = self.at.max(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        let wait = (1.0 - self.tokens) / self.per_second;
        Err(self.at + Duration::from_secs_f64(wait))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smtp_proto::session::Phase;

    fn dead() -> Error {
        Error::Io(std::io::ErrorKind::ConnectionReset.into())
    }

    #[test]
    fn backoff_grows_caps_and_stops() {
        let p = RetryPolicy {
            jitter: 0.0,
            max_attempts: 10,
            ..RetryPolicy::default()
        };
        let d: Vec<_> = (1..10)
            .map(|a| p.backoff(a, &dead(), 0.3).unwrap())
            .collect();
        assert_eq!(d[0], Duration::from_secs(1));
        assert_eq!(d[1], Duration::from_secs(2));
        assert_eq!(d[2], Duration::from_secs(4));
        assert_eq!(d[6], Duration::from_secs(60)); // 64 s capped
        assert_eq!(p.backoff(10, &dead(), 0.3), None);
        assert_eq!(RetryPolicy::never().backoff(1, &dead(), 0.3), None);
        // Hostile inputs: no panic, still bounded.
        let wild = RetryPolicy {
            multiplier: f64::INFINITY,
            jitter: f64::NAN,
            max_attempts: u32::MAX,
            ..RetryPolicy::default()
        };
        let w = wild.backoff(u32::MAX - 1, &dead(), f64::NAN).unwrap();
        assert!(w <= Duration::from_secs(60), "{w:?}");
    }

    #[test]
    fn never_retries_what_may_have_been_delivered() {
        let p = RetryPolicy::attempts(5);
        let report = crate::SendReport {
            mail_reply: None,
            data_reply: None,
            recipients: Vec::new(),
            retry_safe: true,
        };
        let unknown = Error::DeliveryUnknown {
            source: Box::new(dead()),
            report: Box::new(report),
        };
        assert_eq!(p.backoff(1, &unknown, 0.5), None);
        let after_dot = Error::Timeout(crate::TimeoutPhase::Smtp(Phase::DataDone));
        assert_eq!(p.backoff(1, &after_dot, 0.5), None);
        assert!(p.backoff(1, &dead(), 0.5).is_some());
    }

    #[test]
    fn rate_limit_refills_over_time() {
        let t0 = Instant::now();
        let mut r = RateLimit::new(2.0, 1, t0);
        assert_eq!(r.acquire(t0), Ok(()));
        let when = r.acquire(t0).unwrap_err();
        assert_eq!(when, t0 + Duration::from_millis(500));
        assert_eq!(r.acquire(when), Ok(()));
        // A long pause refills only up to the burst.
        let later = when + Duration::from_secs(60);
        assert_eq!(r.acquire(later), Ok(()));
        assert!(r.acquire(later).is_err());
        // No limit.
        let mut free = RateLimit::new(0.0, 1, t0);
        for _ in 0..1000 {
            assert_eq!(free.acquire(t0), Ok(()));
        }
    }
}
