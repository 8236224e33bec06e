//! A thousand SMTP sessions on one thread with `mio`, from the core and the shared client
//! layer alone (no `smtp-blocking`, no `smtp-async`): the embedding claim, proven.
//!
//! ```text
//! mio_sessions [--server HOST:PORT] [--sessions N] [--messages M] [--size BYTES]
//!              [--rcpts R] [--timeout SECS]
//! ```
//!
//! Every session connects (a non-blocking mio `TcpStream`, plain TCP), runs
//! [`ops::Ready`] (greeting, EHLO), waits until every session is ready (the resident
//! memory of N idle sessions is sampled there), sends its share of the M messages with
//! [`ops::SendAll`] (pipelined) and ends with [`ops::Quit`]. Each operation is an
//! [`Exchange`] stepped from readiness events: written (vectored) or read until the
//! socket would block, then [`suspend`](Exchange::suspend)ed beside its session and
//! socket until the next event, or until its deadline, kept in one min-heap over every
//! session ([`Exchange::deadline`] in, [`Exchange::timed_out`] out; the poll timeout is
//! the nearest deadline). No `--server`: an embedded `smtp-test-server` (a thread per
//! connection, in this process: its memory counts too).
//!
//! Prints `sent=N seconds=S` on stdout (`/work/shared/bench`'s client contract: it also
//! takes `--connections C` for `--sessions`), a summary on stderr; exits 1 if a message
//! or a session failed. `ulimit -n` must allow N sockets (2N with the embedded server).

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, IoSlice, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use smtp_client::ops::{Quit, Ready, SendAll};
use smtp_client::{
    Body, Envelope, Error, Exchange, Operation, Options, Segments, SendReport, Session, Step,
    Suspended, Target, TlsPolicy, envelope,
};

#[path = "../../smtp-blocking/examples/common/bench_message.rs"]
mod bench_message;

/// Body readers: none here (every body is in memory), but the type must be named.
type Reader<'b> = dyn Read + 'b;
/// Called by [`SendAll`] with each message's result.
type OnDone<'b> = Box<dyn FnMut(usize, Result<SendReport, Error>) + 'b>;
/// One session's share of the messages.
type Sending<'b> = SendAll<Messages<'b>, OnDone<'b>>;

/// `left` copies of the message, borrowed: nothing is copied per message but the envelope.
struct Messages<'b> {
    env: &'b Envelope,
    body: &'b [u8],
    left: u64,
}

impl<'b> Iterator for Messages<'b> {
    type Item = (Envelope, Body<'b, Reader<'b>>);

    fn next(&mut self) -> Option<Self::Item> {
        self.left = self.left.checked_sub(1)?;
        Some((self.env.clone(), Body::Bytes(self.body)))
    }
}

/// Where a session is: one operation at a time, suspended between readiness events.
enum Stage<'b> {
    Ready(Suspended<'b, Reader<'b>, Ready>),
    /// Ready, waiting for the other sessions.
    Idle,
    Sending(Suspended<'b, Reader<'b>, Sending<'b>>),
    Quitting(Suspended<'b, Reader<'b>, Quit>),
    Closed,
}

/// One connection: the session, its socket, the operation in progress, and the deadline
/// it has in the timer heap.
struct Conn<'b> {
    session: Session,
    sock: TcpStream,
    stage: Stage<'b>,
    messages: u64,
    deadline: Option<Instant>,
}

/// What [`Conn::advance`] left the connection waiting for.
enum Outcome {
    /// The socket (would block) or this deadline.
    Wait(Option<Instant>),
    /// The other sessions (it just became ready).
    Ready,
    /// Nothing: close it.
    Closed,
}

/// How far an operation got before the socket would block.
enum Progress<'b, O: Operation<'b, Reader<'b>>> {
    Blocked(Suspended<'b, Reader<'b>, O>, Option<Instant>),
    Done(Result<O::Output, Error>),
}

