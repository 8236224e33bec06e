//! Simple commands queued by the caller: VRFY, EXPN, HELP, NOOP, RSET, raw lines, the
//! low-level DATA, EHLO/HELO again and QUIT.

use super::*;

impl Client {
    /// Queues `VRFY arg` (smtplib's `verify`).
    pub fn vrfy(&mut self, arg: SmtpString) -> Result<(), UsageError> {
        self.simple(Command::Vrfy {
            arg,
            smtputf8: false,
        })
    }

    /// Queues `EXPN arg`.
    pub fn expn(&mut self, arg: SmtpString) -> Result<(), UsageError> {
        self.simple(Command::Expn {
            arg,
            smtputf8: false,
        })
    }

    /// Queues `HELP [arg]`.
    pub fn help(&mut self, arg: Option<SmtpString>) -> Result<(), UsageError> {
        self.simple(Command::Help(arg))
    }

    /// Queues `NOOP`.
    pub fn noop(&mut self) -> Result<(), UsageError> {
        self.simple(Command::Noop(None))
    }

    /// Queues `RSET`.
    pub fn rset(&mut self) -> Result<(), UsageError> {
        self.simple(Command::Rset)
    }

    /// Queues a raw command line (smtplib's `docmd`); its reply comes as [`Event::Reply`].
    pub fn raw(&mut self, line: RawCommand) -> Result<(), UsageError> {
        self.simple(Command::Raw(line))
    }

    /// Queues any of VRFY, EXPN, HELP, NOOP, RSET or a raw command.
    pub fn simple(&mut self, cmd: Command) -> Result<(), UsageError> {
        self.check_open()?;
        match cmd.verb() {
            Verb::Vrfy
            | Verb::Expn
            | Verb::Help
            | Verb::Noop
            | Verb::Rset
            | Verb::Raw
            | Verb::Mail
            | Verb::Rcpt => {}
            _ => {
                return Err(UsageError::WrongState(
                    "not a simple command (VRFY, EXPN, HELP, NOOP, RSET, MAIL, RCPT or raw)",
                ));
            }
        }
        cmd.encode(&mut Vec::new())?;
        self.ops.push_back(Op::Simple(cmd));
        self.pump();
        Ok(())
    }

    /// Queues the low-level `DATA` command (smtplib's `data`), for a transaction the
    /// caller drives itself with [`simple`](Self::simple) `MAIL` and `RCPT` commands, and
    /// returns the id of that manual transaction. A 354 makes
    /// [`next_action`](Self::next_action) ask for the body with
    /// [`Action::SupplyBody`]`(id)`; supply it with `write_body` and `finish_body`. The
    /// reply to DATA (if not 354) and the one to the end of data come as [`Event::Reply`]
    /// with verb `Data` (no [`Event::TransactionDone`]: the caller keeps the books).
    /// [`send_mail`](Self::send_mail) is the way to send mail; this is the building block
    /// smtplib exposes.
    pub fn data(&mut self) -> Result<TxId, UsageError> {
        self.check_open()?;
        let id = self.new_tx_id();
        self.ops.push_back(Op::Data(id));
        self.pump();
        Ok(id)
    }

    /// Queues a new EHLO (LHLO for LMTP), or HELO with `helo`, as smtplib's `ehlo()` and
    /// `helo()` do. A 250 replaces the capabilities (HELO clears them) and resets any
    /// transaction state; the reply comes as [`Event::Reply`] with verb `Ehlo`/`Lhlo`/`Helo`,
    /// whatever its code.
    pub fn hello(&mut self, helo: bool) -> Result<(), UsageError> {
        self.check_open()?;
        self.ops.push_back(Op::Hello(helo, None));
        self.pump();
        Ok(())
    }

    /// [`hello`](Self::hello) naming the client `name` for this command only (smtplib's
    /// `ehlo(name)` / `helo(name)`); the configured `client_name` stays for the rest of
    /// the session (a reconnection, STARTTLS's EHLO).
    pub fn hello_as(&mut self, helo: bool, name: Domain) -> Result<(), UsageError> {
        self.check_open()?;
        self.ops.push_back(Op::Hello(helo, Some(name)));
        self.pump();
        Ok(())
    }

    /// Queues a health check (for a connection pool, before reusing an idle connection):
    /// `NOOP` or `RSET`, whose reply comes as [`Event::Health`], healthy when 2xx. An
    /// unhealthy verdict makes the core send QUIT and close the session
    /// ([`CloseReason::Unhealthy`], or [`CloseReason::ServiceClosing`] for a 421): the
    /// connection must not be reused. Refused while a transaction is in progress.
    pub fn check_health(&mut self, probe: HealthProbe) -> Result<(), UsageError> {
        self.check_open()?;
        if !self.txs.is_empty() || self.body_tx().is_some() {
            return Err(UsageError::WrongState(
                "a health check waits for no transaction in progress",
            ));
        }
        self.ops.push_back(Op::Health(probe));
        self.pump();
        Ok(())
    }

    /// Queues `QUIT`, after everything queued before it. The session closes on its reply.
    pub fn quit(&mut self) -> Result<(), UsageError> {
        self.check_open()?;
        self.ops.push_back(Op::Quit);
        self.pump();
        Ok(())
    }
}
