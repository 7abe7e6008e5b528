//! `load_pem` round-trips what we write and names the precise problem otherwise.

use std::fs;
use std::path::Path;
use std::time::Duration;

use certs::{CertError, DevCa, load_pem, localhost_sans, webtransport_cert};

fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> std::path::PathBuf {
    let path = dir.join(name);
    fs::write(&path, contents).unwrap();
    path
}

#[test]
fn round_trip_webtransport_and_ca_signed() {
    let dir = tempfile::tempdir().unwrap();
    let wt = webtransport_cert(&localhost_sans(), Duration::from_secs(3600)).unwrap();
    let ca = DevCa::new().unwrap();
    let leaf = ca.issue_leaf(&localhost_sans()).unwrap();
    for (i, ck) in [wt, leaf].iter().enumerate() {
        let cert = write(dir.path(), &format!("cert{i}.pem"), &ck.cert_pem);
        let key = write(dir.path(), &format!("key{i}.pem"), &ck.key_pem);
        let (chain, loaded_key) = load_pem(&cert, &key).unwrap();
        assert_eq!(chain, vec![ck.cert_der.clone()]);
        assert_eq!(loaded_key.secret_der(), ck.key_der.secret_der());
    }
}

#[test]
fn chain_keeps_order() {
    let dir = tempfile::tempdir().unwrap();
    let ca = DevCa::new().unwrap();
    let leaf = ca.issue_leaf(&localhost_sans()).unwrap();
    let cert = write(
        dir.path(),
        "chain.pem",
        format!("{}{}", leaf.cert_pem, ca.ca_pem()),
    );
    let key = write(dir.path(), "key.pem", &leaf.key_pem);
    let (chain, _) = load_pem(&cert, &key).unwrap();
    assert_eq!(chain, vec![leaf.cert_der.clone(), ca.ca_der()]);
}

#[test]
fn missing_files_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let ck = webtransport_cert(&localhost_sans(), Duration::from_secs(3600)).unwrap();
    let cert = write(dir.path(), "cert.pem", &ck.cert_pem);
    let key = write(dir.path(), "key.pem", &ck.key_pem);
    let absent = dir.path().join("absent.pem");

    let err = load_pem(&absent, &key).unwrap_err();
    assert!(
        matches!(&err, CertError::Missing { path, .. } if *path == absent),
        "{err:?}"
    );
    assert!(err.to_string().contains("absent.pem"), "{err}");

    let err = load_pem(&cert, &absent).unwrap_err();
    assert!(
        matches!(&err, CertError::Missing { path, .. } if *path == absent),
        "{err:?}"
    );
}

#[test]
fn garbage_is_not_pem() {
    let dir = tempfile::tempdir().unwrap();
    let ck = webtransport_cert(&localhost_sans(), Duration::from_secs(3600)).unwrap();
    let key = write(dir.path(), "key.pem", &ck.key_pem);
    let cert = write(dir.path(), "cert.pem", &ck.cert_pem);
    for garbage in [
        &b"this is not a certificate\n"[..],
        &[0u8, 159, 146, 150, 255][..],
        b"",
    ] {
        let bad = write(dir.path(), "garbage.pem", garbage);
        let err = load_pem(&bad, &key).unwrap_err();
        assert!(
            matches!(&err, CertError::NotPem { path, .. } if *path == bad),
            "{err:?}"
        );
        let err = load_pem(&cert, &bad).unwrap_err();
        assert!(
            matches!(&err, CertError::NotPem { path, .. } if *path == bad),
            "{err:?}"
        );
    }
    // A PEM header with a broken body is reported as malformed PEM too.
    let broken = write(
        dir.path(),
        "broken.pem",
        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
    );
    let err = load_pem(&broken, &key).unwrap_err();
    assert!(
        matches!(
            err,
            CertError::NotPem {
                detail: Some(_),
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn swapped_files_say_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let ck = webtransport_cert(&localhost_sans(), Duration::from_secs(3600)).unwrap();
    let cert = write(dir.path(), "cert.pem", &ck.cert_pem);
    let key = write(dir.path(), "key.pem", &ck.key_pem);

    let err = load_pem(&key, &key).unwrap_err();
    assert!(
        matches!(&err, CertError::NoCertificate { path } if *path == key),
        "{err:?}"
    );
    let err = load_pem(&cert, &cert).unwrap_err();
    assert!(
        matches!(&err, CertError::NoPrivateKey { path } if *path == cert),
        "{err:?}"
    );
}

#[test]
fn key_of_another_certificate_is_a_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let a = webtransport_cert(&localhost_sans(), Duration::from_secs(3600)).unwrap();
    let b = webtransport_cert(&localhost_sans(), Duration::from_secs(3600)).unwrap();
    let cert = write(dir.path(), "a.pem", &a.cert_pem);
    let key = write(dir.path(), "b-key.pem", &b.key_pem);
    let err = load_pem(&cert, &key).unwrap_err();
    assert!(
        matches!(&err, CertError::KeyMismatch { cert: c, key: k } if *c == cert && *k == key),
        "{err:?}"
    );
}

#[test]
fn certificate_section_with_invalid_der_is_a_bad_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ck = webtransport_cert(&localhost_sans(), Duration::from_secs(3600)).unwrap();
    let key = write(dir.path(), "key.pem", &ck.key_pem);
    // Valid base64, but not X.509.
    let cert = write(
        dir.path(),
        "cert.pem",
        "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n",
    );
    let err = load_pem(&cert, &key).unwrap_err();
    assert!(matches!(err, CertError::BadCertificate { .. }), "{err:?}");
}
