//! Part 5, output floods: `cat` of a large mixed text file, then `yes` for a while, inside
//! the wrapper. The wrapper's throughput as a ratio of the same command on a bare PTY in the
//! same run; the bytes a viewer received as a fraction of the raw output; and how long a
//! Ctrl-C typed during a `yes` flood takes to bring the prompt back on a viewer.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::Ctx;
use super::ours::relay_info;
use super::report::{BASELINE, Report};
use super::stats::median;
use super::terminal::{ROWS, Terminal};
use super::wrapped::{self, ENV, PROMPT, Watcher};

const PART: &str = "flood";
const MIB: u64 = 1024 * 1024;
/// How long the prompt may take to come back before the measurement gives up.
const CTRL_C_TIMEOUT: Duration = Duration::from_secs(30);

/// Sizes of one run.
struct Plan {
    file_bytes: u64,
    yes_seconds: u64,
    ctrl_c_rounds: usize,
}

pub async fn run(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let plan = if ctx.quick {
        Plan {
            file_bytes: 20 * MIB,
            yes_seconds: 2,
            ctrl_c_rounds: 3,
        }
    } else {
        Plan {
            file_bytes: 100 * MIB,
            yes_seconds: 10,
            ctrl_c_rounds: 7,
        }
    };
    let file = mixed_text(&ctx.work_dir, plan.file_bytes)?;
    let workloads = [
        ("cat", format!("cat '{}'", file.display())),
        ("yes", format!("timeout {} yes", plan.yes_seconds)),
    ];

    let server = ctx.start_relay().await?;
    let info = relay_info(&server).await?;
    let mut ours = Vec::new();
    let mut bare = Vec::new();
    for (_, work) in &workloads {
        let command = timed(work);
        bare.push(Run::measure(Terminal::spawn("sh", &command[1..], ENV)?, None).await?);
        let (terminal, viewer) = wrapped::ours(ctx, &server, &info, false, &command).await?;
        ours.push(Run::measure(terminal, Some(Watcher::Ours(Box::new(viewer)))).await?);
    }
    record_runs(report, "", &workloads, &bare, &ours);
    let (terminal, viewer) = wrapped::ours(ctx, &server, &info, false, &wrapped::shell()).await?;
    let rounds = ctrl_c(
        terminal,
        Watcher::Ours(Box::new(viewer)),
        plan.ctrl_c_rounds,
    )
    .await?;
    record_ctrl_c(report, "", &rounds);
    server.stop().await;

    let server = ctx.start_baseline().await?;
    let mut naive = Vec::new();
    let mut bare = Vec::new();
    for (name, work) in &workloads {
        let command = timed(work);
        bare.push(Run::measure(Terminal::spawn("sh", &command[1..], ENV)?, None).await?);
        let (terminal, viewer) = wrapped::naive(ctx, &server, name, &command).await?;
        naive.push(Run::measure(terminal, Some(Watcher::naive(viewer))).await?);
    }
    record_runs(report, BASELINE, &workloads, &bare, &naive);
    let (terminal, viewer) = wrapped::naive(ctx, &server, "ctrl-c", &wrapped::shell()).await?;
    let rounds = ctrl_c(terminal, Watcher::naive(viewer), plan.ctrl_c_rounds).await?;
    record_ctrl_c(report, BASELINE, &rounds);
    server.stop().await;
    Ok(())
}

/// A `sh -c` command that waits for a line on stdin (so the viewer is attached first), run
/// `work` and print how long it took by the shell's own clock.
fn timed(work: &str) -> Vec<String> {
    let script = format!(
        "printf 'READY\\n'; read _; s=$(date +%s%N); {work}; e=$(date +%s%N); \
         printf '\\nELAPSED_NS=%s\\n' $((e-s))"
    );
    vec!["sh".into(), "-c".into(), script]
}

/// One flood through a terminal (and a wrapper when a viewer is attached).
struct Run {
    /// Output bytes the terminal received during the flood.
    output: u64,
    elapsed: Duration,
    /// Bytes the viewer received over the whole session.
    viewer: Option<u64>,
}

