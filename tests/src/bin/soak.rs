//! `soak`: the client side of `scripts/soak.sh`. Drives the relay the script started (see
//! `e2e::soak`) for the given minutes, then prints what the clients saw and the slope of
//! the relay's memory and open file descriptors after the warm-up, and exits non-zero when
//! a live session lost a frame or saw one out of order, joins failed, or a slope is not
//! flat.

use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use e2e::bench::process::metric;
use e2e::soak::sampler::{Sample, slope};
use e2e::soak::{Config, run};

#[derive(Parser)]
#[command(about = "Soaks a running relay with hosts and viewers that come and go")]
struct Args {
    /// The relay's HTTP base URL.
    #[arg(long)]
    relay: url::Url,
    /// The relay's process id, to sample its memory and file descriptors.
    #[arg(long)]
    relay_pid: u32,
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// Viewers joining (and, after 0.5 to 3 s, leaving) per second.
    #[arg(long, default_value_t = 50)]
    joins_per_second: u32,
    /// Sessions that last the whole soak, each with two viewers that stay.
    #[arg(long, default_value_t = 4)]
    steady_sessions: usize,
    /// Seconds between samples of the relay process.
    #[arg(long, default_value_t = 5)]
    sample_every: u64,
    /// Where to write the samples (CSV: seconds, RSS KiB, open descriptors).
    #[arg(long)]
    samples: Option<std::path::PathBuf>,
}

/// Share of the run left out of the slopes: the relay's bounded caches (TLS tickets, ended
/// sessions' ids) fill and its allocator's arenas settle first (in 10-minute runs, RSS
/// rose in steps for the first 6 to 7 minutes, then stayed level).
const WARM_UP: f64 = 0.5;
/// Flat: memory growing by less than 1 % of itself per minute; descriptors by less than
/// two a minute (their count moves with the clients that come and go).
const RSS_SLOPE_MAX: f64 = 0.01;
const FD_SLOPE_MAX: f64 = 2.0;
/// Joins that may fail (time out on this loaded machine) without failing the soak.
const JOIN_FAILURES_MAX: f64 = 0.005;

fn per_minute(samples: &[Sample], value: fn(&Sample) -> f64) -> f64 {
    let points: Vec<(f64, f64)> = samples.iter().map(|s| (s.at / 60.0, value(s))).collect();
    slope(&points)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    e2e::init_tracing();
    let args = Args::parse();
    let info = cli_share::client::discover(&args.relay, &cli_share::client::RelayPolicy::default())
        .await
        .context("discovering the relay")?;
    let summary = run(Config {
        info,
        pid: args.relay_pid,
        duration: Duration::from_secs_f64(args.minutes * 60.0),
        joins_per_second: args.joins_per_second,
        steady_sessions: args.steady_sessions,
        sample_every: Duration::from_secs(args.sample_every),
    })
    .await?;
    if let Some(path) = &args.samples {
        let mut csv = String::from("seconds,rss_kib,fds\n");
        for s in &summary.samples {
            csv += &format!("{:.1},{:.0},{:.0}\n", s.at, s.rss_kib, s.fds);
        }
        std::fs::write(path, csv).with_context(|| format!("writing {}", path.display()))?;
    }
    let t = &summary.tally;
    let skip = (summary.samples.len() as f64 * WARM_UP).ceil() as usize;
    let settled = &summary.samples[skip.min(summary.samples.len())..];
    let mean_rss = settled.iter().map(|s| s.rss_kib).sum::<f64>() / settled.len().max(1) as f64;
    let rss_slope = per_minute(settled, |s| s.rss_kib);
    let fd_slope = per_minute(settled, |s| s.fds);
    let (first, last) = (summary.samples.first(), summary.samples.last());
    println!(
        "soak: {:.1} min, {} samples ({} after the warm-up)",
        args.minutes,
        summary.samples.len(),
        settled.len()
    );
    println!(
        "soak: live viewers: {} frames, {} lost, {} out of order, {} resyncs; links broken: {}",
        t.live.frames, t.live.lost, t.live.reordered, t.live.resyncs, t.broken_links
    );
    // The flood's viewers fall behind by design: the relay skips frames for a viewer whose
    // queue is full and resyncs it from the latest keyframe.
    let relay = format!(
        "{}:{}",
        args.relay.host_str().unwrap_or("127.0.0.1"),
        args.relay.port_or_known_default().unwrap_or(80)
    );
    let skipped = metric(&relay, "relay_frames_skipped_total").await?;
    let resyncs = metric(&relay, "relay_viewer_resyncs_total").await?;
    println!(
        "soak: flood: {} frames sent; its viewers got {} in {} resyncs, {} diffs out of order \
         (the relay skipped {skipped} frames for slow viewers in {resyncs} resyncs)",
        t.flood_frames, t.flood.frames, t.flood.resyncs, t.flood.reordered
    );
    println!(
        "soak: joins: {} ({} failed), {} frames, {} lost, {} out of order, {} resyncs",
        t.joins,
        t.join_failures,
        t.joiners.frames,
        t.joiners.lost,
        t.joiners.reordered,
        t.joiners.resyncs
    );
    println!(
        "soak: hosts that came and went: {} ({} failed)",
        t.hosts, t.host_failures
    );
    if let (Some(first), Some(last)) = (first, last) {
        let max_rss = summary
            .samples
            .iter()
            .map(|s| s.rss_kib)
            .fold(0.0, f64::max);
        let max_fds = summary.samples.iter().map(|s| s.fds).fold(0.0, f64::max);
        println!(
            "soak: relay RSS {:.0} -> {:.0} KiB (max {max_rss:.0}), slope {rss_slope:+.1} KiB/min \
             ({:+.3} % of {mean_rss:.0} KiB per minute)",
            first.rss_kib,
            last.rss_kib,
            100.0 * rss_slope / mean_rss.max(1.0)
        );
        println!(
            "soak: relay fds {:.0} -> {:.0} (max {max_fds:.0}), slope {fd_slope:+.2} per minute",
            first.fds, last.fds
        );
    }
    let mut failures = Vec::new();
    if !t.live.is_clean() || !t.joiners.is_clean() || t.flood.reordered + t.flood.lost > 0 {
        failures.push("a viewer lost a frame or saw one out of order");
    }
    if t.broken_links > 0 {
        failures.push("a live viewer's link broke");
    }
    if t.host_failures > 0 {
        failures.push("a host failed");
    }
    if t.join_failures as f64 > JOIN_FAILURES_MAX * (t.joins + t.join_failures).max(1) as f64 {
        failures.push("too many joins failed");
    }
    if rss_slope > RSS_SLOPE_MAX * mean_rss {
        failures.push("the relay's memory grows");
    }
    if fd_slope > FD_SLOPE_MAX {
        failures.push("the relay's file descriptors grow");
    }
    if failures.is_empty() {
        println!("soak: PASS");
        Ok(())
    } else {
        println!("soak: FAIL: {}", failures.join("; "));
        std::process::exit(1);
    }
}
