//! `smtp-bench-sink`: runs the sink until stdin closes (or forever with `--forever`).
//!
//! ```text
//! smtp-bench-sink [--listen 127.0.0.1:0] [--tls plain|starttls|implicit] [--lmtp]
//!                 [--ca-out FILE] [--port-file FILE] [--size-limit N] [--no-chunking]
//!                 [--record] [--forever]
//! ```
//!
//! Prints `port=P` once listening (and writes P to `--port-file`, the CA PEM to
//! `--ca-out`). On stdin's end it prints `messages=N bytes=B sessions=S refused=R
//! unanswered=U` and exits. The counters can also be read over SMTP with `XSTATS`.

use std::io::{Read, Write};
use std::net::SocketAddr;

use smtp_sink::{Config, Sink, TlsMode};

fn die(msg: &str) -> ! {
    let _ = writeln!(std::io::stderr(), "smtp-bench-sink: {msg}");
    std::process::exit(2)
}

fn main() {
    let mut cfg = Config::default();
    let (mut ca_out, mut port_file, mut forever) = (None, None, false);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || {
            args.next()
                .unwrap_or_else(|| die(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--listen" => {
                let v = val();
                cfg.listen = v
                    .parse::<SocketAddr>()
                    .unwrap_or_else(|_| die("bad --listen"));
                if !cfg.listen.ip().is_loopback() {
                    die("--listen must be a loopback address");
                }
            }
            "--tls" => {
                cfg.tls = match val().as_str() {
                    "plain" => TlsMode::Plain,
                    "starttls" => TlsMode::StartTls,
                    "implicit" => TlsMode::Implicit,
                    _ => die("--tls: plain, starttls or implicit"),
                }
            }
            "--size-limit" => {
                cfg.size_limit = val().parse().unwrap_or_else(|_| die("bad --size-limit"))
            }
            "--ca-out" => ca_out = Some(val()),
            "--port-file" => port_file = Some(val()),
            "--lmtp" => cfg.lmtp = true,
            "--no-chunking" => cfg.chunking = false,
            "--record" => cfg.record = true,
            "--forever" => forever = true,
            _ => die(&format!("unknown argument {a}")),
        }
    }
    let sink = Sink::start(cfg).unwrap_or_else(|e| die(&format!("start: {e}")));
    if let (Some(path), Some(pem)) = (&ca_out, sink.ca_pem()) {
        std::fs::write(path, pem).unwrap_or_else(|e| die(&format!("{path}: {e}")));
    }
    let port = sink.addr().port();
    if let Some(path) = &port_file {
        std::fs::write(path, format!("{port}\n")).unwrap_or_else(|e| die(&format!("{path}: {e}")));
    }
    let mut out = std::io::stdout();
    let _ = writeln!(out, "port={port}");
    let _ = out.flush();
    if forever {
        loop {
            std::thread::park();
        }
    }
    let mut sink_in = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink_in);
    let s = sink.record().stats();
    let _ = writeln!(
        out,
        "messages={} bytes={} sessions={} refused={} unanswered={}",
        s.messages, s.bytes, s.sessions, s.refused, s.unanswered
    );
}
