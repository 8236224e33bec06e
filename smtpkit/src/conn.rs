//! The connection flags every subcommand shares ([`ConnArgs`], flattened into each
//! subcommand's arguments), and what they turn into: the client's
//! [`smtp_client::Options`], where to connect ([`Target`]), how to authenticate
//! ([`AuthPlan`]), and, with no `--server`, the embedded loopback server.
//!
//! The API a subcommand uses:
//!
//! - [`ConnArgs::options`]: the `Options` (TLS policy, trust, timeouts, EHLO name,
//!   pipelining, transcript on); bad flags are a [`UsageError`] (exit status 2);
//! - [`ConnArgs::target`]: `--server`, `--unix` or the embedded server;
//! - [`ConnArgs::auth_plan`]: the credentials and mechanism;
//! - [`ConnArgs::prepare`]: all three at once, with the embedded server started (and its
//!   CA trusted) when there is no `--server`: a [`Prepared`] connection, which opens
//!   blocking clients ([`Prepared::open_blocking_with`], [`Prepared::login_blocking`]) and
//!   pool endpoints ([`Prepared::endpoint`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use smtp_blocking::SmtpClient;
use smtp_client::proto::command::Domain;
use smtp_client::proto::sasl::Credentials;
use smtp_client::{Dialect, Error, Options, Proxy, Reply, TlsOptions, TlsPolicy};

use crate::embedded::{Embedded, EmbeddedConfig};

/// Bad command-line input: the tool prints it on one line and exits with status 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UsageError(pub(crate) String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl UsageError {
    /// A usage error with this message.
    pub(crate) fn new(msg: impl Into<String>) -> UsageError {
        UsageError(msg.into())
    }
}

/// The SASL mechanisms `--auth` can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "UPPER")]
pub(crate) enum AuthMech {
    /// PLAIN (RFC 4616).
    Plain,
    /// LOGIN.
    Login,
    /// CRAM-MD5 (RFC 2195).
    #[value(name = "CRAM-MD5")]
    CramMd5,
    /// SCRAM-SHA-256 (RFC 7677), with server proof.
    #[value(name = "SCRAM-SHA-256")]
    ScramSha256,
    /// SCRAM-SHA-1 (RFC 5802), with server proof.
    #[value(name = "SCRAM-SHA-1")]
    ScramSha1,
    /// XOAUTH2 (Google, Microsoft): needs an OAuth token.
    Xoauth2,
    /// OAUTHBEARER (RFC 7628): needs an OAuth token.
    Oauthbearer,
}

impl AuthMech {
    /// The mechanism's SASL name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            AuthMech::Plain => "PLAIN",
            AuthMech::Login => "LOGIN",
            AuthMech::CramMd5 => "CRAM-MD5",
            AuthMech::ScramSha256 => "SCRAM-SHA-256",
            AuthMech::ScramSha1 => "SCRAM-SHA-1",
            AuthMech::Xoauth2 => "XOAUTH2",
            AuthMech::Oauthbearer => "OAUTHBEARER",
        }
    }

    fn is_oauth(self) -> bool {
        matches!(self, AuthMech::Xoauth2 | AuthMech::Oauthbearer)
    }
}

