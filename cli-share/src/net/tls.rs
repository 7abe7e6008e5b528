//! How a client trusts the relay's certificate: pinned SHA-256 fingerprints (the relay's
//! self-signed certificates, current and next) or WebPKI roots (a real certificate). One
//! rustls configuration per use serves QUIC, WebTransport and WebSocket-over-TLS alike.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::net::NetError;

/// What the client accepts as the relay's certificate.
#[derive(Clone)]
pub enum Trust {
    /// Exactly these SHA-256 certificate fingerprints.
    Pinned(Vec<[u8; 32]>),
    /// Certificates chaining to these roots, for the relay's name.
    Roots(Arc<RootCertStore>),
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trust::Pinned(pins) => write!(f, "Trust::Pinned({} fingerprints)", pins.len()),
            Trust::Roots(roots) => write!(f, "Trust::Roots({} roots)", roots.len()),
        }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Installs ring as the process-wide rustls provider (reqwest is built without one).
pub fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Trust {
    /// The platform's roots plus `extra` (e.g. a development CA).
    pub fn webpki(extra: &[CertificateDer<'static>]) -> Trust {
        let mut roots = wtransport::tls::build_native_cert_store();
        for cert in extra {
            let _ = roots.add(cert.clone());
        }
        Trust::Roots(Arc::new(roots))
    }

    /// Pins hex fingerprints as published by the relay.
    pub fn pinned_hex<S: AsRef<str>>(fingerprints: &[S]) -> Result<Trust, NetError> {
        fingerprints
            .iter()
            .map(|hex| parse_hex(hex.as_ref()))
            .collect::<Option<Vec<_>>>()
            .map(Trust::Pinned)
            .ok_or_else(|| NetError::Discovery("malformed fingerprint".into()))
    }

    /// A TLS 1.3 client configuration offering `alpn`.
    pub fn client_config(&self, alpn: &[&[u8]]) -> Result<rustls::ClientConfig, NetError> {
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| NetError::Tls(e.to_string()))?;
        let mut config = match self {
            Trust::Roots(roots) => builder
                .with_root_certificates(roots.clone())
                .with_no_client_auth(),
            Trust::Pinned(pins) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(PinnedVerifier {
                    pins: pins.clone(),
                    provider: provider(),
                }))
                .with_no_client_auth(),
        };
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
struct PinnedVerifier {
    pins: Vec<[u8; 32]>,
    provider: Arc<CryptoProvider>,
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
            Err(rustls::Error::General(
                "the relay's certificate does not match the pinned fingerprints".into(),
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
