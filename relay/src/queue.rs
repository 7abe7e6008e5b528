//! A viewer's bounded send queue, and the viewer's link while its writer is idle. Pushing
//! never waits: the host's frame handling fills every viewer's queue synchronously, and a
//! viewer that cannot keep up is resynchronised from the retained keyframe instead of
//! buffering without end.
//!
//! A viewer that joins, or whose queue overflows, catches up from a snapshot of the session
//! (the count, the away state, the retained keyframe and diffs), which its own writer takes
//! when it next sends ([`Next::CatchUp`]). An overflow only drops what is queued and marks
//! the queue: building the snapshot in the host's frame handling cost a copy of every
//! retained message's handle per stalled viewer per frame, under the session's lock. The
//! snapshot goes straight into the writer's batch, so the queue's bounds count only live
//! messages: a snapshot larger than them (a long scrollback, many retained diffs) no
//! longer overflows the queue at the next push, which lost a joiner its welcome.
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
    /// The queue was full: the messages it held (this many) were dropped, and the viewer's
    /// writer catches up from a snapshot of the session when it next sends.
    Overflowed(usize),
    /// A frame the viewer does not get as it came: it waits for the next keyframe, or for
    /// the snapshot its queue's overflow called for.
    Skipped,
    /// A frame for a viewer that just joined and has yet to take its first snapshot, which
    /// holds the frame (or a keyframe after it).
    Deferred,
    /// The viewer is being closed.
    Closed,
}

/// Why a viewer's writer must take a snapshot of the session before it sends anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CatchUp {
    /// The viewer just joined: its welcome, queued first, is never dropped.
    Join,
    /// Its queue overflowed and was dropped.
    Overflow,
}

/// Next thing the viewer's writer must do, with the link it takes back from the queue.
pub(crate) enum Next<L = LinkTx> {
    /// Send the batch [`ViewerQueue::next`] filled (possibly empty: only finish the flush
    /// of a message the link took in part).
    Send(L),
    /// Take a snapshot of the session, which [`ViewerQueue::catch_up`] puts in the batch
    /// after what was queued meanwhile, then send the batch.
    CatchUp(L),
    Close {
        link: L,
        code: u16,
        reason: &'static str,
    },
    /// A write straight to the link failed: the viewer is gone.
    Failed,
}