impl Run {
    async fn measure(mut terminal: Terminal, mut viewer: Option<Watcher>) -> anyhow::Result<Run> {
        terminal
            .wait_until("READY", Duration::from_secs(30), |t| {
                t.contains("READY\r\n").then_some(())
            })
            .await?;
        terminal.clear_tail();
        let before = terminal.bytes_read();
        // The viewer reads concurrently, as a live one would.
        let reading = viewer
            .as_mut()
            .map(|v| v.read_to_end(Duration::from_secs(600)));
        let flood = async {
            terminal.type_bytes(b"\r").await?;
            terminal.until_end(Duration::from_secs(600)).await
        };
        let (flood, viewer_bytes) = match reading {
            Some(reading) => {
                let (flood, bytes) = tokio::join!(flood, reading);
                (flood?, Some(bytes))
            }
            None => (flood.await?, None),
        };
        let (tail, total) = flood;
        let elapsed = tail
            .rsplit("ELAPSED_NS=")
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|ns| ns.parse::<u64>().ok())
            .context("the flood did not report its time")?;
        Ok(Run {
            output: total - before,
            elapsed: Duration::from_nanos(elapsed),
            viewer: viewer_bytes,
        })
    }

    fn throughput(&self) -> f64 {
        self.output as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

fn record_runs(
    report: &mut Report,
    prefix: &str,
    workloads: &[(&str, String)],
    bare: &[Run],
    wrapped: &[Run],
) {
    let mut worst = f64::INFINITY;
    for (((name, _), bare), wrapped) in workloads.iter().zip(bare).zip(wrapped) {
        let ratio = wrapped.throughput() / bare.throughput();
        worst = worst.min(ratio);
        let figure = format!("{prefix}flood_{name}_throughput_ratio");
        report.record(PART, &figure, "ratio", ratio);
        let figure = format!("{prefix}flood_{name}_bare_mib_s");
        report.record(PART, &figure, "MiB/s", bare.throughput() / MIB as f64);
    }
    report.record(
        PART,
        &format!("{prefix}flood_wrapper_throughput_ratio"),
        "ratio",
        worst,
    );
    let raw: u64 = wrapped.iter().map(|r| r.output).sum();
    let seen: u64 = wrapped.iter().filter_map(|r| r.viewer).sum();
    report.record(
        PART,
        &format!("{prefix}flood_viewer_bytes_ratio"),
        "ratio",
        seen as f64 / raw.max(1) as f64,
    );
}

/// Rounds of: start `yes` from the host's keyboard, let the viewer watch the flood for a
/// second, type Ctrl-C, and time until the prompt is back on the viewer. `None`: the
/// prompt did not come back within the timeout.
async fn ctrl_c(
    mut terminal: Terminal,
    mut viewer: Watcher,
    rounds: usize,
) -> anyhow::Result<Vec<Option<Duration>>> {
    let at_prompt = |v: &super::ours::ScreenViewer| v.cursor_row() == PROMPT;
    let flooding = |v: &super::ours::ScreenViewer| {
        v.screen().is_some_and(|screen| {
            let ys = screen.lines.iter().filter(|l| l.text() == "y").count();
            ys >= usize::from(ROWS / 2)
        })
    };
    let wait = Duration::from_secs(30);
    anyhow::ensure!(
        viewer.wait(wait, at_prompt, PROMPT.as_bytes()).await?,
        "no prompt on the viewer"
    );
    let mut times = Vec::new();
    for _ in 0..rounds {
        terminal.type_bytes(b"yes\r").await?;
        anyhow::ensure!(
            viewer.wait(wait, flooding, b"y\r\ny\r\ny\r\n").await?,
            "the flood never showed on the viewer"
        );
        viewer.read_for(Duration::from_secs(1)).await?;
        let pressed = Instant::now();
        terminal.type_bytes(b"\x03").await?;
        let back = viewer
            .wait(CTRL_C_TIMEOUT, at_prompt, PROMPT.as_bytes())
            .await?;
        times.push(back.then(|| pressed.elapsed()));
        if !back {
            // The rest of the backlog would only add more of the same.
            break;
        }
    }
    Ok(times)
}

fn record_ctrl_c(report: &mut Report, prefix: &str, rounds: &[Option<Duration>]) {
    let name = format!("{prefix}flood_ctrl_c_ms");
    let ms: Vec<f64> = rounds
        .iter()
        .map(|r| r.unwrap_or(CTRL_C_TIMEOUT).as_secs_f64() * 1000.0)
        .collect();
    if let Some(value) = median(&ms) {
        report.record(PART, &name, "ms", value);
        let max = ms.iter().copied().fold(0.0, f64::max);
        report.record(PART, &format!("{name}_max"), "ms", max);
    }
    if rounds.iter().any(Option::is_none) {
        report.note(
            &name,
            format!("the prompt did not come back within {CTRL_C_TIMEOUT:?}: counted as that"),
        );
    }
}

/// A file of `bytes` of mixed terminal text (plain log lines, coloured lines, UTF-8 and long
/// wrapping lines), generated once and kept in `dir`.
fn mixed_text(dir: &Path, bytes: u64) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("flood-{}mib.txt", bytes / MIB));
    if std::fs::metadata(&path).is_ok_and(|m| m.len() == bytes) {
        return Ok(path);
    }
    std::fs::create_dir_all(dir)?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let mut written = 0u64;
    let mut n = 0u64;
    while written < bytes {
        let line = match n % 7 {
            0..=2 => format!(
                "2024-01-01T12:00:{:02}Z INFO request {n} served in {}ms\n",
                n % 60,
                n % 97
            ),
            3 => format!(
                "\x1b[1;32m  ok\x1b[0m test module_{n}::case_{} ... \x1b[33m{}ms\x1b[0m\n",
                n % 13,
                n % 50
            ),
            4 => format!("résumé naïve café — 日本語のテキスト {n} ✓ 🚀\n"),
            5 => format!("{}\n", "long-line-that-wraps ".repeat(12)),
            _ => format!(
                "\t{n:08x}: {:032x}\n",
                u128::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ),
        };
        let line = &line.as_bytes()[..line.len().min((bytes - written) as usize)];
        out.write_all(line)?;
        written += line.len() as u64;
        n += 1;
    }
    out.flush()?;
    Ok(path)
}
