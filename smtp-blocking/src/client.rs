//! [`SmtpClient`]: the blocking driver and its smtplib-like API.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use smtp_proto::Capabilities;
use smtp_proto::command::{
    Command, Domain, ForwardPath, MailParams, Mechanism, RawCommand, RcptParams, ReversePath,
    SmtpString,
};
use smtp_proto::sasl::{Credentials, PASSWORD_RANKING};
use smtp_proto::session::{
    Action, Client, CloseReason, Dialect, Envelope, Event, MANUAL_TX, Phase, Timeouts, TlsPolicy,
    TxId, UsageError,
};

use crate::driver::{Batch, Segments, message_envelope, sendmail_envelope, single_result};
use crate::error::{Error, ServerReply, TimeoutPhase};
use crate::report::SendReport;
use crate::tls::TlsOptions;
use crate::transport::{Socket, Target, Transport, connect_tcp};

/// The `tracing` target of the transcript (debug level).
pub const TRANSCRIPT_TARGET: &str = "smtp_blocking::transcript";

/// Connection settings. Start from [`Options::new`] (or `default()`) and adjust.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// SMTP or LMTP.
    pub dialect: Dialect,
    /// When to use TLS. Default [`TlsPolicy::Required`]: STARTTLS must succeed. STARTTLS
    /// is not a separate call as in smtplib: the core runs it right after the first EHLO,
    /// so the policy is chosen here, before connecting.
    pub tls: TlsPolicy,
    /// Trust and client-certificate settings.
    pub tls_options: TlsOptions,
    /// The EHLO/LHLO name. Default: this host's name if it is a fully qualified domain,
    /// else the local address as an address literal, else `localhost.localdomain`.
    pub helo_name: Option<String>,
    /// Per-phase reply deadlines (RFC 5321 defaults).
    pub timeouts: Timeouts,
    /// TCP connect deadline, per address tried (default 60 s).
    pub connect_timeout: Duration,
    /// TLS handshake deadline (default 60 s).
    pub tls_handshake_timeout: Duration,
    /// Local address to bind before connecting (smtplib's `source_address`).
    pub source_address: Option<SocketAddr>,
    /// Allow AUTH over an unencrypted connection (off by default).
    pub allow_plaintext_auth: bool,
    /// Fall back to HELO when EHLO is refused with 500/502 (on by default; never with TLS
    /// required).
    pub allow_helo_fallback: bool,
    /// Keep the transcript for [`SmtpClient::take_transcript`] (it always goes to
    /// `tracing` at debug level under [`TRANSCRIPT_TARGET`]).
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
        Options {
            dialect: Dialect::Smtp,
            tls: TlsPolicy::Required,
            tls_options: TlsOptions::new(),
            helo_name: None,
            timeouts: Timeouts::RFC5321,
            connect_timeout: Duration::from_secs(60),
            tls_handshake_timeout: Duration::from_secs(60),
            source_address: None,
            allow_plaintext_auth: false,
            allow_helo_fallback: true,
            record_transcript: false,
        }
    }

    /// Sets every deadline (connect, TLS handshake and each SMTP phase) to `d`.
    pub fn with_timeout(mut self, d: Duration) -> Self {
        self.timeouts = Timeouts::all(d);
        self.connect_timeout = d;
        self.tls_handshake_timeout = d;
        self
    }

    /// The port used when the server address names none: 465 for implicit TLS, 24 for
    /// LMTP, else 25.
    pub fn default_port(&self) -> u16 {
        match (self.dialect, self.tls) {
            (_, TlsPolicy::Implicit) => 465,
            (Dialect::Lmtp, _) => 24,
            _ => 25,
        }
    }
}

