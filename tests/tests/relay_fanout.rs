//! Fan-out through a real relay: a QUIC host, WebSocket and WebTransport viewers get the
//! same bytes; late joiners get their welcome, then the retained keyframe and diffs, even
//! when those are more than a viewer's queue holds; a viewer that never reads neither
//! delays another nor makes the relay buffer without bound, and is resynchronised once,
//! not on every frame; frames that arrive only in a host's datagrams are forwarded in
//! order.

mod relay_support;

use std::time::Duration;

use cli_share::client::{HostConnection, ViewerTransport};
use protocol::{RelayToHost, RelayToViewer};
use relay::queue::MAX_QUEUE_BYTES;
use relay::{Limits, RelayConfig};
use relay_support::*;

#[tokio::test]
async fn websocket_and_webtransport_viewers_receive_identical_frames() {
    let h = start_default().await;
    let mut host = h.host().await;
    let link = host.welcome.links.read.clone();
    let mut ws = h.joined(&link, ViewerTransport::WebSocket).await;
    let mut wt = h.joined(&link, ViewerTransport::WebTransport).await;
    assert_eq!(ws.transport, protocol::Transport::WebSocket);
    assert_eq!(wt.transport, protocol::Transport::WebTransport);

    let mut sent = Vec::new();
    for seq in 0..50u64 {
        let bytes = frame(seq, seq % 10 == 0, format!("payload {seq}").as_bytes());
        host.sender.send_raw(bytes.clone()).await.unwrap();
        sent.push(bytes);
    }
    for expected in &sent {
        assert_eq!(&next_frame(&mut ws).await, expected);
        assert_eq!(&next_frame(&mut wt).await, expected);
    }
    // The host heard about both viewers, with their transports.
    let mut transports = Vec::new();
    while transports.len() < 2 {
        if let RelayToHost::ViewerJoined { transport, .. } =
            within("viewer joined", host.receiver.recv()).await.unwrap()
        {
            transports.push(transport);
        }
    }
    assert!(transports.contains(&protocol::Transport::WebSocket));
    assert!(transports.contains(&protocol::Transport::WebTransport));
}

