//! Every wait has a deadline (writing included), and write errors are handled by the core:
//! unwritten output dropped, replies already on their way drained, outcomes settled.

use super::*;

/// The harness with a pipelining server, ready for transactions, its output taken.
fn ready() -> Harness {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.server(EHLO_PIPE);
    h.sent();
    h
}

/// Moves the events the core produced into the harness, without writing anything.
fn events(h: &mut Harness) {
    while let Some(e) = h.c.poll_event() {
        h.events.push(e);
    }
}

/// A driver that obeys only `poll_timeout`: its writer accepts nothing (the server stopped
/// reading) and its reader gets nothing. Every wait must have a deadline, and the loop
/// must end with the session closed. Returns how many waits it took.
fn stalled_driver(h: &mut Harness) -> usize {
    for waits in 0..16 {
        events(h);
        match h.c.next_action() {
            Action::Write | Action::Read => {
                let deadline =
                    h.c.poll_timeout()
                        .expect("a deadline whenever the driver waits for I/O");
                assert!(deadline >= h.now, "a deadline in the past");
                h.now = deadline;
                h.c.handle_timeout(h.now);
            }
            Action::Closed => return waits,
            other => panic!("unexpected action {other:?}"),
        }
    }
    panic!("the driver loop did not end");
}

#[test]
fn writing_a_command_has_its_phase_deadline() {
    let mut h = ready();
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    assert_eq!(h.c.next_action(), Action::Write);
    // MAIL heads the output: its reply timeout bounds the write too.
    assert_eq!(h.c.poll_timeout(), Some(h.now + Duration::from_secs(300)));
    // Progress moves the deadline; what is left is RCPT, then DATA.
    h.now += Duration::from_secs(10);
    let mail = "MAIL FROM:<a@x.org>\r\n".len();
    h.c.consume_output(mail, h.now);
    assert_eq!(h.c.next_action(), Action::Write);
    assert_eq!(h.c.poll_timeout(), Some(h.now + Duration::from_secs(300)));
    let rcpt = "RCPT TO:<b@y.org>\r\n".len();
    h.c.consume_output(rcpt, h.now);
    // DATA is being written: 2 minutes (sooner than the MAIL reply's 5).
    assert_eq!(h.c.poll_timeout(), Some(h.now + Duration::from_secs(120)));
}

#[test]
fn stalled_writer_closes_on_the_write_deadline_without_another_write() {
    let mut h = ready();
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    let start = h.now;
    assert_eq!(stalled_driver(&mut h), 1);
    assert_eq!(h.now, start + Duration::from_secs(300));
    assert_eq!(h.closed(), Some(&CloseReason::Timeout(Phase::Mail)));
    assert!(h.c.pending_output().is_empty());
    assert_eq!(h.c.next_action(), Action::Closed);
    assert_eq!(status_kinds(&h.outcome()), ["not-delivered"]);
    // An early call before the deadline did nothing (checked by the driver's order), and
    // later calls do nothing either.
    h.c.handle_timeout(h.now + Duration::from_secs(1));
    assert_eq!(h.c.poll_event(), None);
}

#[test]
fn early_handle_timeout_while_writing_changes_nothing() {
    let mut h = ready();
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    let out = h.c.pending_output().to_vec();
    h.c.handle_timeout(h.now + Duration::from_secs(299));
    assert_eq!(h.c.pending_output(), out);
    assert_eq!(h.c.next_action(), Action::Write);
    assert_eq!(h.c.poll_event(), None);
}

#[test]
fn silent_server_then_stalled_quit_still_ends() {
    // The server reads MAIL/RCPT/DATA but never answers; the read deadline queues QUIT,
    // which the server no longer reads: the QUIT has its own deadline.
    let mut h = ready();
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    h.drain();
    h.sent();
    let start = h.now;
    // Read (MAIL reply) -> Write (QUIT, stalled) -> Closed.
    assert_eq!(stalled_driver(&mut h), 2);
    assert_eq!(h.closed(), Some(&CloseReason::Timeout(Phase::Mail)));
    assert_eq!(h.now, start + Duration::from_secs(600));
    assert_eq!(h.sent(), "", "the QUIT was never written");
    assert_eq!(status_kinds(&h.outcome()), ["not-delivered"]);
}

