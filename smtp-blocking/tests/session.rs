//! End-to-end tests against the scripted loopback server (no external server needed).
//! The tests against real Postfix, Dovecot and smtp-sink servers are in `real_servers.rs`.

use std::time::Duration;

use smtp_blocking::proto::session::{PeerError, RcptStatus, Stage, UsageError};
use smtp_blocking::{
    Body, BodyType, Dialect, Error, Fault, Options, Phase, SmtpClient, TimeoutPhase, TlsOptions,
    TlsPolicy, envelope,
};
use smtp_test_server::{CA_PEM, Rule, Script, Step, TestServer};

const MSG: &[u8] = b"From: <a@example.org>\r\nTo: <b@example.net>\r\nSubject: t\r\n\r\nHello.\r\n";

fn plain() -> Options {
    let mut o = Options::new().with_timeout(Duration::from_secs(10));
    o.core.tls = TlsPolicy::Never;
    o.record_transcript = true;
    o
}

fn tls(policy: TlsPolicy) -> Options {
    let mut o = plain();
    o.core.tls = policy;
    o.tls_options = TlsOptions::new().with_ca_pem(CA_PEM).unwrap();
    o
}

fn connect(server: &TestServer, opts: Options) -> Result<SmtpClient, Error> {
    SmtpClient::connect(&server.addr().to_string(), opts)
}

fn send(c: &mut SmtpClient, to: &[&str]) -> Result<smtp_blocking::SendReport, Error> {
    c.sendmail(
        "a@example.org",
        to,
        MSG,
        Default::default(),
        Default::default(),
    )
}

#[test]
fn full_send_plain() {
    let server = TestServer::start(Script::default());
    let mut c = connect(&server, plain()).unwrap();
    assert!(c.has_extn("pipelining"));
    assert!(c.esmtp_features().iter().any(|(k, _)| k == "size"));
    assert_eq!(c.greeting().unwrap().code(), 220);
    let report = send(&mut c, &["b@example.net", "c@example.net"]).unwrap();
    assert_eq!(report.recipients.len(), 2);
    assert!(report.recipients.iter().all(|r| r.accepted));
    assert_eq!(report.recipients[0].reply.as_ref().unwrap().code(), 250);
    assert_eq!(c.noop().unwrap().code(), 250);
    assert_eq!(c.verify("b@example.net").unwrap().code(), 252);
    assert_eq!(c.expn("list").unwrap().code(), 502);
    assert_eq!(c.help(None).unwrap().code(), 214);
    assert_eq!(c.rset().unwrap().code(), 250);
    assert_eq!(c.docmd("XFOO bar").unwrap().code(), 500);
    assert_eq!(c.quit().unwrap().unwrap().code(), 221);
    let t = c.take_transcript();
    assert!(
        t.iter()
            .any(|l| l.starts_with("C: MAIL FROM:<a@example.org>")),
        "{t:?}"
    );
    let msgs = server.messages();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].data, MSG);
    assert_eq!(msgs[0].rcpts, ["b@example.net", "c@example.net"]);
}

#[test]
fn starttls_required_and_login() {
    let mut script = Script {
        starttls: true,
        ..Script::default()
    };
    script.auth = Some(("alice".into(), "secret".into()));
    let server = TestServer::start(script);
    let mut c = connect(&server, tls(TlsPolicy::Required)).unwrap();
    assert!(c.is_encrypted());
    assert!(!c.has_extn("starttls"));
    let err = c.login("alice", "wrong").unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "{err}");
    assert_eq!(err.fault(), Fault::Peer);
    assert_eq!(c.login("alice", "secret").unwrap().code(), 235);
    send(&mut c, &["b@example.net"]).unwrap();
    c.quit().unwrap();
    assert!(server.sessions()[0].tls);
    // The transcript never shows the credentials: every base64 token the server received
    // for AUTH (initial response or continuation lines) is absent from it.
    let t = c.take_transcript();
    assert!(t.iter().any(|l| l.starts_with("C: AUTH")), "{t:?}");
    let cmds = &server.sessions()[0].commands;
    let first = cmds.iter().position(|c| c.starts_with("AUTH")).unwrap();
    let secrets: Vec<&str> = cmds[first..]
        .iter()
        .take_while(|c| !c.starts_with("MAIL"))
        .flat_map(|c| c.split(' '))
        .filter(|w| w.len() >= 8 && !w.eq_ignore_ascii_case("AUTH"))
        .collect();
    assert!(secrets.len() >= 2, "{cmds:?}");
    for s in secrets {
        assert!(!t.iter().any(|l| l.contains(s)), "{s} in {t:?}");
    }
    assert!(!t.iter().any(|l| l.contains("secret")), "{t:?}");
}

