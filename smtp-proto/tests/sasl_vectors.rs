//! `smtp_proto::sasl`: published vectors, refusals, selection and redaction.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use smtp_proto::command::{Mechanism, Secret};
use smtp_proto::sasl::{
    CramMd5, Credentials, Fault, Login, MAX_CHALLENGE_LEN, MAX_CHALLENGES, OAuthBearer, OAuthError,
    Plain, SaslError, SaslMechanism, ScramSha1, ScramSha256, XOAuth2, choose_mechanism,
    select_mechanism,
};

fn ir(m: &mut dyn SaslMechanism) -> Vec<u8> {
    m.initial_response().unwrap().unwrap().expose().to_vec()
}

// ---- PLAIN (RFC 4616 §4) ----

#[test]
fn plain_rfc4616_examples() {
    let mut m = Plain::new("tim", "tanstaaftanstaaf");
    assert_eq!(m.name(), "PLAIN");
    assert_eq!(ir(&mut m), b"\0tim\0tanstaaftanstaaf");
    m.finish().unwrap();

    let mut m = Plain::new("Kurt", "xipj3plmq").with_authzid("Ursel");
    assert_eq!(ir(&mut m), b"Ursel\0Kurt\0xipj3plmq");
}

#[test]
fn plain_refuses_nul_but_not_long_fields() {
    let err = Plain::new("tim", "pass\0word")
        .initial_response()
        .unwrap_err();
    assert_eq!(err, SaslError::CredentialContainsNul { field: "password" });
    assert_eq!(err.fault(), Fault::Caller);

    let err = Plain::new("t\0m", "x").initial_response().unwrap_err();
    assert_eq!(err, SaslError::CredentialContainsNul { field: "username" });

    let err = Plain::new("tim", "x")
        .with_authzid("a\0")
        .initial_response()
        .unwrap_err();
    assert_eq!(err, SaslError::CredentialContainsNul { field: "authzid" });

    // No length cap (RFC 4616 §2: 255 octets is what a server must accept at least;
    // tokens used as passwords are longer): long fields are encoded as given.
    for n in [255, 256, 4096] {
        let long = "a".repeat(n);
        let mut m = Plain::new(long.as_str(), long.as_str()).with_authzid(long.as_str());
        let mut want = long.as_bytes().to_vec();
        want.push(0);
        want.extend_from_slice(long.as_bytes());
        want.push(0);
        want.extend_from_slice(long.as_bytes());
        assert_eq!(ir(&mut m), want);
    }
    // NUL is still refused in a long field.
    let long_nul = format!("{}\0", "p".repeat(1000));
    assert_eq!(
        Plain::new("tim", long_nul.as_str())
            .initial_response()
            .unwrap_err(),
        SaslError::CredentialContainsNul { field: "password" }
    );

    assert_eq!(
        Plain::new("", "x").initial_response().unwrap_err(),
        SaslError::EmptyCredential { field: "username" }
    );
}

#[test]
fn plain_challenge_handling() {
    // Not sent inline: the server's empty challenge gets the initial response.
    let mut m = Plain::new("tim", "tanstaaftanstaaf");
    assert_eq!(m.step(b"").unwrap().expose(), b"\0tim\0tanstaaftanstaaf");
    assert_eq!(
        m.step(b"").unwrap_err(),
        SaslError::UnexpectedChallenge { mechanism: "PLAIN" }
    );

    let mut m = Plain::new("tim", "tanstaaftanstaaf");
    ir(&mut m);
    let err = m.step(b"what?").unwrap_err();
    assert_eq!(err.fault(), Fault::Server);
}

// ---- LOGIN ----

