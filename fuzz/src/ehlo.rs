//! `ehlo`: EHLO/LHLO replies into [`Capabilities`].

use smtp_proto::{Capabilities, Reply, ReplyCode};

/// An accessor for one parameterless extension.
type Flag = fn(&Capabilities) -> bool;

/// Keywords without parameters and the accessor that reports each.
const FLAGS: [(&str, Flag); 13] = [
    ("PIPELINING", Capabilities::pipelining),
    ("8BITMIME", Capabilities::eight_bit_mime),
    ("BINARYMIME", Capabilities::binary_mime),
    ("CHUNKING", Capabilities::chunking),
    ("SMTPUTF8", Capabilities::smtp_utf8),
    ("STARTTLS", Capabilities::starttls),
    ("DSN", Capabilities::dsn),
    ("ENHANCEDSTATUSCODES", Capabilities::enhanced_status_codes),
    ("REQUIRETLS", Capabilities::require_tls),
    ("VRFY", Capabilities::vrfy),
    ("EXPN", Capabilities::expn),
    ("HELP", Capabilities::help),
    ("ETRN", Capabilities::etrn),
];

/// Builds the reply: with bit 0 of the first byte set, the rest must parse as one reply
/// (`Reply::parse`, default limits); otherwise the rest is split at LF into the text of
/// each line (a CR before the LF dropped, any other CR made a space) of a `250` reply.
fn reply_from(data: &[u8]) -> Option<Reply> {
    let (&mode, rest) = data.split_first()?;
    if mode & 1 == 1 {
        return Reply::parse(rest).ok();
    }
    let lines: Vec<Vec<u8>> = rest
        .split(|&b| b == b'\n')
        .map(|l| {
            let l = l.strip_suffix(b"\r").unwrap_or(l);
            l.iter()
                .map(|&b| if b == b'\r' { b' ' } else { b })
                .collect()
        })
        .collect();
    let reply = Reply::from_lines(ReplyCode::OK, lines.iter().map(Vec::as_slice))
        .expect("from_lines refused lines without CR or LF");
    Some(reply)
}

/// `ehlo`: bytes -> [`Reply`] -> [`Capabilities`]. Asserts: no panic in any accessor; one
/// `lines()` entry per extension line; a line that is exactly a parameterless keyword
/// (any case) turns its flag on; every well-formed extension is seen by the smtplib view;
/// rendering with `to_reply_lines` and parsing again keeps the typed view, the greeting and
/// the unknown lines, and renders identically a second time.
pub fn ehlo(data: &[u8]) {
    let Some(reply) = reply_from(data) else {
        return;
    };
    let caps = Capabilities::from_owned_reply(&reply);
    assert!(caps == Capabilities::from_reply(&reply.as_ref()));

    // Structure.
    let n_lines = reply.lines().count();
    assert_eq!(
        caps.lines().count(),
        n_lines - 1,
        "one extension line per reply line"
    );
    assert!(caps.unknown().count() < n_lines);
    assert_eq!(caps.greeting(), reply.lines().next().unwrap_or_default());
    assert!(caps.greeting().starts_with(caps.domain()));
    if let Some(t) = caps.greeting_text() {
        assert!(caps.greeting().ends_with(t));
    }

    // Every accessor, and an oracle for the parameterless keywords.
    for (name, get) in FLAGS {
        let exact = caps
            .lines()
            .any(|l| l.eq_ignore_ascii_case(name.as_bytes()));
        if exact {
            assert!(get(&caps), "line {name:?} did not enable {name}");
        }
        if get(&caps) && n_lines <= 16 {
            assert!(
                caps.has_extn(name),
                "{name} enabled but unknown to the smtplib view"
            );
        }
    }
    if let Some(n) = caps.size().and_then(|s| s.limit().map(|n| (s, n))) {
        let (size, n) = n;
        assert!(size.allows(n) && (n == u64::MAX || !size.allows(n + 1)));
    }
    let mechs: Vec<&str> = caps.auth_mechanisms().collect();
    assert!(mechs.is_empty() || caps.auth());
    for m in &mechs {
        assert!(caps.supports_auth(m) && caps.supports_auth(&m.to_ascii_lowercase()));
        assert_eq!(*m, m.to_ascii_uppercase(), "AUTH mechanism not upper-cased");
    }
    for (i, m) in mechs.iter().enumerate() {
        assert!(!mechs[..i].contains(m), "AUTH mechanism {m} twice");
    }
    let _ = caps.deliver_by();
    let _ = caps.mt_priority();
    let _ = caps.future_release();
    if let Some(l) = caps.limits() {
        let _ = (
            l.mail_max(),
            l.rcpt_max(),
            l.rcpt_domain_max(),
            l.other().count(),
        );
    }
    // The smtplib view rescans every line per query: check the first few lines only, or
    // long replies make this quadratic and the target slow.
    for e in caps.iter().take(8) {
        assert!(!e.keyword().is_empty());
        assert!(
            caps.has_extn(e.keyword()),
            "{:?} missing from the smtplib view",
            e.keyword()
        );
        let _ = (e.params(), e.param_list().count());
    }
    let features = caps.esmtp_features();
    if let Some((k, v)) = features.last() {
        assert_eq!(caps.esmtp_feature(k).as_ref(), Some(v));
    }

    // Render, parse again: same typed view, greeting and unknown lines; then a fixpoint.
    let lines = caps.to_reply_lines();
    let again = Reply::from_lines(ReplyCode::OK, lines.iter().map(Vec::as_slice))
        .unwrap_or_else(|e| panic!("rendered capabilities are not reply lines: {e}"));
    let caps2 = Capabilities::from_owned_reply(&again);
    assert!(
        caps2.same_known(&caps),
        "known extensions lost in a render/parse round trip:\n{caps:?}\n{caps2:?}"
    );
    assert!(caps2.unknown().eq(caps.unknown()), "unknown lines changed");
    assert_eq!(caps2.greeting(), caps.greeting());
    assert_eq!(caps2.to_reply_lines(), lines, "rendering is not a fixpoint");
}
