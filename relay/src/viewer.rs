//! An admitted viewer's connection, whatever carries it: a writer draining the viewer's
//! bounded queue (closing within a second when told, even if the viewer stopped reading)
//! and a reader that forwards collab input and drops read-only input.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use protocol::{Mode, RelayToHost, RelayToViewer, Transport, ViewerToRelay, close, limits};

use crate::admission::Limited;
use crate::link::{Aborter, CLOSE_TIMEOUT, LinkRx, LinkTx, Received};
use crate::metrics::add;
use crate::queue::{Next, ViewerQueue};
use crate::session::{FlushAfter, JoinError, Session, encoded};
use crate::shared::Shared;

/// WebSocket pings keep proxies with idle timeouts (often 60 s) from cutting viewers.
const PING_INTERVAL: Duration = Duration::from_secs(20);

/// Largest message a viewer may send: one input of [`limits::MAX_INPUT_BYTES`] plus its
/// encoding overhead.
pub(crate) const MAX_VIEWER_MESSAGE: usize = limits::MAX_INPUT_BYTES + 16;

/// Serves one admitted viewer until it leaves or the session closes it.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    session: Arc<Session>,
    mode: Mode,
    transport: Transport,
    rx: LinkRx,
    mut tx: LinkTx,
) {
    let viewer = shared.next_id();
    let max_viewers = shared.config.limits.max_viewers_per_session;
    let queue = match session.join(viewer, mode, transport, max_viewers, &shared.metrics) {
        Ok((queue, flush)) => {
            flush_later(&shared, &session, flush);
            queue
        }
        Err(JoinError::Ended) => {
            let ended = encoded(&RelayToViewer::Ended {
                reason: protocol::EndReason::HostEnded,
                message: "the session has ended".into(),
            });
            let _ = tx.send(ended).await;
            tx.close(close::ENDED, "ended").await;
            return;
        }
        // This node stopped replicating the session as the viewer came: rejoin.
        Err(JoinError::Moved) => {
            tx.close(close::GOING_AWAY, "rejoin").await;
            return;
        }
        Err(JoinError::Full) => {
            let why = shared.admission.refuse(Limited::ViewersPerSession);
            tx.close(close::BUSY, why.message()).await;
            return;
        }
    };
    tracing::debug!(session = %session.id, viewer, ?mode, ?transport, "viewer joined");
    // The reader is a task of its own: in one task with the writer it would be polled on
    // every frame the writer wakes for, and a WebSocket read attempt is not free (it
    // zeroes the read buffer first), which at 1,000 viewers showed in the fan-out's CPU.
    let mut reader = shared
        .tracker
        .spawn(read(shared.clone(), session.clone(), viewer, mode, rx));
    tokio::select! {
        _ = write(&shared, &session, &queue, tx) => reader.abort(),
        _ = &mut reader => {}
    }
    let flush = session.leave(viewer, &shared.metrics);
    // A writer stopped while waiting left the link parked in the queue, which a fan-out
    // in flight may still hold: drop the link now, so the connection closes now.
    drop(queue.unpark());
    flush_later(&shared, &session, flush);
    tracing::debug!(session = %session.id, viewer, "viewer left");
}

/// Announces a session's held viewer change once its notice bucket allows.
pub(crate) fn flush_later(shared: &Arc<Shared>, session: &Arc<Session>, mut after: FlushAfter) {
    if after.is_none() {
        return;
    }
    let shared_task = shared.clone();
    let session = session.clone();
    shared.tracker.spawn(async move {
        while let Some(delay) = after {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shared_task.shutdown.cancelled() => return,
            }
            after = session.flush_notices(&shared_task.metrics);
        }
    });
}

/// Runs `send`, but once the queue is closing gives it only [`CLOSE_TIMEOUT`] more, so a
/// viewer that stopped reading cannot hold its connection open.
async fn guarded(queue: &ViewerQueue, aborter: &Aborter, send: impl Future<Output = bool>) -> bool {
    tokio::pin!(send);
    tokio::select! {
        // A send that completes at once (the usual case) never builds the closing waiter.
        biased;
        sent = &mut send => sent,
        _ = queue.closing() => match tokio::time::timeout(CLOSE_TIMEOUT, &mut send).await {
            Ok(sent) => sent,
            Err(_) => {
                aborter.abort(close::ENDED, "closed");
                false
            }
        },
    }
}

async fn write(shared: &Shared, session: &Session, queue: &Arc<ViewerQueue>, mut link: LinkTx) {
    let aborter = link.aborter();
    let mut ping = tokio::time::interval(PING_INTERVAL);
    ping.reset();
    let mut batch = VecDeque::new();
    loop {
        // Waiting, the link is parked in the queue, which writes frames straight to it:
        // this task wakes only for what a push could not finish, the keep-alive, the close.
        let next = tokio::select! {
            biased;
            next = queue.next(link, &mut batch) => next,
            _ = ping.tick() => {
                let Some(mut tx) = queue.unpark() else { return };
                if !guarded(queue, &aborter, async { tx.keepalive().await.is_ok() }).await {
                    return;
                }
                link = tx;
                continue;
            }
        };
        let mut tx = match next {
            Next::Send(tx) => tx,
            // A joiner's first screen, or a resync after the queue overflowed: built here,
            // on this viewer's task, never in the host's frame handling.
            Next::CatchUp(tx) => {
                session.catch_up(queue, &mut batch);
                tx
            }
            Next::Close { link, code, reason } => {
                link.close(code, reason).await;
                return;
            }
            Next::Failed => return,
        };
        add(&shared.metrics.messages_out, batch.len() as u64);
        let bytes = batch.iter().map(Bytes::len).sum::<usize>();
        add(&shared.metrics.bytes_out, bytes as u64);
        let sent = async { tx.send_all(batch.drain(..)).await.is_ok() };
        if !guarded(queue, &aborter, sent).await {
            return;
        }
        link = tx;
    }
}

async fn read(shared: Arc<Shared>, session: Arc<Session>, viewer: u64, mode: Mode, mut rx: LinkRx) {
    loop {
        let message = match rx.recv().await {
            Received::Message(message) => message,
            Received::Finished | Received::Lost(_) => return,
        };
        let Ok(ViewerToRelay::Input(data)) = protocol::decode::<ViewerToRelay>(&message) else {
            tracing::debug!(session = %session.id, viewer, "malformed viewer message");
            return;
        };
        if data.len() > limits::MAX_INPUT_BYTES {
            return;
        }
        if mode != Mode::Collab {
            add(&shared.metrics.read_only_inputs_dropped, 1);
            continue;
        }
        let input = encoded(&RelayToHost::ViewerInput { viewer, mode, data });
        let forwarded = match session.host_tx() {
            // Waiting here slows only this viewer's typing, never the screen fan-out.
            Some(host) => host.send(input).await.is_ok(),
            // The host is on another node of the cluster (or away).
            None => session.forward_input(&input),
        };
        if forwarded {
            add(&shared.metrics.collab_inputs_forwarded, 1);
        }
    }
}
