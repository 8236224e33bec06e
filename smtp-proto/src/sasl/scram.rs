//! SCRAM-SHA-256 (RFC 5802, RFC 7677) and SCRAM-SHA-1 (RFC 5802) without channel
//! binding: one implementation, parameterised by the hash.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::{Rounds, SaslError, SaslMechanism, Secret};

/// The hash of a SCRAM variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hash {
    Sha256,
    Sha1,
}

impl Hash {
    fn name(self) -> &'static str {
        match self {
            Hash::Sha256 => "SCRAM-SHA-256",
            Hash::Sha1 => "SCRAM-SHA-1",
        }
    }

    /// HMAC of the concatenated `parts` under `key`.
    fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
            let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key)
                .expect("HMAC accepts any key length");
            for part in parts {
                mac.update(part);
            }
            mac.finalize().into_bytes().to_vec()
        }
        match self {
            Hash::Sha256 => run::<Hmac<Sha256>>(key, parts),
            Hash::Sha1 => run::<Hmac<Sha1>>(key, parts),
        }
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => Sha256::digest(data).to_vec(),
            Hash::Sha1 => Sha1::digest(data).to_vec(),
        }
    }

    /// PBKDF2-HMAC of `password` (the SCRAM `Hi` function): the salted password.
    fn hi(self, password: &[u8], salt: &[u8], rounds: u32) -> Vec<u8> {
        match self {
            Hash::Sha256 => {
                let mut out = [0u8; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, rounds, &mut out);
                out.to_vec()
            }
            Hash::Sha1 => {
                let mut out = [0u8; 20];
                pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, rounds, &mut out);
                out.to_vec()
            }
        }
    }
}

/// Default minimum iteration count accepted from the server (RFC 7677 §4: at least 4096).
pub const SCRAM_DEFAULT_MIN_ITERATIONS: u32 = 4096;

/// Default maximum iteration count accepted from the server, so that a hostile server
/// cannot make the client spin in PBKDF2.
pub const SCRAM_DEFAULT_MAX_ITERATIONS: u32 = 1_000_000;

/// Appends `name` as an RFC 5802 `saslname`: `=` as `=3D`, `,` as `=2C`.
pub(crate) fn escape_saslname(name: &[u8], out: &mut Vec<u8>) {
    for &b in name {
        match b {
            b'=' => out.extend_from_slice(b"=3D"),
            b',' => out.extend_from_slice(b"=2C"),
            _ => out.push(b),
        }
    }
}

/// RFC 5802 `printable`: `%x21-2B / %x2D-7E` (visible ASCII but `,`).
fn is_printable(s: &[u8]) -> bool {
    s.iter().all(|&b| matches!(b, 0x21..=0x2B | 0x2D..=0x7E))
}

/// SASLprep (RFC 4013) of a credential, as bytes.
fn saslprep(field: &'static str, value: &[u8]) -> Result<Vec<u8>, SaslError> {
    let text = std::str::from_utf8(value).map_err(|_| SaslError::SaslPrep { field })?;
    let prepped = stringprep::saslprep(text).map_err(|_| SaslError::SaslPrep { field })?;
    Ok(prepped.as_bytes().to_vec())
}

/// Equality that does not stop at the first difference.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Where a SCRAM exchange is.
#[derive(Clone)]
enum State {
    /// Nothing sent yet.
    Start,
    /// Client-first sent; holds the bare client-first message (`n=..,r=..`) and the
    /// GS2 header.
    ClientFirst { bare: Vec<u8>, gs2: Vec<u8> },
    /// Client-final sent; holds the expected server signature.
    ClientFinal { server_signature: Vec<u8> },
    /// Server signature verified.
    Verified,
    /// An error ended the exchange, or it is over.
    Failed,
}

/// The SCRAM-SHA-256 mechanism (RFC 5802, RFC 7677), without channel binding (GS2 header
/// `n,,`, or `n,a=<authzid>,` with an authorization identity).
///
/// Exchange: client-first `n,,n=<user>,r=<nonce>` as the initial response; the server-first
/// message (`r=`, `s=`, `i=`) is answered with client-final `c=..,r=..,p=<proof>`; the
/// server-final message `v=<signature>` is verified and answered with an empty response;
/// [`finish`](SaslMechanism::finish) fails unless it was. User name and password go
/// through SASLprep. The iteration count must lie within the configured bounds
/// ([`SCRAM_DEFAULT_MIN_ITERATIONS`] to [`SCRAM_DEFAULT_MAX_ITERATIONS`] by default).
///
/// The client nonce is supplied by the caller, since this crate has no randomness: it must
/// be unpredictable and used once; adapters pass 24 or more random bytes, base64-encoded.
/// It must be printable ASCII without `,`.
///
/// `Debug` shows only the user name and the state's name; key material is never shown.
#[derive(Clone)]
pub struct ScramSha256(Scram);

