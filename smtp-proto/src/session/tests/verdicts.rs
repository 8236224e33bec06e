//! What a close reason or an outcome means for the caller: sentences, retry safety.

use super::*;
use crate::reply::Reply;

fn reply(text: &str) -> Reply {
    Reply::parse(text.as_bytes()).unwrap()
}

fn outcome(statuses: Vec<RcptStatus>) -> TxOutcome {
    TxOutcome {
        tx: TxId(0),
        mail_reply: None,
        data_reply: None,
        recipients: statuses
            .into_iter()
            .map(|status| RcptOutcome {
                recipient: ForwardPath::parse("<b@y.org>").unwrap(),
                rcpt_reply: None,
                status,
            })
            .collect(),
    }
}

#[test]
fn close_reasons_read_as_sentences() {
    let cases = [
        (
            CloseReason::ServiceClosing(reply("421 4.3.2 shutting down\r\n")),
            "the server closed the service: 421 4.3.2 shutting down",
        ),
        (
            CloseReason::Timeout(Phase::Rcpt),
            "timed out waiting for the reply to RCPT",
        ),
        (
            CloseReason::Timeout(Phase::Greeting),
            "timed out waiting for the greeting",
        ),
        (
            CloseReason::TlsUnavailable(None),
            "TLS is required but the server does not offer STARTTLS; use \
             TlsPolicy::Opportunistic or Never to send without it",
        ),
        (
            CloseReason::Peer(PeerError::UnexpectedEof {
                phase: Phase::DataDone,
            }),
            "the server violated the protocol: the server closed the connection while \
             waiting for the reply to the end of data",
        ),
        (
            CloseReason::Usage(UsageError::Aborted),
            "the caller aborted the session",
        ),
        (
            CloseReason::Quit(Some(reply("221 2.0.0 bye\r\n"))),
            "the session ended with QUIT: 221 2.0.0 bye",
        ),
    ];
    for (reason, text) in cases {
        assert_eq!(reason.to_string(), text);
    }
    // Every variant: a sentence, never a Debug dump.
    let all = [
        CloseReason::Quit(None),
        CloseReason::Refused(reply("554 no\r\n")),
        CloseReason::TlsUnavailable(Some(reply("454 4.7.0 not now\r\n"))),
        CloseReason::Peer(PeerError::WrongCode {
            phase: Phase::Rcpt,
            code: 354,
        }),
        CloseReason::Peer(PeerError::Reply(crate::reply::ReplyError::Malformed {
            line: 1,
            kind: crate::reply::LineErrorKind::BadCode,
        })),
        CloseReason::Timeout(Phase::DataBlock),
        CloseReason::Usage(UsageError::Undeclared8Bit),
        CloseReason::Transport,
    ];
    for reason in all {
        let text = reason.to_string();
        for dump in ["{", "Some(", "None", "ReplyCode(", "kind:", "phase:"] {
            assert!(!text.contains(dump), "{text}");
        }
        assert!(!text.contains("Phase") && !text.contains("Some("), "{text}");
        assert!(text.len() > 20 && text.contains(' '), "{text}");
    }
}

#[test]
fn close_reason_retry_safety() {
    let safe = [
        CloseReason::ServiceClosing(reply("421 bye\r\n")),
        CloseReason::Transport,
        CloseReason::Peer(PeerError::UnexpectedEof { phase: Phase::Mail }),
        CloseReason::Timeout(Phase::Rcpt),
        CloseReason::Timeout(Phase::DataInit),
    ];
    for r in &safe {
        assert!(r.is_retry_safe(), "{r}");
    }
    let unsafe_ = [
        CloseReason::Quit(None),
        CloseReason::Refused(reply("554 no\r\n")),
        CloseReason::TlsUnavailable(None),
        CloseReason::Usage(UsageError::Aborted),
        CloseReason::Peer(PeerError::UnexpectedReply { code: 250 }),
        CloseReason::Timeout(Phase::DataDone),
    ];
    for r in &unsafe_ {
        assert!(!r.is_retry_safe(), "{r}");
    }
    assert_eq!(
        CloseReason::ServiceClosing(reply("421 bye\r\n")).failure(),
        Failure::ServiceClosing(reply("421 bye\r\n"))
    );
    assert_eq!(
        Failure::from(&CloseReason::Transport),
        Failure::SessionClosed
    );
}

