//! [`Pool`]: connections kept open for high-volume sending.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::future::{Future, poll_fn};
use std::hash::{Hash, Hasher};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use smtp_client::ops::Health;
use smtp_client::proto::sasl::SaslMechanism;
use smtp_client::proto::session::{Envelope, HealthProbe, UsageError};
use smtp_client::{
    AsyncTokenProvider, Error, OAuthFlow, OAuthNext, Options, RateLimit, RetryPolicy, SendReport,
    Target, TlsPolicy,
};

use crate::client::{Body, SmtpClient};
use crate::runtime::Runtime;

/// How the pool checks a connection that has been idle before reusing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthCheck {
    /// `NOOP` (the default).
    Noop,
    /// `RSET`.
    Rset,
    /// No check: a dead connection is noticed when the send fails (and retried, see
    /// [`PoolConfig::retry_on_dead_connection`]).
    Off,
}

/// Pool settings. Start from [`PoolConfig::default`] and adjust.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PoolConfig {
    /// Sends (and so connections in use) at once per [`Endpoint`] (default 8); further
    /// sends wait. Idle connections are at most as many.
    pub max_connections: usize,
    /// An idle connection older than this is closed instead of reused (default 60 s;
    /// servers commonly drop idle clients after 300 s, RFC 5321's server timeout).
    pub idle_timeout: Duration,
    /// The check run on a connection idle for at least [`check_after`](Self::check_after).
    pub health_check: HealthCheck,
    /// Idle time from which a connection is checked before reuse (default 1 s). A
    /// connection that just finished a transaction is known to be alive: checking it
    /// would cost a round trip per message, as lettre's pool pays.
    pub check_after: Duration,
    /// Deadline of the pool's own commands: the health check, and the QUIT to idle
    /// connections it closes (default 5 s). A connection that misses it is dropped, so a
    /// server or NAT that silently dropped an idle connection costs a send this long, not
    /// the five minutes of RFC 5321's command timeout.
    pub check_timeout: Duration,
    /// When a reused connection turns out dead before anything could have been delivered
    /// (the server closed it while idle, or answered with 421), send once more on a new
    /// connection (default on; the rule is [`Error::is_retry_safe`]). Never when the end
    /// of data went unanswered, and never for a [`Body::Reader`] body (it cannot be read
    /// twice).
    pub retry_on_dead_connection: bool,
    /// Retries with backoff after a failure that left the message undelivered
    /// ([`Error::is_retry_safe`]: the connection failed or was refused before the end of
    /// data, or a 421), each on a fresh connection. Default [`RetryPolicy::never`]: a
    /// send fails at once, and the caller decides. A message whose end of data went
    /// unanswered is never sent again; a [`Body::Reader`] body is never retried.
    pub retry: RetryPolicy,
    /// Messages per second per [`Endpoint`] at most (a token bucket with bursts of
    /// [`max_connections`](Self::max_connections)); `None` (the default) for no limit.
    /// Sends over the rate wait.
    pub max_rate: Option<f64>,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_connections: 8,
            idle_timeout: Duration::from_secs(60),
            health_check: HealthCheck::Noop,
            check_after: Duration::from_secs(1),
            check_timeout: Duration::from_secs(5),
            retry_on_dead_connection: true,
            retry: RetryPolicy::never(),
            max_rate: None,
        }
    }
}

/// Makes a fresh SASL mechanism for each connection of an [`Endpoint`] (a mechanism is
/// the state machine of one exchange, so connections cannot share one).
pub type MechanismFactory = Arc<dyn Fn() -> Box<dyn SaslMechanism> + Send + Sync>;

/// How an endpoint's connections authenticate.
#[derive(Clone)]
enum Auth {
    /// [`SmtpClient::login`].
    Password { user: String, password: String },
    /// [`SmtpClient::auth_with`] a mechanism from the factory; `id` stands for it in the
    /// pool key.
    Mechanism { factory: MechanismFactory, id: u64 },
    /// [`SmtpClient::login_oauth`], with a new connection for the retry when the server
    /// closed the first after refusing the token.
    Token {
        user: String,
        provider: Arc<dyn AsyncTokenProvider>,
        /// Stands for the provider in the pool key.
        id: u64,
    },
}

/// Process-unique identities of the factories and token providers given to endpoints,
/// for the pool key.
static NEXT_AUTH_ID: AtomicU64 = AtomicU64::new(0);

