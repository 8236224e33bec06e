//! The scenarios, written once for every adapter and server. Each returns
//! [`Outcome::Pass`] with what it saw, [`Outcome::Fail`] with what went wrong, or
//! [`Outcome::NotApplicable`] with the reason from the [`ServerSpec`] (after checking that
//! the server indeed does not offer the feature).

use std::time::Duration;

use smtp_blocking::proto::command::{Envid, MailParams, Mailbox, Notify, Orcpt, RcptParams, Ret};
use smtp_blocking::proto::sasl::Credentials;
use smtp_blocking::proto::session::{AuthError, RcptStatus, Stage, UsageError};
use smtp_blocking::{Body, Envelope, Error, Reply, SendReport, TlsPolicy, envelope};

use crate::spec::{Feature, ServerSpec};
use crate::store::Store;
use crate::{Adapter, Outcome, Scenario, Session, messages};

const SENDER: &str = "sender@example.org";
const WAIT: Duration = Duration::from_secs(10);

/// Every scenario, in row order.
pub fn all() -> Vec<Scenario> {
    macro_rules! s {
        ($name:literal, $what:literal, $f:ident) => {
            Scenario {
                name: $name,
                what: $what,
                run: $f,
            }
        };
    }
    vec![
        s!(
            "plain submission",
            "no TLS: greeting 220, one message, NOOP, QUIT 221",
            plain
        ),
        s!(
            "STARTTLS (client requires it)",
            "TLS required by the client; capabilities after TLS",
            starttls
        ),
        s!(
            "STARTTLS required by the server",
            "plaintext MAIL refused with 530, then STARTTLS + AUTH + send",
            server_requires_tls
        ),
        s!(
            "implicit TLS",
            "TLS from the first octet, AUTH, send",
            implicit_tls
        ),
        s!(
            "AUTH PLAIN",
            "wrong password 535, then 235 and send (after STARTTLS)",
            auth_plain
        ),
        s!(
            "AUTH LOGIN",
            "wrong password 535, then 235 and send (after STARTTLS)",
            auth_login
        ),
        s!(
            "AUTH CRAM-MD5",
            "wrong password 535, then 235 and send (after STARTTLS)",
            auth_cram_md5
        ),
        s!(
            "AUTH SCRAM-SHA-256",
            "wrong password 535, then 235 and send (after STARTTLS)",
            auth_scram
        ),
        s!(
            "AUTH XOAUTH2",
            "expired token 535 (JSON report), then a valid one 235 and send",
            auth_xoauth2
        ),
        s!(
            "AUTH OAUTHBEARER",
            "expired token 535 (JSON report), then a valid one 235 and send",
            auth_oauthbearer
        ),
        s!(
            "OAuth token refresh (login_oauth)",
            "provider's expired token refreshed once; refused twice: auth error, no loop",
            oauth_refresh
        ),
        s!(
            "PIPELINING on",
            "2 recipients, then 3 messages pipelined on one connection",
            pipelining_on
        ),
        s!(
            "PIPELINING off (lock-step)",
            "same, against a server without PIPELINING",
            pipelining_off
        ),
        s!(
            "CHUNKING (BDAT)",
            "600 KiB body in BDAT chunks, no DATA",
            chunking
        ),
        s!(
            "8BITMIME",
            "8-bit body declared BODY=8BITMIME, read back byte for byte",
            eight_bit_mime
        ),
        s!(
            "SMTPUTF8",
            "UTF-8 sender and headers, MAIL ... SMTPUTF8",
            smtputf8
        ),
        s!(
            "SIZE exceeded",
            "known size over SIZE: refused before MAIL; unknown size: server's 552",
            size_exceeded
        ),
        s!(
            "refused recipient among accepted",
            "unknown user refused at RCPT, the other delivered",
            refused_rcpt
        ),
        s!(
            "DSN parameters",
            "RET, ENVID, NOTIFY, ORCPT accepted (or refused locally if not offered)",
            dsn
        ),
        s!("VRFY", "known and unknown address", vrfy),
        s!("EXPN", "a user name", expn),
        s!("HELP", "211/214/250", help),
        s!(
            "NOOP and RSET",
            "NOOP 250; MAIL, RSET 250, MAIL again accepted; then a message",
            noop_rset
        ),
        s!(
            "several messages per connection",
            "plain, 8-bit, dotted messages on one session",
            several_messages
        ),
        s!(
            "LMTP per-recipient results",
            "250 / 552 after the data / 550 at RCPT; 552 alone refuses the data",
            lmtp
        ),
        s!(
            "store: plain text",
            "read back from the server's store, byte for byte",
            store_plain
        ),
        s!(
            "store: 8-bit body",
            "read back from the server's store, byte for byte",
            store_8bit
        ),
        s!(
            "store: leading dots + bare LF",
            "expected = CRLF-normalised, dot-unstuffed",
            store_dots
        ),
        s!(
            "store: 10 MiB body",
            "read back from the server's store, byte for byte",
            store_10mib
        ),
    ]
}

// ---------------------------------------------------------------- helpers

type R = Result<Outcome, String>;

macro_rules! ensure {
    ($c:expr, $($f:tt)+) => {
        if !$c {
            return Err(format!($($f)+));
        }
    };
}

fn e(err: &Error) -> String {
    format!("{err} [{err:?}]")
}

fn done(r: R) -> Outcome {
    r.unwrap_or_else(Outcome::Fail)
}

fn connect<'a>(
    a: &'a dyn Adapter,
    addr: &str,
    opts: smtp_blocking::Options,
) -> Result<Box<dyn Session + 'a>, String> {
    a.connect(addr, opts)
        .map_err(|err| format!("connect to {addr}: {}", e(&err)))
}

fn local_part(addr: &str) -> &str {
    addr.split('@').next().unwrap_or(addr)
}

fn code(r: &Option<Reply>) -> u16 {
    r.as_ref().map_or(0, |r| r.code().get())
}

/// Reads the message with `token` back from `store` (folder of `rcpt`'s local part) and
/// compares it with `sent`.
fn check_store(store: &Store, rcpt: &str, token: &str, sent: &[u8]) -> Result<String, String> {
    let stored = store
        .find(local_part(rcpt), token, WAIT)
        .ok_or_else(|| format!("no message with {token} in {rcpt}'s store after 10 s"))?;
    store.check(&stored, sent)
}