#[test]
fn outcome_retry_safety() {
    let r421 = reply("421 4.3.2 closing\r\n");
    let closed = || RcptStatus::NotDelivered(Failure::SessionClosed);
    let died = CloseReason::Transport;
    let quit = CloseReason::Quit(None);
    // 421 at any stage, or the connection died before the end of data: safe.
    for stage in [Stage::Mail, Stage::Rcpt, Stage::Data, Stage::EndOfData] {
        let o = outcome(vec![RcptStatus::Deferred(stage, r421.clone()), closed()]);
        assert!(o.is_retry_safe(Some(&died)));
    }
    let o = outcome(vec![RcptStatus::NotDelivered(Failure::ServiceClosing(
        r421.clone(),
    ))]);
    assert!(o.is_retry_safe(None));
    assert!(outcome(vec![closed()]).is_retry_safe(Some(&died)));
    // ... but not when the session ended some other way, or was never known to end.
    assert!(!outcome(vec![closed()]).is_retry_safe(Some(&quit)));
    assert!(!outcome(vec![closed()]).is_retry_safe(None));
    // A timeout before the end-of-data reply leaves nothing delivered; at the end of
    // data the recipients are Unknown, never retry-safe.
    assert!(outcome(vec![closed()]).is_retry_safe(Some(&CloseReason::Timeout(Phase::DataInit))));
    let unknown = RcptStatus::Unknown(Failure::SessionClosed);
    assert!(!outcome(vec![unknown]).is_retry_safe(Some(&CloseReason::Timeout(Phase::DataDone))));
    // Anything accepted or unknown, a deliberate deferral, a refusal: not safe.
    let accepted = RcptStatus::Accepted(reply("250 ok\r\n"));
    assert!(!outcome(vec![accepted, closed()]).is_retry_safe(Some(&died)));
    let unknown = RcptStatus::Unknown(Failure::SessionClosed);
    assert!(!outcome(vec![unknown]).is_retry_safe(Some(&died)));
    let deferred = RcptStatus::Deferred(Stage::Rcpt, reply("452 4.5.3 too many\r\n"));
    assert!(!outcome(vec![deferred, closed()]).is_retry_safe(Some(&died)));
    let refused = RcptStatus::Refused(Stage::Rcpt, reply("550 5.1.1 unknown\r\n"));
    assert!(!outcome(vec![refused]).is_retry_safe(Some(&died)));
    let usage = RcptStatus::NotDelivered(Failure::Usage(UsageError::NotAdvertised("DSN")));
    assert!(!outcome(vec![usage]).is_retry_safe(Some(&died)));
}

#[test]
fn outcome_retry_safety_through_the_session() {
    // A 421 at RCPT closes the session: retry-safe.
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.server(EHLO_PIPE);
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>", "<c@y.org>"]))
        .unwrap();
    h.drain();
    h.server(b"250 ok\r\n421 4.3.2 closing\r\n");
    let close = h.closed().cloned();
    assert!(close.as_ref().is_some_and(CloseReason::is_retry_safe));
    assert!(h.outcome().is_retry_safe(close.as_ref()));
    // EOF after the end of data: unknown, never retry-safe.
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.server(EHLO_PIPE);
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    h.drain();
    h.server(b"250 ok\r\n250 ok\r\n354 go\r\n");
    h.body(b"hi\r\n");
    h.c.handle_eof(h.now);
    h.drain();
    let close = h.closed().cloned();
    assert!(close.as_ref().is_some_and(CloseReason::is_retry_safe));
    assert!(!h.outcome().is_retry_safe(close.as_ref()));
}

