//! Through a proxy, against the scripted loopback server and the scripted proxy of
//! `smtp-test-server` (the real SOCKS5 and HTTP CONNECT proxies are tested in the interop
//! suite's real-server cases): relays that work, with and without credentials and TLS, and
//! hostile proxies whose replies must end in typed errors, never a hang or a panic.

use std::time::{Duration, Instant};

use smtp_blocking::{
    Error, Fault, Options, ProxyError, ProxyRefusal, SmtpClient, TimeoutPhase, TlsOptions,
    TlsPolicy,
};
use smtp_test_server::proxy::{ProxyMode, TestProxy};
use smtp_test_server::{CA_PEM, Script, TestServer};

const MSG: &[u8] = b"From: <a@example.org>\r\nTo: <b@example.net>\r\nSubject: t\r\n\r\nHello.\r\n";

fn opts(proxy: &str, tls: TlsPolicy) -> Options {
    let mut o = Options::new()
        .with_timeout(Duration::from_secs(10))
        .with_tls(tls)
        .with_proxy(proxy.parse().unwrap());
    o.tls_options = TlsOptions::new().with_ca_pem(CA_PEM).unwrap();
    o
}

fn creds(u: &str, p: &str) -> Option<(String, String)> {
    Some((u.into(), p.into()))
}

/// Connects to `target` through a scripted `scheme://` proxy answering `replies`: the
/// error, and the proxy's URL.
fn through_scripted(target: &str, scheme: &str, replies: &[&[u8]]) -> (Error, String) {
    let p = TestProxy::scripted(replies);
    let url = format!("{scheme}://{}", p.addr());
    let err = SmtpClient::connect(target, opts(&url, TlsPolicy::Never)).unwrap_err();
    (err, url)
}

fn send(c: &mut SmtpClient) {
    let r = c
        .sendmail(
            "a@example.org",
            &["b@example.net"],
            MSG,
            Default::default(),
            Default::default(),
        )
        .unwrap();
    assert!(r.recipients[0].accepted);
}

#[test]
fn socks5h_sends_the_name_and_delivers() {
    let server = TestServer::start(Script::default());
    let proxy = TestProxy::start(ProxyMode::Socks5 { credentials: None });
    let port = server.addr().port();
    let o = opts(&format!("socks5h://{}", proxy.addr()), TlsPolicy::Never);
    let mut c = SmtpClient::connect(&format!("mail.invalid:{port}"), o).unwrap();
    send(&mut c);
    c.quit().unwrap();
    assert_eq!(proxy.asked(), [format!("mail.invalid:{port}")]);
    assert_eq!(server.messages()[0].data, MSG);
}

#[test]
fn socks5_resolves_here_and_sends_an_address() {
    let server = TestServer::start(Script::default());
    let proxy = TestProxy::start(ProxyMode::Socks5 { credentials: None });
    let port = server.addr().port();
    let o = opts(&format!("socks5://{}", proxy.addr()), TlsPolicy::Never);
    let mut c = SmtpClient::connect(&format!("localhost:{port}"), o).unwrap();
    send(&mut c);
    let asked = proxy.asked();
    assert!(
        asked == [format!("127.0.0.1:{port}")] || asked == [format!("[::1]:{port}")],
        "{asked:?}"
    );
}

#[test]
fn socks5_with_credentials_and_starttls_checks_the_mail_servers_name() {
    let server = TestServer::start(Script {
        starttls: true,
        ..Script::default()
    });
    let proxy = TestProxy::start(ProxyMode::Socks5 {
        credentials: creds("alice", "s3cret"),
    });
    let port = server.addr().port();
    let url = format!("socks5h://alice:s3cret@{}", proxy.addr());
    // The proxy's address (127.0.0.1) is in the test certificate; "mail.invalid" is not.
    // Verifying the proxy's name would pass: the mail server's is checked, and fails.
    let err = SmtpClient::connect(
        &format!("mail.invalid:{port}"),
        opts(&url, TlsPolicy::Required),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Tls(_)), "{err:?}");
    assert!(err.to_string().contains("mail.invalid"), "{err}");
    // With the name the certificate has, STARTTLS runs end to end through the tunnel.
    let mut o = opts(&url, TlsPolicy::Required);
    o.tls_options = o.tls_options.with_server_name("localhost");
    let mut c = SmtpClient::connect(&format!("mail.invalid:{port}"), o).unwrap();
    assert!(c.is_encrypted());
    send(&mut c);
    c.quit().unwrap();
    assert!(server.sessions().iter().any(|s| s.tls));
}

#[test]
fn http_connect_with_basic_auth_and_implicit_tls() {
    let server = TestServer::start(Script {
        implicit_tls: true,
        ..Script::default()
    });
    let proxy = TestProxy::start(ProxyMode::Http {
        credentials: creds("bob", "p@ss:word"),
    });
    let port = server.addr().port();
    let url = format!("http://bob:p%40ss%3Aword@{}", proxy.addr());
    let mut c = SmtpClient::connect(
        &format!("localhost:{port}"),
        opts(&url, TlsPolicy::Implicit),
    )
    .unwrap();
    assert!(c.is_encrypted());
    send(&mut c);
    c.quit().unwrap();
    assert_eq!(proxy.asked(), [format!("localhost:{port}")]);
}

