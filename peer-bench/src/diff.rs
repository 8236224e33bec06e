//! Differential comparison of our reply and EHLO parsers with Stalwart's (and with lettre's,
//! on what lettre models: code, lines with any enhanced code left in the text, and the
//! 8BITMIME, SMTPUTF8, STARTTLS and AUTH PLAIN/LOGIN/XOAUTH2 features), on a shared
//! corpus: the fuzz seeds' server transcripts and EHLO replies, RFC examples and the real
//! servers' greetings and EHLO replies.
//!
//! Every input both parsers accept must give the same code, enhanced status code, text
//! lines and length (and, for EHLO replies, the same domain, extension keywords, SIZE,
//! AUTH mechanisms and DELIVERBY value, wherever both model them). Where they do not, the
//! disagreement must be listed in `DISAGREEMENTS.md` with the reason ours is right (see
//! `tests/differential.rs`). Inputs only one parser accepts are reported, not compared.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use smtp_proto::ReplyLimits;
use smtp_proto::ehlo::Capabilities;

/// What an input holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A server transcript: replies one after the other (each is compared; a transcript
    /// whose 250 replies have several lines also has those compared as EHLO replies).
    Transcript,
    /// One EHLO (or LHLO) reply.
    Ehlo,
}

/// One corpus input.
#[derive(Clone, Debug)]
pub struct Input {
    /// Where it comes from, e.g. `seed:reply/postfix` or `rfc5321:D.1/ehlo`.
    pub id: String,
    /// What it holds.
    pub kind: Kind,
    /// The bytes as a server sends them.
    pub bytes: Vec<u8>,
}

/// A parsed reply, as both parsers model it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyView {
    /// The octets the reply used.
    pub used: usize,
    /// The reply code.
    pub code: u16,
    /// The enhanced status code, `class.subject.detail`.
    pub enhanced: Option<String>,
    /// The text of each line, the enhanced status code removed where the parser removes
    /// it (bytes escaped as in Rust byte strings).
    pub lines: Vec<String>,
}

/// An EHLO reply, as both parsers model it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EhloView {
    /// The server's domain (the first word of the first line).
    pub domain: String,
    /// The extension keywords both parsers know, upper case.
    pub keywords: BTreeSet<&'static str>,
    /// SIZE's value (0: no fixed limit), when SIZE is advertised.
    pub size: Option<u64>,
    /// The AUTH mechanisms both parsers know, upper case.
    pub auth: BTreeSet<&'static str>,
    /// DELIVERBY's minimum by-time (0 when absent), when DELIVERBY is advertised.
    pub deliver_by: Option<u64>,
}

/// One input, or one reply within a transcript, on which the parsers disagree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disagreement {
    /// The input's id, `#n` appended for the n-th reply (from 0) of a transcript, and
    /// `/ehlo` for the EHLO comparison.
    pub id: String,
    /// The bytes compared (the reply), escaped.
    pub input: String,
    /// What our parser gave.
    pub ours: String,
    /// What Stalwart's parser gave.
    pub theirs: String,
}

/// The outcome of comparing the whole corpus.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Replies both parsers accepted and compared.
    pub replies_compared: usize,
    /// EHLO replies both parsers accepted and compared.
    pub ehlo_compared: usize,
    /// Replies and EHLO replies ours and lettre's accepted and compared.
    pub lettre_compared: usize,
    /// Replies or EHLO replies only one parser accepted (id, which one, the other's error).
    pub one_sided: Vec<(String, String)>,
    /// Every disagreement.
    pub disagreements: Vec<Disagreement>,
}

fn esc(b: &[u8]) -> String {
    // `|` would end a Markdown table cell.
    b.escape_ascii().to_string().replace('|', "\\x7c")
}

impl fmt::Display for ReplyView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.code)?;
        match &self.enhanced {
            Some(e) => write!(f, "{e}")?,
            None => write!(f, "-")?,
        }
        write!(f, " {:?} ({} octets)", self.lines, self.used)
    }
}

