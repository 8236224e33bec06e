//! The smtplib-style operations, written once for every driver: each is an
//! [`Operation`] that an adapter runs with its own I/O (`execute` in both adapters), and
//! that your own event loop can run through an [`Exchange`](crate::Exchange).
//!
//! | smtplib | operation |
//! |---|---|
//! | `ehlo_or_helo_if_needed` | [`Ready`] |
//! | `ehlo`, `helo`, `verify`, `expn`, `help`, `noop`, `rset`, `mail`, `rcpt`, `docmd` | [`Simple`] |
//! | `data` | [`Data`] |
//! | `login`, `auth` | [`Login`] |
//! | `sendmail`, `send_message` | [`SendOne`] (after [`sendmail_envelope`](crate::sendmail_envelope) / [`message_envelope`](crate::message_envelope)) |
//! | (pipelined batch) | [`SendAll`] |
//! | `quit` | [`Quit`] |
//! | (a pool's check of an idle connection) | [`Health`] |

use smtp_proto::Reply;
use smtp_proto::command::{
    Command, Domain, ForwardPath, MailParams, Mechanism, RawCommand, RcptParams, ReversePath,
    SmtpString,
};
use smtp_proto::sasl::{Credentials, PASSWORD_RANKING, SaslMechanism};
use smtp_proto::session::{CloseReason, Envelope, Event, HealthProbe, UsageError};

use crate::batch::Batch;
use crate::body::{Body, Feeds};
use crate::error::Error;
use crate::report::SendReport;
use crate::session::{Operation, Session};

/// Makes sure the session is ready: greeting, EHLO/LHLO (or HELO after a refused EHLO)
/// and STARTTLS per policy. Completes when the core is idle; an error when the session
/// closed instead.
#[derive(Debug, Default)]
pub struct Ready;

impl<'b, R: ?Sized> Operation<'b, R> for Ready {
    type Output = ();

    fn start(&mut self, _: &mut Session, _: &mut Feeds<'b, R>) -> Result<(), Error> {
        Ok(())
    }

    fn event(
        &mut self,
        _: Event,
        _: &mut Session,
        _: &mut Feeds<'b, R>,
    ) -> Option<Result<(), Error>> {
        None
    }

    fn finish(&mut self, s: &mut Session) -> Result<(), Error> {
        match s.is_closed() {
            true => Err(s.closed_error()),
            false => Ok(()),
        }
    }
}

/// A command answered by one reply, returned whatever its code (smtplib's `ehlo`,
/// `helo`, `verify`, `expn`, `help`, `noop`, `rset`, `mail`, `rcpt`, `docmd`).
#[derive(Debug)]
pub struct Simple(SimpleCmd);

#[derive(Debug)]
enum SimpleCmd {
    Hello { helo: bool, name: Option<Domain> },
    Vrfy(SmtpString),
    Expn(SmtpString),
    Help(Option<SmtpString>),
    Noop,
    Rset,
    Raw(RawCommand),
    Cmd(Box<Command>),
}

fn domain(s: &str) -> Result<Domain, Error> {
    Domain::parse(s).map_err(|e| Error::InvalidInput(format!("HELO name: {e}")))
}

fn smtp_string(s: &str) -> Result<SmtpString, Error> {
    SmtpString::new(s).map_err(|e| Error::InvalidInput(e.to_string()))
}

impl Simple {
    /// `EHLO` (`LHLO` for LMTP) again: a 250 replaces the capabilities.
    pub fn ehlo() -> Simple {
        Simple(SimpleCmd::Hello {
            helo: false,
            name: None,
        })
    }

    /// `EHLO name` (`LHLO` for LMTP), naming the client `name` for this command only
    /// (smtplib's `ehlo(name)`); the configured [`helo_name`](crate::Options::helo_name)
    /// stays for the rest of the session.
    pub fn ehlo_as(name: &str) -> Result<Simple, Error> {
        Ok(Simple(SimpleCmd::Hello {
            helo: false,
            name: Some(domain(name)?),
        }))
    }