#[test]
fn credentials_refused_or_missing_are_the_callers_fault() {
    let server = TestServer::start(Script::default());
    let target = format!("localhost:{}", server.addr().port());
    for mode in [
        ProxyMode::Socks5 {
            credentials: creds("alice", "right"),
        },
        ProxyMode::Http {
            credentials: creds("alice", "right"),
        },
    ] {
        let proxy = TestProxy::start(mode.clone());
        let scheme = match mode {
            ProxyMode::Http { .. } => "http",
            _ => "socks5h",
        };
        let wrong = format!("{scheme}://alice:wrong@{}", proxy.addr());
        let err = SmtpClient::connect(&target, opts(&wrong, TlsPolicy::Never)).unwrap_err();
        assert!(
            matches!(
                &err,
                Error::Proxy {
                    source: ProxyError::AuthRejected,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.fault(), Fault::Caller);
        assert!(!err.to_string().contains("wrong"), "{err}");
        let none = format!("{scheme}://{}", proxy.addr());
        let err = SmtpClient::connect(&target, opts(&none, TlsPolicy::Never)).unwrap_err();
        assert!(
            matches!(
                &err,
                Error::Proxy {
                    source: ProxyError::AuthRequired,
                    ..
                }
            ),
            "{err:?}"
        );
    }
    assert!(server.sessions().is_empty());
}

#[test]
fn refusals_are_typed_and_say_whose_fault() {
    let server = TestServer::start(Script::default());
    let target = format!("localhost:{}", server.addr().port());
    // SOCKS5 reply 5: the mail server refused the proxy's connection (the network's fault).
    let (err, url) = through_scripted(
        &target,
        "socks5h",
        &[b"\x05\x00", b"\x05\x05\x00\x01\0\0\0\0\0\0"],
    );
    match &err {
        Error::Proxy {
            proxy,
            source:
                ProxyError::Refused {
                    target: t,
                    refusal: ProxyRefusal::Socks(5),
                },
        } => {
            assert_eq!(proxy, &url);
            assert_eq!(t, &target);
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(err.fault(), Fault::Io);
    assert!(err.is_transient() && err.is_retry_safe());
    assert!(err.to_string().contains("connection refused"), "{err}");
    // Not allowed by ruleset: the proxy's policy.
    let (err, _) = through_scripted(
        &target,
        "socks5h",
        &[b"\x05\x00", b"\x05\x02\x00\x01\0\0\0\0\0\0"],
    );
    assert_eq!(err.fault(), Fault::Proxy, "{err:?}");
    assert!(!err.is_transient());
    // HTTP 403.
    let (err, _) = through_scripted(
        &target,
        "http",
        &[b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"],
    );
    assert!(
        matches!(
            &err,
            Error::Proxy {
                source: ProxyError::Refused {
                    refusal: ProxyRefusal::Http { status: 403, .. },
                    ..
                },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("403 Forbidden"), "{err}");
    // Not a proxy at all: an SMTP server's greeting.
    let (err, _) = through_scripted(&target, "http", &[b"220 mx ESMTP\r\n"]);
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
    assert_eq!(err.fault(), Fault::Proxy);
    // Closes half-way through the SOCKS5 reply.
    let (err, _) = through_scripted(&target, "socks5h", &[b"\x05\x00", b"\x05\x00\x00\x01\x7f"]);
    assert!(
        matches!(
            &err,
            Error::Proxy {
                source: ProxyError::Closed,
                ..
            }
        ),
        "{err:?}"
    );
    // An endless response head is cut at the cap.
    let (err, _) = through_scripted(
        &target,
        "http",
        &[&[b"HTTP/1.1 200 OK\r\n".as_slice(), &[b'x'; 20_000]].concat()],
    );
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
    assert!(server.sessions().is_empty());
}

#[test]
fn silent_proxy_times_out_within_the_connect_timeout() {
    let proxy = TestProxy::start(ProxyMode::Silent);
    let mut o = opts(&format!("socks5h://{}", proxy.addr()), TlsPolicy::Never);
    o.connect_timeout = Duration::from_millis(300);
    let t0 = Instant::now();
    let err = SmtpClient::connect("mail.invalid:25", o).unwrap_err();
    assert!(
        matches!(err, Error::Timeout(TimeoutPhase::ProxyHandshake)),
        "{err:?}"
    );
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert_eq!(err.fault(), Fault::Io);
}

#[test]
fn unreachable_proxy_is_a_proxy_connect_error() {
    // A port nothing listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let o = opts(
        &format!("socks5h://u:pw@127.0.0.1:{port}"),
        TlsPolicy::Never,
    );
    let err = SmtpClient::connect("mail.invalid:25", o).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Proxy {
                source: ProxyError::Connect(_),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.fault(), Fault::Io);
    assert!(err.is_transient());
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("proxy socks5h://***@127.0.0.1"), "{shown}");
    assert!(!shown.contains("pw"), "{shown}");
}
