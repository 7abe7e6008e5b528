//! The relay's limits, one at a time, over real sockets: the relay-wide connection cap
//! (503 with `Retry-After`, for a link's status too), the viewers of one session (429 on both transports), a second
//! hello on a host link, Retry when handshakes crowd in, TCP peers that stop talking or
//! reading, `/metrics` kept off a public HTTP port, a host resuming with its host token
//! alone on a relay that requires host keys, and in 0-RTT through the per-connection ticket
//! stores. Every refusal is counted by reason.

mod relay_support;

use std::time::Duration;

use cli_share::client::{HostConnection, NetError, ViewerTransport};
use protocol::{HostHello, RefusalReason, close};
use relay::{Limits, RelayConfig};
use relay_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn config(limits: Limits) -> RelayConfig {
    RelayConfig {
        limits,
        ..RelayConfig::loopback()
    }
}

fn sample(h: &Harness, name: &str) -> u64 {
    metric(&h.relay.metrics(), name)
}

fn refusals(h: &Harness, reason: &str) -> u64 {
    sample(
        h,
        &format!("relay_limit_refusals_total{{reason=\"{reason}\"}}"),
    )
}

/// Waits until the sample `name` (read in-process, not over HTTP) satisfies `ok`.
async fn until(h: &Harness, name: &str, ok: impl Fn(u64) -> bool) {
    within(name, async {
        while !ok(sample(h, name)) {
            tokio::time::sleep(Duration::from_millis(10)).await; // poll interval
        }
    })
    .await
}

/// A relay with `limits` and a session on it: the harness, the host and its read link.
async fn hosted(limits: Limits) -> (Harness, HostConnection, String) {
    let h = start(config(limits)).await;
    let host = h.host().await;
    let link = host.welcome.links.read.clone();
    (h, host, link)
}

#[tokio::test]
async fn a_full_relay_answers_503_with_retry_after_on_every_transport() {
    let (h, _host, link) = hosted(Limits {
        max_connections: 3,
        ..Limits::one_address()
    })
    .await;
    let _viewer = h.joined(&link, ViewerTransport::WebSocket).await;
    let _idle = tokio::net::TcpStream::connect(h.relay.http_addr())
        .await
        .unwrap();
    until(&h, "relay_connections", |n| n == 3).await;

    let response = h.raw("/healthz").await;
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    assert!(
        response.to_ascii_lowercase().contains("retry-after: 10"),
        "{response}"
    );
    assert!(response.contains("retry in 10 s"), "{response}");
    // A link's status is a request like any other.
    let (page, token) = link.split_once('#').unwrap();
    let sid = page.rsplit('/').next().unwrap();
    let status = h.post(&format!("/api/sessions/{sid}/status"), token).await;
    assert_eq!(status.0, 503, "{status:?}");
    let ws = h.viewer(&link, ViewerTransport::WebSocket).await.err();
    assert!(matches!(ws, Some(NetError::Busy(_))), "{ws:?}");
    let wt = h.viewer(&link, ViewerTransport::WebTransport).await.err();
    assert!(matches!(wt, Some(NetError::Busy(_))), "{wt:?}");
    match h.host_with(&hello()).await.err() {
        Some(NetError::Refused(refusal)) => {
            assert_eq!(refusal.reason, RefusalReason::Busy);
            assert!(refusal.message.contains("the relay has"), "{refusal:?}");
        }
        other => panic!("expected a Busy refusal, got {other:?}"),
    }
    assert!(refusals(&h, "connections") >= 5);
}

