//! A single-threaded tokio runtime on a dedicated OS thread, optionally inside a network
//! namespace. Used both to run code in a namespace and to keep the forwarder's timing
//! independent of how busy the caller's runtime is.

use std::{fs::File, future::Future, thread};

use nix::sched::{CloneFlags, setns};
use tokio::{runtime, sync::oneshot, task::JoinHandle};

use super::NetemError;

/// A runtime thread. `JoinHandle`s of its tasks can be awaited from any runtime. Dropping it
/// stops the runtime and cancels its tasks, so drop it after whatever runs on it.
#[derive(Debug)]
pub struct RuntimeThread {
    handle: runtime::Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl RuntimeThread {
    /// Starts the thread; with `netns` (an open `/var/run/netns/<name>`) it enters that
    /// network namespace before building the runtime.
    pub fn start(name: String, netns: Option<File>) -> Result<Self, NetemError> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                let started = enter(netns.as_ref()).and_then(|()| {
                    runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| NetemError::io("build tokio runtime", e))
                });
                match started {
                    Ok(rt) => {
                        let _ = ready_tx.send(Ok(rt.handle().clone()));
                        // A stop request and the owner vanishing both end the runtime.
                        let _ = rt.block_on(stopped);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
            .map_err(|e| NetemError::io(format!("spawn thread {name}"), e))?;
        let handle = ready_rx
            .recv()
            .map_err(|_| NetemError::ThreadPanicked(name))??;
        Ok(Self {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Runs `future` on this runtime's thread.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }

    pub fn handle(&self) -> &runtime::Handle {
        &self.handle
    }
}

impl Drop for RuntimeThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Moves the calling thread (only it) into the network namespace `netns`.
pub(crate) fn enter(netns: Option<&File>) -> Result<(), NetemError> {
    match netns {
        Some(ns) => setns(ns, CloneFlags::CLONE_NEWNET).map_err(|e| NetemError::io("setns", e)),
        None => Ok(()),
    }
}
