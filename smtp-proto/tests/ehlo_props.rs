//! Property tests: arbitrary replies never panic, and render -> parse keeps the typed view.

use proptest::collection::vec;
use proptest::prelude::*;
use smtp_proto::ehlo::{DeliverBy, SizeLimit};
use smtp_proto::{Capabilities, Reply, ReplyCode};

const KEYWORDS: &[&str] = &[
    "SIZE",
    "PIPELINING",
    "8BITMIME",
    "BINARYMIME",
    "CHUNKING",
    "SMTPUTF8",
    "STARTTLS",
    "AUTH",
    "AUTH=",
    "DSN",
    "ENHANCEDSTATUSCODES",
    "REQUIRETLS",
    "DELIVERBY",
    "MT-PRIORITY",
    "FUTURERELEASE",
    "LIMITS",
    "VRFY",
    "EXPN",
    "HELP",
    "ETRN",
    "size",
    "auth=",
];

/// Any octets but CR and LF.
fn raw_line() -> impl Strategy<Value = Vec<u8>> {
    let byte = any::<u8>().prop_filter("no CR/LF", |b| *b != b'\r' && *b != b'\n');
    let tail = vec(prop_oneof![byte, Just(b' '), Just(b'='), Just(b'0')], 0..24);
    prop_oneof![
        vec(
            any::<u8>().prop_filter("no CR/LF", |b| *b != b'\r' && *b != b'\n'),
            0..40
        ),
        (prop::sample::select(KEYWORDS), tail).prop_map(|(k, t)| {
            let mut l = k.as_bytes().to_vec();
            l.extend(t);
            l
        }),
    ]
}

fn parse(lines: &[Vec<u8>]) -> Capabilities {
    let reply = Reply::from_lines(ReplyCode::OK, lines.iter().map(Vec::as_slice)).unwrap();
    Capabilities::from_reply(&reply.as_ref())
}

fn check_round_trip(caps: &Capabilities) -> Result<(), TestCaseError> {
    let again = parse(&caps.to_reply_lines());
    prop_assert!(again.same_known(caps), "{:?}\n{:?}", caps, again);
    prop_assert!(again.unknown().eq(caps.unknown()));
    prop_assert_eq!(again.greeting(), caps.greeting());
    Ok(())
}