impl fmt::Display for EhloView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.domain, self.keywords)?;
        if let Some(s) = self.size {
            write!(f, " SIZE={s}")?;
        }
        if !self.auth.is_empty() {
            write!(f, " AUTH={:?}", self.auth)?;
        }
        if let Some(d) = self.deliver_by {
            write!(f, " DELIVERBY={d}")?;
        }
        Ok(())
    }
}

/// Our parser (the slice entry point, default limits).
pub fn ours_reply(input: &[u8]) -> Result<ReplyView, String> {
    let (used, r) =
        smtp_proto::reply::parse(input, &ReplyLimits::DEFAULT).map_err(|e| e.to_string())?;
    Ok(ReplyView {
        used,
        code: r.code().get(),
        enhanced: r.enhanced().map(|e| e.to_string()),
        lines: r.message_lines().map(esc).collect(),
    })
}

/// Stalwart's `ResponseReceiver` (a fresh one per reply).
pub fn theirs_reply(input: &[u8]) -> Result<ReplyView, String> {
    let mut rx = stalwart_smtp_proto::response::parser::ResponseReceiver::default();
    let mut it = input.iter();
    let r = rx.parse(&mut it).map_err(|e| format!("{e:?}"))?;
    let used = input.len() - it.as_slice().len();
    Ok(ReplyView {
        used,
        code: r.code,
        enhanced: (r.esc != [0, 0, 0]).then(|| format!("{}.{}.{}", r.esc[0], r.esc[1], r.esc[2])),
        lines: r.message.split('\n').map(|l| esc(l.as_bytes())).collect(),
    })
}

/// The extension keywords Stalwart models (`EXT_*`), with its bit for each.
const KEYWORDS: &[(&str, u32)] = {
    use stalwart_smtp_proto::*;
    &[
        ("8BITMIME", EXT_8BIT_MIME),
        ("ATRN", EXT_ATRN),
        ("AUTH", EXT_AUTH),
        ("BINARYMIME", EXT_BINARY_MIME),
        ("BURL", EXT_BURL),
        ("CHECKPOINT", EXT_CHECKPOINT),
        ("CHUNKING", EXT_CHUNKING),
        ("CONNEG", EXT_CONNEG),
        ("CONPERM", EXT_CONPERM),
        ("DELIVERBY", EXT_DELIVER_BY),
        ("DSN", EXT_DSN),
        ("ENHANCEDSTATUSCODES", EXT_ENHANCED_STATUS_CODES),
        ("ETRN", EXT_ETRN),
        ("EXPN", EXT_EXPN),
        ("FUTURERELEASE", EXT_FUTURE_RELEASE),
        ("HELP", EXT_HELP),
        ("MT-PRIORITY", EXT_MT_PRIORITY),
        ("MTRK", EXT_MTRK),
        ("NO-SOLICITING", EXT_NO_SOLICITING),
        ("ONEX", EXT_ONEX),
        ("PIPELINING", EXT_PIPELINING),
        ("REQUIRETLS", EXT_REQUIRE_TLS),
        ("RRVS", EXT_RRVS),
        ("SIZE", EXT_SIZE),
        ("SMTPUTF8", EXT_SMTP_UTF8),
        ("STARTTLS", EXT_START_TLS),
        ("VERB", EXT_VERB),
        ("VRFY", EXT_VRFY),
    ]
};

/// The AUTH mechanisms Stalwart models that servers commonly offer, with its bit for each.
const MECHANISMS: &[(&str, u64)] = {
    use stalwart_smtp_proto::*;
    &[
        ("ANONYMOUS", AUTH_ANONYMOUS),
        ("CRAM-MD5", AUTH_CRAM_MD5),
        ("DIGEST-MD5", AUTH_DIGEST_MD5),
        ("EXTERNAL", AUTH_EXTERNAL),
        ("GSSAPI", AUTH_GSSAPI),
        ("LOGIN", AUTH_LOGIN),
        ("NTLM", AUTH_NTLM),
        ("OAUTHBEARER", AUTH_OAUTHBEARER),
        ("PLAIN", AUTH_PLAIN),
        ("SCRAM-SHA-1", AUTH_SCRAM_SHA_1),
        ("SCRAM-SHA-1-PLUS", AUTH_SCRAM_SHA_1_PLUS),
        ("SCRAM-SHA-256", AUTH_SCRAM_SHA_256),
        ("SCRAM-SHA-256-PLUS", AUTH_SCRAM_SHA_256_PLUS),
        ("XOAUTH", AUTH_XOAUTH),
        ("XOAUTH2", AUTH_XOAUTH2),
    ]
};

