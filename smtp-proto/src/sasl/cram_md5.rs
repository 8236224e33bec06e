//! CRAM-MD5 (RFC 2195).

use hmac::{Hmac, Mac};
use md5::Md5;

use super::{Rounds, SaslError, SaslMechanism, Secret};

/// The CRAM-MD5 mechanism (RFC 2195): no initial response; the one challenge is answered
/// with `user SP hex(HMAC-MD5(password, challenge))`, lower-case hex.
///
/// It keeps the password off the wire but lets an eavesdropper try passwords offline, and
/// the server must store the password: prefer SCRAM-SHA-256.
#[derive(Debug, Clone)]
pub struct CramMd5 {
    username: String,
    password: Secret,
    rounds: Rounds,
    answered: bool,
}

impl CramMd5 {
    /// CRAM-MD5 for `username` with `password`.
    pub fn new(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
            rounds: Rounds::default(),
            answered: false,
        }
    }
}

impl SaslMechanism for CramMd5 {
    fn name(&self) -> &str {
        "CRAM-MD5"
    }

    fn initial_response(&mut self) -> Result<Option<Secret>, SaslError> {
        Ok(None)
    }

    fn step(&mut self, challenge: &[u8]) -> Result<Secret, SaslError> {
        self.rounds.next(challenge)?;
        if self.answered {
            return Err(SaslError::unexpected("CRAM-MD5"));
        }
        if challenge.is_empty() {
            return Err(SaslError::malformed("CRAM-MD5", "empty challenge"));
        }
        let mut mac = <Hmac<Md5> as Mac>::new_from_slice(self.password.expose())
            .expect("HMAC accepts keys of any length");
        mac.update(challenge);
        let digest = mac.finalize().into_bytes();
        let mut out = Vec::with_capacity(self.username.len() + 1 + 2 * digest.len());
        out.extend_from_slice(self.username.as_bytes());
        out.push(b' ');
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for b in digest {
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        }
        self.answered = true;
        Ok(Secret::new(out))
    }

    fn finish(&mut self) -> Result<(), SaslError> {
        Ok(())
    }
}
