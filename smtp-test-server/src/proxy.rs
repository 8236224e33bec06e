//! A scripted SOCKS5 / HTTP CONNECT proxy on loopback, for the proxy tests of the client
//! crates: a working relay (with or without credentials) or a hostile proxy that answers
//! with chosen bytes or not at all.
//!
//! The relay connects to `127.0.0.1` whatever host it is asked for (a name or an address),
//! at the asked port: it never reaches anything else. [`TestProxy::asked`] lists the
//! destinations as the client sent them, so tests can tell a name from an address.
//!
//! ```
//! use smtp_test_server::proxy::{ProxyMode, TestProxy};
//! let proxy = TestProxy::start(ProxyMode::Socks5 { credentials: None });
//! assert!(proxy.addr().ip().is_loopback());
//! ```

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use base64::Engine as _;

/// How the proxy behaves.
#[derive(Clone, Debug)]
pub enum ProxyMode {
    /// A SOCKS5 relay (RFC 1928), requiring RFC 1929 username/password when given.
    Socks5 {
        /// The user name and password it requires, if any.
        credentials: Option<(String, String)>,
    },
    /// An HTTP CONNECT relay, requiring Basic credentials when given.
    Http {
        /// The user name and password it requires, if any.
        credentials: Option<(String, String)>,
    },
    /// For each read from the client, writes the next of these byte strings; closes the
    /// connection after the last.
    Scripted(Vec<Vec<u8>>),
    /// Accepts and reads, never answers.
    Silent,
}

/// A running proxy. Its threads live until the process ends.
#[derive(Debug)]
pub struct TestProxy {
    addr: SocketAddr,
    asked: Arc<Mutex<Vec<String>>>,
}

impl TestProxy {
    /// Starts a proxy on `127.0.0.1` on a free port.
    pub fn start(mode: ProxyMode) -> TestProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let asked: Arc<Mutex<Vec<String>>> = Arc::default();
        let asked2 = asked.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let _ = conn.set_nodelay(true);
                let (mode, asked) = (mode.clone(), asked2.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &mode, &asked);
                });
            }
        });
        TestProxy { addr, asked }
    }

    /// Starts a [`ProxyMode::Scripted`] proxy answering `replies`.
    pub fn scripted(replies: &[&[u8]]) -> TestProxy {
        TestProxy::start(ProxyMode::Scripted(
            replies.iter().map(|r| r.to_vec()).collect(),
        ))
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The destinations asked for so far (`host:port` as sent: a SOCKS5 domain name, an
    /// address, or the HTTP CONNECT authority).
    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().map(|a| a.clone()).unwrap_or_default()
    }
}

fn serve(mut c: TcpStream, mode: &ProxyMode, asked: &Mutex<Vec<String>>) -> io::Result<()> {
    match mode {
        ProxyMode::Silent => {
            let mut buf = [0; 1024];
            while c.read(&mut buf)? > 0 {}
            Ok(())
        }
        ProxyMode::Scripted(replies) => {
            let mut buf = [0; 1024];
            for r in replies {
                if c.read(&mut buf)? == 0 {
                    return Ok(());
                }
                c.write_all(r)?;
            }
            let _ = c.shutdown(Shutdown::Write);
            Ok(())
        }
        ProxyMode::Socks5 { credentials } => socks5(c, credentials.as_ref(), asked),
        ProxyMode::Http { credentials } => http(c, credentials.as_ref(), asked),
    }
}

fn read_n(c: &mut TcpStream, n: usize) -> io::Result<Vec<u8>> {
    let mut v = vec![0; n];
    c.read_exact(&mut v)?;
    Ok(v)
}

