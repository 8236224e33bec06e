//! Property-based model test of the whole session: a simulated server answers each command
//! at random (valid replies, refusals, 421, wrong codes, surplus replies, junk, EOF,
//! stalls), delivered in random chunkings, while the caller queues random work. Invariants:
//!
//! - no panic, and every step finishes in a bounded number of driver iterations;
//! - with TLS required, no MAIL or AUTH before the handshake;
//! - bytes after a STARTTLS 220 are never parsed: the session closes;
//! - every queued transaction ends with exactly one outcome, every recipient with one status;
//! - the output is only well-formed command lines (CRLF-terminated, no bare CR/LF/NUL,
//!   at most 512 octets) and correctly stuffed content with one end of data;
//! - memory stays bounded (output buffer, events, transcript);
//! - no message with a NUL or a line over 1,000 octets is ever completed (end of data or
//!   `BDAT LAST`) unless it was sent `BODY=BINARYMIME`; such a body is refused with
//!   `UsageError::Body` and the session closes;
//! - an AUTH line never exceeds 512 octets: a long initial response follows the empty 334;
//! - EHLO refused with anything but 421 falls back to HELO (never with TLS required, never
//!   after 421), and after HELO no MAIL or RCPT parameter is sent, nor BDAT.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use smtp_proto::body::{BodyError, BodyViolation, check_body, decode_data};
use smtp_proto::command::{Domain, ForwardPath, ReversePath};
use smtp_proto::sasl::Credentials;
use smtp_proto::session::{
    Action, BodyType, Client, Config, Envelope, Event, TlsPolicy, TxId, UsageError,
};

/// How the simulated server answers the next command.
#[derive(Clone, Debug)]
enum Answer {
    Good,
    Transient,
    Permanent,
    Closing,
    WrongCode,
    Junk(Vec<u8>),
    Surplus,
    Eof,
    Stall,
    /// Good answer plus injected bytes (matters after STARTTLS).
    GoodPlusInjection,
    /// A refusal, then the server closes without reading further: the client's next
    /// write fails.
    RefuseAndReset,
}

fn answer() -> impl Strategy<Value = Answer> {
    prop_oneof![
        12 => Just(Answer::Good),
        2 => Just(Answer::Transient),
        2 => Just(Answer::Permanent),
        1 => Just(Answer::Closing),
        1 => Just(Answer::WrongCode),
        1 => proptest::collection::vec(any::<u8>(), 0..12).prop_map(Answer::Junk),
        1 => Just(Answer::Surplus),
        1 => Just(Answer::Eof),
        1 => Just(Answer::Stall),
        1 => Just(Answer::GoodPlusInjection),
        1 => Just(Answer::RefuseAndReset),
    ]
}

#[derive(Clone, Debug)]
enum CallerOp {
    Send {
        rcpts: usize,
        body: Vec<u8>,
        bdat: bool,
    },
    /// A body with a NUL or a long line, sent as 8BITMIME or as BINARYMIME.
    SendBinary {
        body: Vec<u8>,
        binarymime: bool,
    },
    Noop,
    Rset,
    Quit,
    Login,
    /// A password long enough to push `AUTH PLAIN <ir>` past 512 octets.
    LongLogin,
    Abort,
}

fn caller_op() -> impl Strategy<Value = CallerOp> {
    prop_oneof![
        6 => (1usize..5, proptest::collection::vec(
            prop_oneof![Just(b'.'), Just(b'\r'), Just(b'\n'), Just(b'a')], 0..40), any::<bool>())
            .prop_map(|(rcpts, body, bdat)| CallerOp::Send { rcpts, body, bdat }),
        // Long clean lines (with a dot now and then): what segments are for.
        2 => (1usize..3, proptest::collection::vec((1usize..300, any::<bool>()), 0..4), any::<bool>())
            .prop_map(|(rcpts, lines, bdat)| CallerOp::Send {
                rcpts,
                body: lines
                    .iter()
                    .flat_map(|&(n, dot)| {
                        let mut l = if dot { b".".to_vec() } else { Vec::new() };
                        l.extend(std::iter::repeat_n(b'x', n));
                        l.extend_from_slice(b"\r\n");
                        l
                    })
                    .collect(),
                bdat,
            }),
        2 => (0usize..60, prop_oneof![Just(vec![0u8]), (990usize..1010).prop_map(|n| vec![b'y'; n])],
              0usize..60, any::<bool>())
            .prop_map(|(a, bad, b, binarymime)| CallerOp::SendBinary {
                body: [vec![b'a'; a], bad, b"\r\n".to_vec(), vec![b'b'; b]].concat(),
                binarymime,
            }),
        1 => Just(CallerOp::Noop),
        1 => Just(CallerOp::LongLogin),
        1 => Just(CallerOp::Rset),
        1 => Just(CallerOp::Quit),
        1 => Just(CallerOp::Login),
        1 => Just(CallerOp::Abort),
    ]
}

