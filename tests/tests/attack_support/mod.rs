//! Shared setup of the attack tests: a relay on a runtime thread of its own, so that an
//! attack run from the test's runtime competes with it only for the CPU, as it would on a
//! real machine; and a probe on a third thread: an existing session whose host sends a
//! frame every 20 ms to a WebSocket and a WebTransport viewer, timing each frame from the
//! host's send to each viewer's receipt. A test measures the probe before the attack and
//! while it runs, and checks that no viewer lost a frame or saw one out of order.

#![allow(dead_code)] // Each test file uses a subset.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cli_share::client::{ViewerTransport, connect_host, connect_viewer, discover};
use e2e::netem::RuntimeThread;
use protocol::{FrameHeader, RelayToHost, RelayToViewer};
use relay::{Relay, RelayConfig, RunningRelay};
use tokio::sync::watch;

use crate::relay_support::{Harness, T, frame, hello, keyed, quic_only, within};

/// How often the probe's host sends a frame.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(20);

/// A relay on a runtime of its own, with two worker threads as the `relay` binary has on
/// this machine.
pub struct Isolated {
    pub h: Harness,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Isolated {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

pub async fn start_isolated(config: RelayConfig) -> Isolated {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("relay")
        .enable_all()
        .build()
        .expect("relay runtime");
    let relay: RunningRelay = within("relay start", runtime.spawn(Relay::start(config)))
        .await
        .expect("relay task")
        .expect("relay starts");
    let base = url::Url::parse(&format!("http://{}", relay.http_addr())).unwrap();
    let info = within(
        "discovery",
        discover(&base, &cli_share::client::RelayPolicy::default()),
    )
    .await
    .expect("discovery");
    Isolated {
        h: Harness { relay, info },
        runtime: Some(runtime),
    }
}

/// Where every attack starts: a relay with `limits` on a runtime of its own, the probe's
/// session on it, and the probe's latencies before the attack.
pub async fn probed(limits: relay::Limits) -> (Isolated, Probe, Latencies) {
    probed_with(RelayConfig {
        limits,
        ..RelayConfig::loopback()
    })
    .await
}

/// [`probed`] on a relay with `config`.
pub async fn probed_with(config: RelayConfig) -> (Isolated, Probe, Latencies) {
    let relay = start_isolated(config).await;
    let probe = Probe::start(&relay.h).await;
    let before = probe.sample(25).await;
    (relay, probe, before)
}

/// What a probe viewer received: frames (sequence number, when) and viewer counts.
#[derive(Default)]
pub struct Received {
    pub frames: Vec<(u64, Instant)>,
    pub counts: Vec<u32>,
}

pub struct Probe {
    sent: Arc<Mutex<Vec<Instant>>>,
    pub viewers: Vec<watch::Receiver<Received>>,
    /// Viewer joins and leaves the host was told of.
    pub host_notices: Arc<AtomicU64>,
    /// Why a viewer stopped receiving, if one did.
    failure: Arc<Mutex<Option<String>>>,
    pub session_id: String,
    /// The session's read-only link.
    pub link: String,
    _thread: RuntimeThread,
}

/// Latencies from the host's send to a viewer's receipt.
#[derive(Debug)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    fn quantile(&self, q: f64) -> Duration {
        let mut sorted = self.0.clone();
        sorted.sort();
        let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
        sorted.get(index).copied().unwrap_or_default()
    }

    pub fn p50(&self) -> Duration {
        self.quantile(0.5)
    }

    pub fn p95(&self) -> Duration {
        self.quantile(0.95)
    }

    pub fn max(&self) -> Duration {
        self.quantile(1.0)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl std::fmt::Display for Latencies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} frames, p50 {:?}, p95 {:?}, max {:?}",
            self.len(),
            self.p50(),
            self.p95(),
            self.max()
        )
    }
}