#[test]
fn implicit_tls() {
    let server = TestServer::start(Script {
        implicit_tls: true,
        ..Script::default()
    });
    let mut c = connect(&server, tls(TlsPolicy::Implicit)).unwrap();
    assert!(c.is_encrypted());
    send(&mut c, &["b@example.net"]).unwrap();
    c.quit().unwrap();
}

#[test]
fn untrusted_certificate_fails_and_dangerous_opt_out_works() {
    let script = Script {
        starttls: true,
        ..Script::default()
    };
    let server = TestServer::start(script);
    let mut o = plain();
    o.core.tls = TlsPolicy::Required; // built-in roots do not include the test CA
    let err = connect(&server, o.clone()).unwrap_err();
    assert!(matches!(err, Error::Tls(_)), "{err}");
    o.tls_options = TlsOptions::new().dangerous_accept_invalid_certs();
    let c = connect(&server, o).unwrap();
    assert!(c.is_encrypted());
}

#[test]
fn plaintext_auth_is_refused_locally() {
    let script = Script {
        auth: Some(("alice".into(), "secret".into())),
        ..Script::default()
    };
    let server = TestServer::start(script);
    let mut c = connect(&server, plain()).unwrap();
    let err = c.login("alice", "secret").unwrap_err();
    assert!(
        matches!(err, Error::Usage(UsageError::PlaintextAuth)),
        "{err}"
    );
    assert_eq!(err.fault(), Fault::Caller);
    assert!(
        !server.sessions()[0]
            .commands
            .iter()
            .any(|l| l.starts_with("AUTH"))
    );
}

#[test]
fn starttls_required_but_not_offered() {
    let server = TestServer::start(Script::default());
    let err = connect(&server, tls(TlsPolicy::Required)).unwrap_err();
    assert!(matches!(err, Error::TlsUnavailable(_)), "{err}");
}

#[test]
fn refused_recipient_is_in_the_report() {
    let script = Script::default().rule(Rule::reply("RCPT TO:<bad@", "550 5.1.1 no such user"));
    let server = TestServer::start(script);
    let mut c = connect(&server, plain()).unwrap();
    let r = send(&mut c, &["good@example.net", "bad@example.net"]).unwrap();
    assert!(r.recipients[0].accepted);
    let bad = &r.recipients[1];
    assert!(!bad.accepted);
    assert!(matches!(bad.status, RcptStatus::Refused(Stage::Rcpt, _)));
    let reply = bad.reply.as_ref().unwrap();
    assert_eq!(reply.code(), 550);
    assert_eq!(reply.enhanced().unwrap().to_string(), "5.1.1");
    assert_eq!(r.refused().count(), 1);
    assert_eq!(server.messages()[0].rcpts, ["good@example.net"]);
}

#[test]
fn sender_refused() {
    let script = Script::default().rule(Rule::reply("MAIL", "553 5.7.1 sender rejected"));
    let server = TestServer::start(script);
    let mut c = connect(&server, plain()).unwrap();
    let err = send(&mut c, &["b@example.net"]).unwrap_err();
    match &err {
        Error::SenderRefused { reply, sender, .. } => {
            assert_eq!(reply.code(), 553);
            assert_eq!(sender, "a@example.org");
        }
        e => panic!("{e}"),
    }
    assert!(!err.is_transient());
    // The session goes on.
    assert_eq!(c.noop().unwrap().code(), 250);
}

#[test]
fn all_recipients_refused() {
    let script = Script::default()
        .rule(Rule::reply("RCPT TO:<x@", "550 5.1.1 unknown x"))
        .rule(Rule::reply("RCPT TO:<y@", "450 4.2.1 try later"));
    let server = TestServer::start(script);
    let mut c = connect(&server, plain()).unwrap();
    let err = send(&mut c, &["x@example.net", "y@example.net"]).unwrap_err();
    let Error::RecipientsRefused(report) = &err else {
        panic!("{err}")
    };
    let codes: Vec<u16> = report
        .recipients
        .iter()
        .map(|r| r.reply.as_ref().unwrap().code().get())
        .collect();
    assert_eq!(codes, [550, 450]);
    assert!(!err.is_transient());
    assert!(server.messages().is_empty());
}

