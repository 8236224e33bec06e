//! Sends one message and prints the per-recipient results.
//!
//! ```text
//! cargo run -p smtp-blocking --example send -- [--server HOST[:PORT]] [--lmtp] [--tls]
//!     [--starttls | --starttls-optional] [--ca-file PEM] [--user U --password P]
//!     [--helo NAME] [--from ADDR] [--to ADDR]... [--body-file FILE] [--timeout SECS] [-v]
//! ```
//!
//! Without `--server`, an embedded loopback server (smtp-test-server) is started in-process
//! and a sample message is sent to it. Exit status: 0 when at least one recipient was
//! accepted, 1 when refused or the session failed, 2 for bad arguments.

mod cli;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = cli::run(
        &args,
        &mut std::io::stdin().lock(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    std::process::exit(code);
}
