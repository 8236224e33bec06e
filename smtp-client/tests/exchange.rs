//! The shared layer driven with scripted server bytes through an `Exchange`, as a user's
//! own event loop would: results and their retry verdicts come from the core.

use std::io::IoSlice;
use std::time::Instant;

use smtp_client::ops::SendOne;
use smtp_client::{Body, Error, Exchange, Options, SendReport, Session, Step, TlsPolicy, envelope};

/// Sends one message to a server that answers with `replies` in turn (then EOF).
fn send_against(replies: &[&str]) -> Result<SendReport, Error> {
    let opts = Options::new().with_tls(TlsPolicy::Never);
    let mut s = Session::new(&opts, "localhost", None, Instant::now()).unwrap();
    let env = envelope("a@example.org", &["b@example.net"]).unwrap();
    let body: Body<'_, dyn std::io::Read> = Body::Bytes(b"Subject: x\r\n\r\nhi\r\n");
    drive_env(&mut s, env, body, replies, &mut Vec::new())
}

const OPEN: [&str; 2] = ["220 mx.example.net ESMTP\r\n", "250 mx.example.net\r\n"];

fn with(tail: &[&'static str]) -> Vec<&'static str> {
    OPEN.iter().chain(tail).copied().collect()
}

#[test]
fn sender_refusals_carry_the_cores_retry_verdict() {
    let err = send_against(&with(&["421 4.3.2 closing\r\n"])).unwrap_err();
    assert!(matches!(err, Error::SenderRefused { .. }), "{err}");
    assert!(err.is_retry_safe(), "421 at MAIL: nothing delivered: {err}");

    for refusal in ["451 4.3.0 try later\r\n", "550 5.7.1 no\r\n"] {
        let err = send_against(&with(&[refusal])).unwrap_err();
        assert!(matches!(err, Error::SenderRefused { .. }), "{err}");
        assert!(!err.is_retry_safe(), "a deliberate refusal: {err}");
    }
}

#[test]
fn a_dropped_connection_before_the_dot_is_retry_safe_after_it_is_not() {
    // EOF after MAIL is accepted: nothing was delivered.
    let err = send_against(&with(&["250 2.1.0 ok\r\n"])).unwrap_err();
    assert!(err.is_retry_safe(), "{err}");
    // EOF after the end of data: the server may have the message.
    let err = send_against(&with(&[
        "250 2.1.0 ok\r\n",
        "250 2.1.5 ok\r\n",
        "354 go on\r\n",
    ]))
    .unwrap_err();
    assert!(matches!(err, Error::DeliveryUnknown { .. }), "{err}");
    assert!(!err.is_retry_safe(), "{err}");
}

#[test]
fn accepted_message_reports_every_recipient() {
    let report = send_against(&with(&[
        "250 2.1.0 ok\r\n",
        "250 2.1.5 ok\r\n",
        "354 go on\r\n",
        "250 2.0.0 queued as X\r\n",
    ]))
    .unwrap();
    assert!(report.any_accepted());
    assert!(!report.retry_safe);
    assert_eq!(
        report.recipients[0].reply.as_ref().unwrap().to_string(),
        "250 2.0.0 queued as X"
    );
}

/// Runs `body` through `s` (from a@example.org to b@example.net), the server answering
/// with `replies` in turn (then EOF); appends what was written to `wire`.
fn drive<'b>(
    s: &mut Session,
    body: Body<'b, dyn std::io::Read + 'b>,
    replies: &[&str],
    wire: &mut Vec<u8>,
) -> Result<SendReport, Error> {
    let env = envelope("a@example.org", &["b@example.net"]).unwrap();
    drive_env(s, env, body, replies, wire)
}

/// Runs `body` to `env` through `s`, the server answering with `replies` in turn (then
/// EOF); appends what was written to `wire`.
fn drive_env<'b>(
    s: &mut Session,
    env: smtp_proto::session::Envelope,
    body: Body<'b, dyn std::io::Read + 'b>,
    replies: &[&str],
    wire: &mut Vec<u8>,
) -> Result<SendReport, Error> {
    let mut x = Exchange::new(s, SendOne::new(env, body))?;
    let mut replies = replies.iter();
    for _ in 0..1000 {
        let now = Instant::now();
        match x.step() {
            Step::Done(r) => return r,
            Step::ReadBody => {
                let (reader, buf) = x.body_reader().unwrap();
                let n = reader.read(buf).unwrap();
                x.body_read(n);
            }
            Step::Write => {
                let mut iov = [IoSlice::new(&[]); smtp_client::Segments::MAX_IOV];
                let k = x.io_slices(&mut iov);
                for s in &iov[..k] {
                    wire.extend_from_slice(s);
                }
                let n = iov[..k].iter().map(|s| s.len()).sum();
                x.wrote(n, now);
            }
            Step::Read => match replies.next() {
                Some(r) => x.received(r.as_bytes(), now),
                None => x.eof(now),
            },
            other => panic!("unexpected {other:?}"),
        }
    }
    panic!("the exchange did not finish");
}

