//! `smtpkit probe`: connect, greet, EHLO (and STARTTLS per the TLS flags), AUTH when
//! `--user` is given, then print the greeting and the extensions the server offers.
//!
//! A small placeholder: the full probe (TLS session details and more) replaces this file.

use std::io::Write;
use std::process::ExitCode;

use crate::conn::ConnArgs;
use crate::{EXIT_FAILED, EXIT_OK, one_line, usage_error};

/// `probe`'s arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The connection.
    #[command(flatten)]
    pub(crate) conn: ConnArgs,
}

/// Runs `probe`; returns the exit status.
pub(crate) fn run(args: Args) -> ExitCode {
    let prepared = match args.conn.prepare(false) {
        Ok(p) => p,
        Err(e) => return usage_error("probe", &e),
    };
    let result = prepared.connect_blocking();
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    let client = match result {
        Ok(c) => Some(c),
        Err((mut c, e)) => {
            if let Some(c) = &mut c
                && args.conn.verbose
            {
                for line in c.take_transcript() {
                    let _ = writeln!(err, "{line}");
                }
            }
            let _ = writeln!(err, "smtpkit probe: {}", one_line(&e.to_string()));
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let Some(mut c) = client else {
        return ExitCode::from(EXIT_FAILED);
    };
    let _ = writeln!(out, "server: {}", prepared.describe());
    if let Some(g) = c.greeting() {
        let _ = writeln!(out, "greeting: {}", one_line(&g.to_string()));
    }
    let _ = writeln!(
        out,
        "encrypted: {}",
        if c.is_encrypted() { "yes" } else { "no" }
    );
    if c.is_helo_only() {
        let _ = writeln!(out, "extensions: none (HELO only)");
    }
    for (k, v) in c.esmtp_features() {
        let _ = writeln!(
            out,
            "extension: {}{}{v}",
            k.to_uppercase(),
            if v.is_empty() { "" } else { " " }
        );
    }
    let _ = c.quit();
    if args.conn.verbose {
        for line in c.take_transcript() {
            let _ = writeln!(err, "{line}");
        }
    }
    ExitCode::from(EXIT_OK)
}
