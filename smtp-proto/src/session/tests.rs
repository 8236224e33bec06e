//! Scripted transcripts: every test asserts on the whole client output, not only on the
//! result, and every server script is also fed byte by byte.

use std::time::{Duration, Instant};

use super::*;
use crate::command::{Command, Domain, ForwardPath, ReversePath};

pub(super) struct Harness {
    pub(super) c: Client,
    pub(super) now: Instant,
    pub(super) wire: Vec<u8>,
    pub(super) events: Vec<Event>,
    pub(super) bytewise: bool,
}

pub(super) fn config(tls: TlsPolicy) -> Config {
    let mut cfg = Config::new(Domain::parse("client.example").unwrap());
    cfg.tls = tls;
    cfg.transcript = true;
    cfg
}

impl Harness {
    pub(super) fn new(cfg: Config) -> Harness {
        let now = Instant::now();
        Harness {
            c: Client::new(cfg, now),
            now,
            wire: Vec::new(),
            events: Vec::new(),
            bytewise: false,
        }
    }

    /// Writes everything the client wants to write and collects events.
    pub(super) fn drain(&mut self) {
        loop {
            while let Some(e) = self.c.poll_event() {
                self.events.push(e);
            }
            let out = self.c.pending_output();
            if out.is_empty() {
                break;
            }
            self.wire.extend_from_slice(out);
            let n = out.len();
            self.c.consume_output(n, self.now);
        }
        while let Some(e) = self.c.poll_event() {
            self.events.push(e);
        }
    }

    pub(super) fn server(&mut self, bytes: &[u8]) {
        if self.bytewise {
            for b in bytes {
                self.c.handle_input(self.now, &[*b]).unwrap();
                self.drain();
            }
        } else {
            self.c.handle_input(self.now, bytes).unwrap();
        }
        self.drain();
    }

    /// The client output since the last call, as text.
    pub(super) fn sent(&mut self) -> String {
        String::from_utf8_lossy(&std::mem::take(&mut self.wire)).into_owned()
    }

    pub(super) fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    pub(super) fn outcome(&mut self) -> TxOutcome {
        let i = self
            .events
            .iter()
            .position(|e| matches!(e, Event::TransactionDone(_)))
            .expect("no TransactionDone");
        match self.events.remove(i) {
            Event::TransactionDone(o) => o,
            _ => unreachable!(),
        }
    }

    pub(super) fn closed(&self) -> Option<&CloseReason> {
        self.events.iter().find_map(|e| match e {
            Event::Closed(r) => Some(r),
            _ => None,
        })
    }

    pub(super) fn body(&mut self, body: &[u8]) {
        assert!(matches!(self.c.next_action(), Action::SupplyBody(_)));
        let mut rest = body;
        while !rest.is_empty() {
            let n = self.c.write_body(rest).unwrap();
            rest = &rest[n..];
            self.drain();
        }
        self.c.finish_body().unwrap();
        self.drain();
    }

    pub(super) fn advance(&mut self, d: Duration) {
        self.now += d;
        self.c.handle_timeout(self.now);
        self.drain();
    }
}

fn env(from: &str, to: &[&str]) -> Envelope {
    Envelope::new(
        ReversePath::parse(from).unwrap(),
        to.iter().map(|t| ForwardPath::parse(t).unwrap()),
    )
}

const EHLO_PLAIN: &[u8] =
    b"250-foo.com greets client.example\r\n250-8BITMIME\r\n250-SIZE 1000\r\n250 HELP\r\n";
const EHLO_PIPE: &[u8] =
    b"250-foo.com\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 DSN\r\n";

/// Runs `f` twice: server bytes fed whole, then byte by byte; both must agree.
fn both_ways(f: impl Fn(bool) -> (String, Vec<Event>)) {
    let whole = f(false);
    let bytewise = f(true);
    assert_eq!(
        whole.0, bytewise.0,
        "client output differs when fed byte by byte"
    );
    assert_eq!(whole.1, bytewise.1, "events differ when fed byte by byte");
}

fn status_kinds(o: &TxOutcome) -> Vec<&'static str> {
    o.recipients
        .iter()
        .map(|r| match &r.status {
            RcptStatus::Accepted(_) => "accepted",
            RcptStatus::Refused(..) => "refused",
            RcptStatus::Deferred(..) => "deferred",
            RcptStatus::NotDelivered(_) => "not-delivered",
            RcptStatus::Unknown(_) => "unknown",
        })
        .collect()
}

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
fn service_closing_mid_transaction() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.server(EHLO_PIPE);
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>", "<c@y.org>"]))
        .unwrap();
    h.drain();
    h.sent();
    h.server(b"250 ok\r\n421 4.3.2 shutting down\r\n");
    assert_eq!(h.sent(), "");
    let o = h.outcome();
    assert!(matches!(
        &o.recipients[0].status,
        RcptStatus::Deferred(Stage::Rcpt, _)
    ));
    assert!(matches!(
        &o.recipients[1].status,
        RcptStatus::NotDelivered(Failure::ServiceClosing(_))
    ));
    assert!(matches!(h.closed(), Some(CloseReason::ServiceClosing(_))));
}

#[test]
fn eof_after_the_final_dot_is_unknown_not_failure() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.server(EHLO_PIPE);
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    h.drain();
    h.server(b"250 ok\r\n250 ok\r\n354 go\r\n");
    h.body(b"x");
    h.c.handle_eof(h.now);
    h.drain();
    let o = h.outcome();
    assert!(matches!(
        &o.recipients[0].status,
        RcptStatus::Unknown(Failure::SessionClosed)
    ));
    assert!(matches!(
        h.closed(),
        Some(CloseReason::Peer(PeerError::UnexpectedEof {
            phase: Phase::DataDone
        }))
    ));
}

