//! `smtpkit bulk`: many messages through a pool of connections (smtp-async's `Pool` on a
//! tokio runtime): `--count N` copies of one message (each with its own `Message-ID`), or
//! every `.eml` file of `--dir`. A progress bar on a terminal, a summary at the end
//! (throughput, and counts per outcome: delivered, refused, may have been delivered,
//! failed), and `--report FILE`: every failure as JSON.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use smtp_async::{Body, Endpoint, Pool, PoolConfig};
use smtp_client::{Envelope, Error, SendReport};

use crate::conn::{ConnArgs, UsageError};
use crate::send::{
    DEFAULT_FROM, DEFAULT_TO, MessageArgs, complete_headers, every_recipient_refused,
    header_sender, new_message_id, reply_json, report_of,
};
use crate::{EXIT_FAILED, EXIT_OK, one_line, usage_error};

/// `bulk`'s arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The connection.
    #[command(flatten)]
    pub(crate) conn: ConnArgs,
    /// The envelope sender. Default: each message's Sender/From header, else
    /// sender@example.test.
    #[arg(long, value_name = "ADDR")]
    pub(crate) from: Option<String>,
    /// An envelope recipient, repeatable. Default: each message's To/Cc/Bcc headers, or
    /// rcpt@example.test with the embedded server.
    #[arg(long, value_name = "ADDR")]
    pub(crate) to: Vec<String>,
    /// Send this many copies of the message (default 100).
    #[arg(long, value_name = "N", conflicts_with = "dir")]
    pub(crate) count: Option<usize>,
    /// Send every `.eml` file of this folder, once each (envelope from --from/--to or
    /// from each file's headers).
    #[arg(long, value_name = "FOLDER")]
    pub(crate) dir: Option<PathBuf>,
    /// The message (with --count).
    #[command(flatten)]
    pub(crate) message: MessageArgs,
    /// Connections at once (default 4).
    #[arg(long, short = 'c', value_name = "C", default_value_t = 4)]
    pub(crate) connections: usize,
    /// Send with BDAT (CHUNKING) rather than DATA.
    #[arg(long)]
    pub(crate) bdat: bool,
    /// Write every failure (message, outcome, reply, error) to this file as JSON.
    #[arg(long, value_name = "FILE")]
    pub(crate) report: Option<PathBuf>,
}

/// One message to send.
struct Job {
    /// Its name in the report: the file, or `copy N`.
    name: String,
    env: Envelope,
    content: Arc<Vec<u8>>,
}

/// What happened to one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// At least one recipient accepted it.
    Delivered,
    /// The server refused it (sender, every recipient, or the data).
    Refused,
    /// The end of data went unanswered: it may have been delivered.
    MaybeDelivered,
    /// The session failed before the end of data (not delivered).
    Failed,
}

impl Outcome {
    fn of(r: &Result<SendReport, Error>) -> Outcome {
        match r {
            Ok(rep) if rep.any_accepted() => Outcome::Delivered,
            Ok(_) => Outcome::Refused,
            Err(Error::DeliveryUnknown { .. }) => Outcome::MaybeDelivered,
            Err(
                Error::SenderRefused { .. }
                | Error::RecipientsRefused(_)
                | Error::DataRefused { .. },
            ) => Outcome::Refused,
            Err(_) => Outcome::Failed,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Refused => "refused",
            Outcome::MaybeDelivered => "may-have-been-delivered",
            Outcome::Failed => "failed",
        }
    }
}

