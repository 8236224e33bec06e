//! Through a proxy, on tokio and on smol, against the scripted loopback server and the
//! scripted proxy of `smtp-test-server` (the real SOCKS5 and HTTP CONNECT proxies are
//! tested in the interop suite's real-server cases): single sessions, the pool, and
//! hostile proxies.

#![cfg(all(feature = "tokio", feature = "futures-io"))]

use std::time::{Duration, Instant};

use smtp_async::{
    Body, Endpoint, Error, Fault, Options, Pool, PoolConfig, ProxyError, ProxyRefusal, Runtime,
    SmtpClient, TimeoutPhase, TlsOptions, TlsPolicy, envelope,
};
use smtp_test_server::proxy::{ProxyMode, TestProxy};
use smtp_test_server::{CA_PEM, Script, TestServer};

const MSG: &[u8] = b"From: <a@example.org>\r\nTo: <b@example.net>\r\nSubject: t\r\n\r\nHello.\r\n";

/// Runs `case` on tokio (current-thread runtime) and on smol.
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
    socks5h_sends_the_name_and_delivers,
    socks5_resolves_here_and_sends_an_address,
    starttls_through_socks5_checks_the_mail_servers_name,
    http_connect_with_basic_auth_and_implicit_tls,
    refusals_are_typed,
    silent_proxy_times_out_within_the_connect_timeout,
    pool_connects_through_the_proxy,
);

fn opts(proxy: &str, tls: TlsPolicy) -> Options {
    let mut o = Options::new()
        .with_timeout(Duration::from_secs(10))
        .with_tls(tls)
        .with_proxy(proxy.parse().unwrap());
    o.tls_options = TlsOptions::new().with_ca_pem(CA_PEM).unwrap();
    o
}

async fn send(c: &mut SmtpClient) {
    let r = c
        .sendmail(
            "a@example.org",
            &["b@example.net"],
            MSG,
            Default::default(),
            Default::default(),
        )
        .await
        .unwrap();
    assert!(r.recipients[0].accepted);
}

async fn socks5h_sends_the_name_and_delivers(rt: &'static dyn Runtime) {
    let server = TestServer::start(Script::default());
    let proxy = TestProxy::start(ProxyMode::Socks5 { credentials: None });
    let port = server.addr().port();
    let o = opts(&format!("socks5h://{}", proxy.addr()), TlsPolicy::Never);
    let mut c = SmtpClient::connect_on(rt, &format!("mail.invalid:{port}"), o)
        .await
        .unwrap();
    send(&mut c).await;
    c.quit().await.unwrap();
    assert_eq!(proxy.asked(), [format!("mail.invalid:{port}")]);
    assert_eq!(server.messages()[0].data, MSG);
}

async fn socks5_resolves_here_and_sends_an_address(rt: &'static dyn Runtime) {
    let server = TestServer::start(Script::default());
    let proxy = TestProxy::start(ProxyMode::Socks5 { credentials: None });
    let port = server.addr().port();
    let o = opts(&format!("socks5://{}", proxy.addr()), TlsPolicy::Never);
    let mut c = SmtpClient::connect_on(rt, &format!("localhost:{port}"), o)
        .await
        .unwrap();
    send(&mut c).await;
    let asked = proxy.asked();
    assert!(
        asked == [format!("127.0.0.1:{port}")] || asked == [format!("[::1]:{port}")],
        "{asked:?}"
    );
}

async fn starttls_through_socks5_checks_the_mail_servers_name(rt: &'static dyn Runtime) {
    let server = TestServer::start(Script {
        starttls: true,
        ..Script::default()
    });
    let proxy = TestProxy::start(ProxyMode::Socks5 {
        credentials: Some(("alice".into(), "s3cret".into())),
    });
    let port = server.addr().port();
    let url = format!("socks5h://alice:s3cret@{}", proxy.addr());
    // The proxy's address is in the test certificate, "mail.invalid" is not.
    let err = SmtpClient::connect_on(
        rt,
        &format!("mail.invalid:{port}"),
        opts(&url, TlsPolicy::Required),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Tls(_)), "{err:?}");
    let mut o = opts(&url, TlsPolicy::Required);
    o.tls_options = o.tls_options.with_server_name("localhost");
    let mut c = SmtpClient::connect_on(rt, &format!("mail.invalid:{port}"), o)
        .await
        .unwrap();
    assert!(c.is_encrypted());
    send(&mut c).await;
    c.quit().await.unwrap();
}

