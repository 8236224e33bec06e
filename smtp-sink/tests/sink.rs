//! The sink against raw sockets and the blocking client.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use smtp_blocking::proto::session::RcptStatus;
use smtp_blocking::{Body, Dialect, Options, SmtpClient, TlsOptions, TlsPolicy, envelope};
use smtp_sink::{Config, FaultAction, FaultPlan, FaultPoint, Sink, TlsMode};

fn message(id: &str, body_lines: usize) -> Vec<u8> {
    let mut m =
        format!("From: a@example.test\r\nMessage-ID: <{id}>\r\nSubject: t\r\n\r\n").into_bytes();
    for i in 0..body_lines {
        m.extend_from_slice(format!("line {i} .. of the body\r\n").as_bytes());
    }
    m
}

fn client(sink: &Sink, tls: TlsPolicy, lmtp: bool) -> SmtpClient {
    let mut o = Options::new().with_timeout(Duration::from_secs(10));
    o.core.tls = tls;
    o.helo_name = Some("client.example.test".into());
    if lmtp {
        o.core.dialect = Dialect::Lmtp;
    }
    if let Some(pem) = sink.ca_pem() {
        o.tls_options = TlsOptions::new()
            .with_ca_pem(pem.as_bytes())
            .unwrap()
            .with_server_name("localhost");
    }
    SmtpClient::connect(&sink.addr().to_string(), o).unwrap()
}

fn recording(tls: TlsMode) -> Config {
    Config {
        tls,
        record: true,
        ..Config::default()
    }
}

#[test]
fn records_each_message_and_shows_duplicates() {
    let sink = Sink::start(recording(TlsMode::Plain)).unwrap();
    let mut c = client(&sink, TlsPolicy::Never, false);
    let env = envelope("a@example.test", &["r1@example.test", "r2@example.test"]).unwrap();
    let (m1, m2) = (message("one@x", 50), message("two@x", 5000));
    let bodies = [&m1, &m2, &m1];
    let mut ok = 0;
    c.send_all(
        bodies.iter().map(|m| (env.clone(), Body::Bytes(m))),
        |_, r| ok += usize::from(r.is_ok()),
    )
    .unwrap();
    c.quit().unwrap();
    assert_eq!(ok, 3);
    let rec = sink.record();
    let stats = rec.stats();
    assert_eq!(stats.messages, 3);
    assert_eq!(stats.bytes, (2 * m1.len() + m2.len()) as u64);
    let msgs = rec.delivered_messages();
    assert_eq!(msgs.get("<one@x>"), Some(&2));
    assert_eq!(msgs.get("<two@x>"), Some(&1));
    let dups = rec.duplicates();
    assert_eq!(dups.len(), 2, "{dups:?}");
    assert!(dups.iter().all(|((id, _), n)| id == "<one@x>" && *n == 2));
}

/// DATA's end found whatever the read boundaries; leading dots are not an end; commands
/// pipelined after the dot are answered.
#[test]
fn data_end_across_any_boundary() {
    let sink = Sink::start(recording(TlsMode::Plain)).unwrap();
    let mut s = TcpStream::connect(sink.addr()).unwrap();
    s.set_nodelay(true).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("220"), "{line}");
    let content = b"Message-ID: <dots@x>\r\n\r\n..leading dot\r\n.\r\r\n\r\n.x\r\n";
    let mut wire = b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n".to_vec();
    wire.extend_from_slice(content);
    wire.extend_from_slice(b".\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n.\r\nNOOP\r\n");
    // One octet per write, so every boundary is tried.
    for b in &wire {
        s.write_all(std::slice::from_ref(b)).unwrap();
    }
    s.write_all(b"QUIT\r\n").unwrap();
    let mut all = String::new();
    r.read_to_string(&mut all).unwrap();
    let codes: Vec<&str> = all
        .lines()
        .filter(|l| l.as_bytes().get(3) == Some(&b' '))
        .map(|l| &l[..3])
        .collect();
    assert_eq!(
        codes,
        [
            "250", "250", "250", "354", "250", "250", "250", "354", "250", "250", "221"
        ],
        "{all}"
    );
    let stats = sink.record().stats();
    assert_eq!(stats.messages, 2);
    // The first message's content (up to the CRLF before the dot), the empty second one.
    assert_eq!(stats.bytes, content.len() as u64);
    assert_eq!(sink.record().delivered_messages().get("<dots@x>"), Some(&1));
}

