//! A host across an emulated bad link (relay in namespace A, host in B, viewers in A on the
//! relay's side): a blackout shorter than the grace period shows viewers "host away", then
//! the live screen again, never `Ended`; a longer one ends the session; a host whose
//! address changes keeps its session without going away; a relay restarted with the same
//! secret takes the host back and the viewer rejoins with its old link; a node of a relay
//! cluster survives a blackout as a relay alone does. Needs root.

mod lossy_support;

use std::time::Duration;

use cli_share::client::{HostTransport, RelayPolicy, ViewerTransport};
use lossy_support::*;
use protocol::{EndReason, RelayToViewer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root: emulated links use network namespaces and TUN devices"]
async fn a_blackout_within_the_grace_period_is_survived() {
    survive_a_blackout(started(Duration::from_secs(20)).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root: emulated links use network namespaces and TUN devices"]
async fn a_blackout_within_the_grace_period_is_survived_by_a_node_of_a_cluster() {
    let net = started_in_a_cluster(Duration::from_secs(20)).await;
    assert_eq!(net.relay_metric("relay_cluster_nodes"), 1.0);
    survive_a_blackout(net).await;
}

async fn survive_a_blackout(mut net: Net) {
    let (mut host, mut viewer) = net
        .watched(None, ViewerTransport::WebTransport, "before the blackout")
        .await;
    net.black_out(Duration::from_secs(5), &mut viewer).await;
    assert!(host.welcomed().await, "the host resumed its session");
    host.show("after the blackout").await;
    viewer
        .until("host back", |m| matches!(m, RelayToViewer::HostBack))
        .await;
    viewer.screen_shows("after the blackout").await;
    assert!(net.link.control().stats().b_to_a.dropped_blackout > 0);
    assert!(
        net.relay_metric("relay_host_links_early_total") >= 1.0,
        "the resuming hello came in 0-RTT"
    );
    net.stop_relay().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root: emulated links use network namespaces and TUN devices"]
async fn a_host_resuming_in_0rtt_to_a_restarted_relay_resumes_anyway() {
    let mut net = started(Duration::from_secs(20)).await;
    let (mut host, mut viewer) = net
        .watched(None, ViewerTransport::WebSocket, "before")
        .await;
    let link = host.link.clone();

    // The host loses its link and starts resuming, with a ticket of the relay that is then
    // replaced: the new relay refuses the 0-RTT hello and the host says it again.
    net.black_out(Duration::from_secs(600), &mut viewer).await;
    host.reconnecting().await;
    net.stop_relay().await;
    net.start_relay().await;
    net.link.control().end_blackout();
    assert!(host.welcomed().await, "the host resumed on the new relay");
    host.show("after").await;
    let mut again = net.viewer(&net.a, &link, ViewerTransport::WebSocket);
    again.screen_shows("after").await;
    net.stop_relay().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root: emulated links use network namespaces and TUN devices"]
async fn a_blackout_beyond_the_grace_period_ends_the_session() {
    let mut net = started(Duration::from_secs(1)).await;
    let (mut host, mut viewer) = net
        .watched(None, ViewerTransport::WebSocket, "about to vanish")
        .await;
    net.black_out(Duration::from_secs(600), &mut viewer).await;
    let ended = within("ended", async {
        loop {
            if let RelayToViewer::Ended { reason, .. } = viewer.next("ended").await {
                return reason;
            }
        }
    })
    .await;
    assert_eq!(ended, EndReason::HostLost);
    net.link.control().end_blackout();
    let why = host.stopped().await;
    assert!(
        why.contains("ended"),
        "the host is told the session is gone: {why}"
    );
    net.stop_relay().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root: emulated links use network namespaces and TUN devices"]
async fn a_host_that_changes_address_keeps_its_session() {
    let mut net = started(Duration::from_secs(20)).await;
    // A second address in B: the host moves to it as it would to another network.
    let moved = std::net::Ipv4Addr::new(
        net.link.addr_b().octets()[0],
        net.link.addr_b().octets()[1],
        net.link.addr_b().octets()[2],
        3,
    );
    net.link
        .b()
        .ip(&[
            "addr",
            "add",
            &format!("{moved}/24"),
            "dev",
            e2e::netem::TUN_NAME,
        ])
        .expect("second address");
    let hello = protocol::HostHello::new(40, 5);
    let base = net.base();
    let ca = net.ca.clone();
    let mut conn = net
        .b
        .spawn(async move {
            let relay =
                cli_share::client::discover(&base, &RelayPolicy::trusting(vec![ca])).await?;
            let options = cli_share::client::HostOptions {
                transport: Some(cli_share::client::HostTransport::Quic),
                ..Default::default()
            };
            anyhow::Ok(cli_share::client::connect_host(&relay, &hello, &options).await?)
        })
        .await
        .expect("host task")
        .expect("host welcomed");
    let mut keys = cli_share::client::ShareKeys::generate(false);
    let mut sealer = keys
        .session(&conn.welcome.session_id)
        .expect("a new session");
    let link = keys.links(&conn.welcome.links).expect("share links").read;
    let mut viewer = net.viewer(&net.a, &link, ViewerTransport::WebSocket);
    viewer
        .until("welcome", |m| matches!(m, RelayToViewer::Welcome(_)))
        .await;
    let mut frame = |seq: u64, text: &str| {
        let mut screen = protocol::Screen::new(40, 5);
        screen.lines[0] = protocol::Line::plain(text);
        let plaintext = protocol::encode(&protocol::ScreenUpdate::Keyframe(screen)).unwrap();
        protocol::ScreenFrame {
            seq,
            keyframe: true,
            payload: sealer.seal(seq, true, &plaintext).unwrap(),
        }
    };
    within(
        "first frame sent",
        conn.sender.send_frame(frame(0, "from the first address")),
    )
    .await
    .expect("sent");
    viewer.screen_shows("from the first address").await;

    let socket = net
        .link
        .b()
        .run(move || std::net::UdpSocket::bind((moved, 0)))
        .expect("in B")
        .expect("bind the new address");
    conn.sender.rebind(socket).expect("rebind");
    let before = net.link.control().stats().b_to_a.delivered;
    within(
        "frame after rebind sent",
        conn.sender.send_frame(frame(1, "from the new address")),
    )
    .await
    .expect("sent");
    loop {
        match viewer.next("the frame sent after the move").await {
            RelayToViewer::HostAway | RelayToViewer::Ended { .. } => {
                panic!("the session must carry on without the host going away")
            }
            _ if viewer
                .mirror
                .screen()
                .is_some_and(|s| s.text().contains("from the new address")) =>
            {
                break;
            }
            _ => {}
        }
    }
    assert!(net.link.control().stats().b_to_a.delivered > before);
    drop(conn);
    net.stop_relay().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root: emulated links use network namespaces and TUN devices"]
async fn a_restarted_relay_takes_the_host_and_its_viewers_back() {
    restart_relay_under(HostTransport::Quic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root: emulated links use network namespaces and TUN devices"]
async fn a_restarted_relay_takes_a_websocket_host_back() {
    restart_relay_under(HostTransport::WebSocket).await;
}

async fn restart_relay_under(transport: HostTransport) {
    let mut net = started(Duration::from_secs(20)).await;
    let (mut host, mut viewer) = net
        .watched(
            Some(transport),
            ViewerTransport::WebSocket,
            "before the restart",
        )
        .await;
    let link = host.link.clone();

    net.stop_relay().await;
    viewer
        .until("going away", |m| matches!(m, RelayToViewer::GoingAway))
        .await;
    net.start_relay().await;
    assert!(host.welcomed().await, "the host resumed on the new relay");
    host.show("after the restart").await;
    // The same link, on the new process.
    let mut again = net.viewer(&net.a, &link, ViewerTransport::WebTransport);
    again.screen_shows("after the restart").await;
    net.stop_relay().await;
}
