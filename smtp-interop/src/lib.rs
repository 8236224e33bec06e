//! Dev only: the interop matrix. One scenario suite ([`scenarios`]), written once against
//! the small [`Adapter`] / [`Session`] traits, run by every adapter (smtp-blocking, and
//! smtp-async on tokio and on smol through [`facade`]; see [`adapters`]) against every
//! real server of `scripts/servers` (Postfix, Exim, OpenSMTPD, Dovecot LMTP, aiosmtpd;
//! see [`spec`]).
//!
//! The test `tests/matrix.rs` (`#[ignore]`d: it needs the servers that `scripts/test-all`
//! starts) runs every scenario x server x adapter, prints one line per cell, fails on any
//! [`Outcome::Fail`], and checks that the matrix in the workspace README (between the
//! `interop-matrix` markers) is exactly what this run produced ([`matrix::render`]).

#![forbid(unsafe_code)]

pub mod adapters;
pub mod facade;
pub mod matrix;
pub mod messages;
pub mod scenarios;
pub mod spec;
pub mod store;

pub use smtp_blocking::{Body, Envelope, Error, Options, Reply, SendReport, proto::Capabilities};
use smtp_client::{TokenProvider, ops};
use smtp_proto::command::{MailParams, Mechanism, RcptParams};
use smtp_proto::sasl::{Credentials, SaslMechanism};

/// A client library under test: how to open a session. Implemented once per adapter
/// (blocking, and each async runtime via `block_on`).
pub trait Adapter: Sync {
    /// The column name in the matrix (`blocking`, `tokio`, `smol`).
    fn name(&self) -> &'static str;
    /// Connects (greeting, EHLO/LHLO, STARTTLS per `opts.core.tls`), like
    /// `smtp_blocking::SmtpClient::connect`.
    fn connect(&self, server: &str, opts: Options) -> Result<Box<dyn Session + '_>, Error>;
}

