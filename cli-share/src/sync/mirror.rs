//! A viewer's copy of the shared screen, rebuilt from frames: keyframes replace it, a diff
//! applies only on top of the frame just before it (`seq` = last + 1); after a gap or a
//! bad diff it waits for the next keyframe.

use protocol::{Screen, ScreenFrame, ScreenUpdate};

#[derive(Debug, Default)]
pub struct Mirror {
    screen: Option<Screen>,
    last_seq: Option<u64>,
}

impl Mirror {
    pub fn new() -> Mirror {
        Mirror::default()
    }

    /// The screen, once a keyframe arrived.
    pub fn screen(&self) -> Option<&Screen> {
        self.screen.as_ref().filter(|_| self.last_seq.is_some())
    }

    /// Applies a frame; `true` when the screen changed.
    pub fn apply(&mut self, frame: &ScreenFrame) -> bool {
        let Ok(update) = protocol::decode::<ScreenUpdate>(&frame.payload) else {
            return false;
        };
        match update {
            ScreenUpdate::Keyframe(screen) => {
                if screen.validate().is_err() {
                    return false;
                }
                self.screen = Some(screen);
                self.last_seq = Some(frame.seq);
                true
            }
            ScreenUpdate::Diff(diff) => {
                let follows = self.last_seq.and_then(|last| last.checked_add(1)) == Some(frame.seq);
                let applied = follows
                    && self
                        .screen
                        .as_mut()
                        .is_some_and(|screen| screen.apply(&diff).is_ok());
                self.last_seq = applied.then_some(frame.seq);
                applied
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use protocol::{Line, ScreenDiff};

    use super::*;

    fn frame(seq: u64, update: &ScreenUpdate) -> ScreenFrame {
        ScreenFrame {
            seq,
            keyframe: matches!(update, ScreenUpdate::Keyframe(_)),
            payload: protocol::encode(update).unwrap(),
        }
    }

    fn diff_setting(row: u16, text: &str) -> ScreenUpdate {
        ScreenUpdate::Diff(ScreenDiff {
            lines: vec![(row, Line::plain(text))],
            cursor: protocol::Cursor::default(),
            ..ScreenDiff::default()
        })
    }

    #[test]
    fn diffs_apply_in_sequence_and_gaps_wait_for_a_keyframe() {
        let mut mirror = Mirror::new();
        assert!(!mirror.apply(&frame(4, &diff_setting(0, "early"))));
        assert!(mirror.screen().is_none());
        assert!(mirror.apply(&frame(5, &ScreenUpdate::Keyframe(Screen::new(10, 3)))));
        assert!(mirror.apply(&frame(6, &diff_setting(0, "six"))));
        assert_eq!(mirror.screen().unwrap().lines[0].text(), "six");
        assert!(!mirror.apply(&frame(8, &diff_setting(0, "gap"))));
        assert!(mirror.screen().is_none());
        assert!(!mirror.apply(&frame(9, &diff_setting(0, "still waiting"))));
        assert!(mirror.apply(&frame(10, &ScreenUpdate::Keyframe(Screen::new(10, 3)))));
        assert_eq!(mirror.screen().unwrap().lines[0].text(), "");
    }

    #[test]
    fn hostile_frames_are_ignored() {
        let mut mirror = Mirror::new();
        let garbage = ScreenFrame {
            seq: 0,
            keyframe: true,
            payload: vec![0xff; 16],
        };
        assert!(!mirror.apply(&garbage));
        assert!(!mirror.apply(&frame(0, &ScreenUpdate::Keyframe(Screen::new(0, 3)))));
        assert!(mirror.apply(&frame(1, &ScreenUpdate::Keyframe(Screen::new(10, 3)))));
        assert!(!mirror.apply(&frame(2, &diff_setting(7, "outside"))));
    }
}
