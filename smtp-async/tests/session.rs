//! End-to-end tests against the scripted loopback server, each run on tokio and on smol
//! (the `futures-io` runtime): sessions, refusals, timeouts naming the phase, cancellation
//! and the pool. The real-server scenarios are in the interop suite (`smtp-interop`).

#![cfg(all(feature = "tokio", feature = "futures-io"))]

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use smtp_async::proto::session::RcptStatus;
use smtp_async::{
    Body, Endpoint, Error, Fault, HealthCheck, Options, Phase, Pool, PoolConfig, Runtime,
    SmtpClient, TimeoutPhase, TlsOptions, TlsPolicy, envelope,
};
use smtp_test_server::{CA_PEM, Rule, Script, Step, TestServer};

const MSG: &[u8] =
    b"From: <a@example.org>\r\nTo: <b@example.net>\r\nSubject: t\r\n\r\nHello.\r\n.dot\r\n";

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
    full_send_plain,
    starttls_required_and_login,
    implicit_tls,
    untrusted_certificate_fails,
    refusals_are_results,
    server_that_never_greets_times_out,
    server_that_drips_bytes_times_out,
    stall_after_data_times_out_and_may_have_delivered,
    stall_after_end_of_data_is_delivery_unknown,
    reset_after_end_of_data_is_delivery_unknown,
    injection_after_starttls_220_is_refused,
    cancelled_send_poisons_the_connection,
    pipelined_batch_and_reader_bodies,
    low_level_commands,
    lmtp_per_recipient_results,
    lmtp_over_unix_socket,
    own_stream_with_own_tls_upgrade,
    send_message_extracts_envelope,
    pool_spreads_concurrent_sends,
    pool_reconnects_when_idle_connection_was_closed,
    pool_health_check_replaces_dead_connection,
    pool_421_mid_batch,
    pool_drops_cancelled_connections,
    pool_shutdown_quits,
    pool_keys_separate_tls_and_identity,
    send_all_reports_a_message_it_cannot_send_and_goes_on,
    timeouts_of_duration_max_mean_none,
    pool_health_check_has_its_own_deadline,
    large_bodies_with_vectored_writes_plain_and_tls,
    raw_octets_of_data_and_bdat,
    nul_and_long_lines_are_refused_before_mail_and_when_streamed,
    pool_login_refused_locally_quits,
    tls_info_timings_and_capabilities_before_starttls,
    refused_certificate_chain_is_kept_with_why,
);

fn plain() -> Options {
    let mut o = Options::new().with_timeout(Duration::from_secs(10));
    o.core.tls = TlsPolicy::Never;
    o.record_transcript = true;
    o.helo_name = Some("client.example".into());
    o
}

fn tls(policy: TlsPolicy) -> Options {
    let mut o = plain();
    o.core.tls = policy;
    o.tls_options = TlsOptions::new().with_ca_pem(CA_PEM).unwrap();
    o
}

async fn connect(
    rt: &'static dyn Runtime,
    server: &TestServer,
    opts: Options,
) -> Result<SmtpClient, Error> {
    SmtpClient::connect_on(rt, &server.addr().to_string(), opts).await
}

async fn send(c: &mut SmtpClient, to: &[&str]) -> Result<smtp_async::SendReport, Error> {
    c.sendmail(
        "a@example.org",
        to,
        MSG,
        Default::default(),
        Default::default(),
    )
    .await
}

/// Polls `fut` until `after` has passed, then drops it (a cancelled call). Returns its
/// output if it finished first.
async fn cancel_after<F: Future>(rt: &dyn Runtime, after: Duration, fut: F) -> Option<F::Output> {
    let mut fut = pin!(fut);
    let mut sleep = rt.sleep_until(Instant::now() + after);
    poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        if sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

async fn sleep(rt: &dyn Runtime, d: Duration) {
    rt.sleep_until(Instant::now() + d).await
}

async fn full_send_plain(rt: &'static dyn Runtime) {
    let server = TestServer::start(Script::default());
    let mut c = connect(rt, &server, plain()).await.unwrap();
    assert!(c.has_extn("pipelining"));
    assert_eq!(c.greeting().unwrap().code(), 220);
    let report = send(&mut c, &["b@example.net", "c@example.net"])
        .await
        .unwrap();
    assert_eq!(report.recipients.len(), 2);
    assert!(report.recipients.iter().all(|r| r.accepted));
    let quit = c.quit().await.unwrap().unwrap();
    assert_eq!(quit.code(), 221);
    let msgs = server.messages();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].data, MSG);
    assert_eq!(msgs[0].rcpts, ["b@example.net", "c@example.net"]);
    let t = c.take_transcript();
    assert!(
        t.iter()
            .any(|l| l.starts_with("C: MAIL FROM:<a@example.org>")),
        "{t:?}"
    );
}

async fn starttls_required_and_login(rt: &'static dyn Runtime) {
    let mut script = Script {
        starttls: true,
        ..Script::default()
    };
    script.auth = Some(("alice".into(), "secret".into()));
    let server = TestServer::start(script);
    let mut c = connect(rt, &server, tls(TlsPolicy::Required))
        .await
        .unwrap();
    assert!(c.is_encrypted());
    let r = c.login("alice", "secret").await.unwrap();
    assert_eq!(r.code(), 235);
    send(&mut c, &["b@example.net"]).await.unwrap();
    c.quit().await.unwrap();
    let s = &server.sessions()[0];
    assert!(s.tls);
    // AUTH only after TLS; the transcript redacts it.
    let t = c.take_transcript();
    assert!(!t.iter().any(|l| l.contains("c2VjcmV0")), "{t:?}");

    // Wrong password: a typed authentication error from the server.
    let mut c = connect(rt, &server, tls(TlsPolicy::Required))
        .await
        .unwrap();
    let e = c.login("alice", "wrong").await.unwrap_err();
    assert!(matches!(e, Error::Auth { .. }), "{e}");
    assert_eq!(e.fault(), Fault::Peer);
}

