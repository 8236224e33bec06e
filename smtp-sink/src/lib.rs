//! A fast loopback SMTP/LMTP sink for benchmarks, tests and soaks (dev only).
//!
//! It accepts and discards mail over plain TCP, STARTTLS or implicit TLS (rustls, with a
//! throwaway CA made by `rcgen` that clients can trust: [`Sink::ca_pem`]), offering
//! PIPELINING, SIZE, 8BITMIME, SMTPUTF8, CHUNKING/BINARYMIME and ENHANCEDSTATUSCODES, and
//! answers LMTP with one reply per recipient. One thread per connection; commands are
//! found with `memchr`, DATA's end with `memmem` across buffer boundaries, and BDAT
//! chunks are skipped in place, all in a 1 MiB read buffer.
//!
//! Every message answered with 250 at the end of data is counted in the shared
//! [`Record`]; with [`Config::record`] on, it is also recorded per recipient under its
//! `Message-ID` (or a content hash), so duplicates show up as counts above one.
//!
//! With [`Config::auth`] it offers AUTH (PLAIN, LOGIN, XOAUTH2, OAUTHBEARER) for one
//! identity; with [`Config::keep_messages`] it keeps the last messages whole (envelope and
//! content: [`Record::messages`]), as the toolkit's command-line tool shows them.
//!
//! A seeded [`FaultPlan`] makes the sink misbehave on purpose: refusals, 421 and close,
//! resets (`SO_LINGER` 0) before or after the end of data, stalls, dripped replies and TLS
//! closes without `close_notify`.
//!
//! ```no_run
//! let sink = smtp_sink::Sink::start(smtp_sink::Config::default())?;
//! println!("listening on {}", sink.addr());
//! # Ok::<(), std::io::Error>(())
//! ```

mod conn;
mod record;
mod tls;

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

pub use record::{KEEP_LIMIT, Received, Record, Stats};

/// How TLS is offered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain TCP only.
    #[default]
    Plain,
    /// Plain TCP, with STARTTLS advertised and available.
    StartTls,
    /// TLS from the first byte (port 465 style).
    Implicit,
}

/// Where a fault may strike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultPoint {
    /// Once per connection, before the greeting.
    Connect,
    /// At each MAIL command.
    Mail,
    /// At each RCPT command.
    Rcpt,
    /// At each DATA command (before the 354) or the first BDAT of a message.
    Data,
    /// At the end of data (the final `.` or `BDAT ... LAST`), once the content is read.
    /// For LMTP a [`FaultAction::Reply`] is drawn per recipient.
    EndOfData,
}

/// What a fault does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// Reply with this code (4xx or 5xx) instead: a refused command (at the end of data,
    /// the message is recorded as refused). At [`FaultPoint::Connect`] it is the greeting,
    /// and the connection is closed.
    Reply(u16),
    /// Reply `421` and close the connection.
    Close421,
    /// Reset the connection (`SO_LINGER` 0, so the client sees RST) without replying. At
    /// the end of data: before the message is recorded (it was not delivered).
    ResetBefore,
    /// At the end of data: record the message as delivered (and unanswered), then reset
    /// without replying: "may have been delivered". Elsewhere as `ResetBefore`.
    ResetAfter,
    /// Sleep this long before replying (then reply normally, if the client is still
    /// there). At the end of data the message is recorded as delivered and unanswered.
    Stall(Duration),
    /// Send the reply one byte at a time, sleeping this long before each byte. At
    /// [`FaultPoint::Connect`], every reply of the connection.
    Drip(Duration),
    /// Close the TCP connection without a reply and without TLS `close_notify` (over
    /// plain TCP simply a close). At the end of data the message is recorded first, as
    /// delivered and unanswered.
    CloseNoNotify,
}

/// One rule of a fault plan: at `point`, with `probability`, do `action`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaultRule {
    /// Where.
    pub point: FaultPoint,
    /// Chance in [0, 1] at each occurrence of the point.
    pub probability: f64,
    /// What.
    pub action: FaultAction,
}

