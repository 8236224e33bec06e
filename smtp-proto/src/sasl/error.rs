//! Why a SASL exchange failed, and whose fault it was.

use std::fmt;

/// Who caused a [`SaslError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The server sent something wrong or refused us: retrying with other credentials
    /// may or may not help.
    Server,
    /// The caller's credentials or configuration cannot be used: fix them, do not retry.
    Caller,
}

/// Why a SASL mechanism refused to go on. Never contains a password, token or key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SaslError {
    /// The server sent a challenge where the mechanism expects none.
    #[error("{mechanism}: unexpected challenge")]
    UnexpectedChallenge {
        /// The mechanism name.
        mechanism: &'static str,
    },
    /// The server's challenge does not follow the mechanism's syntax.
    #[error("{mechanism}: malformed challenge: {reason}")]
    MalformedChallenge {
        /// The mechanism name.
        mechanism: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// More than [`MAX_CHALLENGES`](super::MAX_CHALLENGES) challenges.
    #[error("more than {max} SASL challenges")]
    TooManyRounds {
        /// The cap.
        max: usize,
    },
    /// A challenge longer than [`MAX_CHALLENGE_LEN`](super::MAX_CHALLENGE_LEN).
    #[error("SASL challenge of {len} octets exceeds {max}")]
    ChallengeTooLarge {
        /// The challenge length.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// SCRAM: the server nonce does not extend the client nonce.
    #[error("SCRAM: server nonce does not extend the client nonce")]
    NonceMismatch,
    /// SCRAM: the server's iteration count is below the configured minimum.
    #[error("SCRAM: iteration count {iterations} below the minimum {min}")]
    IterationsTooLow {
        /// The server's count.
        iterations: u64,
        /// The configured minimum.
        min: u32,
    },
    /// SCRAM: the server's iteration count is above the configured cap.
    #[error("SCRAM: iteration count {iterations} above the cap {max}")]
    IterationsTooHigh {
        /// The server's count.
        iterations: u64,
        /// The configured cap.
        max: u32,
    },
    /// SCRAM: the server signature (`v=`) is wrong: the server does not know the password.
    #[error("SCRAM: server signature mismatch")]
    ServerSignatureMismatch,
    /// SCRAM: the server reported success without proving it knows the password.
    #[error("SCRAM: server reported success without a verified server signature")]
    ServerNotVerified,
    /// SCRAM: the server's final message was an error (`e=`).
    #[error("SCRAM: server error: {message}")]
    ServerRejected {
        /// The server's error value (e.g. `invalid-proof`).
        message: String,
    },
    /// XOAUTH2/OAUTHBEARER: the server's JSON error report.
    #[error("OAuth: {0}")]
    OAuth(Box<OAuthError>),
    /// A credential exceeds the mechanism's length limit.
    #[error("{field}: longer than {max} octets")]
    CredentialTooLong {
        /// The credential field (`username`, `password`, ...).
        field: &'static str,
        /// The limit in octets.
        max: usize,
    },
    /// A credential contains a NUL octet.
    #[error("{field}: contains NUL")]
    CredentialContainsNul {
        /// The credential field.
        field: &'static str,
    },
    /// A credential that must not be empty is empty.
    #[error("{field}: must not be empty")]
    EmptyCredential {
        /// The credential field.
        field: &'static str,
    },
    /// A credential contains a character the mechanism cannot carry.
    #[error("{field}: {reason}")]
    InvalidCredential {
        /// The credential field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// SASLprep (RFC 4013) refused a credential (prohibited or unassigned character,
    /// bidi violation, or not UTF-8).
    #[error("{field}: SASLprep failed")]
    SaslPrep {
        /// The credential field.
        field: &'static str,
    },
}

impl SaslError {
    /// Whether the server or the caller caused this error.
    pub fn fault(&self) -> Fault {
        match self {
            Self::CredentialTooLong { .. }
            | Self::CredentialContainsNul { .. }
            | Self::EmptyCredential { .. }
            | Self::InvalidCredential { .. }
            | Self::SaslPrep { .. } => Fault::Caller,
            _ => Fault::Server,
        }
    }

    pub(crate) fn malformed(mechanism: &'static str, reason: &'static str) -> Self {
        Self::MalformedChallenge { mechanism, reason }
    }

    pub(crate) fn unexpected(mechanism: &'static str) -> Self {
        Self::UnexpectedChallenge { mechanism }
    }
}

/// An OAuth 2.0 error report sent as a challenge (RFC 7628 §3.2.2; Google's and
/// Microsoft's XOAUTH2 use the same JSON shape with `schemes` added).
///
/// Members missing from the JSON, or not strings or numbers, are `None`; if the challenge is
/// not a JSON object every member is `None` and only [`raw`](Self::raw) is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OAuthError {
    /// `status`: an HTTP status (`"401"`) or an RFC 6749 error code (`"invalid_token"`).
    pub status: Option<String>,
    /// `schemes`: the authorization schemes the server accepts (`"bearer mac"`).
    pub schemes: Option<String>,
    /// `scope`: the scope the token needs.
    pub scope: Option<String>,
    /// `openid-configuration`: where to discover the authorization server.
    pub openid_configuration: Option<String>,
    /// The challenge text (invalid UTF-8 replaced).
    pub raw: String,
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut any = false;
        for (name, value) in [
            ("status", &self.status),
            ("schemes", &self.schemes),
            ("scope", &self.scope),
            ("openid-configuration", &self.openid_configuration),
        ] {
            if let Some(v) = value {
                if any {
                    f.write_str(", ")?;
                }
                write!(f, "{name} {v:?}")?;
                any = true;
            }
        }
        if !any {
            write!(f, "server error report {:?}", self.raw)?;
        }
        Ok(())
    }
}