#[test]
fn eof_before_data_is_not_delivered() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.server(EHLO_PLAIN);
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    h.drain();
    h.server(b"250 o");
    h.c.handle_eof(h.now);
    h.drain();
    assert_eq!(status_kinds(&h.outcome()), ["not-delivered"]);
}

#[test]
fn lmtp_gives_one_reply_per_accepted_recipient() {
    let mut cfg = config(TlsPolicy::Never);
    cfg.dialect = Dialect::Lmtp;
    let mut h = Harness::new(cfg);
    h.server(b"220 lmtp\r\n");
    assert_eq!(h.sent(), "LHLO client.example\r\n");
    h.server(b"250-lmtp\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n");
    h.c.send_mail(env(
        "<a@x.org>",
        &["<b@y.org>", "<nobody@y.org>", "<c@y.org>"],
    ))
    .unwrap();
    h.drain();
    h.server(b"250 ok\r\n250 ok\r\n550 5.1.1 unknown\r\n250 ok\r\n354 go\r\n");
    h.body(b"hi\r\n");
    h.server(b"250 2.0.0 b saved\r\n");
    assert!(
        !h.events
            .iter()
            .any(|e| matches!(e, Event::TransactionDone(_)))
    );
    h.server(b"552 5.2.2 c over quota\r\n");
    let o = h.outcome();
    assert_eq!(status_kinds(&o), ["accepted", "refused", "refused"]);
    assert!(
        matches!(&o.recipients[2].status, RcptStatus::Refused(Stage::EndOfData, r) if r.code().get() == 552)
    );
}

#[test]
fn surplus_reply_poisons_the_session() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.server(EHLO_PLAIN);
    h.sent();
    h.server(b"250 surplus\r\n");
    assert_eq!(h.sent(), "QUIT\r\n");
    assert!(matches!(
        h.closed(),
        Some(CloseReason::Peer(PeerError::UnexpectedReply { code: 250 }))
    ));
    assert_eq!(
        h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])),
        Err(UsageError::Closed)
    );
}

#[test]
fn wrong_code_for_the_step() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.server(EHLO_PLAIN);
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    h.drain();
    h.sent();
    h.server(b"354 what\r\n");
    assert_eq!(h.sent(), "QUIT\r\n");
    assert!(matches!(
        h.closed(),
        Some(CloseReason::Peer(PeerError::WrongCode {
            phase: Phase::Mail,
            code: 354
        }))
    ));
}

#[test]
fn malformed_reply_closes_with_quit() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.sent();
    h.server(b"250-a\r\n251 b\r\n");
    assert_eq!(h.sent(), "QUIT\r\n");
    assert!(matches!(
        h.closed(),
        Some(CloseReason::Peer(PeerError::Reply(_)))
    ));
}

#[test]
fn timeouts_cover_a_whole_reply_and_name_the_phase() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.server(EHLO_PLAIN);
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    h.drain();
    let deadline = h.c.poll_timeout().unwrap();
    assert_eq!(deadline, h.now + Duration::from_secs(300));
    // A server that drips bytes does not move the deadline.
    for _ in 0..4 {
        h.now += Duration::from_secs(60);
        h.c.handle_input(h.now, b"2").unwrap();
        h.c.handle_timeout(h.now);
        h.drain();
        assert!(h.closed().is_none());
        assert_eq!(h.c.poll_timeout(), Some(deadline));
    }
    h.sent();
    h.advance(Duration::from_secs(60));
    assert!(matches!(
        h.closed(),
        Some(CloseReason::Timeout(Phase::Mail))
    ));
    assert_eq!(h.sent(), "QUIT\r\n");
    assert_eq!(status_kinds(&h.outcome()), ["not-delivered"]);
}

#[test]
fn data_timeouts() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.server(EHLO_PIPE);
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    h.drain();
    h.server(b"250 ok\r\n250 ok\r\n");
    // DATA: 2 minutes.
    assert_eq!(h.c.poll_timeout(), Some(h.now + Duration::from_secs(120)));
    h.server(b"354 go\r\n");
    h.body(b"x\r\n");
    assert_eq!(h.c.poll_timeout(), Some(h.now + Duration::from_secs(600)));
    h.sent();
    h.advance(Duration::from_secs(599));
    assert!(h.closed().is_none());
    h.advance(Duration::from_secs(1));
    assert!(matches!(
        h.closed(),
        Some(CloseReason::Timeout(Phase::DataDone))
    ));
    assert_eq!(h.sent(), "QUIT\r\n");
    assert_eq!(status_kinds(&h.outcome()), ["unknown"]);
}

#[test]
fn stalled_content_write_times_out_without_quit() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.server(EHLO_PIPE);
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    h.drain();
    h.server(b"250 ok\r\n250 ok\r\n354 go\r\n");
    h.sent();
    h.c.write_body(b"body that the peer never reads\r\n")
        .unwrap();
    assert_eq!(h.c.poll_timeout(), Some(h.now + Duration::from_secs(180)));
    h.now += Duration::from_secs(180);
    h.c.handle_timeout(h.now);
    while let Some(e) = h.c.poll_event() {
        h.events.push(e);
    }
    assert!(matches!(
        h.closed(),
        Some(CloseReason::Timeout(Phase::DataBlock))
    ));
    assert!(
        h.c.pending_output().is_empty(),
        "no QUIT inside message content"
    );
    assert_eq!(status_kinds(&h.outcome()), ["not-delivered"]);
}

#[test]
fn early_reply_during_content_is_reported() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.server(EHLO_PIPE);
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    h.drain();
    h.server(b"250 ok\r\n250 ok\r\n354 go\r\n");
    h.c.write_body(b"part").unwrap();
    h.server(b"552 5.3.4 too big\r\n");
    let o = h.outcome();
    assert!(matches!(
        &o.recipients[0].status,
        RcptStatus::Refused(Stage::DuringContent, _)
    ));
    assert!(h.c.is_closed());
}

