//! The sans-IO client session: one state machine for a whole SMTP or LMTP session.
//!
//! [`Client`] consumes server bytes and the current time, and produces command bytes,
//! events and deadlines. It never touches a socket or a clock. Its methods come in groups
//! (after quinn-proto's `Connection`):
//!
//! - **inputs**: [`handle_input`](Client::handle_input), [`handle_eof`](Client::handle_eof),
//!   [`handle_timeout`](Client::handle_timeout),
//!   [`handle_tls_established`](Client::handle_tls_established);
//! - **commands** (only enqueue; they never touch the wire): [`send_mail`](Client::send_mail),
//!   [`write_body`](Client::write_body) (or its zero-copy form
//!   [`write_body_segments`](Client::write_body_segments)), [`finish_body`](Client::finish_body),
//!   [`vrfy`](Client::vrfy), [`expn`](Client::expn), [`help`](Client::help),
//!   [`noop`](Client::noop), [`rset`](Client::rset), [`raw`](Client::raw),
//!   [`quit`](Client::quit), [`abort`](Client::abort);
//! - **outputs**, drained in this order after every input or command:
//!   [`poll_event`](Client::poll_event) until `None`,
//!   [`pending_output`](Client::pending_output) + [`consume_output`](Client::consume_output)
//!   (after the body segments [`pending_segment_len`](Client::pending_segment_len) counts, if
//!   the driver uses them),
//!   [`poll_timeout`](Client::poll_timeout), and [`next_action`](Client::next_action), which
//!   tells the driver what to do next in one `match`.
//!
//! Protocol refusals (4xx/5xx) are results, carried by [`Event`]s and per-recipient
//! [`RcptStatus`]es. Server misbehaviour closes the session with a [`PeerError`]; API
//! misuse returns a [`UsageError`] and leaves the session as it was.

mod types;

use std::collections::VecDeque;
use std::time::Instant;

pub use types::{
    Action, AuthError, BodyType, CloseReason, Config, Dialect, Envelope, Event, Failure, PeerError,
    Phase, RcptOutcome, RcptStatus, Stage, Timeouts, TlsPolicy, TranscriptLine, TxId, TxOutcome,
    UsageError,
};

use crate::body::{BdatEncoder, BodyStats, DataEncoder};
use crate::command::Mechanism;
use crate::command::{Body, Command, RawCommand, SmtpString, Verb};
use crate::ehlo::Capabilities;
use crate::reply::{Reply, ReplyCode, ReplyReader};
use crate::sasl::{Credentials, MAX_CHALLENGE_LEN, SaslError, SaslMechanism, select_mechanism};

/// The transaction id of a body sent with the low-level [`Client::data`].
pub const MANUAL_TX: TxId = TxId(u64::MAX);

/// Most transcript lines kept when the driver does not drain them.
const MAX_TRANSCRIPT: usize = 1024;

/// `write_body_segments` encodes the body in pieces of this many octets ...
const SEGMENT_PIECE: usize = 64 * 1024;
/// ... and copies a piece instead when its segments average fewer octets than this.
const MIN_SEGMENT: usize = 512;

/// What a command sent is waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    Mail(TxId),
    Rcpt(TxId, usize),
    Data(TxId),
    /// The `.` sent alone after a 354 with no accepted recipient.
    LoneDot(TxId),
    /// The end of data (or `BDAT LAST`); LMTP expects one per accepted recipient (its
    /// index).
    EndOfData(TxId, Option<usize>),
    /// A non-final `BDAT` chunk.
    Bdat(TxId),
    /// RSET sent by the core between transactions (no event).
    SilentRset,
    /// EHLO/LHLO (`false`) or HELO (`true`) asked for by the caller.
    Rehello(bool),
    /// The low-level DATA command (smtplib's `data`).
    ManualData,
    /// The end of data of a low-level DATA (one reply, also for LMTP: the caller reads
    /// further ones with its own commands).
    ManualEnd,
    /// AUTH or an AUTH continuation line.
    Auth,
    /// The AUTH cancel line `*`; the exchange already failed.
    AuthCancel,
    Quit,
    Simple(Verb),
}

impl Expect {
    fn phase(self) -> Phase {
        match self {
            Expect::Greeting => Phase::Greeting,
            Expect::Ehlo | Expect::Helo | Expect::Rehello(_) => Phase::Ehlo,
            Expect::StartTls => Phase::StartTls,
            Expect::Auth | Expect::AuthCancel => Phase::Auth,
            Expect::Mail(_) => Phase::Mail,
            Expect::Rcpt(..) => Phase::Rcpt,
            Expect::Data(_) => Phase::DataInit,
            Expect::LoneDot(_) | Expect::EndOfData(..) => Phase::DataDone,
            Expect::Bdat(_) => Phase::Other,
            Expect::SilentRset | Expect::Simple(Verb::Rset) => Phase::Rset,
            Expect::Quit => Phase::Quit,
            Expect::Simple(Verb::Mail) => Phase::Mail,
            Expect::Simple(Verb::Rcpt) => Phase::Rcpt,
            Expect::ManualData => Phase::DataInit,
            Expect::ManualEnd => Phase::DataDone,
            Expect::Simple(_) => Phase::Other,
        }
    }

    /// Commands after which nothing may be pipelined (RFC 2920 §3.1).
    fn ends_group(self) -> bool {
        !matches!(
            self,
            Expect::Mail(_)
                | Expect::Rcpt(..)
                | Expect::SilentRset
                | Expect::Simple(Verb::Rset)
                | Expect::EndOfData(..)
                | Expect::LoneDot(_)
                | Expect::Bdat(_)
        )
    }
}

#[derive(Debug)]
struct Pending {
    expect: Expect,
    /// Absolute output offset just past the command's last byte.
    end: u64,
    /// When that byte was consumed by the driver.
    sent_at: Option<Instant>,
}

#[derive(Debug)]
enum Op {
    Tx(TxId),
    Simple(Command),
    /// EHLO/LHLO (`false`) or HELO (`true`) again.
    Hello(bool),
    /// The low-level DATA.
    Data,
    Quit,
    /// AUTH with this mechanism.
    Auth(Box<dyn SaslMechanism>),
    /// AUTH with the strongest usable mechanism; on refusal, try the next weaker one only
    /// when `fallback` is set.
    Login {
        credentials: Credentials,
        allowed: Vec<Mechanism>,
        nonce: String,
        fallback: bool,
    },
}

/// An AUTH exchange in progress.
#[derive(Debug)]
struct AuthRun {
    mech: Box<dyn SaslMechanism>,
    /// Why the exchange failed, once `*` was sent.
    failed: Option<SaslError>,
    /// For `Login` with fallback: what to try next after a refusal.
    retry: Option<Op>,
}

#[derive(Debug)]
struct Tx {
    id: TxId,
    env: Envelope,
    mail_reply: Option<Reply>,
    data_reply: Option<Reply>,
    rcpt_replies: Vec<Option<Reply>>,
    status: Vec<Option<RcptStatus>>,
    /// Recipients sent so far.
    next_rcpt: usize,
    mail_sent: bool,
    data_sent: bool,
    /// The end of data (or the lone dot) was queued.
    dot_sent: bool,
    smtputf8: bool,
    /// Send the content with BDAT (CHUNKING) rather than DATA.
    bdat: bool,
    accepted: usize,
    /// Replies still owed to this transaction.
    outstanding: usize,
}

impl Tx {
    fn mail_ok(&self) -> bool {
        self.mail_reply.as_ref().is_some_and(Reply::is_positive)
    }
}

/// The encoder of the body being written.
#[derive(Debug)]
enum BodyEncoder {
    Data(DataEncoder),
    Bdat(BdatEncoder),
}

impl BodyEncoder {
    fn stats(&self) -> BodyStats {
        match self {
            BodyEncoder::Data(e) => e.stats(),
            BodyEncoder::Bdat(e) => e.stats(),
        }
    }
}

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
    /// Flushing the last output (QUIT) before closing.
    Closing,
    Closed,
}