#[test]
fn data_refused() {
    let script = Script::default().rule(Rule::reply(".", "554 5.6.0 content rejected"));
    let server = TestServer::start(script);
    let mut c = connect(&server, plain()).unwrap();
    let err = send(&mut c, &["b@example.net"]).unwrap_err();
    assert!(
        matches!(&err, Error::DataRefused { reply, .. } if reply.code() == 554),
        "{err}"
    );

    let script = Script::default().rule(Rule::reply("DATA", "451 4.3.0 not now"));
    let server = TestServer::start(script);
    let mut c = connect(&server, plain()).unwrap();
    let err = send(&mut c, &["b@example.net"]).unwrap_err();
    assert!(
        matches!(&err, Error::DataRefused { reply, .. } if reply.code() == 451),
        "{err}"
    );
    assert!(err.is_transient());
}

#[test]
fn service_closing_at_greeting() {
    let script = Script::default().rule(Rule::new(
        "GREETING",
        Step::ReplyAndClose("421 4.3.2 too busy\r\n".into()),
    ));
    let server = TestServer::start(script);
    let err = connect(&server, plain()).unwrap_err();
    assert!(
        matches!(&err, Error::ServiceClosing(r) if r.code() == 421),
        "{err}"
    );
    assert!(err.is_transient());
    assert_eq!(err.fault(), Fault::Peer);
}

#[test]
fn helo_refused() {
    // A refused EHLO falls back to HELO (as smtplib does); HELO refused too ends it.
    let script = Script::default()
        .rule(Rule::reply("EHLO", "554 5.7.1 go away"))
        .rule(Rule::reply("HELO", "554 5.7.1 go away"));
    let server = TestServer::start(script);
    let err = connect(&server, plain()).unwrap_err();
    assert!(
        matches!(&err, Error::HeloRefused(r) if r.code() == 554),
        "{err}"
    );
    let commands = &server.sessions()[0].commands;
    assert!(commands[0].starts_with("EHLO "), "{commands:?}");
    assert!(commands[1].starts_with("HELO "), "{commands:?}");
}

#[test]
fn helo_fallback_after_a_4xx_to_ehlo_sends_no_esmtp_parameters() {
    let script = Script::default().rule(Rule::reply("EHLO", "451 4.3.0 try HELO"));
    let server = TestServer::start(script);
    let mut c = connect(&server, plain()).unwrap();
    // 8-bit content needs 8BITMIME, which HELO cannot offer: refused before MAIL.
    let err = c
        .sendmail(
            "a@example.org",
            &["b@example.net"],
            "Subject: caf\u{e9}\r\n\r\n".as_bytes(),
            Default::default(),
            Default::default(),
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotSupported(e) if e == "8BITMIME"),
        "{err}"
    );
    send(&mut c, &["b@example.net"]).unwrap();
    c.quit().unwrap();
    let commands = &server.sessions()[0].commands;
    assert!(commands[1].starts_with("HELO "), "{commands:?}");
    assert!(
        commands.iter().any(|l| l == "MAIL FROM:<a@example.org>"),
        "no SIZE= after HELO: {commands:?}"
    );
    assert_eq!(server.messages().len(), 1);
}

#[test]
fn timeouts_name_the_phase() {
    let script = Script::default().rule(Rule::new("GREETING", Step::Stall));
    let server = TestServer::start(script);
    let o = plain().with_timeout(Duration::from_millis(300));
    let err = connect(&server, o.clone()).unwrap_err();
    assert!(
        matches!(err, Error::Timeout(TimeoutPhase::Smtp(Phase::Greeting))),
        "{err}"
    );

    let script = Script::default().rule(Rule::new("DATA", Step::Stall));
    let server = TestServer::start(script);
    let mut c = connect(&server, o).unwrap();
    let err = send(&mut c, &["b@example.net"]).unwrap_err();
    assert!(
        matches!(err, Error::Timeout(TimeoutPhase::Smtp(Phase::DataInit))),
        "{err}"
    );
    assert_eq!(err.fault(), Fault::Io);
    assert!(c.is_closed());
}

#[test]
fn injection_after_starttls_220_is_refused() {
    let script = Script {
        starttls: true,
        ..Script::default()
    }
    .rule(Rule::new(
        "STARTTLS",
        Step::Reply("220 2.0.0 go ahead\r\n250-injected\r\n250 PIPELINING\r\n".into()),
    ));
    let server = TestServer::start(script);
    let err = connect(&server, tls(TlsPolicy::Required)).unwrap_err();
    assert!(
        matches!(err, Error::Protocol(PeerError::DataAfterStartTls { .. })),
        "{err}"
    );
}

