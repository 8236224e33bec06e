//! [`Session`]: one connection's client state without its transport, and [`Exchange`]:
//! one [`Operation`] being driven over it.
//!
//! See [`Exchange`] for the loop every driver runs.

use std::io::{self, IoSlice};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use smtp_proto::session::{Action, Client, Event, TranscriptLine, UsageError};
use smtp_proto::{Capabilities, Reply};

use crate::body::{Feeds, Supplied};
use crate::error::Error;
use crate::options::Options;
use crate::timings::{Marks, Timings};
use crate::tls::TlsOptions;
use crate::tls_info::{RefusedChain, TlsInfo, Verification};

/// The `tracing` target of the transcript (debug level).
pub const TRANSCRIPT_TARGET: &str = "smtp::transcript";

/// Most transcript lines a session keeps for [`Session::take_transcript`] (the oldest
/// half goes when it is reached), so a long-lived connection that records a transcript
/// nobody takes stays bounded.
pub const MAX_TRANSCRIPT_LINES: usize = 2048;

/// One connection's client state, without its transport: the core, the greeting, the
/// transcript, the TLS settings and the driver's own failure (an I/O error the core only
/// knows as "the connection failed").
#[derive(Debug)]
pub struct Session {
    core: Client,
    greeting: Option<Reply>,
    transcript: Option<Vec<String>>,
    host: String,
    tls: TlsOptions,
    handshake_timeout: Duration,
    cause: Option<Error>,
    /// What the TLS handshake established (or the chain it refused).
    tls_info: Option<TlsInfo>,
    /// Where the handshake's verifier records a refused chain.
    refused: RefusedChain,
    /// When each opening phase ended.
    marks: Marks,
    /// Process-unique: [`Suspended::resume`] checks that it gets its own session back.
    id: u64,
}

/// The next [`Session`] id.
static NEXT_SESSION_ID: AtomicU64 = AtomicU64::new(0);

