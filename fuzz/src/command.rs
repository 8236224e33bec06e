//! `command`: typed arguments and the command encoder.

use arbitrary::{Arbitrary, Result, Unstructured};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use smtp_proto::command::{
    Body, By, ByMode, Command, CommandError, DateTime, Domain, Envid, EsmtpParam, ForwardPath,
    FutureRelease, MAX_AUTH_LINE_LEN, MAX_LINE_LEN, MailParams, Mailbox, Mechanism, MtPriority,
    Notify, Orcpt, RawCommand, RcptParams, ReversePath, Secret, SmtpString, xtext,
};

use crate::input::{FuzzBytes, FuzzStr, flag, num, opt, small};

/// `MAIL` parameters, each read in field order: a presence byte (odd: present) then the
/// value, except for the flags, which are one byte each.
#[derive(Clone, Debug)]
pub struct MailInput {
    /// `SIZE=`.
    pub size: Option<u64>,
    /// `BODY=`: `% 3` picks 7BIT, 8BITMIME, BINARYMIME.
    pub body: Option<u8>,
    /// `SMTPUTF8`.
    pub smtputf8: bool,
    /// `RET=`: odd FULL, even HDRS.
    pub ret: Option<u8>,
    /// `ENVID=` (decoded).
    pub envid: Option<FuzzStr>,
    /// `AUTH=` reverse path.
    pub auth: Option<FuzzStr>,
    /// `REQUIRETLS`.
    pub requiretls: bool,
    /// `MT-PRIORITY=` (any `i8`; the constructor refuses out of range).
    pub mt_priority: Option<u8>,
    /// `HOLDFOR=` seconds (any `u32`).
    pub hold_for: Option<u64>,
    /// `HOLDUNTIL=` date-time (used when `hold_for` is absent).
    pub hold_until: Option<FuzzStr>,
    /// `BY=`: time (`i32` from a `u64`), mode and trace bits.
    pub by: Option<(u64, u8)>,
    /// Extra parameters.
    pub extra: Vec<(FuzzStr, Option<FuzzStr>)>,
}

/// `RCPT` parameters.
#[derive(Clone, Debug)]
pub struct RcptInput {
    /// `NOTIFY=`: bit 3 NEVER, else bits 0-2 SUCCESS, FAILURE, DELAY.
    pub notify: Option<u8>,
    /// `ORCPT=` address type and address.
    pub orcpt: Option<(FuzzStr, FuzzStr)>,
    /// Extra parameters.
    pub extra: Vec<(FuzzStr, Option<FuzzStr>)>,
}

/// One command to build and encode. The first byte picks the variant (`% 20`).
#[derive(Clone, Debug)]
#[allow(missing_docs)]
pub enum CommandInput {
    Ehlo(FuzzStr),
    Helo(FuzzStr),
    Lhlo(FuzzStr),
    Mail {
        from: FuzzStr,
        params: MailInput,
    },
    Rcpt {
        to: FuzzStr,
        params: RcptInput,
        smtputf8: bool,
    },
    Data,
    Bdat {
        size: u64,
        last: bool,
    },
    Rset,
    Vrfy {
        arg: FuzzStr,
        smtputf8: bool,
    },
    Expn {
        arg: FuzzStr,
        smtputf8: bool,
    },
    Help(Option<FuzzStr>),
    Noop(Option<FuzzStr>),
    Quit,
    StartTls,
    Auth {
        mechanism: FuzzStr,
        initial_response: Option<FuzzBytes>,
    },
    AuthResponse(FuzzBytes),
    AuthCancel,
    Raw(FuzzStr),
    /// `xtext::encode` / `decode` round trip on bytes.
    Xtext(FuzzBytes),
    /// `xtext::decode` on a string (then re-encode).
    XtextDecode(FuzzStr),
}

fn extras<'a>(u: &mut Unstructured<'a>) -> Result<Vec<(FuzzStr, Option<FuzzStr>)>> {
    let mut v = Vec::new();
    while flag(u)? {
        v.push((FuzzStr::arbitrary(u)?, opt(u)?));
    }
    Ok(v)
}

fn opt_with<'a, T>(
    u: &mut Unstructured<'a>,
    f: impl FnOnce(&mut Unstructured<'a>) -> Result<T>,
) -> Result<Option<T>> {
    Ok(if flag(u)? { Some(f(u)?) } else { None })
}

