//! Attacks on a relay over real sockets on loopback, each while an existing session runs:
//! the probe's viewers must keep receiving its frames within generous bounds of their
//! latency before the attack, none lost and none out of order. Slow request headers,
//! connections past the per-address cap, a session-creation flood, oversized and garbage
//! messages on every transport, a read link opened and closed in a loop, and a flood of QUIC
//! handshakes from spoofed addresses. (QUIC
//! connections that open every stream they may are in `relay_attack_streams.rs`: they
//! measure the process's memory, which other tests running beside them would blur.)

mod attack_support;
mod relay_support;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use attack_support::*;
use cli_share::client::{NetError, ViewerTransport};
use futures::{SinkExt, StreamExt};
use protocol::{RefusalReason, RelayToHost, close};
use relay::Limits;
use relay_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// Connections the probe holds: its host (QUIC) and its two viewers (TCP, QUIC).
const PROBE_CONNECTIONS: u64 = 3;

fn connections(h: &Harness) -> u64 {
    metric(&h.relay.metrics(), "relay_connections")
}

/// Waits until only the probe's connections are counted.
async fn released(h: &Harness) {
    within("every other slot released", async {
        while connections(h) != PROBE_CONNECTIONS {
            tokio::time::sleep(Duration::from_millis(10)).await; // poll interval
        }
    })
    .await;
}

fn refusals(h: &Harness, reason: &str) -> u64 {
    metric(
        &h.relay.metrics(),
        &format!("relay_limit_refusals_total{{reason=\"{reason}\"}}"),
    )
}

#[tokio::test]
async fn a_thousand_slow_header_connections_are_dropped_and_harm_no_one() {
    let header_timeout = Duration::from_secs(2);
    let (relay, probe, before) = probed(Limits {
        header_timeout,
        ..Limits::one_address()
    })
    .await;
    let h = &relay.h;
    let addr = h.relay.http_addr();
    let (dropped_after, during) = probe
        .during(25, async {
            let mut trickling = Vec::new();
            for _ in 0..1000 {
                let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
                // Half a request, and never the rest.
                stream
                    .write_all(b"GET /healthz HTTP/1.1\r\nHost: relay\r\n")
                    .await
                    .unwrap();
                trickling.push((Instant::now(), stream));
            }
            let mut dropped_after = Vec::new();
            for (opened, mut stream) in trickling {
                let mut rest = Vec::new();
                let _ = within("the relay drops it", stream.read_to_end(&mut rest)).await;
                dropped_after.push(opened.elapsed());
            }
            dropped_after
        })
        .await;
    let earliest = dropped_after.iter().min().unwrap();
    assert!(
        *earliest >= header_timeout - Duration::from_millis(100),
        "dropped before the header timeout: {earliest:?}"
    );
    assert_unharmed("1,000 slow-header connections", &before, &during);
    // A connection's slot goes with its task, a moment after its socket closed.
    released(h).await;
    probe.assert_lossless();
}

/// A status request whose body comes a byte at a time (each byte restarting the idle
/// timeout) is answered 408 once the header timeout has passed, not held for as long as
/// the bytes keep coming.
#[tokio::test]
async fn a_trickled_request_body_is_cut_off_at_the_header_timeout() {
    let header_timeout = Duration::from_secs(1);
    let h = start(relay::RelayConfig {
        limits: Limits {
            header_timeout,
            ..Limits::default()
        },
        ..relay::RelayConfig::loopback()
    })
    .await;
    let stream = tokio::net::TcpStream::connect(h.relay.http_addr())
        .await
        .unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let opened = Instant::now();
    writer
        .write_all(
            b"POST /api/sessions/AAAAAAAAAAAAAAAAAAAAAA/status HTTP/1.1\r\n\
              Host: relay\r\nContent-Length: 4096\r\n\r\n",
        )
        .await
        .unwrap();
    let trickle = async {
        // A byte well within the idle timeout each time, until the relay stops reading.
        while writer.write_all(b"x").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(200)).await; // the trickle's pace
        }
        std::future::pending::<()>().await
    };
    let mut answer = [0u8; 12];
    tokio::select! {
        read = within("the relay's answer", reader.read_exact(&mut answer)) => {
            read.unwrap();
        }
        () = trickle => {}
    }
    assert_eq!(&answer, b"HTTP/1.1 408");
    assert!(opened.elapsed() >= header_timeout - Duration::from_millis(100));
}