async fn http_connect_with_basic_auth_and_implicit_tls(rt: &'static dyn Runtime) {
    let server = TestServer::start(Script {
        implicit_tls: true,
        ..Script::default()
    });
    let proxy = TestProxy::start(ProxyMode::Http {
        credentials: Some(("bob".into(), "pw".into())),
    });
    let port = server.addr().port();
    let url = format!("http://bob:pw@{}", proxy.addr());
    let mut c = SmtpClient::connect_on(
        rt,
        &format!("localhost:{port}"),
        opts(&url, TlsPolicy::Implicit),
    )
    .await
    .unwrap();
    assert!(c.is_encrypted());
    send(&mut c).await;
    c.quit().await.unwrap();
    assert_eq!(proxy.asked(), [format!("localhost:{port}")]);
}

async fn refusals_are_typed(rt: &'static dyn Runtime) {
    let p = TestProxy::scripted(&[b"\x05\x00", b"\x05\x04\x00\x01\0\0\0\0\0\0"]);
    let o = opts(&format!("socks5h://{}", p.addr()), TlsPolicy::Never);
    let err = SmtpClient::connect_on(rt, "mail.invalid:25", o)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Proxy {
                source: ProxyError::Refused {
                    refusal: ProxyRefusal::Socks(4),
                    ..
                },
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.fault(), Fault::Io);
    let p = TestProxy::scripted(&[b"HTTP/1.0 503 Service Unavailable\r\n\r\n"]);
    let o = opts(&format!("http://{}", p.addr()), TlsPolicy::Never);
    let err = SmtpClient::connect_on(rt, "mail.invalid:25", o)
        .await
        .unwrap_err();
    assert_eq!(err.fault(), Fault::Proxy, "{err:?}");
    assert!(err.is_transient());
    let p = TestProxy::scripted(&[b"\x04\x5a"]);
    let o = opts(&format!("socks5h://{}", p.addr()), TlsPolicy::Never);
    let err = SmtpClient::connect_on(rt, "mail.invalid:25", o)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Proxy {
                source: ProxyError::Protocol(_),
                ..
            }
        ),
        "{err:?}"
    );
}

async fn silent_proxy_times_out_within_the_connect_timeout(rt: &'static dyn Runtime) {
    let proxy = TestProxy::start(ProxyMode::Silent);
    let mut o = opts(&format!("http://{}", proxy.addr()), TlsPolicy::Never);
    o.connect_timeout = Duration::from_millis(300);
    let t0 = Instant::now();
    let err = SmtpClient::connect_on(rt, "mail.invalid:25", o)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Timeout(TimeoutPhase::ProxyHandshake)),
        "{err:?}"
    );
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
}

async fn pool_connects_through_the_proxy(rt: &'static dyn Runtime) {
    let server = TestServer::start(Script::default());
    let proxy = TestProxy::start(ProxyMode::Socks5 { credentials: None });
    let port = server.addr().port();
    let pool = Pool::on(rt, PoolConfig::default());
    let o = opts(&format!("socks5h://{}", proxy.addr()), TlsPolicy::Never);
    let ep = Endpoint::new(&format!("mail.invalid:{port}"), o).unwrap();
    for _ in 0..3 {
        let env = envelope("a@example.org", &["b@example.net"]).unwrap();
        pool.send(&ep, env, Body::Bytes(MSG)).await.unwrap();
    }
    // One connection through the proxy, reused.
    assert_eq!(proxy.asked(), [format!("mail.invalid:{port}")]);
    assert_eq!(server.messages().len(), 3);
    pool.close().await;
}