#[test]
fn read_timeout_with_output_unwritten_gives_up_writing() {
    // Pipelined: MAIL's reply times out while RCPT is still unwritten. No QUIT either.
    let mut h = ready();
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    let mail = "MAIL FROM:<a@x.org>\r\n".len();
    h.c.consume_output(mail, h.now);
    // The MAIL reply deadline and the RCPT write deadline are both 5 minutes away.
    h.now += Duration::from_secs(300);
    h.c.handle_timeout(h.now);
    events(&mut h);
    assert!(h.c.is_closed());
    assert!(h.c.pending_output().is_empty());
    assert_eq!(h.closed(), Some(&CloseReason::Timeout(Phase::Rcpt)));
    assert_eq!(status_kinds(&h.outcome()), ["not-delivered"]);
}

#[test]
fn content_timeout_after_end_of_data_queued_is_unknown() {
    let mut h = ready();
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    h.drain();
    h.server(b"250 ok\r\n250 ok\r\n354 go\r\n");
    h.sent();
    h.c.write_body(b"hello\r\n").unwrap();
    h.c.finish_body().unwrap();
    // The end of data is queued: the content deadline covers it.
    assert_eq!(h.c.poll_timeout(), Some(h.now + Duration::from_secs(180)));
    h.now += Duration::from_secs(180);
    h.c.handle_timeout(h.now);
    events(&mut h);
    assert_eq!(h.closed(), Some(&CloseReason::Timeout(Phase::DataBlock)));
    assert_eq!(h.c.next_action(), Action::Closed);
    assert_eq!(status_kinds(&h.outcome()), ["unknown"]);
}

#[test]
fn refusal_after_354_then_write_error_decides_the_outcome() {
    let mut h = ready();
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>", "<c@y.org>"]))
        .unwrap();
    h.drain();
    h.server(b"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n");
    h.sent();
    let body = "x".repeat(70).to_string() + "\r\n";
    let body = body.repeat(100);
    let n = h.c.write_body(body.as_bytes()).unwrap();
    assert_eq!(n, body.len());
    // The server reads a little, answers 550 and closes: the next write fails.
    h.c.consume_output(1000, h.now);
    h.c.handle_write_error(h.now);
    events(&mut h);
    assert!(
        h.closed().is_none(),
        "its verdict may be waiting: drain first"
    );
    assert!(h.c.pending_output().is_empty());
    assert_eq!(h.c.pending_segment_len(), 0);
    assert_eq!(h.c.next_action(), Action::Read);
    assert_eq!(h.c.poll_timeout(), Some(h.now + Duration::from_millis(200)));
    assert_eq!(h.c.write_body(b"more"), Err(UsageError::Closed));
    assert_eq!(h.c.noop(), Err(UsageError::Closed));
    h.server(b"550 5.7.1 content refused\r\n");
    assert_eq!(h.closed(), Some(&CloseReason::Transport));
    assert_eq!(h.c.next_action(), Action::Closed);
    assert_eq!(h.sent(), "", "nothing is written after a write error");
    let o = h.outcome();
    for r in &o.recipients {
        match &r.status {
            RcptStatus::Refused(Stage::DuringContent, reply) => assert_eq!(reply.code(), 550),
            other => panic!("expected the 550 to decide, got {other:?}"),
        }
    }
}

#[test]
fn write_error_with_nothing_to_read_closes_at_once() {
    let mut h = ready();
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    // Nothing of MAIL/RCPT/DATA was written.
    h.c.handle_write_error(h.now);
    events(&mut h);
    assert_eq!(h.closed(), Some(&CloseReason::Transport));
    assert_eq!(h.c.next_action(), Action::Closed);
    assert_eq!(h.c.poll_timeout(), None);
    assert!(h.c.pending_output().is_empty());
    assert_eq!(status_kinds(&h.outcome()), ["not-delivered"]);
}

