//! Deadlines: what `poll_timeout` reports and what `handle_timeout` does when one passes.
//!
//! Every state in which the driver waits has a deadline: writing (the phase of what is being
//! written: a command's reply timeout, `data_block` for content, `quit` for the closing
//! QUIT), reading (the phase of the oldest reply awaited) and the drain after a write error
//! (`write_error_drain`). A timeout too large to add to an instant (say `Duration::MAX`)
//! means "no deadline".

use std::time::Instant;

use super::*;

impl Client {
    /// The earliest deadline, if any: call [`handle_timeout`](Self::handle_timeout) when it
    /// passes (early calls do nothing). There is one whenever
    /// [`next_action`](Self::next_action) is [`Action::Write`] or [`Action::Read`] (unless
    /// the configured timeout is too large for an [`Instant`]), so a driver that waits for
    /// I/O at most until this deadline never hangs.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if matches!(
            self.state,
            State::Closed | State::TlsFirst | State::Handshake
        ) {
            return None;
        }
        if let Writer::Failed { drain_until } = self.writer {
            return drain_until;
        }
        let write = self.write_deadline().and_then(|(at, _)| at);
        let read = self.read_deadline();
        match (write, read) {
            (Some(w), Some(r)) => Some(w.min(r)),
            (w, r) => w.or(r),
        }
    }

    /// While output is unwritten: its deadline and the phase it belongs to.
    fn write_deadline(&self) -> Option<(Option<Instant>, Phase)> {
        if self.unsent() == 0 {
            return None;
        }
        let phase = if self.state == State::Closing {
            Phase::Quit
        } else if match self.content {
            Content::Idle => false,
            Content::Open => true,
            Content::Until(end) => self.out.sent_total < end,
        } {
            Phase::DataBlock
        } else {
            self.inflight
                .iter()
                .find(|p| p.sent_at.is_none())
                .map_or(Phase::Other, |p| p.expect.phase())
        };
        let at = self
            .write_progress
            .checked_add(self.cfg.timeouts.for_phase(phase));
        Some((at, phase))
    }

    /// The deadline of the oldest reply awaited, once its command is written.
    fn read_deadline(&self) -> Option<Instant> {
        let head = self.inflight.front()?;
        let start = head.sent_at?.max(self.head_since);
        start.checked_add(self.cfg.timeouts.for_phase(head.expect.phase()))
    }

    /// Tells the core that time `now` has come. Closes the session if a deadline passed:
    /// with [`CloseReason::Timeout`] naming the phase, sending QUIT only when nothing else
    /// was left unwritten (a writer that is stuck gets nothing more to write; the closing
    /// QUIT itself has the `quit` deadline). After a write error, the end of the drain
    /// closes the session with [`CloseReason::Transport`].
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        if let Writer::Failed { drain_until } = self.writer {
            if self.state != State::Closed && drain_until.is_some_and(|d| now >= d) {
                self.close(CloseReason::Transport, false);
            }
            return;
        }
        let Some(deadline) = self.poll_timeout() else {
            return;
        };
        if now < deadline {
            return;
        }
        if self.state == State::Closing {
            // The closing QUIT could not be written in time: give up on it.
            self.clear_output();
            self.finish_close();
            return;
        }
        if let Some((Some(at), phase)) = self.write_deadline()
            && now >= at
        {
            // The writer is stuck: give up on writing.
            self.clear_output();
            self.close(CloseReason::Timeout(phase), false);
            return;
        }
        let phase = if self.body_tx().is_some() {
            Phase::DataBlock
        } else {
            self.inflight
                .front()
                .map_or(Phase::Other, |p| p.expect.phase())
        };
        // Output still unwritten: give up on it, and on QUIT.
        let quit = self.unsent() == 0;
        if !quit {
            self.clear_output();
        }
        self.close(CloseReason::Timeout(phase), quit);
    }
}
