//! OAuth logins with a token provider (client and pool), a pool endpoint with a
//! mechanism factory, HELO/EHLO names and `send_message` options, against the scripted
//! loopback server, each on tokio and on smol.

#![cfg(all(feature = "tokio", feature = "futures-io"))]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use smtp_async::proto::command::{MailParams, RcptParams, Ret};
use smtp_async::proto::sasl::{Plain, SaslMechanism};
use smtp_async::{
    AsyncTokenProvider, Body, Endpoint, Error, Options, Pool, PoolConfig, Runtime, SmtpClient,
    TlsPolicy, TokenFuture, envelope,
};
use smtp_test_server::{Script, TestServer};

const MSG: &[u8] = b"From: <a@example.org>\r\nTo: <b@example.net>\r\nSubject: t\r\n\r\nHello.\r\n";

macro_rules! both_runtimes {
    ($($case:ident),* $(,)?) => {
        mod on_tokio {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(&smtp_async::Tokio).await
                }
            )*
        }
        mod on_smol {
            $(
                #[test]
                fn $case() {
                    smol::block_on(super::$case(&smtp_async::AsyncIo))
                }
            )*
        }
    };
}

both_runtimes!(
    login_oauth_refreshes_an_expired_token_once,
    login_oauth_reports_a_refused_token,
    login_oauth_returns_the_refusal_when_the_server_closed_the_connection,
    login_oauth_never_loops_on_a_server_refusing_every_token,
    pool_endpoint_with_oauth,
    pool_endpoint_with_oauth_reconnects_when_the_refusal_closed_the_connection,
    pool_endpoint_with_a_mechanism_factory,
    ehlo_as_and_send_message_with,
    dropping_a_client_closes_without_quit,
);

fn plain() -> Options {
    let mut o = Options::new().with_timeout(Duration::from_secs(10));
    o.core.tls = TlsPolicy::Never;
    o.core.allow_plaintext_auth = true;
    o.record_transcript = true;
    o
}

fn oauth_script() -> Script {
    Script {
        oauth: Some(("alice@example.org".into(), "good-token".into())),
        ..Script::default()
    }
}

/// An async provider (as one that asks an authorization server would be): `first`,
/// then `refreshed` on a refresh; logs the `refresh` flags.
struct Provider {
    first: &'static str,
    refreshed: &'static str,
    calls: Mutex<Vec<bool>>,
}

impl Provider {
    fn new(first: &'static str, refreshed: &'static str) -> Arc<Provider> {
        Arc::new(Provider {
            first,
            refreshed,
            calls: Mutex::new(Vec::new()),
        })
    }

    fn calls(&self) -> Vec<bool> {
        self.calls.lock().unwrap().clone()
    }
}

impl AsyncTokenProvider for Provider {
    fn token_async<'a>(&'a self, user: &'a str, refresh: bool) -> TokenFuture<'a> {
        Box::pin(async move {
            assert_eq!(user, "alice@example.org");
            self.calls.lock().unwrap().push(refresh);
            Ok(if refresh { self.refreshed } else { self.first }.to_owned())
        })
    }
}

fn auth_count(server: &TestServer) -> usize {
    server
        .sessions()
        .iter()
        .flat_map(|s| s.commands.iter())
        .filter(|l| l.starts_with("AUTH"))
        .count()
}

async fn login_oauth_refreshes_an_expired_token_once(rt: &'static dyn Runtime) {
    let server = TestServer::start(oauth_script());
    let mut c = SmtpClient::connect_on(rt, &server.addr().to_string(), plain())
        .await
        .unwrap();
    let p = Provider::new("expired-token", "good-token");
    let reply = c.login_oauth("alice@example.org", &*p).await.unwrap();
    assert_eq!(reply.code(), 235);
    assert_eq!(p.calls(), [false, true]);
    assert_eq!(auth_count(&server), 2);
    let transcript = c.take_transcript().join("\n");
    assert!(!transcript.contains("expired-token") && !transcript.contains("good-token"));
    c.quit().await.unwrap();
}