/// A message body: bytes in memory or any reader (streamed in constant memory).
pub enum Body<'a> {
    /// In memory. 8-bit content is detected and declared as `BODY=8BITMIME`.
    Bytes(&'a [u8]),
    /// Read to the end; declare 8-bit content yourself with [`Envelope::body`].
    Reader(&'a mut dyn Read),
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

/// The bodies being sent, and the zero-copy segments of the in-memory ones.
#[derive(Default)]
struct Feeds<'a> {
    list: Vec<Feed<'a>>,
    segs: Segments<'a>,
}

impl Feeds<'_> {
    fn with(feed: Feed<'_>) -> Feeds<'_> {
        Feeds {
            list: vec![feed],
            ..Feeds::default()
        }
    }
}

/// A blocking SMTP/LMTP client session. Connect with [`SmtpClient::connect`]; the session
/// is ready (greeting, EHLO, STARTTLS per policy) when it returns.
#[derive(Debug)]
pub struct SmtpClient {
    core: Client,
    io: Transport,
    host: String,
    tls: TlsOptions,
    handshake_timeout: Duration,
    events: VecDeque<Event>,
    greeting: Option<ServerReply>,
    transcript: Option<Vec<String>>,
    buf: Vec<u8>,
    write_timeout: Duration,
}

impl SmtpClient {
    /// Connects to `server` (`host`, `host:port`, `[v6]:port`; default port 25, 24 for
    /// LMTP, 465 for implicit TLS), trying every resolved address, and runs the greeting,
    /// EHLO and STARTTLS.
    pub fn connect(server: &str, opts: Options) -> Result<SmtpClient, Error> {
        let target = Target::parse(server, opts.default_port())?;
        Self::connect_to(target, opts)
    }

    /// [`connect`](Self::connect) to an IP address (port 25, 24 or 465 as above).
    pub fn connect_ip(ip: IpAddr, opts: Options) -> Result<SmtpClient, Error> {
        let port = opts.default_port();
        Self::connect_to(
            Target {
                host: ip.to_string(),
                port,
            },
            opts,
        )
    }

    /// [`connect`](Self::connect) to a parsed target.
    pub fn connect_to(target: Target, opts: Options) -> Result<SmtpClient, Error> {
        let tcp = connect_tcp(&target, opts.connect_timeout, opts.source_address)?;
        let local = tcp.local_addr().ok().map(|a| a.ip());
        Self::start(Transport::Plain(Socket::Tcp(tcp)), target.host, local, opts)
    }

    /// Connects to a Unix socket (LMTP delivery agents such as Dovecot's). TLS, if
    /// requested, verifies against [`TlsOptions::with_server_name`] (default `localhost`).
    #[cfg(unix)]
    pub fn connect_unix(
        path: impl AsRef<std::path::Path>,
        opts: Options,
    ) -> Result<SmtpClient, Error> {
        let path = path.as_ref();
        let s = std::os::unix::net::UnixStream::connect(path).map_err(|source| Error::Connect {
            target: path.display().to_string(),
            source,
        })?;
        Self::start(
            Transport::Plain(Socket::Unix(s)),
            "localhost".into(),
            None,
            opts,
        )
    }

    fn start(
        io: Transport,
        host: String,
        local: Option<IpAddr>,
        opts: Options,
    ) -> Result<SmtpClient, Error> {
        let transcript = opts.record_transcript
            || tracing::enabled!(target: TRANSCRIPT_TARGET, tracing::Level::DEBUG);
        let cfg = crate::driver::core_config(&opts, local, transcript)?;
        let mut c = SmtpClient {
            core: Client::new(cfg, Instant::now()),
            io,
            host,
            tls: opts.tls_options,
            handshake_timeout: opts.tls_handshake_timeout,
            events: VecDeque::new(),
            greeting: None,
            transcript: opts.record_transcript.then(Vec::new),
            buf: vec![0; 16 * 1024],
            write_timeout: opts.timeouts.data_block,
        };
        c.ehlo_or_helo_if_needed()?;
        Ok(c)
    }

    // ------------------------------------------------------------------ the driver

    /// Drives the core until `stop` matches an event, the session is idle, or it closed.
    fn run(
        &mut self,
        feeds: &mut Feeds<'_>,
        stop: &mut dyn FnMut(&Event) -> bool,
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
                Action::Write => {
                    // Both directions get the deadline: over TLS a write may have to
                    // read and a read may have to write (alerts, key updates).
                    let wait = self.wait().unwrap_or(self.write_timeout);
                    self.io
                        .set_timeouts(Some(wait), Some(wait))
                        .map_err(|e| self.fail(e))?;
                    if let Err(e) = feeds.segs.sync(&self.core) {
                        self.core.abort();
                        self.io.close();
                        return Err(Error::Usage(e));
                    }
                    let written = if feeds.segs.is_empty() {
                        self.io.write(self.core.pending_output())
                    } else {
                        let mut iov = [IoSlice::new(&[]); Segments::MAX_IOV];
                        let k = feeds.segs.io_slices(self.core.pending_output(), &mut iov);
                        self.io.write_vectored(&iov[..k])
                    };
                    match written {
                        Ok(0) => return Err(self.fail(io::ErrorKind::WriteZero.into())),
                        Ok(n) => {
                            self.core.consume_output(n, Instant::now());
                            feeds.segs.advance(n);
                        }
                        Err(e) if is_timeout(&e) => {
                            // The connection is stuck: not even the QUIT the core may
                            // queue can go out. The error names the phase whose deadline
                            // passed (the core's close reason), else the data block.
                            self.core.handle_timeout(Instant::now());
                            if !self.core.is_closed() {
                                let err = match self.core.close_reason() {
                                    Some(r) => crate::driver::close_error(Some(r)),
                                    None => Error::Timeout(TimeoutPhase::Smtp(Phase::DataBlock)),
                                };
                                self.fail(e);
                                return Err(err);
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) if is_connection_lost(&e) && self.salvage_replies() => {}
                        Err(e) => return Err(self.fail(e)),
                    }
                }
                Action::Read => {
                    let wait = self.wait();
                    self.io.set_timeouts(wait, wait).map_err(|e| self.fail(e))?;
                    match self.io.read(&mut self.buf) {
                        Ok(0) => self.core.handle_eof(Instant::now()),
                        // Every byte read goes to the core at once: no read-ahead.
                        Ok(n) => self.core.handle_input(Instant::now(), &self.buf[..n])?,
                        Err(e) if is_timeout(&e) => self.core.handle_timeout(Instant::now()),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(self.fail(e)),
                    }
                }
                Action::StartTls => {
                    let started = self.tls.client_config().and_then(|cfg| {
                        let name = self.tls.server_name(&self.host)?;
                        self.io.start_tls(cfg, name, self.handshake_timeout)
                    });
                    if let Err(e) = started {
                        self.core.handle_io_error(Instant::now());
                        self.io.close();
                        return Err(e);
                    }
                    self.core.handle_tls_established(Instant::now())?;
                }
                Action::SupplyBody(tx) => self.supply(tx, feeds)?,
                Action::Idle => return Ok(()),
                Action::Closed => {
                    self.io.close();
                    return Ok(());
                }
            }
        }
    }

    /// Time left until the core's next deadline (at least 1 ms: zero means "no timeout").
    fn wait(&self) -> Option<Duration> {
        self.core.poll_timeout().map(|d| {
            d.saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1))
        })
    }

    /// A write failed because the server closed the connection (EPIPE/ECONNRESET). A
    /// server may refuse the content and close without reading the rest (e.g. `550` right
    /// after the `354`): its reply is then waiting in the receive buffer. Hands whatever
    /// can still be read to the core, then the end of stream, so that the reply decides
    /// the outcome rather than the write error. Returns whether anything was read (when
    /// nothing was, the session fails with the write error as before).
    fn salvage_replies(&mut self) -> bool {
        if self
            .io
            .set_timeouts(Some(Duration::from_millis(200)), None)
            .is_err()
        {
            return false;
        }
        let mut got = false;
        loop {
            match self.io.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => {
                    got = true;
                    if self
                        .core
                        .handle_input(Instant::now(), &self.buf[..n])
                        .is_err()
                    {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        if got {
            // The connection is gone: nothing more can be written. The first EOF settles
            // what is still open, the second ends a closing session (dropping its output).
            self.io.close();
            self.core.handle_eof(Instant::now());
            if !self.core.is_closed() {
                self.core.handle_eof(Instant::now());
            }
        }
        got
    }

    /// The connection failed: the core gives up (nothing more is written) and the error
    /// is returned as I/O.
    fn fail(&mut self, e: io::Error) -> Error {
        self.core.handle_io_error(Instant::now());
        self.io.close();
        Error::Io(e)
    }

    fn supply<'b>(&mut self, tx: TxId, feeds: &mut Feeds<'b>) -> Result<(), Error> {
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
                    feed.buf.resize(64 * 1024, 0);
                    let n = loop {
                        match r.read(&mut feed.buf) {
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => {
                                // The caller's reader failed: drop the connection so that
                                // a partial message is never delivered.
                                self.core.abort();
                                self.io.close();
                                return Err(Error::Io(e));
                            }
                            Ok(n) => break n,
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
                }
            }
        }
        Ok(())
    }

    fn drain_transcript(&mut self) {
        while let Some(line) = self.core.poll_transcript() {
            let text = crate::driver::transcript_text(line);
            tracing::debug!(target: TRANSCRIPT_TARGET, "{text}");
            if let Some(t) = &mut self.transcript {
                crate::driver::push_capped(t, text);
            }
        }
    }

    /// The error that explains a closed session (or a usage error).
    fn closed_error(&self) -> Error {
        crate::driver::close_error(self.core.close_reason())
    }

    fn usage(&self, e: UsageError) -> Error {
        match e {
            UsageError::Closed => self.closed_error(),
            e => Error::Usage(e),
        }
    }

    fn command(
        &mut self,
        f: impl FnOnce(&mut Client) -> Result<(), UsageError>,
    ) -> Result<ServerReply, Error> {
        self.events.clear();
        f(&mut self.core).map_err(|e| self.usage(e))?;
        self.await_reply(&mut Feeds::default())
    }

    /// Runs the session (supplying `feeds` when a body is asked for) until the next
    /// [`Event::Reply`], and returns that reply.
    fn await_reply(&mut self, feeds: &mut Feeds<'_>) -> Result<ServerReply, Error> {
        self.run(feeds, &mut |e| matches!(e, Event::Reply { .. }))?;
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
    pub fn ehlo_or_helo_if_needed(&mut self) -> Result<(), Error> {
        self.run(&mut Feeds::default(), &mut |_| false)?;
        if self.core.is_closed() {
            return Err(self.closed_error());
        }
        Ok(())
    }

    /// Sends EHLO (LHLO for LMTP) again, as smtplib's `ehlo()`, and returns its reply
    /// whatever the code; a 250 replaces the [`capabilities`](Self::capabilities). The
    /// session already sent EHLO when it connected.
    pub fn ehlo(&mut self) -> Result<ServerReply, Error> {
        self.command(|c| c.hello(false))
    }

    /// Sends HELO, as smtplib's `helo()`, and returns its reply whatever the code; a 250
    /// clears the capabilities (no extensions after HELO).
    pub fn helo(&mut self) -> Result<ServerReply, Error> {
        self.command(|c| c.hello(true))
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
    pub fn verify(&mut self, address: &str) -> Result<ServerReply, Error> {
        let arg = smtp_string(address)?;
        self.command(|c| c.vrfy(arg))
    }

    /// `EXPN list`.
    pub fn expn(&mut self, list: &str) -> Result<ServerReply, Error> {
        let arg = smtp_string(list)?;
        self.command(|c| c.expn(arg))
    }

    /// `HELP [topic]`.
    pub fn help(&mut self, topic: Option<&str>) -> Result<ServerReply, Error> {
        let arg = topic.map(smtp_string).transpose()?;
        self.command(|c| c.help(arg))
    }

    /// `NOOP`.
    pub fn noop(&mut self) -> Result<ServerReply, Error> {
        self.command(Client::noop)
    }

    /// `RSET`.
    pub fn rset(&mut self) -> Result<ServerReply, Error> {
        self.command(Client::rset)
    }

    /// Low-level `MAIL FROM` (smtplib's `mail`): returns the reply whatever its code.
    /// [`sendmail`](Self::sendmail) is the way to send mail; this is the building block.
    pub fn mail(&mut self, from: &str, params: MailParams) -> Result<ServerReply, Error> {
        let from = ReversePath::parse(from).map_err(|e| Error::InvalidInput(e.to_string()))?;
        self.command(|c| c.simple(Command::Mail { from, params }))
    }

    /// Low-level `RCPT TO` (smtplib's `rcpt`): returns the reply whatever its code.
    pub fn rcpt(&mut self, to: &str, params: RcptParams) -> Result<ServerReply, Error> {
        let to = ForwardPath::parse(to).map_err(|e| Error::InvalidInput(e.to_string()))?;
        let smtputf8 = to.needs_smtputf8();
        self.command(|c| {
            c.simple(Command::Rcpt {
                to,
                params,
                smtputf8,
            })
        })
    }

    /// Low-level `DATA` (smtplib's `data`): sends DATA and, after a 354, the message
    /// (CRLF-normalised, dot-stuffed, terminated). Returns the reply to the end of data, or
    /// the reply to DATA when it was not 354.
    pub fn data(&mut self, message: &[u8]) -> Result<ServerReply, Error> {
        self.events.clear();
        self.core.data().map_err(|e| self.usage(e))?;
        let mut feeds = Feeds::with(Feed::new(MANUAL_TX, Body::Bytes(message)));
        self.await_reply(&mut feeds)
    }

    /// Sends a raw command line (smtplib's `docmd`) and returns its reply.
    pub fn docmd(&mut self, line: &str) -> Result<ServerReply, Error> {
        let raw = RawCommand::new(line).map_err(|e| Error::InvalidInput(e.to_string()))?;
        self.command(|c| c.raw(raw))
    }

    /// Authenticates with the strongest password mechanism the server offers
    /// (SCRAM-SHA-256, CRAM-MD5, PLAIN, LOGIN), without falling back to weaker ones
    /// after a refusal. Refused over plaintext unless [`Options::allow_plaintext_auth`].
    pub fn login(&mut self, user: &str, password: &str) -> Result<ServerReply, Error> {
        self.login_with(
            Credentials::password(user, password),
            &PASSWORD_RANKING,
            false,
        )
    }

    /// Authenticates with the strongest of `allowed` that fits `credentials`; after a
    /// refusal tries weaker ones only when `fallback` is set.
    pub fn login_with(
        &mut self,
        credentials: Credentials,
        allowed: &[Mechanism],
        fallback: bool,
    ) -> Result<ServerReply, Error> {
        let nonce = crate::driver::sasl_nonce()?;
        self.events.clear();
        self.core
            .login(credentials, allowed, &nonce, fallback)
            .map_err(|e| self.usage(e))?;
        self.auth_result()
    }

    /// Authenticates with the named mechanism (smtplib's `auth`).
    pub fn auth(
        &mut self,
        mechanism: &str,
        credentials: Credentials,
    ) -> Result<ServerReply, Error> {
        let mech = Mechanism::new(mechanism).map_err(|e| Error::InvalidInput(e.to_string()))?;
        let m = credentials
            .mechanism(&mech, &crate::driver::sasl_nonce()?)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "mechanism {mechanism} cannot use these credentials"
                ))
            })?;
        self.events.clear();
        self.core.authenticate(m).map_err(|e| self.usage(e))?;
        self.auth_result()
    }

    fn auth_result(&mut self) -> Result<ServerReply, Error> {
        self.run(&mut Feeds::default(), &mut |e| {
            matches!(e, Event::AuthDone { .. })
        })?;
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
    pub fn sendmail(
        &mut self,
        from: &str,
        to: &[&str],
        message: &[u8],
        mail_options: MailParams,
        rcpt_options: RcptParams,
    ) -> Result<SendReport, Error> {
        let env = sendmail_envelope(from, to, mail_options, rcpt_options)?;
        self.send(env, Body::Bytes(message))
    }

    /// Sends a raw RFC 5322 message (smtplib's `send_message`): the envelope comes from
    /// its headers (see [`extract_envelope`](crate::extract_envelope)) unless `from` /
    /// `to` are given, and `Bcc`/`Resent-Bcc` are not transmitted.
    pub fn send_message(
        &mut self,
        message: &[u8],
        from: Option<&str>,
        to: Option<&[&str]>,
    ) -> Result<SendReport, Error> {
        let (env, content) = message_envelope(message, from, to)?;
        self.send(env, Body::Bytes(&content))
    }

    /// Sends one message with a prepared envelope. For [`Body::Bytes`] the size is
    /// declared and 8-bit content is declared as `BODY=8BITMIME`.
    pub fn send(&mut self, env: Envelope, body: Body<'_>) -> Result<SendReport, Error> {
        let mut result = None;
        let r = self.send_all([(env, body)], |_, r| result = Some(r));
        single_result(result, r, || self.closed_error())
    }

    /// Sends many messages over this connection, pipelined: the next transaction is
    /// queued before the previous one's end-of-data reply, so the end of data shares a
    /// write with the next MAIL/RCPT/DATA. `on_done(index, result)` is called for each
    /// message in order. Returns an error only when the session failed (the remaining
    /// messages are then not sent and not reported).
    pub fn send_all<'b>(
        &mut self,
        messages: impl IntoIterator<Item = (Envelope, Body<'b>)>,
        mut on_done: impl FnMut(usize, Result<SendReport, Error>),
    ) -> Result<(), Error> {
        let mut it = messages.into_iter().enumerate();
        let mut feeds: Feeds<'b> = Feeds::default();
        let mut batch = Batch::new();
        self.events.clear();
        loop {
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
                return match self.core.close_reason() {
                    Some(_) => Err(self.closed_error()),
                    None => Ok(()),
                };
            }
            if let Err(e) = self.run(&mut feeds, &mut |e| matches!(e, Event::TransactionDone(_))) {
                batch.settle_failed(&mut self.core, &e, &mut on_done);
                return Err(e);
            }
            let done =
                batch.settle_events(&mut self.events, self.core.close_reason(), &mut on_done);
            feeds.list.retain(|f| !done.contains(&f.tx));
            let progressed = !done.is_empty();
            if self.core.close_reason().is_some() {
                // The session is going down: flush the QUIT the core may have queued.
                let _ = self.run(&mut feeds, &mut |_| false);
            }
            if !progressed {
                return Err(self.closed_error());
            }
        }
    }

    /// Sends QUIT and closes the connection. Returns the 221 reply (`None` if the server
    /// closed without one, or the session was already over).
    pub fn quit(&mut self) -> Result<Option<ServerReply>, Error> {
        if self.core.quit().is_ok() {
            self.events.clear();
        }
        // Also flushes a QUIT the core queued itself after a 421 or a timeout.
        let run = self.run(&mut Feeds::default(), &mut |_| false);
        self.io.close();
        run?;
        Ok(match self.core.close_reason() {
            Some(CloseReason::Quit(r)) => r.as_ref().map(Into::into),
            _ => None,
        })
    }

    /// Closes the connection without QUIT (also done on drop).
    pub fn close(&mut self) {
        self.core.abort();
        self.io.close();
    }
}

impl Drop for SmtpClient {
    fn drop(&mut self) {
        self.io.close();
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
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

/// Parses a bare address or `<address>`; empty or `<>` is the null sender.
fn bracket(addr: &str) -> String {
    let a = addr.trim();
    if a.starts_with('<') {
        a.to_owned()
    } else {
        format!("<{a}>")
    }
}

/// An envelope from address strings (bare or in angle brackets).
pub fn envelope(from: &str, to: &[&str]) -> Result<Envelope, Error> {
    let from = ReversePath::parse(&bracket(from))
        .map_err(|e| Error::InvalidInput(format!("sender {from:?}: {e}")))?;
    let rcpts = to
        .iter()
        .map(|t| {
            ForwardPath::parse(&bracket(t))
                .map_err(|e| Error::InvalidInput(format!("recipient {t:?}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if rcpts.is_empty() {
        return Err(Error::Usage(UsageError::NoRecipients));
    }
    Ok(Envelope::new(from, rcpts))
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
        None => Domain::parse("localhost.localdomain").expect("a valid domain"),
    }
}
