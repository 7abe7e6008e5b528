//! A child process whose output lines (stdout and stderr, ANSI colours removed) are kept,
//! so that a test can wait for the line that says something happened, count lines, and
//! show the output when it fails. Killed when dropped.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::sync::watch;

/// A running child process and everything it printed so far.
pub struct Watched {
    name: String,
    /// Taken by whatever waits for the exit; killed on drop otherwise.
    child: Option<Child>,
    lines: Arc<Mutex<Vec<String>>>,
    printed: watch::Receiver<usize>,
}

impl std::fmt::Debug for Watched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watched")
            .field("name", &self.name)
            .field("pid", &self.pid())
            .finish_non_exhaustive()
    }
}

impl Watched {
    /// Starts `command` (stdin closed, stdout and stderr captured).
    pub fn spawn(name: &str, mut command: Command) -> anyhow::Result<Watched> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {name}: {command:?}"))?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        // Closed once both pipes are: the process has exited (or closed its output).
        let (printed_tx, printed) = watch::channel(0);
        let printed_tx = Arc::new(printed_tx);
        let stdout = child.stdout.take().context("stdout")?;
        let stderr = child.stderr.take().context("stderr")?;
        read_lines(stdout, lines.clone(), printed_tx.clone());
        read_lines(stderr, lines.clone(), printed_tx);
        Ok(Watched {
            name: name.to_owned(),
            child: Some(child),
            lines,
            printed,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// How many lines so far satisfy `matches`.
    pub fn count(&self, matches: impl Fn(&str) -> bool) -> usize {
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|line| matches(line))
            .count()
    }

    /// Waits until `n` lines containing `text` have been printed (counting from the
    /// start), and returns the `n`th; an error, with the output, after `timeout` or if the
    /// process ends first.
    pub async fn wait_for_nth(
        &self,
        text: &str,
        n: usize,
        timeout: Duration,
    ) -> anyhow::Result<String> {
        self.wait_until(&format!("{text:?} ({n} times)"), n, timeout, |line| {
            line.contains(text)
        })
        .await
    }

    /// Waits until `n` lines satisfy `matches` (`what` describes them in the error).
    pub async fn wait_until(
        &self,
        what: &str,
        n: usize,
        timeout: Duration,
        matches: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        let mut printed = self.printed.clone();
        let found = tokio::time::timeout(timeout, async {
            loop {
                let nth = self
                    .lines
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                    .filter(|line| matches(line))
                    .nth(n.saturating_sub(1))
                    .cloned();
                if let Some(line) = nth {
                    return Some(line);
                }
                if printed.changed().await.is_err() {
                    return None;
                }
            }
        })
        .await;
        match found {
            Ok(Some(line)) => Ok(line),
            Ok(None) => bail!(
                "{} ended before printing {what}:\n{}",
                self.name,
                self.lines().join("\n")
            ),
            Err(_) => bail!(
                "{} did not print {what} within {timeout:?}:\n{}",
                self.name,
                self.lines().join("\n")
            ),
        }
    }

    /// Waits for the first line containing `text`.
    pub async fn wait_for(&self, text: &str, timeout: Duration) -> anyhow::Result<String> {
        self.wait_for_nth(text, 1, timeout).await
    }

    /// Sends SIGTERM and waits (on a blocking thread) for the process to exit.
    pub async fn terminate(mut self) -> anyhow::Result<(ExitStatus, Vec<String>)> {
        let pid = self.pid().context("already waited for")?;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .with_context(|| format!("SIGTERM to {}", self.name))?;
        self.exited().await
    }

    /// Waits (on a blocking thread) for the process to exit by itself; its status and
    /// every line it printed.
    pub async fn exit_status(mut self) -> anyhow::Result<(ExitStatus, Vec<String>)> {
        self.exited().await
    }

    async fn exited(&mut self) -> anyhow::Result<(ExitStatus, Vec<String>)> {
        let mut child = self.child.take().context("already waited for")?;
        let status = tokio::task::spawn_blocking(move || child.wait())
            .await?
            .with_context(|| format!("waiting for {}", self.name))?;
        // The status can come before the last lines: wait for the pipes to close.
        while self.printed.changed().await.is_ok() {}
        Ok((status, self.lines()))
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn read_lines(
    pipe: impl Read + Send + 'static,
    lines: Arc<Mutex<Vec<String>>>,
    printed: Arc<watch::Sender<usize>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            let line = without_colours(&line);
            let mut all = lines.lock().unwrap_or_else(|e| e.into_inner());
            all.push(line);
            let count = all.len();
            drop(all);
            printed.send_replace(count);
        }
    });
}

/// `line` without ANSI escape sequences (tracing colours its fields on a terminal and
/// sometimes elsewhere).
fn without_colours(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters... final byte in @..~
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_removed() {
        assert_eq!(
            without_colours("\u{1b}[2mrelay\u{1b}[0m: \u{1b}[3mdomain\u{1b}[0m=x"),
            "relay: domain=x"
        );
    }

    #[tokio::test]
    async fn lines_are_waited_for_and_counted() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo one; echo two >&2; echo one again"]);
        let watched = Watched::spawn("sh", command).unwrap();
        let line = watched
            .wait_for_nth("one", 2, Duration::from_secs(20))
            .await
            .unwrap();
        assert_eq!(line, "one again");
        assert!(
            watched
                .wait_for("never", Duration::from_secs(20))
                .await
                .unwrap_err()
                .to_string()
                .contains("ended before printing")
        );
        let (status, lines) = watched.exit_status().await.unwrap();
        assert!(status.success());
        assert_eq!(lines.len(), 3);
    }
}
