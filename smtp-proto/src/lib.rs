//! # smtp-proto: the sans-IO core of an SMTP/LMTP client
//!
//! This crate consumes server reply bytes and produces command bytes. It never touches a
//! socket, a clock, a thread, an async runtime or TLS: the `smtp-blocking` and `smtp-async`
//! crates (or your own event loop) move the bytes.
//!
//! The wire layer, each part usable on its own:
//!
//! - [`reply`]: an incremental [`ReplyReader`] that frames CRLF lines under hard limits
//!   and parses each line with a `nom` grammar, yielding [`ReplyRef`]/[`Reply`] values with
//!   the [`ReplyCode`], the RFC 3463 [`EnhancedStatus`] and the raw text lines;
//! - [`ehlo`]: [`Capabilities`], a typed view of an EHLO/LHLO reply;
//! - [`command`]: validated command arguments and an encoder that cannot emit CR, LF or NUL
//!   inside a command line;
//! - [`body`]: streaming DATA (dot-stuffing, CRLF normalisation) and BDAT encoders;
//! - [`sasl`]: SASL mechanisms (PLAIN, LOGIN, CRAM-MD5, XOAUTH2, OAUTHBEARER, SCRAM-SHA-256).
//!
//! ```
//! use smtp_proto::{ReplyReader, ReplyCode};
//!
//! let mut reader = ReplyReader::new();
//! reader.push(b"250-mail.example.com Hello\r\n250-PIPE");
//! assert!(reader.next_reply().is_none()); // incomplete: wait for more bytes
//! reader.push(b"LINING\r\n250 2.0.0 SIZE 1000\r\n");
//! let reply = reader.next_reply().unwrap().unwrap();
//! assert_eq!(reply.code(), ReplyCode::OK);
//! assert_eq!(reply.lines().count(), 3);
//! ```
//!
//! ## Driving a session
//!
//! [`session::Client`] is the whole SMTP/LMTP session as a state machine. A driver is one
//! `match` on [`next_action`](session::Client::next_action) in a loop; after every input or
//! command, drain [`poll_event`](session::Client::poll_event) and write
//! [`pending_output`](session::Client::pending_output) before blocking on I/O. Time comes
//! in as an argument; the next deadline goes out through
//! [`poll_timeout`](session::Client::poll_timeout), and there is one whenever the driver
//! is to write or read. The invariants:
//!
//! - **wait for readability/writability at most until `poll_timeout()`, then call
//!   `handle_timeout(now)`** (with the current time; early calls do nothing). A driver that
//!   does so never hangs, even on a server that stops reading;
//! - a failed write (EPIPE, ECONNRESET, ...) goes to
//!   [`handle_write_error`](session::Client::handle_write_error), a failed read to
//!   [`handle_io_error`](session::Client::handle_io_error), end of stream to
//!   [`handle_eof`](session::Client::handle_eof); the core decides what follows (after a
//!   write error it may ask to read the replies already on their way, never to write).
//!
//! This complete blocking driver (std `TcpStream`, no TLS) sends one message to a scripted
//! server on loopback:
//!
//! ```
//! use std::io::{ErrorKind, Read, Write};
//! use std::net::TcpStream;
//! use std::time::{Duration, Instant};
//!
//! use smtp_proto::command::{Domain, ForwardPath, ReversePath};
//! use smtp_proto::session::{Action, Client, Config, Envelope, Event, TlsPolicy};
//!
//! # fn scripted_server() -> std::net::SocketAddr {
//! #     use std::io::BufRead;
//! #     let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
//! #     let addr = listener.local_addr().unwrap();
//! #     std::thread::spawn(move || {
//! #         let (s, _) = listener.accept().unwrap();
//! #         let mut w = s.try_clone().unwrap();
//! #         let mut r = std::io::BufReader::new(s);
//! #         w.write_all(b"220 mx.example.net ESMTP\r\n").unwrap();
//! #         let mut line = String::new();
//! #         while { line.clear(); r.read_line(&mut line).unwrap() > 0 } {
//! #             let reply: &[u8] = match &line[..4] {
//! #                 "EHLO" => b"250-mx.example.net\r\n250 PIPELINING\r\n",
//! #                 "DATA" => b"354 go ahead\r\n",
//! #                 "QUIT" => b"221 bye\r\n",
//! #                 _ => b"250 ok\r\n",
//! #             };
//! #             w.write_all(reply).unwrap();
//! #             if line.starts_with("DATA") {
//! #                 while { line.clear(); r.read_line(&mut line).unwrap(); line != ".\r\n" } {}
//! #                 w.write_all(b"250 2.0.0 queued\r\n").unwrap();
//! #             }
//! #         }
//! #     });
//! #     addr
//! # }
//! # let addr = scripted_server();
//! let stream = TcpStream::connect(addr)?;
//! stream.set_nodelay(true)?; // the end of data must not wait for Nagle
//! let mut cfg = Config::new(Domain::parse("client.example")?);
//! cfg.tls = TlsPolicy::Never; // this example has no TLS
//! let mut client = Client::new(cfg, Instant::now());
//! let from = ReversePath::parse("<alice@example.org>")?;
//! client.send_mail(Envelope::new(from, [ForwardPath::parse("<bob@example.net>")?]))?;
//! client.quit()?;
//!
//! let mut body: &[u8] = b"Subject: hello\r\n\r\nHi Bob.\r\n";
//! let mut buf = [0u8; 4096];
//! let mut delivered = false;
//! loop {
//!     while let Some(event) = client.poll_event() {
//!         if let Event::TransactionDone(outcome) = event {
//!             delivered = outcome.any_accepted();
//!         }
//!     }
//!     // Wait at most until the core's deadline (`None`: no deadline).
//!     let wait = client.poll_timeout().map(|deadline| {
//!         deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1))
//!     });
//!     let timed_out = |e: &std::io::Error| {
//!         matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
//!     };
//!     match client.next_action() {
//!         Action::Write => {
//!             stream.set_write_timeout(wait)?;
//!             match (&stream).write(client.pending_output()) {
//!                 Ok(n) => client.consume_output(n, Instant::now()),
//!                 Err(e) if timed_out(&e) => client.handle_timeout(Instant::now()),
//!                 Err(_) => client.handle_write_error(Instant::now()),
//!             }
//!         }
//!         Action::Read => {
//!             stream.set_read_timeout(wait)?;
//!             match (&stream).read(&mut buf) {
//!                 Ok(0) => client.handle_eof(Instant::now()),
//!                 Ok(n) => client.handle_input(Instant::now(), &buf[..n])?,
//!                 Err(e) if timed_out(&e) => client.handle_timeout(Instant::now()),
//!                 Err(_) => client.handle_io_error(Instant::now()),
//!             }
//!         }
//!         Action::SupplyBody(_) => {
//!             let n = client.write_body(body)?; // may take less: backpressure
//!             body = &body[n..];
//!             if body.is_empty() {
//!                 client.finish_body()?;
//!             }
//!         }
//!         Action::StartTls => unreachable!("TLS is off in this example"),
//!         Action::Idle | Action::Closed => break,
//!     }
//! }
//! assert!(delivered);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod body;
pub mod command;
pub mod ehlo;
pub mod reply;
pub mod sasl;
pub mod session;

pub use ehlo::Capabilities;
pub use reply::{EnhancedStatus, Reply, ReplyCode, ReplyError, ReplyLimits, ReplyReader, ReplyRef};