/// The connection flags shared by every subcommand (`#[command(flatten)]`).
#[derive(Clone, Debug, Default, clap::Args)]
pub(crate) struct ConnArgs {
    /// The server, HOST or HOST:PORT (default port 25; 465 with --tls, 24 with --lmtp). Without
    /// it (and without --unix), an embedded server is started on 127.0.0.1 for this run.
    #[arg(long, value_name = "HOST[:PORT]", conflicts_with = "unix")]
    pub(crate) server: Option<String>,
    /// Connect to this Unix socket instead (LMTP delivery agents such as Dovecot's).
    #[arg(long, value_name = "PATH")]
    pub(crate) unix: Option<PathBuf>,
    /// Speak LMTP (LHLO; one reply per recipient after the data).
    #[arg(long)]
    pub(crate) lmtp: bool,
    /// Implicit TLS: TLS from the first byte (port 465).
    #[arg(long, group = "tls_mode")]
    pub(crate) tls: bool,
    /// STARTTLS, required: fail when the server does not offer it.
    #[arg(long, group = "tls_mode")]
    pub(crate) starttls: bool,
    /// STARTTLS when the server offers it, plaintext otherwise. With none of the three
    /// TLS flags the session is plaintext.
    #[arg(long, group = "tls_mode")]
    pub(crate) starttls_optional: bool,
    /// Trust the CA certificates in this PEM file (instead of the Mozilla roots).
    #[arg(long, value_name = "PEM")]
    pub(crate) ca_file: Option<PathBuf>,
    /// The name to verify the server's certificate against (and send as SNI); default:
    /// the host of --server (`localhost` with --unix).
    #[arg(long, value_name = "NAME")]
    pub(crate) tls_name: Option<String>,
    /// Present this client certificate chain (PEM); needs --client-key.
    #[arg(long, value_name = "PEM", requires = "client_key")]
    pub(crate) client_cert: Option<PathBuf>,
    /// The private key of --client-cert (PEM).
    #[arg(long, value_name = "PEM", requires = "client_cert")]
    pub(crate) client_key: Option<PathBuf>,
    /// DANGEROUS: accept any server certificate (no verification at all). For tests only;
    /// prints a warning.
    #[arg(long)]
    pub(crate) insecure: bool,
    /// The SASL mechanism (default: the strongest the server offers that fits the
    /// credentials).
    #[arg(long, value_enum, value_name = "MECH", ignore_case = true)]
    pub(crate) auth: Option<AuthMech>,
    /// Authenticate as this user (with a password or an OAuth token).
    #[arg(long, value_name = "USER")]
    pub(crate) user: Option<String>,
    /// The password (prefer --password-file or SMTPKIT_PASSWORD: a command line is
    /// visible to other users of the machine).
    #[arg(
        long,
        env = "SMTPKIT_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD"
    )]
    pub(crate) password: Option<String>,
    /// Read the password from the first line of this file.
    #[arg(long, value_name = "FILE")]
    pub(crate) password_file: Option<PathBuf>,
    /// An OAuth 2.0 access token (XOAUTH2 / OAUTHBEARER); prefer --oauth-token-file or
    /// SMTPKIT_OAUTH_TOKEN.
    #[arg(
        long,
        env = "SMTPKIT_OAUTH_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub(crate) oauth_token: Option<String>,
    /// Read the OAuth token from the first line of this file.
    #[arg(long, value_name = "FILE")]
    pub(crate) oauth_token_file: Option<PathBuf>,
    /// Send one command at a time, even when the server offers PIPELINING.
    #[arg(long)]
    pub(crate) no_pipelining: bool,
    /// Connect through a proxy: `socks5://[user:pass@]host:port` (the client resolves the
    /// server's name), `socks5h://...` (the proxy resolves it) or `http://[user:pass@]host:port`
    /// (HTTP CONNECT). TLS still runs end to end with the mail server, whose certificate is
    /// checked. Also `SMTPKIT_PROXY`.
    #[arg(long, value_name = "URL", env = "SMTPKIT_PROXY")]
    pub(crate) proxy: Option<Proxy>,
    /// The name sent with EHLO/LHLO (default: this host's FQDN, else its address).
    #[arg(long, value_name = "NAME")]
    pub(crate) helo: Option<String>,
    /// Every deadline (connect, TLS handshake, each reply), in seconds (default: RFC 5321's
    /// per-phase timeouts).
    #[arg(long, value_name = "SECS", value_parser = parse_timeout)]
    pub(crate) timeout: Option<Duration>,
    /// Print the transcript on stderr (AUTH payloads redacted).
    #[arg(short = 'v', long = "verbose")]
    pub(crate) verbose: bool,
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs.is_finite() && secs < 1e9 => {
            Ok(Duration::from_secs_f64(secs))
        }
        _ => Err(format!("bad --timeout {s:?}: a positive number of seconds")),
    }
}

/// Where to connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// `--server HOST[:PORT]`.
    Server(String),
    /// `--unix PATH`.
    Unix(PathBuf),
    /// Neither: the embedded loopback server.
    Embedded,
}

/// How to authenticate (from `--auth`, `--user`, the password and the OAuth token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AuthPlan {
    /// No `--user`: no AUTH.
    None,
    /// A password, with the strongest mechanism offered (`mech` None) or the named one.
    Password {
        /// The user.
        user: String,
        /// The password.
        password: String,
        /// `--auth`, if given.
        mech: Option<AuthMech>,
    },
    /// An OAuth 2.0 token: OAUTHBEARER, or XOAUTH2 when that is all the server offers
    /// (`mech` None), or the named one.
    OAuth {
        /// The user the token was issued for.
        user: String,
        /// The access token.
        token: String,
        /// `--auth`, if given.
        mech: Option<AuthMech>,
    },
}

