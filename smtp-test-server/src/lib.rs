//! A small scripted SMTP/LMTP server on loopback, for the client crates' tests and
//! examples (dev-only, never published).
//!
//! By default it behaves like a permissive MTA: it greets, answers EHLO/LHLO with
//! PIPELINING, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES and SIZE (plus STARTTLS when a TLS
//! identity is set and AUTH when credentials are set), accepts every sender and recipient
//! and records what it received, both as parsed ([`SessionLog::commands`],
//! [`Received::data`]) and as the exact octets the client sent ([`SessionLog::raw`],
//! [`Received::raw`]), so tests can check line endings, dot-stuffing and BDAT framing byte
//! for byte. With `CHUNKING` among [`Script::extensions`] it also speaks BDAT (RFC 3030):
//! `BDAT <n> [LAST]` is followed by exactly n octets. [`Script::rules`] make it hostile: any command can be
//! answered with a chosen reply, a 421, a disconnect, a stall, or extra injected bytes.
//!
//! ```
//! use smtp_test_server::{Script, TestServer};
//! let server = TestServer::start(Script::default());
//! assert!(server.addr().ip().is_loopback());
//! ```

#![forbid(unsafe_code)]

pub mod flaky;
pub mod proxy;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The test CA (PEM) that signed [`SERVER_CERT_PEM`] (valid for `localhost`, `127.0.0.1`
/// and `::1`). Clients trust it with a custom root store.
pub const CA_PEM: &[u8] = include_bytes!("../certs/ca.pem");
/// The server certificate (PEM).
pub const SERVER_CERT_PEM: &[u8] = include_bytes!("../certs/server.pem");
/// The server's private key (PKCS#8 PEM). A test key: never use it for anything else.
pub const SERVER_KEY_PEM: &[u8] = include_bytes!("../certs/server.key");

/// What the server does when a rule matches.
#[derive(Clone, Debug)]
pub enum Step {
    /// Send these bytes (one or more complete reply lines, CRLF-terminated) in one write.
    Reply(String),
    /// Send this reply, then close the connection.
    ReplyAndClose(String),
    /// Close the connection without a word.
    Close,
    /// Stop answering; read and discard until the client goes away.
    Stall,
    /// Reset the connection (TCP RST: linger 0, then close) without a word.
    Reset,
    /// Send this reply one octet at a time, pausing this long before each octet (a server
    /// that drips bytes to keep a client waiting).
    Drip(String, std::time::Duration),
}

/// A rule: commands whose line starts with `prefix` (ASCII case-insensitive) get `step`.
///
/// Special prefixes: `GREETING` (instead of the greeting), `.` (the end of data; SMTP
/// only), `STARTTLS` (its [`Step::Reply`] is sent before the handshake, so extra lines in
/// it are injected bytes).
#[derive(Clone, Debug)]
pub struct Rule {
    /// Command prefix, e.g. `RCPT TO:<bad@`.
    pub prefix: String,
    /// What to do.
    pub step: Step,
}

impl Rule {
    /// A rule answering `prefix` with `step`.
    pub fn new(prefix: &str, step: Step) -> Rule {
        Rule {
            prefix: prefix.to_owned(),
            step,
        }
    }
    /// A rule answering `prefix` with one reply (CRLF added when missing).
    pub fn reply(prefix: &str, reply: &str) -> Rule {
        let mut r = reply.to_owned();
        if !r.ends_with("\r\n") {
            r.push_str("\r\n");
        }
        Rule::new(prefix, Step::Reply(r))
    }
}

/// How the server behaves.
#[derive(Clone, Debug)]
pub struct Script {
    /// LMTP (LHLO, one reply per recipient after the data) instead of SMTP.
    pub lmtp: bool,
    /// Offer STARTTLS with the test certificate.
    pub starttls: bool,
    /// Implicit TLS: handshake before the greeting.
    pub implicit_tls: bool,
    /// Offer AUTH PLAIN LOGIN and accept these credentials.
    pub auth: Option<(String, String)>,
    /// Offer AUTH XOAUTH2 OAUTHBEARER and accept this user with this token; any other
    /// token is refused as expired, with the OAuth JSON error challenge (`401` for
    /// XOAUTH2, `invalid_token` for OAUTHBEARER) and then `535`.
    pub oauth: Option<(String, String)>,
    /// Close the connection after refusing an OAuth token (`535`, then close), as some
    /// servers do after a failed login.
    pub oauth_refusal_closes: bool,
    /// Extensions advertised besides STARTTLS and AUTH.
    pub extensions: Vec<String>,
    /// Rules, first match wins.
    pub rules: Vec<Rule>,
    /// LMTP: recipients (as written in RCPT TO, without brackets) refused after the data.
    pub lmtp_refuse: Vec<String>,
    /// Close a connection that sends nothing for this long, with `421 4.4.2` first (as
    /// Postfix does when its `smtpd_timeout` passes).
    pub idle_timeout: Option<std::time::Duration>,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            lmtp: false,
            starttls: false,
            implicit_tls: false,
            auth: None,
            oauth: None,
            oauth_refusal_closes: false,
            extensions: [
                "PIPELINING",
                "8BITMIME",
                "SMTPUTF8",
                "ENHANCEDSTATUSCODES",
                "SIZE 10000000",
            ]
            .map(String::from)
            .to_vec(),
            rules: Vec::new(),
            lmtp_refuse: Vec::new(),
            idle_timeout: None,
        }
    }
}

