//! The end of a session: EOF, I/O errors, aborts and closing with every transaction settled.

use std::time::Instant;

use super::*;

impl Client {
    /// The connection reached end of stream at `now`.
    pub fn handle_eof(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
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
                if self.write_failed() {
                    // The end of the drain after a write error.
                    self.close(CloseReason::Transport, false);
                    return;
                }
                let phase = match self.state {
                    State::Body(_) | State::ManualBody(_) => Phase::DataBlock,
                    _ => self
                        .inflight
                        .front()
                        .map_or(Phase::Other, |p| p.expect.phase()),
                };
                self.close(CloseReason::Peer(PeerError::UnexpectedEof { phase }), false);
            }
        }
    }

    /// The connection failed at `now`: a read failed, or the driver gave up on a TLS
    /// handshake (for a failed write, call [`handle_write_error`](Self::handle_write_error),
    /// which first reads the replies already on their way). The session closes at once
    /// with [`CloseReason::Transport`]: transactions whose end of data was written
    /// (consumed) end as [`RcptStatus::Unknown`], the others as
    /// [`RcptStatus::NotDelivered`].
    pub fn handle_io_error(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        if self.state != State::Closed {
            self.forget_unwritten_ends();
            self.clear_output();
            self.close(CloseReason::Transport, false);
        }
    }

    /// The output is dropped: an end of data not wholly written never left, and cannot
    /// have been accepted.
    fn forget_unwritten_ends(&mut self) {
        let sent = self.out.sent_total;
        for tx in self.txs.iter_mut() {
            if matches!(tx.stage, TxStage::EndQueued { end } if end > sent) {
                tx.stage = TxStage::Data;
            }
        }
        if matches!(self.content, Content::Until(end) if end > sent) {
            self.content = Content::Open;
        }
    }

    /// A write failed at `now` (EPIPE, ECONNRESET, a TLS write error, ...). The driver calls
    /// this for any failed write, and never writes again: the core drops all unwritten
    /// output ([`pending_output`](Self::pending_output) is empty and
    /// [`pending_segment_len`](Self::pending_segment_len) 0 from now on).
    ///
    /// When replies to commands (or content) already written may still be waiting in the
    /// receive buffer (a server that refuses the content with 550 right after 354 and
    /// closes without reading the rest), the core drains them:
    /// [`next_action`](Self::next_action) is [`Action::Read`] and
    /// [`poll_timeout`](Self::poll_timeout) is `now +` [`Config::write_error_drain`].
    /// Replies read then are handled as usual (the 550 decides the outcome). End of
    /// stream, a read error or the drain deadline ends it: the session closes with
    /// [`CloseReason::Transport`] (or what the replies said, such as a 421), and every
    /// open transaction is settled, its recipients [`RcptStatus::NotDelivered`] if the end
    /// of data was not written, [`RcptStatus::Unknown`] if it was. With nothing awaited
    /// the session closes at once.
    pub fn handle_write_error(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        match self.state {
            State::Closed => return,
            State::Closing => {
                self.writer = Writer::Failed { drain_until: None };
                self.clear_output();
                self.finish_close();
                return;
            }
            _ => {}
        }
        self.writer = Writer::Failed { drain_until: None };
        self.forget_unwritten_ends();
        self.clear_output();
        self.out.boundaries.clear();
        // Replies can still come to what was written, and to content partly written (the
        // server's verdict on it).
        let in_content = self.content != Content::Idle;
        self.inflight.retain(|p| {
            p.sent_at.is_some()
                || (in_content && matches!(p.expect, Expect::EndOfData(..) | Expect::Bdat(_)))
        });
        self.ops.clear();
        if self.awaiting_after_write_error() {
            self.writer = Writer::Failed {
                drain_until: now.checked_add(self.cfg.write_error_drain),
            };
        } else {
            self.close(CloseReason::Transport, false);
        }
    }

    /// After a write error: whether a reply may still come to something written.
    pub(super) fn awaiting_after_write_error(&self) -> bool {
        !self.inflight.is_empty() || self.body_tx().is_some()
    }

    /// After a reply read while draining (`was_body`: content was being supplied before
    /// it): closes the session once nothing more can come, or when the reply asked for
    /// something to be written.
    pub(super) fn drain_step(&mut self, was_body: bool) {
        if matches!(self.state, State::Closed | State::Closing) {
            return;
        }
        let wants_to_write = self.unsent() > 0
            || (self.body_tx().is_some() && !was_body)
            || self.state == State::Handshake;
        if wants_to_write {
            self.clear_output();
            self.inflight.retain(|p| p.sent_at.is_some());
            self.close(CloseReason::Transport, false);
        } else if !self.awaiting_after_write_error() {
            self.close(CloseReason::Transport, false);
        }
    }

    /// Gives up at once: pending transactions end as not delivered (or unknown after their
    /// end of data), QUIT is sent when the protocol allows it, and the session closes.
    pub fn abort(&mut self) {
        if !matches!(self.state, State::Closed | State::Closing) {
            self.close(CloseReason::Usage(UsageError::Aborted), true);
        }
    }

    /// Ends the session: settles every transaction, sends QUIT when `quit` and the
    /// protocol allows it, then closes once the output is flushed.
    pub(super) fn close(&mut self, reason: CloseReason, quit: bool) {
        if matches!(self.state, State::Closed) {
            return;
        }
        let in_body = self.body_tx().is_some() || self.content != Content::Idle;
        let failure = reason.failure();
        let ids = self.txs.ids();
        for id in ids {
            if let Some(tx) = self.txs.get_mut(id) {
                let unknown = matches!(tx.stage, TxStage::EndQueued { .. });
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
        let can_quit = quit
            && !in_body
            && !self.write_failed()
            && self.state != State::Handshake
            && self.out.at_boundary;
        // Drop what was not written yet; keep nothing partial.
        if self.out.at_boundary {
            self.clear_output();
        }
        if can_quit {
            self.start_output();
            let _ = Command::Quit.encode(&mut self.out.buf);
            if self.cfg.transcript {
                self.log(TranscriptLine::Sent("QUIT".into()));
            }
        } else if !self.out.at_boundary {
            self.clear_output();
        }
        if self.unsent() == 0 {
            self.finish_close();
        } else {
            self.state = State::Closing;
        }
    }

    pub(super) fn finish_close(&mut self) {
        self.state = State::Closed;
        self.clear_output();
        self.out.boundaries.clear();
        let reason = self.close_reason.clone().unwrap_or(CloseReason::Quit(None));
        self.events.push_back(Event::Closed(reason));
    }
}
