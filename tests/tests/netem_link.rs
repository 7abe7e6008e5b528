//! The network emulator carries real UDP and TCP traffic between two namespaces and applies
//! loss, delay and blackouts to it. Needs root (ignored otherwise).

use std::{
    io,
    net::{Ipv4Addr, SocketAddr},
    time::{Duration, Instant},
};

use anyhow::{Context, ensure};
use e2e::netem::{
    EmulatedLink, Impairments, LinkConfig, LinkStats, Netns, RateLimit, RuntimeThread, TUN_NAME,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpSocket, UdpSocket},
    sync::oneshot,
    time::timeout,
};

const WAIT: Duration = Duration::from_secs(20);

fn link(config: LinkConfig) -> anyhow::Result<EmulatedLink> {
    Ok(EmulatedLink::new(config)?)
}

/// A UDP socket bound inside `ns`, usable from the test's runtime.
fn udp_in(ns: &Netns, ip: Ipv4Addr) -> anyhow::Result<UdpSocket> {
    let socket = ns.run(|| std::net::UdpSocket::bind((ip, 0)))??;
    socket.set_nonblocking(true)?;
    Ok(UdpSocket::from_std(socket)?)
}

/// Starts a UDP echo server on a runtime inside a namespace, the way a test runs a relay there.
async fn start_echo(rt: &RuntimeThread, ip: Ipv4Addr) -> anyhow::Result<SocketAddr> {
    let (addr_tx, addr_rx) = oneshot::channel();
    rt.spawn(serve_echo(ip, addr_tx));
    Ok(addr_rx.await?)
}

async fn serve_echo(ip: Ipv4Addr, addr_tx: oneshot::Sender<SocketAddr>) -> io::Result<()> {
    let socket = UdpSocket::bind((ip, 0)).await?;
    let _ = addr_tx.send(socket.local_addr()?);
    let mut buf = [0u8; 2048];
    loop {
        let (len, from) = socket.recv_from(&mut buf).await?;
        socket
            .send_to(buf.get(..len).unwrap_or_default(), from)
            .await?;
    }
}

/// Sends `payload` and waits for the echo; returns the round-trip time.
async fn round_trip(
    client: &UdpSocket,
    server: SocketAddr,
    payload: &[u8],
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    client.send_to(payload, server).await?;
    let mut buf = [0u8; 2048];
    let (len, from) = timeout(WAIT, client.recv_from(&mut buf))
        .await
        .context("no echo")??;
    ensure!(from == server, "echo from {from}, expected {server}");
    ensure!(buf.get(..len) == Some(payload), "echo payload differs");
    Ok(start.elapsed())
}

async fn wait_stats(
    link: &EmulatedLink,
    what: &str,
    cond: impl Fn(&LinkStats) -> bool,
) -> anyhow::Result<LinkStats> {
    link.control()
        .wait_for(WAIT, cond)
        .await
        .map_err(|stats| anyhow::anyhow!("timed out waiting for {what}: {stats:?}"))
}

#[tokio::test]
#[ignore = "needs root: emulated links use network namespaces and TUN devices"]
async fn udp_echo_crosses_a_clean_link() -> anyhow::Result<()> {
    let link = link(LinkConfig::default())?;
    let rt_b = link.b().runtime()?;
    let server = start_echo(&rt_b, link.addr_b()).await?;
    let client = udp_in(link.a(), link.addr_a())?;

    round_trip(&client, server, b"hello across namespaces").await?;

    // The echo can reach the client before the forwarder has counted its delivery.
    let stats = wait_stats(&link, "both packets counted", |s| {
        s.a_to_b.delivered >= 1 && s.b_to_a.delivered >= 1
    })
    .await?;
    assert_eq!(stats.a_to_b.delivered, 1, "{stats:?}");
    assert_eq!(stats.b_to_a.delivered, 1, "{stats:?}");
    Ok(())
}

