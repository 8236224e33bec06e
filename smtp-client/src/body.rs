//! Message bodies: [`Body`] (in memory or a reader), the per-transaction feed that hands
//! them to the core, and the zero-copy [`Segments`] of in-memory bodies.

use std::io::IoSlice;

use smtp_proto::body::{BodySegment, ScannedBody};
use smtp_proto::session::{Client, TxId, UsageError};

/// A message body: bytes in memory, or a reader of the driver's kind (`R` is
/// `dyn std::io::Read` for the blocking driver, a `futures-io` reader for the async one)
/// streamed in constant memory.
pub enum Body<'a, R: ?Sized> {
    /// In memory: its size is declared (SIZE=) and 8-bit content is declared as
    /// `BODY=8BITMIME`; scanned once ([`ScannedBody`]) and written without copying, over
    /// DATA or BDAT (see [`Segments`]).
    Bytes(&'a [u8]),
    /// Read to the end; declare 8-bit content yourself with
    /// [`Envelope::body`](smtp_proto::session::Envelope::body).
    Reader(&'a mut R),
}

impl<R: ?Sized> std::fmt::Debug for Body<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Bytes(b) => write!(f, "Body::Bytes({} octets)", b.len()),
            Body::Reader(_) => f.write_str("Body::Reader"),
        }
    }
}

impl<'a, R: ?Sized> Body<'a, R> {
    /// The bytes of an in-memory body.
    pub fn bytes(&self) -> Option<&'a [u8]> {
        match self {
            Body::Bytes(b) => Some(b),
            Body::Reader(_) => None,
        }
    }
}

/// Octets read from a body reader at a time.
pub const BODY_CHUNK: usize = 64 * 1024;

/// A body being fed to the core: scanned in memory, or a reader.
enum Source<'a, R: ?Sized> {
    Scanned(Box<ScannedBody<'a>>),
    Reader(&'a mut R),
}

/// A body being fed to the core for one transaction.
struct Feed<'a, R: ?Sized> {
    tx: TxId,
    body: Source<'a, R>,
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
}

/// What [`Feeds::supply`] did.
pub(crate) enum Supplied {
    /// The core took body octets (or the end of the body).
    Fed,
    /// The reader of this feed must be read first (see [`Feeds::reader`]).
    NeedRead(usize),
}

/// The bodies of the transactions in flight, and the zero-copy segments of the
/// in-memory ones.
pub struct Feeds<'a, R: ?Sized> {
    list: Vec<Feed<'a, R>>,
    pub(crate) segs: Segments<'a>,
}

impl<R: ?Sized> Default for Feeds<'_, R> {
    fn default() -> Self {
        Feeds {
            list: Vec::new(),
            segs: Segments::default(),
        }
    }
}

impl<R: ?Sized> std::fmt::Debug for Feeds<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feeds")
            .field("bodies", &self.list.len())
            .field("segs", &self.segs)
            .finish()
    }
}

impl<'a, R: ?Sized> Feeds<'a, R> {
    /// Adds the body of transaction `tx` (an in-memory body is scanned here: see
    /// [`push_scanned`](Self::push_scanned) for one scanned already).
    pub fn push(&mut self, tx: TxId, body: Body<'a, R>) {
        let body = match body {
            Body::Bytes(b) => Source::Scanned(Box::new(ScannedBody::new(b))),
            Body::Reader(r) => Source::Reader(r),
        };
        self.add(tx, body);
    }

    /// Adds the in-memory body of transaction `tx`, scanned by
    /// [`Batch::queue_scanned`](crate::Batch::queue_scanned) or [`ScannedBody::new`].
    pub fn push_scanned(&mut self, tx: TxId, body: ScannedBody<'a>) {
        self.add(tx, Source::Scanned(Box::new(body)));
    }

    fn add(&mut self, tx: TxId, body: Source<'a, R>) {
        self.list.push(Feed {
            tx,
            body,
            buf: Vec::new(),
            pos: 0,
            eof: false,
        });
    }

    /// Forgets the body of transaction `tx` (it is done).
    pub fn remove(&mut self, tx: TxId) {
        self.list.retain(|f| f.tx != tx);
    }

    /// Hands the next piece of `tx`'s body to the core: in-memory bodies as zero-copy
    /// segments, readers from what was read; the end of the body once it is all given.
    pub(crate) fn supply(&mut self, core: &mut Client, tx: TxId) -> Result<Supplied, UsageError> {
        let Some(i) = self.list.iter().position(|f| f.tx == tx) else {
            return Err(UsageError::WrongState("no body for this transaction"));
        };
        let feed = &mut self.list[i];
        match &mut feed.body {
            // The core ends the body itself once it has taken all of it.
            Source::Scanned(b) => {
                self.segs.write_scanned(core, b)?;
            }
            Source::Reader(_) => {
                if feed.pos == feed.buf.len() && !feed.eof {
                    return Ok(Supplied::NeedRead(i));
                }
                let n = core.write_body(&feed.buf[feed.pos..])?;
                feed.pos += n;
                if feed.eof {
                    core.finish_body()?;
                }
            }
        }
        Ok(Supplied::Fed)
    }

