//! `smtpkit probe`: connect, greet, EHLO (before and after STARTTLS) and report what the
//! server offers: every extension with its parameters, SIZE, AUTH mechanisms, the TLS
//! version and cipher suite, the certificate chain (subject, issuer, SANs, validity) and
//! whether it verifies (and if not, why), and how long each phase took. As text, or as
//! JSON with `--json`.
//!
//! A certificate that fails verification is still shown: the client's verifier records
//! the chain it refuses before the handshake fails ([`smtp_client::TlsInfo`]).

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use smtp_blocking::{Options, SmtpClient, TlsPolicy};
use smtp_client::proto::Capabilities;
use smtp_client::proto::ehlo::SizeLimit;
use smtp_client::{CertSummary, Timings, TlsInfo, Verification};

use crate::conn::ConnArgs;

/// `probe`'s flags.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) conn: ConnArgs,
    /// Do not try STARTTLS (without a TLS flag, probe upgrades when STARTTLS is offered).
    #[arg(long, conflicts_with_all = ["tls", "starttls", "starttls_optional"])]
    pub(crate) plain: bool,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Runs `probe`: 0 when the probe completed, 1 when the server failed (the report so far
/// is printed, and one line on stderr says why), 2 for bad arguments.
pub(crate) fn run(args: Args) -> ExitCode {
    let no_tls_flag = !(args.conn.tls || args.conn.starttls || args.conn.starttls_optional);
    // Checks the flags and starts the embedded server (trusting its CA) when there is no
    // `--server`.
    let prepared = match args.conn.prepare(false) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("smtpkit probe: {e}");
            return ExitCode::from(2);
        }
    };
    let mut opts: Options = prepared.options.clone();
    // Without a TLS flag, probe upgrades when it can: it is there to see what is offered.
    if no_tls_flag && !args.plain {
        opts.core.tls = TlsPolicy::Opportunistic;
    }
    let is_embedded = prepared.embedded.is_some();
    let Some(server) = prepared.server() else {
        eprintln!("smtpkit probe: --unix is not supported by probe (give --server)");
        return ExitCode::from(2);
    };
    let (report, transcript) = probe(&server, opts);
    let report = Report {
        embedded: is_embedded,
        ..report
    };
    if args.conn.verbose {
        for line in &transcript {
            eprintln!("{line}");
        }
    }
    let out = std::io::stdout();
    let mut out = out.lock();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let printed = if args.json {
        serde_json::to_writer_pretty(&mut out, &report)
            .map_err(std::io::Error::other)
            .and_then(|()| writeln!(out))
    } else {
        write_text(&mut out, &report, now)
    };
    if let Err(e) = printed.and_then(|()| out.flush()) {
        eprintln!("smtpkit probe: cannot write the report: {e}");
        return ExitCode::from(1);
    }
    match &report.error {
        Some(e) => {
            eprintln!("smtpkit probe: {e}");
            ExitCode::from(1)
        }
        None => ExitCode::SUCCESS,
    }
}

/// What a probe found (serialised as is by `--json`).
#[derive(Debug, Default, Serialize)]
pub(crate) struct Report {
    /// The server as given (or the embedded one's address).
    pub(crate) server: String,
    /// Whether it is the embedded loopback server (no `--server`).
    pub(crate) embedded: bool,
    /// `SMTP` or `LMTP`.
    pub(crate) protocol: &'static str,
    /// `none`, `starttls-optional`, `starttls` or `implicit`.
    pub(crate) tls_mode: &'static str,
    /// The greeting reply, every line.
    pub(crate) greeting: Option<Vec<String>>,
    /// The EHLO reply in plaintext (before STARTTLS, or the only one without TLS).
    pub(crate) ehlo: Option<Ehlo>,
    /// The TLS session (or the refused chain).
    pub(crate) tls: Option<Tls>,
    /// The EHLO reply over TLS (after STARTTLS, or the only one with implicit TLS).
    pub(crate) ehlo_tls: Option<Ehlo>,
    /// Milliseconds per phase; `null` for a phase that did not happen.
    pub(crate) timings_ms: Phases,
    /// Why the probe did not complete.
    pub(crate) error: Option<String>,
}

