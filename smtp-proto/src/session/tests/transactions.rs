//! Transactions: pipelining, refusals, LMTP, EOF, protocol errors, timeouts, simple
//! commands and aborts.

use super::*;

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

/// A pipelined transaction waiting for its content after the 354.
fn waiting_for_content(cfg: Config, body: BodyType) -> Harness {
    let mut h = Harness::new(cfg);
    h.server(b"220 mx\r\n");
    h.server(EHLO_PIPE);
    let mut e = env("<a@x.org>", &["<b@y.org>"]);
    e.body = body;
    h.c.send_mail(e).unwrap();
    h.drain();
    h.server(b"250 ok\r\n250 ok\r\n354 go\r\n");
    h.sent();
    h
}

fn needs_binarymime(v: crate::body::BodyViolation) -> UsageError {
    UsageError::Body(crate::body::BodyError::NeedsBinaryMime(v))
}

#[test]
fn nul_in_content_aborts_without_ending_the_message() {
    use crate::body::BodyViolation;
    for body in [BodyType::SevenBit, BodyType::EightBitMime] {
        let mut h = waiting_for_content(config(TlsPolicy::Never), body);
        h.c.write_body(b"Subject: x\r\n\r\nfine\r\n").unwrap();
        assert_eq!(
            h.c.write_body(b"then \0 here\r\n"),
            Err(needs_binarymime(BodyViolation::Nul { offset: 25 }))
        );
        h.drain();
        let sent = h.sent();
        assert!(
            !sent.contains('\0') && !sent.contains("\r\n.\r\n"),
            "{sent:?}"
        );
        assert!(h.c.is_closed());
        assert_eq!(
            h.c.close_reason(),
            Some(&CloseReason::Usage(needs_binarymime(BodyViolation::Nul {
                offset: 25
            })))
        );
        assert_eq!(status_kinds(&h.outcome()), ["not-delivered"]);
    }
}

#[test]
fn long_line_in_content_aborts_unless_allowed() {
    use crate::body::BodyViolation;
    let mut body = b"short\r\n".to_vec();
    body.extend_from_slice(&[b'y'; 1200]);
    body.extend_from_slice(b"\r\nend\r\n");
    let mut h = waiting_for_content(config(TlsPolicy::Never), BodyType::SevenBit);
    // The line is refused as soon as it passes 998 octets, whatever the chunking.
    h.c.write_body(&body[..500]).unwrap();
    let err = h.c.write_body(&body[500..]).unwrap_err();
    assert_eq!(
        err,
        needs_binarymime(BodyViolation::LongLine {
            line: 2,
            length: 1202
        })
    );
    assert_eq!(
        err.to_string(),
        "body needs BODY=BINARYMIME: line 2 is 1202 octets long with its CRLF (at most 1000)"
    );
    h.drain();
    assert!(!h.sent().contains("\r\n.\r\n"));
    assert_eq!(status_kinds(&h.outcome()), ["not-delivered"]);

    // Allowed by the option: sent as is (and a NUL after it is still refused).
    let mut cfg = config(TlsPolicy::Never);
    cfg.allow_long_lines = true;
    let mut h = waiting_for_content(cfg.clone(), BodyType::SevenBit);
    h.body(&body);
    assert!(h.sent().ends_with("\r\nend\r\n.\r\n"));
    h.server(b"250 ok\r\n");
    assert_eq!(status_kinds(&h.outcome()), ["accepted"]);
    let mut h = waiting_for_content(cfg, BodyType::SevenBit);
    let mut with_nul = body.clone();
    with_nul.push(0);
    assert_eq!(
        h.c.write_body(&with_nul),
        Err(needs_binarymime(BodyViolation::Nul {
            offset: body.len() as u64
        }))
    );
    assert!(h.c.is_closed());
}

#[test]
fn nul_and_long_lines_refused_in_segments_too() {
    let mut h = waiting_for_content(config(TlsPolicy::Never), BodyType::EightBitMime);
    let mut segs = Vec::new();
    let body = [b"ok\r\n".repeat(100), vec![b'z'; 1000]].concat();
    assert_eq!(
        h.c.write_body_segments(&body, &mut segs),
        Err(needs_binarymime(crate::body::BodyViolation::LongLine {
            line: 101,
            length: 1002
        }))
    );
    assert!(segs.is_empty(), "the segments are taken back");
    h.drain();
    assert_eq!(h.c.pending_segment_len(), 0);
    assert!(h.c.pending_output().is_empty());
    assert_eq!(status_kinds(&h.outcome()), ["not-delivered"]);
}
