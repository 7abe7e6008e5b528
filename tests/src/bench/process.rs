//! Servers under test run as child processes so that their CPU time and memory can be read
//! from `/proc/<pid>` apart from the load generator's own.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// A server child process; killed when dropped.
pub struct Server {
    child: Child,
    pid: u32,
    /// The line the server printed when it was ready (its bound addresses).
    pub ready_line: String,
}

impl Server {
    /// Starts `program args..` and waits for the first stdout line that contains `marker`.
    /// Later output is drained so that the server never blocks on a full pipe.
    pub async fn spawn(program: &Path, args: &[&str], marker: &str) -> anyhow::Result<Server> {
        let mut child = Command::new(program)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let pid = child.id().context("child has no pid")?;
        let stdout = child.stdout.take().context("child stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let ready_line = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                if line.contains(marker) {
                    return Ok(line);
                }
            }
            bail!("{} exited before printing {marker:?}", program.display())
        })
        .await
        .with_context(|| format!("{} did not start in time", program.display()))??;
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Server {
            child,
            pid,
            ready_line,
        })
    }

    /// The first whitespace-separated word of the ready line after `key` (e.g. `http=`).
    pub fn field(&self, key: &str) -> anyhow::Result<&str> {
        self.ready_line
            .split_whitespace()
            .find_map(|word| word.strip_prefix(key))
            .with_context(|| format!("no {key} in {:?}", self.ready_line))
    }

    pub fn rss_kib(&self) -> anyhow::Result<f64> {
        rss_kib(self.pid)
    }

    pub fn cpu(&self) -> anyhow::Result<CpuMeter> {
        CpuMeter::start(self.pid)
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Resident set size of a process, in KiB.
pub fn rss_kib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .context("no VmRSS")?
        .parse::<f64>()?;
    Ok(kib)
}

/// CPU time of each live thread of a process, in nanoseconds, by thread id: the first
/// field of `/proc/<pid>/task/<tid>/schedstat`, exact where `/proc/<pid>/stat` counts
/// 10 ms ticks (a host that spends a hundredth of a core would read as 0 or 0.03).
fn thread_cpu_ns(pid: u32) -> anyhow::Result<HashMap<u32, u64>> {
    let mut threads = HashMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let task = task?;
        let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        // A thread that ended since the listing is simply not counted.
        let Ok(schedstat) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        let ns = schedstat
            .split_whitespace()
            .next()
            .context("empty schedstat")?
            .parse()?;
        threads.insert(tid, ns);
    }
    Ok(threads)
}

/// CPU used by a process since the meter started, in cores (1.0 = one core busy): the
/// time of the threads alive at the end since the start (or since they began). A thread
/// that ends in between loses its share, which for the servers measured here are idle
/// helper threads.
pub struct CpuMeter {
    pid: u32,
    threads: HashMap<u32, u64>,
    at: Instant,
}

impl CpuMeter {
    pub fn start(pid: u32) -> anyhow::Result<CpuMeter> {
        Ok(CpuMeter {
            pid,
            threads: thread_cpu_ns(pid)?,
            at: Instant::now(),
        })
    }

    pub fn cores(&self) -> anyhow::Result<f64> {
        let wall = self.at.elapsed().as_secs_f64();
        let used: u64 = thread_cpu_ns(self.pid)?
            .into_iter()
            .map(|(tid, ns)| ns.saturating_sub(self.threads.get(&tid).copied().unwrap_or(0)))
            .sum();
        Ok(used as f64 / 1e9 / wall.max(1e-9))
    }
}

/// A counter or gauge from the relay's Prometheus `/metrics` at `http_addr` (`host:port`),
/// summed over its label sets.
pub async fn metric(http_addr: &str, name: &str) -> anyhow::Result<f64> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut tcp = tokio::net::TcpStream::connect(http_addr).await?;
    tcp.write_all(format!("GET /metrics HTTP/1.0\r\nHost: {http_addr}\r\n\r\n").as_bytes())
        .await?;
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_string(&mut response))
        .await
        .context("/metrics timed out")??;
    crate::prometheus::sample_sum(&response, name).with_context(|| format!("no {name} in /metrics"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_rss_and_cpu() {
        let pid = std::process::id();
        assert!(rss_kib(pid).expect("rss") > 0.0);
        let meter = CpuMeter::start(pid).expect("schedstat");
        let spin = Instant::now();
        while spin.elapsed() < Duration::from_millis(50) {}
        let cores = meter.cores().expect("schedstat");
        // However loaded the machine, the spin ran for a while.
        assert!(cores > 0.0, "a spinning thread reads as {cores} cores");
    }
}