/// Counts shared by every session (one thread: cells).
#[derive(Default)]
struct Tally {
    delivered: Cell<u64>,
    failed: Cell<u64>,
    failed_sessions: Cell<u64>,
    first_error: RefCell<Option<String>>,
}

impl Tally {
    fn error(&self, e: impl std::fmt::Display) {
        self.first_error
            .borrow_mut()
            .get_or_insert_with(|| e.to_string());
    }

    fn message_done(&self, r: Result<SendReport, Error>) {
        match r {
            Ok(rep) if rep.recipients.iter().all(|r| r.accepted) => {
                self.delivered.set(self.delivered.get() + 1);
            }
            Ok(_) => {
                self.failed.set(self.failed.get() + 1);
                self.error("a recipient was refused");
            }
            Err(e) => {
                self.failed.set(self.failed.get() + 1);
                self.error(e);
            }
        }
    }

    fn session_failed(&self, e: Error) {
        self.failed_sessions.set(self.failed_sessions.get() + 1);
        self.error(e);
    }
}

/// What every session shares: the message and the counts.
#[derive(Clone, Copy)]
struct Shared<'b> {
    env: &'b Envelope,
    body: &'b [u8],
    tally: &'b Tally,
}

/// Steps `x` until it is done or the socket would block: the whole driver.
fn drive<'b, O: Operation<'b, Reader<'b>>>(
    mut x: Exchange<'_, 'b, Reader<'b>, O>,
    sock: &mut TcpStream,
    buf: &mut [u8],
) -> Progress<'b, O> {
    loop {
        match x.step() {
            Step::Done(r) => return Progress::Done(r),
            Step::Write => {
                let mut iov = [IoSlice::new(&[]); Segments::MAX_IOV];
                let k = x.io_slices(&mut iov);
                let written = sock.write_vectored(&iov[..k]);
                let now = Instant::now();
                match written {
                    Ok(0) => x.write_failed(io::ErrorKind::WriteZero.into(), now),
                    Ok(n) => x.wrote(n, now),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        let d = x.deadline();
                        return Progress::Blocked(x.suspend(), d);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => x.write_failed(e, now),
                }
            }
            Step::Read => {
                let read = sock.read(buf);
                let now = Instant::now();
                match read {
                    Ok(0) => x.eof(now),
                    Ok(n) => x.received(&buf[..n], now),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        let d = x.deadline();
                        return Progress::Blocked(x.suspend(), d);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => x.read_failed(e, now),
                }
            }
            // Plain TCP only (TlsPolicy::Never never asks; a TLS driver would hand the
            // socket to rustls here).
            Step::StartTls => {
                let e = Error::InvalidInput("this example speaks plain TCP only".into());
                x.tls_failed(e, Instant::now());
            }
            // Only with Body::Reader; every body here is Body::Bytes.
            Step::ReadBody => x.body_failed(io::Error::other("no body readers"), Instant::now()),
        }
    }
}

/// Resumes `x` (after its deadline passed when `timeout` is set) and drives it.
fn resume<'b, O: Operation<'b, Reader<'b>>>(
    x: Suspended<'b, Reader<'b>, O>,
    c: &mut Conn<'b>,
    buf: &mut [u8],
    timeout: &mut Option<Instant>,
) -> Progress<'b, O> {
    let mut x = x
        .resume(&mut c.session)
        .expect("a connection resumes only its own operations");
    if let Some(now) = timeout.take() {
        x.timed_out(now);
    }
    drive(x, &mut c.sock, buf)
}

