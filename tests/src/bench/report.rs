//! The suite's results: every figure with its repeated runs, target and baseline twin,
//! printed as a table and written as `results.json` (figure -> median), `report.json`
//! (everything) and `report.md` under the output directory.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use serde_json::{Map, Value, json};

use super::stats::median;

/// Prefix of the naive relay's twin of every figure.
pub const BASELINE: &str = "baseline_";

/// A target from the issues: the figure must stay below (or reach at least) a bound, or
/// be no worse than its baseline twin of the same run.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    Below(f64),
    AtLeast(f64),
    AtMostBaseline,
}

impl Target {
    /// Whether `value` meets the target; `None` when that needs a baseline there is not.
    fn met(self, value: f64, baseline: Option<f64>) -> Option<bool> {
        match self {
            Target::Below(bound) => Some(value < bound),
            Target::AtLeast(bound) => Some(value >= bound),
            Target::AtMostBaseline => baseline.map(|baseline| value <= baseline),
        }
    }

    fn describe(self) -> String {
        match self {
            Target::Below(bound) => format!("< {bound}"),
            Target::AtLeast(bound) => format!(">= {bound}"),
            Target::AtMostBaseline => "<= baseline".to_owned(),
        }
    }
}

/// The targets of issues 7 and 16, by figure name (suffix match for families like fan-out).
fn target_of(name: &str) -> Option<Target> {
    if name.starts_with(BASELINE) {
        return None;
    }
    let ends = |suffix: &str| name.ends_with(suffix);
    Some(match name {
        _ if name.starts_with("update_latency_") && ends("_p50_ms") => Target::Below(1.0),
        _ if name.starts_with("update_latency_") && ends("_p99_ms") => Target::Below(5.0),
        "echo_p99_ms" => Target::Below(10.0),
        _ if name.starts_with("fanout_1000_") && ends("_p99_ms") => Target::Below(50.0),
        _ if name.starts_with("fanout_1000_") && ends("_relay_cpu_cores") => Target::Below(1.0),
        "relay_rss_per_ws_viewer_kib" => Target::Below(16.0),
        // "~0: no busy polling": under 1 % of a core.
        _ if name.starts_with("sessions_") && ends("_idle_cpu_cores") => Target::Below(0.01),
        "flood_viewer_bytes_ratio" => Target::Below(0.01),
        "flood_wrapper_throughput_ratio" => Target::AtLeast(0.9),
        "flood_ctrl_c_ms" => Target::Below(100.0),
        // Issue 15: what sealing adds, against the same run without it.
        "sealing_update_latency_added_p50_ms" => Target::Below(0.1),
        "sealing_fanout_1000_ws_relay_cpu_ratio" => Target::Below(1.1),
        // Issue 16: no worse than raw forwarding where it counts.
        _ if name.starts_with("host_update_latency_") && (ends("_p50_ms") || ends("_p99_ms")) => {
            Target::AtMostBaseline
        }
        "flood_tail_ms" => Target::Below(5.0),
        // "A few KiB for 80x24": the visible screen first, the scrollback after it.
        "late_join_first_paint_bytes" => Target::Below(8192.0),
        "fanout_1000_ws_total_cpu_cores" => Target::AtMostBaseline,
        "flood_wrapper_vs_script_ratio" => Target::AtLeast(0.9),
        // Issue 17: a viewer on another node than the host, within 1 ms of one on the same.
        "cluster_cross_node_extra_p99_ms" => Target::Below(1.0),
        "cluster_fanout_1000_ws_p99_ms" => Target::Below(50.0),
        _ if name.starts_with("cluster_fanout_1000_ws_node_") => Target::Below(1.0),
        // Within the default grace period, or the session would have ended.
        "cluster_failover_first_frame_ms" => Target::Below(30_000.0),
        _ => return None,
    })
}

#[derive(Debug)]
struct Figure {
    part: String,
    unit: &'static str,
    runs: Vec<f64>,
    notes: Vec<String>,
}

/// Figures collected over the whole run.
#[derive(Debug, Default)]
pub struct Report {
    figures: BTreeMap<String, Figure>,
    /// Extra arguments of `scripts/bench.sh` that reproduce this run (e.g. `--quick`).
    pub args: Vec<String>,
}

impl Report {
    /// Adds one run's value of a figure measured by `part`.
    pub fn record(&mut self, part: &str, name: &str, unit: &'static str, value: f64) {
        self.figures
            .entry(name.to_owned())
            .or_insert_with(|| Figure {
                part: part.to_owned(),
                unit,
                runs: Vec::new(),
                notes: Vec::new(),
            })
            .runs
            .push(value);
    }

    /// Attaches a remark to a figure (e.g. a measurement that hit its timeout).
    pub fn note(&mut self, name: &str, note: impl Into<String>) {
        if let Some(figure) = self.figures.get_mut(name) {
            let note = note.into();
            if !figure.notes.contains(&note) {
                figure.notes.push(note);
            }
        }
    }

    fn median_of(&self, name: &str) -> Option<f64> {
        self.figures.get(name).and_then(|f| median(&f.runs))
    }

    fn command(&self, part: &str) -> String {
        let mut command = String::from("scripts/bench.sh");
        for arg in &self.args {
            let _ = write!(command, " {arg}");
        }
        let _ = write!(command, " --only {part}");
        command
    }