#[test]
fn login_answers_by_position() {
    let mut m = Login::new("tim", "tanstaaftanstaaf");
    assert_eq!(m.initial_response().unwrap(), None);
    // Prompts are ignored, even misleading ones.
    assert_eq!(m.step(b"Password:").unwrap().expose(), b"tim");
    assert_eq!(m.step(b"Username:").unwrap().expose(), b"tanstaaftanstaaf");
    assert_eq!(
        m.step(b"Password:").unwrap_err(),
        SaslError::UnexpectedChallenge { mechanism: "LOGIN" }
    );
    m.finish().unwrap();
}

#[test]
fn too_many_rounds() {
    let mut m = Login::new("tim", "pw");
    let mut last = None;
    for _ in 0..MAX_CHALLENGES {
        last = Some(m.step(b"Username:"));
    }
    assert!(matches!(
        last,
        Some(Err(SaslError::UnexpectedChallenge { .. }))
    ));
    assert_eq!(
        m.step(b"Username:").unwrap_err(),
        SaslError::TooManyRounds {
            max: MAX_CHALLENGES
        }
    );

    let mut m = ScramSha256::new("user", "pencil", "nonce");
    ir(&mut m);
    for _ in 0..MAX_CHALLENGES {
        let _ = m.step(b"r=x");
    }
    assert_eq!(
        m.step(b"").unwrap_err(),
        SaslError::TooManyRounds {
            max: MAX_CHALLENGES
        }
    );
}

#[test]
fn oversized_challenge() {
    let big = vec![b'a'; MAX_CHALLENGE_LEN + 1];
    let err = CramMd5::new("tim", "pw").step(&big).unwrap_err();
    assert_eq!(
        err,
        SaslError::ChallengeTooLarge {
            len: big.len(),
            max: MAX_CHALLENGE_LEN
        }
    );
    assert!(CramMd5::new("tim", "pw").step(&big[1..]).is_ok());
}

// ---- CRAM-MD5 (RFC 2195 §2) ----

#[test]
fn cram_md5_rfc2195_example() {
    let mut m = CramMd5::new("tim", "tanstaaftanstaaf");
    assert_eq!(m.name(), "CRAM-MD5");
    assert_eq!(m.initial_response().unwrap(), None);
    let challenge = STANDARD
        .decode("PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+")
        .unwrap();
    assert_eq!(challenge, b"<1896.697170952@postoffice.reston.mci.net>");
    let response = m.step(&challenge).unwrap();
    assert_eq!(response.expose(), b"tim b913a602c7eda7a495b4e6e7334d3890");
    assert_eq!(
        STANDARD.encode(response.expose()),
        "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"
    );
    assert!(m.step(&challenge).is_err());
    m.finish().unwrap();
}

#[test]
fn cram_md5_empty_challenge() {
    let err = CramMd5::new("tim", "x").step(b"").unwrap_err();
    assert!(matches!(err, SaslError::MalformedChallenge { .. }));
}

// ---- XOAUTH2 (Google's documented format) ----

#[test]
fn xoauth2_google_example() {
    let mut m = XOAuth2::new(
        "someuser@example.com",
        "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg",
    );
    assert_eq!(m.name(), "XOAUTH2");
    let ir = ir(&mut m);
    assert_eq!(
        ir,
        b"user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"
    );
    assert_eq!(
        STANDARD.encode(&ir),
        "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="
    );
    m.finish().unwrap();
    assert_eq!(m.take_server_error(), None);
}

#[test]
fn xoauth2_error_challenge() {
    let mut m = XOAuth2::new("someuser@example.com", "expired");
    ir(&mut m);
    // Google's 334 error report (with its trailing newline).
    let challenge = STANDARD
        .decode("eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIG1hYyIsInNjb3BlIjoiaHR0cHM6Ly9tYWlsLmdvb2dsZS5jb20vIn0K")
        .unwrap();
    assert_eq!(m.step(&challenge).unwrap().expose(), b"");
    // A second challenge is not expected.
    assert!(m.step(&challenge).is_err());
    let Some(SaslError::OAuth(report)) = m.take_server_error() else {
        panic!()
    };
    assert_eq!(report.status.as_deref(), Some("401"));
    assert_eq!(report.schemes.as_deref(), Some("bearer mac"));
    assert_eq!(report.scope.as_deref(), Some("https://mail.google.com/"));
    assert_eq!(report.openid_configuration, None);
    assert_eq!(SaslError::OAuth(report.clone()).fault(), Fault::Server);
    assert!(SaslError::OAuth(report).to_string().contains("401"));
    assert_eq!(m.take_server_error(), None);
}

