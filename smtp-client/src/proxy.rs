//! Proxies: [`Proxy`] (parsed from a URL) and the sans-IO [`ProxyHandshake`] that opens a
//! tunnel to the mail server through it, SOCKS5 (RFC 1928, with no authentication or
//! username/password per RFC 1929) or HTTP/1.1 CONNECT (RFC 9110 §9.3.6, with optional
//! Basic authentication).
//!
//! Nothing here touches a socket: see [`ProxyHandshake`] for the driving loop.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use base64::Engine as _;

use crate::error::Error;
use crate::target::Target;

/// Longest HTTP response head (status line and headers) read from a proxy.
pub const MAX_HTTP_HEAD: usize = 8 * 1024;

/// The kind of proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProxyKind {
    /// SOCKS5 (`socks5://`): the mail server's name is resolved here and its address sent
    /// to the proxy (the first address in [`connect_order`](crate::connect_order)).
    Socks5,
    /// SOCKS5 with the name resolved by the proxy (`socks5h://`): the name is sent as is.
    Socks5h,
    /// HTTP/1.1 CONNECT (`http://`): the name is sent as is; the proxy resolves it.
    HttpConnect,
}

impl ProxyKind {
    fn scheme(self) -> &'static str {
        match self {
            ProxyKind::Socks5 => "socks5",
            ProxyKind::Socks5h => "socks5h",
            ProxyKind::HttpConnect => "http",
        }
    }
}

/// A proxy to reach the mail server through, parsed from a URL:
/// `socks5://[user:pass@]host[:port]`, `socks5h://...` or `http://[user:pass@]host[:port]`
/// (default port 1080 for SOCKS5, 80 for HTTP; user and password may be %-encoded; IPv6
/// hosts in brackets). TLS, implicit or STARTTLS, runs end to end with the mail server
/// through the tunnel and checks the mail server's name, never the proxy's.
///
/// `Display` and `Debug` show the credentials as `***`.
///
/// ```
/// use smtp_client::{Proxy, ProxyKind};
///
/// let p: Proxy = "http://bob:p%40ss@[::1]:3128".parse()?;
/// assert_eq!(p.kind(), ProxyKind::HttpConnect);
/// assert_eq!(p.target().to_string(), "[::1]:3128");
/// assert_eq!(p.credentials(), Some(("bob", "p@ss")));
/// assert_eq!(format!("{p} {p:?}").matches("p@ss").count(), 0);
/// let err = "socks4://127.0.0.1:1080".parse::<Proxy>().unwrap_err();
/// assert!(err.to_string().contains("socks5://"), "{err}");
/// # Ok::<(), smtp_client::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Proxy {
    kind: ProxyKind,
    target: Target,
    credentials: Option<(String, String)>,
}

impl Proxy {
    /// A proxy of `kind` at `target`, without credentials.
    pub fn new(kind: ProxyKind, target: Target) -> Proxy {
        Proxy {
            kind,
            target,
            credentials: None,
        }
    }

    /// The same proxy with a user name and password (SOCKS5: RFC 1929, at most 255 octets
    /// each, user not empty; HTTP: Basic, no `:` in the user name).
    pub fn with_credentials(mut self, user: &str, password: &str) -> Result<Proxy, Error> {
        check_credentials(self.kind, user, password)?;
        self.credentials = Some((user.to_owned(), password.to_owned()));
        Ok(self)
    }

    /// The kind of proxy.
    pub fn kind(&self) -> ProxyKind {
        self.kind
    }

    /// Where the proxy listens: what a driver connects to.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The user name and password, if any.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.credentials
            .as_ref()
            .map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// Whether the driver must resolve `host` itself and hand the handshake an address
    /// (`socks5://` with a name rather than an IP literal).
    pub fn resolves_locally(&self, host: &str) -> bool {
        self.kind == ProxyKind::Socks5 && host.parse::<IpAddr>().is_err()
    }

    /// The error for a failed connection to the proxy itself (an [`Error::Connect`] or
    /// connect [`Error::Timeout`] from connecting to [`target`](Self::target)), as
    /// [`ProxyError::Connect`]; other errors are returned unchanged.
    pub fn connect_failed(&self, e: Error) -> Error {
        let source = match e {
            Error::Connect { source, .. } => source,
            Error::Timeout(crate::TimeoutPhase::Connect) => std::io::ErrorKind::TimedOut.into(),
            e => return e,
        };
        self.error(ProxyError::Connect(source))
    }

    /// `source` as an [`Error::Proxy`] naming this proxy (credentials redacted).
    pub fn error(&self, source: ProxyError) -> Error {
        Error::Proxy {
            proxy: self.to_string(),
            source,
        }
    }
}

