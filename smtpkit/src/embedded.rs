//! The embedded loopback server: an `smtp_sink` on 127.0.0.1 (a free port) that the tool
//! starts when no `--server` (or `--unix`) is given, so every subcommand works on a fresh
//! machine. It offers STARTTLS (or implicit TLS with `--tls`) with a CA generated for this
//! run, which the client trusts for this run only; LMTP with `--lmtp`; AUTH for the
//! `--user` given (its password and OAuth token); and it keeps what it received, so the
//! tool can show it.

use std::io;
use std::net::SocketAddr;

use smtp_sink::{AuthConfig, Config, Received, Sink, TlsMode};

/// How many received messages are kept to be shown (each capped at
/// [`smtp_sink::KEEP_LIMIT`] octets).
const KEEP: usize = 16;

/// A running embedded server; it stops when dropped.
#[derive(Debug)]
pub(crate) struct Embedded {
    sink: Sink,
}

/// What the embedded server should offer.
#[derive(Clone, Debug, Default)]
pub(crate) struct EmbeddedConfig {
    /// LMTP instead of SMTP.
    pub(crate) lmtp: bool,
    /// Implicit TLS instead of STARTTLS.
    pub(crate) implicit_tls: bool,
    /// The identity AUTH accepts (user, password, token); `None`: no AUTH.
    pub(crate) auth: Option<(String, String, Option<String>)>,
    /// Keep received messages to show them (`false` for bulk runs).
    pub(crate) keep: bool,
}

impl Embedded {
    /// Starts the server on 127.0.0.1, port 0 (a free one).
    pub(crate) fn start(c: &EmbeddedConfig) -> io::Result<Embedded> {
        let config = Config {
            tls: if c.implicit_tls {
                TlsMode::Implicit
            } else {
                TlsMode::StartTls
            },
            lmtp: c.lmtp,
            hostname: "smtpkit-embedded.localhost".into(),
            auth: c.auth.clone().map(|(user, password, token)| AuthConfig {
                user,
                password,
                token,
            }),
            keep_messages: if c.keep { KEEP } else { 0 },
            ..Config::default()
        };
        Ok(Embedded {
            sink: Sink::start(config)?,
        })
    }

    /// The address it listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.sink.addr()
    }

    /// The PEM of this run's CA, which signed the server's certificate (for `localhost`
    /// and `127.0.0.1`).
    pub(crate) fn ca_pem(&self) -> &str {
        self.sink.ca_pem().unwrap_or_default()
    }

    /// The messages it received (the last few, oldest first).
    pub(crate) fn received(&self) -> Vec<Received> {
        self.sink.record().messages()
    }

    /// Writes one line per received message to `out` (and, when `full`, the content,
    /// each line prefixed with `| `, at most 200 lines).
    pub(crate) fn show(&self, out: &mut dyn io::Write, full: bool) -> io::Result<()> {
        for m in self.received() {
            let mut how = Vec::new();
            if m.tls {
                how.push("TLS".to_owned());
            }
            if m.bdat {
                how.push("BDAT".to_owned());
            }
            if let Some(u) = &m.auth_user {
                how.push(format!("authenticated as {u}"));
            }
            let how = match how.is_empty() {
                true => String::new(),
                false => format!(" ({})", how.join(", ")),
            };
            writeln!(
                out,
                "embedded server: received {} octets{} from <{}> for {}{how}",
                m.content.len(),
                if m.truncated { " (cut)" } else { "" },
                m.mail_from,
                m.recipients
                    .iter()
                    .map(|r| format!("<{r}>"))
                    .collect::<Vec<_>>()
                    .join(", "),
            )?;
            if full {
                let text = String::from_utf8_lossy(&m.content);
                for line in text.lines().take(200) {
                    writeln!(out, "| {line}")?;
                }
            }
        }
        Ok(())
    }
}