/// One EHLO/LHLO reply.
#[derive(Debug, Serialize)]
pub(crate) struct Ehlo {
    /// The server's domain from the first line.
    pub(crate) domain: String,
    /// Every extension line: keyword and parameters, verbatim.
    pub(crate) extensions: Vec<Extension>,
    /// SIZE in octets: `0` for "no fixed limit", `null` when not offered.
    pub(crate) size: Option<u64>,
    /// The AUTH mechanisms offered.
    pub(crate) auth: Vec<String>,
    /// Whether STARTTLS is offered.
    pub(crate) starttls: bool,
}

/// One extension line of an EHLO reply.
#[derive(Debug, Serialize)]
pub(crate) struct Extension {
    /// The keyword as the server wrote it.
    pub(crate) keyword: String,
    /// Its parameters.
    pub(crate) params: Vec<String>,
}

/// The TLS session.
#[derive(Debug, Serialize)]
pub(crate) struct Tls {
    /// Whether the handshake completed.
    pub(crate) completed: bool,
    /// `TLSv1.3`, `TLSv1.2` (`null` when not negotiated).
    pub(crate) version: Option<&'static str>,
    /// The cipher suite's IANA name.
    pub(crate) cipher_suite: Option<&'static str>,
    /// The ALPN protocol, if one was negotiated.
    pub(crate) alpn: Option<String>,
    /// Whether the chain was verified.
    pub(crate) verified: bool,
    /// `verified`, or `not verified, because ...`.
    pub(crate) verification: String,
    /// The server's chain, its own certificate first.
    pub(crate) certificates: Vec<Cert>,
}

/// One certificate of the chain.
#[derive(Debug, Serialize)]
pub(crate) struct Cert {
    pub(crate) subject: Option<String>,
    pub(crate) issuer: Option<String>,
    pub(crate) serial: Option<String>,
    pub(crate) sans: Vec<String>,
    /// `YYYY-MM-DD hh:mm:ss UTC`.
    pub(crate) not_before: Option<String>,
    /// `YYYY-MM-DD hh:mm:ss UTC`.
    pub(crate) not_after: Option<String>,
    /// Seconds since the Unix epoch.
    pub(crate) not_before_unix: Option<i64>,
    /// Seconds since the Unix epoch.
    pub(crate) not_after_unix: Option<i64>,
    pub(crate) is_ca: Option<bool>,
    pub(crate) signature_algorithm: Option<String>,
    /// The DER size in octets.
    pub(crate) der_len: usize,
    /// Why it could not be parsed, if it could not.
    pub(crate) parse_error: Option<String>,
}

/// Milliseconds per phase.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Phases {
    pub(crate) connect: Option<f64>,
    pub(crate) greeting: Option<f64>,
    pub(crate) ehlo: Option<f64>,
    pub(crate) starttls: Option<f64>,
    pub(crate) tls_handshake: Option<f64>,
    pub(crate) ehlo_after_tls: Option<f64>,
}

/// Probes `server` (`HOST[:PORT]`) with `opts`: connects, runs the greeting, EHLO and
/// STARTTLS per `opts`, sends QUIT, and reports what it saw; a failure is the report's
/// [`error`](Report::error), with everything seen before it. Also returns the transcript
/// (with [`Options::record_transcript`]).
pub(crate) fn probe(server: &str, opts: Options) -> (Report, Vec<String>) {
    let mut report = Report {
        server: server.to_owned(),
        protocol: match opts.core.dialect {
            smtp_blocking::Dialect::Lmtp => "LMTP",
            _ => "SMTP",
        },
        tls_mode: match opts.core.tls {
            TlsPolicy::Never => "none",
            TlsPolicy::Opportunistic => "starttls-optional",
            TlsPolicy::Required => "starttls",
            TlsPolicy::Implicit => "implicit",
        },
        ..Report::default()
    };
    let mut c = match SmtpClient::open(server, opts) {
        Ok(c) => c,
        Err(e) => {
            report.error = Some(e.to_string());
            return (report, Vec::new());
        }
    };
    let opened = c.ehlo_or_helo_if_needed();
    report.greeting = c.greeting().map(|g| {
        g.lines()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect()
    });
    let encrypted = c.is_encrypted();
    report.ehlo = match c.capabilities_before_tls() {
        Some(before) => Some(ehlo(before)),
        None if !encrypted => c.capabilities().map(ehlo),
        None => None,
    };
    if encrypted {
        report.ehlo_tls = c.capabilities().map(ehlo);
    }
    report.tls = c.tls_info().map(|t| tls(t, encrypted));
    report.timings_ms = phases(c.timings());
    match opened {
        Ok(()) => {
            // Politely; a server that fails the QUIT does not fail the probe.
            let _ = c.quit();
        }
        Err(e) => report.error = Some(e.to_string()),
    }
    (report, c.take_transcript())
}