/// The SCRAM-SHA-1 mechanism (RFC 5802), without channel binding: as [`ScramSha256`] with
/// SHA-1, for servers that offer no SCRAM-SHA-256. Choose it by name only (`AUTH
/// SCRAM-SHA-1`): it is not in the automatic ranking.
#[derive(Clone)]
pub struct ScramSha1(Scram);

/// The exchange, for either hash.
#[derive(Clone)]
struct Scram {
    hash: Hash,
    authzid: Option<String>,
    username: String,
    password: Secret,
    nonce: String,
    min_iterations: u32,
    max_iterations: u32,
    rounds: Rounds,
    state: State,
}

impl fmt::Debug for ScramSha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.debug("ScramSha256", f)
    }
}

impl fmt::Debug for ScramSha1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.debug("ScramSha1", f)
    }
}

impl Scram {
    fn debug(&self, type_name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Start => "Start",
            State::ClientFirst { .. } => "ClientFirst",
            State::ClientFinal { .. } => "ClientFinal",
            State::Verified => "Verified",
            State::Failed => "Failed",
        };
        f.debug_struct(type_name)
            .field("authzid", &self.authzid)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("min_iterations", &self.min_iterations)
            .field("max_iterations", &self.max_iterations)
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

macro_rules! scram_variant {
    ($t:ident, $hash:expr, $what:literal) => {
        impl $t {
            #[doc = concat!($what, " for `username` with `password` and the caller's `client_nonce`")]
            /// (checked by [`initial_response`](SaslMechanism::initial_response)).
            pub fn new(
                username: impl Into<String>,
                password: impl Into<Secret>,
                client_nonce: impl Into<String>,
            ) -> Self {
                Self(Scram::new($hash, username.into(), password.into(), client_nonce.into()))
            }

            /// Sets the authorization identity (sent in the GS2 header); empty means none.
            pub fn with_authzid(self, authzid: impl Into<String>) -> Self {
                Self(self.0.with_authzid(authzid.into()))
            }

            /// Sets the accepted range of server iteration counts (inclusive); RFC 7677
            /// asks for at least 4096, and the cap bounds the PBKDF2 work a server can
            /// demand.
            pub fn with_iteration_limits(self, min: u32, max: u32) -> Self {
                Self(self.0.with_iteration_limits(min, max))
            }
        }

        impl SaslMechanism for $t {
            fn name(&self) -> &str {
                self.0.hash.name()
            }

            fn initial_response(&mut self) -> Result<Option<Secret>, SaslError> {
                self.0.client_first().map(Some)
            }

            fn step(&mut self, challenge: &[u8]) -> Result<Secret, SaslError> {
                self.0.step(challenge)
            }

            fn finish(&mut self) -> Result<(), SaslError> {
                self.0.finish()
            }
        }
    };
}

scram_variant!(ScramSha256, Hash::Sha256, "SCRAM-SHA-256");
scram_variant!(ScramSha1, Hash::Sha1, "SCRAM-SHA-1");

impl Scram {
    fn new(hash: Hash, username: String, password: Secret, nonce: String) -> Self {
        Self {
            hash,
            authzid: None,
            username,
            password,
            nonce,
            min_iterations: SCRAM_DEFAULT_MIN_ITERATIONS,
            max_iterations: SCRAM_DEFAULT_MAX_ITERATIONS,
            rounds: Rounds::default(),
            state: State::Start,
        }
    }

    fn with_authzid(mut self, authzid: String) -> Self {
        self.authzid = (!authzid.is_empty()).then_some(authzid);
        self
    }

    fn with_iteration_limits(mut self, min: u32, max: u32) -> Self {
        self.min_iterations = min;
        self.max_iterations = max;
        self
    }

    fn client_first(&mut self) -> Result<Secret, SaslError> {
        let nonce = self.nonce.as_bytes();
        if nonce.is_empty() {
            return Err(SaslError::EmptyCredential { field: "nonce" });
        }
        if !is_printable(nonce) {
            return Err(SaslError::InvalidCredential {
                field: "nonce",
                reason: "not printable ASCII without ','",
            });
        }
        let user = saslprep("username", self.username.as_bytes())?;
        if user.is_empty() {
            return Err(SaslError::EmptyCredential { field: "username" });
        }
        let mut gs2 = b"n,".to_vec();
        if let Some(authzid) = &self.authzid {
            let authzid = saslprep("authzid", authzid.as_bytes())?;
            gs2.extend_from_slice(b"a=");
            escape_saslname(&authzid, &mut gs2);
        }
        gs2.push(b',');
        let mut bare = b"n=".to_vec();
        escape_saslname(&user, &mut bare);
        bare.extend_from_slice(b",r=");
        bare.extend_from_slice(nonce);
        let mut out = gs2.clone();
        out.extend_from_slice(&bare);
        self.state = State::ClientFirst { bare, gs2 };
        Ok(Secret::new(out))
    }

