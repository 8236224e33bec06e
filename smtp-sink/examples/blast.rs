//! The sink's own ceiling: a minimal client that writes N pre-encoded messages of S
//! octets, pipelined (DATA or BDAT), over one plain connection, reading replies on a
//! second thread, and prints the rate.
//!
//! ```text
//! blast --server 127.0.0.1:PORT [--messages 200] [--size 1048576] [--bdat 1]
//! ```

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Instant;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).cloned()
}

fn main() -> std::io::Result<()> {
    let server = arg("--server").unwrap_or_else(|| "127.0.0.1:2525".into());
    let n: usize = arg("--messages").map_or(200, |v| v.parse().unwrap_or(200));
    let size: usize = arg("--size").map_or(1 << 20, |v| v.parse().unwrap_or(1 << 20));
    let bdat = arg("--bdat").is_some_and(|v| v == "1");
    let mut body = Vec::with_capacity(size + 80);
    let line = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijkl\r\n";
    while body.len() + 2 < size {
        let take = line.len().min(size - 2 - body.len());
        body.extend_from_slice(&line[..take]);
        if take < line.len() {
            break;
        }
    }
    body.extend_from_slice(b"\r\n");
    let mut tx = b"MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\n".to_vec();
    if bdat {
        tx.extend_from_slice(format!("BDAT {} LAST\r\n", body.len()).as_bytes());
        tx.extend_from_slice(&body);
    } else {
        tx.extend_from_slice(b"DATA\r\n");
        tx.extend_from_slice(&body);
        tx.extend_from_slice(b".\r\n");
    }
    let mut s = TcpStream::connect(&server)?;
    s.set_nodelay(true)?;
    let mut r = BufReader::new(s.try_clone()?);
    let mut line = String::new();
    r.read_line(&mut line)?;
    s.write_all(b"EHLO blast\r\n")?;
    let start = Instant::now();
    // Replies: EHLO (multi-line) + per message MAIL, RCPT, (354), end.
    let per = if bdat { 3 } else { 4 };
    let reader = std::thread::spawn(move || {
        let (mut finals, mut l) = (0usize, String::new());
        while finals < 1 + n * per {
            l.clear();
            if r.read_line(&mut l).unwrap_or(0) == 0 {
                break;
            }
            if l.as_bytes().get(3) == Some(&b' ') {
                finals += 1;
            }
        }
        finals
    });
    for _ in 0..n {
        s.write_all(&tx)?;
    }
    s.write_all(b"QUIT\r\n")?;
    let finals = reader.join().unwrap_or(0);
    let secs = start.elapsed().as_secs_f64();
    let mb = (n * body.len()) as f64 / 1e6;
    let mut out = std::io::stdout();
    writeln!(
        out,
        "replies={finals} seconds={secs:.6} MBps={:.0}",
        mb / secs
    )?;
    Ok(())
}