#[test]
fn oauth_error_report_not_json() {
    let mut m = XOAuth2::new("u", "t");
    ir(&mut m);
    assert_eq!(m.step(b"not json \xff").unwrap().expose(), b"");
    let Some(SaslError::OAuth(report)) = m.take_server_error() else {
        panic!()
    };
    let expected = OAuthError::default();
    assert_eq!(report.status, expected.status);
    assert_eq!(report.raw, "not json \u{fffd}");
}

#[test]
fn oauth_refuses_separator_in_credentials() {
    let err = XOAuth2::new("u\x01", "t").initial_response().unwrap_err();
    assert_eq!(err.fault(), Fault::Caller);
    let err = OAuthBearer::new("u", "t\x01")
        .initial_response()
        .unwrap_err();
    assert!(matches!(
        err,
        SaslError::InvalidCredential { field: "token", .. }
    ));
    let err = OAuthBearer::new("u", "").initial_response().unwrap_err();
    assert_eq!(err, SaslError::EmptyCredential { field: "token" });
}

// ---- OAUTHBEARER (RFC 7628 §4.1, §4.3) ----

#[test]
fn oauthbearer_rfc7628_example() {
    let mut m = OAuthBearer::new(
        "user@example.com",
        "vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg==",
    )
    .with_host("server.example.com")
    .with_port(143);
    assert_eq!(m.name(), "OAUTHBEARER");
    let ir = ir(&mut m);
    assert_eq!(
        ir,
        b"n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg==\x01\x01"
    );
    assert_eq!(
        STANDARD.encode(&ir),
        "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2c9PQEB"
    );
    m.finish().unwrap();
}

#[test]
fn oauthbearer_without_host_port_escapes_user() {
    let mut m = OAuthBearer::new("a,b=c", "tok");
    assert_eq!(ir(&mut m), b"n,a=a=2Cb=3Dc,\x01auth=Bearer tok\x01\x01");
}

#[test]
fn oauthbearer_error_challenge() {
    let mut m = OAuthBearer::new("user@example.com", "bad").with_host("server.example.com");
    ir(&mut m);
    let challenge = STANDARD
        .decode("eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NvcGUiOiJleGFtcGxlX3Njb3BlIiwib3BlbmlkLWNvbmZpZ3VyYXRpb24iOiJodHRwczovL2V4YW1wbGUuY29tLy53ZWxsLWtub3duL29wZW5pZC1jb25maWd1cmF0aW9uIn0=")
        .unwrap();
    let response = m.step(&challenge).unwrap();
    assert_eq!(response.expose(), b"\x01");
    assert_eq!(STANDARD.encode(response.expose()), "AQ==");
    let Some(SaslError::OAuth(report)) = m.take_server_error() else {
        panic!()
    };
    assert_eq!(report.status.as_deref(), Some("invalid_token"));
    assert_eq!(report.scope.as_deref(), Some("example_scope"));
    assert_eq!(
        report.openid_configuration.as_deref(),
        Some("https://example.com/.well-known/openid-configuration")
    );
    assert_eq!(report.schemes, None);
}

#[test]
fn oauth_json_escapes_and_other_values() {
    let mut m = OAuthBearer::new("u", "t");
    ir(&mut m);
    m.step(
        br#" {"status" : 400, "x": [1, {"y": null}, true], "scope": "a\"b\u00e9\ud83d\ude00"} "#,
    )
    .unwrap();
    let Some(SaslError::OAuth(report)) = m.take_server_error() else {
        panic!()
    };
    assert_eq!(report.status.as_deref(), Some("400"));
    assert_eq!(report.scope.as_deref(), Some("a\"bé😀"));
}

