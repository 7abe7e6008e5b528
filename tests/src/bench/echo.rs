//! Part 2, keystroke echo: a collab viewer types into a shell run by `share` (or by the
//! naive wrapper); the time until the echoed character shows on that viewer. Ours counts
//! it shown once the decoded screen's cursor row has it; the naive viewer once the raw bytes
//! contain it (a real one would still have to parse them).

use std::time::{Duration, Instant};

use super::Ctx;
use super::ours::relay_info;
use super::report::{BASELINE, Report};
use super::stats::Samples;
use super::terminal::Size;
use super::wrapped::{self, PROMPT, Share, Watcher};

const PART: &str = "echo";
/// Characters typed on one command line before it is submitted (a comment, so harmless).
const LINE: usize = 60;
const WAIT: Duration = Duration::from_secs(10);
/// Pause between keystrokes: a fast typist's pace (~120 words a minute). Typing faster than
/// the host's minimum frame interval would measure that interval instead of the path.
const PACE: Duration = Duration::from_millis(80);

/// Reads until the cursor row reads the prompt and `typed` (the naive viewer: until the
/// raw stream contains `expect`).
async fn wait_line(watcher: &mut Watcher, typed: &str, expect: &[u8]) -> anyhow::Result<()> {
    let wanted = format!("{PROMPT} {typed}");
    let wanted = wanted.trim_end();
    let shown = watcher
        .wait(WAIT, |viewer| viewer.cursor_row() == wanted, expect)
        .await?;
    anyhow::ensure!(shown, "the screen never showed {wanted:?}");
    Ok(())
}

pub async fn run(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let keys = if ctx.quick { 100 } else { 500 };

    let server = ctx.start_relay().await?;
    let info = relay_info(&server).await?;
    let (terminal, viewer) =
        wrapped::ours(ctx, &server, &info, Share::COLLAB, &wrapped::shell()).await?;
    let samples = measure(Watcher::Ours(Box::new(viewer)), keys).await?;
    record(report, "", samples);
    drop(terminal);
    server.stop().await;

    let server = ctx.start_baseline().await?;
    let (terminal, viewer) =
        wrapped::naive(ctx, &server, "echo", Size::DEFAULT, &wrapped::shell()).await?;
    let samples = measure(Watcher::naive(viewer), keys).await?;
    record(report, BASELINE, samples);
    drop(terminal);
    server.stop().await;
    Ok(())
}

async fn measure(mut viewer: Watcher, keys: usize) -> anyhow::Result<Samples> {
    wait_line(&mut viewer, "", PROMPT.as_bytes()).await?;
    let mut samples = Samples::default();
    let mut typed = String::new();
    for i in 0..keys {
        if typed.len() >= LINE {
            viewer.send(b"\r").await?;
            wait_line(&mut viewer, "", PROMPT.as_bytes()).await?;
            typed.clear();
        }
        if typed.is_empty() {
            viewer.send(b"#").await?;
            typed.push('#');
            wait_line(&mut viewer, &typed, b"#").await?;
        }
        tokio::time::sleep(PACE).await;
        let key = b'a' + (i % 26) as u8;
        typed.push(char::from(key));
        let sent = Instant::now();
        viewer.send(&[key]).await?;
        wait_line(&mut viewer, &typed, &[key]).await?;
        samples.push(sent.elapsed());
    }
    Ok(samples)
}

fn record(report: &mut Report, prefix: &str, samples: Samples) {
    let sorted = samples.sorted();
    for (label, p) in [("p50", 50.0), ("p99", 99.0)] {
        if let Some(ms) = sorted.percentile_ms(p) {
            report.record(PART, &format!("{prefix}echo_{label}_ms"), "ms", ms);
        }
    }
}