fn needs_binarymime(v: smtp_proto::body::BodyViolation) -> smtp_proto::session::UsageError {
    smtp_proto::session::UsageError::Body(smtp_proto::body::BodyError::NeedsBinaryMime(v))
}

#[test]
fn in_memory_body_with_nul_or_long_line_is_refused_before_mail_and_the_session_goes_on() {
    use smtp_proto::body::BodyViolation;
    let opts = Options::new().with_tls(TlsPolicy::Never);
    let mut s = Session::new(&opts, "localhost", None, Instant::now()).unwrap();
    let mut wire = Vec::new();
    let accepted = [
        "250 2.1.0 ok\r\n",
        "250 2.1.5 ok\r\n",
        "354 go on\r\n",
        "250 2.0.0 queued\r\n",
    ];
    let good: &[u8] = b"Subject: x\r\n\r\nhi\r\n";
    drive(&mut s, Body::Bytes(good), &with(&accepted), &mut wire).unwrap();
    let sent = wire.len();

    let nul: &[u8] = b"Subject: x\r\n\r\nhi\0\r\n";
    let err = drive(&mut s, Body::Bytes(nul), &[], &mut wire).unwrap_err();
    assert!(
        matches!(&err, Error::Usage(e) if *e == needs_binarymime(BodyViolation::Nul { offset: 16 })),
        "{err}"
    );
    assert_eq!(wire.len(), sent, "no MAIL was sent");

    let long = [&b"Subject: x\r\n\r\n"[..], &[b'x'; 1500]].concat();
    let err = drive(&mut s, Body::Bytes(&long), &[], &mut wire).unwrap_err();
    assert!(
        matches!(&err, Error::Usage(e) if *e == needs_binarymime(BodyViolation::LongLine { line: 3, length: 1502 })),
        "{err}"
    );
    assert_eq!(wire.len(), sent, "no MAIL was sent");
    assert!(!s.core().is_closed(), "the connection is still usable");

    let report = drive(&mut s, Body::Bytes(good), &accepted, &mut wire).unwrap();
    assert!(report.any_accepted());
    assert!(wire[sent..].starts_with(b"MAIL FROM:<a@example.org>"));
}

