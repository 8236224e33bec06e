//! [`Flaky`]: a loopback SMTP server whose connections each behave as planned (refused
//! with 421, dropped after the end of data, or good), for retry tests; the scripted
//! [`TestServer`](crate::TestServer) answers every connection alike.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// How one connection of [`Flaky`] behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conn {
    /// `421` instead of the greeting, then close.
    Busy,
    /// Normal until the end of data, then close without a reply (the message was taken).
    DropAfterDot,
    /// Accepts everything.
    Good,
}

/// A loopback SMTP server: connection `i` behaves as `plan[i]` (the last entry repeats).
#[derive(Debug)]
pub struct Flaky {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Connections accepted so far.
    pub connections: Arc<AtomicUsize>,
    /// When each message was taken (its end of data read).
    pub delivered: Arc<Mutex<Vec<Instant>>>,
}

impl Flaky {
    /// Starts it; connection `i` behaves as `plan[i]` (the last entry repeats).
    pub fn start(plan: Vec<Conn>) -> Flaky {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let delivered = Arc::new(Mutex::new(Vec::new()));
        let (n, d) = (connections.clone(), delivered.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let i = n.fetch_add(1, Ordering::SeqCst);
                let how = plan[i.min(plan.len() - 1)];
                let d = d.clone();
                std::thread::spawn(move || serve(stream, how, &d));
            }
        });
        Flaky {
            addr,
            connections,
            delivered,
        }
    }
}

fn serve(mut s: TcpStream, how: Conn, delivered: &Mutex<Vec<Instant>>) {
    if how == Conn::Busy {
        let _ = s.write_all(b"421 4.3.2 busy, try again\r\n");
        return;
    }
    let _ = s.write_all(b"220 flaky.test ESMTP\r\n");
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    let mut in_data = false;
    loop {
        line.clear();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if in_data {
            if line == ".\r\n" {
                in_data = false;
                if how == Conn::DropAfterDot {
                    delivered.lock().unwrap().push(Instant::now());
                    return;
                }
                delivered.lock().unwrap().push(Instant::now());
                let _ = s.write_all(b"250 2.0.0 queued\r\n");
            }
            continue;
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-flaky.test\r\n250 ENHANCEDSTATUSCODES\r\n",
            "MAIL" | "RSET" | "NOOP" => b"250 2.0.0 ok\r\n",
            "RCPT" => b"250 2.1.5 ok\r\n",
            "DATA" => {
                in_data = true;
                b"354 go ahead\r\n"
            }
            "QUIT" => {
                let _ = s.write_all(b"221 2.0.0 bye\r\n");
                return;
            }
            _ => b"502 5.5.2 no\r\n",
        };
        let _ = s.write_all(reply);
    }
}
