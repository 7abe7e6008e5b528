//! Shared setup of the end-to-end encryption tests: the relay library on loopback with a
//! [`Tap`] in front of its HTTP port (its public URL, so every link leads through the tap),
//! the real `share` binary as the host, on its WebSocket fallback so that the relay's
//! traffic with it crosses the tap, and `share watch` processes as viewers over WebSocket.

#![allow(dead_code)] // Each test file uses a subset.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use e2e::tap::{Sink, Tamper, Tap, TapStats};
use protocol::e2e::LinkKeys;
use relay::{Relay, RelayConfig, RunningRelay};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::watch;

/// Generous bound for anything that should happen "soon" on a loaded machine.
pub const T: Duration = Duration::from_secs(30);

pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(T, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// A fresh random marker: text that exists nowhere until a test puts it on a screen.
pub fn marker(kind: &str) -> String {
    format!("{kind}-{:016x}", rand::random::<u64>())
}

/// A relay whose HTTP port is reached through a tap.
pub struct Tapped {
    pub tap: Tap,
    pub relay: RunningRelay,
}

impl Tapped {
    pub async fn start(tamper: Tamper) -> Tapped {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let tap = Tap::bind(tamper, Sink::memory())
            .await
            .expect("the tap binds");
        let config = RelayConfig {
            public_url: Some(tap.url().parse().expect("a URL")),
            ..RelayConfig::loopback()
        };
        let relay = Relay::start(config).await.expect("the relay starts");
        tap.serve(relay.http_addr());
        Tapped { tap, relay }
    }

    /// `share --relay <tap> --transport ws --now [extra] -- command...`, once its links are
    /// printed.
    pub async fn host(&self, extra: &[&str], command: &[&str]) -> Host {
        let home = std::env::temp_dir().join(format!(
            "blind-relay-{}-{}",
            std::process::id(),
            protocol::token::random_id(6)
        ));
        std::fs::create_dir_all(&home).expect("a home");
        let mut child = Command::new(e2e::share_binary())
            .args(["--relay", &self.tap.url(), "--transport", "ws", "--now"])
            .args(extra)
            .arg("--")
            .args(command)
            .current_dir(&home)
            .env("HOME", &home)
            .env("ENV", "")
            .env("PS1", "$ ")
            .env_remove("SHARE_RELAY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("share starts");
        let stdout = Collected::spawn(child.stdout.take().expect("stdout"));
        let mut stderr = Collected::spawn(child.stderr.take().expect("stderr"));
        let links = stderr
            .until("the links", |text| {
                let read = link_after(text, "share: read-only link: ")?;
                let collab = if extra.contains(&"--collab") {
                    Some(link_after(text, "share: collab link: ")?)
                } else {
                    None
                };
                Some((read, collab))
            })
            .await;
        Host {
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
            read: links.0,
            collab: links.1,
            home,
        }
    }

    /// Waits until the tap's figures satisfy `ok`.
    pub async fn tap_until(&self, what: &str, ok: impl Fn(&TapStats) -> bool) -> TapStats {
        let mut stats = self.tap.stats();
        within(what, async {
            loop {
                {
                    let seen = stats.borrow_and_update();
                    if ok(&seen) {
                        return seen.clone();
                    }
                }
                stats.changed().await.expect("the tap runs");
            }
        })
        .await
    }

    /// Fails the test if any of `needles` crossed the tap, either way, in the clear.
    pub fn assert_never_seen(&self, needles: &[(&str, Vec<u8>)]) {
        let (to_relay, from_relay) = self.tap.recorded();
        for (name, needle) in needles {
            for (direction, recorded) in [("to", &to_relay), ("from", &from_relay)] {
                assert!(
                    e2e::tap::find(recorded, needle).is_none(),
                    "{name} went {direction} the relay in the clear"
                );
            }
        }
    }
}

/// The URL after `label` on a whole line of `text` (output may stop inside a line).
fn link_after(text: &str, label: &str) -> Option<String> {
    text.split_inclusive('\n')
        .filter(|line| line.ends_with('\n'))
        .find_map(|line| line.split_once(label))
        .map(|(_, link)| link.trim().to_owned())
}

/// What a link's fragment carries after the relay's token, as the tap would see it: its
/// secrets, base64url and raw.
pub fn secrets_of(link: &str) -> Vec<(&'static str, Vec<u8>)> {
    let fragment = link.split_once('#').expect("a fragment").1;
    let (_, keys) = LinkKeys::split_fragment(fragment).expect("keys");
    let encoded: Vec<&str> = fragment.split('.').skip(3).collect();
    let mut secrets = vec![
        ("the read secret", keys.read.to_vec()),
        ("the read secret, encoded", encoded[0].as_bytes().to_vec()),
    ];
    if let Some(write) = keys.write {
        secrets.push(("the write secret", write.to_vec()));
        secrets.push(("the write secret, encoded", encoded[1].as_bytes().to_vec()));
    }
    secrets
}

/// The relay's token in a link: all of the fragment the relay may see.
pub fn token_of(link: &str) -> String {
    let fragment = link.split_once('#').expect("a fragment").1;
    fragment.split('.').take(3).collect::<Vec<_>>().join(".")
}

/// A `share` host process and the links it printed.
pub struct Host {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    pub stdout: Collected,
    pub stderr: Collected,
    pub read: String,
    pub collab: Option<String>,
    pub home: PathBuf,
}

impl Host {
    pub async fn type_text(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(text.as_bytes()).await.expect("typed");
        stdin.flush().await.expect("flushed");
    }

    /// Closes stdin (the child reads EOF) and waits for the exit code.
    pub async fn exit(&mut self) -> i32 {
        drop(self.stdin.take());
        let status = within("share to exit", self.child.wait())
            .await
            .expect("share exits");
        status.code().expect("an exit code")
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

/// A child's output as it comes.
pub struct Collected(watch::Receiver<String>);

impl Collected {
    pub fn spawn(mut pipe: impl AsyncRead + Unpin + Send + 'static) -> Collected {
        let (tx, rx) = watch::channel(String::new());
        tokio::spawn(async move {
            let mut chunk = vec![0u8; 16 * 1024];
            while let Ok(n) = pipe.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                tx.send_modify(|text| text.push_str(&String::from_utf8_lossy(&chunk[..n])));
            }
        });
        Collected(rx)
    }

    pub fn text(&self) -> String {
        self.0.borrow().clone()
    }

    /// Waits until `pick` finds something in the output so far.
    pub async fn until<T>(&mut self, what: &str, pick: impl Fn(&str) -> Option<T>) -> T {
        let found = tokio::time::timeout(T, async {
            loop {
                if let Some(found) = pick(&self.0.borrow_and_update()) {
                    return Some(found);
                }
                if self.0.changed().await.is_err() {
                    return pick(&self.0.borrow());
                }
            }
        })
        .await;
        match found {
            Ok(Some(found)) => found,
            _ => panic!("timed out waiting for {what}; got:\n{}", self.text()),
        }
    }

    /// Waits until the output contains `text`.
    pub async fn contains(&mut self, text: &str) {
        self.until(text, |seen| seen.contains(text).then_some(()))
            .await
    }
}

/// `share watch <link> --transport ws <args>` to its end: exit code, stdout, stderr.
pub async fn watch(link: &str, args: &[&str]) -> (i32, String, String) {
    let output = within("share watch", watch_command(link, args).output())
        .await
        .expect("share watch runs");
    (
        output.status.code().expect("an exit code"),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The command of a `share watch` over WebSocket, to spawn.
pub fn watch_command(link: &str, args: &[&str]) -> Command {
    let mut command = Command::new(e2e::share_binary());
    command
        .args(["watch", link, "--transport", "ws"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}
