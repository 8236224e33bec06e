//! `smtpkit send`, run as a binary: against the embedded server (no `--server`) and the
//! scripted test server. The first seven tests are the old `smtp-blocking` `send`
//! example's, ported.

mod common;

use common::{json_lines, run, run_at, run_with, temp_dir};
use serde_json::Value;
use smtp_test_server::{Rule, Script, Step, TestServer};

#[test]
fn embedded_server_send_succeeds_with_starttls() {
    let r = run(&[
        "send",
        "--starttls",
        "--to",
        "a@example.test",
        "--to",
        "b@example.test",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.out.contains("a@example.test\taccepted\t250"), "{r:?}");
    assert!(r.out.contains("b@example.test\taccepted"), "{r:?}");
    // The embedded server shows the transcript without -v, and what it received.
    assert!(r.err.contains("C: STARTTLS"), "{r:?}");
    assert!(
        r.err.contains("C: MAIL FROM:<sender@example.test>"),
        "{r:?}"
    );
    assert!(
        r.err.contains("embedded server: received")
            && r.err
                .contains("for <a@example.test>, <b@example.test> (TLS)"),
        "{r:?}"
    );
}

#[test]
fn embedded_implicit_tls_lmtp_and_auth() {
    let r = run(&["send", "--tls", "--user", "u", "--password", "p", "-v"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.err.contains("C: AUTH PLAIN <redacted>"), "{r:?}");
    assert!(r.err.contains("S: 235"), "{r:?}");
    assert!(
        !r.err.contains("AHUAcA"),
        "credentials must be redacted: {r:?}"
    );
    assert!(r.err.contains("(TLS, authenticated as u)"), "{r:?}");
    let r = run(&["send", "--lmtp"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.err.contains("C: LHLO"), "{r:?}");
    assert!(
        r.out.contains("rcpt@example.test\taccepted\t250 2.0.0"),
        "{r:?}"
    );
}

#[test]
fn bad_arguments_exit_2_with_one_line() {
    for args in [
        &["send", "--bogus"][..],
        &["send", "--timeout"],
        &["send", "--timeout", "-1"],
        &["send", "--timeout", "soon"],
        &["send", "--tls", "--starttls"],
        &["send", "--starttls", "--starttls-optional"],
        &["send", "--server", "127.0.0.1:1"], // --to missing
        &["send", "--server", "127.0.0.1:1", "--unix", "/tmp/x"],
        &["send", "--quit-after", "never"],
        &[
            "send",
            "--auth",
            "DIGEST-MD5",
            "--user",
            "u",
            "--password",
            "p",
        ],
        &["send", "--client-cert", "/nonexistent.pem"],
        &["send", "--body-file", "m.eml", "--subject", "x"],
        &["bogus"],
        &[],
    ] {
        let r = run(args);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(r.out.is_empty(), "{args:?}: {r:?}");
    }
    // The tool's own checks: exactly one line, naming the problem.
    for (args, says) in [
        (&["send", "--user", "u"][..], "--user needs a password"),
        (&["send", "--auth", "PLAIN"], "--auth PLAIN needs --user"),
        (&["send", "--server", "127.0.0.1:1"], "--to is required"),
        (
            &["send", "--to", "not an address"],
            "recipient \"not an address\"",
        ),
        (&["send", "--from", "a b@x"], "sender \"a b@x\""),
        (&["send", "--helo", "bad name!"], "bad --helo"),
        (&["send", "--header", "NoColon"], "bad --header"),
        (&["send", "--header", "Bad Name: x"], "bad --header"),
        (
            &["send", "--attach", "/nonexistent/file.pdf"],
            "--attach /nonexistent/file.pdf",
        ),
        (
            &["send", "--body-file", "/nonexistent.eml"],
            "--body-file /nonexistent.eml",
        ),
        (
            &["send", "--ca-file", "/nonexistent.pem"],
            "--ca-file /nonexistent.pem",
        ),
        (
            &["send", "--password-file", "/nonexistent", "--user", "u"],
            "--password-file",
        ),
        (
            &[
                "send",
                "--auth",
                "XOAUTH2",
                "--user",
                "u",
                "--password",
                "p",
            ],
            "needs an OAuth token",
        ),
        (
            &[
                "send",
                "--auth",
                "CRAM-MD5",
                "--user",
                "u",
                "--oauth-token",
                "t",
            ],
            "--user needs a password",
        ),
    ] {
        let r = run(args);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert_eq!(r.err.lines().count(), 1, "{args:?}: {r:?}");
        assert!(r.err.starts_with("smtpkit send: "), "{args:?}: {r:?}");
        assert!(r.err.contains(says), "{args:?}: {r:?}");
    }
}

#[test]
fn refused_and_failed_exit_1_with_one_line() {
    let server = TestServer::start(Script::default().rule(Rule::reply("RCPT", "550 5.1.1 nope")));
    let addr = server.addr().to_string();
    let r = run_at("send", &addr, &["--to", "x@example.test"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.out.contains("x@example.test\trefused\t550 5.1.1 nope"),
        "{r:?}"
    );
    assert_eq!(r.err.lines().count(), 1, "{r:?}");
    assert!(
        r.err.contains("550 5.1.1 nope"),
        "the server's reply: {r:?}"
    );

    // STARTTLS required but not offered.
    let server = TestServer::start(Script::default());
    let addr = server.addr().to_string();
    let r = run_at("send", &addr, &["--starttls", "--to", "x@example.test"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.err
            .starts_with("smtpkit send: TLS is required but the server does not offer STARTTLS"),
        "{r:?}"
    );
    assert!(r.err.contains("TlsPolicy::Never"), "{r:?}");
    assert!(r.err.contains("--starttls-optional"), "{r:?}");
    assert_eq!(r.err.lines().count(), 1, "{r:?}");

    // Nothing listening.
    let r = run_at(
        "send",
        "127.0.0.1:1",
        &["--to", "x@example.test", "--timeout", "2"],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.err.contains("could not connect"), "{r:?}");
    assert_eq!(r.err.lines().count(), 1, "{r:?}");

    // The data refused: exit 1, the reply on the one line.
    let server = TestServer::start(Script::default().rule(Rule::reply(".", "554 5.7.1 spam")));
    let addr = server.addr().to_string();
    let r = run_at("send", &addr, &["--to", "x@example.test"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.err.contains("message refused: 554 5.7.1 spam"), "{r:?}");
    assert!(
        r.out.contains("x@example.test\trefused\t554 5.7.1 spam"),
        "{r:?}"
    );

    // One recipient of two accepted: exit 0, both shown.
    let server = TestServer::start(
        Script::default().rule(Rule::reply("RCPT TO:<bad@", "550 5.1.1 no such user")),
    );
    let addr = server.addr().to_string();
    let r = run_at(
        "send",
        &addr,
        &["--to", "good@example.test", "--to", "bad@example.test"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.out.contains("good@example.test\taccepted\t250"), "{r:?}");
    assert!(
        r.out
            .contains("bad@example.test\trefused\t550 5.1.1 no such user"),
        "{r:?}"
    );
}

#[test]
fn stdin_body_with_server() {
    let server = TestServer::start(Script::default());
    let addr = server.addr().to_string();
    let r = run_at(
        "send",
        &addr,
        &["--starttls-optional", "--to", "x@example.test"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    // Date and Message-ID were missing: added in front, the rest as given.
    let data = String::from_utf8(server.messages()[0].data.clone()).unwrap();
    assert!(data.starts_with("Date: "), "{data}");
    assert!(data.contains("\r\nMessage-ID: <"), "{data}");
    assert!(
        data.ends_with("\r\nSubject: from stdin\r\n\r\nhi\r\n"),
        "{data}"
    );
    // No --from: the envelope sender is the message's own (none here: ...).
    assert_eq!(server.messages()[0].from, "sender@example.test");

    // A complete message goes out byte for byte, its sender from its From header.
    let msg = b"From: Alice <alice@example.test>\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\nMessage-Id: <m1@example.test>\r\nSubject: as is\r\n\r\n.leading dot\r\nbody\r\n";
    let r = run_with(
        &[
            "send",
            "--server",
            &addr,
            "--to",
            "y@example.test",
            "--body-file",
            "-",
        ],
        msg,
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let m = &server.messages()[1];
    assert_eq!(m.data, msg);
    assert_eq!(m.from, "alice@example.test");
    assert_eq!(m.rcpts, ["y@example.test"]);
}

#[test]
fn no_tls_flag_means_plaintext() {
    // The server offers STARTTLS with a certificate the default roots do not trust.
    let server = TestServer::start(Script {
        starttls: true,
        ..Script::default()
    });
    let addr = server.addr().to_string();
    let r = run_at("send", &addr, &["--to", "x@example.test", "-v"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.out.contains("x@example.test\taccepted\t250"), "{r:?}");
    assert!(
        r.err
            .lines()
            .any(|l| l.starts_with("S: 250") && l.ends_with("STARTTLS")),
        "{r:?}"
    );
    assert!(
        !r.err.contains("C: STARTTLS"),
        "no flag must mean plaintext: {r:?}"
    );

    // --starttls-optional tries it, and the unverifiable certificate fails the session.
    let r = run_at(
        "send",
        &addr,
        &["--starttls-optional", "--to", "x@example.test"],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.err.contains("not signed by a trusted authority"), "{r:?}");

    // --insecure accepts it, and says so loudly.
    let r = run_at(
        "send",
        &addr,
        &["--starttls", "--insecure", "--to", "x@example.test"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.err.contains("WARNING: --insecure"), "{r:?}");
    // --ca-file with the right CA verifies it.
    let dir = temp_dir("ca");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, smtp_test_server::CA_PEM).unwrap();
    let r = run_at(
        "send",
        &addr,
        &[
            "--starttls",
            "--ca-file",
            ca.to_str().unwrap(),
            "--tls-name",
            "localhost",
            "--to",
            "x@example.test",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(server.sessions().last().unwrap().tls);
}

#[test]
fn verbose_shows_the_transcript_of_a_session_that_fails_early() {
    let server =
        TestServer::start(Script::default().rule(Rule::reply("GREETING", "554 5.3.2 go away")));
    let addr = server.addr().to_string();
    let r = run_at("send", &addr, &["--to", "x@example.test", "-v"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.err.contains("S: 554 5.3.2 go away"), "{r:?}");
    assert!(r.err.contains("C: QUIT"), "{r:?}");
    assert!(
        r.err.lines().last().unwrap().starts_with("smtpkit send: "),
        "{r:?}"
    );
    assert!(
        r.err.lines().last().unwrap().contains("554 5.3.2 go away"),
        "{r:?}"
    );
    // Without -v, only the line.
    let r = run_at("send", &addr, &["--to", "x@example.test"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.err.lines().count(), 1, "{r:?}");
}

#[test]
fn quit_after_stops_at_each_step_and_quits() {
    let script = Script {
        starttls: true,
        auth: Some(("u".into(), "p".into())),
        ..Script::default()
    };
    let server = TestServer::start(script);
    let addr = server.addr().to_string();
    let ca = temp_dir("qa").join("ca.pem");
    std::fs::write(&ca, smtp_test_server::CA_PEM).unwrap();
    let base = [
        "send",
        "--server",
        &addr,
        "--starttls",
        "--ca-file",
        ca.to_str().unwrap(),
        "--tls-name",
        "localhost",
        "--user",
        "u",
        "--password",
        "p",
        "--to",
        "x@example.test",
        "--quit-after",
    ];
    // What the server got, per step (after the greeting; TLS hides nothing from it).
    let expect: [(&str, &[&str]); 7] = [
        ("connect", &[]),
        ("greeting", &["QUIT"]),
        ("ehlo", &["EHLO", "QUIT"]),
        ("tls", &["EHLO", "STARTTLS", "EHLO", "QUIT"]),
        ("auth", &["EHLO", "STARTTLS", "EHLO", "AUTH", "QUIT"]),
        (
            "mail",
            &["EHLO", "STARTTLS", "EHLO", "AUTH", "MAIL", "QUIT"],
        ),
        (
            "rcpt",
            &["EHLO", "STARTTLS", "EHLO", "AUTH", "MAIL", "RCPT", "QUIT"],
        ),
    ];
    for (i, (step, commands)) in expect.iter().enumerate() {
        let mut args = base.to_vec();
        args.push(step);
        let r = run(&args);
        assert_eq!(r.code, 0, "{step}: {r:?}");
        // The transcript is shown without -v.
        if *step != "connect" {
            assert!(r.err.contains("S: 220 "), "{step}: {r:?}");
            assert!(r.err.contains("C: QUIT"), "{step}: {r:?}");
        } else {
            assert!(!r.err.contains("C: QUIT"), "{step}: {r:?}");
        }
        assert!(!r.err.contains("C: DATA"), "{step}: {r:?}");
        // Wait for the server to log the session and read its commands (the client may
        // exit before the server's thread has read the QUIT).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while server
            .sessions()
            .get(i)
            .is_none_or(|s| s.commands.len() < commands.len())
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let got: Vec<String> = server.sessions()[i]
            .commands
            .iter()
            .map(|c| {
                c.split([' ', ':'])
                    .next()
                    .unwrap_or_default()
                    .to_uppercase()
            })
            .collect();
        assert_eq!(got, *commands, "{step}: {r:?}");
        match *step {
            "mail" => assert!(
                r.out.contains("MAIL FROM:<sender@example.test>\t250"),
                "{r:?}"
            ),
            "rcpt" => assert!(r.out.contains("RCPT TO:<x@example.test>\t250"), "{r:?}"),
            _ => assert!(r.out.is_empty(), "{step}: {r:?}"),
        }
    }
    assert!(server.messages().is_empty());

    // A refusal at the step: exit 1, the reply on one line.
    let server = TestServer::start(Script::default().rule(Rule::reply("RCPT", "550 5.1.1 nope")));
    let addr = server.addr().to_string();
    let r = run_at(
        "send",
        &addr,
        &["--to", "x@example.test", "--quit-after", "rcpt"],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.out.contains("RCPT TO:<x@example.test>\t550 5.1.1 nope"),
        "{r:?}"
    );
    assert!(
        r.err.lines().last().unwrap().contains("550 5.1.1 nope"),
        "{r:?}"
    );
}

#[test]
fn json_results_one_object_per_recipient() {
    let server = TestServer::start(Script::default().rule(Rule::reply(
        "RCPT TO:<bad@",
        "550 5.1.1 <bad@example.test>: no such user",
    )));
    let addr = server.addr().to_string();
    let r = run_at(
        "send",
        &addr,
        &[
            "--to",
            "good@example.test",
            "--to",
            "bad@example.test",
            "--json",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let v: Vec<Value> = json_lines(&r.out);
    assert_eq!(v.len(), 2, "{r:?}");
    assert_eq!(v[0]["recipient"], "good@example.test");
    assert_eq!(v[0]["accepted"], true);
    assert_eq!(v[0]["status"], "accepted");
    assert_eq!(v[0]["code"], 250);
    assert_eq!(v[1]["recipient"], "bad@example.test");
    assert_eq!(v[1]["accepted"], false);
    assert_eq!(v[1]["status"], "refused");
    assert_eq!(v[1]["stage"], "RCPT");
    assert_eq!(v[1]["code"], 550);
    assert_eq!(v[1]["enhanced"], "5.1.1");
    assert_eq!(v[1]["reply"], "550 5.1.1 <bad@example.test>: no such user");

    // A session that failed: every recipient, with the error.
    let r = run_at(
        "send",
        "127.0.0.1:1",
        &["--to", "a@x.test", "--to", "b@x.test", "--json"],
    );
    assert_eq!(r.code, 1, "{r:?}");
    let v: Vec<Value> = json_lines(&r.out);
    assert_eq!(v.len(), 2, "{r:?}");
    assert_eq!(v[1]["status"], "failed");
    assert!(
        v[1]["error"]
            .as_str()
            .unwrap()
            .contains("could not connect"),
        "{r:?}"
    );

    // The end of data unanswered: "unknown" (may have been delivered).
    let server = TestServer::start(Script::default().rule(Rule::new(".", Step::Close)));
    let addr = server.addr().to_string();
    let r = run_at("send", &addr, &["--to", "a@x.test", "--json"]);
    assert_eq!(r.code, 1, "{r:?}");
    let v: Value = serde_json::from_str(r.out.lines().next().unwrap()).unwrap();
    assert_eq!(v["status"], "unknown", "{r:?}");
    assert!(r.err.contains("may have been accepted"), "{r:?}");
}

#[test]
fn builds_a_mime_message_with_headers_and_attachments() {
    let server = TestServer::start(Script::default());
    let addr = server.addr().to_string();
    let dir = temp_dir("attach");
    let pdf = dir.join("report.pdf");
    std::fs::write(&pdf, b"%PDF-1.4 not really\x00\xff").unwrap();
    let txt = dir.join("notes.txt");
    std::fs::write(&txt, "some notes\n").unwrap();
    let r = run_at(
        "send",
        &addr,
        &[
            "--from",
            "alice@example.test",
            "--to",
            "bob@example.test",
            "--subject",
            "Quarterly report",
            "--header",
            "X-Campaign: q4",
            "--header",
            "Reply-To: desk@example.test",
            "--body",
            "Hello Bob,\nthe report is attached.\n",
            "--attach",
            pdf.to_str().unwrap(),
            "--attach",
            txt.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let m = &server.messages()[0];
    assert_eq!(m.from, "alice@example.test");
    let text = String::from_utf8_lossy(&m.data);
    for needle in [
        "From: <alice@example.test>\r\n",
        "To: <bob@example.test>\r\n",
        "Subject: Quarterly report\r\n",
        "X-Campaign: q4\r\n",
        "Reply-To: desk@example.test\r\n",
        "Message-ID: <",
        "Date: ",
        "MIME-Version: 1.0\r\n",
        "Content-Type: multipart/mixed",
        "Content-Type: application/pdf",
        "filename=\"report.pdf\"",
        "Content-Type: text/plain",
        "filename=\"notes.txt\"",
        "Hello Bob,",
    ] {
        assert!(text.contains(needle), "{needle:?} in {text}");
    }
    // The binary attachment is encoded: nothing but 7-bit text goes out.
    assert!(m.data.iter().all(|&b| b < 0x80 && b != 0), "{text}");
}

#[test]
fn explicit_mechanisms_and_secrets_from_env_and_files() {
    let dir = temp_dir("secrets");
    let pw = dir.join("pw");
    std::fs::write(&pw, "s3cret\n").unwrap();
    for mech in ["PLAIN", "LOGIN", "plain"] {
        let r = run_with(
            &["send", "--starttls", "--auth", mech, "--user", "alice"],
            b"",
            &[("SMTPKIT_PASSWORD", "s3cret")],
        );
        assert_eq!(r.code, 0, "{mech}: {r:?}");
        assert!(
            r.err.contains(&format!("C: AUTH {}", mech.to_uppercase())),
            "{mech}: {r:?}"
        );
        assert!(r.err.contains("authenticated as alice"), "{mech}: {r:?}");
    }
    let r = run(&[
        "send",
        "--starttls",
        "--user",
        "alice",
        "--password-file",
        pw.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    // SCRAM-SHA-1 by name: the embedded server does not know it (504), so exit 1 with the
    // reply; the client's first message is redacted in the transcript.
    let r = run(&[
        "send",
        "--starttls",
        "--auth",
        "SCRAM-SHA-1",
        "--user",
        "alice",
        "--password-file",
        pw.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.err.contains("C: AUTH SCRAM-SHA-1 <redacted>"), "{r:?}");
    assert!(r.err.lines().last().unwrap().contains("504 5.5.4"), "{r:?}");
    // OAuth: the embedded server takes the token given.
    for (args, mech) in [
        (&["--auth", "XOAUTH2"][..], "XOAUTH2"),
        (&["--auth", "OAUTHBEARER"], "OAUTHBEARER"),
        (&[], "OAUTHBEARER"),
    ] {
        let mut a = vec!["send", "--tls", "--user", "alice@example.test"];
        a.extend_from_slice(args);
        let r = run_with(&a, b"", &[("SMTPKIT_OAUTH_TOKEN", "tok-123")]);
        assert_eq!(r.code, 0, "{args:?}: {r:?}");
        assert!(
            r.err.contains(&format!("C: AUTH {mech} <redacted>")),
            "{r:?}"
        );
        assert!(!r.err.contains("tok-123"), "the token must not show: {r:?}");
    }
    // A wrong password against a real check: exit 1 with the 535.
    let server = TestServer::start(Script {
        auth: Some(("alice".into(), "right".into())),
        ..Script::default()
    });
    let addr = server.addr().to_string();
    // Plaintext AUTH is refused by the client itself: TLS is needed.
    let r = run_at(
        "send",
        &addr,
        &[
            "--to",
            "x@example.test",
            "--user",
            "alice",
            "--password",
            "wrong",
        ],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.err.contains("credentials over an unencrypted connection"),
        "{r:?}"
    );
    let r = run_at(
        "send",
        &addr,
        &[
            "--to",
            "x@example.test",
            "--user",
            "alice",
            "--password",
            "wrong",
            "--tls",
        ],
    );
    assert_eq!(r.code, 1, "{r:?}");
}

#[test]
fn pipelining_off_and_bdat() {
    let r = run(&[
        "send",
        "--no-pipelining",
        "--to",
        "a@example.test",
        "--to",
        "b@example.test",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    // Lock-step: every command's reply before the next command.
    let lines: Vec<&str> = r
        .err
        .lines()
        .filter(|l| l.starts_with("C: ") || l.starts_with("S: "))
        .collect();
    let mail = lines.iter().position(|l| l.starts_with("C: MAIL")).unwrap();
    assert!(lines[mail + 1].starts_with("S: 250"), "{r:?}");
    assert!(lines[mail + 3].starts_with("S: 250"), "{r:?}");
    let r = run(&["send", "--bdat", "--to", "a@example.test"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.err.contains("C: BDAT "), "{r:?}");
    assert!(
        r.err.contains("(BDAT)"),
        "the embedded server saw BDAT: {r:?}"
    );
    // BDAT to a server without CHUNKING: exit 1, saying so.
    let server = TestServer::start(Script::default());
    let addr = server.addr().to_string();
    let r = run_at("send", &addr, &["--bdat", "--to", "a@example.test"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.err.contains("CHUNKING"), "{r:?}");
}

#[cfg(unix)]
#[test]
fn unix_socket_lmtp() {
    let path = temp_dir("unix").join("lmtp.sock");
    let server = TestServer::start_unix(
        Script {
            lmtp: true,
            lmtp_refuse: vec!["full@example.test".into()],
            ..Script::default()
        },
        &path,
    );
    let r = run(&[
        "send",
        "--unix",
        path.to_str().unwrap(),
        "--lmtp",
        "--to",
        "ok@example.test",
        "--to",
        "full@example.test",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.out.contains("ok@example.test\taccepted\t250"), "{r:?}");
    assert!(r.out.contains("full@example.test\trefused\t"), "{r:?}");
    assert_eq!(server.messages().len(), 1);
}

#[test]
fn help_and_version() {
    let r = run(&["--help"]);
    assert_eq!(r.code, 0, "{r:?}");
    for sub in ["send", "probe", "bulk"] {
        assert!(r.out.contains(sub), "{r:?}");
    }
    let r = run(&["send", "--help"]);
    assert_eq!(r.code, 0, "{r:?}");
    for flag in [
        "--quit-after",
        "--insecure",
        "--password-file",
        "SMTPKIT_PASSWORD",
        "--attach",
        "--json",
    ] {
        assert!(r.out.contains(flag), "{flag}: {r:?}");
    }
    let r = run(&["--version"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.out.starts_with("smtpkit "), "{r:?}");
}

#[test]
fn through_socks5_and_http_connect_proxies() {
    use smtp_test_server::proxy::{ProxyMode, TestProxy};
    // The embedded server behind each kind of proxy, STARTTLS end to end through the
    // tunnel (the certificate is the embedded server's, checked as usual).
    for (scheme, mode) in [
        ("socks5h", ProxyMode::Socks5 { credentials: None }),
        ("socks5", ProxyMode::Socks5 { credentials: None }),
        ("http", ProxyMode::Http { credentials: None }),
    ] {
        let proxy = TestProxy::start(mode);
        let url = format!("{scheme}://{}", proxy.addr());
        let r = run(&[
            "send",
            "--starttls",
            "--proxy",
            &url,
            "--to",
            "a@example.test",
        ]);
        assert_eq!(r.code, 0, "{url}: {r:?}");
        assert!(
            r.out.contains("a@example.test\taccepted\t250"),
            "{url}: {r:?}"
        );
        assert!(r.err.contains("C: STARTTLS"), "{url}: {r:?}");
        assert_eq!(proxy.asked().len(), 1, "{url}: {:?}", proxy.asked());
    }
    // Credentials, from the URL.
    let creds = Some(("pu".to_owned(), "pp".to_owned()));
    let proxy = TestProxy::start(ProxyMode::Socks5 { credentials: creds });
    let url = format!("socks5h://pu:pp@{}", proxy.addr());
    let r = run(&["send", "--proxy", &url, "--to", "a@example.test"]);
    assert_eq!(r.code, 0, "{r:?}");
    // A wrong password: exit 1, one line naming the proxy, the password not shown.
    let url = format!("socks5h://pu:wrong@{}", proxy.addr());
    let r = run(&["send", "--proxy", &url, "--to", "a@example.test"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.err.to_lowercase().contains("proxy"), "{r:?}");
    assert!(!r.err.contains("wrong"), "{r:?}");
    // A proxy that refuses: exit 1, a proxy fault.
    let refusing = TestProxy::start(ProxyMode::Scripted(vec![
        b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n".to_vec(),
    ]));
    let url = format!("http://{}", refusing.addr());
    let r = run(&["send", "--proxy", &url, "--to", "a@example.test"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.err.contains("403"), "{r:?}");
    // Bad URLs and --unix: exit 2 with one line.
    for args in [
        &[
            "send",
            "--proxy",
            "ftp://127.0.0.1:21",
            "--to",
            "a@example.test",
        ][..],
        &["send", "--proxy", "socks5://", "--to", "a@example.test"][..],
        &[
            "send",
            "--proxy",
            "socks5h://127.0.0.1:1080",
            "--unix",
            "/tmp/x.sock",
            "--to",
            "a@example.test",
        ][..],
    ] {
        let r = run(args);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        // One line says what is wrong (clap adds its "--help" hint below it).
        let first = r.err.lines().next().unwrap_or_default();
        assert!(
            first.contains("proxy") || first.contains("--unix"),
            "{args:?}: {r:?}"
        );
    }
}
