//! Message content: the DATA and BDAT encoders behind `write_body` and `finish_body`.

use super::*;

/// `write_body_segments` encodes the body in pieces of this many octets ...
pub(super) const SEGMENT_PIECE: usize = 64 * 1024;
/// ... and copies a piece instead when its segments average fewer octets than this.
pub(super) const MIN_SEGMENT: usize = 512;

/// Whether message content is being written, and where it ends on the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Content {
    /// No content is being written.
    Idle,
    /// The caller is supplying content (`finish_body` not called yet).
    Open,
    /// The end of data is queued; the content ends at this absolute output offset.
    Until(u64),
}

/// The encoder of the body being written.
#[derive(Debug)]
pub(super) enum BodyEncoder {
    Data(DataEncoder),
    Bdat(BdatEncoder),
    /// A [`ScannedBody`] written by `write_scanned_body`.
    Scanned(ScannedEncoder),
}

impl BodyEncoder {
    pub(super) fn stats(&self) -> BodyStats {
        match self {
            BodyEncoder::Data(e) => e.stats(),
            BodyEncoder::Bdat(e) => e.stats(),
            BodyEncoder::Scanned(e) => e.stats(),
        }
    }

    /// Whether nothing of the body was taken yet.
    fn is_fresh(&self) -> bool {
        match self {
            BodyEncoder::Data(e) => e.stats().bytes_in == 0,
            BodyEncoder::Bdat(e) => e.stats().bytes_in == 0,
            BodyEncoder::Scanned(_) => false,
        }
    }
}

/// The refusal of `write_body` and friends while a scanned body is being written.
const SCANNED: UsageError =
    UsageError::WrongState("the body is being written by write_scanned_body");

impl Client {
    /// Adds the next chunk of the body of the transaction that asked for it
    /// ([`Action::SupplyBody`]). Returns how many octets were taken: fewer than offered
    /// (possibly 0) when the output buffer is full; write the pending output and call again.
    pub fn write_body(&mut self, chunk: &[u8]) -> Result<usize, UsageError> {
        let id = self.supplying()?;
        if matches!(self.encoder, BodyEncoder::Scanned(_)) {
            return Err(SCANNED);
        }
        let room = self.cfg.max_output.saturating_sub(self.unsent());
        let n = room.min(chunk.len());
        if n == 0 {
            return Ok(0);
        }
        self.start_output();
        match &mut self.encoder {
            BodyEncoder::Data(e) => e.encode(&chunk[..n], &mut self.out.buf),
            BodyEncoder::Bdat(e) => {
                let size = e.chunk_size() as u64;
                let before = e.stats().bytes_out / size;
                e.encode(&chunk[..n], &mut self.out.buf);
                let frames = e.stats().bytes_out / size - before;
                self.frames_queued(id, size, frames);
            }
            BodyEncoder::Scanned(_) => return Err(SCANNED),
        }
        if let Some(e) = self.unsendable_content(id) {
            // Never send undeclared 8-bit content, NUL or over-long lines, and never end a
            // partial message: drop the connection so that nothing is delivered.
            self.clear_output();
            self.close(CloseReason::Usage(e.clone()), false);
            return Err(e);
        }
        Ok(n)
    }

