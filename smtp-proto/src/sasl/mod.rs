//! SASL mechanisms for SMTP AUTH (RFC 4954), as sans-IO state machines over raw bytes.
//!
//! A mechanism implements [`SaslMechanism`]. The session drives it:
//!
//! 1. call [`initial_response`](SaslMechanism::initial_response) once and send
//!    `AUTH <name> [base64(initial-response)]` ([`Command::Auth`]);
//! 2. for each `334` reply, base64-decode the text into the challenge (refusing more than
//!    [`MAX_CHALLENGE_LEN`] decoded octets), pass it to [`step`](SaslMechanism::step) and
//!    send the base64 of the result as a continuation line ([`Command::AuthResponse`]);
//!    on an error, send `*` ([`Command::AuthCancel`]) and report the error;
//! 3. on `235`, call [`finish`](SaslMechanism::finish): it fails when the mechanism could not
//!    authenticate the server (SCRAM without a verified server signature);
//! 4. on a failure reply (`4xx`/`5xx`), call
//!    [`take_server_error`](SaslMechanism::take_server_error) to get the detail a mechanism
//!    received during the exchange (the JSON error report of XOAUTH2 and OAUTHBEARER).
//!
//! The mechanisms never see base64 and never see reply lines: challenges and responses are
//! raw bytes. Every client response is a [`Secret`], whose `Debug` output is redacted, and
//! no mechanism's `Debug` output shows a password, a token or key material.
//!
//! If the initial response would take the AUTH line past 512 octets, RFC 4954 §4 forbids
//! it there: [`initial_response_line`] makes that decision and returns either the AUTH
//! command with the response, or the AUTH command without it plus the response to send
//! in reply to the server's first (empty) `334`, which must then not be passed to `step`
//! (the mechanism already produced its initial response). A session that never calls
//! `initial_response` may instead pass that empty challenge to `step`, which then returns
//! the initial response.
//!
//! [`select_mechanism`] picks the strongest mechanism that the server advertises, the
//! caller allows and the [`Credentials`] can serve.
//!
//! ```
//! use smtp_proto::command::{Mechanism, Secret};
//! use smtp_proto::sasl::{Credentials, SaslMechanism, select_mechanism};
//!
//! let creds = Credentials::password("tim", "tanstaaftanstaaf");
//! let allowed = [Mechanism::PLAIN, Mechanism::CRAM_MD5];
//! let mut mech =
//!     select_mechanism(["PLAIN", "CRAM-MD5"], &allowed, &creds, "unused-nonce").unwrap();
//! assert_eq!(mech.name(), "CRAM-MD5");
//! assert_eq!(mech.initial_response().unwrap(), None);
//! let response = mech.step(b"<1896.697170952@postoffice.reston.mci.net>").unwrap();
//! assert_eq!(response.expose(), b"tim b913a602c7eda7a495b4e6e7334d3890");
//! mech.finish().unwrap(); // on the server's 235
//! ```
//!
//! [`Command::Auth`]: crate::command::Command::Auth
//! [`Command::AuthResponse`]: crate::command::Command::AuthResponse
//! [`Command::AuthCancel`]: crate::command::Command::AuthCancel

mod cram_md5;
mod error;
mod line;
mod login;
mod oauth;
mod plain;
mod scram;
mod select;

use std::fmt;

pub use crate::command::Secret;
pub use cram_md5::CramMd5;
pub use error::{Fault, OAuthError, SaslError};
pub use line::{AuthLine, auth_line_len, initial_response_line};
pub use login::Login;
pub use oauth::{OAuthBearer, XOAuth2};
pub use plain::Plain;
pub use scram::{
    SCRAM_DEFAULT_MAX_ITERATIONS, SCRAM_DEFAULT_MIN_ITERATIONS, ScramSha1, ScramSha256,
};
pub use select::{PASSWORD_RANKING, TOKEN_RANKING, choose_mechanism, select_mechanism};

/// Maximum number of challenges (`334` replies) in one exchange, after CPython's
/// `smtplib._MAXCHALLENGE`. Every mechanism's [`step`](SaslMechanism::step) fails with
/// [`SaslError::TooManyRounds`] past it.
pub const MAX_CHALLENGES: usize = 5;

