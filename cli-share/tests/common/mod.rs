//! Helpers for the end-to-end tests: run the real `share` binary (host and watchers) with
//! pipes or under a pseudo-terminal made here, and wait for output with timeouts.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const SHARE: &str = env!("CARGO_BIN_EXE_share");
pub const WAIT: Duration = Duration::from_secs(30);

/// Output of a stream collected by a thread.
#[derive(Clone, Default)]
pub struct Collected(Arc<Mutex<Vec<u8>>>);

impl Collected {
    pub fn spawn(mut source: impl Read + Send + 'static) -> Collected {
        let collected = Collected::default();
        let sink = collected.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 64 * 1024];
            while let Ok(n) = source.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.0.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        collected
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// The last `n` bytes, as text.
    pub fn tail(&self, n: usize) -> String {
        let bytes = self.0.lock().unwrap();
        String::from_utf8_lossy(&bytes[bytes.len().saturating_sub(n)..]).into_owned()
    }

    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// Waits until the text satisfies `condition`; panics with the text after `WAIT`.
    pub fn wait_for(&self, what: &str, condition: impl Fn(&str) -> bool) -> String {
        wait_until(what, || {
            let text = self.text();
            condition(&text).then_some(text)
        })
        .unwrap_or_else(|| panic!("timed out waiting for {what}; got:\n{}", self.text()))
    }
}

/// Polls `probe` until it gives a value or [`WAIT`] passes.
pub fn wait_until<T>(what: &str, probe: impl FnMut() -> Option<T>) -> Option<T> {
    wait_longer(what, WAIT, probe)
}

/// Polls `probe` until it gives a value or `wait` passes.
pub fn wait_longer<T>(
    _what: &str,
    wait: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + wait;
    loop {
        if let Some(value) = probe() {
            return Some(value);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The links a host printed.
pub struct Links {
    pub read: String,
    pub collab: Option<String>,
}

pub fn parse_links(text: &str) -> Option<Links> {
    let find = |label: &str| {
        text.lines()
            .find_map(|line| line.trim_end_matches('\r').split_once(label))
            .map(|(_, url)| url.trim().to_owned())
    };
    Some(Links {
        read: find("share: read-only link: ")?,
        collab: find("share: collab link: "),
    })
}

/// A `share` host driven through pipes.
pub struct Host {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    pub stdout: Collected,
    pub stderr: Collected,
}

impl Host {
    pub fn start(args: &[&str]) -> Host {
        let mut child = Command::new(SHARE)
            .args(args)
            .env_remove("SHARE_RELAY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("share starts");
        let stdout = Collected::spawn(child.stdout.take().unwrap());
        let stderr = Collected::spawn(child.stderr.take().unwrap());
        Host {
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
        }
    }

    /// `share --now [extra] -- cmd...`, once its links are printed.
    pub fn sharing(extra: &[&str], command: &[&str]) -> (Host, Links) {
        let args: Vec<&str> = ["--now"]
            .iter()
            .chain(extra)
            .chain(&["--"])
            .chain(command)
            .copied()
            .collect();
        let host = Host::start(&args);
        let text = host
            .stderr
            .wait_for("the links", |text| parse_links(text).is_some());
        let links = parse_links(&text).unwrap();
        (host, links)
    }

    pub fn type_text(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for the host to exit; its exit code.
    pub fn wait(&mut self) -> i32 {
        wait_until("the host to exit", || self.child.try_wait().unwrap())
            .expect("the host exits")
            .code()
            .expect("exit code")
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `share watch URL args...` to completion (the watcher bounds itself with
/// `--timeout`).
pub fn watch(url: &str, args: &[&str]) -> Output {
    Command::new(SHARE)
        .arg("watch")
        .arg(url)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("share watch runs")
}

/// A `share watch` running in the background.
pub fn spawn_watch(url: &str, args: &[&str]) -> Child {
    Command::new(SHARE)
        .arg("watch")
        .arg(url)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("share watch starts")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A pseudo-terminal made by the test, standing in for the user's terminal.
pub struct TestTerminal {
    pub master: OwnedFd,
    pub slave: OwnedFd,
    pub output: Collected,
}

impl TestTerminal {
    pub fn new(cols: u16, rows: u16) -> TestTerminal {
        let size = nix::pty::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = nix::pty::openpty(Some(&size), None).expect("openpty");
        let reader = std::fs::File::from(pty.master.try_clone().unwrap());
        TestTerminal {
            master: pty.master,
            slave: pty.slave,
            output: Collected::spawn(reader),
        }
    }

    /// Starts `share args...` with this terminal as its controlling terminal and stdio.
    pub fn spawn_share(&self, args: &[&str]) -> Child {
        let slave = self.slave.as_raw_fd();
        let mut command = Command::new(SHARE);
        command
            .args(args)
            .env_remove("SHARE_RELAY")
            .env("TERM", "xterm-256color")
            .stdin(Stdio::from(self.slave.try_clone().unwrap()))
            .stdout(Stdio::from(self.slave.try_clone().unwrap()))
            .stderr(Stdio::from(self.slave.try_clone().unwrap()));
        // SAFETY: setsid and ioctl are async-signal-safe.
        unsafe {
            command.pre_exec(move || {
                nix::unistd::setsid()?;
                if nix::libc::ioctl(slave, nix::libc::TIOCSCTTY as _, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        command.spawn().expect("share starts")
    }

    pub fn type_text(&self, text: &str) {
        nix::unistd::write(&self.master, text.as_bytes()).unwrap();
    }

    /// Resizes the terminal; the kernel sends SIGWINCH to its foreground process group.
    pub fn resize(&self, cols: u16, rows: u16) {
        let size = nix::libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize.
        let rc = unsafe { nix::libc::ioctl(self.master.as_raw_fd(), nix::libc::TIOCSWINSZ, &size) };
        assert_eq!(rc, 0, "TIOCSWINSZ");
    }

    pub fn termios(&self) -> nix::sys::termios::Termios {
        nix::sys::termios::tcgetattr(&self.slave).unwrap()
    }
}

pub fn wait_child(child: &mut Child) -> i32 {
    wait_until("a process to exit", || child.try_wait().unwrap())
        .expect("the process exits")
        .code()
        .unwrap_or(-1)
}
