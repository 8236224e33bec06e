//! Encoder vectors: RFC examples, limits and errors of `smtp_proto::command`.

use smtp_proto::command::{
    Body, By, ByMode, Command, CommandError, DateTime, Domain, Envid, EsmtpParam, ForwardPath,
    FutureRelease, MailParams, Mailbox, Mechanism, MtPriority, Notify, Orcpt, RawCommand,
    RcptParams, Ret, ReversePath, Secret, SmtpString, Verb, xtext,
};

fn enc(c: &Command) -> String {
    String::from_utf8(c.to_bytes().unwrap()).unwrap()
}

fn mb(s: &str) -> Mailbox {
    Mailbox::parse(s).unwrap()
}

fn dom(s: &str) -> Domain {
    Domain::parse(s).unwrap()
}

/// A domain name of exactly `n` octets made of 49-octet labels.
fn domain_of_len(n: usize) -> String {
    let k = (n - 1) / 50;
    let mut s = format!("{}.", "a".repeat(49)).repeat(k);
    s.push_str(&"b".repeat(n - 50 * k));
    assert_eq!(s.len(), n);
    s
}

#[test]
fn rfc5321_appendix_d() {
    assert_eq!(enc(&Command::Ehlo(dom("bar.com"))), "EHLO bar.com\r\n");
    assert_eq!(
        enc(&Command::mail(mb("Smith@bar.com"))),
        "MAIL FROM:<Smith@bar.com>\r\n"
    );
    for r in ["Jones@foo.com", "Green@foo.com", "Brown@foo.com"] {
        assert_eq!(enc(&Command::rcpt(mb(r))), format!("RCPT TO:<{r}>\r\n"));
    }
    assert_eq!(enc(&Command::Data), "DATA\r\n");
    assert_eq!(enc(&Command::Quit), "QUIT\r\n");
    assert_eq!(enc(&Command::Rset), "RSET\r\n");
    assert_eq!(enc(&Command::Helo(dom("foo.com"))), "HELO foo.com\r\n");
    assert_eq!(
        enc(&Command::Vrfy {
            arg: SmtpString::new("Crispin").unwrap(),
            smtputf8: false
        }),
        "VRFY Crispin\r\n"
    );
    // A mailbox is sent as is: quoted, servers read it as a local part without a domain
    // (Exim 501, aiosmtpd 550 for a known user; see the interop matrix).
    assert_eq!(
        enc(&Command::Vrfy {
            arg: SmtpString::new("alice@test.example").unwrap(),
            smtputf8: false
        }),
        "VRFY alice@test.example\r\n"
    );
    assert_eq!(
        enc(&Command::Expn {
            arg: SmtpString::new("\"john doe\"@example.com").unwrap(),
            smtputf8: false
        }),
        "EXPN \"john doe\"@example.com\r\n"
    );
    // Not a mailbox (a space outside quotes): quoted.
    assert_eq!(SmtpString::new("a b@c").unwrap().as_str(), "\"a b@c\"");
    assert_eq!(enc(&Command::mail(ReversePath::Null)), "MAIL FROM:<>\r\n");
    assert_eq!(
        enc(&Command::rcpt(ForwardPath::Postmaster)),
        "RCPT TO:<Postmaster>\r\n"
    );
}

