//! `latency-stages`: where an update's time goes, from a `perf script` trace of a
//! `host-latency` run (see `e2e::bench::stages`; `scripts/latency-stages.sh` records it).
//!
//! `latency-stages --relay <pid> --naive-relay <pid> --viewer <pid> TRACE` prints the
//! median of each stretch, per path, as a Markdown table.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use e2e::bench::stages::{self, Pids, STRETCHES};

#[derive(Parser)]
#[command(about = "Median time per stretch of an update, from a perf script trace")]
struct Args {
    /// Our relay's process id.
    #[arg(long)]
    relay: u32,
    /// The naive relay's process id.
    #[arg(long)]
    naive_relay: u32,
    /// The bench's process id (its viewers).
    #[arg(long)]
    viewer: u32,
    /// Output of `perf script -F comm,pid,tid,time,event,trace`.
    trace: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let trace = std::fs::read_to_string(&args.trace)
        .with_context(|| format!("reading {}", args.trace.display()))?;
    let pids = Pids {
        relay: args.relay,
        naive_relay: args.naive_relay,
        viewer: args.viewer,
    };
    let ticks = stages::ticks(&trace, pids);
    anyhow::ensure!(!ticks.is_empty(), "no tick went the whole way in the trace");
    let paths: Vec<_> = ticks.keys().copied().collect();
    let header: Vec<String> = paths
        .iter()
        .map(|path| format!("{} ({} ticks)", path.label(), ticks[path].len()))
        .collect();
    println!("| stretch, median us | {} |", header.join(" | "));
    println!("|---|{}", "---:|".repeat(paths.len()));
    let medians: Vec<[f64; 6]> = paths.iter().map(|p| stages::medians(&ticks[p])).collect();
    for (i, stretch) in STRETCHES.iter().enumerate() {
        let cells: Vec<String> = medians.iter().map(|m| format!("{:.0}", m[i])).collect();
        println!("| {stretch} | {} |", cells.join(" | "));
    }
    Ok(())
}
