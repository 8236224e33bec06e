//! What each server offers, from the `SMTP_TEST_*` variables of `scripts/servers/start`
//! and `scripts/servers/interop/start` (see `scripts/servers/README.md`).
//!
//! A scenario whose feature a server does not offer is `n/a` with the reason given here;
//! the scenario still checks that the server's EHLO agrees with this table (a feature
//! advertised although the table says "not offered" is a failure: the table is stale).

use std::time::Duration;

use smtp_blocking::{Dialect, Options, TlsOptions, TlsPolicy};

use crate::store::Store;

/// A feature a server has, or the reason it has not.
pub type Feature = Result<(), &'static str>;

/// One server of the matrix.
#[derive(Clone, Debug)]
pub struct ServerSpec {
    /// Column name.
    pub name: &'static str,
    /// SMTP or LMTP on [`plain`](Self::plain).
    pub dialect: Dialect,
    /// The main listener: no TLS needed, no AUTH needed to deliver to the local users.
    pub plain: String,
    /// STARTTLS offered on `plain`.
    pub starttls: Feature,
    /// A listener that requires STARTTLS (530 before it) and offers AUTH after it.
    pub submission: Result<String, &'static str>,
    /// An implicit-TLS listener with AUTH.
    pub smtps: Result<String, &'static str>,
    /// A listener without PIPELINING (lock-step), if `plain` offers it.
    pub nopipelining: Result<String, &'static str>,
    /// SASL mechanisms offered after TLS (upper case), or why there is no AUTH.
    pub auth: Result<&'static [&'static str], &'static str>,
    /// CRAM-MD5 after TLS, or why not.
    pub cram_md5: Feature,
    /// SCRAM-SHA-256 after TLS, or why not.
    pub scram: Feature,
    /// XOAUTH2 and OAUTHBEARER after TLS (tokens checked by an OAuth 2.0 introspection
    /// endpoint: [`oauth_tokens`](Self::oauth_tokens)), or why not.
    pub oauth: Feature,
    /// PIPELINING on `plain`.
    pub pipelining: Feature,
    /// CHUNKING (BDAT) on `plain`.
    pub chunking: Feature,
    /// 8BITMIME.
    pub eightbitmime: Feature,
    /// SMTPUTF8.
    pub smtputf8: Feature,
    /// DSN.
    pub dsn: Feature,
    /// The advertised SIZE limit.
    pub size_limit: Result<u64, &'static str>,
    /// VRFY answered (2xx or 5xx about the address), or why it is not (500/502).
    pub vrfy: Feature,
    /// The replies VRFY gets when `vrfy` is n/a (default 500, 502: not implemented).
    pub vrfy_na_codes: &'static [u16],
    /// EXPN answered, or why not.
    pub expn: Feature,
    /// HELP answered (211/214/250).
    pub help: Feature,
    /// LMTP listener with per-recipient results, the user it accepts and the user refused
    /// after the data (message over 1 KiB), or why there is none.
    pub lmtp: Result<LmtpSpec, &'static str>,
    /// User and password for AUTH.
    pub user: (String, String),
    /// An OAuth 2.0 access token valid for [`user`](Self::user), and an expired one.
    pub oauth_tokens: (String, String),
    /// Delivered recipients (local part = the store folder).
    pub rcpt: String,
    /// A second delivered recipient.
    pub rcpt2: String,
    /// Refused at RCPT.
    pub unknown: String,
    /// The code `unknown` is refused with at RCPT.
    pub unknown_code: u16,
    /// Where delivered messages are read back.
    pub store: Store,
    /// A server log that says, per accepted message, whether the client pipelined (Exim's
    /// `log_selector = +pipelining`: an `L` field on the `<=` line, `L-` when PIPELINING was
    /// offered but not used).
    pub pipelining_log: Option<std::path::PathBuf>,
    /// CA file and TLS name.
    pub ca: String,
    /// Name the certificate is verified against.
    pub tls_name: String,
}

