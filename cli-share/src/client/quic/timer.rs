//! Tokio as quinn's runtime, with a connection timer that never wakes the host for a
//! deadline it no longer has.
//!
//! Tokio moves a timer to a later deadline lazily: the entry stays in its wheel slot, and
//! the runtime wakes at the old deadline only to find it moved. quinn's connection timer
//! moves later on nearly every packet (a frame sent pushes the loss-probe deadline on; the
//! relay's acknowledgement ends it, leaving the idle timeout 30 s away), so without this a
//! host sleeping between two screen updates woke once per update, a few milliseconds after
//! each acknowledgement, for nothing (`strace`: one `epoll_wait` timing out per frame).
//! Here a timer moved later is replaced: the old entry leaves the wheel at once.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use quinn::{AsyncTimer, AsyncUdpSocket, Runtime, TokioRuntime};
use tokio::time::{Sleep, sleep_until};

/// [`TokioRuntime`] with [`ExactTimer`]s.
#[derive(Debug)]
pub(crate) struct ExactTimers;

impl Runtime for ExactTimers {
    fn new_timer(&self, deadline: Instant) -> Pin<Box<dyn AsyncTimer>> {
        Box::pin(ExactTimer {
            sleep: Box::pin(sleep_until(deadline.into())),
            deadline,
        })
    }

    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) {
        TokioRuntime.spawn(future);
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        TokioRuntime.wrap_udp_socket(socket)
    }

    fn now(&self) -> Instant {
        TokioRuntime.now()
    }
}

/// A tokio timer that is replaced, not extended, when its deadline moves later.
struct ExactTimer {
    sleep: Pin<Box<Sleep>>,
    deadline: Instant,
}

impl AsyncTimer for ExactTimer {
    fn reset(mut self: Pin<&mut Self>, deadline: Instant) {
        if deadline > self.deadline {
            // In place: the old entry is dropped (out of the wheel), no allocation.
            self.sleep.set(sleep_until(deadline.into()));
        } else {
            // Earlier: tokio moves the entry in its wheel.
            self.sleep.as_mut().reset(deadline.into());
        }
        self.deadline = deadline;
    }

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context) -> Poll<()> {
        Future::poll(self.sleep.as_mut(), cx)
    }
}

impl fmt::Debug for ExactTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExactTimer")
            .field("deadline", &self.deadline)
            .finish()
    }
}