/// smtplib's `sendmail` without MAIL or RCPT parameters.
fn sendmail(s: &mut dyn Session, from: &str, to: &[&str], msg: &[u8]) -> Result<SendReport, Error> {
    s.sendmail(from, to, msg, Default::default(), Default::default())
}

fn accepted_all(r: &SendReport) -> Result<(), String> {
    ensure!(
        r.recipients.iter().all(|x| x.accepted),
        "not every recipient accepted: {r:?}"
    );
    Ok(())
}

/// Sends `msg` to the spec's first recipient and checks the store.
fn send_and_check(
    s: &mut dyn Session,
    spec: &ServerSpec,
    rcpt: &str,
    token: &str,
    msg: &[u8],
) -> Result<String, String> {
    let r = sendmail(&mut *s, SENDER, &[rcpt], msg).map_err(|err| format!("send: {}", e(&err)))?;
    accepted_all(&r)?;
    check_store(&spec.store, rcpt, token, msg)
}

fn quit(s: &mut dyn Session) -> Result<(), String> {
    match s.quit() {
        Ok(Some(r)) if r.code() == 221 => Ok(()),
        Ok(r) => Err(format!("QUIT: {r:?}")),
        Err(err) => Err(format!("QUIT: {}", e(&err))),
    }
}

/// The feature is missing: checks that the server indeed does not advertise `ext` on
/// `addr` (else the spec is stale), then n/a with the reason.
fn not_offered(a: &dyn Adapter, spec: &ServerSpec, ext: &str, why: &'static str) -> R {
    let mut s = connect(a, &spec.plain, spec.options(TlsPolicy::Never))?;
    ensure!(
        !s.has_extn(ext),
        "the spec says {} does not offer {ext}, but its EHLO does",
        spec.name
    );
    let _ = s.quit();
    Ok(Outcome::NotApplicable(why))
}

fn transcript_line<'t>(t: &'t [String], prefix: &str) -> Result<&'t String, String> {
    t.iter()
        .find(|l| l.starts_with(prefix))
        .ok_or_else(|| format!("no {prefix:?} in the transcript {t:?}"))
}

// ---------------------------------------------------------------- sessions and TLS

fn plain(a: &dyn Adapter, spec: &ServerSpec) -> Outcome {
    done((|| {
        let mut s = connect(a, &spec.plain, spec.options(TlsPolicy::Never))?;
        ensure!(!s.is_encrypted(), "encrypted without TLS");
        let g = s.greeting().ok_or("no greeting")?;
        ensure!(g.code() == 220, "greeting {g}");
        let t = messages::token("plain");
        let msg = messages::plain(&t, SENDER, &spec.rcpt);
        let r = sendmail(&mut *s, SENDER, &[&spec.rcpt], &msg).map_err(|err| e(&err))?;
        accepted_all(&r)?;
        ensure!(code(&r.mail_reply) == 250, "MAIL reply {:?}", r.mail_reply);
        let n = s.noop().map_err(|err| e(&err))?;
        ensure!(n.code() == 250, "NOOP {n}");
        quit(&mut *s)?;
        let stored = check_store(&spec.store, &spec.rcpt, &t, &msg)?;
        Ok(Outcome::Pass(format!(
            "220, MAIL {}, RCPT {}, end of data {}, NOOP 250, QUIT 221; {stored}",
            code(&r.mail_reply),
            code(&r.recipients[0].reply),
            code(&r.data_reply)
        )))
    })())
}

fn starttls(a: &dyn Adapter, spec: &ServerSpec) -> Outcome {
    done((|| {
        if let Err(why) = spec.starttls {
            // The client must refuse to go on without TLS.
            return match a.connect(&spec.plain, spec.options(TlsPolicy::Required)) {
                Err(Error::TlsUnavailable(_)) => Ok(Outcome::NotApplicable(why)),
                Err(err) => Err(format!("expected TlsUnavailable, got {}", e(&err))),
                Ok(_) => Err("connected with TLS required although not offered".into()),
            };
        }
        let mut s = connect(a, &spec.plain, spec.options(TlsPolicy::Required))?;
        ensure!(s.is_encrypted(), "not encrypted");
        ensure!(
            !s.has_extn("starttls"),
            "STARTTLS still advertised after TLS"
        );
        let tr = s.take_transcript();
        transcript_line(&tr, "C: STARTTLS")?;
        let t = messages::token("starttls");
        let msg = messages::plain(&t, SENDER, &spec.rcpt);
        let stored = send_and_check(&mut *s, spec, &spec.rcpt, &t, &msg)?;
        quit(&mut *s)?;
        Ok(Outcome::Pass(format!("encrypted; {stored}")))
    })())
}

fn server_requires_tls(a: &dyn Adapter, spec: &ServerSpec) -> Outcome {
    done((|| {
        let addr = match &spec.submission {
            Ok(a) => a,
            Err(why) => return Ok(Outcome::NotApplicable(why)),
        };
        let mut o = spec.options(TlsPolicy::Never);
        o.core.allow_plaintext_auth = true;
        let mut s = connect(a, addr, o)?;
        let refused = match sendmail(&mut *s, SENDER, &[&spec.rcpt], b"Subject: x\r\n\r\nx\r\n") {
            Err(Error::SenderRefused { reply, .. }) => reply,
            other => return Err(format!("plaintext MAIL: expected a refusal, got {other:?}")),
        };
        ensure!(
            refused.code() == 530,
            "plaintext MAIL refused with {refused}, not 530"
        );
        let _ = s.quit();
        let mut s = connect(a, addr, spec.options(TlsPolicy::Required))?;
        ensure!(s.is_encrypted(), "not encrypted");
        let (u, p) = &spec.user;
        let ok = s.login(u, p).map_err(|err| format!("login: {}", e(&err)))?;
        ensure!(ok.code() == 235, "AUTH {ok}");
        let t = messages::token("submission");
        let msg = messages::plain(&t, SENDER, &spec.rcpt2);
        let stored = send_and_check(&mut *s, spec, &spec.rcpt2, &t, &msg)?;
        quit(&mut *s)?;
        Ok(Outcome::Pass(format!(
            "plaintext MAIL {refused}; TLS, AUTH 235; {stored}"
        )))
    })())
}

