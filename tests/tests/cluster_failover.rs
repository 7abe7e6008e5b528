//! Losing a node of a relay cluster: three `relay` binaries on a real redis-server, a host
//! on A (the `share` client's supervisor), a viewer on C and `share watch` on A. A is
//! killed with SIGKILL: the host resumes on B within the grace period, the viewer on C
//! never reconnects and sees the host away, then the live screen, never the end, and the
//! watcher that was on A rejoins through B with the same link.

mod cluster_support;

use std::time::{Duration, Instant};

use cli_share::client::{
    RelayPolicy, ShareEvent, ShareKeys, ShareUrl, Sharing, ViewerLink, ViewerTransport,
    connect_viewer, discover,
};
use cluster_support::*;
use e2e::lab::{Watched, workspace_binary};
use protocol::e2e::{FrameOpener, FrameSealer};
use protocol::{HostHello, Line, RelayToViewer, Screen, ScreenFrame, ScreenUpdate};

/// The grace period the nodes give a lost host.
const GRACE: Duration = Duration::from_secs(30);

/// A sealed keyframe of a 40x5 screen showing `text`.
fn showing(sealer: &mut FrameSealer, seq: u64, text: &str) -> ScreenFrame {
    let mut screen = Screen::new(40, 5);
    screen.lines[0] = Line::plain(text);
    let plain = protocol::encode(&ScreenUpdate::Keyframe(screen)).unwrap();
    ScreenFrame {
        seq,
        keyframe: true,
        payload: sealer.seal(seq, true, &plain).unwrap(),
    }
}

/// The text on the first line of a keyframe's screen.
fn first_line(message: &RelayToViewer, opener: &FrameOpener) -> Option<String> {
    let RelayToViewer::Frame(frame) = message else {
        return None;
    };
    let plain = opener
        .open(frame.seq, frame.keyframe, &frame.payload)
        .expect("the relay forwards frames unaltered");
    match protocol::decode::<ScreenUpdate>(&plain).ok()? {
        ScreenUpdate::Keyframe(screen) => Some(screen.text().lines().next()?.trim().to_owned()),
        _ => None,
    }
}

/// Receives until the screen shows `text`, keeping every message in `seen`; the link
/// failing fails the test.
async fn until_screen(
    viewer: &mut ViewerLink,
    opener: &FrameOpener,
    text: &str,
    seen: &mut Vec<RelayToViewer>,
) {
    within(text, async {
        loop {
            let message = viewer.recv().await.expect("the viewer stays connected");
            let shown = first_line(&message, opener).as_deref() == Some(text);
            seen.push(message);
            if shown {
                return;
            }
        }
    })
    .await
}

/// The share's events until `pick` takes one (the share stopping fails the test).
async fn until<T>(
    sharing: &mut Sharing,
    what: &str,
    mut pick: impl FnMut(ShareEvent) -> Option<T>,
) -> T {
    within(what, async {
        loop {
            match sharing.next().await {
                Some(ShareEvent::Stopped(why)) => panic!("{what}: the share stopped: {why}"),
                Some(event) => {
                    if let Some(picked) = pick(event) {
                        return picked;
                    }
                }
                None => panic!("{what}: the share ended"),
            }
        }
    })
    .await
}

