//! Choosing a mechanism from the server's list, the caller's allow-list and credentials.

use crate::command::Mechanism;

use super::{
    CramMd5, Credentials, Login, OAuthBearer, Plain, SaslMechanism, ScramSha1, ScramSha256, XOAuth2,
};

/// Password mechanisms, strongest first: SCRAM-SHA-256 (mutual authentication, nothing
/// replayable on the wire), CRAM-MD5 (no password on the wire), PLAIN, LOGIN.
pub const PASSWORD_RANKING: [Mechanism; 4] = [
    Mechanism::SCRAM_SHA_256,
    Mechanism::CRAM_MD5,
    Mechanism::PLAIN,
    Mechanism::LOGIN,
];

/// Token mechanisms, strongest first: OAUTHBEARER (standard, RFC 7628), XOAUTH2.
pub const TOKEN_RANKING: [Mechanism; 2] = [Mechanism::OAUTHBEARER, Mechanism::XOAUTH2];

/// The strongest mechanism that the server advertises, the caller allows and the
/// credentials can serve, by the fixed ranking [`PASSWORD_RANKING`] or [`TOKEN_RANKING`].
///
/// `advertised` are the server's AUTH mechanism names (e.g.
/// [`Capabilities::auth_mechanisms`]); ASCII case is ignored. `allowed` is a set: its
/// order does not matter. Password credentials with an authorization identity rule out
/// CRAM-MD5 and LOGIN, which cannot carry one.
///
/// This picks once: whether to fall back to a weaker mechanism after a failure is the
/// session's decision (opt-in), not this module's. Whether PLAIN and LOGIN may be used
/// without TLS is the caller's decision too (leave them out of `allowed`).
///
/// [`Capabilities::auth_mechanisms`]: crate::Capabilities::auth_mechanisms
pub fn choose_mechanism<'a>(
    advertised: impl IntoIterator<Item = &'a str>,
    allowed: &[Mechanism],
    credentials: &Credentials,
) -> Option<Mechanism> {
    let advertised: Vec<&str> = advertised.into_iter().collect();
    let (ranking, has_authzid): (&[Mechanism], bool) = match credentials {
        Credentials::Password { authzid, .. } => (
            &PASSWORD_RANKING,
            authzid.as_ref().is_some_and(|a| !a.is_empty()),
        ),
        Credentials::OAuth2 { .. } => (&TOKEN_RANKING, false),
    };
    ranking
        .iter()
        .filter(|m| !(has_authzid && (**m == Mechanism::CRAM_MD5 || **m == Mechanism::LOGIN)))
        .find(|m| {
            allowed.contains(m)
                && advertised
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(m.as_str()))
        })
        .cloned()
}

/// [`choose_mechanism`], then a mechanism ready to run with `credentials`; `None` when
/// nothing fits.
///
/// `client_nonce` is used only by SCRAM (see [`ScramSha256`]); always pass a fresh
/// one (24 or more random bytes, base64-encoded): it costs nothing when unused.
pub fn select_mechanism<'a>(
    advertised: impl IntoIterator<Item = &'a str>,
    allowed: &[Mechanism],
    credentials: &Credentials,
    client_nonce: &str,
) -> Option<Box<dyn SaslMechanism>> {
    let mechanism = choose_mechanism(advertised, allowed, credentials)?;
    credentials.mechanism(&mechanism, client_nonce)
}

impl Credentials {
    /// A mechanism named `mechanism` with these credentials, or `None` if it is not built
    /// in or cannot use them (a token for a password mechanism, an authorization identity
    /// for CRAM-MD5 or LOGIN). `client_nonce` is for SCRAM-SHA-256 only.
    pub fn mechanism(
        &self,
        mechanism: &Mechanism,
        client_nonce: &str,
    ) -> Option<Box<dyn SaslMechanism>> {
        match self {
            Self::Password {
                authzid,
                username,
                password,
            } => {
                let authzid = authzid.as_deref().filter(|a| !a.is_empty());
                let name = mechanism.as_str();
                if name == Mechanism::SCRAM_SHA_256.as_str() {
                    let m = ScramSha256::new(username.clone(), password.clone(), client_nonce);
                    Some(Box::new(m.with_authzid(authzid.unwrap_or(""))))
                } else if name == Mechanism::SCRAM_SHA_1.as_str() {
                    let m = ScramSha1::new(username.clone(), password.clone(), client_nonce);
                    Some(Box::new(m.with_authzid(authzid.unwrap_or(""))))
                } else if name == Mechanism::PLAIN.as_str() {
                    let m = Plain::new(username.clone(), password.clone());
                    Some(Box::new(m.with_authzid(authzid.unwrap_or(""))))
                } else if authzid.is_some() {
                    None
                } else if name == Mechanism::CRAM_MD5.as_str() {
                    Some(Box::new(CramMd5::new(username.clone(), password.clone())))
                } else if name == Mechanism::LOGIN.as_str() {
                    Some(Box::new(Login::new(username.clone(), password.clone())))
                } else {
                    None
                }
            }
            Self::OAuth2 { username, token } => {
                if *mechanism == Mechanism::OAUTHBEARER {
                    Some(Box::new(OAuthBearer::new(username.clone(), token.clone())))
                } else if *mechanism == Mechanism::XOAUTH2 {
                    Some(Box::new(XOAuth2::new(username.clone(), token.clone())))
                } else {
                    None
                }
            }
        }
    }
}
