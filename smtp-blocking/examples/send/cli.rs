//! The `send` example's logic, as a function (also run by the crate's tests).

// Also compiled into the crate's tests, which do not use every item.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::time::Duration;

use smtp_blocking::{Dialect, Error, Options, SmtpClient, TlsOptions, TlsPolicy};
use smtp_test_server::{CA_PEM, Script, TestServer};

const USAGE: &str = "usage: send [--server HOST[:PORT]] [--lmtp] [--tls | --starttls | --starttls-optional] [--ca-file PEM] [--user U --password P] [--helo NAME] [--from ADDR] [--to ADDR]... [--body-file FILE] [--timeout SECS] [-v]
  TLS: none of the flags = plaintext; --tls = implicit TLS (port 465); --starttls = STARTTLS
  required; --starttls-optional = STARTTLS when offered, plaintext otherwise. Certificates
  are always verified (--ca-file for a private CA).
  -v prints the transcript (AUTH redacted), also when the session fails before it is ready.";

/// Parsed command line.
#[derive(Debug, Default)]
pub(crate) struct Args {
    pub(crate) server: Option<String>,
    pub(crate) lmtp: bool,
    pub(crate) tls: Option<TlsPolicy>,
    pub(crate) ca_file: Option<String>,
    pub(crate) user: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) helo: Option<String>,
    pub(crate) from: Option<String>,
    pub(crate) to: Vec<String>,
    pub(crate) body_file: Option<String>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) verbose: bool,
}

/// Parses the flags (see [`USAGE`]).
pub(crate) fn parse(args: &[String]) -> Result<Args, String> {
    let mut a = Args::default();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        let set_tls = |p: TlsPolicy, a: &mut Args| match a.tls {
            Some(q) if q != p => {
                Err("--tls, --starttls and --starttls-optional exclude each other".to_owned())
            }
            _ => {
                a.tls = Some(p);
                Ok(())
            }
        };
        match flag.as_str() {
            "--server" => a.server = Some(value()?),
            "--lmtp" => a.lmtp = true,
            "--tls" => set_tls(TlsPolicy::Implicit, &mut a)?,
            "--starttls" => set_tls(TlsPolicy::Required, &mut a)?,
            "--starttls-optional" => set_tls(TlsPolicy::Opportunistic, &mut a)?,
            "--ca-file" => a.ca_file = Some(value()?),
            "--user" => a.user = Some(value()?),
            "--password" => a.password = Some(value()?),
            "--helo" => a.helo = Some(value()?),
            "--from" => a.from = Some(value()?),
            "--to" => a.to.push(value()?),
            "--body-file" => a.body_file = Some(value()?),
            "--timeout" => {
                let v = value()?;
                let secs: f64 = v.parse().map_err(|_| format!("bad --timeout {v:?}"))?;
                if !(secs > 0.0 && secs.is_finite()) {
                    return Err(format!("bad --timeout {v:?}"));
                }
                a.timeout = Some(Duration::from_secs_f64(secs));
            }
            "-v" => a.verbose = true,
            f => return Err(format!("unknown argument {f:?}")),
        }
    }
    if a.user.is_some() != a.password.is_some() {
        return Err("--user and --password go together".into());
    }
    if a.server.is_some() && a.to.is_empty() {
        return Err("--to is required with --server".into());
    }
    Ok(a)
}

/// Runs the example; returns the exit status.
pub(crate) fn run(
    args: &[String],
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let a = match parse(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = writeln!(err, "send: {e}\n{USAGE}");
            return 2;
        }
    };
    match send(&a, stdin, out, err) {
        Ok(true) => 0,
        Ok(false) => {
            let _ = writeln!(err, "send: every recipient was refused");
            1
        }
        Err(e) => {
            let _ = writeln!(err, "send: {e} ({:?} fault)", e.fault());
            1
        }
    }
}

