//! [`SmtpClient`]: the async driver and its smtplib-like API (the blocking crate's,
//! method for method, as async functions).

use std::collections::VecDeque;
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_io::{AsyncRead, AsyncWrite};
use smtp_blocking::driver::{
    Batch, Segments, close_error, core_config, message_envelope, push_capped, sasl_nonce,
    sendmail_envelope, single_result, transcript_text,
};
use smtp_blocking::proto::Capabilities;
use smtp_blocking::proto::command::{
    Command, ForwardPath, MailParams, Mechanism, RawCommand, RcptParams, ReversePath, SmtpString,
};
use smtp_blocking::proto::sasl::{Credentials, PASSWORD_RANKING};
use smtp_blocking::proto::session::{
    Action, Client, CloseReason, Envelope, Event, MANUAL_TX, Phase, TxId, UsageError,
};
use smtp_blocking::{Error, Options, SendReport, ServerReply, Target, TimeoutPhase};

use crate::runtime::{AsyncStream, BoxFuture, BoxStream, Runtime};

/// The `tracing` target of the transcript (debug level).
pub const TRANSCRIPT_TARGET: &str = "smtp_async::transcript";

/// Read buffer per connection: replies are small, and an idle session should stay small.
const READ_BUF: usize = 4 * 1024;
/// Chunk read from a body reader at a time.
const BODY_CHUNK: usize = 64 * 1024;

/// A caller-supplied STARTTLS (or implicit TLS) upgrade: takes the plain stream, runs the
/// handshake, returns the encrypted stream. Used by
/// [`SmtpClient::from_stream`]; the default is rustls with [`Options::tls_options`].
pub type TlsUpgrade =
    Box<dyn FnOnce(BoxStream) -> BoxFuture<'static, io::Result<BoxStream>> + Send + Sync>;

/// A message body: bytes in memory or any `futures-io` reader (streamed in constant
/// memory; adapt a tokio reader with `tokio_util::compat`).
pub enum Body<'a> {
    /// In memory. 8-bit content is detected and declared as `BODY=8BITMIME`.
    Bytes(&'a [u8]),
    /// Read to the end; declare 8-bit content yourself with [`Envelope::body`].
    Reader(&'a mut (dyn AsyncRead + Send + Unpin)),
}

impl std::fmt::Debug for Body<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Bytes(b) => write!(f, "Body::Bytes({} octets)", b.len()),
            Body::Reader(_) => f.write_str("Body::Reader"),
        }
    }
}

/// A body being fed to the core for one transaction.
struct Feed<'a> {
    tx: TxId,
    body: Body<'a>,
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
}

impl<'a> Feed<'a> {
    fn new(tx: TxId, body: Body<'a>) -> Self {
        Feed {
            tx,
            body,
            buf: Vec::new(),
            pos: 0,
            eof: false,
        }
    }
}

/// The bodies being sent, and the zero-copy segments of the in-memory ones (written
/// with vectored writes instead of being copied into the core's output).
#[derive(Default)]
struct Feeds<'a> {
    list: Vec<Feed<'a>>,
    segs: Segments<'a>,
}

/// The outcome of an I/O operation raced against a deadline.
enum Timed<T> {
    Done(io::Result<T>),
    TimedOut,
}

/// Polls `op` until it completes or `deadline` passes.
async fn timed<T>(
    rt: &dyn Runtime,
    deadline: Option<Instant>,
    mut op: impl FnMut(&mut Context<'_>) -> Poll<io::Result<T>>,
) -> Timed<T> {
    let mut sleep = deadline.map(|d| rt.sleep_until(d));
    poll_fn(|cx| {
        if let Poll::Ready(r) = op(cx) {
            return Poll::Ready(Timed::Done(r));
        }
        if let Some(s) = &mut sleep
            && s.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Timed::TimedOut);
        }
        Poll::Pending
    })
    .await
}

/// An async SMTP/LMTP client session. Connect with [`SmtpClient::connect`]; the session
/// is ready (greeting, EHLO, STARTTLS per policy) when it returns.
///
/// # Cancellation
///
/// No method is resumable: dropping a method's future before it completes (a `select!`,
/// a timeout wrapper, an aborted task) leaves the server in an unknown state, so the
/// connection is poisoned: [`is_usable`](Self::is_usable) turns false at once, and the
/// next call closes the connection (without a word to the server) and returns
/// [`Error::Cancelled`], as does every call after it; dropping the client closes it too.
/// The [`Pool`](crate::Pool) never hands such a connection out again. Dropping the client
/// between calls is always safe. The accessors that do no I/O
/// ([`has_extn`](Self::has_extn), [`capabilities`](Self::capabilities), ...) are not
/// futures and cannot be cancelled.
///
/// Every exchange with the server has the core's deadline, so outer timeouts are not
/// needed for a stalling server; reading a caller's [`Body::Reader`] has none (the
/// caller's reader is the caller's to bound). The time source is the real clock: tokio's
/// paused test clock is not supported.
pub struct SmtpClient {
    core: Client,
    io: Option<BoxStream>,
    rt: &'static dyn Runtime,
    host: String,
    opts: Options,
    upgrade: Option<TlsUpgrade>,
    events: VecDeque<Event>,
    greeting: Option<ServerReply>,
    transcript: Option<Vec<String>>,
    buf: Box<[u8]>,
    /// Set while a method runs; still set afterwards only if its future was dropped.
    busy: bool,
}

