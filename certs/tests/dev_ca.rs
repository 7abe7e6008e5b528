//! Leaves issued by the development CA are trusted by a real rustls client that has
//! only the CA as root, for every local name, and by nobody else.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use certs::{CertError, DevCa, LEAF_VALIDITY, localhost_sans, verify_server_cert};
use common::{assert_ecdsa_p256, sans, validity};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::{TlsAcceptor, TlsConnector};

const TIMEOUT: Duration = Duration::from_secs(20);

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Run a TLS handshake over an in-memory pipe and exchange one message.
async fn handshake(ca: &DevCa, leaf: &certs::CertifiedKey, name: &str) -> std::io::Result<()> {
    let server = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.cert_der.clone()], leaf.key_der.clone_key())
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.ca_der()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();

    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let acceptor = TlsAcceptor::from(Arc::new(server));
    let server_task = tokio::spawn(async move {
        let mut tls = acceptor.accept(server_io).await?;
        tls.write_all(b"hello").await?;
        tls.shutdown().await
    });
    let connector = TlsConnector::from(Arc::new(client));
    let name = ServerName::try_from(name.to_owned()).unwrap();
    let mut tls = connector.connect(name, client_io).await?;
    let mut buf = [0u8; 5];
    tls.read_exact(&mut buf).await?;
    assert_eq!(&buf, b"hello");
    // A client-side rejection makes the server fail too; only report the client's view.
    let _ = server_task.await;
    Ok(())
}

#[tokio::test]
async fn leaf_is_trusted_for_every_local_name() {
    let ca = DevCa::new().unwrap();
    let leaf = ca.issue_leaf(&localhost_sans()).unwrap();
    for name in ["localhost", "127.0.0.1", "::1"] {
        tokio::time::timeout(TIMEOUT, handshake(&ca, &leaf, name))
            .await
            .expect("handshake timed out")
            .unwrap_or_else(|e| panic!("handshake for {name} failed: {e}"));
        verify_server_cert(&[ca.ca_der()], std::slice::from_ref(&leaf.cert_der), name).unwrap();
    }
}

#[tokio::test]
async fn leaf_is_rejected_for_other_names_and_other_cas() {
    let ca = DevCa::new().unwrap();
    let other_ca = DevCa::new().unwrap();
    let leaf = ca.issue_leaf(&localhost_sans()).unwrap();

    let wrong_name = tokio::time::timeout(TIMEOUT, handshake(&ca, &leaf, "example.com"))
        .await
        .expect("handshake timed out");
    assert!(wrong_name.is_err(), "example.com must not be accepted");
    let wrong_ca = tokio::time::timeout(TIMEOUT, handshake(&other_ca, &leaf, "localhost"))
        .await
        .expect("handshake timed out");
    assert!(wrong_ca.is_err(), "a different CA must not be accepted");

    let err = verify_server_cert(
        &[other_ca.ca_der()],
        std::slice::from_ref(&leaf.cert_der),
        "localhost",
    )
    .unwrap_err();
    assert!(matches!(err, CertError::Untrusted { .. }), "{err:?}");
    let err = verify_server_cert(
        &[ca.ca_der()],
        std::slice::from_ref(&leaf.cert_der),
        "example.com",
    )
    .unwrap_err();
    assert!(matches!(err, CertError::Untrusted { .. }), "{err:?}");
}

#[test]
fn leaf_and_ca_shape() {
    let ca = DevCa::new().unwrap();
    let leaf = ca.issue_leaf(&localhost_sans()).unwrap();
    assert_ecdsa_p256(&leaf.cert_der);
    assert_ecdsa_p256(&ca.ca_der());
    assert_eq!(sans(&leaf.cert_der), localhost_sans());

    let ca_cert = common::parse(&ca.ca_der()).is_ca();
    assert!(ca_cert);
    assert!(!common::parse(&leaf.cert_der).is_ca());
    assert!(ca.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));

    let now = SystemTime::now();
    let (not_before, not_after) = validity(&leaf.cert_der);
    assert_eq!((not_before, not_after), (leaf.not_before, leaf.not_after));
    assert!(not_before < now);
    assert!(not_after <= now + LEAF_VALIDITY);
    assert!(not_after > now + LEAF_VALIDITY - Duration::from_secs(3600));
    let (_, ca_not_after) = validity(&ca.ca_der());
    assert!(ca_not_after > not_after, "CA must outlive its leaves");
}
