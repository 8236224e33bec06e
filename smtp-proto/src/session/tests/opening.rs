//! Greeting, EHLO/HELO, STARTTLS and implicit TLS.

use super::*;

#[test]
fn rfc5321_d1_lockstep_transaction() {
    both_ways(|bytewise| {
        let mut h = Harness::new(config(TlsPolicy::Never));
        h.bytewise = bytewise;
        h.drain();
        assert_eq!(h.c.next_action(), Action::Read);
        h.server(b"220 foo.com Simple Mail Transfer Service Ready\r\n");
        assert_eq!(h.sent(), "EHLO client.example\r\n");
        h.server(EHLO_PLAIN);
        assert_eq!(h.c.next_action(), Action::Idle);
        h.c.send_mail(env(
            "<Smith@bar.com>",
            &["<Jones@foo.com>", "<Green@foo.com>", "<Brown@foo.com>"],
        ))
        .unwrap();
        h.drain();
        assert_eq!(h.sent(), "MAIL FROM:<Smith@bar.com>\r\n");
        h.server(b"250 OK\r\n");
        assert_eq!(h.sent(), "RCPT TO:<Jones@foo.com>\r\n");
        h.server(b"250 OK\r\n");
        assert_eq!(h.sent(), "RCPT TO:<Green@foo.com>\r\n");
        h.server(b"550 No such user here\r\n");
        assert_eq!(h.sent(), "RCPT TO:<Brown@foo.com>\r\n");
        h.server(b"250 OK\r\n");
        assert_eq!(h.sent(), "DATA\r\n");
        h.server(b"354 Start mail input; end with <CRLF>.<CRLF>\r\n");
        h.body(b"Blah blah blah...\n...etc. etc. etc.\n");
        assert_eq!(h.sent(), "Blah blah blah...\r\n....etc. etc. etc.\r\n.\r\n");
        h.server(b"250 OK\r\n");
        let o = h.outcome();
        assert_eq!(status_kinds(&o), ["accepted", "refused", "accepted"]);
        assert!(o.any_accepted());
        h.c.quit().unwrap();
        h.drain();
        assert_eq!(h.sent(), "QUIT\r\n");
        h.server(b"221 foo.com Service closing transmission channel\r\n");
        assert!(matches!(h.closed(), Some(CloseReason::Quit(Some(_)))));
        assert_eq!(h.c.next_action(), Action::Closed);
        (h.sent(), h.take_events())
    });
}

#[test]
fn pipelined_transaction_is_one_write_and_next_one_follows_the_dot() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.server(EHLO_PIPE);
    h.sent();
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>", "<c@y.org>"]))
        .unwrap();
    h.drain();
    assert_eq!(
        h.sent(),
        "MAIL FROM:<a@x.org>\r\nRCPT TO:<b@y.org>\r\nRCPT TO:<c@y.org>\r\nDATA\r\n"
    );
    h.server(b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.1.5 ok\r\n354 go\r\n");
    h.c.write_body(b"hello\r\n").unwrap();
    h.c.finish_body().unwrap();
    // The next transaction is queued before the dot's reply: it leaves in the same write.
    h.c.send_mail(env("<a@x.org>", &["<d@y.org>"])).unwrap();
    h.drain();
    assert_eq!(
        h.sent(),
        "hello\r\n.\r\nMAIL FROM:<a@x.org>\r\nRCPT TO:<d@y.org>\r\nDATA\r\n"
    );
    h.server(b"250 2.0.0 queued\r\n250 ok\r\n250 ok\r\n354 go\r\n");
    assert_eq!(status_kinds(&h.outcome()), ["accepted", "accepted"]);
    h.body(b"second");
    assert_eq!(h.sent(), "second\r\n.\r\n");
    h.server(b"250 queued\r\n");
    assert_eq!(status_kinds(&h.outcome()), ["accepted"]);
}