impl std::fmt::Debug for SmtpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpClient")
            .field("host", &self.host)
            .field("runtime", &self.rt)
            .field("core", &self.core)
            .field("busy", &self.busy)
            .finish_non_exhaustive()
    }
}

impl SmtpClient {
    /// Connects to `server` (`host`, `host:port`, `[v6]:port`; default port 25, 24 for
    /// LMTP, 465 for implicit TLS) on the default runtime (tokio when its feature is on),
    /// trying every resolved address, and runs the greeting, EHLO and STARTTLS.
    #[cfg(any(feature = "tokio", feature = "futures-io"))]
    pub async fn connect(server: &str, opts: Options) -> Result<SmtpClient, Error> {
        Self::connect_on(crate::runtime::default_runtime(), server, opts).await
    }

    /// [`connect`](Self::connect) on the runtime `rt` (e.g. `&smtp_async::AsyncIo` for
    /// smol or async-std).
    pub async fn connect_on(
        rt: &'static dyn Runtime,
        server: &str,
        opts: Options,
    ) -> Result<SmtpClient, Error> {
        let target = Target::parse(server, opts.default_port())?;
        Self::connect_to_on(rt, target, opts).await
    }

    /// [`connect`](Self::connect) to a parsed target.
    #[cfg(any(feature = "tokio", feature = "futures-io"))]
    pub async fn connect_to(target: Target, opts: Options) -> Result<SmtpClient, Error> {
        Self::connect_to_on(crate::runtime::default_runtime(), target, opts).await
    }

    /// [`connect`](Self::connect) to an IP address (port 25, 24 or 465 as above).
    #[cfg(any(feature = "tokio", feature = "futures-io"))]
    pub async fn connect_ip(ip: IpAddr, opts: Options) -> Result<SmtpClient, Error> {
        let port = opts.default_port();
        let target = Target {
            host: ip.to_string(),
            port,
        };
        Self::connect_to_on(crate::runtime::default_runtime(), target, opts).await
    }

    /// [`connect_on`](Self::connect_on) to a parsed target.
    pub async fn connect_to_on(
        rt: &'static dyn Runtime,
        target: Target,
        opts: Options,
    ) -> Result<SmtpClient, Error> {
        let (stream, local) = connect_tcp(rt, &target, &opts).await?;
        Self::start(rt, stream, target.host, local, opts, None).await
    }

    /// Runs a session over a stream the caller connected: a proxy tunnel, a Unix socket,
    /// an in-memory pipe. `host` is the name certificates are verified against. When TLS
    /// is needed (STARTTLS or [`TlsPolicy::Implicit`](crate::TlsPolicy::Implicit)),
    /// `upgrade` runs the handshake; `None` uses rustls with [`Options::tls_options`].
    pub async fn from_stream(
        rt: &'static dyn Runtime,
        stream: impl AsyncStream + 'static,
        host: &str,
        opts: Options,
        upgrade: Option<TlsUpgrade>,
    ) -> Result<SmtpClient, Error> {
        Self::start(rt, Box::new(stream), host.into(), None, opts, upgrade).await
    }

    /// [`from_stream`](Self::from_stream) for a tokio stream, on the tokio runtime.
    #[cfg(feature = "tokio")]
    pub async fn from_tokio_stream(
        stream: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Sync + Unpin + 'static,
        host: &str,
        opts: Options,
        upgrade: Option<TlsUpgrade>,
    ) -> Result<SmtpClient, Error> {
        use tokio_util::compat::TokioAsyncReadCompatExt as _;
        Self::from_stream(&crate::Tokio, stream.compat(), host, opts, upgrade).await
    }

    /// Connects to a Unix socket (LMTP delivery agents such as Dovecot's) on the default
    /// runtime. TLS, if requested, verifies against
    /// [`TlsOptions::with_server_name`](smtp_blocking::TlsOptions::with_server_name)
    /// (default `localhost`).
    #[cfg(all(unix, any(feature = "tokio", feature = "futures-io")))]
    pub async fn connect_unix(
        path: impl AsRef<std::path::Path>,
        opts: Options,
    ) -> Result<SmtpClient, Error> {
        Self::connect_unix_on(crate::runtime::default_runtime(), path, opts).await
    }