#[test]
fn simple_commands() {
    assert_eq!(
        enc(&Command::Lhlo(dom("[192.0.2.1]"))),
        "LHLO [192.0.2.1]\r\n"
    );
    assert_eq!(
        enc(&Command::Ehlo(Domain::from_ip(
            "2001:db8::1".parse().unwrap()
        ))),
        "EHLO [IPv6:2001:db8::1]\r\n"
    );
    assert_eq!(enc(&Command::StartTls), "STARTTLS\r\n");
    assert_eq!(
        enc(&Command::Bdat {
            size: 86,
            last: true
        }),
        "BDAT 86 LAST\r\n"
    );
    assert_eq!(
        enc(&Command::Bdat {
            size: 0,
            last: false
        }),
        "BDAT 0\r\n"
    );
    assert_eq!(enc(&Command::Help(None)), "HELP\r\n");
    assert_eq!(
        enc(&Command::Help(Some(SmtpString::new("MAIL").unwrap()))),
        "HELP MAIL\r\n"
    );
    assert_eq!(
        enc(&Command::Noop(Some(SmtpString::new("hi there").unwrap()))),
        "NOOP \"hi there\"\r\n"
    );
    assert_eq!(
        enc(&Command::Expn {
            arg: SmtpString::new("Example-People").unwrap(),
            smtputf8: false
        }),
        "EXPN Example-People\r\n"
    );
    assert_eq!(
        enc(&Command::Raw(
            RawCommand::new("XCLIENT ADDR=192.0.2.1").unwrap()
        )),
        "XCLIENT ADDR=192.0.2.1\r\n"
    );
    assert_eq!(enc(&Command::AuthCancel), "*\r\n");
}

#[test]
fn mail_parameters() {
    let mut params = MailParams::default();
    params.size = Some(1000);
    params.body = Some(Body::EightBitMime);
    params.smtputf8 = true;
    params.ret = Some(Ret::Hdrs);
    params.envid = Some(Envid::new("QQ314159").unwrap());
    params.auth = Some(ReversePath::Null);
    params.requiretls = true;
    params.mt_priority = Some(MtPriority::new(-3).unwrap());
    params.future_release = Some(FutureRelease::HoldFor(3600));
    params.by = Some(By {
        time: 120,
        mode: ByMode::Return,
        trace: true,
    });
    params.extra = vec![EsmtpParam::new("XFOO", Some("bar")).unwrap()];
    let cmd = Command::Mail {
        from: ReversePath::parse("<Alice@Example.ORG>").unwrap(),
        params,
    };
    assert_eq!(
        enc(&cmd),
        "MAIL FROM:<Alice@Example.ORG> SIZE=1000 BODY=8BITMIME SMTPUTF8 RET=HDRS \
         ENVID=QQ314159 AUTH=<> REQUIRETLS MT-PRIORITY=-3 HOLDFOR=3600 BY=120;RT XFOO=bar\r\n"
    );

    let mut p = MailParams::default();
    p.body = Some(Body::BinaryMime);
    p.future_release = Some(FutureRelease::HoldUntil(
        DateTime::parse("2030-01-01T00:00:00Z").unwrap(),
    ));
    p.by = Some(By::new(-5, ByMode::Notify));
    assert_eq!(
        enc(&Command::Mail {
            from: ReversePath::Null,
            params: p
        }),
        "MAIL FROM:<> BODY=BINARYMIME HOLDUNTIL=2030-01-01T00:00:00Z BY=-5;N\r\n"
    );
}

#[test]
fn rfc4954_auth_param_example() {
    // RFC 4954 §5: MAIL FROM:<e=mc2@example.com> AUTH=e+3Dmc2@example.com
    let m = mb("e=mc2@example.com");
    let mut params = MailParams::default();
    params.auth = Some(m.clone().into());
    let cmd = Command::Mail {
        from: m.into(),
        params,
    };
    assert_eq!(
        enc(&cmd),
        "MAIL FROM:<e=mc2@example.com> AUTH=e+3Dmc2@example.com\r\n"
    );
}

