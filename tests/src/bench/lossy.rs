//! The proof of issue 6: screen updates across a bad link, QUIC against WebSocket/TCP.
//! The relay (the library) runs in namespace A, the host (`share`'s reconnecting link,
//! [`cli_share::client::Sharing`]) in namespace B across the emulated link, and a viewer on
//! A's side of it (the relay's own address, so never across the link). The host changes
//! its screen every [`INTERVAL`]; the time from that change to the frame's arrival at the
//! viewer is measured with one monotonic clock, as p50/p95/p99, for the QUIC and the
//! WebSocket host paths at 0, 1, 5 and 10 % loss and 50 and 200 ms round trips; then the
//! congestion controllers and the stream-only QUIC path at 5 % loss (not with `--quick`).
//! The `blackout` part
//! measures the time from the end of a 5 s blackout until a frame reaches the viewer (the
//! host back, with the keyframe it sent when it started resuming), and until a frame made
//! after the blackout does.
//! Both need root (the link emulator); without it they record nothing and say why.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use cli_share::client::{
    Congestion, HostOptions, HostTransport, ShareKeys, ShareUrl, ViewerTransport,
};
use cli_share::client::{ShareEvent, Sharing, Target};
use protocol::e2e::{FRAME_OVERHEAD, FrameSealer};
use protocol::{FrameHeader, HostHello, PROTOCOL_VERSION, ScreenFrame};
use relay::{Relay, RelayConfig, RunningRelay};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Ctx;
use super::report::Report;
use super::stats::Samples;
use crate::netem::{EmulatedLink, Impairments, LinkConfig, RuntimeThread, unavailable_reason};

const PART: &str = "lossy";
const BLACKOUT_PART: &str = "blackout";
/// How often the host's screen changes: a busy terminal, not a flood.
pub const INTERVAL: Duration = Duration::from_millis(30);
/// Bytes of one screen change (a line or two of a diff).
const PAYLOAD: usize = 200;
const LOSSES: [u32; 4] = [0, 1, 5, 10];
const RTTS: [u64; 2] = [50, 200];
const BLACKOUT: Duration = Duration::from_secs(5);
/// Bound on waiting for anything (a welcome, the last frames after the run).
const PATIENCE: Duration = Duration::from_secs(60);

/// One host path.
#[derive(Clone, Copy)]
struct Path {
    transport: HostTransport,
    congestion: Congestion,
    datagrams: bool,
}

/// The QUIC host path as `share` uses it (BBR, small frames also as datagrams).
const QUIC: Path = Path {
    transport: HostTransport::Quic,
    congestion: Congestion::Bbr,
    datagrams: true,
};
const TCP: Path = Path {
    transport: HostTransport::WebSocket,
    ..QUIC
};

pub async fn run(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    if let Some(reason) = unavailable_reason() {
        eprintln!("bench: lossy skipped: {reason}");
        return Ok(());
    }
    let frames = if ctx.quick { 150 } else { 400 };
    for rtt in RTTS {
        let net = Net::start(rtt).await?;
        for loss in LOSSES {
            net.set_loss(loss);
            for (name, path) in [("quic", QUIC), ("tcp", TCP)] {
                let samples = net.latencies(path, frames).await?;
                record(report, &format!("lossy_{name}_{loss}pct_{rtt}ms"), samples)?;
            }
        }
        if ctx.quick {
            net.stop().await;
            continue;
        }
        net.set_loss(5);
        let variants = [
            ("quic_cubic", Congestion::Cubic, true),
            ("quic_newreno", Congestion::NewReno, true),
            ("quic_stream_only", Congestion::Bbr, false),
        ];
        for (name, congestion, datagrams) in variants {
            let path = Path {
                congestion,
                datagrams,
                ..QUIC
            };
            let samples = net.latencies(path, frames).await?;
            record(report, &format!("lossy_{name}_5pct_{rtt}ms"), samples)?;
        }
        net.stop().await;
    }
    Ok(())
}

