//! Fan-out through a real relay: a QUIC host, WebSocket and WebTransport viewers get the
//! same bytes; late joiners get the retained keyframe and diffs; a viewer that never reads
//! neither delays another nor makes the relay buffer without bound; frames that arrive only
//! in a host's datagrams are forwarded in order.

mod relay_support;

use std::time::Duration;

use cli_share::client::ViewerTransport;
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
    // A queue holds at most its cap of live frames, or a resync snapshot (a keyframe and
    // at most 99 diffs here) plus a few control messages.
    let snapshot = 100 * (big.len() as u64 + 32);
    let bound = (MAX_QUEUE_BYTES as u64).max(snapshot) + 64 * 1024;
    assert!(queued_max <= bound, "queued {queued_max} > bound {bound}");
    assert!(metric(&metrics, "relay_viewer_resyncs_total") > 0);
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