/// Our EHLO view: the reply parser, then [`Capabilities::from_reply`].
pub fn ours_ehlo(input: &[u8]) -> Result<EhloView, String> {
    let (_, r) =
        smtp_proto::reply::parse(input, &ReplyLimits::DEFAULT).map_err(|e| e.to_string())?;
    if r.code().get() != 250 {
        return Err(format!("code {}", r.code()));
    }
    let caps = Capabilities::from_reply(&r);
    let has_kw = |k: &str| caps.iter().any(|e| e.keyword().eq_ignore_ascii_case(k));
    let keywords = KEYWORDS
        .iter()
        .map(|(k, _)| *k)
        .filter(|k| match *k {
            "8BITMIME" => caps.eight_bit_mime(),
            "AUTH" => caps.auth(),
            "BINARYMIME" => caps.binary_mime(),
            "CHUNKING" => caps.chunking(),
            "DELIVERBY" => caps.deliver_by().is_some(),
            "DSN" => caps.dsn(),
            "ENHANCEDSTATUSCODES" => caps.enhanced_status_codes(),
            "ETRN" => caps.etrn(),
            "EXPN" => caps.expn(),
            "FUTURERELEASE" => caps.future_release().is_some(),
            "HELP" => caps.help(),
            "MT-PRIORITY" => caps.mt_priority().is_some(),
            "PIPELINING" => caps.pipelining(),
            "REQUIRETLS" => caps.require_tls(),
            "SIZE" => caps.size().is_some(),
            "SMTPUTF8" => caps.smtp_utf8(),
            "STARTTLS" => caps.starttls(),
            "VRFY" => caps.vrfy(),
            // Keywords without a typed accessor: any well-formed line that names them.
            k => has_kw(k),
        })
        .collect();
    let auth = MECHANISMS
        .iter()
        .map(|(m, _)| *m)
        .filter(|m| caps.auth_mechanisms().any(|a| a.eq_ignore_ascii_case(m)))
        .collect();
    Ok(EhloView {
        domain: esc(caps.domain()),
        keywords,
        size: caps.size().map(|s| s.limit().unwrap_or(0)),
        auth,
        deliver_by: caps
            .deliver_by()
            .map(|d| d.min_by_time.map_or(0, u64::from)),
    })
}

/// Stalwart's `EhloResponse::parse`.
pub fn theirs_ehlo(input: &[u8]) -> Result<EhloView, String> {
    let mut it = input.iter();
    let r = stalwart_smtp_proto::EhloResponse::<String>::parse(&mut it)
        .map_err(|e| format!("{e:?}"))?;
    let has = |bit: u32| r.capabilities & bit != 0;
    Ok(EhloView {
        domain: esc(r.hostname.as_bytes()),
        keywords: KEYWORDS
            .iter()
            .filter(|(_, b)| has(*b))
            .map(|(k, _)| *k)
            .collect(),
        size: has(stalwart_smtp_proto::EXT_SIZE).then_some(r.size as u64),
        auth: MECHANISMS
            .iter()
            .filter(|(_, b)| r.auth_mechanisms & b != 0)
            .map(|(m, _)| *m)
            .collect(),
        deliver_by: has(stalwart_smtp_proto::EXT_DELIVER_BY).then_some(r.deliver_by),
    })
}

/// A reply as lettre models it: the code and each line's text (an enhanced status code
/// stays in the text: lettre does not read it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LettreView {
    /// The reply code.
    pub code: u16,
    /// The text of each line.
    pub lines: Vec<String>,
}

