//! Finding a relay from its HTTP(S) base URL: `GET /api/info` gives the QUIC and
//! WebTransport addresses and the certificate fingerprints. The fingerprints are pinned
//! only when the answer itself is trustworthy (HTTPS, or a loopback relay); otherwise the
//! relay's certificate must verify against WebPKI roots.

use std::net::IpAddr;
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use serde::Deserialize;
use url::{Host, Url};

use crate::client::share_url::ShareUrl;
use crate::client::tls::install_provider;
use crate::client::{NetError, Trust};

const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// An `/api/info` answer larger than this is not a relay's.
const MAX_INFO_BYTES: usize = 64 * 1024;

/// What `/api/info` says, as sent.
#[derive(Debug, Clone, Deserialize)]
pub struct ApiInfo {
    pub version: String,
    pub protocol: u16,
    /// `host:port` of the QUIC endpoint.
    pub quic: String,
    /// `https://host:port` of the WebTransport endpoint.
    pub webtransport: String,
    /// Hex SHA-256 fingerprints, current first.
    pub fingerprints: Vec<String>,
    pub self_signed: bool,
}

/// A discovered relay and how to trust it.
#[derive(Debug, Clone)]
pub struct RelayInfo {
    pub base: Url,
    pub info: ApiInfo,
    pub trust: Trust,
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Reads `/api/info` of the relay at `base`. `extra_roots` are trusted besides the
/// platform's (e.g. a development CA) for HTTPS and for the relay's own certificate.
pub async fn discover(
    base: &Url,
    extra_roots: &[CertificateDer<'static>],
) -> Result<RelayInfo, NetError> {
    install_provider();
    let mut client = reqwest::Client::builder()
        .timeout(DISCOVERY_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none());
    for root in extra_roots {
        let cert =
            reqwest::Certificate::from_der(root).map_err(|e| NetError::Tls(e.to_string()))?;
        client = client.add_root_certificate(cert);
    }
    let client = client
        .build()
        .map_err(|e| NetError::Connect(e.to_string()))?;
    let url = ShareUrl::endpoint(base, "/api/info")?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| NetError::Connect(e.to_string()))?;
    if !response.status().is_success() {
        return Err(NetError::Discovery(format!("HTTP {}", response.status())));
    }
    if response
        .content_length()
        .is_some_and(|len| len > MAX_INFO_BYTES as u64)
    {
        return Err(NetError::Discovery("answer too large".into()));
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| NetError::Connect(e.to_string()))?;
    if body.len() > MAX_INFO_BYTES {
        return Err(NetError::Discovery("answer too large".into()));
    }
    let info: ApiInfo =
        serde_json::from_slice(&body).map_err(|e| NetError::Discovery(e.to_string()))?;
    let trustworthy_answer = base.scheme() == "https" || is_loopback(base);
    let trust = if info.self_signed && trustworthy_answer {
        Trust::pinned_hex(&info.fingerprints)?
    } else {
        Trust::webpki(extra_roots)?
    };
    Ok(RelayInfo {
        base: base.clone(),
        info,
        trust,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_recognised() {
        for url in ["http://127.0.0.1:1", "http://[::1]:1", "http://localhost:1"] {
            assert!(is_loopback(&Url::parse(url).unwrap()), "{url}");
        }
        assert!(!is_loopback(&Url::parse("http://example.com").unwrap()));
    }
}
