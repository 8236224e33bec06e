//! Sockets: connecting (every resolved address, timeout, source address, TCP_NODELAY),
//! Unix sockets, and the TLS upgrade. No read-ahead buffering anywhere.

use std::io::{self, IoSlice, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use smtp_client::{
    ConnectFailures, Error, Options, Proxy, ProxyError, ProxyHandshake, ProxyStep, Target,
    TimeoutPhase, TlsInfo, connect_order,
};

/// A plain socket.
#[derive(Debug)]
pub(crate) enum Socket {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixStream),
}

impl Socket {
    fn set_timeouts(&self, read: Option<Duration>, write: Option<Duration>) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => {
                s.set_read_timeout(read)?;
                s.set_write_timeout(write)
            }
            #[cfg(unix)]
            Socket::Unix(s) => {
                s.set_read_timeout(read)?;
                s.set_write_timeout(write)
            }
        }
    }

    fn shutdown(&self) {
        let _ = match self {
            Socket::Tcp(s) => s.shutdown(std::net::Shutdown::Both),
            #[cfg(unix)]
            Socket::Unix(s) => s.shutdown(std::net::Shutdown::Both),
        };
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.read(buf),
            #[cfg(unix)]
            Socket::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.write(buf),
            #[cfg(unix)]
            Socket::Unix(s) => s.write(buf),
        }
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.write_vectored(bufs),
            #[cfg(unix)]
            Socket::Unix(s) => s.write_vectored(bufs),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The connection: plain, or TLS over the same socket.
#[derive(Debug)]
pub(crate) enum Transport {
    Plain(Socket),
    Tls(Box<StreamOwned<ClientConnection, Socket>>),
    Closed,
}

impl Transport {
    fn socket(&self) -> Option<&Socket> {
        match self {
            Transport::Plain(s) => Some(s),
            Transport::Tls(t) => Some(&t.sock),
            Transport::Closed => None,
        }
    }

    pub(crate) fn set_timeouts(
        &self,
        read: Option<Duration>,
        write: Option<Duration>,
    ) -> io::Result<()> {
        match self.socket() {
            Some(s) => s.set_timeouts(read, write),
            None => Ok(()),
        }
    }

    /// Reads whatever is available: every byte goes to the caller (no buffering).
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            // A peer that drops TCP without close_notify is treated as end of stream; the
            // core decides whether that was expected (after QUIT) or not.
            Transport::Tls(t) => match t.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                r => r,
            },
            Transport::Closed => Ok(0),
        }
    }

    /// Writes some prefix of the concatenation of `bufs` (one `writev` on a plain socket;
    /// with TLS, encrypts a prefix and flushes it).
    pub(crate) fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write_vectored(bufs),
            Transport::Tls(t) => {
                let t = &mut **t;
                let n = rustls::Stream::new(&mut t.conn, &mut t.sock).write_vectored(bufs)?;
                t.flush()?;
                Ok(n)
            }
            Transport::Closed => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// Runs the TLS handshake on the plain socket, bounded by `deadline` overall. What the
    /// connection negotiated goes to `seen`, also when the handshake fails.
    pub(crate) fn start_tls(
        &mut self,
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
        deadline: Option<Instant>,
        seen: &mut Option<TlsInfo>,
    ) -> Result<(), Error> {
        let Transport::Plain(sock) = std::mem::replace(self, Transport::Closed) else {
            return Err(Error::Usage(smtp_proto::session::UsageError::WrongState(
                "TLS is already established",
            )));
        };
        let conn =
            ClientConnection::new(config, name).map_err(|e| Error::tls(io::Error::other(e)))?;
        let mut tls = StreamOwned::new(conn, sock);
        let r = Self::handshake(&mut tls, deadline);
        *seen = Some(TlsInfo::from_rustls(&tls.conn));
        r?;
        *self = Transport::Tls(Box::new(tls));
        Ok(())
    }

    fn handshake(
        tls: &mut StreamOwned<ClientConnection, Socket>,
        deadline: Option<Instant>,
    ) -> Result<(), Error> {
        while tls.conn.is_handshaking() {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left.is_some_and(|l| l.is_zero()) {
                return Err(Error::Timeout(TimeoutPhase::TlsHandshake));
            }
            tls.sock.set_timeouts(left, left)?;
            match tls.conn.complete_io(&mut tls.sock) {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(Error::Timeout(TimeoutPhase::TlsHandshake));
                }
                Err(e) => return Err(Error::tls(e)),
            }
        }
        Ok(())
    }

    /// Closes the connection (sending TLS close_notify when possible).
    pub(crate) fn close(&mut self) {
        match std::mem::replace(self, Transport::Closed) {
            Transport::Tls(mut t) => {
                t.conn.send_close_notify();
                let _ = t.sock.set_timeouts(None, Some(Duration::from_millis(100)));
                let _ = t.conn.complete_io(&mut t.sock);
                t.sock.shutdown();
            }
            Transport::Plain(s) => s.shutdown(),
            Transport::Closed => {}
        }
    }
}

