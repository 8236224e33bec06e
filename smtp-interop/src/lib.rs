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

use smtp_blocking::proto::command::{MailParams, RcptParams};
use smtp_blocking::proto::sasl::Credentials;
pub use smtp_blocking::{Body, Envelope, Error, Options, Reply, SendReport, proto::Capabilities};

/// A client library under test: how to open a session. Implemented once per adapter
/// (blocking, and each async runtime via `block_on`).
pub trait Adapter: Sync {
    /// The column name in the matrix (`blocking`, `tokio`, `smol`).
    fn name(&self) -> &'static str;
    /// Connects (greeting, EHLO/LHLO, STARTTLS per `opts.core.tls`), like
    /// `smtp_blocking::SmtpClient::connect`.
    fn connect(&self, server: &str, opts: Options) -> Result<Box<dyn Session + '_>, Error>;
}

/// One client session, with the smtp-blocking API and types (the async adapters have
/// the same method names and types, as `async fn`s; their impl blocks on each call).
pub trait Session {
    /// The greeting reply.
    fn greeting(&self) -> Option<Reply>;
    /// The capabilities of the last EHLO/LHLO.
    fn capabilities(&self) -> Option<Capabilities>;
    /// Whether the extension was advertised (case-insensitive).
    fn has_extn(&self, name: &str) -> bool;
    /// Implicit TLS or STARTTLS done.
    fn is_encrypted(&self) -> bool;
    /// The session is over.
    fn is_closed(&self) -> bool;
    /// The transcript so far (with `Options::record_transcript`).
    fn take_transcript(&mut self) -> Vec<String>;
    /// `EHLO` again.
    fn ehlo(&mut self) -> Result<Reply, Error>;
    /// `VRFY`.
    fn verify(&mut self, address: &str) -> Result<Reply, Error>;
    /// `EXPN`.
    fn expn(&mut self, list: &str) -> Result<Reply, Error>;
    /// `HELP [topic]`.
    fn help(&mut self, topic: Option<&str>) -> Result<Reply, Error>;
    /// `NOOP`.
    fn noop(&mut self) -> Result<Reply, Error>;
    /// `RSET`.
    fn rset(&mut self) -> Result<Reply, Error>;
    /// Low-level `MAIL FROM`.
    fn mail(&mut self, from: &str, params: MailParams) -> Result<Reply, Error>;
    /// Low-level `RCPT TO`.
    fn rcpt(&mut self, to: &str, params: RcptParams) -> Result<Reply, Error>;
    /// Low-level `DATA` + message.
    fn data(&mut self, message: &[u8]) -> Result<Reply, Error>;
    /// A raw command line.
    fn docmd(&mut self, line: &str) -> Result<Reply, Error>;
    /// AUTH with the strongest mechanism offered.
    fn login(&mut self, user: &str, password: &str) -> Result<Reply, Error>;
    /// AUTH with the named mechanism.
    fn auth(&mut self, mechanism: &str, credentials: Credentials) -> Result<Reply, Error>;
    /// smtplib's `sendmail`.
    fn sendmail(
        &mut self,
        from: &str,
        to: &[&str],
        message: &[u8],
        mail_options: MailParams,
        rcpt_options: RcptParams,
    ) -> Result<SendReport, Error>;
    /// One message with a prepared envelope.
    fn send(&mut self, env: Envelope, body: Body<'_>) -> Result<SendReport, Error>;
    /// Several messages on this connection; one result per message, in order. The
    /// default sends them one after the other with [`send`](Self::send); smtp-blocking
    /// overrides it with its pipelined `send_all`.
    fn send_all(
        &mut self,
        messages: Vec<(Envelope, Vec<u8>)>,
    ) -> Result<Vec<Result<SendReport, Error>>, Error> {
        let mut out = Vec::new();
        for (env, m) in messages {
            out.push(self.send(env, Body::Bytes(&m)));
        }
        Ok(out)
    }
    /// `QUIT` and close.
    fn quit(&mut self) -> Result<Option<Reply>, Error>;
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