impl Session {
    /// A session for a connection to `host` (the name TLS verifies unless
    /// [`TlsOptions::with_server_name`] overrides it) whose local address is `local`.
    /// The greeting, EHLO and STARTTLS run with the first operation
    /// ([`ops::Ready`](crate::ops::Ready) when connecting).
    pub fn new(
        opts: &Options,
        host: impl Into<String>,
        local: Option<std::net::IpAddr>,
        now: Instant,
    ) -> Result<Session, Error> {
        let transcript = opts.record_transcript
            || tracing::enabled!(target: TRANSCRIPT_TARGET, tracing::Level::DEBUG);
        let cfg = opts.core_config(local, transcript)?;
        Ok(Session {
            core: Client::new(cfg, now),
            greeting: None,
            transcript: opts.record_transcript.then(Vec::new),
            host: host.into(),
            tls: opts.tls_options.clone(),
            handshake_timeout: opts.tls_handshake_timeout,
            cause: None,
            tls_info: None,
            refused: RefusedChain::default(),
            marks: Marks::new(now),
            id: NEXT_SESSION_ID.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// The core.
    pub fn core(&self) -> &Client {
        &self.core
    }

    /// The core, to queue commands of your own (an [`Operation`] does it for you).
    pub fn core_mut(&mut self) -> &mut Client {
        &mut self.core
    }

    /// The capabilities of the last EHLO/LHLO reply.
    pub fn capabilities(&self) -> Option<&Capabilities> {
        self.core.capabilities()
    }

    /// The capabilities of the EHLO reply before STARTTLS, kept when the session upgraded
    /// (`None` without STARTTLS): see
    /// [`Client::capabilities_before_tls`](smtp_proto::session::Client::capabilities_before_tls).
    /// [`capabilities`](Self::capabilities) are those after TLS.
    ///
    /// ```
    /// use std::time::Instant;
    /// use smtp_client::{Exchange, Options, Session, Step, TlsInfo, TlsPolicy, Verification, ops};
    ///
    /// let now = Instant::now();
    /// let mut s = Session::new(&Options::new().with_tls(TlsPolicy::Required), "mx", None, now)?;
    /// let mut x: Exchange<'_, '_, dyn std::io::Read, _> = Exchange::new(&mut s, ops::Ready)?;
    /// for reply in ["220 mx\r\n", "250-mx\r\n250 STARTTLS\r\n", "220 go ahead\r\n"] {
    ///     assert!(matches!(x.step(), Step::Read));
    ///     x.received(reply.as_bytes(), now);
    ///     if let Step::Write = x.step() {
    ///         let n = x.session().core().pending_output().len();
    ///         x.wrote(n, now); // EHLO, then STARTTLS
    ///     }
    /// }
    /// assert!(matches!(x.step(), Step::StartTls));
    /// // The driver's handshake succeeded: it reports what rustls negotiated.
    /// x.tls_established_with(TlsInfo::default(), now);
    /// assert!(matches!(x.step(), Step::Write)); // EHLO again
    /// let n = x.session().core().pending_output().len();
    /// x.wrote(n, now);
    /// x.received(b"250-mx\r\n250 AUTH PLAIN\r\n", now);
    /// assert!(matches!(x.step(), Step::Done(Ok(()))));
    /// assert!(s.capabilities_before_tls().unwrap().starttls());
    /// assert!(s.capabilities().unwrap().auth());
    /// assert_eq!(s.tls_info().unwrap().verification(), &Verification::Verified);
    /// # Ok::<(), smtp_client::Error>(())
    /// ```
    pub fn capabilities_before_tls(&self) -> Option<&Capabilities> {
        self.core.capabilities_before_tls()
    }

    /// What the TLS handshake established: protocol version, cipher suite, ALPN, the
    /// server's certificate chain and whether it was verified. `None` before any
    /// handshake, or when the driver reported none
    /// ([`Exchange::tls_established`] rather than
    /// [`tls_established_with`](Exchange::tls_established_with)). After a handshake that
    /// failed because the certificate was refused, the chain the server presented and
    /// [`Verification::Failed`] with why.
    ///
    /// ```
    /// use std::time::Instant;
    /// use smtp_client::{Options, Session, TlsPolicy};
    ///
    /// let opts = Options::new().with_tls(TlsPolicy::Required);
    /// let s = Session::new(&opts, "mx.example.org", None, Instant::now())?;
    /// assert!(s.tls_info().is_none()); // no handshake yet
    /// # Ok::<(), smtp_client::Error>(())
    /// ```
    pub fn tls_info(&self) -> Option<&TlsInfo> {
        self.tls_info.as_ref()
    }

    /// How long each phase of the opening took (connect, greeting, EHLO, STARTTLS, TLS
    /// handshake, EHLO after TLS), from the `now`s the driver reported: see [`Timings`]
    /// (whose example drives an opening with chosen instants).
    ///
    /// ```
    /// use std::time::Instant;
    /// use smtp_client::{Options, Session};
    ///
    /// let s = Session::new(&Options::new(), "mx.example.org", None, Instant::now())?;
    /// assert_eq!(s.timings().greeting, None); // not greeted yet
    /// # Ok::<(), smtp_client::Error>(())
    /// ```
    pub fn timings(&self) -> Timings {
        self.marks.timings()
    }

    /// The driver began connecting (resolving included) at `started`; the session's
    /// creation (`now` of [`Session::new`]) is when the connection was up. Gives
    /// [`Timings::connect`].
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use smtp_client::{Options, Session};
    ///
    /// let started = Instant::now();
    /// // ... resolve and connect ...
    /// let connected = started + Duration::from_millis(4);
    /// let mut s = Session::new(&Options::new(), "mx.example.org", None, connected)?;
    /// s.record_connect_start(started);
    /// assert_eq!(s.timings().connect, Some(Duration::from_millis(4)));
    /// # Ok::<(), smtp_client::Error>(())
    /// ```
    pub fn record_connect_start(&mut self, started: Instant) {
        self.marks.connect_start = Some(started);
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
    pub fn greeting(&self) -> Option<&Reply> {
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

    /// Whether the session is over (the driver should close its transport).
    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
    }

    /// Whether the connection can take another command: not over, and not closing (no
    /// [`close_reason`](smtp_proto::session::Client::close_reason), such as after a 421).
    pub fn is_usable(&self) -> bool {
        !self.core.is_closed() && self.core.close_reason().is_none()
    }

    /// Takes the transcript recorded so far (with [`Options::record_transcript`]).
    pub fn take_transcript(&mut self) -> Vec<String> {
        self.drain_transcript();
        self.transcript
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// For a driver about to drop an open connection without waiting for anything: when
    /// the session is idle (ready, nothing queued or in flight), queues QUIT and returns
    /// `true`; the driver then writes [`Client::pending_output`] once, best-effort and
    /// under a short deadline, and closes without reading the 221. A session that is not
    /// idle (a reply outstanding, a body half-sent) or already closing gets no QUIT: it
    /// is aborted (`false`).
    pub fn farewell(&mut self) -> bool {
        if self.core.is_idle() && self.core.close_reason().is_none() && self.core.quit().is_ok() {
            self.drain_transcript();
            return true;
        }
        self.core.abort();
        false
    }

    /// Closes the session without QUIT (the driver closes its transport).
    pub fn abort(&mut self) {
        self.core.abort();
    }

    /// The error that explains why the session is closed: the driver's own failure (I/O,
    /// TLS) when the core only knows that the connection failed, else the core's reason.
    pub fn closed_error(&self) -> Error {
        use smtp_proto::session::CloseReason;
        match (self.core.close_reason(), &self.cause) {
            (None | Some(CloseReason::Transport | CloseReason::Usage(_)), Some(c)) => c.copy(),
            (Some(r), _) => Error::from_close(r),
            (None, None) => Error::Usage(smtp_proto::session::UsageError::Closed),
        }
    }

    /// The driver's own failure, if the connection failed.
    pub fn cause(&self) -> Option<&Error> {
        self.cause.as_ref()
    }

    /// RFC 8689 §4.2.1: a REQUIRETLS message only with a validated server certificate;
    /// refused with [`UsageError::RequireTlsUnverified`](smtp_proto::session::UsageError)
    /// when certificate checks are off. (The core itself refuses it without TLS.)
    pub fn check_requiretls(
        &self,
        env: &smtp_proto::session::Envelope,
    ) -> Result<(), smtp_proto::session::UsageError> {
        if env.mail_params.requiretls && !self.tls.verifies_certificates() {
            Err(smtp_proto::session::UsageError::RequireTlsUnverified)
        } else {
            Ok(())
        }
    }

    /// A usage error from the core as the caller sees it: "closed" says why.
    pub(crate) fn usage(&self, e: smtp_proto::session::UsageError) -> Error {
        match e {
            smtp_proto::session::UsageError::Closed => self.closed_error(),
            e => e.into(),
        }
    }

    fn drain_transcript(&mut self) {
        while let Some(line) = self.core.poll_transcript() {
            let text = transcript_text(line);
            tracing::debug!(target: TRANSCRIPT_TARGET, "{text}");
            if let Some(t) = &mut self.transcript {
                if t.len() >= MAX_TRANSCRIPT_LINES {
                    t.drain(..MAX_TRANSCRIPT_LINES / 2);
                }
                t.push(text);
            }
        }
    }

    fn fail(&mut self, e: Error, now: Instant) {
        if self.cause.is_none() {
            self.cause = Some(e);
        }
        self.core.handle_io_error(now);
    }
}

/// One transcript line as text: `C: ...` for what was sent (content as its size), `S: ...`
/// for every line received.
pub fn transcript_text(line: TranscriptLine) -> String {
    match line {
        TranscriptLine::Sent(s) => format!("C: {s}"),
        TranscriptLine::Content(n) => format!("C: <{n} octets of content>"),
        TranscriptLine::Received(r) => {
            let raw = String::from_utf8_lossy(r.as_bytes());
            let lines: Vec<&str> = raw.lines().collect();
            format!("S: {}", lines.join("\nS: "))
        }
    }
}

/// An smtplib-style operation (a command and its reply, a login, a batch of messages,
/// QUIT, ...), written once for every driver: it queues commands with the core and turns
/// the core's events into its result. `R` is the driver's body reader type.
pub trait Operation<'b, R: ?Sized> {
    /// What the operation returns (`Send`, so that async drivers' futures are).
    type Output: Send;

    /// Queues the operation's first commands (and bodies). An error here leaves the
    /// session as it was (unless the core says it is closed).
    fn start(&mut self, s: &mut Session, feeds: &mut Feeds<'b, R>) -> Result<(), Error>;

    /// An event from the core. Returns the result when the operation is complete.
    fn event(
        &mut self,
        ev: Event,
        s: &mut Session,
        feeds: &mut Feeds<'b, R>,
    ) -> Option<Result<Self::Output, Error>>;

    /// The core has nothing left to do (idle, or the session closed) and
    /// [`event`](Self::event) has not completed the operation: its result now.
    fn finish(&mut self, s: &mut Session) -> Result<Self::Output, Error>;
}

/// What the driver must do next (see [`Exchange`]).
#[derive(Debug)]
pub enum Step<T> {
    /// Write [`Exchange::io_slices`] (vectored, or the first slice alone), bounded by
    /// [`Exchange::deadline`]; report with [`wrote`](Exchange::wrote),
    /// [`write_failed`](Exchange::write_failed) or [`timed_out`](Exchange::timed_out).
    Write,
    /// Read what the server sent, bounded by [`Exchange::deadline`]; hand every byte at
    /// once to [`received`](Exchange::received) (no read-ahead), or report
    /// [`eof`](Exchange::eof), [`read_failed`](Exchange::read_failed) or
    /// [`timed_out`](Exchange::timed_out).
    Read,
    /// Run the TLS handshake with [`Exchange::tls_params`]; report with
    /// [`tls_established`](Exchange::tls_established) or
    /// [`tls_failed`](Exchange::tls_failed).
    StartTls,
    /// Read the caller's body reader into [`Exchange::body_reader`]; report with
    /// [`body_read`](Exchange::body_read) or [`body_failed`](Exchange::body_failed).
    ReadBody,
    /// The operation is over with this result; close the transport when the session
    /// [`is_closed`](Session::is_closed).
    Done(Result<T, Error>),
}

/// One [`Operation`] being driven over a [`Session`].
///
/// A driver (the blocking and async adapters, or your own event loop) holds a
/// [`Session`] beside its transport and runs every operation the same way:
///
/// ```text
/// let mut x = Exchange::new(&mut session, op)?;
/// loop {
///     match x.step() {
///         Step::Done(result) => { close the transport if session.is_closed(); return result }
///         Step::Write => write x.io_slices(..) (vectored) until x.deadline(),
///                        then x.wrote(n) / x.write_failed(err) / x.timed_out()
///         Step::Read => read until x.deadline(),
///                       then x.received(bytes) / x.eof() / x.read_failed(err) / x.timed_out()
///         Step::StartTls => handshake with x.tls_params(),
///                           then x.tls_established() / x.tls_failed(err)
///         Step::ReadBody => read the caller's body reader into x.body_reader(),
///                           then x.body_read(n) / x.body_failed(err)
///     }
/// }
/// ```
///
/// Every decision (what to write, what a reply means, when a deadline passed, what an I/O
/// failure does to the outcome) is the core's or this layer's; the driver only moves
/// bytes. Time comes in as `now`: this layer never reads a clock.
///
/// An event loop driving many sessions from readiness events cannot keep the exchange
/// (it borrows its session) beside the session it borrows: it
/// [`suspend`](Self::suspend)s the exchange when the socket would block, keeps the
/// [`Suspended`] operation beside its session and socket, and
/// [`resume`](Suspended::resume)s it on the next event or timer (the mio example of
/// `smtp-client` drives a thousand sessions on one thread that way).
pub struct Exchange<'s, 'b, R: ?Sized, O: Operation<'b, R>> {
    s: &'s mut Session,
    op: O,
    feeds: Feeds<'b, R>,
    /// The feed whose reader must be read ([`Step::ReadBody`]).
    reading: Option<usize>,
    /// The operation's result once known.
    result: Option<Result<O::Output, Error>>,
    /// Whether [`Step::Done`] was returned.
    finished: bool,
}

impl<'b, R: ?Sized, O: Operation<'b, R>> std::fmt::Debug for Exchange<'_, 'b, R, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchange")
            .field("session", &self.s)
            .field("feeds", &self.feeds)
            .finish_non_exhaustive()
    }
}

impl<'s, 'b, R: ?Sized, O: Operation<'b, R>> Exchange<'s, 'b, R, O> {
    /// Starts `op` on `s`. An error (invalid input, a closed session) means nothing was
    /// queued.
    pub fn new(s: &'s mut Session, mut op: O) -> Result<Self, Error> {
        let mut feeds = Feeds::default();
        op.start(s, &mut feeds)?;
        Ok(Exchange {
            s,
            op,
            feeds,
            reading: None,
            result: None,
            finished: false,
        })
    }

    /// The session.
    pub fn session(&self) -> &Session {
        self.s
    }

    /// What to do next. Call again after reporting what was done.
    ///
    /// An operation complete while the session is going down (a 421, a timeout: the core
    /// queued QUIT) returns once the QUIT is flushed and the session closed.
    pub fn step(&mut self) -> Step<O::Output> {
        if self.finished {
            return Step::Done(Err(Error::Usage(UsageError::WrongState(
                "the operation is over",
            ))));
        }
        loop {
            while let Some(ev) = self.s.core.poll_event() {
                match &ev {
                    Event::Greeting(r) => {
                        self.s.greeting = Some(r.clone());
                        self.s.marks.greeting.get_or_insert(self.s.marks.last_input);
                    }
                    Event::Ready => self.s.marks.hello_done(),
                    _ => {}
                }
                if self.result.is_none() {
                    self.result = self.op.event(ev, self.s, &mut self.feeds);
                }
            }
            if self.s.core.capabilities().is_some() {
                self.s.marks.hello_done();
            }
            self.s.drain_transcript();
            let closing = self.s.core.close_reason().is_some() && !self.s.core.is_closed();
            if !closing && let Some(r) = self.result.take() {
                return self.done(r);
            }
            match self.s.core.next_action() {
                Action::Write => {
                    if let Err(e) = self.feeds.segs.sync(&self.s.core) {
                        self.s.core.abort();
                        return self.done(Err(Error::Usage(e)));
                    }
                    return Step::Write;
                }
                Action::Read => return Step::Read,
                Action::StartTls => {
                    self.s.marks.tls_requested();
                    return Step::StartTls;
                }
                Action::SupplyBody(tx) => match self.feeds.supply(&mut self.s.core, tx) {
                    Ok(Supplied::Fed) => {}
                    Ok(Supplied::NeedRead(i)) => {
                        self.reading = Some(i);
                        return Step::ReadBody;
                    }
                    Err(e) => {
                        // A body the driver was not given, or the core refused it: the
                        // message must not go out half-written.
                        self.s.core.abort();
                        return self.done(Err(Error::Usage(e)));
                    }
                },
                Action::Idle | Action::Closed => {
                    let r = match self.result.take() {
                        Some(r) => r,
                        None => self.op.finish(self.s),
                    };
                    return self.done(r);
                }
            }
        }
    }

    /// Sets the exchange aside, without its borrow of the session (see [`Suspended`]):
    /// for an event loop whose socket would block. The operation, its bodies and what it
    /// has learnt so far move along; [`resume`](Suspended::resume) continues where it
    /// stopped.
    pub fn suspend(self) -> Suspended<'b, R, O> {
        Suspended {
            session: self.s.id,
            op: self.op,
            feeds: self.feeds,
            reading: self.reading,
            result: self.result,
            finished: self.finished,
        }
    }