impl fmt::Display for LettreView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.code, self.lines)
    }
}

/// Ours, as lettre models a reply.
pub fn ours_lettre(input: &[u8]) -> Result<LettreView, String> {
    let (_, r) =
        smtp_proto::reply::parse(input, &ReplyLimits::DEFAULT).map_err(|e| e.to_string())?;
    Ok(LettreView {
        code: r.code().get(),
        lines: r.lines().map(esc).collect(),
    })
}

/// lettre's `Response::from_str` on one reply (`input` cut where ours ends it: lettre
/// reads from a `&str` and does not say how much it used). Invalid UTF-8 is refused.
#[cfg(feature = "lettre")]
pub fn lettre_reply(input: &[u8]) -> Result<LettreView, String> {
    let s = std::str::from_utf8(input).map_err(|e| e.to_string())?;
    let r: lettre::transport::smtp::response::Response = s
        .parse()
        .map_err(|e: lettre::transport::smtp::Error| e.to_string())?;
    Ok(LettreView {
        code: u16::from(r.code()),
        lines: r.message().map(|l| esc(l.as_bytes())).collect(),
    })
}

/// An EHLO reply as lettre models it: the server name and the features it knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LettreEhlo {
    /// The first word of the first line.
    pub name: String,
    /// `8BITMIME`, `SMTPUTF8`, `STARTTLS` and `AUTH <mechanism>` for PLAIN, LOGIN, XOAUTH2.
    pub features: BTreeSet<&'static str>,
}

impl fmt::Display for LettreEhlo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.name, self.features)
    }
}

/// Ours, as lettre models an EHLO reply.
pub fn ours_lettre_ehlo(input: &[u8]) -> Result<LettreEhlo, String> {
    let (_, r) =
        smtp_proto::reply::parse(input, &ReplyLimits::DEFAULT).map_err(|e| e.to_string())?;
    let caps = Capabilities::from_reply(&r);
    let mut features = BTreeSet::new();
    for (f, on) in [
        ("8BITMIME", caps.eight_bit_mime()),
        ("SMTPUTF8", caps.smtp_utf8()),
        ("STARTTLS", caps.starttls()),
        ("AUTH PLAIN", caps.supports_auth("PLAIN")),
        ("AUTH LOGIN", caps.supports_auth("LOGIN")),
        ("AUTH XOAUTH2", caps.supports_auth("XOAUTH2")),
    ] {
        if on {
            features.insert(f);
        }
    }
    Ok(LettreEhlo {
        name: esc(caps.domain()),
        features,
    })
}

/// lettre's `ServerInfo::from_response`.
#[cfg(feature = "lettre")]
pub fn lettre_ehlo(input: &[u8]) -> Result<LettreEhlo, String> {
    use lettre::transport::smtp::authentication::Mechanism;
    use lettre::transport::smtp::extension::{Extension, ServerInfo};
    let s = std::str::from_utf8(input).map_err(|e| e.to_string())?;
    let r: lettre::transport::smtp::response::Response = s
        .parse()
        .map_err(|e: lettre::transport::smtp::Error| e.to_string())?;
    let info = ServerInfo::from_response(&r).map_err(|e| e.to_string())?;
    let mut features = BTreeSet::new();
    for (f, ext) in [
        ("8BITMIME", Extension::EightBitMime),
        ("SMTPUTF8", Extension::SmtpUtfEight),
        ("STARTTLS", Extension::StartTls),
        ("AUTH PLAIN", Extension::Authentication(Mechanism::Plain)),
        ("AUTH LOGIN", Extension::Authentication(Mechanism::Login)),
        (
            "AUTH XOAUTH2",
            Extension::Authentication(Mechanism::Xoauth2),
        ),
    ] {
        if info.supports_feature(ext) {
            features.insert(f);
        }
    }
    Ok(LettreEhlo {
        name: esc(info.name().as_bytes()),
        features,
    })
}