#[tokio::test]
async fn a_session_with_as_many_viewers_as_allowed_turns_more_away_with_429() {
    let (h, _host, link) = hosted(Limits {
        max_viewers_per_session: 2,
        ..Limits::one_address()
    })
    .await;
    let first = h.joined(&link, ViewerTransport::WebSocket).await;
    let _second = h.joined(&link, ViewerTransport::WebTransport).await;
    for transport in [ViewerTransport::WebSocket, ViewerTransport::WebTransport] {
        let refused = h.viewer(&link, transport).await.err();
        assert!(matches!(refused, Some(NetError::Busy(_))), "{refused:?}");
    }
    // The WebTransport client asks twice: the second time to read the status.
    assert!(refusals(&h, "viewers_per_session") >= 2);
    drop(first);
    within("a place freed", async {
        loop {
            match h.viewer(&link, ViewerTransport::WebSocket).await {
                Ok(viewer) => return viewer,
                Err(NetError::Busy(_)) => tokio::task::yield_now().await,
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
    })
    .await;
}

#[tokio::test]
async fn a_second_hello_on_a_host_link_is_a_protocol_error_and_counted() {
    let h = start_default().await;
    let mut host = h.host().await;
    let again = protocol::HostToRelay::Hello(HostHello::new(80, 24));
    host.sender.send(&again).await.unwrap();
    let closed = within("the relay closes it", async {
        loop {
            if let Err(e) = host.receiver.recv().await {
                return e;
            }
        }
    })
    .await;
    assert!(
        matches!(&closed, NetError::Closed(why) if why.contains(&close::PROTOCOL_ERROR.to_string())),
        "{closed:?}"
    );
    assert_eq!(refusals(&h, "hello_repeated"), 1);
}

#[tokio::test]
async fn crowded_handshakes_make_clients_prove_their_address_with_a_retry() {
    // Any handshake in progress counts as a crowd: every new client gets a Retry first.
    let h = start(config(Limits {
        quic_retry_above: 0,
        ..Limits::default()
    }))
    .await;
    let mut host = h.host().await;
    let mut viewer = h
        .joined(&host.welcome.links.read, ViewerTransport::WebTransport)
        .await;
    let sent = frame(0, true, b"after a retry");
    host.sender.send_raw(sent.clone()).await.unwrap();
    assert_eq!(next_frame(&mut viewer).await, sent);
    assert!(sample(&h, "relay_quic_retries_total") >= 2);
}

#[tokio::test]
async fn a_tcp_peer_that_sends_nothing_is_dropped_after_the_idle_timeout() {
    let h = start(config(Limits {
        idle_timeout: Duration::from_millis(500),
        ..Limits::default()
    }))
    .await;
    let mut silent = tokio::net::TcpStream::connect(h.relay.http_addr())
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut rest = Vec::new();
    within("dropped", silent.read_to_end(&mut rest)).await.ok();
    assert!(started.elapsed() >= Duration::from_millis(450));
    until(&h, "relay_tcp_stalls_total{stalled=\"read\"}", |n| n >= 1).await;
    until(&h, "relay_connections", |n| n == 0).await;
}

#[tokio::test]
async fn a_websocket_viewer_that_never_reads_is_dropped_after_the_write_timeout() {
    let h = start(config(Limits {
        write_timeout: Duration::from_millis(500),
        ..Limits::default()
    }))
    .await;
    let mut host = h.host().await;
    let link = keyed(&host.welcome.links.read);
    // Upgraded, then never read: the relay's writes block once the socket buffers fill.
    let url = format!(
        "ws://{}/ws/sessions/{}?token={}",
        h.relay.http_addr(),
        link.session_id,
        link.token
    );
    let (_never_read, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let stalled = "relay_tcp_stalls_total{stalled=\"write\"}";
    keyframes_until_dropped(&h, &mut host, "websocket", stalled).await;
}

#[tokio::test]
async fn a_webtransport_viewer_that_never_reads_is_dropped_after_the_write_timeout() {
    let h = start(config(Limits {
        write_timeout: Duration::from_millis(500),
        ..Limits::default()
    }))
    .await;
    let mut host = h.host().await;
    let link = host.welcome.links.read.clone();
    // Joined, then never read: the relay's writes block once the stream's flow-control
    // window is used up.
    let _never_read = h
        .viewer(&link, ViewerTransport::WebTransport)
        .await
        .expect("admitted");
    let stalled = "relay_webtransport_stalls_total{stalled=\"write\"}";
    keyframes_until_dropped(&h, &mut host, "webtransport", stalled).await;
}

/// With one read-only viewer over `transport` that never reads, sends 256 KiB keyframes
/// until the `stalled` counter counts it, then waits for the viewer to be gone.
async fn keyframes_until_dropped(
    h: &Harness,
    host: &mut HostConnection,
    transport: &str,
    stalled: &str,
) {
    let viewers = format!("relay_viewers{{transport=\"{transport}\",mode=\"read\"}}");
    until(h, &viewers, |n| n == 1).await;
    let keyframe = vec![b'x'; 256 * 1024];
    within("the viewer dropped", async {
        for seq in 0.. {
            if sample(h, stalled) >= 1 {
                return;
            }
            host.sender
                .send_raw(frame(seq, true, &keyframe))
                .await
                .unwrap();
        }
    })
    .await;
    until(h, &viewers, |n| n == 0).await;
}

#[tokio::test]
async fn metrics_stay_off_a_public_http_port_and_serve_on_their_own_address() {
    // An HTTP port reachable from elsewhere: no /metrics there.
    let public = start(RelayConfig {
        http: "0.0.0.0:0".parse().unwrap(),
        ..RelayConfig::loopback()
    })
    .await;
    assert_eq!(public.get("/metrics").await.0, 404);
    assert_eq!(public.get("/healthz").await.0, 200);

    let separate = start(RelayConfig {
        metrics: Some("127.0.0.1:0".parse().unwrap()),
        ..RelayConfig::loopback()
    })
    .await;
    assert_eq!(separate.get("/metrics").await.0, 404, "only on --metrics");
    let addr = separate.relay.metrics_addr().expect("bound");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    within("metrics", stream.read_to_string(&mut response))
        .await
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("relay_limit_refusals_total{reason=\"sessions\"} 0"));
}

#[tokio::test]
async fn a_host_resumes_with_its_host_token_alone() {
    let h = start(RelayConfig {
        host_keys: vec!["sesame-1234".into()],
        grace: Duration::from_secs(60),
        ..RelayConfig::loopback()
    })
    .await;
    let first = h
        .host_with(&HostHello {
            host_key: Some("sesame-1234".into()),
            ..hello()
        })
        .await
        .expect("welcomed with the key");
    let welcome = first.welcome.clone();
    first.sender.abort();
    let resumed = h
        .host_with(&HostHello {
            resume: Some(welcome.host_token.clone()),
            host_key: None,
            ..hello()
        })
        .await
        .expect("resumed without the key");
    assert!(resumed.welcome.resumed);
    assert_eq!(resumed.welcome.session_id, welcome.session_id);
}

#[tokio::test]
async fn a_welcomed_hosts_next_link_opens_in_0rtt() {
    let h = start_default().await;
    let early = "relay_host_links_early_total";
    let first = h.host().await;
    let welcome = first.welcome.clone();
    first.sender.abort();
    let resumed = within("the resumed link", async {
        // The first link's tickets arrive just after its handshake; until they have, a
        // new link is a full handshake.
        loop {
            let host = h
                .host_with(&HostHello {
                    resume: Some(welcome.host_token.clone()),
                    ..hello()
                })
                .await
                .expect("resumed");
            if sample(&h, early) >= 1 {
                return host;
            }
            host.sender.abort();
        }
    })
    .await;
    assert!(resumed.welcome.resumed);
}
