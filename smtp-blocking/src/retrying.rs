//! [`Retrying`]: one blocking connection that reconnects and sends again where it is safe.

use std::time::Instant;

use smtp_client::{Envelope, Error, RateLimit, RetryPolicy, SendReport};

use crate::{Body, SmtpClient};

/// Sends messages over one connection that is (re)opened by `connect` as needed, retrying
/// a message with backoff only when it cannot have been delivered
/// ([`RetryPolicy`], [`Error::is_retry_safe`]), at most `max_rate` messages a second.
///
/// ```no_run
/// use smtp_blocking::{Options, Retrying, RetryPolicy, SmtpClient, envelope};
///
/// let mut sender = Retrying::new(RetryPolicy::default(), || {
///     let mut c = SmtpClient::connect("mail.example.com:587", Options::new())?;
///     c.login("alice", "secret")?;
///     Ok(c)
/// })
/// .with_rate_limit(10.0, 1);
/// let env = envelope("alice@example.com", &["bob@example.net"])?;
/// let report = sender.send(env, b"Subject: hi\r\n\r\nHello.\r\n")?;
/// sender.quit();
/// # Ok::<(), smtp_blocking::Error>(())
/// ```
pub struct Retrying<F> {
    connect: F,
    client: Option<SmtpClient>,
    policy: RetryPolicy,
    rate: Option<RateLimit>,
    seed: u64,
}

impl<F> std::fmt::Debug for Retrying<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retrying")
            .field("client", &self.client)
            .field("policy", &self.policy)
            .field("rate", &self.rate)
            .finish_non_exhaustive()
    }
}

impl<F: FnMut() -> Result<SmtpClient, Error>> Retrying<F> {
    /// A sender that opens connections with `connect` (connect, log in, ...).
    pub fn new(policy: RetryPolicy, connect: F) -> Self {
        use std::hash::BuildHasher;
        let seed = std::collections::hash_map::RandomState::new().hash_one(Instant::now());
        Retrying {
            connect,
            client: None,
            policy,
            rate: None,
            seed: seed | 1,
        }
    }

    /// At most `per_second` messages a second, in bursts of `burst`.
    pub fn with_rate_limit(mut self, per_second: f64, burst: u32) -> Self {
        self.rate = Some(RateLimit::new(per_second, burst, Instant::now()));
        self
    }

    /// Sends one message (reconnecting first when the connection is gone), retrying as
    /// the policy allows. A message whose end of data went unanswered is reported as
    /// [`Error::DeliveryUnknown`], never sent again.
    pub fn send(&mut self, env: Envelope, body: &[u8]) -> Result<SendReport, Error> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            if let Some(r) = &mut self.rate {
                while let Err(at) = r.acquire(Instant::now()) {
                    std::thread::sleep(at.saturating_duration_since(Instant::now()));
                }
            }
            let result = match self.connected() {
                Ok(c) => c.send(env.clone(), Body::Bytes(body)),
                Err(e) => Err(e),
            };
            if self.client.as_ref().is_some_and(SmtpClient::is_closed) {
                self.client = None;
            }
            let err = match result {
                Err(e) => e,
                ok => return ok,
            };
            let unit = self.unit();
            match self.policy.backoff(attempts, &err, unit) {
                Some(wait) => {
                    // A fresh connection for the retry: the old one failed.
                    self.client = None;
                    std::thread::sleep(wait);
                }
                None => return Err(err),
            }
        }
    }

    /// The open connection, if any.
    pub fn client(&mut self) -> Option<&mut SmtpClient> {
        self.client.as_mut()
    }

    /// QUITs the connection, if one is open.
    pub fn quit(&mut self) {
        if let Some(mut c) = self.client.take() {
            let _ = c.quit();
        }
    }

    fn connected(&mut self) -> Result<&mut SmtpClient, Error> {
        let c = match self.client.take() {
            Some(c) => c,
            None => (self.connect)()?,
        };
        Ok(self.client.insert(c))
    }

    /// A number in `[0, 1]` for the jitter (xorshift: no cryptographic strength needed).
    fn unit(&mut self) -> f64 {
        let mut x = self.seed;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.seed = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}
