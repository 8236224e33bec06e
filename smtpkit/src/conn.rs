//! The connection flags every subcommand shares, and the client [`Options`] they make.

use std::path::PathBuf;
use std::time::Duration;

use smtp_client::{Dialect, Options, TlsOptions, TlsPolicy};

/// Where and how to connect.
#[derive(Clone, Debug, clap::Args)]
pub(crate) struct ConnArgs {
    /// The server: HOST or HOST:PORT (default port 25; 465 with --tls; 24 with --lmtp).
    /// Without it, an embedded loopback server is used.
    #[arg(long, value_name = "HOST[:PORT]")]
    pub(crate) server: Option<String>,
    /// Speak LMTP (LHLO) instead of SMTP.
    #[arg(long)]
    pub(crate) lmtp: bool,
    /// Implicit TLS (TLS from the first byte, port 465).
    #[arg(long, group = "tls_mode")]
    pub(crate) tls: bool,
    /// STARTTLS, required.
    #[arg(long, group = "tls_mode")]
    pub(crate) starttls: bool,
    /// STARTTLS when the server offers it, plaintext otherwise.
    #[arg(long, group = "tls_mode")]
    pub(crate) starttls_optional: bool,
    /// Trust only the CA certificates of this PEM file (instead of the built-in roots).
    #[arg(long, value_name = "PEM")]
    pub(crate) ca_file: Option<PathBuf>,
    /// Present this client certificate chain (PEM) when the server asks.
    #[arg(long, value_name = "PEM", requires = "client_key")]
    pub(crate) client_cert: Option<PathBuf>,
    /// The private key (PEM) of --client-cert.
    #[arg(long, value_name = "PEM", requires = "client_cert")]
    pub(crate) client_key: Option<PathBuf>,
    /// Do not verify the server's certificate (dangerous: anyone on the path can
    /// impersonate the server).
    #[arg(long)]
    pub(crate) insecure: bool,
    /// The name to send in EHLO (default: this host's name).
    #[arg(long, value_name = "NAME")]
    pub(crate) helo: Option<String>,
    /// Deadline of every phase, in seconds.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = parse_secs)]
    pub(crate) timeout: Duration,
    /// Print the transcript on stderr.
    #[arg(short = 'v', long = "verbose")]
    pub(crate) verbose: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

impl ConnArgs {
    /// The TLS policy the flags ask for (`None`: no TLS flag given).
    pub(crate) fn tls_policy(&self) -> Option<TlsPolicy> {
        if self.tls {
            Some(TlsPolicy::Implicit)
        } else if self.starttls {
            Some(TlsPolicy::Required)
        } else if self.starttls_optional {
            Some(TlsPolicy::Opportunistic)
        } else {
            None
        }
    }

    /// The client options (plaintext when no TLS flag is given). `Err`: a bad argument
    /// (an unreadable or invalid PEM file, a bad EHLO name), as one line.
    pub(crate) fn options(&self) -> Result<Options, String> {
        let mut o = Options::new()
            .with_timeout(self.timeout)
            .with_tls(self.tls_policy().unwrap_or(TlsPolicy::Never));
        if self.lmtp {
            o = o.with_dialect(Dialect::Lmtp);
        }
        let mut t = TlsOptions::new();
        if let Some(ca) = &self.ca_file {
            t = t.with_ca_file(ca).map_err(|e| e.to_string())?;
        }
        if let (Some(cert), Some(key)) = (&self.client_cert, &self.client_key) {
            let read = |p: &PathBuf| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
            t = t
                .with_client_cert_pem(&read(cert)?, &read(key)?)
                .map_err(|e| e.to_string())?;
        }
        if self.insecure {
            t = t.dangerous_accept_invalid_certs();
        }
        o.tls_options = t;
        o.helo_name = self.helo.clone();
        if let Some(h) = &o.helo_name {
            smtp_client::proto::command::Domain::parse(h)
                .map_err(|e| format!("bad --helo {h:?}: {e}"))?;
        }
        o.record_transcript = self.verbose;
        Ok(o)
    }
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("not a number of seconds: {s:?}"))?;
    if secs > 0.0 && secs.is_finite() {
        Duration::try_from_secs_f64(secs).map_err(|e| e.to_string())
    } else {
        Err(format!("not a positive number of seconds: {s:?}"))
    }
}