impl<'b> Conn<'b> {
    /// Drives the session as far as it goes without blocking, from one operation to the
    /// next. `timeout`: the session's deadline passed.
    fn advance(&mut self, sh: Shared<'b>, buf: &mut [u8], mut timeout: Option<Instant>) -> Outcome {
        loop {
            match std::mem::replace(&mut self.stage, Stage::Closed) {
                Stage::Ready(x) => match resume(x, self, buf, &mut timeout) {
                    Progress::Blocked(x, d) => {
                        self.stage = Stage::Ready(x);
                        return Outcome::Wait(d);
                    }
                    Progress::Done(Ok(())) => {
                        self.stage = Stage::Idle;
                        return Outcome::Ready;
                    }
                    Progress::Done(Err(e)) => self.failed(sh, e),
                },
                Stage::Idle => {
                    self.stage = Stage::Idle;
                    return Outcome::Wait(None);
                }
                Stage::Sending(x) => match resume(x, self, buf, &mut timeout) {
                    Progress::Blocked(x, d) => {
                        self.stage = Stage::Sending(x);
                        return Outcome::Wait(d);
                    }
                    Progress::Done(Ok(())) => self.start(sh, Quit, Stage::Quitting),
                    Progress::Done(Err(e)) => self.failed(sh, e),
                },
                Stage::Quitting(x) => match resume(x, self, buf, &mut timeout) {
                    Progress::Blocked(x, d) => {
                        self.stage = Stage::Quitting(x);
                        return Outcome::Wait(d);
                    }
                    Progress::Done(r) => {
                        if let Err(e) = r {
                            sh.tally.session_failed(e);
                        }
                        return Outcome::Closed;
                    }
                },
                Stage::Closed => return Outcome::Closed,
            }
        }
    }

    /// Starts sending this session's messages (or quits if it has none): call
    /// [`advance`](Self::advance) next.
    fn send(&mut self, sh: Shared<'b>) {
        if self.messages == 0 {
            return self.start(sh, Quit, Stage::Quitting);
        }
        let messages = Messages {
            env: sh.env,
            body: sh.body,
            left: self.messages,
        };
        let on_done: OnDone<'b> = Box::new(move |_, r| sh.tally.message_done(r));
        self.start(sh, SendAll::new(messages, on_done), Stage::Sending);
    }

    /// Starts `op` in place of the finished operation; `stage` is its [`Stage`].
    fn start<O: Operation<'b, Reader<'b>>>(
        &mut self,
        sh: Shared<'b>,
        op: O,
        stage: fn(Suspended<'b, Reader<'b>, O>) -> Stage<'b>,
    ) {
        self.stage = match Exchange::new(&mut self.session, op) {
            Ok(x) => stage(x.suspend()),
            Err(e) => {
                sh.tally.session_failed(e);
                Stage::Closed
            }
        };
    }

    /// The operation failed: the session is over (Ready and SendAll fail only when it
    /// closed), or QUIT is still worth trying.
    fn failed(&mut self, sh: Shared<'b>, e: Error) {
        sh.tally.session_failed(e);
        if !self.session.is_closed() {
            self.start(sh, Quit, Stage::Quitting);
        }
    }
}

/// A run's settings.
#[derive(Clone, Debug)]
struct Config {
    server: String,
    sessions: usize,
    messages: u64,
    size: usize,
    rcpts: usize,
    timeout: Duration,
}

/// A run's figures.
#[derive(Debug)]
struct Summary {
    sessions: usize,
    messages: u64,
    delivered: u64,
    failed: u64,
    failed_sessions: u64,
    first_error: Option<String>,
    seconds: f64,
    rss_start_kib: u64,
    rss_ready_kib: u64,
    peak_rss_kib: u64,
}

impl Summary {
    fn ok(&self) -> bool {
        self.delivered == self.messages && self.failed == 0 && self.failed_sessions == 0
    }
}

