//! OAuth logins with a token provider, HELO/EHLO names, `send_message` options, the
//! transcript on a `tracing` subscriber and the drop behaviour, against the scripted
//! loopback server.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use smtp_blocking::proto::command::{MailParams, RcptParams, Ret};
use smtp_blocking::{Error, Options, SmtpClient, TlsPolicy};
use smtp_test_server::{Script, TestServer};

fn plain() -> Options {
    let mut o = Options::new().with_timeout(Duration::from_secs(10));
    o.core.tls = TlsPolicy::Never;
    o.core.allow_plaintext_auth = true;
    o.record_transcript = true;
    o
}

fn oauth_server() -> TestServer {
    TestServer::start(Script {
        oauth: Some(("alice@example.org".into(), "good-token".into())),
        ..Script::default()
    })
}

fn connect(server: &TestServer) -> SmtpClient {
    SmtpClient::connect(&server.addr().to_string(), plain()).unwrap()
}

/// The `refresh` flag of every call to a provider.
type Calls = Arc<Mutex<Vec<bool>>>;

/// Hands out `first`, then `refreshed` on a refresh; counts the calls.
fn provider(
    first: &'static str,
    refreshed: &'static str,
) -> (
    Calls,
    impl Fn(&str, bool) -> Result<String, Error> + Send + Sync,
) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let c = calls.clone();
    let p = move |user: &str, refresh: bool| {
        assert_eq!(user, "alice@example.org");
        c.lock().unwrap().push(refresh);
        Ok(if refresh { refreshed } else { first }.to_owned())
    };
    (calls, p)
}

fn auth_lines(server: &TestServer) -> Vec<String> {
    server.sessions()[0]
        .commands
        .iter()
        .filter(|l| l.starts_with("AUTH"))
        .cloned()
        .collect()
}

#[test]
fn a_valid_token_is_accepted_at_once() {
    let server = oauth_server();
    let mut c = connect(&server);
    let (calls, p) = provider("good-token", "unused");
    assert_eq!(c.login_oauth("alice@example.org", &p).unwrap().code(), 235);
    assert_eq!(*calls.lock().unwrap(), [false]);
    assert!(auth_lines(&server)[0].starts_with("AUTH OAUTHBEARER "));
    c.quit().unwrap();
}

#[test]
fn an_expired_token_is_refreshed_once_and_redacted_in_the_transcript() {
    let server = oauth_server();
    let mut c = connect(&server);
    let (calls, p) = provider("expired-token", "good-token");
    assert_eq!(c.login_oauth("alice@example.org", &p).unwrap().code(), 235);
    assert_eq!(*calls.lock().unwrap(), [false, true]);
    let sent = auth_lines(&server);
    assert_eq!(sent.len(), 2, "{sent:?}");
    let transcript = c.take_transcript().join("\n");
    assert!(transcript.contains("AUTH OAUTHBEARER"), "{transcript}");
    assert!(transcript.contains("535"), "{transcript}");
    for line in &sent {
        let payload = line.rsplit(' ').next().unwrap();
        assert!(!transcript.contains(payload), "{payload} in {transcript}");
    }
    for token in ["expired-token", "good-token"] {
        assert!(!transcript.contains(token), "{transcript}");
    }
    // The connection is still good.
    assert_eq!(c.noop().unwrap().code(), 250);
}

#[test]
fn a_refused_token_is_an_auth_error_after_one_refresh() {
    let server = oauth_server();
    let mut c = connect(&server);
    let (calls, p) = provider("expired-token", "revoked-token");
    let err = c.login_oauth("alice@example.org", &p).unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "{err}");
    assert!(smtp_blocking::is_token_refused(&err));
    assert_eq!(*calls.lock().unwrap(), [false, true]);
    assert_eq!(auth_lines(&server).len(), 2);
}

/// A server that closes the connection after refusing the token: the single client
/// cannot retry there, so it returns the refusal (also when its retry is what found the
/// connection closed) and the caller does what `login_oauth`'s documentation says:
/// connect again, with a provider that refreshes on its first call.
#[test]
fn a_refusal_that_closes_the_connection_is_returned_for_the_caller_to_reconnect() {
    let server = TestServer::start(Script {
        oauth: Some(("alice@example.org".into(), "good-token".into())),
        oauth_refusal_closes: true,
        ..Script::default()
    });
    let mut c = connect(&server);
    let (calls, p) = provider("expired-token", "good-token");
    let err = c.login_oauth("alice@example.org", &p).unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "{err}");
    assert!(smtp_blocking::is_token_refused(&err), "{err}");
    assert!(c.is_closed());
    // Asked to refresh only if the client tried the retry before it saw the close.
    let before = calls.lock().unwrap().clone();
    assert!(before == [false] || before == [false, true], "{before:?}");
    // As documented: a new connection, the provider asked for a fresh token.
    let mut c = connect(&server);
    let refreshing = |user: &str, _: bool| p(user, true);
    assert_eq!(
        c.login_oauth("alice@example.org", &refreshing)
            .unwrap()
            .code(),
        235
    );
    assert_eq!(calls.lock().unwrap()[before.len()..], [true]);
    assert_eq!(server.sessions().len(), 2);
    c.quit().unwrap();
}

/// The provider is never asked a third time, whatever the server says: a server that
/// refuses every token (and keeps the connection) gets exactly two AUTH commands per
/// login, and a second login starts afresh (asked without `refresh` first).
#[test]
fn a_server_refusing_every_token_never_makes_the_client_loop() {
    let server = oauth_server();
    let mut c = connect(&server);
    let (calls, p) = provider("revoked-1", "revoked-2");
    for _ in 0..2 {
        let err = c.login_oauth("alice@example.org", &p).unwrap_err();
        assert!(smtp_blocking::is_token_refused(&err), "{err}");
    }
    assert_eq!(*calls.lock().unwrap(), [false, true, false, true]);
    assert_eq!(auth_lines(&server).len(), 4);
    assert_eq!(c.noop().unwrap().code(), 250);
}

