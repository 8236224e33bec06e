//! `smtpkit`: a command-line SMTP/LMTP tool on the smtp-toolkit client.
//!
//! Subcommands: `probe` (what a server offers: extensions, SIZE, AUTH, TLS, its certificate
//! chain, timings per phase). Exit status: 0 when the command completed, 1 when the server
//! failed (one line on stderr says why), 2 for bad arguments.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod conn;
mod embedded;
mod probe;

/// SMTP/LMTP from the command line.
#[derive(Debug, Parser)]
#[command(name = "smtpkit", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Connect, greet, EHLO (before and after STARTTLS) and show what the server offers:
    /// extensions, SIZE, AUTH, TLS version and cipher suite, the certificate chain and
    /// whether it verifies, and how long each phase took. Without --server, probes an
    /// embedded loopback server.
    Probe(probe::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Probe(args) => probe::run(args),
    }
}
