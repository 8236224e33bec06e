//! `smtpkit send`: one message, every recipient's result.
//!
//! The message comes from `--body-file` (or stdin with `--server`), or is built with the
//! MIME builder (`mail-builder`) from `--subject`, `--header`, `--body` and `--attach`;
//! `Date` and `Message-ID` are added when missing. `--quit-after` stops after a step and
//! QUITs, as swaks does. Results: one line per recipient (`recipient<TAB>verdict<TAB>reply`)
//! or, with `--json`, one JSON object per recipient per line.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};
use smtp_blocking::{Body, SmtpClient};
use smtp_client::proto::command::{MailParams, RcptParams};
use smtp_client::proto::session::{Event, RcptStatus};
use smtp_client::{Error, Feeds, Operation, RecipientResult, Reply, SendReport, Session};

use crate::conn::{ConnArgs, Prepared, Target, UsageError};
use crate::{EXIT_FAILED, EXIT_OK, one_line, usage_error};

/// The sender used with the embedded server when none is given.
pub(crate) const DEFAULT_FROM: &str = "sender@example.test";
/// The recipient used with the embedded server when none is given.
pub(crate) const DEFAULT_TO: &str = "rcpt@example.test";

/// Where `--quit-after` stops (swaks' stop points), in session order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub(crate) enum QuitAfter {
    /// Once connected, before the greeting is read (no QUIT: the server has not spoken).
    Connect,
    /// After the greeting.
    Greeting,
    /// After the first EHLO/LHLO (before STARTTLS).
    Ehlo,
    /// After STARTTLS and the EHLO that follows (or the first EHLO without TLS).
    Tls,
    /// After AUTH.
    Auth,
    /// After MAIL FROM.
    Mail,
    /// After every RCPT TO.
    Rcpt,
}

/// The message flags (shared with `bulk`).
#[derive(Clone, Debug, Default, clap::Args)]
pub(crate) struct MessageArgs {
    /// The message (RFC 5322, as is) from this file; `-` for stdin. Without it and
    /// without the flags below, the message is read from stdin when --server is given.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["subject", "header", "body", "attach"])]
    pub(crate) body_file: Option<PathBuf>,
    /// Build the message (MIME) with this subject.
    #[arg(long, value_name = "TEXT")]
    pub(crate) subject: Option<String>,
    /// A header field for the built message, `Name: value` (repeatable).
    #[arg(long, value_name = "NAME: VALUE")]
    pub(crate) header: Vec<String>,
    /// The built message's text body.
    #[arg(long, value_name = "TEXT")]
    pub(crate) body: Option<String>,
    /// Attach this file to the built message (repeatable).
    #[arg(long, value_name = "FILE")]
    pub(crate) attach: Vec<PathBuf>,
}

/// `send`'s arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The connection.
    #[command(flatten)]
    pub(crate) conn: ConnArgs,
    /// The envelope sender (MAIL FROM). Default: the message's Sender/From header, else
    /// sender@example.test.
    #[arg(long, value_name = "ADDR")]
    pub(crate) from: Option<String>,
    /// An envelope recipient (RCPT TO), repeatable; required with --server/--unix.
    #[arg(long, value_name = "ADDR")]
    pub(crate) to: Vec<String>,
    /// The message.
    #[command(flatten)]
    pub(crate) message: MessageArgs,
    /// Send the message with BDAT (CHUNKING) rather than DATA.
    #[arg(long)]
    pub(crate) bdat: bool,
    /// Stop after this step and QUIT (swaks' debugging flag); implies the transcript.
    #[arg(long, value_enum, value_name = "STEP")]
    pub(crate) quit_after: Option<QuitAfter>,
    /// Print the results as JSON, one object per recipient per line.
    #[arg(long)]
    pub(crate) json: bool,
}

impl MessageArgs {
    /// Whether the message is built from the flags.
    pub(crate) fn builds(&self) -> bool {
        self.subject.is_some()
            || !self.header.is_empty()
            || self.body.is_some()
            || !self.attach.is_empty()
    }

