//! Envelopes from smtplib-style arguments, and the bookkeeping of a pipelined batch of
//! messages: which queued transaction is which message, and each one's result.

use std::collections::VecDeque;

use smtp_proto::body::{BodyError, ScannedBody};
use smtp_proto::command::{ForwardPath, MailParams, RcptParams, ReversePath};
use smtp_proto::session::{BodyType, Client, CloseReason, Envelope, TxId, TxOutcome, UsageError};

use crate::error::Error;
use crate::report::SendReport;

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
///
/// ```
/// let env = smtp_client::envelope("alice@example.org", &["bob@example.net"])?;
/// assert_eq!(env.recipients.len(), 1);
/// # Ok::<(), smtp_client::Error>(())
/// ```
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

/// smtplib's `sendmail` envelope: `from` to each of `to` (bare or in angle brackets),
/// with `mail_options` on MAIL and `rcpt_options` on every RCPT.
pub fn sendmail_envelope(
    from: &str,
    to: &[&str],
    mail_options: MailParams,
    rcpt_options: RcptParams,
) -> Result<Envelope, Error> {
    let mut env = envelope(from, to)?;
    set_options(&mut env, mail_options, rcpt_options);
    Ok(env)
}

fn set_options(env: &mut Envelope, mail_options: MailParams, rcpt_options: RcptParams) {
    env.mail_params = mail_options;
    for (_, p) in &mut env.recipients {
        *p = rcpt_options.clone();
    }
}

/// [`message_envelope`] with smtplib's `send_message(mail_options=..., rcpt_options=...)`:
/// `mail_options` on MAIL and `rcpt_options` on every RCPT.
///
/// ```
/// use smtp_client::proto::command::{MailParams, RcptParams, Ret};
///
/// let msg = b"From: a@example.org\r\nTo: b@example.net\r\n\r\nHi\r\n";
/// let mut mail = MailParams::default();
/// mail.ret = Some(Ret::Hdrs);
/// let (env, _content) =
///     smtp_client::message_envelope_with(msg, None, None, mail, RcptParams::default())?;
/// assert_eq!(env.mail_params.ret, Some(Ret::Hdrs));
/// # Ok::<(), smtp_client::Error>(())
/// ```
pub fn message_envelope_with(
    message: &[u8],
    from: Option<&str>,
    to: Option<&[&str]>,
    mail_options: MailParams,
    rcpt_options: RcptParams,
) -> Result<(Envelope, Vec<u8>), Error> {
    let (mut env, content) = message_envelope(message, from, to)?;
    set_options(&mut env, mail_options, rcpt_options);
    Ok((env, content))
}

/// smtplib's `send_message` envelope and content: the envelope from the headers of
/// `message` (see [`extract_envelope`](crate::extract_envelope)) unless `from` / `to` are
/// given, and the content without `Bcc`/`Resent-Bcc` and `Return-Path` (RFC 5321 §4.4).
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
    Ok((envelope(from, &rcpts)?, x.content))
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
    /// declared, 8-bit content in a body declared 7-bit is declared `BODY=8BITMIME`, and
    /// a body that is not `BODY=BINARYMIME` holding a NUL or (unless
    /// [`Config::allow_long_lines`](smtp_proto::session::Config::allow_long_lines)) a
    /// line over 1,000 octets is refused with [`UsageError::Body`] before MAIL, the
    /// session untouched. The body is scanned once for all three
    /// ([`ScannedBody`]); [`queue_scanned`](Self::queue_scanned) keeps that scan for
    /// the send ([`Feeds::push_scanned`](crate::Feeds::push_scanned)).
    pub fn queue(
        &mut self,
        core: &mut Client,
        index: usize,
        env: Envelope,
        bytes: Option<&[u8]>,
    ) -> Result<TxId, UsageError> {
        let scanned = bytes.map(ScannedBody::new);
        self.queue_scanned(core, index, env, scanned.as_ref())
    }

    /// Queues message `index` with `core` (as [`queue_scanned`](Self::queue_scanned))
    /// and hands its body to `feeds`: a body in memory is scanned once, for the checks
    /// before MAIL and for the send ([`Feeds::push_scanned`](crate::Feeds::push_scanned)).
    pub(crate) fn queue_body<'b, R: ?Sized>(
        &mut self,
        core: &mut Client,
        feeds: &mut crate::Feeds<'b, R>,
        index: usize,
        env: Envelope,
        body: crate::Body<'b, R>,
    ) -> Result<TxId, UsageError> {
        let scanned = body.bytes().map(ScannedBody::new);
        let tx = self.queue_scanned(core, index, env, scanned.as_ref())?;
        match scanned {
            Some(b) => feeds.push_scanned(tx, b),
            None => feeds.push(tx, body),
        }
        Ok(tx)
    }

    /// [`queue`](Self::queue) for a body in memory scanned already: the one pass over
    /// it ([`ScannedBody::new`]) decides `BODY=8BITMIME` and the refusal here, and then
    /// the encoding ([`Client::write_scanned_body`]), which does not read it again.
    pub fn queue_scanned(
        &mut self,
        core: &mut Client,
        index: usize,
        mut env: Envelope,
        body: Option<&ScannedBody<'_>>,
    ) -> Result<TxId, UsageError> {
        if let Some(b) = body {
            env.size_hint = Some(b.bytes().len() as u64);
            let binary = env.body == BodyType::BinaryMime;
            if env.body == BodyType::SevenBit && b.eight_bit() {
                env.body = BodyType::EightBitMime;
            }
            if let Some(v) = b.violation(core.config().allow_long_lines)
                && !binary
            {
                return Err(UsageError::Body(BodyError::NeedsBinaryMime(v)));
            }
        }
        let sender = env.from.inner_str().to_owned();
        let tx = core.send_mail(env)?;
        self.queued.push_back((tx, index, sender));
        Ok(tx)
    }

    /// A finished transaction of this batch: its id, message index and result (`None`
    /// if it is not one of ours). `close` is the session's close reason; `cause` the
    /// driver's own error when the connection failed (an I/O error the core only knows as
    /// "the connection failed").
    pub fn settle(
        &mut self,
        o: &TxOutcome,
        close: Option<&CloseReason>,
        cause: Option<&Error>,
    ) -> Option<(TxId, usize, Result<SendReport, Error>)> {
        let p = self.queued.iter().position(|q| q.0 == o.tx)?;
        let (tx, i, sender) = self.queued.remove(p)?;
        let r = crate::report::classify(o, &sender, close);
        Some((tx, i, with_cause(r, cause)))
    }
}

/// A transaction result with the driver's own error `cause` (the I/O error or timeout that
/// ended the connection) as the reason, where the core only knows that the connection
/// failed: a message whose end of data was sent stays [`Error::DeliveryUnknown`].
pub fn with_cause(
    r: Result<SendReport, Error>,
    cause: Option<&Error>,
) -> Result<SendReport, Error> {
    let Some(cause) = cause else { return r };
    match r {
        Err(Error::DeliveryUnknown { source, report })
            if matches!(*source, Error::Usage(UsageError::Closed)) =>
        {
            Err(Error::DeliveryUnknown {
                source: Box::new(cause.copy()),
                report,
            })
        }
        Err(Error::Usage(UsageError::Closed)) => Err(cause.copy()),
        r => r,
    }
}
