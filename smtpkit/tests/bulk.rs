//! `smtpkit bulk` and `smtpkit probe`, run as a binary against the embedded server and the
//! scripted test server.

mod common;

use common::{run, run_at, temp_dir};
use serde_json::Value;
use smtp_test_server::{Rule, Script, TestServer};

#[test]
fn bulk_copies_to_the_embedded_server() {
    let r = run(&["bulk", "--count", "60", "--connections", "3", "--starttls"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.out.contains("sent 60 messages to embedded server"),
        "{r:?}"
    );
    assert!(r.out.contains("msg/s"), "{r:?}");
    assert!(
        r.out
            .contains("delivered 60, refused 0, may-have-been-delivered 0, failed 0"),
        "{r:?}"
    );
    // No progress bar when stderr is not a terminal: stderr stays empty.
    assert!(r.err.is_empty(), "{r:?}");
}

#[test]
fn bulk_sends_each_copy_with_its_own_message_id_over_few_connections() {
    let server = TestServer::start(Script::default());
    let addr = server.addr().to_string();
    let r = run_at(
        "bulk",
        &addr,
        &[
            "--from",
            "a@example.test",
            "--to",
            "b@example.test",
            "--count",
            "40",
            "-c",
            "4",
            "--subject",
            "hello",
            "--body",
            "copy",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let msgs = server.messages();
    assert_eq!(msgs.len(), 40);
    let mut ids: Vec<String> = msgs
        .iter()
        .map(|m| {
            let text = String::from_utf8_lossy(&m.data).into_owned();
            assert!(text.contains("Subject: hello\r\n"), "{text}");
            assert_eq!(text.matches("Message-ID:").count(), 1, "{text}");
            text.lines()
                .find(|l| l.starts_with("Message-ID:"))
                .unwrap()
                .to_owned()
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 40, "every copy has its own Message-ID");
    // At most four connections (the pool reuses them).
    assert!(server.sessions().len() <= 4, "{}", server.sessions().len());
}

#[test]
fn bulk_dir_of_eml_files_with_envelopes_from_headers() {
    let dir = temp_dir("eml");
    for i in 0..5 {
        std::fs::write(
            dir.join(format!("m{i}.eml")),
            format!("From: s{i}@example.test\r\nTo: r{i}@example.test\r\nBcc: hidden@example.test\r\nSubject: {i}\r\n\r\nbody {i}\r\n"),
        )
        .unwrap();
    }
    std::fs::write(dir.join("ignored.txt"), "not a message").unwrap();
    let server = TestServer::start(Script::default());
    let addr = server.addr().to_string();
    let r = run_at("bulk", &addr, &["--dir", dir.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.out.contains("delivered 5,"), "{r:?}");
    let mut msgs = server.messages();
    msgs.sort_by(|a, b| a.from.cmp(&b.from));
    assert_eq!(msgs.len(), 5);
    for (i, m) in msgs.iter().enumerate() {
        assert_eq!(m.from, format!("s{i}@example.test"));
        assert_eq!(
            m.rcpts,
            [format!("r{i}@example.test"), "hidden@example.test".into()]
        );
        let text = String::from_utf8_lossy(&m.data);
        assert!(!text.contains("Bcc:"), "Bcc is not transmitted: {text}");
        assert!(
            text.contains("Message-ID: <") && text.contains("Date: "),
            "{text}"
        );
    }
}

#[test]
fn bulk_counts_outcomes_and_reports_failures_as_json() {
    // Every RCPT to bad@ refused; the others accepted.
    let server = TestServer::start(
        Script::default().rule(Rule::reply("RCPT TO:<bad@", "550 5.1.1 no such user")),
    );
    let addr = server.addr().to_string();
    let dir = temp_dir("report");
    let good = "From: a@example.test\r\nTo: ok@example.test\r\nSubject: ok\r\n\r\nok\r\n";
    let bad = "From: a@example.test\r\nTo: bad@example.test\r\nSubject: bad\r\n\r\nbad\r\n";
    std::fs::write(dir.join("1.eml"), good).unwrap();
    std::fs::write(dir.join("2.eml"), bad).unwrap();
    std::fs::write(dir.join("3.eml"), good).unwrap();
    let report = dir.join("report.json");
    let r = run_at(
        "bulk",
        &addr,
        &[
            "--dir",
            dir.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.out
            .contains("delivered 2, refused 1, may-have-been-delivered 0, failed 0"),
        "{r:?}"
    );
    assert_eq!(r.err.lines().count(), 1, "{r:?}");
    assert!(r.err.contains("550 5.1.1 no such user"), "{r:?}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(v["total"], 3);
    assert_eq!(v["delivered"], 2);
    assert_eq!(v["refused"], 1);
    let f = &v["failures"][0];
    assert!(f["message"].as_str().unwrap().ends_with("2.eml"), "{v}");
    assert_eq!(f["outcome"], "refused");
    assert_eq!(f["recipients"][0]["recipient"], "bad@example.test");
    assert_eq!(f["recipients"][0]["code"], 550);
    assert_eq!(f["recipients"][0]["enhanced"], "5.1.1");

    // Nothing listening: every message failed, exit 1.
    let r = run_at(
        "bulk",
        "127.0.0.1:1",
        &["--to", "x@example.test", "--count", "3", "--timeout", "2"],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.out
            .contains("delivered 0, refused 0, may-have-been-delivered 0, failed 3"),
        "{r:?}"
    );
    assert!(r.err.contains("could not connect"), "{r:?}");

    // The end of data unanswered: may have been delivered.
    let server =
        TestServer::start(Script::default().rule(Rule::new(".", smtp_test_server::Step::Close)));
    let addr = server.addr().to_string();
    let r = run_at("bulk", &addr, &["--to", "x@example.test", "--count", "1"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.out.contains("may-have-been-delivered 1"), "{r:?}");
}

#[test]
fn bulk_bad_arguments_exit_2() {
    let empty = temp_dir("empty");
    for (args, says) in [
        (&["bulk", "--count", "0"][..], "--count"),
        (&["bulk", "--connections", "0"], "--connections"),
        (&["bulk", "--dir", "/nonexistent-dir"], "--dir"),
        (&["bulk", "--dir", empty.to_str().unwrap()], "no .eml file"),
        (
            &["bulk", "--dir", empty.to_str().unwrap(), "--subject", "x"],
            "no message flags",
        ),
        (
            &["bulk", "--unix", "/tmp/x.sock", "--to", "a@example.test"],
            "--unix",
        ),
        (&["bulk", "--to", "not an address"], "recipient"),
    ] {
        let r = run(args);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert_eq!(r.err.lines().count(), 1, "{args:?}: {r:?}");
        assert!(r.err.contains(says), "{args:?}: {r:?}");
    }
    let r = run(&["bulk", "--count", "3", "--dir", "/tmp"]);
    assert_eq!(r.code, 2, "{r:?}");
}

#[test]
fn probe_prints_what_the_server_offers() {
    let r = run(&["probe", "--starttls"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.out.contains("greeting    "), "{r:?}");
    assert!(r.out.contains("TLS         TLSv1"), "{r:?}");
    assert!(r.out.contains("\n  PIPELINING\n"), "{r:?}");
    assert!(r.out.contains("\n  CHUNKING\n"), "{r:?}");

    let server = TestServer::start(Script::default());
    let addr = server.addr().to_string();
    let r = run_at("probe", &addr, &["-v"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!r.out.contains("TLS         "), "{r:?}");
    assert!(r.out.contains("\n  SIZE 10000000\n"), "{r:?}");
    assert!(r.err.contains("C: QUIT"), "{r:?}");

    let r = run_at("probe", &addr, &["--starttls"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.err.contains("does not offer STARTTLS"), "{r:?}");
    assert_eq!(r.err.lines().count(), 1, "{r:?}");
}
