//! A TCP stream (or TLS over one) that fails when its peer stalls: a read that has had no
//! byte from the peer for the idle timeout, or a write blocked for the write timeout. It
//! sits under hyper and stays under the WebSocket after an upgrade, so every response and
//! every WebSocket is bounded, and a client that never reads is dropped instead of holding
//! its socket and task forever. A WebTransport viewer's send stream gets the write timeout
//! the same way (QUIC's keep-alives already tell a dead peer, not one that stopped reading).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Counts of connections dropped by each timeout.
#[derive(Default)]
pub(crate) struct Stalls {
    pub idle: AtomicU64,
    pub write: AtomicU64,
}

/// One direction's timer: armed when an operation has to wait, pushed back on progress.
struct Timer {
    limit: Duration,
    sleep: Pin<Box<Sleep>>,
    armed: bool,
}

impl Timer {
    fn new(limit: Duration) -> Self {
        Timer {
            limit,
            sleep: Box::pin(tokio::time::sleep(limit)),
            armed: false,
        }
    }

    fn progressed(&mut self) {
        self.armed = false;
    }

    /// Called when the operation is pending: true once the limit has passed.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.armed {
            self.sleep.as_mut().reset(Instant::now() + self.limit);
            self.armed = true;
        }
        self.sleep.as_mut().poll(cx).is_ready()
    }

    /// Passes on what an operation's poll gave, or the stall once it waited too long.
    fn guard<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
        stalled: impl FnOnce() -> io::Error,
    ) -> Poll<io::Result<T>> {
        match polled {
            Poll::Ready(result) => {
                self.progressed();
                Poll::Ready(result)
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(stalled())),
            Poll::Pending => Poll::Pending,
        }
    }
}

pub(crate) struct Deadline<I> {
    inner: I,
    read: Timer,
    write: Timer,
    stalls: Arc<Stalls>,
}

impl<I> Deadline<I> {
    pub fn new(inner: I, idle: Duration, write: Duration, stalls: Arc<Stalls>) -> Self {
        Deadline {
            inner,
            read: Timer::new(idle),
            write: Timer::new(write),
            stalls,
        }
    }

    pub fn into_inner(self) -> I {
        self.inner
    }
}

fn stalled(counter: &AtomicU64, what: &str) -> io::Error {
    counter.fetch_add(1, Ordering::Relaxed);
    io::Error::new(io::ErrorKind::TimedOut, format!("peer stalled: {what}"))
}

impl<I: AsyncRead + Unpin> AsyncRead for Deadline<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        let stalls = &this.stalls;
        this.read
            .guard(cx, polled, || stalled(&stalls.idle, "nothing read"))
    }
}

impl<I: AsyncWrite + Unpin> Deadline<I> {
    fn poll_timed<T>(
        &mut self,
        cx: &mut Context<'_>,
        op: impl FnOnce(Pin<&mut I>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        let polled = op(Pin::new(&mut self.inner), cx);
        let stalls = &self.stalls;
        self.write
            .guard(cx, polled, || stalled(&stalls.write, "write blocked"))
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Deadline<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_timed(cx, |io, cx| io.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_timed(cx, |io, cx| io.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_timed(cx, |io, cx| io.poll_flush(cx))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_timed(cx, |io, cx| io.poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn pair(
        idle: Duration,
        write: Duration,
    ) -> (
        Deadline<tokio::io::DuplexStream>,
        tokio::io::DuplexStream,
        Arc<Stalls>,
    ) {
        let (ours, theirs) = tokio::io::duplex(64);
        let stalls = Arc::new(Stalls::default());
        (
            Deadline::new(ours, idle, write, stalls.clone()),
            theirs,
            stalls,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_times_out_and_a_talking_one_does_not() {
        let (mut ours, mut theirs, stalls) = pair(Duration::from_secs(60), Duration::from_secs(30));
        let mut byte = [0u8; 1];
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_secs(50)).await;
            theirs.write_all(b"x").await.unwrap();
            ours.read_exact(&mut byte).await.unwrap();
        }
        let error = ours.read(&mut byte).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(stalls.idle.load(Ordering::Relaxed), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_never_reads_fails_the_write() {
        let (mut ours, _theirs, stalls) = pair(Duration::from_secs(60), Duration::from_secs(30));
        let started = Instant::now();
        let error = ours.write_all(&[0u8; 1024]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(30));
        assert_eq!(stalls.write.load(Ordering::Relaxed), 1);
    }
}