impl Script {
    /// Adds a rule.
    pub fn rule(mut self, rule: Rule) -> Self {
        self.rules.push(rule);
        self
    }
}

/// A message the server accepted (or at least received).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Received {
    /// The MAIL FROM line's path, without brackets.
    pub from: String,
    /// The accepted recipients, without brackets.
    pub rcpts: Vec<String>,
    /// The content. DATA: dot-unstuffed, without the final `.` line, every line ending kept
    /// as the client sent it (a bare LF stays a bare LF). BDAT: the chunks' octets, joined.
    pub data: Vec<u8>,
    /// The content octets exactly as they came over the wire. DATA: still dot-stuffed,
    /// with the final `.` line and its line ending. BDAT: the chunks' octets, joined (the
    /// `BDAT` command lines are in [`SessionLog::raw`]).
    pub raw: Vec<u8>,
    /// BDAT: each chunk's octets, in order (empty for DATA).
    pub chunks: Vec<Vec<u8>>,
}

/// What part of the dialogue a [`RawRead`] belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawPhase {
    /// A command line (including AUTH continuation lines), with its line ending.
    Command,
    /// DATA content: every octet after the 354 up to and including the final `.` line.
    Data,
    /// One BDAT chunk: exactly the n octets announced by its `BDAT n` command.
    Bdat,
}

/// Octets the server read from the client, exactly as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawRead {
    /// Which phase these octets were read in.
    pub phase: RawPhase,
    /// The octets.
    pub bytes: Vec<u8>,
}

/// What one connection did.
#[derive(Clone, Debug, Default)]
pub struct SessionLog {
    /// Every command line received (without CRLF; AUTH payloads included: test data).
    pub commands: Vec<String>,
    /// Every octet the client sent after the greeting (after the TLS handshake, the
    /// plaintext), in order, split into command lines, DATA content and BDAT chunks.
    pub raw: Vec<RawRead>,
    /// Messages received.
    pub messages: Vec<Received>,
    /// Whether TLS was established.
    pub tls: bool,
    /// The client's address as the server saw it (TCP only).
    pub peer: Option<SocketAddr>,
}

/// A running server. Its threads live until the process ends.
#[derive(Debug)]
pub struct TestServer {
    addr: Option<SocketAddr>,
    log: Arc<Mutex<Vec<SessionLog>>>,
}

type Log = Arc<Mutex<Vec<SessionLog>>>;

