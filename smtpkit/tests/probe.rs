//! `smtpkit probe` run as a program: against the embedded server, against smtp-sink
//! loopback servers with a trusted and an untrusted CA, plaintext and implicit TLS, bad
//! arguments and a closed port. The test against real Postfix (`#[ignore]`) runs in the
//! real-servers stage of `scripts/test-all`.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use smtp_sink::{Config, Sink, TlsMode};

fn smtpkit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_smtpkit"))
        .args(args)
        .output()
        .expect("run smtpkit")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

fn sink(tls: TlsMode) -> Sink {
    Sink::start(Config {
        tls,
        size_limit: 1_000_000,
        ..Config::default()
    })
    .expect("sink")
}

/// A file holding `pem`, removed on drop.
struct TempPem(PathBuf);

impl TempPem {
    fn new(pem: &str) -> TempPem {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("smtpkit-probe-{}-{n}.pem", std::process::id()));
        std::fs::write(&p, pem).expect("write PEM");
        TempPem(p)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("UTF-8 path")
    }
}

impl Drop for TempPem {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn embedded_server_is_probed_before_and_after_starttls() {
    let o = smtpkit(&["probe"]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{text}{}", stderr(&o));
    for want in [
        "(embedded smtp-sink), SMTP, TLS mode starttls-optional",
        "EHLO (plaintext): smtpkit-embedded.localhost",
        "  STARTTLS\n",
        "TLSv1.3, TLS13_",
        "certificate verified\n",
        "[0] subject   CN=localhost",
        "SANs      DNS:localhost, IP:127.0.0.1",
        "issuer    CN=smtp-bench-sink test CA",
        "EHLO (TLS): smtpkit-embedded.localhost",
        "  -> STARTTLS: not offered",
        "TLS handshake ",
        "EHLO after TLS ",
    ] {
        assert!(text.contains(want), "{want:?} in\n{text}");
    }
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
}

#[test]
fn json_report_of_a_trusted_starttls_server() {
    let s = sink(TlsMode::StartTls);
    let ca = TempPem::new(s.ca_pem().unwrap());
    let addr = s.addr().to_string();
    let o = smtpkit(&["probe", "--server", &addr, "--ca-file", ca.path(), "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["server"], addr.as_str());
    assert_eq!(v["embedded"], false);
    assert_eq!(v["ehlo"]["size"], 1_000_000);
    assert_eq!(v["ehlo"]["starttls"], true);
    let kw: Vec<&str> = v["ehlo"]["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["keyword"].as_str().unwrap())
        .collect();
    assert!(
        kw.contains(&"PIPELINING") && kw.contains(&"STARTTLS"),
        "{kw:?}"
    );
    assert_eq!(v["ehlo_tls"]["starttls"], false);
    let tls = &v["tls"];
    assert_eq!(tls["verified"], true);
    assert_eq!(tls["completed"], true);
    assert_eq!(tls["verification"], "verified");
    assert!(tls["version"].as_str().unwrap().starts_with("TLSv1."));
    assert!(tls["cipher_suite"].as_str().unwrap().starts_with("TLS"));
    let chain = tls["certificates"].as_array().unwrap();
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[0]["subject"], "CN=localhost");
    assert_eq!(chain[0]["is_ca"], false);
    assert_eq!(chain[1]["is_ca"], true);
    assert!(chain[0]["not_after_unix"].as_i64() > chain[0]["not_before_unix"].as_i64());
    for phase in [
        "connect",
        "greeting",
        "ehlo",
        "starttls",
        "tls_handshake",
        "ehlo_after_tls",
    ] {
        assert!(v["timings_ms"][phase].as_f64().is_some(), "{phase}: {v}");
    }
    assert!(v["error"].is_null());
}

#[test]
fn untrusted_ca_shows_the_chain_and_why_it_is_not_verified() {
    let s = sink(TlsMode::StartTls);
    let addr = s.addr().to_string();
    // The built-in roots do not know the sink's throwaway CA.
    let o = smtpkit(&["probe", "--server", &addr, "--starttls"]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    for want in [
        "EHLO (plaintext): sink.example.test",
        "TLS         TLSv1.3, TLS13_",
        " (handshake failed)\n",
        "certificate not verified, because it is not signed by a trusted authority",
        "[0] subject   CN=localhost",
        "[1] subject   CN=smtp-bench-sink test CA",
        "FAILED      ",
    ] {
        assert!(text.contains(want), "{want:?} in\n{text}");
    }
    assert!(!text.contains("EHLO (TLS)"), "{text}");
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("smtpkit probe: ") && err.contains("certificate"),
        "{err}"
    );

    let o = smtpkit(&["probe", "--server", &addr, "--starttls", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v = json(&o);
    assert_eq!(v["tls"]["verified"], false);
    assert_eq!(v["tls"]["completed"], false);
    assert_eq!(v["tls"]["certificates"].as_array().unwrap().len(), 2);
    assert!(v["error"].as_str().is_some());
    assert!(v["ehlo_tls"].is_null());

    // Checks off: the probe completes and says the chain was not checked.
    let o = smtpkit(&["probe", "--server", &addr, "--insecure"]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(text.contains("certificate not verified, because certificate checks are off"));
    assert!(text.contains("EHLO (TLS): sink.example.test"), "{text}");
}

#[test]
fn implicit_tls_and_plaintext_servers() {
    let s = sink(TlsMode::Implicit);
    let ca = TempPem::new(s.ca_pem().unwrap());
    let addr = s.addr().to_string();
    let o = smtpkit(&[
        "probe",
        "--server",
        &addr,
        "--tls",
        "--ca-file",
        ca.path(),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["tls_mode"], "implicit");
    assert!(v["ehlo"].is_null());
    assert_eq!(v["ehlo_tls"]["domain"], "sink.example.test");
    assert_eq!(v["tls"]["verified"], true);
    assert!(v["timings_ms"]["starttls"].is_null());
    assert!(v["timings_ms"]["tls_handshake"].as_f64().is_some());

    let s = sink(TlsMode::Plain);
    let addr = s.addr().to_string();
    let o = smtpkit(&["probe", "--server", &addr, "-v"]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(text.contains("  -> STARTTLS: not offered"), "{text}");
    assert!(!text.contains("TLS         "), "{text}");
    // -v: the transcript on stderr.
    assert!(stderr(&o).contains("C: EHLO "), "{}", stderr(&o));

    // --plain never upgrades, even when STARTTLS is offered.
    let s = sink(TlsMode::StartTls);
    let o = smtpkit(&[
        "probe",
        "--server",
        &s.addr().to_string(),
        "--plain",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let v = json(&o);
    assert_eq!(v["ehlo"]["starttls"], true);
    assert!(v["tls"].is_null() && v["ehlo_tls"].is_null());
}

#[test]
fn embedded_lmtp_server_is_probed_with_lhlo() {
    let o = smtpkit(&["probe", "--lmtp"]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{text}{}", stderr(&o));
    for want in [
        ", LMTP, ",
        "LHLO (plaintext): ",
        "LHLO (TLS): ",
        "LHLO after TLS ",
    ] {
        assert!(text.contains(want), "{want:?} in\n{text}");
    }
}

#[test]
fn a_closed_port_is_a_server_failure_in_one_line() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let o = smtpkit(&["probe", "--server", &format!("127.0.0.1:{port}")]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("could not connect"), "{err}");
}

#[test]
fn bad_arguments_exit_2() {
    for args in [
        &["probe", "--tls", "--starttls"][..],
        &["probe", "--timeout", "-1"],
        &["probe", "--timeout", "soon"],
        &["probe", "--plain", "--starttls"],
        &["probe", "--client-cert", "x.pem"],
        &["probe", "--ca-file", "/nonexistent/ca.pem"],
        &["probe", "--helo", "not a domain"],
        &["probe", "--no-such-flag"],
    ] {
        let o = smtpkit(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).is_empty(), "{args:?}");
    }
}

/// Real Postfix submission (STARTTLS required, AUTH only after it), started by
/// `scripts/servers/start`; run by the real-servers stage of `scripts/test-all`.
#[test]
#[ignore = "needs the real servers of scripts/servers/start (SMTP_TEST_* variables)"]
fn real_postfix_submission() {
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set"));
    let server = var("SMTP_TEST_POSTFIX_SUBMISSION");
    let ca = var("SMTP_TEST_CA");
    let o = smtpkit(&[
        "probe",
        "--server",
        &server,
        "--starttls",
        "--ca-file",
        &ca,
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let v = json(&o);
    assert_eq!(v["greeting"][0], "mx.test.example ESMTP test");
    let before = &v["ehlo"];
    assert_eq!(before["starttls"], true);
    assert_eq!(
        before["auth"].as_array().unwrap().len(),
        0,
        "no AUTH before STARTTLS"
    );
    let after = &v["ehlo_tls"];
    assert_eq!(after["size"], 10485760);
    let auth: Vec<&str> = after["auth"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    for m in [
        "PLAIN",
        "LOGIN",
        "CRAM-MD5",
        "SCRAM-SHA-256",
        "XOAUTH2",
        "OAUTHBEARER",
    ] {
        assert!(auth.contains(&m), "{m} in {auth:?}");
    }
    let tls = &v["tls"];
    assert_eq!(tls["verified"], true, "{tls}");
    assert!(tls["version"].as_str().unwrap().starts_with("TLSv1."));
    let leaf = &tls["certificates"][0];
    let sans: Vec<&str> = leaf["sans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    for san in ["DNS:localhost", "DNS:mx.test.example", "IP:127.0.0.1"] {
        assert!(sans.contains(&san), "{san} in {sans:?}");
    }
    assert!(leaf["not_after_unix"].as_i64() > leaf["not_before_unix"].as_i64());
    for phase in [
        "connect",
        "greeting",
        "ehlo",
        "starttls",
        "tls_handshake",
        "ehlo_after_tls",
    ] {
        assert!(v["timings_ms"][phase].as_f64().is_some(), "{phase}: {v}");
    }

    // The same server with the built-in roots: the chain is shown, and why it fails.
    let o = smtpkit(&["probe", "--server", &server, "--starttls"]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains("certificate not verified, because it is not signed by a trusted authority"),
        "{text}"
    );
    assert!(text.contains("DNS:mx.test.example"), "{text}");
}
