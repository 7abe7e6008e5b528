//! A viewer's bounded send queue, and the viewer's link while its writer is idle. Pushing
//! never waits: the host's frame handling fills every viewer's queue synchronously, and a
//! viewer that cannot keep up is resynchronised from the retained keyframe instead of
//! buffering without end.
//!
//! A push to a viewer with nothing queued writes the message straight to its link (parked
//! here by the writer), without waking the writer: the socket takes it at once unless the
//! viewer is falling behind. Waking a writer task per viewer per frame cost more than the
//! write itself: the task's scheduling, a thread unparked to steal it, its poll. The writer
//! only wakes when a link could not take a whole message, for the keep-alive, and to close.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::task::{Poll, Waker};

use bytes::Bytes;
use tokio::sync::Notify;

use crate::link::LinkTx;

/// Bytes of live messages a viewer may have waiting before it is resynchronised.
pub const MAX_QUEUE_BYTES: usize = 1024 * 1024;
/// Messages a viewer may have waiting before it is resynchronised.
pub const MAX_QUEUE_MESSAGES: usize = 1024;

/// A link a push can write to without waiting.
pub(crate) trait DirectLink {
    /// Writes `message` if the link can take it now, without registering for a wake-up.
    fn try_send(&mut self, message: &Bytes) -> TrySend;
}

/// What [`DirectLink::try_send`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TrySend {
    /// Written whole.
    Sent,
    /// Taken, but not all of it written yet: someone must flush it with a waker.
    Partly,
    /// Not taken: the link is busy (its lock held, its buffer full).
    Busy,
    /// The link is broken.
    Failed,
}

/// Messages and bytes written straight to a viewer's link.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sent {
    pub messages: u64,
    pub bytes: u64,
}

/// What a push did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued; then what was queued went straight to the link, as far as it took it.
    Queued(Sent),
    /// The queue is full: the caller replaces its content with [`ViewerQueue::resync`].
    Full,
    /// A diff for a viewer that waits for the next keyframe: dropped.
    Skipped,
    /// The viewer is being closed.
    Closed,
}

/// Next thing the viewer's writer must do, with the link it takes back from the queue.
pub(crate) enum Next<L = LinkTx> {
    /// Send the batch [`ViewerQueue::next`] filled (possibly empty: only finish the flush
    /// of a message the link took in part).
    Send(L),
    Close {
        link: L,
        code: u16,
        reason: &'static str,
    },
    /// A write straight to the link failed: the viewer is gone.
    Failed,
}

struct Inner<L> {
    items: VecDeque<Bytes>,
    bytes: usize,
    awaiting_keyframe: bool,
    closing: Option<(u16, &'static str)>,
    /// The viewer's link, while its writer waits in [`ViewerQueue::next`].
    link: Option<L>,
    /// The link took a message in part: the writer must finish it before anything else
    /// goes straight to the link.
    unflushed: bool,
    /// A write straight to the link failed.
    failed: bool,
    /// The writer, while it waits in [`ViewerQueue::next`]. Kept under the queue's own lock
    /// rather than in a `Notify`, whose waiter list takes a second lock on every push and
    /// every wait.
    writer: Option<Waker>,
}

impl<L> Default for Inner<L> {
    fn default() -> Self {
        Inner {
            items: VecDeque::new(),
            bytes: 0,
            awaiting_keyframe: false,
            closing: None,
            link: None,
            unflushed: false,
            failed: false,
            writer: None,
        }
    }
}

impl<L: DirectLink> Inner<L> {
    /// Whether the writer has something to do (other than wait for the close).
    fn writer_needed(&self) -> bool {
        !self.items.is_empty() || self.unflushed || self.failed
    }

    /// Checks a message against the close and the wait for a keyframe, then queues it.
    fn enqueue(&mut self, message: Bytes, keyframe: Option<bool>) -> Pushed {
        if self.closing.is_some() {
            return Pushed::Closed;
        }
        match keyframe {
            Some(false) if self.awaiting_keyframe => return Pushed::Skipped,
            Some(true) => self.awaiting_keyframe = false,
            _ => {}
        }
        if self.bytes + message.len() > MAX_QUEUE_BYTES || self.items.len() >= MAX_QUEUE_MESSAGES {
            return Pushed::Full;
        }
        self.bytes += message.len();
        self.items.push_back(message);
        Pushed::Queued(Sent::default())
    }