#[test]
fn long_lines_go_out_when_allowed_but_nul_never() {
    use smtp_proto::body::BodyViolation;
    let mut opts = Options::new().with_tls(TlsPolicy::Never);
    opts.core.allow_long_lines = true;
    let mut s = Session::new(&opts, "localhost", None, Instant::now()).unwrap();
    let mut wire = Vec::new();
    let long = [&b"Subject: x\r\n\r\n"[..], &[b'x'; 1500], b"\r\n"].concat();
    let accepted = [
        "250 2.1.0 ok\r\n",
        "250 2.1.5 ok\r\n",
        "354 go on\r\n",
        "250 2.0.0 queued\r\n",
    ];
    let replies: Vec<&str> = OPEN.iter().chain(&accepted).copied().collect();
    drive(&mut s, Body::Bytes(&long), &replies, &mut wire).unwrap();
    assert!(wire.ends_with(&[&[b'x'; 1500][..], b"\r\n.\r\n"].concat()));
    assert!(!s.core().is_closed());
    let sent = wire.len();
    let with_nul = [&long[..], b"\0"].concat();
    let err = drive(&mut s, Body::Bytes(&with_nul), &[], &mut wire).unwrap_err();
    assert!(
        matches!(&err, Error::Usage(e) if *e == needs_binarymime(BodyViolation::Nul { offset: long.len() as u64 })),
        "{err}"
    );
    assert_eq!(wire.len(), sent, "no MAIL was sent");
}

#[test]
fn streamed_body_with_nul_is_refused_during_content_and_not_delivered() {
    let opts = Options::new().with_tls(TlsPolicy::Never);
    let mut s = Session::new(&opts, "localhost", None, Instant::now()).unwrap();
    let mut wire = Vec::new();
    let mut reader: &[u8] = b"Subject: x\r\n\r\nhi\0\r\n";
    let err = drive(
        &mut s,
        Body::Reader(&mut reader),
        &with(&["250 2.1.0 ok\r\n", "250 2.1.5 ok\r\n", "354 go on\r\n"]),
        &mut wire,
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::Usage(e) if *e == needs_binarymime(smtp_proto::body::BodyViolation::Nul { offset: 16 })),
        "{err:?}"
    );
    assert!(
        !err.is_retry_safe(),
        "the same body would be refused again: {err}"
    );
    let text = String::from_utf8_lossy(&wire);
    assert!(
        !text.contains('\0') && !text.contains("\r\n.\r\n"),
        "{text:?}"
    );
    assert!(s.core().is_closed(), "closed without ending the message");
}

/// RFC 8689 §4.2.1: a REQUIRETLS message is refused before MAIL when certificate checks
/// are off (`TlsOptions::dangerous_accept_invalid_certs`), with a typed caller error.
#[test]
fn requiretls_is_refused_when_certificate_checks_are_off() {
    use smtp_client::TlsOptions;
    use smtp_proto::session::UsageError;
    let mut opts = Options::new().with_tls(TlsPolicy::Never);
    opts.tls_options = TlsOptions::new().dangerous_accept_invalid_certs();
    let mut s = Session::new(&opts, "localhost", None, Instant::now()).unwrap();
    let mut env = envelope("a@example.org", &["b@example.net"]).unwrap();
    env.mail_params.requiretls = true;
    let body: Body<'_, dyn std::io::Read> = Body::Bytes(b"Subject: x\r\n\r\nhi\r\n");
    // Refused as the operation starts, before anything is queued.
    let err = Exchange::new(&mut s, SendOne::new(env, body)).unwrap_err();
    assert!(
        matches!(err, Error::Usage(UsageError::RequireTlsUnverified)),
        "{err}"
    );
    let out = String::from_utf8_lossy(s.core().pending_output()).into_owned();
    assert!(!out.contains("MAIL"), "{out}");
}

/// Sends `body` to `env` through a fresh plaintext session; the server answers with
/// `replies` in turn (then EOF). Returns the result and what was written.
fn send_env(
    env: smtp_proto::session::Envelope,
    body: &[u8],
    replies: &[&str],
) -> (Result<SendReport, Error>, String) {
    let opts = Options::new().with_tls(TlsPolicy::Never);
    let mut s = Session::new(&opts, "localhost", None, Instant::now()).unwrap();
    let mut wire = Vec::new();
    let body: Body<'_, dyn std::io::Read> = Body::Bytes(body);
    let r = drive_env(&mut s, env, body, replies, &mut wire);
    (r, String::from_utf8_lossy(&wire).into_owned())
}