impl<'a> Arbitrary<'a> for MailInput {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(MailInput {
            size: opt_with(u, num)?,
            body: opt_with(u, small)?,
            smtputf8: flag(u)?,
            ret: opt_with(u, small)?,
            envid: opt(u)?,
            auth: opt(u)?,
            requiretls: flag(u)?,
            mt_priority: opt_with(u, small)?,
            hold_for: opt_with(u, num)?,
            hold_until: opt(u)?,
            by: opt_with(u, |u| Ok((num(u)?, small(u)?)))?,
            extra: extras(u)?,
        })
    }
}

impl<'a> Arbitrary<'a> for RcptInput {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(RcptInput {
            notify: opt_with(u, small)?,
            orcpt: opt_with(u, |u| Ok((FuzzStr::arbitrary(u)?, FuzzStr::arbitrary(u)?)))?,
            extra: extras(u)?,
        })
    }
}

impl<'a> Arbitrary<'a> for CommandInput {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        use CommandInput as C;
        Ok(match small(u)? % 20 {
            0 => C::Ehlo(FuzzStr::arbitrary(u)?),
            1 => C::Helo(FuzzStr::arbitrary(u)?),
            2 => C::Lhlo(FuzzStr::arbitrary(u)?),
            3 => C::Mail {
                from: FuzzStr::arbitrary(u)?,
                params: MailInput::arbitrary(u)?,
            },
            4 => C::Rcpt {
                to: FuzzStr::arbitrary(u)?,
                params: RcptInput::arbitrary(u)?,
                smtputf8: flag(u)?,
            },
            5 => C::Data,
            6 => C::Bdat {
                size: num(u)?,
                last: flag(u)?,
            },
            7 => C::Rset,
            8 => C::Vrfy {
                arg: FuzzStr::arbitrary(u)?,
                smtputf8: flag(u)?,
            },
            9 => C::Expn {
                arg: FuzzStr::arbitrary(u)?,
                smtputf8: flag(u)?,
            },
            10 => C::Help(opt(u)?),
            11 => C::Noop(opt(u)?),
            12 => C::Quit,
            13 => C::StartTls,
            14 => C::Auth {
                mechanism: FuzzStr::arbitrary(u)?,
                initial_response: opt(u)?,
            },
            15 => C::AuthResponse(FuzzBytes::arbitrary(u)?),
            16 => C::AuthCancel,
            17 => C::Raw(FuzzStr::arbitrary(u)?),
            18 => C::Xtext(FuzzBytes::arbitrary(u)?),
            _ => C::XtextDecode(FuzzStr::arbitrary(u)?),
        })
    }

    fn arbitrary_take_rest(mut u: Unstructured<'a>) -> Result<Self> {
        Self::arbitrary(&mut u)
    }
}

/// Builds a typed value; on refusal, checks the error renders and returns `None`.
fn ok<T>(r: std::result::Result<T, CommandError>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            let _ = e.to_string();
            None
        }
    }
}

fn domain(s: &FuzzStr) -> Option<Domain> {
    let d = ok(Domain::parse(s.as_str()))?;
    assert_eq!(d.as_str(), s.as_str(), "Domain changed its text");
    assert_eq!(
        Domain::parse(d.as_str()).ok().as_ref(),
        Some(&d),
        "Domain round trip"
    );
    assert_no_controls(d.as_str().as_bytes(), "Domain");
    Some(d)
}

fn reverse_path(s: &str) -> Option<ReversePath> {
    let p = ok(ReversePath::parse(s))?;
    assert_eq!(
        ReversePath::parse(&p.to_string()).ok().as_ref(),
        Some(&p),
        "ReversePath round trip through Display"
    );
    assert_eq!(ReversePath::parse(p.inner_str()).ok().as_ref(), Some(&p));
    if let Some(m) = p.mailbox() {
        check_mailbox(m);
    }
    assert_no_controls(p.inner_str().as_bytes(), "ReversePath");
    Some(p)
}

fn forward_path(s: &str) -> Option<ForwardPath> {
    let p = ok(ForwardPath::parse(s))?;
    assert_eq!(
        ForwardPath::parse(&p.to_string()).ok().as_ref(),
        Some(&p),
        "ForwardPath round trip through Display"
    );
    if let Some(m) = p.mailbox() {
        check_mailbox(m);
    }
    assert_no_controls(p.inner_str().as_bytes(), "ForwardPath");
    Some(p)
}

