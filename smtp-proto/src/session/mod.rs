//! The sans-IO client session: one state machine for a whole SMTP or LMTP session.
//!
//! [`Client`] consumes server bytes and the current time, and produces command bytes,
//! events and deadlines. It never touches a socket or a clock. Its methods come in groups
//! (after quinn-proto's `Connection`):
//!
//! - **inputs**, each with the current time: [`handle_input`](Client::handle_input),
//!   [`handle_eof`](Client::handle_eof), [`handle_timeout`](Client::handle_timeout),
//!   [`handle_io_error`](Client::handle_io_error) (a failed read, or a TLS handshake given
//!   up), [`handle_write_error`](Client::handle_write_error) (a failed write),
//!   [`handle_tls_established`](Client::handle_tls_established);
//! - **commands** (only enqueue; they never touch the wire, and refuse with a
//!   [`UsageError`]): [`send_mail`](Client::send_mail) (a whole transaction), its content
//!   with [`write_body`](Client::write_body) (or the zero-copy
//!   [`write_body_segments`](Client::write_body_segments)) and
//!   [`finish_body`](Client::finish_body), or a whole scanned in-memory body with
//!   [`write_scanned_body`](Client::write_scanned_body) (zero-copy DATA and BDAT); [`authenticate`](Client::authenticate) and
//!   [`login`](Client::login) (AUTH); [`check_health`](Client::check_health);
//!   [`vrfy`](Client::vrfy), [`expn`](Client::expn), [`help`](Client::help),
//!   [`noop`](Client::noop), [`rset`](Client::rset), [`raw`](Client::raw) and
//!   [`simple`](Client::simple); smtplib's building blocks [`hello`](Client::hello) (EHLO or
//!   HELO again) and [`data`](Client::data) (DATA for a transaction driven by hand);
//!   [`quit`](Client::quit) and [`abort`](Client::abort);
//! - **outputs**, drained in this order after every input or command:
//!   [`poll_event`](Client::poll_event) until `None`,
//!   [`pending_output`](Client::pending_output) + [`consume_output`](Client::consume_output)
//!   (after the body segments [`pending_segment_len`](Client::pending_segment_len) counts, if
//!   the driver uses them),
//!   [`poll_timeout`](Client::poll_timeout), and [`next_action`](Client::next_action), which
//!   tells the driver what to do next in one `match`. Whenever it says
//!   [`Action::Write`] or [`Action::Read`], `poll_timeout` gives the deadline: wait for
//!   writability or readability at most until then, then call `handle_timeout(now)`;
//! - **getters**: [`capabilities`](Client::capabilities), [`is_closed`](Client::is_closed),
//!   [`is_idle`](Client::is_idle), [`close_reason`](Client::close_reason), ... and
//!   [`poll_transcript`](Client::poll_transcript).
//!
//! Protocol refusals (4xx/5xx) are results, carried by [`Event`]s and per-recipient
//! [`RcptStatus`]es; [`TxOutcome::is_retry_safe`] and [`CloseReason::is_retry_safe`] say
//! what may be sent again at once. Server misbehaviour closes the session with a
//! [`PeerError`]; API misuse returns a [`UsageError`] and leaves the session as it was; a
//! failed connection (reported by the driver) closes it with [`CloseReason::Transport`].
//!
//! The code is split by concern: `config` (settings), `types` and `error` (the public
//! values), `output` (the output queue), `timers` (deadlines), `pipeline` (commands in
//! flight and the pipelining rules), `tx` (transactions and their stages), `replies`
//! (matching replies to commands), `body` (content), `auth`, `commands` and `close`.

mod auth;
mod body;
mod close;
mod commands;
mod config;
mod error;
mod output;
mod pipeline;
mod replies;
mod timers;
mod tx;
mod types;

use std::collections::VecDeque;
use std::time::Instant;

pub use config::{Config, Dialect, Phase, Timeouts, TlsPolicy};
pub use error::{AuthError, PeerError, UsageError};
pub use types::{
    Action, BodyType, CloseReason, Envelope, Event, Failure, HealthProbe, RcptOutcome, RcptStatus,
    Stage, TranscriptLine, TxId, TxOutcome,
};

use crate::body::{BdatEncoder, BodySegment, BodyStats, DataEncoder, ScannedBody, ScannedEncoder};
use crate::command::{Body, Command, RawCommand, SmtpString, Verb};
use crate::command::{Domain, Mechanism};
use crate::ehlo::Capabilities;
use crate::reply::{Reply, ReplyCode, ReplyReader};
use crate::sasl::{Credentials, MAX_CHALLENGE_LEN, SaslError, SaslMechanism, select_mechanism};

use auth::AuthRun;
use body::{BodyEncoder, Content};
use output::Output;
use pipeline::{Expect, Op, Pending};
use tx::{TxStage, TxTable};

