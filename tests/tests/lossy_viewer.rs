//! `share watch` across an emulated link (relay in namespace A, the watcher in B): when its
//! connection is cut it joins again with the same link and re-syncs from a keyframe, and it
//! does not retry once the session has ended. Runs the real `share` binary (built by
//! `cargo build -p cli-share`); needs root.

mod lossy_support;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use cli_share::client::ShareEvent;
use e2e::share_binary;
use lossy_support::*;

/// Makes the development CA the system's trust store of commands run in `ns`:
/// `ip netns exec` mounts `/etc/netns/<ns>/ssl` over `/etc/ssl` (wtransport ignores
/// `SSL_CERT_FILE`). Removed on drop.
struct NetnsTrust(PathBuf);

impl NetnsTrust {
    fn install(ns: &str, ca_pem_file: &std::path::Path) -> NetnsTrust {
        let dir = PathBuf::from("/etc/netns").join(ns);
        let certs = dir.join("ssl/certs");
        std::fs::create_dir_all(&certs).expect("/etc/netns dir");
        std::fs::copy(ca_pem_file, certs.join("ca-certificates.crt")).expect("CA bundle");
        NetnsTrust(dir)
    }
}

impl Drop for NetnsTrust {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Waits for a viewer to join (`joined`) or leave, as the host hears it.
async fn viewer_event(host: &mut Host, joined: bool) {
    within("viewer join/leave at the host", async {
        loop {
            match host.sharing.next().await {
                Some(ShareEvent::Joined { .. }) if joined => return,
                Some(ShareEvent::Left { .. }) if !joined => return,
                Some(ShareEvent::Stopped(why)) => panic!("sharing stopped: {why}"),
                None => panic!("sharing ended"),
                _ => {}
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root: emulated links use network namespaces and TUN devices"]
async fn share_watch_rejoins_after_its_connection_is_cut() {
    let mut net = started(Duration::from_secs(20)).await;
    // The host is on the relay's side of the link; the watcher's path is the one cut.
    let mut host = net.host(&net.a, None).await;
    host.show("before the cut").await;
    let _trust = NetnsTrust::install(net.link.b().name(), &net.ca_file);
    let mut watch = tokio::process::Command::from(net.link.b().command(share_binary()))
        .args(["watch", &host.link, "--transport", "webtransport"])
        .args(["--until", "after the cut", "--timeout", "60"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("share watch starts");
    viewer_event(&mut host, true).await;

    net.link
        .control()
        .blackout(Duration::ZERO, Duration::from_secs(600));
    // The relay drops the silent viewer (QUIC idle timeout); then the link comes back.
    viewer_event(&mut host, false).await;
    host.show("after the cut").await;
    net.link.control().end_blackout();
    tracing::info!("blackout over");
    tokio::select! {
        _ = viewer_event(&mut host, true) => {}
        status = watch.wait() => panic!("share watch exited before rejoining: {status:?}"),
    }
    let output = within(
        "share watch to see the new screen",
        watch.wait_with_output(),
    )
    .await
    .expect("share watch output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "exit {:?}: {stdout}",
        output.status
    );
    assert!(stdout.contains("after the cut"), "{stdout}");
    watch = tokio::process::Command::from(net.link.b().command(share_binary()))
        .args([
            "watch",
            &host.link,
            "--until",
            "never shown",
            "--timeout",
            "60",
        ])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("share watch starts");
    viewer_event(&mut host, true).await;
    host.sharing.stop("done", Duration::from_secs(5)).await;
    let output = within("share watch to exit", watch.wait_with_output())
        .await
        .expect("share watch output");
    assert_eq!(
        output.status.code(),
        Some(3),
        "an ended session is not retried: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    net.stop_relay().await;
}