fn implicit_tls(a: &dyn Adapter, spec: &ServerSpec) -> Outcome {
    done((|| {
        let addr = match &spec.smtps {
            Ok(a) => a,
            Err(why) => return Ok(Outcome::NotApplicable(why)),
        };
        let mut s = connect(a, addr, spec.options(TlsPolicy::Implicit))?;
        ensure!(s.is_encrypted(), "not encrypted");
        let g = s.greeting().ok_or("no greeting")?;
        ensure!(g.code() == 220, "greeting {g}");
        let (u, p) = &spec.user;
        let ok = s.login(u, p).map_err(|err| format!("login: {}", e(&err)))?;
        ensure!(ok.code() == 235, "AUTH {ok}");
        let t = messages::token("smtps");
        let msg = messages::plain(&t, SENDER, &spec.rcpt2);
        let stored = send_and_check(&mut *s, spec, &spec.rcpt2, &t, &msg)?;
        quit(&mut *s)?;
        Ok(Outcome::Pass(format!("TLS at once, AUTH 235; {stored}")))
    })())
}

// ---------------------------------------------------------------- AUTH

/// The credentials an AUTH row tries: refused ones first, then good ones; the secrets
/// the transcript must never show.
struct Creds {
    wrong: Credentials,
    right: Credentials,
    secrets: Vec<String>,
}

fn password_creds(spec: &ServerSpec) -> Creds {
    let (u, p) = &spec.user;
    Creds {
        wrong: Credentials::password(u.clone(), "wrong-password"),
        right: Credentials::password(u.clone(), p.as_str()),
        secrets: vec![p.clone(), "wrong-password".into()],
    }
}

fn oauth_creds(spec: &ServerSpec) -> Creds {
    let u = &spec.user.0;
    let (good, expired) = &spec.oauth_tokens;
    Creds {
        wrong: Credentials::oauth2(u.clone(), expired.as_str()),
        right: Credentials::oauth2(u.clone(), good.as_str()),
        secrets: vec![good.clone(), expired.clone()],
    }
}

/// Every client line of the AUTH exchanges is `C: AUTH <mech>` (with any initial response
/// redacted) or a redacted response, and no line shows a secret.
fn check_auth_redacted(tr: &[String], mech: &str, secrets: &[String]) -> Result<usize, String> {
    let mut in_auth = false;
    let mut lines = 0;
    for l in tr {
        if let Some(rest) = l.strip_prefix("C: ") {
            if let Some(args) = rest.strip_prefix("AUTH ") {
                in_auth = true;
                ensure!(
                    args == mech || args == format!("{mech} <redacted>"),
                    "AUTH line not redacted: {l:?}"
                );
                lines += 1;
            } else if in_auth {
                ensure!(rest == "<redacted>", "AUTH response not redacted: {l:?}");
                lines += 1;
            }
        } else if l.starts_with("S: ") && !l.starts_with("S: 334") {
            in_auth = false;
        }
        for secret in secrets {
            ensure!(
                !l.contains(secret.as_str()),
                "the transcript shows a secret: {l:?}"
            );
        }
    }
    ensure!(lines > 0, "no AUTH {mech} in the transcript {tr:?}");
    Ok(lines)
}

/// Whether the server's `spec.auth` lists `mech`; if not, checks its EHLO agrees and gives
/// the n/a reason. `Ok(None)`: go on.
fn auth_offered(
    a: &dyn Adapter,
    spec: &ServerSpec,
    mech: &str,
    missing: Feature,
) -> Result<Option<Outcome>, String> {
    let mechs = match spec.auth {
        Ok(m) => m,
        Err(why) => return Ok(Some(Outcome::NotApplicable(why))),
    };
    let addr = match &spec.submission {
        Ok(addr) => addr,
        Err(why) => return Ok(Some(Outcome::NotApplicable(why))),
    };
    if mechs.contains(&mech) {
        return Ok(None);
    }
    // The server has AUTH, but not this mechanism: check its EHLO agrees.
    let why = missing.err().unwrap_or("not offered");
    let mut s = connect(a, addr, spec.options(TlsPolicy::Required))?;
    let caps = s.capabilities().ok_or("no capabilities")?;
    ensure!(
        !caps.supports_auth(mech),
        "the spec says {} does not offer {mech}, but it does",
        spec.name
    );
    let _ = s.quit();
    Ok(Some(Outcome::NotApplicable(why)))
}

fn auth_mech(a: &dyn Adapter, spec: &ServerSpec, mech: &str, missing: Feature, c: Creds) -> R {
    if let Some(na) = auth_offered(a, spec, mech, missing)? {
        return Ok(na);
    }
    let addr = spec.submission.as_ref().map_err(|w| w.to_string())?;
    let mut s = connect(a, addr, spec.options(TlsPolicy::Required))?;
    let caps = s.capabilities().ok_or("no capabilities")?;
    ensure!(caps.supports_auth(mech), "{mech} not in the EHLO after TLS");
    let oauth = matches!(c.wrong, Credentials::OAuth2 { .. });
    let result = s.auth(mech, c.wrong);
    let refused = match &result {
        Err(
            err @ Error::Auth {
                source: AuthError::Rejected { reply, detail },
                ..
            },
        ) => {
            ensure!(reply.code().get() == 535, "refused credentials: {reply:?}");
            if oauth {
                ensure!(
                    smtp_client::is_token_refused(err),
                    "an expired token's refusal is not one a refresh may cure: {}",
                    e(err)
                );
            }
            match detail {
                Some(d) => format!("535 ({d})"),
                None => "535".to_string(),
            }
        }
        other => {
            return Err(format!(
                "refused credentials: expected a 535 refusal, got {other:?}"
            ));
        }
    };
    let ok = s
        .auth(mech, c.right)
        .map_err(|err| format!("good credentials: {}", e(&err)))?;
    ensure!(ok.code() == 235, "good credentials: {ok}");
    let t = messages::token(&format!("auth-{mech}"));
    let msg = messages::plain(&t, SENDER, &spec.rcpt2);
    let stored = send_and_check(&mut *s, spec, &spec.rcpt2, &t, &msg)?;
    let tr = s.take_transcript();
    let n = check_auth_redacted(&tr, mech, &c.secrets)?;
    quit(&mut *s)?;
    Ok(Outcome::Pass(format!(
        "{refused} then 235; {n} client AUTH lines, all redacted; {stored}"
    )))
}

