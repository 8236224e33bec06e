//! The output queue: command and content bytes the driver has not written yet.

use std::time::Instant;

use super::*;

/// The bytes queued for the driver and what is known about their boundaries.
#[derive(Debug)]
pub(super) struct Output {
    /// Output; `buf[start..]` is not written yet.
    pub(super) buf: Vec<u8>,
    pub(super) start: usize,
    /// Octets of body segments handed to the driver by `write_body_segments` and not
    /// consumed yet; on the wire they come before `buf[start..]`.
    pub(super) seg_unsent: usize,
    /// Octets the driver has consumed since the start.
    pub(super) sent_total: u64,
    /// Absolute offsets where commands (or bodies) end, not yet consumed.
    pub(super) boundaries: VecDeque<u64>,
    /// Whether everything consumed so far ends at a command boundary.
    pub(super) at_boundary: bool,
}

impl Default for Output {
    fn default() -> Self {
        Output {
            buf: Vec::new(),
            start: 0,
            seg_unsent: 0,
            sent_total: 0,
            boundaries: VecDeque::new(),
            at_boundary: true,
        }
    }
}

impl Client {
    /// The bytes to write next. Write any prefix, then call
    /// [`consume_output`](Self::consume_output) with its length.
    ///
    /// A driver that uses [`write_body_segments`](Self::write_body_segments) writes the
    /// segments it holds first ([`pending_segment_len`](Self::pending_segment_len) octets
    /// of them): these bytes come after them.
    pub fn pending_output(&self) -> &[u8] {
        &self.out.buf[self.out.start..]
    }

    /// Octets of the body segments handed out by
    /// [`write_body_segments`](Self::write_body_segments) that are not consumed yet: they
    /// go on the wire before [`pending_output`](Self::pending_output). Always 0 for a
    /// driver that does not use segments. When it drops to 0 without the driver having
    /// written them (the session failed or was aborted), the driver discards the segments
    /// it still holds: they must never be written.
    pub fn pending_segment_len(&self) -> usize {
        self.out.seg_unsent
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
        let from_segments = n.min(self.out.seg_unsent);
        self.out.seg_unsent -= from_segments;
        self.out.start += n - from_segments;
        if self.out.start == self.out.buf.len() {
            self.out.buf.clear();
            self.out.start = 0;
        } else if self.out.start >= 64 * 1024 {
            // Compact now and then, not on every partial write.
            self.out.buf.drain(..self.out.start);
            self.out.start = 0;
        }
        self.out.sent_total += n as u64;
        self.write_progress = now;
        self.last_now = self.last_now.max(now);
        self.out.at_boundary = false;
        while let Some(&b) = self.out.boundaries.front() {
            if b > self.out.sent_total {
                break;
            }
            self.out.at_boundary = b == self.out.sent_total;
            self.out.boundaries.pop_front();
        }
        if self.unsent() == 0 {
            self.out.at_boundary = true;
        }
        for p in self.inflight.iter_mut() {
            if p.sent_at.is_none() && p.end <= self.out.sent_total {
                p.sent_at = Some(now);
            }
        }
        if matches!(self.content, Content::Until(end) if end <= self.out.sent_total) {
            self.content = Content::Idle;
        }
        if self.state == State::Closing && self.unsent() == 0 {
            self.finish_close();
        }
    }

    /// Octets queued but not written yet (body segments included).
    pub(super) fn unsent(&self) -> usize {
        self.out.seg_unsent + self.out.buf.len() - self.out.start
    }

    /// The absolute output offset just past the last queued octet.
    pub(super) fn out_end(&self) -> u64 {
        self.out.sent_total + self.unsent() as u64
    }

    /// Drops everything not written yet.
    pub(super) fn clear_output(&mut self) {
        self.out.buf.clear();
        self.out.start = 0;
        self.out.seg_unsent = 0;
    }

    /// Called before appending to the output: when it was empty, the write deadline of
    /// what comes counts from the latest time the driver told.
    pub(super) fn start_output(&mut self) {
        if self.unsent() == 0 {
            self.write_progress = self.last_now;
        }
    }

    /// Appends one command and what it waits for.
    pub(super) fn emit(&mut self, cmd: &Command, expect: Expect) -> Result<(), UsageError> {
        self.start_output();
        cmd.encode(&mut self.out.buf)?;
        if self.cfg.transcript {
            self.log(TranscriptLine::Sent(cmd.redacted().to_string()));
        }
        let end = self.out_end();
        self.out.boundaries.push_back(end);
        self.expect_reply(expect, end);
        Ok(())
    }

    pub(super) fn log(&mut self, line: TranscriptLine) {
        if self.transcript.len() == MAX_TRANSCRIPT {
            self.transcript.pop_front();
        }
        self.transcript.push_back(line);
    }
}