    /// Writes what is queued straight to the parked link, in order, until it takes no
    /// more; then the writer, if it has something left to do, is returned to be woken.
    fn send_queued(&mut self) -> (Sent, Option<Waker>) {
        let mut sent = Sent::default();
        if let (Some(link), false, false) = (&mut self.link, self.unflushed, self.failed) {
            while let Some(message) = self.items.front() {
                let outcome = link.try_send(message);
                if outcome == TrySend::Busy {
                    break;
                }
                let len = message.len();
                self.items.pop_front();
                self.bytes -= len;
                if outcome == TrySend::Failed {
                    self.failed = true;
                    break;
                }
                sent.messages += 1;
                sent.bytes += len as u64;
                if outcome == TrySend::Partly {
                    self.unflushed = true;
                    break;
                }
            }
        }
        let writer = if self.writer_needed() {
            self.writer.take()
        } else {
            None
        };
        (sent, writer)
    }
}

pub(crate) struct ViewerQueue<L = LinkTx> {
    inner: Mutex<Inner<L>>,
    closed: Notify,
}

impl<L> Default for ViewerQueue<L> {
    fn default() -> Self {
        ViewerQueue {
            inner: Mutex::default(),
            closed: Notify::new(),
        }
    }
}

impl<L: DirectLink> ViewerQueue<L> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<L>> {
        // A poisoned lock only means another task panicked mid-push; the queue is still sound.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a frame (`keyframe` known) or a control message (`None`) and sends it
    /// straight to the link if it is parked; otherwise the writer is woken for it.
    pub fn push(&self, message: Bytes, keyframe: Option<bool>) -> Pushed {
        let mut inner = self.lock();
        let pushed = inner.enqueue(message, keyframe);
        if !matches!(pushed, Pushed::Queued(_)) {
            return pushed;
        }
        let (sent, writer) = inner.send_queued();
        drop(inner);
        wake(writer);
        Pushed::Queued(sent)
    }

    /// Queues a message of a fan-out without sending it or waking anyone: the fan-out
    /// calls [`send_queued`](Self::send_queued) next, outside the session's lock.
    pub fn enqueue(&self, message: Bytes, keyframe: Option<bool>) -> Pushed {
        self.lock().enqueue(message, keyframe)
    }

