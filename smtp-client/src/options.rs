//! [`Options`]: every setting of a connection, the core's included.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use smtp_proto::command::Domain;
use smtp_proto::session::{Config, Dialect, Timeouts, TlsPolicy};

use crate::error::Error;
use crate::proxy::Proxy;
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
    /// Reach the server through this SOCKS5 or HTTP CONNECT proxy (default none). The
    /// proxy handshake is bounded by [`connect_timeout`](Self::connect_timeout); TLS still
    /// runs end to end with the mail server and checks its name.
    pub proxy: Option<Proxy>,
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
            proxy: None,
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

    /// Connects through `proxy` ([`proxy`](Self::proxy)), e.g.
    /// `"socks5h://127.0.0.1:1080".parse()?`.
    pub fn with_proxy(mut self, proxy: Proxy) -> Self {
        self.proxy = Some(proxy);
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
    client_name_for(host.to_str(), local)
}

/// [`default_client_name`] for the host name `host` (RFC 5321 §4.1.1.1, §4.1.4): `host`
/// when it is a fully qualified domain name (it has a dot and is not an address), else
/// the address literal of `local`, else `localhost.localdomain`.
fn client_name_for(host: Option<&str>, local: Option<IpAddr>) -> Domain {
    if let Some(h) = host
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// RFC 5321 §4.1.1.1, §4.1.4: the FQDN when the host name is one, else the address
    /// literal of the local address, else `localhost.localdomain`.
    #[test]
    fn default_client_name_is_fqdn_else_address_literal_else_placeholder() {
        let v4 = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)));
        let v6 = Some(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)));
        let name = |host, local| client_name_for(host, local).to_string();
        assert_eq!(name(Some("mail.example.org"), v4), "mail.example.org");
        assert_eq!(name(Some("mail.example.org"), None), "mail.example.org");
        // Not fully qualified, not a name, or an address: the local address literal.
        assert_eq!(name(Some("mail"), v4), "[192.0.2.7]");
        assert_eq!(name(Some("bad_name.example"), v4), "[192.0.2.7]");
        assert_eq!(name(Some("[192.0.2.1]"), v4), "[192.0.2.7]");
        assert_eq!(name(None, v6), "[IPv6:2001:db8::1]");
        // Nothing better: the placeholder.
        assert_eq!(name(Some("mail"), None), "localhost.localdomain");
        assert_eq!(name(None, None), "localhost.localdomain");
        // The public function asks this host's name.
        let host = gethostname::gethostname();
        assert_eq!(default_client_name(v4), client_name_for(host.to_str(), v4));
    }
}
