//! AUTH through the session.

use super::*;
use crate::command::Mechanism;
use crate::sasl::{Credentials, Plain};

fn ready_plain_auth(ehlo: &[u8]) -> Harness {
    let mut cfg = config(TlsPolicy::Never);
    cfg.allow_plaintext_auth = true;
    let mut h = Harness::new(cfg);
    h.server(b"220 mx\r\n");
    h.server(ehlo);
    h.sent();
    h.take_events();
    h
}

fn auth_result(h: &Harness) -> Option<(&str, &Result<Reply, AuthError>)> {
    h.events.iter().find_map(|e| match e {
        Event::AuthDone { mechanism, result } => Some((mechanism.as_str(), result)),
        _ => None,
    })
}

const ALL: [Mechanism; 4] = [
    Mechanism::SCRAM_SHA_256,
    Mechanism::CRAM_MD5,
    Mechanism::PLAIN,
    Mechanism::LOGIN,
];

#[test]
fn auth_plain_with_initial_response() {
    let mut h = ready_plain_auth(b"250-mx\r\n250 AUTH PLAIN LOGIN\r\n");
    h.c.login(
        Credentials::password("tim", "tanstaaftanstaaf"),
        &ALL,
        "n0nce",
        false,
    )
    .unwrap();
    h.drain();
    assert_eq!(h.sent(), "AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n");
    h.server(b"235 2.7.0 Authentication successful\r\n");
    let (mech, res) = auth_result(&h).unwrap();
    assert_eq!(mech, "PLAIN");
    assert!(res.is_ok());
    // The transcript never shows the credentials.
    let lines: Vec<_> = std::iter::from_fn(|| h.c.poll_transcript()).collect();
    let text = format!("{lines:?}");
    assert!(text.contains("AUTH PLAIN"));
    assert!(!text.contains("AHRpbQB0YW5zdGFhZnRhbnN0YWFm"));
}

#[test]
fn auth_login_by_challenges() {
    let mut h = ready_plain_auth(b"250-mx\r\n250 AUTH LOGIN\r\n");
    h.c.login(Credentials::password("tim", "secret"), &ALL, "n0nce", false)
        .unwrap();
    h.drain();
    assert_eq!(h.sent(), "AUTH LOGIN\r\n");
    h.server(b"334 VXNlcm5hbWU6\r\n");
    assert_eq!(h.sent(), "dGlt\r\n");
    h.server(b"334 UGFzc3dvcmQ6\r\n");
    assert_eq!(h.sent(), "c2VjcmV0\r\n");
    h.server(b"535 5.7.8 bad credentials\r\n");
    assert!(matches!(
        auth_result(&h),
        Some(("LOGIN", Err(AuthError::Rejected { .. })))
    ));
    assert!(!h.c.is_closed(), "a refused AUTH is a result, not the end");
}

#[test]
fn auth_picks_the_strongest_and_falls_back_only_when_asked() {
    let ehlo = b"250-mx\r\n250 AUTH LOGIN PLAIN CRAM-MD5\r\n";
    let mut h = ready_plain_auth(ehlo);
    h.c.login(
        Credentials::password("tim", "tanstaaftanstaaf"),
        &ALL,
        "n",
        false,
    )
    .unwrap();
    h.drain();
    assert_eq!(h.sent(), "AUTH CRAM-MD5\r\n");
    h.server(b"334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n");
    assert_eq!(
        h.sent(),
        "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\r\n"
    );
    h.server(b"535 no\r\n");
    assert_eq!(h.sent(), "", "no fallback unless opted in");

    let mut h = ready_plain_auth(ehlo);
    h.c.login(
        Credentials::password("tim", "tanstaaftanstaaf"),
        &ALL,
        "n",
        true,
    )
    .unwrap();
    h.drain();
    h.server(b"504 5.5.4 mechanism not available\r\n");
    assert_eq!(
        h.sent(),
        "AUTH CRAM-MD5\r\nAUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n"
    );
}

#[test]
fn auth_bad_challenge_sends_star() {
    let mut h = ready_plain_auth(b"250-mx\r\n250 AUTH LOGIN\r\n");
    h.c.login(Credentials::password("tim", "secret"), &ALL, "n", false)
        .unwrap();
    h.drain();
    h.sent();
    h.server(b"334 !!!not base64!!!\r\n");
    assert_eq!(h.sent(), "*\r\n");
    h.server(b"501 5.0.0 cancelled\r\n");
    assert!(matches!(
        auth_result(&h),
        Some((_, Err(AuthError::Sasl(_))))
    ));
}

