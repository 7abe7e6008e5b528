//! Self-signed certificates a browser accepts through WebTransport's
//! `serverCertificateHashes` (no CA involved): Chromium requires ECDSA P-256 (or any
//! non-RSA key it supports) and a total validity period of at most 14 days.

use std::time::Duration;

use rcgen::{CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair};

use crate::validity::Window;
use crate::{CertError, CertifiedKey};

/// The longest validity period (notBefore to notAfter) browsers accept for a
/// hash-pinned certificate.
pub const MAX_WEBTRANSPORT_VALIDITY: Duration = Duration::from_secs(14 * 24 * 60 * 60);

/// A self-signed ECDSA P-256 certificate for `sans` (each parsed as an IP address
/// first, otherwise taken as a DNS name), valid from one hour ago for `validity`, with
/// the whole period capped at [`MAX_WEBTRANSPORT_VALIDITY`].
pub fn webtransport_cert(sans: &[String], validity: Duration) -> Result<CertifiedKey, CertError> {
    let window = Window::from_now(validity, Some(MAX_WEBTRANSPORT_VALIDITY))?;
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::new(sans.to_vec())?;
    params.distinguished_name = common_name(sans.first().map_or("share relay", String::as_str));
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    window.apply(&mut params);
    let cert = params.self_signed(&key)?;
    Ok(CertifiedKey::new(&cert, &key, &window))
}

/// A distinguished name holding only a common name.
pub(crate) fn common_name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}
