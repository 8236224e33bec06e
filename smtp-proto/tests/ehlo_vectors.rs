//! Fixed EHLO/LHLO vectors: real-world transcripts and edge-case tables.

use smtp_proto::ehlo::{DeliverBy, FutureRelease, MtPriority, SizeLimit};
use smtp_proto::{Capabilities, Reply, ReplyCode};

/// Builds a 250 reply from line texts and reads its capabilities.
fn caps(lines: &[&str]) -> Capabilities {
    caps_bytes(&lines.iter().map(|l| l.as_bytes()).collect::<Vec<_>>())
}

fn caps_bytes(lines: &[&[u8]]) -> Capabilities {
    let reply = Reply::from_lines(ReplyCode::OK, lines.iter().copied()).unwrap();
    let caps = Capabilities::from(&reply);
    assert_round_trip(&caps);
    caps
}

fn assert_round_trip(caps: &Capabilities) {
    let lines = caps.to_reply_lines();
    let again = Reply::from_lines(ReplyCode::OK, lines.iter().map(Vec::as_slice)).unwrap();
    let again = Capabilities::from(&again);
    assert!(again.same_known(caps), "{caps:?}\n{again:?}");
    assert!(again.unknown().eq(caps.unknown()), "{caps:?}\n{again:?}");
    assert_eq!(again.greeting(), caps.greeting());
}

fn unknown(c: &Capabilities) -> Vec<String> {
    c.unknown()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect()
}

fn mechs(c: &Capabilities) -> Vec<&str> {
    c.auth_mechanisms().collect()
}

#[test]
fn postfix_3_7() {
    let reply = Reply::parse(
        b"250-mail.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n\
          250-ETRN\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250-AUTH=PLAIN LOGIN\r\n\
          250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n",
    )
    .unwrap();
    let c = Capabilities::from_reply(&reply.as_ref());
    assert_eq!(c.domain(), b"mail.example.com");
    assert_eq!(c.greeting_text(), None);
    assert!(c.pipelining() && c.vrfy() && c.etrn() && c.starttls());
    assert!(c.enhanced_status_codes() && c.eight_bit_mime() && c.dsn());
    assert!(c.smtp_utf8() && c.chunking());
    assert!(!c.binary_mime() && !c.expn() && !c.help() && !c.require_tls());
    assert_eq!(c.size(), SizeLimit::max(10_240_000));
    assert_eq!(c.size().unwrap().limit(), Some(10_240_000));
    assert!(c.auth());
    assert_eq!(mechs(&c), ["PLAIN", "LOGIN"]);
    assert!(c.supports_auth("login") && !c.supports_auth("CRAM-MD5"));
    assert!(c.unknown().next().is_none());
    assert_eq!(c.iter().count(), 12);
    // smtplib appends both AUTH lines.
    assert_eq!(
        c.esmtp_feature("AUTH").as_deref(),
        Some(" PLAIN LOGIN PLAIN LOGIN")
    );
    assert_eq!(c.esmtp_feature("size").as_deref(), Some("10240000"));
    assert_eq!(c.esmtp_feature("chunking").as_deref(), Some(""));
    let keys: Vec<_> = c.esmtp_features().into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [
            "pipelining",
            "size",
            "vrfy",
            "etrn",
            "starttls",
            "auth",
            "enhancedstatuscodes",
            "8bitmime",
            "dsn",
            "smtputf8",
            "chunking"
        ]
    );
    assert_round_trip(&c);
}

#[test]
fn exim_4() {
    let c = caps(&[
        "mx.example.net Hello client.example.org [192.0.2.1]",
        "SIZE 52428800",
        "LIMITS MAILMAX=1000 RCPTMAX=50000",
        "8BITMIME",
        "PIPELINING",
        "PIPECONNECT",
        "CHUNKING",
        "PRDR",
        "HELP",
    ]);
    assert_eq!(c.domain(), b"mx.example.net");
    assert_eq!(
        c.greeting_text(),
        Some(&b"Hello client.example.org [192.0.2.1]"[..])
    );
    assert_eq!(c.size(), SizeLimit::max(52_428_800));
    let limits = c.limits().unwrap();
    assert_eq!(limits.mail_max(), Some(1000));
    assert_eq!(limits.rcpt_max(), Some(50000));
    assert_eq!(limits.rcpt_domain_max(), None);
    assert_eq!(limits.other().count(), 0);
    assert!(c.eight_bit_mime() && c.pipelining() && c.chunking() && c.help());
    assert!(!c.starttls() && !c.auth());
    assert_eq!(unknown(&c), ["PIPECONNECT", "PRDR"]);
    assert!(c.has_extn("pipeconnect") && c.has_extn("PRDR") && !c.has_extn("pipe"));
}