// ---- SCRAM-SHA-256 (RFC 7677 §3) ----

const CLIENT_FIRST: &[u8] = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
const SERVER_FIRST: &[u8] =
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const CLIENT_FINAL: &[u8] = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const SERVER_FINAL: &[u8] = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

fn rfc7677() -> ScramSha256 {
    ScramSha256::new("user", "pencil", "rOprNGfwEbeRWgbNEkqO")
}

#[test]
fn scram_rfc7677_exchange() {
    let mut m = rfc7677();
    assert_eq!(m.name(), "SCRAM-SHA-256");
    assert_eq!(ir(&mut m), CLIENT_FIRST);
    assert_eq!(m.finish().unwrap_err(), SaslError::ServerNotVerified);
    assert_eq!(m.step(SERVER_FIRST).unwrap().expose(), CLIENT_FINAL);
    assert_eq!(m.step(SERVER_FINAL).unwrap().expose(), b"");
    m.finish().unwrap();
    assert!(m.step(b"").is_err());
}

// ---- SCRAM-SHA-1 (RFC 5802 §5) ----

#[test]
fn scram_sha1_rfc5802_exchange() {
    let mut m = ScramSha1::new("user", "pencil", "fyko+d2lbbFgONRv9qkxdawL");
    assert_eq!(m.name(), "SCRAM-SHA-1");
    assert_eq!(ir(&mut m), b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
    let server_first = b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
    assert_eq!(
        m.step(server_first).unwrap().expose(),
        b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
    );
    assert_eq!(m.finish().unwrap_err(), SaslError::ServerNotVerified);
    // A wrong server signature (SCRAM-SHA-256's) is refused; the right one verifies.
    let mut wrong = m.clone();
    assert_eq!(
        wrong.step(SERVER_FINAL).unwrap_err(),
        SaslError::ServerSignatureMismatch
    );
    assert_eq!(
        m.step(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=").unwrap().expose(),
        b""
    );
    m.finish().unwrap();
    // Chosen by name from password credentials, and shown without its secrets.
    let creds = Credentials::password("user", "pencil");
    let by_name = creds.mechanism(&Mechanism::SCRAM_SHA_1, "n1").unwrap();
    assert_eq!(by_name.name(), "SCRAM-SHA-1");
    let dbg = format!("{m:?}");
    assert!(
        dbg.starts_with("ScramSha1") && !dbg.contains("pencil"),
        "{dbg}"
    );
}

#[test]
fn scram_client_first_after_empty_challenge() {
    let mut m = rfc7677();
    assert_eq!(m.step(b"").unwrap().expose(), CLIENT_FIRST);
    assert_eq!(m.step(SERVER_FIRST).unwrap().expose(), CLIENT_FINAL);
}

#[test]
fn scram_escapes_username_and_authzid() {
    let mut m = ScramSha256::new("a=b,c", "pw", "abc").with_authzid("x,y");
    assert_eq!(ir(&mut m), b"n,a=x=2Cy,n=a=3Db=2Cc,r=abc");
    let reply = m.step(b"r=abcdef,s=QSXCR+Q6sek8bf92,i=4096").unwrap();
    // c= is base64 of the GS2 header "n,a=x=2Cy,".
    let expected_c = format!("c={},r=abcdef,p=", STANDARD.encode("n,a=x=2Cy,"));
    assert!(reply.expose().starts_with(expected_c.as_bytes()));
}

#[test]
fn scram_refuses_bad_caller_input() {
    for nonce in ["", "a,b", "caf\u{e9}", "a b"] {
        let err = ScramSha256::new("user", "pencil", nonce)
            .initial_response()
            .unwrap_err();
        assert_eq!(err.fault(), Fault::Caller, "{nonce:?}");
    }
    let err = ScramSha256::new("us\0er", "pencil", "n")
        .initial_response()
        .unwrap_err();
    assert_eq!(err, SaslError::SaslPrep { field: "username" });
    let mut m = ScramSha256::new("user", Secret::new(b"\xff".to_vec()), "n");
    ir(&mut m);
    assert_eq!(
        m.step(b"r=nX,s=QSXCR+Q6sek8bf92,i=4096").unwrap_err(),
        SaslError::SaslPrep { field: "password" }
    );
}

fn scram_after_first(server_first: &[u8]) -> Result<Secret, SaslError> {
    let mut m = rfc7677();
    ir(&mut m);
    let r = m.step(server_first);
    assert!(m.finish().is_err());
    r
}

#[test]
fn scram_wrong_nonce() {
    for first in [
        &b"r=XOprNGfwEbeRWgbNEkqO%hvY,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"[..],
        b"r=rOprNGfwEbeRWgbNEkq,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        b"r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    ] {
        assert_eq!(
            scram_after_first(first).unwrap_err(),
            SaslError::NonceMismatch
        );
    }
}

#[test]
fn scram_iteration_bounds() {
    let low = b"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4095";
    assert_eq!(
        scram_after_first(low).unwrap_err(),
        SaslError::IterationsTooLow {
            iterations: 4095,
            min: 4096
        }
    );
    let high = b"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1000001";
    assert_eq!(
        scram_after_first(high).unwrap_err(),
        SaslError::IterationsTooHigh {
            iterations: 1_000_001,
            max: 1_000_000
        }
    );
    let huge = b"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999999999999999";
    assert!(matches!(
        scram_after_first(huge).unwrap_err(),
        SaslError::IterationsTooHigh { .. }
    ));

    // Configurable: a stricter minimum refuses the RFC's 4096, a looser one accepts 1.
    let mut m = rfc7677().with_iteration_limits(10_000, 20_000);
    ir(&mut m);
    assert!(matches!(
        m.step(SERVER_FIRST).unwrap_err(),
        SaslError::IterationsTooLow { .. }
    ));
    let mut m = rfc7677().with_iteration_limits(1, 10);
    ir(&mut m);
    assert!(
        m.step(b"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1")
            .is_ok()
    );
}

#[test]
fn scram_malformed_server_first() {
    for first in [
        &b""[..],
        b"garbage",
        b"s=W22ZaJ0SNY7soEsUEjb6gQ==,r=rOprNGfwEbeRWgbNEkqOxyz,i=4096",
        b"r=rOprNGfwEbeRWgbNEkqOxyz,i=4096",
        b"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==",
        b"r=rOprNGfwEbeRWgbNEkqOxyz,s=!!!,i=4096",
        b"r=rOprNGfwEbeRWgbNEkqOxyz,s=,i=4096",
        b"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=04096",
        b"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",
        b"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-1",
        b"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=",
        b"m=ext,r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        b"r=rOprNGfwEbeRWgbNEkqO\xff,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    ] {
        let err = scram_after_first(first).unwrap_err();
        assert!(
            matches!(err, SaslError::MalformedChallenge { .. }),
            "{:?}: {err:?}",
            String::from_utf8_lossy(first)
        );
        assert_eq!(err.fault(), Fault::Server);
    }
    // Extensions after i= are allowed.
    let ok = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,x=ext";
    assert!(scram_after_first(ok).is_ok());
}

#[test]
fn scram_bad_server_signature() {
    for fin in [
        &b"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="[..],
        b"v=",
        b"v=AAAA",
    ] {
        let mut m = rfc7677();
        ir(&mut m);
        m.step(SERVER_FIRST).unwrap();
        assert_eq!(m.step(fin).unwrap_err(), SaslError::ServerSignatureMismatch);
        assert_eq!(m.finish().unwrap_err(), SaslError::ServerNotVerified);
    }
    let mut m = rfc7677();
    ir(&mut m);
    m.step(SERVER_FIRST).unwrap();
    assert!(matches!(
        m.step(b"x=1").unwrap_err(),
        SaslError::MalformedChallenge { .. }
    ));
    assert!(m.finish().is_err());
}

#[test]
fn scram_server_error() {
    let mut m = rfc7677();
    ir(&mut m);
    m.step(SERVER_FIRST).unwrap();
    let err = m.step(b"e=invalid-proof").unwrap_err();
    assert_eq!(
        err,
        SaslError::ServerRejected {
            message: "invalid-proof".into()
        }
    );
    assert_eq!(err.fault(), Fault::Server);
    assert!(m.finish().is_err());
}

#[test]
fn scram_success_without_server_final() {
    // A server (or attacker) that answers client-final with 235 straight away.
    let mut m = rfc7677();
    ir(&mut m);
    m.step(SERVER_FIRST).unwrap();
    assert_eq!(m.finish().unwrap_err(), SaslError::ServerNotVerified);
}

// ---- Selection ----

fn pw() -> Credentials {
    Credentials::password("user", "pencil")
}

fn all() -> Vec<Mechanism> {
    [
        Mechanism::SCRAM_SHA_256,
        Mechanism::CRAM_MD5,
        Mechanism::PLAIN,
        Mechanism::LOGIN,
        Mechanism::OAUTHBEARER,
        Mechanism::XOAUTH2,
    ]
    .into()
}

/// Advertised, allowed, credentials, expected choice.
type Row<'a> = (
    &'a [&'a str],
    &'a [Mechanism],
    &'a Credentials,
    Option<&'a str>,
);