struct Inner<L> {
    /// Live messages, in order: the bounds apply to these (a snapshot never lands here).
    items: VecDeque<Bytes>,
    bytes: usize,
    awaiting_keyframe: bool,
    /// The writer must take a snapshot of the session before anything else is sent; until
    /// then frames are not queued (the snapshot holds them), control messages are.
    catch_up: Option<CatchUp>,
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
            catch_up: None,
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
        !self.items.is_empty() || self.catch_up.is_some() || self.unflushed || self.failed
    }

    /// Checks a message against the close, the catch-up and the wait for a keyframe, then
    /// queues it, or drops the queue if it is full.
    fn enqueue(&mut self, message: Bytes, keyframe: Option<bool>) -> Pushed {
        if self.closing.is_some() {
            return Pushed::Closed;
        }
        match (keyframe, self.catch_up) {
            // The session retained the frame before pushing it: the snapshot the writer
            // takes next holds it, or a keyframe after it.
            (Some(_), Some(CatchUp::Join)) => return Pushed::Deferred,
            (Some(_), Some(CatchUp::Overflow)) => return Pushed::Skipped,
            (Some(false), None) if self.awaiting_keyframe => return Pushed::Skipped,
            (Some(true), None) => self.awaiting_keyframe = false,
            _ => {}
        }
        if self.bytes + message.len() > MAX_QUEUE_BYTES || self.items.len() >= MAX_QUEUE_MESSAGES {
            return Pushed::Overflowed(self.overflow());
        }
        self.bytes += message.len();
        self.items.push_back(message);
        Pushed::Queued(Sent::default())
    }

    /// Drops what is queued, but a welcome not yet sent, and has the writer catch up from a
    /// snapshot; returns how many messages were dropped. Nothing here costs more than the
    /// drop: the host's frame handling calls this, for every viewer that falls behind.
    fn overflow(&mut self) -> usize {
        let welcome = match self.catch_up {
            Some(CatchUp::Join) => self.items.pop_front(),
            _ => None,
        };
        let dropped = self.items.len();
        self.items.clear();
        self.bytes = 0;
        if let Some(welcome) = welcome {
            self.bytes = welcome.len();
            self.items.push_back(welcome);
        }
        self.catch_up.get_or_insert(CatchUp::Overflow);
        dropped
    }

    /// Writes what is queued straight to the parked link, in order, until it takes no
    /// more; then the writer, if it has something left to do, is returned to be woken.
    fn send_queued(&mut self) -> (Sent, Option<Waker>) {
        let mut sent = Sent::default();
        // Not before a catch-up: the snapshot must come first (after a joiner's welcome).
        if let (Some(link), false, false, None) =
            (&mut self.link, self.unflushed, self.failed, self.catch_up)
        {
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

    /// Starts the new queue of a viewer that just joined: `welcome` first, then the
    /// snapshot its writer takes (see [`catch_up`](Self::catch_up)).
    pub fn join(&self, welcome: Bytes) {
        let mut inner = self.lock();
        debug_assert!(inner.items.is_empty() && inner.catch_up.is_none());
        inner.bytes += welcome.len();
        inner.items.push_back(welcome);
        inner.catch_up = Some(CatchUp::Join);
    }

    /// Queues a frame (`keyframe` known) or a control message (`None`) and sends it
    /// straight to the link if it is parked; otherwise the writer is woken for it.
    pub fn push(&self, message: Bytes, keyframe: Option<bool>) -> Pushed {
        let mut inner = self.lock();
        let (pushed, writer) = match inner.enqueue(message, keyframe) {
            Pushed::Queued(_) => {
                let (sent, writer) = inner.send_queued();
                (Pushed::Queued(sent), writer)
            }
            overflowed @ Pushed::Overflowed(_) => (overflowed, inner.writer.take()),
            other => (other, None),
        };
        drop(inner);
        wake(writer);
        pushed
    }

    /// Queues a message of a fan-out without sending it: the fan-out calls
    /// [`send_queued`](Self::send_queued) next, outside the session's lock. Only an
    /// overflow wakes the writer, which the fan-out does not send to, for its catch-up.
    pub fn enqueue(&self, message: Bytes, keyframe: Option<bool>) -> Pushed {
        let mut inner = self.lock();
        let pushed = inner.enqueue(message, keyframe);
        let writer = match pushed {
            Pushed::Overflowed(_) => inner.writer.take(),
            _ => None,
        };
        drop(inner);
        wake(writer);
        pushed
    }

    /// Sends what is queued straight to the link if it is parked, waking the writer for
    /// whatever it did not take.
    pub fn send_queued(&self) -> Sent {
        let (sent, writer) = self.lock().send_queued();
        wake(writer);
        sent
    }

    /// Whether the writer has yet to take the snapshot a join or an overflow called for.
    pub fn catching_up(&self) -> bool {
        self.lock().catch_up.is_some()
    }

    /// Ends a catch-up with `snapshot`, taken under the session's lock so that every frame
    /// is either in it or pushed after this: moves what was queued meanwhile (a joiner's
    /// welcome, control messages), then the snapshot, into the writer's empty `batch`.
    /// `awaiting_keyframe` says the snapshot has no keyframe: diffs are skipped until one
    /// comes. The snapshot shares the session's retained buffers (bounded by
    /// [`crate::retention`]) and is not counted against the queue's bounds, which are on
    /// live messages: a viewer holds at most one snapshot, the one its writer is sending.
    pub fn catch_up(
        &self,
        snapshot: Vec<Bytes>,
        awaiting_keyframe: bool,
        batch: &mut VecDeque<Bytes>,
    ) {
        let mut inner = self.lock();
        // Closed meanwhile: what is queued goes out with the close.
        if inner.catch_up.take().is_none() {
            return;
        }
        batch.append(&mut inner.items);
        inner.bytes = 0;
        batch.extend(snapshot);
        inner.awaiting_keyframe = awaiting_keyframe;
    }

    /// Skips diffs from now until a keyframe comes, keeping what is queued (a replica in a
    /// cluster that lost its place in the stream resyncs its viewers this way).
    pub fn skip_until_keyframe(&self) {
        self.lock().awaiting_keyframe = true;
    }

    /// Queues `last` after what is queued, and then the close with `code`: a viewer a frame
    /// behind still gets the final screen (one yet to catch up gets it if the caller puts
    /// a snapshot in `last`). The writer gives a viewer that stopped reading a bounded time
    /// to take it all.
    pub fn close(&self, last: impl IntoIterator<Item = Bytes>, code: u16, reason: &'static str) {
        let mut inner = self.lock();
        if inner.closing.is_some() {
            return;
        }
        for last in last {
            inner.bytes += last.len();
            inner.items.push_back(last);
        }
        inner.catch_up = None;
        inner.closing = Some((code, reason));
        let writer = inner.writer.take();
        drop(inner);
        wake(writer);
        self.closed.notify_one();
    }

    /// Parks `link` here, where pushes write to it directly, until the writer has work:
    /// then moves everything queued, in order, into the empty `batch` (the writer sends it
    /// with one flush) and hands the link back; or hands it back for a catch-up; or with
    /// the close once the queue is drained. Swapping buffers with the writer keeps both
    /// allocations in use.
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
            // The snapshot is the session's, whose lock comes before this one: the writer
            // takes it with the link in hand.
            if inner.catch_up.is_some() {
                inner.unflushed = false;
                return Poll::Ready(match inner.link.take() {
                    Some(link) => Next::CatchUp(link),
                    None => Next::Failed,
                });
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

    /// The queue of a viewer that just joined.
    fn joining() -> ViewerQueue<Link> {
        let q = queue();
        q.join(Bytes::from_static(b"welcome"));
        q
    }

    fn messages(names: &[&'static str]) -> Vec<Bytes> {
        names
            .iter()
            .map(|m| Bytes::from_static(m.as_bytes()))
            .collect()
    }

    /// Waits for the writer's next step, which must be a catch-up; hands the link back.
    async fn next_is_catch_up(q: &ViewerQueue<Link>, batch: &mut VecDeque<Bytes>) -> Link {
        match q.next(Link::answering(TrySend::Sent), batch).await {
            Next::CatchUp(link) => link,
            _ => panic!("expected a catch-up"),
        }
    }

    #[tokio::test]
    async fn an_overflow_drops_the_queue_and_the_writer_catches_up_from_a_snapshot() {
        let q = queue();
        let big = Bytes::from(vec![0u8; MAX_QUEUE_BYTES / 2]);
        assert_eq!(q.push(big.clone(), Some(true)), queued(0));
        assert_eq!(q.push(big.clone(), Some(false)), queued(0));
        assert_eq!(
            q.push(Bytes::from_static(b"x"), Some(false)),
            Pushed::Overflowed(2)
        );
        assert_eq!(q.queued_bytes(), 0);
        // Until the writer catches up, frames are left to the snapshot (which holds them
        // or a keyframe after them): no second overflow, whatever comes.
        for _ in 0..2 * MAX_QUEUE_MESSAGES {
            assert_eq!(q.push(big.clone(), Some(false)), Pushed::Skipped);
        }
        assert_eq!(
            q.push(Bytes::from_static(b"k"), Some(true)),
            Pushed::Skipped
        );
        assert_eq!(q.push(Bytes::from_static(b"c"), None), queued(0));
        let mut batch = VecDeque::new();
        next_is_catch_up(&q, &mut batch).await;
        assert!(batch.is_empty(), "the writer takes the snapshot itself");
        q.catch_up(messages(&["count", "k2", "d2"]), false, &mut batch);
        assert_eq!(batch, messages(&["c", "count", "k2", "d2"]));
        assert!(!q.catching_up());
        // Live again.
        assert_eq!(q.push(Bytes::from_static(b"d3"), Some(false)), queued(0));
    }

    #[tokio::test]
    async fn a_snapshot_is_not_counted_against_the_bounds_of_live_messages() {
        let q = joining();
        let mut batch = VecDeque::new();
        next_is_catch_up(&q, &mut batch).await;
        // A keyframe and a scrollback over the byte bound, and more diffs than the count.
        let mut snapshot = vec![Bytes::from(vec![0u8; MAX_QUEUE_BYTES + 1])];
        snapshot.extend((0..MAX_QUEUE_MESSAGES + 1).map(|_| Bytes::from_static(b"d")));
        q.catch_up(snapshot, false, &mut batch);
        assert_eq!(batch.len(), MAX_QUEUE_MESSAGES + 3);
        assert_eq!(batch[0], Bytes::from_static(b"welcome"));
        assert_eq!(q.queued_bytes(), 0);
        // The viewer's writer is busy sending it: live messages queue up to the bounds.
        for _ in 0..MAX_QUEUE_MESSAGES {
            assert_eq!(q.push(Bytes::from_static(b"l"), Some(false)), queued(0));
        }
        assert_eq!(
            q.push(Bytes::from_static(b"l"), Some(false)),
            Pushed::Overflowed(MAX_QUEUE_MESSAGES)
        );
    }

    #[tokio::test]
    async fn an_overflow_before_the_first_catch_up_keeps_the_welcome() {
        let q = joining();
        // The joiner's first screen comes with the snapshot: frames are not skipped.
        assert_eq!(
            q.push(Bytes::from_static(b"d"), Some(false)),
            Pushed::Deferred
        );
        let mut pushed = queued(0);
        while pushed == queued(0) {
            pushed = q.push(Bytes::from_static(b"n"), None);
        }
        assert_eq!(pushed, Pushed::Overflowed(MAX_QUEUE_MESSAGES - 1));
        let mut batch = VecDeque::new();
        next_is_catch_up(&q, &mut batch).await;
        // A snapshot without a keyframe: diffs wait for the next one.
        q.catch_up(messages(&["count"]), true, &mut batch);
        assert_eq!(batch, messages(&["welcome", "count"]));
        assert_eq!(
            q.push(Bytes::from_static(b"d"), Some(false)),
            Pushed::Skipped
        );
        assert_eq!(q.push(Bytes::from_static(b"k"), Some(true)), queued(0));
    }

    #[tokio::test]
    async fn a_close_ends_a_catch_up_with_what_the_session_puts_last() {
        let q = joining();
        q.close(messages(&["k", "end"]), 4000, "ended");
        assert!(!q.catching_up());
        let mut batch = VecDeque::new();
        let Next::Send(link) = q.next(Link::answering(TrySend::Sent), &mut batch).await else {
            panic!("the backlog first");
        };
        assert_eq!(batch, messages(&["welcome", "k", "end"]));
        batch.clear();
        assert!(matches!(
            q.next(link, &mut batch).await,
            Next::Close { code: 4000, .. }
        ));
    }

    #[test]
    fn awaiting_keyframe_skips_diffs_until_one_arrives() {
        let q = queue();
        q.skip_until_keyframe();
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
                    Next::CatchUp(back) => {
                        link = back;
                        q.catch_up(Vec::new(), false, &mut batch);
                        format!("catch up, send {}", batch.len())
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
    async fn an_overflow_wakes_the_writer_to_catch_up() {
        let (q, link, writer) = parked_writer(TrySend::Sent).await;
        // A fan-out queues without waking anyone; the overflow must wake the writer, since
        // the fan-out only sends to the queues that took the frame.
        for _ in 0..MAX_QUEUE_MESSAGES {
            assert_eq!(q.enqueue(Bytes::from_static(b"d"), Some(false)), queued(0));
        }
        assert_eq!(
            q.enqueue(Bytes::from_static(b"d"), Some(false)),
            Pushed::Overflowed(MAX_QUEUE_MESSAGES)
        );
        while q.catching_up() {
            tokio::task::yield_now().await;
        }
        parked(&q).await;
        assert_eq!(closed(&q, writer).await, ["catch up, send 0", "close 4000"]);
        assert!(link.taken().is_empty(), "nothing went straight to the link");
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
