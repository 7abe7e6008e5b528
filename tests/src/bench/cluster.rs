//! Issue 17, a relay cluster: every node a `relay` process joined to a real redis-server
//! on loopback, the clients those of `share` and `share watch`.
//!
//! - Latency: one session whose host is on node A, a WebSocket viewer on A and one on B;
//!   one update at a time (as in part 1), each timed to both viewers, so the cross-node
//!   figure and its same-node twin come from the same updates.
//! - Fan-out: three nodes, 1,000 WebSocket viewers spread over them evenly, the host on A
//!   changing its screen 30 times a second: latency over every (viewer, update), the CPU of
//!   each node and of redis-server; its twin (`baseline_`), the same 1,000 viewers on one
//!   relay alone, in the same run.
//! - Failover: the host (`share`'s supervisor, which follows the nodes) on A sending 50
//!   updates a second, a viewer on C; A killed with SIGKILL: the time from the kill to the
//!   first update made after it reaching the viewer on C, and to the host's resume.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cli_share::client::{RelayInfo, ShareEvent, Sharing, ViewerTransport, connect_viewer};
use protocol::{HostHello, Screen, ScreenFrame, ScreenUpdate};

use super::Ctx;
use super::fanout::{self, Clock, Crowd, FRAMES_PER_SECOND, Mix, SendLog, Target};
use super::ours::{OurHost, relay_info};
use super::process::{CpuMeter, Server, metric};
use super::report::{BASELINE, Report};
use super::stats::Samples;
use super::terminal::{COLS, ROWS};
use super::updates::{self, Host, Viewer};
use crate::netem::RuntimeThread;
use crate::redis::RedisServer;

const PART: &str = "cluster";
/// Every node's JWT secret.
const SECRET: &str = "the benchmark cluster's secret";
/// Updates before measuring latency, and the pause after each one's arrival (part 1's).
const WARMUP: u64 = 50;
const GAP: Duration = Duration::from_millis(1);
const FANOUT_VIEWERS: usize = 1000;
/// Updates a second of the failover's host.
const FAILOVER_RATE: u32 = 50;

pub async fn run(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    latency(ctx, report).await?;
    fanout(ctx, report).await?;
    failover(ctx, report).await
}

/// Redis and `ids.len()` relay nodes that know each other.
struct Nodes {
    redis: RedisServer,
    servers: Vec<Server>,
    infos: Vec<RelayInfo>,
}

impl Nodes {
    async fn start(ctx: &Ctx, ids: &[&str]) -> anyhow::Result<Nodes> {
        let redis = RedisServer::start().await?;
        let mut servers = Vec::new();
        for id in ids {
            let http = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
            let advertise = format!("http://{http}");
            let args = [
                "--cluster",
                &redis.url(),
                "--node-id",
                id,
                "--advertise",
                &advertise,
                "--jwt-secret",
                SECRET,
            ];
            servers.push(ctx.start_relay_at(&http.to_string(), &args).await?);
        }
        let mut infos = Vec::new();
        for server in &servers {
            let http = server.field("http=")?.trim_start_matches("http://");
            tokio::time::timeout(Duration::from_secs(20), async {
                while metric(http, "relay_cluster_nodes").await? != ids.len() as f64 {
                    tokio::time::sleep(Duration::from_millis(50)).await; // poll pace
                }
                anyhow::Ok(())
            })
            .await
            .context("the nodes did not find each other")??;
            infos.push(relay_info(server).await?);
        }
        Ok(Nodes {
            redis,
            servers,
            infos,
        })
    }

    async fn stop(self) {
        for server in self.servers {
            server.stop().await;
        }
        drop(self.redis);
    }
}

/// The time from `sent` to `viewer` receiving update `seq`.
async fn arrival(viewer: &mut Viewer, seq: u64, sent: Instant) -> anyhow::Result<Duration> {
    tokio::time::timeout(Duration::from_secs(10), async {
        while viewer.next_update().await? != seq {}
        anyhow::Ok(sent.elapsed())
    })
    .await
    .with_context(|| format!("update {seq} did not arrive"))?
}