    /// Rows of the table: our figures first, each with its baseline twin's ratio.
    fn rows(&self) -> Vec<Value> {
        self.figures
            .iter()
            .map(|(name, figure)| {
                let value = median(&figure.runs);
                let baseline = self.median_of(&format!("{BASELINE}{name}"));
                let ratio = match (value, baseline) {
                    (Some(v), Some(b)) if b != 0.0 => Some(v / b),
                    _ => None,
                };
                let target = target_of(name);
                json!({
                    "name": name,
                    "unit": figure.unit,
                    "median": value,
                    "runs": figure.runs,
                    "baseline": baseline,
                    "ratio_to_baseline": ratio,
                    "target": target.map(Target::describe),
                    "met": target.zip(value).and_then(|(t, v)| t.met(v, baseline)),
                    "command": self.command(&figure.part),
                    "notes": figure.notes,
                })
            })
            .collect()
    }

    /// The table printed at the end and written as `report.md`.
    pub fn markdown(&self, machine: &str) -> String {
        let mut out = format!("Machine: {machine}\n\n");
        out.push_str("| figure | median | unit | runs | target | baseline | ratio | command |\n");
        out.push_str("|---|---:|---|---:|---|---:|---:|---|\n");
        for row in self.rows() {
            let name = row["name"].as_str().unwrap_or_default();
            if name.starts_with(BASELINE) {
                continue;
            }
            let num = |v: &Value| v.as_f64().map_or("-".to_owned(), format_number);
            let target = match (row["target"].as_str(), row["met"].as_bool()) {
                (Some(t), Some(true)) => format!("{t} ok"),
                (Some(t), Some(false)) => format!("{t} MISSED"),
                (Some(t), None) => format!("{t} (not measured)"),
                (None, _) => String::new(),
            };
            let _ = writeln!(
                out,
                "| {name} | {} | {} | {} | {target} | {} | {} | `{}` |",
                num(&row["median"]),
                row["unit"].as_str().unwrap_or_default(),
                row["runs"].as_array().map_or(0, Vec::len),
                num(&row["baseline"]),
                num(&row["ratio_to_baseline"]),
                row["command"].as_str().unwrap_or_default(),
            );
        }
        let notes: Vec<String> = self
            .figures
            .iter()
            .flat_map(|(name, f)| f.notes.iter().map(move |n| format!("- {name}: {n}")))
            .collect();
        if !notes.is_empty() {
            out.push_str("\nNotes:\n");
            out.push_str(&notes.join("\n"));
            out.push('\n');
        }
        out
    }

    /// Writes `results.json`, `report.json` and `report.md` into `dir`.
    pub fn write(&self, dir: &Path, machine: &str) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let results: Map<String, Value> = self
            .figures
            .keys()
            .filter_map(|name| Some((name.clone(), json!(self.median_of(name)?))))
            .collect();
        let report = json!({
            "machine": machine,
            "args": self.args,
            "figures": self.rows(),
        });
        let write = |file: &str, text: String| {
            let path = dir.join(file);
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
        };
        write("results.json", serde_json::to_string_pretty(&results)?)?;
        write("report.json", serde_json::to_string_pretty(&report)?)?;
        write("report.md", self.markdown(machine))
    }
}

fn format_number(value: f64) -> String {
    match value.abs() {
        v if v >= 100.0 => format!("{value:.0}"),
        v if v >= 1.0 => format!("{value:.2}"),
        _ => format!("{value:.4}"),
    }
}

/// One line describing the machine: CPU model, cores, kernel and load at the start.
pub fn machine() -> String {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU", str::trim)
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let kernel = read("/proc/sys/kernel/osrelease");
    let load = read("/proc/loadavg");
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!(
        "{model}, {cores} cores, Linux {}, load average at start {}",
        kernel.trim(),
        load.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_hold_medians_and_the_table_compares_with_the_baseline() {
        let mut report = Report::default();
        for v in [2.0, 1.0, 3.0] {
            report.record("latency", "update_latency_ws_p50_ms", "ms", v);
        }
        report.record("latency", "baseline_update_latency_ws_p50_ms", "ms", 4.0);
        let dir = std::env::temp_dir().join(format!("bench-report-{}", std::process::id()));
        report.write(&dir, "test machine").expect("writes");
        let results: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap())
                .unwrap();
        assert_eq!(results["update_latency_ws_p50_ms"], json!(2.0));
        assert_eq!(results["baseline_update_latency_ws_p50_ms"], json!(4.0));
        let table = report.markdown("m");
        assert!(
            table.contains(
                "| update_latency_ws_p50_ms | 2.00 | ms | 3 | < 1 MISSED | 4.00 | 0.5000 |"
            )
        );
        report.record("host", "host_update_latency_ws_p99_ms", "ms", 3.0);
        report.record("host", "baseline_host_update_latency_ws_p99_ms", "ms", 4.0);
        report.record("host", "host_update_latency_wt_p99_ms", "ms", 3.0);
        let table = report.markdown("m");
        assert!(
            table.contains("| host_update_latency_ws_p99_ms | 3.00 | ms | 1 | <= baseline ok |")
        );
        assert!(table.contains(
            "| host_update_latency_wt_p99_ms | 3.00 | ms | 1 | <= baseline (not measured) |"
        ));
        std::fs::remove_dir_all(dir).ok();
    }
}