fn check_credentials(kind: ProxyKind, user: &str, password: &str) -> Result<(), Error> {
    let bad = |why: &str| Err(Error::InvalidInput(format!("proxy credentials: {why}")));
    match kind {
        ProxyKind::Socks5 | ProxyKind::Socks5h => {
            if user.is_empty() || user.len() > 255 {
                return bad("a SOCKS5 user name has 1 to 255 octets (RFC 1929)");
            }
            if password.len() > 255 {
                return bad("a SOCKS5 password has at most 255 octets (RFC 1929)");
            }
        }
        ProxyKind::HttpConnect => {
            if user.contains(':') {
                return bad("an HTTP Basic user name cannot contain ':'");
            }
            if user.len() + password.len() > 4096 {
                return bad("HTTP Basic credentials longer than 4096 octets");
            }
        }
    }
    Ok(())
}

impl FromStr for Proxy {
    type Err = Error;

    /// Parses a proxy URL; the error says what is wrong and what is accepted (the URL in
    /// it has its credentials redacted).
    fn from_str(s: &str) -> Result<Proxy, Error> {
        let shown = redact_url(s);
        let bad = |why: &str| {
            Error::InvalidInput(format!(
                "bad proxy URL {shown:?}: {why} (expected socks5://[user:password@]host:port, \
                 socks5h://... to let the proxy resolve names, or http://[user:password@]host:port \
                 for HTTP CONNECT)"
            ))
        };
        let (scheme, rest) = s.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let kind = match scheme.to_ascii_lowercase().as_str() {
            "socks5" => ProxyKind::Socks5,
            "socks5h" => ProxyKind::Socks5h,
            "http" => ProxyKind::HttpConnect,
            "https" => return Err(bad("TLS to the proxy (https://) is not supported")),
            "socks4" | "socks4a" | "socks" => return Err(bad("only SOCKS version 5 is supported")),
            _ => return Err(bad("unknown scheme")),
        };
        let authority = match rest.find(['/', '?', '#']) {
            Some(i) if &rest[i..] == "/" => &rest[..i],
            Some(_) => return Err(bad("a path, query or fragment is not allowed")),
            None => rest,
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let default_port = match kind {
            ProxyKind::HttpConnect => 80,
            _ => 1080,
        };
        if hostport.is_empty() {
            return Err(bad("no host"));
        }
        // A bare IPv6 address would be ambiguous with a port: brackets are required.
        if !hostport.starts_with('[') && hostport.matches(':').count() > 1 {
            return Err(bad("an IPv6 address must be in brackets"));
        }
        let target = Target::parse(hostport, default_port).map_err(|_| bad("bad host or port"))?;
        if target.port == 0 {
            return Err(bad("port 0"));
        }
        if target.host.parse::<Ipv6Addr>().is_err() && !valid_host(&target.host) {
            return Err(bad("bad host name"));
        }
        let mut proxy = Proxy::new(kind, target);
        if let Some(ui) = userinfo {
            let (u, p) = ui.split_once(':').unwrap_or((ui, ""));
            let u = percent_decode(u).ok_or_else(|| bad("bad %-encoding in the user name"))?;
            let p = percent_decode(p).ok_or_else(|| bad("bad %-encoding in the password"))?;
            check_credentials(kind, &u, &p).map_err(|e| match e {
                Error::InvalidInput(m) => bad(&m),
                e => e,
            })?;
            proxy.credentials = Some((u, p));
        }
        Ok(proxy)
    }
}

/// A host name as a URL may hold it: letters, digits, `-`, `.`, `_`.
fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// `s` with any `user:password@` replaced by `***@`.
fn redact_url(s: &str) -> String {
    let Some((scheme, rest)) = s.split_once("://") else {
        return s.chars().take(200).collect();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let shown = match rest[..end].rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://***@{host}{}", &rest[end..]),
        None => s.to_owned(),
    };
    shown.chars().take(200).collect()
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let creds = if self.credentials.is_some() {
            "***@"
        } else {
            ""
        };
        write!(f, "{}://{creds}{}", self.kind.scheme(), self.target)
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Proxy({self})")
    }
}

// ---------------------------------------------------------------- errors

/// Why a proxy did not open the tunnel: inside [`Error::Proxy`], distinct from the mail
/// server's own errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The proxy itself could not be reached (I/O).
    #[error("could not connect to the proxy: {0}")]
    Connect(std::io::Error),
    /// The proxy could not or would not connect to the mail server: a SOCKS5 reply code
    /// or an HTTP status other than 2xx.
    #[error("the proxy did not connect to {target}: {refusal}")]
    Refused {
        /// The mail server as asked of the proxy.
        target: String,
        /// The proxy's answer.
        refusal: ProxyRefusal,
    },
    /// The proxy wants credentials and the URL has none (SOCKS5: no acceptable method;
    /// HTTP: 407) (caller).
    #[error("the proxy requires authentication: give user:password in the proxy URL")]
    AuthRequired,
    /// The proxy refused the credentials (SOCKS5 RFC 1929 status, or HTTP 407 to a request
    /// that had them) (caller).
    #[error("the proxy refused the credentials")]
    AuthRejected,
    /// The proxy broke its protocol (a malformed or oversized reply).
    #[error("the proxy broke its protocol: {0}")]
    Protocol(&'static str),
    /// The proxy closed the connection before the tunnel was open.
    #[error("the proxy closed the connection during the handshake")]
    Closed,
    /// An I/O error talking to the proxy.
    #[error("I/O error talking to the proxy: {0}")]
    Io(std::io::Error),
}