/// One client session under test. An adapter implements only the required methods, each
/// a call of its `execute` with an operation of the shared client layer
/// ([`smtp_client::ops`]); the smtplib-style calls the scenarios use are provided here
/// once, on top of those operations, so the API is not restated per adapter.
pub trait Session {
    /// The shared layer's state of this session (greeting, capabilities, TLS, ...).
    fn state(&self) -> &smtp_client::Session;
    /// The transcript so far (with `Options::record_transcript`).
    fn take_transcript(&mut self) -> Vec<String>;
    /// Runs a one-reply command ([`ops::Simple`]).
    fn simple(&mut self, op: ops::Simple) -> Result<Reply, Error>;
    /// Runs low-level `DATA` + message ([`ops::Data`]).
    fn data(&mut self, message: &[u8]) -> Result<Reply, Error>;
    /// Runs an authentication ([`ops::Login`]).
    fn authenticate(&mut self, op: ops::Login) -> Result<Reply, Error>;
    /// The adapter's own `auth_with`: any [`SaslMechanism`], boxed or not.
    fn auth_with(&mut self, mechanism: Box<dyn SaslMechanism>) -> Result<Reply, Error>;
    /// The adapter's own `login_oauth` (an OAuth login with a token provider, refreshed
    /// once).
    fn login_oauth(&mut self, user: &str, provider: &dyn TokenProvider) -> Result<Reply, Error>;
    /// Sends one message ([`ops::SendOne`]).
    fn send(&mut self, env: Envelope, body: Body<'_>) -> Result<SendReport, Error>;
    /// Sends several messages on this connection ([`ops::SendAll`], pipelined);
    /// `on_done(index, result)` for each.
    fn send_batch(
        &mut self,
        messages: Vec<(Envelope, Body<'_>)>,
        on_done: &mut dyn FnMut(usize, Result<SendReport, Error>),
    ) -> Result<(), Error>;
    /// `QUIT` and close ([`ops::Quit`]).
    fn quit(&mut self) -> Result<Option<Reply>, Error>;
    /// Closes without QUIT.
    fn close(&mut self);

    /// The greeting reply.
    fn greeting(&self) -> Option<&Reply> {
        self.state().greeting()
    }
    /// The capabilities of the last EHLO/LHLO.
    fn capabilities(&self) -> Option<&Capabilities> {
        self.state().capabilities()
    }
    /// Whether the extension was advertised (case-insensitive).
    fn has_extn(&self, name: &str) -> bool {
        self.state().has_extn(name)
    }
    /// The advertised extensions and their parameters.
    fn esmtp_features(&self) -> Vec<(String, String)> {
        self.state().esmtp_features()
    }
    /// Whether the session fell back to HELO.
    fn is_helo_only(&self) -> bool {
        self.state().is_helo_only()
    }
    /// Implicit TLS or STARTTLS done.
    fn is_encrypted(&self) -> bool {
        self.state().is_encrypted()
    }
    /// The session is over.
    fn is_closed(&self) -> bool {
        self.state().is_closed()
    }
    /// `EHLO` again.
    fn ehlo(&mut self) -> Result<Reply, Error> {
        self.simple(ops::Simple::ehlo())
    }
    /// `HELO`.
    fn helo(&mut self) -> Result<Reply, Error> {
        self.simple(ops::Simple::helo())
    }
    /// `EHLO name` for this call only.
    fn ehlo_as(&mut self, name: &str) -> Result<Reply, Error> {
        self.simple(ops::Simple::ehlo_as(name)?)
    }
    /// `HELO name` for this call only.
    fn helo_as(&mut self, name: &str) -> Result<Reply, Error> {
        self.simple(ops::Simple::helo_as(name)?)
    }
    /// `VRFY`.
    fn verify(&mut self, address: &str) -> Result<Reply, Error> {
        self.simple(ops::Simple::verify(address)?)
    }
    /// `EXPN`.
    fn expn(&mut self, list: &str) -> Result<Reply, Error> {
        self.simple(ops::Simple::expn(list)?)
    }
    /// `HELP [topic]`.
    fn help(&mut self, topic: Option<&str>) -> Result<Reply, Error> {
        self.simple(ops::Simple::help(topic)?)
    }
    /// `NOOP`.
    fn noop(&mut self) -> Result<Reply, Error> {
        self.simple(ops::Simple::noop())
    }
    /// `RSET`.
    fn rset(&mut self) -> Result<Reply, Error> {
        self.simple(ops::Simple::rset())
    }
    /// Low-level `MAIL FROM`.
    fn mail(&mut self, from: &str, params: MailParams) -> Result<Reply, Error> {
        self.simple(ops::Simple::mail(from, params)?)
    }
    /// Low-level `RCPT TO`.
    fn rcpt(&mut self, to: &str, params: RcptParams) -> Result<Reply, Error> {
        self.simple(ops::Simple::rcpt(to, params)?)
    }
    /// A raw command line.
    fn docmd(&mut self, line: &str) -> Result<Reply, Error> {
        self.simple(ops::Simple::docmd(line)?)
    }
    /// AUTH with the strongest password mechanism offered.
    fn login(&mut self, user: &str, password: &str) -> Result<Reply, Error> {
        self.authenticate(ops::Login::password(user, password))
    }
    /// AUTH with the strongest of `allowed`.
    fn login_with(
        &mut self,
        credentials: Credentials,
        allowed: &[Mechanism],
        fallback: bool,
    ) -> Result<Reply, Error> {
        self.authenticate(ops::Login::ranked(credentials, allowed, fallback))
    }
    /// AUTH with the named mechanism.
    fn auth(&mut self, mechanism: &str, credentials: Credentials) -> Result<Reply, Error> {
        self.authenticate(ops::Login::named(mechanism, credentials)?)
    }
    /// smtplib's `sendmail`.
    fn sendmail(
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
    /// smtplib's `send_message`.
    fn send_message(
        &mut self,
        message: &[u8],
        from: Option<&str>,
        to: Option<&[&str]>,
    ) -> Result<SendReport, Error> {
        let (env, content) = smtp_client::message_envelope(message, from, to)?;
        self.send(env, Body::Bytes(&content))
    }
    /// smtplib's `send_message` with `mail_options` and `rcpt_options`.
    fn send_message_with(
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
    /// smtp-blocking's `send_all`, for any adapter.
    fn send_all<'b>(
        &mut self,
        messages: impl IntoIterator<Item = (Envelope, Body<'b>)>,
        mut on_done: impl FnMut(usize, Result<SendReport, Error>),
    ) -> Result<(), Error>
    where
        Self: Sized,
    {
        self.send_batch(messages.into_iter().collect(), &mut on_done)
    }
}

/// The result of one scenario on one server with one adapter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Works; the detail (reply codes seen, sizes) is printed, not put in the README.
    Pass(String),
    /// Does not work: what happened.
    Fail(String),
    /// The server cannot express the scenario: why (static, shown in the README).
    NotApplicable(&'static str),
}

impl Outcome {
    /// `pass`, `FAIL` or `n/a`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Pass(_) => "pass",
            Outcome::Fail(_) => "FAIL",
            Outcome::NotApplicable(_) => "n/a",
        }
    }
}

/// A scenario: a name (the matrix row) and the code, run once per server and adapter.
pub struct Scenario {
    /// Row name.
    pub name: &'static str,
    /// What it checks (one line, for the README).
    pub what: &'static str,
    /// The code.
    pub run: fn(&dyn Adapter, &spec::ServerSpec) -> Outcome,
}

/// The README's Rust examples (blocking and async), compiled (and run where they need no
/// network) as doc tests of this crate, which has both APIs at hand.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