#[test]
fn bdat_starttls_and_implicit_tls() {
    for (mode, policy) in [
        (TlsMode::Plain, TlsPolicy::Never),
        (TlsMode::StartTls, TlsPolicy::Required),
        (TlsMode::Implicit, TlsPolicy::Implicit),
    ] {
        let sink = Sink::start(recording(mode)).unwrap();
        let mut c = client(&sink, policy, false);
        assert_eq!(c.is_encrypted(), mode != TlsMode::Plain);
        let big = message("big@x", 40_000); // ~1 MiB
        for bdat in [false, true] {
            let mut env = envelope("a@example.test", &["r@example.test"]).unwrap();
            env.prefer_bdat = bdat;
            let rep = c.send(env, Body::Bytes(&big)).unwrap();
            assert!(rep.recipients[0].accepted, "{mode:?} bdat={bdat}");
        }
        c.quit().unwrap();
        let rec = sink.record();
        assert_eq!(rec.stats().messages, 2, "{mode:?}");
        assert_eq!(rec.stats().bytes, 2 * big.len() as u64, "{mode:?}");
        assert_eq!(rec.delivered_messages().get("<big@x>"), Some(&2));
    }
}

#[test]
fn lmtp_replies_per_recipient_with_faults() {
    // Every end-of-data reply is drawn: about half the recipients refused.
    let cfg = Config {
        lmtp: true,
        faults: FaultPlan::new(7).with(FaultPoint::EndOfData, 0.5, FaultAction::Reply(452)),
        ..recording(TlsMode::Plain)
    };
    let sink = Sink::start(cfg).unwrap();
    let mut c = client(&sink, TlsPolicy::Never, true);
    let to: Vec<String> = (0..20).map(|i| format!("r{i}@example.test")).collect();
    let to: Vec<&str> = to.iter().map(String::as_str).collect();
    let env = envelope("a@example.test", &to).unwrap();
    let rep = c.send(env, Body::Bytes(&message("l@x", 3))).unwrap();
    c.quit().unwrap();
    let accepted: Vec<&str> = rep
        .recipients
        .iter()
        .filter(|r| r.accepted)
        .map(|r| r.recipient.as_str())
        .collect();
    assert!(!accepted.is_empty() && accepted.len() < 20, "{accepted:?}");
    let recorded: Vec<String> = sink
        .record()
        .deliveries()
        .into_keys()
        .map(|(_, r)| r)
        .collect();
    assert_eq!(recorded.len(), accepted.len());
    for a in accepted {
        assert!(recorded.iter().any(|r| r == a));
    }
}

#[test]
fn reset_after_end_of_data_is_recorded_but_unknown_to_the_client() {
    let cfg = Config {
        faults: FaultPlan::new(1).with(FaultPoint::EndOfData, 1.0, FaultAction::ResetAfter),
        ..recording(TlsMode::Plain)
    };
    let sink = Sink::start(cfg).unwrap();
    let mut c = client(&sink, TlsPolicy::Never, false);
    let env = envelope("a@example.test", &["r@example.test"]).unwrap();
    let mut result = None;
    let _ = c.send_all([(env, Body::Bytes(&message("maybe@x", 3)))], |_, r| {
        result = Some(r)
    });
    let st = match result {
        Some(Ok(report)) => report.recipients[0].status.clone(),
        Some(Err(smtp_blocking::Error::DeliveryUnknown { report, .. })) => {
            report.recipients[0].status.clone()
        }
        other => panic!("{other:?}"),
    };
    assert!(matches!(st, RcptStatus::Unknown(_)), "{st:?}");
    let rec = sink.record();
    assert_eq!(rec.unanswered(), ["<maybe@x>"]);
    assert_eq!(rec.delivered_messages().get("<maybe@x>"), Some(&1));
}

#[test]
fn refusals_at_mail_rcpt_and_end_of_data_are_not_delivered() {
    for point in [
        FaultPoint::Mail,
        FaultPoint::Rcpt,
        FaultPoint::Data,
        FaultPoint::EndOfData,
    ] {
        let cfg = Config {
            faults: FaultPlan::new(3).with(point, 1.0, FaultAction::Reply(550)),
            ..recording(TlsMode::Plain)
        };
        let sink = Sink::start(cfg).unwrap();
        let mut c = client(&sink, TlsPolicy::Never, false);
        let env = envelope("a@example.test", &["r@example.test"]).unwrap();
        let r = c.send(env, Body::Bytes(&message("no@x", 3)));
        assert!(
            r.is_err() || !r.unwrap().recipients[0].accepted,
            "{point:?}"
        );
        let rec = sink.record();
        assert_eq!(rec.stats().messages, 0, "{point:?}");
        assert!(rec.deliveries().is_empty());
        let refused = u64::from(point == FaultPoint::EndOfData);
        assert_eq!(rec.stats().refused, refused, "{point:?}");
        // One fault fired, on the one connection.
        assert_eq!((rec.stats().faults, rec.stats().faulted_sessions), (1, 1));
    }
}