fn ehlo(caps: &Capabilities) -> Ehlo {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let extensions = caps
        .lines()
        .map(|l| {
            let mut words = l.split(|&b| b == b' ').filter(|w| !w.is_empty());
            Extension {
                keyword: words.next().map(text).unwrap_or_default(),
                params: words.map(text).collect(),
            }
        })
        .collect();
    Ehlo {
        domain: text(caps.domain()),
        extensions,
        size: caps.size().map(|s| match s {
            SizeLimit::Max(n) => n.get(),
            _ => 0,
        }),
        auth: caps.auth_mechanisms().map(str::to_owned).collect(),
        starttls: caps.starttls(),
    }
}

fn tls(info: &TlsInfo, completed: bool) -> Tls {
    let certificates = info
        .peer_certificates()
        .iter()
        .zip(info.certificate_summaries())
        .map(|(der, s)| cert(der.len(), s))
        .collect();
    Tls {
        completed,
        version: info.protocol_version(),
        cipher_suite: info.cipher_suite(),
        alpn: info.alpn().map(|a| String::from_utf8_lossy(a).into_owned()),
        verified: info.verification() == &Verification::Verified,
        verification: info.verification().to_string(),
        certificates,
    }
}

fn cert(der_len: usize, s: Result<CertSummary, smtp_client::CertParseError>) -> Cert {
    match s {
        Ok(s) => Cert {
            not_before: Some(s.not_before_text()),
            not_after: Some(s.not_after_text()),
            not_before_unix: Some(s.not_before),
            not_after_unix: Some(s.not_after),
            is_ca: Some(s.is_ca),
            subject: Some(s.subject),
            issuer: Some(s.issuer),
            serial: Some(s.serial),
            sans: s.sans,
            signature_algorithm: Some(s.signature_algorithm),
            der_len,
            parse_error: None,
        },
        Err(e) => Cert {
            subject: None,
            issuer: None,
            serial: None,
            sans: Vec::new(),
            not_before: None,
            not_after: None,
            not_before_unix: None,
            not_after_unix: None,
            is_ca: None,
            signature_algorithm: None,
            der_len,
            parse_error: Some(e.to_string()),
        },
    }
}

fn phases(t: Timings) -> Phases {
    let ms = |d: Option<Duration>| d.map(|d| (d.as_secs_f64() * 1e6).round() / 1e3);
    Phases {
        connect: ms(t.connect),
        greeting: ms(t.greeting),
        ehlo: ms(t.ehlo),
        starttls: ms(t.starttls),
        tls_handshake: ms(t.tls_handshake),
        ehlo_after_tls: ms(t.ehlo_after_tls),
    }
}

