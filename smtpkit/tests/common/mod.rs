//! Runs the `smtpkit` binary (the one cargo built for these tests).

#![allow(dead_code)] // Each test binary uses part of it.

use std::io::Write;
use std::process::{Command, Stdio};

/// What a run of the binary gave.
#[derive(Debug)]
pub(crate) struct Run {
    /// The exit status (-1 when killed by a signal).
    pub(crate) code: i32,
    /// Standard output.
    pub(crate) out: String,
    /// Standard error.
    pub(crate) err: String,
}

/// Runs `smtpkit args...` with `stdin` and extra environment variables (and
/// SMTPKIT_PASSWORD / SMTPKIT_OAUTH_TOKEN removed unless given), checking that nothing
/// panicked.
pub(crate) fn run_with(args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_smtpkit"));
    cmd.args(args)
        .env_remove("SMTPKIT_PASSWORD")
        .env_remove("SMTPKIT_OAUTH_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("the smtpkit binary runs");
    let mut input = child.stdin.take().expect("stdin");
    // The binary may not read stdin at all: a broken pipe is fine.
    let _ = input.write_all(stdin);
    drop(input);
    let o = child.wait_with_output().expect("smtpkit finishes");
    let r = Run {
        code: o.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&o.stdout).into_owned(),
        err: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    assert!(
        !r.err.contains("panicked") && !r.out.contains("panicked"),
        "smtpkit panicked: {r:?}"
    );
    r
}

/// Runs `smtpkit args...` with a small message on stdin.
pub(crate) fn run(args: &[&str]) -> Run {
    run_with(args, b"Subject: from stdin\r\n\r\nhi\r\n", &[])
}

/// A fresh temporary folder for one test.
pub(crate) fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("smtpkit-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Runs `smtpkit <subcommand> --server <server> args...` with the small message on stdin.
pub(crate) fn run_at(subcommand: &str, server: &str, args: &[&str]) -> Run {
    let mut all = vec![subcommand, "--server", server];
    all.extend_from_slice(args);
    run(&all)
}

/// Standard output as JSON lines, one value a line.
pub(crate) fn json_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