#[test]
fn rcpt_parameters() {
    let mut params = RcptParams::default();
    params.notify = Some(Notify::On {
        success: true,
        failure: true,
        delay: false,
    });
    params.orcpt = Some(Orcpt::rfc822(&mb("Bob@Example.COM")).unwrap());
    let cmd = Command::Rcpt {
        to: ForwardPath::parse("<Bob@Example.COM>").unwrap(),
        params,
        smtputf8: false,
    };
    assert_eq!(
        enc(&cmd),
        "RCPT TO:<Bob@Example.COM> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Bob@Example.COM\r\n"
    );
    let mut p = RcptParams::default();
    p.notify = Some(Notify::Never);
    p.orcpt = Some(Orcpt::new("rfc822", "a+b=c d@x").unwrap());
    assert_eq!(
        enc(&Command::Rcpt {
            to: ForwardPath::Postmaster,
            params: p,
            smtputf8: false
        }),
        "RCPT TO:<Postmaster> NOTIFY=NEVER ORCPT=rfc822;a+2Bb+3Dc+20d@x\r\n"
    );
    let mut p = RcptParams::default();
    p.notify = Some(Notify::On {
        success: false,
        failure: false,
        delay: false,
    });
    assert!(matches!(
        Command::Rcpt {
            to: ForwardPath::Postmaster,
            params: p,
            smtputf8: false
        }
        .to_bytes(),
        Err(CommandError::Invalid {
            field: "NOTIFY",
            ..
        })
    ));
}

#[test]
fn auth_commands() {
    let plain = Command::Auth {
        mechanism: Mechanism::PLAIN,
        initial_response: Some(Secret::new(b"\0tim\0tanstaaftanstaaf".to_vec())),
    };
    // RFC 4616 §4 example.
    assert_eq!(enc(&plain), "AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n");
    // RFC 4954 §4: an empty initial response is sent as "=".
    let empty = Command::Auth {
        mechanism: Mechanism::EXTERNAL,
        initial_response: Some(Secret::new(Vec::new())),
    };
    assert_eq!(enc(&empty), "AUTH EXTERNAL =\r\n");
    let none = Command::Auth {
        mechanism: Mechanism::new("login").unwrap(),
        initial_response: None,
    };
    assert_eq!(enc(&none), "AUTH LOGIN\r\n");
    assert_eq!(enc(&Command::AuthResponse(Secret::from("tim"))), "dGlt\r\n");
    assert_eq!(enc(&Command::AuthResponse(Secret::new(Vec::new()))), "\r\n");
}

#[test]
fn credentials_are_redacted() {
    let plain = Command::Auth {
        mechanism: Mechanism::PLAIN,
        initial_response: Some(Secret::new(b"\0tim\0tanstaaftanstaaf".to_vec())),
    };
    let dbg = format!("{plain:?}");
    assert!(
        !dbg.contains("tanstaaf") && !dbg.contains("AHRpbQB0"),
        "{dbg}"
    );
    assert_eq!(plain.redacted().to_string(), "AUTH PLAIN <redacted>");
    let resp = Command::AuthResponse(Secret::from("hunter2"));
    assert!(!format!("{resp:?}").contains("hunter2"));
    assert_eq!(resp.redacted().to_string(), "<redacted>");
    assert_eq!(
        Command::mail(mb("a@b.c")).redacted().to_string(),
        "MAIL FROM:<a@b.c>"
    );
}

#[test]
fn verbs() {
    assert_eq!(Command::Data.verb(), Verb::Data);
    assert_eq!(Command::rcpt(ForwardPath::Postmaster).verb(), Verb::Rcpt);
    assert_eq!(Command::AuthCancel.verb(), Verb::AuthCancel);
    assert_eq!(Verb::StartTls.as_str(), "STARTTLS");
}

