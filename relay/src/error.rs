//! Why a relay could not start.

/// A relay failed to start.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("cannot bind {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("certificate: {0}")]
    Cert(String),
    #[error("TLS configuration: {0}")]
    Tls(String),
    #[error("invalid public URL: {0}")]
    PublicUrl(String),
    #[error("ACME: {0}")]
    Acme(String),
    #[error("cluster: {0}")]
    Cluster(String),
}
