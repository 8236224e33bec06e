//! Tests against real servers on 127.0.0.1: Postfix (mx, submission, smtps), Dovecot LMTP
//! and one Postfix `smtp-sink` per fault behaviour, as started by `scripts/servers/start`
//! (see `scripts/servers/README.md`). `scripts/test-all` starts them, sources their
//! `SMTP_TEST_*` variables and runs `cargo test --workspace -- --ignored`.
//!
//! Written once for every adapter: `smtp-interop/tests/real_servers_blocking.rs` runs them
//! on the blocking client, and `real_servers_{tokio,smol}.rs` on the async client through
//! `smtp_interop::facade` (`crate::adapter`).
//!
//! Every test is `#[ignore]`d, so a plain `cargo test` needs no server. Run with
//! `--ignored`, a test whose variable is missing fails (it does not skip): the servers
//! were supposed to be there.

use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use smtp_blocking::proto::command::MailParams;
use smtp_blocking::proto::sasl::Credentials;
use smtp_blocking::proto::session::{AuthError, RcptStatus, Stage, UsageError};
use smtp_blocking::{
    BodyType, Dialect, Error, Fault, Options, Phase, ProxyError, ProxyRefusal, SendReport,
    TimeoutPhase, TlsOptions, TlsPolicy, envelope,
};

// The client under test: smtp-blocking's, or the async client on tokio or smol; the
// smtplib-style calls on either come from `smtp_interop::Session` (the shared layer's
// operations), or are smtp-blocking's own.
use crate::adapter::{Body, SmtpClient};
#[allow(unused_imports)]
use smtp_interop::Session as _;

// ---------------------------------------------------------------- environment

/// The value of `SMTP_TEST_<name>`; panics (fails the test) when it is not set.
fn var(name: &str) -> String {
    let key = format!("SMTP_TEST_{name}");
    match std::env::var(&key) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{key} is not set: start the servers (scripts/servers/start DIR; . DIR/env) \
             or run scripts/test-all"
        ),
    }
}

fn sink(behaviour: &str) -> String {
    var(&format!("SINK_{behaviour}"))
}

/// Plain SMTP, 10 s deadlines, transcript kept.
fn plain() -> Options {
    let mut o = Options::new().with_timeout(Duration::from_secs(10));
    o.core.tls = TlsPolicy::Never;
    o.record_transcript = true;
    o
}

/// TLS with the test CA and the certificate's name.
fn tls(policy: TlsPolicy) -> Options {
    let mut o = plain();
    o.core.tls = policy;
    o.tls_options = TlsOptions::new()
        .with_ca_file(var("CA"))
        .unwrap()
        .with_server_name(var("TLS_NAME"));
    o
}

fn connect(addr: &str, opts: Options) -> SmtpClient {
    SmtpClient::connect(addr, opts).unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
}

// ---------------------------------------------------------------- messages

/// A token unique to this process and call, to find the message in the shared maildirs.
fn token(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{tag}.{}.{}.{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A complete message (Date and Message-ID given, so Postfix adds no header of its own)
/// with lines that need dot-stuffing.
fn message(token: &str, from: &str, to: &str) -> Vec<u8> {
    format!(
        "Date: Sat, 28 Nov 2026 12:00:00 +0000\r\n\
         Message-ID: <{token}@test.example>\r\n\
         From: <{from}>\r\n\
         To: <{to}>\r\n\
         Subject: test {token}\r\n\
         \r\n\
         Hello, this is {token}.\r\n\
         .a line starting with a dot\r\n\
         ..two dots\r\n\
         .\r\n\
         \r\n\
         The end.\r\n"
    )
    .into_bytes()
}

/// `len` octets or more: headers then 76-column lines.
fn big_message(token: &str, from: &str, to: &str, len: usize) -> Vec<u8> {
    let mut m = message(token, from, to);
    let line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ab\r\n";
    while m.len() < len {
        m.extend_from_slice(line);
    }
    m
}

/// CRLF -> LF: Postfix virtual(8) and Dovecot write Maildir files with bare LF.
fn lf(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\r' && b.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Polls `$SMTP_TEST_MAILDIR_ROOT/<user>/new/` (delivery is asynchronous) for the message
/// holding `token` and returns its bytes.
fn delivered(user: &str, token: &str) -> Vec<u8> {
    try_delivered(user, token, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no message with {token} in {user}'s maildir after 10 s"))
}

fn try_delivered(user: &str, token: &str, wait: Duration) -> Option<Vec<u8>> {
    let dir = PathBuf::from(var("MAILDIR_ROOT")).join(user).join("new");
    let deadline = Instant::now() + wait;
    loop {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                let mut data = Vec::new();
                if std::fs::File::open(e.path())
                    .and_then(|mut f| f.read_to_end(&mut data))
                    .is_ok()
                    && find(&data, token.as_bytes()).is_some()
                {
                    return Some(data);
                }
            }
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Checks that `stored` is `sent` (line ends normalised) with only the trace headers a
/// delivery agent prepends in front of it; returns those prepended headers.
fn assert_intact(stored: &[u8], sent: &[u8]) -> String {
    let sent = lf(sent);
    let at = find(stored, &sent).unwrap_or_else(|| {
        panic!(
            "the stored message does not contain the sent one:\n{}",
            String::from_utf8_lossy(stored)
        )
    });
    assert_eq!(
        at + sent.len(),
        stored.len(),
        "something follows the message"
    );
    let prefix = String::from_utf8(stored[..at].to_vec()).unwrap();
    for line in prefix.lines() {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let name = line.split(':').next().unwrap().to_ascii_lowercase();
        assert!(
            ["return-path", "delivered-to", "x-original-to", "received"].contains(&name.as_str()),
            "unexpected prepended header {line:?} in\n{prefix}"
        );
    }
    prefix
}

fn send(c: &mut SmtpClient, from: &str, to: &[&str], msg: &[u8]) -> Result<SendReport, Error> {
    c.sendmail(from, to, msg, Default::default(), Default::default())
}

fn transcript_has(c: &mut SmtpClient, prefix: &str) -> Vec<String> {
    let t = c.take_transcript();
    assert!(
        t.iter().any(|l| l.starts_with(prefix)),
        "no {prefix:?} in {t:#?}"
    );
    t
}

fn code(r: &Option<smtp_blocking::Reply>) -> u16 {
    r.as_ref().expect("a reply").code().get()
}

// ---------------------------------------------------------------- Postfix

#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn postfix_mx_plain_send_is_delivered_intact() {
    let rcpt = var("RCPT");
    let mut c = connect(&var("POSTFIX_MX"), plain());
    assert!(!c.is_encrypted());
    assert_eq!(c.greeting().unwrap().code(), 220);
    let t = token("plain");
    let msg = message(&t, "sender@example.org", &rcpt);
    let r = send(&mut c, "sender@example.org", &[&rcpt], &msg).unwrap();
    assert_eq!(r.recipients.len(), 1);
    assert!(r.recipients[0].accepted, "{r:?}");
    assert_eq!(code(&r.recipients[0].reply), 250);
    assert_eq!(code(&r.mail_reply), 250);
    assert_eq!(code(&r.data_reply), 354);
    assert_eq!(c.noop().unwrap().code(), 250);
    assert_eq!(c.rset().unwrap().code(), 250);
    assert_eq!(c.quit().unwrap().unwrap().code(), 221);
    let stored = delivered("alice", &t);
    let prepended = assert_intact(&stored, &msg);
    assert!(
        prepended.contains("Return-Path: <sender@example.org>"),
        "{prepended}"
    );
    assert!(prepended.contains("with ESMTP id"), "{prepended}");
}

#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn postfix_mx_vrfy() {
    let mut c = connect(&var("POSTFIX_MX"), plain());
    let r = c.verify(&var("RCPT")).unwrap();
    assert!(r.code() == 250 || r.code() == 252, "{r}");
    let r = c.verify(&var("RCPT_UNKNOWN")).unwrap();
    assert_eq!(r.code(), 550, "{r}");
    c.quit().unwrap();
}

#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn postfix_mx_starttls_required() {
    let rcpt = var("RCPT");
    let mut c = connect(&var("POSTFIX_MX"), tls(TlsPolicy::Required));
    assert!(c.is_encrypted());
    // The capabilities are those of the EHLO after TLS: no STARTTLS any more.
    assert!(!c.has_extn("starttls"));
    assert!(c.has_extn("pipelining"));
    transcript_has(&mut c, "C: STARTTLS");
    let t = token("starttls");
    let msg = message(&t, "sender@example.org", &rcpt);
    let r = send(&mut c, "sender@example.org", &[&rcpt], &msg).unwrap();
    assert!(r.recipients[0].accepted);
    c.quit().unwrap();
    let prepended = assert_intact(&delivered("alice", &t), &msg);
    assert!(prepended.contains("with ESMTPS id"), "{prepended}");
}

#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn postfix_smtps_implicit_tls_and_auth() {
    let rcpt = var("RCPT2");
    let mut c = connect(&var("POSTFIX_SMTPS"), tls(TlsPolicy::Implicit));
    assert!(c.is_encrypted());
    assert_eq!(c.greeting().unwrap().code(), 220);
    assert!(c.has_extn("auth"));
    let ok = c.login(&var("USER"), &var("PASSWORD")).unwrap();
    assert_eq!(ok.code(), 235);
    let t = token("smtps");
    let from = var("RCPT");
    let msg = message(&t, &from, &rcpt);
    let r = send(&mut c, &from, &[&rcpt], &msg).unwrap();
    assert!(r.recipients[0].accepted);
    c.quit().unwrap();
    let prepended = assert_intact(&delivered("bob", &t), &msg);
    assert!(prepended.contains("with ESMTPSA id"), "{prepended}");
}

/// AUTH `mech` on submission: the wrong password gets 535, then the right one works on the
/// same connection and the authenticated user may send.
fn submission_auth(mech: &str) {
    let mut c = connect(&var("POSTFIX_SUBMISSION"), tls(TlsPolicy::Required));
    assert!(c.is_encrypted());
    let caps = c.capabilities().expect("EHLO capabilities");
    assert!(caps.supports_auth(mech), "{:?}", c.esmtp_features());
    let user = var("USER");
    let err = c
        .auth(mech, Credentials::password(user.clone(), "wrong-password"))
        .unwrap_err();
    match &err {
        Error::Auth {
            mechanism,
            source: AuthError::Rejected { reply, .. },
        } => {
            assert_eq!(mechanism, mech);
            assert_eq!(reply.code().get(), 535, "{err}");
        }
        e => panic!("{mech}: expected a 535 refusal, got {e:?}"),
    }
    assert_eq!(err.fault(), Fault::Peer);
    assert!(!err.is_transient());
    let ok = c
        .auth(mech, Credentials::password(user, var("PASSWORD").as_str()))
        .unwrap();
    assert_eq!(ok.code(), 235);
    let t = token(&format!("auth-{mech}"));
    let (from, rcpt) = (var("RCPT"), var("RCPT2"));
    let msg = message(&t, &from, &rcpt);
    let r = send(&mut c, &from, &[&rcpt], &msg).unwrap();
    assert!(r.recipients[0].accepted, "{r:?}");
    let t2 = c.take_transcript();
    assert!(
        !t2.iter().any(|l| l.contains("alice-password")),
        "the transcript shows the password: {t2:#?}"
    );
    c.quit().unwrap();
    delivered("bob", &t);
}

#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn postfix_submission_auth_plain() {
    submission_auth("PLAIN");
}