#[test]
fn mailbox_forms() {
    let q = mb("\"john doe\"@example.com");
    assert_eq!(q.local_part(), "\"john doe\"");
    assert_eq!(q.domain().as_str(), "example.com");
    assert_eq!(Mailbox::new("john doe", dom("example.com")).unwrap(), q);
    assert_eq!(
        Mailbox::new("a\"b\\c", dom("x.org")).unwrap().as_str(),
        r#""a\"b\\c"@x.org"#
    );
    assert_eq!(
        Mailbox::new("plain.name", dom("x.org")).unwrap().as_str(),
        "plain.name@x.org"
    );
    assert_eq!(
        Mailbox::new("", dom("x.org")).unwrap().as_str(),
        "\"\"@x.org"
    );
    assert!(Mailbox::new("a\nb", dom("x.org")).is_err());
    assert!(mb("user@[192.0.2.1]").domain().is_address_literal());
    assert!(mb("user@[IPv6:::1]").domain().is_address_literal());
    for bad in [
        "",
        "@x.com",
        "a@",
        "a",
        "a@b@c",
        "a b@c.com",
        "<a@b.com>",
        "\"a\"b@c.com",
        "a@b.com\r\n",
        "a@b.com ",
        "a.@b.com",
        "a@-b.com",
        "a@[1.2.3.999]",
        "a@b.com>\r\nRCPT TO:<c@d.com",
    ] {
        assert!(Mailbox::parse(bad).is_err(), "{bad:?}");
    }
    assert!(matches!(
        Mailbox::parse("a\r\n@b.com"),
        Err(CommandError::ControlByte {
            offset: 1,
            byte: b'\r',
            ..
        })
    ));
}

#[test]
fn paths() {
    assert_eq!(ReversePath::parse("<>").unwrap(), ReversePath::Null);
    assert_eq!(ReversePath::parse("").unwrap(), ReversePath::Null);
    assert_eq!(
        ReversePath::parse("<a@b.c>").unwrap(),
        ReversePath::Mailbox(mb("a@b.c"))
    );
    assert!(ReversePath::parse("<a@b.c").is_err());
    assert_eq!(
        ForwardPath::parse("<postmaster>").unwrap(),
        ForwardPath::Postmaster
    );
    assert_eq!(
        ForwardPath::parse("<Postmaster@x.org>").unwrap(),
        ForwardPath::Mailbox(mb("Postmaster@x.org"))
    );
    assert!(matches!(
        ForwardPath::parse("<a\0@b.c>"),
        Err(CommandError::ControlByte {
            offset: 2,
            byte: 0,
            ..
        })
    ));
    assert!(ForwardPath::parse("<>").is_err());
}

#[test]
fn local_part_limit() {
    assert!(Mailbox::parse(&format!("{}@x.com", "a".repeat(64))).is_ok());
    assert_eq!(
        Mailbox::parse(&format!("{}@x.com", "a".repeat(65))),
        Err(CommandError::TooLong {
            field: "local-part",
            len: 65,
            max: 64
        })
    );
}

#[test]
fn domain_limit() {
    assert!(Domain::parse(&domain_of_len(255)).is_ok());
    assert_eq!(
        Domain::parse(&domain_of_len(256)),
        Err(CommandError::TooLong {
            field: "domain",
            len: 256,
            max: 255
        })
    );
}

#[test]
fn path_limit() {
    let local = "a".repeat(64);
    let ok = format!("{local}@{}", domain_of_len(189));
    assert_eq!(ok.len() + 2, 256);
    let m = mb(&ok);
    assert_eq!(enc(&Command::rcpt(m)).len(), "RCPT TO:".len() + 256 + 2);
    assert_eq!(
        Mailbox::parse(&format!("{local}@{}", domain_of_len(190))),
        Err(CommandError::TooLong {
            field: "path",
            len: 257,
            max: 256
        })
    );
    assert!(Mailbox::new(&local, dom(&domain_of_len(190))).is_err());
}

