//! The flood tail (issue 16): `bench-workload flood` writes 20 MiB of mixed text to its PTY
//! as `cat` would, then the line `flood end`, and records the CLOCK_MONOTONIC time that
//! last write returned. The tail is the time from then until a viewer's screen shows the
//! line: what a flood leaves queued or waiting on a timer once the output stops. The
//! program then stays (`--hold`), as a shell does after a command, so the session goes on.
//! Through `share` and the real relay, and through the naive wrapper and relay.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;

use super::Ctx;
use super::corpus::{MIB, mixed_text};
use super::ours::relay_info;
use super::report::{BASELINE, Report};
use super::stamps::monotonic_ns;
use super::stats::median;
use super::terminal::{Size, Terminal};
use super::wrapped::{self, Share, Watcher};

const PART: &str = "flood-tail";
const LAST_LINE: &str = "flood end";
/// How long a flood may take through a wrapper before the measurement gives up.
const FLOOD_TIMEOUT: Duration = Duration::from_secs(120);

pub async fn run(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let rounds = if ctx.quick { 3 } else { 7 };
    let file = mixed_text(&ctx.work_dir, 20 * MIB)?;
    let stamp = ctx.work_dir.join("flood-tail.stamp");
    let (file, stamp_path) = (file.display().to_string(), stamp.display().to_string());
    // Held after the flood, as a shell would be: the session goes on, so nothing but the
    // flood's own tail stands between the last write and the viewer.
    let command = ctx.workload(&["--hold", "flood", "--from", &file, "--stamp", &stamp_path])?;

    let server = ctx.start_relay().await?;
    let info = relay_info(&server).await?;
    let mut tails = Vec::new();
    for _ in 0..rounds {
        let (terminal, viewer) = wrapped::ours(ctx, &server, &info, Share::READ, &command).await?;
        tails.push(measure(terminal, Watcher::Ours(Box::new(viewer)), &stamp).await?);
    }
    record(report, "", &tails);
    server.stop().await;

    let server = ctx.start_baseline().await?;
    let mut tails = Vec::new();
    for round in 0..rounds {
        let session = format!("flood-tail-{round}");
        let (terminal, viewer) =
            wrapped::naive(ctx, &server, &session, Size::DEFAULT, &command).await?;
        tails.push(measure(terminal, Watcher::naive(viewer), &stamp).await?);
    }
    record(report, BASELINE, &tails);
    server.stop().await;
    Ok(())
}

/// Runs one flood; returns its tail in milliseconds.
async fn measure(mut terminal: Terminal, mut viewer: Watcher, stamp: &Path) -> anyhow::Result<f64> {
    let _ = std::fs::remove_file(stamp);
    terminal.start().await?;
    let shows_last_line = |v: &super::ours::ScreenViewer| {
        v.screen()
            .is_some_and(|s| s.lines.iter().any(|l| l.text().trim_end() == LAST_LINE))
    };
    let shown = viewer
        .wait(FLOOD_TIMEOUT, shows_last_line, LAST_LINE.as_bytes())
        .await?;
    let seen = monotonic_ns();
    anyhow::ensure!(shown, "the last line did not reach the viewer");
    // The program writes the stamp before it waits to be released: once it ended, it is there.
    terminal.release().await?;
    let written: u64 = std::fs::read_to_string(stamp)
        .context("the flood program left no stamp")?
        .trim()
        .parse()?;
    Ok(Duration::from_nanos(seen.saturating_sub(written)).as_secs_f64() * 1000.0)
}

fn record(report: &mut Report, prefix: &str, tails: &[f64]) {
    if let Some(ms) = median(tails) {
        report.record(PART, &format!("{prefix}flood_tail_ms"), "ms", ms);
        let max = tails.iter().copied().fold(0.0, f64::max);
        report.record(PART, &format!("{prefix}flood_tail_max_ms"), "ms", max);
    }
}
