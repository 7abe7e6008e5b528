//! Read-only is enforced by the relay: a read viewer's input is dropped and counted, and
//! never reaches the host, while a collab viewer's input does, tagged with its viewer id.

mod relay_support;

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
