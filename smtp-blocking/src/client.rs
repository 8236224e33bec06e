//! [`SmtpClient`]: the blocking driver. Every operation is the shared layer's
//! ([`smtp_client::ops`]); this file only moves bytes.

use std::io::{self, IoSlice, Read};
use std::net::IpAddr;
use std::time::Instant;

use smtp_client::ops::{Data, Login, Quit, Ready, SendAll, SendOne, Simple};
use smtp_client::{
    Exchange, OAuthFlow, OAuthNext, Operation, Session, Step, Timings, TlsInfo, TokenProvider,
};
use smtp_proto::Capabilities;
use smtp_proto::command::{MailParams, Mechanism, RcptParams};
use smtp_proto::sasl::{Credentials, SaslMechanism};

use crate::transport::{Socket, Transport, connect};
use crate::{Envelope, Error, Options, Reply, SendReport, Target};

/// A message body: bytes in memory or any reader (streamed in constant memory).
pub type Body<'a> = smtp_client::Body<'a, dyn Read + 'a>;

/// A blocking SMTP/LMTP client session. Connect with [`SmtpClient::connect`]; the session
/// is ready (greeting, EHLO, STARTTLS per policy) when it returns. Dropping it sends a
/// best-effort QUIT without waiting for the reply (see its `Drop` implementation); call
/// [`quit`](Self::quit) to end politely and wait for the 221.
#[derive(Debug)]
pub struct SmtpClient {
    session: Session,
    io: Transport,
    buf: Vec<u8>,
}

impl SmtpClient {
    /// Connects to `server` (`host`, `host:port`, `[v6]:port`; default port 25, 24 for
    /// LMTP, 465 for implicit TLS), trying every resolved address, and runs the greeting,
    /// EHLO and STARTTLS.
    pub fn connect(server: &str, opts: Options) -> Result<SmtpClient, Error> {
        let mut c = Self::open(server, opts)?;
        c.execute(Ready)?;
        Ok(c)
    }

    /// Opens the connection only: no greeting is read yet. The first call (say
    /// [`ehlo_or_helo_if_needed`](Self::ehlo_or_helo_if_needed)) runs the greeting, EHLO and
    /// STARTTLS; when that fails, the client is still there to show its
    /// [`take_transcript`](Self::take_transcript) (swaks' `--quit-after connect` is `open`
    /// then [`close`](Self::close)).
    pub fn open(server: &str, opts: Options) -> Result<SmtpClient, Error> {
        let target = Target::parse(server, opts.default_port())?;
        let started = Instant::now();
        let (tcp, local) = connect(&target, &opts)?;
        Self::wrap(
            Transport::Plain(Socket::Tcp(tcp)),
            &target.host,
            local,
            &opts,
            started,
        )
    }

    /// [`connect`](Self::connect) to an IP address (port 25, 24 or 465 as above).
    pub fn connect_ip(ip: IpAddr, opts: Options) -> Result<SmtpClient, Error> {
        let port = opts.default_port();
        let host = ip.to_string();
        Self::connect_to(Target { host, port }, opts)
    }

    /// [`connect`](Self::connect) to a parsed target.
    pub fn connect_to(target: Target, opts: Options) -> Result<SmtpClient, Error> {
        let started = Instant::now();
        let (tcp, local) = connect(&target, &opts)?;
        Self::start(
            Transport::Plain(Socket::Tcp(tcp)),
            &target.host,
            local,
            &opts,
            started,
        )
    }

    /// Connects to a Unix socket (LMTP delivery agents such as Dovecot's). TLS, if
    /// requested, verifies against [`TlsOptions::with_server_name`](crate::TlsOptions::with_server_name)
    /// (default `localhost`).
    #[cfg(unix)]
    pub fn connect_unix(
        path: impl AsRef<std::path::Path>,
        opts: Options,
    ) -> Result<SmtpClient, Error> {
        let path = path.as_ref();
        let started = Instant::now();
        let s = std::os::unix::net::UnixStream::connect(path).map_err(|source| Error::Connect {
            target: path.display().to_string(),
            source,
        })?;
        Self::start(
            Transport::Plain(Socket::Unix(s)),
            "localhost",
            None,
            &opts,
            started,
        )
    }

    fn start(
        io: Transport,
        host: &str,
        local: Option<IpAddr>,
        opts: &Options,
        started: Instant,
    ) -> Result<SmtpClient, Error> {
        let mut c = Self::wrap(io, host, local, opts, started)?;
        c.execute(Ready)?;
        Ok(c)
    }

