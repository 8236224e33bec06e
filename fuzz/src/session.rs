//! `session`: the whole client core driven by a script of server bytes, chunkings,
//! timeouts, EOFs, TLS completions, I/O errors and caller commands.
//!
//! The input is read front to back. The first byte picks the configuration:
//!
//! - bits 0-1: TLS policy (`Never`, `Opportunistic`, `Required`, `Implicit`);
//! - bit 2: LMTP instead of SMTP;
//! - bit 3: allow credentials over plaintext;
//! - bits 4-5: output buffer cap (64, 512, 4096, 64 KiB);
//! - bits 6-7: BDAT chunk size (1, 16, 1024, 64 KiB).
//!
//! Then each step is a tag byte `t` and its arguments (`t % 16` picks the step):
//!
//! | `t % 16` | step |
//! |---|---|
//! | 0-3 | server bytes: a length byte `n` then `n` raw octets (`handle_input`) |
//! | 4-6 | a canned server reply: index byte into [`REPLIES`] |
//! | 7 | the driver writes `k` octets of pending output (next byte; 255 = all) |
//! | 8 | end of stream |
//! | 9 | time passes: to the next deadline (or by the next byte in seconds) |
//! | 10 | TLS handshake done (whether or not it was asked for) |
//! | 11 | queue a transaction: next byte = recipients (low 3 bits), BDAT (bit 3), body type (bits 4-5), size hint (bit 6), DSN (bit 7) |
//! | 12 | body: a length byte `n` then `n` octets to `write_body`, or with bit 4 of `t` set to `write_body_segments` (the driver then holds the segments and writes them before the pending output), or with bit 5 set as a whole scanned body to `write_scanned_body` (again with the same body on later such steps until it is taken whole; it ends the body) |
//! | 13 | `finish_body` |
//! | 14 | a caller command: next byte picks NOOP, RSET, VRFY, HELP, QUIT, login, abort, raw, EHLO, HELO, low-level DATA, low-level MAIL, health check (NOOP or RSET), login with a 400-octet password (its initial response deferred to the empty 334) |
//! | 15 | a read error (`handle_io_error`), or with bit 4 of `t` set a write error (`handle_write_error`) |
//!
//! Properties (a violation panics):
//! - no panic, and the core's output buffer stays bounded;
//! - with TLS required (or implicit), nothing but EHLO, STARTTLS and QUIT is written
//!   before the handshake: no MAIL, no AUTH;
//! - the output is CRLF lines (no bare CR or LF) unless BDAT was used (its frames are
//!   opaque octets);
//! - every queued transaction ends with exactly one outcome, every recipient with exactly
//!   one status, once the session is closed (the harness closes it at the end);
//! - `Event::Closed` comes exactly once, and nothing after it;
//! - whenever the core asks to write or read, `poll_timeout` gives a deadline;
//! - after a write error, nothing is ever to be written again;
//! - a message whose content holds a NUL or a line over 1,000 octets is never ended
//!   (`finish_body` succeeds) unless it is `BODY=BINARYMIME`: `write_body` refuses it with
//!   `UsageError::Body`, dropping the output and closing the session.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use smtp_proto::body::{ScannedBody, check_body};
use smtp_proto::command::{Domain, ForwardPath, Mechanism, ReversePath};
use smtp_proto::sasl::Credentials;
use smtp_proto::session::{
    Action, BodyType, Client, Config, Dialect, Envelope, Event, HealthProbe, TlsPolicy, TxId,
    UsageError,
};

/// Canned server replies, indexed by a script byte (modulo the length).
pub const REPLIES: &[&[u8]] = &[
    b"220 mx.example ESMTP\r\n",
    b"250-mx.example\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-DSN\r\n250-CHUNKING\r\n250-BINARYMIME\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256\r\n",
    b"250-mx.example\r\n250 AUTH PLAIN\r\n",
    b"250 ok\r\n",
    b"250 2.1.5 ok\r\n",
    b"354 go ahead\r\n",
    b"220 2.0.0 ready to start TLS\r\n",
    b"235 2.7.0 ok\r\n",
    b"334 VXNlcm5hbWU6\r\n",
    b"334 \r\n",
    b"334 !!!\r\n",
    b"421 4.3.2 closing\r\n",
    b"452 4.5.3 too many recipients\r\n",
    b"451 4.3.0 try later\r\n",
    b"550 5.1.1 no such user\r\n",
    b"552 5.3.4 too big\r\n",
    b"554 5.7.1 no\r\n",
    b"500 what\r\n",
    b"502 not implemented\r\n",
    b"503 bad sequence\r\n",
    b"221 bye\r\n",
    b"250-first\r\n251 second\r\n",
    b"250 ok\n",
    b"220 go\r\n250 injected\r\n",
    b"250-mx.example\r\n250-PIPELINING\r\n250 CHUNKING\r\n",
];

