//! Properties of `smtp_proto::command`: whatever the input, the encoder yields a typed error
//! or exactly one well-formed line.

use std::sync::atomic::{AtomicU32, Ordering};

use proptest::prelude::*;
use smtp_proto::command::{
    Body, By, ByMode, Command, DateTime, Domain, Envid, EsmtpParam, ForwardPath, FutureRelease,
    MAX_AUTH_LINE_LEN, MAX_LINE_LEN, MailParams, Mailbox, Mechanism, MtPriority, Notify, Orcpt,
    RawCommand, RcptParams, Ret, ReversePath, Secret, SmtpString, xtext,
};

/// Counts how many generated cases of one property a constructor accepted, so that a
/// property guarded by `if let Ok(..)` cannot pass vacuously (a parser that refused
/// everything would otherwise check nothing): once 128 cases ran, fewer than `min_pct`
/// percent accepted fails the property. The minimums are about a sixth of the observed
/// rates (`SMTP_PROPS_RATES=1 cargo test --test command_props -- --nocapture` prints them).
struct Acceptance {
    name: &'static str,
    min_pct: u32,
    ran: AtomicU32,
    accepted: AtomicU32,
}

impl Acceptance {
    const fn new(name: &'static str, min_pct: u32) -> Self {
        Acceptance {
            name,
            min_pct,
            ran: AtomicU32::new(0),
            accepted: AtomicU32::new(0),
        }
    }

    /// Records one case's outcome and returns it.
    fn record<T, E>(&self, r: Result<T, E>) -> Result<Result<T, E>, TestCaseError> {
        let ran = self.ran.fetch_add(1, Ordering::Relaxed) + 1;
        let accepted = self
            .accepted
            .fetch_add(u32::from(r.is_ok()), Ordering::Relaxed)
            + u32::from(r.is_ok());
        if std::env::var_os("SMTP_PROPS_RATES").is_some() && ran.is_multiple_of(256) {
            eprintln!("{}: {accepted}/{ran} accepted", self.name);
        }
        prop_assert!(
            ran < 128 || accepted * 100 >= self.min_pct * ran,
            "{}: only {} of {} generated cases accepted (at least {}% expected)",
            self.name,
            accepted,
            ran,
            self.min_pct
        );
        Ok(r)
    }
}

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

/// Mailbox-like strings that are often valid, for the properties that need valid ones.
fn valid_mailboxish() -> impl Strategy<Value = String> {
    prop_oneof![
        mailboxish(),
        "[a-z0-9+_]{1,8}(\\.[a-z0-9]{1,8}){0,2}@[a-z0-9-]{1,10}(\\.[a-z]{2,6}){1,2}",
    ]
}