#[derive(Clone, Debug)]
struct Scenario {
    tls: TlsPolicy,
    pipelining: bool,
    starttls: bool,
    chunking: bool,
    ops: Vec<CallerOp>,
    answers: Vec<Answer>,
    chunk: usize,
    /// The driver hands bodies over with `write_body_segments` (zero-copy) instead of
    /// `write_body`, and writes the segments before `pending_output`.
    segments: bool,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop_oneof![
            Just(TlsPolicy::Never),
            Just(TlsPolicy::Opportunistic),
            Just(TlsPolicy::Required),
            Just(TlsPolicy::Implicit)
        ],
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        proptest::collection::vec(caller_op(), 1..6),
        proptest::collection::vec(answer(), 1..40),
        1usize..40,
        any::<bool>(),
    )
        .prop_map(
            |(tls, pipelining, starttls, chunking, ops, answers, chunk, segments)| Scenario {
                tls,
                pipelining,
                starttls,
                chunking,
                ops,
                answers,
                chunk,
                segments,
            },
        )
}

/// The simulated server: parses what the client wrote, answers from the script.
struct Server {
    inbuf: Vec<u8>,
    in_data: bool,
    data_buf: Vec<u8>,
    answers: std::vec::IntoIter<Answer>,
    pipelining: bool,
    starttls: bool,
    chunking: bool,
    /// Octets of BDAT payload still to skip, and whether that chunk is the last.
    bdat_left: Option<(usize, bool)>,
    tls: bool,
    /// Bytes to deliver to the client.
    to_client: Vec<u8>,
    eof: bool,
    /// The server stopped reading: writes fail.
    reset: bool,
    stalled: bool,
    mail_before_tls: bool,
    handshake_requested: bool,
    /// TLS is required: HELO must never be sent.
    tls_required: bool,
    /// The last EHLO was answered 421: no HELO may follow.
    ehlo_421: bool,
    /// HELO was sent (and no EHLO since): no ESMTP parameters, no BDAT.
    helo: bool,
    /// The last MAIL asked for BODY=BINARYMIME.
    binarymime: bool,
    /// A 334 asked for the deferred initial response: the next line is it.
    auth_continuation: bool,
    /// Payload of the BDAT message so far.
    bdat_payload: Vec<u8>,
}

impl Server {
    fn next_answer(&mut self) -> Answer {
        self.answers.next().unwrap_or(Answer::Good)
    }

