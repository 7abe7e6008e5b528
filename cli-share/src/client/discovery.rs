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
/// An answer of the relay's HTTP API larger than this is not a relay's.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

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
    /// The live nodes of the relay's cluster, this one first; empty for a relay alone.
    #[serde(default)]
    pub nodes: Vec<Node>,
}

/// A node of a relay cluster, as `/api/info` lists it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Node {
    pub id: String,
    /// Its base URL; discovered (and checked against the policy) like any relay's.
    pub url: String,
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
    let url = ShareUrl::endpoint(base, "/api/info")?;
    let response = http_client(&roots)?
        .get(url)
        .send()
        .await
        .map_err(|e| NetError::from_http(&e))?;
    if !response.status().is_success() {
        return Err(NetError::Discovery(format!("HTTP {}", response.status())));
    }
    let body = answer_body(response).await?;
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

/// A client of the relay's HTTP API under `trust`, which follows no redirect.
pub(crate) fn http_client(trust: &Trust) -> Result<reqwest::Client, NetError> {
    reqwest::Client::builder()
        .timeout(DISCOVERY_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .tls_backend_preconfigured(trust.client_config(&[b"http/1.1"])?)
        .build()
        .map_err(|e| NetError::from_http(&e))
}

/// The body of an answer of the relay's HTTP API, refused beyond [`MAX_ANSWER_BYTES`].
pub(crate) async fn answer_body(mut response: reqwest::Response) -> Result<bytes::Bytes, NetError> {
    let too_large = || NetError::Discovery("answer too large".into());
    if response
        .content_length()
        .is_some_and(|len| len > MAX_ANSWER_BYTES as u64)
    {
        return Err(too_large());
    }
    // Read piece by piece: a chunked answer declares no length, and one that never ends
    // would otherwise be buffered whole until the request's timeout.
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| NetError::from_http(&e))?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

#[cfg(test)]
mod tests {
    use relay::RelayConfig;

    use super::*;
    use crate::testing::{relay_config, start_relay, within};

    fn loopback_base(relay: &relay::RunningRelay) -> Url {
        Url::parse(&format!("http://{}", relay.http_addr())).unwrap()
    }

    #[tokio::test]
    async fn endpoints_on_another_host_than_the_relay_url_are_refused_unless_pinned() {
        // A relay whose /api/info names another host, as a rewritten answer would.
        let relay = start_relay(RelayConfig {
            public_url: Some(Url::parse("http://relay.elsewhere.test:8080").unwrap()),
            ..relay_config()
        })
        .await;
        let base = loopback_base(&relay);
        let policy = RelayPolicy::default();
        match within("discovery", discover(&base, &policy)).await {
            Err(NetError::ForeignEndpoint { what, named, .. }) => {
                assert_eq!(what, "QUIC");
                assert!(named.starts_with("relay.elsewhere.test:"), "{named}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        let pinned = RelayPolicy {
            pinned_endpoint: Some(relay.quic_addr().to_string()),
            ..RelayPolicy::default()
        };
        let found = within("discovery", discover(&base, &pinned))
            .await
            .expect("the pinned endpoint is used");
        assert_eq!(found.info.quic, relay.quic_addr().to_string());
        assert_eq!(
            found.info.webtransport,
            format!("https://{}", relay.quic_addr())
        );
        relay.shutdown().await;
    }

    #[tokio::test]
    async fn an_https_relay_is_discovered_only_with_its_ca_trusted() {
        let ca = certs::DevCa::new().unwrap();
        let leaf = ca.issue_leaf(&certs::localhost_sans()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, &leaf.cert_pem).unwrap();
        std::fs::write(&key, &leaf.key_pem).unwrap();
        let relay = start_relay(RelayConfig {
            cert: Some((cert, key)),
            ..relay_config()
        })
        .await;
        let base = relay.public_url().clone();
        assert_eq!(base.scheme(), "https");
        match within("discovery", discover(&base, &RelayPolicy::default())).await {
            Err(NetError::Untrusted(why)) => assert!(why.contains("not issued by a CA"), "{why}"),
            other => panic!("expected the certificate refused, got {other:?}"),
        }
        let trusting = RelayPolicy::trusting(vec![ca.ca_der()]);
        let found = within("discovery", discover(&base, &trusting))
            .await
            .expect("discovered with the CA");
        assert!(matches!(found.trust, Trust::Roots(_)));
        relay.shutdown().await;
    }

    #[tokio::test]
    async fn a_plain_http_relay_off_loopback_is_refused_before_any_request() {
        // TEST-NET-1: nothing answers there, so only a refusal comes back at once.
        let base = Url::parse("http://192.0.2.1:8080").unwrap();
        let refused = discover(&base, &RelayPolicy::default()).await;
        assert!(
            matches!(refused, Err(NetError::PlainHttp(_))),
            "{refused:?}"
        );
    }
}
