//! Micro-benchmark of the relay's fan-out: one host frame delivered to every one of N
//! WebSocket viewers of an in-process relay on loopback. The relay's viewer queue is
//! crate-private, so the fan-out is measured through the public API, sockets included;
//! N stays within the default open-files limit (each viewer costs two descriptors here).

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::{SinkExt as _, StreamExt as _};
use protocol::{
    FrameHeader, HostHello, HostToRelay, Line, RelayToHost, Screen, ScreenDiff, ScreenFrame,
    ScreenUpdate,
};
use relay::{Relay, RelayConfig};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn frame(seq: u64, update: &ScreenUpdate) -> Message {
    let message = HostToRelay::Frame(ScreenFrame {
        seq,
        keyframe: matches!(update, ScreenUpdate::Keyframe(_)),
        payload: protocol::encode(update).expect("encodes"),
    });
    Message::Binary(protocol::encode(&message).expect("encodes").into())
}

fn diff(seq: u64) -> ScreenUpdate {
    ScreenUpdate::Diff(ScreenDiff {
        lines: vec![(23, Line::plain(&format!("frame {seq}")))],
        ..ScreenDiff::default()
    })
}

/// Reads until the frame `seq` arrives.
async fn until_frame(viewer: &mut Ws, seq: u64) {
    while let Some(Ok(message)) = viewer.next().await {
        if let Message::Binary(bytes) = message
            && let Ok(Some(header)) = FrameHeader::peek(&bytes)
            && header.seq == seq
        {
            return;
        }
    }
    panic!("viewer closed before frame {seq}");
}

/// A session with a host (WebSocket host endpoint) and `viewers` joined viewers.
async fn session(viewers: usize) -> (relay::RunningRelay, Ws, Vec<Ws>) {
    let relay = Relay::start(RelayConfig::loopback())
        .await
        .expect("relay starts");
    let http = relay.http_addr();
    let (mut host, _) = tokio_tungstenite::connect_async(format!("ws://{http}/ws/host"))
        .await
        .expect("host connects");
    let hello = HostToRelay::Hello(HostHello::new(80, 24));
    let hello = protocol::encode(&hello).expect("encodes");
    host.send(Message::Binary(hello.into()))
        .await
        .expect("hello");
    let link = loop {
        let Some(Ok(Message::Binary(bytes))) = host.next().await else {
            panic!("no welcome");
        };
        if let Ok(RelayToHost::Welcome(welcome)) = protocol::decode(&bytes) {
            break welcome.links.read;
        }
    };
    let (id, token) = link
        .rsplit_once("/s/")
        .and_then(|(_, rest)| rest.split_once('#'))
        .expect("link is <base>/s/<id>#<token>");
    host.send(frame(0, &ScreenUpdate::Keyframe(Screen::new(80, 24))))
        .await
        .expect("keyframe");
    let mut joined = Vec::with_capacity(viewers);
    for _ in 0..viewers {
        let url = format!("ws://{http}/ws/sessions/{id}?token={token}");
        let (mut viewer, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("viewer joins");
        until_frame(&mut viewer, 0).await;
        joined.push(viewer);
    }
    (relay, host, joined)
}

fn bench_fanout(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut group = c.benchmark_group("relay_fanout_ws");
    group.measurement_time(Duration::from_secs(5));
    for viewers in [10, 100, 300] {
        let (relay, mut host, mut joined) = runtime.block_on(session(viewers));
        let mut seq = 0;
        group.throughput(Throughput::Elements(viewers as u64));
        group.bench_function(format!("one_frame_to_{viewers}_viewers"), |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        seq += 1;
                        host.send(frame(seq, &diff(seq))).await.expect("frame");
                        for viewer in &mut joined {
                            until_frame(viewer, seq).await;
                        }
                    }
                    start.elapsed()
                })
            })
        });
        runtime.block_on(relay.shutdown());
    }
    group.finish();
}

criterion_group!(benches, bench_fanout);
criterion_main!(benches);