#[test]
fn gmail() {
    let c = caps(&[
        "smtp.gmail.com at your service, [1.2.3.4]",
        "SIZE 35882577",
        "8BITMIME",
        "AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH",
        "ENHANCEDSTATUSCODES",
        "PIPELINING",
        "CHUNKING",
        "SMTPUTF8",
    ]);
    assert_eq!(c.domain(), b"smtp.gmail.com");
    assert_eq!(c.greeting_text(), Some(&b"at your service, [1.2.3.4]"[..]));
    assert_eq!(c.size(), SizeLimit::max(35_882_577));
    assert_eq!(
        mechs(&c),
        [
            "LOGIN",
            "PLAIN",
            "XOAUTH2",
            "PLAIN-CLIENTTOKEN",
            "OAUTHBEARER",
            "XOAUTH"
        ]
    );
    assert!(c.smtp_utf8() && c.chunking() && c.pipelining() && c.enhanced_status_codes());
    assert!(!c.starttls());
}

#[test]
fn microsoft_365() {
    let c = caps(&[
        "BN8PR12CA0001.outlook.office365.com Hello [192.0.2.10]",
        "SIZE 157286400",
        "PIPELINING",
        "DSN",
        "ENHANCEDSTATUSCODES",
        "STARTTLS",
        "8BITMIME",
        "BINARYMIME",
        "CHUNKING",
        "SMTPUTF8",
    ]);
    assert_eq!(c.domain(), b"BN8PR12CA0001.outlook.office365.com");
    assert!(c.starttls() && c.binary_mime() && c.chunking() && c.dsn());
    assert_eq!(c.size(), SizeLimit::max(157_286_400));
    assert!(c.unknown().next().is_none());
    // After STARTTLS, submission advertises AUTH (Exchange also sends the old form).
    let c = caps(&[
        "BN8PR12CA0001.outlook.office365.com Hello [192.0.2.10]",
        "SIZE 35882577",
        "AUTH LOGIN XOAUTH2",
        "AUTH=LOGIN",
        "8BITMIME",
        "BINARYMIME",
        "CHUNKING",
        "SMTPUTF8",
    ]);
    assert_eq!(mechs(&c), ["LOGIN", "XOAUTH2"]);
    assert_eq!(
        c.esmtp_feature("auth").as_deref(),
        Some(" LOGIN XOAUTH2 LOGIN")
    );
}

#[test]
fn old_exchange_auth_equals_only() {
    let c = caps(&[
        "mx.example.com",
        "AUTH=LOGIN PLAIN",
        "AUTH GSSAPI NTLM LOGIN",
    ]);
    assert_eq!(mechs(&c), ["LOGIN", "PLAIN", "GSSAPI", "NTLM"]);
    assert_eq!(
        c.esmtp_feature("auth").as_deref(),
        Some(" LOGIN PLAIN GSSAPI NTLM LOGIN")
    );
}

#[test]
fn dovecot_lmtp_lhlo() {
    // Dovecot's LMTP server (src/lmtp, lib-smtp server) answers LHLO like this.
    let c = caps(&[
        "mail.example.com",
        "8BITMIME",
        "CHUNKING",
        "ENHANCEDSTATUSCODES",
        "PIPELINING",
        "STARTTLS",
        "VRFY",
        "XCLIENT ADDR PORT TRANS TIMEOUT HELO LOGIN SESSION FORWARD",
        "SMTPUTF8",
    ]);
    assert!(c.eight_bit_mime() && c.chunking() && c.enhanced_status_codes());
    assert!(c.pipelining() && c.starttls() && c.vrfy() && c.smtp_utf8());
    assert_eq!(
        unknown(&c),
        ["XCLIENT ADDR PORT TRANS TIMEOUT HELO LOGIN SESSION FORWARD"]
    );
    let x = c.iter().find(|e| e.keyword() == "XCLIENT").unwrap();
    assert_eq!(x.param_list().count(), 8);
}

#[test]
fn single_line_no_extensions() {
    let reply = Reply::parse(b"250 mail.example.com\r\n").unwrap();
    let c = Capabilities::from(&reply);
    assert_eq!(c.domain(), b"mail.example.com");
    assert_eq!(c.greeting(), b"mail.example.com");
    assert!(c.lines().next().is_none() && c.iter().next().is_none());
    assert!(c.unknown().next().is_none() && c.esmtp_features().is_empty());
    assert!(c.same_known(&Capabilities::default()));
    assert_eq!(c.to_reply_lines(), [b"mail.example.com".to_vec()]);
    // `250` alone: empty greeting.
    let c = Capabilities::from(&Reply::parse(b"250\r\n").unwrap());
    assert_eq!(c.domain(), b"");
    assert_eq!(c.greeting_text(), None);
}

