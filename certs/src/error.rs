//! The one error type of this crate: every way generating, loading or checking a
//! certificate can fail, each naming the file involved so a user can fix it.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in `certs`.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// rcgen refused to build or sign a certificate (e.g. a SAN that is not a valid DNS name).
    #[error("cannot generate certificate: {0}")]
    Generate(#[from] rcgen::Error),

    /// A certificate must be valid for some time; a zero lifetime is a caller bug.
    #[error("certificate validity must be longer than zero")]
    ZeroValidity,

    /// The file does not exist.
    #[error("{} does not exist", path.display())]
    Missing {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The file exists but could not be read (permissions, a directory, ...).
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The file holds no PEM section at all, or a malformed one.
    #[error("{} is not a PEM file{}", path.display(), detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    NotPem {
        path: PathBuf,
        detail: Option<String>,
    },

    /// The file is PEM but holds no `CERTIFICATE` section.
    #[error("{} contains no certificate (expected a \"BEGIN CERTIFICATE\" section)", path.display())]
    NoCertificate { path: PathBuf },

    /// The file is PEM but holds no private key section.
    #[error("{} contains no private key (expected a \"BEGIN PRIVATE KEY\", \"BEGIN EC PRIVATE KEY\" or \"BEGIN RSA PRIVATE KEY\" section)", path.display())]
    NoPrivateKey { path: PathBuf },

    /// A certificate is not parseable X.509.
    #[error("invalid certificate{}: {reason}", path.as_ref().map(|p| format!(" in {}", p.display())).unwrap_or_default())]
    BadCertificate {
        path: Option<PathBuf>,
        reason: String,
    },

    /// The private key is of a kind or encoding rustls (ring) cannot use.
    #[error("unusable private key in {}: {reason}", path.display())]
    UnsupportedKey { path: PathBuf, reason: String },

    /// The private key belongs to a different certificate.
    #[error("the private key in {} does not match the certificate in {}", key.display(), cert.display())]
    KeyMismatch { cert: PathBuf, key: PathBuf },

    /// Chain verification against a trust anchor failed.
    #[error("certificate does not verify for {server_name}: {reason}")]
    Untrusted { server_name: String, reason: String },
}