impl Probe {
    /// Starts the probe's session against `h`'s relay, on a thread of its own.
    pub async fn start(h: &Harness) -> Probe {
        let thread = RuntimeThread::start("probe".into(), None).expect("probe thread");
        let sent = Arc::new(Mutex::new(Vec::new()));
        let failure = Arc::new(Mutex::new(None));
        let host_notices = Arc::new(AtomicU64::new(0));
        let info = h.info.clone();
        let (sent_task, failure_task) = (sent.clone(), failure.clone());
        let notices_task = host_notices.clone();
        let started = thread.spawn(async move {
            let host = connect_host(&info, &hello(), &quic_only())
                .await
                .expect("probe host");
            let link = keyed(&host.welcome.links.read);
            let mut viewers = Vec::new();
            for transport in [ViewerTransport::WebSocket, ViewerTransport::WebTransport] {
                let mut viewer = connect_viewer(&info, &link, transport)
                    .await
                    .expect("probe viewer");
                let (tx, rx) = watch::channel(Received::default());
                let failure = failure_task.clone();
                tokio::spawn(async move {
                    let why = loop {
                        match viewer.recv_raw().await {
                            Ok(bytes) => {
                                let now = Instant::now();
                                if let Ok(Some(header)) = FrameHeader::peek(&bytes) {
                                    tx.send_modify(|r| r.frames.push((header.seq, now)));
                                } else if let Ok(RelayToViewer::Viewers(count)) =
                                    protocol::decode(&bytes)
                                {
                                    tx.send_modify(|r| r.counts.push(count.total()));
                                }
                            }
                            Err(e) => break format!("{transport:?} viewer: {e}"),
                        }
                    };
                    *failure.lock().unwrap() = Some(why);
                });
                viewers.push(rx);
            }
            let session_id = host.welcome.session_id.clone();
            let read_link = host.welcome.links.read.clone();
            let mut receiver = host.receiver;
            tokio::spawn(async move {
                while let Ok(message) = receiver.recv().await {
                    if matches!(
                        message,
                        RelayToHost::ViewerJoined { .. } | RelayToHost::ViewerLeft { .. }
                    ) {
                        notices_task.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
            let mut sender = host.sender;
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(PROBE_INTERVAL);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                for seq in 0u64.. {
                    tick.tick().await;
                    sent_task.lock().unwrap().push(Instant::now());
                    let message = frame(seq, seq == 0, &seq.to_le_bytes());
                    if sender.send_raw(message).await.is_err() {
                        return;
                    }
                }
            });
            (viewers, session_id, read_link)
        });
        let (viewers, session_id, link) = within("probe start", started).await.expect("probe");
        Probe {
            sent,
            viewers,
            host_notices,
            failure,
            session_id,
            link,
            _thread: thread,
        }
    }

    fn received(&self) -> Vec<usize> {
        self.viewers
            .iter()
            .map(|v| v.borrow().frames.len())
            .collect()
    }

    async fn wait_for(&self, counts: &[usize]) {
        for (viewer, count) in self.viewers.iter().zip(counts) {
            let mut viewer = viewer.clone();
            let waited =
                tokio::time::timeout(T, viewer.wait_for(|r| r.frames.len() >= *count)).await;
            if waited.is_err() {
                panic!(
                    "probe viewers stopped receiving ({:?})",
                    self.failure.lock().unwrap()
                );
            }
        }
    }

    fn latencies(&self, from: &[usize], to: &[usize]) -> Latencies {
        let sent = self.sent.lock().unwrap();
        let mut out = Vec::new();
        for ((viewer, from), to) in self.viewers.iter().zip(from).zip(to) {
            let received = viewer.borrow();
            for (seq, at) in &received.frames[*from..*to] {
                let sent_at = sent[*seq as usize];
                out.push(at.saturating_duration_since(sent_at));
            }
        }
        Latencies(out)
    }

    /// Latencies of the next `n` frames at each viewer.
    pub async fn sample(&self, n: usize) -> Latencies {
        let from = self.received();
        let to: Vec<usize> = from.iter().map(|c| c + n).collect();
        self.wait_for(&to).await;
        self.latencies(&from, &to)
    }

    /// Runs `attack` and returns its output with the latencies of the frames received
    /// while it ran, and of at least `min_frames` at each viewer.
    pub async fn during<F: Future>(&self, min_frames: usize, attack: F) -> (F::Output, Latencies) {
        let from = self.received();
        let output = attack.await;
        let ran = self.received();
        let to: Vec<usize> = from
            .iter()
            .zip(&ran)
            .map(|(f, r)| (*r).max(f + min_frames))
            .collect();
        self.wait_for(&to).await;
        (output, self.latencies(&from, &to))
    }

    /// Every viewer got every frame since its first, once and in order.
    pub fn assert_lossless(&self) {
        for (i, viewer) in self.viewers.iter().enumerate() {
            let received = viewer.borrow();
            let seqs: Vec<u64> = received.frames.iter().map(|(seq, _)| *seq).collect();
            let first = seqs.first().copied().unwrap_or_default();
            let expected: Vec<u64> = (first..first + seqs.len() as u64).collect();
            assert!(
                seqs == expected,
                "probe viewer {i} lost a frame or saw one out of order: {seqs:?}"
            );
        }
    }
}

/// The attack left the probe's latency within generous bounds of what it was before (the
/// machine is a loaded 2-core one, and the attacker runs on it too).
pub fn assert_unharmed(attack: &str, before: &Latencies, during: &Latencies) {
    println!("{attack}: before {before}; during {during}");
    let p50_bound = before.p50() * 5 + Duration::from_millis(25);
    let p95_bound = before.p95() * 5 + Duration::from_millis(150);
    let max_bound = Duration::from_secs(2);
    assert!(
        during.p50() <= p50_bound && during.p95() <= p95_bound && during.max() <= max_bound,
        "{attack} slowed the existing session down: before {before}; during {during} \
         (bounds p50 {p50_bound:?}, p95 {p95_bound:?}, max {max_bound:?})"
    );
}

/// A QUIC client configuration that trusts the relay and offers `alpn`.
pub fn quic_client_config(h: &Harness, alpn: &[u8]) -> Result<quinn::ClientConfig, String> {
    let tls = h
        .info
        .trust
        .client_config(&[alpn])
        .map_err(|e| e.to_string())?;
    let crypto =
        quinn::crypto::rustls::QuicClientConfig::try_from(tls).map_err(|e| e.to_string())?;
    Ok(quinn::ClientConfig::new(Arc::new(crypto)))
}

/// A bare QUIC connection to the relay's QUIC port from `bind` (any 127.0.0.0/8 address
/// works on loopback, to play another client), offering `alpn`.
pub async fn raw_quic(
    h: &Harness,
    alpn: &[u8],
    bind: std::net::IpAddr,
) -> Result<(quinn::Endpoint, quinn::Connection), String> {
    let config = quic_client_config(h, alpn)?;
    let endpoint = quinn::Endpoint::client((bind, 0).into()).map_err(|e| e.to_string())?;
    let conn = endpoint
        .connect_with(config, h.relay.quic_addr(), "localhost")
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    Ok((endpoint, conn))
}

/// Reads one length-prefixed message from a bare QUIC stream.
pub async fn read_message(recv: &mut quinn::RecvStream) -> Result<Vec<u8>, String> {
    let mut prefix = [0u8; 4];
    recv.read_exact(&mut prefix)
        .await
        .map_err(|e| e.to_string())?;
    let mut message = vec![0u8; u32::from_be_bytes(prefix) as usize];
    recv.read_exact(&mut message)
        .await
        .map_err(|e| e.to_string())?;
    Ok(message)
}

/// Says `hello` on a bare host connection and returns the relay's answer and the stream.
pub async fn raw_hello(
    conn: &quinn::Connection,
    hello: &protocol::HostHello,
) -> (protocol::RelayToHost, quinn::SendStream, quinn::RecvStream) {
    let (mut send, mut recv) = conn.open_bi().await.expect("host stream");
    let bytes = protocol::encode(&protocol::HostToRelay::Hello(hello.clone())).unwrap();
    let prefixed = protocol::codec::prefixed(&bytes).unwrap();
    send.write_all(&prefixed).await.expect("hello sent");
    let answer = within("the relay's answer", read_message(&mut recv))
        .await
        .expect("an answer");
    (protocol::decode(&answer).expect("decodes"), send, recv)
}

/// Resident memory of this process, in KiB.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .expect("VmRSS")
}
