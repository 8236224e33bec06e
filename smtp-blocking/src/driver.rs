//! Building blocks shared by every driver of the core that speaks this crate's API
//! (this crate's [`SmtpClient`](crate::SmtpClient) and `smtp-async`'s): turning
//! [`Options`] into the core's [`Config`], the outcome of a transaction into the
//! smtplib-style result, a closed session into its [`Error`], the SCRAM nonce and the
//! transcript text. None of them touches I/O.

use std::io::{self, IoSlice};
use std::net::IpAddr;

use smtp_proto::command::{Domain, MailParams, RcptParams};
use std::collections::VecDeque;

use smtp_proto::session::{
    BodyType, Client, CloseReason, Config, Envelope, Event, TranscriptLine, TxId, TxOutcome,
    UsageError,
};

use crate::client::{Options, default_client_name};
use crate::error::Error;
use crate::report::SendReport;
pub use crate::transport::tcp_socket;

/// The core configuration for `opts`: the EHLO name is [`Options::helo_name`] or, when
/// unset, [`default_client_name`] of the `local` address; `transcript` turns on the core's
/// transcript.
pub fn core_config(
    opts: &Options,
    local: Option<IpAddr>,
    transcript: bool,
) -> Result<Config, Error> {
    let name = match &opts.helo_name {
        Some(n) => Domain::parse(n).map_err(|e| Error::InvalidInput(format!("HELO name: {e}")))?,
        None => default_client_name(local),
    };
    let mut cfg = Config::new(name);
    cfg.dialect = opts.dialect;
    cfg.tls = opts.tls;
    cfg.timeouts = opts.timeouts;
    cfg.allow_plaintext_auth = opts.allow_plaintext_auth;
    cfg.allow_helo_fallback = opts.allow_helo_fallback;
    cfg.transcript = transcript;
    Ok(cfg)
}

/// smtplib's verdict on a finished transaction: the report when at least one recipient
/// was accepted, otherwise the error that explains why none was (`sender` names the
/// envelope sender in [`Error::SenderRefused`]; `close` is the session's close reason).
pub fn transaction_result(
    o: &TxOutcome,
    sender: &str,
    close: Option<&CloseReason>,
) -> Result<SendReport, Error> {
    crate::report::classify(o, sender, close)
}

/// The error a closed session stands for.
pub fn close_error(reason: Option<&CloseReason>) -> Error {
    match reason {
        Some(r) => Error::from_close(r),
        None => Error::Usage(smtp_proto::session::UsageError::Closed),
    }
}

/// 32 random octets, base64: the SCRAM client nonce.
pub fn sasl_nonce() -> Result<String, Error> {
    use base64::Engine as _;
    let mut b = [0u8; 32];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut b)
        .map_err(|_| Error::Io(io::Error::other("no secure random source")))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(b))
}

/// Most transcript lines a client keeps for `take_transcript` (the oldest half goes when
/// it is reached), so a long-lived connection that records a transcript nobody takes
/// stays bounded.
pub const MAX_TRANSCRIPT_LINES: usize = 2048;