impl TestServer {
    /// Starts a server on `127.0.0.1` on a free port.
    pub fn start(script: Script) -> TestServer {
        let listener = listen_loopback().expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let log: Log = Arc::default();
        let (script, log2) = (Arc::new(script), log.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let _ = conn.set_nodelay(true);
                let peer = conn.peer_addr().ok();
                let (script, log) = (script.clone(), log2.clone());
                std::thread::spawn(move || serve(Conn::Tcp(conn), peer, &script, &log));
            }
        });
        TestServer {
            addr: Some(addr),
            log,
        }
    }

    /// Starts a server on a Unix socket at `path` (for LMTP).
    #[cfg(unix)]
    pub fn start_unix(script: Script, path: &std::path::Path) -> TestServer {
        let _ = std::fs::remove_file(path);
        let listener = std::os::unix::net::UnixListener::bind(path).expect("bind unix socket");
        let log: Log = Arc::default();
        let (script, log2) = (Arc::new(script), log.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (script, log) = (script.clone(), log2.clone());
                std::thread::spawn(move || serve(Conn::Unix(conn), None, &script, &log));
            }
        });
        TestServer { addr: None, log }
    }

    /// The TCP address (panics for a Unix-socket server).
    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("not a TCP server")
    }

    /// A snapshot of every session so far.
    pub fn sessions(&self) -> Vec<SessionLog> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Every message received so far, over all sessions.
    pub fn messages(&self) -> Vec<Received> {
        self.sessions()
            .into_iter()
            .flat_map(|s| s.messages)
            .collect()
    }
}

/// Most connections waiting to be accepted: a thousand clients connecting at once (the
/// mio example) must all fit. With std's 128, the kernel drops the rest; with SYN cookies
/// on, a client whose handshake completed on a cookie while the queue was full believes it
/// is connected and waits for a greeting that never comes.
const BACKLOG: i32 = 2048;

/// A listener on a free port of `127.0.0.1` with a [`BACKLOG`]-long accept queue.
fn listen_loopback() -> io::Result<TcpListener> {
    let sock = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    let addr = SocketAddr::from(([127, 0, 0, 1], 0));
    sock.bind(&addr.into())?;
    sock.listen(BACKLOG)?;
    Ok(sock.into())
}

/// A rustls server configuration with the test certificate.
pub fn server_tls_config() -> Arc<rustls::ServerConfig> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(SERVER_CERT_PEM)
        .collect::<Result<_, _>>()
        .expect("test cert");
    let key = PrivateKeyDer::from_pem_slice(SERVER_KEY_PEM).expect("test key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
    Arc::new(cfg)
}

enum Conn {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
    Gone,
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.read(buf),
            #[cfg(unix)]
            Conn::Unix(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
            Conn::Gone => Ok(0),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.write(buf),
            #[cfg(unix)]
            Conn::Unix(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
            Conn::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Tls(s) => s.flush(),
            _ => Ok(()),
        }
    }
}

impl Conn {
    fn into_tls(self) -> io::Result<Conn> {
        let Conn::Tcp(tcp) = self else {
            return Err(io::ErrorKind::Unsupported.into());
        };
        let conn = rustls::ServerConnection::new(server_tls_config()).map_err(io::Error::other)?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock)?;
        }
        Ok(Conn::Tls(Box::new(tls)))
    }
}

struct Session<'a> {
    conn: Conn,
    buf: Vec<u8>,
    script: &'a Script,
    log: &'a Log,
    idx: usize,
    tls: bool,
}

/// What the command loop should do after a step.
enum Flow {
    Continue,
    Stop,
}