#[test]
fn eof_mid_session() {
    let script = Script::default().rule(Rule::new("RCPT", Step::Close));
    let server = TestServer::start(script);
    let mut c = connect(&server, plain()).unwrap();
    let err = send(&mut c, &["b@example.net"]).unwrap_err();
    assert!(
        matches!(err, Error::ServerDisconnected(Phase::Rcpt)),
        "{err}"
    );
    assert!(err.is_transient());
}

#[test]
fn eof_after_end_of_data_is_unknown() {
    let script = Script::default().rule(Rule::new(".", Step::Close));
    let server = TestServer::start(script);
    let mut c = connect(&server, plain()).unwrap();
    let err = send(&mut c, &["b@example.net"]).unwrap_err();
    let Error::DeliveryUnknown { source, report } = &err else {
        panic!("{err:?}")
    };
    assert!(
        matches!(**source, Error::ServerDisconnected(Phase::DataDone)),
        "{source:?}"
    );
    assert!(matches!(
        report.recipients[0].status,
        RcptStatus::Unknown(_)
    ));
    assert!(!report.any_accepted());
    assert!(err.is_transient());
    assert_eq!(err.fault(), Fault::Peer);
}

#[test]
fn lmtp_per_recipient_results() {
    let script = Script {
        lmtp: true,
        lmtp_refuse: vec!["bad@example.net".into()],
        ..Script::default()
    };
    let server = TestServer::start(script);
    let mut o = plain();
    o.core.dialect = Dialect::Lmtp;
    let mut c = connect(&server, o).unwrap();
    let r = send(&mut c, &["good@example.net", "bad@example.net"]).unwrap();
    assert!(r.recipients[0].accepted);
    assert!(matches!(
        r.recipients[1].status,
        RcptStatus::Refused(Stage::EndOfData, _)
    ));
    assert_eq!(r.recipients[1].reply.as_ref().unwrap().code(), 550);
    assert!(server.sessions()[0].commands[0].starts_with("LHLO "));
}

