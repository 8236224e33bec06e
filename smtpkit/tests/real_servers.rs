//! `smtpkit` against real servers on 127.0.0.1: Postfix (submission with STARTTLS and
//! AUTH, smtps, mx, ccert), Dovecot LMTP and Postfix `smtp-sink` fault instances, as
//! started by `scripts/servers/start` (see `scripts/servers/README.md`).
//! `scripts/test-all` starts them, sources their `SMTP_TEST_*` variables and runs
//! `cargo test --workspace -- --ignored`, which runs these.
//!
//! Every test is `#[ignore]`d, so a plain `cargo test` needs no server. Run with
//! `--ignored`, a test whose variable is missing fails (it does not skip).

mod common;

use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Run, run_with, temp_dir};
use serde_json::Value;

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

/// A token unique to this call, to find the message in the shared maildirs.
fn token(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("smtpkit-{tag}.{}.{nanos}", std::process::id())
}

/// Polls `$SMTP_TEST_MAILDIR_ROOT/<user>/new/` for the message holding `token`.
fn delivered(user: &str, token: &str) -> String {
    let dir = PathBuf::from(var("MAILDIR_ROOT")).join(user).join("new");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                let mut data = Vec::new();
                if std::fs::File::open(e.path())
                    .and_then(|mut f| f.read_to_end(&mut data))
                    .is_ok()
                {
                    let text = String::from_utf8_lossy(&data);
                    if text.contains(token) {
                        return text.into_owned();
                    }
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "no message with {token} in {user}'s maildir after 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The message on stdin when a test gives no message flags.
const STDIN_MESSAGE: &[u8] = b"Subject: smtpkit real-server test\r\n\r\nHello.\r\n";

/// `smtpkit` with the test CA trusted, the certificate's name, 10 s deadlines (and
/// [`STDIN_MESSAGE`] on stdin).
fn smtpkit(args: &[&str], env: &[(&str, &str)]) -> Run {
    let (ca, name) = (var("CA"), var("TLS_NAME"));
    let mut a = args.to_vec();
    a.extend_from_slice(&["--ca-file", &ca, "--tls-name", &name, "--timeout", "10"]);
    run_with(&a, STDIN_MESSAGE, env)
}

/// `smtpkit send` to Postfix submission with STARTTLS, as `$USER`, to `$RCPT`, then `args`
/// (through [`smtpkit`]).
fn submit(args: &[&str], env: &[(&str, &str)]) -> Run {
    let (sub, user, rcpt) = (var("POSTFIX_SUBMISSION"), var("USER"), var("RCPT"));
    let mut a = vec![
        "send",
        "--server",
        &sub,
        "--starttls",
        "--user",
        &user,
        "--to",
        &rcpt,
    ];
    a.extend_from_slice(args);
    smtpkit(&a, env)
}

/// The user's password, given through the environment (never on the command line).
fn password_env() -> [(&'static str, String); 1] {
    [("SMTPKIT_PASSWORD", var("PASSWORD"))]
}

fn env_refs<'a>(e: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    e.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[test]
#[ignore = "needs scripts/servers/start"]
fn submission_starttls_auth_each_mechanism_delivers() {
    let (sub, user, rcpt) = (var("POSTFIX_SUBMISSION"), var("USER"), var("RCPT"));
    let env = password_env();
    for mech in [
        None,
        Some("PLAIN"),
        Some("LOGIN"),
        Some("CRAM-MD5"),
        Some("SCRAM-SHA-256"),
    ] {
        let t = token(mech.unwrap_or("default"));
        let subject = format!("smtpkit {t}");
        let from = format!("{user}@{}", var("DOMAIN"));
        let mut args = vec![
            "send",
            "--server",
            &sub,
            "--starttls",
            "--user",
            &user,
            "--from",
            &from,
            "--to",
            &rcpt,
            "--subject",
            &subject,
            "--body",
            "Hello from smtpkit.",
            "-v",
        ];
        if let Some(m) = mech {
            args.extend_from_slice(&["--auth", m]);
        }
        let r = smtpkit(&args, &env_refs(&env));
        assert_eq!(r.code, 0, "{mech:?}: {r:?}");
        assert!(
            r.out.contains(&format!("{rcpt}\taccepted\t250 2.0.0")),
            "{r:?}"
        );
        assert!(r.err.contains("C: STARTTLS"), "{r:?}");
        let shown = mech.unwrap_or("SCRAM-SHA-256");
        assert!(
            r.err.contains(&format!("C: AUTH {shown}")),
            "{mech:?}: {r:?}"
        );
        assert!(
            !r.err.contains(&var("PASSWORD")),
            "the password must not show: {r:?}"
        );
        let stored = delivered("alice", &t);
        assert!(stored.contains("Hello from smtpkit."), "{stored}");
        assert!(stored.contains("Message-ID: <"), "{stored}");
    }
    // A wrong password: exit 1, the server's 535 on one line.
    let r = submit(&[], &[("SMTPKIT_PASSWORD", "wrong")]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.err.lines().count(), 1, "{r:?}");
    assert!(r.err.contains("535 5.7.8"), "{r:?}");
    // No AUTH: Postfix refuses to relay, every recipient, exit 1.
    let r = smtpkit(
        &["send", "--server", &sub, "--starttls", "--to", &rcpt],
        &[],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.out.contains("refused\t554 5.7.1"), "{r:?}");
    // Plaintext: MAIL is refused before STARTTLS.
    let r = smtpkit(&["send", "--server", &sub, "--to", &rcpt], &[]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.err.contains("530 5.7.0"), "{r:?}");
}

#[test]
#[ignore = "needs scripts/servers/start"]
fn submission_oauth_tokens_from_env_and_file() {
    let tok = var("OAUTH_TOKEN");
    for mech in ["XOAUTH2", "OAUTHBEARER"] {
        let r = submit(&["--auth", mech, "-v"], &[("SMTPKIT_OAUTH_TOKEN", &tok)]);
        assert_eq!(r.code, 0, "{mech}: {r:?}");
        assert!(
            r.err.contains(&format!("C: AUTH {mech} <redacted>")),
            "{r:?}"
        );
        assert!(!r.err.contains(&tok), "the token must not show: {r:?}");
    }
    let file = temp_dir("oauth").join("token");
    std::fs::write(&file, format!("{tok}\n")).unwrap();
    let r = submit(&["--oauth-token-file", file.to_str().unwrap()], &[]);
    assert_eq!(r.code, 0, "{r:?}");
    // An expired token: refused (exit 1), the 535 shown.
    let r = submit(&[], &[("SMTPKIT_OAUTH_TOKEN", &var("OAUTH_EXPIRED"))]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.err.contains("535"), "{r:?}");
}

#[test]
#[ignore = "needs scripts/servers/start"]
fn smtps_implicit_tls_ccert_and_mx() {
    let (user, rcpt, rcpt2) = (var("USER"), var("RCPT"), var("RCPT2"));
    let env = password_env();
    let r = smtpkit(
        &[
            "send",
            "--server",
            &var("POSTFIX_SMTPS"),
            "--tls",
            "--user",
            &user,
            "--to",
            &rcpt,
            "--json",
        ],
        &env_refs(&env),
    );
    assert_eq!(r.code, 0, "{r:?}");
    let v: Value = serde_json::from_str(r.out.lines().next().unwrap()).unwrap();
    assert_eq!(v["accepted"], true);
    assert_eq!(v["enhanced"], "2.0.0");

    // The client certificate the ccert listener requires.
    let ccert = var("POSTFIX_CCERT");
    let r = smtpkit(
        &["send", "--server", &ccert, "--starttls", "--to", &rcpt],
        &[],
    );
    assert_eq!(r.code, 1, "without a certificate: {r:?}");
    assert!(r.err.contains("421 4.7.1"), "{r:?}");
    let t = token("ccert");
    let r = smtpkit(
        &[
            "send",
            "--server",
            &ccert,
            "--starttls",
            "--client-cert",
            &var("CLIENT_CERT"),
            "--client-key",
            &var("CLIENT_KEY"),
            "--to",
            &rcpt,
            "--subject",
            &t,
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(delivered("alice", &t).contains("client.test.example"));

    // mx: one recipient refused beside an accepted one (exit 0), --quit-after rcpt.
    let mx = var("POSTFIX_MX");
    let unknown = var("RCPT_UNKNOWN");
    let r = smtpkit(
        &[
            "send",
            "--server",
            &mx,
            "--starttls",
            "--to",
            &rcpt2,
            "--to",
            &unknown,
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.out.contains(&format!("{unknown}\trefused\t550 5.1.1")),
        "{r:?}"
    );
    let r = smtpkit(
        &[
            "send",
            "--server",
            &mx,
            "--starttls",
            "--to",
            &rcpt,
            "--quit-after",
            "rcpt",
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.err.contains("C: QUIT") && !r.err.contains("C: DATA"),
        "{r:?}"
    );
    let r = smtpkit(
        &[
            "send",
            "--server",
            &mx,
            "--to",
            &rcpt,
            "--bdat",
            "--no-pipelining",
            "-v",
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.err.contains("C: BDAT"), "{r:?}");

    // probe: what submission offers after STARTTLS.
    let r = smtpkit(
        &[
            "probe",
            "--server",
            &var("POSTFIX_SUBMISSION"),
            "--starttls",
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.out.contains("TLS         TLSv1"), "{r:?}");
    assert!(r.out.contains("certificate verified\n"), "{r:?}");
    assert!(
        r.out
            .contains("\n  AUTH PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256"),
        "{r:?}"
    );
}

#[test]
#[ignore = "needs scripts/servers/start"]
fn dovecot_lmtp_per_recipient_results() {
    let (ok, quota) = (var("LMTP_OK_USER"), var("LMTP_QUOTA_USER"));
    let t = token("lmtp");
    // Over 1 KiB: the quota user refuses it after the data, the other takes it.
    let body = format!("{}\n", "x".repeat(70)).repeat(30);
    let r = smtpkit(
        &[
            "send",
            "--server",
            &var("LMTP"),
            "--lmtp",
            "--to",
            &ok,
            "--to",
            &quota,
            "--subject",
            &t,
            "--body",
            &body,
            "--json",
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let v: Vec<Value> = r
        .out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(v[0]["recipient"], ok.as_str());
    assert_eq!(v[0]["accepted"], true);
    assert_eq!(v[1]["recipient"], quota.as_str());
    assert_eq!(v[1]["status"], "refused");
    assert_eq!(v[1]["stage"], "the end of data");
    assert_eq!(v[1]["code"], 552);
    assert_eq!(v[1]["enhanced"], "5.2.2");
    delivered("bob", &t);
    // Only the quota user: refused, exit 1.
    let r = smtpkit(
        &[
            "send",
            "--server",
            &var("LMTP"),
            "--lmtp",
            "--to",
            &quota,
            "--body",
            &body,
        ],
        &[],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.err.contains("552 5.2.2"), "{r:?}");
}

#[test]
#[ignore = "needs scripts/servers/start"]
fn sink_faults_exit_1_with_the_reply() {
    let sink = |b: &str| var(&format!("SINK_{b}"));
    for (b, says) in [
        ("REJECT_GREETING", "554 5.3.0 Error: service refused"),
        ("REJECT_EHLO", "550 5.3.0 Error: hello refused"),
        ("REJECT_MAIL", "550 5.3.0 Error: sender refused"),
        ("REJECT_RCPT", "550 5.3.0 Error: recipient refused"),
        (
            "TEMPFAIL_RCPT",
            "450 4.3.0 Error: recipient temporarily refused",
        ),
        ("REJECT_DATA", "554 5.3.0 Error: data refused"),
        ("REJECT_DOT", "554 5.3.0 Error: message refused"),
        ("TEMPFAIL_DOT", "451 4.3.0 Error: try again later"),
        ("421_MAIL", "421 4.0.0"),
        ("421_DOT", "421 4.0.0"),
        ("DROP_GREETING", "disconnected"),
        ("DROP_DOT", "may have been accepted"),
        ("STALL_GREETING", "timed out"),
    ] {
        let addr = sink(b);
        let r = run_with(
            &[
                "send",
                "--server",
                &addr,
                "--to",
                "x@example.test",
                "--timeout",
                "2",
            ],
            b"Subject: fault\r\n\r\nx\r\n",
            &[],
        );
        assert_eq!(r.code, 1, "{b}: {r:?}");
        assert_eq!(r.err.lines().count(), 1, "{b}: {r:?}");
        assert!(r.err.contains(says), "{b}: {r:?}");
    }
    // Faults that still deliver: no PIPELINING (lock-step), no ESMTP (HELO).
    for b in ["NOPIPELINING", "NOESMTP", "SLOW_DOT"] {
        let r = run_with(
            &["send", "--server", &sink(b), "--to", "x@example.test", "-v"],
            b"Subject: ok\r\n\r\nx\r\n",
            &[],
        );
        assert_eq!(r.code, 0, "{b}: {r:?}");
        if b == "NOESMTP" {
            assert!(r.err.contains("C: HELO"), "{r:?}");
        }
    }
}

#[test]
#[ignore = "needs scripts/servers/start"]
fn bulk_against_the_sinks_and_postfix() {
    let r = run_with(
        &[
            "bulk",
            "--server",
            &var("SINK"),
            "--to",
            "x@example.test",
            "--count",
            "300",
            "-c",
            "4",
        ],
        b"",
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.out
            .contains("delivered 300, refused 0, may-have-been-delivered 0, failed 0"),
        "{r:?}"
    );

    let dir = temp_dir("bulk-real");
    let report = dir.join("report.json");
    let r = run_with(
        &[
            "bulk",
            "--server",
            &var("SINK_DROP_DOT"),
            "--to",
            "x@example.test",
            "--count",
            "5",
            "--report",
            report.to_str().unwrap(),
            "--timeout",
            "5",
        ],
        b"",
        &[],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.out
            .contains("delivered 0, refused 0, may-have-been-delivered 5, failed 0"),
        "{r:?}"
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(v["failures"].as_array().unwrap().len(), 5);
    assert_eq!(v["failures"][0]["outcome"], "may-have-been-delivered");
    assert_eq!(v["failures"][0]["retry_safe"], false);

    let r = run_with(
        &[
            "bulk",
            "--server",
            &var("SINK_REJECT_RCPT"),
            "--to",
            "x@example.test",
            "--count",
            "3",
        ],
        b"",
        &[],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.out.contains("refused 3"), "{r:?}");

    // Through Postfix submission with STARTTLS and AUTH, into the maildir.
    let t = token("bulk");
    let env = password_env();
    let (ca, name) = (var("CA"), var("TLS_NAME"));
    let r = run_with(
        &[
            "bulk",
            "--server",
            &var("POSTFIX_SUBMISSION"),
            "--starttls",
            "--ca-file",
            &ca,
            "--tls-name",
            &name,
            "--user",
            &var("USER"),
            "--to",
            &var("RCPT"),
            "--count",
            "10",
            "-c",
            "2",
            "--subject",
            &t,
        ],
        b"",
        &env_refs(&env),
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.out.contains("delivered 10,"), "{r:?}");
    delivered("alice", &t);
}

#[test]
#[ignore = "needs scripts/servers/start"]
fn send_and_probe_through_real_proxies() {
    // microsocks (SOCKS5, with username/password) and tinyproxy (HTTP CONNECT, with Basic
    // credentials) in front of Postfix submission: STARTTLS and AUTH end to end, the
    // certificate checked against the mail server's name.
    let (sub, user) = (var("POSTFIX_SUBMISSION"), var("USER"));
    let env = password_env();
    for proxy_var in [
        "PROXY_SOCKS5",
        "PROXY_SOCKS5_AUTH",
        "PROXY_HTTP",
        "PROXY_HTTP_AUTH",
    ] {
        let proxy = var(proxy_var);
        let t = token(&proxy_var.to_lowercase());
        let from = format!("{user}@{}", var("DOMAIN"));
        let r = submit(
            &["--from", &from, "--subject", &t, "--proxy", &proxy, "-v"],
            &env_refs(&env),
        );
        assert_eq!(r.code, 0, "{proxy_var}: {r:?}");
        assert!(r.err.contains("C: STARTTLS"), "{proxy_var}: {r:?}");
        delivered("alice", &t);
    }
    // probe through the HTTP proxy: what Postfix offers after STARTTLS, verified.
    let r = smtpkit(
        &[
            "probe",
            "--server",
            &sub,
            "--proxy",
            &var("PROXY_HTTP_AUTH"),
            "--json",
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let v: Value = serde_json::from_str(&r.out).unwrap();
    assert_eq!(v["tls"]["verified"], true, "{r:?}");
    assert!(
        v["ehlo_tls"]["auth"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        "{r:?}"
    );
}
