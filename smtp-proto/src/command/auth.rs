//! SASL mechanism names and redacted credential payloads (RFC 4954).

use std::borrow::Cow;
use std::fmt;

use super::abnf::{self, Input};
use super::error::CommandError;

/// A SASL mechanism name (RFC 4422 §3.1: 1 to 20 of `A-Z 0-9 - _`), stored upper-case.
///
/// ```
/// use smtp_proto::command::Mechanism;
///
/// assert_eq!(Mechanism::new("plain").unwrap(), Mechanism::PLAIN);
/// assert!(Mechanism::new("PLAIN AAAA").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mechanism(Cow<'static, str>);

impl Mechanism {
    /// `PLAIN` (RFC 4616).
    pub const PLAIN: Self = Self(Cow::Borrowed("PLAIN"));
    /// `LOGIN` (obsolete, widely deployed).
    pub const LOGIN: Self = Self(Cow::Borrowed("LOGIN"));
    /// `XOAUTH2`.
    pub const XOAUTH2: Self = Self(Cow::Borrowed("XOAUTH2"));
    /// `OAUTHBEARER` (RFC 7628).
    pub const OAUTHBEARER: Self = Self(Cow::Borrowed("OAUTHBEARER"));
    /// `EXTERNAL` (RFC 4422 Appendix A).
    pub const EXTERNAL: Self = Self(Cow::Borrowed("EXTERNAL"));
    /// `CRAM-MD5` (RFC 2195).
    pub const CRAM_MD5: Self = Self(Cow::Borrowed("CRAM-MD5"));
    /// `SCRAM-SHA-256` (RFC 7677).
    pub const SCRAM_SHA_256: Self = Self(Cow::Borrowed("SCRAM-SHA-256"));
    /// `SCRAM-SHA-1` (RFC 5802).
    pub const SCRAM_SHA_1: Self = Self(Cow::Borrowed("SCRAM-SHA-1"));

    /// Validates a mechanism name; lower-case letters are upper-cased.
    pub fn new(name: &str) -> Result<Self, CommandError> {
        abnf::sasl_mech(Input::new(name, "SASL mechanism"), 0..name.len())?;
        Ok(Self(Cow::Owned(name.to_ascii_uppercase())))
    }

    /// The upper-case name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Credential bytes (an AUTH initial response or continuation response) whose `Debug`
/// output is always `Secret(<redacted>)`.
///
/// The bytes are the decoded SASL response; the encoder base64-encodes them.
///
/// ```
/// use smtp_proto::command::Secret;
///
/// let s = Secret::new(b"\0user\0hunter2".to_vec());
/// assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
/// assert_eq!(s.expose(), b"\0user\0hunter2");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps credential bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    /// The raw bytes. Do not log them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Number of raw bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `true` for a zero-length response.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl From<Vec<u8>> for Secret {
    fn from(v: Vec<u8>) -> Self {
        Self(v)
    }
}

impl From<&[u8]> for Secret {
    fn from(v: &[u8]) -> Self {
        Self(v.to_vec())
    }
}

impl From<&str> for Secret {
    fn from(v: &str) -> Self {
        Self(v.as_bytes().to_vec())
    }
}
