//! The terminal emulator on a thread of its own, fed the child's output through a bounded
//! queue of chunks. The local mirror never waits for the emulator unless the queue is
//! full, so under a flood the wrapper runs at the pace of the slower of the two instead of
//! both in sequence. The host reads the emulator's state through a lock when it takes a
//! snapshot, and hears of every change through a watch channel.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot, watch};

use crate::emulator::Emulator;

/// Chunks waiting for the emulator (up to 64 KiB each): enough to keep reading during a
/// snapshot, few enough that what follows a Ctrl-C is parsed within milliseconds.
const QUEUE_CHUNKS: usize = 4;

enum Op {
    Output(Vec<u8>),
    Resize(u16, u16),
    /// Answered once everything queued before it is parsed.
    Settle(oneshot::Sender<()>),
}

pub struct ParsingThread {
    emulator: Arc<Mutex<Emulator>>,
    ops: mpsc::Sender<Op>,
    changes: watch::Receiver<u64>,
}

impl ParsingThread {
    /// Starts the thread; call from within the tokio runtime (it times synchronized
    /// updates out with the runtime's clock). The thread ends when this is dropped.
    pub fn spawn(emulator: Emulator) -> ParsingThread {
        let emulator = Arc::new(Mutex::new(emulator));
        let (ops_tx, ops) = mpsc::channel(QUEUE_CHUNKS);
        let (changes_tx, changes) = watch::channel(0u64);
        let shared = emulator.clone();
        let runtime = Handle::current();
        std::thread::spawn(move || parse(&shared, ops, &changes_tx, &runtime));
        ParsingThread {
            emulator,
            ops: ops_tx,
            changes,
        }
    }

    /// Queues output of the child; waits only while the queue is full.
    pub async fn feed(&self, bytes: Vec<u8>) {
        let _ = self.ops.send(Op::Output(bytes)).await;
    }

    /// Resizes the emulator after the output queued so far.
    pub async fn resize(&self, cols: u16, rows: u16) {
        let _ = self.ops.send(Op::Resize(cols, rows)).await;
    }

    /// Waits until everything queued so far is parsed.
    pub async fn settle(&self) {
        let (done, parsed) = oneshot::channel();
        if self.ops.send(Op::Settle(done)).await.is_ok() {
            let _ = parsed.await;
        }
    }

    /// Resolves once the emulator's state changed since the last [`lock`](Self::lock).
    pub async fn changed(&mut self) {
        if self.changes.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// The emulator, for a snapshot; changes up to now count as seen.
    pub fn lock(&mut self) -> MutexGuard<'_, Emulator> {
        let emulator = lock(&self.emulator);
        // Changes are announced with the lock held, so none is lost between the two.
        self.changes.borrow_and_update();
        emulator
    }
}

fn lock(emulator: &Mutex<Emulator>) -> MutexGuard<'_, Emulator> {
    emulator.lock().unwrap_or_else(PoisonError::into_inner)
}

fn parse(
    emulator: &Mutex<Emulator>,
    mut ops: mpsc::Receiver<Op>,
    changes: &watch::Sender<u64>,
    runtime: &Handle,
) {
    let changed = |emulator: MutexGuard<'_, Emulator>| {
        changes.send_modify(|generation| *generation = generation.wrapping_add(1));
        drop(emulator);
    };
    loop {
        let sync_deadline = lock(emulator).sync_deadline();
        let op = match sync_deadline {
            None => ops.blocking_recv(),
            Some(deadline) => {
                let deadline = tokio::time::Instant::from_std(deadline);
                match runtime.block_on(tokio::time::timeout_at(deadline, ops.recv())) {
                    Ok(op) => op,
                    Err(_) => {
                        // The child never ended its synchronized update: show it anyway.
                        let mut guard = lock(emulator);
                        guard.end_sync();
                        changed(guard);
                        continue;
                    }
                }
            }
        };
        match op {
            None => return,
            Some(Op::Output(bytes)) => {
                let mut guard = lock(emulator);
                guard.feed(&bytes);
                changed(guard);
            }
            Some(Op::Resize(cols, rows)) => {
                let mut guard = lock(emulator);
                guard.resize(cols, rows);
                changed(guard);
            }
            Some(Op::Settle(done)) => {
                let _ = done.send(());
            }
        }
    }
}
