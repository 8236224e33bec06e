//! OAuth logins with a token provider, driven with scripted server bytes through an
//! `Exchange`: the token is refreshed once when the server refuses it as invalid or
//! expired, never more, and never appears in the transcript.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::Mutex;
use std::time::Instant;

use base64::Engine as _;
use smtp_client::ops::Ready;
use smtp_client::{
    Error, Exchange, OAuthFlow, OAuthNext, Operation, Options, Reply, Session, Step, TlsPolicy,
    TokenProvider,
};

type Rd = dyn std::io::Read;

/// A server that answers every read with the next of its replies (EOF when none is
/// left), and keeps every line the client wrote.
struct Server {
    replies: VecDeque<String>,
    sent: String,
}

impl Server {
    fn new(replies: &[&str]) -> Server {
        Server {
            replies: replies.iter().map(|r| r.to_string()).collect(),
            sent: String::new(),
        }
    }

    fn run<'b, O: Operation<'b, Rd>>(
        &mut self,
        s: &mut Session,
        op: O,
    ) -> Result<O::Output, Error> {
        let mut x = Exchange::new(s, op)?;
        for _ in 0..1000 {
            let now = Instant::now();
            match x.step() {
                Step::Done(r) => return r,
                Step::Write => {
                    let mut iov = [IoSlice::new(&[]); smtp_client::Segments::MAX_IOV];
                    let k = x.io_slices(&mut iov);
                    let mut n = 0;
                    for s in &iov[..k] {
                        self.sent.push_str(&String::from_utf8_lossy(s));
                        n += s.len();
                    }
                    x.wrote(n, now);
                }
                Step::Read => match self.replies.pop_front() {
                    Some(r) => x.received(r.as_bytes(), now),
                    None => x.eof(now),
                },
                _ => panic!("unexpected step"),
            }
        }
        panic!("the exchange did not finish");
    }
}

fn session() -> Session {
    let mut opts = Options::new().with_tls(TlsPolicy::Never);
    opts.core.allow_plaintext_auth = true;
    opts.record_transcript = true;
    Session::new(&opts, "localhost", None, Instant::now()).unwrap()
}

/// A provider that hands out `stale` first and `fresh` on a refresh, and logs its calls.
struct Provider {
    calls: Mutex<Vec<(String, bool)>>,
}

impl TokenProvider for Provider {
    fn token(&self, user: &str, refresh: bool) -> Result<String, Error> {
        self.calls.lock().unwrap().push((user.to_owned(), refresh));
        Ok(if refresh {
            "fresh-token"
        } else {
            "stale-token"
        }
        .to_owned())
    }
}

fn provider() -> Provider {
    Provider {
        calls: Mutex::new(Vec::new()),
    }
}

