//! Session settings: the dialect, the TLS policy, per-phase deadlines and limits.

use std::time::Duration;

use crate::command::Domain;
use crate::reply::ReplyLimits;

/// SMTP (RFC 5321) or LMTP (RFC 2033).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Dialect {
    /// SMTP: `EHLO` (with `HELO` fallback), one reply to the end of data.
    #[default]
    Smtp,
    /// LMTP: `LHLO`, one reply per accepted recipient after the end of data.
    Lmtp,
}

/// When to use TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum TlsPolicy {
    /// Never: plaintext only (`STARTTLS` is not sent even when offered).
    Never,
    /// Use `STARTTLS` when the server offers it; go on in plaintext otherwise.
    Opportunistic,
    /// Require `STARTTLS`: fail, sending nothing but `QUIT`, if it is not offered or refused.
    #[default]
    Required,
    /// Implicit TLS (port 465): the driver handshakes before the greeting.
    Implicit,
}

/// Per-phase reply deadlines. Defaults follow RFC 5321 §4.5.3.2.
///
/// Each deadline covers one whole reply, counted from when its command was written (or,
/// with pipelining, from when the reply before it arrived, whichever is later): a server
/// that drips one byte at a time still times out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Timeouts {
    /// The greeting (220): 5 min.
    pub greeting: Duration,
    /// EHLO/HELO/LHLO: 5 min.
    pub ehlo: Duration,
    /// STARTTLS reply: 5 min (the TLS handshake itself is the driver's to bound).
    pub starttls: Duration,
    /// Each AUTH reply: 5 min.
    pub auth: Duration,
    /// MAIL: 5 min.
    pub mail: Duration,
    /// RCPT: 5 min.
    pub rcpt: Duration,
    /// DATA (the 354): 2 min.
    pub data_init: Duration,
    /// Each data block written without progress: 3 min.
    pub data_block: Duration,
    /// The reply to the final `.` or `BDAT LAST`: 10 min.
    pub data_done: Duration,
    /// RSET: 5 min (a pool's health check may want Postfix's 20 s).
    pub rset: Duration,
    /// QUIT: 5 min.
    pub quit: Duration,
    /// VRFY, EXPN, HELP, NOOP, raw commands, non-final BDAT: 5 min.
    pub other: Duration,
}

impl Timeouts {
    /// RFC 5321 §4.5.3.2 defaults.
    pub const RFC5321: Self = Self {
        greeting: Duration::from_secs(300),
        ehlo: Duration::from_secs(300),
        starttls: Duration::from_secs(300),
        auth: Duration::from_secs(300),
        mail: Duration::from_secs(300),
        rcpt: Duration::from_secs(300),
        data_init: Duration::from_secs(120),
        data_block: Duration::from_secs(180),
        data_done: Duration::from_secs(600),
        rset: Duration::from_secs(300),
        quit: Duration::from_secs(300),
        other: Duration::from_secs(300),
    };

    /// Every phase set to `d` (a command-line `--timeout`).
    pub const fn all(d: Duration) -> Self {
        Self {
            greeting: d,
            ehlo: d,
            starttls: d,
            auth: d,
            mail: d,
            rcpt: d,
            data_init: d,
            data_block: d,
            data_done: d,
            rset: d,
            quit: d,
            other: d,
        }
    }

    pub(crate) fn for_phase(&self, phase: Phase) -> Duration {
        match phase {
            Phase::Greeting => self.greeting,
            Phase::Ehlo | Phase::Helo => self.ehlo,
            Phase::StartTls => self.starttls,
            Phase::Auth => self.auth,
            Phase::Mail => self.mail,
            Phase::Rcpt => self.rcpt,
            Phase::DataInit => self.data_init,
            Phase::DataBlock => self.data_block,
            Phase::DataDone => self.data_done,
            Phase::Rset => self.rset,
            Phase::Quit => self.quit,
            Phase::Other => self.other,
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Self::RFC5321
    }
}

/// The phase a deadline belongs to (named in timeouts and protocol errors).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// Waiting for the 220 greeting.
    Greeting,
    /// EHLO or LHLO.
    Ehlo,
    /// HELO (the fallback after a refused EHLO, or [`Client::hello`](super::Client::hello)
    /// with `helo`); its deadline is [`Timeouts::ehlo`].
    Helo,
    /// STARTTLS.
    StartTls,
    /// AUTH and its continuation lines.
    Auth,
    /// MAIL FROM.
    Mail,
    /// RCPT TO.
    Rcpt,
    /// DATA, waiting for 354.
    DataInit,
    /// Writing the message content.
    DataBlock,
    /// Waiting for the reply to the final `.` or `BDAT LAST`.
    DataDone,
    /// RSET.
    Rset,
    /// QUIT.
    Quit,
    /// Any other command.
    Other,
}

