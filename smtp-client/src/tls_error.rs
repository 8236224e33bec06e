//! TLS failures as sentences a user can act on (never rustls' `Debug` text).

use std::fmt;
use std::io;

use rustls::pki_types::UnixTime;
use rustls::{AlertDescription, CertificateError};

/// A failed TLS handshake: the sentence, with the original error as its source.
#[derive(Debug)]
pub(crate) struct TlsFailure {
    text: String,
    source: io::Error,
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for TlsFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// `e` (from a TLS handshake) with a readable message; its kind is kept.
pub(crate) fn describe(e: io::Error) -> io::Error {
    let text = match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(r) => rustls_text(r),
        None if e.kind() == io::ErrorKind::UnexpectedEof => {
            "the server closed the connection during the handshake (is this a TLS port?)".into()
        }
        None => return e,
    };
    io::Error::new(e.kind(), TlsFailure { text, source: e })
}

/// Why a certificate verifier refused the server's chain, as the end of a sentence ("not
/// verified, because ...").
pub(crate) fn refusal_text(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(c) => certificate_text(c),
        other => rustls_text(other),
    }
}

fn rustls_text(e: &rustls::Error) -> String {
    use rustls::Error as E;
    match e {
        E::InvalidCertificate(c) => {
            format!(
                "the server's certificate was refused: {}",
                certificate_text(c)
            )
        }
        E::AlertReceived(a) => alert_text(*a),
        E::NoCertificatesPresented => "the server presented no certificate".into(),
        E::InvalidMessage(_) => {
            "the server did not speak TLS (a plaintext port? then use STARTTLS \
                                 or no TLS)"
                .into()
        }
        E::PeerIncompatible(p) => format!(
            "the server's TLS is incompatible with this client: {}",
            words(&format!("{p:?}"))
        ),
        E::PeerMisbehaved(p) => {
            format!(
                "the server broke the TLS protocol: {}",
                words(&format!("{p:?}"))
            )
        }
        other => other.to_string(),
    }
}

fn certificate_text(c: &CertificateError) -> String {
    use CertificateError as C;
    match c {
        C::UnknownIssuer => "it is not signed by a trusted authority (for a private CA, trust it \
                             with TlsOptions::with_ca_file)"
            .into(),
        C::Expired => "it has expired".into(),
        C::ExpiredContext { time, not_after } => format!(
            "it expired on {} (this machine's time is {})",
            date(*not_after),
            date(*time)
        ),
        C::NotValidYet => "it is not valid yet (check this machine's clock)".into(),
        C::NotValidYetContext { time, not_before } => format!(
            "it is valid only from {} (this machine's time is {}: check its clock)",
            date(*not_before),
            date(*time)
        ),
        C::NotValidForName => "it does not name this server (connect by a name it holds, or set \
                               TlsOptions::with_server_name)"
            .into(),
        C::NotValidForNameContext { expected, .. } => format!(
            "it does not name {} (connect by a name it holds, or set \
             TlsOptions::with_server_name)",
            expected.to_str()
        ),
        C::Revoked => "it has been revoked".into(),
        C::BadSignature => "its signature is invalid".into(),
        C::BadEncoding => "it is malformed".into(),
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            "it is not meant for a TLS server".into()
        }
        C::Other(o) => {
            let t = o.to_string();
            if t.contains("CaUsedAsEndEntity") {
                "the server presented a CA certificate as its own (a misconfigured server)".into()
            } else {
                words(&t)
            }
        }
        other => words(&format!("{other:?}")),
    }
}

fn alert_text(a: AlertDescription) -> String {
    use AlertDescription as A;
    match a {
        A::HandshakeFailure => {
            "the server ended the handshake: no TLS version or cipher suite in common".into()
        }
        A::ProtocolVersion => "the server ended the handshake: no TLS version in common".into(),
        A::CertificateRequired => "the server requires a client certificate (see \
                                   TlsOptions::with_client_cert_pem)"
            .into(),
        A::BadCertificate | A::UnknownCA | A::CertificateUnknown | A::AccessDenied => {
            "the server refused this client's certificate".into()
        }
        A::UnrecognisedName => "the server does not know the name sent in SNI (see \
                                TlsOptions::with_server_name)"
            .into(),
        other => format!(
            "the server ended the handshake with the alert \"{}\"",
            words(&format!("{other:?}"))
        ),
    }
}

/// `CamelCase` names and `Foo(Bar)` nesting as lower-case words.
fn words(s: &str) -> String {
    let mut out = String::new();
    for ch in s.chars() {
        match ch {
            '(' | ')' | '{' | '}' | '"' => {
                if !out.ends_with(' ') && !out.is_empty() {
                    out.push(' ');
                }
            }
            c if c.is_ascii_uppercase() => {
                if !out.is_empty() && !out.ends_with(' ') {
                    out.push(' ');
                }
                out.push(c.to_ascii_lowercase());
            }
            c => out.push(c),
        }
    }
    out.trim().to_owned()
}

/// `YYYY-MM-DD HH:MM:SS UTC` of a Unix time.
fn date(t: UnixTime) -> String {
    date_text(i64::try_from(t.as_secs()).unwrap_or(i64::MAX))
}

/// Seconds since the Unix epoch as `YYYY-MM-DD hh:mm:ss UTC` (before 1970 too).
pub(crate) fn date_text(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_errors_read_as_sentences() {
        let e = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
        );
        let t = describe(e).to_string();
        assert!(t.contains("not signed by a trusted authority"), "{t}");
        let e = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::ExpiredContext {
                time: UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_796_292_402)),
                not_after: UnixTime::since_unix_epoch(std::time::Duration::from_secs(0)),
            }),
        );
        let t = describe(e).to_string();
        assert!(t.contains("expired on 1970-01-01 00:00:00 UTC"), "{t}");
        assert!(t.contains("2026-12-03 10:06:42 UTC"), "{t}");
        assert!(!t.contains("UNIX") && !t.contains("Context"), "{t}");
        let e = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(AlertDescription::DecryptError),
        );
        assert_eq!(
            describe(e).to_string(),
            "the server ended the handshake with the alert \"decrypt error\""
        );
        assert_eq!(
            words("Other(OtherError(CaUsedAsEndEntity))"),
            "other other error ca used as end entity"
        );
    }
}
