//! One connection: the command loop, DATA and BDAT, faults.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use memchr::memmem;

use base64::Engine as _;

use crate::record::{Capture, Received};
use crate::{FaultAction, FaultPoint, Shared, TlsMode};

const BUF: usize = 1 << 20;
const MAX_LINE: usize = 64 * 1024;

enum Stream {
    Plain(TcpStream),
    Tls(Box<crate::tls::Tls>),
    Gone,
}

impl Stream {
    fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Stream::Plain(s) => Some(s),
            Stream::Tls(s) => Some(&s.sock),
            Stream::Gone => None,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
            Stream::Gone => Ok(0),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
            Stream::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
            Stream::Gone => Ok(()),
        }
    }
}

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

/// Why the loop ends.
enum End {
    /// Close normally (after flushing).
    Close,
    /// Reset: SO_LINGER 0 and close.
    Reset,
    /// Close the TCP connection without TLS close_notify.
    CloseNoNotify,
}

type Step = Result<(), End>;

/// What a command's fault check did.
#[derive(PartialEq, Eq)]
enum Outcome {
    /// The normal reply was sent or queued (possibly late or dripped).
    Normal,
    /// A refusal was queued instead.
    Refused,
}

struct Conn<'a> {
    shared: &'a Shared,
    stream: Stream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    out: Vec<u8>,
    rng: Rng,
    drip_all: Option<Duration>,
    /// A fault has fired on this connection.
    faulted: bool,
    tls: bool,
    greeted: bool,
    /// In a transaction (MAIL accepted).
    mail: bool,
    rcpts: Vec<String>,
    /// The current BDAT message's capture (between its first chunk and LAST).
    bdat: Option<Capture>,
    /// The transaction was refused at DATA/BDAT: remaining chunks are read and refused.
    bdat_failed: bool,
    /// The MAIL FROM address of the transaction.
    mail_from: String,
    /// The user authenticated as.
    auth_user: Option<String>,
    /// An AUTH exchange waiting for the client's next line.
    auth_step: Option<AuthStep>,
}

/// Where an AUTH exchange stands.
enum AuthStep {
    /// PLAIN without an initial response: the next line is the response.
    Plain,
    /// LOGIN: the next line is the user name.
    LoginUser,
    /// LOGIN: the next line is the password for this user.
    LoginPassword(String),
}

pub(crate) fn serve(tcp: TcpStream, shared: &Shared, n: u64) {
    shared.record.session();
    let _ = tcp.set_nodelay(true);
    let mut c = Conn {
        shared,
        stream: Stream::Plain(tcp),
        buf: vec![0; BUF],
        start: 0,
        end: 0,
        out: Vec::with_capacity(4096),
        rng: Rng(shared.config.faults.seed ^ n.wrapping_mul(0xD6E8_FEB8_6659_FD93)),
        drip_all: None,
        faulted: false,
        tls: false,
        greeted: false,
        mail: false,
        rcpts: Vec::new(),
        bdat: None,
        bdat_failed: false,
        mail_from: String::new(),
        auth_user: None,
        auth_step: None,
    };
    let end = match c.run() {
        Ok(()) => End::Close,
        Err(e) => e,
    };
    c.finish(end);
}