/// Where and how a pool connects: server, [`Options`] and optional authentication.
/// Connections are pooled per endpoint key: host, port, dialect, TLS policy and trust
/// settings, proxy (with its credentials), EHLO name and identity (user and password; for a mechanism factory or a
/// token provider, the endpoint it was given to and its clones), so a connection is
/// never reused for an endpoint with other security settings (a plaintext one where TLS
/// is required) or another identity.
#[derive(Clone)]
pub struct Endpoint {
    server: String,
    options: Options,
    auth: Option<Auth>,
    key: String,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let user = match &self.auth {
            Some(Auth::Password { user, .. } | Auth::Token { user, .. }) => Some(user.as_str()),
            Some(Auth::Mechanism { .. }) => Some("(mechanism factory)"),
            None => None,
        };
        f.debug_struct("Endpoint")
            .field("server", &self.server)
            .field("options", &self.options)
            .field("user", &user)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// An endpoint for `server` (as in [`SmtpClient::connect`]) with `options`.
    pub fn new(server: &str, options: Options) -> Result<Endpoint, Error> {
        let target = Target::parse(server, options.default_port())?;
        let mut ep = Endpoint {
            server: target.to_string(),
            options,
            auth: None,
            key: String::new(),
        };
        ep.rekey();
        Ok(ep)
    }

    /// Authenticates every connection with [`SmtpClient::login`].
    pub fn with_login(mut self, user: &str, password: &str) -> Endpoint {
        self.auth = Some(Auth::Password {
            user: user.into(),
            password: password.into(),
        });
        self.rekey();
        self
    }

    /// Authenticates every connection with [`SmtpClient::auth_with`] a mechanism made by
    /// `factory`, your own included: it is called once per connection.
    ///
    /// Connections are shared by this endpoint and its clones only (the pool cannot
    /// tell which identity a factory stands for).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use smtp_async::{Endpoint, Options};
    /// use smtp_async::proto::sasl::{Plain, SaslMechanism};
    ///
    /// let ep = Endpoint::new("mail.example.org:587", Options::new())?.with_auth(Arc::new(|| {
    ///     Box::new(Plain::new("alice", "secret")) as Box<dyn SaslMechanism>
    /// }));
    /// # let _ = ep;
    /// # Ok::<(), smtp_async::Error>(())
    /// ```
    pub fn with_auth(mut self, factory: MechanismFactory) -> Endpoint {
        self.auth = Some(Auth::Mechanism {
            factory,
            id: NEXT_AUTH_ID.fetch_add(1, Ordering::Relaxed),
        });
        self.rekey();
        self
    }

    /// Authenticates every connection as `user` with an OAuth 2.0 token from `provider`
    /// ([`SmtpClient::login_oauth`]; any [`TokenProvider`](smtp_client::TokenProvider) is
    /// an [`AsyncTokenProvider`]). When the server refuses a token as invalid or expired,
    /// the provider is asked once more with `refresh = true`, on the same connection or,
    /// when the server closed it, on a new one.
    ///
    /// Connections are shared by this endpoint and its clones only.
    pub fn with_oauth(mut self, user: &str, provider: Arc<dyn AsyncTokenProvider>) -> Endpoint {
        self.auth = Some(Auth::Token {
            user: user.into(),
            provider,
            id: NEXT_AUTH_ID.fetch_add(1, Ordering::Relaxed),
        });
        self.rekey();
        self
    }

