//! LOGIN (draft-murchison-sasl-login).

use super::{Rounds, SaslError, SaslMechanism, Secret};

/// The obsolete but widely deployed LOGIN mechanism: no initial response; the first
/// challenge is answered with the user name, the second with the password.
///
/// The prompts (usually `Username:` and `Password:`) are not read: answers go by position,
/// and a third challenge is an error. The password travels in the clear: use it only over
/// TLS, and prefer PLAIN.
#[derive(Debug, Clone)]
pub struct Login {
    username: String,
    password: Secret,
    rounds: Rounds,
    answered: u8,
}

impl Login {
    /// LOGIN for `username` with `password`.
    pub fn new(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
            rounds: Rounds::default(),
            answered: 0,
        }
    }
}

impl SaslMechanism for Login {
    fn name(&self) -> &str {
        "LOGIN"
    }

    fn initial_response(&mut self) -> Result<Option<Secret>, SaslError> {
        Ok(None)
    }

    fn step(&mut self, challenge: &[u8]) -> Result<Secret, SaslError> {
        self.rounds.next(challenge)?;
        let answer = match self.answered {
            0 => Secret::new(self.username.as_bytes()),
            1 => self.password.clone(),
            _ => return Err(SaslError::unexpected("LOGIN")),
        };
        self.answered += 1;
        Ok(answer)
    }

    fn finish(&mut self) -> Result<(), SaslError> {
        Ok(())
    }
}
