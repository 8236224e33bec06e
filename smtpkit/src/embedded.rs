//! The embedded loopback server used when no `--server` is given: an `smtp_sink` with
//! STARTTLS and a throwaway CA that the client trusts.

use smtp_sink::{Config, Sink, TlsMode};

/// A running embedded server (stops when dropped).
#[derive(Debug)]
pub(crate) struct Embedded {
    sink: Sink,
}

impl Embedded {
    /// Starts a sink on 127.0.0.1 (a free port) offering STARTTLS, or implicit TLS with
    /// `implicit`; LMTP with `lmtp`.
    pub(crate) fn start(lmtp: bool, implicit: bool) -> std::io::Result<Embedded> {
        let config = Config {
            tls: if implicit {
                TlsMode::Implicit
            } else {
                TlsMode::StartTls
            },
            lmtp,
            size_limit: 10 * 1024 * 1024,
            ..Config::default()
        };
        Ok(Embedded {
            sink: Sink::start(config)?,
        })
    }

    /// Its address, `127.0.0.1:PORT`.
    pub(crate) fn addr(&self) -> String {
        self.sink.addr().to_string()
    }

    /// The PEM of the CA that signed its certificate.
    pub(crate) fn ca_pem(&self) -> &str {
        self.sink.ca_pem().unwrap_or_default()
    }
}
