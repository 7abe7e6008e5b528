//! Finding a relay from its HTTP(S) base URL: `GET /api/info` gives the QUIC and
//! WebTransport addresses and the certificate fingerprints. What the [`RelayPolicy`] does
//! not allow is refused before anything is sent: a plain-HTTP relay off loopback, endpoints
//! on another host. The fingerprints are pinned only when the answer itself is trustworthy
//! (HTTPS, a loopback relay, or `--insecure`); otherwise the relay's certificate must
//! verify against the roots, over HTTPS as over QUIC and WebTransport.

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::client::share_url::ShareUrl;
use crate::client::{NetError, RelayPolicy, Trust};

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

/// Reads `/api/info` of the relay at `base`, as far as `policy` allows; the roots it adds
/// are trusted for HTTPS and for the relay's own certificate.
pub async fn discover(base: &Url, policy: &RelayPolicy) -> Result<RelayInfo, NetError> {
    policy.check(base)?;
    let roots = Trust::webpki(&policy.extra_roots)?;
    let client = reqwest::Client::builder()
        .timeout(DISCOVERY_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .tls_backend_preconfigured(roots.client_config(&[b"http/1.1"])?)
        .build()
        .map_err(|e| NetError::from_http(&e))?;
    let url = ShareUrl::endpoint(base, "/api/info")?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| NetError::from_http(&e))?;
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
        .map_err(|e| NetError::from_http(&e))?;
    if body.len() > MAX_INFO_BYTES {
        return Err(NetError::Discovery("answer too large".into()));
    }
    let mut info: ApiInfo =
        serde_json::from_slice(&body).map_err(|e| NetError::Discovery(e.to_string()))?;
    (info.quic, info.webtransport) = policy.endpoints(base, &info.quic, &info.webtransport)?;
    let trust = if info.self_signed && policy.believes_answers_from(base) {
        Trust::pinned_hex(&info.fingerprints)?
    } else {
        roots
    };
    Ok(RelayInfo {
        base: base.clone(),
        info,
        trust,
    })
}
