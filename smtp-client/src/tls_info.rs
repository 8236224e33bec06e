//! What a TLS handshake established ([`TlsInfo`]): protocol version, cipher suite, ALPN,
//! the server's certificate chain and whether it was verified; and, with the `x509`
//! feature, a readable summary of each certificate ([`CertSummary`]).
//!
//! A failed verification still leaves the chain to look at: the verifier the session
//! builds records the chain the server presented when the real (webpki) verifier refuses
//! it, then fails the handshake exactly as before.

use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// The outcome of the server certificate's verification. Its `Display` is the sentence a
/// tool shows.
///
/// ```
/// use smtp_client::Verification;
///
/// let v = Verification::Failed("it has expired".into());
/// assert_eq!(v.to_string(), "not verified, because it has expired");
/// assert_eq!(Verification::Verified.to_string(), "verified");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verification {
    /// The chain was verified against the trusted roots and names the server.
    Verified,
    /// Not checked: certificate checks are off
    /// ([`TlsOptions::dangerous_accept_invalid_certs`](crate::TlsOptions::dangerous_accept_invalid_certs)).
    Disabled,
    /// The chain was refused (the handshake failed); why, as a sentence.
    Failed(String),
    /// Unknown: the driver ran a handshake of its own and reported no outcome.
    Unknown,
}

impl std::fmt::Display for Verification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verification::Verified => f.write_str("verified"),
            Verification::Disabled => {
                f.write_str("not verified, because certificate checks are off")
            }
            Verification::Failed(why) => write!(f, "not verified, because {why}"),
            Verification::Unknown => f.write_str("unknown (the handshake was not rustls')"),
        }
    }
}

/// What a TLS handshake established, as a session keeps it
/// ([`Session::tls_info`](crate::Session::tls_info)).
///
/// After a handshake that failed because the server's certificate was refused, it holds
/// the chain the server presented and [`Verification::Failed`] (and the protocol version
/// and cipher suite when the driver reported them with
/// [`Exchange::tls_failed_with`](crate::Exchange::tls_failed_with)).
///
/// ```
/// use smtp_client::{TlsInfo, Verification};
///
/// // A driver with a rustls connection reports it with `Exchange::tls_established_with`;
/// // the session then fills in the verification outcome.
/// let info = TlsInfo::default();
/// assert_eq!(info.protocol_version(), None);
/// assert!(info.peer_certificates().is_empty());
/// assert_eq!(info.verification(), &Verification::Unknown);
/// ```
#[derive(Clone, Debug)]
pub struct TlsInfo {
    protocol: Option<rustls::ProtocolVersion>,
    suite: Option<rustls::CipherSuite>,
    alpn: Option<Vec<u8>>,
    chain: Vec<CertificateDer<'static>>,
    verification: Verification,
}

impl Default for TlsInfo {
    fn default() -> Self {
        TlsInfo {
            protocol: None,
            suite: None,
            alpn: None,
            chain: Vec::new(),
            verification: Verification::Unknown,
        }
    }
}

impl TlsInfo {
    /// What the rustls connection `conn` negotiated (a `ClientConnection` derefs to it;
    /// so do the connections inside tokio-rustls' and futures-rustls' streams). The
    /// verification outcome is [`Verification::Unknown`] until the session sets it.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use smtp_client::{TlsInfo, TlsOptions};
    ///
    /// let cfg = TlsOptions::new().client_config()?;
    /// let conn = rustls::ClientConnection::new(cfg, "mx.example.org".try_into().unwrap())
    ///     .expect("a client connection");
    /// // Before the handshake, nothing is negotiated yet.
    /// let info = TlsInfo::from_rustls(&conn);
    /// assert_eq!(info.protocol_version(), None);
    /// assert!(info.peer_certificates().is_empty());
    /// # Ok::<(), smtp_client::Error>(())
    /// ```
    pub fn from_rustls(conn: &rustls::CommonState) -> TlsInfo {
        TlsInfo {
            protocol: conn.protocol_version(),
            suite: conn.negotiated_cipher_suite().map(|s| s.suite()),
            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
            chain: conn
                .peer_certificates()
                .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
                .unwrap_or_default(),
            verification: Verification::Unknown,
        }
    }