    fn done(&mut self, r: Result<O::Output, Error>) -> Step<O::Output> {
        self.finished = true;
        Step::Done(r)
    }

    /// The deadline of what the driver waits for (a write, a read): wait no longer, then
    /// call [`timed_out`](Self::timed_out). `None`: no deadline.
    pub fn deadline(&self) -> Option<Instant> {
        self.s.core.poll_timeout()
    }

    /// Time left until [`deadline`](Self::deadline) at `now`, at least 1 ms (socket
    /// timeouts take zero as "none"). `None`: wait without a deadline.
    pub fn wait(&self, now: Instant) -> Option<Duration> {
        self.deadline().map(|d| {
            d.saturating_duration_since(now)
                .max(Duration::from_millis(1))
        })
    }

    /// Fills `iov` with what to write next (the body segments, then the core's output,
    /// so that the end of data and the next commands share a write); returns how many
    /// slices were filled. (`&mut`: so that an async driver holding the exchange across
    /// an `.await` needs it to be `Send` only, not `Sync`.)
    pub fn io_slices<'a>(&'a mut self, iov: &mut [IoSlice<'a>]) -> usize {
        let out = self.s.core.pending_output();
        if self.feeds.segs.is_empty() {
            if iov.is_empty() {
                return 0;
            }
            iov[0] = IoSlice::new(out);
            1
        } else {
            self.feeds.segs.io_slices(out, iov)
        }
    }

