//! Part 3, fan-out: one host changes its screen 30 times a second for N viewers (10, 100,
//! 1,000; WebSocket, WebTransport, then half and half). Per configuration, on a fresh relay
//! process: delivery latency p50/p99 over every (viewer, frame), relay CPU while streaming,
//! relay RSS per idle viewer, and frames the relay skipped for slow viewers. That host is
//! synthetic: a thread of the load generator sending ready-made frames, so these figures
//! are the relay's alone.
//!
//! The `host-fanout` part: the same 1,000 WebSocket viewers with a real host (issue 16):
//! `share` running a program in its PTY that prints a tick 30 times a second
//! (`bench-workload ticker`), and the naive wrapper running the same program. Latency from the program's write to each
//! viewer, and the CPU of relay and host process together (`fanout_1000_ws_total_cpu_cores`;
//! the `_real_host_` figures split it).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cli_share::client::{RelayInfo, ShareUrl, ViewerTransport, connect_viewer};
use protocol::e2e::FrameOpener;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;

use super::Ctx;
use super::baseline::{NaiveHost, NaiveViewer};
use super::host_latency::ticker;
use super::ours::{OurHost, relay_info};
use super::process::{CpuMeter, Server, metric};
use super::report::{BASELINE, Report};
use super::stamps;
use super::stats::Samples;
use super::terminal::{Size, Terminal};
use super::updates::{Host, Viewer};
use super::wrapped::{self, Share};
use crate::netem::RuntimeThread;

const PART: &str = "fanout";
const REAL_HOST_PART: &str = "host-fanout";
pub(super) const FRAMES_PER_SECOND: u64 = 30;
/// Viewers connecting at once (a crowd arriving, bounded so handshakes do not time out).
const CONNECTING: usize = 16;
const CONNECT_ATTEMPTS: u32 = 3;
/// Viewers of the fan-out with a real host.
const REAL_HOST_VIEWERS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mix {
    Ws,
    Wt,
    Mixed,
}

impl Mix {
    fn name(self) -> &'static str {
        match self {
            Mix::Ws => "ws",
            Mix::Wt => "wt",
            Mix::Mixed => "mixed",
        }
    }

    fn transport(self, index: usize) -> ViewerTransport {
        match self {
            Mix::Ws => ViewerTransport::WebSocket,
            Mix::Wt => ViewerTransport::WebTransport,
            Mix::Mixed if index.is_multiple_of(2) => ViewerTransport::WebSocket,
            Mix::Mixed => ViewerTransport::WebTransport,
        }
    }
}

/// Where viewers connect: the real relay (through a session's read link), the nodes of a
/// relay cluster in turn (the same link), or the naive relay.
#[derive(Clone)]
pub(super) enum Target {
    Ours(Arc<(RelayInfo, ShareUrl)>),
    Spread(Arc<(Vec<RelayInfo>, ShareUrl)>),
    Naive(String),
}