    /// [`connect_unix`](Self::connect_unix) on the runtime `rt`.
    #[cfg(unix)]
    pub async fn connect_unix_on(
        rt: &'static dyn Runtime,
        path: impl AsRef<std::path::Path>,
        opts: Options,
    ) -> Result<SmtpClient, Error> {
        let path = path.as_ref();
        let stream = rt
            .connect_unix(path.to_owned())
            .await
            .map_err(|source| Error::Connect {
                target: path.display().to_string(),
                source,
            })?;
        Self::start(rt, stream, "localhost".into(), None, opts, None).await
    }

    async fn start(
        rt: &'static dyn Runtime,
        io: BoxStream,
        host: String,
        local: Option<IpAddr>,
        opts: Options,
        upgrade: Option<TlsUpgrade>,
    ) -> Result<SmtpClient, Error> {
        let transcript = opts.record_transcript
            || tracing::enabled!(target: TRANSCRIPT_TARGET, tracing::Level::DEBUG);
        let cfg = core_config(&opts, local, transcript)?;
        let mut c = SmtpClient {
            core: Client::new(cfg, Instant::now()),
            io: Some(io),
            rt,
            host,
            transcript: opts.record_transcript.then(Vec::new),
            opts,
            upgrade,
            events: VecDeque::new(),
            greeting: None,
            buf: vec![0; READ_BUF].into_boxed_slice(),
            busy: false,
        };
        c.ehlo_or_helo_if_needed().await?;
        Ok(c)
    }

    // ------------------------------------------------------------------ cancellation

    /// Marks the start of an operation; fails if an earlier one was cancelled.
    fn enter(&mut self) -> Result<(), Error> {
        if self.busy {
            // The previous operation's future was dropped mid-way: the server's state is
            // unknown. Nothing more is written.
            self.core.abort();
            self.io = None;
            return Err(Error::Cancelled);
        }
        self.busy = true;
        Ok(())
    }

    /// Marks the end of an operation.
    fn leave<T>(&mut self, r: Result<T, Error>) -> Result<T, Error> {
        self.busy = false;
        r
    }

    /// Whether the connection can take another command: not closed, and no earlier
    /// operation was cancelled.
    pub fn is_usable(&self) -> bool {
        !self.busy
            && !self.core.is_closed()
            && self.core.close_reason().is_none()
            && self.io.is_some()
    }

    // ------------------------------------------------------------------ the driver

    /// Drives the core until `stop` matches an event, the session is idle, or it closed.
    async fn run(
        &mut self,
        feeds: &mut Feeds<'_>,
        stop: &mut (dyn FnMut(&Event) -> bool + Send),
    ) -> Result<(), Error> {
        loop {
            let mut hit = false;
            while let Some(ev) = self.core.poll_event() {
                if let Event::Greeting(r) = &ev {
                    self.greeting = Some(r.into());
                }
                hit |= stop(&ev);
                self.events.push_back(ev);
            }
            self.drain_transcript();
            if hit {
                return Ok(());
            }
            match self.core.next_action() {
                Action::Write => self.write(&mut feeds.segs).await?,
                Action::Read => self.read().await?,
                Action::StartTls => self.start_tls().await?,
                Action::SupplyBody(tx) => self.supply(tx, feeds).await?,
                Action::Idle => return Ok(()),
                Action::Closed => {
                    self.close_io().await;
                    return Ok(());
                }
            }
        }
    }

    async fn write(&mut self, segs: &mut Segments<'_>) -> Result<(), Error> {
        if let Err(e) = segs.sync(&self.core) {
            self.core.abort();
            self.io = None;
            return Err(Error::Usage(e));
        }
        let Some(io) = self.io.as_mut() else {
            return Err(self.fail(io::ErrorKind::NotConnected.into()));
        };
        let deadline = self
            .core
            .poll_timeout()
            .or_else(|| after(self.opts.timeouts.data_block));
        let core = &self.core;
        let r = timed(self.rt, deadline, |cx| {
            if segs.is_empty() {
                Pin::new(&mut *io).poll_write(cx, core.pending_output())
            } else {
                let mut iov = [IoSlice::new(&[]); Segments::MAX_IOV];
                let k = segs.io_slices(core.pending_output(), &mut iov);
                Pin::new(&mut *io).poll_write_vectored(cx, &iov[..k])
            }
        })
        .await;
        match r {
            Timed::Done(Ok(0)) => Err(self.fail(io::ErrorKind::WriteZero.into())),
            Timed::Done(Ok(n)) => {
                self.core.consume_output(n, Instant::now());
                segs.advance(n);
                if self.core.pending_output().is_empty() && segs.is_empty() {
                    self.flush(deadline).await?;
                }
                Ok(())
            }
            Timed::TimedOut => self.write_timed_out(),
            Timed::Done(Err(e)) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Timed::Done(Err(e)) if is_connection_lost(&e) && self.salvage_replies().await => Ok(()),
            Timed::Done(Err(e)) => Err(self.fail(e)),
        }
    }

