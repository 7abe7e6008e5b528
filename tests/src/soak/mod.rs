//! The soak behind `scripts/soak.sh`: a real relay (a child of the script) kept busy for
//! minutes by real clients: steady sessions with long-lived viewers, one session that
//! floods, hosts that come and go, and viewers that join and leave at a fixed rate. Every
//! viewer checks its frames (each once, in order); the relay's memory and open file
//! descriptors are sampled throughout, to show they stay flat.

pub mod order;
pub mod sampler;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cli_share::client::{
    HostOptions, HostTransport, NetError, RelayInfo, ShareUrl, ViewerTransport, connect_host,
    connect_viewer,
};
use protocol::{FrameHeader, HostHello, ScreenFrame};
use rand::Rng;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

use self::order::Order;
use self::sampler::Sample;

/// How often steady and short-lived hosts send a frame; every `KEYFRAME_EVERY`th is a
/// keyframe, as a host's would be after enough diffs.
const FRAME_INTERVAL: Duration = Duration::from_millis(50);
const KEYFRAME_EVERY: u64 = 100;
/// The flooding host's frames: as fast as its link takes them.
const FLOOD_FRAME_BYTES: usize = 4 * 1024;
/// How long a joining viewer may take to connect.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Config {
    pub info: RelayInfo,
    pub pid: u32,
    pub duration: Duration,
    pub joins_per_second: u32,
    pub steady_sessions: usize,
    pub sample_every: Duration,
}

/// What every client saw, added up.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Long-lived viewers of the steady sessions and of the hosts that come and go.
    pub live: Order,
    /// The flooding session's viewers.
    pub flood: Order,
    /// Viewers that joined and left.
    pub joiners: Order,
    pub joins: u64,
    pub join_failures: u64,
    /// Long-lived viewers whose link broke while their session was live.
    pub broken_links: u64,
    pub hosts: u64,
    pub host_failures: u64,
    pub flood_frames: u64,
}

pub struct Summary {
    pub tally: Tally,
    pub samples: Vec<Sample>,
}

type Shared = Arc<Mutex<Tally>>;

fn tally(shared: &Shared, update: impl FnOnce(&mut Tally)) {
    update(&mut shared.lock().unwrap_or_else(|e| e.into_inner()));
}

/// Resolves once the soak is told to stop.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

fn frame(seq: u64, keyframe: bool, payload: Vec<u8>) -> ScreenFrame {
    ScreenFrame {
        seq,
        keyframe,
        payload,
    }
}

/// QUIC and WebSocket hosts in turn.
fn nth_transport(n: u64) -> HostTransport {
    if n.is_multiple_of(2) {
        HostTransport::Quic
    } else {
        HostTransport::WebSocket
    }
}

fn options(transport: HostTransport) -> HostOptions {
    HostOptions {
        transport: Some(transport),
        ..HostOptions::default()
    }
}

/// A viewer on `link` until `until` resolves or its session ends; its frames' order, and
/// whether its link broke while the session was live.
async fn view(
    info: &RelayInfo,
    link: &str,
    transport: ViewerTransport,
    until: impl Future<Output = ()>,
) -> Result<(Order, bool), NetError> {
    let link = ShareUrl::parse(link)?;
    let mut viewer = tokio::time::timeout(JOIN_TIMEOUT, connect_viewer(info, &link, transport))
        .await
        .map_err(|_| NetError::Timeout("joining"))??;
    let mut order = Order::default();
    tokio::pin!(until);
    loop {
        tokio::select! {
            _ = &mut until => return Ok((order, false)),
            received = viewer.recv_raw() => match received {
                Ok(bytes) => {
                    if let Ok(Some(header)) = FrameHeader::peek(&bytes) {
                        order.see(header.seq, header.keyframe);
                    }
                }
                Err(NetError::Ended) => return Ok((order, false)),
                Err(_) => return Ok((order, true)),
            },
        }
    }
}

