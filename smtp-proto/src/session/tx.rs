//! Mail transactions: the envelope, each recipient's status, and how MAIL, RCPT and DATA
//! go out.

use std::ops::{Deref, DerefMut};

use super::*;

/// How far a transaction has gone on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TxStage {
    /// Queued: nothing sent yet.
    Queued,
    /// MAIL sent; this many recipients sent so far.
    Envelope {
        /// Recipients sent so far.
        next_rcpt: usize,
    },
    /// DATA sent (or BDAT content started): the content may follow.
    Data,
    /// The end of data (the final `.`, the lone dot or `BDAT LAST`) was queued, ending at
    /// this absolute output offset: a session lost from now on leaves the outcome unknown
    /// (unless a write error proves that the end of data never left).
    EndQueued {
        /// Where the end of data ends on the output.
        end: u64,
    },
}

#[derive(Debug)]
pub(super) struct Tx {
    pub(super) id: TxId,
    pub(super) env: Envelope,
    pub(super) mail_reply: Option<Reply>,
    pub(super) data_reply: Option<Reply>,
    pub(super) rcpt_replies: Vec<Option<Reply>>,
    pub(super) status: Vec<Option<RcptStatus>>,
    pub(super) stage: TxStage,
    smtputf8: bool,
    /// Send the content with BDAT (CHUNKING) rather than DATA.
    pub(super) bdat: bool,
    pub(super) accepted: usize,
    /// Replies still owed to this transaction.
    pub(super) outstanding: usize,
}

impl Tx {
    pub(super) fn mail_ok(&self) -> bool {
        self.mail_reply.as_ref().is_some_and(Reply::is_positive)
    }
}

/// The open transactions, in queue order, found by id.
#[derive(Debug, Default)]
pub(super) struct TxTable(VecDeque<Tx>);

impl TxTable {
    /// The position of transaction `id`.
    pub(super) fn index_of(&self, id: TxId) -> Option<usize> {
        self.0.iter().position(|t| t.id == id)
    }

    /// Transaction `id`.
    pub(super) fn get(&self, id: TxId) -> Option<&Tx> {
        self.0.iter().find(|t| t.id == id)
    }

    /// Transaction `id`, to update.
    pub(super) fn get_mut(&mut self, id: TxId) -> Option<&mut Tx> {
        self.0.iter_mut().find(|t| t.id == id)
    }

    /// Removes transaction `id`.
    pub(super) fn take(&mut self, id: TxId) -> Option<Tx> {
        let i = self.index_of(id)?;
        self.0.remove(i)
    }

    /// The ids of every open transaction, in queue order.
    pub(super) fn ids(&self) -> Vec<TxId> {
        self.0.iter().map(|t| t.id).collect()
    }
}

impl Deref for TxTable {
    type Target = VecDeque<Tx>;
    fn deref(&self) -> &VecDeque<Tx> {
        &self.0
    }
}

impl DerefMut for TxTable {
    fn deref_mut(&mut self) -> &mut VecDeque<Tx> {
        &mut self.0
    }
}

impl Client {
    /// Queues a transaction. The body is asked for with [`Action::SupplyBody`] once the
    /// server is ready for it; the result comes as [`Event::TransactionDone`].
    pub fn send_mail(&mut self, env: Envelope) -> Result<TxId, UsageError> {
        self.check_open()?;
        if env.recipients.is_empty() {
            return Err(UsageError::NoRecipients);
        }
        let id = self.new_tx_id();
        let n = env.recipients.len();
        self.txs.push_back(Tx {
            id,
            env,
            mail_reply: None,
            data_reply: None,
            rcpt_replies: vec![None; n],
            status: vec![None; n],
            stage: TxStage::Queued,
            smtputf8: false,
            bdat: false,
            accepted: 0,
            outstanding: 0,
        });
        self.ops.push_back(Op::Tx(id));
        self.pump();
        Ok(id)
    }

    pub(super) fn tx(&self, id: TxId) -> Option<&Tx> {
        self.txs.get(id)
    }