#[test]
fn all_recipients_refused_under_pipelining_sends_a_lone_dot() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.server(EHLO_PIPE);
    h.sent();
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    h.drain();
    h.sent();
    h.server(b"250 ok\r\n550 5.1.1 no\r\n354 go ahead anyway\r\n");
    assert_eq!(h.sent(), ".\r\n");
    assert_eq!(h.c.next_action(), Action::Read);
    h.server(b"554 5.5.1 no valid recipients\r\n");
    let o = h.outcome();
    assert_eq!(status_kinds(&o), ["refused"]);
    assert!(
        matches!(&o.recipients[0].status, RcptStatus::Refused(Stage::Rcpt, r) if r.code().get() == 550)
    );
}

#[test]
fn sender_refused_under_pipelining() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.server(EHLO_PIPE);
    h.sent();
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>", "<c@y.org>"]))
        .unwrap();
    h.drain();
    h.sent();
    h.server(b"553 5.1.8 bad sender\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n");
    let o = h.outcome();
    assert!(o.sender_refused());
    assert_eq!(status_kinds(&o), ["refused", "refused"]);
    assert!(matches!(
        &o.recipients[1].status,
        RcptStatus::Refused(Stage::Mail, _)
    ));
    assert_eq!(h.sent(), "");
    // The next transaction starts from a clean RSET (Postfix, for one, remembers a
    // refused SIZE= until then).
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    h.drain();
    assert!(h.sent().starts_with("RSET\r\nMAIL FROM"));
}

#[test]
fn lockstep_all_refused_resets_before_the_next_transaction() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.server(EHLO_PLAIN);
    h.sent();
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    h.drain();
    h.server(b"250 ok\r\n");
    h.server(b"550 no\r\n");
    assert_eq!(h.sent(), "MAIL FROM:<a@x.org>\r\nRCPT TO:<b@y.org>\r\n");
    assert_eq!(status_kinds(&h.outcome()), ["refused"]);
    h.c.send_mail(env("<a@x.org>", &["<c@y.org>"])).unwrap();
    h.drain();
    assert_eq!(h.sent(), "RSET\r\n");
    h.server(b"250 reset\r\n");
    assert_eq!(h.sent(), "MAIL FROM:<a@x.org>\r\n");
}

#[test]
fn helo_fallback_is_visible() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 old\r\n");
    h.server(b"502 5.5.2 what?\r\n");
    assert_eq!(h.sent(), "EHLO client.example\r\nHELO client.example\r\n");
    h.server(b"250 old\r\n");
    assert!(h.events.iter().any(|e| matches!(e, Event::HeloFallback(_))));
    assert!(h.c.is_helo_only());
    assert!(h.events.contains(&Event::Ready));
}

#[test]
fn no_helo_fallback_when_tls_is_required() {
    let mut h = Harness::new(config(TlsPolicy::Required));
    h.server(b"220 old\r\n");
    h.server(b"500 what?\r\n");
    assert_eq!(h.sent(), "EHLO client.example\r\nQUIT\r\n");
    assert!(matches!(h.closed(), Some(CloseReason::Refused(_))));
}

#[test]
fn greeting_554_sends_quit_then_fails() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"554 no service for you\r\n");
    assert_eq!(h.sent(), "QUIT\r\n");
    assert!(matches!(h.closed(), Some(CloseReason::Refused(r)) if r.code().get() == 554));
    assert!(h.c.is_closed());
}

#[test]
fn greeting_421_closes() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"421 busy\r\n");
    assert_eq!(h.sent(), "");
    assert!(matches!(h.closed(), Some(CloseReason::ServiceClosing(_))));
}

#[test]
fn starttls_required_but_not_offered() {
    let mut h = Harness::new(config(TlsPolicy::Required));
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    h.server(b"220 mx\r\n");
    h.server(EHLO_PIPE);
    assert_eq!(h.sent(), "EHLO client.example\r\nQUIT\r\n");
    assert!(matches!(
        h.closed(),
        Some(CloseReason::TlsUnavailable(None))
    ));
    assert_eq!(status_kinds(&h.outcome()), ["not-delivered"]);
}