    /// The message: built, read from `--body-file`, or from stdin when `stdin_default`
    /// (`None` when none of these applies). `Date` and `Message-ID` are added when
    /// missing.
    pub(crate) fn load(
        &self,
        from: &str,
        to: &[String],
        stdin_default: bool,
    ) -> Result<Option<Vec<u8>>, UsageError> {
        if self.builds() {
            return self.build(from, to).map(Some);
        }
        let raw = match &self.body_file {
            Some(p) if p.as_os_str() == "-" => read_stdin()?,
            Some(p) => std::fs::read(p)
                .map_err(|e| UsageError(format!("--body-file {}: {e}", p.display())))?,
            None if stdin_default => read_stdin()?,
            None => return Ok(None),
        };
        if raw.is_empty() {
            return Err(UsageError::new("the message is empty"));
        }
        Ok(Some(complete_headers(&raw, from)))
    }

    /// Builds the message with the MIME builder: From, To, Subject, the extra headers, a
    /// text body and attachments (Date and Message-ID are the builder's).
    pub(crate) fn build(&self, from: &str, to: &[String]) -> Result<Vec<u8>, UsageError> {
        use mail_builder::MessageBuilder;
        use mail_builder::headers::raw::Raw;

        let mut extra = Vec::new();
        for h in &self.header {
            let (name, value) = h
                .split_once(':')
                .ok_or_else(|| UsageError(format!("bad --header {h:?}: expected `Name: value`")))?;
            let name = name.trim();
            let good_name =
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':');
            if !good_name || value.contains(['\r', '\n']) {
                return Err(UsageError(format!(
                    "bad --header {h:?}: expected `Name: value`"
                )));
            }
            extra.push((name.to_owned(), value.trim().to_owned()));
        }
        let named = |n: &str| extra.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
        let mut b = MessageBuilder::new();
        if !named("From") {
            b = b.from(from.to_owned());
        }
        if !named("To") && !to.is_empty() {
            b = b.to(to.to_vec());
        }
        if let Some(s) = &self.subject {
            b = b.subject(s.clone());
        }
        for (name, value) in extra {
            // The builder spells these two its own way when it checks for them.
            let name = match name.to_ascii_lowercase().as_str() {
                "date" => "Date".to_owned(),
                "message-id" => "Message-ID".to_owned(),
                _ => name,
            };
            b = b.header(name, Raw::new(value));
        }
        b = b.text_body(self.body.clone().unwrap_or_default());
        for path in &self.attach {
            let content = std::fs::read(path)
                .map_err(|e| UsageError(format!("--attach {}: {e}", path.display())))?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "attachment".into());
            b = b.attachment(content_type(path), name, content);
        }
        b.write_to_vec()
            .map_err(|e| UsageError(format!("building the message: {e}")))
    }
}

fn read_stdin() -> Result<Vec<u8>, UsageError> {
    let mut m = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut m)
        .map_err(|e| UsageError(format!("stdin: {e}")))?;
    Ok(m)
}

/// The MIME type of an attachment, from its extension.
fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "txt" | "text" | "log" => "text/plain",
        "htm" | "html" => "text/html",
        "csv" => "text/csv",
        "eml" => "message/rfc822",
        "json" => "application/json",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

/// Whether the header section of `raw` has a field `name` (case-insensitive).
pub(crate) fn has_header(raw: &[u8], name: &str) -> bool {
    for line in raw.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return false;
        }
        if let Some(colon) = line.iter().position(|&b| b == b':')
            && line[..colon]
                .trim_ascii_end()
                .eq_ignore_ascii_case(name.as_bytes())
        {
            return true;
        }
    }
    false
}

/// The message's `Sender`, else its first `From` address (as smtplib's `send_message`).
pub(crate) fn header_sender(raw: &[u8]) -> Option<String> {
    let msg = mail_parser::MessageParser::new().parse_headers(raw)?;
    let first = |a: Option<&mail_parser::Address<'_>>| {
        a.and_then(|a| a.first())
            .and_then(|a| a.address())
            .map(str::to_owned)
    };
    first(msg.sender()).or_else(|| first(msg.from()))
}

