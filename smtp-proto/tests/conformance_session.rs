//! Session behaviour required by the RFCs that the session's own unit tests did not pin
//! down (traced in `docs/conformance.md`), driven through the public `Client` API with a
//! scripted server.

use std::time::Instant;

use smtp_proto::command::{Domain, ForwardPath, Notify, Ret, ReversePath};
use smtp_proto::session::{
    Client, Config, Envelope, Event, Failure, RcptStatus, Stage, TlsPolicy, TxOutcome, UsageError,
};

/// A client in plaintext, greeted and past EHLO with `ehlo` (the 250 reply).
struct Scripted {
    c: Client,
    now: Instant,
    wire: Vec<u8>,
    events: Vec<Event>,
}

impl Scripted {
    fn new(ehlo: &[u8], tweak: impl FnOnce(&mut Config)) -> Self {
        let mut cfg = Config::new(Domain::parse("client.example").unwrap());
        cfg.tls = TlsPolicy::Never;
        tweak(&mut cfg);
        let now = Instant::now();
        let mut s = Scripted {
            c: Client::new(cfg, now),
            now,
            wire: Vec::new(),
            events: Vec::new(),
        };
        s.server(b"220 mx.example ESMTP\r\n");
        assert_eq!(s.sent(), "EHLO client.example\r\n");
        s.server(ehlo);
        s.sent();
        s
    }

    /// As [`Scripted::new`], but over implicit TLS (the handshake is done at once).
    fn implicit_tls(ehlo: &[u8]) -> Self {
        let mut cfg = Config::new(Domain::parse("client.example").unwrap());
        cfg.tls = TlsPolicy::Implicit;
        let now = Instant::now();
        let mut s = Scripted {
            c: Client::new(cfg, now),
            now,
            wire: Vec::new(),
            events: Vec::new(),
        };
        s.c.handle_tls_established(now).unwrap();
        s.server(b"220 mx.example ESMTP\r\n");
        assert_eq!(s.sent(), "EHLO client.example\r\n");
        s.server(ehlo);
        s.sent();
        assert!(s.c.is_encrypted());
        s
    }

    fn drain(&mut self) {
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
    }

    fn server(&mut self, bytes: &[u8]) {
        self.c.handle_input(self.now, bytes).unwrap();
        self.drain();
    }

    fn send(&mut self, env: Envelope) {
        self.c.send_mail(env).unwrap();
        self.drain();
    }

    fn sent(&mut self) -> String {
        String::from_utf8_lossy(&std::mem::take(&mut self.wire)).into_owned()
    }

