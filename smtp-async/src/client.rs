//! [`SmtpClient`]: the async driver. Every operation is the shared layer's
//! ([`smtp_client::ops`]); this file only moves bytes, on any runtime.

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_io::AsyncRead;
use smtp_client::ops::{Data, Login, Quit, Ready, SendAll, SendOne, Simple};
use smtp_client::{
    AsyncTokenProvider, Exchange, OAuthFlow, OAuthNext, Operation, ProxyError, ProxyHandshake,
    ProxyStep, Session, Step, Timings, TlsInfo,
};
use smtp_proto::Capabilities;
use smtp_proto::command::{MailParams, Mechanism, RcptParams};
use smtp_proto::sasl::{Credentials, SaslMechanism};

use crate::runtime::{AsyncStream, BoxFuture, BoxStream, Runtime};
use crate::{Envelope, Error, Options, Reply, SendReport, Target, TimeoutPhase};

/// Read buffer per connection: replies are small, and an idle session should stay small.
const READ_BUF: usize = 4 * 1024;

/// A caller-supplied STARTTLS (or implicit TLS) upgrade: takes the plain stream, runs the
/// handshake, returns the encrypted stream. Used by
/// [`SmtpClient::from_stream`]; the default is rustls with [`Options::tls_options`].
pub type TlsUpgrade =
    Box<dyn FnOnce(BoxStream) -> BoxFuture<'static, io::Result<BoxStream>> + Send + Sync>;

/// A message body: bytes in memory or any `futures-io` reader (streamed in constant
/// memory; adapt a tokio reader with `tokio_util::compat`).
pub type Body<'a> = smtp_client::Body<'a, dyn AsyncRead + Send + Unpin + 'a>;

/// What a TLS handshake needs: configuration, server name, deadline.
type TlsParams = (
    std::sync::Arc<rustls::ClientConfig>,
    rustls::pki_types::ServerName<'static>,
    Option<Instant>,
);

/// The body reader type of this driver.
type Reader<'a> = dyn AsyncRead + Send + Unpin + 'a;

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
///
/// Dropping a client closes its connection without QUIT (a drop cannot await the write,
/// and an async stream cannot be written without awaiting), unlike the blocking client,
/// whose drop writes a best-effort QUIT. End a session politely with
/// [`quit`](Self::quit); the [`Pool`](crate::Pool) quits the connections it closes.
pub struct SmtpClient {
    session: Session,
    io: Option<BoxStream>,
    rt: &'static dyn Runtime,
    upgrade: Option<TlsUpgrade>,
    buf: Box<[u8]>,
    /// Set while a method runs; still set afterwards only if its future was dropped.
    busy: bool,
}