/// RFC 5321 §4.5.3.1.8, §4.5.3.1.10: recipients deferred at RCPT for "too many
/// recipients" (`452 4.5.3`, `552 5.5.3`) get the same message in follow-up transactions
/// while each one makes progress; the report merges every recipient's last verdict.
#[test]
fn recipients_deferred_for_too_many_recipients_are_sent_in_follow_up_transactions() {
    let env = envelope(
        "a@example.org",
        &[
            "b@example.net",
            "c@example.net",
            "d@example.net",
            "e@example.net",
        ],
    )
    .unwrap();
    let (r, wire) = send_env(
        env,
        b"Subject: x\r\n\r\nhi\r\n",
        &with(&[
            // First transaction: b accepted, c and d too many, e refused for good.
            "250 2.1.0 ok\r\n",
            "250 2.1.5 ok\r\n",
            "452 4.5.3 too many recipients\r\n",
            "552 5.5.3 too many recipients\r\n",
            "550 5.1.1 no such user\r\n",
            "354 go on\r\n",
            "250 2.0.0 queued as 1\r\n",
            // Follow-up for c and d: c accepted, d still too many.
            "250 2.1.0 ok\r\n",
            "250 2.1.5 ok\r\n",
            "452 4.5.3 too many recipients\r\n",
            "354 go on\r\n",
            "250 2.0.0 queued as 2\r\n",
            // Follow-up for d.
            "250 2.1.0 ok\r\n",
            "250 2.1.5 ok\r\n",
            "354 go on\r\n",
            "250 2.0.0 queued as 3\r\n",
        ]),
    );
    let report = r.unwrap();
    let got: Vec<_> = report
        .recipients
        .iter()
        .map(|r| (r.recipient.as_str(), r.accepted))
        .collect();
    assert_eq!(
        got,
        [
            ("b@example.net", true),
            ("c@example.net", true),
            ("d@example.net", true),
            ("e@example.net", false)
        ]
    );
    let queued = |i: usize| report.recipients[i].reply.as_ref().unwrap().to_string();
    assert_eq!(queued(0), "250 2.0.0 queued as 1");
    assert_eq!(queued(1), "250 2.0.0 queued as 2");
    assert_eq!(queued(2), "250 2.0.0 queued as 3");
    assert_eq!(
        wire.matches("MAIL FROM:<a@example.org>").count(),
        3,
        "{wire}"
    );
    assert_eq!(wire.matches("RCPT TO:<d@example.net>").count(), 3, "{wire}");
    assert_eq!(wire.matches("RCPT TO:<e@example.net>").count(), 1, "{wire}");
    assert_eq!(wire.matches("\r\nhi\r\n.\r\n").count(), 3, "{wire}");
}

/// A follow-up that gets no recipient accepted ends the resending: the deferred
/// recipients stay `Deferred` in the report, and the first delivery stands.
#[test]
fn follow_up_without_progress_stops_and_keeps_the_first_delivery() {
    use smtp_proto::session::{RcptStatus, Stage};
    let env = envelope("a@example.org", &["b@example.net", "c@example.net"]).unwrap();
    let (r, wire) = send_env(
        env,
        b"Subject: x\r\n\r\nhi\r\n",
        &with(&[
            "250 2.1.0 ok\r\n",
            "250 2.1.5 ok\r\n",
            "452 4.5.3 too many recipients\r\n",
            "354 go on\r\n",
            "250 2.0.0 queued\r\n",
            "250 2.1.0 ok\r\n",
            "452 4.5.3 too many recipients\r\n",
            "250 2.0.0 reset\r\n",
        ]),
    );
    let report = r.unwrap();
    assert!(report.recipients[0].accepted);
    assert!(matches!(
        &report.recipients[1].status,
        RcptStatus::Deferred(Stage::Rcpt, rep) if rep.code().get() == 452
    ));
    assert_eq!(wire.matches("MAIL FROM:").count(), 2, "{wire}");
    assert_eq!(wire.matches("\r\nhi\r\n.\r\n").count(), 1, "{wire}");
}