#[test]
fn undeclared_8bit_aborts_without_ending_the_message() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.server(EHLO_PIPE);
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    h.drain();
    h.server(b"250 ok\r\n250 ok\r\n354 go\r\n");
    h.sent();
    assert_eq!(
        h.c.write_body("caf\u{e9}".as_bytes()),
        Err(UsageError::Undeclared8Bit)
    );
    h.drain();
    assert_eq!(h.sent(), "");
    assert_eq!(status_kinds(&h.outcome()), ["not-delivered"]);
}

#[test]
fn extensions_needed_but_not_advertised_fail_before_mail() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.server(EHLO_PLAIN); // no SMTPUTF8, no DSN, SIZE 1000
    h.sent();
    h.c.send_mail(env("<a@x.org>", &["<j\u{f6}rg@y.org>"]))
        .unwrap();
    h.drain();
    let o = h.outcome();
    assert!(matches!(
        &o.recipients[0].status,
        RcptStatus::NotDelivered(Failure::Usage(UsageError::NotAdvertised("SMTPUTF8")))
    ));
    let mut e = env("<a@x.org>", &["<b@y.org>"]);
    e.size_hint = Some(5000);
    h.c.send_mail(e).unwrap();
    h.drain();
    assert!(matches!(
        &h.outcome().recipients[0].status,
        RcptStatus::NotDelivered(Failure::Usage(UsageError::TooLarge {
            size: 5000,
            limit: 1000
        }))
    ));
    assert_eq!(h.sent(), "", "no MAIL was sent");
    let mut e = env("<a@x.org>", &["<b@y.org>"]);
    e.size_hint = Some(500);
    e.body = BodyType::EightBitMime;
    h.c.send_mail(e).unwrap();
    h.drain();
    assert_eq!(h.sent(), "MAIL FROM:<a@x.org> SIZE=500 BODY=8BITMIME\r\n");
}

#[test]
fn smtputf8_is_added_when_needed_and_advertised() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.server(EHLO_PIPE);
    h.sent();
    h.c.send_mail(env("<a@x.org>", &["<j\u{f6}rg@y.org>"]))
        .unwrap();
    h.drain();
    assert_eq!(
        h.sent(),
        "MAIL FROM:<a@x.org> SMTPUTF8\r\nRCPT TO:<j\u{f6}rg@y.org>\r\nDATA\r\n"
    );
}

#[test]
fn simple_commands_and_their_replies() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.server(EHLO_PLAIN);
    h.sent();
    h.c.vrfy(SmtpString::new("postmaster").unwrap()).unwrap();
    h.c.noop().unwrap();
    h.drain();
    assert_eq!(h.sent(), "VRFY postmaster\r\n");
    h.server(b"252 2.1.5 cannot verify\r\n");
    assert_eq!(h.sent(), "NOOP\r\n");
    h.server(b"250 ok\r\n");
    let replies: Vec<_> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Reply { verb, reply } => Some((*verb, reply.code().get())),
            _ => None,
        })
        .collect();
    assert_eq!(replies, [(Verb::Vrfy, 252), (Verb::Noop, 250)]);
}

#[test]
fn transcript_records_both_directions() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.server(EHLO_PLAIN);
    let lines: Vec<_> = std::iter::from_fn(|| h.c.poll_transcript()).collect();
    assert!(matches!(&lines[0], TranscriptLine::Received(r) if r.code().get() == 220));
    assert_eq!(lines[1], TranscriptLine::Sent("EHLO client.example".into()));
    assert!(matches!(&lines[2], TranscriptLine::Received(r) if r.code().get() == 250));
}

#[test]
fn abort_and_calls_after_close() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.server(EHLO_PLAIN);
    h.sent();
    h.c.abort();
    h.drain();
    assert_eq!(h.sent(), "QUIT\r\n");
    assert!(h.c.is_closed());
    assert_eq!(h.c.noop(), Err(UsageError::Closed));
    assert_eq!(h.c.write_body(b"x"), Err(UsageError::Closed));
    h.c.handle_input(h.now, b"250 late\r\n").unwrap();
    h.c.handle_eof(h.now);
    h.c.handle_timeout(h.now + Duration::from_secs(10_000));
    assert_eq!(h.c.poll_event(), None);
}

// ---- AUTH ----

use crate::command::Mechanism;
use crate::sasl::{Credentials, Plain};

fn ready_plain_auth(ehlo: &[u8]) -> Harness {
    let mut cfg = config(TlsPolicy::Never);
    cfg.allow_plaintext_auth = true;
    let mut h = Harness::new(cfg);
    h.server(b"220 mx\r\n");
    h.server(ehlo);
    h.sent();
    h.take_events();
    h
}

fn auth_result(h: &Harness) -> Option<(&str, &Result<Reply, AuthError>)> {
    h.events.iter().find_map(|e| match e {
        Event::AuthDone { mechanism, result } => Some((mechanism.as_str(), result)),
        _ => None,
    })
}

const ALL: [Mechanism; 4] = [
    Mechanism::SCRAM_SHA_256,
    Mechanism::CRAM_MD5,
    Mechanism::PLAIN,
    Mechanism::LOGIN,
];

