//! Viewer joins and leaves, told to the host and to the viewers at most a few times a second
//! per session: a read link opened in a loop must not become a storm of messages to
//! everyone. The first changes go at once; past the bucket, the latest change waits for the
//! next token and carries the viewer count of that moment, so the count is always right
//! and only individual join and leave notices are merged.

use std::time::{Duration, Instant};

use protocol::{Mode, Transport};
use serde::{Deserialize, Serialize};

use crate::bucket::TokenBucket;

/// Notices a session may send in a burst, then per second.
const BURST: u32 = 5;
const PER_SECOND: u32 = 4;

/// A change in a session's viewers (told to other nodes of a cluster too).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Change {
    Joined {
        viewer: u64,
        mode: Mode,
        transport: Transport,
    },
    Left {
        viewer: u64,
    },
}

/// What to do about a change.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Notice {
    /// Tell everyone now.
    Now(Change),
    /// Held; call [`Notices::flush`] after this long (`None`: a flush is already due).
    Later(Option<Duration>),
}

pub(crate) struct Notices {
    bucket: TokenBucket,
    pending: Option<Change>,
    flush_due: bool,
}

impl Default for Notices {
    fn default() -> Self {
        Notices {
            bucket: TokenBucket::full(BURST, Instant::now()),
            pending: None,
            flush_due: false,
        }
    }
}

impl Notices {
    pub fn changed(&mut self, change: Change, now: Instant) -> Notice {
        if self.pending.is_none() && self.bucket.take(PER_SECOND, BURST, now) {
            return Notice::Now(change);
        }
        self.pending = Some(change);
        if self.flush_due {
            return Notice::Later(None);
        }
        self.flush_due = true;
        Notice::Later(Some(self.bucket.wait(PER_SECOND, BURST, now)))
    }

    /// The held change to tell now, or how long until it may go.
    pub fn flush(&mut self, now: Instant) -> Result<Option<Change>, Duration> {
        if self.pending.is_none() {
            self.flush_due = false;
            return Ok(None);
        }
        if !self.bucket.take(PER_SECOND, BURST, now) {
            return Err(self.bucket.wait(PER_SECOND, BURST, now));
        }
        self.flush_due = false;
        Ok(self.pending.take())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn left(viewer: u64) -> Change {
        Change::Left { viewer }
    }

    #[test]
    fn a_loop_of_changes_is_told_a_few_times_a_second() {
        let start = Instant::now();
        let mut notices = Notices::default();
        for viewer in 0..u64::from(BURST) {
            assert_eq!(
                notices.changed(left(viewer), start),
                Notice::Now(left(viewer))
            );
        }
        let Notice::Later(Some(delay)) = notices.changed(left(10), start) else {
            panic!("the sixth change waits");
        };
        assert_eq!(delay, Duration::from_millis(250));
        for viewer in 11..1000 {
            assert_eq!(notices.changed(left(viewer), start), Notice::Later(None));
        }
        assert_eq!(notices.flush(start), Err(delay));
        let due = start + delay;
        assert_eq!(notices.flush(due), Ok(Some(left(999))), "the latest change");
        // Quiet again: the next change is held until a token is back, then told at once.
        assert_eq!(notices.changed(left(1000), due), Notice::Later(Some(delay)));
        assert_eq!(notices.flush(due + delay), Ok(Some(left(1000))));
        let later = due + Duration::from_secs(10);
        assert_eq!(notices.changed(left(1001), later), Notice::Now(left(1001)));
    }
}
