//! Per-recipient results of a transaction.

use smtp_proto::session::{CloseReason, Failure, RcptStatus, Stage, TxOutcome};

use smtp_proto::Reply;

use crate::error::Error;

/// What happened to one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipientResult {
    /// The recipient address (without angle brackets).
    pub recipient: String,
    /// Whether the server accepted the message for this recipient.
    pub accepted: bool,
    /// The reply that decided it: the end-of-data reply when accepted (LMTP: this
    /// recipient's own), else the refusal; `None` when the session failed first.
    pub reply: Option<Reply>,
    /// The core's full verdict (stage of a refusal, or why there is no verdict).
    pub status: RcptStatus,
}

/// The result of one transaction: every recipient, in envelope order, with its reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendReport {
    /// The reply to MAIL FROM.
    pub mail_reply: Option<Reply>,
    /// The reply to DATA (the 354 or a refusal).
    pub data_reply: Option<Reply>,
    /// One entry per recipient.
    pub recipients: Vec<RecipientResult>,
    /// The core's verdict: the whole message may be sent again on a new connection
    /// without being delivered twice (nothing accepted or unknown; every recipient
    /// failed with a 421, or the connection died before the end of data). See
    /// [`TxOutcome::is_retry_safe`].
    pub retry_safe: bool,
}

impl SendReport {
    /// Builds the report of a finished transaction; `close` is the session's close
    /// reason, if it closed.
    pub fn from_outcome(o: &TxOutcome, close: Option<&CloseReason>) -> SendReport {
        let recipients = o
            .recipients
            .iter()
            .map(|r| {
                let reply = match &r.status {
                    RcptStatus::Accepted(rep)
                    | RcptStatus::Refused(_, rep)
                    | RcptStatus::Deferred(_, rep) => Some(rep.clone()),
                    _ => r.rcpt_reply.clone(),
                };
                RecipientResult {
                    recipient: r.recipient.inner_str().to_owned(),
                    accepted: r.status.is_accepted(),
                    reply,
                    status: r.status.clone(),
                }
            })
            .collect();
        SendReport {
            mail_reply: o.mail_reply.clone(),
            data_reply: o.data_reply.clone(),
            recipients,
            retry_safe: o.is_retry_safe(close),
        }
    }

    /// Whether at least one recipient was accepted.
    pub fn any_accepted(&self) -> bool {
        self.recipients.iter().any(|r| r.accepted)
    }

    /// The accepted recipients.
    pub fn accepted(&self) -> impl Iterator<Item = &RecipientResult> {
        self.recipients.iter().filter(|r| r.accepted)
    }

    /// The recipients not accepted (smtplib's `sendmail` return value).
    pub fn refused(&self) -> impl Iterator<Item = &RecipientResult> {
        self.recipients.iter().filter(|r| !r.accepted)
    }
}

/// Maps a finished transaction to smtplib's outcome: the report when at least one
/// recipient was accepted, otherwise the error that explains why none was.
pub(crate) fn classify(
    o: &TxOutcome,
    sender: &str,
    close: Option<&CloseReason>,
) -> Result<SendReport, Error> {
    let report = SendReport::from_outcome(o, close);
    if report.any_accepted() {
        return Ok(report);
    }
    if o.sender_refused() {
        let reply = report.mail_reply.clone().expect("refused MAIL has a reply");
        return Err(Error::SenderRefused {
            reply,
            sender: sender.to_owned(),
            report: Box::new(report),
        });
    }
    // A failure without a server verdict: the session's own error says why; after the
    // end of data was sent, wrapped to say that the message may have been accepted.
    for r in &o.recipients {
        if let RcptStatus::NotDelivered(f) | RcptStatus::Unknown(f) = &r.status {
            let cause = match f {
                Failure::Usage(u) => u.clone().into(),
                Failure::ServiceClosing(rep) => Error::ServiceClosing(rep.clone()),
                _ => close.map_or(
                    Error::Usage(smtp_proto::session::UsageError::Closed),
                    Error::from_close,
                ),
            };
            if matches!(r.status, RcptStatus::Unknown(_)) {
                return Err(Error::DeliveryUnknown {
                    source: Box::new(cause),
                    report: Box::new(report),
                });
            }
            return Err(cause);
        }
    }
    let at_rcpt = o.recipients.iter().all(|r| {
        matches!(
            r.status,
            RcptStatus::Refused(Stage::Rcpt, _) | RcptStatus::Deferred(Stage::Rcpt, _)
        )
    });
    if at_rcpt {
        return Err(Error::RecipientsRefused(Box::new(report)));
    }
    let reply = report
        .recipients
        .iter()
        .find_map(|r| match &r.status {
            RcptStatus::Refused(s, _) | RcptStatus::Deferred(s, _) if *s != Stage::Rcpt => {
                r.reply.clone()
            }
            _ => None,
        })
        .or_else(|| report.data_reply.clone())
        .expect("a refusal after RCPT has a reply");
    Err(Error::DataRefused {
        reply,
        report: Box::new(report),
    })
}