#[test]
fn stall_and_drip_and_close_without_notify() {
    // A stall beyond the client's deadline: a timeout, the message recorded as unanswered.
    let cfg = Config {
        faults: FaultPlan::new(1).with(
            FaultPoint::EndOfData,
            1.0,
            FaultAction::Stall(Duration::from_millis(1500)),
        ),
        ..recording(TlsMode::Plain)
    };
    let sink = Sink::start(cfg).unwrap();
    let mut o = Options::new().with_timeout(Duration::from_millis(300));
    o.core.tls = TlsPolicy::Never;
    let mut c = SmtpClient::connect(&sink.addr().to_string(), o).unwrap();
    let env = envelope("a@example.test", &["r@example.test"]).unwrap();
    assert!(
        c.send(env.clone(), Body::Bytes(&message("s@x", 1)))
            .is_err()
    );
    assert_eq!(sink.record().unanswered(), ["<s@x>"]);

    // A dripped greeting and replies still make a good session.
    let cfg = Config {
        faults: FaultPlan::new(1).with(
            FaultPoint::Connect,
            1.0,
            FaultAction::Drip(Duration::from_millis(1)),
        ),
        ..recording(TlsMode::Plain)
    };
    let sink = Sink::start(cfg).unwrap();
    let mut c = client(&sink, TlsPolicy::Never, false);
    assert!(c.send(env.clone(), Body::Bytes(&message("d@x", 1))).is_ok());
    assert_eq!(sink.record().stats().messages, 1);

    // A TLS close without close_notify at the end of data: an error, never a success.
    let cfg = Config {
        faults: FaultPlan::new(1).with(FaultPoint::EndOfData, 1.0, FaultAction::CloseNoNotify),
        ..recording(TlsMode::Implicit)
    };
    let sink = Sink::start(cfg).unwrap();
    let mut c = client(&sink, TlsPolicy::Implicit, false);
    let mut result = None;
    let r = c.send_all([(env, Body::Bytes(&message("n@x", 1)))], |_, r| {
        result = Some(r)
    });
    let accepted = matches!(&result, Some(Ok(rep)) if rep.recipients[0].accepted);
    assert!(!accepted, "{r:?} {result:?}");
    assert_eq!(sink.record().unanswered(), ["<n@x>"]);
}

#[test]
fn size_limit_and_421_and_bdat_refused() {
    // SIZE: declared too big -> 552 at MAIL; nothing recorded.
    let cfg = Config {
        size_limit: 1000,
        ..recording(TlsMode::Plain)
    };
    let sink = Sink::start(cfg).unwrap();
    let mut c = client(&sink, TlsPolicy::Never, false);
    let env = envelope("a@example.test", &["r@example.test"]).unwrap();
    assert!(
        c.send(env.clone(), Body::Bytes(&message("big@x", 100)))
            .is_err()
    );
    assert!(
        c.send(env.clone(), Body::Bytes(&message("ok@x", 3)))
            .is_ok()
    );
    assert_eq!(sink.record().delivered_messages().len(), 1);

    // 421 at connect: the client cannot start.
    let cfg = Config {
        faults: FaultPlan::new(1).with(FaultPoint::Connect, 1.0, FaultAction::Close421),
        ..recording(TlsMode::Plain)
    };
    let sink = Sink::start(cfg).unwrap();
    let mut o = Options::new().with_timeout(Duration::from_secs(5));
    o.core.tls = TlsPolicy::Never;
    assert!(SmtpClient::connect(&sink.addr().to_string(), o).is_err());

    // 421 at RCPT: the transaction fails, nothing delivered.
    let cfg = Config {
        faults: FaultPlan::new(1).with(FaultPoint::Rcpt, 1.0, FaultAction::Close421),
        ..recording(TlsMode::Plain)
    };
    let sink = Sink::start(cfg).unwrap();
    let mut c = client(&sink, TlsPolicy::Never, false);
    let r = c.send(env.clone(), Body::Bytes(&message("x@x", 3)));
    assert!(r.is_err() || !r.unwrap().recipients[0].accepted);
    assert_eq!(sink.record().stats().messages, 0);

    // BDAT refused at its first chunk (a Data fault): not delivered; the next one is.
    let cfg = Config {
        faults: FaultPlan::new(5).with(FaultPoint::Data, 0.5, FaultAction::Reply(451)),
        ..recording(TlsMode::Plain)
    };
    let sink = Sink::start(cfg).unwrap();
    let mut c = client(&sink, TlsPolicy::Never, false);
    let mut env = env;
    env.prefer_bdat = true;
    let msgs: Vec<Vec<u8>> = (0..20)
        .map(|i| message(&format!("b{i}@x"), 20_000))
        .collect();
    let mut accepted = Vec::new();
    c.send_all(
        msgs.iter().map(|m| (env.clone(), Body::Bytes(m))),
        |i, r| {
            if r.is_ok_and(|rep| rep.recipients[0].accepted) {
                accepted.push(format!("<b{i}@x>"));
            }
        },
    )
    .unwrap();
    c.quit().unwrap();
    let delivered: Vec<String> = sink.record().delivered_messages().into_keys().collect();
    accepted.sort();
    assert!(!accepted.is_empty() && accepted.len() < 20, "{accepted:?}");
    assert_eq!(delivered, accepted);
    assert!(sink.record().duplicates().is_empty());
}