impl AuthPlan {
    /// The mechanism named with `--auth` and the credentials for it, if one was named.
    fn named(&self) -> Option<(&'static str, Credentials)> {
        match self {
            AuthPlan::Password {
                user,
                password,
                mech: Some(m),
            } => Some((
                m.name(),
                Credentials::password(user.as_str(), password.as_str()),
            )),
            AuthPlan::OAuth {
                user,
                token,
                mech: Some(m),
            } => Some((m.name(), Credentials::oauth2(user.as_str(), token.as_str()))),
            _ => None,
        }
    }

    /// The user, when authenticating.
    pub(crate) fn user(&self) -> Option<&str> {
        match self {
            AuthPlan::None => None,
            AuthPlan::Password { user, .. } | AuthPlan::OAuth { user, .. } => Some(user),
        }
    }
}

/// The first line of `path`, for a secret.
fn read_secret(flag: &str, path: &std::path::Path) -> Result<String, UsageError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("{flag} {}: {e}", path.display())))?;
    let line = text
        .lines()
        .next()
        .unwrap_or_default()
        .trim_end_matches('\r');
    if line.is_empty() {
        return Err(UsageError(format!("{flag} {}: empty", path.display())));
    }
    Ok(line.to_owned())
}

impl ConnArgs {
    /// The TLS policy: `--tls`, `--starttls`, `--starttls-optional`, else none
    /// (plaintext, as swaks, curl and smtplib do).
    pub(crate) fn tls_policy(&self) -> TlsPolicy {
        if self.tls {
            TlsPolicy::Implicit
        } else if self.starttls {
            TlsPolicy::Required
        } else if self.starttls_optional {
            TlsPolicy::Opportunistic
        } else {
            TlsPolicy::Never
        }
    }

    /// The client options these flags ask for, with the transcript recorded. Trust for
    /// the embedded server is added by [`prepare`](Self::prepare).
    pub(crate) fn options(&self) -> Result<Options, UsageError> {
        let mut o = Options::new();
        if let Some(t) = self.timeout {
            o = o.with_timeout(t);
        }
        o.core.dialect = if self.lmtp {
            Dialect::Lmtp
        } else {
            Dialect::Smtp
        };
        o.core.tls = self.tls_policy();
        if self.no_pipelining {
            o.core.max_in_flight = 1;
        }
        if let Some(p) = &self.proxy {
            if self.unix.is_some() {
                return Err(UsageError("--proxy and --unix exclude each other".into()));
            }
            o = o.with_proxy(p.clone());
        }
        if let Some(h) = &self.helo {
            Domain::parse(h).map_err(|e| UsageError(format!("bad --helo {h:?}: {e}")))?;
            o.helo_name = Some(h.clone());
        }
        o.record_transcript = true;
        let mut tls = TlsOptions::new();
        if let Some(ca) = &self.ca_file {
            tls = tls
                .with_ca_file(ca)
                .map_err(|e| UsageError(format!("--ca-file {}: {e}", ca.display())))?;
        }
        if let (Some(cert), Some(key)) = (&self.client_cert, &self.client_key) {
            let read = |flag: &str, p: &PathBuf| {
                std::fs::read(p).map_err(|e| UsageError(format!("{flag} {}: {e}", p.display())))
            };
            let (c, k) = (read("--client-cert", cert)?, read("--client-key", key)?);
            tls = tls
                .with_client_cert_pem(&c, &k)
                .map_err(|e| UsageError(format!("--client-cert/--client-key: {e}")))?;
        }
        match (&self.tls_name, &self.unix) {
            (Some(n), _) => tls = tls.with_server_name(n.clone()),
            (None, Some(_)) => tls = tls.with_server_name("localhost"),
            (None, None) => {}
        }
        if self.insecure {
            tls = tls.dangerous_accept_invalid_certs();
        }
        o.tls_options = tls;
        Ok(o)
    }

    /// Where to connect.
    pub(crate) fn target(&self) -> Target {
        match (&self.server, &self.unix) {
            (Some(s), _) => Target::Server(s.clone()),
            (None, Some(p)) => Target::Unix(p.clone()),
            (None, None) => Target::Embedded,
        }
    }

