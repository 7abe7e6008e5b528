//! Sending a host's frame to every viewer of its session (or of a cluster node's replica
//! of it). The frame is queued for each viewer under the session's lock (cheap, and in
//! order); then, outside it, each viewer's queue is sent straight to its link (see
//! [`crate::queue`]): up to a chunk of viewers by the task that got the frame, a crowd in
//! chunks spread over the runtime's workers, so a thousand viewers cost a handful of task
//! wake-ups per frame instead of a thousand, and the writes still use every core.

use std::sync::Arc;

use crate::metrics::{Metrics, add};
use crate::queue::{Sent, ViewerQueue};
use crate::shared::Shared;

/// Viewers one task sends a frame to. Small enough that a crowd spreads over the
/// workers (a chunk is a few hundred microseconds of socket writes), large enough that
/// the tasks cost little beside the writes.
const CHUNK: usize = 128;

/// Runs `fan_out`, which writes to viewers' sockets, outside tokio's cooperative budget.
/// The budget allows a task 128 socket operations per poll: past that, every write
/// would report "not ready" and hand the message to the viewer's writer task after all,
/// the wake-up per viewer that writing straight saves. The work is bounded: one write
/// per viewer.
async fn unbudgeted<T>(fan_out: impl FnOnce() -> T) -> T {
    tokio::task::unconstrained(async move { fan_out() }).await
}

/// The queues a frame was just queued in, to send.
#[derive(Default)]
pub(crate) struct Queued(pub Vec<Arc<ViewerQueue>>);

impl Queued {
    /// Sends every queue: the first chunk here, the others on tasks of their own.
    pub async fn send(mut self, shared: &Arc<Shared>) {
        while self.0.len() > CHUNK {
            let chunk = self.0.split_off(self.0.len() - CHUNK);
            let shared_task = shared.clone();
            shared.tracker.spawn(async move {
                unbudgeted(|| send_all(&chunk, &shared_task.metrics)).await;
            });
        }
        unbudgeted(|| send_all(&self.0, &shared.metrics)).await;
    }
}

fn send_all(queues: &[Arc<ViewerQueue>], metrics: &Metrics) {
    let mut sent = Sent::default();
    for queue in queues {
        let more = queue.send_queued();
        sent.messages += more.messages;
        sent.bytes += more.bytes;
    }
    count(metrics, sent);
}

/// Counts what went straight to links. A fan-out's queueing sends nothing: its empty
/// counts, one per viewer per frame on counters every worker shares, are not made.
pub(crate) fn count(metrics: &Metrics, sent: Sent) {
    if sent.messages == 0 {
        return;
    }
    add(&metrics.messages_out, sent.messages);
    add(&metrics.bytes_out, sent.bytes);
}