#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn postfix_submission_auth_login() {
    submission_auth("LOGIN");
}

#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn postfix_submission_auth_cram_md5() {
    submission_auth("CRAM-MD5");
}

/// SCRAM-SHA-256 through Dovecot: the 235 comes only after the client verified the
/// server's signature (the mechanism's `finish`).
#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn postfix_submission_auth_scram_sha_256() {
    submission_auth("SCRAM-SHA-256");
}

/// `login` picks the strongest password mechanism offered: SCRAM-SHA-256.
#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn postfix_submission_login_prefers_scram() {
    let mut c = connect(&var("POSTFIX_SUBMISSION"), tls(TlsPolicy::Required));
    let ok = c.login(&var("USER"), &var("PASSWORD")).unwrap();
    assert_eq!(ok.code(), 235);
    let t = c.take_transcript();
    assert!(
        t.iter().any(|l| l.starts_with("C: AUTH SCRAM-SHA-256")),
        "{t:#?}"
    );
    c.quit().unwrap();
}

/// A caller's own mechanism: wraps any mechanism (here the toolkit's CRAM-MD5 and
/// SCRAM-SHA-256, as a caller might add logging or policy) and counts its steps.
#[derive(Debug)]
struct Counting<M> {
    inner: M,
    steps: std::sync::Arc<AtomicU32>,
    finished: std::sync::Arc<AtomicU32>,
}

impl<M: smtp_blocking::proto::sasl::SaslMechanism> smtp_blocking::proto::sasl::SaslMechanism
    for Counting<M>
{
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn initial_response(
        &mut self,
    ) -> Result<Option<smtp_blocking::proto::sasl::Secret>, smtp_blocking::proto::sasl::SaslError>
    {
        self.inner.initial_response()
    }
    fn step(
        &mut self,
        challenge: &[u8],
    ) -> Result<smtp_blocking::proto::sasl::Secret, smtp_blocking::proto::sasl::SaslError> {
        self.steps.fetch_add(1, Ordering::Relaxed);
        self.inner.step(challenge)
    }
    fn finish(&mut self) -> Result<(), smtp_blocking::proto::sasl::SaslError> {
        self.finished.fetch_add(1, Ordering::Relaxed);
        self.inner.finish()
    }
}

/// `auth_with` and a caller's own mechanism through Postfix and Dovecot: a generic one
/// around CRAM-MD5 (one challenge), a boxed one around SCRAM-SHA-256 (the server-first
/// message, then its signature, verified in `finish`); each logs in and sends.
#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn postfix_submission_auth_with_a_custom_mechanism() {
    use smtp_blocking::proto::sasl::{CramMd5, SaslMechanism, ScramSha256};
    let (user, pass) = (var("USER"), var("PASSWORD"));
    let counting = |m| {
        let steps = std::sync::Arc::new(AtomicU32::new(0));
        let finished = std::sync::Arc::new(AtomicU32::new(0));
        let c = Counting {
            inner: m,
            steps: steps.clone(),
            finished: finished.clone(),
        };
        (c, steps, finished)
    };
    let boxed: Box<dyn SaslMechanism> = Box::new(CramMd5::new(user.clone(), pass.as_str()));
    let (cram, steps, finished) = counting(boxed);
    let mut c = connect(&var("POSTFIX_SUBMISSION"), tls(TlsPolicy::Required));
    assert_eq!(c.auth_with(Box::new(cram)).unwrap().code(), 235);
    assert_eq!(steps.load(Ordering::Relaxed), 1);
    assert_eq!(finished.load(Ordering::Relaxed), 1);
    send_as_authenticated(&mut c, "custom-cram");
    let t = c.take_transcript();
    assert!(t.iter().any(|l| l == "C: AUTH CRAM-MD5"), "{t:#?}");
    assert!(!t.iter().any(|l| l.contains(&pass)), "{t:#?}");
    c.quit().unwrap();

    let scram: Box<dyn SaslMechanism> = Box::new(ScramSha256::new(
        user.clone(),
        pass.as_str(),
        format!("custom{}", token("nonce").replace(['.', '-'], "")),
    ));
    let (scram, steps, finished) = counting(scram);
    let mut c = connect(&var("POSTFIX_SUBMISSION"), tls(TlsPolicy::Required));
    assert_eq!(c.auth_with(Box::new(scram)).unwrap().code(), 235);
    assert_eq!(
        steps.load(Ordering::Relaxed),
        2,
        "server-first, server-final"
    );
    assert_eq!(finished.load(Ordering::Relaxed), 1);
    send_as_authenticated(&mut c, "custom-scram");
    let t = c.take_transcript();
    assert!(
        t.iter().any(|l| l == "C: AUTH SCRAM-SHA-256 <redacted>"),
        "{t:#?}"
    );
    assert!(!t.iter().any(|l| l.contains(&pass)), "{t:#?}");
    c.quit().unwrap();
}

