//! Properties of `smtp_proto::command`: whatever the input, the encoder yields a typed error
//! or exactly one well-formed line.

use proptest::prelude::*;
use smtp_proto::command::{
    Body, By, ByMode, Command, DateTime, Domain, Envid, EsmtpParam, ForwardPath, FutureRelease,
    MAX_AUTH_LINE_LEN, MAX_LINE_LEN, MailParams, Mailbox, Mechanism, MtPriority, Notify, Orcpt,
    RawCommand, RcptParams, Ret, ReversePath, Secret, SmtpString, xtext,
};

/// Strings biased towards the dangerous characters.
fn nasty() -> impl Strategy<Value = String> {
    let ch = prop_oneof![
        4 => prop::sample::select(vec![
            'a', 'Z', '0', '.', '@', '"', '\\', '<', '>', ' ', '\t', '\r', '\n', '\0', '[', ']',
            ':', '-', '+', '=', ';', ',', '\u{7f}', '\u{1b}', 'é', '例', '\u{85}', '\u{2028}',
        ]),
        1 => any::<char>(),
    ];
    prop::collection::vec(ch, 0..40).prop_map(|v| v.into_iter().collect())
}

/// Domain-like strings, so that valid domains are generated often.
fn domainish() -> impl Strategy<Value = String> {
    prop_oneof![
        nasty(),
        "[a-zé0-9-]{1,10}(\\.[a-z0-9-]{1,10}){0,3}",
        "\\[[0-9.:a-fIPv6]{1,20}\\]",
    ]
}

/// Mailbox-like strings.
fn mailboxish() -> impl Strategy<Value = String> {
    prop_oneof![
        nasty(),
        (prop_oneof![nasty(), "[a-z.\"é \\\\\r]{0,12}"], domainish())
            .prop_map(|(l, d)| format!("{l}@{d}")),
    ]
}