    /// Zero-copy form of [`write_body`](Self::write_body), for vectored writes: instead of
    /// copying the encoded chunk into [`pending_output`](Self::pending_output), appends it
    /// to `segments` as slices of `chunk` and of static storage (the `.` of dot-stuffing,
    /// the CRLF of a bare line ending). Returns how many octets of `chunk` were taken, as
    /// `write_body` does, under the same [`Config::max_output`] bound.
    ///
    /// The segments are output like any other: they are queued before what
    /// [`pending_output`](Self::pending_output) holds (or will hold: the end of data, the
    /// next commands), [`pending_segment_len`](Self::pending_segment_len) counts what is
    /// left of them, and [`consume_output`](Self::consume_output) counts written octets of
    /// the segments first, then of `pending_output`. So the driver writes its segments,
    /// then `pending_output`, typically in one vectored write, and discards the segments
    /// when `pending_segment_len` drops to 0 without its writes (the session failed).
    ///
    /// Every guarantee of `write_body` holds (CRLF normalisation, dot-stuffing, the single
    /// terminator, the 8-bit check, the data-block deadline). The core falls back to
    /// copying, appending nothing to `segments`, where segments would not pay: with BDAT,
    /// while `pending_output` is not empty, and for parts of `chunk` where segments would
    /// be short (many bare line endings or leading dots); what it copies then goes after
    /// the segments, in order. A whole body in memory goes without copying over BDAT too,
    /// and without being scanned again, with
    /// [`write_scanned_body`](Self::write_scanned_body).
    pub fn write_body_segments<'a>(
        &mut self,
        chunk: &'a [u8],
        segments: &mut Vec<&'a [u8]>,
    ) -> Result<usize, UsageError> {
        let id = self.supplying()?;
        if matches!(self.encoder, BodyEncoder::Scanned(_)) {
            return Err(SCANNED);
        }
        if self.out.buf.len() > self.out.start || !matches!(self.encoder, BodyEncoder::Data(_)) {
            return self.write_body(chunk);
        }
        let room = self.cfg.max_output.saturating_sub(self.unsent());
        let n = room.min(chunk.len());
        if n == 0 {
            return Ok(0);
        }
        self.start_output();
        let BodyEncoder::Data(enc) = &mut self.encoder else {
            return Ok(0);
        };
        let first = segments.len();
        let (start, stop) = (
            chunk.as_ptr() as usize,
            chunk.as_ptr() as usize + chunk.len(),
        );
        let mut taken = 0;
        while taken < n {
            let (from, end) = (taken, n.min(taken + SEGMENT_PIECE));
            let piece = &chunk[from..end];
            let saved = enc.clone();
            let before = segments.len();
            let last = segments.last().copied();
            enc.encode_with(piece, |seg| {
                // Runs of `chunk` that touch (across pieces) become one segment.
                if segments.len() > first
                    && let Some(prev) = segments.last_mut()
                {
                    let (p, q) = (prev.as_ptr() as usize, seg.as_ptr() as usize);
                    if p >= start && q == p + prev.len() && q + seg.len() <= stop {
                        let a = p - start;
                        *prev = &chunk[a..a + prev.len() + seg.len()];
                        return;
                    }
                }
                segments.push(seg);
            });
            taken = end;
            if segments.len() - before > piece.len() / MIN_SEGMENT + 1 {
                // Short segments cost more to write than to copy: copy from this piece on,
                // after the segments (no segment may overtake the copied bytes).
                *enc = saved;
                segments.truncate(before);
                if let (Some(l), Some(slot)) = (last, segments.last_mut()) {
                    *slot = l;
                }
                enc.encode(&chunk[from..n], &mut self.out.buf);
                taken = n;
                break;
            }
        }
        self.out.seg_unsent += segments[first..].iter().map(|s| s.len()).sum::<usize>();
        if let Some(e) = self.unsendable_content(id) {
            segments.truncate(first);
            self.clear_output();
            self.close(CloseReason::Usage(e.clone()), false);
            return Err(e);
        }
        Ok(taken)
    }

    /// Why the content of `id` written so far may not be sent: 8-bit octets in a body
    /// declared 7-bit, or (unless the body is `BODY=BINARYMIME`) a NUL or a line over
    /// 1,000 octets (the latter allowed by [`Config::allow_long_lines`]). The encoders
    /// find both in their own pass; a low-level DATA (no transaction here) can never be
    /// BINARYMIME, so it is checked too.
    pub(super) fn unsendable_content(&self, id: TxId) -> Option<UsageError> {
        let stats = self.encoder.stats();
        let body = self.tx(id).map(|t| t.env.body);
        if body == Some(BodyType::SevenBit) && stats.has_8bit {
            return Some(UsageError::Undeclared8Bit);
        }
        if body == Some(BodyType::BinaryMime) {
            return None;
        }
        let violation = stats.violation(self.cfg.allow_long_lines)?;
        Some(UsageError::Body(crate::body::BodyError::NeedsBinaryMime(
            violation,
        )))
    }

    /// Ends the body: the core adds the end of data and waits for the server's verdict.
    pub fn finish_body(&mut self) -> Result<(), UsageError> {
        let manual = matches!(self.state, State::ManualBody(_));
        let id = self.supplying()?;
        self.start_output();
        let (stats, last) = match &mut self.encoder {
            BodyEncoder::Data(e) => (e.finish(&mut self.out.buf), ".".to_owned()),
            BodyEncoder::Bdat(e) => {
                let pending = e.stats().bytes_out % e.chunk_size() as u64;
                (e.finish(&mut self.out.buf), format!("BDAT {pending} LAST"))
            }
            BodyEncoder::Scanned(_) => {
                return Err(UsageError::WrongState(
                    "write_scanned_body ends a scanned body itself",
                ));
            }
        };
        self.content_ended(id, manual, stats, last);
        Ok(())
    }

    /// Writes a whole in-memory body scanned beforehand ([`ScannedBody::new`], the pass
    /// that also tells whether it needs `8BITMIME` or may be sent at all) and ends it:
    /// the zero-copy form of [`write_body`](Self::write_body) followed by
    /// [`finish_body`](Self::finish_body), for DATA and BDAT alike. Returns `Ok(true)` once
    /// the whole body and its end are queued, `Ok(false)` when the output is full (write
    /// the pending output and call again with the same `body`).
    ///
    /// The encoding is appended to `segments` ([`BodySegment`]s: slices of the body and
    /// of static storage, and the BDAT frame headers), which the driver writes before
    /// [`pending_output`](Self::pending_output) exactly as the segments of
    /// [`write_body_segments`](Self::write_body_segments). It is octet for octet what the
    /// copying encoders produce (every guarantee of `write_body` holds: CRLF line ends,
    /// dot-stuffing, the single terminator, BDAT frames of exactly
    /// [`Config::bdat_chunk_size`] octets and the same `BDAT <n> LAST`), computed from
    /// what the scan recorded, so the body is not read again. The whole body is checked
    /// before any of it is queued: 8-bit content in a body declared 7-bit, or a NUL or
    /// over-long line in one not declared `BODY=BINARYMIME`, closes the session (as
    /// `write_body` does) with nothing of it sent. The encoding is copied into
    /// `pending_output` instead, with nothing appended to `segments`, while that holds
    /// output already, or when the body is [dense](ScannedBody::is_dense).
    ///
    /// Each call takes at most [`Config::max_output`] minus what is unsent of the body
    /// (so output is bounded as with `write_body`); the segments it appends are those
    /// octets plus the inserts and frame headers (a `BDAT` header per
    /// [`Config::bdat_chunk_size`] octets: with tiny chunks, mostly headers).
    ///
    /// The body must be given from its start (nothing written with `write_body` before)
    /// and the same `body` on every call; `write_body` and `finish_body` refuse while it
    /// is being written.
    pub fn write_scanned_body<'a>(
        &mut self,
        body: &ScannedBody<'a>,
        segments: &mut Vec<BodySegment<'a>>,
    ) -> Result<bool, UsageError> {
        let manual = matches!(self.state, State::ManualBody(_));
        let id = self.supplying()?;
        match &self.encoder {
            BodyEncoder::Scanned(e) if e.is_for(body) => {}
            BodyEncoder::Scanned(_) => {
                return Err(UsageError::WrongState(
                    "another scanned body is being written",
                ));
            }
            e if !e.is_fresh() => {
                return Err(UsageError::WrongState(
                    "a scanned body must be written from its start",
                ));
            }
            BodyEncoder::Data(_) => self.encoder = BodyEncoder::Scanned(ScannedEncoder::data(body)),
            BodyEncoder::Bdat(e) => {
                let (size, binary) = (e.chunk_size(), !e.stats().normalized);
                self.encoder = BodyEncoder::Scanned(ScannedEncoder::bdat(body, size, binary));
            }
        }
        if let BodyEncoder::Scanned(e) = &self.encoder
            && e.taken() == 0
            && !e.is_done()
            && let Some(err) = self.unsendable_content(id)
        {
            self.clear_output();
            self.close(CloseReason::Usage(err.clone()), false);
            return Err(err);
        }
        let room = self.cfg.max_output.saturating_sub(self.unsent());
        self.start_output();
        let copy = self.out.buf.len() > self.out.start;
        let BodyEncoder::Scanned(enc) = &mut self.encoder else {
            return Ok(false);
        };
        let size = enc.chunk_size();
        let before = enc.payload_out();
        if copy || enc.is_dense() {
            let mut tmp = Vec::new();
            enc.encode(body, room, &mut tmp);
            for s in &tmp {
                self.out.buf.extend_from_slice(s.as_bytes());
            }
        } else {
            let first = segments.len();
            enc.encode(body, room, segments);
            self.out.seg_unsent += segments[first..].iter().map(|s| s.len()).sum::<usize>();
        }
        let (done, stats, after) = (enc.is_done(), enc.stats(), enc.payload_out());
        if let Some(size) = size {
            // Frames whose payload is complete, but the last one (the end of data).
            let full = stats.bytes_out / size;
            let frames = after.min(full * size) / size - before.min(full * size) / size;
            self.frames_queued(id, size, frames);
        }
        if done {
            let last = match size {
                None => ".".to_owned(),
                Some(size) => format!("BDAT {} LAST", stats.bytes_out % size),
            };
            self.content_ended(id, manual, stats, last);
        }
        Ok(done)
    }

    /// `frames` BDAT frames of `size` octets (not the last one) were queued for `id`.
    fn frames_queued(&mut self, id: TxId, size: u64, frames: u64) {
        let end = self.out_end();
        if self.cfg.transcript {
            for _ in 0..frames {
                self.log(TranscriptLine::Sent(format!("BDAT {size}")));
                self.log(TranscriptLine::Content(size));
            }
        }
        for _ in 0..frames {
            self.out.boundaries.push_back(end);
            self.expect_reply(Expect::Bdat(id), end);
        }
        if let Some(tx) = self.txs.get_mut(id) {
            tx.outstanding += frames as usize;
        }
    }

    /// The end of data of `id` is queued: wait for the server's verdict.
    fn content_ended(&mut self, id: TxId, manual: bool, stats: BodyStats, last: String) {
        if self.cfg.transcript {
            self.log(TranscriptLine::Content(stats.bytes_out));
            self.log(TranscriptLine::Sent(last));
        }
        let end = self.out_end();
        self.out.boundaries.push_back(end);
        self.content = Content::Until(end);
        self.state = State::Ready;
        let lmtp = self.cfg.dialect == Dialect::Lmtp;
        if manual {
            self.expect_reply(Expect::ManualEnd, end);
            self.pump();
            return;
        }
        let Some(tx) = self.txs.get_mut(id) else {
            return;
        };
        tx.stage = TxStage::EndQueued { end };
        if lmtp {
            // One verdict per recipient still without a status (the accepted ones), in
            // RCPT order.
            let accepted: Vec<usize> = (0..tx.status.len())
                .filter(|&i| tx.status[i].is_none())
                .collect();
            tx.outstanding += accepted.len();
            for i in accepted {
                self.expect_reply(Expect::EndOfData(id, Some(i)), end);
            }
        } else {
            tx.outstanding += 1;
            self.expect_reply(Expect::EndOfData(id, None), end);
        }
        self.pump();
    }
}