fn check_mailbox(m: &Mailbox) {
    assert_eq!(
        Mailbox::parse(m.as_str()).ok().as_ref(),
        Some(m),
        "Mailbox round trip"
    );
    assert_eq!(
        m.as_str(),
        format!("{}@{}", m.local_part(), m.domain().as_str()),
        "Mailbox parts do not make up the mailbox"
    );
    // `Mailbox::new` takes an unquoted local part: feed it the wire form (quotes and
    // all), which it must quote again, and parse the result back.
    if let Some(built) = ok(Mailbox::new(m.local_part(), m.domain().clone())) {
        assert_eq!(
            Mailbox::parse(built.as_str()).ok().as_ref(),
            Some(&built),
            "Mailbox::new output does not parse back"
        );
        assert_no_controls(built.as_str().as_bytes(), "Mailbox::new");
    }
}

fn smtp_string(s: &FuzzStr) -> Option<SmtpString> {
    let v = ok(SmtpString::new(s.as_str()))?;
    assert_no_controls(v.as_str().as_bytes(), "SmtpString");
    assert!(!v.as_str().is_empty(), "empty SmtpString");
    Some(v)
}

fn params(extra: &[(FuzzStr, Option<FuzzStr>)]) -> Option<Vec<EsmtpParam>> {
    extra
        .iter()
        .map(|(k, v)| {
            let p = ok(EsmtpParam::new(k.as_str(), v.as_ref().map(FuzzStr::as_str)))?;
            assert!(!p.keyword().is_empty());
            assert!(p.keyword().is_ascii() && p.value().is_none_or(str::is_ascii));
            assert_no_controls(p.keyword().as_bytes(), "esmtp-keyword");
            Some(p)
        })
        .collect()
}

/// No C0 control (HT allowed only where `allow_ht`) and no DEL.
fn assert_no_controls(bytes: &[u8], what: &str) {
    if let Some(b) = bytes
        .iter()
        .find(|&&b| (b < 0x20 && b != b'\t') || b == 0x7f)
    {
        panic!(
            "{what} holds control octet {b:#04x}: {:?}",
            bytes.escape_ascii().to_string()
        );
    }
}

fn mail_params(p: &MailInput) -> Option<MailParams> {
    let mut out = MailParams::default();
    out.size = p.size;
    out.body = p
        .body
        .map(|b| [Body::SevenBit, Body::EightBitMime, Body::BinaryMime][usize::from(b % 3)]);
    out.smtputf8 = p.smtputf8;
    out.ret = p.ret.map(|r| {
        if r & 1 == 1 {
            smtp_proto::command::Ret::Full
        } else {
            smtp_proto::command::Ret::Hdrs
        }
    });
    if let Some(e) = &p.envid {
        let envid = ok(Envid::new(e.as_str()))?;
        assert_eq!(envid.as_str(), e.as_str());
        let x = envid.to_xtext();
        assert!(x.len() <= Envid::MAX_LEN);
        assert_eq!(
            xtext::decode(&x).ok().as_deref(),
            Some(e.as_str().as_bytes())
        );
        out.envid = Some(envid);
    }
    if let Some(a) = &p.auth {
        out.auth = Some(reverse_path(a.as_str())?);
    }
    out.requiretls = p.requiretls;
    if let Some(m) = p.mt_priority {
        out.mt_priority = Some(ok(MtPriority::new(m as i8))?);
    }
    out.future_release = match (&p.hold_for, &p.hold_until) {
        (Some(s), _) => Some(FutureRelease::HoldFor(*s as u32)),
        (None, Some(t)) => Some(FutureRelease::HoldUntil(ok(DateTime::parse(t.as_str()))?)),
        (None, None) => None,
    };
    if let Some((time, bits)) = p.by {
        let mut by = By::new(
            time as i32,
            if bits & 1 == 1 {
                ByMode::Return
            } else {
                ByMode::Notify
            },
        );
        by.trace = bits & 2 == 2;
        out.by = Some(by);
    }
    out.extra = params(&p.extra)?;
    Some(out)
}

fn rcpt_params(p: &RcptInput) -> Option<RcptParams> {
    let mut out = RcptParams::default();
    out.notify = p.notify.map(|n| {
        if n & 8 == 8 {
            Notify::Never
        } else {
            Notify::On {
                success: n & 1 == 1,
                failure: n & 2 == 2,
                delay: n & 4 == 4,
            }
        }
    });
    if let Some((t, a)) = &p.orcpt {
        let o = ok(Orcpt::new(t.as_str(), a.as_str()))?;
        let s = o.to_string();
        assert!(s.len() <= Orcpt::MAX_LEN, "ORCPT of {} octets", s.len());
        assert!(s.is_ascii());
        assert_no_controls(s.as_bytes(), "ORCPT");
        out.orcpt = Some(o);
    }
    out.extra = params(&p.extra)?;
    Some(out)
}

