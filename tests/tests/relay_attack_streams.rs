//! QUIC connections that open every stream they may, fill each up to what the relay's flow
//! control allows, and never read: what one such connection makes the relay buffer is
//! bounded by its connection window (and a hello's worth of the host stream), 200 of them
//! leave the process's memory bounded, and an existing session's viewers keep receiving
//! its frames in time. Alone in its test binary, so the memory it reads is its own.

mod attack_support;
mod relay_support;

use std::net::IpAddr;
use std::time::Duration;

use attack_support::*;
use relay::Limits;
use relay_support::*;

const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// Opens every stream a hostile connection may, writes into each until the relay's flow
/// control stops it, and never reads. Returns the connection (to hold) and the bytes the
/// relay accepted: what it buffers for this connection.
async fn open_everything(
    h: &Harness,
    alpn: &'static [u8],
) -> Option<(quinn::Endpoint, quinn::Connection, u64)> {
    let (endpoint, conn) = raw_quic(h, alpn, LOOPBACK).await.ok()?;
    let blocked = Duration::from_millis(300);
    let mut streams = Vec::new();
    let mut readers = Vec::new();
    while let Ok(Ok((send, recv))) = tokio::time::timeout(blocked, conn.open_bi()).await {
        streams.push(send);
        readers.push(recv);
    }
    while let Ok(Ok(send)) = tokio::time::timeout(blocked, conn.open_uni()).await {
        streams.push(send);
    }
    let chunk = vec![0u8; 16 * 1024];
    let mut accepted = 0u64;
    for (i, stream) in streams.iter_mut().enumerate() {
        // A host's first stream: a hello that claims the most a hello may be, one byte
        // short, so the relay holds it until its hello timeout. Every other stream: an
        // unknown (reserved) HTTP/3 stream type, then zeros until flow control stops them.
        let first = if i == 0 && alpn == protocol::HOST_ALPN {
            let claimed = 32 * 1024u32;
            let mut start = claimed.to_be_bytes().to_vec();
            start.resize(4 + claimed as usize - 1, 0);
            start
        } else {
            vec![0x21]
        };
        if stream.write_all(&first).await.is_err() {
            continue;
        }
        if i == 0 {
            // More would complete the hello (or the CONNECT request), and the relay would
            // close the connection.
            accepted += first.len() as u64;
            continue;
        }
        // Bytes of a stream the relay stopped were read and dropped, not buffered.
        let mut written = first.len() as u64;
        let buffered = loop {
            match tokio::time::timeout(blocked, stream.write(&chunk)).await {
                Ok(Ok(n)) => written += n as u64,
                Ok(Err(_)) => break false,
                Err(_) => break true,
            }
        };
        // ... and so were those of a stream it stops a moment later.
        let stopped = matches!(
            tokio::time::timeout(blocked, stream.stopped()).await,
            Ok(Ok(Some(_)))
        );
        if buffered && !stopped {
            accepted += written;
        }
    }
    Some((endpoint, conn, accepted))
}

#[tokio::test]
async fn two_hundred_connections_that_open_every_stream_and_never_read_stay_bounded() {
    let (relay, probe, before) = probed(Limits::one_address()).await;
    let h = &relay.h;
    let rss_before = rss_kib();
    let (hostile, during) = probe
        .during(25, async {
            let attempts = (0..200).map(|i| {
                let alpn = if i % 2 == 0 {
                    protocol::HOST_ALPN
                } else {
                    protocol::WEBTRANSPORT_ALPN
                };
                open_everything(h, alpn)
            });
            futures::future::join_all(attempts).await
        })
        .await;
    let rss_after = rss_kib();
    let opened: Vec<_> = hostile.into_iter().flatten().collect();
    let most = opened.iter().map(|(_, _, bytes)| *bytes).max().unwrap_or(0);
    let total: u64 = opened.iter().map(|(_, _, bytes)| *bytes).sum();
    let bound = u64::from(relay::CONNECTION_WINDOW) + 32 * 1024;
    println!(
        "{} hostile connections; the most one made the relay buffer: {} KiB (bound {} KiB); \
         in all {} KiB; RSS {} -> {} KiB",
        opened.len(),
        most / 1024,
        bound / 1024,
        total / 1024,
        rss_before,
        rss_after
    );
    assert!(opened.len() >= 150, "most hostile connections got through");
    assert!(most <= bound, "{most} bytes buffered for one connection");
    // The relay's buffers, the attackers' own (this process), and per-connection state.
    let growth = rss_after.saturating_sub(rss_before);
    assert!(
        growth <= 200 * 1024,
        "RSS grew by {growth} KiB for 200 hostile connections"
    );
    assert_unharmed("200 hostile QUIC connections", &before, &during);
    probe.assert_lossless();
}