/// Seeded faults. Each connection draws from its own generator, seeded by `seed` and
/// the connection's accept number, so a run is reproducible for a given arrival order.
/// At each point the rules for that point are tried in order; the first that fires
/// applies.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultPlan {
    /// The seed.
    pub seed: u64,
    /// The rules, tried in order.
    pub rules: Vec<FaultRule>,
}

impl FaultPlan {
    /// A plan with no rules and this seed.
    pub fn new(seed: u64) -> Self {
        FaultPlan {
            seed,
            rules: Vec::new(),
        }
    }

    /// Adds a rule.
    pub fn with(mut self, point: FaultPoint, probability: f64, action: FaultAction) -> Self {
        self.rules.push(FaultRule {
            point,
            probability,
            action,
        });
        self
    }
}

/// The sink's settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to listen on (default `127.0.0.1:0`: a free port).
    pub listen: SocketAddr,
    /// TLS offered.
    pub tls: TlsMode,
    /// LMTP (LHLO, one reply per recipient after the data) instead of SMTP.
    pub lmtp: bool,
    /// Advertise PIPELINING (default on; the sink handles pipelined input either way).
    pub pipelining: bool,
    /// Advertise CHUNKING and BINARYMIME (default on; BDAT is accepted either way).
    pub chunking: bool,
    /// The `SIZE` limit in octets, advertised and enforced (0: advertised as no limit).
    pub size_limit: u64,
    /// Record each message's key per recipient in the [`Record`] (off by default: costs
    /// a hash of the header, and of the whole content when there is no `Message-ID`).
    pub record: bool,
    /// The fault plan (default: none).
    pub faults: FaultPlan,
    /// Host name in the greeting and EHLO reply.
    pub hostname: String,
    /// Offer AUTH (PLAIN, LOGIN, XOAUTH2, OAUTHBEARER) and accept these credentials
    /// (default `None`: no AUTH offered, `AUTH` gets 502).
    pub auth: Option<AuthConfig>,
    /// Keep the last this many delivered messages whole (envelope, content up to
    /// [`KEEP_LIMIT`] octets), for [`Record::messages`] (default 0: none).
    pub keep_messages: usize,
}

/// The one identity the sink accepts when it offers AUTH.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthConfig {
    /// The user name (PLAIN's authentication identity, LOGIN's user name, the OAuth
    /// `user=` / `a=`).
    pub user: String,
    /// The password (PLAIN, LOGIN).
    pub password: String,
    /// The bearer token (XOAUTH2, OAUTHBEARER); `None` refuses every token.
    pub token: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: TlsMode::Plain,
            lmtp: false,
            pipelining: true,
            chunking: true,
            size_limit: 0,
            record: false,
            faults: FaultPlan::default(),
            hostname: "sink.example.test".into(),
            auth: None,
            keep_messages: 0,
        }
    }
}

/// A throwaway CA and a server certificate it signed, for `localhost` and `127.0.0.1`.
#[derive(Clone, Debug)]
pub struct TlsIdentity {
    /// The CA certificate (PEM): what clients should trust.
    pub ca_pem: String,
    /// The server certificate (PEM).
    pub cert_pem: String,
    /// The server's private key (PKCS#8 PEM).
    pub key_pem: String,
    server_config: Arc<rustls::ServerConfig>,
}

impl TlsIdentity {
    /// Makes a new CA and server certificate (ECDSA P-256), and the rustls server
    /// configuration that presents them.
    pub fn generate() -> io::Result<Self> {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let err = |e: rcgen::Error| io::Error::other(e.to_string());
        let ca_key = KeyPair::generate().map_err(err)?;
        let mut ca_params = CertificateParams::new(Vec::new()).map_err(err)?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "smtp-bench-sink test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).map_err(err)?;
        let key = KeyPair::generate().map_err(err)?;
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .map_err(err)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let cert = params.signed_by(&key, &ca, &ca_key).map_err(err)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = vec![cert.der().clone(), ca.der().clone()];
        let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let server_config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(chain, key_der)
            .map_err(io::Error::other)?;
        Ok(TlsIdentity {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            server_config: Arc::new(server_config),
        })
    }