#[test]
fn auth_plain_with_initial_response() {
    let mut h = ready_plain_auth(b"250-mx\r\n250 AUTH PLAIN LOGIN\r\n");
    h.c.login(
        Credentials::password("tim", "tanstaaftanstaaf"),
        &ALL,
        "n0nce",
        false,
    )
    .unwrap();
    h.drain();
    assert_eq!(h.sent(), "AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n");
    h.server(b"235 2.7.0 Authentication successful\r\n");
    let (mech, res) = auth_result(&h).unwrap();
    assert_eq!(mech, "PLAIN");
    assert!(res.is_ok());
    // The transcript never shows the credentials.
    let lines: Vec<_> = std::iter::from_fn(|| h.c.poll_transcript()).collect();
    let text = format!("{lines:?}");
    assert!(text.contains("AUTH PLAIN"));
    assert!(!text.contains("AHRpbQB0YW5zdGFhZnRhbnN0YWFm"));
}

#[test]
fn auth_login_by_challenges() {
    let mut h = ready_plain_auth(b"250-mx\r\n250 AUTH LOGIN\r\n");
    h.c.login(Credentials::password("tim", "secret"), &ALL, "n0nce", false)
        .unwrap();
    h.drain();
    assert_eq!(h.sent(), "AUTH LOGIN\r\n");
    h.server(b"334 VXNlcm5hbWU6\r\n");
    assert_eq!(h.sent(), "dGlt\r\n");
    h.server(b"334 UGFzc3dvcmQ6\r\n");
    assert_eq!(h.sent(), "c2VjcmV0\r\n");
    h.server(b"535 5.7.8 bad credentials\r\n");
    assert!(matches!(
        auth_result(&h),
        Some(("LOGIN", Err(AuthError::Rejected { .. })))
    ));
    assert!(!h.c.is_closed(), "a refused AUTH is a result, not the end");
}

#[test]
fn auth_picks_the_strongest_and_falls_back_only_when_asked() {
    let ehlo = b"250-mx\r\n250 AUTH LOGIN PLAIN CRAM-MD5\r\n";
    let mut h = ready_plain_auth(ehlo);
    h.c.login(
        Credentials::password("tim", "tanstaaftanstaaf"),
        &ALL,
        "n",
        false,
    )
    .unwrap();
    h.drain();
    assert_eq!(h.sent(), "AUTH CRAM-MD5\r\n");
    h.server(b"334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n");
    assert_eq!(
        h.sent(),
        "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\r\n"
    );
    h.server(b"535 no\r\n");
    assert_eq!(h.sent(), "", "no fallback unless opted in");

    let mut h = ready_plain_auth(ehlo);
    h.c.login(
        Credentials::password("tim", "tanstaaftanstaaf"),
        &ALL,
        "n",
        true,
    )
    .unwrap();
    h.drain();
    h.server(b"504 5.5.4 mechanism not available\r\n");
    assert_eq!(
        h.sent(),
        "AUTH CRAM-MD5\r\nAUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n"
    );
}

#[test]
fn auth_bad_challenge_sends_star() {
    let mut h = ready_plain_auth(b"250-mx\r\n250 AUTH LOGIN\r\n");
    h.c.login(Credentials::password("tim", "secret"), &ALL, "n", false)
        .unwrap();
    h.drain();
    h.sent();
    h.server(b"334 !!!not base64!!!\r\n");
    assert_eq!(h.sent(), "*\r\n");
    h.server(b"501 5.0.0 cancelled\r\n");
    assert!(matches!(
        auth_result(&h),
        Some((_, Err(AuthError::Sasl(_))))
    ));
}

#[test]
fn auth_too_many_rounds() {
    let mut h = ready_plain_auth(b"250-mx\r\n250 AUTH LOGIN\r\n");
    h.c.login(Credentials::password("tim", "secret"), &ALL, "n", false)
        .unwrap();
    h.drain();
    h.server(b"334 VXNlcm5hbWU6\r\n");
    h.server(b"334 UGFzc3dvcmQ6\r\n");
    h.server(b"334 UGFzc3dvcmQ6\r\n");
    assert!(h.sent().ends_with("*\r\n"));
    h.server(b"501 cancelled\r\n");
    assert!(matches!(
        auth_result(&h),
        Some((_, Err(AuthError::Sasl(_))))
    ));
}

#[test]
fn a_reply_to_a_command_not_yet_written_is_a_protocol_error() {
    let mut h = ready_plain_auth(b"250-mx\r\n250 AUTH LOGIN\r\n");
    h.c.login(Credentials::password("tim", "secret"), &ALL, "n", false)
        .unwrap();
    h.drain();
    h.sent();
    // Two challenges in one read: the second answers a response we have not sent.
    h.server(b"334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n");
    assert!(matches!(
        h.closed(),
        Some(CloseReason::Peer(PeerError::UnexpectedReply { .. }))
    ));
    assert!(!h.sent().contains("c2VjcmV0"), "the password never left");
}

#[test]
fn auth_scram_sha_256_rfc7677_through_the_session() {
    let mut h = ready_plain_auth(b"250-mx\r\n250 AUTH SCRAM-SHA-256 PLAIN\r\n");
    h.c.login(
        Credentials::password("user", "pencil"),
        &ALL,
        "rOprNGfwEbeRWgbNEkqO",
        false,
    )
    .unwrap();
    h.drain();
    // n,,n=user,r=rOprNGfwEbeRWgbNEkqO
    assert_eq!(
        h.sent(),
        "AUTH SCRAM-SHA-256 biwsbj11c2VyLHI9ck9wck5HZndFYmVSV2diTkVrcU8=\r\n"
    );
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let server_first =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    h.server(format!("334 {}\r\n", b64(server_first)).as_bytes());
    let client_final = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    assert_eq!(h.sent(), format!("{}\r\n", b64(client_final)));
    let server_final = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
    h.server(format!("334 {}\r\n", b64(server_final)).as_bytes());
    assert_eq!(h.sent(), "\r\n");
    h.server(b"235 2.7.0 ok\r\n");
    assert!(matches!(auth_result(&h), Some(("SCRAM-SHA-256", Ok(_)))));
}