#[test]
fn starttls_then_ehlo_again_with_capabilities_forgotten() {
    let mut h = Harness::new(config(TlsPolicy::Required));
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    h.server(b"220 mx\r\n");
    h.server(b"250-mx\r\n250-PIPELINING\r\n250 STARTTLS\r\n");
    assert_eq!(h.sent(), "EHLO client.example\r\nSTARTTLS\r\n");
    h.server(b"220 2.0.0 go ahead\r\n");
    assert_eq!(h.c.next_action(), Action::StartTls);
    assert!(h.c.pending_output().is_empty());
    assert!(h.c.capabilities().is_none());
    assert_eq!(
        h.c.handle_input(h.now, b"x"),
        Err(UsageError::InputDuringTlsHandshake)
    );
}

#[test]
fn starttls_handshake_restarts_the_session() {
    let mut h = Harness::new(config(TlsPolicy::Required));
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    h.server(b"220 mx\r\n");
    h.server(b"250-mx\r\n250 STARTTLS\r\n");
    h.server(b"220 go ahead\r\n");
    h.sent();
    h.c.handle_tls_established(h.now).unwrap();
    h.drain();
    assert!(h.c.is_encrypted());
    assert_eq!(h.sent(), "EHLO client.example\r\n");
    // STARTTLS advertised again after TLS is ignored.
    h.server(b"250-mx\r\n250-PIPELINING\r\n250 STARTTLS\r\n");
    assert_eq!(
        h.sent(),
        "MAIL FROM:<a@x.org>\r\nRCPT TO:<b@y.org>\r\nDATA\r\n"
    );
}

#[test]
fn bytes_after_starttls_220_are_refused_and_never_parsed() {
    let mut h = Harness::new(config(TlsPolicy::Required));
    h.server(b"220 mx\r\n");
    h.server(b"250-mx\r\n250 STARTTLS\r\n");
    h.sent();
    h.server(b"220 go ahead\r\n250-injected\r\n250 PIPELINING\r\n");
    assert_eq!(h.sent(), "", "nothing is sent, not even QUIT");
    assert!(matches!(
        h.closed(),
        Some(CloseReason::Peer(PeerError::DataAfterStartTls { len: 30 }))
    ));
    assert_eq!(h.c.next_action(), Action::Closed);
    assert!(h.c.handle_tls_established(h.now).is_err());
}

#[test]
fn starttls_refused_opportunistic_goes_on_required_quits() {
    let mut h = Harness::new(config(TlsPolicy::Opportunistic));
    h.server(b"220 mx\r\n");
    h.server(b"250-mx\r\n250 STARTTLS\r\n");
    h.server(b"454 4.7.0 TLS not available\r\n");
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, Event::StartTlsRefused(_)))
    );
    assert_eq!(h.c.next_action(), Action::Idle);

    let mut h = Harness::new(config(TlsPolicy::Required));
    h.server(b"220 mx\r\n");
    h.server(b"250-mx\r\n250 STARTTLS\r\n");
    h.sent();
    h.server(b"454 4.7.0 TLS not available\r\n");
    assert_eq!(h.sent(), "QUIT\r\n");
    assert!(matches!(
        h.closed(),
        Some(CloseReason::TlsUnavailable(Some(_)))
    ));
}

#[test]
fn implicit_tls_waits_for_the_handshake_before_the_greeting() {
    let mut h = Harness::new(config(TlsPolicy::Implicit));
    assert_eq!(h.c.next_action(), Action::StartTls);
    assert_eq!(h.c.poll_timeout(), None);
    h.c.handle_tls_established(h.now).unwrap();
    assert_eq!(h.c.next_action(), Action::Read);
    h.server(b"220 mx\r\n");
    assert_eq!(h.sent(), "EHLO client.example\r\n");
    h.server(EHLO_PIPE);
    assert!(h.events.contains(&Event::Ready));
}