#[cfg(unix)]
#[test]
fn lmtp_over_unix_socket() {
    let path = std::env::temp_dir().join(format!("smtp-blocking-lmtp-{}.sock", std::process::id()));
    let server = TestServer::start_unix(
        Script {
            lmtp: true,
            ..Script::default()
        },
        &path,
    );
    let mut o = plain();
    o.core.dialect = Dialect::Lmtp;
    let mut c = SmtpClient::connect_unix(&path, o).unwrap();
    let r = send(&mut c, &["u@example.net"]).unwrap();
    assert!(r.any_accepted());
    c.quit().unwrap();
    assert_eq!(server.messages().len(), 1);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn send_message_extracts_envelope_and_strips_bcc() {
    let server = TestServer::start(Script::default());
    let mut c = connect(&server, plain()).unwrap();
    let msg = b"From: Alice <alice@example.org>\r\nTo: bob@example.net, Carol <carol@example.net>\r\nCc: dave@example.net\r\nBcc: eve@example.net,\r\n frank@example.net\r\nSubject: hi\r\n\r\nBcc: in the body stays\r\n";
    let r = c.send_message(msg, None, None).unwrap();
    assert_eq!(r.recipients.len(), 5);
    let got = &server.messages()[0];
    assert_eq!(got.from, "alice@example.org");
    assert_eq!(
        got.rcpts,
        [
            "bob@example.net",
            "carol@example.net",
            "dave@example.net",
            "eve@example.net",
            "frank@example.net"
        ]
    );
    let text = String::from_utf8(got.data.clone()).unwrap();
    assert!(!text.contains("frank"), "{text}");
    assert!(
        text.contains("\r\n\r\nBcc: in the body stays\r\n"),
        "{text}"
    );
}

#[test]
fn send_message_uses_resent_headers_and_smtputf8() {
    let server = TestServer::start(Script::default());
    let mut c = connect(&server, plain()).unwrap();
    let msg = "From: a@example.org\r\nTo: b@example.net\r\nResent-Date: Thu, 01 Jan 2026 00:00:00 +0000\r\nResent-From: r@example.org\r\nResent-To: jösé@exämple.net\r\nSubject: fwd\r\n\r\nhi\r\n";
    c.send_message(msg.as_bytes(), None, None).unwrap();
    let s = &server.sessions()[0];
    let mail = s.commands.iter().find(|l| l.starts_with("MAIL")).unwrap();
    assert!(
        mail.contains("<r@example.org>") && mail.contains("SMTPUTF8"),
        "{mail}"
    );
    assert!(mail.contains("BODY=8BITMIME"), "{mail}");
    assert_eq!(server.messages()[0].rcpts, ["jösé@exämple.net"]);
}

#[test]
fn pipelined_batch_and_reader_bodies() {
    let server = TestServer::start(Script::default());
    let mut c = connect(&server, plain()).unwrap();
    let mut results = Vec::new();
    let msgs = (0..5).map(|i| {
        let env = envelope("a@example.org", &[&format!("r{i}@example.net")]).unwrap();
        (env, Body::Bytes(MSG))
    });
    c.send_all(msgs, |i, r| results.push((i, r.is_ok())))
        .unwrap();
    assert_eq!(results, (0..5).map(|i| (i, true)).collect::<Vec<_>>());

    let mut env = envelope("a@example.org", &["b@example.net"]).unwrap();
    env.body = BodyType::EightBitMime;
    let big: Vec<u8> = b"Subject: big\r\n\r\n"
        .iter()
        .copied()
        .chain(
            std::iter::repeat_n(b"caf\xc3\xa9 .line\r\n.dot\r\n".iter().copied(), 20_000).flatten(),
        )
        .collect();
    let mut reader = &big[..];
    c.send(env, Body::Reader(&mut reader)).unwrap();
    c.quit().unwrap();
    let got = server.messages();
    assert_eq!(got.len(), 6);
    assert_eq!(got[5].data, big);
}

#[test]
fn ehlo_and_helo_again_like_smtplib() {
    let server = TestServer::start(Script::default());
    let mut c = connect(&server, plain()).unwrap();
    assert!(c.has_extn("pipelining"));
    assert_eq!(c.helo().unwrap().code(), 250);
    assert!(c.capabilities().is_none());
    assert!(!c.has_extn("pipelining"));
    assert_eq!(c.ehlo().unwrap().code(), 250);
    assert!(c.has_extn("pipelining"));
    let report = send(&mut c, &["b@example.net"]).unwrap();
    assert!(report.recipients[0].accepted);
    c.quit().unwrap();
}

#[test]
fn low_level_mail_rcpt_data_like_smtplib() {
    let server = TestServer::start(Script::default());
    let mut c = connect(&server, plain()).unwrap();
    assert_eq!(
        c.mail("a@example.org", Default::default()).unwrap().code(),
        250
    );
    assert_eq!(
        c.rcpt("b@example.net", Default::default()).unwrap().code(),
        250
    );
    assert_eq!(c.data(MSG).unwrap().code(), 250);
    // DATA without a transaction: the server's refusal comes back as a reply.
    let r = c.data(MSG).unwrap();
    assert!(r.code().get() >= 500, "{r:?}");
    assert!(matches!(
        c.mail("bad address", Default::default()),
        Err(Error::InvalidInput(_))
    ));
    c.quit().unwrap();
}

#[test]
fn reset_after_end_of_data_is_delivery_unknown() {
    // The connection is reset (an I/O error, not an EOF) after the end of data: the
    // server may have accepted the message, and the error says so.
    let server = TestServer::start(Script::default().rule(Rule::new(".", Step::Reset)));
    let mut c = connect(&server, plain()).unwrap();
    let err = send(&mut c, &["b@example.net"]).unwrap_err();
    let Error::DeliveryUnknown { source, report } = &err else {
        panic!("{err}")
    };
    assert!(matches!(**source, Error::Io(_)), "{source}");
    assert!(matches!(
        report.recipients[0].status,
        RcptStatus::Unknown(_)
    ));

    // Reset before the end of data: nothing can have been delivered.
    let server = TestServer::start(Script::default().rule(Rule::new("RCPT", Step::Reset)));
    let mut c = connect(&server, plain()).unwrap();
    let err = send(&mut c, &["b@example.net"]).unwrap_err();
    assert!(
        matches!(err, Error::Io(_) | Error::ServerDisconnected(_)),
        "{err}"
    );
}

/// In-memory bodies go out as zero-copy segments with vectored writes (plain and TLS):
/// large clean text, leading dots, and bare LFs (copied by the core) arrive intact and
/// normalised, pipelined one after the other.
#[test]
fn large_bodies_with_vectored_writes_plain_and_tls() {
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
        let mut c = connect(&server, opts).unwrap();
        let msgs = (0..3).map(|_| {
            let env = envelope("a@example.org", &["b@example.net"]).unwrap();
            (env, Body::Bytes(&body))
        });
        let mut ok = 0;
        c.send_all(msgs, |_, r| ok += usize::from(r.is_ok()))
            .unwrap();
        assert_eq!(ok, 3);
        c.quit().unwrap();
        let got = server.messages();
        assert_eq!(got.len(), 3);
        for m in got {
            assert!(m.data == expected, "content differs (starttls {starttls})");
        }
    }
}