/// A proxy's refusal to connect to the mail server.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyRefusal {
    /// A SOCKS5 reply code other than 0 (RFC 1928 §6).
    Socks(u8),
    /// An HTTP status other than 2xx, with its reason phrase (printable ASCII, at most
    /// 200 characters).
    Http {
        /// The status code.
        status: u16,
        /// The reason phrase.
        reason: String,
    },
}

impl ProxyRefusal {
    /// Whether it is about reaching the mail server (unreachable, refused, timed out; the
    /// network's fault) rather than the proxy's policy or its own failure.
    pub fn is_unreachable(&self) -> bool {
        match self {
            ProxyRefusal::Socks(c) => matches!(c, 3..=6),
            ProxyRefusal::Http { status, .. } => matches!(status, 502 | 504),
        }
    }

    /// Whether trying again later may work (SOCKS5: general failure or unreachable;
    /// HTTP: 5xx).
    pub fn is_transient(&self) -> bool {
        match self {
            ProxyRefusal::Socks(c) => matches!(c, 1 | 3..=6),
            ProxyRefusal::Http { status, .. } => (500..600).contains(status),
        }
    }
}

impl fmt::Display for ProxyRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyRefusal::Socks(c) => {
                let what = match c {
                    1 => "general SOCKS server failure",
                    2 => "connection not allowed by ruleset",
                    3 => "network unreachable",
                    4 => "host unreachable",
                    5 => "connection refused",
                    6 => "TTL expired",
                    7 => "command not supported",
                    8 => "address type not supported",
                    _ => "unassigned reply code",
                };
                write!(f, "SOCKS5 reply {c} ({what})")
            }
            ProxyRefusal::Http { status, reason } => write!(f, "HTTP {status} {reason}"),
        }
    }
}

impl ProxyError {
    /// Whose fault it is: the network's for an unreachable proxy or mail server, the
    /// caller's for missing or wrong credentials, else the proxy's.
    pub fn fault(&self) -> crate::Fault {
        use crate::Fault;
        match self {
            ProxyError::Connect(_) | ProxyError::Io(_) => Fault::Io,
            ProxyError::Refused { refusal, .. } if refusal.is_unreachable() => Fault::Io,
            ProxyError::AuthRequired | ProxyError::AuthRejected => Fault::Caller,
            _ => Fault::Proxy,
        }
    }

    /// Whether trying again later may work.
    pub fn is_transient(&self) -> bool {
        match self {
            ProxyError::Connect(_) | ProxyError::Io(_) | ProxyError::Closed => true,
            ProxyError::Refused { refusal, .. } => refusal.is_transient(),
            _ => false,
        }
    }

    /// A copy (I/O errors keep their kind and text).
    pub fn copy(&self) -> ProxyError {
        let io = |e: &std::io::Error| std::io::Error::new(e.kind(), e.to_string());
        match self {
            ProxyError::Connect(e) => ProxyError::Connect(io(e)),
            ProxyError::Io(e) => ProxyError::Io(io(e)),
            ProxyError::Refused { target, refusal } => ProxyError::Refused {
                target: target.clone(),
                refusal: refusal.clone(),
            },
            ProxyError::AuthRequired => ProxyError::AuthRequired,
            ProxyError::AuthRejected => ProxyError::AuthRejected,
            ProxyError::Protocol(m) => ProxyError::Protocol(m),
            ProxyError::Closed => ProxyError::Closed,
        }
    }
}

// ---------------------------------------------------------------- handshake

/// What the [`ProxyHandshake`] needs next.
#[derive(Debug, PartialEq, Eq)]
pub enum ProxyStep<'a> {
    /// Write these bytes (then report [`wrote`](ProxyHandshake::wrote)).
    Write(&'a [u8]),
    /// Read at most this many bytes (never 0) and hand them to
    /// [`received`](ProxyHandshake::received); reading more could swallow the mail
    /// server's first bytes.
    Read(usize),
    /// The tunnel is open: the connection now leads to the mail server.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// SOCKS5: waiting for the method selection (2 octets).
    SocksMethod,
    /// SOCKS5: waiting for the RFC 1929 status (2 octets).
    SocksAuth,
    /// SOCKS5: waiting for the reply to CONNECT (4 octets, then the address).
    SocksReply,
    /// HTTP: waiting for the response head.
    HttpHead,
    Done,
    Failed,
}