/// Appends a transcript line, keeping at most [`MAX_TRANSCRIPT_LINES`].
pub fn push_capped(t: &mut Vec<String>, line: String) {
    if t.len() >= MAX_TRANSCRIPT_LINES {
        t.drain(..MAX_TRANSCRIPT_LINES / 2);
    }
    t.push(line);
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

/// A transaction result with the driver's own error `cause` (the I/O error or timeout that
/// ended the connection) as the reason, where the core only knows that the connection
/// failed: a message whose end of data was sent stays [`Error::DeliveryUnknown`].
pub fn with_cause(r: Result<SendReport, Error>, cause: &Error) -> Result<SendReport, Error> {
    match r {
        Err(Error::DeliveryUnknown { report, .. }) => Err(Error::DeliveryUnknown {
            source: Box::new(copy_error(cause)),
            report,
        }),
        Err(Error::Usage(UsageError::Closed)) => Err(copy_error(cause)),
        r => r,
    }
}

/// A copy of a connection-level error (I/O errors are not `Clone`).
pub fn copy_error(e: &Error) -> Error {
    match e {
        Error::Io(x) => Error::Io(io::Error::new(x.kind(), x.to_string())),
        Error::Timeout(p) => Error::Timeout(*p),
        Error::Tls(x) => Error::Tls(io::Error::new(x.kind(), x.to_string())),
        _ => Error::Usage(UsageError::Closed),
    }
}

/// The bookkeeping of a pipelined batch of messages (`send_all`): which queued
/// transaction is which message, with at most [`Batch::WINDOW`] queued at once, and the
/// smtplib-style result of each when the core reports it done.
#[derive(Debug, Default)]
pub struct Batch {
    queued: VecDeque<(TxId, usize, String)>,
}

impl Batch {
    /// Transactions queued ahead: the next one is queued before the previous one's
    /// end-of-data reply, so the end of data shares a write with the next MAIL/RCPT/DATA.
    pub const WINDOW: usize = 2;

    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Whether another message may be queued now.
    pub fn has_room(&self) -> bool {
        self.queued.len() < Self::WINDOW
    }

    /// Whether no transaction is waiting for its outcome.
    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }

    /// Queues message `index` with `core`. For a body in memory (`bytes`) its size is
    /// declared, and 8-bit content in a body declared 7-bit is declared `BODY=8BITMIME`.
    pub fn queue(
        &mut self,
        core: &mut Client,
        index: usize,
        mut env: Envelope,
        bytes: Option<&[u8]>,
    ) -> Result<TxId, UsageError> {
        if let Some(b) = bytes {
            env.size_hint = Some(b.len() as u64);
            // `is_ascii` checks a word at a time; `iter().any` went byte by byte (40% of
            // the client's CPU on 1 MiB messages).
            if env.body == BodyType::SevenBit && !b.is_ascii() {
                env.body = BodyType::EightBitMime;
            }
        }
        let sender = env.from.inner_str().to_owned();
        let tx = core.send_mail(env)?;
        self.queued.push_back((tx, index, sender));
        Ok(tx)
    }

    /// A finished transaction of this batch: its id, message index and result (`None`
    /// if it is not one of ours). `close` is the session's close reason.
    pub fn settle(
        &mut self,
        o: &TxOutcome,
        close: Option<&CloseReason>,
    ) -> Option<(TxId, usize, Result<SendReport, Error>)> {
        let p = self.queued.iter().position(|q| q.0 == o.tx)?;
        let (tx, i, sender) = self.queued.remove(p)?;
        Some((tx, i, transaction_result(o, &sender, close)))
    }

    /// Reports every transaction of this batch that `events` say is done, removing those
    /// events; returns the ids of the finished transactions (their bodies can go).
    pub fn settle_events(
        &mut self,
        events: &mut VecDeque<Event>,
        close: Option<&CloseReason>,
        on_done: &mut dyn FnMut(usize, Result<SendReport, Error>),
    ) -> Vec<TxId> {
        let mut done = Vec::new();
        while let Some(ev) = events.pop_front() {
            if let Event::TransactionDone(o) = ev
                && let Some((tx, i, r)) = self.settle(&o, close)
            {
                done.push(tx);
                on_done(i, r);
            }
        }
        done
    }

    /// The connection failed with `cause`: reports every transaction the core settled, so
    /// that a message whose end of data was sent says "may have been accepted"
    /// ([`Error::DeliveryUnknown`]), not a bare I/O error.
    pub fn settle_failed(
        &mut self,
        core: &mut Client,
        cause: &Error,
        on_done: &mut dyn FnMut(usize, Result<SendReport, Error>),
    ) {
        while let Some(ev) = core.poll_event() {
            if let Event::TransactionDone(o) = ev
                && let Some((_, i, r)) = self.settle(&o, core.close_reason())
            {
                on_done(i, with_cause(r, cause));
            }
        }
    }
}

/// The zero-copy body segments a driver holds (see
/// [`Client::write_body_segments`]): slices of the caller's in-memory bodies and of the
/// core's static inserts, written with vectored writes before the core's
/// [`pending_output`](Client::pending_output) instead of being copied into it.
#[derive(Debug, Default)]
pub struct Segments<'a> {
    segs: Vec<&'a [u8]>,
    /// Index of the first segment not fully written.
    next: usize,
    /// Octets of `segs[next..]`.
    held: usize,
}

impl<'a> Segments<'a> {
    /// Most slices per vectored write (Linux takes up to 1024).
    pub const MAX_IOV: usize = 64;