#[tokio::test]
async fn connections_past_the_per_address_cap_are_refused_with_429_and_counted() {
    let cap = 24;
    let (relay, probe, before) = probed(Limits {
        max_connections_per_addr: cap,
        ..Limits::one_address()
    })
    .await;
    let h = &relay.h;
    let link = probe.link.clone();
    let ((held, status, ws, wt, host), during) = probe
        .during(25, async {
            // Fill the address's share with idle connections.
            let mut held = Vec::new();
            while connections(h) < cap as u64 {
                held.push(
                    tokio::net::TcpStream::connect(h.relay.http_addr())
                        .await
                        .unwrap(),
                );
                within("connection counted", async {
                    while connections(h) < PROBE_CONNECTIONS + held.len() as u64 {
                        tokio::time::sleep(Duration::from_millis(1)).await; // poll interval
                    }
                })
                .await;
            }
            let status = h.raw("/healthz").await;
            let ws = h.viewer(&link, ViewerTransport::WebSocket).await.err();
            let wt = h.viewer(&link, ViewerTransport::WebTransport).await.err();
            let host = h.host_with(&hello()).await.err();
            (held, status, ws, wt, host)
        })
        .await;
    assert!(status.starts_with("HTTP/1.1 429"), "{status}");
    assert!(
        status.to_ascii_lowercase().contains("retry-after: 10"),
        "{status}"
    );
    assert!(matches!(ws, Some(NetError::Busy(_))), "{ws:?}");
    assert!(matches!(wt, Some(NetError::Busy(_))), "{wt:?}");
    match host {
        Some(NetError::Refused(refusal)) => {
            assert_eq!(refusal.reason, RefusalReason::Busy);
            assert!(refusal.message.contains("your address"), "{refusal:?}");
        }
        other => panic!("expected a Busy refusal, got {other:?}"),
    }
    assert!(refusals(h, "connections_per_addr") >= 4);
    assert_unharmed("connections past the cap", &before, &during);
    drop(held);
    released(h).await;
    let again = h.joined(&link, ViewerTransport::WebSocket).await;
    drop(again);
    probe.assert_lossless();
}