/// A token provider for the OAuth cases: `first`, then `refreshed` when asked to
/// refresh; every call's `refresh` flag is logged.
struct Tokens {
    first: String,
    refreshed: String,
    calls: std::sync::Mutex<Vec<bool>>,
}

impl Tokens {
    fn new(first: String, refreshed: String) -> Tokens {
        Tokens {
            first,
            refreshed,
            calls: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn calls(&self) -> Vec<bool> {
        self.calls.lock().unwrap().clone()
    }
}

impl smtp_blocking::TokenProvider for Tokens {
    fn token(&self, user: &str, refresh: bool) -> Result<String, Error> {
        assert_eq!(user, var("USER"));
        self.calls.lock().unwrap().push(refresh);
        Ok(if refresh {
            &self.refreshed
        } else {
            &self.first
        }
        .clone())
    }
}

/// The transcript names the OAuth mechanism but never shows a token.
fn assert_no_token(c: &mut SmtpClient, mech: &str) {
    let t = c.take_transcript();
    assert!(
        t.iter().any(|l| l.starts_with(&format!("C: AUTH {mech}"))),
        "{t:#?}"
    );
    for token in [var("OAUTH_TOKEN"), var("OAUTH_EXPIRED")] {
        assert!(
            !t.iter().any(|l| l.contains(&token)),
            "the transcript shows a token: {t:#?}"
        );
    }
}

/// Sends one message as the authenticated user, delivered to bob.
fn send_as_authenticated(c: &mut SmtpClient, tag: &str) {
    let t = token(tag);
    let (from, rcpt) = (var("RCPT"), var("RCPT2"));
    let msg = message(&t, &from, &rcpt);
    let r = send(c, &from, &[&rcpt], &msg).unwrap();
    assert!(r.recipients[0].accepted, "{r:?}");
    delivered("bob", &t);
}

/// OAUTHBEARER through Postfix and Dovecot's oauth2 passdb (the introspection endpoint
/// of `scripts/servers/oauth-introspect.py`): a valid token at once.
#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn postfix_submission_oauthbearer_valid_token() {
    let mut c = connect(&var("POSTFIX_SUBMISSION"), tls(TlsPolicy::Required));
    let p = Tokens::new(var("OAUTH_TOKEN"), "unused".into());
    let ok = c.login_oauth(&var("USER"), &p).unwrap();
    assert_eq!(ok.code(), 235);
    assert_eq!(p.calls(), [false]);
    assert_no_token(&mut c, "OAUTHBEARER");
    send_as_authenticated(&mut c, "oauthbearer");
    c.quit().unwrap();
}

/// An expired token: Dovecot's `{"status":"invalid_token"}` challenge and 535, then the
/// provider's refreshed token on the same connection.
#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn postfix_submission_oauthbearer_expired_token_is_refreshed() {
    let mut c = connect(&var("POSTFIX_SUBMISSION"), tls(TlsPolicy::Required));
    let p = Tokens::new(var("OAUTH_EXPIRED"), var("OAUTH_TOKEN"));
    let ok = c.login_oauth(&var("USER"), &p).unwrap();
    assert_eq!(ok.code(), 235);
    assert_eq!(p.calls(), [false, true]);
    assert_no_token(&mut c, "OAUTHBEARER");
    send_as_authenticated(&mut c, "oauth-refreshed");
    c.quit().unwrap();
}

/// A token refused even after the refresh: `Error::Auth` with Dovecot's report, the
/// provider asked exactly twice.
#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn postfix_submission_oauthbearer_refused_token_is_an_auth_error() {
    let mut c = connect(&var("POSTFIX_SUBMISSION"), tls(TlsPolicy::Required));
    let p = Tokens::new(var("OAUTH_EXPIRED"), var("OAUTH_EXPIRED"));
    let err = c.login_oauth(&var("USER"), &p).unwrap_err();
    match &err {
        Error::Auth {
            mechanism,
            source: AuthError::Rejected { reply, detail },
        } => {
            assert_eq!(mechanism, "OAUTHBEARER");
            assert_eq!(reply.code().get(), 535, "{err}");
            assert!(detail.is_some(), "Dovecot's JSON report: {err:?}");
        }
        e => panic!("expected a 535 refusal, got {e:?}"),
    }
    assert!(smtp_blocking::is_token_refused(&err));
    assert_eq!(p.calls(), [false, true]);
    assert_no_token(&mut c, "OAUTHBEARER");
    // The session is still usable.
    assert_eq!(c.noop().unwrap().code(), 250);
    c.quit().unwrap();
}

/// XOAUTH2: Dovecot's `{"status":"401",...}` report for an expired token, then the
/// refreshed one through the shared `OAuthFlow` (restricted to XOAUTH2) on the same
/// connection.
#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn postfix_submission_xoauth2_expired_then_refreshed() {
    use smtp_blocking::proto::command::Mechanism;
    use smtp_blocking::proto::sasl::SaslError;
    use smtp_blocking::{OAuthFlow, OAuthNext, TokenProvider};

    let mut c = connect(&var("POSTFIX_SUBMISSION"), tls(TlsPolicy::Required));
    let user = var("USER");
    // The named mechanism, an expired token: the report says 401.
    let err = c
        .auth(
            "XOAUTH2",
            Credentials::oauth2(user.clone(), var("OAUTH_EXPIRED").as_str()),
        )
        .unwrap_err();
    match &err {
        Error::Auth {
            source:
                AuthError::Rejected {
                    detail: Some(SaslError::OAuth(report)),
                    ..
                },
            ..
        } => assert_eq!(report.status.as_deref(), Some("401"), "{err}"),
        e => panic!("expected the OAuth report, got {e:?}"),
    }
    assert!(smtp_blocking::is_token_refused(&err));
    // The flow, as the adapters run it.
    let p = Tokens::new(var("OAUTH_EXPIRED"), var("OAUTH_TOKEN"));
    let mut flow = OAuthFlow::new(&user).with_mechanisms(&[Mechanism::XOAUTH2]);
    let ok = loop {
        let token = flow
            .token_needed()
            .map(|refresh| p.token(flow.user(), refresh).unwrap());
        let r = c.authenticate(flow.login(token));
        let usable = !c.is_closed();
        match flow.outcome(r, usable) {
            OAuthNext::Done(r) => break r.unwrap(),
            OAuthNext::Retry { reconnect: false } => {}
            OAuthNext::Retry { reconnect: true } => panic!("Postfix keeps the connection"),
        }
    };
    assert_eq!(ok.code(), 235);
    assert_eq!(p.calls(), [false, true]);
    assert_no_token(&mut c, "XOAUTH2");
    send_as_authenticated(&mut c, "xoauth2");
    c.quit().unwrap();
}

