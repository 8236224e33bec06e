//! Commands in flight and what each waits for, and the pipelining rules (RFC 2920) that
//! decide when the next queued operation may be written.

use std::time::Instant;

use super::*;

/// What a command sent is waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Expect {
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    Mail(TxId),
    Rcpt(TxId, usize),
    Data(TxId),
    /// The `.` sent alone after a 354 with no accepted recipient.
    LoneDot(TxId),
    /// The end of data (or `BDAT LAST`); LMTP expects one per accepted recipient (its
    /// index).
    EndOfData(TxId, Option<usize>),
    /// A non-final `BDAT` chunk.
    Bdat(TxId),
    /// RSET sent by the core between transactions (no event).
    SilentRset,
    /// EHLO/LHLO (`false`) or HELO (`true`) asked for by the caller.
    Rehello(bool),
    /// The low-level DATA command (smtplib's `data`).
    ManualData(TxId),
    /// The end of data of a low-level DATA (one reply, also for LMTP: the caller reads
    /// further ones with its own commands).
    ManualEnd,
    /// AUTH or an AUTH continuation line.
    Auth,
    /// The AUTH cancel line `*`; the exchange already failed.
    AuthCancel,
    Quit,
    Simple(Verb),
    /// The NOOP or RSET of a health check.
    Health(HealthProbe),
}

impl Expect {
    pub(super) fn phase(self) -> Phase {
        match self {
            Expect::Greeting => Phase::Greeting,
            Expect::Ehlo | Expect::Rehello(false) => Phase::Ehlo,
            Expect::Helo | Expect::Rehello(true) => Phase::Helo,
            Expect::StartTls => Phase::StartTls,
            Expect::Auth | Expect::AuthCancel => Phase::Auth,
            Expect::Mail(_) => Phase::Mail,
            Expect::Rcpt(..) => Phase::Rcpt,
            Expect::Data(_) => Phase::DataInit,
            Expect::LoneDot(_) | Expect::EndOfData(..) => Phase::DataDone,
            Expect::Bdat(_) => Phase::Other,
            Expect::SilentRset | Expect::Simple(Verb::Rset) => Phase::Rset,
            Expect::Quit => Phase::Quit,
            Expect::Simple(Verb::Mail) => Phase::Mail,
            Expect::Simple(Verb::Rcpt) => Phase::Rcpt,
            Expect::ManualData(_) => Phase::DataInit,
            Expect::ManualEnd => Phase::DataDone,
            Expect::Simple(_) | Expect::Health(HealthProbe::Noop) => Phase::Other,
            Expect::Health(HealthProbe::Rset) => Phase::Rset,
        }
    }

    /// Commands after which nothing may be pipelined (RFC 2920 §3.1).
    pub(super) fn ends_group(self) -> bool {
        !matches!(
            self,
            Expect::Mail(_)
                | Expect::Rcpt(..)
                | Expect::SilentRset
                | Expect::Simple(Verb::Rset)
                | Expect::EndOfData(..)
                | Expect::LoneDot(_)
                | Expect::Bdat(_)
        )
    }
}

#[derive(Debug)]
pub(super) struct Pending {
    pub(super) expect: Expect,
    /// Absolute output offset just past the command's last byte.
    pub(super) end: u64,
    /// When that byte was consumed by the driver.
    pub(super) sent_at: Option<Instant>,
}

#[derive(Debug)]
pub(super) enum Op {
    Tx(TxId),
    Simple(Command),
    /// EHLO/LHLO (`false`) or HELO (`true`) again, with this name instead of the
    /// configured `client_name` when given.
    Hello(bool, Option<Domain>),
    /// The low-level DATA.
    Data(TxId),
    /// A health check.
    Health(HealthProbe),
    Quit,
    /// AUTH with this mechanism.
    Auth(Box<dyn SaslMechanism>),
    /// AUTH with the strongest usable mechanism; on refusal, try the next weaker one only
    /// when `fallback` is set.
    Login {
        credentials: Credentials,
        allowed: Vec<Mechanism>,
        nonce: String,
        fallback: bool,
    },
}

impl Client {
    /// Records that the command (or content) ending at output offset `end` waits for a
    /// reply of kind `expect`; its deadline starts once `end` has been written.
    pub(super) fn expect_reply(&mut self, expect: Expect, end: u64) {
        self.inflight.push_back(Pending {
            expect,
            end,
            sent_at: None,
        });
    }