#[test]
fn auth_for_one_identity_and_kept_messages() {
    use smtp_blocking::proto::sasl::Credentials;
    use smtp_sink::AuthConfig;
    let sink = Sink::start(Config {
        tls: TlsMode::StartTls,
        auth: Some(AuthConfig {
            user: "alice".into(),
            password: "pw".into(),
            token: Some("tok".into()),
        }),
        keep_messages: 2,
        ..Config::default()
    })
    .unwrap();
    // Every mechanism it offers, with the right secret; the strongest offered by default.
    for mech in ["PLAIN", "LOGIN"] {
        let mut c = client(&sink, TlsPolicy::Required, false);
        assert!(c.has_extn("AUTH"));
        let r = c.auth(mech, Credentials::password("alice", "pw")).unwrap();
        assert_eq!(r.code(), 235, "{mech}");
        c.quit().unwrap();
    }
    for mech in ["XOAUTH2", "OAUTHBEARER"] {
        let mut c = client(&sink, TlsPolicy::Required, false);
        let r = c.auth(mech, Credentials::oauth2("alice", "tok")).unwrap();
        assert_eq!(r.code(), 235, "{mech}");
        c.quit().unwrap();
    }
    // Wrong secrets: 535, and the session goes on.
    let mut c = client(&sink, TlsPolicy::Required, false);
    assert!(c.login("alice", "nope").is_err());
    assert!(
        c.auth("XOAUTH2", Credentials::oauth2("alice", "bad"))
            .is_err()
    );
    assert!(c.auth("LOGIN", Credentials::password("bob", "pw")).is_err());
    c.login("alice", "pw").unwrap();
    // Three messages, the first two over DATA with leading dots, the last over BDAT: the
    // last two are kept, DATA content unstuffed.
    for i in 0..2 {
        let body = format!("Subject: m{i}\r\n\r\n.dot line\r\n..two\r\n");
        c.sendmail(
            "s@example.test",
            &["r@example.test"],
            body.as_bytes(),
            Default::default(),
            Default::default(),
        )
        .unwrap();
    }
    let mut env = envelope("s2@example.test", &["r1@example.test", "r2@example.test"]).unwrap();
    env.prefer_bdat = true;
    c.send(env, Body::Bytes(b"Subject: m2\r\n\r\n.dot\r\n"))
        .unwrap();
    c.quit().unwrap();
    let kept = sink.record().messages();
    assert_eq!(kept.len(), 2);
    assert_eq!(
        kept[0].content,
        b"Subject: m1\r\n\r\n.dot line\r\n..two\r\n"
    );
    assert_eq!(kept[0].mail_from, "s@example.test");
    assert!(!kept[0].bdat && kept[0].tls && !kept[0].truncated);
    assert_eq!(kept[0].auth_user.as_deref(), Some("alice"));
    assert_eq!(kept[1].content, b"Subject: m2\r\n\r\n.dot\r\n");
    assert_eq!(kept[1].recipients, ["r1@example.test", "r2@example.test"]);
    assert!(kept[1].bdat);

    // Without `auth`, AUTH is neither offered nor accepted.
    let plain = Sink::start(Config::default()).unwrap();
    let mut c = client(&plain, TlsPolicy::Never, false);
    assert!(!c.has_extn("AUTH"));
    assert_eq!(c.docmd("AUTH PLAIN AGFsaWNlAHB3").unwrap().code(), 502);
    assert!(plain.record().messages().is_empty());
}