/// EHLO/HELO with a name for one call, and `send_message` with MAIL/RCPT options
/// (`RET=HDRS`, `NOTIFY=NEVER`) accepted by Postfix.
#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn postfix_ehlo_as_and_send_message_with_options() {
    use smtp_blocking::proto::command::{Notify, RcptParams, Ret};

    let mut c = connect(&var("POSTFIX_MX"), plain());
    assert_eq!(c.ehlo_as("other.test.example").unwrap().code(), 250);
    assert!(c.has_extn("dsn"));
    let t = token("send-message-with");
    let rcpt = var("RCPT");
    let msg = message(&t, "sender@example.org", &rcpt);
    let mut mail = MailParams::default();
    mail.ret = Some(Ret::Hdrs);
    let mut rcpt_options = RcptParams::default();
    rcpt_options.notify = Some(Notify::Never);
    let r = c
        .send_message_with(&msg, None, None, mail, rcpt_options)
        .unwrap();
    assert!(r.recipients[0].accepted, "{r:?}");
    let tr = c.take_transcript();
    assert!(
        tr.iter().any(|l| l == "C: EHLO other.test.example"),
        "{tr:#?}"
    );
    assert!(
        tr.iter()
            .any(|l| l.starts_with("C: MAIL FROM:") && l.contains("RET=HDRS")),
        "{tr:#?}"
    );
    assert!(
        tr.iter()
            .any(|l| l.starts_with("C: RCPT TO:") && l.contains("NOTIFY=NEVER")),
        "{tr:#?}"
    );
    assert_eq!(c.helo_as("third.test.example").unwrap().code(), 250);
    c.quit().unwrap();
    delivered("alice", &t);
}

#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn postfix_submission_without_auth_refuses_relaying() {
    let mut c = connect(&var("POSTFIX_SUBMISSION"), tls(TlsPolicy::Required));
    let err = c
        .login(&var("USER"), "wrong-password")
        .expect_err("wrong password");
    assert!(matches!(err, Error::Auth { .. }), "{err}");
    let rcpt = var("RCPT2");
    let err = send(&mut c, &var("RCPT"), &[&rcpt], &message("x", "a@b", "c@d")).unwrap_err();
    let Error::RecipientsRefused(report) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(code(&report.recipients[0].reply), 554);
    assert!(!err.is_transient());
    c.quit().unwrap();
}

#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn postfix_submission_plaintext_refused() {
    // Plaintext on submission: AUTH is not offered and MAIL gets 530.
    let mut o = plain();
    o.core.allow_plaintext_auth = true;
    let mut c = connect(&var("POSTFIX_SUBMISSION"), o);
    assert!(!c.has_extn("auth"));
    let err = c.login(&var("USER"), &var("PASSWORD")).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Auth {
                source: AuthError::NoMechanism,
                ..
            }
        ),
        "{err:?}"
    );
    let rcpt = var("RCPT2");
    let err = send(&mut c, &var("RCPT"), &[&rcpt], &message("x", "a@b", "c@d")).unwrap_err();
    assert!(
        matches!(&err, Error::SenderRefused { reply, .. } if reply.code() == 530),
        "{err:?}"
    );
    c.quit().unwrap();
}

#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn postfix_pipelining_several_recipients_and_messages() {
    let (rcpt, rcpt2) = (var("RCPT"), var("RCPT2"));
    let mut c = connect(&var("POSTFIX_MX"), plain());
    assert!(c.has_extn("pipelining"));
    assert!(c.capabilities().unwrap().pipelining());
    let t = token("pipelining");
    let msg = message(&t, "sender@example.org", &rcpt);
    let r = send(&mut c, "sender@example.org", &[&rcpt, &rcpt2], &msg).unwrap();
    assert_eq!(r.accepted().count(), 2, "{r:?}");
    // Several messages on one connection, pipelined.
    let tokens: Vec<String> = (0..3).map(|i| token(&format!("batch{i}"))).collect();
    let msgs: Vec<Vec<u8>> = tokens
        .iter()
        .map(|t| message(t, "sender@example.org", &rcpt2))
        .collect();
    let mut results = Vec::new();
    c.send_all(
        msgs.iter().map(|m| {
            (
                envelope("sender@example.org", &[&rcpt2]).unwrap(),
                Body::Bytes(m),
            )
        }),
        |i, r| results.push((i, r.map(|r| r.any_accepted()).ok())),
    )
    .unwrap();
    assert_eq!(results, [(0, Some(true)), (1, Some(true)), (2, Some(true))]);
    c.quit().unwrap();
    assert_intact(&delivered("alice", &t), &msg);
    assert_intact(&delivered("bob", &t), &msg);
    for (t, m) in tokens.iter().zip(&msgs) {
        assert_intact(&delivered("bob", t), m);
    }
}

#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn postfix_chunking_bdat() {
    let rcpt = var("RCPT");
    let mut c = connect(&var("POSTFIX_MX"), plain());
    assert!(c.capabilities().unwrap().chunking());
    let t = token("bdat");
    // Over 256 KiB (the core's chunk size): several BDAT chunks.
    let msg = big_message(&t, "sender@example.org", &rcpt, 600 * 1024);
    let mut env = envelope("sender@example.org", &[&rcpt]).unwrap();
    env.prefer_bdat = true;
    let r = c.send(env, Body::Bytes(&msg)).unwrap();
    assert!(r.recipients[0].accepted, "{r:?}");
    let tr = c.take_transcript();
    assert!(!tr.iter().any(|l| l == "C: DATA"), "{tr:#?}");
    // The transcript shows only the last `BDAT n LAST` command (the non-final chunks'
    // commands travel inside the content), and one 250 per chunk.
    let last = tr
        .iter()
        .find_map(|l| l.strip_prefix("C: BDAT ")?.strip_suffix(" LAST"))
        .unwrap_or_else(|| panic!("no BDAT LAST in {tr:#?}"));
    assert_eq!(last.parse::<usize>().unwrap(), msg.len() % (256 * 1024));
    let chunk_replies = tr
        .iter()
        .filter(|l| l.starts_with("S: 250 2.0.0 Ok: "))
        .count();
    assert_eq!(chunk_replies, msg.len().div_ceil(256 * 1024), "{tr:#?}");
    // The mx does not advertise BINARYMIME: refused locally, nothing sent.
    let mut env = envelope("sender@example.org", &[&rcpt]).unwrap();
    env.body = BodyType::BinaryMime;
    let err = c
        .send(env, Body::Bytes(b"Subject: x\r\n\r\n\0\xff\r\n"))
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotSupported(x) if x == "BINARYMIME"),
        "{err:?}"
    );
    assert_eq!(c.noop().unwrap().code(), 250);
    c.quit().unwrap();
    assert_intact(&delivered("alice", &t), &msg);
}

#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn postfix_smtputf8_sender() {
    let rcpt = var("RCPT");
    let mut c = connect(&var("POSTFIX_MX"), plain());
    assert!(c.capabilities().unwrap().smtp_utf8());
    let t = token("utf8");
    let from = "dépêche-jörg@test.example";
    let msg = format!(
        "Date: Sat, 28 Nov 2026 12:00:00 +0000\r\nMessage-ID: <{t}@test.example>\r\n\
         From: Jörg <{from}>\r\nTo: <{rcpt}>\r\nSubject: grüße {t}\r\n\r\nÇa marche ✓\r\n"
    )
    .into_bytes();
    let r = send(&mut c, from, &[&rcpt], &msg).unwrap();
    assert!(r.recipients[0].accepted, "{r:?}");
    let tr = c.take_transcript();
    let mail = tr
        .iter()
        .find(|l| l.starts_with("C: MAIL FROM:"))
        .expect("MAIL in the transcript");
    assert!(mail.contains(&format!("<{from}>")), "{mail}");
    assert!(mail.contains(" SMTPUTF8"), "{mail}");
    assert!(mail.contains("BODY=8BITMIME"), "{mail}");
    c.quit().unwrap();
    let stored = delivered("alice", &t);
    let prepended = assert_intact(&stored, &msg);
    assert!(
        prepended.contains(&format!("Return-Path: <{from}>")),
        "{prepended}"
    );
    assert!(prepended.contains("with UTF8SMTP id"), "{prepended}");
}

