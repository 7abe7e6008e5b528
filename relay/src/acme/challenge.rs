//! The answers to ACME challenges while an order is open: TLS-ALPN-01 (RFC 8737) through
//! the relay's certificate resolver, a self-signed certificate carrying the key
//! authorization's digest, served only to a handshake that offers `acme-tls/1` alone; and
//! HTTP-01, the key authorization at `/.well-known/acme-challenge/<token>`. An answer is
//! published for as long as its [`Published`] guard lives.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rustls::server::ClientHello;
use rustls::sign::CertifiedKey;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use super::AcmeError;

/// The ALPN protocol of TLS-ALPN-01 validation handshakes.
pub(crate) const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// The challenge answers currently published.
#[derive(Default)]
pub(crate) struct Challenges {
    /// Domain (lower case) to its validation certificate.
    tls_alpn: Mutex<HashMap<String, Arc<CertifiedKey>>>,
    /// HTTP-01 token to key authorization.
    http: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for Challenges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Challenges").finish_non_exhaustive()
    }
}

/// Keeps one answer published; dropping it withdraws the answer.
pub(crate) struct Published {
    challenges: Arc<Challenges>,
    answer: Answer,
}

enum Answer {
    TlsAlpn(String),
    Http(String),
}

impl Challenges {
    /// The validation certificate for this handshake, if it is a TLS-ALPN-01 validation:
    /// `acme-tls/1` as the only protocol offered, for a domain with an open challenge.
    pub fn tls_alpn_01(&self, hello: &ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let mut offered = hello.alpn()?;
        if offered.next() != Some(ACME_TLS_ALPN) || offered.next().is_some() {
            return None;
        }
        let domain = hello.server_name()?.to_ascii_lowercase();
        lock(&self.tls_alpn).get(&domain).cloned()
    }

    /// The key authorization for an HTTP-01 `token`.
    pub fn http_01(&self, token: &str) -> Option<String> {
        lock(&self.http).get(token).cloned()
    }

    /// Answers TLS-ALPN-01 for `domain` with the SHA-256 `digest` of the key authorization.
    pub fn publish_tls_alpn(
        self: &Arc<Self>,
        domain: &str,
        digest: &[u8],
    ) -> Result<Published, AcmeError> {
        let certified = validation_certificate(domain, digest)?;
        let domain = domain.to_ascii_lowercase();
        lock(&self.tls_alpn).insert(domain.clone(), Arc::new(certified));
        Ok(Published {
            challenges: self.clone(),
            answer: Answer::TlsAlpn(domain),
        })
    }

    /// Answers HTTP-01 for `token` with `key_authorization`.
    pub fn publish_http(self: &Arc<Self>, token: &str, key_authorization: &str) -> Published {
        lock(&self.http).insert(token.to_owned(), key_authorization.to_owned());
        Published {
            challenges: self.clone(),
            answer: Answer::Http(token.to_owned()),
        }
    }
}

impl Drop for Published {
    fn drop(&mut self) {
        match &self.answer {
            Answer::TlsAlpn(domain) => {
                lock(&self.challenges.tls_alpn).remove(domain);
            }
            Answer::Http(token) => {
                lock(&self.challenges.http).remove(token);
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A self-signed certificate for `domain` with the critical acmeIdentifier extension.
fn validation_certificate(domain: &str, digest: &[u8]) -> Result<CertifiedKey, AcmeError> {
    let failed = |e: rcgen::Error| AcmeError::Challenge(e.to_string());
    if digest.len() != 32 {
        return Err(AcmeError::Challenge(
            "the key authorization digest is not SHA-256".into(),
        ));
    }
    let mut params = rcgen::CertificateParams::new(vec![domain.to_owned()]).map_err(failed)?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
    let key = rcgen::KeyPair::generate().map_err(failed)?;
    let cert = params.self_signed(&key).map_err(failed)?;
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let signer = rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| AcmeError::Challenge(e.to_string()))?;
    Ok(CertifiedKey::new(vec![cert.der().clone()], signer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_withdrawn_when_their_guard_drops() {
        let challenges = Arc::new(Challenges::default());
        let published = challenges.publish_http("token-1", "token-1.thumbprint");
        assert_eq!(
            challenges.http_01("token-1").as_deref(),
            Some("token-1.thumbprint")
        );
        assert_eq!(challenges.http_01("token-2"), None);
        drop(published);
        assert_eq!(challenges.http_01("token-1"), None);

        let published = challenges
            .publish_tls_alpn("Relay.Example", &[7; 32])
            .unwrap();
        assert!(lock(&challenges.tls_alpn).contains_key("relay.example"));
        drop(published);
        assert!(lock(&challenges.tls_alpn).is_empty());
    }

    #[test]
    fn the_validation_certificate_carries_the_digest_in_a_critical_extension() {
        let certified = validation_certificate("relay.example", &[9; 32]).unwrap();
        let der = certified.cert[0].as_ref();
        let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
        let oid = x509_parser::oid_registry::Oid::from(&[1, 3, 6, 1, 5, 5, 7, 1, 31]).unwrap();
        let extension = cert
            .extensions()
            .iter()
            .find(|e| e.oid == oid)
            .expect("acmeIdentifier extension");
        assert!(extension.critical);
        // An OCTET STRING of the 32-byte digest.
        assert_eq!(extension.value[..2], [0x04, 32]);
        assert_eq!(extension.value[2..], [9; 32]);
        assert!(validation_certificate("relay.example", &[9; 16]).is_err());
    }
}