#[test]
fn scram_server_without_proof_is_not_trusted() {
    let mut h = ready_plain_auth(b"250-mx\r\n250 AUTH SCRAM-SHA-256\r\n");
    h.c.login(
        Credentials::password("user", "pencil"),
        &ALL,
        "rOprNGfwEbeRWgbNEkqO",
        false,
    )
    .unwrap();
    h.drain();
    h.server(b"235 2.7.0 welcome, impostor\r\n");
    assert!(matches!(
        auth_result(&h),
        Some((_, Err(AuthError::Sasl(_))))
    ));
    assert!(h.c.is_closed());
}

#[test]
fn no_credentials_over_plaintext_unless_opted_in() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    assert_eq!(
        h.c.login(Credentials::password("u", "p"), &ALL, "n", false),
        Err(UsageError::PlaintextAuth)
    );
    assert_eq!(
        h.c.authenticate(Box::new(Plain::new("u", "p"))),
        Err(UsageError::PlaintextAuth)
    );
    // Opportunistic TLS that ends up in plaintext: refused when the AUTH would start.
    let mut h = Harness::new(config(TlsPolicy::Opportunistic));
    h.server(b"220 mx\r\n");
    h.server(b"250-mx\r\n250 AUTH PLAIN\r\n");
    assert_eq!(
        h.c.login(Credentials::password("u", "p"), &ALL, "n", false),
        Err(UsageError::PlaintextAuth)
    );
}

#[test]
fn no_mechanism_in_common() {
    let mut h = ready_plain_auth(b"250-mx\r\n250 AUTH GSSAPI\r\n");
    h.c.login(Credentials::password("u", "p"), &ALL, "n", false)
        .unwrap();
    h.drain();
    assert_eq!(h.sent(), "");
    assert!(matches!(
        auth_result(&h),
        Some(("", Err(AuthError::NoMechanism)))
    ));
}

// ---- BDAT ----

const EHLO_CHUNKING: &[u8] =
    b"250-mx\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-BINARYMIME\r\n250 8BITMIME\r\n";

fn bdat_harness(chunk: usize, dialect: Dialect) -> Harness {
    let mut cfg = config(TlsPolicy::Never);
    cfg.bdat_chunk_size = chunk;
    cfg.dialect = dialect;
    let mut h = Harness::new(cfg);
    h.server(b"220 mx\r\n");
    h.server(EHLO_CHUNKING);
    h.sent();
    h
}

#[test]
fn bdat_transaction_waits_for_rcpt_verdicts_then_frames_the_body() {
    let mut h = bdat_harness(8, Dialect::Smtp);
    let mut e = env("<a@x.org>", &["<b@y.org>"]);
    e.prefer_bdat = true;
    h.c.send_mail(e).unwrap();
    h.drain();
    assert_eq!(h.sent(), "MAIL FROM:<a@x.org>\r\nRCPT TO:<b@y.org>\r\n");
    h.server(b"250 ok\r\n250 ok\r\n");
    assert!(matches!(h.c.next_action(), Action::SupplyBody(_)));
    h.body(b"Hello\nworld\n");
    assert_eq!(h.sent(), "BDAT 8\r\nHello\r\nwBDAT 6 LAST\r\norld\r\n");
    h.server(b"250 2.0.0 chunk ok\r\n");
    assert!(
        !h.events
            .iter()
            .any(|e| matches!(e, Event::TransactionDone(_)))
    );
    h.server(b"250 2.0.0 queued\r\n");
    assert_eq!(status_kinds(&h.outcome()), ["accepted"]);
}

#[test]
fn binarymime_uses_bdat_and_keeps_bytes() {
    let mut h = bdat_harness(1024, Dialect::Smtp);
    let mut e = env("<a@x.org>", &["<b@y.org>"]);
    e.body = BodyType::BinaryMime;
    h.c.send_mail(e).unwrap();
    h.drain();
    assert_eq!(
        h.sent(),
        "MAIL FROM:<a@x.org> BODY=BINARYMIME\r\nRCPT TO:<b@y.org>\r\n"
    );
    h.server(b"250 ok\r\n250 ok\r\n");
    h.body(b"\x00\xff\n\r.");
    assert_eq!(h.wire, b"BDAT 5 LAST\r\n\x00\xff\n\r.");
    h.server(b"250 ok\r\n");
    assert_eq!(status_kinds(&h.outcome()), ["accepted"]);
}

#[test]
fn bdat_chunk_refused_mid_body() {
    let mut h = bdat_harness(4, Dialect::Smtp);
    let mut e = env("<a@x.org>", &["<b@y.org>"]);
    e.prefer_bdat = true;
    h.c.send_mail(e).unwrap();
    h.drain();
    h.server(b"250 ok\r\n250 ok\r\n");
    h.c.write_body(b"abcdefgh").unwrap();
    h.drain();
    h.server(b"552 5.3.4 too big\r\n");
    assert_eq!(h.c.next_action(), Action::Read);
    assert!(h.c.write_body(b"more").is_err());
    h.server(b"503 5.5.1 no\r\n");
    let o = h.outcome();
    assert!(
        matches!(&o.recipients[0].status, RcptStatus::Refused(Stage::Data, r) if r.code().get() == 552)
    );
    // The next transaction resets first.
    h.sent();
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    h.drain();
    assert!(h.sent().starts_with("RSET\r\nMAIL FROM"));
}

#[test]
fn bdat_needs_chunking() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.server(EHLO_PIPE);
    h.sent();
    let mut e = env("<a@x.org>", &["<b@y.org>"]);
    e.prefer_bdat = true;
    h.c.send_mail(e).unwrap();
    h.drain();
    assert!(matches!(
        &h.outcome().recipients[0].status,
        RcptStatus::NotDelivered(Failure::Usage(UsageError::NotAdvertised("CHUNKING")))
    ));
    assert_eq!(h.sent(), "");
}

