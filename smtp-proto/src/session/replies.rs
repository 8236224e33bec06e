//! Server input: framing replies and matching each to the command it answers.

use std::time::Instant;

use super::*;

impl Client {
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
        self.last_now = self.last_now.max(now);
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
            let was_body = self.body_tx().is_some();
            self.on_reply(reply, now);
            if self.write_failed() {
                self.drain_step(was_body);
            }
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

    /// Why the session closes on a reply to content not wholly written: a protocol
    /// violation, unless a write error already showed that the server stopped reading
    /// (then the connection failed, or the server said it closes the service).
    fn early_reply_reason(&self, reply: Reply) -> CloseReason {
        if !self.write_failed() {
            CloseReason::Peer(PeerError::UnexpectedReply {
                code: reply.code().get(),
            })
        } else if reply.code() == ReplyCode::SERVICE_NOT_AVAILABLE {
            CloseReason::ServiceClosing(reply)
        } else {
            CloseReason::Transport
        }
    }

    pub(super) fn wrong_code(&mut self, phase: Phase, code: ReplyCode) {
        self.close(
            CloseReason::Peer(PeerError::WrongCode {
                phase,
                code: code.get(),
            }),
            true,
        );
    }

    pub(super) fn on_reply(&mut self, reply: Reply, now: Instant) {
        if self.cfg.transcript {
            self.log(TranscriptLine::Received(reply.clone()));
        }
        if let Some(id) = self.body_tx()
            && self.inflight.is_empty()
        {
            // A verdict while the content is still being written.
            if let Some(tx) = self.txs.get_mut(id) {
                let status = Self::refusal(Stage::DuringContent, &reply);
                let status = if reply.is_positive() {
                    RcptStatus::NotDelivered(Failure::Aborted)
                } else {
                    status
                };
                Self::settle(tx, || status.clone());
            }
            self.clear_output();
            let reason = self.early_reply_reason(reply);
            self.close(reason, false);
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
                && let Some(tx) = self.txs.get_mut(id)
            {
                let st = Self::refusal(Stage::DuringContent, &reply);
                Self::settle(tx, || st.clone());
            }
            let reason = self.early_reply_reason(reply);
            self.close(reason, true);
            return;
        }
        self.head_since = now;
        let code = reply.code();
        let phase = head.expect.phase();
        if code.is_intermediate()
            && !matches!(
                head.expect,
                Expect::Data(_) | Expect::Auth | Expect::ManualData(_)
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
                    // RFC 3207 §4.2: forget everything learnt before TLS (kept aside for
                    // the caller to show, never used for a decision).
                    self.state = State::Handshake;
                    self.caps_before_tls = self.caps.take();
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
                if let Some(tx) = self.txs.get_mut(id) {
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
                if let Some(tx) = self.txs.get_mut(id) {
                    tx.outstanding = tx.outstanding.saturating_sub(1);
                    if code.is_positive() {
                        if tx.mail_ok() {
                            tx.accepted += 1;
                        }
                    } else if tx.status[i].is_none() {
                        tx.status[i] = Some(Self::rcpt_refusal(&reply));
                    }
                    tx.rcpt_replies[i] = Some(reply);
                }
            }
            Expect::Data(id) => self.on_data_reply(id, reply, now),
            Expect::LoneDot(id) => {
                if let Some(tx) = self.txs.get_mut(id) {
                    tx.outstanding = tx.outstanding.saturating_sub(1);
                    let st = Self::refusal(Stage::EndOfData, &reply);
                    Self::settle(tx, || st.clone());
                    if tx.outstanding == 0 {
                        self.finish_tx(id);
                    }
                }
            }
            Expect::EndOfData(id, idx) => {
                if let Some(tx) = self.txs.get_mut(id) {
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
                if let Some(tx) = self.txs.get_mut(id) {
                    tx.outstanding = tx.outstanding.saturating_sub(1);
                    if !code.is_positive() {
                        // RFC 3030 §4.2: the server drops the rest of the transaction.
                        let st = Self::refusal(Stage::Data, &reply);
                        Self::settle(tx, || st.clone());
                        tx.data_reply = Some(reply.clone());
                        self.need_rset = true;
                        if self.state == State::Body(id) {
                            self.state = State::Ready;
                            self.content = Content::Idle;
                        }
                    }
                    if tx.outstanding == 0 && self.state != State::Body(id) {
                        self.finish_tx(id);
                    }
                }
            }
            Expect::SilentRset => {}
            Expect::ManualData(id) => {
                if code == ReplyCode::START_MAIL_INPUT {
                    self.state = State::ManualBody(id);
                    self.write_progress = now;
                    self.content = Content::Open;
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
            Expect::Health(probe) => {
                let healthy = code.is_positive();
                if healthy && probe == HealthProbe::Rset {
                    self.need_rset = false;
                }
                self.events.push_back(Event::Health {
                    healthy,
                    reply: reply.clone(),
                });
                if !healthy && closing.is_none() {
                    // The connection must not be reused: QUIT and close.
                    self.close(CloseReason::Unhealthy(reply), true);
                    return;
                }
            }
        }
        if let Some(reply) = closing
            && !matches!(self.state, State::Closed | State::Closing)
        {
            self.close(CloseReason::ServiceClosing(reply), false);
        }
    }

    pub(super) fn on_hello(&mut self, expect: Expect, reply: Reply) {
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
            && code.get() >= 400;
        if fallback {
            self.events.push_back(Event::HeloFallback(reply));
            let cmd = Command::Helo(self.cfg.client_name.clone());
            let _ = self.emit(&cmd, Expect::Helo);
        } else if code.is_positive() {
            self.wrong_code(expect.phase(), code);
        } else {
            self.close(CloseReason::Refused(reply), true);
        }
    }

    pub(super) fn become_ready(&mut self) {
        self.state = State::Ready;
        self.events.push_back(Event::Ready);
    }

    pub(super) fn on_data_reply(&mut self, id: TxId, reply: Reply, now: Instant) {
        let code = reply.code();
        let Some(tx) = self.txs.get_mut(id) else {
            return;
        };
        tx.outstanding = tx.outstanding.saturating_sub(1);
        tx.data_reply = Some(reply.clone());
        if code == ReplyCode::START_MAIL_INPUT {
            if tx.accepted == 0 || !tx.mail_ok() {
                // RFC 2920 §3.1: nobody to deliver to, yet the server wants data: send a
                // lone dot, never the body.
                tx.outstanding += 1;
                self.start_output();
                self.out.buf.extend_from_slice(b".\r\n");
                if self.cfg.transcript {
                    self.log(TranscriptLine::Sent(".".into()));
                }
                let end = self.out_end();
                if let Some(tx) = self.txs.get_mut(id) {
                    tx.stage = TxStage::EndQueued { end };
                }
                self.out.boundaries.push_back(end);
                self.expect_reply(Expect::LoneDot(id), end);
            } else {
                self.state = State::Body(id);
                self.write_progress = now;
                self.content = Content::Open;
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
}