fn auth_plain(a: &dyn Adapter, spec: &ServerSpec) -> Outcome {
    done(auth_mech(a, spec, "PLAIN", Ok(()), password_creds(spec)))
}
fn auth_login(a: &dyn Adapter, spec: &ServerSpec) -> Outcome {
    done(auth_mech(a, spec, "LOGIN", Ok(()), password_creds(spec)))
}
fn auth_cram_md5(a: &dyn Adapter, spec: &ServerSpec) -> Outcome {
    done(auth_mech(
        a,
        spec,
        "CRAM-MD5",
        spec.cram_md5,
        password_creds(spec),
    ))
}
fn auth_scram(a: &dyn Adapter, spec: &ServerSpec) -> Outcome {
    done(auth_mech(
        a,
        spec,
        "SCRAM-SHA-256",
        spec.scram,
        password_creds(spec),
    ))
}
fn auth_xoauth2(a: &dyn Adapter, spec: &ServerSpec) -> Outcome {
    done(auth_mech(a, spec, "XOAUTH2", spec.oauth, oauth_creds(spec)))
}
fn auth_oauthbearer(a: &dyn Adapter, spec: &ServerSpec) -> Outcome {
    done(auth_mech(
        a,
        spec,
        "OAUTHBEARER",
        spec.oauth,
        oauth_creds(spec),
    ))
}

/// A token provider for [`oauth_refresh`]: `first`, then `refreshed` on a refresh; logs
/// the `refresh` flags.
struct Tokens {
    user: String,
    first: String,
    refreshed: String,
    calls: std::sync::Mutex<Vec<bool>>,
}

impl smtp_client::TokenProvider for Tokens {
    fn token(&self, user: &str, refresh: bool) -> Result<String, Error> {
        if user != self.user {
            return Err(Error::InvalidInput(format!("token asked for {user:?}")));
        }
        self.calls.lock().map(|mut c| c.push(refresh)).ok();
        Ok(if refresh {
            &self.refreshed
        } else {
            &self.first
        }
        .clone())
    }
}

/// The adapter's `login_oauth`: an expired token is refreshed once on the same
/// connection (then a message is sent); a token still refused after the refresh is an
/// authentication error, the provider asked exactly twice, the session still usable.
fn oauth_refresh(a: &dyn Adapter, spec: &ServerSpec) -> Outcome {
    done((|| {
        if let Some(na) = auth_offered(a, spec, "OAUTHBEARER", spec.oauth)? {
            return Ok(na);
        }
        let addr = spec.submission.as_ref().map_err(|w| w.to_string())?;
        let (good, expired) = &spec.oauth_tokens;
        let user = &spec.user.0;
        let provider = |first: &str, refreshed: &str| Tokens {
            user: user.clone(),
            first: first.into(),
            refreshed: refreshed.into(),
            calls: Default::default(),
        };
        let calls = |p: &Tokens| p.calls.lock().map(|c| c.clone()).unwrap_or_default();
        let secrets = [good.clone(), expired.clone()];

        let mut s = connect(a, addr, spec.options(TlsPolicy::Required))?;
        let p = provider(expired, good);
        let ok = s
            .login_oauth(user, &p)
            .map_err(|err| format!("expired then fresh: {}", e(&err)))?;
        ensure!(ok.code() == 235, "expired then fresh: {ok}");
        ensure!(calls(&p) == [false, true], "provider calls {:?}", calls(&p));
        let t = messages::token("oauth-refresh");
        let msg = messages::plain(&t, SENDER, &spec.rcpt2);
        let stored = send_and_check(&mut *s, spec, &spec.rcpt2, &t, &msg)?;
        let tr = s.take_transcript();
        let n = check_auth_redacted(&tr, "OAUTHBEARER", &secrets)?;
        ensure!(
            tr.iter().filter(|l| l.starts_with("C: AUTH ")).count() == 2,
            "two AUTH commands expected: {tr:?}"
        );
        quit(&mut *s)?;

        let mut s = connect(a, addr, spec.options(TlsPolicy::Required))?;
        let p = provider(expired, expired);
        let err = match s.login_oauth(user, &p) {
            Err(err) => err,
            Ok(r) => return Err(format!("an expired token accepted: {r}")),
        };
        ensure!(
            matches!(
                &err,
                Error::Auth {
                    source: AuthError::Rejected { .. },
                    ..
                }
            ) && smtp_client::is_token_refused(&err),
            "refused twice: expected the token's refusal, got {}",
            e(&err)
        );
        ensure!(calls(&p) == [false, true], "provider calls {:?}", calls(&p));
        let tr = s.take_transcript();
        check_auth_redacted(&tr, "OAUTHBEARER", &secrets)?;
        let n2 = s.noop().map_err(|err| format!("NOOP after: {}", e(&err)))?;
        ensure!(n2.code() == 250, "NOOP after the refusal: {n2}");
        quit(&mut *s)?;
        Ok(Outcome::Pass(format!(
            "expired, refreshed: 235 ({n} redacted AUTH lines); {stored}; \
             refused twice: {err}, provider asked twice, NOOP 250"
        )))
    })())
}

// ---------------------------------------------------------------- PIPELINING