    /// A failed verification: the chain the server presented and why it was refused.
    pub(crate) fn refused(chain: Vec<CertificateDer<'static>>, why: String) -> TlsInfo {
        TlsInfo {
            chain,
            verification: Verification::Failed(why),
            ..TlsInfo::default()
        }
    }

    /// Takes the protocol version, cipher suite and ALPN of `other`.
    pub(crate) fn negotiated_from(&mut self, other: TlsInfo) {
        self.protocol = other.protocol;
        self.suite = other.suite;
        self.alpn = other.alpn;
    }

    pub(crate) fn with_verification(mut self, v: Verification) -> TlsInfo {
        self.verification = v;
        self
    }

    /// The protocol version: `"TLSv1.3"`, `"TLSv1.2"` (`None` when the handshake did not
    /// complete).
    pub fn protocol_version(&self) -> Option<&'static str> {
        self.protocol.map(|p| match p {
            rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3",
            rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2",
            rustls::ProtocolVersion::TLSv1_1 => "TLSv1.1",
            rustls::ProtocolVersion::TLSv1_0 => "TLSv1.0",
            _ => "unknown",
        })
    }

    /// The cipher suite's IANA name, e.g. `"TLS13_AES_256_GCM_SHA384"` (`None` when the
    /// handshake did not complete).
    pub fn cipher_suite(&self) -> Option<&'static str> {
        self.suite.map(|s| s.as_str().unwrap_or("unknown"))
    }

    /// The ALPN protocol the server chose, if any (SMTP clients rarely offer one).
    pub fn alpn(&self) -> Option<&[u8]> {
        self.alpn.as_deref()
    }

    /// The server's certificate chain as it presented it (DER), its own certificate
    /// first. Empty when it presented none, or when the driver reported no connection.
    pub fn peer_certificates(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// Whether the chain was verified, and if not, why.
    pub fn verification(&self) -> &Verification {
        &self.verification
    }

    /// A summary of each certificate of [`peer_certificates`](Self::peer_certificates),
    /// in the same order (`x509` feature).
    ///
    /// ```
    /// use smtp_client::TlsInfo;
    ///
    /// fn show(info: &TlsInfo) {
    ///     for cert in info.certificate_summaries() {
    ///         match cert {
    ///             Ok(c) => println!("{} (issuer {}), expires {}", c.subject, c.issuer, c.not_after_text()),
    ///             Err(e) => println!("{e}"),
    ///         }
    ///     }
    /// }
    /// show(&TlsInfo::default()); // no chain: nothing to show
    /// ```
    #[cfg(feature = "x509")]
    pub fn certificate_summaries(&self) -> Vec<Result<CertSummary, CertParseError>> {
        self.chain.iter().map(|c| CertSummary::parse(c)).collect()
    }
}

/// Where the recording verifier puts the chain it saw refused, and why.
pub(crate) type RefusedChain = Arc<Mutex<Option<(Vec<CertificateDer<'static>>, rustls::Error)>>>;

/// Delegates every check to `inner`; when `inner` refuses the server's certificate,
/// records the chain and the error in `slot` first.
#[derive(Debug)]
pub(crate) struct Recording {
    pub(crate) inner: Arc<dyn ServerCertVerifier>,
    pub(crate) slot: RefusedChain,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let r = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now);
        if let Err(e) = &r {
            let chain = std::iter::once(end_entity)
                .chain(intermediates)
                .map(|c| c.clone().into_owned())
                .collect();
            if let Ok(mut slot) = self.slot.lock() {
                *slot = Some((chain, e.clone()));
            }
        }
        r
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }

    fn requires_raw_public_keys(&self) -> bool {
        self.inner.requires_raw_public_keys()
    }

    fn root_hint_subjects(&self) -> Option<&[rustls::DistinguishedName]> {
        self.inner.root_hint_subjects()
    }
}

/// A certificate that could not be parsed (the server's: a malformed certificate).
///
/// ```
/// let e = smtp_client::CertSummary::parse(b"not DER").unwrap_err();
/// assert!(e.to_string().starts_with("the server's certificate could not be parsed"));
/// ```
#[cfg(feature = "x509")]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the server's certificate could not be parsed: {0}")]
pub struct CertParseError(String);

