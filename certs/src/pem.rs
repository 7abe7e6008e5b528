//! Loading a certificate chain and private key from PEM files (the relay's `--cert` /
//! `--key`), with an error that says exactly which file is wrong and how.

use std::io;
use std::path::Path;

use rustls_pki_types::pem::{self, PemObject, SectionKind};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::CertError;

/// Load the chain from `cert_path` (end-entity first) and the key from `key_path`, and
/// check that the key belongs to the end-entity certificate.
pub fn load_pem(
    cert_path: &Path,
    key_path: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), CertError> {
    let chain = load_certs(cert_path)?;
    let key = load_key(key_path)?;
    // load_certs never returns an empty chain.
    if let Some(leaf) = chain.first() {
        check_key_matches(leaf, &key, cert_path, key_path)?;
    }
    Ok((chain, key))
}

/// Every certificate in a PEM file, in file order; at least one.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let certs: Vec<_> = sections(path)?
        .into_iter()
        .filter_map(|(kind, der)| CertificateDer::from_pem(kind, der))
        .collect();
    if certs.is_empty() {
        return Err(CertError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// The first private key (PKCS#8, SEC1 or PKCS#1) in a PEM file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, CertError> {
    sections(path)?
        .into_iter()
        .find_map(|(kind, der)| PrivateKeyDer::from_pem(kind, der))
        .ok_or_else(|| CertError::NoPrivateKey {
            path: path.to_owned(),
        })
}

/// All recognised PEM sections of a file; an error if there are none.
fn sections(path: &Path) -> Result<Vec<(SectionKind, Vec<u8>)>, CertError> {
    let bytes = std::fs::read(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => CertError::Missing {
            path: path.to_owned(),
            source,
        },
        _ => CertError::Read {
            path: path.to_owned(),
            source,
        },
    })?;
    let mut reader = io::Cursor::new(bytes.as_slice());
    let mut out = Vec::new();
    loop {
        match pem::from_buf(&mut reader) {
            Ok(Some(section)) => out.push(section),
            Ok(None) => break,
            Err(e) => {
                return Err(CertError::NotPem {
                    path: path.to_owned(),
                    detail: Some(e.to_string()),
                });
            }
        }
    }
    if out.is_empty() {
        return Err(CertError::NotPem {
            path: path.to_owned(),
            detail: None,
        });
    }
    Ok(out)
}

/// Compare the certificate's SubjectPublicKeyInfo with the one derived from the
/// private key, as rustls does when it is handed a key pair.
fn check_key_matches(
    leaf: &CertificateDer<'static>,
    key: &PrivateKeyDer<'static>,
    cert_path: &Path,
    key_path: &Path,
) -> Result<(), CertError> {
    let provider = rustls::crypto::ring::default_provider();
    let signing_key = provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| CertError::UnsupportedKey {
            path: key_path.to_owned(),
            reason: e.to_string(),
        })?;
    let pair = rustls::sign::CertifiedKey::new(vec![leaf.clone()], signing_key);
    match pair.keys_match() {
        Ok(()) => Ok(()),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(CertError::KeyMismatch {
                cert: cert_path.to_owned(),
                key: key_path.to_owned(),
            })
        }
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Err(CertError::UnsupportedKey {
                path: key_path.to_owned(),
                reason: "cannot derive the public key to compare with the certificate".into(),
            })
        }
        Err(e) => Err(CertError::BadCertificate {
            path: Some(cert_path.to_owned()),
            reason: e.to_string(),
        }),
    }
}