    /// Sends what is queued straight to the link if it is parked, waking the writer for
    /// whatever it did not take.
    pub fn send_queued(&self) -> Sent {
        let (sent, writer) = self.lock().send_queued();
        wake(writer);
        sent
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

    /// Parks `link` here, where pushes write to it directly, until the writer has work:
    /// then moves everything queued, in order, into the empty `batch` (the writer sends it
    /// with one flush) and hands the link back; or hands it back with the close once the
    /// queue is drained. Swapping buffers with the writer keeps both allocations in use.
    ///
    /// If this future is dropped while waiting, the link stays parked: take it back with
    /// [`unpark`](Self::unpark).
    pub async fn next(&self, link: L, batch: &mut VecDeque<Bytes>) -> Next<L> {
        debug_assert!(batch.is_empty());
        let mut link = Some(link);
        std::future::poll_fn(|cx| {
            let mut inner = self.lock();
            if let Some(link) = link.take() {
                inner.link = Some(link);
            }
            if inner.failed {
                inner.link = None;
                return Poll::Ready(Next::Failed);
            }
            if inner.writer_needed() {
                std::mem::swap(&mut inner.items, batch);
                inner.bytes = 0;
                inner.unflushed = false;
                if let Some(link) = inner.link.take() {
                    return Poll::Ready(Next::Send(link));
                }
                return Poll::Ready(Next::Failed);
            }
            if let Some((code, reason)) = inner.closing {
                return Poll::Ready(match inner.link.take() {
                    Some(link) => Next::Close { link, code, reason },
                    None => Next::Failed,
                });
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

    /// Takes the parked link back (for a keep-alive, or to drop it), if it is parked.
    pub fn unpark(&self) -> Option<L> {
        self.lock().link.take()
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
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    /// A link answering every write with what the test set, noting what it took.
    #[derive(Clone)]
    struct Link {
        answer: Arc<Mutex<TrySend>>,
        taken: Arc<Mutex<Vec<Bytes>>>,
    }

    impl Link {
        fn answering(answer: TrySend) -> Link {
            Link {
                answer: Arc::new(Mutex::new(answer)),
                taken: Arc::default(),
            }
        }

        fn answer(&self, answer: TrySend) {
            *self.answer.lock().unwrap() = answer;
        }

        fn taken(&self) -> Vec<Bytes> {
            self.taken.lock().unwrap().clone()
        }
    }

    impl DirectLink for Link {
        fn try_send(&mut self, message: &Bytes) -> TrySend {
            let answer = *self.answer.lock().unwrap();
            if matches!(answer, TrySend::Sent | TrySend::Partly) {
                self.taken.lock().unwrap().push(message.clone());
            }
            answer
        }
    }

    fn queue() -> ViewerQueue<Link> {
        ViewerQueue::default()
    }

    /// A push's outcome when `sent` one-byte messages went straight to the link.
    fn queued(sent: u64) -> Pushed {
        Pushed::Queued(Sent {
            messages: sent,
            bytes: sent,
        })
    }

    #[test]
    fn full_queue_is_reported_and_resync_replaces_it() {
        let q = queue();
        let big = Bytes::from(vec![0u8; MAX_QUEUE_BYTES / 2]);
        assert_eq!(q.push(big.clone(), Some(true)), queued(0));
        assert_eq!(q.push(big.clone(), Some(false)), queued(0));
        assert_eq!(q.push(Bytes::from_static(b"x"), Some(false)), Pushed::Full);
        assert_eq!(q.resync(vec![Bytes::from_static(b"k")], false), 2);
        assert_eq!(q.queued_bytes(), 1);
    }

    #[test]
    fn awaiting_keyframe_skips_diffs_until_one_arrives() {
        let q = queue();
        q.resync(Vec::new(), true);
        assert_eq!(
            q.push(Bytes::from_static(b"d"), Some(false)),
            Pushed::Skipped
        );
        assert_eq!(q.push(Bytes::from_static(b"c"), None), queued(0));
        assert_eq!(q.push(Bytes::from_static(b"k"), Some(true)), queued(0));
        assert_eq!(q.push(Bytes::from_static(b"d"), Some(false)), queued(0));
    }

    #[tokio::test]
    async fn close_keeps_the_backlog_and_ends_with_the_close() {
        let q = queue();
        q.push(Bytes::from_static(b"a"), Some(true));
        q.close(Some(Bytes::from_static(b"end")), 4000, "ended");
        assert_eq!(q.push(Bytes::from_static(b"b"), None), Pushed::Closed);
        let mut batch = VecDeque::new();
        let Next::Send(link) = q.next(Link::answering(TrySend::Sent), &mut batch).await else {
            panic!("the backlog first");
        };
        assert_eq!(
            batch,
            [Bytes::from_static(b"a"), Bytes::from_static(b"end")]
        );
        batch.clear();
        assert!(matches!(
            q.next(link, &mut batch).await,
            Next::Close { code: 4000, .. }
        ));
        q.closing().await;
    }

    /// Runs a writer that waits for the queue twice; returns what each wait gave.
    fn writer(q: &Arc<ViewerQueue<Link>>, link: Link) -> Writer {
        let q = q.clone();
        tokio::spawn(async move {
            let mut batch = VecDeque::new();
            let mut link = link;
            let mut seen = [String::new(), String::new()];
            for slot in &mut seen {
                *slot = match q.next(link.clone(), &mut batch).await {
                    Next::Send(back) => {
                        link = back;
                        format!("send {}", batch.len())
                    }
                    Next::Close { code, .. } => format!("close {code}"),
                    Next::Failed => "failed".into(),
                };
                batch.clear();
            }
            seen
        })
    }

    /// Waits (yielding) until the writer has parked its link.
    async fn parked(q: &ViewerQueue<Link>) {
        while q.lock().link.is_none() {
            tokio::task::yield_now().await;
        }
    }

    type Writer = tokio::task::JoinHandle<[String; 2]>;

    /// A queue whose writer has parked a link that answers `answer`.
    async fn parked_writer(answer: TrySend) -> (Arc<ViewerQueue<Link>>, Link, Writer) {
        let q = Arc::new(queue());
        let link = Link::answering(answer);
        let writer = writer(&q, link.clone());
        parked(&q).await;
        (q, link, writer)
    }

    /// What the writer's two waits gave, once it is done.
    async fn joined(writer: Writer) -> [String; 2] {
        let seen = tokio::time::timeout(Duration::from_secs(10), writer).await;
        seen.expect("the writer was woken").unwrap()
    }

    /// Closes the queue, then [`joined`].
    async fn closed(q: &ViewerQueue<Link>, writer: Writer) -> [String; 2] {
        q.close(None, 4000, "ended");
        joined(writer).await
    }

    #[tokio::test]
    async fn a_push_to_an_idle_link_writes_to_it_without_waking_the_writer() {
        let (q, link, writer) = parked_writer(TrySend::Sent).await;
        assert_eq!(q.push(Bytes::from_static(b"k"), Some(true)), queued(1));
        assert_eq!(q.push(Bytes::from_static(b"d"), Some(false)), queued(1));
        assert_eq!(link.taken(), [b"k", b"d"].map(|m| Bytes::from_static(m)));
        assert!(q.lock().writer.is_some(), "the writer still waits");
        // A busy link: the push queues and wakes the writer, which sends it.
        link.answer(TrySend::Busy);
        assert_eq!(q.push(Bytes::from_static(b"b"), None), queued(0));
        parked(&q).await;
        assert_eq!(closed(&q, writer).await, ["send 1", "close 4000"]);
    }

    #[tokio::test]
    async fn a_part_written_message_wakes_the_writer_to_flush_it_before_anything_else() {
        let (q, link, writer) = parked_writer(TrySend::Partly).await;
        assert_eq!(q.push(Bytes::from_static(b"k"), Some(true)), queued(1));
        // Until the writer flushed, nothing more goes straight to the link.
        link.answer(TrySend::Sent);
        assert_eq!(q.push(Bytes::from_static(b"d"), Some(false)), queued(0));
        assert_eq!(link.taken(), [Bytes::from_static(b"k")]);
        // The flush and the queued diff in one batch, then the close.
        assert_eq!(closed(&q, writer).await, ["send 1", "close 4000"]);
    }

    #[tokio::test]
    async fn a_fan_out_queues_first_and_sends_in_order_after() {
        let (q, link, writer) = parked_writer(TrySend::Sent).await;
        assert_eq!(q.enqueue(Bytes::from_static(b"k"), Some(true)), queued(0));
        assert_eq!(q.enqueue(Bytes::from_static(b"d"), Some(false)), queued(0));
        assert!(link.taken().is_empty(), "nothing is sent while queueing");
        let two = Sent {
            messages: 2,
            bytes: 2,
        };
        assert_eq!(q.send_queued(), two);
        assert_eq!(link.taken(), [b"k", b"d"].map(|m| Bytes::from_static(m)));
        assert!(q.lock().writer.is_some(), "the writer still waits");
        assert_eq!(closed(&q, writer).await, ["close 4000", "close 4000"]);
    }

    #[tokio::test]
    async fn a_failed_write_ends_the_writer() {
        let (q, _, writer) = parked_writer(TrySend::Failed).await;
        assert_eq!(q.push(Bytes::from_static(b"k"), Some(true)), queued(0));
        assert_eq!(joined(writer).await, ["failed", "failed"]);
    }

    #[tokio::test]
    async fn next_takes_everything_queued_in_order() {
        let q = queue();
        q.push(Bytes::from_static(b"k"), Some(true));
        q.push(Bytes::from_static(b"c"), None);
        q.push(Bytes::from_static(b"d"), Some(false));
        let mut batch = VecDeque::new();
        let next = q.next(Link::answering(TrySend::Sent), &mut batch).await;
        assert!(matches!(next, Next::Send(_)));
        let expected = [b"k", b"c", b"d"].map(|m| Bytes::from_static(m));
        assert_eq!(batch, expected);
        assert_eq!(q.queued_bytes(), 0);
        assert_eq!(q.push(Bytes::from_static(b"e"), Some(false)), queued(0));
        assert_eq!(q.queued_bytes(), 1);
    }
}