#[test]
fn lmtp_with_bdat_gives_per_recipient_replies() {
    let mut h = bdat_harness(1024, Dialect::Lmtp);
    let mut e = env("<a@x.org>", &["<b@y.org>", "<c@y.org>"]);
    e.prefer_bdat = true;
    h.c.send_mail(e).unwrap();
    h.drain();
    h.server(b"250 ok\r\n250 ok\r\n250 ok\r\n");
    h.body(b"hi\r\n");
    assert!(h.sent().ends_with("BDAT 4 LAST\r\nhi\r\n"));
    h.server(b"250 2.0.0 b ok\r\n452 4.2.2 c full\r\n");
    assert_eq!(status_kinds(&h.outcome()), ["accepted", "deferred"]);
}

#[test]
fn refusal_before_the_content_was_fully_written() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.server(EHLO_PIPE);
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    h.drain();
    h.server(b"250 ok\r\n250 ok\r\n354 go\r\n");
    h.sent();
    h.c.write_body(b"0123456789").unwrap();
    h.c.finish_body().unwrap();
    // The driver wrote only part of the content when the verdict came.
    h.c.consume_output(4, h.now);
    h.c.handle_input(h.now, b"552 5.3.4 message too big\r\n")
        .unwrap();
    h.drain();
    let o = h.outcome();
    assert!(matches!(
        &o.recipients[0].status,
        RcptStatus::Refused(Stage::DuringContent, _)
    ));
    assert!(h.c.is_closed());
    assert!(!h.sent().contains("QUIT"), "no QUIT inside message content");
}

#[test]
fn io_error_closes_without_writing() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.server(EHLO_PIPE);
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    h.drain();
    h.server(b"250 ok\r\n250 ok\r\n354 go\r\n");
    h.body(b"x");
    h.sent();
    h.c.handle_io_error(h.now);
    h.drain();
    assert_eq!(h.sent(), "");
    assert_eq!(status_kinds(&h.outcome()), ["unknown"]);
    assert_eq!(h.closed(), Some(&CloseReason::Transport));
}

#[test]
fn ehlo_and_helo_on_demand() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.server(EHLO_PLAIN);
    h.sent();
    h.c.hello(true).unwrap();
    h.drain();
    assert_eq!(h.sent(), "HELO client.example\r\n");
    h.server(b"250 mx\r\n");
    assert!(h.c.capabilities().is_none());
    assert!(h.c.is_helo_only());
    h.c.hello(false).unwrap();
    h.drain();
    assert_eq!(h.sent(), "EHLO client.example\r\n");
    h.server(EHLO_PIPE);
    assert!(h.c.capabilities().unwrap().pipelining());
    h.c.hello(false).unwrap();
    h.drain();
    h.server(b"550 not today\r\n");
    assert!(!h.c.is_closed(), "a refused EHLO on demand is a result");
    let verbs: Vec<_> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Reply { verb, reply } => Some((*verb, reply.code().get())),
            _ => None,
        })
        .collect();
    assert_eq!(
        verbs,
        [(Verb::Helo, 250), (Verb::Ehlo, 250), (Verb::Ehlo, 550)]
    );
}

#[test]
fn low_level_mail_rcpt_data_like_smtplib() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.server(EHLO_PLAIN);
    h.sent();
    h.c.simple(Command::mail(ReversePath::parse("<a@x.org>").unwrap()))
        .unwrap();
    h.c.simple(Command::rcpt(ForwardPath::parse("<b@y.org>").unwrap()))
        .unwrap();
    h.c.data().unwrap();
    h.drain();
    assert_eq!(h.sent(), "MAIL FROM:<a@x.org>\r\n");
    h.server(b"250 ok\r\n");
    assert_eq!(h.sent(), "RCPT TO:<b@y.org>\r\n");
    h.server(b"250 ok\r\n");
    assert_eq!(h.sent(), "DATA\r\n");
    h.server(b"354 go\r\n");
    assert_eq!(h.c.next_action(), Action::SupplyBody(MANUAL_TX));
    h.body(b".hi\n");
    assert_eq!(h.sent(), "..hi\r\n.\r\n");
    h.server(b"250 queued\r\n");
    let replies: Vec<_> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Reply { verb, reply } => Some((*verb, reply.code().get())),
            _ => None,
        })
        .collect();
    assert_eq!(
        replies,
        [(Verb::Mail, 250), (Verb::Rcpt, 250), (Verb::Data, 250)]
    );
    // DATA refused: the reply comes back, no body is asked for.
    h.c.data().unwrap();
    h.drain();
    h.server(b"503 5.5.1 need RCPT\r\n");
    assert_eq!(h.c.next_action(), Action::Idle);
    assert!(
        matches!(h.events.last(), Some(Event::Reply { verb: Verb::Data, reply }) if reply.code().get() == 503)
    );
}

// ---------------------------------------------------------------- zero-copy body segments

/// A driver that uses `write_body_segments`: it holds the segments, writes them before
/// `pending_output`, at most `step` octets per write, and drops them when the core does.
struct SegDriver<'a> {
    segs: Vec<&'a [u8]>,
    /// Octets written per "write" (a short write stops inside a segment).
    step: usize,
    /// Segments handed out, in octets (to tell that segments were used at all).
    handed: usize,
}

impl<'a> SegDriver<'a> {
    fn held(&self) -> usize {
        self.segs.iter().map(|s| s.len()).sum()
    }