#[test]
fn line_limit() {
    // "MAIL FROM:<> XFOO=" + value + CRLF
    let at = |n: usize| {
        let mut params = MailParams::default();
        params.extra = vec![EsmtpParam::new("XFOO", Some(&"v".repeat(n))).unwrap()];
        Command::Mail {
            from: ReversePath::Null,
            params,
        }
    };
    assert_eq!(at(492).to_bytes().unwrap().len(), 512);
    let mut out = b"keep".to_vec();
    assert_eq!(
        at(493).encode(&mut out),
        Err(CommandError::LineTooLong { len: 513, max: 512 })
    );
    assert_eq!(out, b"keep", "nothing appended on error");

    assert!(RawCommand::new(&"X".repeat(510)).is_ok());
    assert!(matches!(
        RawCommand::new(&"X".repeat(511)),
        Err(CommandError::TooLong { max: 510, .. })
    ));
    let noop = |n: usize| Command::Noop(Some(SmtpString::new(&"a".repeat(n)).unwrap()));
    assert_eq!(noop(505).to_bytes().unwrap().len(), 512);
    assert!(noop(506).to_bytes().is_err());

    let ir = |n: usize| Command::Auth {
        mechanism: Mechanism::PLAIN,
        initial_response: Some(Secret::new(vec![0u8; n])),
    };
    // "AUTH PLAIN " (11) + base64 + CRLF: 498 base64 chars is not a multiple of 4; use 372
    // bytes -> 496 chars -> 509 octets, and 375 bytes -> 500 chars -> 513 octets.
    assert_eq!(ir(372).to_bytes().unwrap().len(), 509);
    assert!(matches!(
        ir(375).to_bytes(),
        Err(CommandError::LineTooLong { len: 513, max: 512 })
    ));
}

#[test]
fn auth_continuation_cap() {
    // base64 of 12285 bytes is 16380 chars: 16382 octets with CRLF.
    let ok = Command::AuthResponse(Secret::new(vec![7u8; 12285]));
    assert_eq!(ok.to_bytes().unwrap().len(), 16382);
    let too_long = Command::AuthResponse(Secret::new(vec![7u8; 12288]));
    assert!(matches!(
        too_long.to_bytes(),
        Err(CommandError::LineTooLong {
            len: 16386,
            max: 16384
        })
    ));
    // Continuation lines are exempt from 512.
    assert!(
        Command::AuthResponse(Secret::new(vec![1u8; 1000]))
            .to_bytes()
            .is_ok()
    );
}

#[test]
fn smtputf8_gating() {
    let u = mb("jöran@bücher.example");
    assert!(u.needs_smtputf8());
    assert!(matches!(
        Command::rcpt(u.clone()).to_bytes(),
        Err(CommandError::Utf8NotEnabled { offset: 1, .. })
    ));
    let rcpt = Command::Rcpt {
        to: u.clone().into(),
        params: RcptParams::default(),
        smtputf8: true,
    };
    assert_eq!(enc(&rcpt), "RCPT TO:<jöran@bücher.example>\r\n");

    assert!(matches!(
        Command::mail(u.clone()).to_bytes(),
        Err(CommandError::Utf8NotEnabled { .. })
    ));
    let mut params = MailParams::default();
    params.smtputf8 = true;
    assert_eq!(
        enc(&Command::Mail {
            from: u.into(),
            params
        }),
        "MAIL FROM:<jöran@bücher.example> SMTPUTF8\r\n"
    );

    assert!(Command::Ehlo(dom("bücher.example")).to_bytes().is_err());
    let v = SmtpString::new("jöran").unwrap();
    assert!(
        Command::Vrfy {
            arg: v.clone(),
            smtputf8: false
        }
        .to_bytes()
        .is_err()
    );
    assert_eq!(
        enc(&Command::Vrfy {
            arg: v,
            smtputf8: true
        }),
        "VRFY jöran SMTPUTF8\r\n"
    );
}

