//! OAuth 2.0 logins (XOAUTH2, OAUTHBEARER) with tokens from a provider, refreshed once
//! when the server says the token is no good.
//!
//! # Design
//!
//! The operations of this crate never wait for anything but the connection, so a token
//! provider cannot be called from inside one (an async provider could not be awaited
//! there). The decisions are made instead by [`OAuthFlow`], a small state machine that
//! never calls the provider itself: the driver asks it which token to fetch
//! ([`OAuthFlow::token_needed`]), fetches it from its provider (a [`TokenProvider`] for the
//! blocking client, an [`AsyncTokenProvider`] for the async one, which any
//! [`TokenProvider`] is), runs the [`Login`] the flow gives for it, and hands the result
//! back ([`OAuthFlow::outcome`]), which says whether to stop or to try once more with a
//! refreshed token (on the same connection, or on a new one when the server closed it).
//!
//! ```
//! use smtp_client::{Error, OAuthFlow, OAuthNext, TokenProvider};
//!
//! // Any `Fn(&str, bool) -> Result<String, Error>` is a provider.
//! let provider = |user: &str, refresh: bool| -> Result<String, Error> {
//!     Ok(format!("token-for-{user}-{}", if refresh { "new" } else { "cached" }))
//! };
//! let mut flow = OAuthFlow::new("alice@example.org");
//! # let mut results = vec![Err(Error::Cancelled)].into_iter();
//! # let mut execute = |_login| results.next().unwrap();
//! let result = loop {
//!     let token = match flow.token_needed() {
//!         Some(refresh) => Some(provider.token(flow.user(), refresh)?),
//!         None => None, // the flow holds it
//!     };
//!     let r = execute(flow.login(token)); // the driver runs the operation
//!     match flow.outcome(r, true) {
//!         OAuthNext::Done(r) => break r,
//!         OAuthNext::Retry { reconnect: false } => {}
//!         OAuthNext::Retry { reconnect: true } => break Err(flow.give_up()), // or reconnect
//!     }
//! };
//! assert!(matches!(result, Err(Error::Cancelled)));
//! # Ok::<(), Error>(())
//! ```

use std::future::Future;
use std::pin::Pin;

use smtp_proto::Reply;
use smtp_proto::command::Mechanism;
use smtp_proto::sasl::{Credentials, SaslError, Secret, TOKEN_RANKING};
use smtp_proto::session::AuthError;

use crate::error::Error;
use crate::ops::Login;

/// Supplies OAuth 2.0 access tokens, synchronously (the blocking client's
/// `login_oauth`; any `Fn(&str, bool) -> Result<String, Error> + Send + Sync` is one).
///
/// `refresh` is `true` when the server refused the last token as invalid or expired:
/// return a new one (not a cached one). It is asked at most twice per login.
pub trait TokenProvider: Send + Sync {
    /// An access token for `user`; a fresh one when `refresh` is set.
    fn token(&self, user: &str, refresh: bool) -> Result<String, Error>;
}

impl<F> TokenProvider for F
where
    F: Fn(&str, bool) -> Result<String, Error> + Send + Sync,
{
    fn token(&self, user: &str, refresh: bool) -> Result<String, Error> {
        self(user, refresh)
    }
}

/// The future an [`AsyncTokenProvider`] returns.
pub type TokenFuture<'a> = Pin<Box<dyn Future<Output = Result<String, Error>> + Send + 'a>>;

/// Supplies OAuth 2.0 access tokens asynchronously (the async client's `login_oauth` and
/// the pool's `Endpoint::with_oauth`): the provider may do its own HTTP request to the
/// authorization server. Every [`TokenProvider`] is one (its answer is ready at once).
pub trait AsyncTokenProvider: Send + Sync {
    /// An access token for `user`; a fresh one when `refresh` is set (see
    /// [`TokenProvider::token`]).
    fn token_async<'a>(&'a self, user: &'a str, refresh: bool) -> TokenFuture<'a>;
}

impl<T: TokenProvider + ?Sized> AsyncTokenProvider for T {
    fn token_async<'a>(&'a self, user: &'a str, refresh: bool) -> TokenFuture<'a> {
        Box::pin(std::future::ready(self.token(user, refresh)))
    }
}

/// What to do after a login attempt ([`OAuthFlow::outcome`]).
#[derive(Debug)]
pub enum OAuthNext {
    /// The login is over with this result.
    Done(Result<Reply, Error>),
    /// Log in again (after asking the provider if [`OAuthFlow::token_needed`] says so);
    /// on a new connection when `reconnect` is set.
    Retry {
        /// The connection is gone: open a new one first (a driver that cannot, such as
        /// a single client, reports [`OAuthFlow::give_up`] instead).
        reconnect: bool,
    },
}