#[test]
fn auth_too_many_rounds() {
    let mut h = ready_plain_auth(b"250-mx\r\n250 AUTH LOGIN\r\n");
    h.c.login(Credentials::password("tim", "secret"), &ALL, "n", false)
        .unwrap();
    h.drain();
    h.server(b"334 VXNlcm5hbWU6\r\n");
    h.server(b"334 UGFzc3dvcmQ6\r\n");
    h.server(b"334 UGFzc3dvcmQ6\r\n");
    assert!(h.sent().ends_with("*\r\n"));
    h.server(b"501 cancelled\r\n");
    assert!(matches!(
        auth_result(&h),
        Some((_, Err(AuthError::Sasl(_))))
    ));
}

#[test]
fn a_reply_to_a_command_not_yet_written_is_a_protocol_error() {
    let mut h = ready_plain_auth(b"250-mx\r\n250 AUTH LOGIN\r\n");
    h.c.login(Credentials::password("tim", "secret"), &ALL, "n", false)
        .unwrap();
    h.drain();
    h.sent();
    // Two challenges in one read: the second answers a response we have not sent.
    h.server(b"334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n");
    assert!(matches!(
        h.closed(),
        Some(CloseReason::Peer(PeerError::UnexpectedReply { .. }))
    ));
    assert!(!h.sent().contains("c2VjcmV0"), "the password never left");
}

#[test]
fn auth_scram_sha_256_rfc7677_through_the_session() {
    let mut h = ready_plain_auth(b"250-mx\r\n250 AUTH SCRAM-SHA-256 PLAIN\r\n");
    h.c.login(
        Credentials::password("user", "pencil"),
        &ALL,
        "rOprNGfwEbeRWgbNEkqO",
        false,
    )
    .unwrap();
    h.drain();
    // n,,n=user,r=rOprNGfwEbeRWgbNEkqO
    assert_eq!(
        h.sent(),
        "AUTH SCRAM-SHA-256 biwsbj11c2VyLHI9ck9wck5HZndFYmVSV2diTkVrcU8=\r\n"
    );
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let server_first =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    h.server(format!("334 {}\r\n", b64(server_first)).as_bytes());
    let client_final = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    assert_eq!(h.sent(), format!("{}\r\n", b64(client_final)));
    let server_final = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
    h.server(format!("334 {}\r\n", b64(server_final)).as_bytes());
    assert_eq!(h.sent(), "\r\n");
    h.server(b"235 2.7.0 ok\r\n");
    assert!(matches!(auth_result(&h), Some(("SCRAM-SHA-256", Ok(_)))));
}

#[test]
fn scram_server_without_proof_is_not_trusted() {
    let mut h = ready_plain_auth(b"250-mx\r\n250 AUTH SCRAM-SHA-256\r\n");
    h.c.login(
        Credentials::password("user", "pencil"),
        &ALL,
        "rOprNGfwEbeRWgbNEkqO",
        false,
    )
    .unwrap();
    h.drain();
    h.server(b"235 2.7.0 welcome, impostor\r\n");
    assert!(matches!(
        auth_result(&h),
        Some((_, Err(AuthError::Sasl(_))))
    ));
    assert!(h.c.is_closed());
}

#[test]
fn no_credentials_over_plaintext_unless_opted_in() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    assert_eq!(
        h.c.login(Credentials::password("u", "p"), &ALL, "n", false),
        Err(UsageError::PlaintextAuth)
    );
    assert_eq!(
        h.c.authenticate(Box::new(Plain::new("u", "p"))),
        Err(UsageError::PlaintextAuth)
    );
    // Opportunistic TLS that ends up in plaintext: refused when the AUTH would start.
    let mut h = Harness::new(config(TlsPolicy::Opportunistic));
    h.server(b"220 mx\r\n");
    h.server(b"250-mx\r\n250 AUTH PLAIN\r\n");
    assert_eq!(
        h.c.login(Credentials::password("u", "p"), &ALL, "n", false),
        Err(UsageError::PlaintextAuth)
    );
}

#[test]
fn no_mechanism_in_common() {
    let mut h = ready_plain_auth(b"250-mx\r\n250 AUTH GSSAPI\r\n");
    h.c.login(Credentials::password("u", "p"), &ALL, "n", false)
        .unwrap();
    h.drain();
    assert_eq!(h.sent(), "");
    assert!(matches!(
        auth_result(&h),
        Some(("", Err(AuthError::NoMechanism)))
    ));
}