    /// A write did not finish by the deadline: the connection is stuck, so not even the
    /// QUIT the core may queue can go out. The error names the phase whose deadline
    /// passed (the core's close reason), else the data block.
    fn write_timed_out(&mut self) -> Result<(), Error> {
        self.core.handle_timeout(Instant::now());
        if self.core.is_closed() {
            return Ok(());
        }
        let err = match self.core.close_reason() {
            Some(r) => close_error(Some(r)),
            None => Error::Timeout(TimeoutPhase::Smtp(Phase::DataBlock)),
        };
        self.fail(io::ErrorKind::TimedOut.into());
        Err(err)
    }

    /// Pushes out what a TLS stream still buffers (a no-op for TCP).
    async fn flush(&mut self, deadline: Option<Instant>) -> Result<(), Error> {
        let Some(io) = self.io.as_mut() else {
            return Ok(());
        };
        match timed(self.rt, deadline, |cx| Pin::new(&mut *io).poll_flush(cx)).await {
            Timed::Done(Ok(())) => Ok(()),
            Timed::Done(Err(e)) if is_connection_lost(&e) && self.salvage_replies().await => Ok(()),
            Timed::Done(Err(e)) => Err(self.fail(e)),
            Timed::TimedOut => self.write_timed_out(),
        }
    }

    async fn read(&mut self) -> Result<(), Error> {
        let Some(io) = self.io.as_mut() else {
            self.core.handle_eof(Instant::now());
            return Ok(());
        };
        let buf = &mut self.buf;
        let r = timed(self.rt, self.core.poll_timeout(), |cx| {
            Pin::new(&mut *io).poll_read(cx, buf)
        })
        .await;
        match r {
            Timed::Done(Ok(0)) => self.core.handle_eof(Instant::now()),
            // Every byte read goes to the core at once: no read-ahead.
            Timed::Done(Ok(n)) => self.core.handle_input(Instant::now(), &self.buf[..n])?,
            // A peer that drops TLS without close_notify is treated as end of stream; the
            // core decides whether that was expected.
            Timed::Done(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                self.core.handle_eof(Instant::now())
            }
            Timed::Done(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Timed::Done(Err(e)) => return Err(self.fail(e)),
            Timed::TimedOut => self.core.handle_timeout(Instant::now()),
        }
        Ok(())
    }

    async fn start_tls(&mut self) -> Result<(), Error> {
        let Some(plain) = self.io.take() else {
            self.core.handle_io_error(Instant::now());
            return Err(Error::Io(io::ErrorKind::NotConnected.into()));
        };
        let mut handshake: BoxFuture<'static, io::Result<BoxStream>> = match self.upgrade.take() {
            Some(upgrade) => upgrade(plain),
            None => {
                let tls = &self.opts.tls_options;
                match tls.client_config().and_then(|cfg| {
                    let name = tls.server_name(&self.host)?;
                    Ok((cfg, name))
                }) {
                    Ok((cfg, name)) => {
                        let connector = futures_rustls::TlsConnector::from(cfg);
                        Box::pin(async move {
                            let s = connector.connect(name, plain).await?;
                            Ok(Box::new(s) as BoxStream)
                        })
                    }
                    Err(e) => {
                        self.core.handle_io_error(Instant::now());
                        return Err(e);
                    }
                }
            }
        };
        let deadline = after(self.opts.tls_handshake_timeout);
        match timed(self.rt, deadline, |cx| handshake.as_mut().poll(cx)).await {
            Timed::Done(Ok(s)) => {
                self.io = Some(s);
                self.core.handle_tls_established(Instant::now())?;
                Ok(())
            }
            Timed::Done(Err(e)) => {
                self.core.handle_io_error(Instant::now());
                Err(Error::Tls(e))
            }
            Timed::TimedOut => {
                self.core.handle_io_error(Instant::now());
                Err(Error::Timeout(TimeoutPhase::TlsHandshake))
            }
        }
    }

