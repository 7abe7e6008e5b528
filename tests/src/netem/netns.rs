//! Network namespaces: a guard that deletes the namespace on drop, running a child process in
//! it, and running code of this process in it (a thread that entered it with `setns`).

use std::{
    ffi::OsStr,
    fs::File,
    process::{Command, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    thread,
};

use super::{NetemError, RuntimeThread, runtime_thread::enter};

/// A named network namespace (`ip netns add`), deleted when dropped. Sockets and processes
/// still inside keep the namespace alive until they are gone.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates a namespace named `<prefix>-<pid>-<n>`, unique on this machine.
    pub fn unique(prefix: &str) -> Result<Self, NetemError> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Self::create(&format!("{prefix}-{}-{n}", std::process::id()))
    }

    /// Creates the namespace `name` with its loopback interface up.
    pub fn create(name: &str) -> Result<Self, NetemError> {
        run_ip(&["netns", "add", name])?;
        let ns = Self {
            name: name.to_owned(),
        };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n <name> <args>`.
    pub fn ip(&self, args: &[&str]) -> Result<(), NetemError> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        run_ip(&all)
    }

    /// A command that runs `program` inside the namespace (via `ip netns exec`). Convert with
    /// `tokio::process::Command::from` for async use.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// Runs `f` on a thread that has entered the namespace, and returns its result. Sockets
    /// `f` creates belong to the namespace for good, so a test can bind a std socket here and
    /// use it from anywhere (e.g. `tokio::net::UdpSocket::from_std`).
    pub fn run<T, F>(&self, f: F) -> Result<T, NetemError>
    where
        T: Send,
        F: FnOnce() -> T + Send,
    {
        let entered = self.open()?;
        thread::scope(|s| {
            s.spawn(move || -> Result<T, NetemError> {
                enter(Some(&entered))?;
                Ok(f())
            })
            .join()
            .map_err(|_| NetemError::ThreadPanicked(self.name.clone()))?
        })
    }

    /// Starts a single-threaded tokio runtime on a thread inside the namespace: every socket
    /// created by a task spawned on it (a relay's listeners, a client's endpoint) belongs to
    /// the namespace.
    pub fn runtime(&self) -> Result<RuntimeThread, NetemError> {
        RuntimeThread::start(format!("netns-{}", self.name), Some(self.open()?))
    }

    fn open(&self) -> Result<File, NetemError> {
        let path = format!("/var/run/netns/{}", self.name);
        File::open(&path).map_err(|e| NetemError::io(format!("open {path}"), e))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = run_ip(&["netns", "delete", &self.name]) {
            tracing::warn!(namespace = %self.name, error = %e, "could not delete network namespace");
        }
    }
}

pub(crate) fn run_ip(args: &[&str]) -> Result<(), NetemError> {
    let command = format!("ip {}", args.join(" "));
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| NetemError::io(format!("run `{command}`"), e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NetemError::Command {
            command,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}