/// `Options::source_address` (smtplib's `source_address`): the connection leaves from the
/// given local address, as the server sees it; a port of 0 lets the system pick one, a
/// given port is used as is.
#[test]
fn source_address_is_the_peer_address_the_server_sees() {
    let server = TestServer::start(Script::default());
    // All of 127.0.0.0/8 is loopback on Linux: 127.0.0.2 is a local address other than
    // the default one.
    let mut o = plain();
    o.source_address = Some("127.0.0.2:0".parse().unwrap());
    let mut c = connect(&server, o).unwrap();
    send(&mut c, &["b@example.net"]).unwrap();
    c.quit().unwrap();
    let peer = server.sessions()[0].peer.expect("TCP peer");
    assert_eq!(peer.ip().to_string(), "127.0.0.2");
    assert_ne!(peer.port(), 0);
    // A fixed source port: one the system just handed out (the listener is closed again).
    let free = std::net::TcpListener::bind("127.0.0.3:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut o = plain();
    o.source_address = Some(free);
    let mut c = connect(&server, o).unwrap();
    c.noop().unwrap();
    c.quit().unwrap();
    assert_eq!(server.sessions()[1].peer, Some(free));
    // Without it, the default local address.
    let mut c = connect(&server, plain()).unwrap();
    c.quit().unwrap();
    assert_eq!(
        server.sessions()[2].peer.unwrap().ip().to_string(),
        "127.0.0.1"
    );
    // An IPv6 source cannot reach an IPv4 server: a connect error, not a panic.
    let mut o = plain();
    o.source_address = Some("[::1]:0".parse().unwrap());
    let err = connect(&server, o).unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err}");
}

#[test]
fn timeouts_of_duration_max_mean_none() {
    let server = TestServer::start(Script {
        starttls: true,
        ..Script::default()
    });
    let mut o = tls(TlsPolicy::Required).with_timeout(Duration::MAX);
    o.record_transcript = false;
    let mut c = connect(&server, o).unwrap();
    send(&mut c, &["b@example.net"]).unwrap();
    c.quit().unwrap();
}