/// Compares one reply (or EHLO reply) with lettre's reading, under `id` + `/lettre`.
#[cfg(feature = "lettre")]
fn compare_lettre<T: PartialEq + fmt::Display>(
    id: &str,
    bytes: &[u8],
    ours: Result<T, String>,
    theirs: Result<T, String>,
    report: &mut Report,
) {
    let id = format!("{id}/lettre");
    match (ours, theirs) {
        (Ok(o), Ok(t)) => {
            report.lettre_compared += 1;
            if o != t {
                report.disagreements.push(Disagreement {
                    id,
                    input: esc(bytes),
                    ours: o.to_string(),
                    theirs: t.to_string(),
                });
            }
        }
        (Ok(_), Err(e)) => report
            .one_sided
            .push((id, format!("only ours accepts ({e})"))),
        (Err(e), Ok(_)) => report
            .one_sided
            .push((id, format!("only lettre accepts ({e})"))),
        (Err(_), Err(_)) => {}
    }
}

/// Compares one EHLO reply; records the outcome in `report`.
fn compare_ehlo(id: &str, bytes: &[u8], report: &mut Report) {
    let id = format!("{id}/ehlo");
    #[cfg(feature = "lettre")]
    compare_lettre(
        &id,
        bytes,
        ours_lettre_ehlo(bytes),
        lettre_ehlo(bytes),
        report,
    );
    match (ours_ehlo(bytes), theirs_ehlo(bytes)) {
        (Ok(o), Ok(t)) => {
            report.ehlo_compared += 1;
            if o != t {
                report.disagreements.push(Disagreement {
                    id,
                    input: esc(bytes),
                    ours: o.to_string(),
                    theirs: t.to_string(),
                });
            }
        }
        (Ok(_), Err(e)) => report
            .one_sided
            .push((id, format!("only ours accepts ({e})"))),
        (Err(e), Ok(_)) => report
            .one_sided
            .push((id, format!("only theirs accepts ({e})"))),
        (Err(_), Err(_)) => {}
    }
}

/// Compares every input of `corpus`.
pub fn compare(corpus: &[Input]) -> Report {
    let mut report = Report::default();
    for input in corpus {
        match input.kind {
            Kind::Ehlo => {
                let id = input.id.clone();
                // The reply itself, then its EHLO reading.
                compare_replies(&id, &input.bytes, &mut report, false);
                compare_ehlo(&id, &input.bytes, &mut report);
            }
            Kind::Transcript => compare_replies(&input.id, &input.bytes, &mut report, true),
        }
    }
    report
}

/// Compares the replies of `bytes` one after the other, while both parsers accept them
/// and agree on where each ends.
fn compare_replies(id: &str, bytes: &[u8], report: &mut Report, ehlo_too: bool) {
    let mut at = 0;
    let mut n = 0;
    while at < bytes.len() {
        let rest = &bytes[at..];
        let rid = format!("{id}#{n}");
        match (ours_reply(rest), theirs_reply(rest)) {
            (Ok(o), Ok(t)) => {
                report.replies_compared += 1;
                let reply = &rest[..o.used.min(rest.len())];
                #[cfg(feature = "lettre")]
                compare_lettre(&rid, reply, ours_lettre(reply), lettre_reply(reply), report);
                if ehlo_too && o.code == 250 && o.lines.len() > 1 {
                    compare_ehlo(&rid, reply, report);
                }
                if o != t {
                    report.disagreements.push(Disagreement {
                        id: rid,
                        input: esc(&rest[..o.used.max(t.used).min(rest.len())]),
                        ours: o.to_string(),
                        theirs: t.to_string(),
                    });
                    if o.used != t.used {
                        return;
                    }
                }
                at += o.used;
                n += 1;
            }
            (Ok(_), Err(e)) => {
                report
                    .one_sided
                    .push((rid, format!("only ours accepts ({e})")));
                return;
            }
            (Err(e), Ok(_)) => {
                report
                    .one_sided
                    .push((rid, format!("only theirs accepts ({e})")));
                return;
            }
            (Err(_), Err(_)) => return,
        }
    }
}

/// CRLF-terminated lines.
fn crlf(lines: &[&str]) -> Vec<u8> {
    lines
        .iter()
        .flat_map(|l| [l.as_bytes(), b"\r\n"].concat())
        .collect()
}