    /// `HELO name`, naming the client `name` for this command only (smtplib's
    /// `helo(name)`).
    pub fn helo_as(name: &str) -> Result<Simple, Error> {
        Ok(Simple(SimpleCmd::Hello {
            helo: true,
            name: Some(domain(name)?),
        }))
    }

    /// `HELO`: a 250 clears the capabilities (no extensions after HELO).
    pub fn helo() -> Simple {
        Simple(SimpleCmd::Hello {
            helo: true,
            name: None,
        })
    }

    /// `VRFY address`.
    pub fn verify(address: &str) -> Result<Simple, Error> {
        Ok(Simple(SimpleCmd::Vrfy(smtp_string(address)?)))
    }

    /// `EXPN list`.
    pub fn expn(list: &str) -> Result<Simple, Error> {
        Ok(Simple(SimpleCmd::Expn(smtp_string(list)?)))
    }

    /// `HELP [topic]`.
    pub fn help(topic: Option<&str>) -> Result<Simple, Error> {
        Ok(Simple(SimpleCmd::Help(topic.map(smtp_string).transpose()?)))
    }

    /// `NOOP`.
    pub fn noop() -> Simple {
        Simple(SimpleCmd::Noop)
    }

    /// `RSET`.
    pub fn rset() -> Simple {
        Simple(SimpleCmd::Rset)
    }

    /// Low-level `MAIL FROM:<from>` with `params`.
    pub fn mail(from: &str, params: MailParams) -> Result<Simple, Error> {
        let from = ReversePath::parse(from).map_err(|e| Error::InvalidInput(e.to_string()))?;
        Ok(Simple(SimpleCmd::Cmd(Box::new(Command::Mail {
            from,
            params,
        }))))
    }

    /// Low-level `RCPT TO:<to>` with `params`.
    pub fn rcpt(to: &str, params: RcptParams) -> Result<Simple, Error> {
        let to = ForwardPath::parse(to).map_err(|e| Error::InvalidInput(e.to_string()))?;
        let smtputf8 = to.needs_smtputf8();
        Ok(Simple(SimpleCmd::Cmd(Box::new(Command::Rcpt {
            to,
            params,
            smtputf8,
        }))))
    }

    /// A raw command line (smtplib's `docmd`); CR, LF and NUL are refused.
    pub fn docmd(line: &str) -> Result<Simple, Error> {
        let raw = RawCommand::new(line).map_err(|e| Error::InvalidInput(e.to_string()))?;
        Ok(Simple(SimpleCmd::Raw(raw)))
    }
}

/// Completes on the first [`Event::Reply`].
fn reply_event(ev: Event) -> Option<Result<Reply, Error>> {
    match ev {
        Event::Reply { reply, .. } => Some(Ok(reply)),
        _ => None,
    }
}

impl<'b, R: ?Sized> Operation<'b, R> for Simple {
    type Output = Reply;

    fn start(&mut self, s: &mut Session, _: &mut Feeds<'b, R>) -> Result<(), Error> {
        let c = s.core_mut();
        let r = match std::mem::replace(&mut self.0, SimpleCmd::Noop) {
            SimpleCmd::Hello { helo, name: None } => c.hello(helo),
            SimpleCmd::Hello {
                helo,
                name: Some(n),
            } => c.hello_as(helo, n),
            SimpleCmd::Vrfy(a) => c.vrfy(a),
            SimpleCmd::Expn(a) => c.expn(a),
            SimpleCmd::Help(a) => c.help(a),
            SimpleCmd::Noop => c.noop(),
            SimpleCmd::Rset => c.rset(),
            SimpleCmd::Raw(l) => c.raw(l),
            SimpleCmd::Cmd(cmd) => c.simple(*cmd),
        };
        r.map_err(|e| s.usage(e))
    }

    fn event(
        &mut self,
        ev: Event,
        _: &mut Session,
        _: &mut Feeds<'b, R>,
    ) -> Option<Result<Reply, Error>> {
        reply_event(ev)
    }

