//! The benchmark suite behind `scripts/bench.sh`: a load generator that drives a real
//! relay (a child process) with real hosts and viewers, and the same workloads through a
//! naive ttyd-style relay ([`baseline`]) in the same run, so every figure has a twin.
//!
//! Each part measures one thing of issue 7: [`latency`], [`echo`], [`fanout`],
//! [`sessions`], [`flood`]; of the lossy-link issues: [`lossy`]; of issue 16, through
//! a real `share` host running a program (`bench-workload`) in its PTY:
//! [`host_latency`], [`flood_tail`], [`late_join`], plus the real-host fan-out
//! (`host-fanout`) in [`fanout`] and the `script` comparison in [`flood`]; [`sealing`], what end-to-end
//! encryption (issue 15) adds; of the relay cluster (issue 17): [`cluster`]. A part records
//! one value per figure per run into the [`report::Report`]; repeated runs give the medians.

pub mod baseline;
pub mod cluster;
pub mod corpus;
pub mod echo;
pub mod fanout;
pub mod flood;
pub mod flood_tail;
pub mod host_latency;
pub mod late_join;
pub mod latency;
pub mod lossy;
pub mod ours;
pub mod process;
pub mod report;
pub mod sealing;
pub mod sessions;
pub mod stages;
pub mod stamps;
pub mod stats;
pub mod terminal;
pub mod updates;
pub mod wrapped;

use std::path::PathBuf;

use anyhow::Context as _;

use self::process::Server;
use self::report::Report;

/// The parts of the suite, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Part {
    Latency,
    HostLatency,
    Echo,
    Fanout,
    HostFanout,
    Sessions,
    Flood,
    FloodTail,
    LateJoin,
    Lossy,
    Blackout,
    Sealing,
    Cluster,
}

impl Part {
    pub const ALL: [Part; 13] = [
        Part::Latency,
        Part::HostLatency,
        Part::Echo,
        Part::Fanout,
        Part::HostFanout,
        Part::Sessions,
        Part::Flood,
        Part::FloodTail,
        Part::LateJoin,
        Part::Lossy,
        Part::Blackout,
        Part::Sealing,
        Part::Cluster,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Part::Latency => "latency",
            Part::HostLatency => "host-latency",
            Part::Echo => "echo",
            Part::Fanout => "fanout",
            Part::HostFanout => "host-fanout",
            Part::Sessions => "sessions",
            Part::Flood => "flood",
            Part::FloodTail => "flood-tail",
            Part::LateJoin => "late-join",
            Part::Lossy => "lossy",
            Part::Blackout => "blackout",
            Part::Sealing => "sealing",
            Part::Cluster => "cluster",
        }
    }

    pub async fn run(self, ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
        match self {
            Part::Latency => latency::run(ctx, report).await,
            Part::HostLatency => host_latency::run(ctx, report).await,
            Part::Echo => echo::run(ctx, report).await,
            Part::Fanout => fanout::run(ctx, report).await,
            Part::HostFanout => fanout::run_real_host(ctx, report).await,
            Part::Sessions => sessions::run(ctx, report).await,
            Part::Flood => flood::run(ctx, report).await,
            Part::FloodTail => flood_tail::run(ctx, report).await,
            Part::LateJoin => late_join::run(ctx, report).await,
            Part::Lossy => lossy::run(ctx, report).await,
            Part::Blackout => lossy::run_blackouts(ctx, report).await,
            Part::Sealing => sealing::run(ctx, report).await,
            Part::Cluster => cluster::run(ctx, report).await,
        }
    }
}

/// What every part needs: the size of the run and the binaries under test.
pub struct Ctx {
    /// The reduced suite of `scripts/bench.sh --quick`.
    pub quick: bool,
    /// Directory of the release binaries (`relay`, `share`, `baseline-relay`,
    /// `bench-workload`).
    pub bin_dir: PathBuf,
    /// Where generated inputs (the flood's text file) are kept between runs.
    pub work_dir: PathBuf,
}

impl Ctx {
    pub fn binary(&self, name: &str) -> anyhow::Result<String> {
        let path = self.bin_dir.join(name);
        anyhow::ensure!(
            path.is_file(),
            "{} is missing: build it with scripts/bench.sh",
            path.display()
        );
        path.into_os_string()
            .into_string()
            .ok()
            .context("binary path is not UTF-8")
    }

    /// The command line of `bench-workload args..`, the program run inside the wrappers.
    pub fn workload(&self, args: &[&str]) -> anyhow::Result<Vec<String>> {
        let mut command = vec![self.binary("bench-workload")?];
        command.extend(args.iter().map(|&arg| arg.to_owned()));
        Ok(command)
    }

    /// Starts the real relay on loopback ports.
    pub async fn start_relay(&self) -> anyhow::Result<Server> {
        self.start_relay_with(&[]).await
    }

    /// Starts the relay on loopback ports with `extra` arguments.
    pub async fn start_relay_with(&self, extra: &[&str]) -> anyhow::Result<Server> {
        self.start_relay_at("127.0.0.1:0", extra).await
    }

    /// Starts the relay with its HTTP port on `http` and `extra` arguments.
    pub async fn start_relay_at(&self, http: &str, extra: &[&str]) -> anyhow::Result<Server> {
        // Every client of the load generator is on loopback, one address, and a part opens
        // 1,000 sessions or viewers: the limits are lifted above what the parts need.
        let mut args = vec![
            "--http",
            http,
            "--quic",
            "127.0.0.1:0",
            "--log",
            "error",
            "--max-sessions",
            "100000",
            "--max-sessions-per-addr",
            "100000",
            "--max-connections",
            "100000",
            "--max-connections-per-addr",
            "100000",
            "--max-viewers",
            "100000",
            "--handshake-rate",
            "1000000",
            "--handshake-burst",
            "1000000",
        ];
        args.extend_from_slice(extra);
        Server::spawn(self.binary("relay")?.as_ref(), &args, "relay listening").await
    }

    /// Starts the naive relay on a loopback port.
    pub async fn start_baseline(&self) -> anyhow::Result<Server> {
        Server::spawn(
            self.binary("baseline-relay")?.as_ref(),
            &["serve"],
            "baseline-relay listening",
        )
        .await
    }
}
