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
    // `conn.prepared` owns the embedded server: it lives until the end.
    let conn = match args.conn.connect_blocking() {
        Ok(c) => c,
        Err(e) => return usage_error("probe", &e),
    };
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    let mut c = match conn.client {
        Ok(c) => c,
        Err(mut f) => {
            if let Some(c) = f.client.as_deref_mut()
                && args.conn.verbose
            {
                for line in c.take_transcript() {
                    let _ = writeln!(err, "{line}");
                }
            }
            let _ = writeln!(err, "smtpkit probe: {}", one_line(&f.error.to_string()));
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let _ = writeln!(out, "server: {}", conn.prepared.describe());
    if let Some(g) = c.greeting() {
        let _ = writeln!(out, "greeting: {}", one_line(&g.to_string()));
    }
    let encrypted = if c.is_encrypted() { "yes" } else { "no" };
    let _ = writeln!(out, "encrypted: {encrypted}");
    if c.is_helo_only() {
        let _ = writeln!(out, "extensions: none (HELO only)");
    }
    for (k, v) in c.esmtp_features() {
        // smtplib keeps AUTH's parameters with a leading space.
        let v = v.trim();
        let sep = if v.is_empty() { "" } else { " " };
        let _ = writeln!(out, "extension: {}{sep}{v}", k.to_uppercase());
    }
    let _ = c.quit();
    if args.conn.verbose {
        for line in c.take_transcript() {
            let _ = writeln!(err, "{line}");
        }
    }
    ExitCode::from(EXIT_OK)
}