#[test]
fn reply_codes_compare_with_numbers() {
    let r = reply("421 4.3.2 closing\r\n");
    assert_eq!(r.code(), 421);
    assert!(421 == r.code());
    assert!(r.is_transient() && !r.is_positive() && !r.is_permanent());
}

fn health_events(h: &Harness) -> Vec<(bool, u16)> {
    h.events
        .iter()
        .filter_map(|e| match e {
            Event::Health { healthy, reply } => Some((*healthy, reply.code().get())),
            _ => None,
        })
        .collect()
}

#[test]
fn health_check_healthy_keeps_the_session() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.server(EHLO_PIPE);
    h.sent();
    h.c.check_health(HealthProbe::Noop).unwrap();
    h.drain();
    assert_eq!(h.sent(), "NOOP\r\n");
    assert_eq!(h.c.next_action(), Action::Read);
    assert!(h.c.poll_timeout().is_some());
    h.server(b"250 2.0.0 ok\r\n");
    assert_eq!(health_events(&h), [(true, 250)]);
    assert!(h.c.is_idle());
    h.c.check_health(HealthProbe::Rset).unwrap();
    h.drain();
    assert_eq!(h.sent(), "RSET\r\n");
    h.server(b"250 2.0.0 flushed\r\n");
    assert_eq!(health_events(&h), [(true, 250), (true, 250)]);
    assert!(h.c.is_idle());
    assert!(h.closed().is_none());
}

#[test]
fn health_check_unhealthy_quits_and_closes() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.server(EHLO_PIPE);
    h.sent();
    h.c.check_health(HealthProbe::Rset).unwrap();
    h.drain();
    assert_eq!(h.sent(), "RSET\r\n");
    h.server(b"451 4.3.0 try later\r\n");
    assert_eq!(health_events(&h), [(false, 451)]);
    assert_eq!(h.sent(), "QUIT\r\n");
    assert!(matches!(h.closed(), Some(CloseReason::Unhealthy(r)) if r.code() == 451));
    assert!(h.c.is_closed());
    assert_eq!(h.c.check_health(HealthProbe::Noop), Err(UsageError::Closed));

    // A 421: the server closes the service.
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.server(EHLO_PIPE);
    h.c.check_health(HealthProbe::Noop).unwrap();
    h.drain();
    h.server(b"421 4.3.2 bye\r\n");
    assert_eq!(health_events(&h), [(false, 421)]);
    assert!(matches!(h.closed(), Some(CloseReason::ServiceClosing(_))));
}

#[test]
fn health_check_waits_for_no_transaction() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.server(EHLO_PIPE);
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    assert!(matches!(
        h.c.check_health(HealthProbe::Noop),
        Err(UsageError::WrongState(_))
    ));
}

#[test]
fn configs_key_a_pool() {
    use std::collections::HashSet;
    let a = config(TlsPolicy::Never);
    let mut b = a.clone();
    assert_eq!(a, b);
    b.timeouts = Timeouts::all(Duration::from_secs(30));
    let mut c = a.clone();
    c.write_error_drain = Duration::from_millis(50);
    let pool: HashSet<Config> = [a.clone(), b, c, a].into_iter().collect();
    assert_eq!(pool.len(), 3);
}

#[test]
fn recipient_statuses_read_as_sentences() {
    let r = reply("550 5.1.1 no such user\r\n");
    assert_eq!(
        RcptStatus::Refused(Stage::Rcpt, r).to_string(),
        "refused at RCPT: 550 5.1.1 no such user"
    );
    assert_eq!(
        RcptStatus::Unknown(Failure::SessionClosed).to_string(),
        "unknown: the end of data was sent but no verdict came back (the session closed \
         first); sending again may deliver twice"
    );
    assert_eq!(
        UsageError::WrongState("no body is wanted now").to_string(),
        "the call does not fit the session's state: no body is wanted now"
    );
}