fn b64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Runs `mech` against a server that answers `AUTH name` alone with an empty 334, and
/// checks that the deferred initial response `ir` is what follows, byte for byte.
fn deferred_exchange(mech: Box<dyn crate::sasl::SaslMechanism>, name: &str, ir: &[u8]) -> Harness {
    let mut h = ready_plain_auth(format!("250-mx\r\n250 AUTH {name}\r\n").as_bytes());
    h.c.authenticate(mech).unwrap();
    h.drain();
    assert_eq!(
        h.sent(),
        format!("AUTH {name}\r\n"),
        "no response on a long line"
    );
    h.server(b"334 \r\n");
    let line = h.sent();
    assert_eq!(line, format!("{}\r\n", b64(ir)));
    assert!(
        line.len() > 512,
        "the continuation line is exempt from 512 octets"
    );
    h
}

#[test]
fn long_plain_initial_response_is_sent_after_the_empty_334() {
    let password = "p".repeat(400);
    let mut h = deferred_exchange(
        Box::new(Plain::new("tim", password.as_str())),
        "PLAIN",
        format!("\0tim\0{password}").as_bytes(),
    );
    h.server(b"235 2.7.0 ok\r\n");
    assert!(matches!(auth_result(&h), Some(("PLAIN", Ok(_)))));
    assert!(!h.c.is_closed());
}

#[test]
fn long_xoauth2_token_is_sent_after_the_empty_334() {
    let token = "t".repeat(1500);
    let mut h = deferred_exchange(
        Box::new(crate::sasl::XOAuth2::new("me@example.com", token.as_str())),
        "XOAUTH2",
        format!("user=me@example.com\x01auth=Bearer {token}\x01\x01").as_bytes(),
    );
    h.server(b"235 2.7.0 ok\r\n");
    assert!(matches!(auth_result(&h), Some(("XOAUTH2", Ok(_)))));
}

#[test]
fn long_oauthbearer_token_is_sent_after_the_empty_334_and_errors_still_step() {
    let token = "t".repeat(1500);
    let mut h = deferred_exchange(
        Box::new(crate::sasl::OAuthBearer::new(
            "me@example.com",
            token.as_str(),
        )),
        "OAUTHBEARER",
        format!("n,a=me@example.com,\x01auth=Bearer {token}\x01\x01").as_bytes(),
    );
    // A later challenge (the RFC 7628 error report) goes to the mechanism as usual.
    let err = br#"{"status":"invalid_token"}"#;
    h.server(format!("334 {}\r\n", b64(err)).as_bytes());
    assert_eq!(h.sent(), "AQ==\r\n");
    h.server(b"535 5.7.8 no\r\n");
    assert!(matches!(
        auth_result(&h),
        Some(("OAUTHBEARER", Err(AuthError::Rejected { .. })))
    ));
}

#[test]
fn scram_with_a_long_authzid_sends_client_first_after_the_empty_334() {
    let authzid = "a".repeat(450);
    let mech = crate::sasl::ScramSha256::new("user", "pencil", "rOprNGfwEbeRWgbNEkqO")
        .with_authzid(authzid.clone());
    let mut h = deferred_exchange(
        Box::new(mech),
        "SCRAM-SHA-256",
        format!("n,a={authzid},n=user,r=rOprNGfwEbeRWgbNEkqO").as_bytes(),
    );
    // The server-first message then goes to the mechanism, which answers it.
    let server_first =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    h.server(format!("334 {}\r\n", b64(server_first.as_bytes())).as_bytes());
    let client_final = h.sent();
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(client_final.trim_end())
        .unwrap();
    let gs2 = format!("n,a={authzid},");
    assert!(
        decoded
            .starts_with(format!("c={},r=rOprNGfwEbeRWgbNEkqO%", b64(gs2.as_bytes())).as_bytes()),
        "{}",
        String::from_utf8_lossy(&decoded)
    );
}

#[test]
fn a_non_empty_first_challenge_after_a_deferred_response_is_cancelled() {
    let password = "p".repeat(400);
    let mut h = ready_plain_auth(b"250-mx\r\n250 AUTH PLAIN\r\n");
    h.c.authenticate(Box::new(Plain::new("tim", password.as_str())))
        .unwrap();
    h.drain();
    assert_eq!(h.sent(), "AUTH PLAIN\r\n");
    h.server(b"334 Zm9v\r\n");
    assert_eq!(
        h.sent(),
        "*\r\n",
        "the response is never sent to an odd challenge"
    );
    h.server(b"501 5.7.0 cancelled\r\n");
    assert!(matches!(
        auth_result(&h),
        Some((
            "PLAIN",
            Err(AuthError::Sasl(
                crate::sasl::SaslError::UnexpectedChallenge { .. }
            ))
        ))
    ));
    assert!(!h.c.is_closed());
}