    /// The server address (`host:port`).
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The pool key: every setting of the connection (where, how securely, with which
    /// deadlines) and as whom (the password as a hash, so it is not kept twice in clear;
    /// a factory or token provider by the id it was given when set).
    /// The options enter through their derived `Debug`, so a field added to [`Options`]
    /// (or to the core's `Config` inside it) is part of the key without anyone listing it.
    fn rekey(&mut self) {
        let identity = match &self.auth {
            None => String::new(),
            Some(Auth::Password { user, password }) => {
                let mut h = DefaultHasher::new();
                password.hash(&mut h);
                format!("password:{user:?}:{}", h.finish())
            }
            Some(Auth::Mechanism { id, .. }) => format!("mechanism:{id}"),
            Some(Auth::Token { user, id, .. }) => format!("oauth:{user:?}:{id}"),
        };
        // The proxy shows in the options' `Debug` with its credentials redacted: they
        // enter as a hash, so that two identities at one proxy never share a connection.
        let proxy_identity = match self.options.proxy.as_ref().and_then(|p| p.credentials()) {
            None => String::new(),
            Some(creds) => {
                let mut h = DefaultHasher::new();
                creds.hash(&mut h);
                format!("proxy:{}", h.finish())
            }
        };
        self.key = format!(
            "{}|{:?}|{}|{}",
            self.server.to_ascii_lowercase(),
            self.options,
            proxy_identity,
            identity,
        );
    }
}

struct Idle {
    client: SmtpClient,
    since: Instant,
}

struct PerKey {
    idle: Mutex<Vec<Idle>>,
    permits: async_lock::Semaphore,
    rate: Mutex<Option<RateLimit>>,
}

struct Inner {
    rt: &'static dyn Runtime,
    cfg: PoolConfig,
    keys: Mutex<HashMap<String, Arc<PerKey>>>,
    closed: AtomicBool,
}

/// A connection pool: [`send`](Self::send) takes an idle connection to the endpoint (or
/// opens one, up to [`PoolConfig::max_connections`]), sends, and puts it back. Cheap to
/// clone; concurrent sends spread over the connections.
///
/// A connection goes back only if it is still usable: not closed by the server (421,
/// timeout, protocol error) and not poisoned by a cancelled send (a dropped `send`
/// future drops its connection). [`close`](Self::close) QUITs every idle connection.
///
/// ```no_run
/// # async fn demo() -> Result<(), smtp_async::Error> {
/// use smtp_async::{Endpoint, Options, Pool, PoolConfig, envelope, Body};
///
/// let pool = Pool::new(PoolConfig::default());
/// let ep = Endpoint::new("smtp.example.com:587", Options::new())?.with_login("alice", "secret");
/// let env = envelope("alice@example.com", &["bob@example.net"])?;
/// let report = pool.send(&ep, env, Body::Bytes(b"Subject: hi\r\n\r\nHello\r\n")).await?;
/// assert!(report.any_accepted());
/// pool.close().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("config", &self.inner.cfg)
            .field("idle", &self.idle_count())
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// A pool on the default runtime (tokio when its feature is on).
    #[cfg(any(feature = "tokio", feature = "futures-io"))]
    pub fn new(cfg: PoolConfig) -> Pool {
        Self::on(crate::runtime::default_runtime(), cfg)
    }

    /// A pool on the runtime `rt`.
    pub fn on(rt: &'static dyn Runtime, cfg: PoolConfig) -> Pool {
        Pool {
            inner: Arc::new(Inner {
                rt,
                cfg,
                keys: Mutex::new(HashMap::new()),
                closed: AtomicBool::new(false),
            }),
        }
    }

    /// Idle connections, over all endpoints.
    pub fn idle_count(&self) -> usize {
        let keys = lock(&self.inner.keys);
        keys.values().map(|k| lock(&k.idle).len()).sum()
    }

    fn per_key(&self, ep: &Endpoint) -> Arc<PerKey> {
        let mut keys = lock(&self.inner.keys);
        keys.entry(ep.key.clone())
            .or_insert_with(|| {
                let cfg = &self.inner.cfg;
                let burst = u32::try_from(cfg.max_connections.max(1)).unwrap_or(u32::MAX);
                Arc::new(PerKey {
                    idle: Mutex::new(Vec::new()),
                    permits: async_lock::Semaphore::new(cfg.max_connections.max(1)),
                    rate: Mutex::new(
                        cfg.max_rate
                            .map(|r| RateLimit::new(r, burst, Instant::now())),
                    ),
                })
            })
            .clone()
    }

    /// Sends one message to `ep` over a pooled connection. For [`Body::Bytes`] the size
    /// and 8-bit content are declared. Results are [`SmtpClient::send`]'s, after the
    /// retries [`PoolConfig::retry`] allows.
    ///
    /// Cancel-safe in the pool's sense: dropping the future drops the connection it was
    /// using (never reused) and frees its slot.
    pub async fn send(
        &self,
        ep: &Endpoint,
        env: Envelope,
        body: Body<'_>,
    ) -> Result<SendReport, Error> {
        let Some(bytes) = body.bytes() else {
            return self.send_once(ep, env, body).await;
        };
        let mut attempts = 0;
        loop {
            attempts += 1;
            let e = match self.send_once(ep, env.clone(), Body::Bytes(bytes)).await {
                Err(e) if !self.is_closed() => e,
                r => return r,
            };
            let Some(wait) = self.inner.cfg.retry.backoff(attempts, &e, random_unit()) else {
                return Err(e);
            };
            if let Some(at) = Instant::now().checked_add(wait) {
                self.inner.rt.sleep_until(at).await;
            }
        }
    }