/// `VmRSS` and `VmHWM` (peak) of this process, in KiB (0 without /proc).
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The nearest live deadline of the heap (stale entries, whose session has moved on or
/// closed, are dropped on the way).
fn nearest(
    timers: &mut BinaryHeap<Reverse<(Instant, usize)>>,
    conns: &[Option<Conn<'_>>],
) -> Option<Instant> {
    while let Some(&Reverse((d, i))) = timers.peek() {
        if conns[i].as_ref().is_some_and(|c| c.deadline == Some(d)) {
            return Some(d);
        }
        timers.pop();
    }
    None
}

/// Runs the sessions; an error only when the run could not start.
fn run(cfg: &Config) -> Result<Summary, String> {
    let target = Target::parse(&cfg.server, 25).map_err(|e| e.to_string())?;
    let addr: SocketAddr = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| format!("{target}: {e}"))?
        .next()
        .ok_or_else(|| format!("{target}: no address"))?;
    let mut opts = Options::new()
        .with_tls(TlsPolicy::Never)
        .with_timeout(cfg.timeout);
    opts.helo_name = Some(bench_message::HELO.into());
    let to: Vec<String> = (0..cfg.rcpts).map(bench_message::rcpt).collect();
    let to: Vec<&str> = to.iter().map(String::as_str).collect();
    let env = envelope(bench_message::FROM, &to).map_err(|e| e.to_string())?;
    let body = bench_message::build_message(cfg.size, cfg.rcpts);
    let tally = Tally::default();
    let sh = Shared {
        env: &env,
        body: &body,
        tally: &tally,
    };

    let mut poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    let mut timers = BinaryHeap::new();
    let n = cfg.sessions;
    let (rss_start_kib, _) = rss_kib();
    let start = Instant::now();

    // Connect every session (the core's greeting deadline, armed now, bounds the
    // connect too) and start its Ready.
    let mut conns: Vec<Option<Conn<'_>>> = Vec::with_capacity(n);
    for k in 0..n {
        let share = bench_message::share(cfg.messages, n, k);
        let conn = TcpStream::connect(addr)
            .and_then(|mut sock| {
                sock.set_nodelay(true)?;
                let interest = Interest::READABLE | Interest::WRITABLE;
                poll.registry().register(&mut sock, Token(k), interest)?;
                Ok(sock)
            })
            .map_err(Error::Io)
            .and_then(|sock| {
                let local = sock.local_addr().ok().map(|a| a.ip());
                let mut session = Session::new(&opts, &target.host, local, Instant::now())?;
                let stage = Stage::Ready(Exchange::new(&mut session, Ready)?.suspend());
                Ok(Conn {
                    session,
                    sock,
                    stage,
                    messages: share,
                    deadline: None,
                })
            });
        match conn {
            Ok(c) => conns.push(Some(c)),
            Err(e) => {
                tally.session_failed(e);
                conns.push(None);
            }
        }
    }
    let mut live = conns.iter().flatten().count();
    // Sessions not yet ready (nor failed): sending starts when none is left.
    let mut unready = live;
    let mut rss_ready_kib = 0;
    let mut due = Vec::new();
    // First drive: each session reads (would block: no greeting yet) and arms its timer.
    let mut todo: Vec<(usize, Option<Instant>)> = (0..n).map(|k| (k, None)).collect();
    loop {
        for (k, timeout) in todo.drain(..) {
            let Some(c) = conns[k].as_mut() else { continue };
            let was_unready = matches!(c.stage, Stage::Ready(_));
            match c.advance(sh, &mut buf, timeout) {
                Outcome::Wait(d) => {
                    if d != c.deadline {
                        c.deadline = d;
                        if let Some(d) = d {
                            timers.push(Reverse((d, k)));
                        }
                    }
                    if was_unready && !matches!(c.stage, Stage::Ready(_)) {
                        unready -= 1;
                    }
                }
                Outcome::Ready => {
                    c.deadline = None;
                    unready -= 1;
                }
                Outcome::Closed => {
                    let _ = poll.registry().deregister(&mut c.sock);
                    conns[k] = None; // drops the socket: closed
                    live -= 1;
                    if was_unready {
                        unready -= 1;
                    }
                }
            }
        }
        if unready == 0 && rss_ready_kib == 0 {
            // Every session is ready (or failed): the idle-session figure, then send.
            rss_ready_kib = rss_kib().0.max(1);
            for (k, c) in conns.iter_mut().enumerate() {
                if let Some(c) = c.as_mut().filter(|c| matches!(c.stage, Stage::Idle)) {
                    c.send(sh);
                    todo.push((k, None));
                }
            }
            continue;
        }
        if live == 0 {
            break;
        }
        let wait =
            nearest(&mut timers, &conns).map(|d| d.saturating_duration_since(Instant::now()));
        match poll.poll(&mut events, wait) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("poll: {e}")),
        }
        todo.extend(events.iter().map(|ev| (ev.token().0, None)));
        let now = Instant::now();
        while nearest(&mut timers, &conns).is_some_and(|d| d <= now) {
            let Some(Reverse((_, k))) = timers.pop() else {
                break;
            };
            if let Some(c) = conns[k].as_mut() {
                c.deadline = None;
            }
            due.push((k, Some(now)));
        }
        todo.append(&mut due);
    }
    let seconds = start.elapsed().as_secs_f64();
    let first_error = tally.first_error.borrow_mut().take();
    Ok(Summary {
        sessions: n,
        messages: cfg.messages,
        delivered: tally.delivered.get(),
        failed: tally.failed.get(),
        failed_sessions: tally.failed_sessions.get(),
        first_error,
        seconds,
        rss_start_kib,
        rss_ready_kib,
        peak_rss_kib: rss_kib().1,
    })
}