    /// Whether everything the core and the body segments had to write is written (a
    /// buffering transport such as TLS should flush now).
    pub fn all_written(&self) -> bool {
        self.s.core.pending_output().is_empty() && self.feeds.segs.is_empty()
    }

    /// `n` octets of [`io_slices`](Self::io_slices) were written.
    pub fn wrote(&mut self, n: usize, now: Instant) {
        self.s.core.consume_output(n, now);
        self.feeds.segs.advance(n);
    }

    /// A write failed (the server closed or reset the connection, ...). Nothing more is
    /// written; the core decides whether replies may still be waiting (a server that
    /// refused the content and closed): then [`step`](Self::step) asks for a short read,
    /// and those replies decide the outcome rather than the write error.
    pub fn write_failed(&mut self, e: io::Error, now: Instant) {
        self.feeds.segs.clear();
        if self.s.cause.is_none() {
            self.s.cause = Some(Error::Io(e));
        }
        self.s.core.handle_write_error(now);
    }

    /// Bytes read from the connection (all of them, at once: no read-ahead).
    pub fn received(&mut self, bytes: &[u8], now: Instant) {
        self.s.marks.last_input = now;
        if let Err(e) = self.s.core.handle_input(now, bytes) {
            // Input after the session closed: nothing to act on.
            let _ = e;
        }
    }