#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn postfix_size_limit() {
    let rcpt = var("RCPT");
    let limit: u64 = var("SIZE_LIMIT").parse().unwrap();
    let mut c = connect(&var("POSTFIX_MX"), plain());
    assert_eq!(
        c.capabilities().unwrap().size().and_then(|s| s.limit()),
        Some(limit)
    );
    // 1. The size is known (a body in memory): refused before MAIL, nothing sent.
    let t = token("size");
    let msg = big_message(&t, "sender@example.org", &rcpt, limit as usize + 1);
    c.take_transcript();
    let err = send(&mut c, "sender@example.org", &[&rcpt], &msg).unwrap_err();
    assert!(
        matches!(err, Error::Usage(UsageError::TooLarge { limit: l, .. }) if l == limit),
        "{err:?}"
    );
    assert_eq!(err.fault(), Fault::Caller);
    let tr = c.take_transcript();
    assert!(!tr.iter().any(|l| l.starts_with("C: MAIL")), "{tr:#?}");
    assert_eq!(c.noop().unwrap().code(), 250);

    // 2. SIZE= given by the caller over the advertised limit: refused locally too (the
    //    core checks the caller's own SIZE= against the limit), nothing sent.
    let mut env = envelope("sender@example.org", &[&rcpt]).unwrap();
    let mut p = MailParams::default();
    p.size = Some(2 * limit);
    env.mail_params = p;
    let mut small = &b"Subject: x\r\n\r\nx\r\n"[..];
    c.take_transcript();
    let err = c.send(env, Body::Reader(&mut small)).unwrap_err();
    assert!(
        matches!(err, Error::Usage(UsageError::TooLarge { size, limit: l }) if l == limit && size == 2 * limit),
        "{err:?}"
    );
    let tr = c.take_transcript();
    assert!(!tr.iter().any(|l| l.starts_with("C: MAIL")), "{tr:#?}");
    let t2 = token("after-size");
    let msg2 = message(&t2, "sender@example.org", &rcpt);
    let r = send(&mut c, "sender@example.org", &[&rcpt], &msg2).unwrap();
    assert!(r.recipients[0].accepted, "{r:?}");
    c.quit().unwrap();

    // 3. Size unknown (a reader, no size_hint): Postfix refuses after the final dot.
    let mut c = connect(&var("POSTFIX_MX"), plain());
    let mut reader = &msg[..];
    let env = envelope("sender@example.org", &[&rcpt]).unwrap();
    let err = c.send(env, Body::Reader(&mut reader)).unwrap_err();
    match &err {
        Error::DataRefused { reply, report } => {
            assert_eq!(reply.code(), 552, "{err}");
            assert!(
                matches!(
                    report.recipients[0].status,
                    RcptStatus::Refused(Stage::EndOfData, _)
                ),
                "{report:?}"
            );
        }
        e => panic!("{e:?}"),
    }
    c.quit().unwrap();
    // 4. A message sent after the refused one is delivered, waited for as long as the
    //    positive checks wait: only then does the refused one's absence say something.
    let t4 = token("after-refused");
    let msg4 = message(&t4, "sender@example.org", &rcpt);
    let mut c = connect(&var("POSTFIX_MX"), plain());
    let r = send(&mut c, "sender@example.org", &[&rcpt], &msg4).unwrap();
    assert!(r.recipients[0].accepted, "{r:?}");
    c.quit().unwrap();
    delivered("alice", &t4);
    assert!(try_delivered("alice", &t, Duration::from_millis(300)).is_none());
}

#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn postfix_refused_recipient_beside_accepted_one() {
    let (rcpt, unknown) = (var("RCPT"), var("RCPT_UNKNOWN"));
    let mut c = connect(&var("POSTFIX_MX"), plain());
    let t = token("partial");
    let msg = message(&t, "sender@example.org", &rcpt);
    let r = send(&mut c, "sender@example.org", &[&unknown, &rcpt], &msg).unwrap();
    assert_eq!(r.recipients[0].recipient, unknown);
    assert!(!r.recipients[0].accepted);
    assert!(
        matches!(r.recipients[0].status, RcptStatus::Refused(Stage::Rcpt, _)),
        "{r:?}"
    );
    let reply = r.recipients[0].reply.as_ref().unwrap();
    assert_eq!(reply.code(), 550);
    assert_eq!(reply.enhanced().unwrap().to_string(), "5.1.1");
    assert!(reply.message().contains("User unknown"), "{reply}");
    assert!(r.recipients[1].accepted);
    assert_eq!(code(&r.recipients[1].reply), 250);
    assert_eq!(r.refused().count(), 1);
    // Outside test.example: relay access denied.
    let err = send(&mut c, "sender@example.org", &["x@example.net"], &msg).unwrap_err();
    let Error::RecipientsRefused(rep) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(code(&rep.recipients[0].reply), 554);
    c.quit().unwrap();
    assert_intact(&delivered("alice", &t), &msg);
}

fn assert_tls_refused(addr: &str, opts: Options) {
    match SmtpClient::connect(addr, opts) {
        Err(e @ Error::Tls(_)) => {
            assert_eq!(e.fault(), Fault::Peer);
            let text = format!("{e} {e:?}").to_lowercase();
            assert!(text.contains("certificate"), "{text}");
        }
        Err(e) => panic!("{addr}: expected a TLS error, got {e:?}"),
        Ok(_) => panic!("{addr}: connected despite a bad certificate"),
    }
}

#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn postfix_wrong_certificate_name_refused() {
    let wrong = |p| {
        let mut o = tls(p);
        o.tls_options = TlsOptions::new()
            .with_ca_file(var("CA"))
            .unwrap()
            .with_server_name("wrong.example");
        o
    };
    assert_tls_refused(&var("POSTFIX_MX"), wrong(TlsPolicy::Required));
    assert_tls_refused(&var("POSTFIX_SMTPS"), wrong(TlsPolicy::Implicit));
    // Opportunistic TLS does not fall back to plaintext after a failed handshake.
    assert_tls_refused(&var("POSTFIX_MX"), wrong(TlsPolicy::Opportunistic));
}

#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn postfix_untrusted_ca_refused() {
    let default_roots = |p| {
        let mut o = plain();
        o.core.tls = p;
        o.tls_options = TlsOptions::new().with_server_name(var("TLS_NAME"));
        o
    };
    assert_tls_refused(&var("POSTFIX_MX"), default_roots(TlsPolicy::Required));
    assert_tls_refused(&var("POSTFIX_SMTPS"), default_roots(TlsPolicy::Implicit));
}

#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn postfix_client_certificate_required() {
    let addr = var("POSTFIX_CCERT");
    let rcpt = var("RCPT");
    // Without a client certificate Postfix completes the handshake, then answers the
    // EHLO after STARTTLS with `421 4.7.1 ... No client certificate presented` and
    // closes: no session.
    let err = match SmtpClient::connect(&addr, tls(TlsPolicy::Required)) {
        Err(e) => e,
        Ok(_) => panic!("{addr}: session without the client certificate the server requires"),
    };
    match &err {
        Error::ServiceClosing(r) => {
            assert_eq!(r.code(), 421, "{err:?}");
            assert!(r.message().contains("client certificate"), "{err:?}");
        }
        e => panic!("expected the 421 for a missing client certificate, got {e:?}"),
    }
    assert!(err.is_transient());
    // With the test CA's client certificate: accepted, and Postfix says it verified it.
    let chain = std::fs::read(var("CLIENT_CERT")).unwrap();
    let key = std::fs::read(var("CLIENT_KEY")).unwrap();
    let mut o = tls(TlsPolicy::Required);
    o.tls_options = o.tls_options.with_client_cert_pem(&chain, &key).unwrap();
    let mut c = connect(&addr, o);
    assert!(c.is_encrypted());
    let t = token("ccert");
    let msg = message(&t, "sender@example.org", &rcpt);
    let r = send(&mut c, "sender@example.org", &[&rcpt], &msg).unwrap();
    assert!(r.recipients[0].accepted, "{r:?}");
    c.quit().unwrap();
    let prepended = assert_intact(&delivered("alice", &t), &msg);
    assert!(
        prepended.contains("Client CN \"client.test.example\"")
            && prepended.contains("(verified OK)"),
        "{prepended}"
    );
}