fn socks5(
    mut c: TcpStream,
    creds: Option<&(String, String)>,
    asked: &Mutex<Vec<String>>,
) -> io::Result<()> {
    let head = read_n(&mut c, 2)?;
    let methods = read_n(&mut c, usize::from(head[1]))?;
    let want = if creds.is_some() { 2 } else { 0 };
    if head[0] != 5 || !methods.contains(&want) {
        return c.write_all(&[5, 0xFF]);
    }
    c.write_all(&[5, want])?;
    if let Some((user, pass)) = creds {
        let v = read_n(&mut c, 2)?;
        let u = read_n(&mut c, usize::from(v[1]))?;
        let pl = read_n(&mut c, 1)?;
        let p = read_n(&mut c, usize::from(pl[0]))?;
        if u != user.as_bytes() || p != pass.as_bytes() {
            return c.write_all(&[1, 1]);
        }
        c.write_all(&[1, 0])?;
    }
    let req = read_n(&mut c, 4)?;
    let host = match req[3] {
        1 => {
            let a = read_n(&mut c, 4)?;
            std::net::Ipv4Addr::new(a[0], a[1], a[2], a[3]).to_string()
        }
        4 => {
            let a: [u8; 16] = read_n(&mut c, 16)?.try_into().expect("16 octets");
            format!("[{}]", std::net::Ipv6Addr::from(a))
        }
        3 => {
            let n = read_n(&mut c, 1)?;
            String::from_utf8_lossy(&read_n(&mut c, usize::from(n[0]))?).into_owned()
        }
        _ => return c.write_all(&[5, 8, 0, 1, 0, 0, 0, 0, 0, 0]),
    };
    let p = read_n(&mut c, 2)?;
    let port = u16::from_be_bytes([p[0], p[1]]);
    if let Ok(mut a) = asked.lock() {
        a.push(format!("{host}:{port}"));
    }
    if req[1] != 1 {
        return c.write_all(&[5, 7, 0, 1, 0, 0, 0, 0, 0, 0]);
    }
    match TcpStream::connect(("127.0.0.1", port)) {
        Ok(up) => {
            let mut reply = vec![5, 0, 0, 1, 127, 0, 0, 1];
            reply.extend_from_slice(&port.to_be_bytes());
            c.write_all(&reply)?;
            relay(c, up)
        }
        Err(_) => c.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]),
    }
}

fn http(
    mut c: TcpStream,
    creds: Option<&(String, String)>,
    asked: &Mutex<Vec<String>>,
) -> io::Result<()> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if c.read(&mut b)? == 0 || head.len() > 16 * 1024 {
            return Ok(());
        }
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.split("\r\n");
    let request = lines.next().unwrap_or_default();
    let mut parts = request.split(' ');
    let (Some("CONNECT"), Some(authority)) = (parts.next(), parts.next()) else {
        return c.write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n");
    };
    if let Ok(mut a) = asked.lock() {
        a.push(authority.to_owned());
    }
    if let Some((user, pass)) = creds {
        let want = format!(
            "basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        );
        let ok = lines.any(|l| {
            l.split_once(':').is_some_and(|(k, v)| {
                k.eq_ignore_ascii_case("proxy-authorization")
                    && v.trim().eq_ignore_ascii_case(&want)
                    && v.trim()[6..] == want[6..]
            })
        });
        if !ok {
            return c.write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n");
        }
    }
    let port = authority
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse::<u16>().ok());
    let Some(port) = port else {
        return c.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
    };
    match TcpStream::connect(("127.0.0.1", port)) {
        Ok(up) => {
            c.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
            relay(c, up)
        }
        Err(_) => c.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n"),
    }
}

/// Copies both ways until either side closes.
fn relay(a: TcpStream, b: TcpStream) -> io::Result<()> {
    let (mut a2, mut b2) = (a.try_clone()?, b.try_clone()?);
    let t = std::thread::spawn(move || {
        let _ = io::copy(&mut a2, &mut b2);
        let _ = b2.shutdown(Shutdown::Write);
    });
    let (mut a, mut b) = (a, b);
    let _ = io::copy(&mut b, &mut a);
    let _ = a.shutdown(Shutdown::Write);
    let _ = t.join();
    Ok(())
}
