//! OAuth 2.0 logins (XOAUTH2, OAUTHBEARER) with tokens from a provider, refreshed once
//! when the server says the token is no good.
//!
//! # Design
//!
//! The operations of this crate never wait for anything but the connection, so a token
//! provider cannot be called from inside one (an async provider could not be awaited
//! there). The decisions are made instead by [`OAuthFlow`], a small state machine that
//! never calls the provider itself: the driver asks it which token to fetch
//! ([`OAuthFlow::refresh`]), fetches it from its provider (a [`TokenProvider`] for the
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
//! assert!(!flow.refresh());
//! let token = provider.token(flow.user(), flow.refresh())?;
//! let _login = flow.login(token); // run it: `client.execute(login)`
//! # let r: Result<smtp_client::Reply, Error> = Err(Error::Cancelled);
//! match flow.outcome(r, true) {
//!     OAuthNext::Done(result) => { let _ = result; }
//!     OAuthNext::Retry { reconnect } => { let _ = reconnect; /* fetch with refresh = true, log in again */ }
//! }
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
    /// The server refused the token as invalid or expired: ask the provider again with
    /// `refresh = true` and log in again; on a new connection when `reconnect` is set
    /// (the server closed this one). Never returned twice for one flow.
    Retry {
        /// The connection is gone: open a new one first (a driver that cannot, such as
        /// a single client, reports the last error instead: see
        /// [`OAuthFlow::give_up`]).
        reconnect: bool,
    },
}

/// The decisions of an OAuth login with a token provider (see the [module](self)
/// documentation): which token to fetch, the login to run with it, and whether a refusal
/// deserves one more try with a refreshed token.
#[derive(Debug)]
pub struct OAuthFlow {
    user: String,
    allowed: Vec<Mechanism>,
    refreshed: bool,
    last: Option<Error>,
}

impl OAuthFlow {
    /// A login as `user` with the strongest token mechanism the server offers
    /// (OAUTHBEARER, then XOAUTH2).
    pub fn new(user: &str) -> OAuthFlow {
        OAuthFlow {
            user: user.to_owned(),
            allowed: TOKEN_RANKING.to_vec(),
            refreshed: false,
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

    /// Whether the next token must be a refreshed one (the server refused the last).
    pub fn refresh(&self) -> bool {
        self.refreshed
    }

    /// The login to run with `token`.
    pub fn login(&self, token: String) -> Login {
        Login::ranked(
            Credentials::oauth2(self.user.clone(), Secret::new(token)),
            &self.allowed,
            false,
        )
    }

    /// The result of the login; `usable` tells whether the connection can still take a
    /// command. A refusal of the token ([`is_token_refused`]) on the first try gives
    /// [`OAuthNext::Retry`]; anything else, or any result of the retry, ends the flow.
    pub fn outcome(&mut self, result: Result<Reply, Error>, usable: bool) -> OAuthNext {
        match result {
            Err(e) if !self.refreshed && is_token_refused(&e) => {
                self.refreshed = true;
                self.last = Some(e);
                OAuthNext::Retry { reconnect: !usable }
            }
            r => OAuthNext::Done(r),
        }
    }

    /// The error to report when a [`OAuthNext::Retry`] cannot be carried out (a single
    /// client whose connection the server closed): the refusal of the first token.
    pub fn give_up(&mut self) -> Error {
        self.last.take().unwrap_or(Error::Cancelled)
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
