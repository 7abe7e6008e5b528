//! A viewer's bounded send queue. Pushing never waits: the host's frame handling fills every
//! viewer's queue synchronously, and a viewer that cannot keep up is resynchronised from the
//! retained keyframe instead of buffering without end.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::task::{Poll, Waker};

use bytes::Bytes;
use tokio::sync::Notify;

/// Bytes of live messages a viewer may have waiting before it is resynchronised.
pub const MAX_QUEUE_BYTES: usize = 1024 * 1024;
/// Messages a viewer may have waiting before it is resynchronised.
pub const MAX_QUEUE_MESSAGES: usize = 1024;

/// What a push did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    Queued,
    /// The queue is full: the caller replaces its content with [`ViewerQueue::resync`].
    Full,
    /// A diff for a viewer that waits for the next keyframe: dropped.
    Skipped,
    /// The viewer is being closed.
    Closed,
}

/// Next thing the viewer's writer must do.
pub(crate) enum Next {
    /// Send the batch [`ViewerQueue::next`] filled.
    Send,
    Close {
        code: u16,
        reason: &'static str,
    },
}

#[derive(Default)]
struct Inner {
    items: VecDeque<Bytes>,
    bytes: usize,
    awaiting_keyframe: bool,
    closing: Option<(u16, &'static str)>,
    /// The writer, while it waits in [`ViewerQueue::next`]. Kept under the queue's own lock
    /// rather than in a `Notify`, whose waiter list takes a second lock on every push and
    /// every wait: at 1,000 viewers and 30 frames a second that showed in the fan-out's CPU.
    writer: Option<Waker>,
}

#[derive(Default)]
pub(crate) struct ViewerQueue {
    inner: Mutex<Inner>,
    closed: Notify,
}

impl ViewerQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means another task panicked mid-push; the queue is still sound.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a frame (`keyframe` known) or a control message (`None`).
    pub fn push(&self, message: Bytes, keyframe: Option<bool>) -> Pushed {
        let mut inner = self.lock();
        if inner.closing.is_some() {
            return Pushed::Closed;
        }
        match keyframe {
            Some(false) if inner.awaiting_keyframe => return Pushed::Skipped,
            Some(true) => inner.awaiting_keyframe = false,
            _ => {}
        }
        if inner.bytes + message.len() > MAX_QUEUE_BYTES || inner.items.len() >= MAX_QUEUE_MESSAGES
        {
            return Pushed::Full;
        }
        inner.bytes += message.len();
        inner.items.push_back(message);
        let writer = inner.writer.take();
        drop(inner);
        wake(writer);
        Pushed::Queued
    }

    /// Replaces the queue with a snapshot of the session; returns how many queued messages
    /// were dropped. The snapshot shares the retained buffers, so it costs no copy.
    pub fn resync(&self, snapshot: Vec<Bytes>, awaiting_keyframe: bool) -> usize {
        let mut inner = self.lock();
        if inner.closing.is_some() {
            return 0;
        }
        let dropped = inner.items.len();
        inner.bytes = snapshot.iter().map(Bytes::len).sum();
        inner.items = snapshot.into();
        inner.awaiting_keyframe = awaiting_keyframe;
        let writer = inner.writer.take();
        drop(inner);
        wake(writer);
        dropped
    }

    /// Skips diffs from now until a keyframe comes, keeping what is queued (a replica in a
    /// cluster that lost its place in the stream resyncs its viewers this way).
    pub fn skip_until_keyframe(&self) {
        self.lock().awaiting_keyframe = true;
    }

    /// Queues `last` after what is queued (bounded as every push is), and then the close
    /// with `code`: a viewer a frame behind still gets the final screen. The writer gives
    /// a viewer that stopped reading a bounded time to take it all.
    pub fn close(&self, last: Option<Bytes>, code: u16, reason: &'static str) {
        let mut inner = self.lock();
        if inner.closing.is_some() {
            return;
        }
        if let Some(last) = last {
            inner.bytes += last.len();
            inner.items.push_back(last);
        }
        inner.closing = Some((code, reason));
        let writer = inner.writer.take();
        drop(inner);
        wake(writer);
        self.closed.notify_one();
    }