/// Maximum size of one decoded challenge, in octets. [`step`](SaslMechanism::step) refuses
/// larger challenges; the session should refuse them before decoding.
pub const MAX_CHALLENGE_LEN: usize = 16 * 1024;

/// A client-side SASL mechanism: a state machine from server challenges to client
/// responses, all raw (not base64) bytes.
///
/// Object safe: the session holds a `Box<dyn SaslMechanism>`.
pub trait SaslMechanism: Send + Sync + fmt::Debug {
    /// The IANA mechanism name, upper-case (`"SCRAM-SHA-256"`).
    fn name(&self) -> &str;

    /// The initial response to send with `AUTH`, or `None` for mechanisms without one
    /// (LOGIN, CRAM-MD5). Validates the credentials; call it once, before sending AUTH.
    fn initial_response(&mut self) -> Result<Option<Secret>, SaslError>;

    /// The response to one decoded `334` challenge. An error means the exchange must be
    /// cancelled (`*`).
    fn step(&mut self, challenge: &[u8]) -> Result<Secret, SaslError>;

    /// Called on the server's success reply (`235`): fails unless the exchange is complete
    /// and, for mechanisms that authenticate the server (SCRAM), the server was verified.
    fn finish(&mut self) -> Result<(), SaslError>;

    /// Called after the server refused the exchange: the error report the mechanism
    /// received in a challenge, if any (XOAUTH2, OAUTHBEARER: [`SaslError::OAuth`]).
    /// Returns it once.
    fn take_server_error(&mut self) -> Option<SaslError> {
        None
    }
}

impl<M: SaslMechanism + ?Sized> SaslMechanism for Box<M> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn initial_response(&mut self) -> Result<Option<Secret>, SaslError> {
        (**self).initial_response()
    }
    fn step(&mut self, challenge: &[u8]) -> Result<Secret, SaslError> {
        (**self).step(challenge)
    }
    fn finish(&mut self) -> Result<(), SaslError> {
        (**self).finish()
    }
    fn take_server_error(&mut self) -> Option<SaslError> {
        (**self).take_server_error()
    }
}

/// What the caller authenticates with.
///
/// `Debug` shows the user names but never the password or token (they are [`Secret`]s).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// A user name and password (SCRAM-SHA-256, CRAM-MD5, PLAIN, LOGIN).
    Password {
        /// Identity to act as, if not the user's own (PLAIN, SCRAM only).
        authzid: Option<String>,
        /// Authentication identity.
        username: String,
        /// The password.
        password: Secret,
    },
    /// A user name and OAuth 2.0 bearer token (OAUTHBEARER, XOAUTH2).
    OAuth2 {
        /// The user (the mailbox the token was issued for).
        username: String,
        /// The access token.
        token: Secret,
    },
}

impl Credentials {
    /// Password credentials without an authorization identity.
    pub fn password(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        Self::Password {
            authzid: None,
            username: username.into(),
            password: password.into(),
        }
    }

    /// OAuth 2.0 bearer-token credentials.
    pub fn oauth2(username: impl Into<String>, token: impl Into<Secret>) -> Self {
        Self::OAuth2 {
            username: username.into(),
            token: token.into(),
        }
    }
}

/// Counts challenges and enforces [`MAX_CHALLENGES`] and [`MAX_CHALLENGE_LEN`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Rounds(usize);

impl Rounds {
    /// Registers one challenge; fails past the caps.
    pub(crate) fn next(&mut self, challenge: &[u8]) -> Result<(), SaslError> {
        self.0 = self.0.saturating_add(1);
        if self.0 > MAX_CHALLENGES {
            return Err(SaslError::TooManyRounds {
                max: MAX_CHALLENGES,
            });
        }
        if challenge.len() > MAX_CHALLENGE_LEN {
            return Err(SaslError::ChallengeTooLarge {
                len: challenge.len(),
                max: MAX_CHALLENGE_LEN,
            });
        }
        Ok(())
    }
}

/// Fails with [`SaslError::CredentialContainsNul`] if `value` holds a NUL.
pub(crate) fn no_nul(field: &'static str, value: &[u8]) -> Result<(), SaslError> {
    if value.contains(&0) {
        Err(SaslError::CredentialContainsNul { field })
    } else {
        Ok(())
    }
}