#[tokio::test]
async fn frames_that_arrive_only_in_a_datagram_are_forwarded_in_order() {
    let h = start_default().await;
    let mut host = h.host().await;
    host.sender.send_raw(frame(0, true, b"key")).await.unwrap();
    let mut viewer = h
        .joined(&host.welcome.links.read, ViewerTransport::WebSocket)
        .await;
    assert_eq!(next_frame(&mut viewer).await, frame(0, true, b"key"));

    // Frames 1 and 2 never go on the stream: as if both their stream copies and frame 1's
    // own datagram were lost, and frame 2's datagram (repeating frame 1) got through.
    let repeated = [frame(1, false, b"d1"), frame(2, false, b"d2")];
    let datagram = protocol::datagram::pack(&repeated, 1200).unwrap();
    let conn = host.sender.quic_connection().unwrap().clone();
    // Loopback UDP may drop under load: the relay takes each frame once however often it comes.
    let resend = tokio::spawn(async move {
        loop {
            let _ = conn.send_datagram(datagram.clone());
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    });
    assert_eq!(next_frame(&mut viewer).await, repeated[0]);
    assert_eq!(next_frame(&mut viewer).await, repeated[1]);
    resend.abort();
    host.sender.send_raw(frame(3, false, b"d3")).await.unwrap();
    assert_eq!(next_frame(&mut viewer).await, frame(3, false, b"d3"));
}

#[tokio::test]
async fn late_joiner_gets_the_keyframe_and_the_diffs_after_it() {
    let h = start_default().await;
    let mut host = h.host().await;
    let frames = [
        frame(1, true, b"old key"),
        frame(2, false, b"d2"),
        frame(3, true, b"key"),
        frame(4, false, b"d4"),
        frame(5, false, b"d5"),
    ];
    for f in &frames {
        host.sender.send_raw(f.clone()).await.unwrap();
    }
    // Wait for the relay to have them all (a first viewer sees the last one live or retained).
    let mut first = h
        .joined(&host.welcome.links.read, ViewerTransport::WebSocket)
        .await;
    let mut got = Vec::new();
    while got.last() != Some(&frames[4]) {
        got.push(next_frame(&mut first).await);
    }
    let mut late = h
        .joined(&host.welcome.links.read, ViewerTransport::WebTransport)
        .await;
    for expected in &frames[2..] {
        assert_eq!(&next_frame(&mut late).await, expected);
    }
}

#[tokio::test]
async fn a_viewer_that_never_reads_does_not_delay_others_and_stays_bounded() {
    let h = start_default().await;
    let mut host = h.host().await;
    let link = host.welcome.links.read.clone();
    // Both transports stall: neither reads a single message.
    let _stalled_ws = h.joined(&link, ViewerTransport::WebSocket).await;
    let _stalled_wt = h.joined(&link, ViewerTransport::WebTransport).await;
    let mut fast = h.joined(&link, ViewerTransport::WebSocket).await;

    // 1000 frames small enough that the fast viewer can never be more than its queue
    // behind, so it must get every one, in order, while the others read nothing.
    let receiver = tokio::spawn(async move {
        for seq in 0..1000u64 {
            let bytes = next_frame(&mut fast).await;
            let header = protocol::FrameHeader::peek(&bytes).unwrap().unwrap();
            assert_eq!(header.seq, seq, "the fast viewer gets every frame in order");
        }
    });
    let small = vec![b's'; 512];
    for seq in 0..1000u64 {
        within(
            "host send",
            host.sender.send_raw(frame(seq, seq % 100 == 0, &small)),
        )
        .await
        .unwrap();
    }
    within("fast viewer", receiver).await.unwrap();

    // Then a flood far larger than any buffer: the stalled viewers must be skipped, not buffered.
    let big = vec![b'b'; 4096];
    for seq in 1000..4000u64 {
        within(
            "host send",
            host.sender.send_raw(frame(seq, seq % 100 == 0, &big)),
        )
        .await
        .unwrap();
    }
    let skipped = wait_metric(&h, "relay_frames_skipped_total", |v| v > 0).await;
    assert!(skipped > 0);
    // Every frame has reached the relay once it counts them all.
    wait_metric(&h, "relay_frames_received_total", |v| v >= 4000).await;
    let metrics = h.metrics().await;
    let queued_max = metric(&metrics, "relay_viewer_queued_bytes_max");
    // A queue holds at most its cap of live messages: a resync's snapshot goes straight to
    // the viewer's writer.
    let bound = MAX_QUEUE_BYTES as u64;
    assert!(queued_max <= bound, "queued {queued_max} > bound {bound}");
    assert!(metric(&metrics, "relay_viewer_resyncs_total") > 0);
}

/// Reads `viewer`'s frames until `last`, checking they come in order, one after the other.
async fn frames_until(viewer: &mut cli_share::client::ViewerLink, next: &mut u64, last: u64) {
    while *next <= last {
        let bytes = next_frame(viewer).await;
        let header = protocol::FrameHeader::peek(&bytes).unwrap().unwrap();
        assert_eq!(header.seq, *next, "frames in order, none lost or repeated");
        *next += 1;
    }
}

/// Sends frame `seq` (`payload`, a keyframe or not) from `host`.
async fn send_frame(host: &mut HostConnection, seq: u64, keyframe: bool, payload: &[u8]) {
    host.sender
        .send_raw(frame(seq, keyframe, payload))
        .await
        .unwrap();
}

/// A viewer's queue holds 1,024 live messages and 1 MiB; what a joiner catches up from is
/// not counted against that, however large: a spinner's thousand small diffs since the
/// keyframe, or a long styled scrollback. The joiner gets its welcome first (the `Viewers`
/// notice of its own join used to overflow its queue, whose refill had no welcome), then
/// every retained frame once, in order, then the live ones.
#[tokio::test]
async fn a_joiner_whose_catch_up_is_over_the_queue_bounds_gets_its_welcome_and_every_frame() {
    let h = start_default().await;
    let mut received = 0;
    // Over the count (a keyframe, its completion, 1,100 diffs) and over the bytes (a
    // 1.5 MiB scrollback).
    for (what, completion, diffs) in [("count", 40, 1100u64), ("bytes", 1536 * 1024, 10)] {
        let mut host = h.host().await;
        let link = host.welcome.links.read.clone();
        send_frame(&mut host, 0, true, b"screen").await;
        send_frame(&mut host, 1, false, &vec![7u8; completion]).await;
        for seq in 2..2 + diffs {
            send_frame(&mut host, seq, false, &[1u8; 40]).await;
        }
        let live = 2 + diffs;
        received += live;
        wait_metric(&h, "relay_frames_received_total", |v| v >= received).await;
        let mut viewers = Vec::new();
        for transport in [ViewerTransport::WebSocket, ViewerTransport::WebTransport] {
            // `joined` insists on the welcome first.
            let mut viewer = h.joined(&link, transport).await;
            let mut next = 0;
            frames_until(&mut viewer, &mut next, live - 1).await;
            viewers.push((transport, viewer, next));
        }
        send_frame(&mut host, live, false, b"live").await;
        for (transport, viewer, next) in &mut viewers {
            eprintln!("over the {what} bound, {transport:?}: catch-up and a live frame");
            frames_until(viewer, next, live).await;
        }
    }
}

/// Viewers that stop reading, in a session whose catch-up is over the queue's bounds: each
/// is resynchronised once, when its queue overflows, and its snapshot is then left to its
/// own writer, which takes it when it sends again (never, here). Before, every later frame
/// found their queues full again and rebuilt the whole snapshot for each of them, under the
/// session's lock, in the host's read task: the frames reached the healthy viewer late.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_viewer_is_resynchronised_once_not_on_every_frame() {
    const STALLED: usize = 16;
    const FRAMES: u64 = 200;
    const RESYNCS: &str = "relay_viewer_resyncs_total";
    let h = start_default().await;
    let mut host = h.host().await;
    let link = host.welcome.links.read.clone();
    // A 1.5 MiB scrollback, more than a WebTransport stream's window, and 1,100 diffs.
    send_frame(&mut host, 0, true, b"screen").await;
    send_frame(&mut host, 1, false, &vec![7u8; 1536 * 1024]).await;
    let mut seq = 2;
    let mut diffs = async |host: &mut HostConnection, n: u64| {
        for _ in 0..n {
            send_frame(host, seq, false, &[1u8; 24]).await;
            seq += 1;
        }
        seq - 1
    };
    diffs(&mut host, 1100).await;
    wait_metric(&h, "relay_frames_received_total", |v| v >= 1102).await;
    // (The welcome is the previous test's: these read frames only, or nothing.)
    let viewer = async |transport| h.viewer(&link, transport).await.expect("admitted");
    let mut healthy = viewer(ViewerTransport::WebSocket).await;
    let mut next = 0;
    // Viewers that read nothing: their writers block on the catch-up.
    let mut stalled = Vec::new();
    for _ in 0..STALLED {
        stalled.push(viewer(ViewerTransport::WebTransport).await);
    }
    // Live diffs, which the healthy viewer reads as they come, until every stalled queue
    // has overflowed.
    within("every stalled viewer resynchronised", async {
        while metric(&h.metrics().await, RESYNCS) < STALLED as u64 {
            let last = diffs(&mut host, 100).await;
            frames_until(&mut healthy, &mut next, last).await;
        }
    })
    .await;
    let before = metric(&h.metrics().await, RESYNCS);
    let last = diffs(&mut host, FRAMES).await;
    frames_until(&mut healthy, &mut next, last).await;
    let resyncs = metric(&h.metrics().await, RESYNCS) - before;
    assert!(
        resyncs <= STALLED as u64,
        "{STALLED} stalled viewers were resynchronised {resyncs} times in {FRAMES} frames"
    );
    drop(stalled);
}