    /// The authentication asked for: the password comes from `--password-file`, else
    /// `--password` or `SMTPKIT_PASSWORD`; the token likewise. Secrets without `--user`
    /// are ignored (an environment variable may be set for other runs).
    pub(crate) fn auth_plan(&self) -> Result<AuthPlan, UsageError> {
        let Some(user) = self.user.clone() else {
            if let Some(m) = self.auth {
                return Err(UsageError(format!("--auth {} needs --user", m.name())));
            }
            return Ok(AuthPlan::None);
        };
        let password = match &self.password_file {
            Some(p) => Some(read_secret("--password-file", p)?),
            None => self.password.clone().filter(|p| !p.is_empty()),
        };
        let token = match &self.oauth_token_file {
            Some(p) => Some(read_secret("--oauth-token-file", p)?),
            None => self.oauth_token.clone().filter(|t| !t.is_empty()),
        };
        let wants_oauth = match self.auth {
            Some(m) => m.is_oauth(),
            None => password.is_none() && token.is_some(),
        };
        if wants_oauth {
            let Some(token) = token else {
                return Err(UsageError(format!(
                    "--auth {} needs an OAuth token: --oauth-token-file, --oauth-token or SMTPKIT_OAUTH_TOKEN",
                    self.auth.map_or("XOAUTH2", AuthMech::name)
                )));
            };
            return Ok(AuthPlan::OAuth {
                user,
                token,
                mech: self.auth,
            });
        }
        match password {
            Some(password) => Ok(AuthPlan::Password {
                user,
                password,
                mech: self.auth,
            }),
            None => Err(UsageError::new(
                "--user needs a password (--password-file, --password or SMTPKIT_PASSWORD) \
                 or an OAuth token (--oauth-token-file, --oauth-token or SMTPKIT_OAUTH_TOKEN)",
            )),
        }
    }

    /// Checks the flags, then starts the embedded server when there is no `--server` (or
    /// `--unix`), trusting its CA for this run (unless `--ca-file` or `--insecure` says
    /// otherwise). `keep`: the embedded server keeps what it receives, to show it.
    pub(crate) fn prepare(&self, keep: bool) -> Result<Prepared, UsageError> {
        let mut options = self.options()?;
        let auth = self.auth_plan()?;
        if let Some((name, creds)) = auth.named() {
            mechanism(name, creds)?;
        }
        let target = self.target();
        let embedded = match target {
            Target::Embedded => {
                let (password, token) = match &auth {
                    AuthPlan::None => (String::new(), None),
                    AuthPlan::Password { password, .. } => (password.clone(), None),
                    AuthPlan::OAuth { token, .. } => (String::new(), Some(token.clone())),
                };
                let cfg = EmbeddedConfig {
                    lmtp: self.lmtp,
                    implicit_tls: self.tls,
                    auth: auth.user().map(|u| (u.to_owned(), password, token)),
                    keep,
                };
                let e = Embedded::start(&cfg)
                    .map_err(|e| UsageError(format!("could not start the embedded server: {e}")))?;
                if self.ca_file.is_none() && !self.insecure {
                    let tls = std::mem::take(&mut options.tls_options);
                    options.tls_options = tls
                        .with_ca_pem(e.ca_pem().as_bytes())
                        .map_err(|e| UsageError(format!("embedded server CA: {e}")))?
                        .with_server_name(self.tls_name.as_deref().unwrap_or("localhost"));
                }
                Some(e)
            }
            _ => None,
        };
        Ok(Prepared {
            options,
            target,
            auth,
            embedded,
        })
    }
}

/// Checked flags, ready to connect: options, target, authentication, and the embedded
/// server when there is one (it runs as long as this lives).
#[derive(Debug)]
pub(crate) struct Prepared {
    /// The client options (trust for the embedded server included).
    pub(crate) options: Options,
    /// Where to connect.
    pub(crate) target: Target,
    /// How to authenticate.
    pub(crate) auth: AuthPlan,
    /// The embedded server, when there is no `--server`.
    pub(crate) embedded: Option<Embedded>,
}

impl Prepared {
    /// The server address for `host:port` style connections (the embedded server's when
    /// there is one); `None` for `--unix`.
    pub(crate) fn server(&self) -> Option<String> {
        match (&self.target, &self.embedded) {
            (Target::Server(s), _) => Some(s.clone()),
            (Target::Embedded, Some(e)) => Some(e.addr().to_string()),
            _ => None,
        }
    }

    /// A human name for where the session goes.
    pub(crate) fn describe(&self) -> String {
        match (&self.target, &self.embedded) {
            (Target::Server(s), _) => s.clone(),
            (Target::Unix(p), _) => p.display().to_string(),
            (Target::Embedded, Some(e)) => format!("embedded server {}", e.addr()),
            (Target::Embedded, None) => "embedded server".into(),
        }
    }

    /// Opens the connection with `opts` (usually [`options`](Self::options)): over TCP the
    /// greeting is not read yet, so a failure in the greeting, EHLO or TLS still leaves the
    /// client to show its transcript; over `--unix` the session is made ready at once.
    pub(crate) fn open_blocking_with(&self, opts: Options) -> Result<SmtpClient, Error> {
        match &self.target {
            Target::Unix(p) => unix(p, opts),
            _ => {
                let server = self.server().unwrap_or_default();
                SmtpClient::open(&server, opts)
            }
        }
    }

