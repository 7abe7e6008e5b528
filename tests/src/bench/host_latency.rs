//! Update latency through a real host (issue 16): a program in a PTY prints a tick line
//! every 30 ms (`bench-workload ticker`), each carrying the CLOCK_MONOTONIC time just
//! before its write; `share` carries it (PTY -> emulator -> frame -> QUIC -> relay) to a
//! WebSocket or WebTransport viewer, the naive wrapper and relay (raw bytes over
//! WebSockets) to a WebSocket viewer. A tick counts as shown once the viewer's decoded
//! screen has it (the naive viewer: once the raw bytes do, which spares it the parsing a
//! real one would do); its latency is the viewer's CLOCK_MONOTONIC then minus the tick's.
//! Unlike the `latency` part, whose host is synthetic, this includes the host's own work.
//! The three sessions (ours to each viewer, the naive one) take turns in [`ROUNDS`]
//! rounds, so that the machine's drift over a run weighs on all of them alike.
//!
//! Each viewer runs on a thread and runtime of its own, as it would on a machine of its
//! own: on the bench's runtime it shared the workers with the terminal's reader, whose
//! copy of a tick arrives with it, and a tick waited for one worker to wake the other
//! (the naive viewer's p99 read 1.7 and 3.1 ms in two of three runs in a row).

use std::time::Duration;

use anyhow::Context as _;
use cli_share::client::ViewerTransport;
use tokio::runtime::Builder;
use tokio::sync::oneshot;

use super::Ctx;
use super::baseline::NaiveViewer;
use super::ours::{ScreenViewer, relay_info};
use super::report::{BASELINE, Report};
use super::stamps;
use super::stats::Samples;
use super::terminal::{Size, Terminal};
use super::wrapped::{self, Share, Watcher};

const PART: &str = "host-latency";
const INTERVAL: Duration = Duration::from_millis(30);
/// Ticks not counted: each session's first frames (connection warm-up).
const WARMUP: u64 = 10;
/// Turns each session takes. In runs one after the other, the same build's p50 swung
/// 0.15-0.38 ms from run to run on the 2-core machine, the naive wrapper's as much as ours.
const ROUNDS: u64 = 5;

pub async fn run(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let ticks = if ctx.quick { 300 } else { 1000 };
    let per_round = ticks / ROUNDS;
    let command = ticker(ctx, INTERVAL, WARMUP + per_round)?;

    let ours = ctx.start_relay().await?;
    let info = relay_info(&ours).await?;
    let naive = ctx.start_baseline().await?;
    let transports = [
        ("ws", ViewerTransport::WebSocket),
        ("wt", ViewerTransport::WebTransport),
    ];
    let mut samples: [Samples; 2] = Default::default();
    let mut baseline = Samples::default();
    for round in 0..ROUNDS {
        for ((_, transport), samples) in transports.iter().zip(&mut samples) {
            let share = Share {
                transport: *transport,
                ..Share::READ
            };
            let (terminal, link) = wrapped::shared(ctx, &ours, share, &command).await?;
            let info = info.clone();
            let viewer = async move {
                let viewer = ScreenViewer::connect(&info, &link, share.transport).await?;
                Ok(Watcher::Ours(Box::new(viewer)))
            };
            samples.extend(measure(terminal, viewer, WARMUP + per_round).await?);
        }
        let session = format!("host-latency-{round}");
        let terminal = wrapped::naive_host(ctx, &naive, &session, Size::DEFAULT, &command)?;
        let addr = naive.field("ws=")?.to_owned();
        let viewer = async move {
            let viewer = NaiveViewer::connect(&addr, &session).await?;
            Ok(Watcher::naive(viewer))
        };
        baseline.extend(measure(terminal, viewer, WARMUP + per_round).await?);
    }
    ours.stop().await;
    naive.stop().await;

    for ((name, _), samples) in transports.iter().zip(samples) {
        record(report, "", name, samples);
    }
    record(report, BASELINE, "ws", baseline.clone());
    record(report, BASELINE, "wt", baseline);
    for p in ["p50", "p99"] {
        report.note(
            &format!("{BASELINE}host_update_latency_wt_{p}_ms"),
            "the naive relay has only WebSocket viewers: its WebSocket figure",
        );
    }
    Ok(())
}

/// `bench-workload ticker`: `count` ticks, one every `interval`, then held until released.
pub fn ticker(ctx: &Ctx, interval: Duration, count: u64) -> anyhow::Result<Vec<String>> {
    let interval = interval.as_micros().to_string();
    let count = count.to_string();
    ctx.workload(&[
        "--hold",
        "ticker",
        "--interval-us",
        &interval,
        "--count",
        &count,
    ])
}

/// Connects the viewer (on a thread of its own), starts the ticker and notes when each
/// tick first shows on the viewer.
async fn measure(
    mut terminal: Terminal,
    viewer: impl Future<Output = anyhow::Result<Watcher>> + Send + 'static,
    ticks: u64,
) -> anyhow::Result<Samples> {
    let (connected, ready) = oneshot::channel();
    let (finished, done) = oneshot::channel();
    std::thread::Builder::new()
        .name("latency-viewer".into())
        .spawn(move || {
            let watched = match Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime.block_on(async move {
                    let viewer = viewer.await?;
                    let _ = connected.send(());
                    watch(viewer, ticks).await
                }),
                Err(error) => Err(error.into()),
            };
            let _ = finished.send(watched);
        })?;
    // Without a viewer the ticker is not started: the thread's error says why.
    if ready.await.is_ok() {
        terminal.start().await?;
    }
    let samples = done.await.context("the viewer's thread panicked")??;
    terminal.release().await?;
    Ok(samples)
}

/// Reads until tick `ticks` showed; the latency of each tick after the warm-up.
async fn watch(mut viewer: Watcher, ticks: u64) -> anyhow::Result<Samples> {
    let mut samples = Samples::default();
    let mut last = 0;
    let watching = async {
        while last < ticks {
            let (now, text) = viewer.next_text().await?;
            for (seq, written) in stamps::ticks(&text) {
                if seq > last {
                    last = seq;
                    if seq > WARMUP {
                        samples.push(Duration::from_nanos(now.saturating_sub(written)));
                    }
                }
            }
        }
        anyhow::Ok(())
    };
    let allowed = INTERVAL * u32::try_from(ticks)? + Duration::from_secs(30);
    tokio::time::timeout(allowed, watching)
        .await
        .with_context(|| format!("the viewer saw {last} of {ticks} ticks in time"))??;
    Ok(samples)
}

fn record(report: &mut Report, prefix: &str, transport: &str, samples: Samples) {
    let sorted = samples.sorted();
    for (label, p) in [("p50", 50.0), ("p99", 99.0)] {
        if let Some(ms) = sorted.percentile_ms(p) {
            let name = format!("{prefix}host_update_latency_{transport}_{label}_ms");
            report.record(PART, &name, "ms", ms);
        }
    }
}