/// The `blackout` part: from the end of each of several [`BLACKOUT`]s at 50 ms RTT until
/// a frame reaches the viewer; the median and the worst.
pub async fn run_blackouts(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    if let Some(reason) = unavailable_reason() {
        eprintln!("bench: blackout skipped: {reason}");
        return Ok(());
    }
    let blackouts = if ctx.quick { 3 } else { 7 };
    let net = Net::start(RTTS[0]).await?;
    let mut first_frames = Samples::default();
    let mut fresh_frames = Samples::default();
    let host_bytes_before = net.link.control().stats().b_to_a.blackout_bytes;
    for _ in 0..blackouts {
        let resumed = net.blackout_resume().await?;
        eprintln!(
            "bench: after a blackout, first frame {:?}, fresh frame {:?}",
            resumed.first_frame, resumed.fresh_frame
        );
        first_frames.push(resumed.first_frame);
        fresh_frames.push(resumed.fresh_frame);
    }
    let host_bytes = net.link.control().stats().b_to_a.blackout_bytes - host_bytes_before;
    net.stop().await;
    // What the host sends into a dead link while it tries to resume (mostly the repeated
    // first flight), per second of blackout.
    let per_second = host_bytes as f64 / (blackouts as f64 * BLACKOUT.as_secs_f64());
    report.record(
        BLACKOUT_PART,
        "blackout_host_kib_per_s",
        "KiB/s",
        per_second / 1024.0,
    );
    let first_frames = first_frames.sorted();
    let fresh_frames = fresh_frames.sorted();
    for (name, sorted, p) in [
        ("blackout_resume_ms", &first_frames, 50.0),
        ("blackout_resume_ms_max", &first_frames, 100.0),
        ("blackout_fresh_frame_ms", &fresh_frames, 50.0),
    ] {
        let value = sorted.percentile_ms(p).context("no blackouts")?;
        report.record(BLACKOUT_PART, name, "ms", value);
    }
    Ok(())
}

fn record(report: &mut Report, prefix: &str, samples: Samples) -> anyhow::Result<()> {
    let sorted = samples.sorted();
    for p in [50.0, 95.0, 99.0] {
        let value = sorted
            .percentile_ms(p)
            .with_context(|| format!("{prefix}: no samples"))?;
        report.record(PART, &format!("{prefix}_p{p}_ms"), "ms", value);
    }
    Ok(())
}

/// The link, the relay in A and the runtimes.
struct Net {
    relay: Option<RunningRelay>,
    a: RuntimeThread,
    b: RuntimeThread,
    link: EmulatedLink,
    rtt: u64,
}

impl Net {
    async fn start(rtt: u64) -> anyhow::Result<Net> {
        let link = EmulatedLink::new(LinkConfig::symmetric(impairments(rtt, 0)))?;
        let a = link.a().runtime()?;
        let b = link.b().runtime()?;
        let config = RelayConfig {
            http: SocketAddr::from((link.addr_a(), 8080)),
            quic: SocketAddr::from((link.addr_a(), 4433)),
            public_url: Some(url::Url::parse(&format!("http://{}:8080", link.addr_a()))?),
            ..RelayConfig::loopback()
        };
        let relay = a.spawn(Relay::start(config)).await??;
        Ok(Net {
            relay: Some(relay),
            a,
            b,
            link,
            rtt,
        })
    }

    fn set_loss(&self, loss: u32) {
        let impairments = impairments(self.rtt, loss);
        self.link.control().update(|c| {
            c.a_to_b = impairments.clone();
            c.b_to_a = impairments;
        });
    }

    async fn stop(mut self) {
        if let Some(relay) = self.relay.take() {
            let _ = self.a.spawn(relay.shutdown()).await;
        }
    }

    /// The relay as clients see it: its self-signed certificate pinned from the running
    /// relay (discovery over plain HTTP to a non-loopback address would not pin it).
    fn relay_info(&self) -> anyhow::Result<cli_share::client::RelayInfo> {
        let relay = self.relay.as_ref().context("relay stopped")?;
        let fingerprints = relay.fingerprints();
        Ok(cli_share::client::RelayInfo {
            base: relay.public_url().clone(),
            info: cli_share::client::ApiInfo {
                version: String::new(),
                protocol: PROTOCOL_VERSION,
                quic: relay.quic_addr().to_string(),
                webtransport: format!("https://{}", relay.webtransport_addr()),
                fingerprints: fingerprints.clone(),
                self_signed: true,
                nodes: Vec::new(),
            },
            trust: cli_share::client::Trust::pinned_hex(&fingerprints)?,
        })
    }