/// Hands `frame` to the share and waits until it was written.
async fn send(sharing: &mut Sharing, frame: ScreenFrame) {
    assert!(sharing.send_frame(frame), "the share takes a frame");
    until(sharing, "the frame to go", |e| {
        matches!(e, ShareEvent::Sent).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_loses_no_session() {
    let redis = e2e::redis::RedisServer::start().await.unwrap();
    let flags = ["--grace", "30s"];
    let mut nodes = Vec::new();
    for id in ["a", "b", "c"] {
        nodes.push(NodeProcess::start(&redis, id, &flags).await.unwrap());
    }
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    for node in &nodes {
        within("the nodes to know each other", async {
            while metric(&node.metrics().await, "relay_cluster_nodes") != 3 {
                tokio::time::sleep(Duration::from_millis(50)).await; // poll pace
            }
        })
        .await;
    }

    let mut sharing = Sharing::start(a.base(), HostHello::new(40, 5));
    let (session_id, relay_links) = until(&mut sharing, "the welcome", |e| match e {
        ShareEvent::Welcome {
            session_id, links, ..
        } => Some((session_id, links)),
        _ => None,
    })
    .await;
    // Sealed as `share` seals them: the relay forwards what it cannot read.
    let mut keys = ShareKeys::generate(false);
    let mut sealer = keys.session(&session_id).expect("a sealer for the session");
    let links = keys.links(&relay_links).expect("share links");
    send(&mut sharing, showing(&mut sealer, 0, "before")).await;

    // A viewer on C, over WebTransport, with A's link pointed at C.
    let link = ShareUrl::parse(&links.read).unwrap();
    let opener = FrameOpener::new(&link.keys.read, &session_id);
    let relay_c = within("C", discover(&c.base(), &RelayPolicy::default()))
        .await
        .unwrap();
    let mut on_c = within(
        "the viewer on C",
        connect_viewer(&relay_c, &link, ViewerTransport::WebTransport),
    )
    .await
    .unwrap();
    let mut seen = Vec::new();
    until_screen(&mut on_c, &opener, "before", &mut seen).await;
    // `share watch` on A, with the link as it was handed out (naming A).
    let mut watch = std::process::Command::new(workspace_binary("share").unwrap());
    watch
        .args([
            "watch",
            "--transport",
            "ws",
            "--timeout",
            "60",
            "--until",
            "after the failover",
        ])
        .arg(&links.read)
        .env("RUST_LOG", "info");
    let watch = Watched::spawn("share watch", watch).unwrap();
    within("the watcher on A", async {
        while metric(
            &a.metrics().await,
            "relay_viewers{transport=\"websocket\",mode=\"read\"}",
        ) != 1
        {
            tokio::time::sleep(Duration::from_millis(50)).await; // poll pace
        }
    })
    .await;

    a.kill();
    let killed = Instant::now();
    until(&mut sharing, "the host to notice", |e| {
        matches!(e, ShareEvent::Reconnecting(_)).then_some(())
    })
    .await;
    let resumed = until(&mut sharing, "the host to resume", |e| match e {
        ShareEvent::Welcome { resumed, .. } => Some(resumed),
        _ => None,
    })
    .await;
    assert!(resumed, "the same session");
    let resumed_after = killed.elapsed();
    assert!(resumed_after < GRACE, "resumed after {resumed_after:?}");
    // On B, the next node A listed.
    let b_metrics = b.metrics().await;
    assert_eq!(
        metric(&b_metrics, "relay_host_links_total{transport=\"quic\"}"),
        1
    );
    assert_eq!(metric(&b_metrics, "relay_cluster_sessions_owned"), 1);
    send(&mut sharing, showing(&mut sealer, 1, "after the failover")).await;

    // C's viewer, on the link it never left: the host away, then the screen; never the end.
    until_screen(&mut on_c, &opener, "after the failover", &mut seen).await;
    let away = seen
        .iter()
        .position(|m| matches!(m, RelayToViewer::HostAway))
        .expect("the viewer on C saw the host away");
    let live = seen.len() - 1;
    assert!(away < live, "away, then the live screen: {seen:?}");
    assert!(
        !seen
            .iter()
            .any(|m| matches!(m, RelayToViewer::Ended { .. })),
        "{seen:?}"
    );

    // The watcher that was on A rejoined through B with the same link.
    let (status, lines) = within("share watch", watch.exit_status()).await.unwrap();
    assert!(
        status.success(),
        "share watch: {status}\n{}",
        lines.join("\n")
    );
    assert!(
        lines.iter().any(|l| l.contains("after the failover")),
        "{lines:?}"
    );
    assert!(
        metric(&b.metrics().await, "relay_messages_relayed_total") > 0,
        "the watcher's messages came from B"
    );
    drop(redis);
}