/// How a host sends its frames.
#[derive(Clone, Copy)]
enum Pace {
    /// A small frame every [`FRAME_INTERVAL`], a keyframe every [`KEYFRAME_EVERY`].
    Steady,
    /// [`FLOOD_FRAME_BYTES`] frames as fast as the link takes them.
    Flood,
}

/// One host of the soak.
struct Host {
    transport: HostTransport,
    pace: Pace,
    /// Viewers that watch the whole session.
    viewers: Vec<ViewerTransport>,
    /// Whether it says goodbye at the end, or drops its link (the session then ends after
    /// the relay's grace period).
    goodbye: bool,
}

impl Host {
    /// Runs the host until `until` resolves; `welcomed` gets its read link. Returns the
    /// frames it sent.
    async fn run(
        self,
        info: &RelayInfo,
        until: impl Future<Output = ()>,
        welcomed: Option<oneshot::Sender<String>>,
        shared: &Shared,
    ) -> Result<u64, NetError> {
        let connected =
            connect_host(info, &HostHello::new(80, 24), &options(self.transport)).await?;
        let (mut sender, mut receiver) = (connected.sender, connected.receiver);
        let link = connected.welcome.links.read;
        if let Some(welcomed) = welcomed {
            let _ = welcomed.send(link.clone());
        }
        let (done, watching) = watch::channel(false);
        let mut viewing = JoinSet::new();
        for transport in self.viewers {
            let (info, link, watching) = (info.clone(), link.clone(), watching.clone());
            viewing.spawn(async move { view(&info, &link, transport, stopped(watching)).await });
        }
        let drain = tokio::spawn(async move { while receiver.recv().await.is_ok() {} });
        let mut tick = tokio::time::interval(FRAME_INTERVAL);
        tokio::pin!(until);
        let mut seq = 0u64;
        loop {
            let payload = match self.pace {
                Pace::Steady => {
                    tokio::select! {
                        _ = &mut until => break,
                        _ = tick.tick() => {}
                    }
                    seq.to_le_bytes().to_vec()
                }
                Pace::Flood => vec![b'x'; FLOOD_FRAME_BYTES],
            };
            let message = frame(seq, seq.is_multiple_of(KEYFRAME_EVERY), payload);
            tokio::select! {
                _ = &mut until => break,
                sent = sender.send_frame(message) => sent?,
            }
            seq += 1;
        }
        // Viewers stop before the session ends, so that an end is never taken for a break.
        let _ = done.send(true);
        while let Some(joined) = viewing.join_next().await {
            tally(shared, |t| {
                let order = match self.pace {
                    Pace::Steady => &mut t.live,
                    Pace::Flood => &mut t.flood,
                };
                match joined {
                    Ok(Ok((seen, broke))) => {
                        order.add(&seen);
                        t.broken_links += u64::from(broke);
                    }
                    _ => t.broken_links += 1,
                }
            });
        }
        if self.goodbye {
            sender.bye("soak").await?;
        } else {
            sender.abort();
        }
        drain.abort();
        Ok(seq)
    }
}

/// A host that comes every second and goes after 2 to 8 s, with a viewer, over QUIC and
/// WebSocket in turn; a third of them drop their link instead of saying goodbye.
async fn come_and_go(info: RelayInfo, stop: watch::Receiver<bool>, shared: Shared) {
    let mut hosts = JoinSet::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    for n in 0u64.. {
        tokio::select! {
            _ = stopped(stop.clone()) => break,
            _ = tick.tick() => {}
        }
        let host = Host {
            transport: nth_transport(n),
            pace: Pace::Steady,
            viewers: vec![ViewerTransport::WebSocket],
            goodbye: n % 3 != 0,
        };
        let stay = Duration::from_millis(rand::rng().random_range(2000..8000));
        let (info, shared, stop) = (info.clone(), shared.clone(), stop.clone());
        hosts.spawn(async move {
            tally(&shared, |t| t.hosts += 1);
            let until = async move {
                tokio::select! {
                    _ = tokio::time::sleep(stay) => {}
                    _ = stopped(stop) => {}
                }
            };
            if host.run(&info, until, None, &shared).await.is_err() {
                tally(&shared, |t| t.host_failures += 1);
            }
        });
        while hosts.try_join_next().is_some() {}
    }
    while hosts.join_next().await.is_some() {}
}

