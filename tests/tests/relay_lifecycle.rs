//! Session lifecycle through a real relay: a clean host exit ends the session for viewers
//! within a second, after every frame the host sent before it; a lost host leaves them "host away" and ends after the grace period
//! unless it resumes in time; a second connection of the host replaces the first; a relay
//! shutdown tells everyone it is going away; the relay's keep-alives hold quiet links open.

mod relay_support;

use std::time::Duration;

use cli_share::client::{NetError, ViewerTransport};
use futures::{SinkExt, StreamExt};
use protocol::{EndReason, HostHello, HostToRelay, RelayToHost, RelayToViewer};
use relay::RelayConfig;
use relay_support::*;
use tokio_tungstenite::tungstenite::Message;

/// Waits for `Ended` and the close that must follow it.
async fn ended(viewer: &mut cli_share::client::ViewerLink) -> EndReason {
    let reason = recv_until(viewer, "ended", |m| match m {
        RelayToViewer::Ended { reason, .. } => Some(*reason),
        _ => None,
    })
    .await;
    match within("close after ended", viewer.recv()).await {
        Err(NetError::Ended) => reason,
        other => panic!("expected the ENDED close, got {other:?}"),
    }
}

#[tokio::test]
async fn clean_host_exit_ends_the_session_for_viewers_within_a_second() {
    let h = start_default().await;
    let host = h.host().await;
    let link = host.welcome.links.read.clone();
    let mut ws = h.joined(&link, ViewerTransport::WebSocket).await;
    let mut wt = h.joined(&link, ViewerTransport::WebTransport).await;
    let bye = tokio::spawn(host.sender.bye("done"));
    // Measured from the Bye being sent: both viewers have Ended and the close within 1 s.
    let both = async { (ended(&mut ws).await, ended(&mut wt).await) };
    let (a, b) = tokio::time::timeout(Duration::from_secs(1), both)
        .await
        .expect("viewers ended within a second of the host's exit");
    assert_eq!((a, b), (EndReason::HostEnded, EndReason::HostEnded));
    bye.await.unwrap().unwrap();
    let (status, _) = h.get(&format!("/s/{}", host.welcome.session_id)).await;
    assert_eq!(status, 200, "the page is static");
    let link_again = h.viewer(&link, ViewerTransport::WebSocket).await;
    assert!(matches!(link_again, Err(NetError::NotFound)));
}

#[tokio::test]
async fn viewers_get_every_frame_sent_before_the_host_exits_then_the_end() {
    const LAST: u64 = 150;
    let h = start_default().await;
    let host = h.host().await;
    let link = host.welcome.links.read.clone();
    let mut ws = h.joined(&link, ViewerTransport::WebSocket).await;
    let mut wt = h.joined(&link, ViewerTransport::WebTransport).await;
    // Faster than the viewers read (they start only after the goodbye): the last frames
    // are still queued for them when the session ends.
    let mut sender = host.sender;
    let payload = vec![7u8; 4096];
    for seq in 0..=LAST {
        sender
            .send_raw(frame(seq, seq == 0, &payload))
            .await
            .unwrap();
    }
    within("the goodbye", sender.bye("done")).await.unwrap();
    for (name, viewer) in [("WebSocket", &mut ws), ("WebTransport", &mut wt)] {
        let mut next = 0;
        loop {
            match within("the frames, then the end", viewer.recv()).await {
                Ok(RelayToViewer::Frame(f)) => {
                    assert_eq!(f.seq, next, "{name}: frames in order");
                    next += 1;
                }
                Ok(RelayToViewer::Ended { reason, .. }) => {
                    assert_eq!(reason, EndReason::HostEnded);
                    break;
                }
                Ok(_) => {}
                Err(error) => panic!("{name}: {error} after {next} frames"),
            }
        }
        assert_eq!(next, LAST + 1, "{name}: every frame came before the end");
    }
}