    /// A write failed because the server closed the connection: hands whatever can still
    /// be read to the core, then the end of stream, so that the server's reply (say, a
    /// `550` right after the `354`) decides the outcome rather than the write error.
    /// Returns whether anything was read.
    async fn salvage_replies(&mut self) -> bool {
        let Some(io) = self.io.as_mut() else {
            return false;
        };
        let deadline = Instant::now() + Duration::from_millis(200);
        let mut got = false;
        loop {
            let buf = &mut self.buf;
            match timed(self.rt, Some(deadline), |cx| {
                Pin::new(&mut *io).poll_read(cx, buf)
            })
            .await
            {
                Timed::Done(Ok(0)) | Timed::TimedOut => break,
                Timed::Done(Ok(n)) => {
                    got = true;
                    if self
                        .core
                        .handle_input(Instant::now(), &self.buf[..n])
                        .is_err()
                    {
                        break;
                    }
                }
                Timed::Done(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Timed::Done(Err(_)) => break,
            }
        }
        if got {
            // The connection is gone: nothing more can be written. The first EOF settles
            // what is still open, the second ends a closing session.
            self.io = None;
            self.core.handle_eof(Instant::now());
            if !self.core.is_closed() {
                self.core.handle_eof(Instant::now());
            }
        }
        got
    }

    /// The connection failed: the core gives up and the error is returned as I/O.
    fn fail(&mut self, e: io::Error) -> Error {
        self.core.handle_io_error(Instant::now());
        self.io = None;
        Error::Io(e)
    }

    /// Closes the stream (TLS close_notify when possible), waiting at most 100 ms.
    async fn close_io(&mut self) {
        if let Some(mut io) = self.io.take() {
            let deadline = Instant::now() + Duration::from_millis(100);
            let _ = timed(self.rt, Some(deadline), |cx| {
                Pin::new(&mut *io).poll_close(cx)
            })
            .await;
        }
    }

    async fn supply<'b>(&mut self, tx: TxId, feeds: &mut Feeds<'b>) -> Result<(), Error> {
        let Some(feed) = feeds.list.iter_mut().find(|f| f.tx == tx) else {
            self.core.abort();
            return Err(Error::Usage(UsageError::WrongState(
                "no body for this transaction",
            )));
        };
        match &mut feed.body {
            Body::Bytes(b) => {
                // Zero-copy: the core hands back slices of the body to write as they are.
                let bytes: &'b [u8] = b;
                let n = feeds.segs.write_body(&mut self.core, bytes)?;
                *b = &bytes[n..];
                if b.is_empty() {
                    self.core.finish_body()?;
                }
            }
            Body::Reader(r) => {
                if feed.pos == feed.buf.len() && !feed.eof {
                    feed.buf.resize(BODY_CHUNK, 0);
                    let buf = &mut feed.buf;
                    let n = match poll_fn(|cx| Pin::new(&mut **r).poll_read(cx, buf)).await {
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
                        Err(e) => {
                            // The caller's reader failed: drop the connection so that a
                            // partial message is never delivered.
                            self.core.abort();
                            self.io = None;
                            return Err(Error::Io(e));
                        }
                    };
                    feed.buf.truncate(n);
                    feed.pos = 0;
                    feed.eof = n == 0;
                }
                let n = self.core.write_body(&feed.buf[feed.pos..])?;
                feed.pos += n;
                if feed.eof {
                    self.core.finish_body()?;
                    feed.buf = Vec::new();
                }
            }
        }
        Ok(())
    }

    fn drain_transcript(&mut self) {
        while let Some(line) = self.core.poll_transcript() {
            let text = transcript_text(line);
            tracing::debug!(target: TRANSCRIPT_TARGET, "{text}");
            if let Some(t) = &mut self.transcript {
                push_capped(t, text);
            }
        }
    }

    fn closed_error(&self) -> Error {
        close_error(self.core.close_reason())
    }

    fn usage(&self, e: UsageError) -> Error {
        match e {
            UsageError::Closed => self.closed_error(),
            e => Error::Usage(e),
        }
    }

    async fn command(
        &mut self,
        f: impl FnOnce(&mut Client) -> Result<(), UsageError>,
    ) -> Result<ServerReply, Error> {
        self.enter()?;
        self.events.clear();
        let r = match f(&mut self.core) {
            Ok(()) => self.await_reply(&mut Feeds::default()).await,
            Err(e) => Err(self.usage(e)),
        };
        self.leave(r)
    }

    /// Runs the session until the next [`Event::Reply`], and returns that reply.
    async fn await_reply(&mut self, feeds: &mut Feeds<'_>) -> Result<ServerReply, Error> {
        self.run(feeds, &mut |e| matches!(e, Event::Reply { .. }))
            .await?;
        let reply = self.events.drain(..).find_map(|e| match e {
            Event::Reply { reply, .. } => Some(reply),
            _ => None,
        });
        match reply {
            Some(r) => Ok((&r).into()),
            None => Err(self.closed_error()),
        }
    }

    // ------------------------------------------------------------------ session info

    /// Makes sure the session is ready (greeting and EHLO/LHLO done, or HELO after a
    /// refused EHLO, and STARTTLS per policy). [`connect`](Self::connect) already does it.
    pub async fn ehlo_or_helo_if_needed(&mut self) -> Result<(), Error> {
        self.enter()?;
        let r = self.run(&mut Feeds::default(), &mut |_| false).await;
        let r = match r {
            Ok(()) if self.core.is_closed() => Err(self.closed_error()),
            r => r,
        };
        self.leave(r)
    }

