//! Certificates for development and for WebTransport hash pinning.