    fn wrap(
        io: Transport,
        host: &str,
        local: Option<IpAddr>,
        opts: &Options,
        started: Instant,
    ) -> Result<SmtpClient, Error> {
        let mut session = Session::new(opts, host, local, Instant::now())?;
        session.record_connect_start(started);
        Ok(SmtpClient {
            session,
            io,
            buf: vec![0; 16 * 1024],
        })
    }

    /// Runs any [`Operation`] of the shared layer over this connection (every method
    /// below is one). The driving loop: write, read, TLS handshake, body reads, each
    /// bounded by the core's deadline.
    pub fn execute<'b, O>(&mut self, op: O) -> Result<O::Output, Error>
    where
        O: Operation<'b, dyn Read + 'b>,
    {
        let io = &mut self.io;
        let buf = &mut self.buf;
        let mut x = Exchange::new(&mut self.session, op)?;
        loop {
            match x.step() {
                Step::Done(r) => {
                    if x.session().is_closed() {
                        io.close();
                    }
                    return r;
                }
                Step::Write => {
                    // Both directions get the deadline: over TLS a write may have to
                    // read and a read may have to write (alerts, key updates).
                    let wait = x.wait(Instant::now());
                    if let Err(e) = io.set_timeouts(wait, wait) {
                        x.write_failed(e, Instant::now());
                        continue;
                    }
                    let mut iov = [IoSlice::new(&[]); smtp_client::Segments::MAX_IOV];
                    let k = x.io_slices(&mut iov);
                    let written = io.write_vectored(&iov[..k]);
                    let now = Instant::now();
                    match written {
                        Ok(0) => x.write_failed(io::ErrorKind::WriteZero.into(), now),
                        Ok(n) => x.wrote(n, now),
                        Err(e) if is_timeout(&e) => x.timed_out(now),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => x.write_failed(e, now),
                    }
                }
                Step::Read => {
                    let wait = x.wait(Instant::now());
                    if let Err(e) = io.set_timeouts(wait, wait) {
                        x.read_failed(e, Instant::now());
                        continue;
                    }
                    let read = io.read(buf);
                    let now = Instant::now();
                    match read {
                        Ok(0) => x.eof(now),
                        // Every byte read goes to the core at once: no read-ahead.
                        Ok(n) => x.received(&buf[..n], now),
                        Err(e) if is_timeout(&e) => x.timed_out(now),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => x.read_failed(e, now),
                    }
                }
                Step::StartTls => {
                    let now = Instant::now();
                    let mut seen = None;
                    let done = x.tls_params(now).and_then(|(cfg, name, deadline)| {
                        io.start_tls(cfg, name, deadline, &mut seen)
                    });
                    let now = Instant::now();
                    match (done, seen) {
                        (Ok(()), Some(info)) => x.tls_established_with(info, now),
                        (Ok(()), None) => x.tls_established(now),
                        (Err(e), Some(info)) => x.tls_failed_with(e, info, now),
                        (Err(e), None) => x.tls_failed(e, now),
                    }
                }
                Step::ReadBody => {
                    let read = match x.body_reader() {
                        Some((r, b)) => read_retrying(r, b),
                        None => Ok(0),
                    };
                    match read {
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
    pub fn ehlo_or_helo_if_needed(&mut self) -> Result<(), Error> {
        self.execute(Ready)
    }

    /// Sends EHLO (LHLO for LMTP) again, as smtplib's `ehlo()`, and returns its reply
    /// whatever the code; a 250 replaces the [`capabilities`](Self::capabilities). The
    /// session already sent EHLO when it connected.
    pub fn ehlo(&mut self) -> Result<Reply, Error> {
        self.execute(Simple::ehlo())
    }

    /// Sends HELO, as smtplib's `helo()`, and returns its reply whatever the code; a 250
    /// clears the capabilities (no extensions after HELO).
    pub fn helo(&mut self) -> Result<Reply, Error> {
        self.execute(Simple::helo())
    }

    /// [`ehlo`](Self::ehlo) naming the client `name` for this command only (smtplib's
    /// `ehlo(name)`); [`Options::helo_name`] stays for the rest of the session.
    pub fn ehlo_as(&mut self, name: &str) -> Result<Reply, Error> {
        self.execute(Simple::ehlo_as(name)?)
    }

    /// [`helo`](Self::helo) naming the client `name` for this command only (smtplib's
    /// `helo(name)`).
    pub fn helo_as(&mut self, name: &str) -> Result<Reply, Error> {
        self.execute(Simple::helo_as(name)?)
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
    /// use smtp_blocking::{Options, SmtpClient, TlsPolicy};
    ///
    /// let c = SmtpClient::connect("mx.example.org:587", Options::new().with_tls(TlsPolicy::Required))?;
    /// let before = c.capabilities_before_tls().map_or(0, |caps| caps.iter().count());
    /// let after = c.capabilities().map_or(0, |caps| caps.iter().count());
    /// println!("{before} extensions before STARTTLS, {after} after");
    /// # Ok::<(), smtp_blocking::Error>(())
    /// ```
    pub fn capabilities_before_tls(&self) -> Option<&Capabilities> {
        self.session.capabilities_before_tls()
    }

    /// What the TLS handshake established: version, cipher suite, ALPN, the server's
    /// certificate chain and whether it was verified (see [`Session::tls_info`]). After a
    /// refused certificate (a failed [`ehlo_or_helo_if_needed`](Self::ehlo_or_helo_if_needed)
    /// on an [`open`](Self::open)ed client), the chain and why it was refused.
    ///
    /// ```no_run
    /// use smtp_blocking::{Options, SmtpClient, TlsPolicy};
    ///
    /// let mut c = SmtpClient::open("mx.example.org:587", Options::new().with_tls(TlsPolicy::Required))?;
    /// let opened = c.ehlo_or_helo_if_needed();
    /// if let Some(tls) = c.tls_info() {
    ///     println!("{:?} {:?}: {}", tls.protocol_version(), tls.cipher_suite(), tls.verification());
    ///     println!("{} certificates", tls.peer_certificates().len());
    /// }
    /// opened?;
    /// # Ok::<(), smtp_blocking::Error>(())
    /// ```
    pub fn tls_info(&self) -> Option<&TlsInfo> {
        self.session.tls_info()
    }

    /// How long each phase of the opening took: connect, greeting, EHLO, STARTTLS, TLS
    /// handshake, EHLO after TLS (see [`Timings`]).
    ///
    /// ```no_run
    /// use smtp_blocking::{Options, SmtpClient};
    ///
    /// let c = SmtpClient::connect("mx.example.org", Options::new())?;
    /// println!("greeting after {:?}", c.timings().greeting);
    /// # Ok::<(), smtp_blocking::Error>(())
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
    pub fn verify(&mut self, address: &str) -> Result<Reply, Error> {
        self.execute(Simple::verify(address)?)
    }

    /// `EXPN list`.
    pub fn expn(&mut self, list: &str) -> Result<Reply, Error> {
        self.execute(Simple::expn(list)?)
    }

    /// `HELP [topic]`.
    pub fn help(&mut self, topic: Option<&str>) -> Result<Reply, Error> {
        self.execute(Simple::help(topic)?)
    }

    /// `NOOP`.
    pub fn noop(&mut self) -> Result<Reply, Error> {
        self.execute(Simple::noop())
    }

    /// `RSET`.
    pub fn rset(&mut self) -> Result<Reply, Error> {
        self.execute(Simple::rset())
    }

    /// Low-level `MAIL FROM` (smtplib's `mail`): returns the reply whatever its code.
    /// [`sendmail`](Self::sendmail) is the way to send mail; this is the building block.
    pub fn mail(&mut self, from: &str, params: MailParams) -> Result<Reply, Error> {
        self.execute(Simple::mail(from, params)?)
    }

    /// Low-level `RCPT TO` (smtplib's `rcpt`): returns the reply whatever its code.
    pub fn rcpt(&mut self, to: &str, params: RcptParams) -> Result<Reply, Error> {
        self.execute(Simple::rcpt(to, params)?)
    }

    /// Low-level `DATA` (smtplib's `data`): sends DATA and, after a 354, the message
    /// (CRLF-normalised, dot-stuffed, terminated). Returns the reply to the end of data, or
    /// the reply to DATA when it was not 354.
    pub fn data(&mut self, message: &[u8]) -> Result<Reply, Error> {
        self.execute(Data::new(message))
    }

    /// Sends a raw command line (smtplib's `docmd`) and returns its reply.
    pub fn docmd(&mut self, line: &str) -> Result<Reply, Error> {
        self.execute(Simple::docmd(line)?)
    }

    /// Authenticates with the strongest password mechanism the server offers
    /// (SCRAM-SHA-256, CRAM-MD5, PLAIN, LOGIN), without falling back to weaker ones
    /// after a refusal. Refused over plaintext unless the core's `allow_plaintext_auth`.
    pub fn login(&mut self, user: &str, password: &str) -> Result<Reply, Error> {
        self.execute(Login::password(user, password))
    }

    /// Authenticates with the strongest of `allowed` that fits `credentials`; after a
    /// refusal tries weaker ones only when `fallback` is set.
    pub fn login_with(
        &mut self,
        credentials: Credentials,
        allowed: &[Mechanism],
        fallback: bool,
    ) -> Result<Reply, Error> {
        self.execute(Login::ranked(credentials, allowed, fallback))
    }

    /// Authenticates with the named mechanism (smtplib's `auth`).
    pub fn auth(&mut self, mechanism: &str, credentials: Credentials) -> Result<Reply, Error> {
        self.execute(Login::named(mechanism, credentials)?)
    }

    /// Authenticates with any [`SaslMechanism`], your own included, by value or boxed
    /// (`Box<dyn SaslMechanism>` is one too).
    ///
    /// ```no_run
    /// use smtp_blocking::{Options, SmtpClient};
    /// use smtp_blocking::proto::command::Secret;
    /// use smtp_blocking::proto::sasl::{SaslError, SaslMechanism};
    ///
    /// /// A toy mechanism: sends the user as initial response, answers one challenge.
    /// #[derive(Debug)]
    /// struct Toy(String);
    ///
    /// impl SaslMechanism for Toy {
    ///     fn name(&self) -> &str { "X-TOY" }
    ///     fn initial_response(&mut self) -> Result<Option<Secret>, SaslError> {
    ///         Ok(Some(Secret::new(self.0.clone())))
    ///     }
    ///     fn step(&mut self, challenge: &[u8]) -> Result<Secret, SaslError> {
    ///         Ok(Secret::new(challenge.to_ascii_uppercase()))
    ///     }
    ///     fn finish(&mut self) -> Result<(), SaslError> { Ok(()) }
    /// }
    ///
    /// let mut client = SmtpClient::connect("mail.example.org:587", Options::new())?;
    /// client.auth_with(Toy("alice".into()))?;
    /// // Or boxed, chosen at run time:
    /// let m: Box<dyn SaslMechanism> = Box::new(Toy("alice".into()));
    /// # let mut client = SmtpClient::connect("mail.example.org:587", Options::new())?;
    /// client.auth_with(m)?;
    /// # Ok::<(), smtp_blocking::Error>(())
    /// ```
    ///
    /// (The `smtp_client::ops` documentation runs such a mechanism against a scripted
    /// exchange.)
    pub fn auth_with(&mut self, mechanism: impl SaslMechanism + 'static) -> Result<Reply, Error> {
        self.execute(Login::mechanism(mechanism))
    }

    /// Authenticates as `user` with an OAuth 2.0 token from `provider` (OAUTHBEARER, or
    /// XOAUTH2 when that is all the server offers). When the server refuses the token as
    /// invalid or expired ([`smtp_client::is_token_refused`]), the provider is asked once
    /// more with `refresh = true` and the login is tried again on this connection; never
    /// more than that (the decisions are [`OAuthFlow`]'s, shared with the async client
    /// and its pool). Tokens never appear in the transcript.
    ///
    /// A single client cannot open another connection. If the server closed this one
    /// after refusing the token (the client [`is_closed`](Self::is_closed)), the refusal
    /// is returned ([`smtp_client::is_token_refused`] holds; the provider may or may not
    /// have been asked to refresh, depending on when the client saw the close). Then
    /// connect again and log in with a token refreshed at once, once (the pool's
    /// `Endpoint::with_oauth` in `smtp-async` does this itself):
    ///
    /// ```no_run
    /// # use smtp_blocking::{Error, Options, SmtpClient, TokenProvider};
    /// # fn demo(provider: &dyn TokenProvider) -> Result<(), Error> {
    /// let server = "mail.example.org:587";
    /// let mut client = SmtpClient::connect(server, Options::new())?;
    /// if let Err(e) = client.login_oauth("alice@example.org", provider) {
    ///     if !(smtp_blocking::is_token_refused(&e) && client.is_closed()) {
    ///         return Err(e);
    ///     }
    ///     client = SmtpClient::connect(server, Options::new())?;
    ///     let refreshing = |user: &str, _: bool| provider.token(user, true);
    ///     client.login_oauth("alice@example.org", &refreshing)?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn login_oauth(
        &mut self,
        user: &str,
        provider: &dyn TokenProvider,
    ) -> Result<Reply, Error> {
        let mut flow = OAuthFlow::new(user);
        loop {
            let token = match flow.token_needed() {
                Some(refresh) => Some(provider.token(flow.user(), refresh)?),
                None => None,
            };
            let r = self.execute(flow.login(token));
            match flow.outcome(r, self.session.is_usable()) {
                OAuthNext::Done(r) => return r,
                OAuthNext::Retry { reconnect: true } => return Err(flow.give_up()),
                OAuthNext::Retry { reconnect: false } => {}
            }
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
        let env = smtp_client::sendmail_envelope(from, to, mail_options, rcpt_options)?;
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
        let (env, content) = smtp_client::message_envelope(message, from, to)?;
        self.send(env, Body::Bytes(&content))
    }

    /// [`send_message`](Self::send_message) with smtplib's `mail_options` (on MAIL) and
    /// `rcpt_options` (on every RCPT).
    pub fn send_message_with(
        &mut self,
        message: &[u8],
        from: Option<&str>,
        to: Option<&[&str]>,
        mail_options: MailParams,
        rcpt_options: RcptParams,
    ) -> Result<SendReport, Error> {
        let (env, content) =
            smtp_client::message_envelope_with(message, from, to, mail_options, rcpt_options)?;
        self.send(env, Body::Bytes(&content))
    }

    /// Sends one message with a prepared envelope. For [`Body::Bytes`] the size is
    /// declared and 8-bit content is declared as `BODY=8BITMIME`.
    pub fn send(&mut self, env: Envelope, body: Body<'_>) -> Result<SendReport, Error> {
        self.execute(SendOne::new(env, body))
    }

    /// Sends many messages over this connection, pipelined: the next transaction is
    /// queued before the previous one's end-of-data reply, so the end of data shares a
    /// write with the next MAIL/RCPT/DATA. `on_done(index, result)` is called for each
    /// message in order. Returns an error only when the session failed (the remaining
    /// messages are then not sent and not reported).
    pub fn send_all<'b>(
        &mut self,
        messages: impl IntoIterator<Item = (Envelope, Body<'b>)>,
        on_done: impl FnMut(usize, Result<SendReport, Error>),
    ) -> Result<(), Error> {
        self.execute(SendAll::new(messages, on_done))
    }

    /// Sends QUIT and closes the connection. Returns the 221 reply (`None` if the server
    /// closed without one, or the session was already over).
    pub fn quit(&mut self) -> Result<Option<Reply>, Error> {
        let r = self.execute(Quit);
        self.io.close();
        r
    }

    /// Closes the connection without QUIT.
    pub fn close(&mut self) {
        self.session.abort();
        self.io.close();
    }
}

/// How long a drop may spend writing its best-effort QUIT.
const DROP_QUIT_DEADLINE: std::time::Duration = std::time::Duration::from_millis(100);

/// Dropping a client that is still open sends a best-effort `QUIT`, like smtplib's
/// context manager, but never waits for the reply: when the session is idle (no reply
/// outstanding, no message half-sent) the QUIT line is written once, under a 100 ms
/// deadline (it fits in the socket's buffer: in practice no wait at all), then the
/// connection is closed. A busy session (a drop in the middle of an operation, after a
/// panic or an error) is closed without QUIT, so a partial message is never taken as
/// complete. Call [`quit`](SmtpClient::quit) to wait for the server's 221, or
/// [`close`](SmtpClient::close) to close without a word.
impl Drop for SmtpClient {
    fn drop(&mut self) {
        if matches!(self.io, Transport::Closed) {
            return;
        }
        if self.session.farewell() {
            let _ = self
                .io
                .set_timeouts(Some(DROP_QUIT_DEADLINE), Some(DROP_QUIT_DEADLINE));
            let out = self.session.core().pending_output();
            let _ = self.io.write_vectored(&[IoSlice::new(out)]);
        }
        self.io.close();
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Reads the caller's body reader once, retrying on `Interrupted`.
fn read_retrying(r: &mut (dyn Read + '_), buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => return r,
        }
    }
}