/// One known extension line and the check that its value was read.
#[derive(Clone, Debug)]
enum Known {
    Size(Option<u64>),
    Flag(&'static str),
    Auth(bool, Vec<String>),
    DeliverBy(Option<u32>),
    MtPriority(Option<String>),
    FutureRelease(u32, String),
    Limits(Option<u32>, Option<u32>, Vec<(String, u32)>),
}

fn known() -> impl Strategy<Value = Known> {
    const FLAGS: &[&str] = &[
        "PIPELINING",
        "8BITMIME",
        "BINARYMIME",
        "CHUNKING",
        "SMTPUTF8",
        "STARTTLS",
        "DSN",
        "ENHANCEDSTATUSCODES",
        "REQUIRETLS",
        "VRFY",
        "EXPN",
        "HELP",
        "ETRN",
    ];
    prop_oneof![
        proptest::option::of(any::<u64>()).prop_map(Known::Size),
        prop::sample::select(FLAGS).prop_map(Known::Flag),
        (any::<bool>(), vec("[A-Za-z0-9][A-Za-z0-9_-]{0,12}", 0..5))
            .prop_map(|(eq, m)| Known::Auth(eq && !m.is_empty(), m)),
        proptest::option::of(0u32..1_000_000_000).prop_map(Known::DeliverBy),
        proptest::option::of("[A-Za-z0-9][A-Za-z0-9_-]{0,10}").prop_map(Known::MtPriority),
        (
            0u32..1_000_000_000,
            "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,3})?(Z|[+-][0-9]{2}:[0-9]{2})"
        )
            .prop_map(|(i, d)| Known::FutureRelease(i, d)),
        (
            proptest::option::of(any::<u32>()),
            proptest::option::of(any::<u32>()),
            vec(("X-[A-Z]{1,6}", any::<u32>()), 0..3)
        )
            .prop_map(|(r, m, o)| Known::Limits(r, m, o)),
    ]
}

fn render(k: &Known) -> String {
    match k {
        Known::Size(None) => "SIZE".into(),
        Known::Size(Some(n)) => format!("SIZE {n}"),
        Known::Flag(f) => (*f).into(),
        Known::Auth(eq, m) => format!("AUTH{}{}", if *eq { "=" } else { " " }, m.join(" ")),
        Known::DeliverBy(None) => "DELIVERBY".into(),
        Known::DeliverBy(Some(n)) => format!("DELIVERBY {n}"),
        Known::MtPriority(None) => "MT-PRIORITY".into(),
        Known::MtPriority(Some(p)) => format!("MT-PRIORITY {p}"),
        Known::FutureRelease(i, d) => format!("FUTURERELEASE {i} {d}"),
        Known::Limits(r, m, o) => {
            let mut s = "LIMITS".to_owned();
            if let Some(r) = r {
                s += &format!(" RCPTMAX={r}");
            }
            if let Some(m) = m {
                s += &format!(" mailmax={m}");
            }
            for (n, v) in o {
                s += &format!(" {n}={v}");
            }
            s
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_lines_never_panic(lines in vec(raw_line(), 1..16), name in "[a-zA-Z0-9=-]{0,12}") {
        let caps = parse(&lines);
        // Exercise every view.
        let _ = (caps.domain(), caps.greeting_text(), caps.size(), caps.deliver_by());
        let _ = (caps.mt_priority(), caps.future_release(), caps.limits().map(|l| l.other().count()));
        let _ = (caps.auth_mechanisms().count(), caps.iter().count(), caps.has_extn(&name));
        let _ = (caps.esmtp_features(), caps.esmtp_feature(&name), format!("{caps:?}"));
        // Nothing is dropped: every line after the greeting is used or unknown.
        prop_assert!(caps.unknown().count() < lines.len());
        prop_assert_eq!(caps.lines().count(), lines.len() - 1);
        check_round_trip(&caps)?;
    }

    #[test]
    fn generated_capabilities_round_trip(
        greeting in "[a-z0-9.-]{1,20}( [ -~]{0,20})?",
        known in vec(known(), 0..12),
        unknown in vec("X[A-Z0-9-]{0,8}( [!-~]{1,8}){0,2}", 0..4),
    ) {
        let mut lines = vec![greeting.clone().into_bytes()];
        lines.extend(known.iter().map(|k| render(k).into_bytes()));
        lines.extend(unknown.iter().map(|u| u.clone().into_bytes()));
        let caps = parse(&lines);
        prop_assert_eq!(caps.greeting(), greeting.as_bytes());
        prop_assert_eq!(caps.unknown().count(), unknown.len());

        // The first occurrence of each valued extension wins; AUTH mechanisms are merged.
        let mut mechs: Vec<String> = Vec::new();
        let (mut size, mut deliver_by, mut limits) = (None, None, None);
        for k in &known {
            match k {
                Known::Size(n) if size.is_none() => size = SizeLimit::max(n.unwrap_or(0)),
                Known::DeliverBy(n) if deliver_by.is_none() => {
                    deliver_by = Some(DeliverBy { min_by_time: *n })
                }
                Known::Limits(r, m, _) if limits.is_none() => limits = Some((*r, *m)),
                Known::Auth(_, m) => {
                    for m in m {
                        let m = m.to_ascii_uppercase();
                        if !mechs.contains(&m) {
                            mechs.push(m);
                        }
                    }
                }
                Known::Flag(f) => prop_assert!(caps.has_extn(f)),
                _ => {}
            }
        }
        prop_assert_eq!(caps.size(), size);
        prop_assert_eq!(caps.deliver_by(), deliver_by);
        prop_assert_eq!(caps.limits().map(|l| (l.rcpt_max(), l.mail_max())), limits);
        prop_assert_eq!(caps.auth_mechanisms().collect::<Vec<_>>(), mechs);
        let first_mt = known.iter().find_map(|k| match k {
            Known::MtPriority(p) => Some(p.as_deref()),
            _ => None,
        });
        prop_assert_eq!(caps.mt_priority().map(|m| m.policy), first_mt);
        let first_fr = known.iter().find_map(|k| match k {
            Known::FutureRelease(i, d) => Some((*i, d.as_str())),
            _ => None,
        });
        prop_assert_eq!(caps.future_release().map(|f| (f.max_interval, f.max_date_time)), first_fr);
        check_round_trip(&caps)?;
    }
}