#[test]
fn send_all_reports_a_message_it_cannot_send_and_goes_on() {
    let server = TestServer::start(Script::default());
    let mut c = connect(&server, plain()).unwrap();
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
    c.send_all(msgs, |i, r| done.push((i, r))).unwrap();
    done.sort_by_key(|d| d.0);
    assert!(done[0].1.is_ok());
    assert!(
        matches!(done[1].1, Err(Error::Usage(UsageError::NoRecipients))),
        "{:?}",
        done[1].1
    );
    assert!(done[2].1.is_ok());
    assert_eq!(server.messages().len(), 2);
    c.noop().unwrap();
    c.quit().unwrap();
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
#[test]
fn raw_octets_of_data_and_bdat() {
    use smtp_test_server::RawPhase;
    // DATA.
    let server = TestServer::start(Script::default());
    let mut c = connect(&server, plain()).unwrap();
    let env = envelope("a@example.org", &["b@example.net"]).unwrap();
    c.send(env, Body::Bytes(RAW_BODY)).unwrap();
    c.quit().unwrap();
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
    let mut c = connect(&server, plain()).unwrap();
    assert!(c.has_extn("chunking"));
    let mut env = envelope("a@example.org", &["b@example.net"]).unwrap();
    env.prefer_bdat = true;
    c.send(env, Body::Bytes(RAW_BODY)).unwrap();
    c.quit().unwrap();
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
    let mut c = connect(&server, plain()).unwrap();
    let body = b"0123456789abcde\n".repeat(20_000);
    let wire = b"0123456789abcde\r\n".repeat(20_000);
    let mut env = envelope("a@example.org", &["b@example.net"]).unwrap();
    env.prefer_bdat = true;
    c.send(env, Body::Bytes(&body)).unwrap();
    c.quit().unwrap();
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

#[test]
fn nul_and_long_lines_are_refused_before_mail_and_when_streamed() {
    use smtp_blocking::proto::body::{BodyError, BodyViolation};
    let server = TestServer::start(Script::default());
    let mut c = connect(&server, plain()).unwrap();
    let long = [MSG, &[b'x'; 1001][..], b"\r\n"].concat();
    let err = c
        .send(
            envelope("a@example.org", &["b@example.net"]).unwrap(),
            Body::Bytes(&long),
        )
        .unwrap_err();
    let line = MSG.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    assert!(
        matches!(
            err,
            Error::Usage(UsageError::Body(BodyError::NeedsBinaryMime(BodyViolation::LongLine { line: l, length: 1003 }))) if l == line
        ),
        "{err}"
    );
    assert_eq!(err.fault(), Fault::Caller);
    // Nothing was sent, and the connection goes on.
    send(&mut c, &["b@example.net"]).unwrap();
    // A streamed body is refused as soon as the NUL is read: the message is never ended.
    let nul = [MSG, b"\0"].concat();
    let mut reader = &nul[..];
    let err = c
        .send(
            envelope("a@example.org", &["c@example.net"]).unwrap(),
            Body::Reader(&mut reader),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Usage(UsageError::Body(BodyError::NeedsBinaryMime(BodyViolation::Nul { offset }))) if offset == MSG.len() as u64
        ),
        "{err}"
    );
    assert_eq!(server.messages().len(), 1, "only the good message arrived");
    let sessions = server.sessions();
    let mails = sessions[0]
        .commands
        .iter()
        .filter(|l| l.starts_with("MAIL"))
        .count();
    assert_eq!(
        mails, 2,
        "MAIL for the good message and the streamed one only"
    );
}

#[test]
fn refused_plaintext_login_keeps_the_session_and_quit_follows() {
    let script = Script {
        auth: Some(("alice".into(), "secret".into())),
        ..Script::default()
    };
    let server = TestServer::start(script);
    let mut c = connect(&server, plain()).unwrap();
    let err = c.login("alice", "secret").unwrap_err();
    assert!(
        matches!(err, Error::Usage(UsageError::PlaintextAuth)),
        "{err}"
    );
    // The session is still healthy: it goes on, and ends with QUIT.
    assert_eq!(c.noop().unwrap().code(), 250);
    send(&mut c, &["b@example.net"]).unwrap();
    c.quit().unwrap();
    let commands = &server.sessions()[0].commands;
    assert!(
        !commands.iter().any(|l| l.starts_with("AUTH")),
        "{commands:?}"
    );
    assert_eq!(
        commands.last().map(String::as_str),
        Some("QUIT"),
        "{commands:?}"
    );
    assert_eq!(server.messages().len(), 1);
}

/// RFC 5321 §4.1.1.1, §4.1.4: with no HELO name set, EHLO carries
/// `default_client_name` for the connection's local address (this host's FQDN, else that
/// address literal, else `localhost.localdomain`).
#[test]
fn ehlo_sends_the_default_client_name() {
    let server = TestServer::start(Script::default());
    let opts = plain();
    assert!(opts.helo_name.is_none());
    let mut c = connect(&server, opts).unwrap();
    c.quit().unwrap();
    let log = &server.sessions()[0];
    let local = log.peer.expect("a TCP peer").ip();
    let want = smtp_blocking::default_client_name(Some(local));
    assert_eq!(log.commands[0], format!("EHLO {want}"));
}

/// RFC 5321 §4.4: `send_message` originates the message, so an existing `Return-Path`
/// header field is not transmitted (the delivering server adds its own).
#[test]
fn send_message_does_not_transmit_return_path() {
    let server = TestServer::start(Script::default());
    let mut c = connect(&server, plain()).unwrap();
    let msg = b"Return-Path: <bounce@example.org>\r\nFrom: alice@example.org\r\nTo: bob@example.net\r\nSubject: hi\r\n\r\nHello.\r\n";
    c.send_message(msg, None, None).unwrap();
    let got = &server.messages()[0];
    assert_eq!(got.from, "alice@example.org");
    assert_eq!(
        got.data,
        b"From: alice@example.org\r\nTo: bob@example.net\r\nSubject: hi\r\n\r\nHello.\r\n"
    );
}

/// RFC 2920 §3.1: no deadlock when the server stops reading. It takes the pipelined
/// MAIL/RCPT/DATA, answers them, then never reads again while the client writes a
/// 32 MiB body: the socket buffers fill, and the write deadline ends the send with a
/// timeout instead of blocking for ever.
#[test]
fn server_that_stops_reading_times_out_instead_of_deadlocking() {
    use std::io::{Read, Write};
    use std::time::Instant;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut seen = Vec::new();
        let mut read_until = |s: &mut std::net::TcpStream, what: &[u8]| {
            let mut buf = [0u8; 4096];
            while !seen.windows(what.len()).any(|w| w == what) {
                let n = s.read(&mut buf).unwrap();
                assert!(n > 0, "the client went away early");
                seen.extend_from_slice(&buf[..n]);
            }
        };
        s.write_all(b"220 mx.example ESMTP\r\n").unwrap();
        read_until(&mut s, b"EHLO ");
        read_until(&mut s, b"\r\n");
        s.write_all(b"250-mx.example\r\n250 PIPELINING\r\n")
            .unwrap();
        read_until(&mut s, b"DATA\r\n");
        s.write_all(b"250 ok\r\n250 ok\r\n354 go ahead\r\n")
            .unwrap();
        // Never read again; keep the connection open until the test is over.
        let _ = done_rx.recv_timeout(Duration::from_secs(60));
        drop(s);
    });
    let opts = plain().with_timeout(Duration::from_millis(500));
    let mut c = SmtpClient::connect(&addr.to_string(), opts).unwrap();
    let line = [b'x'; 78];
    let mut body = b"Subject: big\r\n\r\n".to_vec();
    while body.len() < 32 << 20 {
        body.extend_from_slice(&line);
        body.extend_from_slice(b"\r\n");
    }
    let start = Instant::now();
    let err = c
        .sendmail(
            "a@example.org",
            &["b@example.net"],
            &body,
            Default::default(),
            Default::default(),
        )
        .unwrap_err();
    let took = start.elapsed();
    assert!(
        matches!(err, Error::Timeout(TimeoutPhase::Smtp(Phase::DataBlock))),
        "{err}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(c.is_closed());
    done_tx.send(()).unwrap();
    server.join().unwrap();
}