impl Target {
    /// Connects a viewer, retrying a failed handshake as the viewer page does: with a
    /// thousand handshakes on two loaded cores, a few exceed the 3 s QUIC idle timeout.
    async fn viewer(&self, index: usize, mix: Mix) -> anyhow::Result<Viewer> {
        let mut attempt = 1;
        loop {
            match self.connect(index, mix).await {
                Err(error) if attempt < CONNECT_ATTEMPTS => {
                    tracing::debug!("viewer {index}, attempt {attempt}: {error:#}");
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn connect(&self, index: usize, mix: Mix) -> anyhow::Result<Viewer> {
        match self {
            Target::Ours(relay) => {
                let (info, link) = relay.as_ref();
                let viewer = connect_viewer(info, link, mix.transport(index)).await?;
                Ok(Viewer::Ours(Box::new(viewer)))
            }
            Target::Spread(nodes) => {
                let (infos, link) = nodes.as_ref();
                let info = &infos[index % infos.len()];
                let viewer = connect_viewer(info, link, mix.transport(index)).await?;
                Ok(Viewer::Ours(Box::new(viewer)))
            }
            Target::Naive(addr) => Ok(Viewer::Naive(NaiveViewer::connect(addr, "fanout").await?)),
        }
    }
}

pub async fn run(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let (ours, naive): (&[(usize, Mix)], &[usize]) = if ctx.quick {
        (
            &[
                (100, Mix::Ws),
                (1000, Mix::Ws),
                (100, Mix::Wt),
                (100, Mix::Mixed),
            ],
            &[100, 1000],
        )
    } else {
        (
            &[
                (10, Mix::Ws),
                (100, Mix::Ws),
                (1000, Mix::Ws),
                (10, Mix::Wt),
                (100, Mix::Wt),
                (1000, Mix::Wt),
                (10, Mix::Mixed),
                (100, Mix::Mixed),
                (1000, Mix::Mixed),
            ],
            &[10, 100, 1000],
        )
    };
    let seconds = if ctx.quick { 3 } else { 10 };
    // The host runs on a thread of its own, as it would on its own machine: on the
    // runtime of the 1,000 viewer clients its frames would leave late whenever they are
    // busy, and that delay would count as the relay's.
    let host_thread = RuntimeThread::start("fanout-host".into(), None)?;
    for &(viewers, mix) in ours {
        let server = ctx.start_relay().await?;
        let info = relay_info(&server).await?;
        let host = host_on(&host_thread, &info).await?;
        let target = Target::Ours(Arc::new((info, host.read_link()?)));
        let name = format!("fanout_{viewers}_{}", mix.name());
        let http = server
            .field("http=")?
            .trim_start_matches("http://")
            .to_owned();
        let skipped = metric(&http, "relay_frames_skipped_total").await?;
        let figures = measure(
            &server,
            &host_thread,
            Host::Ours(Box::new(host)),
            target,
            viewers,
            mix,
            seconds,
        )
        .await?;
        let skipped = metric(&http, "relay_frames_skipped_total").await? - skipped;
        figures.record(report, "", &name, mix, viewers, skipped);
        server.stop().await;
    }
    for &viewers in naive {
        let server = ctx.start_baseline().await?;
        let addr = server.field("ws=")?.to_owned();
        let host = {
            let addr = addr.clone();
            host_thread
                .spawn(async move { NaiveHost::connect(&addr, "fanout").await })
                .await??
        };
        let name = format!("fanout_{viewers}_ws");
        let target = Target::Naive(addr);
        let figures = measure(
            &server,
            &host_thread,
            Host::Naive(host),
            target,
            viewers,
            Mix::Ws,
            seconds,
        )
        .await?;
        let missed = figures.missed as f64;
        figures.record(report, BASELINE, &name, Mix::Ws, viewers, missed);
        report.note(
            &format!("{BASELINE}{name}_frames_skipped"),
            "the naive relay never skips: frames that did not arrive in time",
        );
        server.stop().await;
    }
    Ok(())
}

/// The fan-out with a real host (the `host-fanout` part): ours, then the naive wrapper and
/// relay.
pub async fn run_real_host(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let seconds = if ctx.quick { 3 } else { 10 };
    let command = ticker(
        ctx,
        Duration::from_secs(1) / FRAMES_PER_SECOND as u32,
        FRAMES_PER_SECOND * seconds,
    )?;
    let server = ctx.start_relay().await?;
    let info = relay_info(&server).await?;
    let (terminal, link) = wrapped::shared(ctx, &server, Share::READ, &command).await?;
    let target = Target::Ours(Arc::new((info, link)));
    measure_real_host(&server, terminal, target, REAL_HOST_VIEWERS, seconds)
        .await?
        .record(report, "", REAL_HOST_VIEWERS);
    server.stop().await;
    let server = ctx.start_baseline().await?;
    let terminal = wrapped::naive_host(ctx, &server, "fanout", Size::DEFAULT, &command)?;
    let target = Target::Naive(server.field("ws=")?.to_owned());
    measure_real_host(&server, terminal, target, REAL_HOST_VIEWERS, seconds)
        .await?
        .record(report, BASELINE, REAL_HOST_VIEWERS);
    server.stop().await;
    Ok(())
}

/// A synthetic host of `relay` on `host_thread` (see [`run`]).
pub(super) async fn host_on(
    host_thread: &RuntimeThread,
    relay: &RelayInfo,
) -> anyhow::Result<OurHost> {
    let relay = relay.clone();
    host_thread
        .spawn(async move { OurHost::connect(&relay, false).await })
        .await?
}

pub(super) struct Figures {
    pub(super) samples: Samples,
    pub(super) cpu_cores: f64,
    /// CPU of this process (all the viewers and the host): when it nears the machine's
    /// cores, the latencies measure the load generator as much as the relay.
    loadgen_cores: f64,
    rss_per_viewer_kib: f64,
    /// (viewer, frame) pairs that never arrived.
    missed: u64,
}

impl Figures {
    fn record(
        self,
        report: &mut Report,
        prefix: &str,
        name: &str,
        mix: Mix,
        viewers: usize,
        skipped: f64,
    ) {
        let sorted = self.samples.sorted();
        for (label, p) in [("p50", 50.0), ("p99", 99.0)] {
            if let Some(ms) = sorted.percentile_ms(p) {
                report.record(PART, &format!("{prefix}{name}_{label}_ms"), "ms", ms);
            }
        }
        report.record(
            PART,
            &format!("{prefix}{name}_relay_cpu_cores"),
            "cores",
            self.cpu_cores,
        );
        report.record(
            PART,
            &format!("{prefix}{name}_loadgen_cpu_cores"),
            "cores",
            self.loadgen_cores,
        );
        report.record(
            PART,
            &format!("{prefix}{name}_rss_per_viewer_kib"),
            "KiB",
            self.rss_per_viewer_kib,
        );
        report.record(
            PART,
            &format!("{prefix}{name}_frames_skipped"),
            "frames",
            skipped,
        );
        // The headline per-viewer cost comes from the largest single-transport crowd.
        if viewers >= 1000 && mix != Mix::Mixed {
            report.record(
                PART,
                &format!("{prefix}relay_rss_per_{}_viewer_kib", mix.name()),
                "KiB",
                self.rss_per_viewer_kib,
            );
        }
    }
}

/// Send times of the frames, in nanoseconds since `epoch` (0: not sent yet).
pub(super) struct SendLog {
    epoch: Instant,
    sent: Vec<AtomicU64>,
}

impl SendLog {
    /// A log of `frames` frames, from 1.
    pub(super) fn new(frames: u64) -> Arc<SendLog> {
        Arc::new(SendLog {
            epoch: Instant::now(),
            sent: (0..=frames).map(|_| AtomicU64::new(0)).collect(),
        })
    }

    /// Sends frames 1 to `frames` at [`FRAMES_PER_SECOND`] from `host`, on `host_thread`,
    /// noting when each went; returns the host once all went.
    pub(super) async fn tick(
        self: &Arc<Self>,
        host_thread: &RuntimeThread,
        mut host: Host,
        frames: u64,
    ) -> anyhow::Result<Host> {
        let log = self.clone();
        let sending = host_thread.spawn(async move {
            let mut ticks =
                tokio::time::interval(Duration::from_secs(1) / FRAMES_PER_SECOND as u32);
            for seq in 1..=frames {
                ticks.tick().await;
                let now = u64::try_from(log.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
                if let Some(slot) = usize::try_from(seq).ok().and_then(|i| log.sent.get(i)) {
                    slot.store(now.max(1), Ordering::Release);
                }
                host.send_update(seq).await?;
            }
            anyhow::Ok(host)
        });
        sending.await?
    }

    fn latency(&self, seq: u64) -> Option<Duration> {
        let sent = self
            .sent
            .get(usize::try_from(seq).ok()?)?
            .load(Ordering::Acquire);
        (sent != 0).then(|| {
            self.epoch
                .elapsed()
                .saturating_sub(Duration::from_nanos(sent))
        })
    }
}

/// How a viewer tells how long an update took to reach it.
#[derive(Clone)]
pub(super) enum Clock {
    /// The synthetic host's send log, by frame sequence number.
    Log(Arc<SendLog>),
    /// The time the ticking program wrote into each tick ([`stamps`]).
    /// With the opener of the frames of ours (`share` seals them; the naive host does not).
    Stamped(Option<Arc<FrameOpener>>),
}

impl Clock {
    /// The updates the viewer's next message brings: sequence numbers with their latency
    /// (none for a frame the host has not logged, such as the first keyframe).
    async fn next(&self, viewer: &mut Viewer) -> anyhow::Result<Vec<(u64, Option<Duration>)>> {
        match self {
            Clock::Log(log) => {
                let seq = viewer.next_update().await?;
                Ok(vec![(seq, log.latency(seq))])
            }
            Clock::Stamped(opener) => {
                let text = viewer.next_text(opener.as_deref()).await?;
                Ok(stamps::ticks(&text)
                    .map(|(seq, written)| (seq, Some(stamps::since(written))))
                    .collect())
            }
        }
    }
}

/// Viewers connected to one session, each noting the latency of every update it sees
/// until it has seen the last one (or is told to stop).
pub(super) struct Crowd {
    tasks: Vec<JoinHandle<Samples>>,
    stop: watch::Sender<bool>,
    /// (viewer, update) pairs expected in all.
    expected: u64,
}

impl Crowd {
    /// Connects `viewers` viewers of `target`, at most [`CONNECTING`] at a time, and waits
    /// until each has joined (ours: received the session's keyframe).
    pub(super) async fn join(
        target: &Target,
        viewers: usize,
        mix: Mix,
        clock: &Clock,
        last: u64,
    ) -> anyhow::Result<Crowd> {
        let (stop, stopped) = watch::channel(false);
        let (joined_tx, mut joined) = mpsc::channel::<anyhow::Result<()>>(viewers);
        let connecting = Arc::new(Semaphore::new(CONNECTING));
        let tasks: Vec<_> = (0..viewers)
            .map(|index| {
                let (target, clock, joined_tx, connecting) = (
                    target.clone(),
                    clock.clone(),
                    joined_tx.clone(),
                    connecting.clone(),
                );
                let mut stopped = stopped.clone();
                tokio::spawn(async move {
                    let permit = connecting.acquire_owned().await;
                    let viewer = target.viewer(index, mix).await;
                    drop(permit);
                    let mut viewer = match viewer {
                        Ok(viewer) => viewer,
                        Err(error) => {
                            let _ = joined_tx.send(Err(error)).await;
                            return Samples::default();
                        }
                    };
                    if let Viewer::Ours(_) = viewer {
                        // Joined once the session's keyframe arrived.
                        if let Err(error) = viewer.next_update().await {
                            let _ = joined_tx.send(Err(error)).await;
                            return Samples::default();
                        }
                    }
                    let _ = joined_tx.send(Ok(())).await;
                    let mut samples = Samples::default();
                    // A frame a slow viewer gets again (in the relay's snapshot) counts once.
                    let mut seen = 0;
                    while seen < last {
                        tokio::select! {
                            updates = clock.next(&mut viewer) => {
                                let Ok(updates) = updates else { break };
                                for (seq, latency) in updates {
                                    if seq > seen {
                                        seen = seq;
                                        if let Some(latency) = latency {
                                            samples.push(latency);
                                        }
                                    }
                                }
                            }
                            _ = stopped.changed() => break,
                        }
                    }
                    samples
                })
            })
            .collect();
        drop(joined_tx);
        let all_joined = async {
            for _ in 0..viewers {
                tokio::time::timeout(Duration::from_secs(120), joined.recv())
                    .await
                    .context("viewers did not all join in time")?
                    .context("a viewer task ended")??;
            }
            anyhow::Ok(())
        };
        if let Err(error) = all_joined.await {
            // Connections still trying would weigh on the parts that follow.
            tasks.iter().for_each(|task| task.abort());
            return Err(error.context(format!("{viewers} {} viewers", mix.name())));
        }
        // Let the relay finish the joins' bookkeeping (viewer counts to everyone) first.
        tokio::time::sleep(Duration::from_millis(500)).await;
        Ok(Crowd {
            tasks,
            stop,
            expected: viewers as u64 * last,
        })
    }

    /// Gives stragglers a few seconds to drain their queues, then stops them; returns
    /// every latency seen and the (viewer, update) pairs never seen.
    pub(super) async fn finish(self) -> anyhow::Result<(Samples, u64)> {
        let stop = self.stop;
        let stopper = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            let _ = stop.send(true);
        });
        let mut samples = Samples::default();
        for task in self.tasks {
            samples.extend(task.await?);
        }
        stopper.abort();
        let missed = self.expected.saturating_sub(samples.len() as u64);
        Ok((samples, missed))
    }
}

pub(super) async fn measure(
    server: &Server,
    host_thread: &RuntimeThread,
    host: Host,
    target: Target,
    viewers: usize,
    mix: Mix,
    seconds: u64,
) -> anyhow::Result<Figures> {
    let frames = FRAMES_PER_SECOND * seconds;
    let log = SendLog::new(frames);
    let rss_before = server.rss_kib()?;
    let crowd = Crowd::join(&target, viewers, mix, &Clock::Log(log.clone()), frames).await?;
    let rss_per_viewer_kib = (server.rss_kib()? - rss_before) / viewers as f64;

    let cpu = server.cpu()?;
    let loadgen = CpuMeter::start(std::process::id())?;
    // Kept connected until the stragglers are done.
    let _host = log.tick(host_thread, host, frames).await?;
    let cpu_cores = cpu.cores()?;
    let loadgen_cores = loadgen.cores()?;
    let (samples, missed) = crowd.finish().await?;
    Ok(Figures {
        samples,
        cpu_cores,
        loadgen_cores,
        rss_per_viewer_kib,
        missed,
    })
}

/// The fan-out with a real host: `share` (or the naive wrapper) running a program that
/// ticks [`FRAMES_PER_SECOND`] times a second for `seconds`, in `terminal`. Latencies run
/// from the program's write to each viewer; CPU is the relay's and the wrapper's.
async fn measure_real_host(
    server: &Server,
    mut terminal: Terminal,
    target: Target,
    viewers: usize,
    seconds: u64,
) -> anyhow::Result<RealHostFigures> {
    let ticks = FRAMES_PER_SECOND * seconds;
    terminal.wait_ready().await?;
    let opener = match &target {
        Target::Ours(relay) => {
            let link = &relay.1;
            Some(Arc::new(FrameOpener::new(
                &link.keys.read,
                &link.session_id,
            )))
        }
        Target::Spread(_) | Target::Naive(_) => None,
    };
    let clock = Clock::Stamped(opener);
    let crowd = Crowd::join(&target, viewers, Mix::Ws, &clock, ticks).await?;
    let relay = server.cpu()?;
    let wrapper = CpuMeter::start(terminal.pid()?)?;
    let loadgen = CpuMeter::start(std::process::id())?;
    terminal.type_bytes(b"\r").await?;
    terminal
        .wait_until("the last tick", Duration::from_secs(seconds + 60), |text| {
            text.contains("ticks done").then_some(())
        })
        .await?;
    let relay_cores = relay.cores()?;
    let wrapper_cores = wrapper.cores()?;
    let loadgen_cores = loadgen.cores()?;
    let (samples, missed) = crowd.finish().await?;
    terminal.release().await?;
    Ok(RealHostFigures {
        samples,
        relay_cores,
        wrapper_cores,
        loadgen_cores,
        missed,
    })
}

struct RealHostFigures {
    samples: Samples,
    relay_cores: f64,
    wrapper_cores: f64,
    /// The load generator's, for the same reason as in [`Figures`].
    loadgen_cores: f64,
    /// (viewer, tick) pairs that never arrived.
    missed: u64,
}

impl RealHostFigures {
    fn record(self, report: &mut Report, prefix: &str, viewers: usize) {
        let name = format!("{prefix}fanout_{viewers}_ws");
        let total = self.relay_cores + self.wrapper_cores;
        report.record(
            REAL_HOST_PART,
            &format!("{name}_total_cpu_cores"),
            "cores",
            total,
        );
        let real = format!("{name}_real_host");
        let sorted = self.samples.sorted();
        for (label, p) in [("p50", 50.0), ("p99", 99.0)] {
            if let Some(ms) = sorted.percentile_ms(p) {
                report.record(REAL_HOST_PART, &format!("{real}_{label}_ms"), "ms", ms);
            }
        }
        let figures = [
            ("relay_cpu_cores", "cores", self.relay_cores),
            ("wrapper_cpu_cores", "cores", self.wrapper_cores),
            ("loadgen_cpu_cores", "cores", self.loadgen_cores),
            ("ticks_missed", "ticks", self.missed as f64),
        ];
        for (figure, unit, value) in figures {
            report.record(REAL_HOST_PART, &format!("{real}_{figure}"), unit, value);
        }
    }
}
