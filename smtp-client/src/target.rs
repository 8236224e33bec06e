//! Where to connect: [`Target`] parsing (`host`, `host:port`, `[v6]:port`) and the TCP
//! socket set-up every driver shares ([`tcp_socket`]). No connecting happens here.

use std::io;
use std::net::{IpAddr, SocketAddr};

use crate::error::Error;

/// A server address: host (name or IP literal) and port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    /// Host name or IP address (without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl Target {
    /// Parses `host`, `host:port`, `[v6addr]`, `[v6addr]:port` or a bare IPv6 address;
    /// `default_port` applies when no port is given.
    pub fn parse(s: &str, default_port: u16) -> Result<Target, Error> {
        let bad = || Error::InvalidInput(format!("bad server address {s:?}"));
        if let Some(rest) = s.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(bad)?;
            host.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
            let port = match after {
                "" => default_port,
                p => p
                    .strip_prefix(':')
                    .ok_or_else(bad)?
                    .parse()
                    .map_err(|_| bad())?,
            };
            return Ok(Target {
                host: host.into(),
                port,
            });
        }
        if s.parse::<IpAddr>().is_ok() {
            return Ok(Target {
                host: s.into(),
                port: default_port,
            });
        }
        match s.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() => Ok(Target {
                host: h.into(),
                port: p.parse().map_err(|_| bad())?,
            }),
            Some(_) => Err(bad()),
            None if s.is_empty() => Err(bad()),
            None => Ok(Target {
                host: s.into(),
                port: default_port,
            }),
        }
    }
}

impl From<IpAddr> for Target {
    fn from(ip: IpAddr) -> Self {
        Target {
            host: ip.to_string(),
            port: 25,
        }
    }
}

impl From<SocketAddr> for Target {
    fn from(a: SocketAddr) -> Self {
        Target {
            host: a.ip().to_string(),
            port: a.port(),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A TCP socket for `addr`, bound to `source` when given (smtplib's `source_address`),
/// with TCP_NODELAY (peers lose ~40 ms per message to Nagle and delayed ACK). Every driver
/// (blocking, async, or your own event loop) connects it its own way.
pub fn tcp_socket(addr: SocketAddr, source: Option<SocketAddr>) -> io::Result<socket2::Socket> {
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    if let Some(src) = source {
        sock.bind(&src.into())?;
    }
    sock.set_tcp_nodelay(true)?;
    Ok(sock)
}

/// The order in which to try the addresses a name `resolved` to, given the local address
/// `source` to bind (only its family can work): IPv6 and IPv4 interleaved, starting with
/// the family resolved first (RFC 8305 §4), so one unreachable family costs one connect
/// timeout, not one per address.
///
/// ```
/// use std::net::SocketAddr;
/// let a = |s: &str| s.parse::<SocketAddr>().unwrap();
/// let order = smtp_client::connect_order(
///     [a("[::1]:25"), a("[::2]:25"), a("127.0.0.1:25"), a("127.0.0.2:25")],
///     None,
/// );
/// assert_eq!(order, [a("[::1]:25"), a("127.0.0.1:25"), a("[::2]:25"), a("127.0.0.2:25")]);
/// let v4 = smtp_client::connect_order([a("[::1]:25"), a("127.0.0.1:25")], Some(a("127.0.0.3:0")));
/// assert_eq!(v4, [a("127.0.0.1:25")]);
/// ```
pub fn connect_order(
    resolved: impl IntoIterator<Item = SocketAddr>,
    source: Option<SocketAddr>,
) -> Vec<SocketAddr> {
    let usable = resolved
        .into_iter()
        .filter(|a| source.is_none_or(|s| s.is_ipv4() == a.is_ipv4()));
    let (mut first, mut second) = (Vec::new(), Vec::new());
    let mut first_v4 = None;
    for a in usable {
        let v4 = *first_v4.get_or_insert(a.is_ipv4());
        if a.is_ipv4() == v4 {
            first.push(a);
        } else {
            second.push(a);
        }
    }
    let mut out = Vec::with_capacity(first.len() + second.len());
    let (mut f, mut s) = (first.into_iter(), second.into_iter());
    loop {
        match (f.next(), s.next()) {
            (None, None) => return out,
            (a, b) => out.extend(a.into_iter().chain(b)),
        }
    }
}

/// The failures of trying each address of a [`Target`] in turn, and the error they add
/// up to when none connected: [`Error::Timeout`] (connect) when the last one timed out,
/// else [`Error::Connect`] with the last error.
#[derive(Debug, Default)]
pub struct ConnectFailures {
    last: Option<io::Error>,
}

impl ConnectFailures {
    /// No failure yet.
    pub fn new() -> ConnectFailures {
        ConnectFailures::default()
    }

    /// One address failed with `e` (a connect timeout as `ErrorKind::TimedOut`).
    pub fn failed(&mut self, e: io::Error) {
        self.last = Some(e);
    }

    /// The error for `target` once every address failed (or none was usable).
    pub fn into_error(self, target: &Target) -> Error {
        match self.last {
            Some(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                ) =>
            {
                Error::Timeout(crate::TimeoutPhase::Connect)
            }
            Some(source) => Error::Connect {
                target: target.to_string(),
                source,
            },
            None => Error::Connect {
                target: target.to_string(),
                source: io::Error::new(io::ErrorKind::NotFound, "no usable address"),
            },
        }
    }
}
