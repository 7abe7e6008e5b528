//! A throwaway local certificate authority for development: import its certificate
//! into a browser (or trust it in a test's rustls root store) and every leaf it
//! issues for `localhost` is trusted without warnings.
//!
//! Lifetimes: the CA is valid for 1 year, leaves for 90 days (both backdated one
//! hour). Leaves are ECDSA P-256 but, being longer than 14 days, cannot be used with
//! `serverCertificateHashes`; use [`crate::webtransport_cert`] for that.

use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls_pki_types::CertificateDer;

use crate::validity::Window;
use crate::webtransport::common_name;
use crate::{CertError, CertifiedKey};

/// Validity of the CA certificate.
pub const CA_VALIDITY: Duration = Duration::from_secs(365 * 24 * 60 * 60);
/// Validity of leaves issued by [`DevCa::issue_leaf`].
pub const LEAF_VALIDITY: Duration = Duration::from_secs(90 * 24 * 60 * 60);

/// The names a local development server answers to.
pub fn localhost_sans() -> Vec<String> {
    vec!["localhost".into(), "127.0.0.1".into(), "::1".into()]
}

/// A freshly generated development CA (ECDSA P-256). Its key lives only in memory.
pub struct DevCa {
    issuer: Issuer<'static, KeyPair>,
    cert: rcgen::Certificate,
}

impl DevCa {
    /// Generate a new CA key and self-signed CA certificate.
    pub fn new() -> Result<Self, CertError> {
        let window = Window::from_now(CA_VALIDITY, None)?;
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name("share development CA");
        // Path length 0: this CA signs leaves only, never other CAs.
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        window.apply(&mut params);
        let cert = params.self_signed(&key)?;
        Ok(Self {
            issuer: Issuer::new(params, key),
            cert,
        })
    }

    /// The CA certificate, PEM encoded (what goes into `ca.pem`).
    pub fn ca_pem(&self) -> String {
        self.cert.pem()
    }

    /// The CA certificate, DER encoded (e.g. for a rustls `RootCertStore`).
    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }

    /// Issue an ECDSA P-256 server certificate for `sans` (IP addresses or DNS names),
    /// valid for [`LEAF_VALIDITY`].
    pub fn issue_leaf(&self, sans: &[String]) -> Result<CertifiedKey, CertError> {
        let window = Window::from_now(LEAF_VALIDITY, None)?;
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(sans.to_vec())?;
        params.distinguished_name = common_name(sans.first().map_or("localhost", String::as_str));
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        window.apply(&mut params);
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(CertifiedKey::new(&cert, &key, &window))
    }
}