/// A new `Message-ID` value in the domain of `from` (`smtpkit.localhost` when it has none).
pub(crate) fn new_message_id(from: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let domain = from
        .rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('>'))
        .filter(|d| {
            !d.is_empty()
                && d.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-[]:".contains(&b))
        })
        .unwrap_or("smtpkit.localhost");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "<{:x}.{:x}.{:x}.{}@{domain}>",
        now.as_secs(),
        now.subsec_nanos(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// `raw` with `Date` and `Message-ID` fields added in front when missing.
pub(crate) fn complete_headers(raw: &[u8], from: &str) -> Vec<u8> {
    let mut head = String::new();
    if !has_header(raw, "date") {
        head.push_str(&format!(
            "Date: {}\r\n",
            mail_builder::headers::date::Date::now().to_rfc822()
        ));
    }
    if !has_header(raw, "message-id") {
        head.push_str(&format!("Message-ID: {}\r\n", new_message_id(from)));
    }
    let mut out = head.into_bytes();
    out.extend_from_slice(raw);
    out
}

/// Reads the greeting, then stops (for `--quit-after greeting`).
struct UntilGreeting;

impl<'b, R: ?Sized> Operation<'b, R> for UntilGreeting {
    type Output = ();

    fn start(&mut self, _: &mut Session, _: &mut Feeds<'b, R>) -> Result<(), Error> {
        Ok(())
    }

    fn event(
        &mut self,
        ev: Event,
        _: &mut Session,
        _: &mut Feeds<'b, R>,
    ) -> Option<Result<(), Error>> {
        match ev {
            Event::Greeting(r) if r.is_positive() => Some(Ok(())),
            Event::Greeting(r) => Some(Err(Error::HeloRefused(r))),
            _ => None,
        }
    }

    fn finish(&mut self, s: &mut Session) -> Result<(), Error> {
        Err(s.closed_error())
    }
}

/// Sends QUIT at once, whatever the session was about to do next (the EHLO after the
/// greeting), and closes without waiting for the reply.
struct QuitNow;

impl<'b, R: ?Sized> Operation<'b, R> for QuitNow {
    type Output = ();

    fn start(&mut self, s: &mut Session, _: &mut Feeds<'b, R>) -> Result<(), Error> {
        s.abort();
        Ok(())
    }

    fn event(
        &mut self,
        _: Event,
        _: &mut Session,
        _: &mut Feeds<'b, R>,
    ) -> Option<Result<(), Error>> {
        None
    }

    fn finish(&mut self, _: &mut Session) -> Result<(), Error> {
        Ok(())
    }
}

/// How a session ended.
enum Outcome {
    /// The message was sent: every recipient's result.
    Sent(SendReport),
    /// `--quit-after` stopped it: the replies of the last step (MAIL, or each RCPT), and
    /// whether they were positive.
    Stopped(Vec<(String, Reply)>, bool),
}

/// Runs `send`; returns the exit status.
pub(crate) fn run(args: Args) -> ExitCode {
    let server_given = args.conn.server.is_some() || args.conn.unix.is_some();
    if server_given && args.to.is_empty() {
        return usage_error("send", &"--to is required with --server or --unix");
    }
    let to = match args.to.is_empty() {
        true => vec![DEFAULT_TO.to_owned()],
        false => args.to.clone(),
    };
    let header_from = args.from.is_none() && !args.message.builds();
    let from0 = args.from.clone().unwrap_or_else(|| DEFAULT_FROM.to_owned());
    let message = match args.message.load(&from0, &to, server_given) {
        Ok(Some(m)) => m,
        Ok(None) => sample_message(&from0, &to),
        Err(e) => return usage_error("send", &e),
    };
    // Without --from: the message's own sender (smtplib's send_message), else the default.
    let from = match (&args.from, header_from) {
        (Some(f), _) => f.clone(),
        (None, true) => header_sender(&message).unwrap_or_else(|| DEFAULT_FROM.to_owned()),
        (None, false) => from0,
    };
    let to_refs: Vec<&str> = to.iter().map(String::as_str).collect();
    let mut env = match smtp_client::sendmail_envelope(
        &from,
        &to_refs,
        MailParams::default(),
        RcptParams::default(),
    ) {
        Ok(e) => e,
        Err(e) => return usage_error("send", &e),
    };
    env.prefer_bdat = args.bdat;
    let prepared = match args.conn.prepare(true) {
        Ok(p) => p,
        Err(e) => return usage_error("send", &e),
    };
    let mut err = std::io::stderr().lock();
    if args.conn.insecure {
        let _ = writeln!(
            err,
            "smtpkit send: WARNING: --insecure: the server's certificate is NOT verified; anyone on the path can read and change this session"
        );
    }
    let embedded = prepared.target == Target::Embedded;
    let show_transcript = args.conn.verbose || embedded || args.quit_after.is_some();

    let mut client = None;
    let mut transcript = Vec::new();
    let result = session(
        &prepared,
        &args,
        &mut client,
        &mut transcript,
        (&from, &to),
        env,
        &message,
    );
    if let Some(c) = &mut client {
        transcript.extend(c.take_transcript());
    }
    if show_transcript {
        for line in transcript {
            let _ = writeln!(err, "{line}");
        }
    }
    drop(client);
    if let Some(e) = &prepared.embedded {
        let _ = e.show(&mut err, args.conn.verbose);
    }
    let mut out = std::io::stdout().lock();
    let code = match result {
        Ok(Outcome::Sent(report)) => {
            print_report(&mut out, &report, None, args.json);
            EXIT_OK
        }
        Ok(Outcome::Stopped(replies, ok)) => {
            for (what, reply) in &replies {
                if args.json {
                    let mut v = reply_json(Some(reply));
                    v["step"] = json!(what);
                    let _ = writeln!(out, "{v}");
                } else {
                    let _ = writeln!(out, "{what}\t{}", one_line(&reply.to_string()));
                }
            }
            if ok {
                EXIT_OK
            } else {
                let last = replies
                    .last()
                    .map(|(_, r)| one_line(&r.to_string()))
                    .unwrap_or_default();
                let _ = writeln!(err, "smtpkit send: refused: {last}");
                EXIT_FAILED
            }
        }
        Err(e) => {
            let report = report_of(&e);
            match report {
                Some(r) => print_report(&mut out, r, Some(&e), args.json),
                None if args.json => {
                    for t in &to {
                        let mut v = reply_json(None);
                        v["recipient"] = json!(t);
                        v["accepted"] = json!(false);
                        v["status"] = json!("failed");
                        v["error"] = json!(e.to_string());
                        let _ = writeln!(out, "{v}");
                    }
                }
                None => {}
            }
            let _ = writeln!(err, "smtpkit send: {}", describe_error(&e));
            EXIT_FAILED
        }
    };
    ExitCode::from(code)
}

/// The session: connect, the steps up to `--quit-after`, or the whole message. The
/// transcript of what `--quit-after` cut short goes to `transcript`; the rest stays in
/// the client.
fn session(
    prepared: &Prepared,
    args: &Args,
    client: &mut Option<SmtpClient>,
    transcript: &mut Vec<String>,
    (from, to): (&str, &[String]),
    env: smtp_client::Envelope,
    message: &[u8],
) -> Result<Outcome, Error> {
    let quit_after = args.quit_after;
    let mut opts = prepared.options.clone();
    if quit_after == Some(QuitAfter::Ehlo) && opts.core.tls != smtp_client::TlsPolicy::Implicit {
        // Stop before STARTTLS: the first EHLO is all this run is about.
        opts.core.tls = smtp_client::TlsPolicy::Never;
    }
    let stopped = || Ok(Outcome::Stopped(Vec::new(), true));
    let c = client.insert(prepared.open_blocking_with(opts)?);
    match quit_after {
        Some(QuitAfter::Connect) => {
            transcript.push(format!("=== connected to {}; closing", prepared.describe()));
            c.close();
            // Closing logs a QUIT that is never written: the server has not spoken yet.
            let _ = c.take_transcript();
            return stopped();
        }
        Some(QuitAfter::Greeting) => {
            c.execute(UntilGreeting)?;
            // The core queued EHLO on the greeting (and logged it), but it is not written:
            // QUIT replaces it.
            let mut t = c.take_transcript();
            while t
                .last()
                .is_some_and(|l| l.starts_with("C: EHLO") || l.starts_with("C: LHLO"))
            {
                t.pop();
            }
            transcript.extend(t);
            c.execute(QuitNow)?;
            return stopped();
        }
        _ => {}
    }
    c.ehlo_or_helo_if_needed()?;
    if matches!(quit_after, Some(QuitAfter::Ehlo | QuitAfter::Tls)) {
        c.quit()?;
        return stopped();
    }
    prepared.login_blocking(c)?;
    if quit_after == Some(QuitAfter::Auth) {
        c.quit()?;
        return stopped();
    }
    if let Some(q @ (QuitAfter::Mail | QuitAfter::Rcpt)) = quit_after {
        let mail = c.mail(from, MailParams::default())?;
        let mut ok = mail.is_positive();
        let mut replies = vec![(format!("MAIL FROM:<{from}>"), mail)];
        if q == QuitAfter::Rcpt && ok {
            replies.clear();
            let mut any = false;
            for t in to {
                let r = c.rcpt(t, RcptParams::default())?;
                any |= r.is_positive();
                replies.push((format!("RCPT TO:<{t}>"), r));
            }
            ok = any;
        }
        c.quit()?;
        return Ok(Outcome::Stopped(replies, ok));
    }
    let report = c.send(env, Body::Bytes(message));
    let _ = c.quit();
    report.map(Outcome::Sent)
}

/// The report an error carries, if any.
pub(crate) fn report_of(e: &Error) -> Option<&SendReport> {
    match e {
        Error::RecipientsRefused(r) => Some(r),
        Error::SenderRefused { report, .. }
        | Error::DataRefused { report, .. }
        | Error::DeliveryUnknown { report, .. } => Some(report),
        _ => None,
    }
}

/// One line saying what went wrong, with the server's reply and whose fault it was.
fn describe_error(e: &Error) -> String {
    let fault = match e.fault() {
        smtp_client::Fault::Peer => "server",
        smtp_client::Fault::Caller => "caller",
        smtp_client::Fault::Io => "network",
        smtp_client::Fault::Proxy => "proxy",
    };
    let text = match e {
        Error::RecipientsRefused(r) => every_recipient_refused(r),
        Error::TlsUnavailable(_) => {
            format!("{e} (smtpkit: use --starttls-optional, or no TLS flag, to send without TLS)")
        }
        _ => e.to_string(),
    };
    format!("{} ({fault} fault)", one_line(&text))
}

/// "every recipient was refused", with the first reply there is.
pub(crate) fn every_recipient_refused(r: &SendReport) -> String {
    match r.recipients.iter().find_map(|x| x.reply.as_ref()) {
        Some(reply) => format!("every recipient was refused: {reply}"),
        None => "every recipient was refused".to_owned(),
    }
}

/// The verdict word of a recipient.
fn verdict(r: &RecipientResult) -> &'static str {
    match &r.status {
        RcptStatus::Accepted(_) => "accepted",
        RcptStatus::Refused(..) => "refused",
        RcptStatus::Deferred(..) => "deferred",
        RcptStatus::NotDelivered(_) => "not-delivered",
        RcptStatus::Unknown(_) => "unknown",
    }
}