#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn postfix_sees_the_source_address() {
    // All of 127.0.0.0/8 is loopback: leave from 127.0.0.3, Postfix's Received header
    // names it.
    let rcpt = var("RCPT");
    let mut o = plain();
    o.source_address = Some("127.0.0.3:0".parse().unwrap());
    let mut c = connect(&var("POSTFIX_MX"), o);
    let t = token("source");
    let msg = message(&t, "sender@example.org", &rcpt);
    let r = send(&mut c, "sender@example.org", &[&rcpt], &msg).unwrap();
    assert!(r.recipients[0].accepted, "{r:?}");
    c.quit().unwrap();
    let prepended = assert_intact(&delivered("alice", &t), &msg);
    assert!(prepended.contains("[127.0.0.3]"), "{prepended}");
}

// ---------------------------------------------------------------- through proxies

/// `opts` through the proxy whose URL is in `SMTP_TEST_PROXY_<name>`.
fn via(name: &str, opts: Options) -> Options {
    let url = var(&format!("PROXY_{name}"));
    let proxy = url
        .parse()
        .unwrap_or_else(|e| panic!("SMTP_TEST_PROXY_{name}: {e}"));
    opts.with_proxy(proxy)
}

/// Sends one message from `from` to `rcpt` (`user`'s mailbox) over `c`, checks it was
/// stored intact and returns the trace headers Postfix prepended.
fn send_through(c: &mut SmtpClient, tag: &str, from: &str, rcpt: &str, user: &str) -> String {
    let t = token(tag);
    let msg = message(&t, from, rcpt);
    let r = send(c, from, &[rcpt], &msg).unwrap();
    assert!(r.recipients[0].accepted, "{r:?}");
    c.quit().unwrap();
    assert_intact(&delivered(user, &t), &msg)
}

#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn proxy_socks5_plain_to_mx() {
    // microsocks, no authentication, the name resolved by the proxy (socks5h).
    let mut c = connect(&var("POSTFIX_MX"), via("SOCKS5", plain()));
    assert!(!c.is_encrypted());
    let prepended = send_through(
        &mut c,
        "socks5-plain",
        "sender@example.org",
        &var("RCPT"),
        "alice",
    );
    assert!(prepended.contains("with ESMTP id"), "{prepended}");
}

#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn proxy_socks5_resolving_here_sends_an_address() {
    // socks5:// (not socks5h): "localhost" is resolved by the client, the proxy gets an
    // address.
    let url = var("PROXY_SOCKS5").replacen("socks5h://", "socks5://", 1);
    let port = var("POSTFIX_MX").rsplit_once(':').unwrap().1.to_owned();
    let o = plain().with_proxy(url.parse().unwrap());
    let mut c = connect(&format!("localhost:{port}"), o);
    send_through(
        &mut c,
        "socks5-local",
        "sender@example.org",
        &var("RCPT"),
        "alice",
    );
}

#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn proxy_socks5_auth_starttls_submission() {
    // microsocks with username/password; STARTTLS and AUTH end to end with Postfix.
    let mut c = connect(
        &var("POSTFIX_SUBMISSION"),
        via("SOCKS5_AUTH", tls(TlsPolicy::Required)),
    );
    assert!(c.is_encrypted());
    transcript_has(&mut c, "C: STARTTLS");
    assert_eq!(c.login(&var("USER"), &var("PASSWORD")).unwrap().code(), 235);
    let prepended = send_through(&mut c, "socks5-sub", &var("RCPT"), &var("RCPT2"), "bob");
    assert!(prepended.contains("with ESMTPSA id"), "{prepended}");
}

#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn proxy_http_connect_implicit_tls_smtps() {
    // tinyproxy, no authentication; implicit TLS with Postfix through the tunnel.
    let mut c = connect(&var("POSTFIX_SMTPS"), via("HTTP", tls(TlsPolicy::Implicit)));
    assert!(c.is_encrypted());
    assert_eq!(c.login(&var("USER"), &var("PASSWORD")).unwrap().code(), 235);
    let prepended = send_through(&mut c, "http-smtps", &var("RCPT"), &var("RCPT2"), "bob");
    assert!(prepended.contains("with ESMTPSA id"), "{prepended}");
}

#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn proxy_http_connect_basic_auth_starttls_mx() {
    // tinyproxy with Basic authentication; STARTTLS on the mx port.
    let mut c = connect(
        &var("POSTFIX_MX"),
        via("HTTP_AUTH", tls(TlsPolicy::Required)),
    );
    assert!(c.is_encrypted());
    let prepended = send_through(
        &mut c,
        "http-auth",
        "sender@example.org",
        &var("RCPT"),
        "alice",
    );
    assert!(prepended.contains("with ESMTPS id"), "{prepended}");
}

#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn proxy_tls_checks_the_mail_servers_name() {
    // The proxies listen on 127.0.0.1, which the test certificate names: checking the
    // proxy's name would pass. The mail server's name is checked, so a wrong one fails,
    // as a TLS error (not a proxy error), on STARTTLS and on implicit TLS.
    let wrong = |p, proxy| {
        let mut o = via(proxy, tls(p));
        o.tls_options = o.tls_options.with_server_name("wrong.example");
        o
    };
    for proxy in ["SOCKS5", "HTTP"] {
        assert_tls_refused(&var("POSTFIX_MX"), wrong(TlsPolicy::Required, proxy));
        assert_tls_refused(&var("POSTFIX_SMTPS"), wrong(TlsPolicy::Implicit, proxy));
    }
    // With no name given, the mail server's address is checked (the certificate has
    // 127.0.0.1 as an IP address).
    let mut o = via("SOCKS5", tls(TlsPolicy::Implicit));
    o.tls_options = TlsOptions::new().with_ca_file(var("CA")).unwrap();
    let c = connect(&var("POSTFIX_SMTPS"), o);
    assert!(c.is_encrypted());
}

#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn proxy_refusals_are_typed() {
    // Wrong or missing credentials: the caller's fault, nothing reached Postfix.
    let wrong = var("PROXY_SOCKS5_AUTH").replacen(":proxy-password@", ":wrong@", 1);
    let opts = plain().with_proxy(wrong.parse().unwrap());
    let Err(err) = SmtpClient::connect(&var("POSTFIX_MX"), opts) else {
        panic!("wrong credentials accepted");
    };
    assert!(
        matches!(
            &err,
            Error::Proxy {
                source: ProxyError::AuthRejected,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.fault(), Fault::Caller);
    assert!(!err.to_string().contains("wrong"), "{err}");
    let url = var("PROXY_HTTP_AUTH");
    let (scheme, rest) = url.split_once("://").unwrap();
    let bare = format!("{scheme}://{}", rest.rsplit_once('@').unwrap().1);
    let opts = plain().with_proxy(bare.parse().unwrap());
    let Err(err) = SmtpClient::connect(&var("POSTFIX_MX"), opts) else {
        panic!("no credentials accepted");
    };
    assert!(
        matches!(
            &err,
            Error::Proxy {
                source: ProxyError::AuthRequired,
                ..
            }
        ),
        "{err:?}"
    );
    // A port nothing listens on: each proxy says it could not connect.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    for proxy in ["SOCKS5", "HTTP"] {
        let Err(err) = SmtpClient::connect(&closed, via(proxy, plain())) else {
            panic!("{proxy}: connected to a closed port");
        };
        match &err {
            Error::Proxy {
                source: ProxyError::Refused { target, refusal },
                ..
            } => {
                assert_eq!(target, &closed);
                match refusal {
                    ProxyRefusal::Socks(code) => assert_eq!(*code, 5, "{err}"),
                    ProxyRefusal::Http { status, .. } => assert!(*status >= 500, "{err}"),
                    r => panic!("{r:?}"),
                }
            }
            e => panic!("{proxy}: expected a refusal, got {e:?}"),
        }
        assert!(err.is_transient() && err.is_retry_safe(), "{err}");
    }
}

