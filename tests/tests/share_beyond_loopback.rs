//! `share`, `share watch` and Chromium against a relay on another machine, as README's "Run
//! your own relay" deploys it, in network namespaces: the `relay` binary in A with a
//! certificate from pebble (a real ACME server), the clients in B trusting pebble's root
//! (`--ca`, `SSL_CERT_FILE`, an NSS database). The host shares over QUIC and the browser
//! renders over WebTransport; an untrusted certificate, an impostor answering QUIC and an
//! `/api/info` naming another host are refused with no fallback to WebSocket; a plain-HTTP
//! relay on a LAN takes `--insecure`, and then every share says it is not secure. Needs
//! root.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use e2e::lab::acme::{AcmeLab, HOST_KEY, RelayProcess};
use e2e::lab::browser::Browser;
use e2e::lab::{Lan, Watched, workspace_binary};
use e2e::netem::Netns;

/// Generous bound for anything that should happen "soon" on a loaded machine.
const T: Duration = Duration::from_secs(60);
/// What the shared program prints, for viewers to find.
const TEXT: &str = "hello-from-the-host";
/// The relay's URL as the README's steps give it to hosts.
const RELAY_URL: &str = "https://relay.share.test";

async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(T, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// `share ARGS...` in `ns`, with none of the test's or the machine's own settings.
fn share(ns: &Netns, args: &[&str]) -> std::process::Command {
    let mut command = ns.command(workspace_binary("share").unwrap());
    command
        .args(args)
        .env_remove("SHARE_RELAY")
        .env_remove("SHARE_HOST_KEY")
        .env_remove("SSL_CERT_FILE")
        // No config file of the machine's either.
        .env("XDG_CONFIG_HOME", "/nonexistent");
    command
}

/// `share --now ARGS -- (a program printing TEXT)` in `ns`, once its read-only link is out.
async fn sharing(ns: &Netns, args: &[&str]) -> (Watched, String) {
    let program = format!("echo {TEXT}; exec sleep 600");
    let mut all = vec!["--now"];
    all.extend(args);
    all.extend(["--", "sh", "-c", &program]);
    let host = Watched::spawn("share", share(ns, &all)).unwrap();
    let line = within("the links", host.wait_for("read-only link: ", T))
        .await
        .unwrap();
    let (_, link) = line.split_once("read-only link: ").unwrap();
    let link = link.trim().to_owned();
    (host, link)
}

/// Runs `command` to its end: its exit code and everything it printed.
async fn finished(what: &str, command: std::process::Command) -> (Option<i32>, String) {
    let process = Watched::spawn(what, command).unwrap();
    let (status, lines) = within(what, process.exit_status()).await.unwrap();
    (status.code(), lines.join("\n"))
}

/// A share that never gets going: `share --now ARGS -- true` in `ns`.
async fn refused_share(ns: &Netns, args: &[&str]) -> (Option<i32>, String) {
    let mut all = vec!["--now"];
    all.extend(args);
    all.extend(["--", "true"]);
    finished("a refused share", share(ns, &all)).await
}

/// The lab and its relay, certified by pebble, as README's steps 1 to 4 set it up.
async fn deployed() -> (AcmeLab, RelayProcess) {
    let lab = within("the lab", AcmeLab::start(None)).await.unwrap();
    let relay = lab.start_relay(&[]).await.unwrap();
    (lab, relay)
}

/// README's host command (step 5), trusting pebble's `root`, with `extra` arguments.
fn documented<'a>(root: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let root = root.to_str().expect("a UTF-8 path");
    let mut args = vec!["--relay", RELAY_URL, "--ca", root, "--host-key", HOST_KEY];
    args.extend(extra);
    args
}

fn sample(metrics: &str, name: &str) -> Option<f64> {
    e2e::prometheus::sample_sum(metrics, name)
}