/// An LMTP listener with a per-recipient failure after the data.
#[derive(Clone, Debug)]
pub struct LmtpSpec {
    /// `host:port`.
    pub addr: String,
    /// Accepted and delivered.
    pub ok_user: String,
    /// Accepted at RCPT, refused with 552 after the data.
    pub quota_user: String,
    /// Where `ok_user`'s messages are read back.
    pub store: Store,
}

fn var(name: &str) -> Result<String, String> {
    let key = format!("SMTP_TEST_{name}");
    match std::env::var(&key) {
        Ok(v) if !v.is_empty() => Ok(v),
        _ => Err(format!(
            "{key} is not set: start the servers (scripts/servers/start DIR && \
             scripts/servers/interop/start DIR; . DIR/env) or run scripts/test-all"
        )),
    }
}

impl ServerSpec {
    /// Options for this server: `tls`, the test CA and name, 10 s deadlines, transcript.
    pub fn options(&self, tls: TlsPolicy) -> Options {
        let mut o = Options::new().with_timeout(Duration::from_secs(10));
        o.core.dialect = self.dialect;
        o.core.tls = tls;
        o.record_transcript = true;
        o.tls_options = TlsOptions::new()
            .with_ca_file(&self.ca)
            .expect("the test CA loads")
            .with_server_name(self.tls_name.clone());
        o
    }

    /// Options for the LMTP listener.
    pub fn lmtp_options(&self) -> Options {
        let mut o = self.options(TlsPolicy::Never);
        o.core.dialect = Dialect::Lmtp;
        o
    }
}

/// The default reason (every server sets its own where it matters).
const UNSET: &str = "not offered by this server's test configuration";
const NO_TLS_OPENSMTPD: &str = "Debian 12's OpenSMTPD 6.8 cannot do TLS with OpenSSL 3 \
     (upstream issues 1171, 1239): no STARTTLS, no implicit TLS";
const NO_AUTH_OPENSMTPD: &str = "OpenSMTPD offers AUTH only over TLS, which this build cannot do";
const NO_LMTP_SMTP: &str = "an SMTP server; LMTP is the Dovecot LMTP column";
const NO_TLS_DOVECOT: &str = "Dovecot LMTP runs with ssl=no (scripts/servers/start): no STARTTLS";
const NO_AUTH_LMTP: &str =
    "LMTP (RFC 2033) has no AUTH; Dovecot's SASL is tested through Postfix and Exim";