/// A host link that ends without a `Bye` (here a WebSocket closed cleanly, as a host's
/// error path might) is a lost host: viewers are told it is away, and it may resume. Only
/// the goodbye ends a session for good.
#[tokio::test]
async fn a_host_link_closed_without_a_goodbye_is_lost_not_ended() {
    let h = start(RelayConfig {
        grace: Duration::from_secs(60),
        ..RelayConfig::loopback()
    })
    .await;
    let url = format!("ws://{}/ws/host", h.relay.http_addr());
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let said = protocol::encode(&HostToRelay::Hello(hello())).unwrap();
    ws.send(Message::Binary(said.into())).await.unwrap();
    let welcome = within("the welcome", async {
        loop {
            if let Some(Ok(Message::Binary(bytes))) = ws.next().await
                && let Ok(RelayToHost::Welcome(welcome)) = protocol::decode(&bytes)
            {
                return welcome;
            }
        }
    })
    .await;
    let mut viewer = h
        .joined(&welcome.links.read, ViewerTransport::WebSocket)
        .await;
    ws.close(None).await.unwrap();
    recv_until(&mut viewer, "host away", |m| {
        matches!(m, RelayToViewer::HostAway).then_some(())
    })
    .await;
    wait_metric(&h, "relay_hosts_away", |n| n == 1).await;
    let back = h
        .host_with(&HostHello {
            resume: Some(welcome.host_token),
            ..hello()
        })
        .await
        .expect("the session is still there to resume");
    assert!(back.welcome.resumed);
}

#[tokio::test]
async fn a_lost_host_ends_the_session_after_the_grace_period() {
    let h = start(RelayConfig {
        grace: Duration::from_millis(300),
        ..RelayConfig::loopback()
    })
    .await;
    let host = h.host().await;
    let mut viewer = h
        .joined(&host.welcome.links.read, ViewerTransport::WebSocket)
        .await;
    host.sender.abort();
    recv_until(&mut viewer, "host away", |m| {
        matches!(m, RelayToViewer::HostAway).then_some(())
    })
    .await;
    assert_eq!(ended(&mut viewer).await, EndReason::HostLost);
}

#[tokio::test]
async fn a_host_resuming_within_grace_takes_the_session_back() {
    let h = start(RelayConfig {
        grace: Duration::from_secs(60),
        ..RelayConfig::loopback()
    })
    .await;
    let host = h.host().await;
    let welcome = host.welcome.clone();
    let mut viewer = h
        .joined(&welcome.links.read, ViewerTransport::WebTransport)
        .await;
    host.sender.abort();
    recv_until(&mut viewer, "host away", |m| {
        matches!(m, RelayToViewer::HostAway).then_some(())
    })
    .await;

    let mut back = h
        .host_with(&HostHello {
            resume: Some(welcome.host_token.clone()),
            ..hello()
        })
        .await
        .expect("resumed");
    assert!(back.welcome.resumed);
    assert_eq!(back.welcome.session_id, welcome.session_id);
    back.sender
        .send_raw(frame(100, true, b"after resume"))
        .await
        .unwrap();
    // HostBack then the new keyframe, and no Ended in between.
    let mut saw_back = false;
    loop {
        match within("resume", viewer.recv())
            .await
            .expect("still connected")
        {
            RelayToViewer::HostBack => saw_back = true,
            RelayToViewer::Frame(f) => {
                assert!(saw_back, "HostBack comes before the resumed host's frames");
                assert_eq!(f.payload, b"after resume");
                break;
            }
            RelayToViewer::Ended { .. } => panic!("the session must survive a resume"),
            _ => {}
        }
    }
}

#[tokio::test]
async fn a_host_token_for_a_session_the_relay_lost_recreates_it() {
    let h = start_default().await;
    let token = h.relay.token_key().issue(
        "recreated-session-id",
        protocol::Mode::Host,
        Duration::from_secs(60),
    );
    let mut host = h
        .host_with(&HostHello {
            resume: Some(token),
            ..hello()
        })
        .await
        .expect("re-created");
    assert_eq!(host.welcome.session_id, "recreated-session-id");
    let request = within("keyframe request", host.receiver.recv())
        .await
        .unwrap();
    assert_eq!(request, RelayToHost::RequestKeyframe);
    // Links minted for the id before the "restart" work.
    let old_link = h.share_link(
        "recreated-session-id",
        &h.relay.token_key().issue(
            "recreated-session-id",
            protocol::Mode::Read,
            Duration::from_secs(60),
        ),
    );
    h.joined(&old_link, ViewerTransport::WebSocket).await;
}