    /// Writes everything (segments first), like `Harness::drain`.
    fn drain(&mut self, h: &mut Harness) {
        loop {
            while let Some(e) = h.c.poll_event() {
                h.events.push(e);
            }
            if h.c.pending_segment_len() == 0 {
                self.segs.clear();
            }
            assert_eq!(self.held(), h.c.pending_segment_len());
            // One "vectored write" of at most `step` octets.
            let mut n = 0;
            for s in self.segs.iter().copied().chain([h.c.pending_output()]) {
                let k = s.len().min(self.step - n);
                h.wire.extend_from_slice(&s[..k]);
                n += k;
                if n == self.step {
                    break;
                }
            }
            if n == 0 {
                break;
            }
            h.c.consume_output(n, h.now);
            let mut left = n;
            while left > 0 && !self.segs.is_empty() {
                if left >= self.segs[0].len() {
                    left -= self.segs[0].len();
                    self.segs.remove(0);
                } else {
                    self.segs[0] = &self.segs[0][left..];
                    left = 0;
                }
            }
        }
    }

    fn body(&mut self, h: &mut Harness, body: &'a [u8]) {
        assert!(matches!(h.c.next_action(), Action::SupplyBody(_)));
        let mut rest = body;
        while !rest.is_empty() {
            let before = self.segs.len();
            let n = h.c.write_body_segments(rest, &mut self.segs).unwrap();
            self.handed += self.segs[before..].iter().map(|s| s.len()).sum::<usize>();
            rest = &rest[n..];
            self.drain(h);
        }
        h.c.finish_body().unwrap();
        self.drain(h);
    }
}

/// Bodies where segments pay, where they do not, and mixtures (pieces are 64 KiB).
fn segment_bodies() -> Vec<Vec<u8>> {
    let line = |i: usize| format!("line {i:06} of a message body, some text to fill it up\r\n");
    let clean: Vec<u8> = (0..5000).flat_map(|i| line(i).into_bytes()).collect();
    let dotted: Vec<u8> = (0..5000)
        .flat_map(|i| {
            let l = line(i);
            if i % 97 == 0 { format!(".{l}") } else { l }.into_bytes()
        })
        .collect();
    let lf_only: Vec<u8> = clean.iter().copied().filter(|&b| b != b'\r').collect();
    let mut mixed = clean[..100_000].to_vec();
    mixed.extend_from_slice(&lf_only[..80_000]);
    mixed.extend_from_slice(&dotted[..150_000]);
    mixed.extend_from_slice(b"\r\n.\r\n.");
    mixed.extend_from_slice(&clean[..70_000]);
    // A CRLF and a leading dot split across the 64 KiB piece boundary.
    let mut split = vec![b'a'; 65_535];
    split.extend_from_slice(b"\r\n.b\r\nc\n\r");
    split.extend_from_slice(&clean[..1000]);
    vec![
        Vec::new(),
        b"x".to_vec(),
        b".".to_vec(),
        b"no final line ending".to_vec(),
        clean,
        dotted,
        lf_only,
        mixed,
        split,
    ]
}

/// Two pipelined transactions carrying `body`, written by `write` (copying or segments).
fn two_transactions(body: &[u8], write: &mut dyn FnMut(&mut Harness, &[u8])) -> (String, usize) {
    let mut cfg = config(TlsPolicy::Never);
    cfg.max_output = 200_000;
    let mut h = Harness::new(cfg);
    h.server(b"220 mx\r\n");
    h.server(EHLO_PIPE);
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    h.drain();
    h.server(b"250 ok\r\n250 ok\r\n354 go\r\n");
    h.c.send_mail(env("<a@x.org>", &["<c@y.org>"])).unwrap();
    write(&mut h, body);
    h.server(b"250 queued\r\n250 ok\r\n250 ok\r\n354 go\r\n");
    write(&mut h, body);
    h.server(b"250 queued\r\n");
    let done = h
        .events
        .iter()
        .filter(|e| matches!(e, Event::TransactionDone(o) if o.any_accepted()))
        .count();
    assert_eq!(done, 2);
    let transcript: Vec<TranscriptLine> = std::iter::from_fn(|| h.c.poll_transcript()).collect();
    (format!("{}{transcript:?}", h.sent()), h.wire.len())
}

#[test]
fn segments_put_the_same_bytes_on_the_wire_as_copying() {
    for body in segment_bodies() {
        let (copied, _) = two_transactions(&body, &mut |h, b| h.body(b));
        for step in [1usize, 7, 1000, 65_536 + 3, usize::MAX] {
            let mut handed = 0;
            let (seg, _) = two_transactions(&body, &mut |h, b| {
                let mut d = SegDriver {
                    segs: Vec::new(),
                    step,
                    handed: 0,
                };
                d.body(h, b);
                handed += d.handed;
            });
            assert!(
                seg == copied,
                "body of {} octets, writes of {step}: output differs",
                body.len()
            );
            if body.len() > 1000 && body[..1000].contains(&b'\r') {
                assert!(handed > 0, "segments never used ({} octets)", body.len());
            }
        }
    }
}

#[test]
fn short_segments_are_copied_and_clean_text_is_one_segment() {
    let mut cfg = config(TlsPolicy::Never);
    cfg.max_output = 1 << 20;
    let mut h = Harness::new(cfg);
    h.server(b"220 mx\r\n");
    h.server(EHLO_PIPE);
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    h.drain();
    h.server(b"250 ok\r\n250 ok\r\n354 go\r\n");
    h.sent();
    let clean: Vec<u8> =
        b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n".repeat(4096);
    let mut segs = Vec::new();
    assert_eq!(h.c.write_body_segments(&clean, &mut segs), Ok(clean.len()));
    assert_eq!(segs, [&clean[..]], "one segment for 256 KiB of clean text");
    assert_eq!(h.c.pending_segment_len(), clean.len());
    assert!(h.c.pending_output().is_empty());
    assert_eq!(h.c.next_action(), Action::Write);
    // Half of it written: the rest is still owed, before anything else.
    h.c.consume_output(clean.len() / 2, h.now);
    assert_eq!(h.c.pending_segment_len(), clean.len() - clean.len() / 2);
    h.c.consume_output(clean.len(), h.now);
    assert_eq!(h.c.pending_segment_len(), 0);
    // Bare LFs everywhere: copied into the output buffer, no segment.
    let lf = b"short\n".repeat(20_000);
    let mut segs2 = Vec::new();
    assert_eq!(h.c.write_body_segments(&lf, &mut segs2), Ok(lf.len()));
    assert!(segs2.is_empty());
    assert_eq!(h.c.pending_output(), &b"short\r\n".repeat(20_000)[..]);
    // With output pending, segments would overtake it: copied as well.
    let mut segs3 = Vec::new();
    assert_eq!(h.c.write_body_segments(&clean[..100], &mut segs3), Ok(100));
    assert!(segs3.is_empty());
}