/// RFC 3339 date-times as FUTURERELEASE's HOLDUNTIL takes them (often valid), or nasty.
fn datetimeish() -> impl Strategy<Value = String> {
    prop_oneof![
        nasty(),
        "20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,3})?(Z|[+-](0[0-9]|1[0-2]):[0-5][0-9])",
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
        static A: Acceptance = Acceptance::new("greeting: Domain::parse", 2);
        if let Ok(d) = A.record(Domain::parse(&s))? {
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
        wire in valid_mailboxish(),
        utf8 in any::<bool>(),
    ) {
        let mut mailboxes = Vec::new();
        static MBOX: Acceptance = Acceptance::new("mail_and_rcpt: Mailbox::parse", 4);
        static DOM: Acceptance = Acceptance::new("mail_and_rcpt: Domain::parse", 1);
        static NEW: Acceptance = Acceptance::new("mail_and_rcpt: Mailbox::new", 1);
        static REV: Acceptance = Acceptance::new("mail_and_rcpt: ReversePath::parse", 4);
        static FWD: Acceptance = Acceptance::new("mail_and_rcpt: ForwardPath::parse", 4);
        if let Ok(m) = MBOX.record(Mailbox::parse(&wire))? {
            // Parsing the wire form back gives the same mailbox.
            prop_assert_eq!(Mailbox::parse(m.as_str()).unwrap(), m.clone());
            mailboxes.push(m);
        }
        if let Ok(d) = DOM.record(Domain::parse(&dom))?
            && let Ok(m) = NEW.record(Mailbox::new(&local, d))?
        {
            prop_assert_eq!(Mailbox::parse(m.as_str()).unwrap(), m.clone());
            mailboxes.push(m);
        }
        for path in [format!("<{wire}>"), wire.clone()] {
            if let Ok(rp) = REV.record(ReversePath::parse(&path))? {
                check(&Command::mail(rp))?;
            }
            if let Ok(fp) = FWD.record(ForwardPath::parse(&path))? {
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
        until in datetimeish(),
        by_time in any::<i32>(),
        by_r in any::<bool>(),
        trace in any::<bool>(),
        kw in prop_oneof![nasty(), "X[A-Z0-9-]{0,10}"],
        val in prop::option::of(prop_oneof![nasty(), "[!-<>-~]{1,12}"]),
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
        static DT: Acceptance = Acceptance::new("mail_params: DateTime::parse", 10);
        static KW: Acceptance = Acceptance::new("mail_params: EsmtpParam::new", 7);
        params.future_release = Some(match DT.record(DateTime::parse(&until))? {
            Ok(t) => FutureRelease::HoldUntil(t),
            Err(_) => FutureRelease::HoldFor(hold),
        });
        params.by = Some(By {
            time: by_time,
            mode: if by_r { ByMode::Return } else { ByMode::Notify },
            trace,
        });
        if let Ok(p) = KW.record(EsmtpParam::new(&kw, val.as_deref()))? {
            params.extra.push(p);
        }
        check(&Command::Mail { from: ReversePath::Null, params })?;
    }

    #[test]
    fn rcpt_params(
        n in any::<(bool, bool, bool, bool)>(),
        addr_type in prop_oneof![nasty(), "(rfc822|RFC822|utf-8|x-[a-z]{1,6})"],
        addr in prop_oneof![nasty(), valid_mailboxish()],
        kw in prop_oneof![nasty(), "X[A-Z0-9-]{0,10}"],
        val in prop::option::of(prop_oneof![nasty(), "[!-<>-~]{1,12}"]),
    ) {
        let mut params = RcptParams::default();
        params.notify = Some(if n.0 {
            Notify::Never
        } else {
            Notify::On { success: n.1, failure: n.2, delay: n.3 }
        });
        static ORCPT: Acceptance = Acceptance::new("rcpt_params: Orcpt::new", 2);
        static KW: Acceptance = Acceptance::new("rcpt_params: EsmtpParam::new", 7);
        params.orcpt = ORCPT.record(Orcpt::new(&addr_type, &addr))?.ok();
        if let Ok(p) = KW.record(EsmtpParam::new(&kw, val.as_deref()))? {
            params.extra.push(p);
        }
        check(&Command::Rcpt { to: ForwardPath::Postmaster, params, smtputf8: false })?;
    }

    #[test]
    fn text_commands(s in prop_oneof![nasty(), "[ -~]{0,40}"], utf8 in any::<bool>(), size in any::<u64>(), last in any::<bool>()) {
        static STR: Acceptance = Acceptance::new("text_commands: SmtpString::new", 9);
        static RAW: Acceptance = Acceptance::new("text_commands: RawCommand::new", 8);
        if let Ok(arg) = STR.record(SmtpString::new(&s))? {
            check(&Command::Vrfy { arg: arg.clone(), smtputf8: utf8 })?;
            check(&Command::Expn { arg: arg.clone(), smtputf8: utf8 })?;
            check(&Command::Help(Some(arg.clone())))?;
            check(&Command::Noop(Some(arg)))?;
        }
        if let Ok(raw) = RAW.record(RawCommand::new(&s))? {
            check(&Command::Raw(raw))?;
        }
        check(&Command::Bdat { size, last })?;
    }

    #[test]
    fn long_text(s in prop_oneof!["[ -~\t\r\n\0]{400,600}", "[ -~]{400,600}"]) {
        static RAW: Acceptance = Acceptance::new("long_text: RawCommand::new", 5);
        static STR: Acceptance = Acceptance::new("long_text: SmtpString::new", 8);
        if let Ok(raw) = RAW.record(RawCommand::new(&s))? {
            check(&Command::Raw(raw))?;
        }
        if let Ok(arg) = STR.record(SmtpString::new(&s))? {
            check(&Command::Noop(Some(arg)))?;
        }
    }

    #[test]
    fn auth(mech in prop_oneof![nasty(), "[A-Z0-9_-]{1,20}"], ir in prop::option::of(prop::collection::vec(any::<u8>(), 0..600)), resp in prop::collection::vec(any::<u8>(), 0..13_000)) {
        static MECH: Acceptance = Acceptance::new("auth: Mechanism::new", 9);
        if let Ok(mechanism) = MECH.record(Mechanism::new(&mech))? {
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
        static DEC: Acceptance = Acceptance::new("xtext_decode_total: xtext::decode", 2);
        if let Ok(d) = DEC.record(xtext::decode(&s))? {
            prop_assert_eq!(xtext::decode(&xtext::encode(&d)).unwrap(), d);
        }
    }
}