    /// Sends EHLO (LHLO for LMTP) again and returns its reply whatever the code; a 250
    /// replaces the [`capabilities`](Self::capabilities).
    pub async fn ehlo(&mut self) -> Result<ServerReply, Error> {
        self.command(|c| c.hello(false)).await
    }

    /// Sends HELO and returns its reply whatever the code; a 250 clears the capabilities.
    pub async fn helo(&mut self) -> Result<ServerReply, Error> {
        self.command(|c| c.hello(true)).await
    }

    /// The capabilities of the last EHLO/LHLO reply.
    pub fn capabilities(&self) -> Option<&Capabilities> {
        self.core.capabilities()
    }

    /// Whether the server advertised the extension `name` (case-insensitive).
    pub fn has_extn(&self, name: &str) -> bool {
        self.core.capabilities().is_some_and(|c| c.has_extn(name))
    }

    /// The advertised extensions and their parameters (lower-case keywords, as smtplib).
    pub fn esmtp_features(&self) -> Vec<(String, String)> {
        self.core
            .capabilities()
            .map(Capabilities::esmtp_features)
            .unwrap_or_default()
    }

    /// The greeting reply.
    pub fn greeting(&self) -> Option<&ServerReply> {
        self.greeting.as_ref()
    }

    /// Whether the session fell back to HELO.
    pub fn is_helo_only(&self) -> bool {
        self.core.is_helo_only()
    }

    /// Whether the connection is encrypted (implicit TLS or STARTTLS done).
    pub fn is_encrypted(&self) -> bool {
        self.core.is_encrypted()
    }

