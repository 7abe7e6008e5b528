//! The frames a session keeps for viewers that join late or fall behind: the latest
//! keyframe, the frame right after it, and the diffs after those, bounded in bytes and
//! count.
//!
//! Hosts send a keyframe of the visible screen and its scrollback in the frame that
//! follows (`cli-share/src/sync/encoder.rs`), so that a viewer paints the screen after a
//! few KiB. That frame completes the keyframe: it is kept and weighed with it, not with
//! the diffs, or a large scrollback would call for a new keyframe at once, and again after
//! it. The relay never decodes a frame, so it takes whatever frame follows a keyframe for
//! its completion; after a host that sends its scrollback in the keyframe itself, that is
//! an ordinary diff counted twice as generously.

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
    /// The frame right after the keyframe.
    completion: Option<Bytes>,
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
            self.completion = None;
            self.diffs.clear();
            self.diff_bytes = 0;
            self.stale = false;
            self.keyframe_requested = false;
            return false;
        }
        if self.keyframe.is_none() || self.stale {
            return self.request_once();
        }
        if self.completion.is_none() {
            self.completion = Some(message.clone());
            return false;
        }
        self.diffs.push(message.clone());
        self.diff_bytes += message.len();
        if self.diff_bytes > MAX_RETAINED_DIFF_BYTES || self.diffs.len() > MAX_RETAINED_DIFFS {
            self.diffs.clear();
            self.diff_bytes = 0;
            self.stale = true;
            return self.request_once();
        }
        if self.diff_bytes > (2 * self.keyframe_bytes()).max(MIN_DIFF_BUDGET) {
            return self.request_once();
        }
        false
    }

    /// The keyframe's weight, its completion's included.
    fn keyframe_bytes(&self) -> usize {
        [&self.keyframe, &self.completion]
            .into_iter()
            .flatten()
            .map(Bytes::len)
            .sum()
    }

    fn request_once(&mut self) -> bool {
        !std::mem::replace(&mut self.keyframe_requested, true)
    }

    /// The frames that rebuild the current screen, the visible screen first, and whether
    /// the viewer must instead wait for the next keyframe.
    pub fn snapshot(&self) -> (Vec<Bytes>, bool) {
        match &self.keyframe {
            Some(keyframe) if !self.stale => {
                let mut frames = Vec::with_capacity(2 + self.diffs.len());
                frames.push(keyframe.clone());
                frames.extend(self.completion.iter().cloned());
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
        self.keyframe_bytes() + self.diff_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyframe_resets_and_diffs_accumulate() {
        let mut r = Retention::default();
        assert!(!r.record(&Bytes::from_static(b"key"), true));
        assert!(!r.record(&Bytes::from_static(b"history"), false));
        assert!(!r.record(&Bytes::from_static(b"d1"), false));
        let (frames, waiting) = r.snapshot();
        assert_eq!(
            frames,
            ["key", "history", "d1"].map(|m| Bytes::from_static(m.as_bytes()))
        );
        assert!(!waiting);
        assert!(!r.record(&Bytes::from_static(b"key2"), true));
        assert_eq!(r.snapshot().0, [Bytes::from_static(b"key2")]);
    }

    #[test]
    fn the_frame_after_a_keyframe_weighs_with_it() {
        let mut r = Retention::default();
        // A small screen and a scrollback larger than the diffs' minimum budget.
        r.record(&Bytes::from(vec![0u8; 2_000]), true);
        let history = Bytes::from(vec![0u8; MIN_DIFF_BUDGET + 1]);
        assert!(
            !r.record(&history, false),
            "no new keyframe for the history"
        );
        let diff = Bytes::from(vec![0u8; 16 * 1024]);
        let mut diffs = 0;
        while !r.record(&diff, false) {
            diffs += diff.len();
        }
        assert!(diffs >= 2 * (history.len() + 2_000) - diff.len(), "{diffs}");
        assert_eq!(r.bytes(), 2_000 + history.len() + diffs + diff.len());
    }

    #[test]
    fn diffs_beyond_the_cap_are_dropped_and_a_keyframe_requested_once() {
        let mut r = Retention::default();
        r.record(&Bytes::from(vec![0u8; 10]), true);
        r.record(&Bytes::from(vec![0u8; 10]), false);
        let diff = Bytes::from(vec![0u8; 64 * 1024]);
        let mut requests = 0;
        for _ in 0..(MAX_RETAINED_DIFF_BYTES / diff.len() + 2) {
            requests += usize::from(r.record(&diff, false));
        }
        assert_eq!(requests, 1);
        assert!(r.snapshot().1, "late joiners wait for the next keyframe");
        assert!(r.bytes() <= 20 + MAX_RETAINED_DIFF_BYTES);
        r.record(&Bytes::from_static(b"k2"), true);
        assert!(!r.snapshot().1);
    }
}