async fn login_oauth_reports_a_refused_token(rt: &'static dyn Runtime) {
    let server = TestServer::start(oauth_script());
    let mut c = SmtpClient::connect_on(rt, &server.addr().to_string(), plain())
        .await
        .unwrap();
    // A plain closure is a provider too.
    let calls = AtomicUsize::new(0);
    let p = |_: &str, _: bool| -> Result<String, Error> {
        calls.fetch_add(1, Ordering::Relaxed);
        Ok("revoked-token".into())
    };
    let err = c.login_oauth("alice@example.org", &p).await.unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "{err}");
    assert_eq!(calls.load(Ordering::Relaxed), 2, "one refresh, no loop");
    assert!(c.is_usable());
}

/// Always hands out a fresh token, whatever `refresh` says (the documented way to log in
/// again after the server closed the connection on a refused token).
struct Refreshing(Arc<Provider>);

impl AsyncTokenProvider for Refreshing {
    fn token_async<'a>(&'a self, user: &'a str, _refresh: bool) -> TokenFuture<'a> {
        self.0.token_async(user, true)
    }
}

async fn login_oauth_returns_the_refusal_when_the_server_closed_the_connection(
    rt: &'static dyn Runtime,
) {
    let server = TestServer::start(Script {
        oauth_refusal_closes: true,
        ..oauth_script()
    });
    let mut c = SmtpClient::connect_on(rt, &server.addr().to_string(), plain())
        .await
        .unwrap();
    let p = Provider::new("expired-token", "good-token");
    let err = c.login_oauth("alice@example.org", &*p).await.unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "{err}");
    assert!(smtp_async::is_token_refused(&err), "{err}");
    assert!(!c.is_usable());
    // Asked to refresh only if the client tried the retry before it saw the close.
    let before = p.calls();
    assert!(before == [false] || before == [false, true], "{before:?}");
    // As documented: a new connection, a provider that refreshes at once.
    let mut c = SmtpClient::connect_on(rt, &server.addr().to_string(), plain())
        .await
        .unwrap();
    let reply = c
        .login_oauth("alice@example.org", &Refreshing(p.clone()))
        .await
        .unwrap();
    assert_eq!(reply.code(), 235);
    assert_eq!(p.calls()[before.len()..], [true]);
    assert_eq!(server.sessions().len(), 2);
    c.quit().await.unwrap();
}

async fn login_oauth_never_loops_on_a_server_refusing_every_token(rt: &'static dyn Runtime) {
    let server = TestServer::start(oauth_script());
    let mut c = SmtpClient::connect_on(rt, &server.addr().to_string(), plain())
        .await
        .unwrap();
    let p = Provider::new("revoked-1", "revoked-2");
    for _ in 0..2 {
        let err = c.login_oauth("alice@example.org", &*p).await.unwrap_err();
        assert!(smtp_async::is_token_refused(&err), "{err}");
    }
    assert_eq!(p.calls(), [false, true, false, true]);
    assert_eq!(auth_count(&server), 4);
    assert!(c.is_usable());
    c.quit().await.unwrap();
}

async fn send(pool: &Pool, ep: &Endpoint) -> Result<smtp_async::SendReport, Error> {
    let env = envelope("a@example.org", &["b@example.net"]).unwrap();
    pool.send(ep, env, Body::Bytes(MSG)).await
}

async fn pool_endpoint_with_oauth(rt: &'static dyn Runtime) {
    let server = TestServer::start(oauth_script());
    let pool = Pool::on(rt, PoolConfig::default());
    let p = Provider::new("expired-token", "good-token");
    let ep = Endpoint::new(&server.addr().to_string(), plain())
        .unwrap()
        .with_oauth("alice@example.org", p.clone());
    send(&pool, &ep).await.unwrap();
    send(&pool, &ep).await.unwrap();
    // One connection, refreshed once, then reused.
    assert_eq!(p.calls(), [false, true]);
    assert_eq!(server.sessions().len(), 1);
    assert_eq!(server.messages().len(), 2);
    // A revoked token: the send fails with the auth error.
    let revoked = Endpoint::new(&server.addr().to_string(), plain())
        .unwrap()
        .with_oauth("alice@example.org", Provider::new("x", "y"));
    let err = send(&pool, &revoked).await.unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "{err}");
    pool.close().await;
}