    /// Authenticates `client` as planned (nothing without `--user`). Returns the 235.
    pub(crate) fn login_blocking(&self, client: &mut SmtpClient) -> Result<Option<Reply>, Error> {
        client.ehlo_or_helo_if_needed()?;
        if let Some((name, creds)) = self.auth.named() {
            return client.auth(name, creds).map(Some);
        }
        match &self.auth {
            AuthPlan::None => Ok(None),
            AuthPlan::Password { user, password, .. } => client.login(user, password).map(Some),
            AuthPlan::OAuth { user, token, .. } => {
                let token = token.clone();
                let provider =
                    move |_: &str, _refresh: bool| -> Result<String, Error> { Ok(token.clone()) };
                client.login_oauth(user, &provider).map(Some)
            }
        }
    }

    /// A pool endpoint for these settings (smtp-async), authenticating as planned.
    pub(crate) fn endpoint(&self) -> Result<smtp_async::Endpoint, UsageError> {
        let Some(server) = self.server() else {
            return Err(UsageError::new(
                "--unix is not supported here: use --server",
            ));
        };
        let mut opts = self.options.clone();
        // A pool's sessions are many: their transcripts are not kept.
        opts.record_transcript = false;
        let ep = smtp_async::Endpoint::new(&server, opts)
            .map_err(|e| UsageError(format!("--server: {e}")))?;
        if let Some((name, creds)) = self.auth.named() {
            // Checked once here, so the factory cannot fail later.
            mechanism(name, creds.clone())?;
            return Ok(ep.with_auth(Arc::new(move || {
                mechanism(name, creds.clone()).unwrap_or_else(|_| unreachable_mechanism())
            })));
        }
        Ok(match &self.auth {
            AuthPlan::None => ep,
            AuthPlan::Password { user, password, .. } => ep.with_login(user, password),
            AuthPlan::OAuth { user, token, .. } => {
                let token = token.clone();
                let provider =
                    move |_: &str, _refresh: bool| -> Result<String, Error> { Ok(token.clone()) };
                ep.with_oauth(user, Arc::new(provider))
            }
        })
    }
}

/// The named mechanism for `creds`.
fn mechanism(
    name: &str,
    creds: Credentials,
) -> Result<Box<dyn smtp_client::proto::sasl::SaslMechanism>, UsageError> {
    let mech = smtp_client::proto::command::Mechanism::new(name)
        .map_err(|e| UsageError(format!("--auth {name}: {e}")))?;
    let nonce = smtp_client::ops::sasl_nonce().map_err(|e| UsageError(format!("{e}")))?;
    creds.mechanism(&mech, &nonce).ok_or_else(|| {
        let kind = match creds {
            Credentials::Password { .. } => "a password",
            _ => "an OAuth token",
        };
        UsageError(format!(
            "--auth {name} cannot be used with {kind} in this build"
        ))
    })
}

/// A mechanism that fails at once: what a factory returns if one that was checked could
/// not be made again (it cannot happen; a failed AUTH is better than a panic).
fn unreachable_mechanism() -> Box<dyn smtp_client::proto::sasl::SaslMechanism> {
    #[derive(Debug)]
    struct Failed;
    impl smtp_client::proto::sasl::SaslMechanism for Failed {
        fn name(&self) -> &str {
            "X-SMTPKIT-UNAVAILABLE"
        }
        fn initial_response(
            &mut self,
        ) -> Result<Option<smtp_client::proto::command::Secret>, smtp_client::proto::sasl::SaslError>
        {
            Err(smtp_client::proto::sasl::SaslError::ServerNotVerified)
        }
        fn step(
            &mut self,
            _: &[u8],
        ) -> Result<smtp_client::proto::command::Secret, smtp_client::proto::sasl::SaslError>
        {
            Err(smtp_client::proto::sasl::SaslError::ServerNotVerified)
        }
        fn finish(&mut self) -> Result<(), smtp_client::proto::sasl::SaslError> {
            Err(smtp_client::proto::sasl::SaslError::ServerNotVerified)
        }
    }
    Box::new(Failed)
}

#[cfg(unix)]
fn unix(p: &std::path::Path, opts: Options) -> Result<SmtpClient, Error> {
    SmtpClient::connect_unix(p, opts)
}

#[cfg(not(unix))]
fn unix(_: &std::path::Path, _: Options) -> Result<SmtpClient, Error> {
    Err(Error::InvalidInput("--unix needs a Unix system".into()))
}