#[tokio::test]
async fn a_second_connection_of_the_host_replaces_the_first() {
    let h = start_default().await;
    let mut first = h.host().await;
    let second = h
        .host_with(&HostHello {
            resume: Some(first.welcome.host_token.clone()),
            ..hello()
        })
        .await
        .expect("second connection welcomed");
    assert_eq!(second.welcome.session_id, first.welcome.session_id);
    let closed = within("first host closed", async {
        loop {
            match first.receiver.recv().await {
                Ok(_) => continue,
                other => return other,
            }
        }
    })
    .await;
    match closed {
        Err(NetError::Closed(why)) => assert!(
            why.contains(&protocol::close::REPLACED.to_string()),
            "{why}"
        ),
        other => panic!("expected the REPLACED close, got {other:?}"),
    }
}

#[tokio::test]
async fn shutdown_tells_hosts_and_viewers_it_is_going_away() {
    let h = start_default().await;
    let mut host = h.host().await;
    let mut ws = h
        .joined(&host.welcome.links.read, ViewerTransport::WebSocket)
        .await;
    let mut wt = h
        .joined(&host.welcome.links.read, ViewerTransport::WebTransport)
        .await;
    within("shutdown", h.relay.shutdown()).await;
    for viewer in [&mut ws, &mut wt] {
        recv_until(viewer, "going away", |m| {
            matches!(m, RelayToViewer::GoingAway).then_some(())
        })
        .await;
        assert!(matches!(
            within("close", viewer.recv()).await,
            Err(NetError::GoingAway)
        ));
    }
    let going = within("host told", async {
        loop {
            match host.receiver.recv().await {
                Ok(RelayToHost::GoingAway) => return true,
                Ok(_) => continue,
                _ => return false,
            }
        }
    })
    .await;
    assert!(going);
}

#[tokio::test]
async fn a_host_asking_for_links_gets_fresh_working_ones() {
    let h = start_default().await;
    let mut host = h.host().await;
    host.sender
        .send(&protocol::HostToRelay::RequestLinks { collab: true })
        .await
        .unwrap();
    let links = within("links", async {
        loop {
            if let RelayToHost::Links(links) = host.receiver.recv().await.unwrap() {
                return links;
            }
        }
    })
    .await;
    assert_ne!(links.read, host.welcome.links.read, "a fresh token");
    let collab = links.collab.expect("collab link asked for");
    h.joined(&collab, ViewerTransport::WebSocket).await;
}

#[tokio::test]
async fn quiet_links_outlive_the_idle_timeout_on_the_relay_s_keep_alives() {
    // Clients never ping: the relay's keep-alives alone must hold a silent host and a
    // silent WebTransport viewer past the idle timeout.
    let h = start(RelayConfig {
        keep_alive: Duration::from_secs(1),
        ..RelayConfig::loopback()
    })
    .await;
    let mut host = h.host().await;
    let mut viewer = h
        .joined(&host.welcome.links.read, ViewerTransport::WebTransport)
        .await;
    // Time passing with nothing sent is what is under test.
    tokio::time::sleep(2 * relay::idle_timeout(Duration::from_secs(1))).await;
    host.sender
        .send_raw(frame(0, true, b"still here"))
        .await
        .unwrap();
    loop {
        match within("the frame after the quiet spell", viewer.recv()).await {
            Ok(RelayToViewer::HostAway) => panic!("the quiet host was taken for lost"),
            Ok(RelayToViewer::Frame(frame)) => {
                assert_eq!(frame.payload, b"still here");
                break;
            }
            Ok(_) => {}
            Err(error) => panic!("the quiet viewer lost its link: {error}"),
        }
    }
}