    /// One attempt: the rate limit, a connection, the send (and the immediate retry on a
    /// fresh connection when a reused one turns out dead).
    async fn send_once(
        &self,
        ep: &Endpoint,
        env: Envelope,
        body: Body<'_>,
    ) -> Result<SendReport, Error> {
        if self.is_closed() {
            return Err(Error::Usage(UsageError::Closed));
        }
        let pk = self.per_key(ep);
        self.wait_for_rate(&pk).await;
        let _permit = pk.permits.acquire().await;
        if self.is_closed() {
            return Err(Error::Usage(UsageError::Closed));
        }
        let bytes = match &body {
            Body::Bytes(b) => Some(*b),
            Body::Reader(_) => None,
        };
        let (mut client, reused) = self.checkout(&pk, ep).await?;
        let first = client.send(env.clone(), body).await;
        let (client, result) = match (first, bytes) {
            (Err(e), Some(b))
                if reused
                    && self.inner.cfg.retry_on_dead_connection
                    && !client.is_usable()
                    && e.is_retry_safe()
                    && !self.is_closed() =>
            {
                drop(client);
                let mut fresh = self.open(ep).await?;
                let r = fresh.send(env, Body::Bytes(b)).await;
                (fresh, r)
            }
            (r, _) => (client, r),
        };
        self.checkin(&pk, client).await;
        result
    }

    /// Waits until the endpoint's rate limit gives a token.
    async fn wait_for_rate(&self, pk: &PerKey) {
        loop {
            let wait = match lock(&pk.rate).as_mut() {
                Some(r) => r.acquire(Instant::now()),
                None => Ok(()),
            };
            match wait {
                Ok(()) => return,
                Err(at) => self.inner.rt.sleep_until(at).await,
            }
        }
    }

    /// An idle connection that passes the checks, or a new one; whether it was reused.
    async fn checkout(&self, pk: &PerKey, ep: &Endpoint) -> Result<(SmtpClient, bool), Error> {
        let cfg = &self.inner.cfg;
        loop {
            let slot = lock(&pk.idle).pop();
            let Some(Idle { mut client, since }) = slot else {
                return Ok((self.open(ep).await?, false));
            };
            let idle = since.elapsed();
            // Keys already separate TLS settings; this is the belt to those braces.
            let tls_required = matches!(
                ep.options.core.tls,
                TlsPolicy::Required | TlsPolicy::Implicit
            );
            if !client.is_usable() || (tls_required && !client.is_encrypted()) {
                continue;
            }
            if idle >= cfg.idle_timeout {
                self.quit(client).await;
                continue;
            }
            if idle >= cfg.check_after && cfg.health_check != HealthCheck::Off {
                let probe = match cfg.health_check {
                    HealthCheck::Rset => HealthProbe::Rset,
                    _ => HealthProbe::Noop,
                };
                // The core judges the reply (and closes an unhealthy connection). Missing
                // the deadline drops the check's future, and with it the connection
                // (poisoned, never reused).
                let check = client.execute(Health::new(probe));
                let ok = bounded(self.inner.rt, cfg.check_timeout, check)
                    .await
                    .is_some_and(|r| r.unwrap_or(false));
                if !ok {
                    continue;
                }
            }
            return Ok((client, true));
        }
    }

    async fn open(&self, ep: &Endpoint) -> Result<SmtpClient, Error> {
        let connect = || SmtpClient::connect_on(self.inner.rt, &ep.server, ep.options.clone());
        let mut c = connect().await?;
        let authed = match &ep.auth {
            None => Ok(()),
            Some(Auth::Password { user, password }) => c.login(user, password).await.map(drop),
            Some(Auth::Mechanism { factory, .. }) => c.auth_with(factory()).await.map(drop),
            Some(Auth::Token { user, provider, .. }) => {
                let mut flow = OAuthFlow::new(user);
                loop {
                    let token = match flow.token_needed() {
                        Some(refresh) => Some(provider.token_async(flow.user(), refresh).await?),
                        None => None,
                    };
                    let r = c.execute(flow.login(token)).await;
                    match flow.outcome(r, c.is_usable()) {
                        OAuthNext::Done(r) => break r.map(drop),
                        OAuthNext::Retry { reconnect: false } => {}
                        OAuthNext::Retry { reconnect: true } => c = connect().await?,
                    }
                }
            }
        };
        if let Err(e) = authed {
            // A refused login (or one refused locally, such as credentials over
            // plaintext) leaves a healthy session: end it with QUIT, not by dropping it.
            if c.is_usable() {
                self.quit(c).await;
            }
            return Err(e);
        }
        Ok(c)
    }

