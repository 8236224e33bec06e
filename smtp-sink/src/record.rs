//! The shared, thread-safe record of what the sink received.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::Hasher;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters kept for every message, whether or not content is recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connections accepted.
    pub sessions: u64,
    /// Messages (transactions) answered with 250 at the end of data (LMTP: at least one
    /// recipient accepted), plus those recorded as received before a fault cut the reply.
    pub messages: u64,
    /// Content octets of those messages (as sent on the wire, dot-stuffing included).
    pub bytes: u64,
    /// Transactions refused at the end of data (4xx/5xx, or a 421 close).
    pub refused: u64,
    /// Messages received whose final reply never reached the client (reset or close
    /// after the end of data, or a stall): "may have been delivered" for the client.
    pub unanswered: u64,
    /// Faults of the [`FaultPlan`](crate::FaultPlan) that fired.
    pub faults: u64,
    /// Connections on which at least one fault fired.
    pub faulted_sessions: u64,
}

/// Content octets kept per message for [`Record::messages`]; the rest is dropped and the
/// message marked [`truncated`](Received::truncated).
pub const KEEP_LIMIT: usize = 1 << 20;

/// A delivered message kept whole (see [`Config::keep_messages`](crate::Config::keep_messages)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Received {
    /// The `MAIL FROM` address (without angle brackets; empty for the null path).
    pub mail_from: String,
    /// The recipients the message was delivered to (without angle brackets).
    pub recipients: Vec<String>,
    /// The content as the client meant it: DATA dot-unstuffed (CRLF line ends as sent),
    /// BDAT as sent; at most [`KEEP_LIMIT`] octets.
    pub content: Vec<u8>,
    /// The content was longer than [`KEEP_LIMIT`].
    pub truncated: bool,
    /// Sent with BDAT rather than DATA.
    pub bdat: bool,
    /// Over TLS (implicit or after STARTTLS).
    pub tls: bool,
    /// The user the session authenticated as, if it did.
    pub auth_user: Option<String>,
}

#[derive(Default)]
struct Inner {
    /// (message key, recipient) -> deliveries.
    delivered: HashMap<(String, String), u32>,
    /// message key -> refusals at the end of data.
    refused: HashMap<String, u32>,
    /// message keys received without their final reply reaching the client.
    unanswered: Vec<String>,
    /// The last messages kept whole.
    kept: VecDeque<Received>,
}

/// What the sink received: counters always; per message (keyed by its `Message-ID`
/// header, or by a hash of the content when it has none) and recipient, how many times
/// it was delivered, when recording is on. Shared between the sink's threads and the
/// caller; every method takes `&self`.
#[derive(Default)]
pub struct Record {
    sessions: AtomicU64,
    messages: AtomicU64,
    bytes: AtomicU64,
    refused: AtomicU64,
    unanswered: AtomicU64,
    faults: AtomicU64,
    faulted_sessions: AtomicU64,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Record {
    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        Stats {
            sessions: self.sessions.load(Ordering::Relaxed),
            messages: self.messages.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            unanswered: self.unanswered.load(Ordering::Relaxed),
            faults: self.faults.load(Ordering::Relaxed),
            faulted_sessions: self.faulted_sessions.load(Ordering::Relaxed),
        }
    }

    /// Deliveries per (message key, recipient): a count above 1 is a duplicate.
    pub fn deliveries(&self) -> BTreeMap<(String, String), u32> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.delivered.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// Delivered message keys with, for each, the highest delivery count over its
    /// recipients (1 = delivered once to every recipient that got it).
    pub fn delivered_messages(&self) -> BTreeMap<String, u32> {
        let mut out = BTreeMap::new();
        for ((id, _), n) in self.deliveries() {
            let e = out.entry(id).or_insert(0);
            *e = (*e).max(n);
        }
        out
    }

    /// The (message key, recipient) pairs delivered more than once, with their counts.
    pub fn duplicates(&self) -> Vec<((String, String), u32)> {
        self.deliveries()
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .collect()
    }

