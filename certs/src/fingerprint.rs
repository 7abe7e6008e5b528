//! SHA-256 certificate fingerprints, the form WebTransport's `serverCertificateHashes`
//! and the relay's `/api/info` use to pin a certificate.

use sha2::{Digest, Sha256};

/// SHA-256 over the whole DER encoding of a certificate.
pub fn fingerprint(cert_der: &[u8]) -> [u8; 32] {
    Sha256::digest(cert_der).into()
}

/// [`fingerprint`] as lowercase hex without separators (64 characters).
pub fn fingerprint_hex(cert_der: &[u8]) -> String {
    to_hex(&fingerprint(cert_der))
}

fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            // Writing to a String cannot fail.
            let _ = write!(s, "{b:02x}");
            s
        })
}
