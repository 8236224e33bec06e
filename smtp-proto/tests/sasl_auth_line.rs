//! RFC 4954 §4: an initial response that would take the AUTH line past 512 octets goes
//! after the server's empty `334` instead, for every mechanism
//! ([`initial_response_line`]).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use smtp_proto::command::{Command, MAX_LINE_LEN, Mechanism, Secret};
use smtp_proto::sasl::{
    AuthLine, CramMd5, Login, OAuthBearer, Plain, SaslMechanism, ScramSha256, XOAuth2,
    auth_line_len, initial_response_line,
};

/// The AUTH line the decision produces, and what follows the empty 334 (if anything).
fn open(mech: &mut dyn SaslMechanism) -> (Vec<u8>, Option<Secret>) {
    let name = Mechanism::new(mech.name()).unwrap();
    let ir = mech.initial_response().unwrap();
    match initial_response_line(name, ir) {
        AuthLine::Inline(cmd) => (cmd.to_bytes().unwrap(), None),
        AuthLine::Deferred { command, response } => (command.to_bytes().unwrap(), Some(response)),
    }
}

#[test]
fn the_decision_matches_the_encoder_at_every_length() {
    for name in ["PLAIN", "XOAUTH2", "SCRAM-SHA-256", "X-TWENTY-CHARS-NAME1"] {
        let mech = Mechanism::new(name).unwrap();
        for n in 0..=400usize {
            let ir = Secret::new(vec![0xa5; n]);
            let len = auth_line_len(&mech, Some(ir.expose()));
            let encoded = Command::Auth {
                mechanism: mech.clone(),
                initial_response: Some(ir.clone()),
            }
            .to_bytes();
            match initial_response_line(mech.clone(), Some(ir.clone())) {
                AuthLine::Inline(cmd) => {
                    let bytes = encoded.expect("inline lines encode");
                    assert_eq!(bytes.len(), len);
                    assert!(bytes.len() <= MAX_LINE_LEN);
                    assert_eq!(cmd.to_bytes().unwrap(), bytes);
                }
                AuthLine::Deferred { command, response } => {
                    assert!(encoded.is_err(), "{name} {n}: deferred but would fit");
                    assert!(len > MAX_LINE_LEN);
                    assert_eq!(
                        command.to_bytes().unwrap(),
                        format!("AUTH {name}\r\n").as_bytes()
                    );
                    assert_eq!(response, ir);
                    // The response line after the 334 is exempt from the 512 limit.
                    assert!(Command::AuthResponse(response).to_bytes().is_ok());
                }
            }
        }
    }
}

#[test]
fn boundary_is_512_octets_with_crlf() {
    // "AUTH PLAIN " + base64 + CRLF: 13 + 4 * ceil(n / 3) octets.
    let plain = Mechanism::PLAIN;
    let fits = 3 * ((MAX_LINE_LEN - 13) / 4);
    assert_eq!(auth_line_len(&plain, Some(&vec![1; fits])), 509);
    assert!(matches!(
        initial_response_line(plain.clone(), Some(Secret::new(vec![1; fits]))),
        AuthLine::Inline(_)
    ));
    assert_eq!(auth_line_len(&plain, Some(&vec![1; fits + 1])), 513);
    assert!(matches!(
        initial_response_line(plain.clone(), Some(Secret::new(vec![1; fits + 1]))),
        AuthLine::Deferred { .. }
    ));
    // No initial response, and an empty one ("=").
    assert_eq!(auth_line_len(&plain, None), 12);
    assert_eq!(auth_line_len(&plain, Some(&[])), 14);
    let AuthLine::Inline(cmd) = initial_response_line(plain.clone(), Some(Secret::new(vec![])))
    else {
        panic!("an empty response fits")
    };
    assert_eq!(cmd.to_bytes().unwrap(), b"AUTH PLAIN =\r\n");
}

#[test]
fn every_mechanism_with_a_long_initial_response_defers_it() {
    let long = "k".repeat(1500);

    // PLAIN with a long token as password: the response follows the empty 334.
    let mut m = Plain::new("tim", long.as_str());
    let (line, after) = open(&mut m);
    assert_eq!(line, b"AUTH PLAIN\r\n");
    let mut want = b"\0tim\0".to_vec();
    want.extend_from_slice(long.as_bytes());
    assert_eq!(after.unwrap().expose(), want);
    m.finish().unwrap();

    // XOAUTH2 and OAUTHBEARER with a long token; the error report that may follow the
    // deferred response still goes to `step`.
    let mut m = XOAuth2::new("user@example.com", long.as_str());
    let (line, after) = open(&mut m);
    assert_eq!(line, b"AUTH XOAUTH2\r\n");
    assert!(
        after
            .unwrap()
            .expose()
            .starts_with(b"user=user@example.com\x01auth=Bearer kkk")
    );
    let reply = m.step(br#"{"status":"401"}"#).unwrap();
    assert!(reply.is_empty());
    assert!(m.take_server_error().is_some());

    let mut m = OAuthBearer::new("user@example.com", long.as_str());
    let (line, after) = open(&mut m);
    assert_eq!(line, b"AUTH OAUTHBEARER\r\n");
    assert!(
        after
            .unwrap()
            .expose()
            .starts_with(b"n,a=user@example.com,")
    );

    // SCRAM with a long authorization identity: the exchange goes on with the server-first
    // message through `step`.
    let mut m =
        ScramSha256::new("user", "pencil", "rOprNGfwEbeRWgbNEkqO").with_authzid(long.as_str());
    let (line, after) = open(&mut m);
    assert_eq!(line, b"AUTH SCRAM-SHA-256\r\n");
    let first = after.unwrap();
    assert!(first.expose().starts_with(b"n,a=kkk"));
    let server_first =
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    let client_final = m.step(server_first).unwrap();
    assert!(client_final.expose().starts_with(b"c="));
    let gs2 = STANDARD.encode(format!("n,a={long},"));
    assert!(client_final.expose()[2..].starts_with(gs2.as_bytes()));
}

#[test]
fn short_initial_responses_and_mechanisms_without_one_stay_inline() {
    let mut m = Plain::new("tim", "tanstaaftanstaaf");
    assert_eq!(
        open(&mut m),
        (
            b"AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n".to_vec(),
            None
        )
    );
    let mut m = Login::new("tim", "x".repeat(2000).as_str());
    assert_eq!(open(&mut m), (b"AUTH LOGIN\r\n".to_vec(), None));
    let mut m = CramMd5::new("tim", "x".repeat(2000).as_str());
    assert_eq!(open(&mut m), (b"AUTH CRAM-MD5\r\n".to_vec(), None));
}