/// The sans-IO SMTP/LMTP client. See the [module docs](self) and the [crate docs](crate)
/// for the driver loop.
#[derive(Debug)]
pub struct Client {
    cfg: Config,
    state: State,
    reader: ReplyReader,
    /// Output; `out[out_start..]` is not written yet.
    out: Vec<u8>,
    out_start: usize,
    /// Octets of body segments handed to the driver by `write_body_segments` and not
    /// consumed yet; on the wire they come before `out[out_start..]`.
    seg_unsent: usize,
    /// Octets the driver has consumed from `out` since the start.
    sent_total: u64,
    /// Absolute offsets where commands (or bodies) end, not yet consumed.
    boundaries: VecDeque<u64>,
    /// Whether everything consumed so far ends at a command boundary.
    at_boundary: bool,
    inflight: VecDeque<Pending>,
    /// When the head of `inflight` became the head.
    head_since: Instant,
    ops: VecDeque<Op>,
    txs: VecDeque<Tx>,
    next_tx: u64,
    events: VecDeque<Event>,
    transcript: VecDeque<TranscriptLine>,
    caps: Option<Capabilities>,
    helo_only: bool,
    encrypted: bool,
    need_rset: bool,
    encoder: BodyEncoder,
    /// Last write progress (consumed output) or the 354, for the data-block deadline.
    body_progress: Instant,
    /// The latest time the driver told us.
    last_now: Instant,
    /// While message content is being written: the absolute offset where it ends
    /// (`u64::MAX` until `finish_body`).
    content_end: Option<u64>,
    close_reason: Option<CloseReason>,
    auth: Option<AuthRun>,
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
            out: Vec::new(),
            out_start: 0,
            seg_unsent: 0,
            sent_total: 0,
            boundaries: VecDeque::new(),
            at_boundary: true,
            inflight: VecDeque::new(),
            head_since: now,
            ops: VecDeque::new(),
            txs: VecDeque::new(),
            next_tx: 0,
            events: VecDeque::new(),
            transcript: VecDeque::new(),
            caps: None,
            helo_only: false,
            encrypted: false,
            need_rset: false,
            encoder: BodyEncoder::Data(DataEncoder::new()),
            body_progress: now,
            last_now: now,
            content_end: None,
            close_reason: None,
            auth: None,
        };
        if !implicit {
            c.expect_greeting(now);
        }
        c
    }

    /// Records that the command (or content) ending at output offset `end` waits for a
    /// reply of kind `expect`; its deadline starts once `end` has been written.
    fn expect_reply(&mut self, expect: Expect, end: u64) {
        self.inflight.push_back(Pending {
            expect,
            end,
            sent_at: None,
        });
    }

    fn expect_greeting(&mut self, now: Instant) {
        self.head_since = now;
        self.inflight.push_back(Pending {
            expect: Expect::Greeting,
            end: self.sent_total,
            sent_at: Some(now),
        });
    }

    // ---------------------------------------------------------------- getters

    /// The server's capabilities from the last EHLO/LHLO (`None` before it, after HELO, and
    /// right after a TLS handshake until the new EHLO reply).
    pub fn capabilities(&self) -> Option<&Capabilities> {
        self.caps.as_ref()
    }

    /// Whether the session fell back to HELO.
    pub fn is_helo_only(&self) -> bool {
        self.helo_only
    }

    /// Whether the TLS handshake is done (STARTTLS or implicit).
    pub fn is_encrypted(&self) -> bool {
        self.encrypted
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

    // ---------------------------------------------------------------- outputs

    /// The bytes to write next. Write any prefix, then call
    /// [`consume_output`](Self::consume_output) with its length.
    ///
    /// A driver that uses [`write_body_segments`](Self::write_body_segments) writes the
    /// segments it holds first ([`pending_segment_len`](Self::pending_segment_len) octets
    /// of them): these bytes come after them.
    pub fn pending_output(&self) -> &[u8] {
        &self.out[self.out_start..]
    }

    /// Octets of the body segments handed out by
    /// [`write_body_segments`](Self::write_body_segments) that are not consumed yet: they
    /// go on the wire before [`pending_output`](Self::pending_output). Always 0 for a
    /// driver that does not use segments. When it drops to 0 without the driver having
    /// written them (the session failed or was aborted), the driver discards the segments
    /// it still holds: they must never be written.
    pub fn pending_segment_len(&self) -> usize {
        self.seg_unsent
    }

    /// Records that the driver wrote the first `n` octets of
    /// [`pending_output`](Self::pending_output) at `now` (with body segments outstanding,
    /// of the segments followed by `pending_output`). Reply deadlines start when a
    /// command's last octet is consumed.
    pub fn consume_output(&mut self, n: usize, now: Instant) {
        let n = n.min(self.unsent());
        if n == 0 {
            return;
        }
        let from_segments = n.min(self.seg_unsent);
        self.seg_unsent -= from_segments;
        self.out_start += n - from_segments;
        if self.out_start == self.out.len() {
            self.out.clear();
            self.out_start = 0;
        } else if self.out_start >= 64 * 1024 {
            // Compact now and then, not on every partial write.
            self.out.drain(..self.out_start);
            self.out_start = 0;
        }
        self.sent_total += n as u64;
        self.body_progress = now;
        self.at_boundary = false;
        while let Some(&b) = self.boundaries.front() {
            if b > self.sent_total {
                break;
            }
            self.at_boundary = b == self.sent_total;
            self.boundaries.pop_front();
        }
        if self.unsent() == 0 {
            self.at_boundary = true;
        }
        for p in self.inflight.iter_mut() {
            if p.sent_at.is_none() && p.end <= self.sent_total {
                p.sent_at = Some(now);
            }
        }
        if self.content_end.is_some_and(|end| end <= self.sent_total) {
            self.content_end = None;
        }
        if self.state == State::Closing && self.unsent() == 0 {
            self.finish_close();
        }
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

    /// The earliest deadline, if any: call [`handle_timeout`](Self::handle_timeout) when it
    /// passes (early calls do nothing).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if matches!(
            self.state,
            State::Closed | State::TlsFirst | State::Handshake
        ) {
            return None;
        }
        // Writing content: each block must make progress within `data_block`.
        // A timeout too large to add to an instant (say `Duration::MAX`) means "none".
        let write = (self.content_end.is_some() && self.unsent() > 0)
            .then(|| self.body_progress.checked_add(self.cfg.timeouts.data_block))
            .flatten();
        let read = self.inflight.front().and_then(|head| {
            let start = head.sent_at?.max(self.head_since);
            start.checked_add(self.cfg.timeouts.for_phase(head.expect.phase()))
        });
        match (write, read) {
            (Some(w), Some(r)) => Some(w.min(r)),
            (w, r) => w.or(r),
        }
    }

    /// What the driver should do now.
    pub fn next_action(&self) -> Action {
        match self.state {
            State::Closed => Action::Closed,
            State::Handshake | State::TlsFirst => Action::StartTls,
            _ if self.unsent() > 0 => Action::Write,
            State::Closing => Action::Closed,
            State::Body(tx) => Action::SupplyBody(tx),
            _ if !self.inflight.is_empty() => Action::Read,
            _ => Action::Idle,
        }
    }

    // ---------------------------------------------------------------- inputs

    /// Feeds bytes received at `now`. Server misbehaviour closes the session (see
    /// [`Event::Closed`]); only API misuse is an error: bytes handed over during the TLS
    /// handshake (they belong to TLS; the session is closed too, since they can no longer
    /// be trusted).
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) -> Result<(), UsageError> {
        match self.state {
            State::Closed | State::Closing => return Ok(()),
            State::Handshake | State::TlsFirst if !bytes.is_empty() => {
                let len = bytes.len();
                self.close(
                    CloseReason::Peer(PeerError::DataAfterStartTls { len }),
                    false,
                );
                return Err(UsageError::InputDuringTlsHandshake);
            }
            _ => {}
        }
        self.last_now = now;
        self.reader.push(bytes);
        loop {
            let reply = match self.reader.next_reply() {
                None => break,
                Some(Ok(r)) => r.to_owned(),
                Some(Err(e)) => {
                    self.close(CloseReason::Peer(PeerError::Reply(e)), true);
                    break;
                }
            };
            self.on_reply(reply, now);
            if self.state == State::Handshake {
                let rest = self.reader.take_buffered();
                if !rest.is_empty() {
                    let len = rest.len();
                    self.close(
                        CloseReason::Peer(PeerError::DataAfterStartTls { len }),
                        false,
                    );
                }
                break;
            }
            if matches!(self.state, State::Closed | State::Closing) {
                break;
            }
        }
        self.pump();
        Ok(())
    }

    /// The connection reached end of stream at `now`.
    pub fn handle_eof(&mut self, _now: Instant) {
        match self.state {
            State::Closed => {}
            State::Closing => self.finish_close(),
            _ => {
                if let Some(Pending {
                    expect: Expect::Quit,
                    ..
                }) = self.inflight.front()
                {
                    self.close(CloseReason::Quit(None), false);
                    return;
                }
                let phase = match self.state {
                    State::Body(_) => Phase::DataBlock,
                    _ => self
                        .inflight
                        .front()
                        .map_or(Phase::Other, |p| p.expect.phase()),
                };
                self.close(CloseReason::Peer(PeerError::UnexpectedEof { phase }), false);
            }
        }
    }

    /// The connection failed at `now` (the driver saw an I/O error, or gave up on a TLS
    /// handshake). The session closes at once: transactions whose end of data was sent end
    /// as [`RcptStatus::Unknown`], the others as not delivered.
    pub fn handle_io_error(&mut self, _now: Instant) {
        if self.state != State::Closed {
            self.clear_output();
            self.close(CloseReason::Transport, false);
        }
    }

    /// Tells the core that time `now` has come. Closes the session if a deadline passed
    /// (sending only QUIT, and not even that in the middle of message content).
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(deadline) = self.poll_timeout() else {
            return;
        };
        if now < deadline {
            return;
        }
        let writing = self.content_end.is_some()
            && self.unsent() > 0
            && self.body_progress.checked_add(self.cfg.timeouts.data_block) == Some(deadline);
        let phase = if writing || matches!(self.state, State::Body(_)) {
            Phase::DataBlock
        } else {
            self.inflight
                .front()
                .map_or(Phase::Other, |p| p.expect.phase())
        };
        self.close(CloseReason::Timeout(phase), true);
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

    // ---------------------------------------------------------------- commands

    /// Queues a transaction. The body is asked for with [`Action::SupplyBody`] once the
    /// server is ready for it; the result comes as [`Event::TransactionDone`].
    pub fn send_mail(&mut self, env: Envelope) -> Result<TxId, UsageError> {
        self.check_open()?;
        if env.recipients.is_empty() {
            return Err(UsageError::NoRecipients);
        }
        let id = TxId(self.next_tx);
        self.next_tx += 1;
        let n = env.recipients.len();
        self.txs.push_back(Tx {
            id,
            env,
            mail_reply: None,
            data_reply: None,
            rcpt_replies: vec![None; n],
            status: vec![None; n],
            next_rcpt: 0,
            mail_sent: false,
            data_sent: false,
            dot_sent: false,
            smtputf8: false,
            bdat: false,
            accepted: 0,
            outstanding: 0,
        });
        self.ops.push_back(Op::Tx(id));
        self.pump();
        Ok(id)
    }

    /// Adds the next chunk of the body of the transaction that asked for it
    /// ([`Action::SupplyBody`]). Returns how many octets were taken: fewer than offered
    /// (possibly 0) when the output buffer is full; write the pending output and call again.
    pub fn write_body(&mut self, chunk: &[u8]) -> Result<usize, UsageError> {
        let State::Body(id) = self.state else {
            return Err(self.state_error("no body is wanted now"));
        };
        let room = self.cfg.max_output.saturating_sub(self.unsent());
        let n = room.min(chunk.len());
        if n == 0 {
            return Ok(0);
        }
        match &mut self.encoder {
            BodyEncoder::Data(e) => e.encode(&chunk[..n], &mut self.out),
            BodyEncoder::Bdat(e) => {
                let size = e.chunk_size() as u64;
                let before = e.stats().bytes_out / size;
                e.encode(&chunk[..n], &mut self.out);
                let frames = e.stats().bytes_out / size - before;
                let end = self.out_end();
                if self.cfg.transcript {
                    for _ in 0..frames {
                        self.log(TranscriptLine::Sent(format!("BDAT {size}")));
                        self.log(TranscriptLine::Content(size));
                    }
                }
                for _ in 0..frames {
                    self.boundaries.push_back(end);
                    self.expect_reply(Expect::Bdat(id), end);
                }
                if let Some(tx) = self.txs.iter_mut().find(|t| t.id == id) {
                    tx.outstanding += frames as usize;
                }
            }
        }
        if self.undeclared_8bit(id) {
            // Never send undeclared 8-bit content, and never end a partial message: drop
            // the connection so that nothing is delivered.
            self.clear_output();
            self.close(CloseReason::Usage(UsageError::Undeclared8Bit), false);
            return Err(UsageError::Undeclared8Bit);
        }
        Ok(n)
    }

    /// Zero-copy form of [`write_body`](Self::write_body), for vectored writes: instead of
    /// copying the encoded chunk into [`pending_output`](Self::pending_output), appends it
    /// to `segments` as slices of `chunk` and of static storage (the `.` of dot-stuffing,
    /// the CRLF of a bare line ending). Returns how many octets of `chunk` were taken, as
    /// `write_body` does, under the same [`Config::max_output`] bound.
    ///
    /// The segments are output like any other: they are queued before what
    /// [`pending_output`](Self::pending_output) holds (or will hold: the end of data, the
    /// next commands), [`pending_segment_len`](Self::pending_segment_len) counts what is
    /// left of them, and [`consume_output`](Self::consume_output) counts written octets of
    /// the segments first, then of `pending_output`. So the driver writes its segments,
    /// then `pending_output`, typically in one vectored write, and discards the segments
    /// when `pending_segment_len` drops to 0 without its writes (the session failed).
    ///
    /// Every guarantee of `write_body` holds (CRLF normalisation, dot-stuffing, the single
    /// terminator, the 8-bit check, the data-block deadline). The core falls back to
    /// copying, appending nothing to `segments`, where segments would not pay: with BDAT,
    /// while `pending_output` is not empty, and for parts of `chunk` where segments would
    /// be short (many bare line endings or leading dots); what it copies then goes after
    /// the segments, in order.
    pub fn write_body_segments<'a>(
        &mut self,
        chunk: &'a [u8],
        segments: &mut Vec<&'a [u8]>,
    ) -> Result<usize, UsageError> {
        let State::Body(id) = self.state else {
            return Err(self.state_error("no body is wanted now"));
        };
        if self.out.len() > self.out_start || !matches!(self.encoder, BodyEncoder::Data(_)) {
            return self.write_body(chunk);
        }
        let room = self.cfg.max_output.saturating_sub(self.unsent());
        let n = room.min(chunk.len());
        if n == 0 {
            return Ok(0);
        }
        let BodyEncoder::Data(enc) = &mut self.encoder else {
            return Ok(0);
        };
        let first = segments.len();
        let (start, stop) = (
            chunk.as_ptr() as usize,
            chunk.as_ptr() as usize + chunk.len(),
        );
        let mut taken = 0;
        while taken < n {
            let (from, end) = (taken, n.min(taken + SEGMENT_PIECE));
            let piece = &chunk[from..end];
            let saved = enc.clone();
            let before = segments.len();
            let last = segments.last().copied();
            enc.encode_with(piece, |seg| {
                // Runs of `chunk` that touch (across pieces) become one segment.
                if segments.len() > first
                    && let Some(prev) = segments.last_mut()
                {
                    let (p, q) = (prev.as_ptr() as usize, seg.as_ptr() as usize);
                    if p >= start && q == p + prev.len() && q + seg.len() <= stop {
                        let a = p - start;
                        *prev = &chunk[a..a + prev.len() + seg.len()];
                        return;
                    }
                }
                segments.push(seg);
            });
            taken = end;
            if segments.len() - before > piece.len() / MIN_SEGMENT + 1 {
                // Short segments cost more to write than to copy: copy from this piece on,
                // after the segments (no segment may overtake the copied bytes).
                *enc = saved;
                segments.truncate(before);
                if let (Some(l), Some(slot)) = (last, segments.last_mut()) {
                    *slot = l;
                }
                enc.encode(&chunk[from..n], &mut self.out);
                taken = n;
                break;
            }
        }
        self.seg_unsent += segments[first..].iter().map(|s| s.len()).sum::<usize>();
        if self.undeclared_8bit(id) {
            segments.truncate(first);
            self.clear_output();
            self.close(CloseReason::Usage(UsageError::Undeclared8Bit), false);
            return Err(UsageError::Undeclared8Bit);
        }
        Ok(taken)
    }

    /// Whether the body of `id` turned out 8-bit while declared 7-bit.
    fn undeclared_8bit(&self, id: TxId) -> bool {
        let declared_7bit = self
            .tx(id)
            .is_some_and(|t| t.env.body == BodyType::SevenBit);
        declared_7bit && self.encoder.stats().has_8bit
    }

    /// Ends the body: the core adds the end of data and waits for the server's verdict.
    pub fn finish_body(&mut self) -> Result<(), UsageError> {
        let State::Body(id) = self.state else {
            return Err(self.state_error("no body is wanted now"));
        };
        let (stats, last) = match &mut self.encoder {
            BodyEncoder::Data(e) => (e.finish(&mut self.out), ".".to_owned()),
            BodyEncoder::Bdat(e) => {
                let pending = e.stats().bytes_out % e.chunk_size() as u64;
                (e.finish(&mut self.out), format!("BDAT {pending} LAST"))
            }
        };
        if self.cfg.transcript {
            self.log(TranscriptLine::Content(stats.bytes_out));
            self.log(TranscriptLine::Sent(last));
        }
        let end = self.out_end();
        self.boundaries.push_back(end);
        self.content_end = Some(end);
        self.state = State::Ready;
        let lmtp = self.cfg.dialect == Dialect::Lmtp;
        if id == MANUAL_TX {
            self.expect_reply(Expect::ManualEnd, end);
            self.pump();
            return Ok(());
        }
        let Some(tx) = self.txs.iter_mut().find(|t| t.id == id) else {
            return Ok(());
        };
        tx.dot_sent = true;
        if lmtp {
            // One verdict per recipient still without a status (the accepted ones), in
            // RCPT order.
            let accepted: Vec<usize> = (0..tx.status.len())
                .filter(|&i| tx.status[i].is_none())
                .collect();
            tx.outstanding += accepted.len();
            for i in accepted {
                self.expect_reply(Expect::EndOfData(id, Some(i)), end);
            }
        } else {
            tx.outstanding += 1;
            self.expect_reply(Expect::EndOfData(id, None), end);
        }
        self.pump();
        Ok(())
    }

    /// Queues `VRFY arg` (smtplib's `verify`).
    pub fn vrfy(&mut self, arg: SmtpString) -> Result<(), UsageError> {
        self.simple(Command::Vrfy {
            arg,
            smtputf8: false,
        })
    }

    /// Queues `EXPN arg`.
    pub fn expn(&mut self, arg: SmtpString) -> Result<(), UsageError> {
        self.simple(Command::Expn {
            arg,
            smtputf8: false,
        })
    }

    /// Queues `HELP [arg]`.
    pub fn help(&mut self, arg: Option<SmtpString>) -> Result<(), UsageError> {
        self.simple(Command::Help(arg))
    }

    /// Queues `NOOP`.
    pub fn noop(&mut self) -> Result<(), UsageError> {
        self.simple(Command::Noop(None))
    }

    /// Queues `RSET`.
    pub fn rset(&mut self) -> Result<(), UsageError> {
        self.simple(Command::Rset)
    }

    /// Queues a raw command line (smtplib's `docmd`); its reply comes as [`Event::Reply`].
    pub fn raw(&mut self, line: RawCommand) -> Result<(), UsageError> {
        self.simple(Command::Raw(line))
    }

    /// Queues any of VRFY, EXPN, HELP, NOOP, RSET or a raw command.
    pub fn simple(&mut self, cmd: Command) -> Result<(), UsageError> {
        self.check_open()?;
        match cmd.verb() {
            Verb::Vrfy
            | Verb::Expn
            | Verb::Help
            | Verb::Noop
            | Verb::Rset
            | Verb::Raw
            | Verb::Mail
            | Verb::Rcpt => {}
            _ => return Err(UsageError::WrongState("not a simple command")),
        }
        cmd.encode(&mut Vec::new())?;
        self.ops.push_back(Op::Simple(cmd));
        self.pump();
        Ok(())
    }

    /// Queues AUTH with this mechanism (RFC 4954). The result comes as
    /// [`Event::AuthDone`]. Credentials never leave over plaintext unless
    /// [`Config::allow_plaintext_auth`] is set.
    pub fn authenticate(&mut self, mech: Box<dyn SaslMechanism>) -> Result<(), UsageError> {
        self.check_open()?;
        self.check_plaintext_auth()?;
        self.ops.push_back(Op::Auth(mech));
        self.pump();
        Ok(())
    }

    /// Queues AUTH with the strongest mechanism that the server offers, `allowed` permits
    /// and the credentials fit (see [`crate::sasl::choose_mechanism`]). After a refusal,
    /// weaker mechanisms are tried only when `fallback` is set. `nonce` is SCRAM's client
    /// nonce: 24+ random bytes, base64-encoded, fresh for every call.
    pub fn login(
        &mut self,
        credentials: Credentials,
        allowed: &[Mechanism],
        nonce: &str,
        fallback: bool,
    ) -> Result<(), UsageError> {
        self.check_open()?;
        self.check_plaintext_auth()?;
        self.ops.push_back(Op::Login {
            credentials,
            allowed: allowed.to_vec(),
            nonce: nonce.to_owned(),
            fallback,
        });
        self.pump();
        Ok(())
    }

    fn check_plaintext_auth(&self) -> Result<(), UsageError> {
        let will_encrypt =
            self.encrypted || matches!(self.cfg.tls, TlsPolicy::Required | TlsPolicy::Implicit);
        if will_encrypt || self.cfg.allow_plaintext_auth {
            Ok(())
        } else {
            Err(UsageError::PlaintextAuth)
        }
    }

    /// Queues the low-level `DATA` command (smtplib's `data`), for a transaction the
    /// caller drives itself with [`simple`](Self::simple) `MAIL` and `RCPT` commands. A 354
    /// makes [`next_action`](Self::next_action) ask for the body with
    /// [`Action::SupplyBody`]`(`[`MANUAL_TX`]`)`; supply it with `write_body` and
    /// `finish_body`. The reply to DATA (if not 354) and the one to the end of data come as
    /// [`Event::Reply`] with verb `Data`. [`send_mail`](Self::send_mail) is the way to send
    /// mail; this is the building block smtplib exposes.
    pub fn data(&mut self) -> Result<(), UsageError> {
        self.check_open()?;
        self.ops.push_back(Op::Data);
        self.pump();
        Ok(())
    }

    /// Queues a new EHLO (LHLO for LMTP), or HELO with `helo`, as smtplib's `ehlo()` and
    /// `helo()` do. A 250 replaces the capabilities (HELO clears them) and resets any
    /// transaction state; the reply comes as [`Event::Reply`] with verb `Ehlo`/`Lhlo`/`Helo`,
    /// whatever its code.
    pub fn hello(&mut self, helo: bool) -> Result<(), UsageError> {
        self.check_open()?;
        self.ops.push_back(Op::Hello(helo));
        self.pump();
        Ok(())
    }

    /// Queues `QUIT`, after everything queued before it. The session closes on its reply.
    pub fn quit(&mut self) -> Result<(), UsageError> {
        self.check_open()?;
        self.ops.push_back(Op::Quit);
        self.pump();
        Ok(())
    }

    /// Gives up at once: pending transactions end as not delivered (or unknown after their
    /// end of data), QUIT is sent when the protocol allows it, and the session closes.
    pub fn abort(&mut self) {
        if !matches!(self.state, State::Closed | State::Closing) {
            self.close(CloseReason::Usage(UsageError::Aborted), true);
        }
    }

    // ---------------------------------------------------------------- internals

    /// Octets queued but not written yet (body segments included).
    fn unsent(&self) -> usize {
        self.seg_unsent + self.out.len() - self.out_start
    }

    /// The absolute output offset just past the last queued octet.
    fn out_end(&self) -> u64 {
        self.sent_total + self.unsent() as u64
    }

    /// Drops everything not written yet.
    fn clear_output(&mut self) {
        self.out.clear();
        self.out_start = 0;
        self.seg_unsent = 0;
    }

    fn check_open(&self) -> Result<(), UsageError> {
        match self.state {
            State::Closed | State::Closing => Err(UsageError::Closed),
            _ => Ok(()),
        }
    }

    fn state_error(&self, what: &'static str) -> UsageError {
        match self.state {
            State::Closed | State::Closing => UsageError::Closed,
            _ => UsageError::WrongState(what),
        }
    }

    fn tx(&self, id: TxId) -> Option<&Tx> {
        self.txs.iter().find(|t| t.id == id)
    }

    fn log(&mut self, line: TranscriptLine) {
        if self.transcript.len() == MAX_TRANSCRIPT {
            self.transcript.pop_front();
        }
        self.transcript.push_back(line);
    }

    fn pipelining(&self) -> bool {
        self.caps.as_ref().is_some_and(Capabilities::pipelining)
    }

    /// Appends one command and what it waits for.
    fn emit(&mut self, cmd: &Command, expect: Expect) -> Result<(), UsageError> {
        cmd.encode(&mut self.out)?;
        if self.cfg.transcript {
            self.log(TranscriptLine::Sent(cmd.redacted().to_string()));
        }
        let end = self.out_end();
        self.boundaries.push_back(end);
        self.expect_reply(expect, end);
        Ok(())
    }

    /// Whether a command may be written now, given what is in flight.
    fn can_send(&self, starts_group: bool) -> bool {
        let Some(last) = self.inflight.back() else {
            return true;
        };
        // After a BDAT transaction, wait for its verdict: a refused chunk leaves the
        // server's transaction open until RSET (RFC 3030 §4.2).
        let after_bdat =
            matches!(last.expect, Expect::EndOfData(id, _) if self.tx(id).is_some_and(|t| t.bdat));
        self.pipelining()
            && !starts_group
            && !last.expect.ends_group()
            && !after_bdat
            && self.inflight.len() < self.cfg.max_in_flight
    }

    fn send_hello(&mut self) {
        let (cmd, expect) = match self.cfg.dialect {
            Dialect::Lmtp => (Command::Lhlo(self.cfg.client_name.clone()), Expect::Ehlo),
            Dialect::Smtp => (Command::Ehlo(self.cfg.client_name.clone()), Expect::Ehlo),
        };
        if let Err(e) = self.emit(&cmd, expect) {
            self.close(CloseReason::Usage(e), false);
        }
    }

    /// Writes whatever the queued operations allow now.
    fn pump(&mut self) {
        while self.state == State::Ready {
            let Some(op) = self.ops.front() else {
                return;
            };
            match op {
                Op::Tx(id) => {
                    let id = *id;
                    if !self.pump_tx(id) {
                        return;
                    }
                }
                Op::Simple(cmd) => {
                    if !self.can_send(false) {
                        return;
                    }
                    let verb = cmd.verb();
                    let Some(Op::Simple(cmd)) = self.ops.pop_front() else {
                        return;
                    };
                    let expect = Expect::Simple(verb);
                    if let Err(e) = self.emit(&cmd, expect) {
                        // Validated when queued; cannot happen, but never panic.
                        self.close(CloseReason::Usage(e), true);
                        return;
                    }
                }
                Op::Data => {
                    if !self.can_send(false) {
                        return;
                    }
                    self.ops.pop_front();
                    let _ = self.emit(&Command::Data, Expect::ManualData);
                }
                Op::Hello(helo) => {
                    let helo = *helo;
                    if !self.can_send(true) {
                        return;
                    }
                    self.ops.pop_front();
                    let name = self.cfg.client_name.clone();
                    let cmd = match (helo, self.cfg.dialect) {
                        (true, _) => Command::Helo(name),
                        (false, Dialect::Lmtp) => Command::Lhlo(name),
                        (false, Dialect::Smtp) => Command::Ehlo(name),
                    };
                    let _ = self.emit(&cmd, Expect::Rehello(helo));
                }
                Op::Auth(_) | Op::Login { .. } => {
                    if !self.can_send(true) {
                        return;
                    }
                    let Some(op) = self.ops.pop_front() else {
                        return;
                    };
                    self.start_auth(op);
                }
                Op::Quit => {
                    if !self.can_send(false) {
                        return;
                    }
                    self.ops.pop_front();
                    let _ = self.emit(&Command::Quit, Expect::Quit);
                    return;
                }
            }
        }
    }

    /// Advances transaction `id` (the front operation). Returns whether the next operation
    /// may be looked at now.
    fn pump_tx(&mut self, id: TxId) -> bool {
        let Some(ti) = self.txs.iter().position(|t| t.id == id) else {
            self.ops.pop_front();
            return true;
        };
        if !self.txs[ti].mail_sent {
            if !self.can_send(false) {
                return false;
            }
            if let Err(e) = self.check_tx(ti) {
                let tx = &mut self.txs[ti];
                for s in tx.status.iter_mut() {
                    *s = Some(RcptStatus::NotDelivered(Failure::Usage(e.clone())));
                }
                self.ops.pop_front();
                self.finish_tx(id);
                return true;
            }
            if self.need_rset {
                self.need_rset = false;
                let _ = self.emit(&Command::Rset, Expect::SilentRset);
                if !self.can_send(false) {
                    return false;
                }
            }
            let tx = &self.txs[ti];
            let cmd = Command::Mail {
                from: tx.env.from.clone(),
                params: tx.env.mail_params.clone(),
            };
            if let Err(e) = self.emit(&cmd, Expect::Mail(id)) {
                let tx = &mut self.txs[ti];
                for s in tx.status.iter_mut() {
                    *s = Some(RcptStatus::NotDelivered(Failure::Usage(e.clone())));
                }
                self.ops.pop_front();
                self.finish_tx(id);
                return true;
            }
            let tx = &mut self.txs[ti];
            tx.mail_sent = true;
            tx.outstanding += 1;
        }
        // Without pipelining, RCPT waits for a positive MAIL reply.
        if !self.pipelining() && !self.txs[ti].mail_ok() {
            return false;
        }
        while self.txs[ti].next_rcpt < self.txs[ti].env.recipients.len() {
            if !self.can_send(false) {
                return false;
            }
            let tx = &self.txs[ti];
            let i = tx.next_rcpt;
            let (to, params) = &tx.env.recipients[i];
            let cmd = Command::Rcpt {
                to: to.clone(),
                params: params.clone(),
                smtputf8: tx.smtputf8,
            };
            let res = self.emit(&cmd, Expect::Rcpt(id, i));
            let tx = &mut self.txs[ti];
            tx.next_rcpt += 1;
            match res {
                Ok(()) => tx.outstanding += 1,
                Err(e) => tx.status[i] = Some(RcptStatus::NotDelivered(Failure::Usage(e))),
            }
        }
        if !self.can_send(false) {
            return false;
        }
        let tx = &self.txs[ti];
        if !self.pipelining() && tx.accepted == 0 {
            // Lock-step and nobody accepted: no DATA. The server holds a MAIL: reset it.
            self.ops.pop_front();
            self.need_rset |= tx.mail_ok();
            self.finish_tx(id);
            return true;
        }
        if self.txs[ti].bdat {
            // BDAT carries the content at once: wait for every RCPT verdict first, so
            // that no content is sent when nobody accepted it (RFC 3030 §4.2 lets the
            // server refuse it anyway).
            if !self.inflight.is_empty() {
                return false;
            }
            self.ops.pop_front();
            let tx = &mut self.txs[ti];
            if tx.accepted == 0 || !tx.mail_ok() {
                self.need_rset |= tx.mail_ok();
                self.finish_tx(id);
                return true;
            }
            tx.data_sent = true;
            let size = self.cfg.bdat_chunk_size;
            self.encoder = BodyEncoder::Bdat(if tx.env.body == BodyType::BinaryMime {
                BdatEncoder::binary(size)
            } else {
                BdatEncoder::new(size)
            });
            self.state = State::Body(id);
            self.body_progress = self.last_now;
            self.content_end = Some(u64::MAX);
            return false;
        }
        let _ = self.emit(&Command::Data, Expect::Data(id));
        let tx = &mut self.txs[ti];
        tx.data_sent = true;
        tx.outstanding += 1;
        self.ops.pop_front();
        true
    }

    /// Capability checks before MAIL; fills in SIZE, SMTPUTF8 and BODY.
    fn check_tx(&mut self, ti: usize) -> Result<(), UsageError> {
        let caps = self.caps.clone();
        let drop_dsn = self.cfg.drop_unsupported_dsn;
        let tx = &mut self.txs[ti];
        let env = &mut tx.env;
        let has = |f: fn(&Capabilities) -> bool| caps.as_ref().is_some_and(f);
        let utf8 = env.from.needs_smtputf8()
            || env.recipients.iter().any(|(r, _)| r.needs_smtputf8())
            || env.mail_params.smtputf8;
        if utf8 {
            if !has(Capabilities::smtp_utf8) {
                return Err(UsageError::NotAdvertised("SMTPUTF8"));
            }
            env.mail_params.smtputf8 = true;
            tx.smtputf8 = true;
        }
        match env.body {
            BodyType::SevenBit => {}
            BodyType::EightBitMime => {
                if !has(Capabilities::eight_bit_mime) {
                    return Err(UsageError::NotAdvertised("8BITMIME"));
                }
                env.mail_params.body = Some(Body::EightBitMime);
            }
            BodyType::BinaryMime => {
                if !has(Capabilities::binary_mime) {
                    return Err(UsageError::NotAdvertised("BINARYMIME"));
                }
                env.mail_params.body = Some(Body::BinaryMime);
            }
        }
        tx.bdat = env.prefer_bdat || env.body == BodyType::BinaryMime;
        if tx.bdat && !has(Capabilities::chunking) {
            return Err(UsageError::NotAdvertised("CHUNKING"));
        }
        let wants_dsn = env.mail_params.ret.is_some()
            || env.mail_params.envid.is_some()
            || env
                .recipients
                .iter()
                .any(|(_, p)| p.notify.is_some() || p.orcpt.is_some());
        if wants_dsn && !has(Capabilities::dsn) {
            if !drop_dsn {
                return Err(UsageError::NotAdvertised("DSN"));
            }
            env.mail_params.ret = None;
            env.mail_params.envid = None;
            for (_, p) in env.recipients.iter_mut() {
                p.notify = None;
                p.orcpt = None;
            }
        }
        if env.mail_params.requiretls && !has(Capabilities::require_tls) {
            return Err(UsageError::NotAdvertised("REQUIRETLS"));
        }
        if let Some(size) = env.size_hint
            && let Some(limit) = caps.as_ref().and_then(Capabilities::size)
        {
            if let Some(max) = limit.limit()
                && size > max
            {
                return Err(UsageError::TooLarge { size, limit: max });
            }
            env.mail_params.size = Some(size);
        }
        match (
            env.mail_params.size,
            caps.as_ref().and_then(Capabilities::size),
        ) {
            (Some(_), None) => env.mail_params.size = None,
            (Some(size), Some(limit)) => {
                if let Some(max) = limit.limit()
                    && size > max
                {
                    return Err(UsageError::TooLarge { size, limit: max });
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn finish_tx(&mut self, id: TxId) {
        let Some(ti) = self.txs.iter().position(|t| t.id == id) else {
            return;
        };
        let Some(tx) = self.txs.remove(ti) else {
            return;
        };
        let recipients = tx
            .env
            .recipients
            .into_iter()
            .zip(tx.rcpt_replies)
            .zip(tx.status)
            .map(|(((recipient, _), rcpt_reply), status)| RcptOutcome {
                recipient,
                rcpt_reply,
                status: status.unwrap_or(RcptStatus::NotDelivered(Failure::SessionClosed)),
            })
            .collect();
        self.events.push_back(Event::TransactionDone(TxOutcome {
            tx: id,
            mail_reply: tx.mail_reply,
            data_reply: tx.data_reply,
            recipients,
        }));
    }

    /// Marks every recipient of `tx` that has no status yet.
    fn settle(tx: &mut Tx, status: impl Fn() -> RcptStatus) {
        for s in tx.status.iter_mut() {
            if s.is_none() {
                *s = Some(status());
            }
        }
    }

    fn refusal(stage: Stage, reply: &Reply) -> RcptStatus {
        if reply.is_transient() {
            RcptStatus::Deferred(stage, reply.clone())
        } else {
            RcptStatus::Refused(stage, reply.clone())
        }
    }

    fn wrong_code(&mut self, phase: Phase, code: ReplyCode) {
        self.close(
            CloseReason::Peer(PeerError::WrongCode {
                phase,
                code: code.get(),
            }),
            true,
        );
    }

    fn on_reply(&mut self, reply: Reply, now: Instant) {
        if self.cfg.transcript {
            self.log(TranscriptLine::Received(reply.clone()));
        }
        if let State::Body(id) = self.state
            && self.inflight.is_empty()
        {
            // A verdict while the content is still being written.
            if let Some(tx) = self.txs.iter_mut().find(|t| t.id == id) {
                let status = Self::refusal(Stage::DuringContent, &reply);
                let status = if reply.is_positive() {
                    RcptStatus::NotDelivered(Failure::Aborted)
                } else {
                    status
                };
                Self::settle(tx, || status.clone());
            }
            self.clear_output();
            self.close(
                CloseReason::Peer(PeerError::UnexpectedReply {
                    code: reply.code().get(),
                }),
                false,
            );
            return;
        }
        let Some(head) = self.inflight.pop_front() else {
            self.close(
                CloseReason::Peer(PeerError::UnexpectedReply {
                    code: reply.code().get(),
                }),
                true,
            );
            return;
        };
        if head.sent_at.is_none() && head.expect != Expect::Greeting {
            // A reply to a command the driver has not finished writing. While the content
            // is still going out, a refusal is the server giving up on the message early.
            if let Expect::EndOfData(id, _) | Expect::Bdat(id) = head.expect
                && !reply.is_positive()
                && let Some(tx) = self.txs.iter_mut().find(|t| t.id == id)
            {
                let st = Self::refusal(Stage::DuringContent, &reply);
                Self::settle(tx, || st.clone());
            }
            self.close(
                CloseReason::Peer(PeerError::UnexpectedReply {
                    code: reply.code().get(),
                }),
                true,
            );
            return;
        }
        self.head_since = now;
        let code = reply.code();
        let phase = head.expect.phase();
        if code.is_intermediate()
            && !matches!(
                head.expect,
                Expect::Data(_) | Expect::Auth | Expect::ManualData
            )
            && head.expect != Expect::Greeting
        {
            return self.wrong_code(phase, code);
        }
        let closing = (code == ReplyCode::SERVICE_NOT_AVAILABLE && head.expect != Expect::Quit)
            .then(|| reply.clone());
        match head.expect {
            Expect::Greeting => match code.get() {
                220 => {
                    self.events.push_back(Event::Greeting(reply));
                    self.send_hello();
                }
                421 => self.close(CloseReason::ServiceClosing(reply), false),
                c if c >= 400 => self.close(CloseReason::Refused(reply), true),
                _ => self.wrong_code(phase, code),
            },
            Expect::Ehlo | Expect::Helo => self.on_hello(head.expect, reply),
            Expect::StartTls => {
                if code.get() == 220 {
                    // RFC 3207 §4.2: forget everything learnt before TLS.
                    self.state = State::Handshake;
                    self.caps = None;
                } else if closing.is_some() {
                    self.close(CloseReason::ServiceClosing(reply), false);
                } else if code.is_positive() {
                    self.wrong_code(phase, code);
                } else if self.cfg.tls == TlsPolicy::Required {
                    self.close(CloseReason::TlsUnavailable(Some(reply)), true);
                } else {
                    self.events.push_back(Event::StartTlsRefused(reply));
                    self.become_ready();
                }
            }
            Expect::Mail(id) => {
                if let Some(tx) = self.txs.iter_mut().find(|t| t.id == id) {
                    tx.outstanding = tx.outstanding.saturating_sub(1);
                    if !code.is_positive() {
                        let st = Self::refusal(Stage::Mail, &reply);
                        Self::settle(tx, || st.clone());
                        // Some servers keep state from a refused MAIL (Postfix keeps a
                        // refused SIZE=): start the next transaction from a clean RSET.
                        self.need_rset = true;
                    }
                    tx.mail_reply = Some(reply);
                    if !tx.mail_ok() && tx.outstanding == 0 {
                        // Lock-step: nothing else was sent for this transaction.
                        if self
                            .ops
                            .front()
                            .is_some_and(|o| matches!(o, Op::Tx(t) if *t == id))
                        {
                            self.ops.pop_front();
                        }
                        self.finish_tx(id);
                    }
                }
            }
            Expect::Rcpt(id, i) => {
                if let Some(tx) = self.txs.iter_mut().find(|t| t.id == id) {
                    tx.outstanding = tx.outstanding.saturating_sub(1);
                    if code.is_positive() {
                        if tx.mail_ok() {
                            tx.accepted += 1;
                        }
                    } else if tx.status[i].is_none() {
                        tx.status[i] = Some(Self::refusal(Stage::Rcpt, &reply));
                    }
                    tx.rcpt_replies[i] = Some(reply);
                }
            }
            Expect::Data(id) => self.on_data_reply(id, reply, now),
            Expect::LoneDot(id) => {
                if let Some(tx) = self.txs.iter_mut().find(|t| t.id == id) {
                    tx.outstanding = tx.outstanding.saturating_sub(1);
                    let st = Self::refusal(Stage::EndOfData, &reply);
                    Self::settle(tx, || st.clone());
                    if tx.outstanding == 0 {
                        self.finish_tx(id);
                    }
                }
            }
            Expect::EndOfData(id, idx) => {
                if let Some(tx) = self.txs.iter_mut().find(|t| t.id == id) {
                    tx.outstanding = tx.outstanding.saturating_sub(1);
                    let st = if code.is_positive() {
                        RcptStatus::Accepted(reply.clone())
                    } else {
                        Self::refusal(Stage::EndOfData, &reply)
                    };
                    match idx {
                        Some(i) => {
                            tx.status[i].get_or_insert(st);
                        }
                        None => Self::settle(tx, || st.clone()),
                    }
                    if tx.outstanding == 0 {
                        self.finish_tx(id);
                    }
                }
            }
            Expect::Bdat(id) => {
                if let Some(tx) = self.txs.iter_mut().find(|t| t.id == id) {
                    tx.outstanding = tx.outstanding.saturating_sub(1);
                    if !code.is_positive() {
                        // RFC 3030 §4.2: the server drops the rest of the transaction.
                        let st = Self::refusal(Stage::Data, &reply);
                        Self::settle(tx, || st.clone());
                        tx.data_reply = Some(reply.clone());
                        self.need_rset = true;
                        if self.state == State::Body(id) {
                            self.state = State::Ready;
                            self.content_end = None;
                        }
                    }
                    if tx.outstanding == 0 && self.state != State::Body(id) {
                        self.finish_tx(id);
                    }
                }
            }
            Expect::SilentRset => {}
            Expect::ManualData => {
                if code == ReplyCode::START_MAIL_INPUT {
                    self.state = State::Body(MANUAL_TX);
                    self.body_progress = now;
                    self.content_end = Some(u64::MAX);
                    self.encoder = BodyEncoder::Data(DataEncoder::new());
                } else if code.is_positive() {
                    self.wrong_code(Phase::DataInit, code);
                } else {
                    self.events.push_back(Event::Reply {
                        verb: Verb::Data,
                        reply: reply.clone(),
                    });
                }
            }
            Expect::ManualEnd => {
                self.events.push_back(Event::Reply {
                    verb: Verb::Data,
                    reply: reply.clone(),
                });
            }
            Expect::Rehello(helo) => {
                if code.get() == 250 {
                    self.caps = (!helo).then(|| Capabilities::from_owned_reply(&reply));
                    self.helo_only = helo;
                    self.need_rset = false;
                }
                let verb = match (helo, self.cfg.dialect) {
                    (true, _) => Verb::Helo,
                    (false, Dialect::Lmtp) => Verb::Lhlo,
                    (false, Dialect::Smtp) => Verb::Ehlo,
                };
                self.events.push_back(Event::Reply {
                    verb,
                    reply: reply.clone(),
                });
            }
            Expect::Auth | Expect::AuthCancel => self.on_auth_reply(head.expect, reply),
            Expect::Quit => {
                self.close(CloseReason::Quit(Some(reply)), false);
                return;
            }
            Expect::Simple(verb) => {
                self.events.push_back(Event::Reply {
                    verb,
                    reply: reply.clone(),
                });
            }
        }
        if let Some(reply) = closing
            && !matches!(self.state, State::Closed | State::Closing)
        {
            self.close(CloseReason::ServiceClosing(reply), false);
        }
    }

    fn on_hello(&mut self, expect: Expect, reply: Reply) {
        let code = reply.code();
        if code.get() == 250 {
            if expect == Expect::Ehlo {
                self.caps = Some(Capabilities::from_owned_reply(&reply));
                self.helo_only = false;
            } else {
                self.caps = None;
                self.helo_only = true;
            }
            let offered = self.caps.as_ref().is_some_and(Capabilities::starttls);
            let tls_wanted = !self.encrypted
                && matches!(self.cfg.tls, TlsPolicy::Required | TlsPolicy::Opportunistic);
            if tls_wanted && offered {
                let _ = self.emit(&Command::StartTls, Expect::StartTls);
            } else if tls_wanted && self.cfg.tls == TlsPolicy::Required {
                self.close(CloseReason::TlsUnavailable(None), true);
            } else {
                self.become_ready();
            }
            return;
        }
        if code == ReplyCode::SERVICE_NOT_AVAILABLE {
            self.close(CloseReason::ServiceClosing(reply), false);
            return;
        }
        let fallback = expect == Expect::Ehlo
            && self.cfg.dialect == Dialect::Smtp
            && self.cfg.allow_helo_fallback
            && self.cfg.tls != TlsPolicy::Required
            && matches!(code.get(), 500 | 502);
        if fallback {
            self.events.push_back(Event::HeloFallback(reply));
            let cmd = Command::Helo(self.cfg.client_name.clone());
            let _ = self.emit(&cmd, Expect::Helo);
        } else if code.is_positive() {
            self.wrong_code(Phase::Ehlo, code);
        } else {
            self.close(CloseReason::Refused(reply), true);
        }
    }

    fn become_ready(&mut self) {
        self.state = State::Ready;
        self.events.push_back(Event::Ready);
    }

    fn on_data_reply(&mut self, id: TxId, reply: Reply, now: Instant) {
        let code = reply.code();
        let Some(tx) = self.txs.iter_mut().find(|t| t.id == id) else {
            return;
        };
        tx.outstanding = tx.outstanding.saturating_sub(1);
        tx.data_reply = Some(reply.clone());
        if code == ReplyCode::START_MAIL_INPUT {
            if tx.accepted == 0 || !tx.mail_ok() {
                // RFC 2920 §3.1: nobody to deliver to, yet the server wants data: send a
                // lone dot, never the body.
                tx.outstanding += 1;
                tx.dot_sent = true;
                self.out.extend_from_slice(b".\r\n");
                if self.cfg.transcript {
                    self.log(TranscriptLine::Sent(".".into()));
                }
                let end = self.out_end();
                self.boundaries.push_back(end);
                self.expect_reply(Expect::LoneDot(id), end);
            } else {
                self.state = State::Body(id);
                self.body_progress = now;
                self.content_end = Some(u64::MAX);
                self.encoder = BodyEncoder::Data(DataEncoder::new());
            }
            return;
        }
        if code.is_positive() || code.is_intermediate() {
            return self.wrong_code(Phase::DataInit, code);
        }
        let st = Self::refusal(Stage::Data, &reply);
        Self::settle(tx, || st.clone());
        self.need_rset |= tx.mail_ok();
        if tx.outstanding == 0 {
            self.finish_tx(id);
        }
    }

    fn auth_done(&mut self, mechanism: String, result: Result<Reply, AuthError>) {
        self.events.push_back(Event::AuthDone { mechanism, result });
    }

    /// Starts an `Op::Auth` or `Op::Login` (the pipeline is empty).
    fn start_auth(&mut self, op: Op) {
        if !self.encrypted && !self.cfg.allow_plaintext_auth {
            return self.auth_done(String::new(), Err(AuthError::Plaintext));
        }
        let (mut mech, retry) = match op {
            Op::Auth(mech) => (mech, None),
            Op::Login {
                credentials,
                mut allowed,
                nonce,
                fallback,
            } => {
                let offered: Vec<String> = self
                    .caps
                    .as_ref()
                    .map(|c| c.auth_mechanisms().map(str::to_owned).collect())
                    .unwrap_or_default();
                let Some(mech) = select_mechanism(
                    offered.iter().map(String::as_str),
                    &allowed,
                    &credentials,
                    &nonce,
                ) else {
                    return self.auth_done(String::new(), Err(AuthError::NoMechanism));
                };
                let retry = fallback.then(|| {
                    allowed.retain(|m| !m.as_str().eq_ignore_ascii_case(mech.name()));
                    Op::Login {
                        credentials,
                        allowed,
                        nonce,
                        fallback,
                    }
                });
                (mech, retry)
            }
            _ => return,
        };
        let name = mech.name().to_owned();
        let mechanism = match Mechanism::new(&name) {
            Ok(m) => m,
            Err(e) => return self.auth_done(name, Err(AuthError::Usage(UsageError::Command(e)))),
        };
        let initial = match mech.initial_response() {
            Ok(i) => i,
            Err(e) => return self.auth_done(name, Err(AuthError::Sasl(e))),
        };
        let with_initial = Command::Auth {
            mechanism: mechanism.clone(),
            initial_response: initial,
        };
        let sent = match self.emit(&with_initial, Expect::Auth) {
            Ok(()) => Ok(()),
            // Too long for one line: send the response after the server's empty 334
            // (the mechanism answers it from `step`).
            Err(UsageError::Command(crate::command::CommandError::LineTooLong { .. })) => self
                .emit(
                    &Command::Auth {
                        mechanism,
                        initial_response: None,
                    },
                    Expect::Auth,
                ),
            Err(e) => Err(e),
        };
        if let Err(e) = sent {
            return self.auth_done(name, Err(AuthError::Usage(e)));
        }
        self.auth = Some(AuthRun {
            mech,
            failed: None,
            retry,
        });
    }

    fn on_auth_reply(&mut self, expect: Expect, reply: Reply) {
        let Some(mut run) = self.auth.take() else {
            return self.wrong_code(Phase::Auth, reply.code());
        };
        let name = run.mech.name().to_owned();
        let code = reply.code();
        if expect == Expect::AuthCancel {
            // The reply to `*`: the exchange is over, whatever it says.
            let err = run
                .failed
                .take()
                .unwrap_or(SaslError::UnexpectedChallenge { mechanism: "SASL" });
            return self.auth_done(name, Err(AuthError::Sasl(err)));
        }
        if code == ReplyCode::AUTH_CHALLENGE {
            let text = reply.lines().next().unwrap_or_default();
            let step = decode_challenge(text).and_then(|c| run.mech.step(&c));
            match step {
                Ok(response) => {
                    if let Err(e) = self.emit(&Command::AuthResponse(response), Expect::Auth) {
                        let _ = e;
                        run.failed = Some(SaslError::InvalidCredential {
                            field: "response",
                            reason: "longer than an AUTH line may be",
                        });
                        let _ = self.emit(&Command::AuthCancel, Expect::AuthCancel);
                    }
                }
                Err(e) => {
                    run.failed = Some(e);
                    let _ = self.emit(&Command::AuthCancel, Expect::AuthCancel);
                }
            }
            self.auth = Some(run);
            return;
        }
        if code.is_positive() {
            match run.mech.finish() {
                Ok(()) => self.auth_done(name, Ok(reply)),
                Err(e) => {
                    // The server accepted without proving it knows the password (SCRAM):
                    // it may be an impostor. Report and end the session.
                    self.auth_done(name, Err(AuthError::Sasl(e.clone())));
                    self.close(CloseReason::Peer(PeerError::Sasl(e.to_string())), true);
                }
            }
            return;
        }
        let detail = run.mech.take_server_error();
        let permanent = code.is_permanent();
        self.auth_done(name, Err(AuthError::Rejected { reply, detail }));
        if let Some(retry) = run.retry.take()
            && permanent
        {
            self.ops.push_front(retry);
        }
    }

    /// Ends the session: settles every transaction, sends QUIT when `quit` and the
    /// protocol allows it, then closes once the output is flushed.
    fn close(&mut self, reason: CloseReason, quit: bool) {
        if matches!(self.state, State::Closed) {
            return;
        }
        let in_body = matches!(self.state, State::Body(_)) || self.content_end.is_some();
        let failure = match &reason {
            CloseReason::ServiceClosing(r) => Failure::ServiceClosing(r.clone()),
            CloseReason::Usage(UsageError::Aborted) => Failure::Aborted,
            _ => Failure::SessionClosed,
        };
        let ids: Vec<TxId> = self.txs.iter().map(|t| t.id).collect();
        for id in ids {
            if let Some(tx) = self.txs.iter_mut().find(|t| t.id == id) {
                let unknown = tx.dot_sent;
                let f = failure.clone();
                Self::settle(tx, || {
                    if unknown {
                        RcptStatus::Unknown(f.clone())
                    } else {
                        RcptStatus::NotDelivered(f.clone())
                    }
                });
            }
            self.finish_tx(id);
        }
        self.ops.clear();
        self.inflight.clear();
        self.close_reason = Some(reason);
        let can_quit = quit && !in_body && self.state != State::Handshake && self.at_boundary;
        // Drop what was not written yet; keep nothing partial.
        if self.at_boundary {
            self.clear_output();
        }
        if can_quit {
            let _ = Command::Quit.encode(&mut self.out);
            if self.cfg.transcript {
                self.log(TranscriptLine::Sent("QUIT".into()));
            }
        } else if !self.at_boundary {
            self.clear_output();
        }
        if self.unsent() == 0 {
            self.finish_close();
        } else {
            self.state = State::Closing;
        }
    }

    fn finish_close(&mut self) {
        self.state = State::Closed;
        self.clear_output();
        self.boundaries.clear();
        let reason = self.close_reason.clone().unwrap_or(CloseReason::Quit(None));
        self.events.push_back(Event::Closed(reason));
    }
}

/// Decodes a 334 challenge (base64; `=` or nothing for an empty one), refusing oversized or
/// undecodable ones.
fn decode_challenge(text: &[u8]) -> Result<Vec<u8>, SaslError> {
    use base64::Engine as _;
    if text.len() > MAX_CHALLENGE_LEN / 3 * 4 + 4 {
        return Err(SaslError::ChallengeTooLarge {
            len: text.len() / 4 * 3,
            max: MAX_CHALLENGE_LEN,
        });
    }
    if text == b"=" {
        return Ok(Vec::new());
    }
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| SaslError::MalformedChallenge {
            mechanism: "SASL",
            reason: "not base64",
        })
}

#[cfg(test)]
mod tests;