/// The sans-IO client side of a proxy handshake: opens a tunnel to `host:port` through a
/// [`Proxy`]. Bounded memory (at most [`MAX_HTTP_HEAD`] octets of reply), never reads
/// past the proxy's reply, and any input (truncated, oversized, hostile) ends in a
/// [`ProxyError`], never a panic.
///
/// A driver connects to [`Proxy::target`], then answers the [`ProxyStep`]s with its own
/// byte-moving code (write, read at most the bytes asked for) until [`ProxyStep::Done`],
/// under its connect deadline. Since it never asks for a byte past the proxy's reply,
/// whatever follows (the mail server's greeting, or TLS) stays in the socket for the SMTP
/// session. `smtp-blocking` and `smtp-async` both drive it when
/// [`Options::proxy`](crate::Options::proxy) is set; a blocking loop:
///
/// ```no_run
/// use std::io::{Read, Write};
/// use smtp_client::{Proxy, ProxyHandshake, ProxyStep};
///
/// let proxy: Proxy = "socks5h://127.0.0.1:1080".parse()?;
/// let mut sock = std::net::TcpStream::connect(proxy.target().to_string())?;
/// let mut hs = ProxyHandshake::new(&proxy, "mx.example.org", 25)?;
/// let mut buf = [0; 512];
/// loop {
///     match hs.step() {
///         ProxyStep::Write(b) => {
///             let n = sock.write(b)?;
///             hs.wrote(n);
///         }
///         ProxyStep::Read(n) => match sock.read(&mut buf[..n.min(512)])? {
///             0 => return Err(proxy.error(hs.eof()).into()),
///             k => {
///                 hs.received(&buf[..k]).map_err(|e| proxy.error(e))?;
///             }
///         },
///         ProxyStep::Done => break, // `sock` now leads to mx.example.org:25
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ProxyHandshake {
    phase: Phase,
    out: Vec<u8>,
    written: usize,
    buf: Vec<u8>,
    /// The SOCKS5 CONNECT request, sent after authentication.
    request: Vec<u8>,
    /// The username/password sub-negotiation, when credentials were given.
    auth: Option<Vec<u8>>,
    /// `host:port` as shown in errors.
    target: String,
    had_credentials: bool,
    /// HTTP: the status line was complete and 2xx.
    status_ok: bool,
}

impl ProxyHandshake {
    /// A handshake asking `proxy` for a tunnel to `host` (a name or an IP literal, without
    /// brackets) port `port`. For `socks5://` give an address when
    /// [`Proxy::resolves_locally`] says so ([`to_resolved`](Self::to_resolved) picks it); a
    /// name is then sent as for `socks5h://`.
    pub fn new(proxy: &Proxy, host: &str, port: u16) -> Result<ProxyHandshake, Error> {
        let ip = host.parse::<IpAddr>().ok();
        if ip.is_none() && (host.is_empty() || host.len() > 255 || !valid_host(host)) {
            return Err(Error::InvalidInput(format!(
                "server name {host:?} cannot be sent to a proxy"
            )));
        }
        let target = Target {
            host: host.to_owned(),
            port,
        }
        .to_string();
        let mut hs = ProxyHandshake {
            phase: Phase::Failed,
            out: Vec::new(),
            written: 0,
            buf: Vec::new(),
            request: Vec::new(),
            auth: None,
            target,
            had_credentials: proxy.credentials.is_some(),
            status_ok: false,
        };
        match proxy.kind {
            ProxyKind::Socks5 | ProxyKind::Socks5h => {
                hs.phase = Phase::SocksMethod;
                hs.out = match &proxy.credentials {
                    None => vec![5, 1, 0],
                    Some((u, p)) => {
                        let mut a = vec![1, u.len() as u8];
                        a.extend_from_slice(u.as_bytes());
                        a.push(p.len() as u8);
                        a.extend_from_slice(p.as_bytes());
                        hs.auth = Some(a);
                        vec![5, 2, 0, 2]
                    }
                };
                let mut r = vec![5, 1, 0];
                match ip {
                    Some(IpAddr::V4(a)) => {
                        r.push(1);
                        r.extend_from_slice(&a.octets());
                    }
                    Some(IpAddr::V6(a)) => {
                        r.push(4);
                        r.extend_from_slice(&a.octets());
                    }
                    None => {
                        r.push(3);
                        r.push(host.len() as u8);
                        r.extend_from_slice(host.as_bytes());
                    }
                }
                r.extend_from_slice(&port.to_be_bytes());
                hs.request = r;
            }
            ProxyKind::HttpConnect => {
                hs.phase = Phase::HttpHead;
                let t = &hs.target;
                let mut req = format!("CONNECT {t} HTTP/1.1\r\nHost: {t}\r\n");
                if let Some((u, p)) = &proxy.credentials {
                    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
                    req.push_str(&format!("Proxy-Authorization: Basic {b64}\r\n"));
                }
                req.push_str("\r\n");
                hs.out = req.into_bytes();
            }
        }
        Ok(hs)
    }

