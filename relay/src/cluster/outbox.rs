//! Everything a node publishes goes through one outbox, in order, on one Redis connection:
//! a session's updates reach every replica in the order the owner made them. Publishing
//! never waits for Redis (each `PUBLISH` is pipelined without waiting for its answer), and
//! the outbox is bounded: while Redis is slow or away, what does not fit is dropped and
//! counted, and the replicas that miss it see a gap in the counter and ask for a snapshot.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use redis::aio::ConnectionManager;
use tokio::sync::Notify;

use crate::cluster::metrics::ClusterMetrics;
use crate::metrics::add;

/// Bytes waiting to be published before more are dropped: a few snapshots' worth.
const MAX_OUTBOX_BYTES: usize = 64 * 1024 * 1024;
/// Messages waiting to be published before more are dropped.
const MAX_OUTBOX_MESSAGES: usize = 65_536;
/// How long one publish may wait for the connection (Redis away) before it is dropped.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Queue {
    items: VecDeque<(String, Bytes)>,
    bytes: usize,
}

#[derive(Default)]
pub struct Outbox {
    queue: Mutex<Queue>,
    ready: Notify,
    closed: AtomicBool,
}

impl Outbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `payload` for `channel`; false (and counted) when the outbox is full.
    pub fn publish(&self, channel: String, payload: Bytes, metrics: &ClusterMetrics) -> bool {
        let mut queue = self.lock();
        if queue.bytes + payload.len() > MAX_OUTBOX_BYTES
            || queue.items.len() >= MAX_OUTBOX_MESSAGES
        {
            drop(queue);
            add(&metrics.dropped, 1);
            return false;
        }
        queue.bytes += payload.len();
        queue.items.push_back((channel, payload));
        drop(queue);
        self.ready.notify_one();
        true
    }

    /// Takes what is queued (tests of what a session publishes).
    #[cfg(test)]
    pub fn take(&self) -> Vec<(String, Bytes)> {
        let mut queue = self.lock();
        queue.bytes = 0;
        queue.items.drain(..).collect()
    }

    /// Stops [`run`](Self::run) once what is queued now (a relay's last words as it shuts
    /// down: its sessions' "host away") is published.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.ready.notify_one();
    }

    /// Publishes what is queued, in order, until [`close`](Self::close)d.
    pub async fn run(&self, mut redis: ConnectionManager, metrics: &ClusterMetrics) {
        let mut batch = VecDeque::new();
        loop {
            if self.closed.load(Ordering::Relaxed) && self.lock().items.is_empty() {
                return;
            }
            self.ready.notified().await;
            {
                let mut queue = self.lock();
                std::mem::swap(&mut queue.items, &mut batch);
                queue.bytes = 0;
            }
            // Once one publish failed (Redis away), the rest of the batch is dropped at
            // once rather than each waiting out its own timeout.
            let mut failed = false;
            for (channel, payload) in batch.drain(..) {
                if failed {
                    add(&metrics.dropped, 1);
                    continue;
                }
                let mut command = redis::cmd("PUBLISH");
                command
                    .arg(&channel)
                    .arg(payload.as_ref())
                    .set_no_response(true);
                let sent =
                    tokio::time::timeout(PUBLISH_TIMEOUT, redis.send_packed_command(&command))
                        .await;
                match sent {
                    Ok(Ok(_)) => {
                        add(&metrics.published, 1);
                        add(&metrics.published_bytes, payload.len() as u64);
                    }
                    _ => {
                        failed = true;
                        add(&metrics.dropped, 1);
                    }
                }
            }
        }
    }
}