    /// A host on `path` in B and a viewer in A, joined.
    async fn session(&self, path: Path) -> anyhow::Result<Session> {
        let info = self.relay_info()?;
        let target = Target {
            base: info.base.clone(),
            // Plain HTTP across the emulated link, as in a LAN test.
            policy: cli_share::client::RelayPolicy {
                insecure: true,
                ..Default::default()
            },
            options: HostOptions {
                transport: Some(path.transport),
                congestion: path.congestion,
                frame_datagrams: path.datagrams,
                ..HostOptions::default()
            },
        };
        let hello = HostHello::new(80, 24);
        let mut sharing = self
            .b
            .spawn(async move { Sharing::start_with_relay(target, info, hello) })
            .await?;
        let mut keys = ShareKeys::generate(false);
        let (link, sealer) = loop {
            match tokio::time::timeout(PATIENCE, sharing.next()).await {
                Ok(Some(ShareEvent::Welcome {
                    session_id, links, ..
                })) => {
                    let sealer = keys.session(&session_id).context("a new session")?;
                    break (keys.links(&links)?.read, sealer);
                }
                Ok(Some(ShareEvent::Stopped(why))) => anyhow::bail!("host refused: {why}"),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => anyhow::bail!("no welcome for the host"),
            }
        };
        let (arrivals_tx, arrivals) = mpsc::unbounded_channel();
        let info = self.relay_info()?;
        let link = ShareUrl::parse(&link)?;
        let viewer = self.a.spawn(async move {
            let mut viewer =
                cli_share::client::connect_viewer(&info, &link, ViewerTransport::WebSocket).await?;
            loop {
                let message = viewer.recv_raw().await?;
                if let Ok(Some(header)) = FrameHeader::peek(&message) {
                    let _ = arrivals_tx.send((header.seq, Instant::now()));
                }
            }
            #[allow(unreachable_code)]
            anyhow::Ok(())
        });
        Ok(Session {
            sharing,
            arrivals,
            viewer,
            sealer,
            sent: Arc::default(),
            next_seq: 0,
        })
    }

    /// Latencies of `frames` screen changes on `path`.
    async fn latencies(&self, path: Path, frames: u64) -> anyhow::Result<Samples> {
        let mut session = self.session(path).await?;
        let mut samples = Samples::default();
        let mut tick = tokio::time::interval(INTERVAL);
        let mut pending: Option<ScreenFrame> = None;
        while session.next_seq < frames || pending.is_some() {
            tokio::select! {
                _ = tick.tick(), if session.next_seq < frames && pending.is_none() => {
                    pending = Some(session.change(false));
                }
                event = session.sharing.next() => match event {
                    Some(ShareEvent::Stopped(why)) | Some(ShareEvent::Reconnecting(why)) => {
                        anyhow::bail!("host link lost during the measurement: {why}")
                    }
                    None => anyhow::bail!("host link ended"),
                    _ => {}
                },
                Some((seq, at)) = session.arrivals.recv() => session.arrived(seq, at, &mut samples),
            }
            if let Some(frame) = pending.take()
                && !session.sharing.send_frame(frame.clone())
            {
                pending = Some(frame);
            }
        }
        let deadline = Instant::now() + PATIENCE;
        while (samples.len() as u64) < frames {
            match tokio::time::timeout_at(deadline, session.arrivals.recv()).await {
                Ok(Some((seq, at))) => session.arrived(seq, at, &mut samples),
                _ => anyhow::bail!("{} of {frames} frames arrived", samples.len()),
            }
        }
        session.stop().await;
        Ok(samples)
    }

