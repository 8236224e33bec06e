//! `smtpkit`: a command-line SMTP/LMTP client on smtp-toolkit.
//!
//! ```text
//! smtpkit send  [connection flags] [--from ADDR] --to ADDR... [message flags] [--quit-after STEP] [--json]
//! smtpkit probe [connection flags]
//! smtpkit bulk  [connection flags] --to ADDR... (--count N | --dir FOLDER) [--connections C] [--report FILE]
//! ```
//!
//! With no `--server` (or `--unix`), every subcommand starts an embedded SMTP server on
//! 127.0.0.1 for the run (STARTTLS offered with a CA trusted for that run only), so
//! `smtpkit send --to bob@example.test` works on a fresh machine.
//!
//! Exit status: 0 when the job was done (`send`: at least one recipient accepted), 1 when
//! the server refused or the session failed (one line on stderr with the server's reply),
//! 2 for bad arguments (one line on stderr).

mod bulk;
mod conn;
mod embedded;
mod probe;
mod send;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit status: the job was done.
pub(crate) const EXIT_OK: u8 = 0;
/// Exit status: the server refused, or the session failed.
pub(crate) const EXIT_FAILED: u8 = 1;
/// Exit status: bad arguments or input (clap's own errors exit with 2 too).
pub(crate) const EXIT_USAGE: u8 = 2;

/// A command-line SMTP/LMTP client: send a message, probe a server, bulk-send.
///
/// With no --server (or --unix), an embedded SMTP server is started on 127.0.0.1 for the
/// run. Exit status: 0 done, 1 refused or failed (one line on stderr says why), 2 bad
/// arguments.
#[derive(Debug, Parser)]
#[command(name = "smtpkit", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Send one message and print every recipient's result.
    Send(send::Args),
    /// Connect, greet, EHLO and print what the server offers.
    Probe(probe::Args),
    /// Send many messages (N copies, or every .eml file of a folder) through a pool of
    /// connections, with a progress bar and a summary.
    Bulk(bulk::Args),
}

/// Prints `smtpkit <cmd>: <msg>` on stderr and returns [`EXIT_USAGE`].
pub(crate) fn usage_error(cmd: &str, msg: &dyn std::fmt::Display) -> ExitCode {
    let _ = writeln!(
        std::io::stderr(),
        "smtpkit {cmd}: {}",
        one_line(&msg.to_string())
    );
    ExitCode::from(EXIT_USAGE)
}

/// `text` on one line: line breaks (of multi-line replies) become ` / `.
pub(crate) fn one_line(text: &str) -> String {
    text.trim_end()
        .replace("\r\n", " / ")
        .replace(['\n', '\r'], " / ")
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Send(a) => send::run(a),
        Command::Probe(a) => probe::run(a),
        Command::Bulk(a) => bulk::run(a),
    }
}
