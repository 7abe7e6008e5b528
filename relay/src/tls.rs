//! The relay's certificate: a user-supplied one, one from an ACME CA (see [`crate::acme`]),
//! or an ephemeral self-signed ECDSA one that is rotated before it expires. One resolver
//! serves QUIC, WebTransport and HTTPS, so a rotation or a renewal reaches every listener
//! at once (connections already open keep theirs); the current and next fingerprints are
//! published so that browsers (`serverCertificateHashes`) and hosts can pin them across a
//! rotation.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::RelayError;
use crate::acme::Challenges;

/// What a certificate rotation keeps: the served key and its fingerprint.
struct Served {
    key: Arc<CertifiedKey>,
    fingerprint: String,
}

/// Serves the current certificate; for ephemeral ones, also holds the next.
pub(crate) struct CertSource {
    /// `None` only while an ACME relay waits for its first certificate.
    current: RwLock<Option<Served>>,
    /// Counts installed certificates, so that a task can wait for the first one.
    installed: tokio::sync::watch::Sender<u64>,
    kind: Kind,
}

enum Kind {
    /// User-supplied: never changes.
    Files,
    Ephemeral(Box<Ephemeral>),
    /// Installed by the ACME task, which also answers TLS-ALPN-01 challenges here.
    Acme(Arc<Challenges>),
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
    Ok(Served {
        key: Arc::new(certified_key(chain, key).map_err(RelayError::Cert)?),
        fingerprint,
    })
}

