//! The relay's HTTP side and its deployment variants: the API and page endpoints, hosts
//! falling back to the WebSocket `/ws/host` when QUIC does not get through, WebTransport on
//! its own UDP port, and a real (CA-issued) certificate serving HTTPS, QUIC and
//! WebTransport without fingerprint pinning.

mod relay_support;

use std::time::Duration;

use cli_share::client::{HostOptions, RelayPolicy};
use cli_share::client::{HostTransport, Trust, ViewerTransport, connect_host, discover};
use relay::RelayConfig;
use relay_support::*;

#[tokio::test]
async fn api_info_health_page_assets_and_metrics() {
    let h = start_default().await;
    assert_eq!(h.get("/healthz").await.0, 200);

    let (status, body) = h.get("/api/info").await;
    assert_eq!(status, 200);
    let info: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(info["protocol"], protocol::PROTOCOL_VERSION);
    assert_eq!(
        info["quic"],
        format!("127.0.0.1:{}", h.relay.quic_addr().port())
    );
    assert_eq!(
        info["webtransport"],
        format!("https://127.0.0.1:{}", h.relay.quic_addr().port()),
        "WebTransport shares the QUIC port by default"
    );
    assert_eq!(info["self_signed"], true);
    let fingerprints = h.relay.fingerprints();
    assert_eq!(fingerprints.len(), 2, "current and next");
    assert_eq!(info["fingerprints"], serde_json::json!(fingerprints));
    assert!(matches!(&h.info.trust, Trust::Pinned(pinned) if pinned.pins().len() == 2));

    let page = h.raw("/s/someid").await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(
        page.to_ascii_lowercase()
            .contains("content-type: text/html")
    );
    assert!(page.contains("<html"));
    let script = h.raw("/assets/main.js").await;
    assert!(
        script
            .to_ascii_lowercase()
            .contains("content-type: text/javascript"),
        "{script}"
    );
    assert_eq!(h.get("/assets/no-such-file.js").await.0, 404);

    let host = h.host().await;
    let _ws = h
        .joined(&host.welcome.links.read, ViewerTransport::WebSocket)
        .await;
    let _wt = h
        .joined(
            host.welcome.links.collab.as_deref().unwrap(),
            ViewerTransport::WebTransport,
        )
        .await;
    let metrics = h.metrics().await;
    assert_eq!(metric(&metrics, "relay_sessions"), 1);
    assert_eq!(
        metric(
            &metrics,
            "relay_viewers{transport=\"websocket\",mode=\"read\"}"
        ),
        1
    );
    assert_eq!(
        metric(
            &metrics,
            "relay_viewers{transport=\"webtransport\",mode=\"collab\"}"
        ),
        1
    );
    assert_eq!(metric(&metrics, QUIC_HOST_LINKS), 1);
    assert_eq!(metric(&metrics, WEBSOCKET_HOST_LINKS), 0);
}

const QUIC_HOST_LINKS: &str = "relay_host_links_total{transport=\"quic\"}";
const WEBSOCKET_HOST_LINKS: &str = "relay_host_links_total{transport=\"websocket\"}";

#[tokio::test]
async fn a_host_whose_quic_does_not_get_through_falls_back_to_websocket() {
    let h = start_default().await;
    // A UDP port that swallows the handshake, as a firewall dropping UDP would.
    let black_hole = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut info = h.info.clone();
    info.info.quic = black_hole.local_addr().unwrap().to_string();
    let options = HostOptions {
        transport: None,
        quic_timeout: Duration::from_millis(500),
        ..HostOptions::default()
    };
    let mut host = within("fallback", connect_host(&info, &hello(), &options))
        .await
        .expect("welcomed over WebSocket");
    assert_eq!(host.transport, HostTransport::WebSocket);
    let mut viewer = h
        .joined(&host.welcome.links.read, ViewerTransport::WebTransport)
        .await;
    let sent = frame(1, true, b"over tcp");
    host.sender.send_raw(sent.clone()).await.unwrap();
    assert_eq!(next_frame(&mut viewer).await, sent);
    let metrics = h.metrics().await;
    assert_eq!(
        metric(&metrics, WEBSOCKET_HOST_LINKS),
        1,
        "the operator sees the fallback"
    );
    assert_eq!(metric(&metrics, QUIC_HOST_LINKS), 0);
}

#[tokio::test]
async fn webtransport_can_have_its_own_port() {
    let h = start(RelayConfig {
        webtransport: Some("127.0.0.1:0".parse().unwrap()),
        ..RelayConfig::loopback()
    })
    .await;
    assert_ne!(h.relay.webtransport_addr(), h.relay.quic_addr());
    assert_eq!(
        h.info.info.webtransport,
        format!("https://127.0.0.1:{}", h.relay.webtransport_addr().port())
    );
    let mut host = h.host().await;
    let mut viewer = h
        .joined(&host.welcome.links.read, ViewerTransport::WebTransport)
        .await;
    let sent = frame(1, true, b"two ports");
    host.sender.send_raw(sent.clone()).await.unwrap();
    assert_eq!(next_frame(&mut viewer).await, sent);
}