/// Inputs written here: RFC examples and the greetings and EHLO replies of the real
/// servers the interop matrix runs (as they answer on loopback).
pub fn inline_inputs() -> Vec<Input> {
    let t = |id: &str, lines: &[&str]| Input {
        id: id.to_owned(),
        kind: Kind::Transcript,
        bytes: crlf(lines),
    };
    let e = |id: &str, lines: &[&str]| Input {
        id: id.to_owned(),
        kind: Kind::Ehlo,
        bytes: crlf(lines),
    };
    vec![
        // RFC 5321 §4.2: a multiline reply; Appendix D.1's EHLO reply.
        t(
            "rfc5321:4.2/multiline",
            &[
                "250-First line",
                "250-Second line",
                "250-234 Text beginning with numbers",
                "250 The last line",
            ],
        ),
        e(
            "rfc5321:D.1/ehlo",
            &[
                "250-foo.com greets bar.com",
                "250-8BITMIME",
                "250-SIZE",
                "250-DSN",
                "250 HELP",
            ],
        ),
        // RFC 1869 §4.7 (EHLO example, SIZE with a value).
        e(
            "rfc1869:4.7/ehlo",
            &[
                "250-dbc.mtview.ca.us says hello",
                "250-EXPN",
                "250-HELP",
                "250-8BITMIME",
                "250-XONE",
                "250 XVRB",
            ],
        ),
        // RFC 2034 §6 (enhanced status codes).
        t(
            "rfc2034:6/replies",
            &[
                "220 dbc.mtview.ca.us SMTP service ready",
                "250-dbc.mtview.ca.us says hello",
                "250 ENHANCEDSTATUSCODES",
                "250 2.1.0 Originator <ned@ymir.claremont.edu> ok",
                "250 2.1.5 Recipient <mrose@dbc.mtview.ca.us> ok",
                "550 5.1.1 Mailbox \"nosuchuser\" does not exist",
                "551-5.7.1 Forwarding to remote hosts disabled",
                "551 5.7.1 Select another host to act as your forwarder",
                "354 Send message, ending in CRLF.CRLF.",
                "250 2.6.0 Message accepted",
                "221 2.0.0 Goodbye",
            ],
        ),
        // RFC 3030 §4.1 (CHUNKING).
        t(
            "rfc3030:4.1/replies",
            &[
                "220 cnri.reston.va.us SMTP service ready",
                "250-cnri.reston.va.us says hello",
                "250 CHUNKING",
                "250 <Sam@Random.com>... Sender ok",
                "250 <Susan@Random.com>... Recipient ok",
                "250 69 bytes received",
                "250 Message OK, 144 octets received",
            ],
        ),
        // RFC 2852 (DELIVERBY), RFC 4954 (AUTH), RFC 3461 (DSN) EHLO lines.
        e(
            "rfc2852:ehlo",
            &["250-mx.example.com", "250-DELIVERBY 240", "250 DSN"],
        ),
        e(
            "rfc4954:ehlo",
            &[
                "250-smtp.example.com Hello client.example.com",
                "250-AUTH GSSAPI DIGEST-MD5 PLAIN",
                "250 STARTTLS",
            ],
        ),
        // The interop servers (scripts/servers/...), on loopback.
        t(
            "server:postfix/greeting",
            &["220 localhost ESMTP Postfix (Debian/GNU)"],
        ),
        e(
            "server:postfix/ehlo",
            &[
                "250-localhost",
                "250-PIPELINING",
                "250-SIZE 10240000",
                "250-VRFY",
                "250-ETRN",
                "250-STARTTLS",
                "250-AUTH PLAIN LOGIN",
                "250-ENHANCEDSTATUSCODES",
                "250-8BITMIME",
                "250-DSN",
                "250-SMTPUTF8",
                "250 CHUNKING",
            ],
        ),
        t(
            "server:exim/greeting",
            &["220 localhost ESMTP Exim 4.96 Thu, 03 Dec 2026 13:00:00 +0000"],
        ),
        e(
            "server:exim/ehlo",
            &[
                "250-localhost Hello localhost [127.0.0.1]",
                "250-SIZE 52428800",
                "250-LIMITS MAILMAX=1000 RCPTMAX=50000",
                "250-8BITMIME",
                "250-PIPELINING",
                "250-PIPECONNECT",
                "250-CHUNKING",
                "250-STARTTLS",
                "250-PRDR",
                "250 HELP",
            ],
        ),
        t(
            "server:opensmtpd/greeting",
            &["220 localhost ESMTP OpenSMTPD"],
        ),
        e(
            "server:opensmtpd/ehlo",
            &[
                "250-localhost Hello client.example [127.0.0.1], pleased to meet you",
                "250-8BITMIME",
                "250-ENHANCEDSTATUSCODES",
                "250-SIZE 36700160",
                "250-DSN",
                "250-STARTTLS",
                "250 HELP",
            ],
        ),
        t(
            "server:aiosmtpd/greeting",
            &["220 localhost Python SMTP 1.4.6"],
        ),
        e(
            "server:aiosmtpd/ehlo",
            &[
                "250-localhost",
                "250-SIZE 33554432",
                "250-8BITMIME",
                "250-SMTPUTF8",
                "250 HELP",
            ],
        ),
        t(
            "server:dovecot-lmtp/greeting",
            &["220 localhost Dovecot ready."],
        ),
        e(
            "server:dovecot-lmtp/lhlo",
            &[
                "250-localhost",
                "250-8BITMIME",
                "250-CHUNKING",
                "250-ENHANCEDSTATUSCODES",
                "250-PIPELINING",
                "250 SMTPUTF8",
            ],
        ),
        t(
            "server:smtp-sink/replies",
            &[
                "220 localhost ESMTP",
                "250-localhost",
                "250-PIPELINING",
                "250-8BITMIME",
                "250-AUTH PLAIN LOGIN",
                "250-XCLIENT NAME HELO",
                "250 XFORWARD NAME ADDR PROTO HELO",
                "250 2.1.0 Ok",
                "250 2.1.5 Ok",
                "354 End data with <CR><LF>.<CR><LF>",
                "250 2.0.0 Ok: queued as 1234",
                "221 Bye",
            ],
        ),
        // The enhanced status code only on later lines; of another class than the code.
        t(
            "edge:esc-later-lines",
            &[
                "250-first line without one",
                "250 2.0.0 second line with one",
            ],
        ),
        t(
            "edge:esc-wrong-class",
            &["250 5.0.0 an enhanced code of another class"],
        ),
        t("edge:esc-two-digit", &["550 5.7.26 multi-digit detail"]),
        t(
            "edge:esc-differs-per-line",
            &[
                "250-2.0.0 code of the first line",
                "250 2.1.5 code of the last line",
            ],
        ),
        t("edge:esc-no-text", &["250 2.0.0", "550 5.1.1"]),
        t("edge:empty-text", &["250", "250 "]),
    ]
}

/// The whole corpus: [`inline_inputs`], then the fuzz seeds under `root/fuzz/seeds`
/// (`reply/<name>`: a config byte, then a server transcript; `ehlo/<name>`: a mode byte,
/// then an EHLO reply; the variants with a `.` in their name hold the same inputs).
pub fn corpus(root: &Path) -> std::io::Result<Vec<Input>> {
    let mut out = inline_inputs();
    for (dir, kind) in [("reply", Kind::Transcript), ("ehlo", Kind::Ehlo)] {
        let mut files: Vec<_> = std::fs::read_dir(root.join("fuzz/seeds").join(dir))?
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.contains('.'))
            .collect();
        files.sort();
        for name in files {
            let bytes = std::fs::read(root.join("fuzz/seeds").join(dir).join(&name))?;
            out.push(Input {
                id: format!("seed:{dir}/{name}"),
                kind,
                bytes: bytes.get(1..).unwrap_or_default().to_vec(),
            });
        }
    }
    Ok(out)
}
