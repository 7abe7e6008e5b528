//! What a viewer checks of the order of the frames it is given, beyond their seals. A
//! sealed frame cannot be altered or relabelled, but an honest relay only ever sends a
//! host's frames in increasing `seq`, restarting from its latest keyframe when a viewer
//! joins, reconnects or falls behind. So a keyframe older than one already seen is a
//! replay; a new keyframe must come after every frame since the last one (a viewer that
//! saw a diff past it would have seen it first), and a diff must move past everything
//! since the last keyframe, or they were reordered or replayed. The latest keyframe again
//! is a resynchronisation, not a replay. Gaps are not alterations: a relay may drop diffs
//! it could not keep, and the viewer waits for the next keyframe.

use super::E2eError;

/// Kept for the whole life of a viewer, across reconnects.
#[derive(Debug, Default, Clone)]
pub struct FrameOrder {
    newest_keyframe: Option<u64>,
    highest_since_keyframe: Option<u64>,
}

impl FrameOrder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts frame `seq` or says how the relay altered the session. Call it only for
    /// frames whose seal opened.
    pub fn check(&mut self, seq: u64, keyframe: bool) -> Result<(), E2eError> {
        if keyframe {
            if self.newest_keyframe.is_some_and(|newest| seq < newest) {
                return Err(E2eError::Replayed("an old keyframe was replayed"));
            }
            let resync = self.newest_keyframe == Some(seq);
            if !resync
                && self
                    .highest_since_keyframe
                    .is_some_and(|highest| seq <= highest)
            {
                return Err(E2eError::Replayed("frames were reordered or replayed"));
            }
            self.newest_keyframe = Some(seq);
        } else if self
            .highest_since_keyframe
            .is_some_and(|highest| seq <= highest)
        {
            return Err(E2eError::Replayed("frames were reordered or replayed"));
        }
        self.highest_since_keyframe = Some(seq);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_honest_relays_resync_is_accepted() {
        let mut order = FrameOrder::new();
        for (seq, key) in [(1, true), (2, false), (3, true), (4, false)] {
            order.check(seq, key).unwrap();
        }
        // A slow viewer resynchronised from the latest keyframe, 3, then a gap.
        for (seq, key) in [(3, true), (4, false), (5, false), (9, false), (10, true)] {
            order.check(seq, key).unwrap();
        }
        order.check(10, true).unwrap();
    }

    #[test]
    fn replays_and_swaps_are_caught() {
        let mut order = FrameOrder::new();
        order.check(5, true).unwrap();
        order.check(7, false).unwrap();
        assert!(order.check(6, false).is_err(), "swapped diffs");
        assert!(order.check(7, false).is_err(), "replayed diff");
        assert!(order.check(4, true).is_err(), "old keyframe");
        assert!(
            order.check(6, true).is_err(),
            "keyframe 6 swapped with diff 7"
        );
    }
}