/// The decisions of an OAuth login with a token provider (see the [module](self)
/// documentation): which token to fetch, the login to run with it, and whether a refusal
/// deserves one more try with a refreshed token.
///
/// The provider is asked at most twice (the second time with `refresh = true`), and the
/// login runs at most three times: the first token; the refreshed one, on the same
/// connection when it is still open, else on a new one; and, only when the server
/// turned out to have closed the connection before answering that retry (it hung up
/// right after its refusal), the refreshed token again on a new connection.
#[derive(Debug)]
pub struct OAuthFlow {
    user: String,
    allowed: Vec<Mechanism>,
    /// Tokens fetched so far (0, 1 or 2).
    fetched: u8,
    /// The refreshed token, kept for a retry on a new connection.
    held: Option<Secret>,
    /// Whether the refreshed token was sent on a connection the server had closed.
    reconnected: bool,
    last: Option<Error>,
}

impl OAuthFlow {
    /// A login as `user` with the strongest token mechanism the server offers
    /// (OAUTHBEARER, then XOAUTH2).
    pub fn new(user: &str) -> OAuthFlow {
        OAuthFlow {
            user: user.to_owned(),
            allowed: TOKEN_RANKING.to_vec(),
            fetched: 0,
            held: None,
            reconnected: false,
            last: None,
        }
    }

    /// Only these mechanisms (among OAUTHBEARER and XOAUTH2).
    pub fn with_mechanisms(mut self, allowed: &[Mechanism]) -> OAuthFlow {
        self.allowed = allowed.to_vec();
        self
    }

    /// The user to ask the provider a token for.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Whether the driver must ask its provider for a token before the next
    /// [`login`](Self::login), and with which `refresh` flag; `None` when the flow
    /// holds the token to send again (pass `None` to `login`).
    pub fn token_needed(&self) -> Option<bool> {
        match (self.fetched, &self.held) {
            (0, _) => Some(false),
            (_, Some(_)) => None,
            _ => Some(true),
        }
    }

    /// The login to run with `token` (from the provider; `None` for the token the flow
    /// holds, see [`token_needed`](Self::token_needed)).
    pub fn login(&mut self, token: Option<String>) -> Login {
        let token = match token {
            Some(t) => {
                self.fetched = self.fetched.saturating_add(1);
                let t = Secret::new(t);
                if self.fetched > 1 {
                    self.held = Some(t.clone());
                }
                t
            }
            None => self.held.take().unwrap_or_else(|| Secret::new(Vec::new())),
        };
        Login::ranked(
            Credentials::oauth2(self.user.clone(), token),
            &self.allowed,
            false,
        )
    }

    /// The result of the login; `usable` tells whether the connection can still take a
    /// command. A refusal of the first token ([`is_token_refused`]) gives
    /// [`OAuthNext::Retry`]; so does a retry on the same connection that found it closed
    /// before any answer (once); anything else ends the flow.
    pub fn outcome(&mut self, result: Result<Reply, Error>, usable: bool) -> OAuthNext {
        let retry = match &result {
            Err(e) if self.fetched == 1 => is_token_refused(e),
            Err(Error::ServerDisconnected(_) | Error::Io(_)) => {
                self.held.is_some() && !std::mem::replace(&mut self.reconnected, true)
            }
            _ => false,
        };
        if !retry {
            self.held = None;
            return OAuthNext::Done(result);
        }
        let reconnect = !usable || self.reconnected;
        if let Err(e) = result {
            // The token's refusal is what the caller must hear about, not the closed
            // connection a retry then found.
            if self.last.is_none() {
                self.last = Some(e);
            }
        }
        OAuthNext::Retry { reconnect }
    }

    /// The error to report when an [`OAuthNext::Retry`] cannot be carried out (a single
    /// client whose connection the server closed): the server's refusal of the first
    /// token ([`is_token_refused`] holds), also when the refreshed token's retry is what
    /// found the connection closed. The caller may then connect again and log in with a
    /// token refreshed at once (the clients' `login_oauth` documentation shows how).
    pub fn give_up(&mut self) -> Error {
        self.held = None;
        self.last
            .take()
            .unwrap_or(Error::ServerDisconnected(smtp_proto::session::Phase::Auth))
    }
}

/// Whether `e` is a server's refusal of an OAuth token that a fresh token may cure: the
/// JSON error report of XOAUTH2/OAUTHBEARER with status `401` or `invalid_token`, or a
/// permanent refusal (`535`) of an OAuth mechanism without a report (servers that skip
/// the JSON challenge). Other reports (`insufficient_scope`, `400`) and transient
/// refusals are not: a new token would not change them.
pub fn is_token_refused(e: &Error) -> bool {
    let Error::Auth {
        mechanism,
        source: AuthError::Rejected { reply, detail },
    } = e
    else {
        return false;
    };
    let oauth = [Mechanism::OAUTHBEARER, Mechanism::XOAUTH2]
        .iter()
        .any(|m| m.as_str().eq_ignore_ascii_case(mechanism));
    match detail {
        Some(SaslError::OAuth(report)) => report
            .status
            .as_deref()
            .is_some_and(|s| s == "401" || s.eq_ignore_ascii_case("invalid_token")),
        Some(_) => false,
        None => oauth && reply.code().get() == 535,
    }
}
