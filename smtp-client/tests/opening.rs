//! What a session learns while opening, driven with scripted server bytes and chosen
//! instants: the timings of each phase, the capabilities before STARTTLS, and what the
//! driver reports of the TLS handshake.

use std::io::IoSlice;
use std::time::{Duration, Instant};

use smtp_client::{
    Error, Exchange, Options, Session, Step, TlsInfo, TlsOptions, TlsPolicy, Verification, ops,
};

/// What the scripted driver does at a `Step::StartTls`.
#[derive(Clone, Copy)]
enum Handshake {
    Ok,
    Fail,
}

/// Runs `ops::Ready` against `replies`, one per read, each arriving 10 ms after the
/// previous event; writes take 1 ms, the handshake 20 ms. Returns the result.
fn open(s: &mut Session, t0: Instant, replies: &[&str], hs: Handshake) -> Result<(), Error> {
    let mut now = t0;
    let mut x: Exchange<'_, '_, dyn std::io::Read, _> = Exchange::new(s, ops::Ready)?;
    let mut replies = replies.iter();
    for _ in 0..100 {
        match x.step() {
            Step::Done(r) => return r,
            Step::Write => {
                let mut iov = [IoSlice::new(&[]); smtp_client::Segments::MAX_IOV];
                let k = x.io_slices(&mut iov);
                let n = iov[..k].iter().map(|s| s.len()).sum();
                now += Duration::from_millis(1);
                x.wrote(n, now);
            }
            Step::Read => {
                now += Duration::from_millis(10);
                match replies.next() {
                    Some(r) => x.received(r.as_bytes(), now),
                    None => x.eof(now),
                }
            }
            Step::StartTls => {
                x.tls_params(now).expect("TLS parameters");
                now += Duration::from_millis(20);
                match hs {
                    Handshake::Ok => x.tls_established_with(TlsInfo::default(), now),
                    Handshake::Fail => {
                        x.tls_failed(Error::Io(std::io::ErrorKind::ConnectionReset.into()), now)
                    }
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    panic!("the exchange did not finish");
}

const MS: fn(u64) -> Option<Duration> = |n| Some(Duration::from_millis(n));

#[test]
fn starttls_opening_timings_and_capabilities_before_tls() {
    let t0 = Instant::now();
    let opts = Options::new().with_tls(TlsPolicy::Required);
    let mut s = Session::new(&opts, "mx.example.org", None, t0 + Duration::from_millis(5)).unwrap();
    s.record_connect_start(t0);
    let replies = [
        "220 mx ESMTP\r\n",
        "250-mx\r\n250-SIZE 1000\r\n250 STARTTLS\r\n",
        "220 2.0.0 go ahead\r\n",
        "250-mx\r\n250-SIZE 2000\r\n250 AUTH PLAIN\r\n",
    ];
    open(
        &mut s,
        t0 + Duration::from_millis(5),
        &replies,
        Handshake::Ok,
    )
    .unwrap();
    let t = s.timings();
    assert_eq!(t.connect, MS(5));
    assert_eq!(t.greeting, MS(10));
    assert_eq!(t.ehlo, MS(11)); // EHLO written (1 ms), then its reply (10 ms)
    assert_eq!(t.starttls, MS(11));
    assert_eq!(t.tls_handshake, MS(20));
    assert_eq!(t.ehlo_after_tls, MS(11));
    let before = s.capabilities_before_tls().expect("kept");
    assert!(before.starttls() && !before.auth());
    let after = s.capabilities().expect("after TLS");
    assert!(after.auth() && !after.starttls());
    let info = s.tls_info().expect("reported by the driver");
    assert_eq!(info.verification(), &Verification::Verified);
}

#[test]
fn implicit_tls_timings_put_the_handshake_first() {
    let t0 = Instant::now();
    let mut opts = Options::new().with_tls(TlsPolicy::Implicit);
    opts.tls_options = TlsOptions::new().dangerous_accept_invalid_certs();
    let mut s = Session::new(&opts, "mx.example.org", None, t0).unwrap();
    let replies = ["220 mx ESMTP\r\n", "250-mx\r\n250 AUTH PLAIN\r\n"];
    open(&mut s, t0, &replies, Handshake::Ok).unwrap();
    let t = s.timings();
    assert_eq!(t.connect, None); // the driver recorded no start
    assert_eq!(t.tls_handshake, MS(20));
    assert_eq!(t.greeting, MS(10));
    assert_eq!(t.ehlo, MS(11));
    assert_eq!((t.starttls, t.ehlo_after_tls), (None, None));
    assert!(s.capabilities_before_tls().is_none());
    let info = s.tls_info().expect("reported by the driver");
    assert_eq!(info.verification(), &Verification::Disabled);
    assert_eq!(
        info.verification().to_string(),
        "not verified, because certificate checks are off"
    );
}

#[test]
fn plaintext_and_failed_handshakes_time_what_happened() {
    let t0 = Instant::now();
    let opts = Options::new().with_tls(TlsPolicy::Never);
    let mut s = Session::new(&opts, "mx.example.org", None, t0).unwrap();
    open(&mut s, t0, &["220 mx\r\n", "250 mx\r\n"], Handshake::Ok).unwrap();
    let t = s.timings();
    assert_eq!((t.greeting, t.ehlo), (MS(10), MS(11)));
    assert_eq!(
        (t.starttls, t.tls_handshake, t.ehlo_after_tls),
        (None, None, None)
    );
    assert!(s.tls_info().is_none());

    // HELO after a refused EHLO: the hello phase covers both.
    let mut s = Session::new(&opts, "mx.example.org", None, t0).unwrap();
    open(
        &mut s,
        t0,
        &["220 mx\r\n", "502 no\r\n", "250 mx\r\n"],
        Handshake::Ok,
    )
    .unwrap();
    assert_eq!(s.timings().ehlo, MS(22));

    // A handshake that failed (not over the certificate): no TLS info, the time is kept.
    let opts = Options::new().with_tls(TlsPolicy::Required);
    let mut s = Session::new(&opts, "mx.example.org", None, t0).unwrap();
    let replies = ["220 mx\r\n", "250-mx\r\n250 STARTTLS\r\n", "220 go\r\n"];
    open(&mut s, t0, &replies, Handshake::Fail).unwrap_err();
    let t = s.timings();
    assert_eq!(
        (t.starttls, t.tls_handshake, t.ehlo_after_tls),
        (MS(11), MS(20), None)
    );
    assert!(s.tls_info().is_none());
    assert!(s.capabilities_before_tls().is_some());
}
