//! A late joiner's first paint (issue 16): a session at 80x24 whose scrollback is full
//! (`bench-workload --hold flood` writes 256 KiB of mixed text, then waits). Once a first
//! viewer holds the settled screen with all 2,000 rows of scrollback, late joiners
//! connect over WebSocket one after another: the bytes each received, and the time from
//! the start of its connection, before the current screen shows on it; and, for scale,
//! the size of a keyframe of the visible screen alone. The naive relay sends late joiners
//! its replay log; its joiner counts as painted once the raw stream holds the last line
//! (a real one would then still parse all of it).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use cli_share::client::ViewerTransport;
use std::collections::VecDeque;

use protocol::limits::SCROLLBACK_LINES;
use protocol::{Line, Screen, ScreenUpdate};

use super::Ctx;
use super::baseline::NaiveViewer;
use super::corpus::mixed_text;
use super::ours::{ScreenViewer, relay_info};
use super::report::{BASELINE, Report};
use super::stats::median;
use super::terminal::Size;
use super::wrapped::{self, Share, Watcher};

const PART: &str = "late-join";
/// Output before anyone joins late: at 80 columns, well over a screen and a scrollback.
const OUTPUT_BYTES: u64 = 256 * 1024;
const LAST_LINE: &str = "flood end";
const WAIT: Duration = Duration::from_secs(30);

/// What one late joiner received before it showed the current screen.
struct Paint {
    bytes: u64,
    elapsed: Duration,
}

pub async fn run(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let joiners = if ctx.quick { 3 } else { 7 };
    let file = mixed_text(&ctx.work_dir, OUTPUT_BYTES)?;
    let file = file.display().to_string();
    let command = ctx.workload(&["--hold", "flood", "--from", &file])?;

    let server = ctx.start_relay().await?;
    let info = relay_info(&server).await?;
    let share = Share {
        size: Size::CLASSIC,
        ..Share::READ
    };
    let (mut terminal, link) = wrapped::shared(ctx, &server, share, &command).await?;
    let mut first = ScreenViewer::connect(&info, &link, ViewerTransport::WebSocket).await?;
    terminal.start().await?;
    tokio::time::timeout(WAIT, async {
        while !settled(&first) {
            first.next_frame().await?;
        }
        anyhow::Ok(())
    })
    .await
    .context("the first viewer never had the full scrollback")??;
    // What the visible screen alone costs as a keyframe: how small a first paint can be.
    let screen_only = Screen {
        scrollback: VecDeque::new(),
        ..first.screen().context("no screen")?.clone()
    };
    let screen_only = protocol::encode(&ScreenUpdate::Keyframe(screen_only))?.len();
    report.record(
        PART,
        "late_join_screen_keyframe_bytes",
        "bytes",
        screen_only as f64,
    );
    let mut paints = Vec::new();
    for _ in 0..joiners {
        let started = Instant::now();
        let mut late = ScreenViewer::connect(&info, &link, ViewerTransport::WebSocket).await?;
        tokio::time::timeout(WAIT, async {
            while late.screen().map(|s| &s.lines) != first.screen().map(|s| &s.lines) {
                late.next_frame().await?;
            }
            anyhow::Ok(())
        })
        .await
        .context("a late joiner never showed the screen")??;
        paints.push(Paint {
            bytes: late.bytes,
            elapsed: started.elapsed(),
        });
    }
    record(report, "", &paints);
    terminal.release().await?;
    server.stop().await;

    let server = ctx.start_baseline().await?;
    let addr = server.field("ws=")?;
    let (mut terminal, first) =
        wrapped::naive(ctx, &server, "late-join", Size::CLASSIC, &command).await?;
    terminal.start().await?;
    let mut first = Watcher::naive(first);
    anyhow::ensure!(
        first.wait(WAIT, |_| false, LAST_LINE.as_bytes()).await?,
        "the first naive viewer never saw the last line"
    );
    let mut paints = Vec::new();
    for _ in 0..joiners {
        let started = Instant::now();
        let mut late = Watcher::naive(NaiveViewer::connect(addr, "late-join").await?);
        anyhow::ensure!(
            late.wait(WAIT, |_| false, LAST_LINE.as_bytes()).await?,
            "a naive late joiner never got the last line"
        );
        paints.push(Paint {
            bytes: late.bytes(),
            elapsed: started.elapsed(),
        });
    }
    record(report, BASELINE, &paints);
    terminal.release().await?;
    server.stop().await;
    Ok(())
}

/// The whole output is on the screen, and the scrollback is full of real rows: the
/// keyframe that follows a flood has repaid the rows the flood's frames left blank.
fn settled(viewer: &ScreenViewer) -> bool {
    let Some(screen) = viewer.screen() else {
        return false;
    };
    screen
        .lines
        .iter()
        .any(|line| line.text().trim_end() == LAST_LINE)
        && screen.scrollback.len() == SCROLLBACK_LINES
        && screen
            .scrollback
            .iter()
            .all(|line| *line != Line::default())
}

fn record(report: &mut Report, prefix: &str, paints: &[Paint]) {
    let bytes: Vec<f64> = paints.iter().map(|p| p.bytes as f64).collect();
    let ms: Vec<f64> = paints
        .iter()
        .map(|p| p.elapsed.as_secs_f64() * 1000.0)
        .collect();
    if let (Some(bytes), Some(ms)) = (median(&bytes), median(&ms)) {
        let name = format!("{prefix}late_join_first_paint");
        report.record(PART, &format!("{name}_bytes"), "bytes", bytes);
        report.record(PART, &format!("{name}_ms"), "ms", ms);
    }
}