    fn finish(&mut self, s: &mut Session) -> Result<Reply, Error> {
        Err(s.closed_error())
    }
}

/// Low-level `DATA` (smtplib's `data`): after a 354, the message (CRLF-normalised,
/// dot-stuffed, terminated). Returns the reply to the end of data, or the reply to DATA
/// when it was not 354.
#[derive(Debug)]
pub struct Data<'b>(Option<&'b [u8]>);

impl<'b> Data<'b> {
    /// DATA with `message`.
    pub fn new(message: &'b [u8]) -> Data<'b> {
        Data(Some(message))
    }
}

impl<'b, R: ?Sized> Operation<'b, R> for Data<'b> {
    type Output = Reply;

    fn start(&mut self, s: &mut Session, feeds: &mut Feeds<'b, R>) -> Result<(), Error> {
        let tx = s.core_mut().data().map_err(|e| s.usage(e))?;
        let message = self.0.take().unwrap_or_default();
        feeds.push(tx, Body::Bytes(message));
        Ok(())
    }

    fn event(
        &mut self,
        ev: Event,
        _: &mut Session,
        _: &mut Feeds<'b, R>,
    ) -> Option<Result<Reply, Error>> {
        reply_event(ev)
    }

    fn finish(&mut self, s: &mut Session) -> Result<Reply, Error> {
        Err(s.closed_error())
    }
}

/// Authentication (smtplib's `login` and `auth`): returns the server's final reply, or
/// [`Error::Auth`].
pub struct Login(LoginKind);

enum LoginKind {
    Ranked {
        credentials: Credentials,
        allowed: Vec<Mechanism>,
        fallback: bool,
    },
    Mechanism(Box<dyn SaslMechanism>),
    Taken,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Login { .. }")
    }
}

impl Login {
    /// The strongest password mechanism the server offers (SCRAM-SHA-256, CRAM-MD5,
    /// PLAIN, LOGIN), without falling back to weaker ones after a refusal. Refused over
    /// plaintext unless the core's `allow_plaintext_auth` is set.
    pub fn password(user: &str, password: &str) -> Login {
        Login::ranked(
            Credentials::password(user, password),
            &PASSWORD_RANKING,
            false,
        )
    }

    /// The strongest of `allowed` that fits `credentials`; after a refusal, weaker ones
    /// only when `fallback` is set.
    pub fn ranked(credentials: Credentials, allowed: &[Mechanism], fallback: bool) -> Login {
        Login(LoginKind::Ranked {
            credentials,
            allowed: allowed.to_vec(),
            fallback,
        })
    }

