//! The local terminal's byte streams, each on its own thread: stdin is read with blocking
//! reads (switching a shared terminal to non-blocking would affect the parent shell), and
//! stdout is written in order while the caller moves on to the next chunk.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::thread::JoinHandle;

use tokio::sync::mpsc;

/// Chunks of stdin; the channel closes at end of input.
pub fn spawn_stdin() -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel(16);
    std::thread::spawn(move || {
        let mut input = std::io::stdin().lock();
        let mut buf = vec![0; 4096];
        loop {
            match input.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// Ordered writes to stdout from a thread; a bounded queue paces the producer to the
/// terminal's speed.
pub struct LocalOut {
    tx: Option<mpsc::Sender<Vec<u8>>>,
    thread: Option<JoinHandle<()>>,
}

impl LocalOut {
    /// Writes to stdout.
    pub fn spawn() -> LocalOut {
        // Straight to the file descriptor: std's stdout is line-buffered, which costs a
        // second write per chunk of a flood.
        let out = match std::io::stdout().as_fd().try_clone_to_owned() {
            Ok(fd) => Box::new(File::from(fd)) as Box<dyn Write + Send>,
            Err(_) => Box::new(std::io::stdout()),
        };
        LocalOut::spawn_to(out)
    }

    /// Writes to `out`, which stands for the terminal (tests give a buffer).
    pub fn spawn_to(mut out: Box<dyn Write + Send>) -> LocalOut {
        // Chunks are up to 64 KiB: a short queue keeps what a Ctrl-C stops from piling up.
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(4);
        let thread = std::thread::spawn(move || {
            while let Some(bytes) = rx.blocking_recv() {
                if out.write_all(&bytes).and_then(|()| out.flush()).is_err() {
                    // The terminal is gone; keep draining so the producer never blocks.
                    while rx.blocking_recv().is_some() {}
                }
            }
        });
        LocalOut {
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    /// Resolves once a chunk can be queued without waiting (for the one producer).
    /// Cancel-safe.
    pub async fn ready(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.reserve().await;
        }
    }

    /// Whether a chunk can be queued without waiting.
    pub fn has_room(&self) -> bool {
        self.tx.as_ref().is_some_and(|tx| tx.capacity() > 0)
    }

    pub async fn write(&self, bytes: Vec<u8>) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(bytes).await;
        }
    }

    /// Waits until everything queued is written.
    pub fn finish(mut self) {
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