// ---------------------------------------------------------------- Dovecot LMTP

#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn lmtp_per_recipient_results() {
    let (ok, quota, unknown) = (
        var("LMTP_OK_USER"),
        var("LMTP_QUOTA_USER"),
        var("RCPT_UNKNOWN"),
    );
    let mut o = plain();
    o.core.dialect = Dialect::Lmtp;
    let mut c = connect(&var("LMTP"), o);
    transcript_has(&mut c, "C: LHLO ");
    let t = token("lmtp");
    let msg = big_message(&t, "sender@example.org", &ok, 4096);
    let r = send(&mut c, "sender@example.org", &[&ok, &quota, &unknown], &msg).unwrap();
    let [r_ok, r_quota, r_unknown] = &r.recipients[..] else {
        panic!("{r:?}")
    };
    assert!(r_ok.accepted, "{r:?}");
    assert!(
        matches!(&r_ok.status, RcptStatus::Accepted(rep) if rep.code().get() == 250),
        "{r:?}"
    );
    assert!(!r_quota.accepted);
    assert!(
        matches!(r_quota.status, RcptStatus::Refused(Stage::EndOfData, _)),
        "{r:?}"
    );
    let q = r_quota.reply.as_ref().unwrap();
    assert_eq!(q.code(), 552, "{q}");
    assert_eq!(q.enhanced().unwrap().to_string(), "5.2.2");
    assert!(q.message().contains("Quota"), "{q}");
    assert!(
        matches!(r_unknown.status, RcptStatus::Refused(Stage::Rcpt, _)),
        "{r:?}"
    );
    assert_eq!(code(&r_unknown.reply), 550);
    // Only the quota user over quota: the whole transaction is refused at end of data.
    let err = send(&mut c, "sender@example.org", &[&quota], &msg).unwrap_err();
    assert!(
        matches!(&err, Error::DataRefused { reply, .. } if reply.code() == 552),
        "{err:?}"
    );
    c.quit().unwrap();
    let stored = delivered("bob", &t);
    assert_intact(&stored, &msg);
}

// ---------------------------------------------------------------- smtp-sink faults

const SENDER: &str = "sender@example.org";
const RCPT: &str = "rcpt@example.net";
const SMALL: &[u8] =
    b"From: <sender@example.org>\r\nTo: <rcpt@example.net>\r\nSubject: sink\r\n\r\nHello.\r\n";

/// Connects to the sink `behaviour` and sends one small message: the connect error, or
/// the client and the send result.
fn sink_try(
    behaviour: &str,
    opts: Options,
) -> Result<(SmtpClient, Result<SendReport, Error>), Error> {
    let mut c = SmtpClient::connect(&sink(behaviour), opts)?;
    let r = send(&mut c, SENDER, &[RCPT], SMALL);
    Ok((c, r))
}

fn sink_connect_error(behaviour: &str, opts: Options) -> Error {
    match sink_try(behaviour, opts) {
        Err(e) => e,
        Ok((_, r)) => panic!("{behaviour}: connected, then {r:?}"),
    }
}

fn sink_send_error(behaviour: &str, opts: Options) -> (SmtpClient, Error) {
    match sink_try(behaviour, opts) {
        Err(e) => panic!("{behaviour}: connect failed: {e:?}"),
        Ok((c, Ok(r))) => panic!("{behaviour}: sent: {r:?} {c:?}"),
        Ok((c, Err(e))) => (c, e),
    }
}

#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn sink_normal_nopipelining_noesmtp_deliver() {
    for b in ["NOPIPELINING", "NOESMTP"] {
        let (mut c, r) = sink_try(b, plain()).unwrap_or_else(|e| panic!("{b}: {e:?}"));
        let r = r.unwrap_or_else(|e| panic!("{b}: {e:?}"));
        assert!(r.recipients[0].accepted, "{b}: {r:?}");
        match b {
            "NOPIPELINING" => {
                assert!(!c.is_helo_only());
                assert!(!c.has_extn("pipelining"), "{:?}", c.esmtp_features());
            }
            _ => {
                assert!(c.is_helo_only());
                assert!(c.capabilities().is_none());
                let t = c.take_transcript();
                assert!(t.iter().any(|l| l.starts_with("C: HELO ")), "{t:#?}");
            }
        }
        // A second message on the same connection.
        let r = send(&mut c, SENDER, &[RCPT, "other@example.net"], SMALL).unwrap();
        assert_eq!(r.accepted().count(), 2, "{b}: {r:?}");
        assert_eq!(c.quit().unwrap().unwrap().code(), 221, "{b}");
    }
    // The normal sink (pipelining) for comparison.
    let mut c = connect(&var("SINK"), plain());
    assert!(c.has_extn("pipelining"));
    let r = send(&mut c, SENDER, &[RCPT, "other@example.net"], SMALL).unwrap();
    assert_eq!(r.accepted().count(), 2);
    c.quit().unwrap();
}

#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn sink_noesmtp_with_tls_required_does_not_fall_back() {
    let mut o = plain();
    o.core.tls = TlsPolicy::Required;
    let err = sink_connect_error("NOESMTP", o);
    assert!(
        matches!(&err, Error::HeloRefused(r) if r.code() == 500),
        "{err:?}"
    );
}

#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn sink_rejects_at_each_phase() {
    // Greeting and EHLO: the session is refused.
    for (b, want) in [("REJECT_GREETING", 554), ("REJECT_EHLO", 550)] {
        let err = sink_connect_error(b, plain());
        assert!(
            matches!(&err, Error::HeloRefused(r) if r.code() == want),
            "{b}: {err:?}"
        );
        assert_eq!(err.reply().unwrap().code(), want);
        assert!(!err.is_transient(), "{b}");
        assert_eq!(err.fault(), Fault::Peer);
    }

    // MAIL.
    let (mut c, err) = sink_send_error("REJECT_MAIL", plain());
    match &err {
        Error::SenderRefused { reply, sender, .. } => {
            assert_eq!(reply.code(), 550);
            assert_eq!(sender, SENDER);
        }
        e => panic!("REJECT_MAIL: {e:?}"),
    }
    assert!(!err.is_transient());
    assert!(!c.is_closed());
    assert_eq!(c.quit().unwrap().unwrap().code(), 221);

    // RCPT, permanent and transient.
    for (b, want, transient) in [("REJECT_RCPT", 550, false), ("TEMPFAIL_RCPT", 450, true)] {
        let (mut c, err) = sink_send_error(b, plain());
        let Error::RecipientsRefused(report) = &err else {
            panic!("{b}: {err:?}")
        };
        let r = &report.recipients[0];
        assert_eq!(code(&r.reply), want, "{b}");
        if transient {
            assert!(
                matches!(r.status, RcptStatus::Deferred(Stage::Rcpt, _)),
                "{r:?}"
            );
        } else {
            assert!(
                matches!(r.status, RcptStatus::Refused(Stage::Rcpt, _)),
                "{r:?}"
            );
        }
        assert_eq!(err.is_transient(), transient, "{b}");
        assert!(report.data_reply.is_none(), "{b}: DATA sent: {report:?}");
        let t = c.take_transcript();
        assert!(!t.iter().any(|l| l == "C: DATA"), "{b}: {t:#?}");
        assert_eq!(c.quit().unwrap().unwrap().code(), 221, "{b}");
    }

    // DATA, and the final dot (permanent and transient).
    for (b, want, stage, transient) in [
        ("REJECT_DATA", 554, Stage::Data, false),
        ("REJECT_DOT", 554, Stage::EndOfData, false),
        ("TEMPFAIL_DOT", 451, Stage::EndOfData, true),
    ] {
        let (mut c, err) = sink_send_error(b, plain());
        let Error::DataRefused { reply, report } = &err else {
            panic!("{b}: {err:?}")
        };
        assert_eq!(reply.code(), want, "{b}");
        let st = &report.recipients[0].status;
        match st {
            RcptStatus::Refused(s, _) if !transient => assert_eq!(*s, stage, "{b}"),
            RcptStatus::Deferred(s, _) if transient => assert_eq!(*s, stage, "{b}"),
            _ => panic!("{b}: {st:?}"),
        }
        assert_eq!(err.is_transient(), transient, "{b}");
        assert_eq!(err.reply().unwrap().code(), want);
        assert_eq!(c.noop().unwrap().code(), 250, "{b}: session goes on");
        assert_eq!(c.quit().unwrap().unwrap().code(), 221, "{b}");
    }
}