impl Session<'_> {
    fn record(&self, f: impl FnOnce(&mut SessionLog)) {
        if let Ok(mut l) = self.log.lock()
            && let Some(s) = l.get_mut(self.idx)
        {
            f(s);
        }
    }

    /// Reads one command line, records its raw octets, and returns it without its line
    /// ending (LF or CRLF).
    fn read_line(&mut self) -> Option<Vec<u8>> {
        let mut line = self.read_raw_line()?;
        self.record_raw(RawPhase::Command, &line);
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Some(line)
    }

    fn record_raw(&self, phase: RawPhase, bytes: &[u8]) {
        let bytes = bytes.to_vec();
        self.record(|s| s.raw.push(RawRead { phase, bytes }));
    }

    /// Reads up to and including the next LF, exactly as sent.
    fn read_raw_line(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                return Some(self.buf.drain(..=i).collect());
            }
            if !self.fill() {
                return None;
            }
        }
    }

    /// Reads exactly `n` octets.
    fn read_exact_octets(&mut self, n: usize) -> Option<Vec<u8>> {
        while self.buf.len() < n {
            if !self.fill() {
                return None;
            }
        }
        Some(self.buf.drain(..n).collect())
    }

    /// Reads more octets into the buffer; false when the connection ended or timed out.
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 8192];
        match self.conn.read(&mut chunk) {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                self.send("421 4.4.2 test.example Error: timeout exceeded\r\n");
                false
            }
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    fn send(&mut self, bytes: &str) -> bool {
        self.conn.write_all(bytes.as_bytes()).is_ok() && self.conn.flush().is_ok()
    }

    fn rule(&self, line: &str) -> Option<Step> {
        self.script
            .rules
            .iter()
            .find(|r| {
                line.len() >= r.prefix.len()
                    && line.as_bytes()[..r.prefix.len()].eq_ignore_ascii_case(r.prefix.as_bytes())
            })
            .map(|r| r.step.clone())
    }

    /// Runs a rule's step, or `default` when no rule matches.
    fn answer(&mut self, line: &str, default: &str) -> Flow {
        match self.rule(line) {
            None => self.flow(Step::Reply(default.to_owned())),
            Some(step) => self.flow(step),
        }
    }

    fn flow(&mut self, step: Step) -> Flow {
        match step {
            Step::Reply(r) => {
                if self.send(&r) {
                    Flow::Continue
                } else {
                    Flow::Stop
                }
            }
            Step::ReplyAndClose(r) => {
                self.send(&r);
                Flow::Stop
            }
            Step::Close => Flow::Stop,
            Step::Reset => {
                let tcp = match &self.conn {
                    Conn::Tcp(t) => Some(t),
                    Conn::Tls(t) => Some(&t.sock),
                    _ => None,
                };
                if let Some(t) = tcp {
                    let _ = socket2::SockRef::from(t).set_linger(Some(std::time::Duration::ZERO));
                }
                self.conn = Conn::Gone;
                Flow::Stop
            }
            Step::Drip(r, pause) => {
                for b in r.as_bytes() {
                    std::thread::sleep(pause);
                    if self.conn.write_all(&[*b]).is_err() || self.conn.flush().is_err() {
                        return Flow::Stop;
                    }
                }
                Flow::Continue
            }
            Step::Stall => {
                let mut sink = [0u8; 4096];
                while matches!(self.conn.read(&mut sink), Ok(n) if n > 0) {}
                Flow::Stop
            }
        }
    }

    fn ehlo_reply(&self, verb: &str) -> String {
        let mut ext: Vec<String> = Vec::new();
        if verb != "HELO" {
            ext.extend(self.script.extensions.iter().cloned());
            if self.script.starttls && !self.tls {
                ext.push("STARTTLS".into());
            }
            let mut mechs = Vec::new();
            if self.script.auth.is_some() {
                mechs.push("PLAIN LOGIN");
            }
            if self.script.oauth.is_some() {
                mechs.push("XOAUTH2 OAUTHBEARER");
            }
            if !mechs.is_empty() {
                ext.push(format!("AUTH {}", mechs.join(" ")));
            }
        }
        let mut out = String::new();
        let mut lines = vec!["test.example Hello".to_owned()];
        lines.extend(ext);
        for (i, l) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            out.push_str(&format!("250{sep}{l}\r\n"));
        }
        out
    }

    fn check_auth(&self, user: &[u8], pass: &[u8]) -> bool {
        self.script
            .auth
            .as_ref()
            .is_some_and(|(u, p)| u.as_bytes() == user && p.as_bytes() == pass)
    }

    fn auth(&mut self, args: &str) -> Flow {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut parts = args.split_whitespace();
        let mech = parts.next().unwrap_or("").to_ascii_uppercase();
        let initial = parts.next().map(str::to_owned);
        let ok = match mech.as_str() {
            "PLAIN" => {
                let resp = match initial {
                    Some(r) => r,
                    None => {
                        if !self.send("334 \r\n") {
                            return Flow::Stop;
                        }
                        let Some(l) = self.read_line() else {
                            return Flow::Stop;
                        };
                        String::from_utf8_lossy(&l).into_owned()
                    }
                };
                let raw = b64.decode(resp.trim()).unwrap_or_default();
                let f: Vec<&[u8]> = raw.split(|&b| b == 0).collect();
                f.len() == 3 && self.check_auth(f[1], f[2])
            }
            "LOGIN" => {
                let mut got = Vec::new();
                for prompt in ["334 VXNlcm5hbWU6\r\n", "334 UGFzc3dvcmQ6\r\n"] {
                    if !self.send(prompt) {
                        return Flow::Stop;
                    }
                    let Some(l) = self.read_line() else {
                        return Flow::Stop;
                    };
                    got.push(b64.decode(&l).unwrap_or_default());
                }
                self.check_auth(&got[0], &got[1])
            }
            "XOAUTH2" | "OAUTHBEARER" if self.script.oauth.is_some() => {
                return self.oauth(&mech, initial);
            }
            _ => return self.flow(Step::Reply("504 5.5.4 mechanism not supported\r\n".into())),
        };
        if ok {
            self.flow(Step::Reply("235 2.7.0 authenticated\r\n".into()))
        } else {
            self.flow(Step::Reply("535 5.7.8 bad credentials\r\n".into()))
        }
    }

    /// XOAUTH2 / OAUTHBEARER: the user (`user=` or the GS2 header's `a=`) and the bearer
    /// token are checked against [`Script::oauth`].
    fn oauth(&mut self, mech: &str, initial: Option<String>) -> Flow {
        let b64 = base64::engine::general_purpose::STANDARD;
        let resp = match initial {
            Some(r) => r,
            None => {
                if !self.send("334 \r\n") {
                    return Flow::Stop;
                }
                let Some(l) = self.read_line() else {
                    return Flow::Stop;
                };
                String::from_utf8_lossy(&l).into_owned()
            }
        };
        let raw = b64.decode(resp.trim()).unwrap_or_default();
        let raw = String::from_utf8_lossy(&raw).into_owned();
        let mut user = None;
        let mut token = None;
        for field in raw.split('\x01') {
            if let Some(t) = field.strip_prefix("auth=Bearer ") {
                token = Some(t.to_owned());
            } else if let Some(u) = field.strip_prefix("user=") {
                user = Some(u.to_owned());
            } else if let Some(gs2) = field.strip_prefix("n,") {
                user = gs2
                    .split(',')
                    .find_map(|p| p.strip_prefix("a="))
                    .map(str::to_owned);
            }
        }
        let ok = self.script.oauth.as_ref().is_some_and(|(u, t)| {
            user.as_deref() == Some(u.as_str()) && token.as_deref() == Some(t.as_str())
        });
        if ok {
            return self.flow(Step::Reply("235 2.7.0 authenticated\r\n".into()));
        }
        let status = if mech == "XOAUTH2" {
            "401"
        } else {
            "invalid_token"
        };
        let json = format!(r#"{{"status":"{status}","schemes":"bearer","scope":"mail"}}"#);
        if !self.send(&format!("334 {}\r\n", b64.encode(json))) {
            return Flow::Stop;
        }
        // The client's (empty or `\x01`) answer to the error challenge.
        if self.read_line().is_none() {
            return Flow::Stop;
        }
        let refusal = "535 5.7.8 token invalid or expired\r\n".to_owned();
        if self.script.oauth_refusal_closes {
            self.flow(Step::ReplyAndClose(refusal))
        } else {
            self.flow(Step::Reply(refusal))
        }
    }

    fn data(&mut self, from: &str, rcpts: &[String]) -> Flow {
        let (mut data, mut raw) = (Vec::new(), Vec::new());
        loop {
            let Some(line) = self.read_raw_line() else {
                self.record_raw(RawPhase::Data, &raw);
                return Flow::Stop;
            };
            raw.extend_from_slice(&line);
            // The end of data; a bare-LF `.` line also ends it (so a client that sends bare
            // LF fails on the recorded octets rather than by a timeout).
            if line == b".\r\n" || line == b".\n" {
                break;
            }
            let line = line.strip_prefix(b".").unwrap_or(&line);
            data.extend_from_slice(line);
        }
        self.record_raw(RawPhase::Data, &raw);
        let msg = Received {
            from: from.to_owned(),
            rcpts: rcpts.to_vec(),
            data,
            raw,
            chunks: Vec::new(),
        };
        self.record(|s| s.messages.push(msg));
        self.end_of_content(rcpts)
    }

    /// `BDAT <n> [LAST]` (RFC 3030): reads exactly n octets, answers each chunk, and after
    /// `LAST` records the message and answers as for the end of data.
    fn bdat(&mut self, line: &str, tx: &mut Option<Received>, rcpts: &[String]) -> Flow {
        let mut args = line.split(' ').skip(1).filter(|a| !a.is_empty());
        let size = args.next().and_then(|n| n.parse::<usize>().ok());
        let last = match args.next() {
            None => Some(false),
            Some(a) if a.eq_ignore_ascii_case("LAST") => Some(true),
            Some(_) => None,
        };
        let (Some(size), Some(last)) = (size, last.filter(|_| args.next().is_none())) else {
            // The chunk size is unknown: the rest of the stream cannot be framed.
            return self.flow(Step::ReplyAndClose("501 5.5.4 bad BDAT syntax\r\n".into()));
        };
        let Some(chunk) = self.read_exact_octets(size) else {
            return Flow::Stop;
        };
        self.record_raw(RawPhase::Bdat, &chunk);
        let advertised = self
            .script
            .extensions
            .iter()
            .any(|e| e.eq_ignore_ascii_case("CHUNKING"));
        if !advertised {
            return self.flow(Step::Reply("502 5.5.1 CHUNKING not offered\r\n".into()));
        }
        if let Some(step) = self.rule(line) {
            *tx = None;
            return self.flow(step);
        }
        let Some(msg) = tx.as_mut() else {
            return self.flow(Step::Reply("503 5.5.1 no transaction\r\n".into()));
        };
        msg.data.extend_from_slice(&chunk);
        msg.raw.extend_from_slice(&chunk);
        msg.chunks.push(chunk);
        if !last {
            return self.flow(Step::Reply(format!("250 2.0.0 {size} octets received\r\n")));
        }
        let msg = tx.take().unwrap_or_default();
        self.record(|s| s.messages.push(msg));
        self.end_of_content(rcpts)
    }

    /// The reply (SMTP) or replies (LMTP, one per recipient) after the content.
    fn end_of_content(&mut self, rcpts: &[String]) -> Flow {
        if self.script.lmtp {
            let mut out = String::new();
            for r in rcpts {
                if self.script.lmtp_refuse.contains(r) {
                    out.push_str(&format!("550 5.1.1 <{r}> mailbox unavailable\r\n"));
                } else {
                    out.push_str(&format!("250 2.1.5 <{r}> delivered\r\n"));
                }
            }
            self.flow(Step::Reply(out))
        } else {
            self.answer(".", "250 2.0.0 queued as TEST\r\n")
        }
    }

    fn run(&mut self) {
        if self.script.implicit_tls {
            match std::mem::replace(&mut self.conn, Conn::Gone).into_tls() {
                Ok(c) => self.conn = c,
                Err(_) => return,
            }
            self.tls = true;
            self.record(|s| s.tls = true);
        }
        if let Flow::Stop = self.answer("GREETING", "220 test.example ESMTP test server\r\n") {
            return;
        }
        let (mut from, mut rcpts) = (String::new(), Vec::<String>::new());
        // The BDAT transaction under way (its chunks so far).
        let mut bdat_tx: Option<Received> = None;
        while let Some(line) = self.read_line() {
            let line = String::from_utf8_lossy(&line).into_owned();
            self.record(|s| s.commands.push(line.clone()));
            let upper = line.to_ascii_uppercase();
            let verb = upper.split(' ').next().unwrap_or("").to_owned();
            let flow = match verb.as_str() {
                "EHLO" | "HELO" | "LHLO" => {
                    let default = self.ehlo_reply(&verb);
                    self.answer(&line, &default)
                }
                "STARTTLS" if self.script.starttls && !self.tls => {
                    if let Flow::Stop = self.answer(&line, "220 2.0.0 ready to start TLS\r\n") {
                        return;
                    }
                    match std::mem::replace(&mut self.conn, Conn::Gone).into_tls() {
                        Ok(c) => self.conn = c,
                        Err(_) => return,
                    }
                    self.tls = true;
                    self.record(|s| s.tls = true);
                    Flow::Continue
                }
                "AUTH"
                    if (self.script.auth.is_some() || self.script.oauth.is_some())
                        && self.rule(&line).is_none() =>
                {
                    self.auth(line.get(5..).unwrap_or(""))
                }
                "MAIL" => {
                    from = path_of(&line);
                    rcpts.clear();
                    bdat_tx = None;
                    self.answer(&line, "250 2.1.0 sender ok\r\n")
                }
                "RCPT" => {
                    let rcpt = path_of(&line);
                    match self.rule(&line) {
                        Some(step) => self.flow(step),
                        None => {
                            rcpts.push(rcpt);
                            self.flow(Step::Reply("250 2.1.5 recipient ok\r\n".into()))
                        }
                    }
                }
                "DATA" => match self.rule(&line) {
                    Some(step) => self.flow(step),
                    None if rcpts.is_empty() => {
                        self.flow(Step::Reply("554 5.5.1 no valid recipients\r\n".into()))
                    }
                    None => {
                        if self.send("354 end data with <CR><LF>.<CR><LF>\r\n") {
                            let (f, r) = (from.clone(), rcpts.clone());
                            rcpts.clear();
                            self.data(&f, &r)
                        } else {
                            Flow::Stop
                        }
                    }
                },
                "BDAT" => {
                    if bdat_tx.is_none() && !rcpts.is_empty() {
                        bdat_tx = Some(Received {
                            from: from.clone(),
                            rcpts: rcpts.clone(),
                            ..Received::default()
                        });
                    }
                    let r = rcpts.clone();
                    let flow = self.bdat(&line, &mut bdat_tx, &r);
                    if bdat_tx.is_none() {
                        rcpts.clear();
                    }
                    flow
                }
                "RSET" => {
                    bdat_tx = None;
                    rcpts.clear();
                    self.answer(&line, "250 2.0.0 ok\r\n")
                }
                "QUIT" => {
                    let step = self
                        .rule(&line)
                        .unwrap_or(Step::ReplyAndClose("221 2.0.0 bye\r\n".into()));
                    self.flow(step);
                    Flow::Stop
                }
                "NOOP" => self.answer(&line, "250 2.0.0 ok\r\n"),
                "VRFY" => self.answer(&line, "252 2.5.2 cannot verify, will attempt delivery\r\n"),
                "EXPN" => self.answer(&line, "502 5.5.1 EXPN not available\r\n"),
                "HELP" => self.answer(&line, "214 2.0.0 see RFC 5321\r\n"),
                _ => self.answer(&line, "500 5.5.2 command not recognized\r\n"),
            };
            if let Flow::Stop = flow {
                return;
            }
        }
    }
}

