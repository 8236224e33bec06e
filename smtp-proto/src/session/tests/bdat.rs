//! BDAT, early refusals, I/O errors and the low-level commands.

use super::*;

const EHLO_CHUNKING: &[u8] =
    b"250-mx\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-BINARYMIME\r\n250 8BITMIME\r\n";

pub(super) fn bdat_harness(chunk: usize, dialect: Dialect) -> Harness {
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
fn ehlo_and_helo_with_a_name_for_that_command_only() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.server(EHLO_PLAIN);
    h.sent();
    let name = crate::command::Domain::parse("other.example").unwrap();
    h.c.hello_as(false, name.clone()).unwrap();
    h.drain();
    assert_eq!(h.sent(), "EHLO other.example\r\n");
    h.server(EHLO_PIPE);
    h.c.hello_as(true, name).unwrap();
    h.drain();
    assert_eq!(h.sent(), "HELO other.example\r\n");
    h.server(b"250 mx\r\n");
    // The configured name is back for the next plain hello.
    h.c.hello(false).unwrap();
    h.drain();
    assert_eq!(h.sent(), "EHLO client.example\r\n");
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
    let manual = h.c.data().unwrap();
    h.drain();
    assert_eq!(h.sent(), "MAIL FROM:<a@x.org>\r\n");
    h.server(b"250 ok\r\n");
    assert_eq!(h.sent(), "RCPT TO:<b@y.org>\r\n");
    h.server(b"250 ok\r\n");
    assert_eq!(h.sent(), "DATA\r\n");
    h.server(b"354 go\r\n");
    assert_eq!(h.c.next_action(), Action::SupplyBody(manual));
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
    // DATA refused: the reply comes back, no body is asked for. Each DATA has its own id.
    assert_ne!(h.c.data().unwrap(), manual);
    h.drain();
    h.server(b"503 5.5.1 need RCPT\r\n");
    assert_eq!(h.c.next_action(), Action::Idle);
    assert!(
        matches!(h.events.last(), Some(Event::Reply { verb: Verb::Data, reply }) if reply.code().get() == 503)
    );
}
