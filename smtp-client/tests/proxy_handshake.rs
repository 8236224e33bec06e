//! Property tests of the proxy handshake parser: random, truncated and hostile proxy
//! replies, fed whole and byte by byte, never panic, never take more than the reply, and
//! give the same outcome however the input is split.

use proptest::prelude::*;
use smtp_client::{MAX_HTTP_HEAD, Proxy, ProxyError, ProxyHandshake, ProxyStep};

/// The outcome of a run, comparable across splits.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The tunnel opened after this many octets of input.
    Open(usize),
    /// An error (its text), or the input ran out first.
    Failed(String),
    Eof,
}

fn kind(e: &ProxyError) -> String {
    e.to_string()
}

/// Drives `hs` over `input`, handing it `chunk(asked)` octets at a time (at most what it
/// asks: a driver never reads past the proxy's reply).
fn drive(hs: &mut ProxyHandshake, input: &[u8], chunk: impl Fn(usize) -> usize) -> Outcome {
    let mut pos = 0;
    let mut steps = 0;
    loop {
        steps += 1;
        assert!(steps < 100_000, "the handshake does not progress");
        match hs.step() {
            ProxyStep::Write(b) => {
                assert!(!b.is_empty());
                let n = b.len();
                hs.wrote(n);
            }
            ProxyStep::Read(n) => {
                assert!(n > 0 && n <= MAX_HTTP_HEAD + 300, "asked {n}");
                if pos == input.len() {
                    return Outcome::Eof;
                }
                let take = chunk(n).clamp(1, n).min(input.len() - pos);
                match hs.received(&input[pos..pos + take]) {
                    Ok(used) => assert_eq!(used, take, "it asked for these octets"),
                    Err(e) => return Outcome::Failed(kind(&e)),
                }
                pos += take;
            }
            ProxyStep::Done => return Outcome::Open(pos),
        }
    }
}

/// Feeds `input` whole (as far as it goes before each write): `received` says how much of
/// it was the proxy's.
fn drive_whole(hs: &mut ProxyHandshake, input: &[u8]) -> Outcome {
    let mut pos = 0;
    loop {
        match hs.step() {
            ProxyStep::Write(b) => {
                let n = b.len();
                hs.wrote(n);
            }
            ProxyStep::Read(_) => {
                if pos == input.len() {
                    return Outcome::Eof;
                }
                match hs.received(&input[pos..]) {
                    Ok(used) => {
                        assert!(used > 0 && used <= input.len() - pos);
                        pos += used;
                    }
                    Err(e) => return Outcome::Failed(kind(&e)),
                }
            }
            ProxyStep::Done => return Outcome::Open(pos),
        }
    }
}

fn proxies() -> Vec<Proxy> {
    [
        "socks5://127.0.0.1:1080",
        "socks5h://u:p@127.0.0.1:1080",
        "http://127.0.0.1:3128",
        "http://u:p@127.0.0.1:3128",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect()
}

fn check(input: &[u8]) {
    for proxy in proxies() {
        for host in ["mx.example.org", "192.0.2.1", "2001:db8::1"] {
            let new = || ProxyHandshake::new(&proxy, host, 25).unwrap();
            let asked = drive(&mut new(), input, |n| n);
            let bytewise = drive(&mut new(), input, |_| 1);
            let whole = drive_whole(&mut new(), input);
            assert_eq!(asked, bytewise, "{proxy} {host}");
            assert_eq!(asked, whole, "{proxy} {host}");
            if let Outcome::Open(n) = asked {
                assert!(n <= MAX_HTTP_HEAD + 300);
            }
        }
    }
}

/// Plausible replies: valid ones, then mutated.
fn replies() -> impl Strategy<Value = Vec<u8>> {
    let valid = prop_oneof![
        Just(b"\x05\x00\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x19".to_vec()),
        Just(b"\x05\x02\x01\x00\x05\x00\x00\x03\x02ab\x00\x19".to_vec()),
        Just(b"\x05\x00\x05\x00\x00\x04\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01\x00\x19".to_vec()),
        Just(b"HTTP/1.1 200 Connection established\r\nProxy-agent: x\r\n\r\n220 hi\r\n".to_vec()),
        Just(b"HTTP/1.0 403 Forbidden\r\n\r\n".to_vec()),
        Just(b"HTTP/1.1 200 OK\n\n".to_vec()),
    ];
    (
        valid,
        proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        any::<usize>(),
    )
        .prop_map(|(mut v, edits, cut)| {
            for (at, b) in edits {
                let i = at % v.len();
                v[i] = b;
            }
            // Sometimes truncated.
            if cut % 3 == 0 {
                v.truncate(cut % (v.len() + 1));
            }
            v
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_input_never_panics(input in proptest::collection::vec(any::<u8>(), 0..600)) {
        check(&input);
    }

    #[test]
    fn mutated_replies_never_panic(input in replies()) {
        check(&input);
    }

    #[test]
    fn endless_http_headers_are_cut(line in "[a-zA-Z: ]{1,40}", n in 1usize..400) {
        let mut input = b"HTTP/1.1 200 OK\r\n".to_vec();
        while input.len() < MAX_HTTP_HEAD + 64 {
            input.extend_from_slice(line.as_bytes());
            input.extend_from_slice(b"\r\n");
        }
        let _ = n;
        let proxy: Proxy = "http://127.0.0.1:3128".parse().unwrap();
        let mut hs = ProxyHandshake::new(&proxy, "mx", 25).unwrap();
        let out = drive(&mut hs, &input, |n| n);
        prop_assert!(matches!(out, Outcome::Failed(_)), "{out:?}");
    }
}
