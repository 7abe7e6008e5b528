//! The relay's certificate: a user-supplied one, or an ephemeral self-signed ECDSA one that
//! is rotated before it expires. One resolver serves QUIC, WebTransport and HTTPS, so a
//! rotation reaches every listener at once; the current and next fingerprints are published
//! so that browsers (`serverCertificateHashes`) and hosts can pin them across a rotation.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::RelayError;

/// What a certificate rotation keeps: the served key and its fingerprint.
struct Served {
    key: Arc<CertifiedKey>,
    fingerprint: String,
}

/// Serves the current certificate; for ephemeral ones, also holds the next.
pub(crate) struct CertSource {
    current: RwLock<Served>,
    /// `None` for a user-supplied certificate, which is never rotated.
    ephemeral: Option<Ephemeral>,
}

struct Ephemeral {
    sans: Vec<String>,
    validity: Duration,
    next: Mutex<(Served, certs::CertifiedKey)>,
}

impl std::fmt::Debug for CertSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertSource")
            .field("fingerprints", &self.fingerprints())
            .finish()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn served(
    chain: Vec<rustls_pki_types::CertificateDer<'static>>,
    key: &rustls_pki_types::PrivateKeyDer<'static>,
) -> Result<Served, RelayError> {
    let leaf = chain
        .first()
        .ok_or_else(|| RelayError::Cert("empty certificate chain".into()))?;
    let fingerprint = certs::fingerprint_hex(leaf);
    let signer = provider()
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| RelayError::Cert(e.to_string()))?;
    Ok(Served {
        key: Arc::new(CertifiedKey::new(chain, signer)),
        fingerprint,
    })
}

fn generate(
    sans: &[String],
    validity: Duration,
) -> Result<(Served, certs::CertifiedKey), RelayError> {
    let cert =
        certs::webtransport_cert(sans, validity).map_err(|e| RelayError::Cert(e.to_string()))?;
    Ok((served(vec![cert.cert_der.clone()], &cert.key_der)?, cert))
}

impl CertSource {
    /// Loads a user-supplied chain and key (PEM).
    pub fn from_files(cert: &std::path::Path, key: &std::path::Path) -> Result<Self, RelayError> {
        let (chain, key) =
            certs::load_pem(cert, key).map_err(|e| RelayError::Cert(e.to_string()))?;
        Ok(CertSource {
            current: RwLock::new(served(chain, &key)?),
            ephemeral: None,
        })
    }

    /// Generates the current and the next ephemeral certificates.
    pub fn ephemeral(sans: Vec<String>, validity: Duration) -> Result<Self, RelayError> {
        let (current, _) = generate(&sans, validity)?;
        let next = generate(&sans, validity)?;
        Ok(CertSource {
            current: RwLock::new(current),
            ephemeral: Some(Ephemeral {
                sans,
                validity,
                next: Mutex::new(next),
            }),
        })
    }

    pub fn is_self_signed(&self) -> bool {
        self.ephemeral.is_some()
    }

    /// How often [`rotate`](Self::rotate) must run: a third of the validity, so the
    /// certificate being served always has at least a third of its life left.
    pub fn rotation_period(&self) -> Option<Duration> {
        self.ephemeral.as_ref().map(|e| e.validity / 3)
    }

    /// Promotes the next certificate and generates a new next one.
    pub fn rotate(&self) -> Result<(), RelayError> {
        let Some(ephemeral) = &self.ephemeral else {
            return Ok(());
        };
        let fresh = generate(&ephemeral.sans, ephemeral.validity)?;
        let (promoted, _) = std::mem::replace(
            &mut *ephemeral.next.lock().unwrap_or_else(|e| e.into_inner()),
            fresh,
        );
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = promoted;
        Ok(())
    }

    /// Hex SHA-256 fingerprints, current first, then the next one for ephemeral certs.
    pub fn fingerprints(&self) -> Vec<String> {
        let mut out = vec![
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .fingerprint
                .clone(),
        ];
        if let Some(ephemeral) = &self.ephemeral {
            out.push(
                ephemeral
                    .next
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .0
                    .fingerprint
                    .clone(),
            );
        }
        out
    }

    /// A TLS 1.3 server configuration offering `alpn`, served by this source.
    pub fn server_config(
        self: &Arc<Self>,
        alpn: &[&[u8]],
    ) -> Result<rustls::ServerConfig, RelayError> {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| RelayError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(config)
    }
}

impl ResolvesServerCert for CertSource {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .key
                .clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_promotes_the_published_next_certificate() {
        let source =
            CertSource::ephemeral(vec!["localhost".into()], Duration::from_secs(3600)).unwrap();
        let before = source.fingerprints();
        assert_eq!(before.len(), 2);
        assert_ne!(before[0], before[1]);
        source.rotate().unwrap();
        let after = source.fingerprints();
        assert_eq!(after[0], before[1]);
        assert_ne!(after[1], before[1]);
    }
}
