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
    let mut x = Exchange::new(&mut s, SendOne::new(env, body)).unwrap();
    let mut replies = replies.iter();
    for _ in 0..1000 {
        let now = Instant::now();
        match x.step() {
            Step::Done(r) => return r,
            Step::Write => {
                let mut iov = [IoSlice::new(&[]); smtp_client::Segments::MAX_IOV];
                let k = x.io_slices(&mut iov);
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