#[test]
fn less_common_known_extensions() {
    let c = caps(&[
        "mx",
        "DELIVERBY 240",
        "MT-PRIORITY MIXER",
        "FUTURERELEASE 604800 2012-10-28T23:59:59Z",
        "REQUIRETLS",
        "EXPN",
        "LIMITS RCPTMAX=20 RCPTDOMAINMAX=5 MAILMAX=3 X-FOO=bar",
    ]);
    assert_eq!(
        c.deliver_by(),
        Some(DeliverBy {
            min_by_time: Some(240)
        })
    );
    assert_eq!(
        c.mt_priority(),
        Some(MtPriority {
            policy: Some("MIXER")
        })
    );
    assert_eq!(
        c.future_release(),
        Some(FutureRelease {
            max_interval: 604800,
            max_date_time: "2012-10-28T23:59:59Z"
        })
    );
    assert!(c.require_tls() && c.expn());
    let l = c.limits().unwrap();
    assert_eq!(
        (l.rcpt_max(), l.rcpt_domain_max(), l.mail_max()),
        (Some(20), Some(5), Some(3))
    );
    assert_eq!(l.other().collect::<Vec<_>>(), [("X-FOO", "bar")]);

    let c = caps(&["mx", "DELIVERBY", "MT-PRIORITY", "LIMITS"]);
    assert_eq!(c.deliver_by(), Some(DeliverBy { min_by_time: None }));
    assert_eq!(c.mt_priority(), Some(MtPriority { policy: None }));
    assert_eq!(c.limits().map(|l| l.rcpt_max()), Some(None));
}

#[test]
fn size_edge_cases() {
    assert_eq!(caps(&["mx", "SIZE"]).size(), Some(SizeLimit::NoFixedLimit));
    assert_eq!(
        caps(&["mx", "SIZE 0"]).size(),
        Some(SizeLimit::NoFixedLimit)
    );
    assert_eq!(caps(&["mx", "SIZE "]).size(), Some(SizeLimit::NoFixedLimit));
    assert_eq!(caps(&["mx"]).size(), None);
    assert!(SizeLimit::NoFixedLimit.allows(u64::MAX));
    assert!(!SizeLimit::max(10).unwrap().allows(11));
    assert_eq!(
        caps(&["mx", "SIZE 18446744073709551615"]).size(),
        SizeLimit::max(u64::MAX)
    );
    for bad in [
        "SIZE abc",
        "SIZE 99999999999999999999999",
        "SIZE 18446744073709551616",
        "SIZE -1",
        "SIZE 10 20",
        "SIZE=100",
        "SIZE\t100",
        "SIZEX 100",
        " SIZE 100",
    ] {
        let c = caps(&["mx", bad]);
        assert_eq!(c.size(), None, "{bad}");
        assert_eq!(unknown(&c), [bad], "{bad}");
    }
    // The first well-formed SIZE wins; a malformed one before it is unknown.
    let c = caps(&["mx", "SIZE abc", "SIZE 100", "SIZE 200"]);
    assert_eq!(c.size(), SizeLimit::max(100));
    assert_eq!(unknown(&c), ["SIZE abc"]);
    assert_eq!(c.iter().filter(|e| e.keyword() == "SIZE").count(), 3);
    // smtplib: last one wins, lax.
    assert_eq!(c.esmtp_feature("size").as_deref(), Some("200"));
}

#[test]
fn keywords_are_whole_tokens_any_case() {
    let c = caps(&[
        "mx",
        "sizex 10",
        "8BITMIMEX",
        "X-STARTTLS",
        "STARTTLSX",
        "AUTHX PLAIN",
        "PIPELINING-X",
    ]);
    assert!(c.size().is_none() && !c.eight_bit_mime() && !c.starttls());
    assert!(!c.auth() && !c.pipelining());
    assert_eq!(unknown(&c).len(), 6);
    assert!(c.has_extn("x-starttls") && !c.has_extn("starttls") && !c.has_extn("8bitmime"));

    let c = caps(&[
        "mx",
        "starttls",
        "Pipelining",
        "size 100",
        "auth plain cram-md5",
        "8bitmime",
    ]);
    assert!(c.starttls() && c.pipelining() && c.eight_bit_mime());
    assert_eq!(c.size(), SizeLimit::max(100));
    assert_eq!(mechs(&c), ["PLAIN", "CRAM-MD5"]);
    assert!(c.has_extn("STARTTLS") && c.has_extn("SiZe"));
}

