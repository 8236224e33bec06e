//! The messages the scenarios send. Each has `Date` and `Message-ID` (so no server adds
//! its own) and a unique token in the Message-ID and Subject, to find it in the store.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A token unique to this process and call.
pub fn token(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{tag}.{}.{}.{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn headers(token: &str, from: &str, to: &str, subject: &str) -> String {
    format!(
        "Date: Sat, 28 Nov 2026 12:00:00 +0000\r\n\
         Message-ID: <{token}@test.example>\r\n\
         From: <{from}>\r\n\
         To: <{to}>\r\n\
         Subject: {subject} {token}\r\n"
    )
}

/// Plain 7-bit text, CRLF throughout.
pub fn plain(token: &str, from: &str, to: &str) -> Vec<u8> {
    format!(
        "{}\r\nHello, this is {token}.\r\n\r\nA second paragraph.\r\n",
        headers(token, from, to, "plain")
    )
    .into_bytes()
}

/// An 8-bit (UTF-8 and Latin-1 octets) body, declared `Content-Transfer-Encoding: 8bit`.
pub fn eight_bit(token: &str, from: &str, to: &str) -> Vec<u8> {
    let mut m = headers(token, from, to, "8bit").into_bytes();
    m.extend_from_slice(
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
          Content-Transfer-Encoding: 8bit\r\n\r\n",
    );
    m.extend_from_slice("Grüße aus Köln, ça va? Ωμέγα ✓ 日本語\r\n".as_bytes());
    m.extend_from_slice(b"octets \xe9\xe8\xff\x80 (not UTF-8)\r\n");
    m
}

/// Lines starting with dots (dot-stuffing) and bare LF line ends (the client sends them as
/// CRLF), including a lone "." line and a final line without a line end.
pub fn dots_and_bare_lf(token: &str, from: &str, to: &str) -> Vec<u8> {
    let mut m = headers(token, from, to, "dots").into_bytes();
    m.extend_from_slice(
        b"\r\n.a line starting with a dot\n..two dots\r\n.\n\
          a bare LF line\nmixed\r\n.\r\n...\nlast line without a line end",
    );
    m
}

/// At least `len` octets: headers, then 76-column lines.
pub fn big(token: &str, from: &str, to: &str, len: usize) -> Vec<u8> {
    let mut m = headers(token, from, to, "big").into_bytes();
    m.extend_from_slice(b"\r\n");
    let line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ab\r\n";
    let mut n = 0u32;
    while m.len() < len {
        if n.is_multiple_of(1000) {
            // A dot line now and then: stuffing in a big body too.
            m.extend_from_slice(b".dot line\r\n");
        }
        m.extend_from_slice(line);
        n += 1;
    }
    m
}

/// A message with a UTF-8 sender and UTF-8 headers (SMTPUTF8).
pub fn utf8(token: &str, from: &str, to: &str) -> Vec<u8> {
    format!(
        "Date: Sat, 28 Nov 2026 12:00:00 +0000\r\nMessage-ID: <{token}@test.example>\r\n\
         From: Jörg <{from}>\r\nTo: <{to}>\r\nSubject: grüße {token}\r\n\r\nÇa marche ✓\r\n"
    )
    .into_bytes()
}
