//! `Retrying`: reconnects and sends again only where nothing can have been delivered.

use std::sync::atomic::Ordering;
use std::time::Duration;

use smtp_blocking::{Error, Options, RetryPolicy, Retrying, SmtpClient, TlsPolicy, envelope};
use smtp_test_server::flaky::{Conn, Flaky};

const MSG: &[u8] = b"Subject: retry\r\n\r\nhello\r\n";

fn policy(max_attempts: u32) -> RetryPolicy {
    let mut p = RetryPolicy::attempts(max_attempts);
    p.initial_backoff = Duration::from_millis(20);
    p
}

fn connector(server: &Flaky) -> impl FnMut() -> Result<SmtpClient, Error> + use<> {
    let addr = server.addr.to_string();
    move || {
        let opts = Options::new()
            .with_tls(TlsPolicy::Never)
            .with_timeout(Duration::from_secs(5));
        SmtpClient::connect(&addr, opts)
    }
}

#[test]
fn reconnects_and_retries_a_refused_connection() {
    let server = Flaky::start(vec![Conn::Busy, Conn::Good]);
    let mut sender = Retrying::new(policy(3), connector(&server));
    let env = envelope("a@example.test", &["b@example.test"]).unwrap();
    let report = sender.send(env.clone(), MSG).unwrap();
    assert!(report.any_accepted());
    // The next message reuses the connection.
    sender.send(env, MSG).unwrap();
    sender.quit();
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);
    assert_eq!(server.delivered.lock().unwrap().len(), 2);
}

#[test]
fn never_sends_again_what_may_have_been_delivered() {
    let server = Flaky::start(vec![Conn::DropAfterDot, Conn::Good]);
    let mut sender = Retrying::new(policy(5), connector(&server));
    let env = envelope("a@example.test", &["b@example.test"]).unwrap();
    let err = sender.send(env.clone(), MSG).unwrap_err();
    assert!(matches!(err, Error::DeliveryUnknown { .. }), "{err}");
    assert_eq!(server.delivered.lock().unwrap().len(), 1);
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
    // The sender is still usable: the next message goes over a new connection.
    sender.send(env, MSG).unwrap();
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);
}

#[test]
fn gives_up_when_the_attempts_are_used() {
    let server = Flaky::start(vec![Conn::Busy]);
    let mut sender = Retrying::new(policy(2), connector(&server));
    let env = envelope("a@example.test", &["b@example.test"]).unwrap();
    let err = sender.send(env, MSG).unwrap_err();
    assert!(matches!(err, Error::ServiceClosing(_)), "{err}");
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);
}