struct Script<'a>(&'a [u8]);

impl Script<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
}

/// Runs one script; panics when a property does not hold.
pub fn session(data: &[u8]) {
    let mut s = Script(data);
    let c = s.byte().unwrap_or(0);
    let tls = [
        TlsPolicy::Never,
        TlsPolicy::Opportunistic,
        TlsPolicy::Required,
        TlsPolicy::Implicit,
    ][usize::from(c & 3)];
    let mut cfg = Config::new(Domain::parse("client.example").expect("valid domain"));
    cfg.tls = tls;
    cfg.dialect = if c & 4 != 0 {
        Dialect::Lmtp
    } else {
        Dialect::Smtp
    };
    cfg.allow_plaintext_auth = c & 8 != 0;
    cfg.max_output = [64, 512, 4096, 65536][usize::from((c >> 4) & 3)];
    cfg.bdat_chunk_size = [1, 16, 1024, 65536][usize::from(c >> 6)];
    let max_output = cfg.max_output;
    let start = Instant::now();
    let mut now = start;
    let mut client = Client::new(cfg, now);

    let mut written: Vec<u8> = Vec::new();
    // The body segments the driver holds (a copy of their bytes).
    let mut held: Vec<u8> = Vec::new();
    let mut queued: HashMap<TxId, usize> = HashMap::new();
    // The body type of each queued transaction, and the content it took so far.
    let mut body_types: HashMap<TxId, BodyType> = HashMap::new();
    let mut content: HashMap<TxId, Vec<u8>> = HashMap::new();
    let mut outcomes: HashMap<TxId, usize> = HashMap::new();
    let mut closed = 0usize;
    let mut chunked = false;
    // The scanned body being written by `write_scanned_body` (kept until taken whole: the
    // core knows it by address), and whether one was used (BDAT headers then make the
    // segments larger than the body octets they carry).
    let mut scanned_body: Option<Vec<u8>> = None;
    let mut scanned_used = false;
    let mut write_failed = false;
    let tls_required = matches!(tls, TlsPolicy::Required | TlsPolicy::Implicit);

    let check = |client: &mut Client,
                 written: &[u8],
                 queued: &HashMap<TxId, usize>,
                 outcomes: &mut HashMap<TxId, usize>,
                 closed: &mut usize| {
        while let Some(e) = client.poll_event() {
            assert_eq!(*closed, 0, "an event after Closed: {e:?}");
            match e {
                Event::TransactionDone(o) => {
                    let n = queued.get(&o.tx).copied();
                    assert_eq!(n, Some(o.recipients.len()), "outcome of an unknown tx");
                    *outcomes.entry(o.tx).or_default() += 1;
                }
                Event::Closed(_) => *closed += 1,
                _ => {}
            }
        }
        while client.poll_transcript().is_some() {}
        // A body chunk may add up to twice its size (CRLF normalisation) beyond the cap.
        assert!(
            client.pending_output().len() <= 3 * max_output + 1024,
            "output buffer grew to {}",
            client.pending_output().len()
        );
        if tls_required && !client.is_encrypted() {
            for line in written.split(|&b| b == b'\n') {
                assert!(
                    !line.starts_with(b"MAIL") && !line.starts_with(b"AUTH"),
                    "{:?} before TLS",
                    String::from_utf8_lossy(line)
                );
            }
        }
    };

    let mut steps = 0;
    while let Some(t) = s.byte() {
        steps += 1;
        if steps > 4096 {
            break;
        }
        match t % 16 {
            0..=3 => {
                let n = usize::from(s.byte().unwrap_or(0));
                let bytes = s.bytes(n).to_vec();
                let _ = client.handle_input(now, &bytes);
            }
            4..=6 => {
                let i = usize::from(s.byte().unwrap_or(0)) % REPLIES.len();
                let _ = client.handle_input(now, REPLIES[i]);
            }
            7 => {
                let k = s.byte().unwrap_or(255);
                let mut out = held.clone();
                out.extend_from_slice(client.pending_output());
                let n = if k == 255 {
                    out.len()
                } else {
                    out.len().min(usize::from(k))
                };
                written.extend_from_slice(&out[..n]);
                client.consume_output(n, now);
                held.drain(..n.min(held.len()));
            }
            8 => client.handle_eof(now),
            9 => {
                let secs = s.byte().unwrap_or(0);
                now = match (secs, client.poll_timeout()) {
                    (0, Some(deadline)) => deadline.max(now),
                    _ => now + Duration::from_secs(u64::from(secs) * 4),
                };
                client.handle_timeout(now);
            }
            10 => {
                let _ = client.handle_tls_established(now);
            }
            11 => {
                let a = s.byte().unwrap_or(0);
                let rcpts = usize::from(a & 7);
                let mut env = Envelope::new(
                    ReversePath::parse("<sender@example.org>").expect("valid path"),
                    (0..rcpts).map(|i| {
                        ForwardPath::parse(&format!("<r{i}@example.net>")).expect("valid path")
                    }),
                );
                env.prefer_bdat = a & 8 != 0;
                env.body = [
                    BodyType::SevenBit,
                    BodyType::EightBitMime,
                    BodyType::BinaryMime,
                    BodyType::SevenBit,
                ][usize::from((a >> 4) & 3)];
                // BDAT payloads are opaque octets: a frame may end between CR and LF.
                chunked |= env.prefer_bdat || env.body == BodyType::BinaryMime;
                if a & 64 != 0 {
                    env.size_hint = Some(u64::from(a) * 10);
                }
                if a & 128 != 0 {
                    env.mail_params.ret = Some(smtp_proto::command::Ret::Hdrs);
                }
                let body_type = env.body;
                if let Ok(id) = client.send_mail(env) {
                    queued.insert(id, rcpts);
                    body_types.insert(id, body_type);
                }
            }
            12 => {
                let n = usize::from(s.byte().unwrap_or(0));
                let body = s.bytes(n).to_vec();
                let supplying = match client.next_action() {
                    Action::SupplyBody(tx) => Some(tx),
                    _ => None,
                };
                if t & 32 != 0 {
                    scanned_used = true;
                    let bytes = scanned_body.get_or_insert(body);
                    let scanned = ScannedBody::new(bytes);
                    let mut segs = Vec::new();
                    let r = client.write_scanned_body(&scanned, &mut segs);
                    for seg in &segs {
                        held.extend_from_slice(seg.as_bytes());
                    }
                    match (r, supplying) {
                        (Ok(true), Some(tx)) => {
                            let whole = scanned_body.take().unwrap_or_default();
                            if body_types.get(&tx) != Some(&BodyType::BinaryMime) {
                                let mut taken = content.remove(&tx).unwrap_or_default();
                                taken.extend_from_slice(&whole);
                                assert_eq!(
                                    check_body(&taken),
                                    Ok(()),
                                    "a scanned message with NUL or a long line was ended"
                                );
                            }
                        }
                        (Ok(_), _) => {}
                        (Err(UsageError::Body(_)), tx) => {
                            if let Some(tx) = tx {
                                assert_ne!(
                                    body_types.get(&tx),
                                    Some(&BodyType::BinaryMime),
                                    "BINARYMIME content refused"
                                );
                            }
                            assert!(client.close_reason().is_some(), "refused but not closed");
                            assert_eq!(client.pending_output(), b"", "refused content kept");
                            assert_eq!(client.pending_segment_len(), 0, "refused segments kept");
                            scanned_body = None;
                        }
                        (Err(_), _) => scanned_body = None,
                    }
                } else {
                    let r = if t & 16 != 0 {
                        let mut segs = Vec::new();
                        let r = client.write_body_segments(&body, &mut segs);
                        held.extend(segs.concat());
                        r
                    } else {
                        client.write_body(&body)
                    };
                    match (r, supplying) {
                        (Ok(k), Some(tx)) => content.entry(tx).or_default().extend(&body[..k]),
                        (Err(UsageError::Body(_)), tx) => {
                            // The core takes body octets while its output is still pending
                            // (`next_action` is then `Write`, not `SupplyBody`), so the
                            // refused transaction is not always known here.
                            if let Some(tx) = tx {
                                assert_ne!(
                                    body_types.get(&tx),
                                    Some(&BodyType::BinaryMime),
                                    "BINARYMIME content refused"
                                );
                            }
                            assert!(client.close_reason().is_some(), "refused but not closed");
                            assert_eq!(client.pending_output(), b"", "refused content kept");
                            assert_eq!(client.pending_segment_len(), 0, "refused segments kept");
                        }
                        _ => {}
                    }
                }
            }
            13 => {
                let supplying = match client.next_action() {
                    Action::SupplyBody(tx) => Some(tx),
                    _ => None,
                };
                if client.finish_body().is_ok()
                    && let Some(tx) = supplying
                    && body_types.get(&tx) != Some(&BodyType::BinaryMime)
                {
                    let taken = content.remove(&tx).unwrap_or_default();
                    assert_eq!(
                        check_body(&taken),
                        Ok(()),
                        "a message with NUL or a long line was ended"
                    );
                }
            }
            14 => {
                let _ = match s.byte().unwrap_or(0) % 15 {
                    0 => client.noop(),
                    1 => client.rset(),
                    2 => client
                        .vrfy(smtp_proto::command::SmtpString::new("postmaster").expect("valid")),
                    3 => client.help(None),
                    4 => client.quit(),
                    5 => client.login(
                        Credentials::password("user", "pencil"),
                        &[Mechanism::SCRAM_SHA_256, Mechanism::PLAIN, Mechanism::LOGIN],
                        "rOprNGfwEbeRWgbNEkqO",
                        true,
                    ),
                    6 => {
                        client.abort();
                        Ok(())
                    }
                    7 => client.raw(
                        smtp_proto::command::RawCommand::new("XCLIENT NAME=x").expect("valid"),
                    ),
                    8 => client.hello(false),
                    9 => client.hello(true),
                    10 => client.data().map(drop),
                    11 => client.check_health(HealthProbe::Noop),
                    12 => client.check_health(HealthProbe::Rset),
                    13 => client.login(
                        Credentials::password("user", "p".repeat(400).as_str()),
                        &[Mechanism::PLAIN],
                        "rOprNGfwEbeRWgbNEkqO",
                        false,
                    ),
                    _ => client.simple(smtp_proto::command::Command::mail(
                        ReversePath::parse("<m@example.org>").expect("valid path"),
                    )),
                };
            }
            _ if t & 16 != 0 => {
                client.handle_write_error(now);
                write_failed = true;
            }
            _ => client.handle_io_error(now),
        }
        check(&mut client, &written, &queued, &mut outcomes, &mut closed);
        if client.pending_segment_len() == 0 {
            held.clear(); // written, or dropped by the core: never to be written
        }
        assert_eq!(
            held.len(),
            client.pending_segment_len(),
            "segments out of step"
        );
        // At most `max_output` octets of input, expanded by at most 2 octets per 512 (with
        // scanned bodies: a BDAT header of at most 32 octets per frame, the frames as
        // small as 1 octet, and at most 16 + 1/512 edits of 2 octets).
        let bound = if scanned_used {
            33 * max_output + 128
        } else {
            max_output + max_output / 128 + 2
        };
        assert!(held.len() <= bound, "segments unbounded");
        if matches!(client.next_action(), Action::Write | Action::Read) {
            assert!(client.poll_timeout().is_some(), "a wait without a deadline");
        }
        if write_failed {
            assert_eq!(client.pending_output(), b"", "output after a write error");
            assert_eq!(
                client.pending_segment_len(),
                0,
                "segments after a write error"
            );
            assert_ne!(
                client.next_action(),
                Action::Write,
                "Write after a write error"
            );
        }
        // The driver's answer to the core's wish, bounded: it must never spin.
        if client.next_action() == Action::Closed {
            assert!(client.is_closed() || client.pending_output().is_empty());
        }
    }

    // End the session whatever state it is in, and check the books.
    client.abort();
    let out = client.pending_output().to_vec();
    written.extend_from_slice(&out);
    client.consume_output(out.len(), now);
    client.handle_eof(now);
    check(&mut client, &written, &queued, &mut outcomes, &mut closed);
    assert!(client.is_closed(), "session still open after abort + EOF");
    assert_eq!(closed, 1, "Closed events");
    for (tx, _) in queued {
        assert_eq!(outcomes.get(&tx).copied(), Some(1), "outcomes of {tx:?}");
    }
    if !chunked {
        // CR only before LF, LF only after CR. A session that closed in the middle of a
        // write (an I/O error, a timeout) may leave its last line unfinished.
        for (i, &b) in written.iter().enumerate() {
            if b == b'\r' && i + 1 < written.len() {
                assert_eq!(written.get(i + 1), Some(&b'\n'), "bare CR in the output");
            }
            if b == b'\n' {
                assert!(i > 0 && written[i - 1] == b'\r', "bare LF in the output");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::session;

    /// A script that reaches content and writes a NUL, then a long line, then ends the
    /// body: the harness's properties hold (the refusal closes the session).
    #[test]
    fn nul_and_long_line_scripts_hold() {
        // Config 0: no TLS, SMTP. Greeting, EHLO, queue 1 recipient (8BITMIME), write.
        let open = [
            4u8, 0, 7, 255, 4, 1, 11, 0x11, 7, 255, 4, 3, 4, 4, 4, 5, 7, 255,
        ];
        let mut nul = vec![0u8];
        nul.extend_from_slice(&open);
        nul.extend_from_slice(&[12, 3, b'a', 0, b'b', 7, 255, 13, 7, 255]);
        session(&nul);
        let mut long = vec![0u8];
        long.extend_from_slice(&open);
        for _ in 0..5 {
            long.push(12);
            long.push(250);
            long.extend(std::iter::repeat_n(b'x', 250));
        }
        long.extend_from_slice(&[13, 7, 255]);
        session(&long);
    }

    /// Pseudo-random scripts (xorshift), as a smoke test of the properties.
    #[test]
    fn random_scripts_hold() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..3000 {
            let len = (x % 300) as usize;
            let mut v = Vec::with_capacity(len);
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                v.push((x >> 24) as u8);
            }
            session(&v);
        }
    }
}
