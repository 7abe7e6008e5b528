//! `bench`: the load generator of `scripts/bench.sh`. Runs the parts of the suite against
//! the release binaries next to it (`relay`, `share`, `baseline-relay`, `bench-workload`),
//! repeats them, and writes `results.json`, `report.json` and `report.md` (see `e2e::bench`).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use e2e::bench::report::{Report, machine};
use e2e::bench::{Ctx, Part};
use nix::sys::signal::{SigHandler, Signal, signal};

#[derive(Parser)]
#[command(about = "Benchmarks the relay and share against a naive relay, in one run")]
struct Args {
    /// The reduced suite (every part, smaller sizes, one run).
    #[arg(long)]
    quick: bool,
    /// Runs of every part; the figures are their medians (default: 3, 1 with --quick).
    #[arg(long)]
    runs: Option<usize>,
    /// Only these parts (repeatable).
    #[arg(long, value_enum)]
    only: Vec<Part>,
    /// Where the results go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    e2e::init_tracing();
    // A shell starts background jobs with SIGINT ignored, and children inherit that: the
    // flood part's Ctrl-C would then never stop `yes`. The programs under test get the
    // default disposition whatever started the suite.
    // SAFETY: sets a disposition, no handler; done before any thread spawns a child.
    unsafe { signal(Signal::SIGINT, SigHandler::SigDfl) }
        .context("restoring SIGINT's default disposition")?;
    let args = Args::parse();
    let exe = std::env::current_exe().context("locating the bench binary")?;
    let ctx = Ctx {
        quick: args.quick,
        bin_dir: exe
            .parent()
            .context("bench binary has no directory")?
            .to_owned(),
        work_dir: args.out.clone(),
    };
    let parts = if args.only.is_empty() {
        Part::ALL.to_vec()
    } else {
        args.only.clone()
    };
    let runs = args.runs.unwrap_or(if args.quick { 1 } else { 3 });
    let machine = machine();
    let mut report = Report::default();
    if args.quick {
        report.args.push("--quick".into());
    }
    if let Some(runs) = args.runs {
        report.args.push(format!("--runs {runs}"));
    }
    let mut failed = Vec::new();
    for run in 1..=runs {
        for &part in &parts {
            eprintln!("bench: run {run}/{runs}: {}", part.name());
            let started = std::time::Instant::now();
            match part.run(&ctx, &mut report).await {
                Ok(()) => eprintln!("bench: {} done in {:.1?}", part.name(), started.elapsed()),
                Err(error) => {
                    eprintln!("bench: {} FAILED: {error:#}", part.name());
                    failed.push(part.name());
                }
            }
        }
    }
    report.write(&args.out, &machine)?;
    println!("{}", report.markdown(&machine));
    println!("Results in {}", args.out.join("results.json").display());
    anyhow::ensure!(failed.is_empty(), "parts failed: {}", failed.join(", "));
    Ok(())
}