#[test]
fn selection_table() {
    let token = Credentials::oauth2("user@example.com", "tok");
    let with_authzid = Credentials::Password {
        authzid: Some("admin".into()),
        username: "user".into(),
        password: "pencil".into(),
    };
    let plain_only = [Mechanism::PLAIN];
    let no_plain = [
        Mechanism::SCRAM_SHA_256,
        Mechanism::CRAM_MD5,
        Mechanism::LOGIN,
    ];
    let all = all();
    #[rustfmt::skip]
    let table: &[Row<'_>] = &[
        (&["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256"], &all, &pw(), Some("SCRAM-SHA-256")),
        (&["LOGIN", "PLAIN", "CRAM-MD5"], &all, &pw(), Some("CRAM-MD5")),
        (&["LOGIN", "PLAIN"], &all, &pw(), Some("PLAIN")),
        (&["LOGIN"], &all, &pw(), Some("LOGIN")),
        (&["login", "plain"], &all, &pw(), Some("PLAIN")),
        (&["XOAUTH2", "OAUTHBEARER"], &all, &pw(), None),
        (&[], &all, &pw(), None),
        (&["SCRAM-SHA-256", "PLAIN"], &plain_only, &pw(), Some("PLAIN")),
        (&["SCRAM-SHA-256"], &plain_only, &pw(), None),
        (&["PLAIN", "LOGIN"], &no_plain, &pw(), Some("LOGIN")),
        (&["PLAIN", "LOGIN"], &[], &pw(), None),
        (&["SCRAM-SHA-1", "GSSAPI", "NTLM", "PLAIN"], &all, &pw(), Some("PLAIN")),
        (&["CRAM-MD5", "LOGIN", "PLAIN"], &all, &with_authzid, Some("PLAIN")),
        (&["CRAM-MD5", "LOGIN"], &all, &with_authzid, None),
        (&["SCRAM-SHA-256", "CRAM-MD5"], &all, &with_authzid, Some("SCRAM-SHA-256")),
        (&["PLAIN", "XOAUTH2", "OAUTHBEARER"], &all, &token, Some("OAUTHBEARER")),
        (&["PLAIN", "XOAUTH2"], &all, &token, Some("XOAUTH2")),
        (&["XOAUTH2", "OAUTHBEARER"], &[Mechanism::XOAUTH2], &token, Some("XOAUTH2")),
        (&["PLAIN", "LOGIN", "SCRAM-SHA-256"], &all, &token, None),
    ];
    for (i, (advertised, allowed, creds, expected)) in table.iter().enumerate() {
        let chosen = choose_mechanism(advertised.iter().copied(), allowed, creds);
        assert_eq!(chosen.as_ref().map(Mechanism::as_str), *expected, "row {i}");
        let built = select_mechanism(advertised.iter().copied(), allowed, creds, "nonce");
        assert_eq!(built.as_ref().map(|m| m.name()), *expected, "row {i}");
    }
}