fn host_links(metrics: &str) -> (Option<f64>, Option<f64>) {
    (
        sample(metrics, "relay_host_links_total{transport=\"quic\"}"),
        sample(metrics, "relay_host_links_total{transport=\"websocket\"}"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root: network namespaces, pebble, port 443, Chromium"]
async fn share_reaches_an_acme_relay_over_quic_and_chromium_renders_over_webtransport() {
    let (lab, _relay) = deployed().await;
    let root = lab.pebble.root_file();
    let b = &lab.lan.b;

    let (host, link) = sharing(b, &documented(&root, &[])).await;
    assert!(link.starts_with("https://relay.share.test/s/"), "{link}");
    let metrics = lab.relay_metrics().await.unwrap();
    assert_eq!(host_links(&metrics), (Some(1.0), Some(0.0)), "over QUIC");
    let said = host.lines().join("\n");
    assert!(
        !said.contains("WebSocket") && !said.contains("NOT SECURE"),
        "{said}"
    );

    // `share watch` trusting the root through SSL_CERT_FILE, over WebTransport.
    let mut watch = share(
        b,
        &[
            "watch",
            &link,
            "--transport",
            "webtransport",
            "--until",
            TEXT,
            "--timeout",
            "30",
        ],
    );
    watch.env("SSL_CERT_FILE", &root);
    let (code, printed) = finished("share watch", watch).await;
    assert_eq!(code, Some(0), "{printed}");
    assert!(printed.contains(TEXT), "{printed}");

    let browser = Browser::trusting(std::slice::from_ref(&root)).unwrap();
    let transport = browser.open(b, &link, TEXT).await.unwrap();
    assert_eq!(transport, "via WebTransport");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root: network namespaces, pebble, port 443"]
async fn untrusted_certificates_and_foreign_endpoints_are_refused_without_a_fallback() {
    let (lab, relay) = deployed().await;
    let root = lab.pebble.root_file();
    let b = &lab.lan.b;
    let untrusted = "the relay's certificate is not trusted";

    // Without pebble's root the relay's certificate chains to nothing this host trusts.
    let (code, said) = refused_share(b, &["--relay", RELAY_URL, "--host-key", HOST_KEY]).await;
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains(untrusted), "{said}");

    // An impostor answers QUIC with a certificate of its own, as an attacker on the UDP
    // path would; `--relay-quic` sends the host to it. HTTPS works, UDP answers: no
    // fallback to the relay's WebSocket, which would have worked.
    let in_b = b.runtime().unwrap();
    let impostor_quic = SocketAddr::from((lab.lan.addr_b, 0));
    let impostor = in_b
        .spawn(relay::Relay::start(relay::RelayConfig {
            quic: impostor_quic,
            ..relay::RelayConfig::loopback()
        }))
        .await
        .unwrap()
        .unwrap();
    let pinned = impostor.quic_addr().to_string();
    let (code, said) = refused_share(b, &documented(&root, &["--relay-quic", &pinned])).await;
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains(untrusted), "{said}");
    assert!(!said.contains("WebSocket"), "{said}");
    let metrics = lab.relay_metrics().await.unwrap();
    assert_eq!(host_links(&metrics), (Some(0.0), Some(0.0)), "no host link");
    assert_eq!(sample(&metrics, "relay_sessions"), Some(0.0));
    in_b.spawn(impostor.shutdown()).await.unwrap();

    // The relay restarted with a public URL on another host: its /api/info names that
    // host's QUIC and WebTransport, as an answer rewritten on the way could.
    relay.process.terminate().await.unwrap();
    let _relay = lab
        .start_relay(&["--public-url", "https://elsewhere.share.test"])
        .await
        .unwrap();
    let (code, said) = refused_share(b, &documented(&root, &[])).await;
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("elsewhere.share.test:443") && said.contains("not the relay's host"),
        "{said}"
    );
    let metrics = lab.relay_metrics().await.unwrap();
    assert_eq!(host_links(&metrics), (Some(0.0), Some(0.0)), "no host link");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root: network namespaces"]
async fn a_plain_http_relay_on_a_lan_takes_insecure_and_every_share_says_so() {
    let lan = Lan::new("plain").unwrap();
    let public = format!("http://{}:8080", lan.addr_a);
    let mut relay = lan.a.command(workspace_binary("relay").unwrap());
    relay
        .args(["--http", "0.0.0.0:8080", "--quic", "0.0.0.0:4433"])
        .args(["--public-url", &public, "--insecure-http", "--open"])
        .args(["--metrics", e2e::lab::METRICS_ADDR])
        .env("NO_COLOR", "1");
    let relay = Watched::spawn("relay", relay).unwrap();
    within("the relay", relay.wait_for("relay listening", T))
        .await
        .unwrap();
    let not_secure = "NOT SECURE (--insecure)";

    // The first try: refused at once, naming the fix.
    let (code, said) = refused_share(&lan.b, &["--relay", &public]).await;
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains("https://") && said.contains("--insecure"),
        "{said}"
    );

    let (host, link) = sharing(&lan.b, &["--relay", &public, "--insecure"]).await;
    let said = host.lines().join("\n");
    assert!(said.contains(not_secure), "{said}");
    let metrics = plain_metrics(&lan.a).await;
    assert_eq!(host_links(&metrics), (Some(1.0), Some(0.0)), "over QUIC");

    let watch = |extra: &[&str]| {
        let mut args = vec!["watch", link.as_str(), "--until", TEXT, "--timeout", "30"];
        args.extend(extra);
        share(&lan.b, &args)
    };
    let (code, said) = finished("share watch", watch(&[])).await;
    assert_eq!(code, Some(2), "{said}");
    let (code, said) = finished("share watch --insecure", watch(&["--insecure"])).await;
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains(TEXT) && said.contains(not_secure), "{said}");
}

/// The plain-HTTP relay's `/metrics`, read in `a` over its loopback.
async fn plain_metrics(a: &Netns) -> String {
    e2e::lab::scrape_metrics(a).await.unwrap()
}
