//! Part `sealing`: what end-to-end encryption adds, against the same run without it. The
//! synthetic host seals its frames or not (a switch of the load generator alone: `share`
//! always seals).
//!
//! - Update latency: a plain and a sealed session on one relay, measured update by update
//!   in turn, so that whatever else the machine does weighs on both alike. Each viewer
//!   decodes and applies every frame as a real viewer does; the sealed one opens it first.
//! - Fan-out: the relay's CPU while 1,000 WebSocket viewers get 30 updates a second (the
//!   fan-out part's measurement), plain and sealed in turn on fresh relays: the relay
//!   forwards sealed payloads as it forwards plain ones, without any cryptography.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use cli_share::client::{RelayInfo, ShareUrl, ViewerLink, ViewerTransport, connect_viewer};
use protocol::e2e::FrameOpener;
use protocol::{RelayToViewer, Screen, ScreenUpdate};

use super::Ctx;
use super::fanout::{self, Mix, Target};
use super::ours::{OurHost, Sealing, relay_info};
use super::report::Report;
use super::stats::Samples;
use super::terminal::{COLS, ROWS};
use super::updates::{self, Host};
use crate::netem::RuntimeThread;

const PART: &str = "sealing";
/// Updates sent before measuring: connection warm-up (congestion window, allocations).
const WARMUP: u64 = 50;
/// Gap between one round of updates and the next.
const GAP: Duration = Duration::from_millis(1);
const FANOUT_VIEWERS: usize = 1000;

pub async fn run(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    latency(ctx, report).await?;
    fanout(ctx, report).await
}

fn mode(sealing: Sealing) -> &'static str {
    match sealing {
        Sealing::On => "sealed",
        Sealing::Off => "plain",
    }
}

/// Plain first: figures compare the second to the first.
const MODES: [Sealing; 2] = [Sealing::Off, Sealing::On];

/// One session: its host and a viewer that reads every frame.
struct Session {
    sealing: Sealing,
    host: OurHost,
    viewer: ScreenReader,
    samples: Samples,
}

async fn latency(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let count = if ctx.quick { 500 } else { 3000 };
    let server = ctx.start_relay().await?;
    let relay = relay_info(&server).await?;
    let mut sessions = Vec::new();
    for sealing in MODES {
        let host = OurHost::connect_sealing(&relay, false, sealing).await?;
        let mut viewer = ScreenReader::connect(&relay, &host.read_link()?, sealing).await?;
        viewer.next_update().await.context("the first keyframe")?;
        sessions.push(Session {
            sealing,
            host,
            viewer,
            samples: Samples::default(),
        });
    }
    for seq in 1..=WARMUP + count {
        // Which session goes first alternates: the second of a round finds the machine
        // warmed up by the first.
        sessions.reverse();
        for session in &mut sessions {
            let sent = Instant::now();
            session.host.send(updates::frame(seq)?).await?;
            tokio::time::timeout(Duration::from_secs(10), async {
                while session.viewer.next_update().await? != seq {}
                anyhow::Ok(())
            })
            .await
            .with_context(|| format!("update {seq} did not arrive"))??;
            if seq > WARMUP {
                session.samples.push(sent.elapsed());
            }
        }
        tokio::time::sleep(GAP).await;
    }
    server.stop().await;

    sessions.sort_by_key(|session| session.sealing == Sealing::On);
    let mut percentiles = Vec::new();
    for session in sessions {
        let sealing = session.sealing;
        let sorted = session.samples.sorted();
        let mut p50_p99 = Vec::new();
        for (label, p) in [("p50", 50.0), ("p99", 99.0)] {
            let ms = sorted.percentile_ms(p).context("no samples")?;
            let name = format!("sealing_update_latency_ws_{}_{label}_ms", mode(sealing));
            report.record(PART, &name, "ms", ms);
            p50_p99.push(ms);
        }
        percentiles.push(p50_p99);
    }
    for (i, label) in ["p50", "p99"].into_iter().enumerate() {
        let added = percentiles[1][i] - percentiles[0][i];
        report.record(
            PART,
            &format!("sealing_update_latency_added_{label}_ms"),
            "ms",
            added,
        );
    }
    Ok(())
}

async fn fanout(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let seconds = if ctx.quick { 3 } else { 10 };
    let rounds = if ctx.quick { 1 } else { 2 };
    let host_thread = RuntimeThread::start("sealing-host".into(), None)?;
    for _ in 0..rounds {
        let mut cpu = Vec::new();
        for sealing in MODES {
            let server = ctx.start_relay().await?;
            let info = relay_info(&server).await?;
            let host = {
                let info = info.clone();
                host_thread
                    .spawn(async move { OurHost::connect_sealing(&info, false, sealing).await })
                    .await??
            };
            let target = Target::Ours(std::sync::Arc::new((info, host.read_link()?)));
            let figures = fanout::measure(
                &server,
                &host_thread,
                Host::Ours(Box::new(host)),
                target,
                FANOUT_VIEWERS,
                Mix::Ws,
                seconds,
            )
            .await?;
            server.stop().await;
            let name = format!("sealing_fanout_1000_ws_{}_relay_cpu_cores", mode(sealing));
            report.record(PART, &name, "cores", figures.cpu_cores);
            cpu.push(figures.cpu_cores);
        }
        report.record(
            PART,
            "sealing_fanout_1000_ws_relay_cpu_ratio",
            "x",
            cpu[1] / cpu[0],
        );
    }
    Ok(())
}

/// A viewer that decodes and applies every frame, opening it first when it is sealed.
struct ScreenReader {
    link: ViewerLink,
    opener: Option<FrameOpener>,
    screen: Screen,
}

impl ScreenReader {
    async fn connect(
        relay: &RelayInfo,
        link: &ShareUrl,
        sealing: Sealing,
    ) -> anyhow::Result<ScreenReader> {
        Ok(ScreenReader {
            link: connect_viewer(relay, link, ViewerTransport::WebSocket).await?,
            opener: (sealing == Sealing::On)
                .then(|| FrameOpener::new(&link.keys.read, &link.session_id)),
            screen: Screen::new(COLS, ROWS),
        })
    }

    /// Receives the next frame and applies it; returns its sequence number.
    async fn next_update(&mut self) -> anyhow::Result<u64> {
        loop {
            let bytes = self.link.recv_raw().await?;
            let RelayToViewer::Frame(frame) = protocol::decode(&bytes)? else {
                continue;
            };
            let payload = match &self.opener {
                Some(opener) => opener.open(frame.seq, frame.keyframe, &frame.payload)?,
                None => frame.payload,
            };
            let update: ScreenUpdate = protocol::decode(&payload)?;
            self.screen
                .apply_update(update)
                .context("the frame applies")?;
            return Ok(frame.seq);
        }
    }
}