    /// The named mechanism with `credentials` (smtplib's `auth`).
    pub fn named(mechanism: &str, credentials: Credentials) -> Result<Login, Error> {
        let mech = Mechanism::new(mechanism).map_err(|e| Error::InvalidInput(e.to_string()))?;
        let m = credentials
            .mechanism(&mech, &sasl_nonce()?)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "mechanism {mechanism} cannot use these credentials"
                ))
            })?;
        Ok(Login(LoginKind::Mechanism(m)))
    }

    /// Any mechanism object, your own included.
    ///
    /// A custom mechanism implements [`SaslMechanism`] (raw bytes in and out: the core
    /// does the base64, the 334 rounds, the redaction in the transcript). Here a toy
    /// one, run against a scripted server:
    ///
    /// ```
    /// use std::time::Instant;
    /// use smtp_client::proto::command::Secret;
    /// use smtp_client::proto::sasl::{SaslError, SaslMechanism};
    /// use smtp_client::{Exchange, Options, Session, Step, TlsPolicy, ops};
    ///
    /// /// Sends the user as its initial response, then the challenge upper-cased.
    /// #[derive(Debug)]
    /// struct Toy {
    ///     user: String,
    ///     answered: bool,
    /// }
    ///
    /// impl SaslMechanism for Toy {
    ///     fn name(&self) -> &str {
    ///         "X-TOY"
    ///     }
    ///     fn initial_response(&mut self) -> Result<Option<Secret>, SaslError> {
    ///         Ok(Some(Secret::new(self.user.clone())))
    ///     }
    ///     fn step(&mut self, challenge: &[u8]) -> Result<Secret, SaslError> {
    ///         self.answered = true;
    ///         Ok(Secret::new(challenge.to_ascii_uppercase()))
    ///     }
    ///     fn finish(&mut self) -> Result<(), SaslError> {
    ///         match self.answered {
    ///             true => Ok(()),
    ///             false => Err(SaslError::ServerNotVerified),
    ///         }
    ///     }
    /// }
    ///
    /// let mut opts = Options::new().with_tls(TlsPolicy::Never);
    /// opts.core.allow_plaintext_auth = true; // a test: no TLS here
    /// let mut session = Session::new(&opts, "localhost", None, Instant::now())?;
    /// let server = [
    ///     "220 mx.example.org ESMTP\r\n",
    ///     "250-mx.example.org\r\n250 AUTH X-TOY\r\n",
    ///     "334 c2VjcmV0\r\n", // base64("secret")
    ///     "235 2.7.0 ok\r\n",
    /// ];
    /// let mut replies = server.iter();
    /// let mut sent = Vec::new();
    /// let toy = Toy { user: "alice".into(), answered: false };
    /// let mut x: Exchange<'_, '_, dyn std::io::Read, _> =
    ///     Exchange::new(&mut session, ops::Login::mechanism(Box::new(toy)))?;
    /// let reply = loop {
    ///     match x.step() {
    ///         Step::Done(r) => break r?,
    ///         Step::Read => x.received(replies.next().unwrap().as_bytes(), Instant::now()),
    ///         Step::Write => {
    ///             let mut iov = [std::io::IoSlice::new(&[])];
    ///             let n = x.io_slices(&mut iov);
    ///             sent.extend(iov[..n].iter().flat_map(|s| s.to_vec()));
    ///             let len = iov[..n].iter().map(|s| s.len()).sum();
    ///             x.wrote(len, Instant::now());
    ///         }
    ///         _ => unreachable!(),
    ///     }
    /// };
    /// assert_eq!(reply.code(), 235);
    /// let sent = String::from_utf8(sent).unwrap();
    /// // AUTH X-TOY base64("alice"), then base64("SECRET").
    /// assert!(sent.ends_with("AUTH X-TOY YWxpY2U=\r\nU0VDUkVU\r\n"), "{sent}");
    /// # Ok::<(), smtp_client::Error>(())
    /// ```
    ///
    /// Generic: a mechanism by value (`Toy { .. }`) or already boxed
    /// (`Box<dyn SaslMechanism>`, itself a [`SaslMechanism`]) will do.
    pub fn mechanism(m: impl SaslMechanism + 'static) -> Login {
        Login(LoginKind::Mechanism(Box::new(m)))
    }
}

impl<'b, R: ?Sized> Operation<'b, R> for Login {
    type Output = Reply;

    fn start(&mut self, s: &mut Session, _: &mut Feeds<'b, R>) -> Result<(), Error> {
        let r = match std::mem::replace(&mut self.0, LoginKind::Taken) {
            LoginKind::Ranked {
                credentials,
                allowed,
                fallback,
            } => {
                let nonce = sasl_nonce()?;
                s.core_mut().login(credentials, &allowed, &nonce, fallback)
            }
            LoginKind::Mechanism(m) => s.core_mut().authenticate(m),
            LoginKind::Taken => Err(UsageError::WrongState("the login was already started")),
        };
        r.map_err(|e| s.usage(e))
    }

    fn event(
        &mut self,
        ev: Event,
        _: &mut Session,
        _: &mut Feeds<'b, R>,
    ) -> Option<Result<Reply, Error>> {
        match ev {
            Event::AuthDone { mechanism, result } => Some(match result {
                Ok(reply) => Ok(reply),
                Err(source) => Err(Error::Auth { mechanism, source }),
            }),
            _ => None,
        }
    }