async fn implicit_tls(rt: &'static dyn Runtime) {
    let server = TestServer::start(Script {
        implicit_tls: true,
        ..Script::default()
    });
    let mut c = connect(rt, &server, tls(TlsPolicy::Implicit))
        .await
        .unwrap();
    assert!(c.is_encrypted());
    send(&mut c, &["b@example.net"]).await.unwrap();
    c.quit().await.unwrap();
}

async fn untrusted_certificate_fails(rt: &'static dyn Runtime) {
    let server = TestServer::start(Script {
        starttls: true,
        ..Script::default()
    });
    let mut o = plain();
    o.core.tls = TlsPolicy::Required;
    let e = connect(rt, &server, o).await.unwrap_err();
    assert!(matches!(e, Error::Tls(_)), "{e}");
    assert!(server.messages().is_empty());

    // Required STARTTLS that the server does not offer: no MAIL is ever sent.
    let server = TestServer::start(Script::default());
    let e = connect(rt, &server, tls(TlsPolicy::Required))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::TlsUnavailable(_)), "{e}");
    assert!(
        !server.sessions()[0]
            .commands
            .iter()
            .any(|c| c.starts_with("MAIL"))
    );
}

async fn refusals_are_results(rt: &'static dyn Runtime) {
    let script = Script::default()
        .rule(Rule::reply("RCPT TO:<bad@", "550 5.1.1 no such user\r\n"))
        .rule(Rule::reply(
            "MAIL FROM:<spam@",
            "553 5.7.1 sender refused\r\n",
        ));
    let server = TestServer::start(script);
    let mut c = connect(rt, &server, plain()).await.unwrap();
    let report = send(&mut c, &["b@example.net", "bad@example.net"])
        .await
        .unwrap();
    assert!(report.recipients[0].accepted);
    assert!(!report.recipients[1].accepted);
    assert_eq!(report.recipients[1].reply.as_ref().unwrap().code(), 550);
    assert_eq!(report.refused().count(), 1);

    let e = send(&mut c, &["bad@example.net"]).await.unwrap_err();
    assert!(matches!(e, Error::RecipientsRefused(_)), "{e}");
    let e = c
        .sendmail(
            "spam@example.org",
            &["b@example.net"],
            MSG,
            Default::default(),
            Default::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::SenderRefused { .. }), "{e}");
    assert!(!e.is_transient());
    // The session is still usable after refusals.
    send(&mut c, &["b@example.net"]).await.unwrap();
    c.quit().await.unwrap();
}

async fn server_that_never_greets_times_out(rt: &'static dyn Runtime) {
    let server = TestServer::start(Script::default().rule(Rule::new("GREETING", Step::Stall)));
    let o = plain().with_timeout(Duration::from_millis(300));
    let t0 = Instant::now();
    let e = connect(rt, &server, o).await.unwrap_err();
    assert!(
        matches!(e, Error::Timeout(TimeoutPhase::Smtp(Phase::Greeting))),
        "{e}"
    );
    assert_eq!(e.fault(), Fault::Io);
    assert!(t0.elapsed() < Duration::from_secs(5));
}

async fn server_that_drips_bytes_times_out(rt: &'static dyn Runtime) {
    // One octet every 100 ms: every read makes progress, but the whole greeting takes
    // 3 s. The deadline covers the whole reply.
    let greeting = "220 test.example ESMTP drip drip drip\r\n".to_owned();
    let script = Script::default().rule(Rule::new(
        "GREETING",
        Step::Drip(greeting, Duration::from_millis(100)),
    ));
    let server = TestServer::start(script);
    let o = plain().with_timeout(Duration::from_millis(500));
    let e = connect(rt, &server, o).await.unwrap_err();
    assert!(
        matches!(e, Error::Timeout(TimeoutPhase::Smtp(Phase::Greeting))),
        "{e}"
    );
}

async fn stall_after_data_times_out_and_may_have_delivered(rt: &'static dyn Runtime) {
    let server = TestServer::start(Script::default().rule(Rule::new("DATA", Step::Stall)));
    let mut c = connect(
        rt,
        &server,
        plain().with_timeout(Duration::from_millis(300)),
    )
    .await
    .unwrap();
    let e = send(&mut c, &["b@example.net"]).await.unwrap_err();
    assert!(
        matches!(e, Error::Timeout(TimeoutPhase::Smtp(Phase::DataInit))),
        "{e}"
    );
    assert!(c.is_closed());
}

async fn stall_after_end_of_data_is_delivery_unknown(rt: &'static dyn Runtime) {
    let server = TestServer::start(Script::default().rule(Rule::new(".", Step::Stall)));
    let mut c = connect(
        rt,
        &server,
        plain().with_timeout(Duration::from_millis(300)),
    )
    .await
    .unwrap();
    let e = send(&mut c, &["b@example.net"]).await.unwrap_err();
    let Error::DeliveryUnknown { source, report } = &e else {
        panic!("{e}")
    };
    assert!(
        matches!(
            **source,
            Error::Timeout(TimeoutPhase::Smtp(Phase::DataDone))
        ),
        "{source}"
    );
    assert!(matches!(
        report.recipients[0].status,
        RcptStatus::Unknown(_)
    ));
}