    /// From the end of a [`BLACKOUT`] until a frame reaches the viewer (QUIC), and until a
    /// frame made after that end does. The host here behaves as `share` does: one frame in
    /// flight at a time, the newest screen replacing one not yet handed over.
    async fn blackout_resume(&self) -> anyhow::Result<Resumed> {
        let mut session = self.session(QUIC).await?;
        let mut tick = tokio::time::interval(INTERVAL);
        let mut pending: Option<ScreenFrame> = None;
        let mut in_flight = false;
        let mut window = None;
        let mut first_frame = None;
        let mut ignore = Samples::default();
        let resumed = loop {
            tokio::select! {
                _ = tick.tick() => {
                    pending = Some(session.change(false));
                    if window.is_none() && session.next_seq == 20 {
                        window = Some(self.link.control().blackout(Duration::ZERO, BLACKOUT));
                    }
                }
                event = session.sharing.next() => match event {
                    // As `share` does: a keyframe of the screen as it is now follows the hello.
                    Some(ShareEvent::Connected) => {
                        pending = Some(session.change(true));
                        in_flight = false;
                    }
                    Some(ShareEvent::Sent) => in_flight = false,
                    Some(ShareEvent::Stopped(why)) => anyhow::bail!("sharing stopped: {why}"),
                    None => anyhow::bail!("host link ended"),
                    _ => {}
                },
                Some((seq, at)) = session.arrivals.recv() => {
                    let made = session.made_at(seq);
                    session.arrived(seq, at, &mut ignore);
                    if let Some(window) = window
                        && at.into_std() > window.end
                    {
                        let after = at.into_std() - window.end;
                        let first_frame = *first_frame.get_or_insert(after);
                        if made.is_some_and(|made| made.into_std() > window.end) {
                            break Resumed { first_frame, fresh_frame: after };
                        }
                    }
                }
                _ = tokio::time::sleep(PATIENCE) => anyhow::bail!("no frame after the blackout"),
            }
            if !in_flight && let Some(frame) = pending.take() {
                in_flight = session.sharing.send_frame(frame.clone());
                if !in_flight {
                    pending = Some(frame);
                }
            }
        };
        session.stop().await;
        Ok(resumed)
    }
}

/// How soon viewers had the host back after a blackout.
struct Resumed {
    /// The first frame: the keyframe the host sent when it started resuming.
    first_frame: Duration,
    /// The first frame made after the blackout.
    fresh_frame: Duration,
}

fn impairments(rtt: u64, loss: u32) -> Impairments {
    Impairments {
        delay: Duration::from_millis(rtt / 2),
        loss_pct: f64::from(loss),
        ..Default::default()
    }
}

/// One measured session.
struct Session {
    sharing: Sharing,
    arrivals: mpsc::UnboundedReceiver<(u64, Instant)>,
    viewer: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// Seals each frame, as `share` does.
    sealer: FrameSealer,
    /// When each frame's screen change happened.
    sent: Arc<Mutex<HashMap<u64, Instant>>>,
    next_seq: u64,
}

impl Session {
    /// A screen change now: the frame carrying it.
    fn change(&mut self, keyframe: bool) -> ScreenFrame {
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Ok(mut sent) = self.sent.lock() {
            sent.insert(seq, Instant::now());
        }
        let keyframe = keyframe || seq == 0;
        let payload = self
            .sealer
            .seal(seq, keyframe, &[b'x'; PAYLOAD - FRAME_OVERHEAD])
            .expect("seq goes up");
        ScreenFrame {
            seq,
            keyframe,
            payload,
        }
    }

    /// When the screen change `seq` carries happened, if it has not arrived yet.
    fn made_at(&self, seq: u64) -> Option<Instant> {
        self.sent.lock().ok()?.get(&seq).copied()
    }

    fn arrived(&self, seq: u64, at: Instant, samples: &mut Samples) {
        let sent = self.sent.lock().ok().and_then(|mut s| s.remove(&seq));
        if let Some(sent) = sent {
            samples.push(at - sent);
        }
    }

    async fn stop(self) {
        self.sharing
            .stop("bench done", Duration::from_secs(5))
            .await;
        self.viewer.abort();
    }
}