/// The readable parts of one X.509 certificate (`x509` feature).
///
/// ```
/// # fn der() -> Vec<u8> {
/// #     let mut p = rcgen::CertificateParams::new(vec!["mx.example.org".to_owned()]).unwrap();
/// #     p.distinguished_name.push(rcgen::DnType::CommonName, "mx.example.org");
/// #     p.self_signed(&rcgen::KeyPair::generate().unwrap()).unwrap().der().to_vec()
/// # }
/// use smtp_client::CertSummary;
///
/// let cert = CertSummary::parse(&der())?; // a DER certificate, e.g. from TlsInfo
/// assert_eq!(cert.subject, "CN=mx.example.org");
/// assert_eq!(cert.sans, ["DNS:mx.example.org"]);
/// assert!(cert.not_before < cert.not_after);
/// assert!(cert.is_valid_at(cert.not_before) && !cert.is_ca && cert.is_self_issued());
/// println!("valid from {} to {}", cert.not_before_text(), cert.not_after_text());
/// # Ok::<(), smtp_client::CertParseError>(())
/// ```
#[cfg(feature = "x509")]
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CertSummary {
    /// The subject's distinguished name, RFC 4514 style (`CN=mx.example.org, O=...`).
    pub subject: String,
    /// The issuer's distinguished name.
    pub issuer: String,
    /// The serial number (hex, colon-separated).
    pub serial: String,
    /// The subject alternative names: `DNS:name`, `IP:addr`, `email:addr`, `URI:uri`.
    pub sans: Vec<String>,
    /// Start of validity, in seconds since the Unix epoch.
    pub not_before: i64,
    /// End of validity (expiry), in seconds since the Unix epoch.
    pub not_after: i64,
    /// Whether it is a CA certificate (basic constraints).
    pub is_ca: bool,
    /// The signature algorithm's name (`ecdsa-with-SHA256`, `sha256WithRSAEncryption`),
    /// or its OID when unknown.
    pub signature_algorithm: String,
}

#[cfg(feature = "x509")]
impl CertSummary {
    /// Parses one DER certificate.
    pub fn parse(der: &[u8]) -> Result<CertSummary, CertParseError> {
        use x509_parser::extensions::GeneralName;
        let (_, cert) =
            x509_parser::parse_x509_certificate(der).map_err(|e| CertParseError(e.to_string()))?;
        let sans = match cert.subject_alternative_name() {
            Ok(Some(ext)) => ext
                .value
                .general_names
                .iter()
                .map(|n| match n {
                    GeneralName::DNSName(d) => format!("DNS:{d}"),
                    GeneralName::IPAddress(ip) => format!("IP:{}", ip_text(ip)),
                    GeneralName::RFC822Name(m) => format!("email:{m}"),
                    GeneralName::URI(u) => format!("URI:{u}"),
                    other => format!("{other}"),
                })
                .collect(),
            Ok(None) => Vec::new(),
            Err(e) => return Err(CertParseError(e.to_string())),
        };
        let alg = &cert.signature_algorithm.algorithm;
        let signature_algorithm =
            x509_parser::objects::oid2sn(alg, x509_parser::objects::oid_registry())
                .map(str::to_owned)
                .unwrap_or_else(|_| alg.to_id_string());
        Ok(CertSummary {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            serial: cert.raw_serial_as_string(),
            sans,
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            is_ca: cert.is_ca(),
            signature_algorithm,
        })
    }

    /// [`not_before`](Self::not_before) as `YYYY-MM-DD hh:mm:ss UTC`.
    pub fn not_before_text(&self) -> String {
        crate::tls_error::date_text(self.not_before)
    }

    /// [`not_after`](Self::not_after) as `YYYY-MM-DD hh:mm:ss UTC`.
    pub fn not_after_text(&self) -> String {
        crate::tls_error::date_text(self.not_after)
    }

    /// Whether it is valid at `unix_secs` (seconds since the Unix epoch; this layer reads
    /// no clock).
    pub fn is_valid_at(&self, unix_secs: i64) -> bool {
        self.not_before <= unix_secs && unix_secs <= self.not_after
    }

