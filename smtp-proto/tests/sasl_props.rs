//! Properties of `smtp_proto::sasl`: no challenge sequence makes a mechanism panic, and the
//! round cap always holds.

use proptest::prelude::*;
use smtp_proto::command::Mechanism;
use smtp_proto::sasl::{Credentials, MAX_CHALLENGES, SaslError, SaslMechanism, ScramSha256};

const NONCE: &str = "rOprNGfwEbeRWgbNEkqO";

/// Every built-in mechanism, fresh.
fn mechanisms() -> Vec<Box<dyn SaslMechanism>> {
    let password = Credentials::password("user", "pencil");
    let token = Credentials::oauth2("user@example.com", "tok");
    let mut out: Vec<Box<dyn SaslMechanism>> = [
        Mechanism::SCRAM_SHA_256,
        Mechanism::CRAM_MD5,
        Mechanism::PLAIN,
        Mechanism::LOGIN,
    ]
    .iter()
    .map(|m| password.mechanism(m, NONCE).unwrap())
    .collect();
    for m in [Mechanism::OAUTHBEARER, Mechanism::XOAUTH2] {
        out.push(token.mechanism(&m, NONCE).unwrap());
    }
    // Cheap iterations so that valid-looking server-first messages run fast.
    out.push(Box::new(
        ScramSha256::new("user", "pencil", NONCE).with_iteration_limits(1, 64),
    ));
    out
}

/// Challenges biased towards what the mechanisms parse.
fn challenge() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => prop::collection::vec(any::<u8>(), 0..64),
        2 => (
            "[a-z=,]{0,8}",
            prop::sample::select(vec!["", "x", "%$", ",s=QSXCR+Q6sek8bf92", ",s="]),
            prop::sample::select(vec![",i=1", ",i=4096", ",i=0", ",i=99999999999", ",i=", ""]),
            "[ -~]{0,12}",
        )
            .prop_map(|(a, b, c, d)| format!("r={NONCE}{a}{b}{c}{d}").into_bytes()),
        1 => "(v|e)=[A-Za-z0-9+/=]{0,48}".prop_map(String::into_bytes),
        1 => r#"\{("[a-z-]{0,8}":("[ -~]{0,8}"|[0-9]{1,3}|null|\[\]),?){0,3}\}"#
            .prop_map(String::into_bytes),
    ]
}

proptest! {
    #[test]
    fn step_never_panics(
        send_initial in any::<bool>(),
        challenges in prop::collection::vec(challenge(), 0..8),
    ) {
        for mut m in mechanisms() {
            if send_initial {
                let _ = m.initial_response();
            }
            for (i, c) in challenges.iter().enumerate() {
                let r = m.step(c);
                if i >= MAX_CHALLENGES {
                    prop_assert_eq!(
                        r.unwrap_err(),
                        SaslError::TooManyRounds { max: MAX_CHALLENGES }
                    );
                }
            }
            let _ = m.finish();
            let _ = m.take_server_error();
            let _ = format!("{m:?}");
        }
    }
}
