//! Runtimes: what the driver needs from an async runtime (a TCP connect, name resolution
//! and a timer), for tokio and for the async-io family (smol, async-std).
//!
//! The driver itself works on any [`AsyncStream`] (the `futures-io` traits), so one TLS
//! path (futures-rustls) serves every runtime, and a caller's own stream (a proxy tunnel,
//! a Unix socket, an in-memory pipe) is driven the same way.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Instant;

/// A byte stream the client can drive: the `futures-io` read and write traits.
///
/// Tokio streams are adapted with [`tokio_util::compat`] (see
/// [`SmtpClient::from_tokio_stream`](crate::SmtpClient::from_tokio_stream)).
///
/// `Sync` too, so that the client is: a future that holds `&client` across an `.await`
/// stays `Send` (spawnable).
pub trait AsyncStream:
    futures_io::AsyncRead + futures_io::AsyncWrite + Send + Sync + Unpin
{
}

impl<T: futures_io::AsyncRead + futures_io::AsyncWrite + Send + Sync + Unpin + ?Sized> AsyncStream
    for T
{
}

/// A boxed [`AsyncStream`].
pub type BoxStream = Box<dyn AsyncStream>;

/// A connected stream and its local address.
pub type Connected = io::Result<(BoxStream, Option<SocketAddr>)>;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the driver needs from a runtime. Implemented by `Tokio` and `AsyncIo` (features `tokio`, `futures-io`); any
/// other runtime can implement it too.
pub trait Runtime: Send + Sync + std::fmt::Debug + 'static {
    /// Completes at `deadline`.
    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()>;
    /// Connects a TCP stream to `addr` (from `source` when given) with TCP_NODELAY set;
    /// returns it with its local address.
    fn connect(
        &self,
        addr: SocketAddr,
        source: Option<SocketAddr>,
    ) -> BoxFuture<'static, Connected>;
    /// Connects to the Unix socket at `path`.
    #[cfg(unix)]
    fn connect_unix(&self, path: std::path::PathBuf) -> BoxFuture<'static, io::Result<BoxStream>>;
    /// Resolves `host` (a name or an IP literal) to socket addresses.
    fn resolve(&self, host: String, port: u16) -> BoxFuture<'static, io::Result<Vec<SocketAddr>>>;
}

/// A socket for `addr`, bound to `source` when given, with TCP_NODELAY, non-blocking,
/// ready to connect.
#[cfg(any(feature = "tokio", feature = "futures-io"))]
fn new_socket(addr: SocketAddr, source: Option<SocketAddr>) -> io::Result<socket2::Socket> {
    let sock = smtp_client::tcp_socket(addr, source)?;
    sock.set_nonblocking(true)?;
    Ok(sock)
}

/// The tokio runtime (feature `tokio`, on by default). Needs a tokio runtime with the
/// time and I/O drivers enabled.
#[cfg(feature = "tokio")]
#[derive(Clone, Copy, Debug, Default)]
pub struct Tokio;

#[cfg(feature = "tokio")]
impl Runtime for Tokio {
    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep_until(deadline.into()))
    }

    fn connect(
        &self,
        addr: SocketAddr,
        source: Option<SocketAddr>,
    ) -> BoxFuture<'static, Connected> {
        use tokio_util::compat::TokioAsyncReadCompatExt as _;
        Box::pin(async move {
            let sock = new_socket(addr, source)?;
            let sock = tokio::net::TcpSocket::from_std_stream(sock.into());
            let stream = sock.connect(addr).await?;
            stream.set_nodelay(true)?;
            let local = stream.local_addr().ok();
            Ok((Box::new(stream.compat()) as BoxStream, local))
        })
    }

    #[cfg(unix)]
    fn connect_unix(&self, path: std::path::PathBuf) -> BoxFuture<'static, io::Result<BoxStream>> {
        use tokio_util::compat::TokioAsyncReadCompatExt as _;
        Box::pin(async move {
            let s = tokio::net::UnixStream::connect(path).await?;
            Ok(Box::new(s.compat()) as BoxStream)
        })
    }

    fn resolve(&self, host: String, port: u16) -> BoxFuture<'static, io::Result<Vec<SocketAddr>>> {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), port))
                .await?
                .collect())
        })
    }
}

/// The async-io runtime family (feature `futures-io`): smol, and async-std, which runs on
/// the same reactor. Name resolution runs on the `blocking` thread pool.
#[cfg(feature = "futures-io")]
#[derive(Clone, Copy, Debug, Default)]
pub struct AsyncIo;

#[cfg(feature = "futures-io")]
impl Runtime for AsyncIo {
    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            async_io::Timer::at(deadline).await;
        })
    }

    fn connect(
        &self,
        addr: SocketAddr,
        source: Option<SocketAddr>,
    ) -> BoxFuture<'static, Connected> {
        Box::pin(async move {
            let sock = new_socket(addr, source)?;
            match sock.connect(&addr.into()) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock || in_progress(&e) => {}
                Err(e) => return Err(e),
            }
            let stream = async_io::Async::new_nonblocking(std::net::TcpStream::from(sock))?;
            stream.writable().await?;
            if let Some(e) = stream.get_ref().take_error()? {
                return Err(e);
            }
            // Reports "not connected" if the connection failed without a pending error.
            stream.get_ref().peer_addr()?;
            let local = stream.get_ref().local_addr().ok();
            Ok((Box::new(stream) as BoxStream, local))
        })
    }

    #[cfg(unix)]
    fn connect_unix(&self, path: std::path::PathBuf) -> BoxFuture<'static, io::Result<BoxStream>> {
        Box::pin(async move {
            let s = async_io::Async::<std::os::unix::net::UnixStream>::connect(path).await?;
            Ok(Box::new(s) as BoxStream)
        })
    }

    fn resolve(&self, host: String, port: u16) -> BoxFuture<'static, io::Result<Vec<SocketAddr>>> {
        Box::pin(blocking::unblock(move || {
            use std::net::ToSocketAddrs as _;
            Ok((host.as_str(), port).to_socket_addrs()?.collect())
        }))
    }
}

/// A non-blocking connect under way (EINPROGRESS; Windows reports WouldBlock).
#[cfg(feature = "futures-io")]
fn in_progress(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        e.raw_os_error() == Some(libc::EINPROGRESS)
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// The runtime used by the calls that name none: `Tokio` when called inside a tokio
/// runtime (feature `tokio`), else `AsyncIo` (feature `futures-io`), else `Tokio`. With
/// both features on (Cargo unifies features across a build), a smol or async-std program
/// thus still gets `AsyncIo`.
#[cfg(any(feature = "tokio", feature = "futures-io"))]
pub fn default_runtime() -> &'static dyn Runtime {
    #[cfg(all(feature = "tokio", feature = "futures-io"))]
    {
        if tokio::runtime::Handle::try_current().is_ok() {
            &Tokio
        } else {
            &AsyncIo
        }
    }
    #[cfg(all(feature = "tokio", not(feature = "futures-io")))]
    {
        &Tokio
    }
    #[cfg(not(feature = "tokio"))]
    {
        &AsyncIo
    }
}