    /// Whether it is self-signed (subject and issuer are the same name).
    pub fn is_self_issued(&self) -> bool {
        self.subject == self.issuer
    }
}

#[cfg(feature = "x509")]
fn ip_text(ip: &[u8]) -> String {
    match ip.len() {
        4 => std::net::Ipv4Addr::from(<[u8; 4]>::try_from(ip).unwrap_or_default()).to_string(),
        16 => std::net::Ipv6Addr::from(<[u8; 16]>::try_from(ip).unwrap_or_default()).to_string(),
        _ => ip.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

#[cfg(all(test, feature = "x509"))]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

    fn ca_and_leaf() -> (rcgen::Certificate, rcgen::Certificate) {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::new()).unwrap();
        ca.distinguished_name.push(DnType::CommonName, "Test CA");
        ca.distinguished_name
            .push(DnType::OrganizationName, "Example Org");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca.self_signed(&ca_key).unwrap();
        let mut leaf = CertificateParams::new(vec![
            "mx.example.org".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ])
        .unwrap();
        leaf.distinguished_name
            .push(DnType::CommonName, "mx.example.org");
        leaf.not_before = rcgen::date_time_ymd(2025, 1, 2);
        leaf.not_after = rcgen::date_time_ymd(2026, 3, 4);
        leaf.serial_number = Some(rcgen::SerialNumber::from(vec![0x01, 0xab]));
        let leaf = leaf
            .signed_by(&KeyPair::generate().unwrap(), &ca, &ca_key)
            .unwrap();
        (ca, leaf)
    }

    #[test]
    fn a_leaf_certificate_is_summarised() {
        let (_, leaf) = ca_and_leaf();
        let s = CertSummary::parse(leaf.der()).unwrap();
        assert_eq!(s.subject, "CN=mx.example.org");
        assert_eq!(s.issuer, "CN=Test CA, O=Example Org");
        assert_eq!(s.sans, ["DNS:mx.example.org", "IP:127.0.0.1", "IP:::1"]);
        assert_eq!(s.serial, "01:ab");
        assert_eq!(s.not_before_text(), "2025-01-02 00:00:00 UTC");
        assert_eq!(s.not_after_text(), "2026-03-04 00:00:00 UTC");
        assert!(s.is_valid_at(s.not_before) && s.is_valid_at(s.not_after));
        assert!(!s.is_valid_at(s.not_after + 1));
        assert!(!s.is_ca && !s.is_self_issued());
        assert_eq!(s.signature_algorithm, "ecdsa-with-SHA256");
    }

    #[test]
    fn a_ca_certificate_is_marked_as_one() {
        let (ca, _) = ca_and_leaf();
        let s = CertSummary::parse(ca.der()).unwrap();
        assert!(s.is_ca && s.is_self_issued());
        assert!(s.sans.is_empty());
    }

    #[test]
    fn garbage_is_a_parse_error_not_a_panic() {
        for bad in [&b""[..], b"\x30", b"\x30\x03\x02\x01\x00", &[0xff; 64]] {
            let e = CertParseError::to_string(&CertSummary::parse(bad).unwrap_err());
            assert!(e.starts_with("the server's certificate could not be parsed"));
        }
        let (_, leaf) = ca_and_leaf();
        let der = leaf.der().to_vec();
        for n in 0..der.len() {
            let _ = CertSummary::parse(&der[..n]);
        }
    }

    #[test]
    fn the_summaries_follow_the_chain_order() {
        let (ca, leaf) = ca_and_leaf();
        let info = TlsInfo::refused(
            vec![leaf.der().clone(), ca.der().clone()],
            "it is not signed by a trusted authority".into(),
        );
        let s: Vec<_> = info
            .certificate_summaries()
            .into_iter()
            .map(|s| s.unwrap().subject)
            .collect();
        assert_eq!(s, ["CN=mx.example.org", "CN=Test CA, O=Example Org"]);
        assert_eq!(
            info.verification().to_string(),
            "not verified, because it is not signed by a trusted authority"
        );
    }
}