/// The messages to send, from the flags.
fn jobs(args: &Args, embedded: bool) -> Result<Vec<Job>, UsageError> {
    let to = match (args.to.is_empty(), embedded) {
        (false, _) => Some(args.to.clone()),
        (true, true) => Some(vec![DEFAULT_TO.to_owned()]),
        (true, false) => None,
    };
    // The sender: --from, else the message's Sender/From, else the default (as `send`).
    let sender_of = |content: &[u8]| {
        args.from
            .clone()
            .or_else(|| header_sender(content))
            .unwrap_or_else(|| DEFAULT_FROM.to_owned())
    };
    // The recipients: --to (the message as is), else its To/Cc/Bcc (Bcc then stripped).
    let envelope_of = |content: &[u8], name: &str| -> Result<(Envelope, Vec<u8>), UsageError> {
        let from = sender_of(content);
        let (mut env, content) = match &to {
            Some(t) => {
                let t: Vec<&str> = t.iter().map(String::as_str).collect();
                smtp_client::envelope(&from, &t).map(|e| (e, content.to_vec()))
            }
            None => smtp_client::message_envelope(content, Some(&from), None),
        }
        .map_err(|e| UsageError(format!("{name}: {e}")))?;
        env.prefer_bdat = args.bdat;
        Ok((env, content))
    };
    if let Some(dir) = &args.dir {
        if args.message.builds() || args.message.body_file.is_some() {
            return Err(UsageError::new(
                "--dir sends the folder's files: no message flags with it",
            ));
        }
        let rd = std::fs::read_dir(dir)
            .map_err(|e| UsageError(format!("--dir {}: {e}", dir.display())))?;
        let mut paths: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x.eq_ignore_ascii_case("eml")))
            .collect();
        paths.sort();
        if paths.is_empty() {
            return Err(UsageError(format!("--dir {}: no .eml file", dir.display())));
        }
        let mut out = Vec::with_capacity(paths.len());
        for p in paths {
            let name = p.display().to_string();
            let raw = std::fs::read(&p).map_err(|e| UsageError(format!("{name}: {e}")))?;
            let raw = complete_headers(&raw, &sender_of(&raw));
            let (env, content) = envelope_of(&raw, &name)?;
            out.push(Job {
                name,
                env,
                content: Arc::new(content),
            });
        }
        return Ok(out);
    }
    let count = args.count.unwrap_or(100);
    if count == 0 {
        return Err(UsageError::new("--count must be at least 1"));
    }
    let sender = args.from.clone().unwrap_or_else(|| DEFAULT_FROM.to_owned());
    let rcpts = to.clone().unwrap_or_default();
    let base = match args.message.load(&sender, &rcpts, false)? {
        Some(m) => m,
        None => MessageArgs {
            subject: Some("smtpkit bulk test message".into()),
            body: Some("Hello from smtpkit bulk.\n".into()),
            ..MessageArgs::default()
        }
        .build(&sender, &rcpts)?,
    };
    // Each copy gets its own Message-ID: a copy is a message of its own.
    let base = smtp_client::strip_headers(&base, &["message-id"]);
    let (env, base) = envelope_of(&base, "the message")?;
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let mut content = format!("Message-ID: {}\r\n", new_message_id(&sender)).into_bytes();
        content.extend_from_slice(&base);
        out.push(Job {
            name: format!("copy {}", i + 1),
            env: env.clone(),
            content: Arc::new(content),
        });
    }
    Ok(out)
}