/// A reply as JSON: code, enhanced status, full text.
pub(crate) fn reply_json(reply: Option<&Reply>) -> Value {
    match reply {
        Some(r) => json!({
            "code": r.code().get(),
            "enhanced": r.enhanced().map(|x| x.to_string()),
            "reply": r.to_string(),
        }),
        None => json!({ "code": null, "enhanced": null, "reply": null }),
    }
}

/// One recipient's result as JSON.
fn recipient_json(r: &RecipientResult, error: Option<&Error>) -> Value {
    let mut v = reply_json(r.reply.as_ref());
    v["recipient"] = json!(r.recipient);
    v["accepted"] = json!(r.accepted);
    v["status"] = json!(verdict(r));
    v["stage"] = match &r.status {
        RcptStatus::Refused(s, _) | RcptStatus::Deferred(s, _) => json!(s.to_string()),
        _ => Value::Null,
    };
    v["detail"] = json!(r.status.to_string());
    if !r.accepted
        && r.reply.is_none()
        && let Some(e) = error
    {
        v["error"] = json!(e.to_string());
    }
    v
}

/// Prints every recipient: `recipient<TAB>verdict<TAB>reply`, or JSON lines.
fn print_report(out: &mut dyn Write, r: &SendReport, error: Option<&Error>, json: bool) {
    for rcpt in &r.recipients {
        if json {
            let _ = writeln!(out, "{}", recipient_json(rcpt, error));
            continue;
        }
        let reply = match &rcpt.reply {
            Some(reply) => one_line(&reply.to_string()),
            None => one_line(&rcpt.status.to_string()),
        };
        let _ = writeln!(out, "{}\t{}\t{reply}", rcpt.recipient, verdict(rcpt));
    }
}

/// The sample message sent to the embedded server when no message is given.
fn sample_message(from: &str, to: &[String]) -> Vec<u8> {
    let args = MessageArgs {
        subject: Some("smtpkit test message".into()),
        body: Some("Hello from smtpkit.\n".into()),
        ..MessageArgs::default()
    };
    args.build(from, to).unwrap_or_else(|_| {
        complete_headers(
            b"Subject: smtpkit test message\r\n\r\nHello from smtpkit.\r\n",
            from,
        )
    })
}