    /// The reader of feed `i` and the buffer to read into.
    pub(crate) fn reader(&mut self, i: usize) -> Option<(&mut R, &mut [u8])> {
        let feed = self.list.get_mut(i)?;
        let Source::Reader(r) = &mut feed.body else {
            return None;
        };
        feed.buf.resize(BODY_CHUNK, 0);
        Some((&mut **r, &mut feed.buf[..]))
    }

    /// `n` octets were read into feed `i`'s buffer (0: the end of the body).
    pub(crate) fn read_done(&mut self, i: usize, n: usize) {
        if let Some(feed) = self.list.get_mut(i) {
            feed.buf.truncate(n);
            feed.pos = 0;
            feed.eof = n == 0;
        }
    }
}

/// The zero-copy body segments a driver holds (see
/// [`Client::write_body_segments`]): slices of the caller's in-memory bodies and of the
/// core's static inserts, written with vectored writes before the core's
/// [`pending_output`](Client::pending_output) instead of being copied into it.
#[derive(Debug, Default)]
pub struct Segments<'a> {
    segs: Vec<BodySegment<'a>>,
    /// Reused by [`write_body`](Self::write_body).
    scratch: Vec<&'a [u8]>,
    /// Index of the first segment not fully written.
    next: usize,
    /// Octets of `segs[next..]`.
    held: usize,
}

impl<'a> Segments<'a> {
    /// Most slices per vectored write (Linux takes up to 1024).
    pub const MAX_IOV: usize = 64;

    /// Whether no segment is waiting to be written.
    pub fn is_empty(&self) -> bool {
        self.held == 0
    }

    /// Brings these segments in line with `core` before a write or a new body chunk: drops
    /// them when the core no longer counts any (written, or the session failed: they
    /// must never be written then). An error if the core counts segments this driver does
    /// not hold: writing what follows them would corrupt the message (never happens).
    pub fn sync(&mut self, core: &Client) -> Result<(), UsageError> {
        let owed = core.pending_segment_len();
        if owed == 0 {
            self.clear();
        } else if owed != self.held {
            return Err(UsageError::WrongState("body segments lost"));
        }
        Ok(())
    }

    /// Hands `chunk` (a body in memory) to the core, keeping the segments it returns;
    /// returns how many octets of `chunk` it took.
    pub fn write_body(&mut self, core: &mut Client, chunk: &'a [u8]) -> Result<usize, UsageError> {
        self.sync(core)?;
        self.scratch.clear();
        let n = core.write_body_segments(chunk, &mut self.scratch)?;
        self.held += self.scratch.iter().map(|s| s.len()).sum::<usize>();
        self.segs
            .extend(self.scratch.drain(..).map(BodySegment::Slice));
        Ok(n)
    }

    /// Hands `body` (scanned, in memory) to the core with
    /// [`Client::write_scanned_body`], keeping the segments it returns; `Ok(true)` once
    /// the core has taken all of it and queued its end.
    pub fn write_scanned(
        &mut self,
        core: &mut Client,
        body: &ScannedBody<'a>,
    ) -> Result<bool, UsageError> {
        self.sync(core)?;
        let first = self.segs.len();
        let done = core.write_scanned_body(body, &mut self.segs)?;
        self.held += self.segs[first..].iter().map(|s| s.len()).sum::<usize>();
        Ok(done)
    }

    /// Fills `iov` with what to write next: the segments, then `after` (the core's
    /// pending output) when every segment fit, so the end of data and the next commands
    /// share the write. Returns how many slices were filled.
    pub fn io_slices<'s>(&'s self, after: &'s [u8], iov: &mut [IoSlice<'s>]) -> usize {
        let mut k = 0;
        for s in &self.segs[self.next..] {
            if k + 1 >= iov.len() {
                break;
            }
            iov[k] = IoSlice::new(s.as_bytes());
            k += 1;
        }
        if self.next + k == self.segs.len() && !after.is_empty() && k < iov.len() {
            iov[k] = IoSlice::new(after);
            k += 1;
        }
        k
    }

    /// `n` octets were written (and consumed by the core): segments first.
    pub fn advance(&mut self, n: usize) {
        let mut n = n.min(self.held);
        self.held -= n;
        while n > 0 {
            let Some(s) = self.segs.get_mut(self.next) else {
                break;
            };
            if n < s.len() {
                s.advance(n);
                break;
            }
            n -= s.len();
            self.next += 1;
        }
        if self.held == 0 {
            self.clear();
        }
    }

    /// Forgets every segment.
    pub fn clear(&mut self) {
        self.segs.clear();
        self.next = 0;
        self.held = 0;
    }
}