    /// Refusals at the end of data per message key.
    pub fn refused(&self) -> BTreeMap<String, u32> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.refused.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// Keys of messages received (and recorded as delivered) whose final reply never
    /// reached the client, in arrival order.
    pub fn unanswered(&self) -> Vec<String> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.unanswered.clone()
    }

    /// The last delivered messages kept whole, oldest first (none unless
    /// [`Config::keep_messages`](crate::Config::keep_messages) is set).
    pub fn messages(&self) -> Vec<Received> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.kept.iter().cloned().collect()
    }

    /// Forgets everything recorded so far (counters included).
    pub fn clear(&self) {
        for c in [
            &self.sessions,
            &self.messages,
            &self.bytes,
            &self.refused,
            &self.unanswered,
            &self.faults,
            &self.faulted_sessions,
        ] {
            c.store(0, Ordering::Relaxed);
        }
        *self.inner.lock().unwrap_or_else(|e| e.into_inner()) = Inner::default();
    }

    pub(crate) fn session(&self) {
        self.sessions.fetch_add(1, Ordering::Relaxed);
    }

    /// A fault fired; `first` when it is the first on its connection.
    pub(crate) fn fault(&self, first: bool) {
        self.faults.fetch_add(1, Ordering::Relaxed);
        if first {
            self.faulted_sessions.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn delivered(
        &self,
        key: Option<String>,
        rcpts: &[String],
        bytes: u64,
        unanswered: bool,
    ) {
        self.messages.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        if unanswered {
            self.unanswered.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(key) = key {
            let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            for r in rcpts {
                *g.delivered.entry((key.clone(), r.clone())).or_insert(0) += 1;
            }
            if unanswered {
                g.unanswered.push(key);
            }
        }
    }

    /// Keeps `r`, dropping the oldest beyond `max`.
    pub(crate) fn keep(&self, r: Received, max: usize) {
        if max == 0 {
            return;
        }
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        while g.kept.len() >= max {
            g.kept.pop_front();
        }
        g.kept.push_back(r);
    }

    pub(crate) fn refused_one(&self, key: Option<String>) {
        self.refused.fetch_add(1, Ordering::Relaxed);
        if let Some(key) = key {
            let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            *g.refused.entry(key).or_insert(0) += 1;
        }
    }
}

/// Per-transaction capture of the content: size always; when recording, the header (to
/// find `Message-ID`) and a hash of the content (used as the key when there is none).
pub(crate) struct Capture {
    record: bool,
    pub(crate) size: u64,
    header: Vec<u8>,
    header_done: bool,
    message_id: Option<String>,
    hasher: std::collections::hash_map::DefaultHasher,
    /// The content kept whole (when keeping), and whether it went past [`KEEP_LIMIT`].
    kept: Option<Vec<u8>>,
    truncated: bool,
}

/// The header is searched for `Message-ID` in its first this many octets.
const HEADER_LIMIT: usize = 64 * 1024;

impl Capture {
    pub(crate) fn new(record: bool, keep: bool) -> Self {
        Capture {
            record,
            size: 0,
            header: Vec::new(),
            header_done: false,
            message_id: None,
            hasher: Default::default(),
            kept: keep.then(Vec::new),
            truncated: false,
        }
    }

    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        self.size += bytes.len() as u64;
        if let Some(k) = &mut self.kept {
            // Room for the dots that unstuffing removes later.
            let room = (KEEP_LIMIT + KEEP_LIMIT / 64).saturating_sub(k.len());
            self.truncated |= bytes.len() > room;
            k.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
        if !self.record || bytes.is_empty() {
            return;
        }
        if self.header_done {
            if self.message_id.is_none() {
                self.hasher.write(bytes);
            }
            return;
        }
        self.hasher.write(bytes);
        let from = self.header.len().saturating_sub(3);
        let take = bytes.len().min(HEADER_LIMIT - self.header.len());
        self.header.extend_from_slice(&bytes[..take]);
        let end = memchr::memmem::find(&self.header[from..], b"\r\n\r\n").map(|p| from + p);
        if end.is_some() || self.header.len() >= HEADER_LIMIT {
            self.header_done = true;
            let h = &self.header[..end.unwrap_or(self.header.len())];
            self.message_id = find_message_id(h);
            self.header = Vec::new();
        }
    }

    /// The key of the message (None when not recording).
    pub(crate) fn key(&mut self) -> Option<String> {
        if !self.record {
            return None;
        }
        if !self.header_done {
            self.message_id = find_message_id(&self.header);
        }
        Some(match &self.message_id {
            Some(id) => id.clone(),
            None => format!("hash:{:016x}", self.hasher.finish()),
        })
    }
}

impl Capture {
    /// The kept content (DATA content dot-unstuffed when `dotted`), capped at
    /// [`KEEP_LIMIT`], and whether it was cut.
    pub(crate) fn take_kept(&mut self, dotted: bool) -> Option<(Vec<u8>, bool)> {
        let raw = self.kept.take()?;
        let mut out = if dotted { unstuff(&raw) } else { raw };
        let truncated = self.truncated || out.len() > KEEP_LIMIT;
        out.truncate(KEEP_LIMIT);
        Some((out, truncated))
    }
}

/// Removes the leading dot of every line that starts with one (RFC 5321 §4.5.2).
fn unstuff(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut line_start = true;
    for &b in raw {
        if !(line_start && b == b'.') {
            out.push(b);
        }
        line_start = b == b'\n';
    }
    out
}

/// The (unfolded, trimmed) value of the first `Message-ID` field of a header.
fn find_message_id(header: &[u8]) -> Option<String> {
    let mut lines = header.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() >= 11 && line[..11].eq_ignore_ascii_case(b"message-id:") {
            let mut v = line[11..].to_vec();
            while let Some(next) = lines.peek() {
                if next.first().is_some_and(|&b| b == b' ' || b == b'\t') {
                    let next = lines.next().unwrap_or_default();
                    v.extend_from_slice(next.strip_suffix(b"\r").unwrap_or(next));
                } else {
                    break;
                }
            }
            let s = String::from_utf8_lossy(&v).trim().to_owned();
            return (!s.is_empty()).then_some(s);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_id_found_across_feeds_and_folded() {
        let msg = b"From: a@b\r\nMessage-Id:\r\n <x1@y>\r\nTo: c@d\r\n\r\nbody\r\n";
        for split in 0..msg.len() {
            let mut c = Capture::new(true, false);
            c.feed(&msg[..split]);
            c.feed(&msg[split..]);
            assert_eq!(c.key().as_deref(), Some("<x1@y>"), "split {split}");
            assert_eq!(c.size, msg.len() as u64);
        }
    }

    #[test]
    fn kept_content_is_unstuffed_and_capped() {
        let mut c = Capture::new(false, true);
        c.feed(b"Subject: x\r\n\r\n..dot\r\n");
        c.feed(b".\r\nend\r\n");
        let (k, cut) = c.take_kept(true).unwrap();
        assert_eq!(k, b"Subject: x\r\n\r\n.dot\r\n\r\nend\r\n");
        assert!(!cut);
        let mut big = Capture::new(false, true);
        big.feed(&vec![b'a'; KEEP_LIMIT + 10]);
        let (k, cut) = big.take_kept(false).unwrap();
        assert_eq!((k.len(), cut), (KEEP_LIMIT, true));
        assert!(Capture::new(false, false).take_kept(true).is_none());
    }

    #[test]
    fn no_message_id_means_content_hash() {
        let mut a = Capture::new(true, false);
        a.feed(b"Subject: x\r\n\r\nbody one\r\n");
        let mut b = Capture::new(true, false);
        b.feed(b"Subject: x\r\n\r\nbody two\r\n");
        let (ka, kb) = (a.key().unwrap_or_default(), b.key().unwrap_or_default());
        assert!(ka.starts_with("hash:"));
        assert_ne!(ka, kb);
    }
}