#[test]
fn selected_mechanism_runs() {
    let mut m = select_mechanism(
        ["SCRAM-SHA-256"],
        &[Mechanism::SCRAM_SHA_256],
        &pw(),
        "rOprNGfwEbeRWgbNEkqO",
    )
    .unwrap();
    assert_eq!(
        m.initial_response().unwrap().unwrap().expose(),
        CLIENT_FIRST
    );
    assert_eq!(m.step(SERVER_FIRST).unwrap().expose(), CLIENT_FINAL);
    m.step(SERVER_FINAL).unwrap();
    m.finish().unwrap();

    let with_authzid = Credentials::Password {
        authzid: Some("Ursel".into()),
        username: "Kurt".into(),
        password: "xipj3plmq".into(),
    };
    let mut m = select_mechanism(["PLAIN"], &all(), &with_authzid, "n").unwrap();
    assert_eq!(
        m.initial_response().unwrap().unwrap().expose(),
        b"Ursel\0Kurt\0xipj3plmq"
    );

    assert!(pw().mechanism(&Mechanism::EXTERNAL, "n").is_none());
    assert!(pw().mechanism(&Mechanism::XOAUTH2, "n").is_none());
}

// ---- Redaction ----

#[test]
fn debug_never_shows_secrets() {
    const PASSWORD: &str = "pencil-Sup3rSecret";
    const TOKEN: &str = "ya29.T0kenS3cret";
    let password = Credentials::password("user", PASSWORD);
    let token = Credentials::oauth2("user@example.com", TOKEN);
    let mut shown = vec![format!("{password:?}"), format!("{token:?}")];

    let mut mechs: Vec<Box<dyn SaslMechanism>> = Vec::new();
    for name in [
        Mechanism::SCRAM_SHA_256,
        Mechanism::CRAM_MD5,
        Mechanism::PLAIN,
        Mechanism::LOGIN,
    ] {
        mechs.push(password.mechanism(&name, "rOprNGfwEbeRWgbNEkqO").unwrap());
    }
    for name in [Mechanism::OAUTHBEARER, Mechanism::XOAUTH2] {
        mechs.push(token.mechanism(&name, "n").unwrap());
    }
    let srv_first = b"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    for m in &mut mechs {
        shown.push(format!("{m:?}"));
        if let Ok(Some(r)) = m.initial_response() {
            shown.push(format!("{r:?} {m:?} {m:#?}"));
        }
        for challenge in [&srv_first[..], b"<1.2@x>", b"Password:"] {
            match m.step(challenge) {
                Ok(r) => shown.push(format!("{r:?} {m:?}")),
                Err(e) => shown.push(format!("{e:?} {e} {m:?}")),
            }
        }
        if let Some(e) = m.take_server_error() {
            shown.push(format!("{e:?} {e}"));
        }
    }
    for s in &shown {
        assert!(!s.contains(PASSWORD) && !s.contains(TOKEN), "leaked: {s}");
        assert!(!s.contains("pencil"), "leaked: {s}");
    }
    assert!(shown[0].contains("user"));
}