/// Two recipients in one transaction, then three messages on the same connection.
fn multi(a: &dyn Adapter, spec: &ServerSpec, addr: &str, want_pipelining: bool) -> R {
    let mut s = connect(a, addr, spec.options(TlsPolicy::Never))?;
    ensure!(
        s.has_extn("pipelining") == want_pipelining,
        "PIPELINING advertised: {}, expected {want_pipelining}",
        s.has_extn("pipelining")
    );
    let t = messages::token("multi");
    let msg = messages::plain(&t, SENDER, &spec.rcpt);
    let r = sendmail(&mut *s, SENDER, &[&spec.rcpt, &spec.rcpt2], &msg).map_err(|err| e(&err))?;
    accepted_all(&r)?;
    ensure!(r.recipients.len() == 2, "{r:?}");
    let tokens: Vec<String> = (0..3)
        .map(|i| messages::token(&format!("batch{i}")))
        .collect();
    let batch: Vec<_> = tokens
        .iter()
        .map(|t| {
            let m = messages::plain(t, SENDER, &spec.rcpt2);
            (envelope(SENDER, &[&spec.rcpt2]).expect("valid envelope"), m)
        })
        .collect();
    let msgs: Vec<Vec<u8>> = batch.iter().map(|(_, m)| m.clone()).collect();
    let mut results = Vec::new();
    let bodies: Vec<(Envelope, Body<'_>)> = batch
        .iter()
        .map(|(env, m)| (env.clone(), Body::Bytes(m)))
        .collect();
    s.send_batch(bodies, &mut |_, r| results.push(r))
        .map_err(|err| e(&err))?;
    ensure!(results.len() == batch.len(), "{} results", results.len());
    for (i, r) in results.iter().enumerate() {
        let r = r
            .as_ref()
            .map_err(|err| format!("message {i}: {}", e(err)))?;
        accepted_all(r)?;
    }
    quit(&mut *s)?;
    check_store(&spec.store, &spec.rcpt, &t, &msg)?;
    check_store(&spec.store, &spec.rcpt2, &t, &msg)?;
    for (t, m) in tokens.iter().zip(&msgs) {
        check_store(&spec.store, &spec.rcpt2, t, m)?;
    }
    let mut detail = "2 recipients + 3 messages, all delivered intact".to_string();
    if let Some(log) = &spec.pipelining_log {
        for tok in std::iter::once(&t).chain(&tokens) {
            let pipelined = logged_pipelining(log, tok)?;
            ensure!(
                pipelined == want_pipelining,
                "the server logged pipelined={pipelined} for {tok}, expected {want_pipelining}"
            );
        }
        detail.push_str(if want_pipelining {
            "; the server logged each transaction as pipelined (L)"
        } else {
            "; the server logged none as pipelined"
        });
    }
    Ok(Outcome::Pass(detail))
}

/// Whether Exim's log says the client pipelined the transaction of the message `token`:
/// its `<=` line has an `L` field (`L-`: offered but not used; a `.` or `*` after the `L`
/// is about PIPECONNECT; no field: PIPELINING not offered).
fn logged_pipelining(log: &std::path::Path, token: &str) -> Result<bool, String> {
    let id = format!(" id={token}@test.example ");
    let text = std::fs::read_to_string(log).map_err(|err| format!("{}: {err}", log.display()))?;
    let line = text
        .lines()
        .find(|l| l.contains(" <= ") && l.contains(&id))
        .ok_or_else(|| format!("no <= line for {token} in {}", log.display()))?;
    Ok(line.split(' ').any(|f| {
        f.strip_prefix('L')
            .is_some_and(|rest| rest.len() <= 1 && rest.chars().all(|c| c == '.' || c == '*'))
    }))
}

fn pipelining_on(a: &dyn Adapter, spec: &ServerSpec) -> Outcome {
    done(match spec.pipelining {
        Ok(()) => multi(a, spec, &spec.plain, true),
        Err(why) => not_offered(a, spec, "pipelining", why),
    })
}

fn pipelining_off(a: &dyn Adapter, spec: &ServerSpec) -> Outcome {
    done(match &spec.nopipelining {
        Ok(addr) => multi(a, spec, addr, false),
        Err(why) => Ok(Outcome::NotApplicable(why)),
    })
}

// ---------------------------------------------------------------- extensions

fn chunking(a: &dyn Adapter, spec: &ServerSpec) -> Outcome {
    done((|| {
        if let Err(why) = spec.chunking {
            return not_offered(a, spec, "chunking", why);
        }
        let mut s = connect(a, &spec.plain, spec.options(TlsPolicy::Never))?;
        ensure!(
            s.capabilities().is_some_and(|c| c.chunking()),
            "no CHUNKING"
        );
        let t = messages::token("bdat");
        let msg = messages::big(&t, SENDER, &spec.rcpt, 600 * 1024);
        let mut env = envelope(SENDER, &[&spec.rcpt]).map_err(|err| e(&err))?;
        env.prefer_bdat = true;
        s.take_transcript();
        let r = s.send(env, Body::Bytes(&msg)).map_err(|err| e(&err))?;
        accepted_all(&r)?;
        let tr = s.take_transcript();
        ensure!(!tr.iter().any(|l| l == "C: DATA"), "DATA sent: {tr:?}");
        let last = transcript_line(&tr, "C: BDAT ")?.clone();
        quit(&mut *s)?;
        let stored = check_store(&spec.store, &spec.rcpt, &t, &msg)?;
        Ok(Outcome::Pass(format!(
            "{} octets, {last}; {stored}",
            msg.len()
        )))
    })())
}

fn eight_bit_mime(a: &dyn Adapter, spec: &ServerSpec) -> Outcome {
    done((|| {
        if let Err(why) = spec.eightbitmime {
            return not_offered(a, spec, "8bitmime", why);
        }
        let mut s = connect(a, &spec.plain, spec.options(TlsPolicy::Never))?;
        let t = messages::token("8bitmime");
        let msg = messages::eight_bit(&t, SENDER, &spec.rcpt);
        s.take_transcript();
        let r = sendmail(&mut *s, SENDER, &[&spec.rcpt], &msg).map_err(|err| e(&err))?;
        accepted_all(&r)?;
        let tr = s.take_transcript();
        let mail = transcript_line(&tr, "C: MAIL FROM:")?;
        ensure!(mail.contains("BODY=8BITMIME"), "{mail}");
        quit(&mut *s)?;
        let stored = check_store(&spec.store, &spec.rcpt, &t, &msg)?;
        Ok(Outcome::Pass(format!("BODY=8BITMIME; {stored}")))
    })())
}

fn smtputf8(a: &dyn Adapter, spec: &ServerSpec) -> Outcome {
    done((|| {
        let from = "dépêche-jörg@test.example";
        if let Err(why) = spec.smtputf8 {
            // Not offered: the client must refuse the UTF-8 sender itself, before MAIL.
            let mut s = connect(a, &spec.plain, spec.options(TlsPolicy::Never))?;
            ensure!(
                !s.has_extn("smtputf8"),
                "the spec is stale: SMTPUTF8 offered"
            );
            let t = messages::token("utf8");
            s.take_transcript();
            let r = sendmail(
                &mut *s,
                from,
                &[&spec.rcpt],
                &messages::utf8(&t, from, &spec.rcpt),
            );
            ensure!(
                matches!(&r, Err(Error::NotSupported(x)) if x == "SMTPUTF8"),
                "UTF-8 sender without SMTPUTF8: expected a local refusal, got {r:?}"
            );
            let tr = s.take_transcript();
            ensure!(
                !tr.iter().any(|l| l.starts_with("C: MAIL")),
                "MAIL sent: {tr:?}"
            );
            let _ = s.quit();
            return Ok(Outcome::NotApplicable(why));
        }
        let mut s = connect(a, &spec.plain, spec.options(TlsPolicy::Never))?;
        ensure!(
            s.capabilities().is_some_and(|c| c.smtp_utf8()),
            "no SMTPUTF8"
        );
        let t = messages::token("utf8");
        let msg = messages::utf8(&t, from, &spec.rcpt);
        s.take_transcript();
        let r = sendmail(&mut *s, from, &[&spec.rcpt], &msg).map_err(|err| e(&err))?;
        accepted_all(&r)?;
        let tr = s.take_transcript();
        let mail = transcript_line(&tr, "C: MAIL FROM:")?;
        ensure!(
            mail.contains(&format!("<{from}>")) && mail.contains(" SMTPUTF8"),
            "{mail}"
        );
        quit(&mut *s)?;
        let stored = check_store(&spec.store, &spec.rcpt, &t, &msg)?;
        Ok(Outcome::Pass(format!("{mail}; {stored}")))
    })())
}

fn size_exceeded(a: &dyn Adapter, spec: &ServerSpec) -> Outcome {
    done((|| {
        let limit = match spec.size_limit {
            Ok(l) => l,
            Err(why) => {
                let mut s = connect(a, &spec.plain, spec.options(TlsPolicy::Never))?;
                ensure!(!s.has_extn("size"), "the spec is stale: SIZE offered");
                let _ = s.quit();
                return Ok(Outcome::NotApplicable(why));
            }
        };
        let mut s = connect(a, &spec.plain, spec.options(TlsPolicy::Never))?;
        let adv = s
            .capabilities()
            .and_then(|c| c.size())
            .and_then(|z| z.limit());
        ensure!(
            adv == Some(limit),
            "SIZE advertised {adv:?}, expected {limit}"
        );
        let t = messages::token("size");
        // Well over the limit, not limit + 1: Exim and OpenSMTPD measure the message as
        // they store it (LF line ends), ~1.3 % less than the octets on the wire, and
        // accept a message a little over their advertised SIZE.
        let msg = messages::big(&t, SENDER, &spec.rcpt, limit as usize + limit as usize / 8);
        // 1. Known size: refused locally, nothing sent.
        s.take_transcript();
        match sendmail(&mut *s, SENDER, &[&spec.rcpt], &msg) {
            Err(Error::Usage(UsageError::TooLarge { limit: l, .. })) if l == limit => {}
            other => return Err(format!("known size: expected TooLarge, got {other:?}")),
        }
        let tr = s.take_transcript();
        ensure!(
            !tr.iter().any(|l| l.starts_with("C: MAIL")),
            "MAIL sent: {tr:?}"
        );
        let n = s.noop().map_err(|err| e(&err))?;
        ensure!(n.code() == 250, "NOOP after the local refusal: {n}");
        // 2. Unknown size (a reader): the server refuses after the data.
        let mut reader = &msg[..];
        let env = envelope(SENDER, &[&spec.rcpt]).map_err(|err| e(&err))?;
        let reply = match s.send(env, Body::Reader(&mut reader)) {
            Err(Error::DataRefused { reply, report }) => {
                ensure!(
                    matches!(
                        report.recipients[0].status,
                        RcptStatus::Refused(Stage::EndOfData | Stage::DuringContent, _)
                    ),
                    "{report:?}"
                );
                reply
            }
            other => return Err(format!("unknown size: expected a refusal, got {other:?}")),
        };
        // RFC 1870 says 552; OpenSMTPD answers 554 5.3.4. Any permanent refusal will do
        // (the client must report it as the data refused at the end of data).
        ensure!(
            reply.code().get() >= 550,
            "over the limit: {reply}, not a permanent refusal"
        );
        // The session goes on (or the server closed it after the refusal, which it may).
        let after = if s.is_closed() {
            "server closed after it".to_string()
        } else {
            let _ = s.quit();
            "session usable".to_string()
        };
        Ok(Outcome::Pass(format!(
            "limit {limit}: local TooLarge; streamed {} octets -> {reply}; {after}",
            msg.len()
        )))
    })())
}

fn refused_rcpt(a: &dyn Adapter, spec: &ServerSpec) -> Outcome {
    done((|| {
        let mut s = connect(a, &spec.plain, spec.options(TlsPolicy::Never))?;
        let t = messages::token("partial");
        let msg = messages::plain(&t, SENDER, &spec.rcpt);
        let r =
            sendmail(&mut *s, SENDER, &[&spec.unknown, &spec.rcpt], &msg).map_err(|err| e(&err))?;
        let [bad, good] = &r.recipients[..] else {
            return Err(format!("{r:?}"));
        };
        ensure!(bad.recipient == spec.unknown && !bad.accepted, "{r:?}");
        ensure!(
            matches!(bad.status, RcptStatus::Refused(Stage::Rcpt, _)),
            "{r:?}"
        );
        ensure!(
            code(&bad.reply) == spec.unknown_code,
            "unknown user: {:?}",
            bad.reply
        );
        ensure!(good.accepted, "{r:?}");
        quit(&mut *s)?;
        let stored = check_store(&spec.store, &spec.rcpt, &t, &msg)?;
        Ok(Outcome::Pass(format!(
            "{} refused with {}; {stored}",
            spec.unknown,
            bad.reply
                .as_ref()
                .map(|r| r.to_string())
                .unwrap_or_default()
        )))
    })())
}

fn dsn_params(rcpt: &str, token: &str) -> Result<(MailParams, RcptParams), String> {
    let mut mp = MailParams::default();
    mp.ret = Some(Ret::Hdrs);
    mp.envid = Some(Envid::new(token).map_err(|err| err.to_string())?);
    let mut rp = RcptParams::default();
    rp.notify = Some(Notify::On {
        success: false,
        failure: true,
        delay: true,
    });
    let mb = Mailbox::parse(rcpt).map_err(|err| err.to_string())?;
    rp.orcpt = Some(Orcpt::rfc822(&mb).map_err(|err| err.to_string())?);
    Ok((mp, rp))
}

fn dsn(a: &dyn Adapter, spec: &ServerSpec) -> Outcome {
    done((|| {
        let mut s = connect(a, &spec.plain, spec.options(TlsPolicy::Never))?;
        let t = messages::token("dsn");
        let msg = messages::plain(&t, SENDER, &spec.rcpt);
        let (mp, rp) = dsn_params(&spec.rcpt, &t)?;
        s.take_transcript();
        if let Err(why) = spec.dsn {
            ensure!(!s.has_extn("dsn"), "the spec is stale: DSN offered");
            // Not offered: refused locally (no silent drop), nothing sent.
            let r = s.sendmail(SENDER, &[&spec.rcpt], &msg, mp, rp);
            ensure!(
                matches!(&r, Err(Error::NotSupported(x)) if x == "DSN"),
                "DSN parameters without DSN: expected a local refusal, got {r:?}"
            );
            let tr = s.take_transcript();
            ensure!(
                !tr.iter().any(|l| l.starts_with("C: MAIL")),
                "MAIL sent: {tr:?}"
            );
            let _ = s.quit();
            return Ok(Outcome::NotApplicable(why));
        }
        ensure!(s.capabilities().is_some_and(|c| c.dsn()), "no DSN");
        let r = s
            .sendmail(SENDER, &[&spec.rcpt], &msg, mp, rp)
            .map_err(|err| e(&err))?;
        accepted_all(&r)?;
        let tr = s.take_transcript();
        let mail = transcript_line(&tr, "C: MAIL FROM:")?;
        ensure!(
            mail.contains("RET=HDRS") && mail.contains("ENVID="),
            "{mail}"
        );
        let rcpt = transcript_line(&tr, "C: RCPT TO:")?;
        ensure!(
            rcpt.contains("NOTIFY=FAILURE,DELAY") && rcpt.contains("ORCPT=rfc822;"),
            "{rcpt}"
        );
        quit(&mut *s)?;
        let stored = check_store(&spec.store, &spec.rcpt, &t, &msg)?;
        Ok(Outcome::Pass(format!("{mail} / {rcpt}; {stored}")))
    })())
}

// ---------------------------------------------------------------- simple commands

/// Simple commands run on a session.
type Command<'c> = dyn Fn(&mut dyn Session) -> Result<Vec<Reply>, Error> + 'c;

/// "Not implemented": 500 or 502.
const UNIMPLEMENTED: &[u16] = &[500, 502];

/// Runs `cmd`; with the feature, `good` must hold for its reply; without it, every reply
/// must have one of `na_codes` (then n/a). The session must stay usable either way.
fn simple(
    a: &dyn Adapter,
    spec: &ServerSpec,
    feature: Feature,
    na_codes: &[u16],
    cmd: &Command<'_>,
    good: &dyn Fn(&[Reply]) -> bool,
) -> R {
    let opts = spec.options(TlsPolicy::Never);
    let mut s = connect(a, &spec.plain, opts)?;
    let replies = cmd(&mut *s).map_err(|err| e(&err))?;
    let shown = replies
        .iter()
        .map(|r| r.to_string())
        .collect::<Vec<_>>()
        .join(" / ");
    let n = s.noop().map_err(|err| format!("NOOP after: {}", e(&err)))?;
    ensure!(n.code() == 250, "NOOP after: {n}");
    quit(&mut *s)?;
    match feature {
        Ok(()) => {
            ensure!(good(&replies), "unexpected replies: {shown}");
            Ok(Outcome::Pass(shown))
        }
        Err(why) => {
            ensure!(
                replies.iter().all(|r| na_codes.contains(&r.code().get())),
                "the spec says n/a (replies {na_codes:?} expected), but: {shown}"
            );
            Ok(Outcome::NotApplicable(why))
        }
    }
}

fn vrfy(a: &dyn Adapter, spec: &ServerSpec) -> Outcome {
    let (known, unknown) = (spec.rcpt.clone(), spec.unknown.clone());
    done(simple(
        a,
        spec,
        spec.vrfy,
        spec.vrfy_na_codes,
        &|s| Ok(vec![s.verify(&known)?, s.verify(&unknown)?]),
        &|r| {
            matches!(r[0].code().get(), 250..=252)
                && (r[1].code() == 252 || r[1].code().get() >= 500)
        },
    ))
}

fn expn(a: &dyn Adapter, spec: &ServerSpec) -> Outcome {
    let list = local_part(&spec.rcpt).to_string();
    done(simple(
        a,
        spec,
        spec.expn,
        UNIMPLEMENTED,
        &|s| Ok(vec![s.expn(&list)?]),
        &|r| matches!(r[0].code().get(), 250 | 252 | 550),
    ))
}

fn help(a: &dyn Adapter, spec: &ServerSpec) -> Outcome {
    done(simple(
        a,
        spec,
        spec.help,
        UNIMPLEMENTED,
        &|s| Ok(vec![s.help(None)?]),
        &|r| matches!(r[0].code().get(), 211 | 214 | 250),
    ))
}

fn noop_rset(a: &dyn Adapter, spec: &ServerSpec) -> Outcome {
    done((|| {
        let mut s = connect(a, &spec.plain, spec.options(TlsPolicy::Never))?;
        let n = s.noop().map_err(|err| e(&err))?;
        ensure!(n.code() == 250, "NOOP {n}");
        let m = s
            .mail(&format!("<{SENDER}>"), MailParams::default())
            .map_err(|err| e(&err))?;
        ensure!(m.code() == 250, "MAIL {m}");
        let r = s.rset().map_err(|err| e(&err))?;
        ensure!(r.code() == 250, "RSET {r}");
        // After RSET a new transaction starts cleanly (no 503 "nested MAIL").
        let t = messages::token("rset");
        let msg = messages::plain(&t, SENDER, &spec.rcpt);
        let stored = send_and_check(&mut *s, spec, &spec.rcpt, &t, &msg)?;
        let r2 = s.rset().map_err(|err| e(&err))?;
        ensure!(r2.code() == 250, "RSET after a message {r2}");
        quit(&mut *s)?;
        Ok(Outcome::Pass(format!("NOOP {n}, RSET {r}; {stored}")))
    })())
}

fn several_messages(a: &dyn Adapter, spec: &ServerSpec) -> Outcome {
    done((|| {
        let mut s = connect(a, &spec.plain, spec.options(TlsPolicy::Never))?;
        let mut sent = Vec::new();
        for (i, make) in [
            messages::plain as fn(&str, &str, &str) -> Vec<u8>,
            messages::eight_bit,
            messages::dots_and_bare_lf,
            messages::plain,
        ]
        .into_iter()
        .enumerate()
        {
            let t = messages::token(&format!("several{i}"));
            let msg = make(&t, SENDER, &spec.rcpt);
            let r = sendmail(&mut *s, SENDER, &[&spec.rcpt], &msg)
                .map_err(|err| format!("message {i}: {}", e(&err)))?;
            accepted_all(&r)?;
            sent.push((t, msg));
        }
        quit(&mut *s)?;
        for (t, m) in &sent {
            check_store(&spec.store, &spec.rcpt, t, m)?;
        }
        Ok(Outcome::Pass(format!(
            "{} messages, one session, all intact",
            sent.len()
        )))
    })())
}

// ---------------------------------------------------------------- LMTP

fn lmtp(a: &dyn Adapter, spec: &ServerSpec) -> Outcome {
    done((|| {
        let l = match &spec.lmtp {
            Ok(l) => l,
            Err(why) => return Ok(Outcome::NotApplicable(why)),
        };
        let mut s = connect(a, &l.addr, spec.lmtp_options())?;
        let tr = s.take_transcript();
        transcript_line(&tr, "C: LHLO ")?;
        let t = messages::token("lmtp");
        let msg = messages::big(&t, SENDER, &l.ok_user, 4096);
        let r = sendmail(
            &mut *s,
            SENDER,
            &[&l.ok_user, &l.quota_user, &spec.unknown],
            &msg,
        )
        .map_err(|err| e(&err))?;
        let [ok, quota, unknown] = &r.recipients[..] else {
            return Err(format!("{r:?}"));
        };
        ensure!(
            matches!(&ok.status, RcptStatus::Accepted(rep) if rep.code().get() == 250),
            "{r:?}"
        );
        ensure!(
            matches!(quota.status, RcptStatus::Refused(Stage::EndOfData, _))
                && code(&quota.reply) == 552,
            "quota user: {r:?}"
        );
        ensure!(
            matches!(unknown.status, RcptStatus::Refused(Stage::Rcpt, _))
                && code(&unknown.reply) == 550,
            "unknown user: {r:?}"
        );
        // Only the over-quota recipient: the whole transaction is refused after the data.
        match sendmail(&mut *s, SENDER, &[&l.quota_user], &msg) {
            Err(Error::DataRefused { reply, .. }) if reply.code() == 552 => {}
            other => {
                return Err(format!(
                    "quota user alone: expected DataRefused 552, got {other:?}"
                ));
            }
        }
        quit(&mut *s)?;
        let stored = check_store(&l.store, &l.ok_user, &t, &msg)?;
        Ok(Outcome::Pass(format!(
            "250 / {} / {}; {stored}",
            quota
                .reply
                .as_ref()
                .map(|r| r.to_string())
                .unwrap_or_default(),
            unknown
                .reply
                .as_ref()
                .map(|r| r.to_string())
                .unwrap_or_default()
        )))
    })())
}

// ---------------------------------------------------------------- the store

fn store_one(a: &dyn Adapter, spec: &ServerSpec, tag: &str, msg: fn(&str) -> Vec<u8>) -> R {
    let mut s = connect(a, &spec.plain, spec.options(TlsPolicy::Never))?;
    let t = messages::token(tag);
    let m = msg(&t);
    let stored = send_and_check(&mut *s, spec, &spec.rcpt, &t, &m)?;
    quit(&mut *s)?;
    Ok(Outcome::Pass(format!("{} octets sent; {stored}", m.len())))
}

fn store_plain(a: &dyn Adapter, spec: &ServerSpec) -> Outcome {
    done(store_one(a, spec, "store-plain", |t| {
        messages::plain(t, SENDER, "rcpt@test.example")
    }))
}

fn store_8bit(a: &dyn Adapter, spec: &ServerSpec) -> Outcome {
    done(match spec.eightbitmime {
        Ok(()) => store_one(a, spec, "store-8bit", |t| {
            messages::eight_bit(t, SENDER, "rcpt@test.example")
        }),
        Err(why) => not_offered(a, spec, "8bitmime", why),
    })
}

fn store_dots(a: &dyn Adapter, spec: &ServerSpec) -> Outcome {
    done(store_one(a, spec, "store-dots", |t| {
        messages::dots_and_bare_lf(t, SENDER, "rcpt@test.example")
    }))
}

/// 10 MiB, or just under the server's SIZE limit when that is 10 MiB itself (Postfix).
pub const BIG: usize = 10 * 1024 * 1024;

fn store_10mib(a: &dyn Adapter, spec: &ServerSpec) -> Outcome {
    done((|| {
        let len = match spec.size_limit {
            Ok(l) if (l as usize) < BIG + 64 * 1024 => l as usize - 64 * 1024,
            _ => BIG,
        };
        let mut s = connect(a, &spec.plain, spec.options(TlsPolicy::Never))?;
        let t = messages::token("store-big");
        let m = messages::big(&t, SENDER, &spec.rcpt, len);
        let started = std::time::Instant::now();
        let stored = send_and_check(&mut *s, spec, &spec.rcpt, &t, &m)?;
        quit(&mut *s)?;
        let note = if len < BIG {
            " (10 MiB - 64 KiB: the server's SIZE limit is 10 MiB for the whole message)"
        } else {
            ""
        };
        Ok(Outcome::Pass(format!(
            "{} octets{note} in {:.1} s; {stored}",
            m.len(),
            started.elapsed().as_secs_f64()
        )))
    })())
}
