//! TLS settings (rustls, ring provider).
//!
//! Server certificates are verified by default against the Mozilla root store compiled in
//! by `webpki-roots`. That choice (over `rustls-platform-verifier`) keeps verification
//! identical on every machine, including minimal containers that ship no CA bundle, and
//! needs no OS integration; use [`TlsOptions::with_ca_file`] to trust a private CA
//! (it replaces the built-in roots).

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::Error;
use crate::tls_info::{Recording, RefusedChain};

/// How to run TLS: trusted roots, client certificate, server name.
#[derive(Clone, Debug)]
pub struct TlsOptions {
    roots: Option<RootCertStore>,
    client_auth: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
    dangerous_no_verify: bool,
    server_name: Option<String>,
}

impl Default for TlsOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl TlsOptions {
    /// Verified certificates against the built-in Mozilla roots; SNI from the host name.
    pub fn new() -> Self {
        TlsOptions {
            roots: None,
            client_auth: None,
            dangerous_no_verify: false,
            server_name: None,
        }
    }

    /// Trusts only the CA certificates in this PEM file (instead of the built-in roots).
    pub fn with_ca_file(self, path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let pem = std::fs::read(path)
            .map_err(|e| Error::InvalidInput(format!("{}: {e}", path.display())))?;
        self.with_ca_pem(&pem)
    }

    /// Trusts only the CA certificates in this PEM text (instead of the built-in roots).
    pub fn with_ca_pem(mut self, pem: &[u8]) -> Result<Self, Error> {
        let mut store = self.roots.take().unwrap_or_else(RootCertStore::empty);
        let mut n = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| Error::InvalidInput(format!("CA PEM: {e}")))?;
            store
                .add(cert)
                .map_err(|e| Error::InvalidInput(format!("CA certificate: {e}")))?;
            n += 1;
        }
        if n == 0 {
            return Err(Error::InvalidInput("no certificate in the CA PEM".into()));
        }
        self.roots = Some(store);
        Ok(self)
    }

    /// Presents this client certificate chain and key (PEM) when the server asks.
    pub fn with_client_cert_pem(mut self, chain: &[u8], key: &[u8]) -> Result<Self, Error> {
        let certs = CertificateDer::pem_slice_iter(chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::InvalidInput(format!("client certificate PEM: {e}")))?;
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|e| Error::InvalidInput(format!("client key PEM: {e}")))?;
        self.client_auth = Some((certs, Arc::new(key)));
        Ok(self)
    }

    /// The name to send in SNI and to verify the certificate against (default: the host
    /// given to connect; required when connecting by IP to a server whose certificate
    /// names a host).
    pub fn with_server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// **Dangerous**: accepts any server certificate (signatures are still checked, so
    /// the handshake is encrypted, but the peer is not authenticated: anyone on the path
    /// can impersonate the server and read everything, credentials included).
    pub fn dangerous_accept_invalid_certs(mut self) -> Self {
        self.dangerous_no_verify = true;
        self
    }

    /// Whether the server's certificate is verified (false after
    /// [`dangerous_accept_invalid_certs`](Self::dangerous_accept_invalid_certs)).
    pub fn verifies_certificates(&self) -> bool {
        !self.dangerous_no_verify
    }

    /// The name to verify the server's certificate against (and send as SNI): the
    /// [`with_server_name`](Self::with_server_name) override, else `host`.
    pub fn server_name(&self, host: &str) -> Result<ServerName<'static>, Error> {
        let name = self.server_name.as_deref().unwrap_or(host);
        let name = name.trim_start_matches('[').trim_end_matches(']');
        ServerName::try_from(name.to_owned())
            .map_err(|e| Error::InvalidInput(format!("TLS server name {name:?}: {e}")))
    }

    /// The rustls client configuration these options stand for.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, Error> {
        self.config(None)
    }

    /// [`client_config`](Self::client_config) whose verifier records in `slot` the chain
    /// it refuses (and why) before failing the handshake, for [`crate::TlsInfo`].
    pub(crate) fn client_config_recording(
        &self,
        slot: &RefusedChain,
    ) -> Result<Arc<ClientConfig>, Error> {
        self.config(Some(slot))
    }

    fn config(&self, slot: Option<&RefusedChain>) -> Result<Arc<ClientConfig>, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::InvalidInput(format!("TLS: {e}")))?;
        let builder = if self.dangerous_no_verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
        } else {
            let roots = self.roots.clone().unwrap_or_else(|| RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            });
            match slot {
                None => builder.with_root_certificates(roots),
                // The same webpki verifier `with_root_certificates` builds, wrapped.
                Some(slot) => {
                    let inner =
                        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                            .build()
                            .map_err(|e| Error::InvalidInput(format!("TLS roots: {e}")))?;
                    builder
                        .dangerous()
                        .with_custom_certificate_verifier(Arc::new(Recording {
                            inner,
                            slot: slot.clone(),
                        }))
                }
            }
        };
        let cfg = match &self.client_auth {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain.clone(), key.clone_key())
                .map_err(|e| Error::InvalidInput(format!("client certificate: {e}")))?,
            None => builder.with_no_client_auth(),
        };
        Ok(Arc::new(cfg))
    }
}

/// Accepts any certificate; still checks handshake signatures.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
