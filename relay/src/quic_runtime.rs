//! Tokio as quinn's runtime, with a driver that wakes itself polled again at once.
//!
//! quinn's endpoint task handles received packets for at most 50 us per poll, then wakes
//! itself and returns, so that the connection tasks it has just woken get a turn. After a
//! quiet spell that budget is spent on one cold packet: a host's single update. Tokio takes
//! a task woken from its own poll as a yield: it goes to the back of the queue, and a parked
//! worker is woken (`futex`) to steal it. That worker then takes a core on a busy machine
//! while the update goes on, and finds only an empty socket. Here such a task is polled
//! once more in the same turn, after the tasks it woke are queued (tokio runs the last of
//! them next, on this worker): an empty socket ends the turn without a yield. A driver that
//! still has work after the second poll yields as before, so its share of a worker is at
//! most two budgets.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use futures::task::AtomicWaker;
use quinn::{AsyncTimer, AsyncUdpSocket, Runtime, TokioRuntime};

/// Polls of a task in one turn before a wake from itself is left to tokio.
const POLLS_PER_TURN: usize = 2;

/// [`TokioRuntime`], whose spawned tasks are [`Folded`].
#[derive(Debug)]
pub(crate) struct FoldedYields;

impl Runtime for FoldedYields {
    fn new_timer(&self, deadline: Instant) -> Pin<Box<dyn AsyncTimer>> {
        TokioRuntime.new_timer(deadline)
    }

    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) {
        TokioRuntime.spawn(Box::pin(Folded::new(future)));
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        TokioRuntime.wrap_udp_socket(socket)
    }

    fn now(&self) -> Instant {
        TokioRuntime.now()
    }
}

/// A task whose wakes during its own poll are noted rather than passed to tokio.
struct Folded {
    task: Pin<Box<dyn Future<Output = ()> + Send>>,
    wakes: Arc<Wakes>,
    waker: Waker,
}

impl Folded {
    fn new(task: Pin<Box<dyn Future<Output = ()> + Send>>) -> Self {
        let wakes = Arc::new(Wakes::default());
        let waker = Waker::from(wakes.clone());
        Self { task, wakes, waker }
    }
}

impl Future for Folded {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        this.wakes.tokio.register(cx.waker());
        let mut inner = Context::from_waker(&this.waker);
        for _ in 0..POLLS_PER_TURN {
            this.wakes.woken.store(false, Ordering::SeqCst);
            this.wakes.polling.store(true, Ordering::SeqCst);
            let polled = this.task.as_mut().poll(&mut inner);
            this.wakes.polling.store(false, Ordering::SeqCst);
            if polled.is_ready() {
                return Poll::Ready(());
            }
            // A wake from another thread that lands between the two stores above is both
            // passed on and seen here: one spare poll, never a lost wake.
            if !this.wakes.woken.load(Ordering::SeqCst) {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// What a [`Folded`] task's waker records.
#[derive(Default)]
struct Wakes {
    /// Tokio's waker for the task.
    tokio: AtomicWaker,
    /// The task is being polled: a wake now is seen when the poll returns.
    polling: AtomicBool,
    /// Woken since the current poll began.
    woken: AtomicBool,
}

impl Wake for Wakes {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        if !self.polling.load(Ordering::SeqCst) {
            self.tokio.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// Counts the wakes tokio would have been given.
    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A task that wakes itself on each of its first `yields` polls, as quinn's drivers do
    /// when their budget runs out, then finishes. Counts its polls.
    fn yielding(yields: usize, polls: Arc<AtomicUsize>) -> Folded {
        Folded::new(Box::pin(std::future::poll_fn(move |cx| {
            if polls.fetch_add(1, Ordering::SeqCst) < yields {
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })))
    }

    fn poll_once(task: &mut Folded, tokio: &Arc<Count>) -> Poll<()> {
        let waker = Waker::from(tokio.clone());
        Pin::new(task).poll(&mut Context::from_waker(&waker))
    }

    #[test]
    fn a_task_that_woke_itself_is_polled_again_in_the_same_turn() {
        let (polls, tokio) = (Arc::new(AtomicUsize::new(0)), Arc::new(Count::default()));
        let mut task = yielding(1, polls.clone());
        assert_eq!(poll_once(&mut task, &tokio), Poll::Ready(()));
        assert_eq!(polls.load(Ordering::SeqCst), 2);
        assert_eq!(tokio.0.load(Ordering::SeqCst), 0, "no yield reached tokio");
    }

    #[test]
    fn a_task_still_busy_after_its_second_poll_yields_to_tokio() {
        let (polls, tokio) = (Arc::new(AtomicUsize::new(0)), Arc::new(Count::default()));
        let mut task = yielding(usize::MAX, polls.clone());
        assert_eq!(poll_once(&mut task, &tokio), Poll::Pending);
        assert_eq!(polls.load(Ordering::SeqCst), POLLS_PER_TURN);
        assert_eq!(tokio.0.load(Ordering::SeqCst), 1, "the yield is kept");
        assert_eq!(poll_once(&mut task, &tokio), Poll::Pending);
        assert_eq!(polls.load(Ordering::SeqCst), 2 * POLLS_PER_TURN);
        assert_eq!(tokio.0.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_wake_after_the_turn_reaches_tokio() {
        let (polls, tokio) = (Arc::new(AtomicUsize::new(0)), Arc::new(Count::default()));
        let stored = Arc::new(std::sync::Mutex::new(None::<Waker>));
        let keep = stored.clone();
        let mut task = Folded::new(Box::pin(std::future::poll_fn(move |cx| {
            polls.fetch_add(1, Ordering::SeqCst);
            *keep.lock().unwrap() = Some(cx.waker().clone());
            Poll::<()>::Pending
        })));
        assert_eq!(poll_once(&mut task, &tokio), Poll::Pending);
        assert_eq!(
            tokio.0.load(Ordering::SeqCst),
            0,
            "a task waiting is not woken"
        );
        let waker = stored
            .lock()
            .unwrap()
            .take()
            .expect("the task kept its waker");
        std::thread::spawn(move || waker.wake()).join().unwrap();
        assert_eq!(tokio.0.load(Ordering::SeqCst), 1, "the wake was passed on");
    }
}