#[test]
fn xoauth2_when_that_is_all_the_server_offers() {
    let server = TestServer::start(Script {
        oauth: Some(("alice@example.org".into(), "good-token".into())),
        rules: vec![smtp_test_server::Rule::reply(
            "EHLO",
            "250-test.example\r\n250 AUTH XOAUTH2\r\n",
        )],
        ..Script::default()
    });
    let mut c = connect(&server);
    let (calls, p) = provider("expired-token", "good-token");
    assert_eq!(c.login_oauth("alice@example.org", &p).unwrap().code(), 235);
    assert_eq!(*calls.lock().unwrap(), [false, true]);
    assert!(
        auth_lines(&server)
            .iter()
            .all(|l| l.starts_with("AUTH XOAUTH2 "))
    );
}

#[test]
fn a_provider_error_is_returned_as_is() {
    let server = oauth_server();
    let mut c = connect(&server);
    let p = |_: &str, _: bool| -> Result<String, Error> {
        Err(Error::InvalidInput("no token today".into()))
    };
    let err = c.login_oauth("alice@example.org", &p).unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    assert!(auth_lines(&server).is_empty());
}

#[test]
fn ehlo_and_helo_with_a_name_for_one_call() {
    let server = TestServer::start(Script::default());
    let mut c = connect(&server);
    assert_eq!(c.ehlo_as("one.example").unwrap().code(), 250);
    assert_eq!(c.helo_as("two.example").unwrap().code(), 250);
    assert_eq!(c.ehlo().unwrap().code(), 250);
    assert!(matches!(
        c.ehlo_as("not a name"),
        Err(Error::InvalidInput(_))
    ));
    c.quit().unwrap();
    let cmds = &server.sessions()[0].commands;
    let hellos: Vec<&str> = cmds
        .iter()
        .filter(|l| l.starts_with("EHLO") || l.starts_with("HELO"))
        .map(String::as_str)
        .collect();
    assert_eq!(hellos[1..3], ["EHLO one.example", "HELO two.example"]);
    assert_eq!(
        hellos[0], hellos[3],
        "the configured name for the plain ehlo()"
    );
}

#[test]
fn send_message_with_mail_and_rcpt_options() {
    let server = TestServer::start(Script {
        extensions: vec!["DSN".into(), "PIPELINING".into()],
        ..Script::default()
    });
    let mut c = connect(&server);
    let mut mail = MailParams::default();
    mail.ret = Some(Ret::Hdrs);
    let mut rcpt = RcptParams::default();
    rcpt.notify = Some(smtp_blocking::proto::command::Notify::Never);
    let msg = b"From: a@example.org\r\nTo: b@example.net\r\nSubject: t\r\n\r\nHi.\r\n";
    let report = c.send_message_with(msg, None, None, mail, rcpt).unwrap();
    assert!(report.recipients[0].accepted);
    c.quit().unwrap();
    let cmds = &server.sessions()[0].commands;
    assert!(
        cmds.iter()
            .any(|l| l.starts_with("MAIL FROM:<a@example.org>") && l.contains("RET=HDRS")),
        "{cmds:?}"
    );
    assert!(
        cmds.iter()
            .any(|l| l.starts_with("RCPT TO:<b@example.net>") && l.contains("NOTIFY=NEVER")),
        "{cmds:?}"
    );
}

/// Waits until the server has seen the end of its first session.
fn commands_after_close(server: &TestServer) -> Vec<String> {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let cmds = server.sessions()[0].commands.clone();
        if cmds.iter().any(|l| l == "QUIT") || Instant::now() > until {
            return cmds;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn dropping_an_idle_client_sends_quit_without_waiting() {
    let server = TestServer::start(Script::default());
    let c = connect(&server);
    let t = Instant::now();
    drop(c);
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "drop never waits for the 221"
    );
    let cmds = commands_after_close(&server);
    assert_eq!(cmds.last().map(String::as_str), Some("QUIT"), "{cmds:?}");
}

#[test]
fn close_and_a_closed_client_send_no_quit() {
    let server = TestServer::start(Script::default());
    let mut c = connect(&server);
    c.close();
    drop(c);
    std::thread::sleep(Duration::from_millis(200));
    assert!(!server.sessions()[0].commands.iter().any(|l| l == "QUIT"));
}

/// A `Write` into a shared buffer, for a `tracing` subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_documented_subscriber_shows_the_transcript() {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;

    let out = Captured::default();
    let w = out.clone();
    // The crate documentation's one-liner, writing to a buffer instead of stderr (and
    // for this thread only).
    let _guard = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(move || w.clone()))
        .with(Targets::new().with_target(smtp_blocking::TRANSCRIPT_TARGET, LevelFilter::DEBUG))
        .set_default();
    let server = oauth_server();
    let mut o = plain();
    o.record_transcript = false;
    let mut c = SmtpClient::connect(&server.addr().to_string(), o).unwrap();
    let (_, p) = provider("good-token", "unused");
    c.login_oauth("alice@example.org", &p).unwrap();
    c.quit().unwrap();
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("smtp::transcript"), "{text}");
    assert!(text.contains("S: 220"), "{text}");
    assert!(text.contains("C: EHLO"), "{text}");
    assert!(text.contains("C: AUTH OAUTHBEARER"), "{text}");
    assert!(text.contains("C: QUIT"), "{text}");
    assert!(!text.contains("good-token"), "{text}");
}