async fn reset_after_end_of_data_is_delivery_unknown(rt: &'static dyn Runtime) {
    let server = TestServer::start(Script::default().rule(Rule::new(".", Step::Reset)));
    let mut c = connect(rt, &server, plain()).await.unwrap();
    let e = send(&mut c, &["b@example.net"]).await.unwrap_err();
    let Error::DeliveryUnknown { source, report } = &e else {
        panic!("{e}")
    };
    assert!(
        matches!(**source, Error::Io(_) | Error::ServerDisconnected(_)),
        "{source}"
    );
    assert!(matches!(
        report.recipients[0].status,
        RcptStatus::Unknown(_)
    ));

    let server = TestServer::start(Script::default().rule(Rule::new("RCPT", Step::Reset)));
    let mut c = connect(rt, &server, plain()).await.unwrap();
    let e = send(&mut c, &["b@example.net"]).await.unwrap_err();
    assert!(
        matches!(e, Error::Io(_) | Error::ServerDisconnected(_)),
        "{e}"
    );
}

async fn injection_after_starttls_220_is_refused(rt: &'static dyn Runtime) {
    let script = Script {
        starttls: true,
        ..Script::default()
    }
    .rule(Rule::reply(
        "STARTTLS",
        "220 2.0.0 go ahead\r\n250-injected\r\n250 AUTH PLAIN\r\n",
    ));
    let server = TestServer::start(script);
    let e = connect(rt, &server, tls(TlsPolicy::Required))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Protocol(_)), "{e}");
    let cmds = &server.sessions()[0].commands;
    assert!(
        !cmds
            .iter()
            .any(|c| c.starts_with("MAIL") || c.starts_with("AUTH")),
        "{cmds:?}"
    );
}

async fn cancelled_send_poisons_the_connection(rt: &'static dyn Runtime) {
    // Drop the send while it waits at each phase; the connection is never used again.
    for stall in ["MAIL", "RCPT", "DATA", "."] {
        let server = TestServer::start(Script::default().rule(Rule::new(stall, Step::Stall)));
        let mut c = connect(rt, &server, plain()).await.unwrap();
        let r = cancel_after(
            rt,
            Duration::from_millis(150),
            send(&mut c, &["b@example.net"]),
        )
        .await;
        assert!(r.is_none(), "{stall}: the send should still be waiting");
        assert!(!c.is_usable(), "{stall}");
        let e = c.noop().await.unwrap_err();
        assert!(matches!(e, Error::Cancelled), "{stall}: {e}");
        assert_eq!(e.fault(), Fault::Caller);
        let e = send(&mut c, &["b@example.net"]).await.unwrap_err();
        assert!(matches!(e, Error::Cancelled), "{stall}: {e}");
        // Nothing was sent after the cancellation.
        let cmds = server.sessions()[0].commands.clone();
        assert!(!cmds.iter().any(|c| c == "NOOP"), "{stall}: {cmds:?}");
    }
}

async fn pipelined_batch_and_reader_bodies(rt: &'static dyn Runtime) {
    let server = TestServer::start(Script::default());
    let mut c = connect(rt, &server, plain()).await.unwrap();
    let big: Vec<u8> = b"0123456789abcdef\n".repeat(40_000);
    let mut reader: &[u8] = &big;
    let msgs = vec![
        (
            envelope("a@example.org", &["b@example.net"]).unwrap(),
            Body::Bytes(MSG),
        ),
        (
            envelope("a@example.org", &["c@example.net"]).unwrap(),
            Body::Reader(&mut reader),
        ),
        (
            envelope("a@example.org", &["d@example.net"]).unwrap(),
            Body::Bytes(MSG),
        ),
    ];
    let mut done = Vec::new();
    c.send_all(msgs, |i, r| done.push((i, r.is_ok())))
        .await
        .unwrap();
    assert_eq!(done, [(0, true), (1, true), (2, true)]);
    c.quit().await.unwrap();
    let got = server.messages();
    assert_eq!(got.len(), 3);
    // Bare LF became CRLF.
    assert_eq!(got[1].data, b"0123456789abcdef\r\n".repeat(40_000));
}

async fn low_level_commands(rt: &'static dyn Runtime) {
    let server = TestServer::start(Script::default());
    let mut c = connect(rt, &server, plain()).await.unwrap();
    assert_eq!(c.noop().await.unwrap().code(), 250);
    assert_eq!(c.rset().await.unwrap().code(), 250);
    let vrfy = c.verify("b@example.net").await.unwrap();
    assert_eq!(vrfy.code(), 252, "{vrfy:?}");
    assert!(vrfy.message().contains("cannot verify"), "{vrfy:?}");
    let help = c.help(None).await.unwrap();
    assert_eq!(help.code(), 214, "{help:?}");
    assert!(help.message().contains("RFC 5321"), "{help:?}");
    assert_eq!(c.ehlo().await.unwrap().code(), 250);
    assert_eq!(
        c.mail("<a@example.org>", Default::default())
            .await
            .unwrap()
            .code(),
        250
    );
    assert_eq!(
        c.rcpt("<b@example.net>", Default::default())
            .await
            .unwrap()
            .code(),
        250
    );
    assert_eq!(
        c.data(b"Subject: x\r\n\r\nlow level\r\n")
            .await
            .unwrap()
            .code(),
        250
    );
    assert_eq!(c.docmd("NOOP").await.unwrap().code(), 250);
    // Injection through the raw command is refused before anything is written.
    assert!(matches!(
        c.docmd("NOOP\r\nRSET").await.unwrap_err(),
        Error::InvalidInput(_)
    ));
    c.quit().await.unwrap();
    assert_eq!(
        server.messages()[0].data,
        b"Subject: x\r\n\r\nlow level\r\n"
    );
}

async fn lmtp_per_recipient_results(rt: &'static dyn Runtime) {
    let server = TestServer::start(Script {
        lmtp: true,
        lmtp_refuse: vec!["full@example.net".into()],
        ..Script::default()
    });
    let mut o = plain();
    o.core.dialect = smtp_async::Dialect::Lmtp;
    let mut c = connect(rt, &server, o).await.unwrap();
    let report = send(&mut c, &["b@example.net", "full@example.net"])
        .await
        .unwrap();
    assert!(report.recipients[0].accepted);
    assert!(!report.recipients[1].accepted);
    assert_eq!(report.recipients[1].reply.as_ref().unwrap().code(), 550);
    c.quit().await.unwrap();
}