fn usage(msg: &str) -> ! {
    let _ = writeln!(
        io::stderr(),
        "mio_sessions: {msg}\nusage: mio_sessions [--server HOST:PORT] [--sessions N] \
         [--messages M] [--size BYTES] [--rcpts R] [--timeout SECS]"
    );
    std::process::exit(2)
}

fn main() {
    let (mut server, mut sessions, mut messages, mut size, mut rcpts, mut timeout) =
        (None, 1000usize, None, 1024usize, 1usize, 60u64);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let val = args
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        let num = |v: &str| -> u64 { v.parse().unwrap_or_else(|_| usage(&format!("bad {flag}"))) };
        match flag.as_str() {
            "--server" => server = Some(val),
            "--sessions" | "--connections" => sessions = num(&val) as usize,
            "--messages" => messages = Some(num(&val)),
            "--size" => size = num(&val) as usize,
            "--rcpts" => rcpts = (num(&val) as usize).max(1),
            "--timeout" => timeout = num(&val).max(1),
            f => usage(&format!("unknown flag {f}")),
        }
    }
    if sessions == 0 {
        usage("--sessions must be at least 1");
    }
    // No server: an embedded one, alive until the process ends.
    let embedded = server.is_none();
    let server = server.unwrap_or_else(|| {
        let s = smtp_test_server::TestServer::start(smtp_test_server::Script::default());
        let addr = s.addr().to_string();
        std::mem::forget(s);
        addr
    });
    let cfg = Config {
        server,
        sessions,
        messages: messages.unwrap_or(sessions as u64 * 2),
        size,
        rcpts,
        timeout: Duration::from_secs(timeout),
    };
    let s = run(&cfg).unwrap_or_else(|e| {
        let _ = writeln!(io::stderr(), "mio_sessions: {e}");
        std::process::exit(1)
    });
    let per_session =
        |kib: u64| kib.saturating_sub(s.rss_start_kib) as f64 * 1024.0 / s.sessions as f64;
    let _ = writeln!(
        io::stderr(),
        "mio_sessions: {} sessions on one thread to {}{}: {} messages of {} body bytes, \
         {} delivered, {} failed, {} not sent, {} sessions failed; {:.3} s, {:.0} msgs/s\n\
         mio_sessions: RSS {} KiB before connecting, {} KiB with every session ready \
         ({:.0} bytes per session), peak (VmHWM) {} KiB ({:.0} bytes per session){}",
        s.sessions,
        cfg.server,
        if embedded {
            " (embedded test server)"
        } else {
            ""
        },
        s.messages,
        cfg.size,
        s.delivered,
        s.failed,
        s.messages.saturating_sub(s.delivered + s.failed),
        s.failed_sessions,
        s.seconds,
        s.delivered as f64 / s.seconds,
        s.rss_start_kib,
        s.rss_ready_kib,
        per_session(s.rss_ready_kib),
        s.peak_rss_kib,
        per_session(s.peak_rss_kib),
        if embedded {
            "; the embedded server's threads are in this process and counted"
        } else {
            ""
        },
    );
    if let Some(e) = &s.first_error {
        let _ = writeln!(io::stderr(), "mio_sessions: first error: {e}");
    }
    let _ = writeln!(
        io::stdout(),
        "sent={} seconds={:.6}",
        s.delivered,
        s.seconds
    );
    std::process::exit(i32::from(!s.ok()));
}

