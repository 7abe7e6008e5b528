//! Fingerprints are the SHA-256 of the certificate DER, in bytes and lowercase hex.

use std::time::Duration;

use certs::{fingerprint, fingerprint_hex, webtransport_cert};
use sha2::{Digest, Sha256};

#[test]
fn fingerprint_is_sha256_of_der_and_stable() {
    let cert = webtransport_cert(&["localhost".to_string()], Duration::from_secs(3600)).unwrap();
    let expected: [u8; 32] = Sha256::digest(&cert.cert_der).into();
    assert_eq!(fingerprint(&cert.cert_der), expected);
    assert_eq!(cert.fingerprint(), expected);
    assert_eq!(cert.fingerprint(), cert.fingerprint());

    let hex = cert.fingerprint_hex();
    assert_eq!(hex, fingerprint_hex(&cert.cert_der));
    assert_eq!(hex.len(), 64);
    assert!(
        hex.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')),
        "{hex}"
    );
    let decoded: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    assert_eq!(decoded, expected);
}

#[test]
fn known_vector() {
    // SHA-256("abc") from FIPS 180-2.
    assert_eq!(
        fingerprint_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn debug_output_never_contains_the_private_key() {
    let cert = webtransport_cert(&["localhost".to_string()], Duration::from_secs(3600)).unwrap();
    let debug = format!("{cert:?}");
    assert!(debug.contains(&cert.fingerprint_hex()), "{debug}");
    assert!(!debug.contains("PRIVATE KEY"), "{debug}");
    let key_body = cert.key_pem.lines().nth(1).unwrap();
    assert!(!debug.contains(key_body), "{debug}");
}
