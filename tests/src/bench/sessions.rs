//! Part 4, many sessions: 1,000 hosts with one WebSocket viewer each on one relay. Relay
//! RSS per session (host, viewer and retained keyframe), and CPU while every session is
//! idle, which must be about zero: nothing may poll in a loop or tick per session. What
//! idle sessions do cost is the relay's QUIC keep-alive (a ping and its acknowledgement
//! per host per interval), so the idle CPU is measured again with a relay pinging every
//! [`SLOW_KEEP_ALIVE`]: it falls in proportion.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use cli_share::client::{ViewerTransport, connect_viewer};
use futures::StreamExt as _;

use super::Ctx;
use super::baseline::{NaiveHost, NaiveViewer};
use super::ours::{OurHost, relay_info};
use super::process::Server;
use super::report::{BASELINE, Report};
use super::updates::{Host, Viewer};

const PART: &str = "sessions";
const CONNECTING: usize = 32;
/// A keep-alive for relays that serve many mostly idle sessions (`relay --keep-alive`).
const SLOW_KEEP_ALIVE: &str = "15s";

/// One session's connections, kept open for the measurement.
type Session = (Host, Viewer);

pub async fn run(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let sessions = 1000;
    let idle = Duration::from_secs(if ctx.quick { 3 } else { 10 });

    let slow = ["--keep-alive", SLOW_KEEP_ALIVE];
    for relay_args in [&[][..], &slow[..]] {
        let server = ctx.start_relay_with(relay_args).await?;
        let info = Arc::new(relay_info(&server).await?);
        let (rss, cpu) = measure(&server, sessions, idle, |_| {
            let info = info.clone();
            async move {
                let host = OurHost::connect(&info, false).await?;
                let link = host.read_link()?;
                let mut viewer = Viewer::Ours(Box::new(
                    connect_viewer(&info, &link, ViewerTransport::WebSocket).await?,
                ));
                viewer.next_update().await?;
                Ok((Host::Ours(Box::new(host)), viewer))
            }
        })
        .await?;
        if relay_args.is_empty() {
            record(report, "", sessions, rss, cpu);
        } else {
            let name = format!("sessions_{sessions}_idle_cpu_cores_keepalive_{SLOW_KEEP_ALIVE}");
            report.record(PART, &name, "cores", cpu);
        }
        server.stop().await;
    }

    let server = ctx.start_baseline().await?;
    let addr: Arc<str> = server.field("ws=")?.into();
    let (rss, cpu) = measure(&server, sessions, idle, |index| {
        let addr = addr.clone();
        async move {
            let id = format!("session-{index}");
            let viewer = NaiveViewer::connect(&addr, &id).await?;
            let mut host = Host::Naive(NaiveHost::connect(&addr, &id).await?);
            let mut viewer = Viewer::Naive(viewer);
            // A first screen, as the real host's keyframe; received, so the path works.
            host.send_update(0).await?;
            viewer.next_update().await?;
            Ok((host, viewer))
        }
    })
    .await?;
    record(report, BASELINE, sessions, rss, cpu);
    server.stop().await;
    Ok(())
}

fn record(report: &mut Report, prefix: &str, sessions: usize, rss: f64, cpu: f64) {
    let name = format!("{prefix}sessions_{sessions}");
    report.record(PART, &format!("{name}_rss_per_session_kib"), "KiB", rss);
    report.record(PART, &format!("{name}_idle_cpu_cores"), "cores", cpu);
}

/// Opens `count` sessions with `open`; returns the relay's RSS per session in KiB and its
/// CPU use in cores over `idle` seconds with every session open and quiet.
async fn measure<F, Fut>(
    server: &Server,
    count: usize,
    idle: Duration,
    open: F,
) -> anyhow::Result<(f64, f64)>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<Session>>,
{
    let rss_before = server.rss_kib()?;
    let opened: Vec<anyhow::Result<Session>> = tokio::time::timeout(
        Duration::from_secs(180),
        futures::stream::iter(0..count)
            .map(open)
            .buffer_unordered(CONNECTING)
            .collect(),
    )
    .await
    .context("sessions did not all open in time")?;
    let sessions = opened.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    // The last joins' bookkeeping settles before the quiet period is measured.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss = (server.rss_kib()? - rss_before) / count as f64;
    let cpu = server.cpu()?;
    tokio::time::sleep(idle).await;
    let cores = cpu.cores()?;
    drop(sessions);
    Ok((rss, cores))
}