    /// The rustls server configuration.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        self.server_config.clone()
    }
}

pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) record: Arc<Record>,
    pub(crate) tls: Option<TlsIdentity>,
    pub(crate) ehlo: Vec<u8>,
    pub(crate) ehlo_tls: Vec<u8>,
}

/// A running sink: listening until [`stop`](Self::stop) or drop. Connections already
/// open run to their end.
pub struct Sink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink").field("addr", &self.addr).finish()
    }
}

impl Sink {
    /// Binds `config.listen` and starts accepting on a thread. With a TLS mode, a new
    /// [`TlsIdentity`] is generated.
    pub fn start(config: Config) -> io::Result<Sink> {
        let tls = match config.tls {
            TlsMode::Plain => None,
            _ => Some(TlsIdentity::generate()?),
        };
        Self::start_with_identity(config, tls)
    }

    /// As [`start`](Self::start), with a given identity (used when the mode needs TLS).
    pub fn start_with_identity(config: Config, tls: Option<TlsIdentity>) -> io::Result<Sink> {
        if config.tls != TlsMode::Plain && tls.is_none() {
            return Err(io::Error::other("a TLS mode needs an identity"));
        }
        let listener = TcpListener::bind(config.listen)?;
        let addr = listener.local_addr()?;
        let (ehlo, ehlo_tls) = (ehlo_reply(&config, false), ehlo_reply(&config, true));
        let shared = Arc::new(Shared {
            config,
            record: Arc::new(Record::default()),
            tls,
            ehlo,
            ehlo_tls,
        });
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::Builder::new()
                .name("sink-accept".into())
                .spawn(move || accept_loop(listener, shared, stop))?
        };
        Ok(Sink {
            addr,
            shared,
            stop,
            accept: Some(accept),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared record of received messages.
    pub fn record(&self) -> Arc<Record> {
        self.shared.record.clone()
    }

    /// The CA certificate (PEM) to trust, when TLS is offered.
    pub fn ca_pem(&self) -> Option<&str> {
        self.shared.tls.as_ref().map(|t| t.ca_pem.as_str())
    }

    /// Stops accepting new connections (open ones run to their end).
    pub fn stop(&mut self) {
        if let Some(h) = self.accept.take() {
            self.stop.store(true, Ordering::SeqCst);
            // Wake the blocking accept.
            let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
            let _ = h.join();
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>, stop: Arc<AtomicBool>) {
    let counter = AtomicU64::new(0);
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let shared = shared.clone();
        let _ = std::thread::Builder::new()
            .name(format!("sink-conn-{n}"))
            .spawn(move || conn::serve(stream, &shared, n));
    }
}

fn ehlo_reply(c: &Config, tls_done: bool) -> Vec<u8> {
    let mut lines = vec![c.hostname.clone()];
    if c.pipelining {
        lines.push("PIPELINING".into());
    }
    lines.push(format!("SIZE {}", c.size_limit));
    lines.push("8BITMIME".into());
    lines.push("SMTPUTF8".into());
    lines.push("ENHANCEDSTATUSCODES".into());
    if c.chunking {
        lines.push("CHUNKING".into());
        lines.push("BINARYMIME".into());
    }
    if c.auth.is_some() {
        lines.push("AUTH PLAIN LOGIN XOAUTH2 OAUTHBEARER".into());
    }
    if c.tls == TlsMode::StartTls && !tls_done {
        lines.push("STARTTLS".into());
    }
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let sep = if i + 1 == lines.len() { ' ' } else { '-' };
        out.extend_from_slice(format!("250{sep}{l}\r\n").as_bytes());
    }
    out
}