    /// The server closed the connection.
    pub fn eof(&mut self, now: Instant) {
        self.s.core.handle_eof(now);
    }

    /// A read failed.
    pub fn read_failed(&mut self, e: io::Error, now: Instant) {
        self.s.fail(Error::Io(e), now);
    }

    /// The wait for a read or a write reached [`deadline`](Self::deadline) (or any time:
    /// an early call does nothing).
    pub fn timed_out(&mut self, now: Instant) {
        self.s.core.handle_timeout(now);
    }

    /// What the TLS handshake needs: the rustls configuration, the server name to verify,
    /// and the handshake's deadline from `now`.
    pub fn tls_params(
        &self,
        now: Instant,
    ) -> Result<(Arc<ClientConfig>, ServerName<'static>, Option<Instant>), Error> {
        let cfg = self.s.tls.client_config_recording(&self.s.refused)?;
        let name = self.s.tls.server_name(&self.s.host)?;
        Ok((cfg, name, now.checked_add(self.s.handshake_timeout)))
    }

    /// The TLS handshake succeeded (a driver with a rustls connection should rather call
    /// [`tls_established_with`](Self::tls_established_with), so that
    /// [`Session::tls_info`] has something to say).
    pub fn tls_established(&mut self, now: Instant) {
        self.s.marks.tls_done = Some(now);
        if let Err(e) = self.s.core.handle_tls_established(now) {
            self.s.fail(Error::Usage(e), now);
        }
    }

