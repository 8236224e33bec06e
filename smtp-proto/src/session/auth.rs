//! AUTH (RFC 4954): the SASL exchange driven by the core.

use super::*;
use crate::sasl::{AuthLine, Secret, initial_response_line};

/// An AUTH exchange in progress.
#[derive(Debug)]
pub(super) struct AuthRun {
    pub(super) mech: Box<dyn SaslMechanism>,
    /// Why the exchange failed, once `*` was sent.
    pub(super) failed: Option<SaslError>,
    /// For `Login` with fallback: what to try next after a refusal.
    pub(super) retry: Option<Op>,
    /// The initial response held back because `AUTH mech <ir>` would exceed 512 octets
    /// (RFC 4954 §4): it answers the server's first, empty `334`.
    pub(super) deferred: Option<Secret>,
}

impl Client {
    /// Queues AUTH with this mechanism (RFC 4954). The result comes as
    /// [`Event::AuthDone`]. Credentials never leave over plaintext unless
    /// [`Config::allow_plaintext_auth`] is set. After a successful AUTH, another one is
    /// refused with [`UsageError::AlreadyAuthenticated`] (RFC 4954 §4). AUTH asked for
    /// while a transaction is under way waits for its end (never sent inside it).
    pub fn authenticate(&mut self, mech: Box<dyn SaslMechanism>) -> Result<(), UsageError> {
        self.check_open()?;
        self.check_not_authenticated()?;
        self.check_plaintext_auth()?;
        self.ops.push_back(Op::Auth(mech));
        self.pump();
        Ok(())
    }

    /// Queues AUTH with the strongest mechanism that the server offers, `allowed` permits
    /// and the credentials fit (see [`crate::sasl::choose_mechanism`]). After a refusal,
    /// weaker mechanisms are tried only when `fallback` is set. `nonce` is SCRAM's client
    /// nonce: 24+ random bytes, base64-encoded, fresh for every call. Refused as
    /// [`Client::authenticate`] after a successful AUTH.
    pub fn login(
        &mut self,
        credentials: Credentials,
        allowed: &[Mechanism],
        nonce: &str,
        fallback: bool,
    ) -> Result<(), UsageError> {
        self.check_open()?;
        self.check_not_authenticated()?;
        self.check_plaintext_auth()?;
        self.ops.push_back(Op::Login {
            credentials,
            allowed: allowed.to_vec(),
            nonce: nonce.to_owned(),
            fallback,
        });
        self.pump();
        Ok(())
    }

    fn check_not_authenticated(&self) -> Result<(), UsageError> {
        if self.authenticated {
            Err(UsageError::AlreadyAuthenticated)
        } else {
            Ok(())
        }
    }

    pub(super) fn check_plaintext_auth(&self) -> Result<(), UsageError> {
        let will_encrypt =
            self.encrypted || matches!(self.cfg.tls, TlsPolicy::Required | TlsPolicy::Implicit);
        if will_encrypt || self.cfg.allow_plaintext_auth {
            Ok(())
        } else {
            Err(UsageError::PlaintextAuth)
        }
    }

    pub(super) fn auth_done(&mut self, mechanism: String, result: Result<Reply, AuthError>) {
        self.events.push_back(Event::AuthDone { mechanism, result });
    }

    /// Starts an `Op::Auth` or `Op::Login` (the pipeline is empty).
    pub(super) fn start_auth(&mut self, op: Op) {
        if self.authenticated {
            // Queued before the first AUTH succeeded: the server must refuse it (503).
            let err = AuthError::Usage(UsageError::AlreadyAuthenticated);
            return self.auth_done(String::new(), Err(err));
        }
        if !self.encrypted && !self.cfg.allow_plaintext_auth {
            return self.auth_done(String::new(), Err(AuthError::Plaintext));
        }
        let (mut mech, retry) = match op {
            Op::Auth(mech) => (mech, None),
            Op::Login {
                credentials,
                mut allowed,
                nonce,
                fallback,
            } => {
                let offered: Vec<String> = self
                    .caps
                    .as_ref()
                    .map(|c| c.auth_mechanisms().map(str::to_owned).collect())
                    .unwrap_or_default();
                let Some(mech) = select_mechanism(
                    offered.iter().map(String::as_str),
                    &allowed,
                    &credentials,
                    &nonce,
                ) else {
                    return self.auth_done(String::new(), Err(AuthError::NoMechanism));
                };
                let retry = fallback.then(|| {
                    allowed.retain(|m| !m.as_str().eq_ignore_ascii_case(mech.name()));
                    Op::Login {
                        credentials,
                        allowed,
                        nonce,
                        fallback,
                    }
                });
                (mech, retry)
            }
            _ => return,
        };
        let name = mech.name().to_owned();
        let mechanism = match Mechanism::new(&name) {
            Ok(m) => m,
            Err(e) => return self.auth_done(name, Err(AuthError::Usage(UsageError::Command(e)))),
        };
        let initial = match mech.initial_response() {
            Ok(i) => i,
            Err(e) => return self.auth_done(name, Err(AuthError::Sasl(e))),
        };
        // RFC 4954 §4: an initial response that would take the AUTH line past 512 octets
        // is sent after the server's empty 334 instead.
        let (command, deferred) = match initial_response_line(mechanism, initial) {
            AuthLine::Inline(command) => (command, None),
            AuthLine::Deferred { command, response } => (command, Some(response)),
        };
        if let Err(e) = self.emit(&command, Expect::Auth) {
            return self.auth_done(name, Err(AuthError::Usage(e)));
        }
        self.auth = Some(AuthRun {
            mech,
            failed: None,
            retry,
            deferred,
        });
    }