// `cargo test` runs these (the example is built with `test = true`).
#[cfg(test)]
mod tests {
    use super::*;
    use smtp_test_server::{Script, TestServer};

    fn config(server: String, sessions: usize) -> Config {
        Config {
            server,
            sessions,
            messages: sessions as u64 * 2,
            size: 1024,
            rcpts: 1,
            timeout: Duration::from_secs(60),
        }
    }

    /// Runs `sessions` sessions against the embedded server; checks what it received.
    fn embedded(sessions: usize) {
        let server = TestServer::start(Script::default());
        let s = run(&config(server.addr().to_string(), sessions)).expect("run");
        assert!(s.ok(), "{s:?}");
        assert_eq!(s.delivered, sessions as u64 * 2);
        assert_eq!(server.messages().len(), sessions * 2);
        // One session per connection, each ended with QUIT.
        let logs = server.sessions();
        assert_eq!(logs.len(), sessions);
        assert!(
            logs.iter()
                .all(|l| l.commands.last().is_some_and(|c| c == "QUIT"))
        );
    }

    #[test]
    fn two_hundred_sessions_on_one_thread() {
        embedded(200);
    }

    /// A thousand: 2,000 sockets in this process (and a thread each for the server).
    #[test]
    #[ignore = "1,000 sessions: run with `cargo test -- --ignored` (scripts/test-all)"]
    fn a_thousand_sessions_on_one_thread() {
        embedded(1000);
    }

    /// A thousand sessions to Postfix's smtp-sink: `SMTP_TEST_SINK_MANY`, the instance of
    /// `scripts/servers/start` that takes 2,000 connections at once.
    #[test]
    #[ignore = "needs scripts/servers/start's smtp-sink (SMTP_TEST_SINK_MANY)"]
    fn a_thousand_sessions_to_smtp_sink() {
        let server = std::env::var("SMTP_TEST_SINK_MANY").unwrap_or_else(|_| {
            panic!(
                "SMTP_TEST_SINK_MANY is not set: start the servers \
                 (scripts/servers/start DIR; . DIR/env) or run scripts/test-all"
            )
        });
        let s = run(&config(server, 1000)).expect("run");
        assert!(s.ok(), "{s:?}");
    }

    /// A session that never hears from its server times out through the timer heap.
    #[test]
    fn a_silent_server_times_out() {
        let server = TestServer::start(Script::default().rule(smtp_test_server::Rule::new(
            "GREETING",
            smtp_test_server::Step::Stall,
        )));
        let mut cfg = config(server.addr().to_string(), 3);
        cfg.timeout = Duration::from_millis(300);
        let t = Instant::now();
        let s = run(&cfg).expect("run");
        assert_eq!((s.delivered, s.failed_sessions), (0, 3), "{s:?}");
        assert!(t.elapsed() < Duration::from_secs(5));
        let e = s.first_error.unwrap_or_default();
        assert!(e.contains("time"), "{e}");
    }
}