    async fn checkin(&self, pk: &PerKey, client: SmtpClient) {
        if !client.is_usable() {
            return;
        }
        {
            // `close` sets the flag before it drains under this lock: checked under the
            // lock, a connection either goes back before the drain or sees the flag.
            let mut idle = lock(&pk.idle);
            if !self.is_closed() {
                idle.push(Idle {
                    client,
                    since: Instant::now(),
                });
                return;
            }
        }
        self.quit(client).await;
    }

    fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// QUIT within [`PoolConfig::check_timeout`] (the connection is dropped either way).
    async fn quit(&self, mut client: SmtpClient) {
        let _ = bounded(self.inner.rt, self.inner.cfg.check_timeout, client.quit()).await;
    }

    /// QUITs `idle` connections at once.
    async fn quit_all(&self, idle: Vec<Idle>) {
        join_all(idle.into_iter().map(|i| self.quit(i.client))).await;
    }

    /// Closes every idle connection that has been idle for longer than
    /// [`PoolConfig::idle_timeout`] (with QUIT). Expired connections are also dropped
    /// when a send comes across them; call this from a timer to release them sooner.
    pub async fn evict_idle(&self) {
        let timeout = self.inner.cfg.idle_timeout;
        for pk in self.all_keys() {
            let expired: Vec<Idle> = {
                let mut idle = lock(&pk.idle);
                let (old, keep) = idle.drain(..).partition(|i| i.since.elapsed() >= timeout);
                *idle = keep;
                old
            };
            self.quit_all(expired).await;
        }
        // Forget endpoints with nothing idle and no send under way.
        lock(&self.inner.keys)
            .retain(|_, pk| Arc::strong_count(pk) > 1 || !lock(&pk.idle).is_empty());
    }

    /// Graceful shutdown: refuses new sends, QUITs every idle connection, and makes sends
    /// still running QUIT their connection when they finish.
    pub async fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        let idle: Vec<Idle> = self
            .all_keys()
            .iter()
            .flat_map(|pk| lock(&pk.idle).drain(..).collect::<Vec<_>>())
            .collect();
        self.quit_all(idle).await;
    }

    fn all_keys(&self) -> Vec<Arc<PerKey>> {
        lock(&self.inner.keys).values().cloned().collect()
    }
}

/// `fut`, or `None` if it did not finish within `d` (it is dropped then).
async fn bounded<F: Future>(rt: &dyn Runtime, d: Duration, fut: F) -> Option<F::Output> {
    let mut fut = pin!(fut);
    let mut sleep = Instant::now().checked_add(d).map(|at| rt.sleep_until(at));
    poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        if let Some(s) = &mut sleep
            && s.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

/// Runs the futures concurrently on this task until all are done.
async fn join_all<F: Future<Output = ()>>(futs: impl Iterator<Item = F>) {
    let mut futs: Vec<Option<Pin<Box<F>>>> = futs.map(|f| Some(Box::pin(f))).collect();
    poll_fn(|cx| {
        let mut pending = false;
        for slot in &mut futs {
            if let Some(f) = slot {
                if f.as_mut().poll(cx).is_ready() {
                    *slot = None;
                } else {
                    pending = true;
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await
}

/// A random number in `[0, 1]` for the retry jitter (std's randomly keyed hasher: no
/// cryptographic strength needed).
fn random_unit() -> f64 {
    use std::hash::BuildHasher;
    let x = std::collections::hash_map::RandomState::new().hash_one(Instant::now());
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// Locks a mutex, recovering from a poisoned one (the data is a list of connections).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(proxy: Option<&str>) -> Endpoint {
        let mut opts = Options::new();
        opts.proxy = proxy.map(|p| p.parse().unwrap());
        Endpoint::new("mx.example.org:25", opts).unwrap()
    }

    /// The key includes the proxy, its credentials too (though `Debug` redacts them).
    #[test]
    fn pool_key_includes_the_proxy_and_its_credentials() {
        let keys = [
            ep(None).key,
            ep(Some("socks5h://127.0.0.1:1080")).key,
            ep(Some("socks5://127.0.0.1:1080")).key,
            ep(Some("socks5h://127.0.0.1:1081")).key,
            ep(Some("http://127.0.0.1:1080")).key,
            ep(Some("socks5h://alice:secret-1@127.0.0.1:1080")).key,
            ep(Some("socks5h://alice:secret-2@127.0.0.1:1080")).key,
            ep(Some("socks5h://bob:secret-1@127.0.0.1:1080")).key,
        ];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
            assert!(!a.contains("secret") && !a.contains("alice"), "{a}");
        }
        let same = ep(Some("socks5h://alice:secret-1@127.0.0.1:1080")).key;
        assert_eq!(same, keys[5]);
    }
}
