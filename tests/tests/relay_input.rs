//! Read-only is enforced by the relay: a read viewer's input is dropped and counted, and
//! never reaches the host, while a collab viewer's input does, tagged with its viewer id.
//! Input that fills a slow host's control queue never costs it the relay's keyframe
//! request.

mod relay_support;

use std::sync::Arc;

use cli_share::client::ViewerTransport;
use protocol::{Mode, RelayToHost, RelayToViewer};
use relay_support::*;

#[tokio::test]
async fn read_only_input_is_dropped_and_collab_input_reaches_the_host() {
    let h = start_default().await;
    let mut host = h.host().await;
    let read_link = host.welcome.links.read.clone();
    let collab_link = host
        .welcome
        .links
        .collab
        .clone()
        .expect("collab link asked for");

    for transport in [ViewerTransport::WebSocket, ViewerTransport::WebTransport] {
        let dropped_before = metric(&h.metrics().await, "relay_read_only_inputs_dropped_total");
        let mut reader = h.joined(&read_link, transport).await;
        let mut collab = h.viewer(&collab_link, transport).await.unwrap();
        let collab_id = match within("welcome", collab.recv()).await.unwrap() {
            RelayToViewer::Welcome(welcome) => {
                assert_eq!(welcome.mode, Mode::Collab);
                welcome.viewer
            }
            other => panic!("expected a welcome, got {other:?}"),
        };

        reader.send_input(b"rm -rf /\n").await.unwrap();
        // The relay has processed (and dropped) the read input before the collab input is sent.
        wait_metric(&h, "relay_read_only_inputs_dropped_total", |v| {
            v > dropped_before
        })
        .await;
        collab.send_input(b"ls\n").await.unwrap();

        let (viewer, mode, data) = within("collab input", async {
            loop {
                match host.receiver.recv().await.unwrap() {
                    RelayToHost::ViewerInput { viewer, mode, data } => {
                        return (viewer, mode, data);
                    }
                    _ => continue,
                }
            }
        })
        .await;
        // The first input to arrive is the collab one: the read one never made it.
        assert_eq!(data, b"ls\n", "{transport:?}");
        assert_eq!(mode, Mode::Collab);
        assert_eq!(viewer, collab_id);
    }
}

/// A bare QUIC host whose stream window (16 KiB) is smaller than one input: once it stops
/// reading, the relay's writer holds one input and the rest wait in the host's control
/// queue. Returns the connection (and its endpoint), its welcome and its stream.
async fn slow_host(
    h: &Harness,
) -> (
    (quinn::Endpoint, quinn::Connection),
    protocol::HostWelcome,
    quinn::SendStream,
    quinn::RecvStream,
) {
    let tls = h.info.trust.client_config(&[protocol::HOST_ALPN]).unwrap();
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport.stream_receive_window(quinn::VarInt::from_u32(16 * 1024));
    config.transport_config(Arc::new(transport));
    let endpoint = quinn::Endpoint::client((std::net::Ipv4Addr::LOCALHOST, 0).into()).unwrap();
    let connecting = endpoint
        .connect_with(config, h.relay.quic_addr(), "localhost")
        .unwrap();
    let conn = within("QUIC host", connecting).await.unwrap();
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    let hello = protocol::encode(&protocol::HostToRelay::Hello(hello())).unwrap();
    send.write_all(&protocol::codec::prefixed(&hello).unwrap())
        .await
        .unwrap();
    let welcome = match read_message(&mut recv).await {
        RelayToHost::Welcome(welcome) => welcome,
        other => panic!("expected a welcome, got {other:?}"),
    };
    ((endpoint, conn), welcome, send, recv)
}

async fn read_message(recv: &mut quinn::RecvStream) -> RelayToHost {
    within("a message to the host", async {
        let mut prefix = [0u8; 4];
        recv.read_exact(&mut prefix).await.unwrap();
        let mut message = vec![0u8; u32::from_be_bytes(prefix) as usize];
        recv.read_exact(&mut message).await.unwrap();
        protocol::decode(&message).unwrap()
    })
    .await
}

/// The relay asks a host for a keyframe once until one comes (its retained diffs outgrew
/// their cap here). The request used to be a message in the host's control queue, dropped
/// when that queue was full (a collab viewer's paste into a host that reads slowly), and
/// never made again: late joiners waited for a keyframe nobody asked for. It is now a flag
/// the host's writer sends as soon as the host reads again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyframe_request_reaches_a_host_whose_control_queue_is_full() {
    const INPUT: usize = 60_000;
    /// More than the queue holds, and a bounded paste.
    const PASTED: usize = 100;
    let h = start_default().await;
    let (_conn, welcome, mut send, mut recv) = slow_host(&h).await;
    let collab_link = welcome.links.collab.clone().expect("collab link asked for");
    let mut frames = async |frames: &[bytes::Bytes]| {
        for frame in frames {
            let prefixed = protocol::codec::prefixed(frame).unwrap();
            within("host send", send.write_all(&prefixed))
                .await
                .unwrap();
        }
    };
    frames(&[frame(0, true, b"k"), frame(1, false, b"c")]).await;

    // A collab viewer pastes while the host reads nothing.
    let mut collab = h
        .viewer(&collab_link, ViewerTransport::WebSocket)
        .await
        .unwrap();
    let paste = tokio::spawn(async move {
        let data = vec![b'x'; INPUT];
        for _ in 0..PASTED {
            collab.send_input(&data).await.unwrap();
        }
        collab
    });
    // The writer took one input (part written, the host's window is smaller), so with
    // one more forwarded than the queue holds, the queue is full.
    wait_metric(&h, "relay_collab_inputs_forwarded_total", |v| v > 64).await;

    // One diff past the retained count's cap: the relay asks, once.
    let diffs: Vec<_> = (2..2 + 4097).map(|seq| frame(seq, false, b"d")).collect();
    frames(&diffs).await;
    wait_metric(&h, "relay_keyframe_requests_total", |v| v >= 1).await;

    // The host reads again, the whole paste: the request comes, ahead of the queued input.
    let mut inputs = 0;
    let mut asked = None;
    while inputs < PASTED {
        match read_message(&mut recv).await {
            RelayToHost::RequestKeyframe => asked = asked.or(Some(inputs)),
            RelayToHost::ViewerInput { .. } => inputs += 1,
            _ => {}
        }
    }
    let _collab = within("the paste", paste).await.unwrap();
    assert!(
        matches!(asked, Some(0..=1)),
        "keyframe request after {asked:?} of {PASTED} inputs"
    );
    assert_eq!(
        metric(&h.metrics().await, "relay_keyframe_requests_total"),
        1
    );
}