    /// Waits for messages and moves all of them, in order, into the empty `batch`, so the
    /// writer sends everything queued with one flush; or returns the close once the queue is
    /// drained. Swapping buffers with the writer keeps both allocations in use.
    pub async fn next(&self, batch: &mut VecDeque<Bytes>) -> Next {
        debug_assert!(batch.is_empty());
        std::future::poll_fn(|cx| {
            let mut inner = self.lock();
            if !inner.items.is_empty() {
                std::mem::swap(&mut inner.items, batch);
                inner.bytes = 0;
                return Poll::Ready(Next::Send);
            }
            if let Some((code, reason)) = inner.closing {
                return Poll::Ready(Next::Close { code, reason });
            }
            // Single consumer: the waker stored under the lock is the one a push wakes.
            match &mut inner.writer {
                Some(waker) => waker.clone_from(cx.waker()),
                None => inner.writer = Some(cx.waker().clone()),
            }
            Poll::Pending
        })
        .await
    }

    /// Resolves once [`close`](Self::close) was called (single waiter: the writer).
    pub async fn closing(&self) {
        if self.lock().closing.is_some() {
            return;
        }
        self.closed.notified().await;
    }

    pub fn queued_bytes(&self) -> usize {
        self.lock().bytes
    }
}

/// Wakes the writer a push took from the queue, once the lock is released.
fn wake(writer: Option<Waker>) {
    if let Some(writer) = writer {
        writer.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_queue_is_reported_and_resync_replaces_it() {
        let q = ViewerQueue::default();
        let big = Bytes::from(vec![0u8; MAX_QUEUE_BYTES / 2]);
        assert_eq!(q.push(big.clone(), Some(true)), Pushed::Queued);
        assert_eq!(q.push(big.clone(), Some(false)), Pushed::Queued);
        assert_eq!(q.push(Bytes::from_static(b"x"), Some(false)), Pushed::Full);
        assert_eq!(q.resync(vec![Bytes::from_static(b"k")], false), 2);
        assert_eq!(q.queued_bytes(), 1);
    }

    #[test]
    fn awaiting_keyframe_skips_diffs_until_one_arrives() {
        let q = ViewerQueue::default();
        q.resync(Vec::new(), true);
        assert_eq!(
            q.push(Bytes::from_static(b"d"), Some(false)),
            Pushed::Skipped
        );
        assert_eq!(q.push(Bytes::from_static(b"c"), None), Pushed::Queued);
        assert_eq!(q.push(Bytes::from_static(b"k"), Some(true)), Pushed::Queued);
        assert_eq!(
            q.push(Bytes::from_static(b"d"), Some(false)),
            Pushed::Queued
        );
    }

    #[tokio::test]
    async fn close_keeps_the_backlog_and_ends_with_the_close() {
        let q = ViewerQueue::default();
        q.push(Bytes::from_static(b"a"), Some(true));
        q.close(Some(Bytes::from_static(b"end")), 4000, "ended");
        assert_eq!(q.push(Bytes::from_static(b"b"), None), Pushed::Closed);
        let mut batch = VecDeque::new();
        assert!(matches!(q.next(&mut batch).await, Next::Send));
        assert_eq!(
            batch,
            [Bytes::from_static(b"a"), Bytes::from_static(b"end")]
        );
        batch.clear();
        assert!(matches!(
            q.next(&mut batch).await,
            Next::Close { code: 4000, .. }
        ));
        q.closing().await;
    }

    #[tokio::test]
    async fn a_waiting_writer_is_woken_by_a_push_and_by_the_close() {
        let q = std::sync::Arc::new(ViewerQueue::default());
        let writer = tokio::spawn({
            let q = q.clone();
            async move {
                let mut batch = VecDeque::new();
                let first = matches!(q.next(&mut batch).await, Next::Send);
                batch.clear();
                let then = q.next(&mut batch).await;
                (first, matches!(then, Next::Close { code: 4000, .. }))
            }
        });
        // Let the writer reach its wait before each wake-up.
        tokio::task::yield_now().await;
        q.push(Bytes::from_static(b"k"), Some(true));
        tokio::task::yield_now().await;
        q.close(None, 4000, "ended");
        let woken = tokio::time::timeout(std::time::Duration::from_secs(10), writer).await;
        assert_eq!(woken.expect("the writer was woken").unwrap(), (true, true));
    }

    #[tokio::test]
    async fn next_takes_everything_queued_in_order() {
        let q = ViewerQueue::default();
        q.push(Bytes::from_static(b"k"), Some(true));
        q.push(Bytes::from_static(b"c"), None);
        q.push(Bytes::from_static(b"d"), Some(false));
        let mut batch = VecDeque::new();
        assert!(matches!(q.next(&mut batch).await, Next::Send));
        let expected = [b"k", b"c", b"d"].map(|m| Bytes::from_static(m));
        assert_eq!(batch, expected);
        assert_eq!(q.queued_bytes(), 0);
        assert_eq!(
            q.push(Bytes::from_static(b"e"), Some(false)),
            Pushed::Queued
        );
        assert_eq!(q.queued_bytes(), 1);
    }
}