/// Every server of the matrix, in column order; an error names a missing variable.
pub fn servers() -> Result<Vec<ServerSpec>, String> {
    let ca = var("CA")?;
    let tls_name = var("TLS_NAME")?;
    let user = (var("USER")?, var("PASSWORD")?);
    let oauth_tokens = (var("OAUTH_TOKEN")?, var("OAUTH_EXPIRED")?);
    let (rcpt, rcpt2, unknown) = (var("RCPT")?, var("RCPT2")?, var("RCPT_UNKNOWN")?);
    let dovecot_store = Store::Maildir {
        root: var("MAILDIR_ROOT")?.into(),
    };
    let base = |name, plain: String, store| ServerSpec {
        name,
        dialect: Dialect::Smtp,
        plain,
        starttls: Ok(()),
        submission: Err(UNSET),
        smtps: Err(UNSET),
        nopipelining: Err(UNSET),
        auth: Err(UNSET),
        cram_md5: Err(UNSET),
        scram: Err(UNSET),
        oauth: Err(UNSET),
        pipelining: Ok(()),
        chunking: Ok(()),
        eightbitmime: Ok(()),
        smtputf8: Ok(()),
        dsn: Ok(()),
        size_limit: Err(UNSET),
        vrfy: Ok(()),
        vrfy_na_codes: &[500, 502],
        expn: Ok(()),
        help: Ok(()),
        lmtp: Err(NO_LMTP_SMTP),
        user: user.clone(),
        oauth_tokens: oauth_tokens.clone(),
        rcpt: rcpt.clone(),
        rcpt2: rcpt2.clone(),
        unknown: unknown.clone(),
        unknown_code: 550,
        store,
        pipelining_log: None,
        ca: ca.clone(),
        tls_name: tls_name.clone(),
    };
    let interop_limit: u64 = var("INTEROP_SIZE_LIMIT")?
        .parse()
        .map_err(|e| format!("SMTP_TEST_INTEROP_SIZE_LIMIT: {e}"))?;

    let postfix = ServerSpec {
        submission: Ok(var("POSTFIX_SUBMISSION")?),
        smtps: Ok(var("POSTFIX_SMTPS")?),
        nopipelining: Err(
            "every Postfix port of scripts/servers/start offers PIPELINING \
             and the client has no switch to turn it off; lock-step is the Exim \
             (no-PIPELINING port), OpenSMTPD and aiosmtpd columns",
        ),
        // Dovecot's SASL (scripts/servers/start): CRAM-MD5 and SCRAM-SHA-256 from the
        // {PLAIN} passwd-file, XOAUTH2 and OAUTHBEARER from its oauth2 passdb (the
        // introspection endpoint scripts/servers/oauth-introspect.py).
        auth: Ok(&[
            "PLAIN",
            "LOGIN",
            "CRAM-MD5",
            "SCRAM-SHA-256",
            "XOAUTH2",
            "OAUTHBEARER",
        ]),
        cram_md5: Ok(()),
        scram: Ok(()),
        oauth: Ok(()),
        size_limit: Ok(var("SIZE_LIMIT")?
            .parse()
            .map_err(|e| format!("SIZE_LIMIT: {e}"))?),
        expn: Err("Postfix has no EXPN (500 5.5.2 Error: command not recognized)"),
        help: Err("Postfix has no HELP (500 5.5.2 Error: command not recognized)"),
        ..base("postfix", var("POSTFIX_MX")?, dovecot_store.clone())
    };
    let exim = ServerSpec {
        submission: Ok(var("EXIM_SUBMISSION")?),
        smtps: Ok(var("EXIM_SMTPS")?),
        nopipelining: Ok(var("EXIM_NOPIPELINING")?),
        // Its own plaintext and cram_md5 authenticators; SCRAM-SHA-256, XOAUTH2 and
        // OAUTHBEARER through its dovecot authenticator (the Dovecot of
        // scripts/servers/start, over its auth-client socket).
        auth: Ok(&[
            "PLAIN",
            "LOGIN",
            "CRAM-MD5",
            "SCRAM-SHA-256",
            "XOAUTH2",
            "OAUTHBEARER",
        ]),
        cram_md5: Ok(()),
        scram: Ok(()),
        oauth: Ok(()),
        size_limit: Ok(interop_limit),
        pipelining_log: Some(var("EXIM_MAINLOG")?.into()),
        ..base(
            "exim",
            var("EXIM_PLAIN")?,
            Store::Maildir {
                root: var("EXIM_MAILDIR_ROOT")?.into(),
            },
        )
    };
    let opensmtpd = ServerSpec {
        starttls: Err(NO_TLS_OPENSMTPD),
        submission: Err(NO_TLS_OPENSMTPD),
        smtps: Err(NO_TLS_OPENSMTPD),
        nopipelining: Ok(var("OPENSMTPD")?),
        auth: Err(NO_AUTH_OPENSMTPD),
        pipelining: Err("OpenSMTPD 6.8 does not offer PIPELINING (the lock-step server)"),
        chunking: Err("OpenSMTPD 6.8 does not offer CHUNKING"),
        smtputf8: Err("OpenSMTPD 6.8 does not offer SMTPUTF8"),
        size_limit: Ok(interop_limit),
        vrfy: Err("OpenSMTPD has no VRFY (500 5.5.1 Invalid command: Command unrecognized)"),
        expn: Err("OpenSMTPD has no EXPN (500 5.5.1 Invalid command: Command unrecognized)"),
        unknown_code: 524,
        ..base(
            "opensmtpd",
            var("OPENSMTPD")?,
            Store::Maildir {
                root: var("OPENSMTPD_MAILDIR_ROOT")?.into(),
            },
        )
    };
    let aio_store = Store::Record {
        root: var("AIOSMTPD_STORE")?.into(),
    };
    let aiosmtpd = ServerSpec {
        submission: Ok(var("AIOSMTPD_STARTTLS")?),
        smtps: Ok(var("AIOSMTPD_SMTPS")?),
        nopipelining: Ok(var("AIOSMTPD_SMTP")?),
        // PLAIN and LOGIN are aiosmtpd's; CRAM-MD5, SCRAM-SHA-256, XOAUTH2 and OAUTHBEARER
        // are handler methods of scripts/servers/interop/aiosmtpd_server.py.
        auth: Ok(&[
            "PLAIN",
            "LOGIN",
            "CRAM-MD5",
            "SCRAM-SHA-256",
            "XOAUTH2",
            "OAUTHBEARER",
        ]),
        cram_md5: Ok(()),
        scram: Ok(()),
        oauth: Ok(()),
        pipelining: Err("aiosmtpd 1.4 does not offer PIPELINING"),
        chunking: Err("aiosmtpd 1.4 does not offer CHUNKING"),
        dsn: Err("aiosmtpd 1.4 does not offer DSN"),
        size_limit: Ok(interop_limit),
        expn: Err("aiosmtpd has no EXPN (502 EXPN not implemented)"),
        lmtp: Ok(LmtpSpec {
            addr: var("AIOSMTPD_LMTP")?,
            ok_user: var("RCPT2")?,
            quota_user: var("LMTP_QUOTA_USER")?,
            store: aio_store.clone(),
        }),
        ..base("aiosmtpd", var("AIOSMTPD_SMTP")?, aio_store)
    };
    let dovecot = ServerSpec {
        dialect: Dialect::Lmtp,
        starttls: Err(NO_TLS_DOVECOT),
        submission: Err(NO_TLS_DOVECOT),
        smtps: Err(NO_TLS_DOVECOT),
        nopipelining: Err(
            "Dovecot LMTP always offers PIPELINING and the client has no \
             switch to turn it off",
        ),
        auth: Err(NO_AUTH_LMTP),
        smtputf8: Err("Dovecot 2.3 LMTP does not offer SMTPUTF8"),
        dsn: Err("Dovecot 2.3 LMTP does not offer DSN"),
        size_limit: Err(
            "Dovecot LMTP offers no SIZE (quota is checked after the data: \
             see the LMTP row)",
        ),
        vrfy: Err(
            "Dovecot 2.3 LMTP takes VRFY's argument strictly as an RFC 5321 String \
             (Atom / Quoted-string): a mailbox as the client sends it (bare, as Exim and \
             aiosmtpd need it) gets 501 5.5.4 Invalid string parameter; a quoted one only \
             ever gets 252 Try RCPT instead",
        ),
        vrfy_na_codes: &[501],
        expn: Err("Dovecot LMTP has no EXPN (500 5.5.1 Unknown command)"),
        help: Err("Dovecot LMTP has no HELP (500 5.5.1 Unknown command)"),
        lmtp: Ok(LmtpSpec {
            addr: var("LMTP")?,
            ok_user: var("LMTP_OK_USER")?,
            quota_user: var("LMTP_QUOTA_USER")?,
            store: dovecot_store.clone(),
        }),
        rcpt: var("LMTP_OK_USER")?,
        rcpt2: var("RCPT")?,
        ..base("dovecot-lmtp", var("LMTP")?, dovecot_store)
    };
    Ok(vec![postfix, exim, opensmtpd, aiosmtpd, dovecot])
}