/// `421` at each phase: the error carries the 421, is transient, and the session is over.
#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn sink_421_at_each_phase() {
    for b in ["421_GREETING", "421_EHLO"] {
        let err = sink_connect_error(b, plain());
        assert!(
            matches!(&err, Error::ServiceClosing(r) if r.code() == 421),
            "{b}: {err:?}"
        );
        assert!(err.is_transient(), "{b}");
        assert_eq!(err.fault(), Fault::Peer);
    }
    // In a transaction the 421 is reported like any refusal at that stage (as smtplib
    // does), deferred (transient), and the session is over.
    let (mut c, err) = sink_send_error("421_MAIL", plain());
    assert!(
        matches!(&err, Error::SenderRefused { reply, .. } if reply.code() == 421),
        "{err:?}"
    );
    assert_eq!(err.reply().unwrap().code(), 421);
    assert!(err.is_transient());
    assert!(c.is_closed());
    assert!(c.noop().is_err());
    assert_eq!(c.quit().unwrap(), None);

    let (c, err) = sink_send_error("421_RCPT", plain());
    let Error::RecipientsRefused(report) = &err else {
        panic!("{err:?}")
    };
    assert!(
        matches!(&report.recipients[0].status, RcptStatus::Deferred(Stage::Rcpt, r) if r.code().get() == 421),
        "{report:?}"
    );
    assert!(err.is_transient());
    assert!(c.is_closed());

    for (b, stage) in [("421_DATA", Stage::Data), ("421_DOT", Stage::EndOfData)] {
        let (c, err) = sink_send_error(b, plain());
        let Error::DataRefused { reply, report } = &err else {
            panic!("{b}: {err:?}")
        };
        assert_eq!(reply.code(), 421, "{b}");
        assert!(
            matches!(&report.recipients[0].status, RcptStatus::Deferred(s, _) if *s == stage),
            "{b}: {report:?}"
        );
        assert!(err.is_transient(), "{b}");
        assert!(c.is_closed(), "{b}");
    }
}

/// Disconnect without a reply at each phase: `ServerDisconnected` naming the phase.
#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn sink_disconnect_at_each_phase() {
    for (b, phase) in [
        ("DROP_GREETING", Phase::Greeting),
        ("DROP_EHLO", Phase::Ehlo),
    ] {
        let err = sink_connect_error(b, plain());
        assert!(
            matches!(err, Error::ServerDisconnected(p) if p == phase),
            "{b}: {err:?}"
        );
        assert!(err.is_transient());
        assert_eq!(err.fault(), Fault::Peer);
    }
    for (b, phase) in [
        ("DROP_MAIL", Phase::Mail),
        ("DROP_RCPT", Phase::Rcpt),
        ("DROP_DATA", Phase::DataInit),
    ] {
        let (c, err) = sink_send_error(b, plain());
        assert!(
            matches!(err, Error::ServerDisconnected(p) if p == phase),
            "{b}: {err:?}"
        );
        assert!(err.is_transient(), "{b}");
        assert!(c.is_closed(), "{b}");
    }
}

/// Disconnect after the final dot: the message may have been accepted. That must be
/// distinguishable from a refusal (and from a failure before the dot, which is safe to
/// retry).
#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn sink_disconnect_after_dot_is_unknown() {
    let (c, err) = sink_send_error("DROP_DOT", plain());
    assert!(c.is_closed());
    let Error::DeliveryUnknown { source, report } = &err else {
        panic!("{err:?}")
    };
    assert!(
        matches!(**source, Error::ServerDisconnected(Phase::DataDone)),
        "{source:?}"
    );
    let r = &report.recipients[0];
    assert!(!r.accepted);
    assert!(matches!(r.status, RcptStatus::Unknown(_)), "{r:?}");
    assert_eq!(code(&report.data_reply), 354);
    assert!(err.reply().is_none());
    assert!(err.to_string().contains("may have been accepted"), "{err}");
}

/// No reply at each phase: a timeout naming the phase, after ~1 s. All phases in parallel.
#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn sink_stall_at_each_phase_times_out() {
    let phases = [
        ("STALL_GREETING", Phase::Greeting),
        ("STALL_EHLO", Phase::Ehlo),
        ("STALL_MAIL", Phase::Mail),
        ("STALL_RCPT", Phase::Rcpt),
        ("STALL_DATA", Phase::DataInit),
        ("STALL_DOT", Phase::DataDone),
    ];
    let threads: Vec<_> = phases
        .into_iter()
        .map(|(b, phase)| {
            let addr = sink(b);
            std::thread::spawn(move || {
                let opts = plain().with_timeout(Duration::from_secs(1));
                let start = Instant::now();
                let result = SmtpClient::connect(&addr, opts)
                    .and_then(|mut c| send(&mut c, SENDER, &[RCPT], SMALL).map(|_| c));
                (b, phase, start.elapsed(), result.err())
            })
        })
        .collect();
    for t in threads {
        let (b, phase, took, err) = t.join().unwrap();
        let err = err.unwrap_or_else(|| panic!("{b}: no error"));
        // After the final dot the message may have been accepted.
        let err = match err {
            Error::DeliveryUnknown { source, report } if phase == Phase::DataDone => {
                assert!(
                    matches!(report.recipients[0].status, RcptStatus::Unknown(_)),
                    "{report:?}"
                );
                *source
            }
            e => e,
        };
        assert!(
            matches!(err, Error::Timeout(TimeoutPhase::Smtp(p)) if p == phase),
            "{b}: {err:?}"
        );
        assert_eq!(err.fault(), Fault::Io, "{b}");
        assert!(err.is_transient(), "{b}");
        assert!(err.to_string().contains(&phase.to_string()), "{b}: {err}");
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(5),
            "{b}: {took:?}"
        );
    }
}

#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn sink_slow_dot_within_the_deadline() {
    let mut o = plain().with_timeout(Duration::from_secs(1));
    o.core.timeouts.data_done = Duration::from_secs(10);
    let (mut c, r) = sink_try("SLOW_DOT", o).unwrap();
    let r = r.unwrap();
    assert!(r.recipients[0].accepted);
    c.quit().unwrap();
}

/// `354`, then at once `550` and close without reading: the 550 must be reported, not an
/// I/O error. A small message is written whole before the 550 is read; a large one runs
/// into EPIPE/ECONNRESET while the 550 waits in the receive buffer.
#[test]
#[ignore = "needs real servers (scripts/test-all starts them)"]
fn sink_abort_data() {
    for len in [0, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024] {
        let mut c = connect(&sink("ABORT_DATA"), plain());
        let msg = big_message("abort", SENDER, RCPT, len);
        let err = send(&mut c, SENDER, &[RCPT], &msg).unwrap_err();
        let Error::DataRefused { reply, report } = &err else {
            panic!("{len}: {err:?}")
        };
        assert_eq!(reply.code(), 550, "{len}");
        assert!(
            matches!(
                report.recipients[0].status,
                RcptStatus::Refused(Stage::DuringContent | Stage::EndOfData, _)
            ),
            "{len}: {report:?}"
        );
        assert!(!err.is_transient());
        // The server closed: known at once, or at the next command.
        assert!(c.is_closed() || c.noop().is_err(), "{len}");
    }
}