#[test]
fn write_error_after_the_end_of_data_was_written_is_unknown() {
    let mut h = ready();
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    h.drain();
    h.server(b"250 ok\r\n250 ok\r\n354 go\r\n");
    h.body(b"hello\r\n");
    assert!(h.sent().ends_with("hello\r\n.\r\n"));
    // The next transaction's MAIL follows the dot; its write fails.
    h.c.send_mail(env("<a@x.org>", &["<d@y.org>"])).unwrap();
    assert_eq!(h.c.next_action(), Action::Write);
    h.c.handle_write_error(h.now);
    events(&mut h);
    assert_eq!(h.c.next_action(), Action::Read);
    let deadline = h.c.poll_timeout().unwrap();
    assert_eq!(deadline, h.now + Duration::from_millis(200));
    h.c.handle_timeout(deadline - Duration::from_millis(1));
    assert!(!h.c.is_closed());
    h.now = deadline;
    h.c.handle_timeout(h.now);
    events(&mut h);
    assert_eq!(h.closed(), Some(&CloseReason::Transport));
    assert_eq!(status_kinds(&h.outcome()), ["unknown"]);
    assert_eq!(status_kinds(&h.outcome()), ["not-delivered"]);
    assert_eq!(h.sent(), "");
}

#[test]
fn write_error_in_the_end_of_data_is_not_delivered() {
    let mut h = ready();
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    h.drain();
    h.server(b"250 ok\r\n250 ok\r\n354 go\r\n");
    h.sent();
    h.c.write_body(b"hello\r\n").unwrap();
    h.c.finish_body().unwrap();
    // "hello\r\n" and the "." went out, not the final CRLF: the server cannot have
    // accepted the message.
    h.c.consume_output(8, h.now);
    h.c.handle_write_error(h.now);
    // The server may still answer the content (say with a 421): drain.
    assert_eq!(h.c.next_action(), Action::Read);
    h.c.handle_eof(h.now);
    events(&mut h);
    assert_eq!(h.closed(), Some(&CloseReason::Transport));
    assert_eq!(status_kinds(&h.outcome()), ["not-delivered"]);
}

#[test]
fn write_error_drain_reads_replies_to_pipelined_commands() {
    let mut h = ready();
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>", "<c@y.org>"]))
        .unwrap();
    // MAIL and the first RCPT were written; the second RCPT's write fails.
    let written = "MAIL FROM:<a@x.org>\r\nRCPT TO:<b@y.org>\r\n".len();
    h.c.consume_output(written, h.now);
    h.c.handle_write_error(h.now);
    assert_eq!(h.c.next_action(), Action::Read);
    h.server(b"250 ok\r\n");
    assert!(!h.c.is_closed(), "the RCPT reply may still come");
    h.server(b"421 4.3.2 shutting down\r\n");
    assert!(matches!(h.closed(), Some(CloseReason::ServiceClosing(_))));
    let o = h.outcome();
    assert!(o.mail_reply.as_ref().is_some_and(|r| r.code() == 250));
    assert!(matches!(
        &o.recipients[0].status,
        RcptStatus::Deferred(Stage::Rcpt, r) if r.code() == 421
    ));
    assert!(matches!(
        &o.recipients[1].status,
        RcptStatus::NotDelivered(Failure::ServiceClosing(_))
    ));
    assert_eq!(h.sent(), "");
}

#[test]
fn write_error_while_the_closing_quit_is_written_closes() {
    let mut h = ready();
    h.c.quit().unwrap();
    h.c.abort();
    h.c.handle_write_error(h.now);
    events(&mut h);
    assert!(h.c.is_closed());
    assert_eq!(h.c.next_action(), Action::Closed);
    assert!(h.c.pending_output().is_empty());
}

#[test]
fn read_error_with_the_end_of_data_unwritten_is_not_delivered() {
    let mut h = ready();
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    h.drain();
    h.server(b"250 ok\r\n250 ok\r\n354 go\r\n");
    h.sent();
    h.c.write_body(b"hello\r\n").unwrap();
    h.c.finish_body().unwrap();
    h.c.consume_output(3, h.now);
    h.c.handle_io_error(h.now);
    events(&mut h);
    assert_eq!(h.closed(), Some(&CloseReason::Transport));
    assert_eq!(status_kinds(&h.outcome()), ["not-delivered"]);
}