impl std::fmt::Debug for SmtpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpClient")
            .field("runtime", &self.rt)
            .field("session", &self.session)
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
        let started = Instant::now();
        let (stream, local) = connect_tcp(rt, &target, &opts).await?;
        let mut c = Self::wrap(rt, stream, target.host, local, &opts, None)?;
        c.session.record_connect_start(started);
        c.execute(Ready).await?;
        Ok(c)
    }

    /// Opens the connection on runtime `rt` only: no greeting is read yet. The first call
    /// (say [`ehlo_or_helo_if_needed`](Self::ehlo_or_helo_if_needed)) runs the greeting,
    /// EHLO and STARTTLS; when that fails, the client is still there to show its
    /// [`take_transcript`](Self::take_transcript).
    pub async fn open_on(
        rt: &'static dyn Runtime,
        server: &str,
        opts: Options,
    ) -> Result<SmtpClient, Error> {
        let target = Target::parse(server, opts.default_port())?;
        let started = Instant::now();
        let (stream, local) = connect_tcp(rt, &target, &opts).await?;
        let mut c = Self::wrap(rt, stream, target.host, local, &opts, None)?;
        c.session.record_connect_start(started);
        Ok(c)
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
    /// [`TlsOptions::with_server_name`](crate::TlsOptions::with_server_name)
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
        let started = Instant::now();
        let stream = rt
            .connect_unix(path.to_owned())
            .await
            .map_err(|source| Error::Connect {
                target: path.display().to_string(),
                source,
            })?;
        let mut c = Self::wrap(rt, stream, "localhost".into(), None, &opts, None)?;
        c.session.record_connect_start(started);
        c.execute(Ready).await?;
        Ok(c)
    }

    async fn start(
        rt: &'static dyn Runtime,
        io: BoxStream,
        host: String,
        local: Option<IpAddr>,
        opts: Options,
        upgrade: Option<TlsUpgrade>,
    ) -> Result<SmtpClient, Error> {
        let mut c = Self::wrap(rt, io, host, local, &opts, upgrade)?;
        c.execute(Ready).await?;
        Ok(c)
    }

    fn wrap(
        rt: &'static dyn Runtime,
        io: BoxStream,
        host: String,
        local: Option<IpAddr>,
        opts: &Options,
        upgrade: Option<TlsUpgrade>,
    ) -> Result<SmtpClient, Error> {
        Ok(SmtpClient {
            session: Session::new(opts, host, local, Instant::now())?,
            io: Some(io),
            rt,
            upgrade,
            buf: vec![0; READ_BUF].into_boxed_slice(),
            busy: false,
        })
    }

    /// Whether the connection can take another command: not closed, and no earlier
    /// operation was cancelled.
    pub fn is_usable(&self) -> bool {
        !self.busy && self.session.is_usable() && self.io.is_some()
    }

    /// Runs any [`Operation`] of the shared layer over this connection (every method
    /// below is one). A call after an earlier one was cancelled (its future dropped)
    /// closes the connection and returns [`Error::Cancelled`].
    ///
    /// The future is boxed: it is `Send` whenever the operation is, which the compiler
    /// can then prove at the call site (an unboxed one trips over rustc's higher-ranked
    /// `Send` checks in spawned tasks).
    pub fn execute<'a, 'b: 'a, O>(&'a mut self, op: O) -> BoxFuture<'a, Result<O::Output, Error>>
    where
        O: Operation<'b, Reader<'b>> + Send + 'a,
        O::Output: Send + 'a,
    {
        Box::pin(async move {
            if self.busy {
                // The previous operation's future was dropped mid-way: the server's state
                // is unknown. Nothing more is written.
                self.session.abort();
                self.io = None;
                return Err(Error::Cancelled);
            }
            self.busy = true;
            let r = self.drive(op).await;
            self.busy = false;
            r
        })
    }

    /// The driving loop: write, read, TLS handshake, body reads, each raced against the
    /// core's deadline.
    async fn drive<'b, O>(&mut self, op: O) -> Result<O::Output, Error>
    where
        O: Operation<'b, Reader<'b>> + Send,
    {
        let rt = self.rt;
        let io = &mut self.io;
        let buf = &mut self.buf;
        let mut x: Exchange<'_, 'b, Reader<'b>, O> = Exchange::new(&mut self.session, op)?;
        loop {
            match x.step() {
                Step::Done(r) => {
                    if x.session().is_closed() {
                        close(rt, io).await;
                    }
                    return r;
                }
                Step::Write => {
                    let Some(s) = io.as_mut() else {
                        x.write_failed(io::ErrorKind::NotConnected.into(), Instant::now());
                        continue;
                    };
                    let deadline = x.deadline();
                    let r = timed(rt, deadline, |cx| {
                        let mut iov = [IoSlice::new(&[]); smtp_client::Segments::MAX_IOV];
                        let k = x.io_slices(&mut iov);
                        Pin::new(&mut **s).poll_write_vectored(cx, &iov[..k])
                    })
                    .await;
                    let now = Instant::now();
                    let r = match r {
                        Timed::Done(Ok(0)) => Timed::Done(Err(io::ErrorKind::WriteZero.into())),
                        Timed::Done(Ok(n)) => {
                            x.wrote(n, now);
                            if !x.all_written() {
                                continue;
                            }
                            // Pushes out what a TLS stream still buffers (a no-op for TCP).
                            timed(rt, deadline, |cx| Pin::new(&mut **s).poll_flush(cx)).await
                        }
                        Timed::Done(Err(e)) => Timed::Done(Err(e)),
                        Timed::TimedOut => Timed::TimedOut,
                    };
                    let now = Instant::now();
                    match r {
                        Timed::Done(Ok(())) => {}
                        Timed::Done(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                        Timed::Done(Err(e)) => x.write_failed(e, now),
                        Timed::TimedOut => x.timed_out(now),
                    }
                }
                Step::Read => {
                    let Some(s) = io.as_mut() else {
                        x.eof(Instant::now());
                        continue;
                    };
                    let r =
                        timed(rt, x.deadline(), |cx| Pin::new(&mut **s).poll_read(cx, buf)).await;
                    let now = Instant::now();
                    match r {
                        Timed::Done(Ok(0)) => x.eof(now),
                        // Every byte read goes to the core at once: no read-ahead.
                        Timed::Done(Ok(n)) => x.received(&buf[..n], now),
                        // A peer that drops TLS without close_notify is treated as end of
                        // stream; the core decides whether that was expected.
                        Timed::Done(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                            x.eof(now)
                        }
                        Timed::Done(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                        Timed::Done(Err(e)) => x.read_failed(e, now),
                        Timed::TimedOut => x.timed_out(now),
                    }
                }
                Step::StartTls => {
                    let params = x.tls_params(Instant::now());
                    let r = match params {
                        Ok(params) => start_tls(rt, io, &mut self.upgrade, params).await,
                        Err(e) => Err(e),
                    };
                    match r {
                        Ok(Some(info)) => x.tls_established_with(info, Instant::now()),
                        Ok(None) => x.tls_established(Instant::now()),
                        Err(e) => x.tls_failed(e, Instant::now()),
                    }
                }
                Step::ReadBody => {
                    let r = match x.body_reader() {
                        Some((r, b)) => read_body(r, b).await,
                        None => Ok(0),
                    };
                    match r {
                        Ok(n) => x.body_read(n),
                        Err(e) => x.body_failed(e, Instant::now()),
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------ session info

    /// Makes sure the session is ready (greeting and EHLO/LHLO done, or HELO after a
    /// refused EHLO, and STARTTLS per policy). [`connect`](Self::connect) already does it.
    pub async fn ehlo_or_helo_if_needed(&mut self) -> Result<(), Error> {
        self.execute(Ready).await
    }

    /// Sends EHLO (LHLO for LMTP) again, as smtplib's `ehlo()`, and returns its reply
    /// whatever the code; a 250 replaces the [`capabilities`](Self::capabilities).
    pub async fn ehlo(&mut self) -> Result<Reply, Error> {
        self.execute(Simple::ehlo()).await
    }

    /// Sends HELO, as smtplib's `helo()`, and returns its reply whatever the code; a 250
    /// clears the capabilities (no extensions after HELO).
    pub async fn helo(&mut self) -> Result<Reply, Error> {
        self.execute(Simple::helo()).await
    }

    /// [`ehlo`](Self::ehlo) naming the client `name` for this command only (smtplib's
    /// `ehlo(name)`); [`Options::helo_name`] stays for the rest of the session.
    pub async fn ehlo_as(&mut self, name: &str) -> Result<Reply, Error> {
        self.execute(Simple::ehlo_as(name)?).await
    }

    /// [`helo`](Self::helo) naming the client `name` for this command only (smtplib's
    /// `helo(name)`).
    pub async fn helo_as(&mut self, name: &str) -> Result<Reply, Error> {
        self.execute(Simple::helo_as(name)?).await
    }

    /// The session state shared with every driver: greeting, capabilities, transcript.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The capabilities of the last EHLO/LHLO reply.
    pub fn capabilities(&self) -> Option<&Capabilities> {
        self.session.capabilities()
    }

    /// The capabilities of the EHLO reply before STARTTLS, kept when the session upgraded
    /// (`None` without STARTTLS); [`capabilities`](Self::capabilities) are those after.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), smtp_async::Error> {
    /// use smtp_async::{Options, SmtpClient, TlsPolicy};
    ///
    /// let opts = Options::new().with_tls(TlsPolicy::Required);
    /// let c = SmtpClient::connect("mx.example.org:587", opts).await?;
    /// let offered_auth_before = c.capabilities_before_tls().is_some_and(|caps| caps.auth());
    /// println!("AUTH before STARTTLS: {offered_auth_before}");
    /// # Ok(()) }
    /// ```
    pub fn capabilities_before_tls(&self) -> Option<&Capabilities> {
        self.session.capabilities_before_tls()
    }

    /// What the TLS handshake established: version, cipher suite, ALPN, the server's
    /// certificate chain and whether it was verified (see [`Session::tls_info`]); `None`
    /// with a caller's own [`TlsUpgrade`]. After a refused certificate (a failed
    /// [`ehlo_or_helo_if_needed`](Self::ehlo_or_helo_if_needed) on an
    /// [`open_on`](Self::open_on)ed client), the chain and why it was refused.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), smtp_async::Error> {
    /// use smtp_async::{Options, SmtpClient, TlsPolicy};
    ///
    /// let opts = Options::new().with_tls(TlsPolicy::Required);
    /// let c = SmtpClient::connect("mx.example.org:587", opts).await?;
    /// if let Some(tls) = c.tls_info() {
    ///     println!("{:?} {:?}: {}", tls.protocol_version(), tls.cipher_suite(), tls.verification());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn tls_info(&self) -> Option<&TlsInfo> {
        self.session.tls_info()
    }

    /// How long each phase of the opening took: connect, greeting, EHLO, STARTTLS, TLS
    /// handshake, EHLO after TLS (see [`Timings`]).
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), smtp_async::Error> {
    /// let c = smtp_async::SmtpClient::connect("mx.example.org", smtp_async::Options::new()).await?;
    /// println!("greeting after {:?}", c.timings().greeting);
    /// # Ok(()) }
    /// ```
    pub fn timings(&self) -> Timings {
        self.session.timings()
    }

    /// Whether the server advertised the extension `name` (case-insensitive).
    pub fn has_extn(&self, name: &str) -> bool {
        self.session.has_extn(name)
    }

    /// The advertised extensions and their parameters (lower-case keywords, as smtplib).
    pub fn esmtp_features(&self) -> Vec<(String, String)> {
        self.session.esmtp_features()
    }

    /// The greeting reply.
    pub fn greeting(&self) -> Option<&Reply> {
        self.session.greeting()
    }

    /// Whether the session fell back to HELO.
    pub fn is_helo_only(&self) -> bool {
        self.session.is_helo_only()
    }

    /// Whether the connection is encrypted (implicit TLS or STARTTLS done).
    pub fn is_encrypted(&self) -> bool {
        self.session.is_encrypted()
    }

    /// Whether the session is over.
    pub fn is_closed(&self) -> bool {
        self.session.is_closed()
    }

    /// Takes the transcript recorded so far (with [`Options::record_transcript`]).
    pub fn take_transcript(&mut self) -> Vec<String> {
        self.session.take_transcript()
    }

    // ------------------------------------------------------------------ commands

    /// `VRFY address`. Returns the reply whatever its code, like smtplib.
    pub async fn verify(&mut self, address: &str) -> Result<Reply, Error> {
        self.execute(Simple::verify(address)?).await
    }

    /// `EXPN list`.
    pub async fn expn(&mut self, list: &str) -> Result<Reply, Error> {
        self.execute(Simple::expn(list)?).await
    }

    /// `HELP [topic]`.
    pub async fn help(&mut self, topic: Option<&str>) -> Result<Reply, Error> {
        self.execute(Simple::help(topic)?).await
    }

    /// `NOOP`.
    pub async fn noop(&mut self) -> Result<Reply, Error> {
        self.execute(Simple::noop()).await
    }

    /// `RSET`.
    pub async fn rset(&mut self) -> Result<Reply, Error> {
        self.execute(Simple::rset()).await
    }

    /// Low-level `MAIL FROM` (smtplib's `mail`): returns the reply whatever its code.
    pub async fn mail(&mut self, from: &str, params: MailParams) -> Result<Reply, Error> {
        self.execute(Simple::mail(from, params)?).await
    }

    /// Low-level `RCPT TO` (smtplib's `rcpt`): returns the reply whatever its code.
    pub async fn rcpt(&mut self, to: &str, params: RcptParams) -> Result<Reply, Error> {
        self.execute(Simple::rcpt(to, params)?).await
    }

    /// Low-level `DATA` (smtplib's `data`): sends DATA and, after a 354, the message.
    /// Returns the reply to the end of data, or the reply to DATA when it was not 354.
    pub async fn data(&mut self, message: &[u8]) -> Result<Reply, Error> {
        self.execute(Data::new(message)).await
    }

    /// Sends a raw command line (smtplib's `docmd`) and returns its reply.
    pub async fn docmd(&mut self, line: &str) -> Result<Reply, Error> {
        self.execute(Simple::docmd(line)?).await
    }

    /// Authenticates with the strongest password mechanism the server offers
    /// (SCRAM-SHA-256, CRAM-MD5, PLAIN, LOGIN), without falling back to weaker ones.
    pub async fn login(&mut self, user: &str, password: &str) -> Result<Reply, Error> {
        self.execute(Login::password(user, password)).await
    }

    /// Authenticates with the strongest of `allowed` that fits `credentials`; after a
    /// refusal tries weaker ones only when `fallback` is set.
    pub async fn login_with(
        &mut self,
        credentials: Credentials,
        allowed: &[Mechanism],
        fallback: bool,
    ) -> Result<Reply, Error> {
        self.execute(Login::ranked(credentials, allowed, fallback))
            .await
    }

    /// Authenticates with the named mechanism (smtplib's `auth`).
    pub async fn auth(
        &mut self,
        mechanism: &str,
        credentials: Credentials,
    ) -> Result<Reply, Error> {
        self.execute(Login::named(mechanism, credentials)?).await
    }

    /// Authenticates with any [`SaslMechanism`], your own included, by value or boxed
    /// (`Box<dyn SaslMechanism>` is one too; see the blocking crate's `auth_with` for a
    /// custom mechanism, and [`Endpoint::with_auth`] for a pool).
    ///
    /// [`Endpoint::with_auth`]: crate::Endpoint::with_auth
    pub async fn auth_with(
        &mut self,
        mechanism: impl SaslMechanism + 'static,
    ) -> Result<Reply, Error> {
        self.execute(Login::mechanism(mechanism)).await
    }

    /// Authenticates as `user` with an OAuth 2.0 token from `provider` (OAUTHBEARER, or
    /// XOAUTH2 when that is all the server offers); any [`TokenProvider`] is an
    /// [`AsyncTokenProvider`]. When the server refuses the token as invalid or expired
    /// ([`smtp_client::is_token_refused`]), the provider is asked once more with
    /// `refresh = true` and the login is tried again on this connection; never more than
    /// that (the decisions are [`OAuthFlow`]'s, shared with the blocking client and the
    /// pool). Tokens never appear in the transcript.
    ///
    /// A single client cannot open another connection. If the server closed this one
    /// after refusing the token (the client is no longer
    /// [`is_usable`](Self::is_usable)), the refusal is returned
    /// ([`smtp_client::is_token_refused`] holds; the provider may or may not have been
    /// asked to refresh, depending on when the client saw the close): connect again and
    /// log in once with a provider that refreshes at once (one whose
    /// [`token_async`](AsyncTokenProvider::token_async) is called with `refresh = true`
    /// whatever it is given; for a [`TokenProvider`], the closure
    /// `|user: &str, _: bool| provider.token(user, true)`, as the blocking crate's
    /// `login_oauth` shows). The pool's
    /// [`Endpoint::with_oauth`](crate::Endpoint::with_oauth) opens the new connection
    /// itself.
    ///
    /// [`TokenProvider`]: smtp_client::TokenProvider
    pub async fn login_oauth(
        &mut self,
        user: &str,
        provider: &dyn AsyncTokenProvider,
    ) -> Result<Reply, Error> {
        let mut flow = OAuthFlow::new(user);
        loop {
            let token = match flow.token_needed() {
                Some(refresh) => Some(provider.token_async(flow.user(), refresh).await?),
                None => None,
            };
            let r = self.execute(flow.login(token)).await;
            match flow.outcome(r, self.is_usable()) {
                OAuthNext::Done(r) => return r,
                OAuthNext::Retry { reconnect: true } => return Err(flow.give_up()),
                OAuthNext::Retry { reconnect: false } => {}
            }
        }
    }

    /// Sends one message (smtplib's `sendmail`). See the blocking crate's
    /// `SmtpClient::sendmail` for the results.
    pub async fn sendmail(
        &mut self,
        from: &str,
        to: &[&str],
        message: &[u8],
        mail_options: MailParams,
        rcpt_options: RcptParams,
    ) -> Result<SendReport, Error> {
        let env = smtp_client::sendmail_envelope(from, to, mail_options, rcpt_options)?;
        self.send(env, Body::Bytes(message)).await
    }

    /// Sends a raw RFC 5322 message (smtplib's `send_message`): the envelope comes from
    /// its headers unless `from` / `to` are given; `Bcc`/`Resent-Bcc` are not transmitted.
    pub async fn send_message(
        &mut self,
        message: &[u8],
        from: Option<&str>,
        to: Option<&[&str]>,
    ) -> Result<SendReport, Error> {
        let (env, content) = smtp_client::message_envelope(message, from, to)?;
        self.send(env, Body::Bytes(&content)).await
    }

    /// [`send_message`](Self::send_message) with smtplib's `mail_options` (on MAIL) and
    /// `rcpt_options` (on every RCPT).
    pub async fn send_message_with(
        &mut self,
        message: &[u8],
        from: Option<&str>,
        to: Option<&[&str]>,
        mail_options: MailParams,
        rcpt_options: RcptParams,
    ) -> Result<SendReport, Error> {
        let (env, content) =
            smtp_client::message_envelope_with(message, from, to, mail_options, rcpt_options)?;
        self.send(env, Body::Bytes(&content)).await
    }

    /// Sends one message with a prepared envelope.
    pub async fn send(&mut self, env: Envelope, body: Body<'_>) -> Result<SendReport, Error> {
        self.execute(SendOne::new(env, body)).await
    }

    /// Sends many messages over this connection, pipelined; `on_done(index, result)` is
    /// called for each message in order. Returns an error only when the session failed.
    pub async fn send_all<'b, I>(
        &mut self,
        messages: I,
        on_done: impl FnMut(usize, Result<SendReport, Error>) + Send,
    ) -> Result<(), Error>
    where
        I: IntoIterator<Item = (Envelope, Body<'b>)>,
        I::IntoIter: Send,
    {
        self.execute(SendAll::new(messages, on_done)).await
    }

    /// Sends QUIT and closes the connection. Returns the 221 reply (`None` if the server
    /// closed without one, or the session was already over).
    pub async fn quit(&mut self) -> Result<Option<Reply>, Error> {
        let r = self.execute(Quit).await;
        close(self.rt, &mut self.io).await;
        r
    }

    /// Closes the connection without QUIT (as a drop does). No TLS close_notify: it
    /// cannot be awaited here; [`quit`](Self::quit) sends it.
    pub fn close(&mut self) {
        self.session.abort();
        self.io = None;
    }
}

/// Runs the TLS handshake on the plain stream in `io` (the caller's upgrade when given,
/// else rustls with the session's options), bounded by the handshake deadline. Returns
/// what the handshake established (rustls' own only: a caller's upgrade reports nothing).
async fn start_tls(
    rt: &'static dyn Runtime,
    io: &mut Option<BoxStream>,
    upgrade: &mut Option<TlsUpgrade>,
    (cfg, name, deadline): TlsParams,
) -> Result<Option<TlsInfo>, Error> {
    let Some(plain) = io.take() else {
        return Err(Error::Io(io::ErrorKind::NotConnected.into()));
    };
    type Upgraded = (BoxStream, Option<TlsInfo>);
    let mut handshake: BoxFuture<'static, io::Result<Upgraded>> = match upgrade.take() {
        Some(upgrade) => Box::pin(async move { Ok((upgrade(plain).await?, None)) }),
        None => {
            let connector = futures_rustls::TlsConnector::from(cfg);
            Box::pin(async move {
                let s = connector.connect(name, plain).await?;
                let info = TlsInfo::from_rustls(s.get_ref().1);
                Ok((Box::new(s) as BoxStream, Some(info)))
            })
        }
    };
    match timed(rt, deadline, |cx| handshake.as_mut().poll(cx)).await {
        Timed::Done(Ok((s, info))) => {
            *io = Some(s);
            Ok(info)
        }
        Timed::Done(Err(e)) => Err(Error::tls(e)),
        Timed::TimedOut => Err(Error::Timeout(TimeoutPhase::TlsHandshake)),
    }
}

/// Reads the caller's body reader once, retrying on `Interrupted`.
async fn read_body(r: &mut Reader<'_>, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match poll_fn(|cx| Pin::new(&mut *r).poll_read(cx, buf)).await {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => return r,
        }
    }
}

/// Closes the stream (TLS close_notify when possible), waiting at most 100 ms.
async fn close(rt: &'static dyn Runtime, io: &mut Option<BoxStream>) {
    if let Some(mut s) = io.take() {
        let deadline = Instant::now() + Duration::from_millis(100);
        let _ = timed(rt, Some(deadline), |cx| Pin::new(&mut *s).poll_close(cx)).await;
    }
}

/// The instant `d` from now; `None` (no deadline) when it cannot be represented, as for
/// `Duration::MAX`.
fn after(d: Duration) -> Option<Instant> {
    Instant::now().checked_add(d)
}

/// Connects to `target` as `opts` say: directly, or through [`Options::proxy`] (the proxy
/// handshake bounded by the connect timeout). Returns the stream and, for a direct
/// connection, its local address (through a proxy the server sees the proxy's).
async fn connect_tcp(
    rt: &'static dyn Runtime,
    target: &Target,
    opts: &Options,
) -> Result<(BoxStream, Option<IpAddr>), Error> {
    let Some(proxy) = &opts.proxy else {
        return connect_direct(rt, target, opts).await;
    };
    let deadline = after(opts.connect_timeout);
    let mut hs = if proxy.resolves_locally(&target.host) {
        let mut resolve = rt.resolve(target.host.clone(), target.port);
        let addrs = match timed(rt, deadline, |cx| resolve.as_mut().poll(cx)).await {
            Timed::Done(r) => r.map_err(|source| Error::Connect {
                target: target.to_string(),
                source,
            })?,
            Timed::TimedOut => return Err(Error::Timeout(TimeoutPhase::Connect)),
        };
        ProxyHandshake::to_resolved(proxy, target, addrs)?
    } else {
        ProxyHandshake::new(proxy, &target.host, target.port)?
    };
    let (mut stream, _) = connect_direct(rt, proxy.target(), opts)
        .await
        .map_err(|e| proxy.connect_failed(e))?;
    let mut buf = [0u8; 512];
    let fail = |e: io::Error| proxy.error(ProxyError::Io(e));
    loop {
        let s = &mut *stream;
        match hs.step() {
            ProxyStep::Done => break,
            ProxyStep::Write(b) => {
                match timed(rt, deadline, |cx| Pin::new(&mut *s).poll_write(cx, b)).await {
                    Timed::Done(Ok(0)) => return Err(fail(io::ErrorKind::WriteZero.into())),
                    Timed::Done(Ok(n)) => hs.wrote(n),
                    Timed::Done(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                    Timed::Done(Err(e)) => return Err(fail(e)),
                    Timed::TimedOut => return Err(Error::Timeout(TimeoutPhase::ProxyHandshake)),
                }
            }
            ProxyStep::Read(n) => {
                let b = &mut buf[..n.min(512)];
                match timed(rt, deadline, |cx| Pin::new(&mut *s).poll_read(cx, b)).await {
                    Timed::Done(Ok(0)) => return Err(proxy.error(hs.eof())),
                    Timed::Done(Ok(k)) => {
                        hs.received(&buf[..k]).map_err(|e| proxy.error(e))?;
                    }
                    Timed::Done(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                    Timed::Done(Err(e)) => return Err(fail(e)),
                    Timed::TimedOut => return Err(Error::Timeout(TimeoutPhase::ProxyHandshake)),
                }
            }
        }
    }
    // Flush whatever a buffering stream may hold (plain TCP holds nothing).
    if let Timed::Done(Err(e)) =
        timed(rt, deadline, |cx| Pin::new(&mut *stream).poll_flush(cx)).await
    {
        return Err(fail(e));
    }
    Ok((stream, None))
}

/// Resolves `target` and connects to every address in turn, each bounded by the connect
/// timeout; returns the stream and the local address.
async fn connect_direct(
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
    let mut failures = smtp_client::ConnectFailures::new();
    for addr in smtp_client::connect_order(addrs, source) {
        let mut conn = rt.connect(addr, source);
        let deadline = after(opts.connect_timeout);
        match timed(rt, deadline, |cx| conn.as_mut().poll(cx)).await {
            Timed::Done(Ok((s, local))) => return Ok((s, local.map(|a| a.ip()))),
            Timed::Done(Err(e)) => failures.failed(e),
            Timed::TimedOut => failures.failed(io::ErrorKind::TimedOut.into()),
        }
    }
    Err(failures.into_error(target))
}