#[test]
fn parameter_conflicts() {
    let with_extra = |k: &str| {
        let mut params = MailParams::default();
        params.extra = vec![EsmtpParam::new(k, Some("1")).unwrap()];
        Command::Mail {
            from: ReversePath::Null,
            params,
        }
        .to_bytes()
    };
    assert!(matches!(
        with_extra("size"),
        Err(CommandError::ReservedParameter { .. })
    ));
    assert!(with_extra("X-SIZE").is_ok());
    let mut params = MailParams::default();
    params.extra = vec![
        EsmtpParam::new("XA", None).unwrap(),
        EsmtpParam::new("xa", Some("1")).unwrap(),
    ];
    assert!(matches!(
        Command::Mail {
            from: ReversePath::Null,
            params
        }
        .to_bytes(),
        Err(CommandError::DuplicateParameter { .. })
    ));
    let mut p = RcptParams::default();
    p.extra = vec![EsmtpParam::new("NOTIFY", Some("NEVER")).unwrap()];
    assert!(
        Command::Rcpt {
            to: ForwardPath::Postmaster,
            params: p,
            smtputf8: false
        }
        .to_bytes()
        .is_err()
    );
}

#[test]
fn parameter_ranges() {
    assert!(MtPriority::new(9).is_ok() && MtPriority::new(-9).is_ok());
    assert!(MtPriority::new(10).is_err() && MtPriority::new(-10).is_err());
    let mail = |f: FutureRelease, by: Option<By>| {
        let mut params = MailParams::default();
        params.future_release = Some(f);
        params.by = by;
        Command::Mail {
            from: ReversePath::Null,
            params,
        }
        .to_bytes()
    };
    assert!(mail(FutureRelease::HoldFor(999_999_999), None).is_ok());
    assert!(mail(FutureRelease::HoldFor(1_000_000_000), None).is_err());
    assert!(
        mail(
            FutureRelease::HoldFor(1),
            Some(By::new(-999_999_999, ByMode::Notify))
        )
        .is_ok()
    );
    assert!(
        mail(
            FutureRelease::HoldFor(1),
            Some(By::new(1_000_000_000, ByMode::Return))
        )
        .is_err()
    );
    assert!(Envid::new(&"x".repeat(100)).is_ok());
    assert!(Envid::new(&"x".repeat(101)).is_err());
    assert!(Envid::new(&"+".repeat(33)).is_ok()); // 99 xtext chars
    assert!(Envid::new(&"+".repeat(34)).is_err()); // 102 xtext chars
    assert!(Envid::new("a\r\nb").is_err());
    assert!(Envid::new("").is_err());
    assert!(Orcpt::new("rfc822", &"a".repeat(493)).is_ok());
    assert!(Orcpt::new("rfc822", &"a".repeat(494)).is_err());
    assert!(Orcpt::new("rfc 822", "a@b").is_err());
    assert!(Orcpt::new("rfc822", "jöran@x").is_err());
    assert!(Mechanism::new("").is_err());
}

#[test]
fn rfc3461_xtext() {
    assert_eq!(xtext::encode(b"+"), "+2B");
    assert_eq!(xtext::encode(b"="), "+3D");
    assert_eq!(xtext::encode(b" "), "+20");
    assert_eq!(xtext::encode(b"\r\n\0"), "+0D+0A+00");
    assert_eq!(xtext::encode(b"!~"), "!~");
    assert_eq!(xtext::encode("é".as_bytes()), "+C3+A9");
    assert_eq!(xtext::encode(b""), "");
    assert_eq!(
        xtext::decode("e+3Dmc2@example.com").unwrap(),
        b"e=mc2@example.com"
    );
    assert_eq!(xtext::decode("+C3+A9").unwrap(), "é".as_bytes());
    for bad in ["+", "+2", "+2b", "+G0", "a b", "a=b", "\r", "é"] {
        assert!(xtext::decode(bad).is_err(), "{bad:?}");
    }
    assert_eq!(xtext::encoded_len(b"a+b"), 5);
}

#[test]
fn errors_display() {
    let e = Mailbox::parse("ab\ncd@x").unwrap_err();
    assert_eq!(
        e.to_string(),
        "mailbox: forbidden control byte 0x0a at offset 2"
    );
    let e = Domain::parse("a..b").unwrap_err();
    assert_eq!(
        e.to_string(),
        "domain: unexpected '.' at offset 2, expected letter or digit"
    );
}
