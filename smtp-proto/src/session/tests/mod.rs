//! Scripted transcripts: every test asserts on the whole client output, not only on the
//! result, and every server script is also fed byte by byte.

use std::time::{Duration, Instant};

use super::*;
use crate::command::{Command, Domain, ForwardPath, ReversePath};

pub(super) struct Harness {
    pub(super) c: Client,
    pub(super) now: Instant,
    pub(super) wire: Vec<u8>,
    pub(super) events: Vec<Event>,
    pub(super) bytewise: bool,
}

pub(super) fn config(tls: TlsPolicy) -> Config {
    let mut cfg = Config::new(Domain::parse("client.example").unwrap());
    cfg.tls = tls;
    cfg.transcript = true;
    cfg
}

impl Harness {
    pub(super) fn new(cfg: Config) -> Harness {
        let now = Instant::now();
        Harness {
            c: Client::new(cfg, now),
            now,
            wire: Vec::new(),
            events: Vec::new(),
            bytewise: false,
        }
    }

    /// Writes everything the client wants to write and collects events.
    pub(super) fn drain(&mut self) {
        loop {
            while let Some(e) = self.c.poll_event() {
                self.events.push(e);
            }
            let out = self.c.pending_output();
            if out.is_empty() {
                break;
            }
            self.wire.extend_from_slice(out);
            let n = out.len();
            self.c.consume_output(n, self.now);
        }
        while let Some(e) = self.c.poll_event() {
            self.events.push(e);
        }
    }

    pub(super) fn server(&mut self, bytes: &[u8]) {
        if self.bytewise {
            for b in bytes {
                self.c.handle_input(self.now, &[*b]).unwrap();
                self.drain();
            }
        } else {
            self.c.handle_input(self.now, bytes).unwrap();
        }
        self.drain();
    }

    /// The client output since the last call, as text.
    pub(super) fn sent(&mut self) -> String {
        String::from_utf8_lossy(&std::mem::take(&mut self.wire)).into_owned()
    }

    pub(super) fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    pub(super) fn outcome(&mut self) -> TxOutcome {
        let i = self
            .events
            .iter()
            .position(|e| matches!(e, Event::TransactionDone(_)))
            .expect("no TransactionDone");
        match self.events.remove(i) {
            Event::TransactionDone(o) => o,
            _ => unreachable!(),
        }
    }

    pub(super) fn closed(&self) -> Option<&CloseReason> {
        self.events.iter().find_map(|e| match e {
            Event::Closed(r) => Some(r),
            _ => None,
        })
    }

    pub(super) fn body(&mut self, body: &[u8]) {
        assert!(matches!(self.c.next_action(), Action::SupplyBody(_)));
        let mut rest = body;
        while !rest.is_empty() {
            let n = self.c.write_body(rest).unwrap();
            rest = &rest[n..];
            self.drain();
        }
        self.c.finish_body().unwrap();
        self.drain();
    }

    pub(super) fn advance(&mut self, d: Duration) {
        self.now += d;
        self.c.handle_timeout(self.now);
        self.drain();
    }
}

fn env(from: &str, to: &[&str]) -> Envelope {
    Envelope::new(
        ReversePath::parse(from).unwrap(),
        to.iter().map(|t| ForwardPath::parse(t).unwrap()),
    )
}

const EHLO_PLAIN: &[u8] =
    b"250-foo.com greets client.example\r\n250-8BITMIME\r\n250-SIZE 1000\r\n250 HELP\r\n";
const EHLO_PIPE: &[u8] =
    b"250-foo.com\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 DSN\r\n";

/// Runs `f` twice: server bytes fed whole, then byte by byte; both must agree.
fn both_ways(f: impl Fn(bool) -> (String, Vec<Event>)) {
    let whole = f(false);
    let bytewise = f(true);
    assert_eq!(
        whole.0, bytewise.0,
        "client output differs when fed byte by byte"
    );
    assert_eq!(whole.1, bytewise.1, "events differ when fed byte by byte");
}

fn status_kinds(o: &TxOutcome) -> Vec<&'static str> {
    o.recipients
        .iter()
        .map(|r| match &r.status {
            RcptStatus::Accepted(_) => "accepted",
            RcptStatus::Refused(..) => "refused",
            RcptStatus::Deferred(..) => "deferred",
            RcptStatus::NotDelivered(_) => "not-delivered",
            RcptStatus::Unknown(_) => "unknown",
        })
        .collect()
}

mod auth;
mod bdat;
mod deadlines;
mod opening;
mod segments;
mod transactions;
mod verdicts;
