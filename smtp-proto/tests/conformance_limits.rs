//! Client requirements of RFC 5321 that no other test pinned down (traced in
//! `docs/conformance.md`): the §4.5.3.2 timeout defaults, source routes, and the
//! §4.5.3.1.5 reply-line minimum.

use std::time::Duration;

use smtp_proto::command::{ForwardPath, ReversePath};
use smtp_proto::session::{Config, Timeouts};
use smtp_proto::{ReplyLimits, ReplyReader};

/// RFC 5321 §4.5.3.2.1-6: the per-command minimums are the defaults, per phase, and
/// every one can be changed without recompiling (public fields).
#[test]
fn rfc5321_timeout_defaults() {
    let min = |m: u64| Duration::from_secs(m * 60);
    for t in [Timeouts::default(), Timeouts::RFC5321] {
        assert_eq!(t.greeting, min(5), "4.5.3.2.1 initial 220");
        assert_eq!(t.mail, min(5), "4.5.3.2.2 MAIL");
        assert_eq!(t.rcpt, min(5), "4.5.3.2.3 RCPT");
        assert_eq!(t.data_init, min(2), "4.5.3.2.4 DATA initiation");
        assert_eq!(t.data_block, min(3), "4.5.3.2.5 data block");
        assert_eq!(t.data_done, min(10), "4.5.3.2.6 DATA termination");
    }
    let cfg = Config::new(smtp_proto::command::Domain::parse("client.example").unwrap());
    assert_eq!(cfg.timeouts, Timeouts::RFC5321);
}

/// RFC 5321 §3.3, §3.6.1, §4.1.1.3, appendix F.2: clients SHOULD NOT send source routes
/// (and MUST NOT send invalid ones): the path types cannot hold one.
#[test]
fn source_routes_are_never_sent() {
    for route in [
        "<@relay.example:bob@example.net>",
        "<@a.example,@b.example:bob@example.net>",
    ] {
        assert!(ForwardPath::parse(route).is_err(), "{route}");
        assert!(ReversePath::parse(route).is_err(), "{route}");
    }
    assert!(ForwardPath::parse("<bob@example.net>").is_ok());
}

/// RFC 5321 §4.5.3.1 and §4.5.3.1.5: every implementation MUST be able to receive a reply
/// line of 512 octets (code and CRLF included), and multi-line replies.
#[test]
fn reply_lines_of_512_octets_are_received() {
    let mut line = b"250-".to_vec();
    line.extend(std::iter::repeat_n(b'x', 512 - 4 - 2));
    line.extend_from_slice(b"\r\n");
    assert_eq!(line.len(), 512);
    let mut input = Vec::new();
    for _ in 0..20 {
        input.extend_from_slice(&line);
    }
    let mut last = line.clone();
    last[3] = b' ';
    input.extend_from_slice(&last);
    let mut reader = ReplyReader::new();
    reader.push(&input);
    let reply = reader.next_reply().unwrap().unwrap();
    assert_eq!(reply.lines().count(), 21);
    assert!(std::hint::black_box(ReplyLimits::DEFAULT).max_line_len >= 512);
}