    /// Whether the session is over.
    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
    }

    /// Takes the transcript recorded so far (with [`Options::record_transcript`]).
    pub fn take_transcript(&mut self) -> Vec<String> {
        self.drain_transcript();
        self.transcript
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    // ------------------------------------------------------------------ commands

    /// `VRFY address`. Returns the reply whatever its code, like smtplib.
    pub async fn verify(&mut self, address: &str) -> Result<ServerReply, Error> {
        let arg = smtp_string(address)?;
        self.command(|c| c.vrfy(arg)).await
    }

    /// `EXPN list`.
    pub async fn expn(&mut self, list: &str) -> Result<ServerReply, Error> {
        let arg = smtp_string(list)?;
        self.command(|c| c.expn(arg)).await
    }

    /// `HELP [topic]`.
    pub async fn help(&mut self, topic: Option<&str>) -> Result<ServerReply, Error> {
        let arg = topic.map(smtp_string).transpose()?;
        self.command(|c| c.help(arg)).await
    }

    /// `NOOP`.
    pub async fn noop(&mut self) -> Result<ServerReply, Error> {
        self.command(Client::noop).await
    }

    /// `RSET`.
    pub async fn rset(&mut self) -> Result<ServerReply, Error> {
        self.command(Client::rset).await
    }

    /// Low-level `MAIL FROM` (smtplib's `mail`): returns the reply whatever its code.
    pub async fn mail(&mut self, from: &str, params: MailParams) -> Result<ServerReply, Error> {
        let from = ReversePath::parse(from).map_err(|e| Error::InvalidInput(e.to_string()))?;
        self.command(|c| c.simple(Command::Mail { from, params }))
            .await
    }

    /// Low-level `RCPT TO` (smtplib's `rcpt`): returns the reply whatever its code.
    pub async fn rcpt(&mut self, to: &str, params: RcptParams) -> Result<ServerReply, Error> {
        let to = ForwardPath::parse(to).map_err(|e| Error::InvalidInput(e.to_string()))?;
        let smtputf8 = to.needs_smtputf8();
        self.command(|c| {
            c.simple(Command::Rcpt {
                to,
                params,
                smtputf8,
            })
        })
        .await
    }

    /// Low-level `DATA` (smtplib's `data`): sends DATA and, after a 354, the message.
    /// Returns the reply to the end of data, or the reply to DATA when it was not 354.
    pub async fn data(&mut self, message: &[u8]) -> Result<ServerReply, Error> {
        self.enter()?;
        self.events.clear();
        let r = match self.core.data() {
            Ok(()) => {
                let mut feeds = Feeds {
                    list: vec![Feed::new(MANUAL_TX, Body::Bytes(message))],
                    ..Feeds::default()
                };
                self.await_reply(&mut feeds).await
            }
            Err(e) => Err(self.usage(e)),
        };
        self.leave(r)
    }

    /// Sends a raw command line (smtplib's `docmd`) and returns its reply.
    pub async fn docmd(&mut self, line: &str) -> Result<ServerReply, Error> {
        let raw = RawCommand::new(line).map_err(|e| Error::InvalidInput(e.to_string()))?;
        self.command(|c| c.raw(raw)).await
    }

    /// Authenticates with the strongest password mechanism the server offers
    /// (SCRAM-SHA-256, CRAM-MD5, PLAIN, LOGIN), without falling back after a refusal.
    /// Refused over plaintext unless [`Options::allow_plaintext_auth`].
    pub async fn login(&mut self, user: &str, password: &str) -> Result<ServerReply, Error> {
        self.login_with(
            Credentials::password(user, password),
            &PASSWORD_RANKING,
            false,
        )
        .await
    }

    /// Authenticates with the strongest of `allowed` that fits `credentials`; after a
    /// refusal tries weaker ones only when `fallback` is set.
    pub async fn login_with(
        &mut self,
        credentials: Credentials,
        allowed: &[Mechanism],
        fallback: bool,
    ) -> Result<ServerReply, Error> {
        let nonce = sasl_nonce()?;
        self.enter()?;
        self.events.clear();
        let r = match self.core.login(credentials, allowed, &nonce, fallback) {
            Ok(()) => self.auth_result().await,
            Err(e) => Err(self.usage(e)),
        };
        self.leave(r)
    }

    /// Authenticates with the named mechanism (smtplib's `auth`).
    pub async fn auth(
        &mut self,
        mechanism: &str,
        credentials: Credentials,
    ) -> Result<ServerReply, Error> {
        let mech = Mechanism::new(mechanism).map_err(|e| Error::InvalidInput(e.to_string()))?;
        let m = credentials
            .mechanism(&mech, &sasl_nonce()?)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "mechanism {mechanism} cannot use these credentials"
                ))
            })?;
        self.enter()?;
        self.events.clear();
        let r = match self.core.authenticate(m) {
            Ok(()) => self.auth_result().await,
            Err(e) => Err(self.usage(e)),
        };
        self.leave(r)
    }

    async fn auth_result(&mut self) -> Result<ServerReply, Error> {
        self.run(&mut Feeds::default(), &mut |e| {
            matches!(e, Event::AuthDone { .. })
        })
        .await?;
        let done = self.events.drain(..).find_map(|e| match e {
            Event::AuthDone { mechanism, result } => Some((mechanism, result)),
            _ => None,
        });
        match done {
            Some((_, Ok(reply))) => Ok((&reply).into()),
            Some((mechanism, Err(source))) => Err(Error::Auth { mechanism, source }),
            None => Err(self.closed_error()),
        }
    }

    /// Sends one message (smtplib's `sendmail`): MAIL FROM `from`, RCPT TO each of `to`,
    /// then `message`. Returns a report with every recipient and its reply when at least
    /// one was accepted; otherwise [`Error::SenderRefused`], [`Error::RecipientsRefused`]
    /// or [`Error::DataRefused`] (or the session's error).
    pub async fn sendmail(
        &mut self,
        from: &str,
        to: &[&str],
        message: &[u8],
        mail_options: MailParams,
        rcpt_options: RcptParams,
    ) -> Result<SendReport, Error> {
        let env = sendmail_envelope(from, to, mail_options, rcpt_options)?;
        self.send(env, Body::Bytes(message)).await
    }

    /// Sends a raw RFC 5322 message (smtplib's `send_message`): the envelope comes from
    /// its headers (see [`extract_envelope`](smtp_blocking::extract_envelope)) unless
    /// `from` / `to` are given, and `Bcc`/`Resent-Bcc` are not transmitted.
    pub async fn send_message(
        &mut self,
        message: &[u8],
        from: Option<&str>,
        to: Option<&[&str]>,
    ) -> Result<SendReport, Error> {
        let (env, content) = message_envelope(message, from, to)?;
        self.send(env, Body::Bytes(&content)).await
    }

    /// Sends one message with a prepared envelope. For [`Body::Bytes`] the size is
    /// declared and 8-bit content is declared as `BODY=8BITMIME`.
    pub async fn send(&mut self, env: Envelope, body: Body<'_>) -> Result<SendReport, Error> {
        let mut result = None;
        let r = self.send_all([(env, body)], |_, r| result = Some(r)).await;
        single_result(result, r, || self.closed_error())
    }

    /// Sends many messages over this connection, pipelined: the next transaction is
    /// queued before the previous one's end-of-data reply, so the end of data shares a
    /// write with the next MAIL/RCPT/DATA. `on_done(index, result)` is called for each
    /// message in order. Returns an error only when the session failed (the remaining
    /// messages are then not sent and not reported).
    pub async fn send_all<'b, I>(
        &mut self,
        messages: I,
        mut on_done: impl FnMut(usize, Result<SendReport, Error>) + Send,
    ) -> Result<(), Error>
    where
        I: IntoIterator<Item = (Envelope, Body<'b>)>,
        I::IntoIter: Send,
    {
        self.enter()?;
        let mut it = messages.into_iter().enumerate();
        let mut feeds: Feeds<'b> = Feeds::default();
        let mut batch = Batch::new();
        self.events.clear();
        let r = loop {
            while batch.has_room() {
                let Some((i, (env, body))) = it.next() else {
                    break;
                };
                let bytes = match &body {
                    Body::Bytes(b) => Some(*b),
                    Body::Reader(_) => None,
                };
                match batch.queue(&mut self.core, i, env, bytes) {
                    Ok(tx) => feeds.list.push(Feed::new(tx, body)),
                    // The session is over: settle what is queued, then stop.
                    Err(UsageError::Closed) => break,
                    // This message cannot be sent (the core is unchanged): say so, go on.
                    Err(e) => on_done(i, Err(Error::Usage(e))),
                }
            }
            if batch.is_empty() {
                break if self.core.close_reason().is_some() {
                    Err(self.closed_error())
                } else {
                    Ok(())
                };
            }
            if let Err(e) = self
                .run(&mut feeds, &mut |e| matches!(e, Event::TransactionDone(_)))
                .await
            {
                batch.settle_failed(&mut self.core, &e, &mut on_done);
                break Err(e);
            }
            let done =
                batch.settle_events(&mut self.events, self.core.close_reason(), &mut on_done);
            feeds.list.retain(|f| !done.contains(&f.tx));
            let progressed = !done.is_empty();
            if self.core.close_reason().is_some() {
                // The session is going down: flush the QUIT the core may have queued.
                let _ = self.run(&mut feeds, &mut |_| false).await;
            }
            if !progressed {
                break Err(self.closed_error());
            }
        };
        self.leave(r)
    }

    /// Sends QUIT and closes the connection. Returns the 221 reply (`None` if the server
    /// closed without one, or the session was already over).
    pub async fn quit(&mut self) -> Result<Option<ServerReply>, Error> {
        self.enter()?;
        if self.core.quit().is_ok() {
            self.events.clear();
        }
        // Also flushes a QUIT the core queued itself after a 421 or a timeout.
        let run = self.run(&mut Feeds::default(), &mut |_| false).await;
        self.close_io().await;
        let r = run.map(|()| match self.core.close_reason() {
            Some(CloseReason::Quit(r)) => r.as_ref().map(Into::into),
            _ => None,
        });
        self.leave(r)
    }

    /// Closes the connection without QUIT and without TLS close_notify (dropping the
    /// client does the same; [`quit`](Self::quit) does both).
    pub fn close(&mut self) {
        self.core.abort();
        self.io = None;
    }
}