/// Builds the typed command; `None` when a constructor refuses an argument.
fn build(input: &CommandInput) -> Option<Command> {
    use CommandInput as C;
    Some(match input {
        C::Ehlo(d) => Command::Ehlo(domain(d)?),
        C::Helo(d) => Command::Helo(domain(d)?),
        C::Lhlo(d) => Command::Lhlo(domain(d)?),
        C::Mail { from, params } => Command::Mail {
            from: reverse_path(from.as_str())?,
            params: mail_params(params)?,
        },
        C::Rcpt {
            to,
            params,
            smtputf8,
        } => Command::Rcpt {
            to: forward_path(to.as_str())?,
            params: rcpt_params(params)?,
            smtputf8: *smtputf8,
        },
        C::Data => Command::Data,
        C::Bdat { size, last } => Command::Bdat {
            size: *size,
            last: *last,
        },
        C::Rset => Command::Rset,
        C::Vrfy { arg, smtputf8 } => Command::Vrfy {
            arg: smtp_string(arg)?,
            smtputf8: *smtputf8,
        },
        C::Expn { arg, smtputf8 } => Command::Expn {
            arg: smtp_string(arg)?,
            smtputf8: *smtputf8,
        },
        C::Help(a) => Command::Help(
            a.as_ref()
                .map(smtp_string)
                .map_or(Some(None), |s| s.map(Some))?,
        ),
        C::Noop(a) => Command::Noop(
            a.as_ref()
                .map(smtp_string)
                .map_or(Some(None), |s| s.map(Some))?,
        ),
        C::Quit => Command::Quit,
        C::StartTls => Command::StartTls,
        C::Auth {
            mechanism,
            initial_response,
        } => {
            let m = ok(Mechanism::new(mechanism.as_str()))?;
            assert_eq!(m.as_str(), mechanism.as_str().to_ascii_uppercase());
            assert!(!m.as_str().is_empty() && m.as_str().len() <= 20);
            Command::Auth {
                mechanism: m,
                initial_response: initial_response.as_ref().map(|b| Secret::new(b.0.clone())),
            }
        }
        C::AuthResponse(b) => Command::AuthResponse(Secret::new(b.0.clone())),
        C::AuthCancel => Command::AuthCancel,
        C::Raw(s) => {
            let r = ok(RawCommand::new(s.as_str()))?;
            assert_eq!(r.as_str(), s.as_str());
            Command::Raw(r)
        }
        C::Xtext(_) | C::XtextDecode(_) => return None,
    })
}

/// Whether the command may carry non-ASCII octets.
fn utf8_allowed(cmd: &Command) -> bool {
    match cmd {
        Command::Mail { params, .. } => params.smtputf8,
        Command::Rcpt { smtputf8, .. }
        | Command::Vrfy { smtputf8, .. }
        | Command::Expn { smtputf8, .. } => *smtputf8,
        _ => false,
    }
}

const PREFIX: &[u8] = b"previous\r\n";