    fn reply(&mut self, good: &[u8], cmd_name: &str) {
        let a = self.next_answer();
        let out: Vec<u8> = match a {
            Answer::Good => good.to_vec(),
            Answer::GoodPlusInjection => {
                let mut v = good.to_vec();
                v.extend_from_slice(b"250 injected\r\n");
                v
            }
            Answer::Transient => b"451 4.3.0 try later\r\n".to_vec(),
            Answer::Permanent => b"550 5.7.1 no\r\n".to_vec(),
            Answer::Closing => b"421 4.3.2 bye\r\n".to_vec(),
            Answer::WrongCode => b"354 nonsense\r\n".to_vec(),
            Answer::Junk(j) => j,
            Answer::Surplus => {
                let mut v = good.to_vec();
                v.extend_from_slice(b"250 surplus\r\n");
                v
            }
            Answer::Eof => {
                self.eof = true;
                Vec::new()
            }
            Answer::Stall => {
                self.stalled = true;
                Vec::new()
            }
            Answer::RefuseAndReset => {
                self.reset = true;
                self.eof = true;
                b"554 5.7.1 go away\r\n".to_vec()
            }
        };
        if cmd_name == "DATA" && out.starts_with(b"354") {
            self.in_data = true;
        }
        if cmd_name == "STARTTLS" && out.starts_with(b"220") {
            self.handshake_requested = true;
        }
        if cmd_name == "EHLO" {
            self.ehlo_421 = out.starts_with(b"421");
        }
        if cmd_name == "AUTH334" && out.starts_with(b"334") {
            self.auth_continuation = true;
        }
        self.to_client.extend_from_slice(&out);
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.inbuf.extend_from_slice(bytes);
        loop {
            if self.eof || self.stalled {
                return;
            }
            if let Some((left, last)) = self.bdat_left {
                let k = left.min(self.inbuf.len());
                self.bdat_payload.extend(self.inbuf.drain(..k));
                if k < left {
                    self.bdat_left = Some((left - k, last));
                    return;
                }
                self.bdat_left = None;
                if last {
                    let payload = std::mem::take(&mut self.bdat_payload);
                    assert!(
                        self.binarymime || check_body(&payload).is_ok(),
                        "a message with NUL or a long line completed without BINARYMIME"
                    );
                }
                self.reply(
                    b"250 2.0.0 chunk ok\r\n",
                    if last { "LAST" } else { "BDAT" },
                );
                continue;
            }
            if self.in_data {
                let mut framed = b"\r\n".to_vec();
                framed.extend_from_slice(&self.data_buf);
                framed.extend_from_slice(&self.inbuf);
                let Some(pos) = find(&framed, b"\r\n.\r\n") else {
                    self.data_buf.extend_from_slice(&self.inbuf);
                    self.inbuf.clear();
                    return;
                };
                // Everything up to the terminator is content; check its encoding.
                let content_len = pos + 5 - 2;
                let all = &framed[2..];
                let content = &all[..content_len];
                let decoded = decode_data(content);
                assert!(decoded.is_ok(), "content does not decode: {content:?}");
                // Nothing but the last line ending and the terminator: check the rest.
                assert!(
                    check_body(&content[..content.len() - 3]).is_ok(),
                    "a message with NUL or a long line completed over DATA"
                );
                let consumed_from_inbuf = content_len - self.data_buf.len();
                self.inbuf.drain(..consumed_from_inbuf);
                self.data_buf.clear();
                self.in_data = false;
                self.reply(b"250 2.0.0 queued\r\n", "DOT");
                continue;
            }
            let Some(pos) = find(&self.inbuf, b"\r\n") else {
                assert!(self.inbuf.len() <= 16 * 1024, "unterminated command line");
                return;
            };
            let line: Vec<u8> = self.inbuf.drain(..pos + 2).collect();
            let body = &line[..line.len() - 2];
            assert!(
                !body.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0),
                "bare CR/LF/NUL in a command line: {line:?}"
            );
            if self.auth_continuation {
                // The deferred initial response (exempt from 512 octets).
                self.auth_continuation = false;
                assert!(line.len() <= 16 * 1024 + 2);
                if body == b"*" {
                    self.reply(b"501 cancelled\r\n", "*");
                } else {
                    self.reply(b"235 ok\r\n", "AUTH");
                }
                continue;
            }
            let text = String::from_utf8_lossy(body).to_string();
            let verb = text.split(' ').next().unwrap_or("").to_ascii_uppercase();
            if verb == "AUTH" {
                assert!(line.len() <= 512, "AUTH line over 512 octets");
            }
            if verb == "HELO" {
                assert!(!self.tls_required, "HELO with TLS required");
                assert!(!self.ehlo_421, "HELO after a 421 to EHLO");
                self.helo = true;
            }
            if verb == "EHLO" {
                self.helo = false;
            }
            if self.helo && (verb == "MAIL" || verb == "RCPT") {
                assert!(
                    text.ends_with('>') && text.matches(' ').count() == 1,
                    "ESMTP parameter after HELO: {text}"
                );
            }
            if verb == "MAIL" {
                self.binarymime = text.contains("BODY=BINARYMIME");
                self.bdat_payload.clear();
            }
            if verb == "AUTH" || verb.is_empty() || !text.is_ascii() {
                assert!(line.len() <= 16 * 1024 + 2);
            } else {
                assert!(line.len() <= 512, "command line over 512 octets");
            }
            if (verb == "MAIL" || verb == "AUTH") && !self.tls {
                self.mail_before_tls = true;
            }
            let ehlo: Vec<u8> = {
                let mut v = b"250-mx.test\r\n250-AUTH PLAIN LOGIN\r\n250-SIZE 100000\r\n".to_vec();
                if self.pipelining {
                    v.extend_from_slice(b"250-PIPELINING\r\n");
                }
                if self.starttls && !self.tls {
                    v.extend_from_slice(b"250-STARTTLS\r\n");
                }
                if self.chunking {
                    v.extend_from_slice(b"250-CHUNKING\r\n250-BINARYMIME\r\n");
                }
                v.extend_from_slice(b"250 8BITMIME\r\n");
                v
            };
            match verb.as_str() {
                "EHLO" | "LHLO" => self.reply(&ehlo, "EHLO"),
                "DATA" => self.reply(b"354 go\r\n", "DATA"),
                "STARTTLS" => self.reply(b"220 ready\r\n", "STARTTLS"),
                "QUIT" => self.reply(b"221 bye\r\n", "QUIT"),
                // `AUTH PLAIN` alone: ask for the initial response.
                "AUTH" if text.split(' ').count() == 2 => self.reply(b"334 \r\n", "AUTH334"),
                "AUTH" => self.reply(b"235 ok\r\n", "AUTH"),
                "BDAT" => {
                    let mut words = text.split(' ').skip(1);
                    let n: usize = words
                        .next()
                        .and_then(|w| w.parse().ok())
                        .expect("BDAT size");
                    let last = words.next() == Some("LAST");
                    assert!(self.chunking, "BDAT without CHUNKING");
                    assert!(!self.helo, "BDAT after HELO");
                    self.bdat_left = Some((n, last));
                }
                "*" => self.reply(b"501 cancelled\r\n", "*"),
                "VRFY" | "HELP" => self.reply(b"252 maybe\r\n", "X"),
                _ => self.reply(b"250 ok\r\n", &verb),
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn run(s: Scenario) -> Result<(), TestCaseError> {
    let start = Instant::now();
    let mut now = start;
    let mut cfg = Config::new(Domain::parse("client.test").unwrap());
    cfg.tls = s.tls;
    cfg.allow_plaintext_auth = true;
    cfg.transcript = true;
    cfg.max_output = 64;
    cfg.bdat_chunk_size = 16;
    let required = s.tls == TlsPolicy::Required;
    let mut c = Client::new(cfg, now);
    let mut srv = Server {
        inbuf: Vec::new(),
        in_data: false,
        data_buf: Vec::new(),
        answers: s.answers.clone().into_iter(),
        pipelining: s.pipelining,
        starttls: s.starttls,
        chunking: s.chunking,
        bdat_left: None,
        tls: s.tls == TlsPolicy::Implicit,
        to_client: Vec::new(),
        eof: false,
        reset: false,
        stalled: false,
        mail_before_tls: false,
        handshake_requested: false,
        tls_required: required,
        ehlo_421: false,
        helo: false,
        binarymime: false,
        auth_continuation: false,
        bdat_payload: Vec::new(),
    };
    if s.tls != TlsPolicy::Implicit {
        srv.to_client.extend_from_slice(b"220 mx.test ESMTP\r\n");
    }
    let mut queued: HashMap<TxId, usize> = HashMap::new();
    let mut outcomes: HashMap<TxId, usize> = HashMap::new();
    let mut bodies: HashMap<TxId, Vec<u8>> = HashMap::new();
    // Transactions whose body is refused unless BINARYMIME (NUL or long line).
    let mut binary: HashMap<TxId, bool> = HashMap::new();
    let mut ops = s.ops.clone().into_iter();
    let mut closed = false;
    let mut body_pos = 0usize;
    // The segments the driver holds (as one copy of their bytes: the model checks the
    // accounting, the unit tests the zero-copy slices).
    let mut held: Vec<u8> = Vec::new();
    let mut write_failed = false;

    for _ in 0..2000 {
        // Drain events.
        while let Some(e) = c.poll_event() {
            match e {
                Event::TransactionDone(o) => {
                    if std::env::var_os("MODEL_STATS").is_some() {
                        for r in &o.recipients {
                            eprintln!("STAT status {:?}", std::mem::discriminant(&r.status));
                        }
                    }
                    let n = queued.get(&o.tx).copied();
                    prop_assert_eq!(Some(o.recipients.len()), n, "outcome for unknown tx");
                    *outcomes.entry(o.tx).or_default() += 1;
                }
                Event::Closed(r) => {
                    if std::env::var_os("MODEL_STATS").is_some() {
                        eprintln!("STAT closed {r:?}");
                    }
                    prop_assert!(!closed, "closed twice");
                    closed = true;
                }
                _ => {}
            }
        }
        prop_assert!(
            c.pending_output().len() <= 64 + 600,
            "output buffer unbounded"
        );
        if c.pending_segment_len() == 0 {
            held.clear();
        }
        prop_assert_eq!(held.len(), c.pending_segment_len(), "segments out of step");
        prop_assert!(held.len() <= 64 + 2, "segments unbounded");
        while c.poll_transcript().is_some() {}
        match c.next_action() {
            Action::Closed => break,
            Action::Write if srv.reset => {
                prop_assert!(!write_failed, "Write after a write error");
                prop_assert!(c.poll_timeout().is_some(), "a write without a deadline");
                c.handle_write_error(now);
                write_failed = true;
                if std::env::var_os("MODEL_STATS").is_some() {
                    eprintln!("STAT write_error");
                }
                prop_assert!(c.pending_output().is_empty());
                prop_assert_eq!(c.pending_segment_len(), 0);
            }
            Action::Write => {
                prop_assert!(c.poll_timeout().is_some(), "a write without a deadline");
                let mut out = held.clone();
                out.extend_from_slice(c.pending_output());
                let n = out.len().min(s.chunk.max(1) * 7);
                prop_assert!(n > 0, "write with nothing to write");
                srv.feed(&out[..n]);
                c.consume_output(n, now);
                held.drain(..n.min(held.len()));
            }
            Action::StartTls => {
                prop_assert!(
                    srv.handshake_requested || s.tls == TlsPolicy::Implicit,
                    "handshake not requested"
                );
                srv.tls = true;
                srv.handshake_requested = false;
                if std::env::var_os("MODEL_STATS").is_some() {
                    eprintln!("STAT handshake");
                }
                // Injected plaintext after the 220 must never be parsed after TLS.
                srv.to_client.clear();
                srv.inbuf.clear();
                c.handle_tls_established(now).unwrap();
                if s.tls == TlsPolicy::Implicit {
                    srv.to_client.extend_from_slice(b"220 mx.test ESMTP\r\n");
                }
            }
            Action::SupplyBody(tx) => {
                let body = bodies.get(&tx).cloned().unwrap_or_default();
                let written = if body_pos < body.len() && s.segments {
                    let mut segs = Vec::new();
                    let r = c.write_body_segments(&body[body_pos..], &mut segs);
                    held.extend(segs.concat());
                    Some(r)
                } else if body_pos < body.len() {
                    Some(c.write_body(&body[body_pos..]))
                } else {
                    None
                };
                if let Some(r) = written {
                    match r {
                        Ok(n) => body_pos += n,
                        Err(UsageError::Body(BodyError::NeedsBinaryMime(v))) => {
                            prop_assert_eq!(binary.get(&tx), Some(&false), "refused BINARYMIME");
                            // Mid-stream, a long line's length is its length so far.
                            match (check_body(&body), v) {
                                (
                                    Err(BodyViolation::LongLine { line, length }),
                                    BodyViolation::LongLine { line: l, length: n },
                                ) => prop_assert!(l == line && n > 1000 && n <= length),
                                (want, v) => prop_assert_eq!(want, Err(v)),
                            }
                            prop_assert!(c.close_reason().is_some(), "refused but not closed");
                            prop_assert!(c.pending_output().is_empty());
                            prop_assert_eq!(c.pending_segment_len(), 0);
                            held.clear();
                            body_pos = 0;
                        }
                        Err(e) => prop_assert!(false, "write_body failed: {e}"),
                    }
                } else {
                    c.finish_body().unwrap();
                    body_pos = 0;
                }
            }
            Action::Read | Action::Idle => {
                if !srv.to_client.is_empty() {
                    let n = srv.to_client.len().min(s.chunk);
                    let chunk: Vec<u8> = srv.to_client.drain(..n).collect();
                    let _ = c.handle_input(now, &chunk);
                } else if srv.eof {
                    c.handle_eof(now);
                } else if let Some(op) = ops.next() {
                    match op {
                        CallerOp::Send { rcpts, body, bdat } => {
                            let mut env = Envelope::new(
                                ReversePath::parse("<a@x.test>").unwrap(),
                                (0..rcpts).map(|i| {
                                    ForwardPath::parse(&format!("<r{i}@y.test>")).unwrap()
                                }),
                            );
                            env.prefer_bdat = bdat;
                            if let Ok(id) = c.send_mail(env) {
                                queued.insert(id, rcpts);
                                bodies.insert(id, body);
                            }
                        }
                        CallerOp::SendBinary { body, binarymime } => {
                            let mut env = Envelope::new(
                                ReversePath::parse("<a@x.test>").unwrap(),
                                [ForwardPath::parse("<r0@y.test>").unwrap()],
                            );
                            env.body = if binarymime {
                                BodyType::BinaryMime
                            } else {
                                BodyType::EightBitMime
                            };
                            if let Ok(id) = c.send_mail(env) {
                                queued.insert(id, 1);
                                binary.insert(id, binarymime);
                                bodies.insert(id, body);
                            }
                        }
                        CallerOp::Noop => {
                            let _ = c.noop();
                        }
                        CallerOp::Rset => {
                            let _ = c.rset();
                        }
                        CallerOp::Quit => {
                            let _ = c.quit();
                        }
                        CallerOp::Login => {
                            let _ = c.login(
                                Credentials::password("u", "p"),
                                &[smtp_proto::command::Mechanism::PLAIN],
                                "nonce",
                                false,
                            );
                        }
                        CallerOp::LongLogin => {
                            let _ = c.login(
                                Credentials::password("u", "p".repeat(400).as_str()),
                                &[smtp_proto::command::Mechanism::PLAIN],
                                "nonce",
                                false,
                            );
                        }
                        CallerOp::Abort => c.abort(),
                    }
                } else if let Some(deadline) = c.poll_timeout() {
                    now = deadline.max(now);
                    c.handle_timeout(now);
                } else if c.next_action() == Action::Idle {
                    let _ = c.quit();
                    srv.stalled = false;
                } else {
                    // Reading with no deadline and nothing to read: a stall we cannot
                    // time out of can only happen while no reply is owed.
                    prop_assert!(false, "stuck: read with no deadline");
                }
            }
        }
        now += Duration::from_millis(1);
    }
    // Whatever happened, end the session and check the books.
    c.abort();
    c.handle_eof(now);
    while let Some(e) = c.poll_event() {
        if let Event::TransactionDone(o) = e {
            *outcomes.entry(o.tx).or_default() += 1;
        }
    }
    prop_assert!(c.is_closed(), "session not closed at the end");
    for (tx, _) in queued {
        prop_assert_eq!(outcomes.get(&tx).copied(), Some(1), "tx {:?} outcomes", tx);
    }
    if required {
        prop_assert!(
            !srv.mail_before_tls,
            "MAIL or AUTH before TLS with TLS required"
        );
    }
    let _ = start;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]
    #[test]
    fn random_servers_never_break_the_invariants(s in scenario()) {
        run(s)?;
    }
}
