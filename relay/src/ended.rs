//! Sessions that ended here recently, remembered so that a link to one is told "the
//! session ended" rather than "no such session". Bounded in count and in time: each is
//! remembered for `--link-ttl` after it ended (every link to it that has not expired was
//! issued before the end, so it expires within that time, and then says so), at most
//! [`MAX_ENDED`] of them, the oldest forgotten first. A restarted relay remembers none.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use protocol::EndReason;

/// Ended sessions remembered at most: about 130 bytes each (the id once, shared by the map
/// and the queue, two clocks' instants and the reason), so about 8.5 MB when full.
pub const MAX_ENDED: usize = 65_536;

/// How a session ended, as its links are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ending {
    pub at: SystemTime,
    pub reason: EndReason,
}

pub(crate) struct EndedSessions {
    remember_for: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    by_id: HashMap<Arc<str>, Ending>,
    /// Oldest first, with when each ended on the monotonic clock.
    order: VecDeque<(Arc<str>, Instant)>,
}

impl EndedSessions {
    pub fn new(remember_for: Duration) -> EndedSessions {
        EndedSessions {
            remember_for,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The hook where a session ends; how it ended, as remembered.
    pub fn remember(&self, id: &str, reason: EndReason) -> Ending {
        let now = Instant::now();
        let mut state = self.lock();
        state.forget_before(now.checked_sub(self.remember_for));
        let id: Arc<str> = Arc::from(id);
        let ending = Ending {
            at: SystemTime::now(),
            reason,
        };
        if state.by_id.insert(id.clone(), ending).is_none() {
            state.order.push_back((id, now));
        }
        while state.order.len() > MAX_ENDED {
            state.forget_oldest();
        }
        ending
    }

    /// How the session `id` ended, if it ended here within the time remembered.
    pub fn get(&self, id: &str) -> Option<Ending> {
        let mut state = self.lock();
        state.forget_before(Instant::now().checked_sub(self.remember_for));
        state.by_id.get(id).copied()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().order.len()
    }
}

impl State {
    /// Forgets the sessions that ended before `horizon` (none when it is before the
    /// monotonic clock's start).
    fn forget_before(&mut self, horizon: Option<Instant>) {
        let Some(horizon) = horizon else { return };
        while self
            .order
            .front()
            .is_some_and(|(_, ended)| *ended < horizon)
        {
            self.forget_oldest();
        }
    }

    fn forget_oldest(&mut self) {
        if let Some((id, _)) = self.order.pop_front() {
            self.by_id.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ended_sessions_are_remembered_with_how_they_ended() {
        let ended = EndedSessions::new(Duration::from_secs(3600));
        let before = SystemTime::now();
        ended.remember("a", EndReason::HostEnded);
        ended.remember("b", EndReason::HostLost);
        let a = ended.get("a").expect("remembered");
        assert_eq!(a.reason, EndReason::HostEnded);
        assert!(a.at >= before && a.at <= SystemTime::now());
        assert_eq!(ended.get("b").unwrap().reason, EndReason::HostLost);
        assert_eq!(ended.get("c"), None);
    }

    #[test]
    fn they_are_forgotten_after_the_time_remembered() {
        let ended = EndedSessions::new(Duration::from_millis(50));
        ended.remember("a", EndReason::HostEnded);
        assert!(ended.get("a").is_some());
        // The time under test passing, not a wait for another thread.
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(ended.get("a"), None);
        assert_eq!(ended.len(), 0, "forgotten, not only hidden");
    }

    #[test]
    fn the_oldest_are_forgotten_beyond_the_bound() {
        let ended = EndedSessions::new(Duration::from_secs(3600));
        for i in 0..MAX_ENDED + 10 {
            ended.remember(&i.to_string(), EndReason::HostEnded);
        }
        assert_eq!(ended.len(), MAX_ENDED);
        assert_eq!(ended.get("9"), None);
        assert!(ended.get("10").is_some());
        assert!(ended.get(&(MAX_ENDED + 9).to_string()).is_some());
        // Ending again does not count twice.
        ended.remember("10", EndReason::HostLost);
        assert_eq!(ended.len(), MAX_ENDED);
    }
}