#[test]
fn blank_whitespace_tabs_and_binary_lines() {
    let lines: [&[u8]; 9] = [
        b"mx",
        b"",
        b"   ",
        b"\t",
        b"STARTTLS\t",
        b"PIPELINING",
        b"8BITMIME\xff",
        b"\xc3\xa9T\xc3\xa9",
        b"CHUNKING\x00",
    ];
    let c = caps_bytes(&lines);
    assert!(c.pipelining());
    assert!(!c.starttls() && !c.eight_bit_mime() && !c.chunking());
    let raw: Vec<&[u8]> = c.unknown().collect();
    assert_eq!(raw, [&lines[1..5], &lines[6..]].concat());
    assert_eq!(c.iter().count(), 1);
    // smtplib sees `8bitmime` (Latin-1, lax); the typed view does not.
    assert!(c.has_extn("8bitmime") && c.has_extn("starttls"));
    assert_eq!(c.esmtp_feature("8bitmime").as_deref(), Some("\u{ff}"));
}

#[test]
fn flags_ignore_parameters() {
    let c = caps(&["mx", "PIPELINING now", "STARTTLS  "]);
    assert!(c.pipelining() && c.starttls());
    assert!(c.unknown().next().is_none());
}

#[test]
fn auth_edge_cases() {
    let c = caps(&["mx", "AUTH"]);
    assert!(c.auth());
    assert_eq!(mechs(&c).len(), 0);
    assert_eq!(c.esmtp_feature("auth").as_deref(), Some(" "));

    let c = caps(&["mx", "AUTH=", "AUTH PLAIN LOGIN=x", "AUTH\tPLAIN"]);
    assert!(!c.auth());
    assert_eq!(unknown(&c), ["AUTH=", "AUTH PLAIN LOGIN=x", "AUTH\tPLAIN"]);

    let c = caps(&[
        "mx",
        "AUTH plain  Login ",
        "AUTH=LOGIN xoauth2",
        "auth PLAIN",
    ]);
    assert_eq!(mechs(&c), ["PLAIN", "LOGIN", "XOAUTH2"]);
}

#[test]
fn unknown_keywords_with_equals_params() {
    let c = caps(&[
        "mx",
        "X-EXPS=LOGIN",
        "XFOO a=b c",
        "X-LINK2STATE",
        "XEXCH50",
    ]);
    assert_eq!(
        unknown(&c),
        ["X-EXPS=LOGIN", "XFOO a=b c", "X-LINK2STATE", "XEXCH50"]
    );
    let e: Vec<_> = c.iter().map(|e| (e.keyword(), e.params())).collect();
    assert_eq!(
        e,
        [
            ("X-EXPS", "LOGIN"),
            ("XFOO", "a=b c"),
            ("X-LINK2STATE", ""),
            ("XEXCH50", "")
        ]
    );
    assert_eq!(c.esmtp_feature("x-exps").as_deref(), Some("=LOGIN"));
}

#[test]
fn malformed_values_of_other_extensions() {
    for bad in [
        "DELIVERBY abc",
        "DELIVERBY 1234567890",
        "MT-PRIORITY A B",
        "FUTURERELEASE 604800",
        "FUTURERELEASE 604800 tomorrow",
        "LIMITS RCPTMAX",
        "LIMITS =5",
    ] {
        let c = caps(&["mx", bad]);
        assert!(
            c.deliver_by().is_none() && c.mt_priority().is_none(),
            "{bad}"
        );
        assert!(
            c.future_release().is_none() && c.limits().is_none(),
            "{bad}"
        );
        assert_eq!(unknown(&c), [bad]);
    }
    // A registered limit with a bad value, and a repeat, are kept as other limits.
    let c = caps(&["mx", "LIMITS RCPTMAX=many MAILMAX=5 mailmax=6"]);
    let l = c.limits().unwrap();
    assert_eq!((l.rcpt_max(), l.mail_max()), (None, Some(5)));
    assert_eq!(
        l.other().collect::<Vec<_>>(),
        [("RCPTMAX", "many"), ("mailmax", "6")]
    );
}

#[test]
fn struct_stays_small() {
    assert!(
        std::mem::size_of::<Capabilities>() <= 192,
        "{}",
        std::mem::size_of::<Capabilities>()
    );
}
