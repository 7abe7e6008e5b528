//! Part 5, output floods: `cat` of a large mixed text file, then `yes` for a while, inside
//! the wrapper. The wrapper's throughput as a ratio of the same command on a bare PTY and
//! under util-linux `script` in the same run; the bytes a viewer received as a fraction of the raw output; and how long a
//! Ctrl-C typed during a `yes` flood takes to bring the prompt back on a viewer.

use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::Ctx;
use super::corpus::{MIB, mixed_text};
use super::ours::relay_info;
use super::report::{BASELINE, Report};
use super::stats::median;
use super::terminal::{ROWS, Size, Terminal};
use super::wrapped::{self, ENV, PROMPT, Share, Watcher};

const PART: &str = "flood";
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
    for (_, work) in &workloads {
        let command = timed(work);
        let unwrapped = Unwrapped::measure(&command).await?;
        let (terminal, viewer) = wrapped::ours(ctx, &server, &info, Share::READ, &command).await?;
        let wrapped = Run::measure(terminal, Some(Watcher::Ours(Box::new(viewer)))).await?;
        ours.push((unwrapped, wrapped));
    }
    record_runs(report, "", &workloads, &ours);
    let (terminal, viewer) =
        wrapped::ours(ctx, &server, &info, Share::READ, &wrapped::shell()).await?;
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
    for (name, work) in &workloads {
        let command = timed(work);
        let unwrapped = Unwrapped::measure(&command).await?;
        let (terminal, viewer) =
            wrapped::naive(ctx, &server, name, Size::DEFAULT, &command).await?;
        let wrapped = Run::measure(terminal, Some(Watcher::naive(viewer))).await?;
        naive.push((unwrapped, wrapped));
    }
    record_runs(report, BASELINE, &workloads, &naive);
    let (terminal, viewer) =
        wrapped::naive(ctx, &server, "ctrl-c", Size::DEFAULT, &wrapped::shell()).await?;
    let rounds = ctrl_c(terminal, Watcher::naive(viewer), plan.ctrl_c_rounds).await?;
    record_ctrl_c(report, BASELINE, &rounds);
    server.stop().await;
    Ok(())
}

/// The flood a wrapper is compared with, in the same run: on a bare PTY, and under
/// util-linux `script`, the simplest PTY wrapper there is (it copies the child's PTY to
/// its own terminal and to a log file, here `/dev/null`).
struct Unwrapped {
    bare: Run,
    script: Run,
}

impl Unwrapped {
    async fn measure(command: &[String]) -> anyhow::Result<Unwrapped> {
        let (shell, shell_args) = command.split_first().context("empty command")?;
        let bare = Terminal::spawn(shell, shell_args, ENV, Size::DEFAULT)?;
        let bare = Run::measure(bare, None).await?;
        // `script -c` runs its command with $SHELL: the same shell as the others.
        let env = [ENV, &[("SHELL", "/bin/sh")]].concat();
        let mut args = vec!["-q".to_owned()];
        args.extend_from_slice(shell_args);
        args.push("/dev/null".into());
        let script = Terminal::spawn("script", &args, &env, Size::DEFAULT)
            .context("running util-linux script (Debian: bsdutils)")?;
        let script = Run::measure(script, None).await?;
        Ok(Unwrapped { bare, script })
    }
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
        terminal.wait_ready().await?;
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
    runs: &[(Unwrapped, Run)],
) {
    let mut worst = f64::INFINITY;
    let mut worst_to_script = f64::INFINITY;
    for ((name, _), (unwrapped, wrapped)) in workloads.iter().zip(runs) {
        let ratio = wrapped.throughput() / unwrapped.bare.throughput();
        worst = worst.min(ratio);
        let figure = format!("{prefix}flood_{name}_throughput_ratio");
        report.record(PART, &figure, "ratio", ratio);
        let to_script = wrapped.throughput() / unwrapped.script.throughput();
        worst_to_script = worst_to_script.min(to_script);
        let figure = format!("{prefix}flood_{name}_vs_script_ratio");
        report.record(PART, &figure, "ratio", to_script);
        let figure = format!("{prefix}flood_{name}_script_throughput_ratio");
        let script = unwrapped.script.throughput() / unwrapped.bare.throughput();
        report.record(PART, &figure, "ratio", script);
        let figure = format!("{prefix}flood_{name}_bare_mib_s");
        let bare = unwrapped.bare.throughput() / MIB as f64;
        report.record(PART, &figure, "MiB/s", bare);
    }
    report.record(
        PART,
        &format!("{prefix}flood_wrapper_throughput_ratio"),
        "ratio",
        worst,
    );
    report.record(
        PART,
        &format!("{prefix}flood_wrapper_vs_script_ratio"),
        "ratio",
        worst_to_script,
    );
    let raw: u64 = runs.iter().map(|(_, r)| r.output).sum();
    let seen: u64 = runs.iter().filter_map(|(_, r)| r.viewer).sum();
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