fn sample_message(from: &str, to: &[String]) -> Vec<u8> {
    format!(
        "From: <{from}>\r\nTo: {}\r\nSubject: smtp-blocking send example\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\nMessage-ID: <send-example@example.test>\r\n\r\nHello from the smtp-blocking send example.\r\n",
        to.iter().map(|t| format!("<{t}>")).collect::<Vec<_>>().join(", ")
    )
    .into_bytes()
}

fn send(
    a: &Args,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<bool, Error> {
    let mut opts = Options::new();
    if let Some(t) = a.timeout {
        opts = opts.with_timeout(t);
    }
    opts.core.dialect = if a.lmtp { Dialect::Lmtp } else { Dialect::Smtp };
    // No TLS flag: plaintext, as swaks, curl and smtplib do; --starttls-optional is
    // STARTTLS when offered (verified), plaintext otherwise.
    opts.core.tls = a.tls.unwrap_or(TlsPolicy::Never);
    opts.helo_name = a.helo.clone();
    opts.record_transcript = true;
    if let Some(ca) = &a.ca_file {
        opts.tls_options = TlsOptions::new().with_ca_file(ca)?;
    }
    let from = a
        .from
        .clone()
        .unwrap_or_else(|| "sender@example.test".into());
    let to = if a.to.is_empty() {
        vec!["rcpt@example.test".to_owned()]
    } else {
        a.to.clone()
    };

    // The embedded server lives until the end of this function.
    let (embedded, server) = match &a.server {
        Some(s) => (None, s.clone()),
        None => {
            let script = Script {
                lmtp: a.lmtp,
                starttls: opts.core.tls != TlsPolicy::Implicit,
                implicit_tls: opts.core.tls == TlsPolicy::Implicit,
                auth: a.user.clone().zip(a.password.clone()),
                ..Script::default()
            };
            let srv = TestServer::start(script);
            if a.ca_file.is_none() {
                opts.tls_options = TlsOptions::new().with_ca_pem(CA_PEM)?;
            }
            let addr = srv.addr().to_string();
            (Some(srv), addr)
        }
    };
    let message = match (&a.body_file, &a.server) {
        (Some(f), _) => std::fs::read(f).map_err(|e| Error::InvalidInput(format!("{f}: {e}")))?,
        (None, Some(_)) => {
            let mut m = Vec::new();
            stdin
                .read_to_end(&mut m)
                .map_err(|e| Error::InvalidInput(format!("stdin: {e}")))?;
            m
        }
        (None, None) => sample_message(&from, &to),
    };
    let show_transcript = a.verbose || embedded.is_some();

    let mut client = None;
    let result = (|| {
        // Open first, so that a failure in the greeting, EHLO or TLS still leaves the
        // transcript to print.
        let c = client.insert(SmtpClient::open(&server, opts)?);
        c.ehlo_or_helo_if_needed()?;
        if let (Some(u), Some(p)) = (&a.user, &a.password) {
            c.login(u, p)?;
        }
        let to: Vec<&str> = to.iter().map(String::as_str).collect();
        let report = c.sendmail(&from, &to, &message, Default::default(), Default::default());
        let _ = c.quit();
        report
    })();
    if show_transcript && let Some(c) = &mut client {
        for line in c.take_transcript() {
            let _ = writeln!(err, "{line}");
        }
    }
    let report = match result {
        Ok(r) => r,
        Err(Error::RecipientsRefused(r)) => {
            print_report(out, &r);
            return Ok(false);
        }
        Err(e) => return Err(e),
    };
    print_report(out, &report);
    Ok(report.any_accepted())
}

fn print_report(out: &mut dyn Write, r: &smtp_blocking::SendReport) {
    for rcpt in &r.recipients {
        let verdict = if rcpt.accepted { "accepted" } else { "refused" };
        let reply = rcpt
            .reply
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_else(|| format!("{:?}", rcpt.status));
        let _ = writeln!(out, "{}\t{verdict}\t{reply}", rcpt.recipient);
    }
}
