//! Certificates for the relay and for development:
//! - [`webtransport_cert`]: short-lived self-signed ECDSA P-256 certificates that
//!   browsers accept by SHA-256 hash ([`fingerprint`]) through WebTransport's
//!   `serverCertificateHashes`;
//! - [`DevCa`]: a local development CA and `localhost` leaves signed by it;
//! - [`load_pem`]: loading a user-supplied chain and key with precise errors.

mod certified_key;
mod dev_ca;
mod error;
mod fingerprint;
mod inspect;
mod pem;
mod validity;
mod verify;
mod webtransport;

pub use certified_key::CertifiedKey;
pub use dev_ca::{CA_VALIDITY, DevCa, LEAF_VALIDITY, localhost_sans};
pub use error::CertError;
pub use fingerprint::{fingerprint, fingerprint_hex};
pub use inspect::{spki_fingerprint_base64, validity};
pub use pem::{load_certs, load_key, load_pem};
pub use validity::BACKDATE;
pub use verify::verify_server_cert;
pub use webtransport::{MAX_WEBTRANSPORT_VALIDITY, webtransport_cert};