/// Checks the encoder's contract for one command.
fn check(cmd: &Command) -> Result<(), TestCaseError> {
    let mut out = b"prefix".to_vec();
    match cmd.encode(&mut out) {
        Err(_) => prop_assert_eq!(&out[..], b"prefix"),
        Ok(()) => {
            let line = &out[6..];
            prop_assert!(line.ends_with(b"\r\n"));
            let body = &line[..line.len() - 2];
            prop_assert!(!body.contains(&b'\r') && !body.contains(&b'\n'));
            prop_assert!(!body.contains(&0));
            let max = if matches!(cmd, Command::AuthResponse(_)) {
                MAX_AUTH_LINE_LEN
            } else {
                MAX_LINE_LEN
            };
            prop_assert!(line.len() <= max, "{} > {}", line.len(), max);
            prop_assert!(!cmd.redacted().to_string().contains(['\r', '\n']));
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn greeting(s in domainish()) {
        if let Ok(d) = Domain::parse(&s) {
            prop_assert!(!s.contains(['\r', '\n', '\0']));
            check(&Command::Ehlo(d.clone()))?;
            check(&Command::Helo(d.clone()))?;
            check(&Command::Lhlo(d))?;
        }
    }

    #[test]
    fn domain_literal(ip in any::<std::net::IpAddr>()) {
        let d = Domain::from_ip(ip);
        prop_assert_eq!(Domain::parse(d.as_str()).unwrap(), d.clone());
        check(&Command::Ehlo(d))?;
    }

    #[test]
    fn mail_and_rcpt(
        local in nasty(),
        dom in domainish(),
        wire in mailboxish(),
        utf8 in any::<bool>(),
    ) {
        let mut mailboxes = Vec::new();
        if let Ok(m) = Mailbox::parse(&wire) {
            // Parsing the wire form back gives the same mailbox.
            prop_assert_eq!(Mailbox::parse(m.as_str()).unwrap(), m.clone());
            mailboxes.push(m);
        }
        if let Ok(d) = Domain::parse(&dom)
            && let Ok(m) = Mailbox::new(&local, d)
        {
            prop_assert_eq!(Mailbox::parse(m.as_str()).unwrap(), m.clone());
            mailboxes.push(m);
        }
        for path in [format!("<{wire}>"), wire.clone()] {
            if let Ok(rp) = ReversePath::parse(&path) {
                check(&Command::mail(rp))?;
            }
            if let Ok(fp) = ForwardPath::parse(&path) {
                check(&Command::rcpt(fp))?;
            }
        }
        for m in mailboxes {
            let mut params = MailParams::default();
            params.smtputf8 = utf8;
            params.auth = Some(m.clone().into());
            check(&Command::Mail { from: m.clone().into(), params })?;
            check(&Command::Rcpt { to: m.into(), params: RcptParams::default(), smtputf8: utf8 })?;
        }
    }

    #[test]
    fn mail_params(
        size in any::<Option<u64>>(),
        body in prop::option::of(prop::sample::select(vec![Body::SevenBit, Body::EightBitMime, Body::BinaryMime])),
        ret in prop::option::of(prop::sample::select(vec![Ret::Full, Ret::Hdrs])),
        envid in nasty(),
        prio in any::<i8>(),
        hold in any::<u32>(),
        until in nasty(),
        by_time in any::<i32>(),
        by_r in any::<bool>(),
        trace in any::<bool>(),
        kw in nasty(),
        val in prop::option::of(nasty()),
        flags in any::<(bool, bool)>(),
    ) {
        let mut params = MailParams::default();
        params.size = size;
        params.body = body;
        params.ret = ret;
        params.smtputf8 = flags.0;
        params.requiretls = flags.1;
        params.envid = Envid::new(&envid).ok();
        params.mt_priority = MtPriority::new(prio).ok();
        params.future_release = Some(match DateTime::parse(&until) {
            Ok(t) => FutureRelease::HoldUntil(t),
            Err(_) => FutureRelease::HoldFor(hold),
        });
        params.by = Some(By {
            time: by_time,
            mode: if by_r { ByMode::Return } else { ByMode::Notify },
            trace,
        });
        if let Ok(p) = EsmtpParam::new(&kw, val.as_deref()) {
            params.extra.push(p);
        }
        check(&Command::Mail { from: ReversePath::Null, params })?;
    }

    #[test]
    fn rcpt_params(
        n in any::<(bool, bool, bool, bool)>(),
        addr_type in nasty(),
        addr in nasty(),
        kw in nasty(),
        val in prop::option::of(nasty()),
    ) {
        let mut params = RcptParams::default();
        params.notify = Some(if n.0 {
            Notify::Never
        } else {
            Notify::On { success: n.1, failure: n.2, delay: n.3 }
        });
        params.orcpt = Orcpt::new(&addr_type, &addr).ok();
        if let Ok(p) = EsmtpParam::new(&kw, val.as_deref()) {
            params.extra.push(p);
        }
        check(&Command::Rcpt { to: ForwardPath::Postmaster, params, smtputf8: false })?;
    }

    #[test]
    fn text_commands(s in nasty(), utf8 in any::<bool>(), size in any::<u64>(), last in any::<bool>()) {
        if let Ok(arg) = SmtpString::new(&s) {
            check(&Command::Vrfy { arg: arg.clone(), smtputf8: utf8 })?;
            check(&Command::Expn { arg: arg.clone(), smtputf8: utf8 })?;
            check(&Command::Help(Some(arg.clone())))?;
            check(&Command::Noop(Some(arg)))?;
        }
        if let Ok(raw) = RawCommand::new(&s) {
            check(&Command::Raw(raw))?;
        }
        check(&Command::Bdat { size, last })?;
    }

    #[test]
    fn long_text(s in "[ -~\t\r\n\0]{400,600}") {
        if let Ok(raw) = RawCommand::new(&s) {
            check(&Command::Raw(raw))?;
        }
        if let Ok(arg) = SmtpString::new(&s) {
            check(&Command::Noop(Some(arg)))?;
        }
    }

    #[test]
    fn auth(mech in nasty(), ir in prop::option::of(prop::collection::vec(any::<u8>(), 0..600)), resp in prop::collection::vec(any::<u8>(), 0..13_000)) {
        if let Ok(mechanism) = Mechanism::new(&mech) {
            let cmd = Command::Auth { mechanism, initial_response: ir.map(Secret::new) };
            check(&cmd)?;
            prop_assert!(cmd.redacted().to_string().len() < 50);
        }
        check(&Command::AuthResponse(Secret::new(resp)))?;
    }

    #[test]
    fn xtext_round_trip(data in prop::collection::vec(any::<u8>(), 0..200)) {
        let enc = xtext::encode(&data);
        prop_assert!(enc.bytes().all(|b| (33..=126).contains(&b) && b != b'='));
        prop_assert_eq!(enc.len(), xtext::encoded_len(&data));
        prop_assert_eq!(xtext::decode(&enc).unwrap(), data);
    }

    #[test]
    fn xtext_decode_total(s in prop_oneof![nasty(), "(\\+[0-9A-Fa-f]{0,2}|[!-~]){0,20}"]) {
        if let Ok(d) = xtext::decode(&s) {
            prop_assert_eq!(xtext::decode(&xtext::encode(&d)).unwrap(), d);
        }
    }
}