#[test]
fn refused_plaintext_credentials_leave_the_session_healthy() {
    let mut h = Harness::new(config(TlsPolicy::Never));
    h.server(b"220 mx\r\n");
    h.server(b"250-mx\r\n250 AUTH PLAIN LOGIN\r\n");
    h.sent();
    assert_eq!(
        h.c.login(Credentials::password("u", "p"), &ALL, "n", false),
        Err(UsageError::PlaintextAuth)
    );
    h.drain();
    assert_eq!(h.sent(), "", "nothing sent, nothing closed");
    assert!(!h.c.is_closed());
    assert_eq!(h.c.close_reason(), None);
    assert!(h.c.is_idle());
    h.c.noop().unwrap();
    h.drain();
    assert_eq!(h.sent(), "NOOP\r\n");
    h.server(b"250 ok\r\n");
    h.c.quit().unwrap();
    h.drain();
    assert_eq!(h.sent(), "QUIT\r\n");
}

/// RFC 4954 §4: after a successful AUTH no other AUTH is sent: a new request is refused
/// with `AlreadyAuthenticated`, and one queued before the 235 fails without being sent.
#[test]
fn second_auth_after_success_is_refused() {
    let mut h = ready_plain_auth(b"250-mx\r\n250 AUTH PLAIN\r\n");
    let creds = || Credentials::password("tim", "tanstaaftanstaaf");
    h.c.login(creds(), &ALL, "n0nce", false).unwrap();
    // Queued while the first is still waiting for its reply.
    h.c.login(creds(), &ALL, "n0nce", false).unwrap();
    h.drain();
    assert_eq!(h.sent(), "AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n");
    assert!(!h.c.is_authenticated());
    h.server(b"235 2.7.0 Authentication successful\r\n");
    assert!(h.c.is_authenticated());
    assert_eq!(h.sent(), "", "the second AUTH is not sent");
    let results: Vec<_> = h
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::AuthDone { result, .. } => Some(result),
            _ => None,
        })
        .collect();
    assert_eq!(results.len(), 2);
    assert!(results[0].is_ok());
    assert_eq!(
        results[1],
        Err(AuthError::Usage(UsageError::AlreadyAuthenticated))
    );
    // Asked for after the success: refused at once, nothing queued.
    assert_eq!(
        h.c.login(creds(), &ALL, "n0nce", false),
        Err(UsageError::AlreadyAuthenticated)
    );
    assert_eq!(
        h.c.authenticate(Box::new(Plain::new("tim", "tanstaaftanstaaf"))),
        Err(UsageError::AlreadyAuthenticated)
    );
    h.drain();
    assert_eq!(h.sent(), "");
    assert!(h.c.is_idle());
}

/// RFC 4954 §4: AUTH is never sent during a mail transaction: asked for while one is under
/// way (commands pipelined, content still to come), it waits for the end of the
/// transaction.
#[test]
fn auth_during_a_transaction_waits_for_its_end() {
    let mut h = ready_plain_auth(b"250-mx\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\n");
    h.c.send_mail(env("<a@x.org>", &["<b@y.org>"])).unwrap();
    h.drain();
    assert_eq!(
        h.sent(),
        "MAIL FROM:<a@x.org>\r\nRCPT TO:<b@y.org>\r\nDATA\r\n"
    );
    h.c.login(
        Credentials::password("tim", "tanstaaftanstaaf"),
        &ALL,
        "n0nce",
        false,
    )
    .unwrap();
    h.drain();
    assert_eq!(h.sent(), "", "no AUTH inside the transaction");
    h.server(b"250 ok\r\n250 ok\r\n354 go\r\n");
    assert_eq!(h.sent(), "");
    h.body(b"hi\r\n");
    assert_eq!(h.sent(), "hi\r\n.\r\n");
    h.server(b"250 queued\r\n");
    assert!(matches!(
        h.outcome().recipients[0].status,
        RcptStatus::Accepted(_)
    ));
    assert_eq!(h.sent(), "AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n");
    h.server(b"235 2.7.0 ok\r\n");
    assert!(matches!(auth_result(&h), Some(("PLAIN", Ok(_)))));
}