#[test]
fn segments_are_bounded_by_max_output_and_timed_like_content() {
    let mut cfg = config(TlsPolicy::Never);
    cfg.max_output = 1000;
    let mut h = Harness::new(cfg);
    h.server(b"220 mx\r\n");
    h.server(EHLO_PIPE);
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    h.drain();
    h.server(b"250 ok\r\n250 ok\r\n354 go\r\n");
    let body = b"abcdefgh\r\n".repeat(500);
    let mut segs = Vec::new();
    assert_eq!(h.c.write_body_segments(&body, &mut segs), Ok(1000));
    assert_eq!(h.c.write_body_segments(&body[1000..], &mut segs), Ok(0));
    assert_eq!(h.c.pending_segment_len(), 1000);
    // The peer does not read: the data-block deadline applies to segments too.
    assert_eq!(h.c.poll_timeout(), Some(h.now + Duration::from_secs(180)));
    h.now += Duration::from_secs(180);
    h.c.handle_timeout(h.now);
    while let Some(e) = h.c.poll_event() {
        h.events.push(e);
    }
    assert!(matches!(
        h.closed(),
        Some(CloseReason::Timeout(Phase::DataBlock))
    ));
    assert_eq!(
        h.c.pending_segment_len(),
        0,
        "segments dropped, not written"
    );
    assert!(h.c.pending_output().is_empty(), "no QUIT inside content");
    assert_eq!(status_kinds(&h.outcome()), ["not-delivered"]);
}

#[test]
fn segments_are_dropped_on_io_error_abort_and_undeclared_8bit() {
    let start = |h: &mut Harness| {
        h.server(b"220 mx\r\n");
        h.server(EHLO_PIPE);
        h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
        h.drain();
        h.server(b"250 ok\r\n250 ok\r\n354 go\r\n");
        h.sent();
    };
    let body = b"plain text\r\n".repeat(100);
    for how in 0..3 {
        let mut h = Harness::new(config(TlsPolicy::Never));
        start(&mut h);
        let mut segs = Vec::new();
        h.c.write_body_segments(&body, &mut segs).unwrap();
        assert!(h.c.pending_segment_len() > 0);
        h.c.consume_output(10, h.now);
        match how {
            0 => h.c.handle_io_error(h.now),
            1 => h.c.abort(),
            _ => h.c.handle_eof(h.now),
        }
        assert_eq!(h.c.pending_segment_len(), 0, "case {how}");
        assert!(h.c.pending_output().is_empty(), "case {how}");
    }
    let mut h = Harness::new(config(TlsPolicy::Never));
    start(&mut h);
    let mut segs = Vec::new();
    assert_eq!(
        h.c.write_body_segments("caf\u{e9} au lait\r\n".as_bytes(), &mut segs),
        Err(UsageError::Undeclared8Bit)
    );
    assert!(segs.is_empty());
    assert_eq!(h.c.pending_segment_len(), 0);
    h.drain();
    assert_eq!(h.sent(), "");
    assert_eq!(status_kinds(&h.outcome()), ["not-delivered"]);
}

#[test]
fn segments_fall_back_to_copying_for_bdat() {
    let mut h = bdat_harness(100, Dialect::Smtp);
    let mut e = env("<a@x.org>", &["<b@y.org>"]);
    e.prefer_bdat = true;
    h.c.send_mail(e).unwrap();
    h.drain();
    h.server(b"250 ok\r\n250 ok\r\n");
    h.sent();
    let mut d = SegDriver {
        segs: Vec::new(),
        step: usize::MAX,
        handed: 0,
    };
    d.body(&mut h, b"hello\n");
    assert_eq!(d.handed, 0);
    assert_eq!(h.sent(), "BDAT 7 LAST\r\nhello\r\n");
}

#[test]
fn timeouts_too_large_for_an_instant_mean_no_deadline() {
    // `Duration::MAX` ("never time out") cannot be added to an instant: the core must not
    // panic, and there is simply no deadline.
    let mut cfg = config(TlsPolicy::Never);
    cfg.timeouts = Timeouts::all(Duration::MAX);
    let mut h = Harness::new(cfg);
    h.drain();
    assert_eq!(h.c.poll_timeout(), None);
    h.server(b"220 foo.com ready\r\n");
    h.server(EHLO_PLAIN);
    h.c.send_mail(env("<a@bar.com>", &["<b@foo.com>"])).unwrap();
    h.drain();
    assert_eq!(h.c.poll_timeout(), None);
    h.advance(Duration::from_secs(1_000_000));
    assert!(h.closed().is_none());
    for reply in [&b"250 OK\r\n"[..], b"250 OK\r\n", b"354 go\r\n"] {
        h.server(reply);
        assert_eq!(h.c.poll_timeout(), None);
    }
    h.body(b"x\r\n");
    h.server(b"250 OK\r\n");
    assert!(h.outcome().any_accepted());
}
