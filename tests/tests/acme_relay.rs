//! The relay deployed as README's "Run your own relay" says, against a real ACME server
//! (Debian's pebble) in network namespaces: the `relay` binary in A gets its certificate
//! through real TLS-ALPN-01 (and once HTTP-01) validation, and clients in B that trust
//! only pebble's root reach it over HTTPS, over QUIC as a host and over WebTransport as a
//! viewer, all shown the ACME certificate. With short-lived certificates, renewal swaps
//! the certificate under live connections, which keep going while new ones see the new
//! certificate; a restart with the cache serves the cached certificate without a word to
//! the CA. Needs root.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use e2e::lab::acme::{AcmeLab, DOMAIN, HOST_KEY, HTTP_PORT, RelayProcess};
use e2e::lab::clients::{QuicHost, Viewer};
use e2e::lab::https;
use e2e::netem::RuntimeThread;
use protocol::{HostHello, Transport};

/// Generous bound for anything that should happen "soon" on a loaded machine.
const T: Duration = Duration::from_secs(60);
/// Issued certificates' lifetime in the renewal test: renewed 20 s after issuance.
const SHORT_VALIDITY: Duration = Duration::from_secs(30);

async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(T, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// Runs `future` on `client` (a runtime in B) and waits for it.
async fn in_b<F, R>(client: &RuntimeThread, what: &str, future: F) -> R
where
    F: Future<Output = anyhow::Result<R>> + Send + 'static,
    R: Send + 'static,
{
    within(what, client.spawn(future))
        .await
        .expect("client task")
        .unwrap_or_else(|e| panic!("{what}: {e:#}"))
}

fn hello() -> HostHello {
    HostHello {
        host_key: Some(HOST_KEY.into()),
        ..HostHello::new(80, 24)
    }
}

fn sample(text: &str, name: &str) -> Option<f64> {
    e2e::prometheus::sample_sum(text, name)
}

/// A lab and its relay (started with `extra`), certified through one `challenge` that
/// pebble really validated.
async fn certified(challenge: &str, extra: &[&str]) -> (AcmeLab, RelayProcess) {
    let lab = within("the lab", AcmeLab::start(None)).await.unwrap();
    let relay = lab.start_relay(extra).await.unwrap();
    let answered = relay.process.count(|line| {
        line.contains("answering the CA's challenge")
            && line.contains(&format!("challenge={challenge}"))
    });
    assert_eq!(answered, 1, "{challenge}: {:#?}", relay.process.lines());
    assert!(lab.pebble.validations() >= 1, "pebble validated it");
    (lab, relay)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root: network namespaces, pebble, port 443"]
async fn a_relay_certified_over_tls_alpn_01_serves_https_quic_and_webtransport() {
    let (lab, relay) = certified("tls-alpn-01", &[]).await;
    let fingerprint = relay.fingerprint();
    assert_eq!(relay.installed(), std::slice::from_ref(&fingerprint));
    assert_eq!(relay.field("public_url"), Some("https://relay.share.test/"));

    let client = lab.lan.b.runtime().unwrap();
    let (addr, root) = (lab.relay_addr(), lab.pebble.root());
    let (info, host, viewer, sent, received) = in_b(&client, "clients", async move {
        let roots = [root.clone()];
        let info = https::get(addr, DOMAIN, "/api/info", &roots).await?;
        let mut host = QuicHost::connect(addr, DOMAIN, &roots, hello()).await?;
        let mut viewer = Viewer::join(
            Transport::WebTransport,
            addr,
            &host.welcome.links.read,
            &roots,
        )
        .await?;
        let sent = host.frame(1, b"over WebTransport").await?;
        let received = viewer.next_frame().await?;
        Ok((info, host, viewer, sent, received))
    })
    .await;
    let metrics = lab.relay_metrics().await.unwrap();

    assert_eq!(info.status, 200);
    assert_eq!(
        info.fingerprint(),
        fingerprint,
        "HTTPS serves the ACME certificate"
    );
    assert_eq!(info.chain.len(), 2, "leaf and pebble's intermediate");
    let api: serde_json::Value = serde_json::from_str(&info.body).unwrap();
    assert_eq!(api["self_signed"], false);
    assert_eq!(api["fingerprints"], serde_json::json!([fingerprint]));
    assert_eq!(api["quic"], "relay.share.test:443");
    assert_eq!(api["webtransport"], "https://relay.share.test:443");
    assert_eq!(host.fingerprint().unwrap(), fingerprint, "QUIC serves it");
    assert!(
        host.welcome
            .links
            .read
            .starts_with("https://relay.share.test/s/")
    );
    assert_eq!(viewer.fingerprint, fingerprint, "WebTransport serves it");
    assert_eq!(received, sent);
    assert_eq!(
        sample(&metrics, "relay_host_links_total{transport=\"quic\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&metrics, "relay_host_links_total{transport=\"websocket\"}"),
        Some(0.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root: network namespaces, pebble, ports 80 and 443"]
async fn a_relay_certified_over_http_01_sends_plain_http_to_https() {
    let plain = format!("0.0.0.0:{HTTP_PORT}");
    let (lab, relay) = certified("http-01", &["--acme-http", &plain]).await;

    let client = lab.lan.b.runtime().unwrap();
    let (addr, root) = (lab.relay_addr(), lab.pebble.root());
    let plain = SocketAddr::from((lab.lan.addr_a, HTTP_PORT));
    let (health, redirect) = in_b(&client, "clients", async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let health = https::get(addr, DOMAIN, "/healthz", &[root]).await?;
        let mut tcp = tokio::net::TcpStream::connect(plain).await?;
        tcp.write_all(b"GET /s/abc HTTP/1.0\r\nHost: relay.share.test\r\n\r\n")
            .await?;
        let mut redirect = String::new();
        tcp.read_to_string(&mut redirect).await?;
        Ok((health, redirect))
    })
    .await;
    assert_eq!(health.status, 200);
    assert_eq!(health.fingerprint(), relay.fingerprint());
    assert!(redirect.starts_with("HTTP/1.0 308"), "{redirect}");
    assert!(
        redirect
            .to_ascii_lowercase()
            .contains("location: https://relay.share.test/s/abc"),
        "{redirect}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root: network namespaces, pebble, port 443"]
async fn renewal_swaps_the_certificate_under_live_connections() {
    let lab = within("the lab", AcmeLab::start(Some(SHORT_VALIDITY)))
        .await
        .unwrap();
    let relay = lab.start_relay(&[]).await.unwrap();
    let first = relay.fingerprint();
    let validations = lab.pebble.validations();

    let client = lab.lan.b.runtime().unwrap();
    let (addr, root) = (lab.relay_addr(), lab.pebble.root());
    let roots = [root.clone()];
    let (mut host, mut webtransport, mut websocket) = in_b(&client, "live connections", {
        let roots = roots.clone();
        async move {
            let mut host = QuicHost::connect(addr, DOMAIN, &roots, hello()).await?;
            let link = host.welcome.links.read.clone();
            let mut webtransport =
                Viewer::join(Transport::WebTransport, addr, &link, &roots).await?;
            let mut websocket = Viewer::join(Transport::WebSocket, addr, &link, &roots).await?;
            let sent = host.frame(1, b"before the renewal").await?;
            anyhow::ensure!(webtransport.next_frame().await? == sent);
            anyhow::ensure!(websocket.next_frame().await? == sent);
            Ok((host, webtransport, websocket))
        }
    })
    .await;
    assert_eq!(host.fingerprint().unwrap(), first);
    assert_eq!(webtransport.fingerprint, first);
    assert_eq!(websocket.fingerprint, first);

    relay
        .process
        .wait_for_nth("certificate installed", 2, T)
        .await
        .unwrap();
    let installed = relay.installed();
    assert_ne!(installed[1], first, "a new certificate");
    let renewal_validated = lab.pebble.wait_for_validations(validations + 1, T).await;
    assert!(
        renewal_validated.is_ok(),
        "the renewal was validated against the running relay"
    );

    let (after, new_host, new_viewer, info) = in_b(&client, "after the renewal", async move {
        // The connections made before the renewal go on.
        let sent = host.frame(2, b"after the renewal").await?;
        anyhow::ensure!(
            webtransport.next_frame().await? == sent,
            "WebTransport viewer"
        );
        anyhow::ensure!(websocket.next_frame().await? == sent, "WebSocket viewer");
        // New ones are shown the new certificate.
        let new_host = QuicHost::connect(addr, DOMAIN, &roots, hello()).await?;
        let new_viewer = Viewer::join(
            Transport::WebTransport,
            addr,
            &host.welcome.links.read,
            &roots,
        )
        .await?;
        let info = https::get(addr, DOMAIN, "/api/info", &roots).await?;
        Ok((host.conn.close_reason(), new_host, new_viewer, info))
    })
    .await;
    assert!(after.is_none(), "the old host link is open: {after:?}");
    // Short-lived certificates may be renewed again meanwhile: any later one will do.
    let later = relay.installed()[1..].to_vec();
    let new_host = new_host.fingerprint().unwrap();
    assert!(
        later.contains(&new_host),
        "QUIC: {new_host} not in {later:?}"
    );
    assert!(
        later.contains(&new_viewer.fingerprint),
        "WebTransport: {} not in {later:?}",
        new_viewer.fingerprint
    );
    let https = info.fingerprint();
    assert!(later.contains(&https), "HTTPS: {https} not in {later:?}");
    let api: serde_json::Value = serde_json::from_str(&info.body).unwrap();
    assert_ne!(api["fingerprints"][0], first.as_str(), "/api/info follows");
}

/// A certificate already due for renewal when it arrives (the CA issues for a second here;
/// in the field, a clock set far ahead) is served, and the next order waits for the
/// backoff instead of following at once, again and again, until the CA's limit on
/// duplicate certificates stops it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root: network namespaces, pebble, port 443"]
async fn a_certificate_due_on_arrival_is_not_ordered_again_at_once() {
    let lab = within("the lab", AcmeLab::start(Some(Duration::from_secs(1))))
        .await
        .unwrap();
    let relay = lab.start_relay(&[]).await.unwrap();
    relay
        .process
        .wait_for("already due for renewal by this machine's clock", T)
        .await
        .unwrap();
    assert!(
        relay
            .process
            .count(|l| l.contains("already due") && l.contains("retry_in_secs=120"))
            == 1,
        "the first backoff, two minutes"
    );
    assert_eq!(
        relay
            .process
            .count(|l| l.contains("ordering a certificate")),
        1,
        "one order, not a loop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root: network namespaces, pebble, port 443"]
async fn a_restart_serves_the_cached_certificate_without_asking_the_ca() {
    let lab = within("the lab", AcmeLab::start(None)).await.unwrap();
    let relay = lab.start_relay(&[]).await.unwrap();
    let fingerprint = relay.fingerprint();
    let (status, _) = within("the relay's exit", relay.process.terminate())
        .await
        .unwrap();
    assert!(status.success(), "{status}");
    let requests = lab.pebble.requests();

    let again = lab.start_relay(&[]).await.unwrap();
    assert_eq!(again.fingerprint(), fingerprint);
    assert_eq!(
        again
            .process
            .count(|l| l.contains("certificate loaded from the ACME cache")),
        1
    );
    let client = lab.lan.b.runtime().unwrap();
    let (addr, root) = (lab.relay_addr(), lab.pebble.root());
    let (info, host) = in_b(&client, "clients", async move {
        let roots = [root];
        let info = https::get(addr, DOMAIN, "/api/info", &roots).await?;
        let host = QuicHost::connect(addr, DOMAIN, &roots, hello()).await?;
        Ok((info, host))
    })
    .await;
    assert_eq!(info.fingerprint(), fingerprint);
    assert_eq!(host.fingerprint().unwrap(), fingerprint);
    assert_eq!(
        lab.pebble.requests(),
        requests,
        "the restarted relay asked the CA nothing"
    );

    use std::os::unix::fs::PermissionsExt;
    let files: Vec<_> = walk(&lab.cache());
    assert_eq!(files.len(), 3, "account, certificate and key: {files:?}");
    for file in files {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