    pub(super) fn on_auth_reply(&mut self, expect: Expect, reply: Reply) {
        let Some(mut run) = self.auth.take() else {
            return self.wrong_code(Phase::Auth, reply.code());
        };
        let name = run.mech.name().to_owned();
        let code = reply.code();
        if expect == Expect::AuthCancel {
            // The reply to `*`: the exchange is over, whatever it says.
            let err = run
                .failed
                .take()
                .unwrap_or(SaslError::UnexpectedChallenge { mechanism: "SASL" });
            return self.auth_done(name, Err(AuthError::Sasl(err)));
        }
        if code == ReplyCode::AUTH_CHALLENGE {
            let text = reply.lines().next().unwrap_or_default();
            let step = match run.deferred.take() {
                // The first challenge after `AUTH mech` alone must be empty (RFC 4422 §5):
                // it asks for the deferred initial response.
                Some(response) => match decode_challenge(text) {
                    Ok(c) if c.is_empty() => Ok(response),
                    Ok(_) => Err(SaslError::UnexpectedChallenge { mechanism: "SASL" }),
                    Err(e) => Err(e),
                },
                None => decode_challenge(text).and_then(|c| run.mech.step(&c)),
            };
            match step {
                Ok(response) => {
                    if let Err(e) = self.emit(&Command::AuthResponse(response), Expect::Auth) {
                        let _ = e;
                        run.failed = Some(SaslError::InvalidCredential {
                            field: "response",
                            reason: "longer than an AUTH line may be",
                        });
                        let _ = self.emit(&Command::AuthCancel, Expect::AuthCancel);
                    }
                }
                Err(e) => {
                    run.failed = Some(e);
                    let _ = self.emit(&Command::AuthCancel, Expect::AuthCancel);
                }
            }
            self.auth = Some(run);
            return;
        }
        if code.is_positive() {
            match run.mech.finish() {
                Ok(()) => {
                    self.authenticated = true;
                    self.auth_done(name, Ok(reply));
                }
                Err(e) => {
                    // The server accepted without proving it knows the password (SCRAM):
                    // it may be an impostor. Report and end the session.
                    self.auth_done(name, Err(AuthError::Sasl(e.clone())));
                    self.close(CloseReason::Peer(PeerError::Sasl(e.to_string())), true);
                }
            }
            return;
        }
        let detail = run.mech.take_server_error();
        let permanent = code.is_permanent();
        self.auth_done(name, Err(AuthError::Rejected { reply, detail }));
        if let Some(retry) = run.retry.take()
            && permanent
        {
            self.ops.push_front(retry);
        }
    }
}

/// Decodes a 334 challenge (base64; `=` or nothing for an empty one), refusing oversized or
/// undecodable ones.
pub(super) fn decode_challenge(text: &[u8]) -> Result<Vec<u8>, SaslError> {
    use base64::Engine as _;
    if text.len() > MAX_CHALLENGE_LEN / 3 * 4 + 4 {
        return Err(SaslError::ChallengeTooLarge {
            len: text.len() / 4 * 3,
            max: MAX_CHALLENGE_LEN,
        });
    }
    if text == b"=" {
        return Ok(Vec::new());
    }
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| SaslError::MalformedChallenge {
            mechanism: "SASL",
            reason: "not base64",
        })
}