async fn lmtp_over_unix_socket(rt: &'static dyn Runtime) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "smtp-async-lmtp-{}-{}.sock",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let server = TestServer::start_unix(
        Script {
            lmtp: true,
            ..Script::default()
        },
        &path,
    );
    let mut o = plain();
    o.core.dialect = smtp_async::Dialect::Lmtp;
    let mut c = SmtpClient::connect_unix_on(rt, &path, o).await.unwrap();
    let r = send(&mut c, &["u@example.net"]).await.unwrap();
    assert!(r.any_accepted());
    c.quit().await.unwrap();
    assert_eq!(server.messages().len(), 1);
    let _ = std::fs::remove_file(&path);
}

async fn own_stream_with_own_tls_upgrade(rt: &'static dyn Runtime) {
    // The caller connects (as through a proxy tunnel) and runs the TLS handshake itself.
    let server = TestServer::start(Script {
        starttls: true,
        ..Script::default()
    });
    let (stream, _) = rt.connect(server.addr(), None).await.unwrap();
    let upgrades = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = upgrades.clone();
    let upgrade: smtp_async::TlsUpgrade = Box::new(move |plain| {
        counter.fetch_add(1, Ordering::Relaxed);
        Box::pin(async move {
            let cfg = TlsOptions::new()
                .with_ca_pem(CA_PEM)
                .unwrap()
                .client_config()
                .unwrap();
            let name = "localhost".try_into().unwrap();
            let tls = futures_rustls::TlsConnector::from(cfg)
                .connect(name, plain)
                .await?;
            Ok(Box::new(tls) as smtp_async::BoxStream)
        })
    });
    let mut o = plain();
    o.core.tls = TlsPolicy::Required;
    let mut c = SmtpClient::from_stream(rt, stream, "mx.example", o, Some(upgrade))
        .await
        .unwrap();
    assert!(c.is_encrypted());
    assert_eq!(upgrades.load(Ordering::Relaxed), 1);
    send(&mut c, &["b@example.net"]).await.unwrap();
    c.quit().await.unwrap();
    assert!(server.sessions()[0].tls);
}

async fn send_message_extracts_envelope(rt: &'static dyn Runtime) {
    let server = TestServer::start(Script::default());
    let mut c = connect(rt, &server, plain()).await.unwrap();
    let msg = b"From: A <a@example.org>\r\nTo: b@example.net\r\nBcc: hidden@example.net\r\nSubject: s\r\n\r\nbody\r\n";
    let r = c.send_message(msg, None, None).await.unwrap();
    assert_eq!(r.recipients.len(), 2);
    c.quit().await.unwrap();
    let got = &server.messages()[0];
    assert_eq!(got.rcpts, ["b@example.net", "hidden@example.net"]);
    assert!(!String::from_utf8_lossy(&got.data).contains("hidden@"));
}

fn pool_cfg() -> PoolConfig {
    let mut cfg = PoolConfig::default();
    cfg.max_connections = 3;
    cfg
}

async fn pool_send(pool: &Pool, ep: &Endpoint, to: &str) -> Result<smtp_async::SendReport, Error> {
    pool.send(
        ep,
        envelope("a@example.org", &[to]).unwrap(),
        Body::Bytes(MSG),
    )
    .await
}

