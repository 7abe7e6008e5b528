//! Facts read back out of an existing certificate: its validity period and the hash of
//! its public key (what Chromium's `--ignore-certificate-errors-spki-list` pins).

use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use x509_parser::certificate::X509Certificate;

use crate::CertError;

/// The certificate's (notBefore, notAfter).
pub fn validity(cert_der: &[u8]) -> Result<(SystemTime, SystemTime), CertError> {
    let cert = parse(cert_der)?;
    let v = cert.validity();
    Ok((
        v.not_before.to_datetime().into(),
        v.not_after.to_datetime().into(),
    ))
}

/// Base64 (standard, padded) of the SHA-256 of the certificate's SubjectPublicKeyInfo.
pub fn spki_fingerprint_base64(cert_der: &[u8]) -> Result<String, CertError> {
    let cert = parse(cert_der)?;
    Ok(STANDARD.encode(Sha256::digest(cert.public_key().raw)))
}

fn parse(cert_der: &[u8]) -> Result<X509Certificate<'_>, CertError> {
    x509_parser::parse_x509_certificate(cert_der)
        .map(|(_, cert)| cert)
        .map_err(|e| CertError::BadCertificate {
            path: None,
            reason: e.to_string(),
        })
}
