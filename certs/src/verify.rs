//! Checking that a server certificate chain is trusted by given roots for a name, with
//! the same WebPKI verifier rustls clients use (so "verifies here" means "a rustls
//! client trusting these roots accepts it").

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::CertError;

/// Verify `chain` (end-entity first) for `server_name` (DNS name or IP address) at the
/// current time against `roots`.
pub fn verify_server_cert(
    roots: &[CertificateDer<'static>],
    chain: &[CertificateDer<'static>],
    server_name: &str,
) -> Result<(), CertError> {
    let untrusted = |reason: String| CertError::Untrusted {
        server_name: server_name.to_owned(),
        reason,
    };
    let mut store = RootCertStore::empty();
    for root in roots {
        store
            .add(root.clone())
            .map_err(|e| untrusted(e.to_string()))?;
    }
    let verifier = WebPkiServerVerifier::builder_with_provider(
        Arc::new(store),
        Arc::new(rustls::crypto::ring::default_provider()),
    )
    .build()
    .map_err(|e| untrusted(e.to_string()))?;
    let (leaf, intermediates) = chain
        .split_first()
        .ok_or_else(|| untrusted("empty certificate chain".into()))?;
    let name =
        ServerName::try_from(server_name.to_owned()).map_err(|e| untrusted(e.to_string()))?;
    verifier
        .verify_server_cert(leaf, intermediates, &name, &[], UnixTime::now())
        .map(|_| ())
        .map_err(|e| untrusted(e.to_string()))
}
