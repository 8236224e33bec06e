//! PLAIN (RFC 4616).

use super::{Rounds, SaslError, SaslMechanism, Secret, no_nul};

/// The PLAIN mechanism (RFC 4616): one initial response `authzid NUL authcid NUL passwd`.
///
/// No field may hold a NUL; the user name and password must not be empty. Fields have no
/// length cap: RFC 4616 §2's 255 octets is what a server must accept at least, and tokens
/// used as passwords are often longer. A response too long for the AUTH line goes after
/// the server's empty `334` instead (see [`initial_response_line`](super::initial_response_line)).
/// The password travels in the clear: use it only over TLS.
///
/// ```
/// use smtp_proto::sasl::{Plain, SaslMechanism};
///
/// let mut m = Plain::new("tim", "tanstaaftanstaaf");
/// assert_eq!(m.initial_response().unwrap().unwrap().expose(), b"\0tim\0tanstaaftanstaaf");
/// ```
#[derive(Debug, Clone)]
pub struct Plain {
    authzid: Option<String>,
    username: String,
    password: Secret,
    sent: bool,
    rounds: Rounds,
}

impl Plain {
    /// PLAIN for `username` with `password`, without an authorization identity.
    pub fn new(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        Self {
            authzid: None,
            username: username.into(),
            password: password.into(),
            sent: false,
            rounds: Rounds::default(),
        }
    }

    /// Sets the authorization identity (the identity to act as); empty means none.
    pub fn with_authzid(mut self, authzid: impl Into<String>) -> Self {
        let authzid = authzid.into();
        self.authzid = (!authzid.is_empty()).then_some(authzid);
        self
    }

    fn response(&mut self) -> Result<Secret, SaslError> {
        let authzid = self.authzid.as_deref().unwrap_or("").as_bytes();
        let authcid = self.username.as_bytes();
        let passwd = self.password.expose();
        for (field, value) in [
            ("authzid", authzid),
            ("username", authcid),
            ("password", passwd),
        ] {
            no_nul(field, value)?;
        }
        if authcid.is_empty() {
            return Err(SaslError::EmptyCredential { field: "username" });
        }
        if passwd.is_empty() {
            return Err(SaslError::EmptyCredential { field: "password" });
        }
        let mut out = Vec::with_capacity(authzid.len() + authcid.len() + passwd.len() + 2);
        out.extend_from_slice(authzid);
        out.push(0);
        out.extend_from_slice(authcid);
        out.push(0);
        out.extend_from_slice(passwd);
        self.sent = true;
        Ok(Secret::new(out))
    }
}

impl SaslMechanism for Plain {
    fn name(&self) -> &str {
        "PLAIN"
    }

    fn initial_response(&mut self) -> Result<Option<Secret>, SaslError> {
        self.response().map(Some)
    }

    fn step(&mut self, challenge: &[u8]) -> Result<Secret, SaslError> {
        self.rounds.next(challenge)?;
        if !self.sent && challenge.is_empty() {
            return self.response();
        }
        Err(SaslError::unexpected("PLAIN"))
    }

    fn finish(&mut self) -> Result<(), SaslError> {
        Ok(())
    }
}