async fn pool_endpoint_with_oauth_reconnects_when_the_refusal_closed_the_connection(
    rt: &'static dyn Runtime,
) {
    let server = TestServer::start(Script {
        oauth_refusal_closes: true,
        ..oauth_script()
    });
    let pool = Pool::on(rt, PoolConfig::default());
    let p = Provider::new("expired-token", "good-token");
    let ep = Endpoint::new(&server.addr().to_string(), plain())
        .unwrap()
        .with_oauth("alice@example.org", p.clone());
    send(&pool, &ep).await.unwrap();
    assert_eq!(p.calls(), [false, true]);
    assert_eq!(
        server.sessions().len(),
        2,
        "the retry ran on a new connection"
    );
    pool.close().await;
}

async fn pool_endpoint_with_a_mechanism_factory(rt: &'static dyn Runtime) {
    let server = TestServer::start(Script {
        auth: Some(("alice".into(), "secret".into())),
        ..Script::default()
    });
    let made = Arc::new(AtomicUsize::new(0));
    let m = made.clone();
    let ep = Endpoint::new(&server.addr().to_string(), plain())
        .unwrap()
        .with_auth(Arc::new(move || {
            m.fetch_add(1, Ordering::Relaxed);
            Box::new(Plain::new("alice", "secret")) as Box<dyn SaslMechanism>
        }));
    let pool = Pool::on(rt, PoolConfig::default());
    // Two sends at once: two connections, a fresh mechanism for each.
    let (a, b) = futures_join(send(&pool, &ep), send(&pool, &ep)).await;
    a.unwrap();
    b.unwrap();
    let sessions = server.sessions().len();
    assert_eq!(made.load(Ordering::Relaxed), sessions);
    assert_eq!(auth_count(&server), sessions);
    pool.close().await;
}

/// Both futures to completion, polled in turn.
async fn futures_join<A: std::future::Future, B: std::future::Future>(
    a: A,
    b: B,
) -> (A::Output, B::Output) {
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none()
            && let std::task::Poll::Ready(r) = a.as_mut().poll(cx)
        {
            ra = Some(r);
        }
        if rb.is_none()
            && let std::task::Poll::Ready(r) = b.as_mut().poll(cx)
        {
            rb = Some(r);
        }
        if ra.is_some() && rb.is_some() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    (ra.unwrap(), rb.unwrap())
}

async fn ehlo_as_and_send_message_with(rt: &'static dyn Runtime) {
    let server = TestServer::start(Script {
        extensions: vec!["DSN".into(), "PIPELINING".into()],
        ..Script::default()
    });
    let mut c = SmtpClient::connect_on(rt, &server.addr().to_string(), plain())
        .await
        .unwrap();
    assert_eq!(c.ehlo_as("one.example").await.unwrap().code(), 250);
    assert_eq!(c.helo_as("two.example").await.unwrap().code(), 250);
    assert_eq!(c.ehlo().await.unwrap().code(), 250);
    let mut mail = MailParams::default();
    mail.ret = Some(Ret::Full);
    let report = c
        .send_message_with(MSG, None, None, mail, RcptParams::default())
        .await
        .unwrap();
    assert!(report.recipients[0].accepted);
    c.quit().await.unwrap();
    let cmds = &server.sessions()[0].commands;
    assert!(cmds.iter().any(|l| l == "EHLO one.example"), "{cmds:?}");
    assert!(cmds.iter().any(|l| l == "HELO two.example"), "{cmds:?}");
    assert!(
        cmds.iter()
            .any(|l| l.starts_with("MAIL FROM:<a@example.org>") && l.contains("RET=FULL")),
        "{cmds:?}"
    );
}

/// The documented drop behaviour: dropping an async client closes the connection without
/// QUIT (a drop cannot await).
async fn dropping_a_client_closes_without_quit(rt: &'static dyn Runtime) {
    let server = TestServer::start(Script::default());
    let c = SmtpClient::connect_on(rt, &server.addr().to_string(), plain())
        .await
        .unwrap();
    drop(c);
    std::thread::sleep(Duration::from_millis(200));
    let cmds = &server.sessions()[0].commands;
    assert!(cmds.iter().any(|l| l.starts_with("EHLO")), "{cmds:?}");
    assert!(!cmds.iter().any(|l| l == "QUIT"), "{cmds:?}");
}
