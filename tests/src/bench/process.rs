//! Servers under test run as child processes so that their CPU time and memory can be read
//! from `/proc/<pid>` apart from the load generator's own.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// `/proc/<pid>/stat` counts CPU time in USER_HZ ticks, fixed at 100 by the Linux ABI.
const TICKS_PER_SECOND: f64 = 100.0;

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

/// User plus system CPU time of a process, in seconds.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name in parentheses may contain spaces: fields are counted after it.
    let after_name = stat.rsplit_once(')').context("malformed stat")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the name.
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields.get(i).context("short stat")?.parse::<f64>()?)
    };
    Ok((ticks(11)? + ticks(12)?) / TICKS_PER_SECOND)
}

/// CPU used by a process since the meter started, in cores (1.0 = one core busy).
pub struct CpuMeter {
    pid: u32,
    cpu: f64,
    at: Instant,
}

impl CpuMeter {
    pub fn start(pid: u32) -> anyhow::Result<CpuMeter> {
        Ok(CpuMeter {
            pid,
            cpu: cpu_seconds(pid)?,
            at: Instant::now(),
        })
    }

    pub fn cores(&self) -> anyhow::Result<f64> {
        let wall = self.at.elapsed().as_secs_f64();
        Ok((cpu_seconds(self.pid)? - self.cpu) / wall.max(1e-9))
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
        let meter = CpuMeter::start(pid).expect("stat");
        let spin = Instant::now();
        while spin.elapsed() < Duration::from_millis(50) {}
        assert!(meter.cores().expect("stat") >= 0.0);
    }
}