#[tokio::test]
#[ignore = "needs root: emulated links use network namespaces and TUN devices"]
async fn child_process_runs_inside_a_namespace() -> anyhow::Result<()> {
    let link = link(LinkConfig::default())?;
    let out = tokio::process::Command::from(link.a().command("ip"))
        .args(["-4", "addr", "show", "dev", TUN_NAME])
        .output()
        .await?;
    ensure!(out.status.success(), "ip failed: {out:?}");
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.contains(&format!("{}/24", link.addr_a())),
        "{listing}"
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs root: emulated links use network namespaces and TUN devices"]
async fn blackout_drops_everything_until_it_ends() -> anyhow::Result<()> {
    let link = link(LinkConfig::default())?;
    let receiver = udp_in(link.b(), link.addr_b())?;
    let sender = udp_in(link.a(), link.addr_a())?;
    let to = receiver.local_addr()?;

    link.control()
        .blackout(Duration::ZERO, Duration::from_secs(3600));
    for i in 0..20u8 {
        sender.send_to(&[i], to).await?;
    }
    let stats = wait_stats(&link, "20 blackout drops", |s| {
        s.a_to_b.dropped_blackout >= 20
    })
    .await?;
    assert_eq!(stats.a_to_b.delivered, 0, "{stats:?}");
    let mut buf = [0u8; 16];
    assert!(
        receiver.try_recv_from(&mut buf).is_err(),
        "a datagram crossed a blacked-out link"
    );

    link.control().end_blackout();
    sender.send_to(b"back", to).await?;
    let (len, from) = timeout(WAIT, receiver.recv_from(&mut buf))
        .await
        .context("link stayed down")??;
    assert_eq!(
        (buf.get(..len), from),
        (Some(&b"back"[..]), sender.local_addr()?)
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs root: emulated links use network namespaces and TUN devices"]
async fn scheduled_blackout_ends_by_itself() -> anyhow::Result<()> {
    let link = link(LinkConfig::default())?;
    let rt_b = link.b().runtime()?;
    let server = start_echo(&rt_b, link.addr_b()).await?;
    let client = udp_in(link.a(), link.addr_a())?;
    round_trip(&client, server, b"before").await?;

    let window = link
        .control()
        .blackout(Duration::ZERO, Duration::from_secs(1));
    // Probe until an echo comes back; probes are retransmissions, not synchronisation.
    let mut probes = tokio::time::interval(Duration::from_millis(50));
    let mut buf = [0u8; 16];
    let answered = timeout(WAIT, async {
        loop {
            tokio::select! {
                _ = probes.tick() => { client.send_to(b"probe", server).await?; }
                got = client.recv_from(&mut buf) => { got?; return anyhow::Ok(Instant::now()); }
            }
        }
    })
    .await
    .context("link did not come back after the blackout")??;

    assert!(
        answered >= window.end,
        "an echo crossed during the blackout"
    );
    let stats = link.control().stats();
    assert!(stats.a_to_b.dropped_blackout > 0, "{stats:?}");
    Ok(())
}

#[tokio::test]
#[ignore = "needs root: emulated links use network namespaces and TUN devices"]
async fn random_loss_drops_about_the_configured_share() -> anyhow::Result<()> {
    const SENT: u64 = 1000;
    const BATCH: u64 = 100;
    let config = LinkConfig {
        a_to_b: Impairments {
            loss_pct: 30.0,
            ..Default::default()
        },
        ..Default::default()
    };
    let link = link(config)?;
    let receiver = udp_in(link.b(), link.addr_b())?;
    let sender = udp_in(link.a(), link.addr_a())?;
    let to = receiver.local_addr()?;

    // In batches, draining as we go, so neither the TUN queue nor the socket buffer overflows.
    let mut received = 0u64;
    let mut buf = [0u8; 16];
    for batch in 0..SENT / BATCH {
        for seq in batch * BATCH..(batch + 1) * BATCH {
            sender.send_to(&seq.to_be_bytes(), to).await?;
        }
        let sent = (batch + 1) * BATCH;
        let stats = wait_stats(&link, "the batch to be judged", |s| {
            s.a_to_b.settled() >= sent
        })
        .await?;
        while received < stats.a_to_b.delivered {
            timeout(WAIT, receiver.recv_from(&mut buf))
                .await
                .context("delivered datagram missing")??;
            received += 1;
        }
    }

    let stats = link.control().stats();
    assert_eq!(stats.a_to_b.received, SENT, "{stats:?}");
    assert_eq!(stats.a_to_b.delivered, received, "{stats:?}");
    let delivered_pct = received as f64 * 100.0 / SENT as f64;
    assert!(
        (55.0..=85.0).contains(&delivered_pct),
        "{delivered_pct}% delivered at 30% loss"
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs root: emulated links use network namespaces and TUN devices"]
async fn delay_applies_to_each_direction() -> anyhow::Result<()> {
    let config = LinkConfig::symmetric(Impairments {
        delay: Duration::from_millis(50),
        ..Default::default()
    });
    let link = link(config)?;
    let rt_b = link.b().runtime()?;
    let server = start_echo(&rt_b, link.addr_b()).await?;
    let client = udp_in(link.a(), link.addr_a())?;

    let rtt = round_trip(&client, server, b"slow").await?;
    assert!(rtt >= Duration::from_millis(100), "round trip took {rtt:?}");
    Ok(())
}

/// Sends `len` bytes over TCP from namespace A to B (within `limit`) and checks them; returns
/// how long it took until B had them all.
async fn tcp_transfer(
    link: &EmulatedLink,
    len: usize,
    limit: Duration,
) -> anyhow::Result<Duration> {
    let listener = link
        .b()
        .run(|| std::net::TcpListener::bind((link.addr_b(), 0)))??;
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    let server_addr = listener.local_addr()?;
    let client = link.a().run(TcpSocket::new_v4)??;

    let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let start = Instant::now();
    let server = async {
        let (mut conn, _) = listener.accept().await?;
        let mut got = Vec::with_capacity(len);
        conn.read_to_end(&mut got).await?;
        let took = start.elapsed();
        conn.write_all(&(got.len() as u64).to_be_bytes()).await?;
        anyhow::Ok((got, took))
    };
    let client = async {
        let mut conn = client.connect(server_addr).await?;
        conn.write_all(&payload).await?;
        conn.shutdown().await?;
        let mut ack = [0u8; 8];
        conn.read_exact(&mut ack).await?;
        anyhow::Ok(u64::from_be_bytes(ack))
    };
    let ((got, took), acked) = timeout(limit, async { tokio::try_join!(server, client) })
        .await
        .with_context(|| format!("{len} bytes over TCP took over {limit:?}"))??;
    ensure!(
        acked == len as u64,
        "server acknowledged {acked} of {len} bytes"
    );
    ensure!(got == payload, "received bytes differ from the sent ones");
    Ok(took)
}

#[tokio::test]
#[ignore = "needs root: emulated links use network namespaces and TUN devices"]
async fn tcp_megabyte_survives_five_percent_loss() -> anyhow::Result<()> {
    let config = LinkConfig::symmetric(Impairments {
        loss_pct: 5.0,
        ..Default::default()
    });
    let link = link(config)?;
    tcp_transfer(&link, 1 << 20, Duration::from_secs(60)).await?;
    let stats = link.control().stats();
    assert!(
        stats.a_to_b.dropped_random > 0,
        "no loss applied: {stats:?}"
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs root: emulated links use network namespaces and TUN devices"]
async fn rate_limit_paces_tcp() -> anyhow::Result<()> {
    const RATE: u64 = 256 * 1024;
    const LEN: usize = 256 * 1024;
    let limit = RateLimit::new(RATE);
    let config = LinkConfig {
        a_to_b: Impairments {
            rate: Some(limit.clone()),
            ..Default::default()
        },
        ..Default::default()
    };
    let link = link(config)?;
    let took = tcp_transfer(&link, LEN, Duration::from_secs(60)).await?;
    // Headers only add bytes, so the payload beyond the initial burst bounds the time below.
    let floor = Duration::from_secs_f64((LEN as u64 - limit.burst_bytes) as f64 / RATE as f64);
    assert!(
        took >= floor,
        "{LEN} bytes at {RATE} B/s took only {took:?}"
    );
    Ok(())
}
