//! A freshly generated certificate together with its private key, in both DER (for
//! rustls/quinn/wtransport) and PEM (for writing to disk).

use std::fmt;
use std::time::SystemTime;

use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::validity::Window;

/// A certificate and its private key.
pub struct CertifiedKey {
    pub cert_der: CertificateDer<'static>,
    pub key_der: PrivateKeyDer<'static>,
    pub cert_pem: String,
    pub key_pem: String,
    /// Exactly the certificate's notBefore (whole seconds).
    pub not_before: SystemTime,
    /// Exactly the certificate's notAfter (whole seconds).
    pub not_after: SystemTime,
}

/// Hand-written so logging a `CertifiedKey` never prints the private key.
impl fmt::Debug for CertifiedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertifiedKey")
            .field("fingerprint", &self.fingerprint_hex())
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl CertifiedKey {
    pub(crate) fn new(cert: &rcgen::Certificate, key: &rcgen::KeyPair, window: &Window) -> Self {
        Self {
            cert_der: cert.der().clone(),
            key_der: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            not_before: window.not_before.into(),
            not_after: window.not_after.into(),
        }
    }

    /// SHA-256 of the certificate DER.
    pub fn fingerprint(&self) -> [u8; 32] {
        crate::fingerprint(&self.cert_der)
    }

    /// SHA-256 of the certificate DER, lowercase hex without colons.
    pub fn fingerprint_hex(&self) -> String {
        crate::fingerprint_hex(&self.cert_der)
    }
}