    /// The TLS handshake succeeded with what `info` says
    /// ([`TlsInfo::from_rustls`] of the connection); the session adds the verification
    /// outcome (verified, or not checked when certificate checks are off) and keeps it
    /// ([`Session::tls_info`]). The example of
    /// [`Session::capabilities_before_tls`] shows it in a STARTTLS opening; a driver with
    /// a rustls stream calls it so:
    ///
    /// ```no_run
    /// # use std::time::Instant;
    /// # use smtp_client::{Exchange, Operation, TlsInfo};
    /// # fn step<'b, O: Operation<'b, dyn std::io::Read>>(
    /// #     x: &mut Exchange<'_, 'b, dyn std::io::Read, O>,
    /// #     tls: &rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>,
    /// #     handshake: Result<(), smtp_client::Error>,
    /// # ) {
    /// match handshake {
    ///     Ok(()) => x.tls_established_with(TlsInfo::from_rustls(&tls.conn), Instant::now()),
    ///     Err(e) => x.tls_failed_with(e, TlsInfo::from_rustls(&tls.conn), Instant::now()),
    /// }
    /// # }
    /// ```
    pub fn tls_established_with(&mut self, info: TlsInfo, now: Instant) {
        self.s.tls_info = Some(info.with_verification(self.checked()));
        self.tls_established(now);
    }

