//! Deadlines: what `poll_timeout` reports and what `handle_timeout` does when one passes.

use std::time::Instant;

use super::*;

impl Client {
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
        let write = (self.content != Content::Idle && self.unsent() > 0)
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

    /// Tells the core that time `now` has come. Closes the session if a deadline passed
    /// (sending only QUIT, and not even that in the middle of message content).
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(deadline) = self.poll_timeout() else {
            return;
        };
        if now < deadline {
            return;
        }
        let writing = self.content != Content::Idle
            && self.unsent() > 0
            && self.body_progress.checked_add(self.cfg.timeouts.data_block) == Some(deadline);
        let phase = if writing || self.body_tx().is_some() {
            Phase::DataBlock
        } else {
            self.inflight
                .front()
                .map_or(Phase::Other, |p| p.expect.phase())
        };
        self.close(CloseReason::Timeout(phase), true);
    }
}
