//! The end of a session: EOF, I/O errors, aborts and closing with every transaction settled.

use std::time::Instant;

use super::*;

impl Client {
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

    /// The connection failed at `now` (the driver saw an I/O error, or gave up on a TLS
    /// handshake). The session closes at once: transactions whose end of data was sent end
    /// as [`RcptStatus::Unknown`], the others as not delivered.
    pub fn handle_io_error(&mut self, _now: Instant) {
        if self.state != State::Closed {
            self.clear_output();
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
        let failure = match &reason {
            CloseReason::ServiceClosing(r) => Failure::ServiceClosing(r.clone()),
            CloseReason::Usage(UsageError::Aborted) => Failure::Aborted,
            _ => Failure::SessionClosed,
        };
        let ids = self.txs.ids();
        for id in ids {
            if let Some(tx) = self.txs.get_mut(id) {
                let unknown = tx.stage == TxStage::EndSent;
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

    pub(super) fn finish_close(&mut self) {
        self.state = State::Closed;
        self.clear_output();
        self.boundaries.clear();
        let reason = self.close_reason.clone().unwrap_or(CloseReason::Quit(None));
        self.events.push_back(Event::Closed(reason));
    }
}