/// Most transcript lines kept when the driver does not drain them.
const MAX_TRANSCRIPT: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Implicit TLS: waiting for the driver's handshake before the greeting.
    TlsFirst,
    /// Greeting and EHLO/HELO/LHLO, STARTTLS, before the session is ready.
    Opening,
    /// The STARTTLS 220 arrived: the driver runs the handshake.
    Handshake,
    /// Ready for operations.
    Ready,
    /// The caller supplies the content of this transaction.
    Body(TxId),
    /// The caller supplies the content of the low-level DATA with this id.
    ManualBody(TxId),
    /// Flushing the last output (QUIT) before closing.
    Closing,
    Closed,
}

/// Whether the connection can still be written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Writer {
    Open,
    /// A write failed: nothing is ever written again. While replies to what was written
    /// may still arrive, the session drains them until `drain_until` (`None`: no deadline,
    /// `write_error_drain` being too large for an instant).
    Failed {
        drain_until: Option<Instant>,
    },
}

/// The sans-IO SMTP/LMTP client. See the [module docs](self) and the [crate docs](crate)
/// for the driver loop.
#[derive(Debug)]
pub struct Client {
    cfg: Config,
    state: State,
    reader: ReplyReader,
    /// The output queue.
    out: Output,
    inflight: VecDeque<Pending>,
    /// When the head of `inflight` became the head.
    head_since: Instant,
    ops: VecDeque<Op>,
    txs: TxTable,
    next_tx: u64,
    events: VecDeque<Event>,
    transcript: VecDeque<TranscriptLine>,
    caps: Option<Capabilities>,
    /// The capabilities of the EHLO before STARTTLS, kept for the caller to show (never
    /// used for a decision: RFC 3207 §4.2).
    caps_before_tls: Option<Capabilities>,
    helo_only: bool,
    encrypted: bool,
    /// AUTH succeeded (235) on this session (since the last STARTTLS).
    authenticated: bool,
    need_rset: bool,
    encoder: BodyEncoder,
    /// Last write progress (consumed output), or when the output last became non-empty
    /// (for content: the 354): write deadlines count from here.
    write_progress: Instant,
    /// The latest time the driver told us.
    last_now: Instant,
    /// Whether message content is being written, and where it ends.
    content: Content,
    close_reason: Option<CloseReason>,
    auth: Option<AuthRun>,
    /// Whether writing still works.
    writer: Writer,
}

impl Client {
    /// A new session whose connection was just established at `now`. With
    /// [`TlsPolicy::Implicit`] the driver first runs the TLS handshake; otherwise the
    /// greeting deadline starts now.
    pub fn new(cfg: Config, now: Instant) -> Client {
        let implicit = cfg.tls == TlsPolicy::Implicit;
        let mut c = Client {
            reader: ReplyReader::with_limits(cfg.reply_limits),
            cfg,
            state: if implicit {
                State::TlsFirst
            } else {
                State::Opening
            },
            out: Output::default(),
            inflight: VecDeque::new(),
            head_since: now,
            ops: VecDeque::new(),
            txs: TxTable::default(),
            next_tx: 0,
            events: VecDeque::new(),
            transcript: VecDeque::new(),
            caps: None,
            caps_before_tls: None,
            helo_only: false,
            encrypted: false,
            authenticated: false,
            need_rset: false,
            encoder: BodyEncoder::Data(DataEncoder::new()),
            write_progress: now,
            last_now: now,
            content: Content::Idle,
            close_reason: None,
            auth: None,
            writer: Writer::Open,
        };
        if !implicit {
            c.expect_greeting(now);
        }
        c
    }

    /// The server's capabilities from the last EHLO/LHLO (`None` before it, after HELO, and
    /// right after a TLS handshake until the new EHLO reply).
    pub fn capabilities(&self) -> Option<&Capabilities> {
        self.caps.as_ref()
    }

