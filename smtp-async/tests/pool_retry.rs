//! The pool's retry policy and rate limit, against a loopback server whose first
//! connections fail in a chosen way (`smtp_test_server::flaky`).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use smtp_async::{
    Body, Endpoint, Error, Options, Pool, PoolConfig, RetryPolicy, TlsPolicy, envelope,
};
use smtp_test_server::flaky::{Conn, Flaky};

fn endpoint(addr: SocketAddr) -> Endpoint {
    let opts = Options::new()
        .with_tls(TlsPolicy::Never)
        .with_timeout(Duration::from_secs(5));
    Endpoint::new(&addr.to_string(), opts).unwrap()
}

fn quick_retries(max_attempts: u32) -> RetryPolicy {
    let mut p = RetryPolicy::attempts(max_attempts);
    p.initial_backoff = Duration::from_millis(40);
    p.jitter = 0.0;
    p
}

const MSG: &[u8] = b"Subject: retry\r\n\r\nhello\r\n";

#[tokio::test]
async fn retries_a_refused_connection_with_backoff() {
    let server = Flaky::start(vec![Conn::Busy, Conn::Busy, Conn::Good]);
    let mut cfg = PoolConfig::default();
    cfg.retry = quick_retries(3);
    let pool = Pool::new(cfg);
    let env = envelope("a@example.test", &["b@example.test"]).unwrap();
    let t0 = Instant::now();
    let report = pool
        .send(&endpoint(server.addr), env, Body::Bytes(MSG))
        .await
        .expect("the third attempt succeeds");
    assert!(report.any_accepted());
    assert_eq!(server.connections.load(Ordering::SeqCst), 3);
    assert_eq!(server.delivered.lock().unwrap().len(), 1);
    // 40 ms, then 80 ms of backoff at least.
    assert!(
        t0.elapsed() >= Duration::from_millis(120),
        "{:?}",
        t0.elapsed()
    );
    pool.close().await;
}

#[tokio::test]
async fn gives_up_after_the_last_attempt_and_by_default_never_retries() {
    let server = Flaky::start(vec![Conn::Busy]);
    let mut cfg = PoolConfig::default();
    cfg.retry = quick_retries(2);
    let pool = Pool::new(cfg);
    let env = envelope("a@example.test", &["b@example.test"]).unwrap();
    let err = pool
        .send(&endpoint(server.addr), env.clone(), Body::Bytes(MSG))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ServiceClosing(_)), "{err}");
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);

    let server = Flaky::start(vec![Conn::Busy]);
    let pool = Pool::new(PoolConfig::default());
    let err = pool
        .send(&endpoint(server.addr), env, Body::Bytes(MSG))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ServiceClosing(_)), "{err}");
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn never_sends_again_what_may_have_been_delivered() {
    let server = Flaky::start(vec![Conn::DropAfterDot, Conn::Good]);
    let mut cfg = PoolConfig::default();
    cfg.retry = quick_retries(5);
    let pool = Pool::new(cfg);
    let env = envelope("a@example.test", &["b@example.test"]).unwrap();
    let err = pool
        .send(&endpoint(server.addr), env, Body::Bytes(MSG))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DeliveryUnknown { .. }), "{err}");
    assert!(!err.is_retry_safe());
    // The server took the message once, and no second connection came.
    assert_eq!(server.delivered.lock().unwrap().len(), 1);
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn rate_limit_spaces_the_sends() {
    let server = Flaky::start(vec![Conn::Good]);
    let mut cfg = PoolConfig::default();
    cfg.max_connections = 1; // bursts of one
    cfg.max_rate = Some(20.0); // one every 50 ms
    let pool = Pool::new(cfg);
    let ep = endpoint(server.addr);
    for _ in 0..5 {
        let env = envelope("a@example.test", &["b@example.test"]).unwrap();
        pool.send(&ep, env, Body::Bytes(MSG)).await.unwrap();
    }
    let times = server.delivered.lock().unwrap().clone();
    assert_eq!(times.len(), 5);
    // Four gaps of 50 ms at least (the first token is there at once).
    let span = times[4].duration_since(times[0]);
    assert!(span >= Duration::from_millis(190), "{span:?}");
    pool.close().await;
}