/// Connects to `target` as `opts` say: directly, or through [`Options::proxy`] (the proxy
/// handshake bounded by the connect timeout). Returns the stream and, for a direct
/// connection, its local address (through a proxy the server sees the proxy's).
pub(crate) fn connect(
    target: &Target,
    opts: &Options,
) -> Result<(TcpStream, Option<IpAddr>), Error> {
    let Some(proxy) = &opts.proxy else {
        let tcp = connect_tcp(target, opts.connect_timeout, opts.source_address)?;
        let local = tcp.local_addr().ok().map(|a| a.ip());
        return Ok((tcp, local));
    };
    let deadline = Instant::now().checked_add(opts.connect_timeout);
    let mut hs = if proxy.resolves_locally(&target.host) {
        ProxyHandshake::to_resolved(proxy, target, resolve(target)?)?
    } else {
        ProxyHandshake::new(proxy, &target.host, target.port)?
    };
    let mut tcp = connect_tcp(proxy.target(), opts.connect_timeout, opts.source_address)
        .map_err(|e| proxy.connect_failed(e))?;
    proxy_handshake(&mut tcp, &mut hs, proxy, deadline)?;
    Ok((tcp, None))
}

/// Runs `hs` over `tcp` until the tunnel is open, reading no more than it asks for.
fn proxy_handshake(
    tcp: &mut TcpStream,
    hs: &mut ProxyHandshake,
    proxy: &Proxy,
    deadline: Option<Instant>,
) -> Result<(), Error> {
    let mut buf = [0u8; 512];
    let fail = |e: io::Error| {
        if matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            Error::Timeout(TimeoutPhase::ProxyHandshake)
        } else {
            proxy.error(ProxyError::Io(e))
        }
    };
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left.is_some_and(|l| l.is_zero()) && !hs.is_done() {
            return Err(Error::Timeout(TimeoutPhase::ProxyHandshake));
        }
        match hs.step() {
            ProxyStep::Done => break,
            ProxyStep::Write(b) => {
                tcp.set_write_timeout(left).map_err(fail)?;
                match tcp.write(b) {
                    Ok(0) => return Err(fail(io::ErrorKind::WriteZero.into())),
                    Ok(n) => hs.wrote(n),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(fail(e)),
                }
            }
            ProxyStep::Read(n) => {
                tcp.set_read_timeout(left).map_err(fail)?;
                let n = n.min(buf.len());
                match tcp.read(&mut buf[..n]) {
                    Ok(0) => return Err(proxy.error(hs.eof())),
                    Ok(k) => {
                        hs.received(&buf[..k]).map_err(|e| proxy.error(e))?;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(fail(e)),
                }
            }
        }
    }
    tcp.set_read_timeout(None).map_err(fail)?;
    tcp.set_write_timeout(None).map_err(fail)?;
    Ok(())
}

/// The addresses `target` resolves to.
fn resolve(target: &Target) -> Result<std::vec::IntoIter<SocketAddr>, Error> {
    (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|source| Error::Connect {
            target: target.to_string(),
            source,
        })
}

/// Connects to every resolved address in turn, each bounded by `timeout`.
fn connect_tcp(
    target: &Target,
    timeout: Duration,
    source: Option<SocketAddr>,
) -> Result<TcpStream, Error> {
    let mut failures = ConnectFailures::new();
    for addr in connect_order(resolve(target)?, source) {
        match connect_one(addr, timeout, source) {
            Ok(s) => return Ok(s),
            Err(e) => failures.failed(e),
        }
    }
    Err(failures.into_error(target))
}

fn connect_one(
    addr: SocketAddr,
    timeout: Duration,
    source: Option<SocketAddr>,
) -> io::Result<TcpStream> {
    let sock = smtp_client::tcp_socket(addr, source)?;
    sock.connect_timeout(&addr.into(), timeout)?;
    Ok(sock.into())
}
