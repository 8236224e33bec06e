//! [`Options`]: every setting of a connection, the core's included.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use smtp_proto::command::Domain;
use smtp_proto::session::{Config, Dialect, Timeouts, TlsPolicy};

use crate::error::Error;
use crate::tls::TlsOptions;

/// Connection settings. Start from [`Options::new`] (or `default()`) and adjust.
///
/// [`core`](Self::core) is the sans-IO core's whole [`Config`], so every core setting
/// (pipelining, in-flight window, output cap, reply limits, BDAT chunk size, DSN dropping,
/// HELO fallback, ...) is reachable; the other fields are what a driver needs beyond it.
///
/// ```
/// use smtp_client::{Options, TlsPolicy};
///
/// let mut opts = Options::new().with_timeout(std::time::Duration::from_secs(30));
/// opts.core.tls = TlsPolicy::Opportunistic;
/// opts.core.max_in_flight = 1; // no pipelining
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// The core's settings. Its `client_name` is set at connect time from
    /// [`helo_name`](Self::helo_name); [`Config::tls`] defaults to [`TlsPolicy::Required`]
    /// (STARTTLS must succeed: STARTTLS is a connect-time policy, not a call).
    pub core: Config,
    /// The EHLO/LHLO name. Default: this host's name if it is a fully qualified domain,
    /// else the local address as an address literal, else `localhost.localdomain`.
    pub helo_name: Option<String>,
    /// Trust and client-certificate settings.
    pub tls_options: TlsOptions,
    /// TCP connect deadline, per address tried (default 60 s).
    pub connect_timeout: Duration,
    /// TLS handshake deadline (default 60 s).
    pub tls_handshake_timeout: Duration,
    /// Local address to bind before connecting (smtplib's `source_address`).
    pub source_address: Option<SocketAddr>,
    /// Keep the transcript for `take_transcript` (it always goes to `tracing` at debug
    /// level under [`TRANSCRIPT_TARGET`](crate::TRANSCRIPT_TARGET)).
    pub record_transcript: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self::new()
    }
}

impl Options {
    /// SMTP, STARTTLS required, verified certificates, RFC 5321 timeouts.
    pub fn new() -> Self {
        let mut core = Config::new(placeholder_name());
        core.tls = TlsPolicy::Required;
        Options {
            core,
            helo_name: None,
            tls_options: TlsOptions::new(),
            connect_timeout: Duration::from_secs(60),
            tls_handshake_timeout: Duration::from_secs(60),
            source_address: None,
            record_transcript: false,
        }
    }

    /// Sets every deadline (connect, TLS handshake and each SMTP phase) to `d`.
    pub fn with_timeout(mut self, d: Duration) -> Self {
        self.core.timeouts = Timeouts::all(d);
        self.connect_timeout = d;
        self.tls_handshake_timeout = d;
        self
    }

    /// Sets the TLS policy ([`Config::tls`]).
    pub fn with_tls(mut self, policy: TlsPolicy) -> Self {
        self.core.tls = policy;
        self
    }

    /// Sets the dialect ([`Config::dialect`]): SMTP or LMTP.
    pub fn with_dialect(mut self, dialect: Dialect) -> Self {
        self.core.dialect = dialect;
        self
    }

    /// The port used when the server address names none: 465 for implicit TLS, 24 for
    /// LMTP, else 25.
    pub fn default_port(&self) -> u16 {
        match (self.core.dialect, self.core.tls) {
            (_, TlsPolicy::Implicit) => 465,
            (Dialect::Lmtp, _) => 24,
            _ => 25,
        }
    }

    /// The core configuration for a connection whose local address is `local`: the EHLO
    /// name is [`helo_name`](Self::helo_name) or, when unset, [`default_client_name`];
    /// `transcript` turns on the core's transcript.
    pub fn core_config(&self, local: Option<IpAddr>, transcript: bool) -> Result<Config, Error> {
        let mut cfg = self.core.clone();
        cfg.client_name = match &self.helo_name {
            Some(n) => {
                Domain::parse(n).map_err(|e| Error::InvalidInput(format!("HELO name: {e}")))?
            }
            None => default_client_name(local),
        };
        cfg.transcript = cfg.transcript || transcript;
        Ok(cfg)
    }
}

fn placeholder_name() -> Domain {
    Domain::parse("localhost.localdomain").expect("a valid domain")
}

/// This host's FQDN when it is one, else the local address literal, else
/// `localhost.localdomain`.
pub fn default_client_name(local: Option<IpAddr>) -> Domain {
    let host = gethostname::gethostname();
    if let Some(h) = host.to_str()
        && h.contains('.')
        && let Ok(d) = Domain::parse(h)
        && !d.is_address_literal()
    {
        return d;
    }
    match local {
        Some(ip) => Domain::from_ip(ip),
        None => placeholder_name(),
    }
}