/// The instant `d` from now; `None` (no deadline) when it cannot be represented, as for
/// `Duration::MAX`.
fn after(d: Duration) -> Option<Instant> {
    Instant::now().checked_add(d)
}

/// Resolves `target` and connects to every address in turn, each bounded by the connect
/// timeout; returns the stream and the local address.
async fn connect_tcp(
    rt: &'static dyn Runtime,
    target: &Target,
    opts: &Options,
) -> Result<(BoxStream, Option<IpAddr>), Error> {
    let conn_err = |source| Error::Connect {
        target: target.to_string(),
        source,
    };
    let source = opts.source_address;
    let deadline = after(opts.connect_timeout);
    let mut resolve = rt.resolve(target.host.clone(), target.port);
    let addrs: Vec<SocketAddr> = match timed(rt, deadline, |cx| resolve.as_mut().poll(cx)).await {
        Timed::Done(r) => r.map_err(conn_err)?,
        Timed::TimedOut => return Err(Error::Timeout(TimeoutPhase::Connect)),
    };
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no usable address");
    let mut timed_out = false;
    for addr in addrs
        .into_iter()
        .filter(|a| source.is_none_or(|s| s.is_ipv4() == a.is_ipv4()))
    {
        let mut conn = rt.connect(addr, source);
        let deadline = after(opts.connect_timeout);
        match timed(rt, deadline, |cx| conn.as_mut().poll(cx)).await {
            Timed::Done(Ok((s, local))) => return Ok((s, local.map(|a| a.ip()))),
            Timed::Done(Err(e)) => last = e,
            Timed::TimedOut => {
                timed_out = true;
                last = io::ErrorKind::TimedOut.into();
            }
        }
    }
    if timed_out && last.kind() == io::ErrorKind::TimedOut {
        return Err(Error::Timeout(TimeoutPhase::Connect));
    }
    Err(conn_err(last))
}

/// The peer closed or reset the connection (a write after it closed).
fn is_connection_lost(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
    )
}

fn smtp_string(s: &str) -> Result<SmtpString, Error> {
    SmtpString::new(s).map_err(|e| Error::InvalidInput(e.to_string()))
}