impl Phase {
    /// What the client was doing in this phase, as the end of a sentence: "while waiting
    /// for the reply to RCPT", "while writing the message content".
    pub(crate) fn waiting(self) -> String {
        match self {
            Phase::Greeting => "while waiting for the greeting".into(),
            Phase::DataBlock => "while the message content was being written".into(),
            Phase::DataInit => "while waiting for the reply to DATA".into(),
            Phase::DataDone => "while waiting for the reply to the end of data".into(),
            Phase::Other => "while waiting for the reply to a command".into(),
            p => format!("while waiting for the reply to {p}"),
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Greeting => "greeting",
            Phase::Ehlo => "EHLO",
            Phase::Helo => "HELO",
            Phase::StartTls => "STARTTLS",
            Phase::Auth => "AUTH",
            Phase::Mail => "MAIL",
            Phase::Rcpt => "RCPT",
            Phase::DataInit => "DATA",
            Phase::DataBlock => "message content",
            Phase::DataDone => "end of data",
            Phase::Rset => "RSET",
            Phase::Quit => "QUIT",
            Phase::Other => "command",
        })
    }
}

/// Session settings: the single place for every setting of the core. Build with
/// [`Config::new`] and adjust the fields. `Config` is `Clone + Eq + Hash` (as is
/// everything in it), so a connection pool can key its connections on it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Config {
    /// SMTP or LMTP.
    pub dialect: Dialect,
    /// The name sent with EHLO/HELO/LHLO (adapters default it to the host's FQDN).
    pub client_name: Domain,
    /// When to use TLS. Defaults to [`TlsPolicy::Required`].
    pub tls: TlsPolicy,
    /// Per-phase deadlines.
    pub timeouts: Timeouts,
    /// Limits on server replies.
    pub reply_limits: ReplyLimits,
    /// Most commands in flight with PIPELINING (RFC 2920; msmtp uses 100).
    pub max_in_flight: usize,
    /// Output buffered before [`Client::write_body`](super::Client::write_body) pushes
    /// back (returns a short count). Bounds the core's memory during a body.
    pub max_output: usize,
    /// Send credentials over an unencrypted connection (off by default).
    pub allow_plaintext_auth: bool,
    /// Fall back to HELO when EHLO is refused with any 4xx or 5xx reply but 421, as
    /// smtplib does (ignored when TLS is required, and for LMTP). After the fallback no
    /// ESMTP parameter is sent: a transaction that needs one fails with
    /// [`UsageError::NotAdvertised`](super::UsageError::NotAdvertised) before MAIL, and
    /// the free-form `extra` parameters are dropped.
    pub allow_helo_fallback: bool,
    /// Drop DSN parameters the server did not advertise instead of failing the transaction.
    pub drop_unsupported_dsn: bool,
    /// Send lines over 1,000 octets (with CRLF) in 7BIT and 8BITMIME content anyway (off
    /// by default: RFC 5321 §4.5.3.1.6 forbids them and such a body is refused with
    /// [`UsageError::Body`](super::UsageError::Body)). NUL octets are refused whatever
    /// this says, unless the body is `BODY=BINARYMIME`.
    pub allow_long_lines: bool,
    /// Record a transcript (see [`Client::poll_transcript`](super::Client::poll_transcript)).
    pub transcript: bool,
    /// Payload octets per `BDAT` chunk: every chunk but the last holds exactly this many,
    /// the last one (`BDAT <n> LAST`) the rest, so a body of at most this many octets goes
    /// as a single `BDAT <n> LAST`. Whatever the way the body is written, the frames are
    /// the same. A body given with [`Client::write_body`](super::Client::write_body)
    /// (streamed) is copied, the core buffering at most one chunk; an in-memory body given
    /// with [`Client::write_scanned_body`](super::Client::write_scanned_body) is not
    /// buffered at all (each header goes before its payload, borrowed from the body), so
    /// a larger size costs no memory there. Default 256 KiB.
    pub bdat_chunk_size: usize,
    /// After a write error, how long to keep reading replies to commands already sent
    /// (a server that refuses the content and closes without reading the rest has its
    /// verdict waiting in the receive buffer): 200 ms. See
    /// [`Client::handle_write_error`](super::Client::handle_write_error).
    pub write_error_drain: Duration,
}

impl Config {
    /// Defaults for `client_name`: SMTP, TLS required, RFC 5321 timeouts, default limits.
    pub fn new(client_name: Domain) -> Self {
        Config {
            dialect: Dialect::Smtp,
            client_name,
            tls: TlsPolicy::Required,
            timeouts: Timeouts::RFC5321,
            reply_limits: ReplyLimits::DEFAULT,
            max_in_flight: 100,
            max_output: 256 * 1024,
            allow_plaintext_auth: false,
            allow_helo_fallback: true,
            drop_unsupported_dsn: false,
            allow_long_lines: false,
            transcript: false,
            bdat_chunk_size: 256 * 1024,
            write_error_drain: Duration::from_millis(200),
        }
    }
}