/// The path inside `<...>` of a MAIL or RCPT line.
fn path_of(line: &str) -> String {
    match (line.find('<'), line.find('>')) {
        (Some(a), Some(b)) if a < b => line[a + 1..b].to_owned(),
        _ => String::new(),
    }
}

fn serve(conn: Conn, peer: Option<SocketAddr>, script: &Script, log: &Log) {
    if let (Conn::Tcp(t), Some(idle)) = (&conn, script.idle_timeout) {
        let _ = t.set_read_timeout(Some(idle));
    }
    let idx = match log.lock() {
        Ok(mut l) => {
            l.push(SessionLog {
                peer,
                ..SessionLog::default()
            });
            l.len() - 1
        }
        Err(_) => return,
    };
    let mut s = Session {
        conn,
        buf: Vec::new(),
        script,
        log,
        idx,
        tls: false,
    };
    s.run();
    // Give the client a moment to read the last reply before the socket closes.
    if let Conn::Tcp(t) = &s.conn {
        let _ = t.shutdown(std::net::Shutdown::Write);
    }
    std::thread::sleep(Duration::from_millis(1));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};

    /// Sends each write (raw octets), then reads as many replies as given with it; returns
    /// every reply line read.
    fn talk(server: &TestServer, writes: &[(&[u8], usize)]) -> Vec<String> {
        let tcp = TcpStream::connect(server.addr()).unwrap();
        let mut r = BufReader::new(tcp.try_clone().unwrap());
        let mut w = tcp;
        let mut out = Vec::new();
        let mut line = String::new();
        r.read_line(&mut line).unwrap(); // greeting
        for (bytes, replies) in writes {
            w.write_all(bytes).unwrap();
            for _ in 0..*replies {
                loop {
                    line.clear();
                    r.read_line(&mut line).unwrap();
                    out.push(line.trim_end().to_owned());
                    if line.as_bytes().get(3) != Some(&b'-') {
                        break;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn bdat_reads_exactly_the_announced_octets_and_keeps_them() {
        let mut script = Script::default();
        script.extensions.push("CHUNKING".into());
        let server = TestServer::start(script);
        // A chunk holding what would end DATA and a line that looks like a command.
        let replies = talk(
            &server,
            &[
                (b"EHLO c\r\n", 1),
                (b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\n", 2),
                (b"BDAT 13\r\nab\r\n.\r\nQUIT\r\n", 1),
                (b"BDAT 3 LAST\r\nxyz", 1),
                (b"QUIT\r\n", 1),
            ],
        );
        assert!(replies.iter().any(|r| r == "250 CHUNKING"), "{replies:?}");
        assert_eq!(replies[replies.len() - 3], "250 2.0.0 13 octets received");
        assert_eq!(replies[replies.len() - 2], "250 2.0.0 queued as TEST");
        let s = &server.sessions()[0];
        assert_eq!(s.messages[0].data, b"ab\r\n.\r\nQUIT\r\nxyz");
        assert_eq!(s.messages[0].chunks, [&b"ab\r\n.\r\nQUIT\r\n"[..], b"xyz"]);
        let bdat: Vec<_> = s.raw.iter().filter(|r| r.phase == RawPhase::Bdat).collect();
        assert_eq!(bdat.len(), 2);
        assert_eq!(s.commands.iter().filter(|c| *c == "QUIT").count(), 1);
    }

    #[test]
    fn bdat_without_chunking_is_refused_and_data_keeps_bare_lf() {
        let server = TestServer::start(Script::default());
        let replies = talk(
            &server,
            &[
                (b"EHLO c\r\n", 1),
                (b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\n", 2),
                (b"BDAT 2 LAST\r\nxy", 1),
                (b"DATA\r\n", 1),
                (b"a\nb\r\n..c\r\n.\r\n", 1),
                (b"QUIT\n", 1),
            ],
        );
        assert!(replies.iter().all(|r| r != "250 CHUNKING"), "{replies:?}");
        assert!(replies.iter().any(|r| r.starts_with("502 ")), "{replies:?}");
        let s = &server.sessions()[0];
        assert_eq!(s.messages.len(), 1);
        assert_eq!(s.messages[0].data, b"a\nb\r\n.c\r\n");
        assert_eq!(s.messages[0].raw, b"a\nb\r\n..c\r\n.\r\n");
        // The bare-LF QUIT is recorded as sent.
        assert_eq!(s.raw.last().unwrap().bytes, b"QUIT\n");
    }
}
