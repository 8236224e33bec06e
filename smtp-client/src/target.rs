//! Where to connect: [`Target`] parsing (`host`, `host:port`, `[v6]:port`) and the TCP
//! socket set-up every driver shares ([`tcp_socket`]). No connecting happens here.

use std::io;
use std::net::{IpAddr, SocketAddr};

use crate::error::Error;

/// A server address: host (name or IP literal) and port.
#[derive(Clone, Debug, PartialEq, Eq)]
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