/// `chain` with the signer of `key`, refused when the key is not the leaf's: served, such
/// a pair fails every handshake.
pub(crate) fn certified_key(
    chain: Vec<rustls_pki_types::CertificateDer<'static>>,
    key: &rustls_pki_types::PrivateKeyDer<'static>,
) -> Result<CertifiedKey, String> {
    let signer = provider()
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| e.to_string())?;
    let certified = CertifiedKey::new(chain, signer);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(certified)
        }
        Err(_) => Err("the private key is not the certificate's".into()),
    }
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
    fn new(current: Option<Served>, kind: Kind) -> Self {
        CertSource {
            installed: tokio::sync::watch::Sender::new(u64::from(current.is_some())),
            current: RwLock::new(current),
            kind,
        }
    }

    /// Loads a user-supplied chain and key (PEM).
    pub fn from_files(cert: &std::path::Path, key: &std::path::Path) -> Result<Self, RelayError> {
        let (chain, key) =
            certs::load_pem(cert, key).map_err(|e| RelayError::Cert(e.to_string()))?;
        Ok(CertSource::new(Some(served(chain, &key)?), Kind::Files))
    }

    /// Generates the current and the next ephemeral certificates.
    pub fn ephemeral(sans: Vec<String>, validity: Duration) -> Result<Self, RelayError> {
        let (current, _) = generate(&sans, validity)?;
        let next = generate(&sans, validity)?;
        Ok(CertSource::new(
            Some(current),
            Kind::Ephemeral(Box::new(Ephemeral {
                sans,
                validity,
                next: Mutex::new(next),
            })),
        ))
    }

    /// Certificates installed by the ACME task, starting with `cached` if there is one.
    pub fn acme(
        challenges: Arc<Challenges>,
        cached: Option<(
            Vec<rustls_pki_types::CertificateDer<'static>>,
            rustls_pki_types::PrivateKeyDer<'static>,
        )>,
    ) -> Result<Self, RelayError> {
        let current = cached.map(|(chain, key)| served(chain, &key)).transpose()?;
        Ok(CertSource::new(current, Kind::Acme(challenges)))
    }

    /// Serves `chain` and `key` from the next handshake on, on every listener.
    pub fn install(
        &self,
        chain: Vec<rustls_pki_types::CertificateDer<'static>>,
        key: &rustls_pki_types::PrivateKeyDer<'static>,
    ) -> Result<(), RelayError> {
        let fresh = served(chain, key)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(fresh);
        self.installed.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Returns once a certificate is being served (at once, unless ACME is still at work).
    pub async fn certified(&self) {
        let mut installed = self.installed.subscribe();
        // The sender lives as long as `self`, so this cannot fail while we borrow it.
        let _ = installed.wait_for(|n| *n > 0).await;
    }

    pub fn is_self_signed(&self) -> bool {
        matches!(self.kind, Kind::Ephemeral(_))
    }

    /// Whether TLS-ALPN-01 challenges are answered (the TCP listener must offer `acme-tls/1`).
    pub fn answers_acme(&self) -> bool {
        matches!(self.kind, Kind::Acme(_))
    }

    /// How often [`rotate`](Self::rotate) must run: a third of the validity, so the
    /// certificate being served always has at least a third of its life left.
    pub fn rotation_period(&self) -> Option<Duration> {
        match &self.kind {
            Kind::Ephemeral(e) => Some(e.validity / 3),
            _ => None,
        }
    }

    /// Promotes the next certificate and generates a new next one.
    pub fn rotate(&self) -> Result<(), RelayError> {
        let Kind::Ephemeral(ephemeral) = &self.kind else {
            return Ok(());
        };
        let fresh = generate(&ephemeral.sans, ephemeral.validity)?;
        let (promoted, _) = std::mem::replace(
            &mut *ephemeral.next.lock().unwrap_or_else(|e| e.into_inner()),
            fresh,
        );
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(promoted);
        Ok(())
    }

    /// Hex SHA-256 fingerprints, current first, then the next one for ephemeral certs;
    /// empty while an ACME relay has no certificate yet.
    pub fn fingerprints(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|served| served.fingerprint.clone())
            .collect();
        if let Kind::Ephemeral(ephemeral) = &self.kind {
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
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Kind::Acme(challenges) = &self.kind
            && let Some(challenge) = challenges.tls_alpn_01(&hello)
        {
            return Some(challenge);
        }
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|served| served.key.clone())
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

    /// Completes a TLS handshake with `server` as a client that trusts `ca` and offers
    /// `alpn`; the fingerprint of the certificate it was shown, or the error.
    async fn handshake(
        server: Arc<rustls::ServerConfig>,
        ca: rustls_pki_types::CertificateDer<'static>,
        alpn: &[&[u8]],
    ) -> Result<String, String> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca).unwrap();
        let mut client = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        client.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let (a, b) = tokio::io::duplex(64 * 1024);
        let accept = tokio::spawn(tokio_rustls::TlsAcceptor::from(server).accept(b));
        let name = rustls_pki_types::ServerName::try_from("relay.example").unwrap();
        let connected = tokio_rustls::TlsConnector::from(Arc::new(client))
            .connect(name, a)
            .await;
        let _ = accept.await;
        let stream = connected.map_err(|e| e.to_string())?;
        let leaf = &stream.get_ref().1.peer_certificates().unwrap()[0];
        Ok(certs::fingerprint_hex(leaf))
    }

    #[tokio::test]
    async fn the_validation_certificate_goes_only_to_handshakes_offering_acme_tls_alone() {
        let ca = certs::DevCa::new().unwrap();
        let leaf = ca.issue_leaf(&["relay.example".into()]).unwrap();
        let challenges = Arc::new(Challenges::default());
        let source = Arc::new(
            CertSource::acme(
                challenges.clone(),
                Some((vec![leaf.cert_der.clone()], leaf.key_der)),
            )
            .unwrap(),
        );
        let server = Arc::new(
            source
                .server_config(&[b"http/1.1", crate::acme::ACME_TLS_ALPN])
                .unwrap(),
        );
        let served = leaf.cert_der.as_ref();
        let published = challenges
            .publish_tls_alpn("relay.example", &[1; 32])
            .unwrap();

        let validation =
            handshake(server.clone(), ca.ca_der(), &[crate::acme::ACME_TLS_ALPN]).await;
        let refused = validation.expect_err("the validation certificate is not the CA's");
        assert!(refused.contains("invalid peer certificate"), "{refused}");
        for alpn in [
            &[&b"http/1.1"[..]][..],
            &[b"http/1.1", crate::acme::ACME_TLS_ALPN],
            &[],
        ] {
            let shown = handshake(server.clone(), ca.ca_der(), alpn).await;
            assert_eq!(shown, Ok(certs::fingerprint_hex(served)), "{alpn:?}");
        }
        drop(published);
        let after = handshake(server, ca.ca_der(), &[crate::acme::ACME_TLS_ALPN]).await;
        assert_eq!(
            after,
            Ok(certs::fingerprint_hex(served)),
            "no open challenge"
        );
    }
}
