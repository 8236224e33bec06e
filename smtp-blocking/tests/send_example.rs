//! The `send` example's exit codes and output, through the function its `main` calls.

#[path = "../examples/send/cli.rs"]
mod cli;

use smtp_test_server::{Rule, Script, TestServer};

fn run(args: &[&str]) -> (i32, String, String) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut stdin: &[u8] = b"Subject: from stdin\r\n\r\nhi\r\n";
    let code = cli::run(&args, &mut stdin, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn embedded_server_send_succeeds_with_starttls() {
    let (code, out, err) = run(&[
        "--starttls",
        "--to",
        "a@example.test",
        "--to",
        "b@example.test",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("a@example.test\taccepted\t250"), "{out}");
    assert!(out.contains("b@example.test\taccepted"), "{out}");
    assert!(err.contains("C: STARTTLS"), "{err}");
    assert!(err.contains("C: MAIL FROM:<sender@example.test>"), "{err}");
}

#[test]
fn embedded_implicit_tls_lmtp_and_auth() {
    let (code, _, err) = run(&["--tls", "--user", "u", "--password", "p", "-v"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("AUTH"), "{err}");
    assert!(
        !err.contains("AHUAcA"),
        "credentials must be redacted: {err}"
    );
    let (code, out, err) = run(&["--lmtp"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("rcpt@example.test\taccepted\t250 2.1.5"),
        "{out}"
    );
}

#[test]
fn bad_arguments_exit_2() {
    assert_eq!(run(&["--bogus"]).0, 2);
    assert_eq!(run(&["--timeout"]).0, 2);
    assert_eq!(run(&["--tls", "--starttls"]).0, 2);
    assert_eq!(run(&["--user", "u"]).0, 2);
    assert_eq!(run(&["--server", "127.0.0.1:1"]).0, 2); // --to missing
}

#[test]
fn refused_and_failed_exit_1_with_one_line() {
    let server = TestServer::start(Script::default().rule(Rule::reply("RCPT", "550 5.1.1 nope")));
    let addr = server.addr().to_string();
    let (code, out, err) = run(&["--server", &addr, "--to", "x@example.test"]);
    assert_eq!(code, 1);
    assert!(
        out.contains("x@example.test\trefused\t550 5.1.1 nope"),
        "{out}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    // STARTTLS required but not offered.
    let server = TestServer::start(Script::default());
    let addr = server.addr().to_string();
    let (code, _, err) = run(&["--server", &addr, "--starttls", "--to", "x@example.test"]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("send: TLS is required but the server does not offer STARTTLS"),
        "{err}"
    );
    assert!(err.contains("TlsPolicy::Never"), "{err}");

    // Nothing listening.
    let (code, _, err) = run(&[
        "--server",
        "127.0.0.1:1",
        "--to",
        "x@example.test",
        "--timeout",
        "2",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("could not connect"), "{err}");
}

#[test]
fn stdin_body_with_server() {
    let server = TestServer::start(Script::default());
    let addr = server.addr().to_string();
    let (code, _, err) = run(&[
        "--server",
        &addr,
        "--starttls-optional",
        "--to",
        "x@example.test",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        server.messages()[0].data,
        b"Subject: from stdin\r\n\r\nhi\r\n"
    );
}

#[test]
fn no_tls_flag_means_plaintext() {
    // The server offers STARTTLS with a certificate the default roots do not trust.
    let server = TestServer::start(Script {
        starttls: true,
        ..Script::default()
    });
    let addr = server.addr().to_string();
    let (code, out, err) = run(&["--server", &addr, "--to", "x@example.test", "-v"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("x@example.test\taccepted\t250"), "{out}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("S: 250") && l.ends_with("STARTTLS")),
        "{err}"
    );
    assert!(
        !err.contains("C: STARTTLS"),
        "no flag must mean plaintext: {err}"
    );

    // --starttls-optional tries it, and the unverifiable certificate fails the session.
    let (code, _, err) = run(&[
        "--server",
        &addr,
        "--starttls-optional",
        "--to",
        "x@example.test",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not signed by a trusted authority"), "{err}");
}

#[test]
fn verbose_shows_the_transcript_of_a_session_that_fails_early() {
    let server =
        TestServer::start(Script::default().rule(Rule::reply("GREETING", "554 5.3.2 go away")));
    let addr = server.addr().to_string();
    let (code, _, err) = run(&["--server", &addr, "--to", "x@example.test", "-v"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("S: 554 5.3.2 go away"), "{err}");
    assert!(err.contains("C: QUIT"), "{err}");
    assert!(err.lines().last().unwrap().starts_with("send: "), "{err}");
}
