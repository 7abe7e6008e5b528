//! The WebTransport certificate satisfies Chromium's `serverCertificateHashes` rules.

mod common;

use std::time::{Duration, SystemTime};

use certs::{CertError, MAX_WEBTRANSPORT_VALIDITY, webtransport_cert};
use common::{assert_ecdsa_p256, sans, strings, validity};

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

#[test]
fn is_ecdsa_p256_with_all_sans() {
    let names = strings(&[
        "localhost",
        "relay.example.com",
        "127.0.0.1",
        "::1",
        "192.0.2.7",
    ]);
    let cert = webtransport_cert(&names, 10 * DAY).unwrap();
    assert_ecdsa_p256(&cert.cert_der);
    assert_eq!(sans(&cert.cert_der), names);
}

#[test]
fn validity_is_backdated_and_matches_the_struct() {
    let before = SystemTime::now();
    let cert = webtransport_cert(&strings(&["localhost"]), 3 * DAY).unwrap();
    let (not_before, not_after) = validity(&cert.cert_der);
    assert_eq!((not_before, not_after), (cert.not_before, cert.not_after));
    // Backdated by about an hour: clearly in the past, but not by much more.
    assert!(not_before + Duration::from_secs(30 * 60) < before);
    assert!(not_before + Duration::from_secs(2 * 60 * 60) > before);
    // Requested lifetime counts from now.
    let remaining = not_after.duration_since(before).unwrap();
    assert!(
        remaining > 3 * DAY - Duration::from_secs(60)
            && remaining <= 3 * DAY + Duration::from_secs(60)
    );
}

#[test]
fn total_validity_is_capped_at_14_days() {
    for requested in [14 * DAY, 30 * DAY, Duration::MAX] {
        let cert = webtransport_cert(&strings(&["localhost"]), requested).unwrap();
        let (not_before, not_after) = validity(&cert.cert_der);
        let total = not_after.duration_since(not_before).unwrap();
        assert!(
            total <= MAX_WEBTRANSPORT_VALIDITY,
            "{total:?} for {requested:?}"
        );
        assert!(
            total > 13 * DAY,
            "cap should not shorten more than needed: {total:?}"
        );
        assert!(not_before < SystemTime::now());
    }
}

#[test]
fn zero_validity_is_rejected() {
    let err = webtransport_cert(&strings(&["localhost"]), Duration::ZERO).unwrap_err();
    assert!(matches!(err, CertError::ZeroValidity), "{err:?}");
}

#[test]
fn non_ascii_dns_name_is_an_error_not_a_panic() {
    // SANs must be IA5 (ASCII); IDNs have to be punycoded by the caller.
    let err = webtransport_cert(&strings(&["bücher.example"]), DAY).unwrap_err();
    assert!(matches!(err, CertError::Generate(_)), "{err:?}");
}

#[test]
fn each_call_makes_a_new_key() {
    let a = webtransport_cert(&strings(&["localhost"]), DAY).unwrap();
    let b = webtransport_cert(&strings(&["localhost"]), DAY).unwrap();
    assert_ne!(a.key_pem, b.key_pem);
    assert_ne!(a.fingerprint(), b.fingerprint());
}
