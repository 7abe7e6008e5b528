//! Part 1, update latency on an idle relay: the host sends one screen change, a viewer in
//! the same process notes its arrival (same monotonic clock), and only then does the next
//! change go out, so nothing ever queues. QUIC host -> WebSocket viewer and -> WebTransport
//! viewer for the real relay; WebSocket -> WebSocket for the naive one, which has no other.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use cli_share::client::{ViewerTransport, connect_viewer};

use super::Ctx;
use super::baseline::{NaiveHost, NaiveViewer};
use super::ours::{OurHost, relay_info};
use super::report::{BASELINE, Report};
use super::stats::Samples;
use super::updates::{Host, Viewer};

const PART: &str = "latency";
/// Updates sent before measuring: connection warm-up (congestion window, allocations).
const WARMUP: u64 = 50;
/// Gap between one update's arrival and the next send.
const GAP: Duration = Duration::from_millis(1);

pub async fn run(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let count = if ctx.quick { 500 } else { 3000 };

    let server = ctx.start_relay().await?;
    let relay = relay_info(&server).await?;
    for (name, transport) in [
        ("ws", ViewerTransport::WebSocket),
        ("wt", ViewerTransport::WebTransport),
    ] {
        let host = OurHost::connect(&relay, false).await?;
        let viewer = connect_viewer(&relay, &host.read_link()?, transport).await?;
        let mut host = Host::Ours(Box::new(host));
        let mut viewer = Viewer::Ours(Box::new(viewer));
        let samples = measure(&mut host, &mut viewer, count).await?;
        record(report, "", name, samples);
    }
    server.stop().await;

    let server = ctx.start_baseline().await?;
    let addr = server.field("ws=")?;
    let mut viewer = Viewer::Naive(NaiveViewer::connect(addr, "latency").await?);
    let mut host = Host::Naive(NaiveHost::connect(addr, "latency").await?);
    let samples = measure(&mut host, &mut viewer, count).await?;
    record(report, BASELINE, "ws", samples.clone());
    record(report, BASELINE, "wt", samples);
    for p in ["p50", "p99", "p999"] {
        report.note(
            &format!("{BASELINE}update_latency_wt_{p}_ms"),
            "the naive relay has only WebSocket viewers: its WebSocket figure",
        );
    }
    server.stop().await;
    Ok(())
}

/// Sends `count` updates one at a time; returns each one's send-to-arrival time.
async fn measure(host: &mut Host, viewer: &mut Viewer, count: u64) -> anyhow::Result<Samples> {
    let mut samples = Samples::default();
    for seq in 1..=WARMUP + count {
        let sent = Instant::now();
        host.send_update(seq).await?;
        tokio::time::timeout(Duration::from_secs(10), async {
            while viewer.next_update().await? != seq {}
            anyhow::Ok(())
        })
        .await
        .with_context(|| format!("update {seq} did not arrive"))??;
        if seq > WARMUP {
            samples.push(sent.elapsed());
        }
        tokio::time::sleep(GAP).await;
    }
    Ok(samples)
}

fn record(report: &mut Report, prefix: &str, transport: &str, samples: Samples) {
    let sorted = samples.sorted();
    for (label, p) in [("p50", 50.0), ("p99", 99.0), ("p999", 99.9)] {
        if let Some(ms) = sorted.percentile_ms(p) {
            let name = format!("{prefix}update_latency_{transport}_{label}_ms");
            report.record(PART, &name, "ms", ms);
        }
    }
}
