//! Helpers shared by the certs integration tests: X.509 inspection independent of
//! the code under test.

#![allow(dead_code)] // each test binary uses a different subset

use std::time::{Duration, SystemTime};

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

pub const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
pub const P256: &str = "1.2.840.10045.3.1.7";
pub const ECDSA_WITH_SHA256: &str = "1.2.840.10045.4.3.2";

pub fn parse(der: &[u8]) -> X509Certificate<'_> {
    let (rest, cert) = x509_parser::parse_x509_certificate(der).expect("valid X.509");
    assert!(rest.is_empty(), "trailing bytes after certificate");
    cert
}

/// Key is an EC public key on P-256 and the signature is ECDSA with SHA-256.
pub fn assert_ecdsa_p256(der: &[u8]) {
    let cert = parse(der);
    let spki = cert.public_key();
    assert_eq!(spki.algorithm.algorithm.to_id_string(), EC_PUBLIC_KEY);
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .expect("EC parameters")
        .as_oid()
        .expect("named curve");
    assert_eq!(curve.to_id_string(), P256);
    assert_eq!(
        cert.signature_algorithm.algorithm.to_id_string(),
        ECDSA_WITH_SHA256
    );
}

/// (notBefore, notAfter) as read from the certificate itself.
pub fn validity(der: &[u8]) -> (SystemTime, SystemTime) {
    let cert = parse(der);
    let v = cert.validity();
    let secs = |t: i64| SystemTime::UNIX_EPOCH + Duration::from_secs(t.try_into().unwrap());
    (
        secs(v.not_before.timestamp()),
        secs(v.not_after.timestamp()),
    )
}

/// SANs rendered as strings: DNS names as is, IP addresses parsed.
pub fn sans(der: &[u8]) -> Vec<String> {
    let cert = parse(der);
    let ext = cert
        .subject_alternative_name()
        .expect("valid SAN extension")
        .expect("SAN extension present");
    ext.value
        .general_names
        .iter()
        .map(|name| match name {
            GeneralName::DNSName(dns) => dns.to_string(),
            GeneralName::IPAddress(bytes) => match bytes.len() {
                4 => std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*bytes).unwrap()).to_string(),
                16 => std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*bytes).unwrap()).to_string(),
                n => panic!("IP SAN of {n} bytes"),
            },
            other => panic!("unexpected SAN {other:?}"),
        })
        .collect()
}

pub fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}
