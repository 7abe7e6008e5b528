//! The pattern later lossy-link tests and benchmarks use: the real relay runs in namespace A,
//! a client in namespace B reaches it across the emulated link. Needs root (ignored otherwise).

use std::{net::SocketAddr, time::Duration};

use anyhow::Context;
use e2e::netem::{EmulatedLink, Impairments, LinkConfig};
use relay::{Relay, RelayConfig};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpSocket,
    time::timeout,
};

#[tokio::test]
#[ignore = "needs root: emulated links use network namespaces and TUN devices"]
async fn relay_in_namespace_a_serves_a_client_in_namespace_b() -> anyhow::Result<()> {
    let link = EmulatedLink::new(LinkConfig::symmetric(Impairments {
        delay: Duration::from_millis(20),
        ..Default::default()
    }))?;
    let relay_rt = link.a().runtime()?;
    let config = RelayConfig {
        http: SocketAddr::from((link.addr_a(), 0)),
        quic: SocketAddr::from((link.addr_a(), 0)),
        ..RelayConfig::loopback()
    };
    let relay = relay_rt.spawn(Relay::start(config)).await??;
    let http = relay.http_addr();
    assert_eq!(http.ip(), link.addr_a());

    let socket = link.b().run(TcpSocket::new_v4)??;
    let response = timeout(Duration::from_secs(20), async {
        let mut conn = socket.connect(http).await?;
        conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n")
            .await?;
        let mut response = Vec::new();
        conn.read_to_end(&mut response).await?;
        anyhow::Ok(response)
    })
    .await
    .context("no HTTP response across the link")??;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    let stats = link.control().stats();
    assert!(
        stats.b_to_a.delivered > 0 && stats.a_to_b.delivered > 0,
        "{stats:?}"
    );
    relay_rt.spawn(relay.shutdown()).await?;
    Ok(())
}