#[tokio::test]
async fn a_real_certificate_serves_https_quic_and_webtransport() {
    let ca = certs::DevCa::new().unwrap();
    let (leaf, _dir, cert) = certificate_files(&ca);
    let relay = relay::Relay::start(RelayConfig {
        cert: Some(cert),
        ..RelayConfig::loopback()
    })
    .await
    .expect("relay with a certificate");
    assert_eq!(relay.public_url().scheme(), "https");
    assert_eq!(
        relay.fingerprints(),
        vec![certs::fingerprint_hex(&leaf.cert_der)]
    );

    let base = relay.public_url().clone();
    let info = within(
        "discovery over HTTPS",
        discover(&base, &RelayPolicy::trusting(vec![ca.ca_der()])),
    )
    .await
    .expect("discovered");
    assert!(!info.info.self_signed);
    assert!(
        matches!(info.trust, Trust::Roots(_)),
        "a real certificate is not pinned"
    );
    // A relay named by a loopback address sends no HSTS (see the next test).
    assert_eq!(hsts(&relay, &ca).await, None);
    let h = Harness { relay, info };
    let mut host = h.host().await;
    let link = host.welcome.links.read.clone();
    assert!(link.starts_with("https://"));
    let mut wss = h.joined(&link, ViewerTransport::WebSocket).await;
    let mut wt = h.joined(&link, ViewerTransport::WebTransport).await;
    let sent = frame(1, true, b"tls everywhere");
    host.sender.send_raw(sent.clone()).await.unwrap();
    assert_eq!(next_frame(&mut wss).await, sent);
    assert_eq!(next_frame(&mut wt).await, sent);
}

/// A leaf of `ca` for this machine's names, written as PEM files in a directory that lasts
/// as long as the `TempDir`: the leaf, the directory, (certificate, key) paths.
fn certificate_files(
    ca: &certs::DevCa,
) -> (
    certs::CertifiedKey,
    tempfile::TempDir,
    (std::path::PathBuf, std::path::PathBuf),
) {
    let leaf = ca.issue_leaf(&certs::localhost_sans()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let paths = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&paths.0, &leaf.cert_pem).unwrap();
    std::fs::write(&paths.1, &leaf.key_pem).unwrap();
    (leaf, dir, paths)
}

/// The `Strict-Transport-Security` header of `relay`'s `/healthz` over HTTPS, if any.
async fn hsts(relay: &relay::RunningRelay, ca: &certs::DevCa) -> Option<String> {
    let page = e2e::lab::https::get(relay.http_addr(), "localhost", "/healthz", &[ca.ca_der()])
        .await
        .expect("GET over HTTPS");
    assert_eq!(page.status, 200);
    page.head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("strict-transport-security")
            .then(|| value.trim().to_owned())
    })
}

/// Browsers that saw a relay over HTTPS keep to HTTPS for it: every answer says so, but a
/// developer's relay named `localhost` would hold every later plain-HTTP server there to
/// HTTPS, and says nothing.
#[tokio::test]
async fn an_https_relay_tells_browsers_to_keep_to_https() {
    let ca = certs::DevCa::new().unwrap();
    let (_, _dir, cert) = certificate_files(&ca);
    let relay = relay::Relay::start(RelayConfig {
        cert: Some(cert),
        public_url: Some(url::Url::parse("https://relay.example").unwrap()),
        ..RelayConfig::loopback()
    })
    .await
    .expect("relay with a certificate");
    assert_eq!(hsts(&relay, &ca).await.as_deref(), Some("max-age=31536000"));
    relay.shutdown().await;
}

#[tokio::test]
async fn the_ephemeral_certificate_rotates_to_the_published_next_one() {
    // Rotation every third of the validity: here every 4 s.
    let h = start(RelayConfig {
        cert_validity: Duration::from_secs(12),
        ..RelayConfig::loopback()
    })
    .await;
    let before = h.relay.fingerprints();
    let after = within("rotation", async {
        loop {
            let now = h.relay.fingerprints();
            if now != before {
                return now;
            }
            tokio::time::sleep(Duration::from_millis(50)).await; // poll interval
        }
    })
    .await;
    assert_eq!(
        after[0], before[1],
        "the published next certificate became current"
    );
    // A client that discovered the relay before the rotation still trusts it...
    let old_client = within("host", connect_host(&h.info, &hello(), &quic_only())).await;
    assert!(
        old_client.is_ok(),
        "pinned current+next survive one rotation"
    );
    // ...and one that only knows the new fingerprints connects over both transports.
    let info = within("discovery", discover(&h.info.base, &RelayPolicy::default()))
        .await
        .unwrap();
    assert!(matches!(&info.trust, Trust::Pinned(pinned) if pinned.pins().len() == 2));
    let mut host = within("host", connect_host(&info, &hello(), &quic_only()))
        .await
        .expect("host trusts the rotated certificate");
    let link = keyed(&host.welcome.links.read);
    let mut viewer = within(
        "viewer",
        cli_share::client::connect_viewer(&info, &link, ViewerTransport::WebTransport),
    )
    .await
    .expect("viewer trusts the rotated certificate");
    let sent = frame(1, true, b"rotated");
    host.sender.send_raw(sent.clone()).await.unwrap();
    assert_eq!(next_frame(&mut viewer).await, sent);
}