    /// The handshake for a tunnel to `target` when [`Proxy::resolves_locally`] says the
    /// driver resolves its name: `resolved` are the addresses it found, and the first in
    /// [`connect_order`](crate::connect_order) is sent to the proxy (none: the connect
    /// error for `target`). Every driver's choice of address, written once.
    pub fn to_resolved(
        proxy: &Proxy,
        target: &Target,
        resolved: impl IntoIterator<Item = SocketAddr>,
    ) -> Result<ProxyHandshake, Error> {
        match crate::connect_order(resolved, None).first() {
            Some(a) => ProxyHandshake::new(proxy, &a.ip().to_string(), target.port),
            None => Err(crate::ConnectFailures::new().into_error(target)),
        }
    }

    /// What to do next.
    pub fn step(&self) -> ProxyStep<'_> {
        match self.phase {
            Phase::Done => ProxyStep::Done,
            // After a failure the driver has its error; nothing more to do.
            Phase::Failed => ProxyStep::Done,
            _ if self.written < self.out.len() => ProxyStep::Write(&self.out[self.written..]),
            _ => ProxyStep::Read(self.wanted()),
        }
    }

    /// Whether the tunnel is open.
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// `n` bytes of the last [`ProxyStep::Write`] were written.
    pub fn wrote(&mut self, n: usize) {
        self.written = (self.written + n).min(self.out.len());
    }

    /// How many bytes the next read may take: exactly what is missing of a SOCKS5 reply;
    /// for HTTP, the fewest octets that could end the head (so never one past it).
    fn wanted(&self) -> usize {
        let b = &self.buf;
        match self.phase {
            Phase::SocksMethod | Phase::SocksAuth => 2 - b.len(),
            Phase::SocksReply => {
                let total = match (b.len(), b.get(3)) {
                    (0..4, _) => 4,
                    (_, Some(1)) => 4 + 4 + 2,
                    (_, Some(4)) => 4 + 16 + 2,
                    (4, Some(3)) => 5,
                    (_, _) => 5 + usize::from(b.get(4).copied().unwrap_or(0)) + 2,
                };
                total.saturating_sub(b.len())
            }
            Phase::HttpHead => {
                // The head ends with an empty line: LF, optional CR, LF.
                if b.ends_with(b"\n") || b.ends_with(b"\n\r") {
                    1
                } else {
                    2
                }
            }
            Phase::Done | Phase::Failed => 0,
        }
    }

    /// Hands over bytes read from the proxy; returns how many were part of its reply (all
    /// of them when the driver read no more than [`ProxyStep::Read`] asked; the rest, if
    /// any, come from the mail server). An error ends the handshake.
    pub fn received(&mut self, mut data: &[u8]) -> Result<usize, ProxyError> {
        let mut used = 0;
        while !data.is_empty() && self.written >= self.out.len() {
            if matches!(self.phase, Phase::Done | Phase::Failed) {
                break;
            }
            let n = self.wanted().min(data.len());
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
            used += n;
            if let Err(e) = self.advance(n) {
                self.phase = Phase::Failed;
                self.buf = Vec::new();
                return Err(e);
            }
        }
        if self.phase == Phase::Failed {
            return Err(ProxyError::Protocol("input after a failed handshake"));
        }
        Ok(used)
    }

    /// The proxy closed the connection: the error to report (a refusal it had already
    /// sent was reported by [`received`](Self::received)).
    pub fn eof(&mut self) -> ProxyError {
        self.phase = Phase::Failed;
        ProxyError::Closed
    }

    /// Acts on a complete message in `buf`, if there is one (`added`: octets just added).
    fn advance(&mut self, added: usize) -> Result<(), ProxyError> {
        let b = &self.buf;
        match self.phase {
            Phase::SocksMethod if b.len() == 2 => {
                if b[0] != 5 {
                    return Err(ProxyError::Protocol("not a SOCKS5 proxy (bad version)"));
                }
                match (b[1], self.auth.take()) {
                    (0, _) => {
                        let r = std::mem::take(&mut self.request);
                        self.send(Phase::SocksReply, r);
                    }
                    (2, Some(auth)) => self.send(Phase::SocksAuth, auth),
                    (0xFF, _) if self.had_credentials => return Err(ProxyError::AuthRejected),
                    (0xFF, None) => return Err(ProxyError::AuthRequired),
                    _ => {
                        return Err(ProxyError::Protocol(
                            "the SOCKS5 proxy chose a method that was not offered",
                        ));
                    }
                }
            }
            Phase::SocksAuth if b.len() == 2 => {
                // RFC 1929 says version 1; some servers answer with 5.
                if b[0] != 1 && b[0] != 5 {
                    return Err(ProxyError::Protocol("bad SOCKS5 authentication reply"));
                }
                if b[1] != 0 {
                    return Err(ProxyError::AuthRejected);
                }
                let r = std::mem::take(&mut self.request);
                self.send(Phase::SocksReply, r);
            }
            Phase::SocksReply if b.len() >= 4 => {
                if b[0] != 5 {
                    return Err(ProxyError::Protocol("bad SOCKS5 reply version"));
                }
                if b[1] != 0 {
                    return Err(ProxyError::Refused {
                        target: self.target.clone(),
                        refusal: ProxyRefusal::Socks(b[1]),
                    });
                }
                if !matches!(b[3], 1 | 3 | 4) {
                    return Err(ProxyError::Protocol("bad SOCKS5 address type"));
                }
                if self.wanted() == 0 {
                    self.finish();
                }
            }
            Phase::HttpHead => {
                if b.len() > MAX_HTTP_HEAD {
                    return Err(ProxyError::Protocol("HTTP response head too long"));
                }
                // The status line is judged as soon as it is complete.
                let fresh = b.len() - added;
                let line_end = match b[fresh..].iter().position(|&c| c == b'\n') {
                    Some(i) if !self.status_ok => Some(fresh + i + 1),
                    _ => None,
                };
                if let Some(end) = line_end {
                    let status = parse_status_line(&b[..end])?;
                    if !(200..300).contains(&status.0) {
                        return Err(match status.0 {
                            407 if self.had_credentials => ProxyError::AuthRejected,
                            407 => ProxyError::AuthRequired,
                            code => ProxyError::Refused {
                                target: self.target.clone(),
                                refusal: ProxyRefusal::Http {
                                    status: code,
                                    reason: status.1,
                                },
                            },
                        });
                    }
                    self.status_ok = true;
                }
                if b.ends_with(b"\n\n") || b.ends_with(b"\n\r\n") {
                    self.finish();
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn send(&mut self, phase: Phase, out: Vec<u8>) {
        self.phase = phase;
        self.out = out;
        self.written = 0;
        self.buf.clear();
    }

    fn finish(&mut self) {
        self.phase = Phase::Done;
        self.out = Vec::new();
        self.written = 0;
        self.buf = Vec::new();
        self.auth = None;
    }
}

/// `HTTP/1.x SSS reason` (CRLF or LF): the status and a printable reason phrase.
fn parse_status_line(line: &[u8]) -> Result<(u16, String), ProxyError> {
    let bad = || ProxyError::Protocol("bad HTTP status line");
    let line = line.strip_suffix(b"\n").ok_or_else(bad)?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let rest = line.strip_prefix(b"HTTP/1.").ok_or_else(bad)?;
    if rest.len() < 5 || !rest[0].is_ascii_digit() || rest[1] != b' ' {
        return Err(bad());
    }
    let code = &rest[2..5];
    if !code.iter().all(u8::is_ascii_digit) || rest.get(5).is_some_and(|&c| c != b' ') {
        return Err(bad());
    }
    let status = code.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    if status < 100 {
        return Err(bad());
    }
    let reason = rest
        .get(6..)
        .unwrap_or_default()
        .iter()
        .take(200)
        .map(|&c| {
            if (0x20..0x7f).contains(&c) {
                char::from(c)
            } else {
                '?'
            }
        })
        .collect();
    Ok((status, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Proxy {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    /// Runs `hs` against scripted proxy output `reply`, reading exactly what it asks;
    /// returns the bytes written and the outcome.
    fn run(hs: &mut ProxyHandshake, reply: &[u8]) -> (Vec<u8>, Result<usize, ProxyError>) {
        let mut written = Vec::new();
        let mut pos = 0;
        loop {
            match hs.step() {
                ProxyStep::Write(b) => {
                    written.extend_from_slice(b);
                    let n = b.len();
                    hs.wrote(n);
                }
                ProxyStep::Read(n) => {
                    assert!(n > 0);
                    if pos == reply.len() {
                        return (written, Err(hs.eof()));
                    }
                    let end = (pos + n).min(reply.len());
                    match hs.received(&reply[pos..end]) {
                        Ok(k) => assert_eq!(k, end - pos),
                        Err(e) => return (written, Err(e)),
                    }
                    pos = end;
                }
                ProxyStep::Done => return (written, Ok(pos)),
            }
        }
    }

    #[test]
    fn parses_urls() {
        let x = p("socks5://127.0.0.1:1080");
        assert_eq!((x.kind(), x.target().port), (ProxyKind::Socks5, 1080));
        assert_eq!(x.credentials(), None);
        assert_eq!(
            p("SOCKS5H://proxy.example:9050/").kind(),
            ProxyKind::Socks5h
        );
        assert_eq!(p("socks5h://proxy.example").target().port, 1080);
        assert_eq!(p("http://proxy.example").target().port, 80);
        assert_eq!(p("http://[::1]:3128").target().host, "::1");
        assert_eq!(p("http://u@h:1").credentials(), Some(("u", "")));
        assert_eq!(p("http://u:a:b@h:1").credentials(), Some(("u", "a:b")));
        assert_eq!(
            p("socks5://a%3Ab:c%40d@h:1").credentials(),
            Some(("a:b", "c@d"))
        );
        for bad in [
            "",
            "127.0.0.1:1080",
            "socks4://h:1",
            "https://h:1",
            "ftp://h:1",
            "socks5://",
            "socks5://h:0",
            "socks5://h:99999",
            "socks5://h:x",
            "socks5://::1:1080",
            "socks5://[::1",
            "socks5://h:1/path",
            "socks5://h:1?q",
            "socks5://h%20x:1",
            "socks5://:pw@h:1",
            "socks5://u:%zz@h:1",
            "http://a:b:c@h:1/x",
            "http://us:er@h:1#f",
        ] {
            let e = bad.parse::<Proxy>().expect_err(bad);
            assert!(matches!(e, Error::InvalidInput(_)), "{bad}: {e:?}");
        }
        let long = format!("socks5://{}:p@h:1", "u".repeat(256));
        assert!(long.parse::<Proxy>().is_err());
    }

    #[test]
    fn credentials_never_shown() {
        let x = p("socks5://alice:hunter2@127.0.0.1:1080");
        for shown in [x.to_string(), format!("{x:?}")] {
            assert!(
                !shown.contains("hunter2") && !shown.contains("alice"),
                "{shown}"
            );
        }
        assert_eq!(x.to_string(), "socks5://***@127.0.0.1:1080");
        let e = "socks5://alice:hunter2@h:1/x".parse::<Proxy>().unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let err = x.error(ProxyError::AuthRejected);
        assert!(!format!("{err} {err:?}").contains("hunter2"));
        assert_eq!(p("http://h:8").to_string(), "http://h:8");
        assert_eq!(p("http://[::1]:8").to_string(), "http://[::1]:8");
    }

    #[test]
    fn socks5_no_auth_by_name() {
        let mut hs = ProxyHandshake::new(&p("socks5h://h:1"), "mx.example.org", 587).unwrap();
        let (w, r) = run(&mut hs, b"\x05\x00\x05\x00\x00\x01\x7f\x00\x00\x01\x04\x38");
        assert_eq!(r.unwrap(), 12);
        assert!(hs.is_done());
        let mut want = b"\x05\x01\x00\x05\x01\x00\x03\x0emx.example.org".to_vec();
        want.extend_from_slice(&587u16.to_be_bytes());
        assert_eq!(w, want);
    }

    #[test]
    fn socks5_ip_targets_and_reply_address_types() {
        let mut hs = ProxyHandshake::new(&p("socks5://h:1"), "192.0.2.1", 25).unwrap();
        let (w, r) = run(&mut hs, b"\x05\x00\x05\x00\x00\x03\x03abc\x00\x19");
        assert_eq!(w, b"\x05\x01\x00\x05\x01\x00\x01\xc0\x00\x02\x01\x00\x19");
        assert_eq!(r.unwrap(), 2 + 4 + 1 + 3 + 2);
        let mut hs = ProxyHandshake::new(&p("socks5://h:1"), "::1", 25).unwrap();
        let mut reply = b"\x05\x00\x05\x00\x00\x04".to_vec();
        reply.extend_from_slice(&[0; 18]);
        let (w, r) = run(&mut hs, &reply);
        assert_eq!(w[3..7], [5, 1, 0, 4]);
        assert_eq!(w.len(), 3 + 4 + 16 + 2);
        assert_eq!(r.unwrap(), reply.len());
    }

    #[test]
    fn socks5_username_password() {
        let x = p("socks5h://alice:secret@h:1");
        let mut hs = ProxyHandshake::new(&x, "mx", 25).unwrap();
        let (w, r) = run(&mut hs, b"\x05\x02\x01\x00\x05\x00\x00\x01\0\0\0\0\0\0");
        r.unwrap();
        assert_eq!(&w[..4], b"\x05\x02\x00\x02");
        assert_eq!(&w[4..18], b"\x01\x05alice\x06secret");
        // Refused credentials; a proxy that wants them when none were given.
        let mut hs = ProxyHandshake::new(&x, "mx", 25).unwrap();
        assert!(matches!(
            run(&mut hs, b"\x05\x02\x01\x01").1,
            Err(ProxyError::AuthRejected)
        ));
        let mut hs = ProxyHandshake::new(&p("socks5h://h:1"), "mx", 25).unwrap();
        assert!(matches!(
            run(&mut hs, b"\x05\xff").1,
            Err(ProxyError::AuthRequired)
        ));
        // A method that was not offered.
        let mut hs = ProxyHandshake::new(&p("socks5h://h:1"), "mx", 25).unwrap();
        assert!(matches!(
            run(&mut hs, b"\x05\x02").1,
            Err(ProxyError::Protocol(_))
        ));
    }

    #[test]
    fn socks5_refusals_are_typed() {
        for code in 1..=9u8 {
            let mut hs = ProxyHandshake::new(&p("socks5h://h:1"), "mx", 25).unwrap();
            let reply = [5, 0, 5, code, 0, 1, 0, 0, 0, 0, 0, 0];
            match run(&mut hs, &reply).1 {
                Err(ProxyError::Refused {
                    target,
                    refusal: ProxyRefusal::Socks(c),
                }) => {
                    assert_eq!((target.as_str(), c), ("mx:25", code));
                }
                r => panic!("{code}: {r:?}"),
            }
        }
        let e = ProxyError::Refused {
            target: "mx:25".into(),
            refusal: ProxyRefusal::Socks(5),
        };
        assert_eq!(e.fault(), crate::Fault::Io);
        assert!(e.to_string().contains("connection refused"), "{e}");
        let e = ProxyError::Refused {
            target: "mx:25".into(),
            refusal: ProxyRefusal::Socks(2),
        };
        assert_eq!(e.fault(), crate::Fault::Proxy);
        assert!(!e.is_transient());
    }

    #[test]
    fn http_connect() {
        let x = p("http://alice:secret@h:1");
        let mut hs = ProxyHandshake::new(&x, "mx.example.org", 465).unwrap();
        let reply = b"HTTP/1.0 200 Connection established\r\nProxy-agent: t\r\n\r\n220 mx";
        let (w, r) = run(&mut hs, reply);
        // Stops at the end of the head: the greeting stays in the socket.
        assert_eq!(r.unwrap(), reply.len() - 6);
        assert_eq!(
            std::str::from_utf8(&w).unwrap(),
            "CONNECT mx.example.org:465 HTTP/1.1\r\nHost: mx.example.org:465\r\n\
             Proxy-Authorization: Basic YWxpY2U6c2VjcmV0\r\n\r\n"
        );
        // Bare LF line ends are tolerated; IPv6 targets are bracketed.
        let mut hs = ProxyHandshake::new(&p("http://h:1"), "::1", 25).unwrap();
        let (w, r) = run(&mut hs, b"HTTP/1.1 200 OK\n\n");
        assert_eq!(r.unwrap(), 17);
        assert!(w.starts_with(b"CONNECT [::1]:25 HTTP/1.1\r\nHost: [::1]:25\r\n\r\n"));
    }

    #[test]
    fn http_refusals() {
        type Check = fn(&ProxyError) -> bool;
        let cases: [(&[u8], Check); 5] = [
            (
                b"HTTP/1.1 403 Forbidden\r\n",
                |e| matches!(e, ProxyError::Refused { refusal: ProxyRefusal::Http { status: 403, reason }, .. } if reason == "Forbidden"),
            ),
            (b"HTTP/1.1 407 Proxy Authentication Required\r\n", |e| {
                matches!(e, ProxyError::AuthRequired)
            }),
            (
                b"HTTP/1.1 502 Bad\x01Gateway\r\n",
                |e| matches!(e, ProxyError::Refused { refusal: ProxyRefusal::Http { status: 502, reason }, .. } if reason == "Bad?Gateway"),
            ),
            (b"SSH-2.0-OpenSSH\r\n", |e| {
                matches!(e, ProxyError::Protocol(_))
            }),
            (b"HTTP/1.1 200 OK\r\n", |e| matches!(e, ProxyError::Closed)),
        ];
        for (reply, ok) in cases {
            let mut hs = ProxyHandshake::new(&p("http://h:1"), "mx", 25).unwrap();
            let e = run(&mut hs, reply).1.unwrap_err();
            assert!(ok(&e), "{:?}: {e:?}", String::from_utf8_lossy(reply));
        }
        let mut hs = ProxyHandshake::new(&p("http://u:p@h:1"), "mx", 25).unwrap();
        let e = run(&mut hs, b"HTTP/1.1 407 No\r\n\r\n").1.unwrap_err();
        assert!(matches!(e, ProxyError::AuthRejected));
        assert_eq!(e.fault(), crate::Fault::Caller);
        // A head that never ends is cut at the cap.
        let mut hs = ProxyHandshake::new(&p("http://h:1"), "mx", 25).unwrap();
        let mut long = b"HTTP/1.1 200 OK\r\n".to_vec();
        long.resize(MAX_HTTP_HEAD * 2, b'a');
        assert!(matches!(
            run(&mut hs, &long).1,
            Err(ProxyError::Protocol(_))
        ));
    }

    #[test]
    fn bad_targets_refused() {
        let x = p("socks5h://h:1");
        assert!(ProxyHandshake::new(&x, "", 25).is_err());
        assert!(ProxyHandshake::new(&x, "a\r\nb", 25).is_err());
        assert!(ProxyHandshake::new(&x, &"a".repeat(256), 25).is_err());
        assert!(ProxyHandshake::new(&p("http://h:1"), "a b", 25).is_err());
    }

    #[test]
    fn whole_input_reports_what_it_used() {
        // A driver that over-reads learns where the proxy's reply ended.
        let mut hs = ProxyHandshake::new(&p("socks5h://h:1"), "mx", 25).unwrap();
        let ProxyStep::Write(b) = hs.step() else {
            panic!()
        };
        let n = b.len();
        hs.wrote(n);
        assert_eq!(hs.received(b"\x05\x00").unwrap(), 2);
        let ProxyStep::Write(b) = hs.step() else {
            panic!()
        };
        let n = b.len();
        hs.wrote(n);
        let used = hs
            .received(b"\x05\x00\x00\x01\0\0\0\0\0\x00220 hi\r\n")
            .unwrap();
        assert_eq!(used, 10);
        assert!(hs.is_done());
    }
}
