//! The frames a session keeps for viewers that join late or fall behind: the latest
//! keyframe and the diffs after it, bounded in bytes and count.

use bytes::Bytes;

/// Retained diffs may grow to this many bytes before they are dropped (late joiners then
/// wait for the next keyframe, which is requested from the host).
pub const MAX_RETAINED_DIFF_BYTES: usize = 4 * 1024 * 1024;
/// Retained diffs may number this many before they are dropped.
pub const MAX_RETAINED_DIFFS: usize = 4096;
/// Diffs smaller than this in total never trigger a keyframe request.
const MIN_DIFF_BUDGET: usize = 256 * 1024;

#[derive(Default)]
pub(crate) struct Retention {
    keyframe: Option<Bytes>,
    diffs: Vec<Bytes>,
    diff_bytes: usize,
    /// Diffs were dropped (or none can apply): the base is lost until the next keyframe.
    stale: bool,
    keyframe_requested: bool,
}

impl Retention {
    /// Records a host frame; returns true when the host should be asked for a keyframe.
    pub fn record(&mut self, message: &Bytes, keyframe: bool) -> bool {
        if keyframe {
            self.keyframe = Some(message.clone());
            self.diffs.clear();
            self.diff_bytes = 0;
            self.stale = false;
            self.keyframe_requested = false;
            return false;
        }
        if self.keyframe.is_none() || self.stale {
            return self.request_once();
        }
        self.diffs.push(message.clone());
        self.diff_bytes += message.len();
        if self.diff_bytes > MAX_RETAINED_DIFF_BYTES || self.diffs.len() > MAX_RETAINED_DIFFS {
            self.diffs.clear();
            self.diff_bytes = 0;
            self.stale = true;
            return self.request_once();
        }
        let keyframe_len = self.keyframe.as_ref().map_or(0, Bytes::len);
        if self.diff_bytes > (2 * keyframe_len).max(MIN_DIFF_BUDGET) {
            return self.request_once();
        }
        false
    }

    fn request_once(&mut self) -> bool {
        !std::mem::replace(&mut self.keyframe_requested, true)
    }

    /// The frames that rebuild the current screen, and whether the viewer must instead wait
    /// for the next keyframe.
    pub fn snapshot(&self) -> (Vec<Bytes>, bool) {
        match &self.keyframe {
            Some(keyframe) if !self.stale => {
                let mut frames = Vec::with_capacity(1 + self.diffs.len());
                frames.push(keyframe.clone());
                frames.extend(self.diffs.iter().cloned());
                (frames, false)
            }
            _ => (Vec::new(), true),
        }
    }

    /// The base is lost (a re-created session): wait for the host's next keyframe.
    pub fn forget(&mut self) {
        *self = Retention::default();
    }

    pub fn bytes(&self) -> usize {
        self.keyframe.as_ref().map_or(0, Bytes::len) + self.diff_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyframe_resets_and_diffs_accumulate() {
        let mut r = Retention::default();
        assert!(!r.record(&Bytes::from_static(b"key"), true));
        assert!(!r.record(&Bytes::from_static(b"d1"), false));
        let (frames, waiting) = r.snapshot();
        assert_eq!(frames.len(), 2);
        assert!(!waiting);
    }

    #[test]
    fn diffs_beyond_the_cap_are_dropped_and_a_keyframe_requested_once() {
        let mut r = Retention::default();
        r.record(&Bytes::from(vec![0u8; 10]), true);
        let diff = Bytes::from(vec![0u8; 64 * 1024]);
        let mut requests = 0;
        for _ in 0..(MAX_RETAINED_DIFF_BYTES / diff.len() + 2) {
            requests += usize::from(r.record(&diff, false));
        }
        assert_eq!(requests, 1);
        assert!(r.snapshot().1, "late joiners wait for the next keyframe");
        assert!(r.bytes() <= 10 + MAX_RETAINED_DIFF_BYTES);
        r.record(&Bytes::from_static(b"k2"), true);
        assert!(!r.snapshot().1);
    }
}