async fn latency(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let count = if ctx.quick { 500 } else { 3000 };
    let nodes = Nodes::start(ctx, &["a", "b"]).await?;
    let host = OurHost::connect(&nodes.infos[0], false).await?;
    let link = host.read_link()?;
    let mut host = Host::Ours(Box::new(host));
    let mut viewers = Vec::new();
    for info in &nodes.infos {
        let viewer = connect_viewer(info, &link, ViewerTransport::WebSocket).await?;
        viewers.push(Viewer::Ours(Box::new(viewer)));
    }
    let [same, cross] = &mut viewers[..] else {
        unreachable!("two viewers");
    };
    let (mut same_node, mut cross_node) = (Samples::default(), Samples::default());
    for seq in 1..=WARMUP + count {
        let sent = Instant::now();
        host.send_update(seq).await?;
        let (a, b) = tokio::join!(arrival(same, seq, sent), arrival(cross, seq, sent));
        if seq > WARMUP {
            same_node.push(a?);
            cross_node.push(b?);
        }
        tokio::time::sleep(GAP).await;
    }
    let (same_node, cross_node) = (same_node.sorted(), cross_node.sorted());
    for (label, p) in [("p50", 50.0), ("p99", 99.0), ("p999", 99.9)] {
        let (Some(same), Some(cross)) = (same_node.percentile_ms(p), cross_node.percentile_ms(p))
        else {
            continue;
        };
        report.record(PART, &format!("cluster_same_node_{label}_ms"), "ms", same);
        report.record(PART, &format!("cluster_cross_node_{label}_ms"), "ms", cross);
        report.record(
            PART,
            &format!("cluster_cross_node_extra_{label}_ms"),
            "ms",
            cross - same,
        );
    }
    nodes.stop().await;
    Ok(())
}

async fn fanout(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let seconds = if ctx.quick { 3 } else { 10 };
    let frames = FRAMES_PER_SECOND * seconds;
    let name = format!("cluster_fanout_{FANOUT_VIEWERS}_ws");
    let host_thread = RuntimeThread::start("cluster-host".into(), None)?;

    // The twin: one relay alone.
    let server = ctx.start_relay().await?;
    let info = relay_info(&server).await?;
    let host = fanout::host_on(&host_thread, &info).await?;
    let target = Target::Ours(Arc::new((info, host.read_link()?)));
    let host = Host::Ours(Box::new(host));
    let alone = fanout::measure(
        &server,
        &host_thread,
        host,
        target,
        FANOUT_VIEWERS,
        Mix::Ws,
        seconds,
    )
    .await?;
    server.stop().await;
    let sorted = alone.samples.sorted();
    for (label, p) in [("p50", 50.0), ("p99", 99.0)] {
        if let Some(ms) = sorted.percentile_ms(p) {
            let twin = format!("{BASELINE}{name}_{label}_ms");
            report.record(PART, &twin, "ms", ms);
            report.note(&twin, "one relay alone, with the same 1,000 viewers");
        }
    }
    let twin = format!("{BASELINE}{name}_relay_cpu_cores");
    report.record(PART, &twin, "cores", alone.cpu_cores);
    report.note(&twin, "one relay alone, with the same 1,000 viewers");

    let ids = ["a", "b", "c"];
    let nodes = Nodes::start(ctx, &ids).await?;
    let host = fanout::host_on(&host_thread, &nodes.infos[0]).await?;
    let target = Target::Spread(Arc::new((nodes.infos.clone(), host.read_link()?)));
    let log = SendLog::new(frames);
    let crowd = Crowd::join(
        &target,
        FANOUT_VIEWERS,
        Mix::Ws,
        &Clock::Log(log.clone()),
        frames,
    )
    .await?;
    let meters = nodes
        .servers
        .iter()
        .map(Server::cpu)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let redis_pid = nodes.redis.pid().context("redis-server's pid")?;
    let redis = CpuMeter::start(redis_pid)?;
    let _host = log
        .tick(&host_thread, Host::Ours(Box::new(host)), frames)
        .await?;
    let mut total = 0.0;
    for (id, meter) in ids.iter().zip(meters) {
        let cores = meter.cores()?;
        total += cores;
        report.record(PART, &format!("{name}_node_{id}_cpu_cores"), "cores", cores);
    }
    // Every node's, against the relay alone's.
    report.record(PART, &format!("{name}_relay_cpu_cores"), "cores", total);
    report.record(
        PART,
        &format!("{name}_redis_cpu_cores"),
        "cores",
        redis.cores()?,
    );
    let (samples, missed) = crowd.finish().await?;
    let sorted = samples.sorted();
    for (label, p) in [("p50", 50.0), ("p99", 99.0)] {
        if let Some(ms) = sorted.percentile_ms(p) {
            report.record(PART, &format!("{name}_{label}_ms"), "ms", ms);
        }
    }
    report.record(PART, &format!("{name}_missed"), "updates", missed as f64);
    nodes.stop().await;
    Ok(())
}