    /// The verification outcome of a chain the verifier accepted.
    fn checked(&self) -> Verification {
        if self.s.tls.verifies_certificates() {
            Verification::Verified
        } else {
            Verification::Disabled
        }
    }

    /// [`tls_failed`](Self::tls_failed), with what the failed connection had negotiated
    /// ([`TlsInfo::from_rustls`], for a driver that still holds it): the protocol version
    /// and cipher suite join a refused chain; after a chain the verifier accepted (the
    /// handshake failed later, say for want of a client certificate),
    /// [`Session::tls_info`] is that chain, verified. See
    /// [`tls_established_with`](Self::tls_established_with) for an example.
    pub fn tls_failed_with(&mut self, e: Error, info: TlsInfo, now: Instant) {
        self.tls_failed(e, now);
        match &mut self.s.tls_info {
            Some(refused) => refused.negotiated_from(info),
            None if !info.peer_certificates().is_empty() => {
                self.s.tls_info = Some(info.with_verification(self.checked()));
            }
            None => {}
        }
    }

    /// The TLS handshake failed (or timed out): the session is over. When it failed
    /// because the server's certificate was refused, [`Session::tls_info`] holds the
    /// chain it presented and why it was refused.
    pub fn tls_failed(&mut self, e: Error, now: Instant) {
        self.s.marks.tls_done = Some(now);
        let refused = self.s.refused.lock().ok().and_then(|mut r| r.take());
        if let Some((chain, why)) = refused {
            let why = crate::tls_error::refusal_text(&why);
            self.s.tls_info = Some(TlsInfo::refused(chain, why));
        }
        self.s.fail(e, now);
    }

    /// The body reader to read now and the buffer to read into ([`Step::ReadBody`]).
    pub fn body_reader(&mut self) -> Option<(&mut R, &mut [u8])> {
        self.feeds.reader(self.reading?)
    }

    /// `n` octets were read into the [`body_reader`](Self::body_reader) buffer (0: the
    /// end of the body).
    pub fn body_read(&mut self, n: usize) {
        if let Some(i) = self.reading.take() {
            self.feeds.read_done(i, n);
        }
    }

    /// The caller's body reader failed: the connection is dropped so that a partial
    /// message is never delivered.
    pub fn body_failed(&mut self, e: io::Error, _now: Instant) {
        self.reading = None;
        if self.s.cause.is_none() {
            self.s.cause = Some(Error::Io(e));
        }
        self.s.core.abort();
    }
}