/// Viewers joining the steady sessions at `per_second`, each staying 0.5 to 3 s; one in
/// four over WebTransport.
async fn join_and_leave(
    info: RelayInfo,
    links: Vec<String>,
    per_second: u32,
    stop: watch::Receiver<bool>,
    shared: Shared,
) {
    let mut viewers = JoinSet::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1) / per_second.max(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for n in 0u64.. {
        tokio::select! {
            _ = stopped(stop.clone()) => break,
            _ = tick.tick() => {}
        }
        let link = links[rand::rng().random_range(0..links.len())].clone();
        let stay = Duration::from_millis(rand::rng().random_range(500..3000));
        let transport = if n % 4 == 0 {
            ViewerTransport::WebTransport
        } else {
            ViewerTransport::WebSocket
        };
        let (info, shared) = (info.clone(), shared.clone());
        viewers.spawn(async move {
            match view(&info, &link, transport, tokio::time::sleep(stay)).await {
                Ok((order, broke)) => tally(&shared, |t| {
                    t.joins += 1;
                    t.joiners.add(&order);
                    t.join_failures += u64::from(broke);
                }),
                Err(_) => tally(&shared, |t| t.join_failures += 1),
            }
        });
        while viewers.try_join_next().is_some() {}
    }
    while viewers.join_next().await.is_some() {}
}

/// Runs the soak for `config.duration`.
pub async fn run(config: Config) -> anyhow::Result<Summary> {
    let shared: Shared = Arc::default();
    let (stop, stopping) = watch::channel(false);
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    let mut spawn_host = |host: Host, welcomed: Option<oneshot::Sender<String>>| {
        let (info, shared, stopping) = (config.info.clone(), shared.clone(), stopping.clone());
        let flooding = matches!(host.pace, Pace::Flood);
        tasks.spawn(async move {
            match host.run(&info, stopped(stopping), welcomed, &shared).await {
                Ok(frames) if flooding => tally(&shared, |t| t.flood_frames = frames),
                Ok(_) => {}
                Err(_) => tally(&shared, |t| t.host_failures += 1),
            }
        });
    };
    let mut links = Vec::new();
    for i in 0..config.steady_sessions {
        let host = Host {
            transport: nth_transport(i as u64),
            pace: Pace::Steady,
            viewers: vec![ViewerTransport::WebSocket, ViewerTransport::WebTransport],
            goodbye: true,
        };
        let (welcomed, link) = oneshot::channel();
        spawn_host(host, Some(welcomed));
        links.push(link.await?);
    }
    spawn_host(
        Host {
            transport: HostTransport::Quic,
            pace: Pace::Flood,
            viewers: vec![ViewerTransport::WebSocket, ViewerTransport::WebTransport],
            goodbye: true,
        },
        None,
    );
    tasks.spawn(come_and_go(
        config.info.clone(),
        stopping.clone(),
        shared.clone(),
    ));
    tasks.spawn(join_and_leave(
        config.info.clone(),
        links,
        config.joins_per_second,
        stopping.clone(),
        shared.clone(),
    ));

    let mut samples = Vec::new();
    let mut every = tokio::time::interval(config.sample_every);
    while started.elapsed() < config.duration {
        every.tick().await;
        let at = started.elapsed().as_secs_f64();
        samples.push(sampler::sample(config.pid, at)?);
    }
    let _ = stop.send(true);
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(done) = tasks.join_next().await {
            done?;
        }
        anyhow::Ok(())
    })
    .await
    .map_err(|_| anyhow::anyhow!("the soak's clients did not stop within a minute"))??;
    let tally = shared.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Ok(Summary { tally, samples })
}