    /// The capabilities of the EHLO reply that preceded STARTTLS, once STARTTLS was
    /// accepted (`None` without STARTTLS, with implicit TLS, or when the session fell back
    /// to HELO). The core forgets them when the server accepts STARTTLS (RFC 3207 §4.2)
    /// and decides nothing from them afterwards; they stay here for the caller to show or
    /// compare (a server that offered AUTH only after TLS, say).
    ///
    /// ```
    /// use std::time::Instant;
    /// use smtp_proto::command::Domain;
    /// use smtp_proto::ehlo::SizeLimit;
    /// use smtp_proto::session::{Client, Config, TlsPolicy};
    ///
    /// let now = Instant::now();
    /// let mut cfg = Config::new(Domain::parse("client.example")?);
    /// cfg.tls = TlsPolicy::Required;
    /// let mut c = Client::new(cfg, now);
    /// c.handle_input(now, b"220 mx ESMTP\r\n")?;
    /// c.consume_output(c.pending_output().len(), now); // EHLO
    /// c.handle_input(now, b"250-mx\r\n250-SIZE 1000\r\n250 STARTTLS\r\n")?;
    /// c.consume_output(c.pending_output().len(), now); // STARTTLS
    /// c.handle_input(now, b"220 go ahead\r\n")?;
    /// assert!(c.capabilities().is_none());
    /// let before = c.capabilities_before_tls().expect("kept");
    /// assert!(before.starttls());
    /// assert!(matches!(before.size(), Some(SizeLimit::Max(n)) if n.get() == 1000));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn capabilities_before_tls(&self) -> Option<&Capabilities> {
        self.caps_before_tls.as_ref()
    }

    /// Whether the session fell back to HELO.
    pub fn is_helo_only(&self) -> bool {
        self.helo_only
    }

    /// Whether the TLS handshake is done (STARTTLS or implicit).
    pub fn is_encrypted(&self) -> bool {
        self.encrypted
    }

    /// Whether AUTH succeeded on this session (RFC 4954 §4: it may succeed only once).
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// Whether the session is over.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Whether the session is ready and has nothing queued or in flight.
    pub fn is_idle(&self) -> bool {
        self.state == State::Ready && self.ops.is_empty() && self.inflight.is_empty()
    }

    /// Why the session closed, once it has.
    pub fn close_reason(&self) -> Option<&CloseReason> {
        self.close_reason.as_ref()
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The next event, if any. Drain until `None` after every input or command.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next transcript line (only with [`Config::transcript`]). AUTH payloads are
    /// redacted; message content appears as its size.
    pub fn poll_transcript(&mut self) -> Option<TranscriptLine> {
        self.transcript.pop_front()
    }

    /// What the driver should do now.
    pub fn next_action(&self) -> Action {
        match self.state {
            State::Closed => Action::Closed,
            State::Handshake | State::TlsFirst => Action::StartTls,
            _ if self.write_failed() => Action::Read,
            _ if self.unsent() > 0 => Action::Write,
            State::Closing => Action::Closed,
            State::Body(tx) | State::ManualBody(tx) => Action::SupplyBody(tx),
            _ if !self.inflight.is_empty() => Action::Read,
            _ => Action::Idle,
        }
    }

    /// The driver finished the TLS handshake at `now` (implicit TLS, or after STARTTLS's
    /// 220). The core forgets the capabilities and starts again with EHLO (or waits for
    /// the greeting with implicit TLS).
    pub fn handle_tls_established(&mut self, now: Instant) -> Result<(), UsageError> {
        match self.state {
            State::TlsFirst => {
                self.encrypted = true;
                self.state = State::Opening;
                self.expect_greeting(now);
                Ok(())
            }
            State::Handshake => {
                self.encrypted = true;
                // RFC 3207 §4.2: the server forgets what it knew, an AUTH included.
                self.authenticated = false;
                self.reader = ReplyReader::with_limits(self.cfg.reply_limits);
                self.caps = None;
                self.state = State::Opening;
                self.head_since = now;
                self.events.push_back(Event::TlsEstablished);
                self.send_hello();
                Ok(())
            }
            State::Closed | State::Closing => Err(UsageError::Closed),
            _ => Err(UsageError::WrongState("no TLS handshake was requested")),
        }
    }

    /// Whether a write failed (see [`handle_write_error`](Self::handle_write_error)).
    pub(super) fn write_failed(&self) -> bool {
        matches!(self.writer, Writer::Failed { .. })
    }

    /// The transaction whose content the caller is supplying, if any.
    pub(super) fn body_tx(&self) -> Option<TxId> {
        match self.state {
            State::Body(id) | State::ManualBody(id) => Some(id),
            _ => None,
        }
    }

    /// The transaction whose content `write_body` and `finish_body` take now.
    pub(super) fn supplying(&self) -> Result<TxId, UsageError> {
        match self.body_tx() {
            Some(id) if !self.write_failed() => Ok(id),
            _ => Err(self.state_error("no body is wanted now")),
        }
    }

    /// A new transaction id.
    pub(super) fn new_tx_id(&mut self) -> TxId {
        let id = TxId(self.next_tx);
        self.next_tx += 1;
        id
    }

    pub(super) fn check_open(&self) -> Result<(), UsageError> {
        match self.state {
            State::Closed | State::Closing => Err(UsageError::Closed),
            _ if self.write_failed() => Err(UsageError::Closed),
            _ => Ok(()),
        }
    }

    pub(super) fn state_error(&self, what: &'static str) -> UsageError {
        match self.state {
            State::Closed | State::Closing => UsageError::Closed,
            _ if self.write_failed() => UsageError::Closed,
            _ => UsageError::WrongState(what),
        }
    }
}

#[cfg(test)]
mod tests;