/// More viewers than one fan-out task writes to (`relay/src/fanout.rs`: 128), half of them
/// over each transport: the frames the other tasks write still reach every viewer whole
/// and in order.
#[tokio::test]
async fn a_crowd_of_viewers_gets_every_frame_in_order() {
    const CROWD: usize = 300;
    let h = start(RelayConfig {
        limits: Limits::one_address(),
        ..RelayConfig::loopback()
    })
    .await;
    let mut host = h.host().await;
    let link = host.welcome.links.read.clone();
    let mut crowd = Vec::with_capacity(CROWD);
    for i in 0..CROWD {
        let transport = match i % 2 {
            0 => ViewerTransport::WebSocket,
            _ => ViewerTransport::WebTransport,
        };
        crowd.push(h.joined(&link, transport).await);
    }
    // Once every viewer has heard the whole crowd counted, no notice is left to come,
    // whose push would also send a frame a fan-out left queued.
    for viewer in &mut crowd {
        recv_until(viewer, "the whole crowd counted", |message| match message {
            RelayToViewer::Viewers(count) if count.read as usize == CROWD => Some(()),
            _ => None,
        })
        .await;
    }
    let sent: Vec<_> = (0..20u64)
        .map(|seq| {
            frame(
                seq,
                seq == 0,
                format!("frame {seq} for everyone").as_bytes(),
            )
        })
        .collect();
    let receivers: Vec<_> = crowd
        .into_iter()
        .map(|mut viewer| {
            let sent = sent.clone();
            tokio::spawn(async move {
                for expected in &sent {
                    assert_eq!(&next_frame(&mut viewer).await, expected);
                }
                // Kept until every viewer is done: one leaving would be announced to the
                // others, and that push would also send what a fan-out left queued.
                viewer
            })
        })
        .collect();
    for bytes in &sent {
        within("host send", host.sender.send_raw(bytes.clone()))
            .await
            .unwrap();
    }
    // Well before the relay's 20 s keep-alive, which wakes every viewer's writer and would
    // send a frame left queued too.
    let all = async {
        let mut done = Vec::with_capacity(CROWD);
        for receiver in receivers {
            done.push(receiver.await.unwrap());
        }
        done
    };
    let done = tokio::time::timeout(Duration::from_secs(15), all).await;
    assert!(done.is_ok(), "every viewer got every frame");
}

#[tokio::test]
async fn viewers_see_each_other_come_and_go() {
    let h = start_default().await;
    let host = h.host().await;
    let mut first = h
        .joined(&host.welcome.links.read, ViewerTransport::WebSocket)
        .await;
    let collab = host
        .welcome
        .links
        .collab
        .clone()
        .expect("collab link asked for");
    let second = h.joined(&collab, ViewerTransport::WebTransport).await;
    recv_until(&mut first, "count of two", |m| match m {
        RelayToViewer::Viewers(c) if c.read == 1 && c.collab == 1 => Some(()),
        _ => None,
    })
    .await;
    drop(second);
    recv_until(&mut first, "count back to one", |m| match m {
        RelayToViewer::Viewers(c) if c.total() == 1 => Some(()),
        _ => None,
    })
    .await;
}