    pub(super) fn expect_greeting(&mut self, now: Instant) {
        self.head_since = now;
        self.inflight.push_back(Pending {
            expect: Expect::Greeting,
            end: self.out.sent_total,
            sent_at: Some(now),
        });
    }

    pub(super) fn pipelining(&self) -> bool {
        self.caps.as_ref().is_some_and(Capabilities::pipelining)
    }

    /// Whether a command may be written now, given what is in flight.
    pub(super) fn can_send(&self, starts_group: bool) -> bool {
        let Some(last) = self.inflight.back() else {
            return true;
        };
        // After a BDAT transaction, wait for its verdict: a refused chunk leaves the
        // server's transaction open until RSET (RFC 3030 §4.2).
        let after_bdat =
            matches!(last.expect, Expect::EndOfData(id, _) if self.tx(id).is_some_and(|t| t.bdat));
        self.pipelining()
            && !starts_group
            && !last.expect.ends_group()
            && !after_bdat
            && self.inflight.len() < self.cfg.max_in_flight
    }

    pub(super) fn send_hello(&mut self) {
        let (cmd, expect) = match self.cfg.dialect {
            Dialect::Lmtp => (Command::Lhlo(self.cfg.client_name.clone()), Expect::Ehlo),
            Dialect::Smtp => (Command::Ehlo(self.cfg.client_name.clone()), Expect::Ehlo),
        };
        if let Err(e) = self.emit(&cmd, expect) {
            // A caller-side reason (the name cannot be sent): the session is healthy, so
            // it ends with QUIT.
            self.close(CloseReason::Usage(e), true);
        }
    }

    /// Writes whatever the queued operations allow now.
    pub(super) fn pump(&mut self) {
        while self.state == State::Ready && !self.write_failed() {
            let Some(op) = self.ops.front() else {
                return;
            };
            match op {
                Op::Tx(id) => {
                    let id = *id;
                    if !self.pump_tx(id) {
                        return;
                    }
                }
                Op::Simple(cmd) => {
                    if !self.can_send(false) {
                        return;
                    }
                    let verb = cmd.verb();
                    let Some(Op::Simple(cmd)) = self.ops.pop_front() else {
                        return;
                    };
                    let expect = Expect::Simple(verb);
                    if let Err(e) = self.emit(&cmd, expect) {
                        // Validated when queued; cannot happen, but never panic.
                        self.close(CloseReason::Usage(e), true);
                        return;
                    }
                }
                Op::Health(probe) => {
                    let probe = *probe;
                    if !self.can_send(false) {
                        return;
                    }
                    self.ops.pop_front();
                    let cmd = match probe {
                        HealthProbe::Noop => Command::Noop(None),
                        HealthProbe::Rset => Command::Rset,
                    };
                    let _ = self.emit(&cmd, Expect::Health(probe));
                }
                Op::Data(id) => {
                    let id = *id;
                    if !self.can_send(false) {
                        return;
                    }
                    self.ops.pop_front();
                    let _ = self.emit(&Command::Data, Expect::ManualData(id));
                }
                Op::Hello(helo, name) => {
                    let helo = *helo;
                    if !self.can_send(true) {
                        return;
                    }
                    let name = name.clone().unwrap_or_else(|| self.cfg.client_name.clone());
                    self.ops.pop_front();
                    let cmd = match (helo, self.cfg.dialect) {
                        (true, _) => Command::Helo(name),
                        (false, Dialect::Lmtp) => Command::Lhlo(name),
                        (false, Dialect::Smtp) => Command::Ehlo(name),
                    };
                    let _ = self.emit(&cmd, Expect::Rehello(helo));
                }
                Op::Auth(_) | Op::Login { .. } => {
                    if !self.can_send(true) {
                        return;
                    }
                    let Some(op) = self.ops.pop_front() else {
                        return;
                    };
                    self.start_auth(op);
                }
                Op::Quit => {
                    if !self.can_send(false) {
                        return;
                    }
                    self.ops.pop_front();
                    let _ = self.emit(&Command::Quit, Expect::Quit);
                    return;
                }
            }
        }
    }
}