/// Runs `bulk`; returns the exit status.
pub(crate) fn run(args: Args) -> ExitCode {
    if args.connections == 0 {
        return usage_error("bulk", &"--connections must be at least 1");
    }
    let server_given = args.conn.server.is_some() || args.conn.unix.is_some();
    let jobs = match jobs(&args, !server_given) {
        Ok(j) => j,
        Err(e) => return usage_error("bulk", &e),
    };
    let prepared = match args.conn.prepare(false) {
        Ok(p) => p,
        Err(e) => return usage_error("bulk", &e),
    };
    let ep = match prepared.endpoint() {
        Ok(ep) => ep,
        Err(e) => return usage_error("bulk", &e),
    };
    let mut err = std::io::stderr();
    if args.conn.insecure {
        let _ = writeln!(
            err,
            "smtpkit bulk: WARNING: --insecure: the server's certificate is NOT verified; anyone on the path can read and change these sessions"
        );
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(err, "smtpkit bulk: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let total = jobs.len();
    let bar = if std::io::stderr().is_terminal() {
        let b = ProgressBar::new(total as u64);
        if let Ok(style) =
            ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} {per_sec} {msg}")
        {
            b.set_style(style.progress_chars("=> "));
        }
        b
    } else {
        ProgressBar::hidden()
    };
    let bytes: u64 = jobs.iter().map(|j| j.content.len() as u64).sum();
    let start = Instant::now();
    let results = rt.block_on(send_all(jobs, ep, args.connections, bar.clone()));
    let elapsed = start.elapsed();
    bar.finish_and_clear();

    let mut counts = [0usize; 4];
    let mut failures = Vec::new();
    let mut first_failure = None;
    for (name, r) in &results {
        let o = Outcome::of(r);
        counts[o as usize] += 1;
        if o != Outcome::Delivered {
            first_failure.get_or_insert_with(|| (name.clone(), describe(r)));
            failures.push(failure_json(name, o, r));
        }
    }
    let secs = elapsed.as_secs_f64().max(1e-9);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "sent {total} messages to {} in {:.3} s over at most {} connections: {:.1} msg/s, {:.2} MB/s",
        prepared.describe(),
        secs,
        args.connections,
        total as f64 / secs,
        bytes as f64 / secs / 1e6
    );
    let _ = writeln!(
        out,
        "delivered {}, refused {}, may-have-been-delivered {}, failed {}",
        counts[0], counts[1], counts[2], counts[3]
    );
    if let Some(path) = &args.report {
        let doc = json!({
            "total": total,
            "seconds": secs,
            "delivered": counts[0],
            "refused": counts[1],
            "may_have_been_delivered": counts[2],
            "failed": counts[3],
            "failures": failures,
        });
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        if let Err(e) = std::fs::write(path, text + "\n") {
            let _ = writeln!(err, "smtpkit bulk: --report {}: {e}", path.display());
            return ExitCode::from(EXIT_FAILED);
        }
    }
    match first_failure {
        None => ExitCode::from(EXIT_OK),
        Some((name, why)) => {
            let _ = writeln!(
                err,
                "smtpkit bulk: {} of {total} not delivered; first: {name}: {why}",
                total - counts[0]
            );
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// Sends every job through a pool of at most `conns` connections (one worker per
/// connection, each taking the next job), in job order in the result.
async fn send_all(
    jobs: Vec<Job>,
    ep: Endpoint,
    conns: usize,
    bar: ProgressBar,
) -> Vec<(String, Result<SendReport, Error>)> {
    let mut cfg = PoolConfig::default();
    cfg.max_connections = conns;
    let pool = Pool::new(cfg);
    let jobs = Arc::new(jobs);
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..conns.min(jobs.len()) {
        let (pool, ep, jobs, next, bar) = (
            pool.clone(),
            ep.clone(),
            jobs.clone(),
            next.clone(),
            bar.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                let r = pool
                    .send(&ep, job.env.clone(), Body::Bytes(job.content.as_slice()))
                    .await;
                bar.inc(1);
                done.push((i, r));
            }
            done
        }));
    }
    let mut results: Vec<Option<Result<SendReport, Error>>> =
        (0..jobs.len()).map(|_| None).collect();
    for w in workers {
        if let Ok(done) = w.await {
            for (i, r) in done {
                results[i] = Some(r);
            }
        }
    }
    pool.close().await;
    // A worker that died (it cannot: nothing in it panics) leaves its jobs unsent.
    let lost = || Err(Error::InvalidInput("not sent: a worker stopped".into()));
    jobs.iter()
        .zip(results)
        .map(|(j, r)| (j.name.clone(), r.unwrap_or_else(lost)))
        .collect()
}

/// One line for a result that was not a delivery.
fn describe(r: &Result<SendReport, Error>) -> String {
    match r {
        Ok(rep) => one_line(
            &rep.recipients
                .iter()
                .find_map(|x| x.reply.as_ref().map(ToString::to_string))
                .unwrap_or_else(|| "refused".into()),
        ),
        Err(Error::RecipientsRefused(rep)) => one_line(&every_recipient_refused(rep)),
        Err(e) => one_line(&e.to_string()),
    }
}

/// A failure for the `--report` file.
fn failure_json(name: &str, o: Outcome, r: &Result<SendReport, Error>) -> serde_json::Value {
    let report = match r {
        Ok(rep) => Some(rep),
        Err(e) => report_of(e),
    };
    let recipients: Vec<_> = report
        .map(|rep| {
            rep.recipients
                .iter()
                .map(|x| {
                    let mut v = reply_json(x.reply.as_ref());
                    v["recipient"] = json!(x.recipient);
                    v["accepted"] = json!(x.accepted);
                    v["detail"] = json!(x.status.to_string());
                    v
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "message": name,
        "outcome": o.name(),
        "error": r.as_ref().err().map(ToString::to_string),
        "retry_safe": r.as_ref().err().map(Error::is_retry_safe),
        "recipients": recipients,
    })
}