/// The report as text; `now` (seconds since the Unix epoch) for "expires in".
pub(crate) fn write_text(w: &mut impl Write, r: &Report, now: i64) -> std::io::Result<()> {
    let embedded = if r.embedded {
        " (embedded smtp-sink)"
    } else {
        ""
    };
    writeln!(
        w,
        "server      {}{embedded}, {}, TLS mode {}",
        r.server, r.protocol, r.tls_mode
    )?;
    if let Some(g) = &r.greeting {
        for (i, l) in g.iter().enumerate() {
            let label = if i == 0 { "greeting" } else { "" };
            writeln!(w, "{label:<11} {l}")?;
        }
    }
    let hello = if r.protocol == "LMTP" { "LHLO" } else { "EHLO" };
    if let Some(e) = &r.ehlo {
        write_ehlo(w, &format!("{hello} (plaintext)"), e)?;
    }
    if let Some(t) = &r.tls {
        writeln!(
            w,
            "TLS         {}, {}{}{}",
            t.version.unwrap_or("no version negotiated"),
            t.cipher_suite.unwrap_or("no cipher suite"),
            t.alpn
                .as_deref()
                .map(|a| format!(", ALPN {a}"))
                .unwrap_or_default(),
            if t.completed {
                ""
            } else {
                " (handshake failed)"
            }
        )?;
        writeln!(w, "certificate {}", t.verification)?;
        for (i, c) in t.certificates.iter().enumerate() {
            write_cert(w, i, c, now)?;
        }
    }
    if let Some(e) = &r.ehlo_tls {
        write_ehlo(w, &format!("{hello} (TLS)"), e)?;
    }
    let p = &r.timings_ms;
    let parts: Vec<String> = [
        ("connect", p.connect),
        ("greeting", p.greeting),
        (hello, p.ehlo),
        ("STARTTLS", p.starttls),
        ("TLS handshake", p.tls_handshake),
        ("", p.ehlo_after_tls),
    ]
    .iter()
    .filter_map(|(name, ms)| {
        let name = match *name {
            "" => format!("{hello} after TLS"),
            n => n.to_owned(),
        };
        ms.map(|ms| format!("{name} {ms:.1} ms"))
    })
    .collect();
    if !parts.is_empty() {
        writeln!(w, "timings     {}", parts.join(", "))?;
    }
    if let Some(e) = &r.error {
        writeln!(w, "FAILED      {e}")?;
    }
    Ok(())
}

fn write_ehlo(w: &mut impl Write, label: &str, e: &Ehlo) -> std::io::Result<()> {
    writeln!(w, "{label}: {}", e.domain)?;
    for x in &e.extensions {
        match x.params.is_empty() {
            true => writeln!(w, "  {}", x.keyword)?,
            false => writeln!(w, "  {} {}", x.keyword, x.params.join(" "))?,
        }
    }
    let size = match e.size {
        None => "not offered".to_owned(),
        Some(0) => "no fixed limit".to_owned(),
        Some(n) => format!("{n} octets ({:.1} MiB)", n as f64 / 1048576.0),
    };
    writeln!(w, "  -> SIZE: {size}")?;
    let auth = if e.auth.is_empty() {
        "none offered".to_owned()
    } else {
        e.auth.join(" ")
    };
    writeln!(w, "  -> AUTH: {auth}")?;
    writeln!(
        w,
        "  -> STARTTLS: {}",
        if e.starttls { "offered" } else { "not offered" }
    )
}