/// A keyframe carrying sequence number `seq`: what the host sends when a (new) node asks.
fn keyframe(seq: u64) -> anyhow::Result<ScreenFrame> {
    Ok(ScreenFrame {
        seq,
        keyframe: true,
        payload: protocol::encode(&ScreenUpdate::Keyframe(Screen::new(COLS, ROWS)))?,
    })
}

/// Drives `sharing` as a host that changes its screen [`FAILOVER_RATE`] times a second,
/// a keyframe whenever a relay asks for one; `handed` is the last update handed over.
async fn host_loop(
    mut sharing: Sharing,
    handed: Arc<AtomicU64>,
    resumed: tokio::sync::mpsc::UnboundedSender<Instant>,
) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(Duration::from_secs(1) / FAILOVER_RATE);
    let (mut seq, mut keyframe_due, mut writing) = (0u64, true, false);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if writing || !sharing.is_live() {
                    continue;
                }
                seq += 1;
                let frame = match std::mem::take(&mut keyframe_due) {
                    true => keyframe(seq)?,
                    false => updates::frame(seq)?,
                };
                writing = sharing.send_frame(frame);
                handed.store(seq, Ordering::SeqCst);
            }
            event = sharing.next() => match event.context("the share ended")? {
                ShareEvent::Sent => writing = false,
                // A frame in flight on a link that failed is never reported sent.
                ShareEvent::Connected => (writing, keyframe_due) = (false, true),
                ShareEvent::RequestKeyframe => keyframe_due = true,
                ShareEvent::Welcome { resumed: true, .. } => {
                    let _ = resumed.send(Instant::now());
                }
                ShareEvent::Stopped(why) => anyhow::bail!("the share stopped: {why}"),
                _ => {}
            },
        }
    }
}

async fn failover(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let mut nodes = Nodes::start(ctx, &["a", "b", "c"]).await?;
    let base = nodes.infos[0].base.clone();
    let mut sharing = Sharing::start(base, HostHello::new(COLS, ROWS));
    let links = loop {
        match sharing.next().await.context("the share ended")? {
            ShareEvent::Welcome { links, .. } => break links,
            ShareEvent::Stopped(why) => anyhow::bail!("the share stopped: {why}"),
            _ => {}
        }
    };
    // This host's frames are plain (the viewer reads only their headers), but a viewer
    // needs a link with keys: any will do.
    let keyed = protocol::e2e::ShareSecrets::generate(false).read_link(&links.read);
    let link = cli_share::client::ShareUrl::parse(&keyed)?;
    let on_c = connect_viewer(&nodes.infos[2], &link, ViewerTransport::WebSocket).await?;
    let mut on_c = Viewer::Ours(Box::new(on_c));
    let handed = Arc::new(AtomicU64::new(0));
    let (resumed_tx, mut resumed) = tokio::sync::mpsc::unbounded_channel();
    let host = tokio::spawn(host_loop(sharing, handed.clone(), resumed_tx));
    // Live: the viewer on C sees the host's updates.
    let live = tokio::time::timeout(Duration::from_secs(10), async {
        while on_c.next_update().await? < 2 * u64::from(FAILOVER_RATE) {}
        anyhow::Ok(())
    });
    live.await
        .context("the viewer on C did not see the host")??;

    nodes.servers.remove(0).stop().await;
    let killed = Instant::now();
    let boundary = handed.load(Ordering::SeqCst);
    let first_frame = tokio::time::timeout(Duration::from_secs(60), async {
        while on_c.next_update().await? <= boundary {}
        anyhow::Ok(killed.elapsed())
    })
    .await
    .context("no update after the failover")??;
    let resumed = tokio::time::timeout(Duration::from_secs(10), resumed.recv()).await;
    host.abort();
    report.record(
        PART,
        "cluster_failover_first_frame_ms",
        "ms",
        first_frame.as_secs_f64() * 1000.0,
    );
    let resumed = resumed.ok().flatten().context("the host did not resume")? - killed;
    report.record(
        PART,
        "cluster_failover_host_resumed_ms",
        "ms",
        resumed.as_secs_f64() * 1000.0,
    );
    nodes.stop().await;
    Ok(())
}