impl Conn<'_> {
    fn fault(&mut self, point: FaultPoint) -> Option<FaultAction> {
        let rules = &self.shared.config.faults.rules;
        for r in rules.iter().filter(|r| r.point == point) {
            if self.rng.chance(r.probability) {
                self.shared.record.fault(!self.faulted);
                self.faulted = true;
                return Some(r.action);
            }
        }
        None
    }

    fn finish(&mut self, end: End) {
        match end {
            End::Close => {
                let _ = self.flush();
                if let Stream::Tls(s) = &mut self.stream {
                    let _ = s.close_notify();
                }
                if let Some(t) = self.stream.tcp() {
                    let _ = t.shutdown(Shutdown::Write);
                    // Drain briefly so that the close is a FIN, not a RST over unread input.
                    let _ = t.set_read_timeout(Some(Duration::from_millis(200)));
                }
                let mut scratch = [0u8; 4096];
                for _ in 0..64 {
                    match self.stream.tcp().map(|mut t| t.read(&mut scratch)) {
                        Some(Ok(n)) if n > 0 => {}
                        _ => break,
                    }
                }
            }
            End::Reset => {
                if let Some(t) = self.stream.tcp() {
                    let _ = socket2::SockRef::from(t).set_linger(Some(Duration::ZERO));
                }
            }
            End::CloseNoNotify => {
                if let Some(t) = self.stream.tcp() {
                    let _ = t.shutdown(Shutdown::Both);
                }
            }
        }
        self.stream = Stream::Gone;
    }

    fn reply(&mut self, text: &[u8]) {
        self.out.extend_from_slice(text);
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        let r = match self.drip_all {
            Some(d) => self.drip(&out, d),
            None => self
                .stream
                .write_all(&out)
                .and_then(|()| self.stream.flush()),
        };
        self.out = out;
        self.out.clear();
        r
    }

    fn drip(&mut self, bytes: &[u8], d: Duration) -> io::Result<()> {
        for b in bytes {
            std::thread::sleep(d);
            self.stream.write_all(std::slice::from_ref(b))?;
            self.stream.flush()?;
        }
        Ok(())
    }

    /// Applies a fault at a command, or queues the `normal` reply when none fires.
    fn command_fault(&mut self, point: FaultPoint, normal: &[u8]) -> Result<Outcome, End> {
        let Some(action) = self.fault(point) else {
            self.reply(normal);
            return Ok(Outcome::Normal);
        };
        match action {
            FaultAction::Reply(code) => {
                let text = format!("{code} {}.0.0 Fault injected\r\n", code / 100);
                self.reply(text.as_bytes());
                Ok(Outcome::Refused)
            }
            FaultAction::Close421 => {
                self.reply(b"421 4.3.0 Fault injected: closing\r\n");
                Err(End::Close)
            }
            FaultAction::ResetBefore | FaultAction::ResetAfter => {
                let _ = self.flush();
                Err(End::Reset)
            }
            FaultAction::Stall(d) => {
                let _ = self.flush();
                std::thread::sleep(d);
                self.reply(normal);
                Ok(Outcome::Normal)
            }
            FaultAction::Drip(d) => {
                self.flush().map_err(|_| End::Close)?;
                self.drip(normal, d).map_err(|_| End::Close)?;
                Ok(Outcome::Normal)
            }
            FaultAction::CloseNoNotify => {
                let _ = self.flush();
                Err(End::CloseNoNotify)
            }
        }
    }

    fn run(&mut self) -> Step {
        let cfg = &self.shared.config;
        if cfg.tls == TlsMode::Implicit {
            self.start_tls()?;
        }
        let greeting = format!(
            "220 {} ESMTP smtp-bench-sink\r\n",
            self.shared.config.hostname
        );
        match self.fault(FaultPoint::Connect) {
            None => self.reply(greeting.as_bytes()),
            Some(FaultAction::Reply(code)) => {
                self.reply(format!("{code} Fault injected at connect\r\n").as_bytes());
                return Err(End::Close);
            }
            Some(FaultAction::Close421) => {
                self.reply(b"421 4.3.0 Fault injected at connect\r\n");
                return Err(End::Close);
            }
            Some(FaultAction::ResetBefore | FaultAction::ResetAfter) => return Err(End::Reset),
            Some(FaultAction::CloseNoNotify) => return Err(End::CloseNoNotify),
            Some(FaultAction::Stall(d)) => {
                std::thread::sleep(d);
                self.reply(greeting.as_bytes());
            }
            Some(FaultAction::Drip(d)) => {
                self.drip_all = Some(d);
                self.reply(greeting.as_bytes());
            }
        }
        loop {
            let avail = &self.buf[self.start..self.end];
            match memchr::memchr(b'\n', avail) {
                Some(i) => {
                    let line = avail[..=i].to_vec();
                    self.start += i + 1;
                    self.command(&line)?;
                }
                None => {
                    if self.end - self.start > MAX_LINE {
                        self.reply(b"500 5.5.0 Line too long\r\n");
                        return Err(End::Close);
                    }
                    if !self.fill()? {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Flushes pending replies, then reads more input (compacting the buffer first).
    /// Ok(false) at end of input.
    fn fill(&mut self) -> Result<bool, End> {
        self.flush().map_err(|_| End::Close)?;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        match self.stream.read(&mut self.buf[self.end..]) {
            Ok(0) => Ok(false),
            Ok(n) => {
                self.end += n;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
            Err(_) => Err(End::Close),
        }
    }

    fn start_tls(&mut self) -> Step {
        let Some(id) = &self.shared.tls else {
            return Err(End::Close);
        };
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            return Err(End::Close);
        };
        let t = crate::tls::Tls::accept(id.server_config(), tcp).map_err(|_| End::Close)?;
        self.stream = Stream::Tls(Box::new(t));
        self.tls = true;
        Ok(())
    }

    fn reset_tx(&mut self) {
        self.mail = false;
        self.rcpts.clear();
        self.bdat = None;
        self.bdat_failed = false;
    }

    fn command(&mut self, line: &[u8]) -> Step {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(step) = self.auth_step.take() {
            self.auth_continue(step, line);
            return Ok(());
        }
        let verb_end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
        let mut verb = [0u8; 8];
        if verb_end <= 8 {
            verb[..verb_end].copy_from_slice(&line[..verb_end]);
            verb.make_ascii_uppercase();
        }
        let arg = line.get(verb_end + 1..).unwrap_or_default();
        let lmtp = self.shared.config.lmtp;
        match &verb[..verb_end.min(8)] {
            b"EHLO" | b"HELO" | b"LHLO" => {
                if (verb_end == 4 && &verb[..4] == b"LHLO") != lmtp {
                    self.reply(b"500 5.5.1 Wrong greeting command for this dialect\r\n");
                    return Ok(());
                }
                self.reset_tx();
                self.greeted = true;
                if &verb[..4] == b"HELO" {
                    let t = format!("250 {}\r\n", self.shared.config.hostname);
                    self.reply(t.as_bytes());
                } else if self.tls {
                    self.out.extend_from_slice(&self.shared.ehlo_tls);
                } else {
                    self.out.extend_from_slice(&self.shared.ehlo);
                }
            }
            b"STARTTLS" => {
                if self.shared.config.tls != TlsMode::StartTls || self.tls {
                    self.reply(b"502 5.5.1 STARTTLS not available\r\n");
                    return Ok(());
                }
                if self.start != self.end {
                    // RFC 3207: no pipelining past STARTTLS.
                    self.reply(b"554 5.5.1 Data after STARTTLS\r\n");
                    return Err(End::Close);
                }
                self.reply(b"220 2.0.0 Ready to start TLS\r\n");
                self.flush().map_err(|_| End::Close)?;
                self.start_tls()?;
                self.greeted = false;
                self.auth_user = None;
                self.reset_tx();
            }
            b"MAIL" => {
                if !self.greeted {
                    self.reply(b"503 5.5.1 Say EHLO first\r\n");
                } else if self.mail {
                    self.reply(b"503 5.5.1 Nested MAIL\r\n");
                } else if let Some(sz) = size_param(arg)
                    && self.shared.config.size_limit > 0
                    && sz > self.shared.config.size_limit
                {
                    self.reply(b"552 5.3.4 Message too big\r\n");
                } else {
                    let ok = b"250 2.1.0 Ok\r\n";
                    if self.command_fault(FaultPoint::Mail, ok)? == Outcome::Normal {
                        self.mail = true;
                        self.mail_from = address(arg.get(5..).unwrap_or_default());
                    }
                }
            }
            b"RCPT" => {
                if !self.mail {
                    self.reply(b"503 5.5.1 Need MAIL first\r\n");
                } else {
                    let ok = b"250 2.1.5 Ok\r\n";
                    if self.command_fault(FaultPoint::Rcpt, ok)? == Outcome::Normal {
                        self.rcpts.push(address(arg));
                    }
                }
            }
            b"DATA" => {
                if self.rcpts.is_empty() {
                    self.reply(b"554 5.5.1 No valid recipients\r\n");
                    return Ok(());
                }
                let go = b"354 End data with <CR><LF>.<CR><LF>\r\n";
                if self.command_fault(FaultPoint::Data, go)? == Outcome::Refused {
                    self.reset_tx();
                    return Ok(());
                }
                let mut cap = Capture::new(self.shared.config.record, self.keeping());
                if !self.read_data(&mut cap)? {
                    return Err(End::Close);
                }
                self.end_of_data(cap, true)?;
            }
            b"BDAT" => return self.bdat(arg),
            b"AUTH" => self.auth(arg),
            b"RSET" => {
                self.reset_tx();
                self.reply(b"250 2.0.0 Ok\r\n");
            }
            b"NOOP" => self.reply(b"250 2.0.0 Ok\r\n"),
            b"VRFY" => self.reply(b"252 2.0.0 Cannot verify\r\n"),
            b"QUIT" => {
                self.reply(b"221 2.0.0 Bye\r\n");
                return Err(End::Close);
            }
            b"XSTATS" => {
                let s = self.shared.record.stats();
                let t = format!(
                    "250 messages={} bytes={} sessions={} refused={} unanswered={}\r\n",
                    s.messages, s.bytes, s.sessions, s.refused, s.unanswered
                );
                self.reply(t.as_bytes());
            }
            _ => self.reply(b"502 5.5.2 Command not recognized\r\n"),
        }
        Ok(())
    }

    /// Reads DATA content up to and including `\r\n.\r\n`, feeding the content (up to and
    /// including the CRLF before the dot) to `cap`. Ok(false) at end of input.
    fn read_data(&mut self, cap: &mut Capture) -> Result<bool, End> {
        const END: &[u8] = b"\r\n.\r\n";
        let finder = memmem::Finder::new(END);
        // The last (up to 4) octets seen but not fed yet; starts as the DATA line's CRLF,
        // which is not content (`virt` octets of it).
        let mut tail = [b'\r', b'\n', 0, 0];
        let mut tail_len = 2;
        let mut virt = 2;
        loop {
            let chunk = &self.buf[self.start..self.end];
            // A terminator across the boundary starts in the tail.
            let mut w = [0u8; 8];
            let head = chunk.len().min(4);
            w[..tail_len].copy_from_slice(&tail[..tail_len]);
            w[tail_len..tail_len + head].copy_from_slice(&chunk[..head]);
            let found = finder
                .find(&w[..tail_len + head])
                .or_else(|| find_end(chunk).map(|p| p + tail_len));
            if let Some(m) = found {
                // Content = data[..m + 2] where data = tail ++ chunk.
                let content_end = m + 2;
                let from_tail = content_end.min(tail_len);
                if from_tail > virt {
                    cap.feed(&tail[virt..from_tail]);
                }
                if content_end > tail_len {
                    cap.feed(&chunk[..content_end - tail_len]);
                }
                self.start += m + END.len() - tail_len;
                return Ok(true);
            }
            // Not found: feed all but the last 4 octets of tail ++ chunk.
            let total = tail_len + chunk.len();
            let keep = total.min(4);
            let feed_to = total - keep;
            let from_tail = feed_to.min(tail_len);
            if from_tail > virt {
                cap.feed(&tail[virt..from_tail]);
            }
            virt = virt.saturating_sub(from_tail);
            if feed_to > tail_len {
                cap.feed(&chunk[..feed_to - tail_len]);
            }
            let mut nt = [0u8; 4];
            for (i, slot) in nt.iter_mut().enumerate().take(keep) {
                let pos = feed_to + i;
                *slot = if pos < tail_len {
                    tail[pos]
                } else {
                    chunk[pos - tail_len]
                };
            }
            virt = virt.min(keep);
            tail = nt;
            tail_len = keep;
            self.start = self.end;
            if !self.fill()? {
                return Ok(false);
            }
        }
    }

    /// Whether messages are kept whole.
    fn keeping(&self) -> bool {
        self.shared.config.keep_messages > 0
    }

    /// Keeps a delivered message whole (when keeping): `dotted` for DATA content.
    fn keep(&self, cap: &mut Capture, rcpts: &[String], dotted: bool) {
        if let Some((content, truncated)) = cap.take_kept(dotted) {
            let r = Received {
                mail_from: self.mail_from.clone(),
                recipients: rcpts.to_vec(),
                content,
                truncated,
                bdat: !dotted,
                tls: self.tls,
                auth_user: self.auth_user.clone(),
            };
            self.shared.record.keep(r, self.shared.config.keep_messages);
        }
    }

    /// `AUTH mechanism [initial-response]` (with [`Config::auth`](crate::Config::auth)).
    fn auth(&mut self, arg: &[u8]) {
        if self.shared.config.auth.is_none() {
            self.reply(b"502 5.5.1 AUTH not available\r\n");
            return;
        }
        if self.auth_user.is_some() {
            self.reply(b"503 5.5.1 Already authenticated\r\n");
            return;
        }
        if !self.greeted || self.mail {
            self.reply(b"503 5.5.1 AUTH not allowed now\r\n");
            return;
        }
        let mut words = arg.split(|&b| b == b' ').filter(|w| !w.is_empty());
        let mech = words.next().unwrap_or_default().to_ascii_uppercase();
        let initial = words.next();
        match (&mech[..], initial) {
            (b"PLAIN", None) => {
                self.reply(b"334 \r\n");
                self.auth_step = Some(AuthStep::Plain);
            }
            (b"PLAIN", Some(ir)) => self.auth_plain(ir),
            (b"LOGIN", None) => {
                self.reply(b"334 VXNlcm5hbWU6\r\n");
                self.auth_step = Some(AuthStep::LoginUser);
            }
            (b"LOGIN", Some(ir)) => self.auth_continue(AuthStep::LoginUser, ir),
            (b"XOAUTH2" | b"OAUTHBEARER", Some(ir)) => {
                let ok = decode(ir).is_some_and(|raw| self.token_ok(&raw));
                self.auth_result(ok);
            }
            _ => self.reply(b"504 5.5.4 Unrecognized authentication type\r\n"),
        }
    }

    /// The client's line in an AUTH exchange.
    fn auth_continue(&mut self, step: AuthStep, line: &[u8]) {
        if line == b"*" {
            self.reply(b"501 5.7.0 Authentication cancelled\r\n");
            return;
        }
        match step {
            AuthStep::Plain => self.auth_plain(line),
            AuthStep::LoginUser => match decode(line) {
                Some(user) => {
                    self.reply(b"334 UGFzc3dvcmQ6\r\n");
                    let user = String::from_utf8_lossy(&user).into_owned();
                    self.auth_step = Some(AuthStep::LoginPassword(user));
                }
                None => self.reply(b"501 5.5.2 Bad base64\r\n"),
            },
            AuthStep::LoginPassword(user) => {
                let ok = decode(line).is_some_and(|p| self.password_ok(user.as_bytes(), &p));
                if ok {
                    self.auth_user = Some(user);
                }
                self.auth_result(ok);
            }
        }
    }

    /// PLAIN's response: `authzid NUL user NUL password`.
    fn auth_plain(&mut self, b64: &[u8]) {
        let Some(raw) = decode(b64) else {
            self.reply(b"501 5.5.2 Bad base64\r\n");
            return;
        };
        let mut parts = raw.split(|&b| b == 0);
        let (_, user, pass) = (parts.next(), parts.next(), parts.next());
        let ok = match (user, pass, parts.next()) {
            (Some(u), Some(p), None) => self.password_ok(u, p),
            _ => false,
        };
        if ok && let Some(u) = user {
            self.auth_user = Some(String::from_utf8_lossy(u).into_owned());
        }
        self.auth_result(ok);
    }

    fn password_ok(&self, user: &[u8], password: &[u8]) -> bool {
        self.shared
            .config
            .auth
            .as_ref()
            .is_some_and(|a| a.user.as_bytes() == user && a.password.as_bytes() == password)
    }

    /// XOAUTH2 (`user=U^Aauth=Bearer T^A^A`) or OAUTHBEARER (`n,a=U,^Aauth=Bearer T^A^A`).
    fn token_ok(&mut self, raw: &[u8]) -> bool {
        let Some(a) = &self.shared.config.auth else {
            return false;
        };
        let Some(token) = &a.token else {
            return false;
        };
        let text = String::from_utf8_lossy(raw);
        let mut user = None;
        let mut bearer = None;
        for field in text.split(['\x01', ',']) {
            if let Some(u) = field
                .strip_prefix("user=")
                .or_else(|| field.strip_prefix("a="))
            {
                user = Some(u.to_owned());
            } else if let Some(t) = field.strip_prefix("auth=Bearer ") {
                bearer = Some(t.to_owned());
            }
        }
        let ok = user.as_deref() == Some(a.user.as_str()) && bearer.as_deref() == Some(token);
        if ok {
            self.auth_user = user;
        }
        ok
    }

    fn auth_result(&mut self, ok: bool) {
        if ok {
            self.reply(b"235 2.7.0 Authentication successful\r\n");
        } else {
            self.reply(b"535 5.7.8 Authentication credentials invalid\r\n");
        }
    }

    /// The final reply to a message whose content is in `cap` (`dotted`: DATA, not BDAT),
    /// with faults and records.
    fn end_of_data(&mut self, mut cap: Capture, dotted: bool) -> Step {
        let record = self.shared.record.clone();
        let rcpts = std::mem::take(&mut self.rcpts);
        self.reset_tx();
        let too_big = self.shared.config.size_limit > 0 && cap.size > self.shared.config.size_limit;
        let action = self.fault(FaultPoint::EndOfData);
        if too_big {
            record.refused_one(cap.key());
            self.reply(b"552 5.3.4 Message too big\r\n");
            for _ in 1..rcpts.len() * usize::from(self.shared.config.lmtp) {
                self.reply(b"552 5.3.4 Message too big\r\n");
            }
            return Ok(());
        }
        let ok = b"250 2.0.0 Ok: queued\r\n";
        match action {
            None | Some(FaultAction::Drip(_)) | Some(FaultAction::Reply(_))
                if self.shared.config.lmtp =>
            {
                // Per recipient, a Reply fault is drawn for each.
                let mut accepted = Vec::new();
                let mut replies = Vec::new();
                for (i, r) in rcpts.iter().enumerate() {
                    let refuse = match action {
                        Some(FaultAction::Reply(code)) if i == 0 => Some(code),
                        _ if i > 0 => match self.fault(FaultPoint::EndOfData) {
                            Some(FaultAction::Reply(code)) => Some(code),
                            _ => None,
                        },
                        _ => None,
                    };
                    match refuse {
                        Some(code) => replies.extend_from_slice(
                            format!("{code} {}.0.0 Fault injected for {r}\r\n", code / 100)
                                .as_bytes(),
                        ),
                        None => {
                            accepted.push(r.clone());
                            replies.extend_from_slice(ok);
                        }
                    }
                }
                let key = cap.key();
                if accepted.is_empty() {
                    record.refused_one(key);
                } else {
                    record.delivered(key, &accepted, cap.size, false);
                    self.keep(&mut cap, &accepted, dotted);
                }
                if let Some(FaultAction::Drip(d)) = action {
                    self.flush().map_err(|_| End::Close)?;
                    self.drip(&replies, d).map_err(|_| End::Close)?;
                } else {
                    self.out.extend_from_slice(&replies);
                }
            }
            None => {
                record.delivered(cap.key(), &rcpts, cap.size, false);
                self.keep(&mut cap, &rcpts, dotted);
                self.reply(ok);
            }
            Some(FaultAction::Reply(code)) => {
                record.refused_one(cap.key());
                self.reply(format!("{code} {}.0.0 Fault injected\r\n", code / 100).as_bytes());
            }
            Some(FaultAction::Close421) => {
                record.refused_one(cap.key());
                let n = if self.shared.config.lmtp {
                    rcpts.len()
                } else {
                    1
                };
                for _ in 0..n {
                    self.reply(b"421 4.3.0 Fault injected: closing\r\n");
                }
                return Err(End::Close);
            }
            Some(FaultAction::ResetBefore) => {
                let _ = self.flush();
                return Err(End::Reset);
            }
            Some(FaultAction::ResetAfter) => {
                record.delivered(cap.key(), &rcpts, cap.size, true);
                let _ = self.flush();
                return Err(End::Reset);
            }
            Some(FaultAction::CloseNoNotify) => {
                record.delivered(cap.key(), &rcpts, cap.size, true);
                let _ = self.flush();
                return Err(End::CloseNoNotify);
            }
            Some(FaultAction::Stall(d)) => {
                record.delivered(cap.key(), &rcpts, cap.size, true);
                let _ = self.flush();
                std::thread::sleep(d);
                let n = if self.shared.config.lmtp {
                    rcpts.len()
                } else {
                    1
                };
                for _ in 0..n {
                    self.reply(ok);
                }
            }
            Some(FaultAction::Drip(d)) => {
                record.delivered(cap.key(), &rcpts, cap.size, false);
                self.flush().map_err(|_| End::Close)?;
                self.drip(ok, d).map_err(|_| End::Close)?;
            }
        }
        Ok(())
    }

    fn bdat(&mut self, arg: &[u8]) -> Step {
        let mut words = arg
            .split(|&b| b == b' ')
            .filter(|w| !w.is_empty())
            .map(|w| w.to_ascii_uppercase());
        let size = words
            .next()
            .and_then(|w| std::str::from_utf8(&w).ok()?.parse::<u64>().ok());
        let last = words.next().is_some_and(|w| w == b"LAST");
        let Some(size) = size else {
            self.reply(b"501 5.5.4 BDAT needs a size\r\n");
            return Err(End::Close);
        };
        let first = self.bdat.is_none();
        if first && !self.bdat_failed && !self.rcpts.is_empty() {
            // A Data fault refuses the first chunk (and so the transaction).
            if let Some(action) = self.fault(FaultPoint::Data) {
                match action {
                    FaultAction::Reply(code) => {
                        self.skip(size, None)?;
                        self.reply(
                            format!("{code} {}.0.0 Fault injected\r\n", code / 100).as_bytes(),
                        );
                        self.bdat_failed = !last;
                        self.mail = false;
                        self.rcpts.clear();
                        return Ok(());
                    }
                    FaultAction::Close421 => {
                        self.reply(b"421 4.3.0 Fault injected: closing\r\n");
                        return Err(End::Close);
                    }
                    FaultAction::ResetBefore | FaultAction::ResetAfter => {
                        let _ = self.flush();
                        return Err(End::Reset);
                    }
                    FaultAction::CloseNoNotify => {
                        let _ = self.flush();
                        return Err(End::CloseNoNotify);
                    }
                    FaultAction::Stall(d) => {
                        let _ = self.flush();
                        std::thread::sleep(d);
                    }
                    FaultAction::Drip(_) => {}
                }
            }
            self.bdat = Some(Capture::new(self.shared.config.record, self.keeping()));
        }
        let Some(mut cap) = self.bdat.take() else {
            // No transaction (or refused): read the chunk and refuse it.
            self.skip(size, None)?;
            if self.bdat_failed {
                self.bdat_failed = !last;
                self.reply(b"554 5.5.1 Transaction already refused\r\n");
            } else {
                self.reply(b"503 5.5.1 No valid recipients\r\n");
            }
            return Ok(());
        };
        self.skip(size, Some(&mut cap))?;
        if last {
            self.end_of_data(cap, false)
        } else {
            let t = format!("250 2.0.0 {size} octets received\r\n");
            self.reply(t.as_bytes());
            self.bdat = Some(cap);
            Ok(())
        }
    }

    /// Consumes `n` octets of input, feeding them to `cap`.
    fn skip(&mut self, mut n: u64, mut cap: Option<&mut Capture>) -> Step {
        loop {
            let avail = (self.end - self.start) as u64;
            let take = avail.min(n) as usize;
            if let Some(c) = cap.as_deref_mut() {
                c.feed(&self.buf[self.start..self.start + take]);
            }
            self.start += take;
            n -= take as u64;
            if n == 0 {
                return Ok(());
            }
            if !self.fill()? {
                return Err(End::Close);
            }
        }
    }
}

/// The start of the first `\r\n.\r\n` lying wholly in `chunk`. Dots are rare in mail
/// while CRLFs are everywhere, so candidates are the dots (found with SIMD `memchr`),
/// each checked for a CRLF on either side.
fn find_end(chunk: &[u8]) -> Option<usize> {
    let n = chunk.len();
    memchr::memchr_iter(b'.', chunk)
        .find(|&p| {
            p >= 2 && p + 3 <= n && &chunk[p - 2..p] == b"\r\n" && &chunk[p + 1..p + 3] == b"\r\n"
        })
        .map(|p| p - 2)
}

/// Base64 (standard alphabet, padded); `None` when it is not.
fn decode(b64: &[u8]) -> Option<Vec<u8>> {
    if b64 == b"=" {
        return Some(Vec::new());
    }
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// The `SIZE=` parameter of a MAIL command's argument.
fn size_param(arg: &[u8]) -> Option<u64> {
    arg.split(|&b| b == b' ').find_map(|w| {
        (w.len() > 5 && w[..5].eq_ignore_ascii_case(b"SIZE="))
            .then(|| std::str::from_utf8(&w[5..]).ok()?.parse().ok())
            .flatten()
    })
}

/// The address between `<` and `>` of `TO:<addr> params`.
fn address(arg: &[u8]) -> String {
    let s = arg.iter().position(|&b| b == b'<');
    let e = arg.iter().position(|&b| b == b'>');
    match (s, e) {
        (Some(s), Some(e)) if e > s => String::from_utf8_lossy(&arg[s + 1..e]).into_owned(),
        _ => String::from_utf8_lossy(arg).into_owned(),
    }
}
