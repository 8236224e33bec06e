//! Reading delivered messages back from a server's own store, and comparing them with
//! what was sent.

use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Where a server keeps what it accepted.
#[derive(Clone, Debug)]
pub enum Store {
    /// Maildirs `<root>/<local part>/new/` written with LF line ends and trace headers
    /// prepended (Postfix virtual(8), Dovecot LMTP, Exim appendfile, OpenSMTPD
    /// mail.maildir).
    Maildir {
        /// The root.
        root: PathBuf,
    },
    /// aiosmtpd's handler record `<root>/<local part>/new/<name>`: the content exactly as
    /// received after dot-unstuffing (CRLF line ends, nothing prepended).
    Record {
        /// The root.
        root: PathBuf,
    },
}

/// The trace headers a delivery agent may put in front of the message (lower case).
pub const TRACE_HEADERS: &[&str] = &[
    "return-path",
    "delivered-to",
    "x-original-to",
    "received",
    "envelope-to",
    "delivery-date",
];

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// CRLF -> LF.
pub fn lf(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\r' && b.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// What an SMTP client must transmit for `msg`: every line ending CRLF (a bare LF becomes
/// CRLF; a bare CR is left alone) and a final CRLF added if missing. Dot-stuffing is
/// undone by the server, so it is not part of this.
pub fn normalised(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len() + msg.len() / 32);
    let mut prev = 0u8;
    for &b in msg {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

impl Store {
    /// Polls `user`'s folder (delivery may be asynchronous) for the message holding
    /// `token`, for up to `wait`.
    pub fn find(&self, user: &str, token: &str, wait: Duration) -> Option<Vec<u8>> {
        let root = match self {
            Store::Maildir { root } | Store::Record { root } => root,
        };
        let dir = root.join(user).join("new");
        let deadline = Instant::now() + wait;
        loop {
            if let Ok(entries) = std::fs::read_dir(&dir) {
                for e in entries.flatten() {
                    if e.path().extension().is_some_and(|x| x == "env") {
                        continue;
                    }
                    let mut data = Vec::new();
                    if std::fs::File::open(e.path())
                        .and_then(|mut f| f.read_to_end(&mut data))
                        .is_ok()
                        && find(&data[..data.len().min(64 * 1024)], token.as_bytes()).is_some()
                    {
                        return Some(data);
                    }
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Checks that the stored message is exactly `sent` as the client must have sent it
    /// ([`normalised`]), after the trace headers a maildir writer prepends (only
    /// [`TRACE_HEADERS`] may precede it) and with the store's line ends. Returns a short
    /// description of what was prepended.
    pub fn check(&self, stored: &[u8], sent: &[u8]) -> Result<String, String> {
        let want = normalised(sent);
        let (want, maildir) = match self {
            Store::Maildir { .. } => (lf(&want), true),
            Store::Record { .. } => (want, false),
        };
        if !maildir {
            if stored == want {
                return Ok("record identical".into());
            }
            return Err(first_difference(stored, &want));
        }
        if stored.len() < want.len() || stored[stored.len() - want.len()..] != want[..] {
            // Say where it differs, aligned at the end of the prepended headers if we can.
            let at = find(stored, &want[..want.len().min(200)]).unwrap_or(0);
            return Err(first_difference(&stored[at..], &want));
        }
        let at = stored.len() - want.len();
        let prefix = String::from_utf8_lossy(&stored[..at]).into_owned();
        let mut names = Vec::new();
        for line in prefix.lines() {
            if line.starts_with([' ', '\t']) {
                continue;
            }
            let name = line.split(':').next().unwrap_or("").to_ascii_lowercase();
            if !TRACE_HEADERS.contains(&name.as_str()) {
                return Err(format!(
                    "unexpected header {line:?} before the message (prepended: {prefix:?})"
                ));
            }
            names.push(name);
        }
        Ok(format!("identical after {}", names.join(", ")))
    }
}

fn first_difference(got: &[u8], want: &[u8]) -> String {
    let i = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    let show = |b: &[u8]| {
        let s = i.saturating_sub(40);
        String::from_utf8_lossy(&b[s.min(b.len())..(i + 40).min(b.len())]).into_owned()
    };
    format!(
        "stored message differs from the sent one at octet {i} (stored {} octets, \
         expected {}): stored {:?}, expected {:?}",
        got.len(),
        want.len(),
        show(got),
        show(want)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_bare_lf_only() {
        assert_eq!(normalised(b"a\nb\r\nc"), b"a\r\nb\r\nc\r\n");
        assert_eq!(normalised(b"a\r\n"), b"a\r\n");
        assert_eq!(normalised(b"a\rb\n"), b"a\rb\r\n");
    }

    #[test]
    fn maildir_check_allows_trace_headers_only() {
        let s = Store::Maildir { root: "/".into() };
        let sent = b"Subject: x\r\n\r\n.dot\nbody\r\n";
        let stored = b"Return-Path: <a@b>\nReceived: from x\n\tby y\nSubject: x\n\n.dot\nbody\n";
        assert!(s.check(stored, sent).is_ok());
        let bad = b"X-Spam: yes\nSubject: x\n\n.dot\nbody\n";
        assert!(s.check(bad, sent).is_err());
        assert!(s.check(b"Subject: x\n\n.dot\nbodY\n", sent).is_err());
    }

    #[test]
    fn record_check_is_exact() {
        let s = Store::Record { root: "/".into() };
        assert!(s.check(b"a\r\nb\r\n", b"a\nb").is_ok());
        assert!(s.check(b"a\nb\r\n", b"a\nb").is_err());
    }
}