async fn pool_spreads_concurrent_sends(rt: &'static dyn Runtime) {
    let server = TestServer::start(Script::default().rule(Rule::new(
        ".",
        Step::Drip("250 2.0.0 ok\r\n".into(), Duration::from_millis(5)),
    )));
    let pool = Pool::on(rt, pool_cfg());
    let ep = Endpoint::new(&server.addr().to_string(), plain()).unwrap();
    let ok = AtomicUsize::new(0);
    // Eight sends at once over at most three connections.
    let sends: Vec<_> = (0..8)
        .map(|i| {
            let (pool, ep, ok) = (&pool, &ep, &ok);
            async move {
                let to = format!("r{i}@example.net");
                if pool_send(pool, ep, &to).await.is_ok() {
                    ok.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
        .collect();
    join_all(sends).await;
    assert_eq!(ok.load(Ordering::Relaxed), 8);
    let sessions = server.sessions().len();
    assert!((2..=3).contains(&sessions), "{sessions} sessions");
    assert_eq!(pool.idle_count(), sessions);
    assert_eq!(server.messages().len(), 8);
    pool.close().await;
}

async fn pool_reconnects_when_idle_connection_was_closed(rt: &'static dyn Runtime) {
    // The server drops connections idle for 100 ms (with a 421); no health check: the
    // send finds the 421 and goes again on a new connection.
    let server = TestServer::start(Script {
        idle_timeout: Some(Duration::from_millis(100)),
        ..Script::default()
    });
    let mut cfg = pool_cfg();
    cfg.health_check = HealthCheck::Off;
    let pool = Pool::on(rt, cfg);
    let ep = Endpoint::new(&server.addr().to_string(), plain()).unwrap();
    pool_send(&pool, &ep, "b@example.net").await.unwrap();
    sleep(rt, Duration::from_millis(300)).await;
    pool_send(&pool, &ep, "c@example.net").await.unwrap();
    assert_eq!(server.sessions().len(), 2);
    assert_eq!(server.messages().len(), 2);

    // Without the retry, the caller sees the server's 421 (transient).
    let mut cfg = pool_cfg();
    cfg.health_check = HealthCheck::Off;
    cfg.retry_on_dead_connection = false;
    let pool = Pool::on(rt, cfg);
    pool_send(&pool, &ep, "b@example.net").await.unwrap();
    sleep(rt, Duration::from_millis(300)).await;
    let e = pool_send(&pool, &ep, "c@example.net").await.unwrap_err();
    assert!(e.is_transient(), "{e}");
    // The dead connection was not kept.
    assert_eq!(pool.idle_count(), 0);
    pool_send(&pool, &ep, "d@example.net").await.unwrap();
}

async fn pool_health_check_replaces_dead_connection(rt: &'static dyn Runtime) {
    // Margins wide enough for a loaded machine: the server drops a connection idle for
    // 400 ms; the pool checks one idle for 200 ms or more.
    let server = TestServer::start(Script {
        idle_timeout: Some(Duration::from_millis(400)),
        ..Script::default()
    });
    let mut cfg = pool_cfg();
    cfg.check_after = Duration::from_millis(200);
    cfg.retry_on_dead_connection = false;
    let pool = Pool::on(rt, cfg);
    let ep = Endpoint::new(&server.addr().to_string(), plain()).unwrap();
    pool_send(&pool, &ep, "b@example.net").await.unwrap();
    sleep(rt, Duration::from_millis(900)).await;
    // The NOOP finds the connection dead; a new one carries the message.
    pool_send(&pool, &ep, "c@example.net").await.unwrap();
    assert_eq!(server.sessions().len(), 2);
    // A connection idle for less than `check_after` is reused without a NOOP.
    pool_send(&pool, &ep, "d@example.net").await.unwrap();
    assert_eq!(server.sessions().len(), 2);
    let cmds = &server.sessions()[1].commands;
    assert!(!cmds.iter().any(|c| c == "NOOP"), "{cmds:?}");
}

async fn pool_421_mid_batch(rt: &'static dyn Runtime) {
    let server = TestServer::start(Script::default().rule(Rule::new(
        "RCPT TO:<busy@",
        Step::ReplyAndClose("421 4.3.2 shutting down\r\n".into()),
    )));
    let pool = Pool::on(rt, pool_cfg());
    let ep = Endpoint::new(&server.addr().to_string(), plain()).unwrap();
    let mut results = Vec::new();
    for to in [
        "a1@example.net",
        "a2@example.net",
        "busy@example.net",
        "a3@example.net",
    ] {
        results.push(pool_send(&pool, &ep, to).await);
    }
    assert!(
        results[0].is_ok() && results[1].is_ok() && results[3].is_ok(),
        "{results:?}"
    );
    let e = results[2].as_ref().unwrap_err();
    assert!(e.is_transient(), "{e}");
    // The 421 closed that connection: the next send used a new one.
    let sessions = server.sessions();
    assert!(sessions.len() >= 2, "{}", sessions.len());
    assert_eq!(server.messages().len(), 3);
    pool.close().await;
}

async fn pool_drops_cancelled_connections(rt: &'static dyn Runtime) {
    for stall in ["MAIL FROM:<slow@", "RCPT TO:<slow@", "."] {
        let script = Script::default().rule(Rule::new(stall, Step::Stall));
        let server = TestServer::start(script);
        let pool = Pool::on(rt, pool_cfg());
        let ep = Endpoint::new(&server.addr().to_string(), plain()).unwrap();
        if stall != "." {
            pool_send(&pool, &ep, "b@example.net").await.unwrap();
            assert_eq!(pool.idle_count(), 1);
        }
        let (from, to) = match stall {
            "MAIL FROM:<slow@" => ("slow@example.org", "b@example.net"),
            "RCPT TO:<slow@" => ("a@example.org", "slow@example.net"),
            _ => ("a@example.org", "b@example.net"),
        };
        let env = envelope(from, &[to]).unwrap();
        let r = cancel_after(
            rt,
            Duration::from_millis(150),
            pool.send(&ep, env, Body::Bytes(MSG)),
        )
        .await;
        assert!(r.is_none(), "{stall}");
        // The cancelled send took its connection with it.
        assert_eq!(pool.idle_count(), 0, "{stall}");
        let before = server.sessions().len();
        if stall != "." {
            pool_send(&pool, &ep, "c@example.net").await.unwrap();
            assert_eq!(server.sessions().len(), before + 1, "{stall}");
        }
    }
}

async fn pool_shutdown_quits(rt: &'static dyn Runtime) {
    let server = TestServer::start(Script::default());
    let pool = Pool::on(rt, pool_cfg());
    let ep = Endpoint::new(&server.addr().to_string(), plain()).unwrap();
    join_all((0..3).map(|i| {
        let (pool, ep) = (&pool, &ep);
        async move {
            pool_send(pool, ep, &format!("r{i}@example.net"))
                .await
                .unwrap()
        }
    }))
    .await;
    let open = pool.idle_count();
    assert!(open >= 1);
    pool.close().await;
    assert_eq!(pool.idle_count(), 0);
    let e = pool_send(&pool, &ep, "b@example.net").await.unwrap_err();
    assert_eq!(e.fault(), Fault::Caller);
    // Every connection got a QUIT.
    sleep(rt, Duration::from_millis(50)).await;
    let sessions = server.sessions();
    assert_eq!(sessions.len(), open);
    for s in sessions {
        assert_eq!(
            s.commands.last().map(String::as_str),
            Some("QUIT"),
            "{:?}",
            s.commands
        );
    }
}

/// Polls every future to completion on the current task.
async fn join_all<F: Future>(futs: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut futs: Vec<_> = futs.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    poll_fn(|cx| {
        let mut pending = false;
        for (f, o) in futs.iter_mut().zip(out.iter_mut()) {
            if let Some(fut) = f {
                match fut.as_mut().poll(cx) {
                    Poll::Ready(v) => {
                        *o = Some(v);
                        *f = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    out.into_iter()
        .map(|o| o.expect("every future finished"))
        .collect()
}

async fn pool_keys_separate_tls_and_identity(rt: &'static dyn Runtime) {
    let mut script = Script {
        starttls: true,
        ..Script::default()
    };
    script.auth = Some(("alice".into(), "secret".into()));
    let server = TestServer::start(script);
    let addr = server.addr().to_string();
    let pool = Pool::on(rt, pool_cfg());
    let mut plain_opts = plain();
    plain_opts.core.allow_plaintext_auth = true;
    let ep_plain = Endpoint::new(&addr, plain_opts).unwrap();
    let ep_tls = Endpoint::new(&addr, tls(TlsPolicy::Required)).unwrap();
    let ep_alice = Endpoint::new(&addr, tls(TlsPolicy::Required))
        .unwrap()
        .with_login("alice", "secret");

    pool_send(&pool, &ep_plain, "a@example.net").await.unwrap();
    // TLS required: the idle plaintext connection is not reused.
    pool_send(&pool, &ep_tls, "b@example.net").await.unwrap();
    // Another identity: not the anonymous TLS connection either.
    pool_send(&pool, &ep_alice, "c@example.net").await.unwrap();
    let sessions = server.sessions();
    assert_eq!(sessions.len(), 3);
    assert!(!sessions[0].tls && sessions[1].tls && sessions[2].tls);
    assert!(sessions[2].commands.iter().any(|c| c.starts_with("AUTH")));
    assert!(!sessions[1].commands.iter().any(|c| c.starts_with("AUTH")));
    // Each endpoint gets its own connection back.
    for (ep, to) in [
        (&ep_tls, "d@example.net"),
        (&ep_plain, "e@example.net"),
        (&ep_alice, "f@example.net"),
    ] {
        pool_send(&pool, ep, to).await.unwrap();
    }
    let sessions = server.sessions();
    assert_eq!(sessions.len(), 3);
    for s in &sessions {
        assert_eq!(s.messages.len(), 2, "{:?}", s.commands);
    }
    assert_eq!(sessions[1].messages[1].rcpts, ["d@example.net"]);
    assert_eq!(sessions[0].messages[1].rcpts, ["e@example.net"]);
    assert_eq!(sessions[2].messages[1].rcpts, ["f@example.net"]);
    pool.close().await;
}

async fn send_all_reports_a_message_it_cannot_send_and_goes_on(rt: &'static dyn Runtime) {
    let server = TestServer::start(Script::default());
    let mut c = connect(rt, &server, plain()).await.unwrap();
    let mut empty = envelope("a@example.org", &["x@example.net"]).unwrap();
    empty.recipients.clear();
    let msgs = vec![
        (
            envelope("a@example.org", &["b@example.net"]).unwrap(),
            Body::Bytes(MSG),
        ),
        (empty, Body::Bytes(MSG)),
        (
            envelope("a@example.org", &["c@example.net"]).unwrap(),
            Body::Bytes(MSG),
        ),
    ];
    let mut done = Vec::new();
    c.send_all(msgs, |i, r| done.push((i, r))).await.unwrap();
    done.sort_by_key(|d| d.0);
    assert!(done[0].1.is_ok());
    assert!(
        matches!(
            done[1].1,
            Err(Error::Usage(
                smtp_async::proto::session::UsageError::NoRecipients
            ))
        ),
        "{:?}",
        done[1].1
    );
    assert!(done[2].1.is_ok());
    assert_eq!(server.messages().len(), 2);
    c.noop().await.unwrap();
    c.quit().await.unwrap();
}

async fn timeouts_of_duration_max_mean_none(rt: &'static dyn Runtime) {
    let server = TestServer::start(Script {
        starttls: true,
        ..Script::default()
    });
    let o = tls(TlsPolicy::Required).with_timeout(Duration::MAX);
    let mut c = connect(rt, &server, o).await.unwrap();
    send(&mut c, &["b@example.net"]).await.unwrap();
    c.quit().await.unwrap();
}

async fn pool_health_check_has_its_own_deadline(rt: &'static dyn Runtime) {
    // A server that silently stops answering idle connections: the check gives up after
    // `check_timeout`, not after the command timeout, and a new connection carries the
    // message.
    let server = TestServer::start(Script::default().rule(Rule::new("NOOP", Step::Stall)));
    let mut cfg = pool_cfg();
    cfg.check_after = Duration::ZERO;
    cfg.check_timeout = Duration::from_millis(200);
    let pool = Pool::on(rt, cfg);
    let ep = Endpoint::new(&server.addr().to_string(), plain()).unwrap();
    pool_send(&pool, &ep, "b@example.net").await.unwrap();
    let t0 = Instant::now();
    pool_send(&pool, &ep, "c@example.net").await.unwrap();
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert_eq!(server.sessions().len(), 2);
    assert_eq!(server.messages().len(), 2);
}

#[test]
fn client_and_pool_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<SmtpClient>();
    check::<Pool>();
    check::<Endpoint>();
}

#[test]
fn default_runtime_follows_the_running_runtime() {
    // With both features on, a smol program gets the async-io runtime, a tokio one tokio.
    let server = TestServer::start(Script::default());
    let addr = server.addr().to_string();
    smol::block_on(async {
        let mut c = SmtpClient::connect(&addr, plain()).await.unwrap();
        c.quit().await.unwrap();
    });
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let mut c = SmtpClient::connect(&addr, plain()).await.unwrap();
            c.quit().await.unwrap();
        });
    assert_eq!(server.sessions().len(), 2);
}

#[test]
fn endpoint_debug_hides_the_password() {
    let ep = Endpoint::new("127.0.0.1:25", plain())
        .unwrap()
        .with_login("alice", "hunter2-secret");
    let d = format!("{ep:?}");
    assert!(d.contains("alice"), "{d}");
    assert!(!d.contains("hunter2"), "{d}");
}

/// In-memory bodies go out as zero-copy segments with vectored writes (plain and TLS):
/// clean text, leading dots and bare LFs (which the core copies) arrive intact and
/// normalised, pipelined one after the other.
async fn large_bodies_with_vectored_writes_plain_and_tls(rt: &'static dyn Runtime) {
    let mut body: Vec<u8> = b"Subject: big\r\n\r\n".to_vec();
    for i in 0..40_000 {
        body.extend_from_slice(format!("line {i:06} of some text, long enough\r\n").as_bytes());
        if i % 1000 == 0 {
            body.extend_from_slice(b".a leading dot\r\n");
        }
    }
    let mut expected = body.clone();
    for _ in 0..3000 {
        body.extend_from_slice(b"bare LF line\n");
        expected.extend_from_slice(b"bare LF line\r\n");
    }
    body.extend_from_slice(b"no final line ending");
    expected.extend_from_slice(b"no final line ending\r\n");
    for starttls in [false, true] {
        let server = TestServer::start(Script {
            starttls,
            ..Script::default()
        });
        let opts = if starttls {
            tls(TlsPolicy::Required)
        } else {
            plain()
        };
        let mut c = connect(rt, &server, opts).await.unwrap();
        let msgs: Vec<_> = (0..3)
            .map(|_| {
                (
                    envelope("a@example.org", &["b@example.net"]).unwrap(),
                    Body::Bytes(&body),
                )
            })
            .collect();
        let mut ok = 0;
        c.send_all(msgs, |_, r| ok += usize::from(r.is_ok()))
            .await
            .unwrap();
        assert_eq!(ok, 3);
        c.quit().await.unwrap();
        let got = server.messages();
        assert_eq!(got.len(), 3);
        for m in got {
            assert!(m.data == expected, "content differs (starttls {starttls})");
        }
    }
}

/// A body with bare LFs, leading dots and no final line ending, and its octets on the
/// wire: after DATA (dot-stuffed, CRLF, `CRLF.CRLF`), and as one BDAT chunk (CRLF, no
/// dot-stuffing, no CRLF added at the end: RFC 3030 carries the octets as they are).
const RAW_BODY: &[u8] = b"Subject: raw\n\n.leading dot\r\n..two dots\nbare LF\n.\nend";
const RAW_DATA_WIRE: &[u8] =
    b"Subject: raw\r\n\r\n..leading dot\r\n...two dots\r\nbare LF\r\n..\r\nend\r\n.\r\n";
const RAW_BDAT_WIRE: &[u8] =
    b"Subject: raw\r\n\r\n.leading dot\r\n..two dots\r\nbare LF\r\n.\r\nend";

/// The octets the client sent, byte for byte (the scripted server records them): every
/// command line ends in CRLF, DATA content is CRLF-normalised and dot-stuffed, and with
/// CHUNKING and `prefer_bdat` the body goes out as `BDAT <n> LAST` and exactly n octets
/// (several `BDAT <n>` frames for a body larger than one chunk).
async fn raw_octets_of_data_and_bdat(rt: &'static dyn Runtime) {
    use smtp_test_server::RawPhase;
    // DATA.
    let server = TestServer::start(Script::default());
    let mut c = connect(rt, &server, plain()).await.unwrap();
    let env = envelope("a@example.org", &["b@example.net"]).unwrap();
    c.send(env, Body::Bytes(RAW_BODY)).await.unwrap();
    c.quit().await.unwrap();
    let s = &server.sessions()[0];
    for r in s.raw.iter().filter(|r| r.phase == RawPhase::Command) {
        let b = &r.bytes;
        assert!(b.ends_with(b"\r\n"), "{:?}", b.escape_ascii().to_string());
        assert!(!b[..b.len() - 2].contains(&b'\n') && !b[..b.len() - 2].contains(&b'\r'));
    }
    let data: Vec<_> = s.raw.iter().filter(|r| r.phase == RawPhase::Data).collect();
    assert_eq!(data.len(), 1);
    assert_eq!(
        data[0].bytes.escape_ascii().to_string(),
        RAW_DATA_WIRE.escape_ascii().to_string()
    );
    assert_eq!(s.messages[0].raw, RAW_DATA_WIRE);

    // BDAT, one chunk.
    let mut script = Script::default();
    script.extensions.push("CHUNKING".into());
    let server = TestServer::start(script.clone());
    let mut c = connect(rt, &server, plain()).await.unwrap();
    assert!(c.has_extn("chunking"));
    let mut env = envelope("a@example.org", &["b@example.net"]).unwrap();
    env.prefer_bdat = true;
    c.send(env, Body::Bytes(RAW_BODY)).await.unwrap();
    c.quit().await.unwrap();
    let s = &server.sessions()[0];
    let i = s
        .raw
        .iter()
        .position(|r| r.bytes.starts_with(b"BDAT"))
        .expect("a BDAT command");
    assert_eq!(s.raw[i].phase, RawPhase::Command);
    let header = format!("BDAT {} LAST\r\n", RAW_BDAT_WIRE.len());
    assert_eq!(s.raw[i].bytes, header.as_bytes());
    assert_eq!(s.raw[i + 1].phase, RawPhase::Bdat);
    assert_eq!(
        s.raw[i + 1].bytes.escape_ascii().to_string(),
        RAW_BDAT_WIRE.escape_ascii().to_string()
    );
    assert_eq!(s.raw[i + 2].bytes, b"QUIT\r\n");
    assert!(!s.raw.iter().any(|r| r.phase == RawPhase::Data));
    assert_eq!(s.messages[0].chunks, [RAW_BDAT_WIRE]);

    // BDAT, a body larger than one chunk (256 KiB): full frames, then the rest with LAST.
    let server = TestServer::start(script);
    let mut c = connect(rt, &server, plain()).await.unwrap();
    let body = b"0123456789abcde\n".repeat(20_000);
    let wire = b"0123456789abcde\r\n".repeat(20_000);
    let mut env = envelope("a@example.org", &["b@example.net"]).unwrap();
    env.prefer_bdat = true;
    c.send(env, Body::Bytes(&body)).await.unwrap();
    c.quit().await.unwrap();
    let s = &server.sessions()[0];
    let bdat: Vec<String> = (s.commands.iter())
        .filter(|c| c.starts_with("BDAT"))
        .cloned()
        .collect();
    let last = wire.len() - 256 * 1024;
    assert_eq!(
        bdat,
        ["BDAT 262144".to_owned(), format!("BDAT {last} LAST")]
    );
    let chunks = &s.messages[0].chunks;
    assert_eq!(chunks.len(), 2);
    assert_eq!(chunks[0].len(), 256 * 1024);
    assert_eq!(chunks[1].len(), last);
    assert!(chunks.concat() == wire, "chunk contents differ");
}

async fn nul_and_long_lines_are_refused_before_mail_and_when_streamed(rt: &'static dyn Runtime) {
    use smtp_async::proto::body::{BodyError, BodyViolation};
    use smtp_async::proto::session::UsageError;
    let server = TestServer::start(Script::default());
    let mut c = connect(rt, &server, plain()).await.unwrap();
    let nul = [MSG, b"\0"].concat();
    let err = c
        .send(
            envelope("a@example.org", &["b@example.net"]).unwrap(),
            Body::Bytes(&nul),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Usage(UsageError::Body(BodyError::NeedsBinaryMime(BodyViolation::Nul { offset }))) if offset == MSG.len() as u64
        ),
        "{err}"
    );
    assert_eq!(err.fault(), Fault::Caller);
    // Nothing was sent, and the connection goes on.
    send(&mut c, &["b@example.net"]).await.unwrap();
    // A streamed body is refused as soon as the long line is read: never ended.
    let long = [MSG, &[b'x'; 1200][..]].concat();
    let line = MSG.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let mut reader: &[u8] = &long;
    let err = c
        .send(
            envelope("a@example.org", &["c@example.net"]).unwrap(),
            Body::Reader(&mut reader),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Usage(UsageError::Body(BodyError::NeedsBinaryMime(BodyViolation::LongLine { line: l, .. }))) if l == line
        ),
        "{err}"
    );
    assert_eq!(server.messages().len(), 1, "only the good message arrived");
}

async fn pool_login_refused_locally_quits(rt: &'static dyn Runtime) {
    use smtp_async::proto::session::UsageError;
    let script = Script {
        auth: Some(("alice".into(), "secret".into())),
        ..Script::default()
    };
    let server = TestServer::start(script);
    let pool = Pool::on(rt, pool_cfg());
    let ep = Endpoint::new(&server.addr().to_string(), plain())
        .unwrap()
        .with_login("alice", "secret");
    let e = pool_send(&pool, &ep, "b@example.net").await.unwrap_err();
    assert!(matches!(e, Error::Usage(UsageError::PlaintextAuth)), "{e}");
    // The healthy connection was ended with QUIT, not dropped.
    sleep(rt, Duration::from_millis(50)).await;
    let sessions = server.sessions();
    assert_eq!(sessions.len(), 1);
    assert!(!sessions[0].commands.iter().any(|l| l.starts_with("AUTH")));
    assert_eq!(
        sessions[0].commands.last().map(String::as_str),
        Some("QUIT"),
        "{:?}",
        sessions[0].commands
    );
}

async fn tls_info_timings_and_capabilities_before_starttls(rt: &'static dyn Runtime) {
    let mut script = Script {
        starttls: true,
        ..Script::default()
    };
    script.auth = Some(("alice".into(), "secret".into()));
    let server = TestServer::start(script);
    let c = connect(rt, &server, tls(TlsPolicy::Required))
        .await
        .unwrap();
    let info = c.tls_info().expect("rustls' handshake is reported");
    assert_eq!(info.verification(), &smtp_async::Verification::Verified);
    assert!(matches!(
        info.protocol_version(),
        Some("TLSv1.3" | "TLSv1.2")
    ));
    assert!(info.cipher_suite().is_some_and(|s| s.starts_with("TLS")));
    assert!(!info.peer_certificates().is_empty());
    let before = c.capabilities_before_tls().expect("EHLO before STARTTLS");
    assert!(before.starttls());
    assert!(!c.capabilities().unwrap().starttls());
    let t = c.timings();
    for (name, d) in [
        ("connect", t.connect),
        ("greeting", t.greeting),
        ("ehlo", t.ehlo),
        ("starttls", t.starttls),
        ("tls_handshake", t.tls_handshake),
        ("ehlo_after_tls", t.ehlo_after_tls),
    ] {
        assert!(d.is_some(), "{name}: {t:?}");
    }
}

async fn refused_certificate_chain_is_kept_with_why(rt: &'static dyn Runtime) {
    let server = TestServer::start(Script {
        starttls: true,
        ..Script::default()
    });
    let mut o = plain();
    o.core.tls = TlsPolicy::Required; // built-in roots: the test CA is not trusted
    let mut c = SmtpClient::open_on(rt, &server.addr().to_string(), o)
        .await
        .unwrap();
    let e = c.ehlo_or_helo_if_needed().await.unwrap_err();
    assert!(matches!(e, Error::Tls(_)), "{e}");
    let info = c.tls_info().expect("the refused chain");
    assert!(!info.peer_certificates().is_empty());
    assert_eq!(info.protocol_version(), None);
    let why = info.verification().to_string();
    assert!(
        why.starts_with("not verified, because it is not signed by a trusted authority"),
        "{why}"
    );
    assert!(c.capabilities_before_tls().is_some());
    assert!(c.timings().tls_handshake.is_some());
}
