//! The benchmark suite behind `scripts/bench.sh`: a load generator that drives a real
//! relay (a child process) with real hosts and viewers, and the same workloads through a
//! naive ttyd-style relay ([`baseline`]) in the same run, so every figure has a twin.
//!
//! Each part measures one thing of issue 7: [`latency`], [`echo`], [`fanout`],
//! [`sessions`], [`flood`]; [`sealing`] what end-to-end encryption (issue 15) adds. A part
//! records one value per figure per run into the [`report::Report`]; repeated runs give
//! the medians.

pub mod baseline;
pub mod echo;
pub mod fanout;
pub mod flood;
pub mod latency;
pub mod lossy;
pub mod ours;
pub mod process;
pub mod report;
pub mod sealing;
pub mod sessions;
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
    Echo,
    Fanout,
    Sessions,
    Flood,
    Lossy,
    Blackout,
    Sealing,
}

impl Part {
    pub const ALL: [Part; 8] = [
        Part::Latency,
        Part::Echo,
        Part::Fanout,
        Part::Sessions,
        Part::Flood,
        Part::Lossy,
        Part::Blackout,
        Part::Sealing,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Part::Latency => "latency",
            Part::Echo => "echo",
            Part::Fanout => "fanout",
            Part::Sessions => "sessions",
            Part::Flood => "flood",
            Part::Lossy => "lossy",
            Part::Blackout => "blackout",
            Part::Sealing => "sealing",
        }
    }

    pub async fn run(self, ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
        match self {
            Part::Latency => latency::run(ctx, report).await,
            Part::Echo => echo::run(ctx, report).await,
            Part::Fanout => fanout::run(ctx, report).await,
            Part::Sessions => sessions::run(ctx, report).await,
            Part::Flood => flood::run(ctx, report).await,
            Part::Lossy => lossy::run(ctx, report).await,
            Part::Blackout => lossy::run_blackouts(ctx, report).await,
            Part::Sealing => sealing::run(ctx, report).await,
        }
    }
}

/// What every part needs: the size of the run and the binaries under test.
pub struct Ctx {
    /// The reduced suite of `scripts/bench.sh --quick`.
    pub quick: bool,
    /// Directory of the release binaries (`relay`, `share`, `baseline-relay`).
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

    /// Starts the real relay on loopback ports.
    pub async fn start_relay(&self) -> anyhow::Result<Server> {
        self.start_relay_with(&[]).await
    }

    /// Starts the relay on loopback ports with `extra` arguments.
    pub async fn start_relay_with(&self, extra: &[&str]) -> anyhow::Result<Server> {
        let mut args = vec![
            "--http",
            "127.0.0.1:0",
            "--quic",
            "127.0.0.1:0",
            "--log",
            "error",
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