#[test]
fn tls_info_timings_and_capabilities_before_starttls() {
    let server = TestServer::start(Script {
        starttls: true,
        ..Script::default()
    });
    let c = connect(&server, tls(TlsPolicy::Required)).unwrap();
    let info = c.tls_info().expect("rustls' handshake is reported");
    assert_eq!(info.verification(), &smtp_blocking::Verification::Verified);
    assert!(matches!(
        info.protocol_version(),
        Some("TLSv1.3" | "TLSv1.2")
    ));
    assert!(info.cipher_suite().is_some_and(|s| s.starts_with("TLS")));
    assert!(!info.peer_certificates().is_empty());
    assert!(c.capabilities_before_tls().expect("kept").starttls());
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

    // Implicit TLS: one EHLO, after the handshake; nothing from before TLS.
    let server = TestServer::start(Script {
        implicit_tls: true,
        ..Script::default()
    });
    let c = connect(&server, tls(TlsPolicy::Implicit)).unwrap();
    assert!(c.tls_info().is_some() && c.capabilities_before_tls().is_none());
    let t = c.timings();
    assert!(t.tls_handshake.is_some() && t.greeting.is_some() && t.ehlo.is_some());
    assert!(t.starttls.is_none() && t.ehlo_after_tls.is_none());
}

#[test]
fn refused_certificate_chain_is_kept_with_why() {
    let server = TestServer::start(Script {
        starttls: true,
        ..Script::default()
    });
    let mut o = plain();
    o.core.tls = TlsPolicy::Required; // built-in roots: the test CA is not trusted
    let mut c = SmtpClient::open(&server.addr().to_string(), o.clone()).unwrap();
    let e = c.ehlo_or_helo_if_needed().unwrap_err();
    assert!(matches!(e, Error::Tls(_)), "{e}");
    let info = c.tls_info().expect("the refused chain");
    assert!(!info.peer_certificates().is_empty());
    // The blocking driver still holds the connection: what it had negotiated is kept.
    assert!(info.protocol_version().is_some() && info.cipher_suite().is_some());
    let why = info.verification().to_string();
    assert!(
        why.starts_with("not verified, because it is not signed by a trusted authority"),
        "{why}"
    );

    // With checks off, the same chain and "not verified, because checks are off".
    o.tls_options = TlsOptions::new().dangerous_accept_invalid_certs();
    let c = connect(&server, o).unwrap();
    let off = c.tls_info().unwrap();
    assert_eq!(off.peer_certificates(), info.peer_certificates());
    assert_eq!(off.verification(), &smtp_blocking::Verification::Disabled);
}
