//! Clients as someone elsewhere would be one: TLS that trusts only the roots it is given
//! (no pinning), and a minimal HTTPS GET that also reports the certificate the server
//! presented, to tell which one a listener serves.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A TLS 1.3 client configuration (ring) trusting exactly `roots`, offering `alpn`.
pub fn client_config(roots: &[CertificateDer<'static>], alpn: &[&[u8]]) -> rustls::ClientConfig {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add(root.clone()).expect("a usable root certificate");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .expect("TLS 1.3 with ring")
    .with_root_certificates(store)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

/// A server name (DNS name or IP address) for rustls.
pub fn server_name(name: &str) -> anyhow::Result<ServerName<'static>> {
    ServerName::try_from(name.to_owned()).with_context(|| format!("server name {name:?}"))
}

/// An HTTPS response and the chain the server presented (leaf first).
#[derive(Debug)]
pub struct Fetched {
    pub status: u16,
    /// The status line and the headers, as sent.
    pub head: String,
    pub body: String,
    pub chain: Vec<CertificateDer<'static>>,
}

impl Fetched {
    /// Hex SHA-256 of the leaf certificate.
    pub fn fingerprint(&self) -> String {
        certs::fingerprint_hex(&self.chain[0])
    }
}

/// Opens a TLS connection to `addr` as `name` (the SNI and the name verified).
pub async fn connect(
    addr: SocketAddr,
    name: &str,
    config: rustls::ClientConfig,
) -> anyhow::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("TCP to {addr}"))?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(server_name(name)?, tcp)
        .await
        .with_context(|| format!("TLS to {addr} as {name}"))
}

/// `GET path` (HTTP/1.0, so the body ends with the connection) from `addr`, verified as
/// `name` against `roots`.
pub async fn get(
    addr: SocketAddr,
    name: &str,
    path: &str,
    roots: &[CertificateDer<'static>],
) -> anyhow::Result<Fetched> {
    let mut tls = connect(addr, name, client_config(roots, &[b"http/1.1"])).await?;
    let chain = tls
        .get_ref()
        .1
        .peer_certificates()
        .context("no server certificate")?
        .iter()
        .map(|c| c.clone().into_owned())
        .collect();
    tls.write_all(format!("GET {path} HTTP/1.0\r\nHost: {name}\r\n\r\n").as_bytes())
        .await?;
    let mut response = Vec::new();
    match tls.read_to_end(&mut response).await {
        Ok(_) => {}
        // Servers that close without close_notify: the body is complete all the same.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => {}
        Err(e) => return Err(e).context("reading the response"),
    }
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").context("no end of headers")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no status in {head:?}"))?;
    Ok(Fetched {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
        chain,
    })
}