/// `command`: build the typed arguments and the [`Command`] from arbitrary strings and
/// bytes, then encode. Either a constructor or `encode` refuses (and `encode` appends
/// nothing), or the output is exactly one line ending in CRLF with no other CR, LF, NUL or
/// control octet, at most 512 octets (AUTH continuation lines: 16 KiB), ASCII unless
/// SMTPUTF8 is in effect, and with the expected verb, numbers and base64.
pub fn command(input: CommandInput) {
    match &input {
        CommandInput::Xtext(b) => {
            let x = xtext::encode(&b.0);
            assert_eq!(x.len(), xtext::encoded_len(&b.0));
            assert!(x.bytes().all(|c| (33..=126).contains(&c) && c != b'='));
            assert_eq!(
                xtext::decode(&x).ok().as_deref(),
                Some(&b.0[..]),
                "xtext round trip"
            );
            return;
        }
        CommandInput::XtextDecode(s) => {
            // Any octet may be sent as a hexchar (`+22` for `"`), so decoding is not
            // canonical; re-encoding the decoded octets must give them back.
            if let Ok(d) = xtext::decode(s.as_str()) {
                assert!(d.len() <= s.as_str().len());
                assert_eq!(
                    xtext::decode(&xtext::encode(&d)).ok(),
                    Some(d),
                    "xtext round trip"
                );
            }
            return;
        }
        _ => {}
    }
    let Some(cmd) = build(&input) else { return };
    let _ = cmd.verb().as_str();
    let redacted = cmd.redacted().to_string();

    let mut out = PREFIX.to_vec();
    let result = cmd.encode(&mut out);
    let Ok(()) = result else {
        assert_eq!(out, PREFIX, "refused command appended bytes: {result:?}");
        assert!(cmd.to_bytes().is_err());
        return;
    };
    let line = &out[PREFIX.len()..];
    assert_eq!(cmd.to_bytes().ok().as_deref(), Some(line));

    // One line, CRLF at the end and nowhere else, no NUL or other control octet.
    let body = line.strip_suffix(b"\r\n").unwrap_or_else(|| {
        panic!(
            "line does not end in CRLF: {:?}",
            line.escape_ascii().to_string()
        )
    });
    assert_no_controls(body, "command line");
    let max = match cmd {
        Command::AuthResponse(_) => MAX_AUTH_LINE_LEN,
        _ => MAX_LINE_LEN,
    };
    assert_eq!(cmd.max_line_len(), max);
    assert!(
        line.len() <= max,
        "{} octets over the {max} cap",
        line.len()
    );
    if !utf8_allowed(&cmd) {
        assert!(
            body.is_ascii(),
            "non-ASCII without SMTPUTF8: {:?}",
            String::from_utf8_lossy(body)
        );
    }
    let text = std::str::from_utf8(body).expect("command line is not UTF-8");

    // The verb and the arguments that are simple to predict.
    let verb = match &cmd {
        Command::AuthResponse(_) | Command::AuthCancel | Command::Raw(_) => None,
        _ => Some(cmd.verb().as_str()),
    };
    if let Some(v) = verb {
        assert!(text.starts_with(v), "{text:?} does not start with {v}");
    }
    match &cmd {
        Command::Bdat { size, last } => {
            assert_eq!(
                text,
                format!("BDAT {size}{}", if *last { " LAST" } else { "" })
            );
        }
        Command::Auth {
            mechanism,
            initial_response,
        } => {
            let head = format!("AUTH {}", mechanism.as_str());
            match initial_response {
                None => {
                    assert_eq!(text, head);
                    assert_eq!(redacted, head);
                }
                Some(ir) => {
                    let b64 = text
                        .strip_prefix(&head)
                        .and_then(|t| t.strip_prefix(' '))
                        .expect("AUTH line shape");
                    let decoded = if b64 == "=" {
                        Vec::new()
                    } else {
                        STANDARD
                            .decode(b64)
                            .expect("AUTH initial response is not base64")
                    };
                    assert_eq!(decoded, ir.expose(), "AUTH initial response changed");
                    assert_eq!(redacted, format!("{head} <redacted>"));
                }
            }
        }
        Command::AuthResponse(r) => {
            assert_eq!(STANDARD.decode(text).ok().as_deref(), Some(r.expose()));
            assert_eq!(redacted, "<redacted>");
        }
        Command::Mail { from, .. } => {
            let head = format!("MAIL FROM:<{}>", from.inner_str());
            assert!(text.starts_with(&head), "{text:?}");
            check_params(&text[head.len()..]);
        }
        Command::Rcpt { to, .. } => {
            let head = format!("RCPT TO:<{}>", to.inner_str());
            assert!(text.starts_with(&head), "{text:?}");
            check_params(&text[head.len()..]);
        }
        Command::Ehlo(d) | Command::Helo(d) | Command::Lhlo(d) => {
            assert_eq!(&text[5..], d.as_str());
        }
        Command::Raw(r) => assert_eq!(text, r.as_str()),
        _ => {}
    }
    if !matches!(
        cmd,
        Command::Auth {
            initial_response: Some(_),
            ..
        } | Command::AuthResponse(_)
    ) {
        assert_eq!(
            redacted, text,
            "redacted rendering differs without a secret"
        );
    }
}

/// ` KEY[=VALUE]` parameters after the path: single spaces, non-empty tokens, no keyword
/// twice (ignoring case).
fn check_params(rest: &str) {
    if rest.is_empty() {
        return;
    }
    let rest = rest
        .strip_prefix(' ')
        .expect("parameters not separated by a space");
    let mut seen: Vec<String> = Vec::new();
    for token in rest.split(' ') {
        assert!(
            !token.is_empty(),
            "empty parameter (double space) in {rest:?}"
        );
        let key = token
            .split('=')
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        assert!(!key.is_empty(), "parameter without keyword: {token:?}");
        assert!(!seen.contains(&key), "parameter {key} twice in {rest:?}");
        seen.push(key);
    }
}