    /// Advances transaction `id` (the front operation). Returns whether the next operation
    /// may be looked at now.
    pub(super) fn pump_tx(&mut self, id: TxId) -> bool {
        let Some(ti) = self.txs.index_of(id) else {
            self.ops.pop_front();
            return true;
        };
        if self.txs[ti].stage == TxStage::Queued {
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
            tx.stage = TxStage::Envelope { next_rcpt: 0 };
            tx.outstanding += 1;
        }
        // Without pipelining, RCPT waits for a positive MAIL reply.
        if !self.pipelining() && !self.txs[ti].mail_ok() {
            return false;
        }
        while let TxStage::Envelope { next_rcpt: i } = self.txs[ti].stage
            && i < self.txs[ti].env.recipients.len()
        {
            if !self.can_send(false) {
                return false;
            }
            let tx = &self.txs[ti];
            let (to, params) = &tx.env.recipients[i];
            let cmd = Command::Rcpt {
                to: to.clone(),
                params: params.clone(),
                smtputf8: tx.smtputf8,
            };
            let res = self.emit(&cmd, Expect::Rcpt(id, i));
            let tx = &mut self.txs[ti];
            tx.stage = TxStage::Envelope { next_rcpt: i + 1 };
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
            tx.stage = TxStage::Data;
            let size = self.cfg.bdat_chunk_size;
            self.encoder = BodyEncoder::Bdat(if tx.env.body == BodyType::BinaryMime {
                BdatEncoder::binary(size)
            } else {
                BdatEncoder::new(size)
            });
            self.state = State::Body(id);
            self.write_progress = self.last_now;
            self.content = Content::Open;
            return false;
        }
        let _ = self.emit(&Command::Data, Expect::Data(id));
        let tx = &mut self.txs[ti];
        tx.stage = TxStage::Data;
        tx.outstanding += 1;
        self.ops.pop_front();
        true
    }

    /// Capability checks before MAIL; fills in SIZE, SMTPUTF8 and BODY.
    pub(super) fn check_tx(&mut self, ti: usize) -> Result<(), UsageError> {
        let caps = self.caps.clone();
        let helo_only = self.helo_only;
        let drop_dsn = self.cfg.drop_unsupported_dsn;
        let encrypted = self.encrypted;
        let tx = &mut self.txs[ti];
        let env = &mut tx.env;
        let has = |f: fn(&Capabilities) -> bool| caps.as_ref().is_some_and(f);
        if helo_only {
            // After HELO no ESMTP parameter may be sent (smtplib ignores them): the typed
            // ones the caller asked for are an error, the free-form ones are dropped.
            env.mail_params.extra.clear();
            for (_, p) in env.recipients.iter_mut() {
                p.extra.clear();
            }
            if let Some(ext) = esmtp_only(&env.mail_params) {
                return Err(UsageError::NotAdvertised(ext));
            }
        }
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
        if env.mail_params.requiretls {
            if !has(Capabilities::require_tls) {
                return Err(UsageError::NotAdvertised("REQUIRETLS"));
            }
            // RFC 8689 §4.2.1: a REQUIRETLS message travels only over TLS, even if a
            // plaintext server (wrongly) offers the extension.
            if !encrypted {
                return Err(UsageError::RequireTlsUnencrypted);
            }
        }
        // RFC 4954 §5: no AUTH= on MAIL unless the server offers AUTH.
        if env.mail_params.auth.is_some() && !has(Capabilities::auth) {
            return Err(UsageError::NotAdvertised("AUTH"));
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

    pub(super) fn finish_tx(&mut self, id: TxId) {
        let Some(tx) = self.txs.take(id) else {
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
    pub(super) fn settle(tx: &mut Tx, status: impl Fn() -> RcptStatus) {
        for s in tx.status.iter_mut() {
            if s.is_none() {
                *s = Some(status());
            }
        }
    }

    /// A refusal at RCPT: as [`Self::refusal`], but a 552 with enhanced status 5.5.3
    /// ("too many recipients", RFC 3463) is temporary (RFC 5321 §4.5.3.1.10): the
    /// recipient is deferred, to be sent in another transaction.
    pub(super) fn rcpt_refusal(reply: &Reply) -> RcptStatus {
        let too_many = reply.code().get() == 552
            && reply
                .enhanced()
                .is_some_and(|e| e.class == 5 && e.subject == 5 && e.detail == 3);
        if too_many {
            RcptStatus::Deferred(Stage::Rcpt, reply.clone())
        } else {
            Self::refusal(Stage::Rcpt, reply)
        }
    }

    pub(super) fn refusal(stage: Stage, reply: &Reply) -> RcptStatus {
        if reply.is_transient() {
            RcptStatus::Deferred(stage, reply.clone())
        } else {
            RcptStatus::Refused(stage, reply.clone())
        }
    }
}

/// The extension a MAIL parameter of the caller needs, for those that the checks below do
/// not already refuse without capabilities (SMTPUTF8, BODY=8BITMIME/BINARYMIME from the
/// body type, DSN, REQUIRETLS), or that they would drop silently (SIZE).
fn esmtp_only(p: &crate::command::MailParams) -> Option<&'static str> {
    if p.size.is_some() {
        Some("SIZE")
    } else if let Some(body) = p.body {
        Some(match body {
            Body::BinaryMime => "BINARYMIME",
            _ => "8BITMIME",
        })
    } else if p.auth.is_some() {
        Some("AUTH")
    } else if p.mt_priority.is_some() {
        Some("MT-PRIORITY")
    } else if p.future_release.is_some() {
        Some("FUTURERELEASE")
    } else if p.by.is_some() {
        Some("DELIVERBY")
    } else {
        None
    }
}