#[tokio::test]
async fn a_session_creation_flood_is_capped_per_address_and_in_all() {
    let (relay, probe, before) = probed(Limits {
        max_sessions: 30,
        max_sessions_per_addr: 20,
        ..Limits::one_address()
    })
    .await;
    let h = &relay.h;
    let (hosts, during) = probe
        .during(25, async {
            // From the probe's address: 19 more sessions, then refusals.
            let mut hosts = Vec::new();
            let refusal = loop {
                match h.host_with(&hello()).await {
                    Ok(host) => hosts.push(host),
                    Err(NetError::Refused(refusal)) => break refusal,
                    Err(other) => panic!("unexpected {other:?}"),
                }
                assert!(hosts.len() < 100, "no cap");
            };
            (hosts, refusal)
        })
        .await;
    let (mut hosts, refusal) = hosts;
    assert_eq!(hosts.len(), 19, "20 sessions from one address");
    assert_eq!(refusal.reason, RefusalReason::Busy);
    assert!(refusal.message.contains("your address"), "{refusal:?}");
    assert_eq!(refusals(h, "sessions_per_addr"), 1);

    // Another client fills the rest, then meets the relay's own cap.
    let other: IpAddr = "127.0.0.2".parse().unwrap();
    let mut others = Vec::new();
    let refusal = loop {
        let (endpoint, conn) = raw_quic(h, protocol::HOST_ALPN, other).await.unwrap();
        let (answer, send, recv) = raw_hello(&conn, &hello()).await;
        match answer {
            RelayToHost::Welcome(_) => others.push((endpoint, conn, send, recv)),
            RelayToHost::Refused(refusal) => {
                let closed = within("busy close", conn.closed()).await;
                assert!(
                    matches!(&closed, quinn::ConnectionError::ApplicationClosed(c)
                        if c.error_code == quinn::VarInt::from_u32(close::BUSY.into())),
                    "{closed:?}"
                );
                break refusal;
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(others.len() < 100, "no cap");
    };
    assert_eq!(others.len(), 10, "30 sessions in all");
    assert_eq!(refusal.reason, RefusalReason::Busy);
    assert!(refusal.message.contains("the relay has"), "{refusal:?}");
    assert_eq!(refusals(h, "sessions"), 1);

    // An ended session frees its slot.
    let host = hosts.pop().unwrap();
    host.sender.bye("done").await.unwrap();
    within("a slot back", async {
        loop {
            match h.host_with(&hello()).await {
                Ok(host) => return host,
                Err(NetError::Refused(_)) => tokio::task::yield_now().await,
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
    })
    .await;
    assert_unharmed("a session-creation flood", &before, &during);
    probe.assert_lossless();
}

/// Waits until the relay closes `conn`; returns the application close code, if any.
async fn closed_code(conn: &quinn::Connection) -> Option<u64> {
    match within("the relay closes it", conn.closed()).await {
        quinn::ConnectionError::ApplicationClosed(close) => Some(close.error_code.into_inner()),
        _ => None,
    }
}

/// A WebSocket to `path`, with the read link's token when `token` is given.
async fn raw_websocket(
    h: &Harness,
    path: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let url = format!("ws://{}{path}", h.relay.http_addr());
    let config = cli_share::client::websocket_config();
    let (ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), false)
        .await
        .expect("upgrade");
    ws
}

/// Reads until the relay closes the WebSocket; returns the close code, if it sent one.
async fn ws_closed<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> Option<u16>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    within("the relay closes it", async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await
}

#[tokio::test]
async fn oversized_and_garbage_messages_on_every_transport_close_only_their_sender() {
    let (relay, probe, before) = probed(Limits::one_address()).await;
    let h = &relay.h;
    let (sid, token) = {
        let link = keyed(&probe.link);
        (link.session_id, link.token)
    };
    let huge = (protocol::limits::MAX_FRAME_BYTES as u32 + 1).to_be_bytes();
    let ((), during) = probe
        .during(25, async {
            // QUIC host stream: an oversized hello, garbage after a welcome, an oversized
            // frame after a welcome.
            let (_e, conn) = raw_quic(h, protocol::HOST_ALPN, LOOPBACK).await.unwrap();
            let (mut send, _recv) = conn.open_bi().await.unwrap();
            send.write_all(&huge).await.unwrap();
            assert_eq!(closed_code(&conn).await, Some(close::PROTOCOL_ERROR.into()));
            for garbage in [
                protocol::codec::prefixed(&[0xff; 64]).unwrap().to_vec(),
                huge.to_vec(),
            ] {
                let (_e, conn) = raw_quic(h, protocol::HOST_ALPN, LOOPBACK).await.unwrap();
                let (answer, mut send, _recv) = raw_hello(&conn, &hello()).await;
                assert!(matches!(answer, RelayToHost::Welcome(_)));
                send.write_all(&garbage).await.unwrap();
                assert!(closed_code(&conn).await.is_some());
            }

            // QUIC datagrams: garbage is ignored, the host's session goes on.
            let (_e, conn) = raw_quic(h, protocol::HOST_ALPN, LOOPBACK).await.unwrap();
            let (answer, mut send, _recv) = raw_hello(&conn, &hello()).await;
            let RelayToHost::Welcome(welcome) = answer else {
                panic!("welcome")
            };
            let mut viewer = h
                .joined(&welcome.links.read, ViewerTransport::WebSocket)
                .await;
            for datagram in [
                vec![0xff; 1000],
                huge.to_vec(),
                [&[0, 0, 0, 9][..], &[0xff; 9]].concat(),
                vec![0, 0],
            ] {
                conn.send_datagram(datagram.into()).unwrap();
            }
            let good = frame(0, true, b"still here");
            send.write_all(&protocol::codec::prefixed(&good).unwrap())
                .await
                .unwrap();
            assert_eq!(next_frame(&mut viewer).await, good);

            // WebSocket host: text, garbage before the hello, an oversized message.
            let mut ws = raw_websocket(h, "/ws/host").await;
            ws.send(Message::Text("hello?".into())).await.unwrap();
            assert_eq!(ws_closed(&mut ws).await, Some(close::PROTOCOL_ERROR));
            let mut ws = raw_websocket(h, "/ws/host").await;
            ws.send(Message::Binary(vec![0xff; 100].into()))
                .await
                .unwrap();
            assert_eq!(ws_closed(&mut ws).await, Some(close::PROTOCOL_ERROR));
            let mut ws = raw_websocket(h, "/ws/host").await;
            let oversized = vec![0u8; protocol::limits::MAX_FRAME_BYTES + 17];
            let _ = ws.send(Message::Binary(oversized.into())).await;
            let _ = ws_closed(&mut ws).await;

            // WebSocket viewer: garbage, then an oversized message.
            let viewer_path = format!("/ws/sessions/{sid}?token={token}");
            for message in [
                vec![0xff; 100],
                vec![0u8; protocol::limits::MAX_INPUT_BYTES + 100],
            ] {
                let mut ws = raw_websocket(h, &viewer_path).await;
                let _ = ws.send(Message::Binary(message.into())).await;
                let _ = ws_closed(&mut ws).await;
            }

            // WebTransport viewer: garbage, then an oversized message.
            for message in [
                protocol::codec::prefixed(&[0xff; 100]).unwrap().to_vec(),
                huge.to_vec(),
            ] {
                let (_endpoint, conn) = raw_webtransport(h, &sid, &token).await;
                let (mut send, mut recv) = conn.open_bi().await.unwrap().await.unwrap();
                send.write_all(&message).await.unwrap();
                let mut sink = vec![0u8; 64 * 1024];
                within("the relay closes it", async {
                    while let Ok(Some(_)) = recv.read(&mut sink).await {}
                })
                .await;
            }
        })
        .await;
    assert_unharmed("garbage on every transport", &before, &during);
    probe.assert_lossless();
}

/// A bare WebTransport session to `sid` with `token` (and the endpoint that carries it).
async fn raw_webtransport(
    h: &Harness,
    sid: &str,
    token: &str,
) -> (
    wtransport::Endpoint<wtransport::endpoint::endpoint_side::Client>,
    wtransport::Connection,
) {
    let tls = h
        .info
        .trust
        .client_config(&[protocol::WEBTRANSPORT_ALPN])
        .unwrap();
    let config = wtransport::ClientConfig::builder()
        .with_bind_default()
        .with_custom_tls(tls)
        .build();
    let endpoint = wtransport::Endpoint::client(config).unwrap();
    let url = format!(
        "https://127.0.0.1:{}/wt/sessions/{sid}?token={token}",
        h.relay.webtransport_addr().port()
    );
    let conn = within("WebTransport", endpoint.connect(&url))
        .await
        .expect("session");
    (endpoint, conn)
}

#[tokio::test]
async fn a_read_link_opened_in_a_loop_is_told_a_few_times_a_second() {
    let (relay, probe, before) = probed(Limits::one_address()).await;
    let h = &relay.h;
    let counts_before: Vec<usize> = probe
        .viewers
        .iter()
        .map(|v| v.borrow().counts.len())
        .collect();
    let host_before = probe
        .host_notices
        .load(std::sync::atomic::Ordering::Relaxed);
    let link = probe.link.clone();
    let (elapsed, during) = probe
        .during(25, async {
            let started = Instant::now();
            for i in 0..200 {
                let transport = if i % 4 == 0 {
                    ViewerTransport::WebTransport
                } else {
                    ViewerTransport::WebSocket
                };
                drop(h.joined(&link, transport).await);
            }
            started.elapsed()
        })
        .await;
    // Everyone ends up with the right count: the probe's two viewers.
    for viewer in &probe.viewers {
        let mut viewer = viewer.clone();
        within(
            "the final count",
            viewer.wait_for(|r| r.counts.last() == Some(&2)),
        )
        .await
        .unwrap();
    }
    // 400 changes; the bucket allows a burst of 5, then 4 a second, plus the final one.
    let allowed = 5 + (4.0 * (elapsed.as_secs_f64() + 1.0)).ceil() as usize;
    for (viewer, before) in probe.viewers.iter().zip(counts_before) {
        let told = viewer.borrow().counts.len() - before;
        println!("a viewer was told the count {told} times in {elapsed:?} (allowed {allowed})");
        assert!(told <= allowed, "{told} count messages in {elapsed:?}");
    }
    let host_told = (probe
        .host_notices
        .load(std::sync::atomic::Ordering::Relaxed)
        - host_before) as usize;
    assert!(host_told <= allowed, "the host was told {host_told} times");
    assert_unharmed("a join/leave loop", &before, &during);
    probe.assert_lossless();
}

/// First flights of `n` QUIC handshakes, each with its own connection id, caught on their
/// way: sent to the relay from addresses that never answer, they are what a flood of
/// spoofed sources looks like to it.
async fn first_flights(h: &Harness, n: usize) -> Vec<Vec<u8>> {
    let catcher = tokio::net::UdpSocket::bind((LOOPBACK, 0)).await.unwrap();
    let config = quic_client_config(h, protocol::HOST_ALPN).unwrap();
    let endpoint = quinn::Endpoint::client((LOOPBACK, 0).into()).unwrap();
    let _attempts: Vec<quinn::Connecting> = (0..n)
        .map(|_| {
            endpoint
                .connect_with(config.clone(), catcher.local_addr().unwrap(), "localhost")
                .unwrap()
        })
        .collect();
    let mut flights = std::collections::HashMap::new();
    let mut buf = vec![0; 64 * 1024];
    within("the first flights", async {
        while flights.len() < n {
            let (len, _) = catcher.recv_from(&mut buf).await.unwrap();
            // A long header: flags, version (4 bytes), then the destination connection id
            // (length first). A repeated flight has the id of one already caught.
            let datagram = &buf[..len];
            let id = datagram[6..6 + usize::from(datagram[5])].to_vec();
            flights.entry(id).or_insert_with(|| datagram.to_vec());
        }
    })
    .await;
    flights.into_values().collect()
}

#[tokio::test]
async fn a_handshake_flood_from_spoofed_addresses_costs_no_state_past_the_retry_threshold() {
    const CROWD: usize = 16;
    const FLOOD: usize = 400;
    let (relay, probe, before) = probed_with(relay::RelayConfig {
        limits: Limits {
            quic_retry_above: CROWD,
            ..Limits::default()
        },
        // The handshakes let in stay in progress (their clients never answer) until the
        // idle timeout, three keep-alives: longer than the flood takes on a loaded machine.
        keep_alive: Duration::from_secs(20),
        ..relay::RelayConfig::loopback()
    })
    .await;
    let h = &relay.h;
    let flights = first_flights(h, FLOOD).await;
    let retries = || metric(&h.relay.metrics(), "relay_quic_retries_total");
    let (held, during) = probe
        .during(25, async {
            let mut sent = 0usize;
            // In bursts the relay's socket buffer holds; each answered before the next.
            for burst in flights.chunks(50) {
                for flight in burst {
                    // Each from an address of its own (all of 127.0.0.0/8 is this
                    // machine's), so the per-address handshake rate never applies; the
                    // socket closes at once, so the relay's answer goes nowhere, as to a
                    // spoofed source.
                    let source =
                        std::net::Ipv4Addr::new(127, 3, (sent / 250) as u8, (sent % 250 + 1) as u8);
                    let socket = std::net::UdpSocket::bind((source, 0)).unwrap();
                    socket.send_to(flight, h.relay.quic_addr()).unwrap();
                    sent += 1;
                }
                let retried = sent.saturating_sub(CROWD) as u64;
                within("the burst answered", async {
                    while retries() < retried {
                        tokio::time::sleep(Duration::from_millis(10)).await; // poll interval
                    }
                })
                .await;
            }
            let held = connections(h) - PROBE_CONNECTIONS;
            // A real host proves its address with the Retry and gets in meanwhile.
            let mut host = h.host().await;
            let mut viewer = h
                .joined(&host.welcome.links.read, ViewerTransport::WebTransport)
                .await;
            let sent = frame(0, true, b"during the flood");
            host.sender.send_raw(sent.clone()).await.unwrap();
            assert_eq!(next_frame(&mut viewer).await, sent);
            held
        })
        .await;
    // The relay kept state for the first handshakes only: every later one got a Retry,
    // which costs it nothing until an address answers (the host and its viewer did).
    assert_eq!(held, CROWD as u64, "spoofed handshakes holding slots");
    assert_eq!(retries(), (FLOOD - CROWD) as u64 + 2);
    assert_unharmed("a handshake flood from spoofed addresses", &before, &during);
    probe.assert_lossless();
}