fn write_cert(w: &mut impl Write, i: usize, c: &Cert, now: i64) -> std::io::Result<()> {
    if let Some(e) = &c.parse_error {
        return writeln!(w, "  [{i}] {e} ({} octets)", c.der_len);
    }
    let or = |s: &Option<String>| s.clone().unwrap_or_default();
    writeln!(w, "  [{i}] subject   {}", or(&c.subject))?;
    writeln!(w, "      issuer    {}", or(&c.issuer))?;
    if !c.sans.is_empty() {
        writeln!(w, "      SANs      {}", c.sans.join(", "))?;
    }
    let expiry = match (c.not_before_unix, c.not_after_unix) {
        (Some(nb), _) if now < nb => "not valid yet".to_owned(),
        (_, Some(na)) if now > na => format!("EXPIRED {} days ago", (now - na) / 86_400),
        (_, Some(na)) => format!("expires in {} days", (na - now) / 86_400),
        _ => String::new(),
    };
    writeln!(
        w,
        "      valid     {} .. {} ({expiry})",
        or(&c.not_before),
        or(&c.not_after)
    )?;
    writeln!(
        w,
        "      serial    {}{}, {}",
        or(&c.serial),
        if c.is_ca == Some(true) { ", CA" } else { "" },
        or(&c.signature_algorithm)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            server: "mx.example.org:587".into(),
            embedded: false,
            protocol: "SMTP",
            tls_mode: "starttls",
            greeting: Some(vec!["mx.example.org ESMTP".into()]),
            ehlo: Some(Ehlo {
                domain: "mx.example.org".into(),
                extensions: vec![
                    Extension {
                        keyword: "SIZE".into(),
                        params: vec!["10485760".into()],
                    },
                    Extension {
                        keyword: "STARTTLS".into(),
                        params: vec![],
                    },
                ],
                size: Some(10485760),
                auth: vec![],
                starttls: true,
            }),
            tls: Some(Tls {
                completed: false,
                version: None,
                cipher_suite: None,
                alpn: None,
                verified: false,
                verification: "not verified, because it has expired".into(),
                certificates: vec![cert(
                    3,
                    Err(smtp_client::CertSummary::parse(b"xyz").unwrap_err()),
                )],
            }),
            ehlo_tls: None,
            timings_ms: Phases {
                connect: Some(1.25),
                greeting: Some(2.0),
                ..Phases::default()
            },
            error: Some("TLS handshake failed".into()),
        }
    }

    #[test]
    fn text_report_shows_every_part_seen() {
        let mut out = Vec::new();
        write_text(&mut out, &report(), 0).unwrap();
        let text = String::from_utf8(out).unwrap();
        for want in [
            "server      mx.example.org:587, SMTP, TLS mode starttls\n",
            "greeting    mx.example.org ESMTP",
            "EHLO (plaintext): mx.example.org",
            "  SIZE 10485760\n  STARTTLS\n",
            "  -> SIZE: 10485760 octets (10.0 MiB)",
            "  -> AUTH: none offered",
            "  -> STARTTLS: offered",
            "TLS         no version negotiated, no cipher suite (handshake failed)\n",
            "certificate not verified, because it has expired",
            "  [0] the server's certificate could not be parsed",
            "timings     connect 1.2 ms, greeting 2.0 ms",
            "FAILED      TLS handshake failed",
        ] {
            assert!(text.contains(want), "{want:?} in\n{text}");
        }
        assert!(!text.contains("EHLO (TLS)"));
    }

    #[test]
    fn json_report_has_nulls_for_what_did_not_happen() {
        let v = serde_json::to_value(report()).unwrap();
        assert_eq!(v["ehlo"]["size"], 10485760);
        assert_eq!(v["ehlo"]["extensions"][0]["keyword"], "SIZE");
        assert!(v["ehlo_tls"].is_null());
        assert_eq!(v["tls"]["verified"], false);
        assert!(v["tls"]["version"].is_null());
        assert_eq!(v["timings_ms"]["connect"], 1.25);
        assert!(v["timings_ms"]["tls_handshake"].is_null());
        assert_eq!(v["error"], "TLS handshake failed");
    }

    #[test]
    fn expiry_is_told_from_now() {
        let c = Cert {
            subject: Some("CN=x".into()),
            issuer: Some("CN=ca".into()),
            serial: Some("01".into()),
            sans: vec!["DNS:x".into()],
            not_before: Some("a".into()),
            not_after: Some("b".into()),
            not_before_unix: Some(100 * 86_400),
            not_after_unix: Some(200 * 86_400),
            is_ca: Some(false),
            signature_algorithm: Some("ecdsa-with-SHA256".into()),
            der_len: 10,
            parse_error: None,
        };
        let text = |now| {
            let mut out = Vec::new();
            write_cert(&mut out, 0, &c, now).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert!(text(50 * 86_400).contains("(not valid yet)"));
        assert!(text(150 * 86_400).contains("(expires in 50 days)"));
        assert!(text(210 * 86_400).contains("(EXPIRED 10 days ago)"));
        assert!(text(150 * 86_400).contains("SANs      DNS:x"));
    }
}