    fn outcome(&mut self) -> TxOutcome {
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
}

fn env(to: &[&str]) -> Envelope {
    Envelope::new(
        ReversePath::parse("<a@x.org>").unwrap(),
        to.iter().map(|t| ForwardPath::parse(t).unwrap()),
    )
}

const EHLO_BARE: &[u8] = b"250-mx.example\r\n250 8BITMIME\r\n";
const EHLO_PIPE: &[u8] = b"250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n";

fn usage(o: &TxOutcome) -> Option<&UsageError> {
    match &o.recipients[0].status {
        RcptStatus::NotDelivered(Failure::Usage(e)) => Some(e),
        _ => None,
    }
}

/// RFC 1870 §4, RFC 5321 §4.1.1: no SIZE= when the server does not offer SIZE, whether
/// the size came from the size hint or was set on the parameters.
#[test]
fn size_is_not_sent_unless_offered() {
    let mut s = Scripted::new(EHLO_BARE, |_| {});
    let mut e = env(&["<b@y.org>"]);
    e.size_hint = Some(500);
    e.mail_params.size = Some(500);
    s.send(e);
    assert_eq!(s.sent(), "MAIL FROM:<a@x.org>\r\n");
}

/// RFC 3461 §4: NOTIFY, ORCPT, RET and ENVID only when DSN is offered; refused before
/// MAIL, or dropped with `Config::drop_unsupported_dsn`.
#[test]
fn dsn_parameters_need_dsn() {
    let with_dsn = || {
        let mut e = env(&["<b@y.org>"]);
        e.mail_params.ret = Some(Ret::Hdrs);
        e.recipients[0].1.notify = Some(Notify::On {
            success: true,
            failure: true,
            delay: false,
        });
        e
    };
    let mut s = Scripted::new(EHLO_BARE, |_| {});
    s.send(with_dsn());
    assert_eq!(s.sent(), "", "nothing sent");
    assert_eq!(usage(&s.outcome()), Some(&UsageError::NotAdvertised("DSN")));

    let mut s = Scripted::new(EHLO_BARE, |cfg| cfg.drop_unsupported_dsn = true);
    s.send(with_dsn());
    assert_eq!(s.sent(), "MAIL FROM:<a@x.org>\r\n");
    s.server(b"250 ok\r\n");
    assert_eq!(s.sent(), "RCPT TO:<b@y.org>\r\n");

    // Offered: sent as given.
    let mut s = Scripted::new(b"250-mx.example\r\n250 DSN\r\n", |_| {});
    s.send(with_dsn());
    assert_eq!(s.sent(), "MAIL FROM:<a@x.org> RET=HDRS\r\n");
    s.server(b"250 ok\r\n");
    assert_eq!(s.sent(), "RCPT TO:<b@y.org> NOTIFY=SUCCESS,FAILURE\r\n");
}

/// RFC 8689 §4.2.1: REQUIRETLS only to a server that offers it; otherwise the message is
/// not sent.
#[test]
fn requiretls_needs_requiretls() {
    let mut s = Scripted::new(EHLO_BARE, |_| {});
    let mut e = env(&["<b@y.org>"]);
    e.mail_params.requiretls = true;
    s.send(e);
    assert_eq!(s.sent(), "", "nothing sent");
    assert_eq!(
        usage(&s.outcome()),
        Some(&UsageError::NotAdvertised("REQUIRETLS"))
    );
}

/// RFC 5321 §4.5.3.1.8 and §4.5.3.1.10: a 452 at RCPT ("too many recipients") leaves the
/// recipient deferred, for the caller to send in another transaction, while the accepted
/// ones get the message.
#[test]
fn rcpt_452_is_deferred_and_the_others_are_delivered() {
    let mut s = Scripted::new(EHLO_PIPE, |_| {});
    s.send(env(&["<b@y.org>", "<c@y.org>"]));
    assert_eq!(
        s.sent(),
        "MAIL FROM:<a@x.org>\r\nRCPT TO:<b@y.org>\r\nRCPT TO:<c@y.org>\r\nDATA\r\n"
    );
    s.server(b"250 ok\r\n250 ok\r\n452 4.5.3 too many recipients\r\n354 go\r\n");
    s.c.write_body(b"hi\r\n").unwrap();
    s.c.finish_body().unwrap();
    s.drain();
    assert_eq!(s.sent(), "hi\r\n.\r\n");
    s.server(b"250 queued\r\n");
    let o = s.outcome();
    assert!(matches!(o.recipients[0].status, RcptStatus::Accepted(_)));
    assert!(matches!(
        &o.recipients[1].status,
        RcptStatus::Deferred(Stage::Rcpt, r) if r.code().get() == 452
    ));
}

/// RFC 5321 §4.5.3.1.10: a 552 at RCPT with enhanced status 5.5.3 ("too many
/// recipients", RFC 3463) is temporary: the recipient is deferred, not refused. Any other
/// 552 at RCPT stays a permanent refusal.
#[test]
fn rcpt_552_too_many_recipients_is_deferred() {
    let mut s = Scripted::new(EHLO_PIPE, |_| {});
    s.send(env(&["<b@y.org>", "<c@y.org>", "<d@y.org>"]));
    s.sent();
    s.server(
        b"250 ok\r\n250 ok\r\n552 5.5.3 too many recipients\r\n552 5.2.2 mailbox full\r\n354 go\r\n",
    );
    s.c.write_body(b"hi\r\n").unwrap();
    s.c.finish_body().unwrap();
    s.drain();
    assert_eq!(s.sent(), "hi\r\n.\r\n");
    s.server(b"250 queued\r\n");
    let o = s.outcome();
    assert!(matches!(o.recipients[0].status, RcptStatus::Accepted(_)));
    assert!(matches!(
        &o.recipients[1].status,
        RcptStatus::Deferred(Stage::Rcpt, r) if r.code().get() == 552
    ));
    assert!(matches!(
        &o.recipients[2].status,
        RcptStatus::Refused(Stage::Rcpt, r) if r.code().get() == 552
    ));
}

/// RFC 8689 §4.2.1: a REQUIRETLS message goes only over an encrypted connection, even
/// when a plaintext server (wrongly) offers REQUIRETLS; over TLS it is sent.
#[test]
fn requiretls_only_over_an_encrypted_connection() {
    const EHLO_RTLS: &[u8] = b"250-mx.example\r\n250 REQUIRETLS\r\n";
    let with_requiretls = || {
        let mut e = env(&["<b@y.org>"]);
        e.mail_params.requiretls = true;
        e
    };
    let mut s = Scripted::new(EHLO_RTLS, |_| {});
    s.send(with_requiretls());
    assert_eq!(s.sent(), "", "nothing sent in plaintext");
    assert_eq!(
        usage(&s.outcome()),
        Some(&UsageError::RequireTlsUnencrypted)
    );

    let mut s = Scripted::implicit_tls(EHLO_RTLS);
    s.send(with_requiretls());
    assert_eq!(s.sent(), "MAIL FROM:<a@x.org> REQUIRETLS\r\n");
}

/// RFC 4954 §5: the AUTH= MAIL parameter only when the server offers AUTH; otherwise the
/// transaction fails before MAIL.
#[test]
fn auth_param_needs_auth() {
    let with_auth = || {
        let mut e = env(&["<b@y.org>"]);
        e.mail_params.auth = Some(ReversePath::parse("<a@x.org>").unwrap());
        e
    };
    let mut s = Scripted::new(EHLO_BARE, |_| {});
    s.send(with_auth());
    assert_eq!(s.sent(), "", "nothing sent");
    assert_eq!(
        usage(&s.outcome()),
        Some(&UsageError::NotAdvertised("AUTH"))
    );

    let mut s = Scripted::new(b"250-mx.example\r\n250 AUTH PLAIN\r\n", |_| {});
    s.send(with_auth());
    assert_eq!(s.sent(), "MAIL FROM:<a@x.org> AUTH=a@x.org\r\n");
}