    fn finish(&mut self, s: &mut Session) -> Result<Reply, Error> {
        Err(s.closed_error())
    }
}

/// 32 random octets, base64: the SCRAM client nonce.
pub fn sasl_nonce() -> Result<String, Error> {
    use base64::Engine as _;
    let mut b = [0u8; 32];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut b)
        .map_err(|_| Error::Io(std::io::Error::other("no secure random source")))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(b))
}

/// One message (smtplib's `sendmail`): returns a report with every recipient and its
/// reply when at least one was accepted; otherwise [`Error::SenderRefused`],
/// [`Error::RecipientsRefused`], [`Error::DataRefused`], [`Error::DeliveryUnknown`] or
/// the session's error.
///
/// Recipients deferred at RCPT because the transaction has too many (RFC 5321
/// §4.5.3.1.8, §4.5.3.1.10: `452 4.5.3`, or `552 5.5.3`) while others were accepted are
/// sent the same in-memory body in follow-up transactions on the same connection, as
/// long as each one gets at least one more recipient accepted; the report merges them
/// (the first transaction's MAIL and DATA replies, each recipient's latest verdict).
/// A streamed body ([`Body::Reader`]) cannot be sent twice: its deferred recipients stay
/// `Deferred` in the report.
pub struct SendOne<'b, R: ?Sized> {
    msg: Option<(Envelope, Body<'b, R>)>,
    batch: Batch,
    /// The envelope and in-memory body, for follow-up transactions.
    resend: Option<(Envelope, &'b [u8])>,
    /// The merged report while a follow-up transaction is under way.
    merged: Option<SendReport>,
    /// For the follow-up under way: the index in `merged` of each of its recipients.
    pending: Vec<usize>,
}

impl<R: ?Sized> std::fmt::Debug for SendOne<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendOne").finish_non_exhaustive()
    }
}

impl<'b, R: ?Sized> SendOne<'b, R> {
    /// `env` with `body`. For [`Body::Bytes`] the size is declared and 8-bit content is
    /// declared as `BODY=8BITMIME`.
    pub fn new(env: Envelope, body: Body<'b, R>) -> Self {
        SendOne {
            msg: Some((env, body)),
            batch: Batch::new(),
            resend: None,
            merged: None,
            pending: Vec::new(),
        }
    }
}

impl<'b, R: ?Sized> Operation<'b, R> for SendOne<'b, R> {
    type Output = SendReport;

    fn start(&mut self, s: &mut Session, feeds: &mut Feeds<'b, R>) -> Result<(), Error> {
        let (env, body) = self.msg.take().ok_or(Error::Usage(UsageError::WrongState(
            "the message was already sent",
        )))?;
        s.check_requiretls(&env).map_err(|e| s.usage(e))?;
        self.resend = body.bytes().map(|b| (env.clone(), b));
        self.batch
            .queue_body(s.core_mut(), feeds, 0, env, body)
            .map_err(|e| s.usage(e))?;
        Ok(())
    }

    fn event(
        &mut self,
        ev: Event,
        s: &mut Session,
        feeds: &mut Feeds<'b, R>,
    ) -> Option<Result<SendReport, Error>> {
        let Event::TransactionDone(o) = ev else {
            return None;
        };
        let (_, _, r) = self.batch.settle(&o, s.core().close_reason(), s.cause())?;
        let Some(mut merged) = self.merged.take() else {
            // The first transaction: an error ends it, a report may need a follow-up.
            return match r {
                Ok(report) => self.follow_up(report, s, feeds),
                Err(e) => Some(Err(e)),
            };
        };
        // A follow-up: its verdicts replace the deferred ones.
        let part = match &r {
            Ok(report) => Some(report),
            Err(
                Error::SenderRefused { report, .. }
                | Error::RecipientsRefused(report)
                | Error::DataRefused { report, .. }
                | Error::DeliveryUnknown { report, .. },
            ) => Some(&**report),
            Err(_) => None,
        };
        let progress = part.is_some_and(SendReport::any_accepted);
        if let Some(part) = part {
            for (k, &i) in self.pending.iter().enumerate() {
                if let Some(rr) = part.recipients.get(k) {
                    merged.recipients[i] = rr.clone();
                }
            }
        }
        if progress {
            self.follow_up(merged, s, feeds)
        } else {
            Some(Ok(merged))
        }
    }

    fn finish(&mut self, s: &mut Session) -> Result<SendReport, Error> {
        match self.merged.take() {
            // The session ended during a follow-up: the first delivery stands.
            Some(merged) => Ok(merged),
            None => Err(s.closed_error()),
        }
    }
}