/// An [`Exchange`] set aside between two readiness events: the operation in progress
/// without its borrow of the [`Session`] ([`Exchange::suspend`]). An event loop keeps it
/// beside its session and socket and [`resume`](Self::resume)s it when the socket is
/// ready or the session's deadline ([`Exchange::deadline`], taken before suspending) has
/// passed:
///
/// ```
/// use std::time::Instant;
/// use smtp_client::{Exchange, Options, Session, Step, Suspended, TlsPolicy, ops};
///
/// struct Conn<'b> {
///     session: Session,
///     // socket, timer entry, ...
///     ready: Option<Suspended<'b, dyn std::io::Read + 'b, ops::Ready>>,
/// }
///
/// let opts = Options::new().with_tls(TlsPolicy::Never);
/// let mut c = Conn { session: Session::new(&opts, "localhost", None, Instant::now())?, ready: None };
/// let x = Exchange::new(&mut c.session, ops::Ready)?;
/// c.ready = Some(x.suspend()); // the socket has no greeting yet
///
/// // Later: the socket is readable.
/// let mut x = c.ready.take().unwrap().resume(&mut c.session).expect("its own session");
/// assert!(matches!(x.step(), Step::Read));
/// x.received(b"220 mx.example.org ESMTP\r\n", Instant::now());
/// assert!(matches!(x.step(), Step::Write)); // EHLO
/// # Ok::<(), smtp_client::Error>(())
/// ```
///
/// Run no other operation on the session while one is suspended (as while its exchange
/// is alive): the suspended one would take the other's replies for its own.
pub struct Suspended<'b, R: ?Sized, O: Operation<'b, R>> {
    /// The id of its session.
    session: u64,
    op: O,
    feeds: Feeds<'b, R>,
    reading: Option<usize>,
    result: Option<Result<O::Output, Error>>,
    finished: bool,
}

impl<'b, R: ?Sized, O: Operation<'b, R>> std::fmt::Debug for Suspended<'b, R, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Suspended")
            .field("feeds", &self.feeds)
            .finish_non_exhaustive()
    }
}

impl<'b, R: ?Sized, O: Operation<'b, R>> Suspended<'b, R, O> {
    /// The exchange again, over its session `s`, where it stopped. `Err` when `s` is not
    /// the session the exchange was started on (a caller's mistake: nothing is changed,
    /// and the suspended operation comes back).
    pub fn resume(self, s: &mut Session) -> Result<Exchange<'_, 'b, R, O>, Box<Self>> {
        if self.session != s.id {
            return Err(Box::new(self));
        }
        Ok(Exchange {
            s,
            op: self.op,
            feeds: self.feeds,
            reading: self.reading,
            result: self.result,
            finished: self.finished,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops;
    use crate::options::Options;
    use smtp_proto::session::TlsPolicy;

    type Rd = dyn std::io::Read;

    fn session() -> Session {
        let opts = Options::new().with_tls(TlsPolicy::Never);
        Session::new(&opts, "localhost", None, Instant::now()).expect("session")
    }

    #[test]
    fn a_suspended_exchange_resumes_where_it_stopped() {
        let mut s = session();
        let mut x: Exchange<'_, '_, Rd, _> = Exchange::new(&mut s, ops::Ready).expect("ready");
        assert!(matches!(x.step(), Step::Read));
        let parked = x.suspend();
        // The session is free meanwhile (for reading, not for another operation).
        assert!(!s.is_closed());
        let mut x = parked.resume(&mut s).expect("its own session");
        x.received(b"220 mx.example.org ESMTP\r\n", Instant::now());
        assert!(matches!(x.step(), Step::Write));
        let n = x.session().core().pending_output().len();
        x.wrote(n, Instant::now());
        assert!(matches!(x.step(), Step::Read));
        let parked = x.suspend();
        let mut x = parked.resume(&mut s).expect("its own session");
        x.received(b"250 mx.example.org\r\n", Instant::now());
        assert!(matches!(x.step(), Step::Done(Ok(()))));
        assert!(s.greeting().is_some());
    }

    #[test]
    fn a_suspended_exchange_resumes_only_over_its_own_session() {
        let (mut a, mut b) = (session(), session());
        let x: Exchange<'_, '_, Rd, _> = Exchange::new(&mut a, ops::Ready).expect("ready");
        let parked = x.suspend();
        let parked = *parked.resume(&mut b).expect_err("another session");
        let mut x = parked.resume(&mut a).expect("its own session");
        assert!(matches!(x.step(), Step::Read));
    }
}