#[test]
fn helo_fallback_after_any_refusal_but_421() {
    for refusal in [
        "500 what?",
        "501 syntax",
        "502 no",
        "504 no",
        "550 no",
        "554 go away",
        "450 later",
        "451 local error",
    ] {
        let mut h = Harness::new(config(TlsPolicy::Never));
        h.server(b"220 old\r\n");
        h.server(format!("{refusal}\r\n").as_bytes());
        assert_eq!(
            h.sent(),
            "EHLO client.example\r\nHELO client.example\r\n",
            "after {refusal}"
        );
        h.server(b"250 old\r\n");
        assert!(h.c.is_helo_only(), "after {refusal}");
        assert!(h.events.contains(&Event::Ready), "after {refusal}");
    }
    // 421: the server is closing; no HELO, no QUIT.
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 old\r\n");
    h.server(b"421 4.3.2 shutting down\r\n");
    assert_eq!(h.sent(), "EHLO client.example\r\n");
    assert!(matches!(h.closed(), Some(CloseReason::ServiceClosing(_))));
    assert!(!h.events.iter().any(|e| matches!(e, Event::HeloFallback(_))));
    // Not when turned off, nor for a refused HELO.
    let mut cfg = config(TlsPolicy::Never);
    cfg.allow_helo_fallback = false;
    let mut h = Harness::new(cfg);
    h.server(b"220 old\r\n");
    h.server(b"451 later\r\n");
    assert_eq!(h.sent(), "EHLO client.example\r\nQUIT\r\n");
    assert!(matches!(h.closed(), Some(CloseReason::Refused(_))));
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 old\r\n");
    h.server(b"550 no\r\n");
    h.sent();
    h.server(b"550 not HELO either\r\n");
    assert_eq!(h.sent(), "QUIT\r\n");
    assert!(matches!(h.closed(), Some(CloseReason::Refused(r)) if r.code().get() == 550));
}

#[test]
fn no_helo_fallback_after_4xx_when_tls_is_required() {
    let mut h = Harness::new(config(TlsPolicy::Required));
    h.server(b"220 old\r\n");
    h.server(b"451 later\r\n");
    assert_eq!(h.sent(), "EHLO client.example\r\nQUIT\r\n");
    assert!(matches!(h.closed(), Some(CloseReason::Refused(_))));
}

#[test]
fn wrong_reply_to_helo_is_reported_in_the_helo_phase() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 old\r\n");
    h.server(b"502 no\r\n");
    h.sent();
    h.server(b"354 what\r\n");
    let reason = h.closed().cloned().expect("closed");
    assert_eq!(
        reason,
        CloseReason::Peer(PeerError::WrongCode {
            phase: Phase::Helo,
            code: 354
        })
    );
    assert!(
        reason
            .to_string()
            .contains("answered HELO with reply code 354"),
        "{reason}"
    );
    assert_eq!(Phase::Helo.to_string(), "HELO");
    // A wrong reply to EHLO stays in the EHLO phase.
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.server(b"354 what\r\n");
    assert_eq!(
        h.closed(),
        Some(&CloseReason::Peer(PeerError::WrongCode {
            phase: Phase::Ehlo,
            code: 354
        }))
    );
}

/// A session that fell back to HELO, ready.
fn helo_session() -> Harness {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 old\r\n");
    h.server(b"500 what?\r\n");
    h.server(b"250 old\r\n");
    h.sent();
    h.take_events();
    h
}