impl<'b, R: ?Sized> SendOne<'b, R> {
    /// Queues a follow-up transaction for the recipients of `report` deferred for "too
    /// many recipients", if the body is in memory and some were accepted; else `report`
    /// is the result.
    fn follow_up(
        &mut self,
        report: SendReport,
        s: &mut Session,
        feeds: &mut Feeds<'b, R>,
    ) -> Option<Result<SendReport, Error>> {
        let Some((env, bytes)) = &self.resend else {
            return Some(Ok(report));
        };
        let deferred: Vec<usize> = report
            .recipients
            .iter()
            .enumerate()
            .filter(|(_, r)| too_many_recipients(&r.status))
            .map(|(i, _)| i)
            .collect();
        if deferred.is_empty() || !report.any_accepted() || s.core().is_closed() {
            return Some(Ok(report));
        }
        let mut next = env.clone();
        next.recipients = deferred
            .iter()
            .map(|&i| env.recipients[i].clone())
            .collect();
        let body = Body::Bytes(bytes);
        match self.batch.queue_body(s.core_mut(), feeds, 0, next, body) {
            Ok(_) => {
                self.pending = deferred;
                self.merged = Some(report);
                None
            }
            Err(_) => Some(Ok(report)),
        }
    }
}

/// A recipient deferred at RCPT because the transaction has too many recipients:
/// `452 4.5.3`, or `552 5.5.3` (which the core reports as deferred).
fn too_many_recipients(status: &smtp_proto::session::RcptStatus) -> bool {
    use smtp_proto::session::{RcptStatus, Stage};
    let RcptStatus::Deferred(Stage::Rcpt, reply) = status else {
        return false;
    };
    let code = reply.code().get();
    reply.enhanced().is_some_and(|e| {
        (code == 452 && (e.class, e.subject, e.detail) == (4, 5, 3))
            || (code == 552 && (e.class, e.subject, e.detail) == (5, 5, 3))
    })
}

/// Many messages over one connection, pipelined: the next transaction is queued before
/// the previous one's end-of-data reply, so the end of data shares a write with the next
/// MAIL/RCPT/DATA. `on_done(index, result)` is called for each message as it completes.
/// Its own result is an error only when the session failed (the messages not yet queued
/// are then not sent and not reported).
pub struct SendAll<I, F> {
    messages: std::iter::Enumerate<I>,
    on_done: F,
    batch: Batch,
    closed: bool,
}

impl<I, F> std::fmt::Debug for SendAll<I, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendAll")
            .field("batch", &self.batch)
            .finish_non_exhaustive()
    }
}

impl<I: Iterator, F> SendAll<I, F> {
    /// `messages`, reporting each to `on_done`.
    pub fn new(messages: impl IntoIterator<IntoIter = I>, on_done: F) -> Self {
        SendAll {
            messages: messages.into_iter().enumerate(),
            on_done,
            batch: Batch::new(),
            closed: false,
        }
    }
}