/// The flow as a driver runs it (the blocking client's `login_oauth`, without its
/// reconnection).
fn login(server: &mut Server, s: &mut Session, p: &dyn TokenProvider) -> Result<Reply, Error> {
    let mut flow = OAuthFlow::new("alice@example.org");
    loop {
        let token = match flow.token_needed() {
            Some(refresh) => Some(p.token(flow.user(), refresh)?),
            None => None,
        };
        let r = server.run(s, flow.login(token));
        match flow.outcome(r, s.is_usable()) {
            OAuthNext::Done(r) => return r,
            OAuthNext::Retry { reconnect: true } => return Err(flow.give_up()),
            OAuthNext::Retry { reconnect: false } => {}
        }
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

const GREETING: &str = "220 mx.example.net ESMTP\r\n";
const EHLO: &str = "250-mx.example.net\r\n250 AUTH OAUTHBEARER XOAUTH2\r\n";

fn challenge(status: &str) -> String {
    format!(
        "334 {}\r\n",
        b64(&format!(r#"{{"status":"{status}","schemes":"bearer"}}"#))
    )
}

fn ready(server: &mut Server, s: &mut Session) {
    server.run(s, Ready).unwrap();
}

#[test]
fn an_expired_token_is_refreshed_once_on_the_same_connection() {
    let refused = challenge("invalid_token");
    let mut server = Server::new(&[
        GREETING,
        EHLO,
        &refused,
        "535 5.7.8 token expired\r\n",
        "235 2.7.0 ok\r\n",
    ]);
    let mut s = session();
    ready(&mut server, &mut s);
    let p = provider();
    let reply = login(&mut server, &mut s, &p).expect("the refreshed token is accepted");
    assert_eq!(reply.code().get(), 235);
    assert_eq!(
        *p.calls.lock().unwrap(),
        [
            ("alice@example.org".to_owned(), false),
            ("alice@example.org".to_owned(), true)
        ]
    );
    // Two AUTH commands, the second with the fresh token; the `\x01` after the error.
    let auths: Vec<&str> = server
        .sent
        .lines()
        .filter(|l| l.starts_with("AUTH "))
        .collect();
    assert_eq!(auths.len(), 2, "{}", server.sent);
    assert!(auths[0].starts_with("AUTH OAUTHBEARER "), "{}", auths[0]);
    let second = base64::engine::general_purpose::STANDARD
        .decode(auths[1].rsplit(' ').next().unwrap())
        .unwrap();
    assert!(String::from_utf8_lossy(&second).contains("Bearer fresh-token"));
    // No token in the transcript.
    let transcript = s.take_transcript().join("\n");
    assert!(transcript.contains("AUTH OAUTHBEARER"), "{transcript}");
    for secret in [
        "stale-token",
        "fresh-token",
        &b64("stale-token"),
        &auths[0][17..],
        &auths[1][17..],
    ] {
        assert!(!transcript.contains(secret), "{secret} in {transcript}");
    }
}

#[test]
fn a_refused_refreshed_token_is_reported_without_asking_again() {
    let refused = challenge("401");
    let mut server = Server::new(&[
        GREETING,
        "250-mx.example.net\r\n250 AUTH XOAUTH2\r\n",
        &refused,
        "535 5.7.8 no\r\n",
        &refused,
        "535 5.7.8 still no\r\n",
        "250 2.0.0 still here\r\n",
    ]);
    let mut s = session();
    ready(&mut server, &mut s);
    let p = provider();
    let err = login(&mut server, &mut s, &p).unwrap_err();
    assert!(
        matches!(&err, Error::Auth { mechanism, .. } if mechanism == "XOAUTH2"),
        "{err}"
    );
    assert_eq!(
        p.calls.lock().unwrap().len(),
        2,
        "asked once more, never looping"
    );
    assert!(!s.is_closed());
}

#[test]
fn other_refusals_are_not_retried() {
    for (replies, what) in [
        (
            vec![challenge("insufficient_scope"), "535 5.7.8 no\r\n".into()],
            "scope",
        ),
        (vec!["454 4.7.0 try later\r\n".to_owned()], "transient"),
    ] {
        let mut all = vec![GREETING.to_owned(), EHLO.to_owned()];
        all.extend(replies);
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let mut server = Server::new(&all);
        let mut s = session();
        ready(&mut server, &mut s);
        let p = provider();
        let err = login(&mut server, &mut s, &p).unwrap_err();
        assert!(matches!(err, Error::Auth { .. }), "{what}: {err}");
        assert!(!smtp_client::is_token_refused(&err), "{what}");
        assert_eq!(p.calls.lock().unwrap().len(), 1, "{what}");
    }
}

#[test]
fn a_bare_535_to_an_oauth_mechanism_counts_as_a_refused_token() {
    let mut server = Server::new(&[
        GREETING,
        EHLO,
        "535 5.7.8 bad token\r\n",
        "235 2.7.0 ok\r\n",
    ]);
    let mut s = session();
    ready(&mut server, &mut s);
    let p = provider();
    login(&mut server, &mut s, &p).expect("refreshed");
    assert_eq!(p.calls.lock().unwrap().len(), 2);
}

#[test]
fn a_connection_closed_after_the_refusal_asks_for_a_new_one() {
    let refused = challenge("invalid_token");
    let mut server = Server::new(&[GREETING, EHLO, &refused, "535 5.7.8 bye\r\n"]);
    let mut s = session();
    ready(&mut server, &mut s);
    let mut flow = OAuthFlow::new("alice@example.org");
    let r = server.run(&mut s, flow.login(Some("stale".into())));
    // The server hung up right after the 535 (EOF on the next read).
    let _ = server.run(&mut s, smtp_client::ops::Simple::noop());
    let usable = !s.is_closed();
    assert!(!usable);
    assert!(matches!(
        flow.outcome(r, usable),
        OAuthNext::Retry { reconnect: true }
    ));
    assert_eq!(flow.token_needed(), Some(true));
    assert!(matches!(flow.give_up(), Error::Auth { .. }));
}

#[test]
fn a_retry_that_finds_the_connection_closed_goes_once_more_on_a_new_one() {
    let mut flow = OAuthFlow::new("alice@example.org");
    let refused = Error::Auth {
        mechanism: "OAUTHBEARER".into(),
        source: smtp_client::proto::session::AuthError::Rejected {
            reply: Reply::parse(b"535 5.7.8 expired\r\n").unwrap(),
            detail: None,
        },
    };
    let dead = || Error::ServerDisconnected(smtp_client::Phase::Auth);
    assert_eq!(flow.token_needed(), Some(false));
    let _ = flow.login(Some("stale".into()));
    // Refused; the connection looked open.
    assert!(matches!(
        flow.outcome(Err(refused), true),
        OAuthNext::Retry { reconnect: false }
    ));
    assert_eq!(flow.token_needed(), Some(true));
    let _ = flow.login(Some("fresh".into()));
    // It was not: the server had hung up after its 535.
    assert!(matches!(
        flow.outcome(Err(dead()), false),
        OAuthNext::Retry { reconnect: true }
    ));
    // The fresh token again, without asking the provider.
    assert_eq!(flow.token_needed(), None);
    let _ = flow.login(None);
    // And never more.
    assert!(matches!(
        flow.outcome(Err(dead()), false),
        OAuthNext::Done(Err(Error::ServerDisconnected(_)))
    ));
}

/// A single client that cannot reconnect reports the token's refusal, not the closed
/// connection its retry found.
#[test]
fn giving_up_after_a_retry_found_the_connection_closed_reports_the_refusal() {
    let mut flow = OAuthFlow::new("alice@example.org");
    let refused = Error::Auth {
        mechanism: "OAUTHBEARER".into(),
        source: smtp_client::proto::session::AuthError::Rejected {
            reply: Reply::parse(b"535 5.7.8 expired\r\n").unwrap(),
            detail: None,
        },
    };
    let _ = flow.login(Some("stale".into()));
    assert!(matches!(
        flow.outcome(Err(refused), true),
        OAuthNext::Retry { reconnect: false }
    ));
    let _ = flow.login(Some("fresh".into()));
    let dead = Error::ServerDisconnected(smtp_client::Phase::Auth);
    assert!(matches!(
        flow.outcome(Err(dead), false),
        OAuthNext::Retry { reconnect: true }
    ));
    let err = flow.give_up();
    assert!(smtp_client::is_token_refused(&err), "{err}");
}