    /// Whether no segment is waiting to be written.
    pub fn is_empty(&self) -> bool {
        self.held == 0
    }

    /// Brings these segments in line with `core` before a write or a new body chunk: drops
    /// them when the core no longer counts any (written, or the session failed: they
    /// must never be written then). An error if the core counts segments this driver does
    /// not hold: writing what follows them would corrupt the message (never happens).
    pub fn sync(&mut self, core: &Client) -> Result<(), UsageError> {
        let owed = core.pending_segment_len();
        if owed == 0 {
            self.clear();
        } else if owed != self.held {
            return Err(UsageError::WrongState("body segments lost"));
        }
        Ok(())
    }

    /// Hands `chunk` (a body in memory) to the core, keeping the segments it returns;
    /// returns how many octets of `chunk` it took.
    pub fn write_body(&mut self, core: &mut Client, chunk: &'a [u8]) -> Result<usize, UsageError> {
        self.sync(core)?;
        let first = self.segs.len();
        let n = core.write_body_segments(chunk, &mut self.segs)?;
        self.held += self.segs[first..].iter().map(|s| s.len()).sum::<usize>();
        Ok(n)
    }

    /// Fills `iov` with what to write next: the segments, then `after` (the core's
    /// pending output) when every segment fit, so the end of data and the next commands
    /// share the write. Returns how many slices were filled.
    pub fn io_slices<'s>(&'s self, after: &'s [u8], iov: &mut [IoSlice<'s>]) -> usize {
        let mut k = 0;
        for s in &self.segs[self.next..] {
            if k + 1 >= iov.len() {
                break;
            }
            iov[k] = IoSlice::new(s);
            k += 1;
        }
        if self.next + k == self.segs.len() && !after.is_empty() && k < iov.len() {
            iov[k] = IoSlice::new(after);
            k += 1;
        }
        k
    }

    /// `n` octets were written (and consumed by the core): segments first.
    pub fn advance(&mut self, n: usize) {
        let mut n = n.min(self.held);
        self.held -= n;
        while n > 0 {
            let Some(s) = self.segs.get_mut(self.next) else {
                break;
            };
            if n < s.len() {
                *s = &s[n..];
                break;
            }
            n -= s.len();
            self.next += 1;
        }
        if self.held == 0 {
            self.clear();
        }
    }

    /// Forgets every segment.
    pub fn clear(&mut self) {
        self.segs.clear();
        self.next = 0;
        self.held = 0;
    }
}

/// smtplib's `sendmail` envelope: `from` to each of `to` (bare or in angle brackets),
/// with `mail_options` on MAIL and `rcpt_options` on every RCPT.
pub fn sendmail_envelope(
    from: &str,
    to: &[&str],
    mail_options: MailParams,
    rcpt_options: RcptParams,
) -> Result<Envelope, Error> {
    let mut env = crate::client::envelope(from, to)?;
    env.mail_params = mail_options;
    for (_, p) in &mut env.recipients {
        *p = rcpt_options.clone();
    }
    Ok(env)
}

/// smtplib's `send_message` envelope and content: the envelope from the headers of
/// `message` (see [`extract_envelope`](crate::extract_envelope)) unless `from` / `to` are
/// given, and the content without `Bcc`/`Resent-Bcc`.
pub fn message_envelope(
    message: &[u8],
    from: Option<&str>,
    to: Option<&[&str]>,
) -> Result<(Envelope, Vec<u8>), Error> {
    let x = crate::message::extract_envelope(message)?;
    let from = from.unwrap_or(&x.from);
    let rcpts: Vec<&str> = match to {
        Some(t) => t.to_vec(),
        None => x.recipients.iter().map(String::as_str).collect(),
    };
    Ok((crate::client::envelope(from, &rcpts)?, x.content))
}

/// The result of a one-message `send_all`: the message's own result when it got one
/// (even when the session then failed: it may say "may have been accepted"), else the
/// session's error, else `closed` (the session ended without a word on it).
pub fn single_result(
    result: Option<Result<SendReport, Error>>,
    run: Result<(), Error>,
    closed: impl FnOnce() -> Error,
) -> Result<SendReport, Error> {
    match (result, run) {
        (Some(res), _) => res,
        (None, Err(e)) => Err(e),
        (None, Ok(())) => Err(closed()),
    }
}
