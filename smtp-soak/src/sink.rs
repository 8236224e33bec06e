//! The sink side: a child process running `smtp_sink` with the soak's fault plan
//! (so its record does not count in the client's RSS), and the parent's handle on it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use smtp_sink::{Config, FaultAction, FaultPlan, FaultPoint, Sink, Stats, TlsMode};

/// The soak's fault plan: every fault kind the sink has, at every point, with
/// probabilities per occurrence (per connection at `Connect`, per message elsewhere).
/// `stall` is longer than the client's deadline.
pub(crate) fn plan(seed: u64, stall: Duration) -> FaultPlan {
    use FaultAction::*;
    use FaultPoint::*;
    let short = Duration::from_millis(20);
    let drip = Duration::from_micros(300);
    FaultPlan::new(seed)
        // Per connection.
        .with(Connect, 0.010, Close421)
        .with(Connect, 0.003, Reply(554))
        .with(Connect, 0.010, ResetBefore)
        .with(Connect, 0.005, CloseNoNotify)
        .with(Connect, 0.010, Stall(short))
        .with(Connect, 0.002, Stall(stall))
        .with(Connect, 0.010, Drip(drip))
        // Per message.
        .with(Mail, 0.0015, Reply(451))
        .with(Mail, 0.0005, Reply(550))
        .with(Mail, 0.0010, Close421)
        .with(Mail, 0.0010, ResetBefore)
        .with(Mail, 0.0003, Stall(stall))
        .with(Mail, 0.0010, Drip(drip))
        .with(Rcpt, 0.0010, Reply(450))
        .with(Rcpt, 0.0005, Reply(550))
        .with(Rcpt, 0.0005, ResetAfter)
        .with(Rcpt, 0.0005, CloseNoNotify)
        .with(Data, 0.0010, Reply(451))
        .with(Data, 0.0005, Close421)
        .with(Data, 0.0005, ResetBefore)
        .with(Data, 0.0003, Stall(stall))
        .with(EndOfData, 0.0015, Reply(451))
        .with(EndOfData, 0.0010, Reply(554))
        .with(EndOfData, 0.0010, Close421)
        .with(EndOfData, 0.0010, ResetBefore)
        .with(EndOfData, 0.0010, ResetAfter)
        .with(EndOfData, 0.0010, CloseNoNotify)
        .with(EndOfData, 0.0003, Stall(stall))
        .with(EndOfData, 0.0003, Stall(short))
        .with(EndOfData, 0.0015, Drip(drip))
}

/// The child: runs the sink (STARTTLS, recording, the fault plan), prints `port=P`,
/// writes the CA to `ca_out`, and on stdin's end prints its record and exits:
/// `stats S M R U F FS`, then `d KEY COUNT` per delivered message, then `end`.
pub(crate) fn child_main(seed: u64, stall: Duration, ca_out: &str) -> i32 {
    let cfg = Config {
        tls: TlsMode::StartTls,
        record: true,
        faults: plan(seed, stall),
        ..Config::default()
    };
    let mut sink = match Sink::start(cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("soak sink: {e}");
            return 2;
        }
    };
    if let Err(e) = std::fs::write(ca_out, sink.ca_pem().unwrap_or_default()) {
        eprintln!("soak sink: {ca_out}: {e}");
        return 2;
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let _ = writeln!(out, "port={}", sink.addr().port());
    let _ = out.flush();
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    sink.stop();
    let rec = sink.record();
    let s = rec.stats();
    let _ = writeln!(
        out,
        "stats {} {} {} {} {} {}",
        s.sessions, s.messages, s.refused, s.unanswered, s.faults, s.faulted_sessions
    );
    for (key, n) in rec.delivered_messages() {
        let _ = writeln!(out, "d {key} {n}");
    }
    let _ = writeln!(out, "end");
    let _ = out.flush();
    0
}

/// The parent's handle on the child sink.
pub(crate) struct SinkChild {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    pub(crate) port: u16,
    pub(crate) ca_pem: String,
}

/// What the sink received.
pub(crate) struct SinkReport {
    pub(crate) stats: Stats,
    /// Message key -> deliveries (the highest count over its recipients).
    pub(crate) delivered: HashMap<String, u32>,
}

impl SinkChild {
    pub(crate) fn spawn(seed: u64, stall: Duration) -> std::io::Result<SinkChild> {
        let ca_out = std::env::temp_dir().join(format!("soak-ca-{}.pem", std::process::id()));
        let mut child = Command::new(std::env::current_exe()?)
            .arg("--sink-child")
            .arg(seed.to_string())
            .arg(stall.as_millis().to_string())
            .arg(&ca_out)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().ok_or(std::io::ErrorKind::Other)?);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let port = line
            .trim()
            .strip_prefix("port=")
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("sink child said {line:?}")))?;
        let ca_pem = std::fs::read_to_string(&ca_out)?;
        let _ = std::fs::remove_file(&ca_out);
        Ok(SinkChild {
            child,
            stdin,
            stdout,
            port,
            ca_pem,
        })
    }

    /// Ends the child and reads its record.
    pub(crate) fn finish(mut self) -> std::io::Result<SinkReport> {
        drop(self.stdin.take());
        let mut stats = None;
        let mut delivered = HashMap::new();
        let mut line = String::new();
        let mut ended = false;
        loop {
            line.clear();
            if self.stdout.read_line(&mut line)? == 0 {
                break;
            }
            let mut w = line.split_whitespace();
            match w.next() {
                Some("stats") => {
                    let v: Vec<u64> = w.filter_map(|x| x.parse().ok()).collect();
                    if v.len() == 6 {
                        stats = Some(Stats {
                            sessions: v[0],
                            messages: v[1],
                            bytes: 0,
                            refused: v[2],
                            unanswered: v[3],
                            faults: v[4],
                            faulted_sessions: v[5],
                        });
                    }
                }
                Some("d") => {
                    let (k, n) = (w.next(), w.next().and_then(|n| n.parse().ok()));
                    if let (Some(k), Some(n)) = (k, n) {
                        delivered.insert(k.to_owned(), n);
                    }
                }
                Some("end") => ended = true,
                _ => {}
            }
        }
        let _ = self.child.wait();
        match stats {
            Some(stats) if ended => Ok(SinkReport { stats, delivered }),
            _ => Err(std::io::Error::other(
                "the sink child's record was cut short",
            )),
        }
    }
}