#[test]
fn esmtp_parameters_after_helo_fallback_fail_before_mail() {
    use crate::command::{Body, By, ByMode, Envid, EsmtpParam, MtPriority, Notify, Orcpt, Ret};
    type Edit = Box<dyn Fn(&mut Envelope)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("SIZE", Box::new(|e| e.mail_params.size = Some(10))),
        ("8BITMIME", Box::new(|e| e.body = BodyType::EightBitMime)),
        (
            "8BITMIME",
            Box::new(|e| e.mail_params.body = Some(Body::SevenBit)),
        ),
        ("BINARYMIME", Box::new(|e| e.body = BodyType::BinaryMime)),
        ("SMTPUTF8", Box::new(|e| e.mail_params.smtputf8 = true)),
        ("DSN", Box::new(|e| e.mail_params.ret = Some(Ret::Hdrs))),
        (
            "DSN",
            Box::new(|e| e.mail_params.envid = Some(Envid::new("x1").unwrap())),
        ),
        (
            "DSN",
            Box::new(|e| e.recipients[0].1.notify = Some(Notify::Never)),
        ),
        (
            "DSN",
            Box::new(|e| e.recipients[0].1.orcpt = Some(Orcpt::new("rfc822", "b@y.org").unwrap())),
        ),
        ("REQUIRETLS", Box::new(|e| e.mail_params.requiretls = true)),
        (
            "AUTH",
            Box::new(|e| e.mail_params.auth = Some(ReversePath::parse("<a@x.org>").unwrap())),
        ),
        (
            "MT-PRIORITY",
            Box::new(|e| e.mail_params.mt_priority = Some(MtPriority::new(3).unwrap())),
        ),
        (
            "DELIVERBY",
            Box::new(|e| e.mail_params.by = Some(By::new(60, ByMode::Notify))),
        ),
        ("CHUNKING", Box::new(|e| e.prefer_bdat = true)),
    ];
    let mut h = helo_session();
    for (ext, edit) in &cases {
        let mut e = env("<a@x.org>", &["<b@y.org>"]);
        edit(&mut e);
        h.c.send_mail(e).unwrap();
        h.drain();
        assert_eq!(
            h.outcome().recipients[0].status,
            RcptStatus::NotDelivered(Failure::Usage(UsageError::NotAdvertised(ext))),
            "{ext}"
        );
        assert_eq!(h.sent(), "", "no MAIL for {ext}");
    }
    // The free-form parameters are dropped; the size hint is not the caller's SIZE.
    let mut e = env("<a@x.org>", &["<b@y.org>"]);
    e.mail_params
        .extra
        .push(EsmtpParam::new("XFOO", Some("1")).unwrap());
    e.recipients[0]
        .1
        .extra
        .push(EsmtpParam::new("XBAR", None).unwrap());
    e.size_hint = Some(100);
    h.c.send_mail(e).unwrap();
    h.drain();
    assert_eq!(h.sent(), "MAIL FROM:<a@x.org>\r\n");
    h.server(b"250 ok\r\n");
    assert_eq!(h.sent(), "RCPT TO:<b@y.org>\r\n");
    assert!(!h.c.is_closed());
}

#[test]
fn capabilities_before_starttls_are_kept_aside_and_not_used() {
    let mut h = Harness::new(config(TlsPolicy::Required));
    h.server(b"220 mx\r\n");
    assert!(h.c.capabilities_before_tls().is_none());
    h.server(b"250-mx\r\n250-SIZE 1000\r\n250 STARTTLS\r\n");
    assert_eq!(h.sent(), "EHLO client.example\r\nSTARTTLS\r\n");
    // Until the 220, they are the current ones.
    assert!(h.c.capabilities_before_tls().is_none());
    h.server(b"220 go ahead\r\n");
    assert!(h.c.capabilities().is_none());
    let before = h.c.capabilities_before_tls().expect("kept aside");
    assert!(before.starttls() && before.has_extn("SIZE"));
    h.c.handle_tls_established(h.now).unwrap();
    h.drain();
    assert_eq!(h.sent(), "EHLO client.example\r\n");
    h.server(b"250-mx\r\n250 AUTH PLAIN\r\n");
    // The new EHLO alone decides: no SIZE now, AUTH now; the old ones are still shown.
    let now = h.c.capabilities().expect("after TLS");
    assert!(now.auth() && !now.has_extn("SIZE"));
    let before = h.c.capabilities_before_tls().expect("still kept");
    assert!(!before.auth() && before.has_extn("SIZE"));
}

#[test]
fn no_capabilities_before_tls_with_implicit_tls_or_a_refused_starttls() {
    let mut h = Harness::new(config(TlsPolicy::Implicit));
    h.c.handle_tls_established(h.now).unwrap();
    h.server(b"220 mx\r\n");
    h.server(b"250-mx\r\n250 SIZE 1000\r\n");
    assert!(h.c.capabilities().is_some());
    assert!(h.c.capabilities_before_tls().is_none());

    let mut h = Harness::new(config(TlsPolicy::Opportunistic));
    h.server(b"220 mx\r\n");
    h.server(b"250-mx\r\n250 STARTTLS\r\n");
    h.server(b"454 4.7.0 TLS not available\r\n");
    assert!(h.c.capabilities().is_some());
    assert!(h.c.capabilities_before_tls().is_none());
}