impl<'b, R, I, F> SendAll<I, F>
where
    R: ?Sized + 'b,
    I: Iterator<Item = (Envelope, Body<'b, R>)>,
    F: FnMut(usize, Result<SendReport, Error>),
{
    /// Queues messages while the window has room.
    fn refill(&mut self, s: &mut Session, feeds: &mut Feeds<'b, R>) {
        while !self.closed && self.batch.has_room() {
            let Some((i, (env, body))) = self.messages.next() else {
                return;
            };
            if let Err(e) = s.check_requiretls(&env) {
                (self.on_done)(i, Err(e.into()));
                continue;
            }
            match self.batch.queue_body(s.core_mut(), feeds, i, env, body) {
                Ok(_) => {}
                // The session is over: settle what is queued, then stop.
                Err(UsageError::Closed) => self.closed = true,
                // This message cannot be sent (the core is unchanged): say so, go on.
                Err(e) => (self.on_done)(i, Err(e.into())),
            }
        }
    }
}

impl<'b, R, I, F> Operation<'b, R> for SendAll<I, F>
where
    R: ?Sized + 'b,
    I: Iterator<Item = (Envelope, Body<'b, R>)>,
    F: FnMut(usize, Result<SendReport, Error>),
{
    type Output = ();

    fn start(&mut self, s: &mut Session, feeds: &mut Feeds<'b, R>) -> Result<(), Error> {
        self.refill(s, feeds);
        Ok(())
    }

    fn event(
        &mut self,
        ev: Event,
        s: &mut Session,
        feeds: &mut Feeds<'b, R>,
    ) -> Option<Result<(), Error>> {
        if let Event::TransactionDone(o) = ev
            && let Some((tx, i, r)) = self.batch.settle(&o, s.core().close_reason(), s.cause())
        {
            feeds.remove(tx);
            (self.on_done)(i, r);
            self.refill(s, feeds);
        }
        None
    }

    fn finish(&mut self, s: &mut Session) -> Result<(), Error> {
        match s.core().close_reason() {
            Some(_) => Err(s.closed_error()),
            None => Ok(()),
        }
    }
}

/// A health check before reusing an idle connection (`NOOP` or `RSET`): the core judges
/// the reply; an unhealthy connection is closed by the core (QUIT) and must not be
/// reused. Returns whether it is healthy.
#[derive(Debug)]
pub struct Health(HealthProbe);

impl Health {
    /// A check with `probe`.
    pub fn new(probe: HealthProbe) -> Health {
        Health(probe)
    }
}

impl<'b, R: ?Sized> Operation<'b, R> for Health {
    type Output = bool;

    fn start(&mut self, s: &mut Session, _: &mut Feeds<'b, R>) -> Result<(), Error> {
        s.core_mut().check_health(self.0).map_err(|e| s.usage(e))
    }

    fn event(
        &mut self,
        ev: Event,
        _: &mut Session,
        _: &mut Feeds<'b, R>,
    ) -> Option<Result<bool, Error>> {
        match ev {
            Event::Health { healthy, .. } => Some(Ok(healthy)),
            _ => None,
        }
    }

    fn finish(&mut self, s: &mut Session) -> Result<bool, Error> {
        Err(s.closed_error())
    }
}

/// `QUIT` (also flushing a QUIT the core queued itself after a 421 or a timeout), then
/// the end of the session. Returns the 221 reply (`None` if the server closed without
/// one, or the session was already over).
#[derive(Debug, Default)]
pub struct Quit;

impl<'b, R: ?Sized> Operation<'b, R> for Quit {
    type Output = Option<Reply>;

    fn start(&mut self, s: &mut Session, _: &mut Feeds<'b, R>) -> Result<(), Error> {
        // Already closing or closed: the session ends as it is.
        let _ = s.core_mut().quit();
        Ok(())
    }

    fn event(
        &mut self,
        _: Event,
        _: &mut Session,
        _: &mut Feeds<'b, R>,
    ) -> Option<Result<Option<Reply>, Error>> {
        None
    }

    fn finish(&mut self, s: &mut Session) -> Result<Option<Reply>, Error> {
        match s.core().close_reason() {
            Some(CloseReason::Quit(r)) => Ok(r.clone()),
            _ => match s.cause() {
                Some(e) => Err(e.copy()),
                None => Ok(None),
            },
        }
    }
}
