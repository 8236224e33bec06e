//! smtp-async's pool against Postfix + Dovecot (started by `scripts/servers/start`), on
//! tokio and on smol: `Endpoint::with_oauth` (an expired token refreshed once, a refused
//! one reported as an authentication error) and `Endpoint::with_auth` (a mechanism
//! factory). The single clients' cases are in `real_servers/cases.rs`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use smtp_async::proto::sasl::{SaslMechanism, ScramSha256};
use smtp_async::{
    Body, Endpoint, Error, Options, Pool, PoolConfig, TlsOptions, TlsPolicy, envelope,
};
use smtp_interop::facade::{BlockOn, OnSmol, OnTokio};

fn var(name: &str) -> String {
    let key = format!("SMTP_TEST_{name}");
    std::env::var(&key).unwrap_or_else(|_| {
        panic!(
            "{key} is not set: start the servers (scripts/servers/start) or run scripts/test-all"
        )
    })
}

fn submission() -> Options {
    let mut o = Options::new().with_timeout(Duration::from_secs(10));
    o.core.tls = TlsPolicy::Required;
    o.record_transcript = true;
    o.tls_options = TlsOptions::new()
        .with_ca_file(var("CA"))
        .unwrap()
        .with_server_name(var("TLS_NAME"));
    o
}

fn token(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "pool-{tag}.{}.{}.{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Sends a message with `tag` from alice to bob through the pool and waits until it is
/// in bob's maildir.
async fn send_and_find(pool: &Pool, ep: &Endpoint, tag: &str) -> Result<(), Error> {
    let t = token(tag);
    let (from, to) = (var("RCPT"), var("RCPT2"));
    let msg = format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: {t}\r\nMessage-ID: <{t}@test.example>\r\n\
         Date: Thu, 03 Dec 2026 12:00:00 +0000\r\n\r\nPooled.\r\n"
    );
    let r = pool
        .send(ep, envelope(&from, &[&to])?, Body::Bytes(msg.as_bytes()))
        .await?;
    assert!(r.recipients[0].accepted, "{r:?}");
    let dir = std::path::Path::new(&var("MAILDIR_ROOT")).join("bob/new");
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let found = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                std::fs::read(e.path()).is_ok_and(|b| String::from_utf8_lossy(&b).contains(&t))
            });
        if found {
            return Ok(());
        }
        assert!(
            Instant::now() < until,
            "{t} not delivered to bob within 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `first`, then `refreshed` on a refresh; logs the `refresh` flags.
struct Tokens {
    first: String,
    refreshed: String,
    calls: Mutex<Vec<bool>>,
}

impl smtp_async::TokenProvider for Tokens {
    fn token(&self, user: &str, refresh: bool) -> Result<String, Error> {
        assert_eq!(user, var("USER"));
        self.calls.lock().unwrap().push(refresh);
        Ok(if refresh {
            &self.refreshed
        } else {
            &self.first
        }
        .clone())
    }
}

fn tokens(first: &str, refreshed: &str) -> Arc<Tokens> {
    Arc::new(Tokens {
        first: var(first),
        refreshed: var(refreshed),
        calls: Mutex::new(Vec::new()),
    })
}

fn oauth_expired_token_is_refreshed_once<R: BlockOn>() {
    R::block_on(async {
        let pool = Pool::on(R::runtime(), PoolConfig::default());
        let p = tokens("OAUTH_EXPIRED", "OAUTH_TOKEN");
        let ep = Endpoint::new(&var("POSTFIX_SUBMISSION"), submission())
            .unwrap()
            .with_oauth(&var("USER"), p.clone());
        send_and_find(&pool, &ep, "oauth-1").await.unwrap();
        send_and_find(&pool, &ep, "oauth-2").await.unwrap();
        // One connection: refreshed once, then reused.
        assert_eq!(*p.calls.lock().unwrap(), [false, true]);
        pool.close().await;
    })
}

fn oauth_refused_token_is_an_auth_error<R: BlockOn>() {
    R::block_on(async {
        let pool = Pool::on(R::runtime(), PoolConfig::default());
        let p = tokens("OAUTH_EXPIRED", "OAUTH_EXPIRED");
        let ep = Endpoint::new(&var("POSTFIX_SUBMISSION"), submission())
            .unwrap()
            .with_oauth(&var("USER"), p.clone());
        let err = send_and_find(&pool, &ep, "oauth-refused")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Auth { .. }), "{err}");
        assert!(smtp_async::is_token_refused(&err), "{err}");
        // Asked twice, never more (whatever the pool's retry policy).
        let calls = p.calls.lock().unwrap().clone();
        assert_eq!(calls, [false, true]);
        pool.close().await;
    })
}

fn mechanism_factory<R: BlockOn>() {
    R::block_on(async {
        let pool = Pool::on(R::runtime(), PoolConfig::default());
        let made = Arc::new(AtomicU32::new(0));
        let m = made.clone();
        let (user, pass) = (var("USER"), var("PASSWORD"));
        let ep = Endpoint::new(&var("POSTFIX_SUBMISSION"), submission())
            .unwrap()
            .with_auth(Arc::new(move || {
                let n = m.fetch_add(1, Ordering::Relaxed);
                Box::new(ScramSha256::new(
                    user.clone(),
                    pass.as_str(),
                    format!("poolnonce{n}x{}", std::process::id()),
                )) as Box<dyn SaslMechanism>
            }));
        send_and_find(&pool, &ep, "factory-1").await.unwrap();
        send_and_find(&pool, &ep, "factory-2").await.unwrap();
        assert_eq!(made.load(Ordering::Relaxed), 1, "one connection, reused");
        pool.close().await;
    })
}

macro_rules! on_both {
    ($($case:ident),* $(,)?) => {
        mod on_tokio {
            $(
                #[test]
                #[ignore = "needs real servers (scripts/test-all starts them)"]
                fn $case() {
                    super::$case::<super::OnTokio>()
                }
            )*
        }
        mod on_smol {
            $(
                #[test]
                #[ignore = "needs real servers (scripts/test-all starts them)"]
                fn $case() {
                    super::$case::<super::OnSmol>()
                }
            )*
        }
    };
}

on_both!(
    oauth_expired_token_is_refreshed_once,
    oauth_refused_token_is_an_auth_error,
    mechanism_factory,
);