    /// Answers the server-first message with client-final.
    fn client_final(
        &self,
        bare: &[u8],
        gs2: &[u8],
        server_first: &[u8],
    ) -> Result<(Secret, Vec<u8>), SaslError> {
        let name = self.hash.name();
        let malformed = |reason| SaslError::malformed(name, reason);
        let mut attrs = server_first.split(|&b| b == b',');
        let mut attr = |key: &[u8], reason| match attrs.next() {
            Some(a) if a.starts_with(key) => Ok(&a[key.len()..]),
            _ => Err(malformed(reason)),
        };
        if server_first.starts_with(b"m=") {
            return Err(malformed("mandatory extension not supported"));
        }
        let nonce = attr(b"r=", "expected r=")?;
        let salt = attr(b"s=", "expected s=")?;
        let iterations = attr(b"i=", "expected i=")?;

        if !is_printable(nonce) {
            return Err(malformed("nonce not printable"));
        }
        let ours = self.nonce.as_bytes();
        if !nonce.starts_with(ours) || nonce.len() == ours.len() {
            return Err(SaslError::NonceMismatch);
        }
        let salt = STANDARD
            .decode(salt)
            .map_err(|_| malformed("salt not base64"))?;
        if salt.is_empty() {
            return Err(malformed("empty salt"));
        }
        if !matches!(iterations.first(), Some(b'1'..=b'9'))
            || !iterations.iter().all(u8::is_ascii_digit)
        {
            return Err(malformed("iteration count not a positive integer"));
        }
        let iterations = iterations.iter().fold(0u64, |n, &d| {
            n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
        });
        if iterations < u64::from(self.min_iterations) {
            return Err(SaslError::IterationsTooLow {
                iterations,
                min: self.min_iterations,
            });
        }
        if iterations > u64::from(self.max_iterations) {
            return Err(SaslError::IterationsTooHigh {
                iterations,
                max: self.max_iterations,
            });
        }
        let rounds = u32::try_from(iterations).map_err(|_| SaslError::IterationsTooHigh {
            iterations,
            max: self.max_iterations,
        })?;

        let password = saslprep("password", self.password.expose())?;
        let h = self.hash;
        let salted = h.hi(&password, &salt, rounds);

        let mut without_proof = b"c=".to_vec();
        without_proof.extend_from_slice(STANDARD.encode(gs2).as_bytes());
        without_proof.extend_from_slice(b",r=");
        without_proof.extend_from_slice(nonce);

        let auth_message: [&[u8]; 5] = [bare, b",", server_first, b",", &without_proof];
        let client_key = h.hmac(&salted, &[b"Client Key"]);
        let stored_key = h.digest(&client_key);
        let client_signature = h.hmac(&stored_key, &auth_message);
        let mut proof = client_key;
        for (p, s) in proof.iter_mut().zip(client_signature) {
            *p ^= s;
        }
        let server_key = h.hmac(&salted, &[b"Server Key"]);
        let server_signature = h.hmac(&server_key, &auth_message);

        let mut out = without_proof;
        out.extend_from_slice(b",p=");
        out.extend_from_slice(STANDARD.encode(proof).as_bytes());
        Ok((Secret::new(out), server_signature))
    }
}

impl Scram {
    fn step(&mut self, challenge: &[u8]) -> Result<Secret, SaslError> {
        let name = self.hash.name();
        self.rounds.next(challenge)?;
        match std::mem::replace(&mut self.state, State::Failed) {
            State::Start if challenge.is_empty() => self.client_first(),
            State::ClientFirst { bare, gs2 } => {
                let (response, server_signature) = self.client_final(&bare, &gs2, challenge)?;
                self.state = State::ClientFinal { server_signature };
                Ok(response)
            }
            State::ClientFinal { server_signature } => {
                let value = challenge.split(|&b| b == b',').next().unwrap_or_default();
                if let Some(error) = value.strip_prefix(b"e=") {
                    return Err(SaslError::ServerRejected {
                        message: String::from_utf8_lossy(error).into_owned(),
                    });
                }
                let Some(verifier) = value.strip_prefix(b"v=") else {
                    return Err(SaslError::malformed(name, "expected v= or e="));
                };
                let verifier = STANDARD
                    .decode(verifier)
                    .map_err(|_| SaslError::malformed(name, "server signature not base64"))?;
                if !ct_eq(&verifier, &server_signature) {
                    return Err(SaslError::ServerSignatureMismatch);
                }
                self.state = State::Verified;
                Ok(Secret::new(Vec::new()))
            }
            _ => Err(SaslError::unexpected(name)),
        }
    }

    fn finish(&mut self) -> Result<(), SaslError> {
        match self.state {
            State::Verified => Ok(()),
            _ => Err(SaslError::ServerNotVerified),
        }
    }
}
