//! How a client trusts the relay's certificate: pinned SHA-256 fingerprints (the relay's
//! self-signed certificates, current and next) or WebPKI roots (a real certificate). One
//! rustls configuration per use serves QUIC, WebTransport and WebSocket-over-TLS alike.
//! A trust is one verifier, shared by every configuration made from it: rustls resumes a
//! session only under the verifier that checked it.

use std::sync::{Arc, LazyLock};

use rustls::RootCertStore;
use rustls::client::ResolvesClientCert;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::sign::CertifiedKey;
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::client::NetError;

/// What the client accepts as the relay's certificate.
#[derive(Clone)]
pub enum Trust {
    /// Exactly these SHA-256 certificate fingerprints.
    Pinned(Arc<PinnedVerifier>),
    /// Certificates chaining to the platform's roots and any extra, for the relay's name.
    Roots(Arc<WebPkiServerVerifier>),
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trust::Pinned(pinned) => {
                write!(f, "Trust::Pinned({} fingerprints)", pinned.pins.len())
            }
            Trust::Roots(_) => write!(f, "Trust::Roots"),
        }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The system's roots, read once, as the system keeps them whatever `SSL_CERT_FILE` says
/// (the CLI adds that file's CAs, like `--ca`'s). Reading them unsets `SSL_CERT_FILE` and
/// `SSL_CERT_DIR` for a moment (wtransport's way of ignoring them), which is safe only
/// while no other thread reads the environment: a program calls this before it starts any.
pub fn system_roots() -> &'static RootCertStore {
    static ROOTS: LazyLock<RootCertStore> = LazyLock::new(wtransport::tls::build_native_cert_store);
    &ROOTS
}

/// Clients present no certificate. One resolver for all, as resumption requires the same.
#[derive(Debug)]
struct NoClientCert;

impl ResolvesClientCert for NoClientCert {
    fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        None
    }

    fn has_certs(&self) -> bool {
        false
    }
}

fn no_client_cert() -> Arc<dyn ResolvesClientCert> {
    static NO_CLIENT_CERT: LazyLock<Arc<NoClientCert>> = LazyLock::new(|| Arc::new(NoClientCert));
    NO_CLIENT_CERT.clone()
}

impl Trust {
    /// The platform's roots ([`system_roots`]) plus `extra` (e.g. a development CA).
    pub fn webpki(extra: &[CertificateDer<'static>]) -> Result<Trust, NetError> {
        let mut roots = system_roots().clone();
        for cert in extra {
            roots
                .add(cert.clone())
                .map_err(|e| NetError::Tls(format!("an extra CA certificate is unusable: {e}")))?;
        }
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map(Trust::Roots)
            .map_err(|e| NetError::Tls(e.to_string()))
    }

    /// Pins hex fingerprints as published by the relay.
    pub fn pinned_hex<S: AsRef<str>>(fingerprints: &[S]) -> Result<Trust, NetError> {
        let pins = fingerprints
            .iter()
            .map(|hex| parse_hex(hex.as_ref()))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| NetError::Discovery("malformed fingerprint".into()))?;
        Ok(Trust::Pinned(Arc::new(PinnedVerifier {
            pins,
            provider: provider(),
        })))
    }

    /// A TLS 1.3 client configuration offering `alpn`.
    pub fn client_config(&self, alpn: &[&[u8]]) -> Result<rustls::ClientConfig, NetError> {
        let verifier: Arc<dyn ServerCertVerifier> = match self {
            Trust::Pinned(pinned) => pinned.clone(),
            Trust::Roots(roots) => roots.clone(),
        };
        let mut config = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| NetError::Tls(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_cert_resolver(no_client_cert());
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(config)
    }
}

fn parse_hex(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Accepts a server certificate by its SHA-256 fingerprint (what browsers do with
/// `serverCertificateHashes`); handshake signatures are still verified against it.
#[derive(Debug)]
pub struct PinnedVerifier {
    pins: Vec<[u8; 32]>,
    provider: Arc<CryptoProvider>,
}

impl PinnedVerifier {
    /// The accepted fingerprints.
    pub fn pins(&self) -> &[[u8; 32]] {
        &self.pins
    }
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let fingerprint = certs::fingerprint(end_entity);
        if self.pins.contains(&fingerprint) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_fingerprints_parse_strictly() {
        let hex = "00".repeat(31) + "ff";
        assert_eq!(parse_hex(&hex).map(|f| f[31]), Some(0xff));
        assert!(parse_hex("abc").is_none());
        assert!(parse_hex(&"zz".repeat(32)).is_none());
    }
}
