//! A viewer's copy of the shared screen, rebuilt from frames: the one place a viewer
//! consumes a frame's payload. Each payload is opened with the link's read secret and its
//! `seq` checked against the order an honest relay keeps ([`protocol::e2e`]); a frame that
//! fails either is the relay altering the session, which the caller reports and stops on:
//! nothing unauthenticated is ever shown. Then keyframes replace the screen and a diff
//! applies only on top of the frame just before it (`seq` = last + 1); after a gap or a bad
//! diff it waits for the next keyframe. A frame at or before the last one applied (a relay
//! resending from its keyframe) is already on screen and skipped, so the screen never
//! steps back.

use protocol::e2e::{E2eError, FrameOpener, FrameOrder, LinkKeys};
use protocol::{Screen, ScreenFrame, ScreenUpdate};

pub struct Mirror {
    opener: FrameOpener,
    order: FrameOrder,
    screen: Option<Screen>,
    last_seq: Option<u64>,
}

impl Mirror {
    /// A mirror of session `session_id` whose frames open with `keys`' read secret.
    pub fn new(keys: &LinkKeys, session_id: &str) -> Mirror {
        Mirror {
            opener: FrameOpener::new(&keys.read, session_id),
            order: FrameOrder::new(),
            screen: None,
            last_seq: None,
        }
    }

    /// The screen, once a keyframe arrived.
    pub fn screen(&self) -> Option<&Screen> {
        self.screen.as_ref().filter(|_| self.last_seq.is_some())
    }

    /// Applies a frame: `Ok(true)` when the screen changed, `Err` when the frame proves the
    /// relay altered the session (it failed to open, or came out of order).
    pub fn apply(&mut self, frame: &ScreenFrame) -> Result<bool, E2eError> {
        let plaintext = self
            .opener
            .open(frame.seq, frame.keyframe, &frame.payload)?;
        self.order.check(frame.seq, frame.keyframe)?;
        if self.last_seq.is_some_and(|last| frame.seq <= last) {
            return Ok(false);
        }
        // Sealed by the host, so a payload that does not decode is the host's bug, not an
        // alteration: ignored, as before encryption.
        let Ok(update) = protocol::decode::<ScreenUpdate>(&plaintext) else {
            return Ok(false);
        };
        Ok(self.apply_update(frame.seq, update))
    }

    fn apply_update(&mut self, seq: u64, update: ScreenUpdate) -> bool {
        match update {
            ScreenUpdate::Keyframe(screen) => {
                if screen.validate().is_err() {
                    return false;
                }
                self.screen = Some(screen);
                self.last_seq = Some(seq);
                true
            }
            ScreenUpdate::Diff(diff) => {
                let follows = self.last_seq.and_then(|last| last.checked_add(1)) == Some(seq);
                let applied = follows
                    && self
                        .screen
                        .as_mut()
                        .is_some_and(|screen| screen.apply(&diff).is_ok());
                self.last_seq = applied.then_some(seq);
                applied
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use protocol::e2e::FrameSealer;
    use protocol::{Line, ScreenDiff};

    use super::*;

    const SESSION: &str = "mirror-tests";
    const SECRET: [u8; 32] = [3; 32];

    fn mirror() -> Mirror {
        let keys = LinkKeys {
            read: SECRET,
            write: None,
        };
        Mirror::new(&keys, SESSION)
    }

    fn sealed(seq: u64, keyframe: bool, plaintext: &[u8]) -> ScreenFrame {
        ScreenFrame {
            seq,
            keyframe,
            payload: FrameSealer::new(&SECRET, SESSION)
                .seal(seq, keyframe, plaintext)
                .unwrap(),
        }
    }

    fn frame(seq: u64, update: &ScreenUpdate) -> ScreenFrame {
        let keyframe = matches!(update, ScreenUpdate::Keyframe(_));
        sealed(seq, keyframe, &protocol::encode(update).unwrap())
    }

    fn keyframe(seq: u64, text: &str) -> ScreenFrame {
        let mut screen = Screen::new(10, 3);
        screen.lines[0] = Line::plain(text);
        frame(seq, &ScreenUpdate::Keyframe(screen))
    }

    fn diff_setting(row: u16, text: &str) -> ScreenUpdate {
        ScreenUpdate::Diff(ScreenDiff {
            lines: vec![(row, Line::plain(text))],
            cursor: protocol::Cursor::default(),
            ..ScreenDiff::default()
        })
    }

    fn first_row(mirror: &Mirror) -> String {
        mirror.screen().unwrap().lines[0].text()
    }

    #[test]
    fn diffs_apply_in_sequence_and_gaps_wait_for_a_keyframe() {
        let mut mirror = mirror();
        assert!(!mirror.apply(&frame(4, &diff_setting(0, "early"))).unwrap());
        assert!(mirror.screen().is_none());
        assert!(mirror.apply(&keyframe(5, "")).unwrap());
        assert!(mirror.apply(&frame(6, &diff_setting(0, "six"))).unwrap());
        assert_eq!(first_row(&mirror), "six");
        assert!(!mirror.apply(&frame(8, &diff_setting(0, "gap"))).unwrap());
        assert!(mirror.screen().is_none());
        assert!(
            !mirror
                .apply(&frame(9, &diff_setting(0, "still waiting")))
                .unwrap()
        );
        assert!(mirror.apply(&keyframe(10, "")).unwrap());
        assert_eq!(first_row(&mirror), "");
    }

    #[test]
    fn a_resync_from_the_same_keyframe_never_steps_the_screen_back() {
        let mut mirror = mirror();
        let start = keyframe(1, "one");
        let two = frame(2, &diff_setting(0, "two"));
        let three = frame(3, &diff_setting(0, "three"));
        for frame in [&start, &two, &three] {
            assert!(mirror.apply(frame).unwrap());
        }
        // A slow viewer's queue replaced by the relay's snapshot: keyframe 1 and its diffs.
        for frame in [&start, &two] {
            assert!(!mirror.apply(frame).unwrap());
            assert_eq!(first_row(&mirror), "three");
        }
        assert!(!mirror.apply(&three).unwrap());
        assert!(mirror.apply(&frame(4, &diff_setting(0, "four"))).unwrap());
        assert_eq!(first_row(&mirror), "four");
    }

    #[test]
    fn altered_swapped_and_replayed_frames_are_errors() {
        let mut mirror = mirror();
        let old = keyframe(1, "old");
        assert!(mirror.apply(&old).unwrap());
        let mut flipped = keyframe(2, "new");
        let last = flipped.payload.len() - 1;
        flipped.payload[last] ^= 1;
        assert_eq!(mirror.apply(&flipped), Err(E2eError::Altered));
        let relabelled = ScreenFrame {
            seq: 3,
            ..keyframe(2, "new")
        };
        assert_eq!(mirror.apply(&relabelled), Err(E2eError::Altered));
        assert!(mirror.apply(&keyframe(2, "new")).unwrap());
        assert!(matches!(mirror.apply(&old), Err(E2eError::Replayed(_))));
        assert_eq!(first_row(&mirror), "new", "nothing altered was shown");
        let four = frame(4, &diff_setting(0, "four"));
        assert!(!mirror.apply(&frame(5, &diff_setting(0, "five"))).unwrap());
        assert!(matches!(mirror.apply(&four), Err(E2eError::Replayed(_))));
    }

    #[test]
    fn frames_of_another_key_or_session_are_errors() {
        let mut mirror = mirror();
        let foreign = ScreenFrame {
            payload: FrameSealer::new(&[4; 32], SESSION)
                .seal(1, true, b"x")
                .unwrap(),
            ..keyframe(1, "")
        };
        assert_eq!(mirror.apply(&foreign), Err(E2eError::Altered));
        let plain = ScreenFrame {
            seq: 1,
            keyframe: true,
            payload: protocol::encode(&ScreenUpdate::Keyframe(Screen::new(10, 3))).unwrap(),
        };
        assert!(mirror.apply(&plain).is_err(), "plaintext is never shown");
        assert!(mirror.screen().is_none());
    }

    #[test]
    fn hostile_but_authentic_payloads_are_ignored() {
        let mut mirror = mirror();
        assert!(!mirror.apply(&sealed(0, true, &[0xff; 16])).unwrap());
        assert!(
            !mirror
                .apply(&frame(1, &ScreenUpdate::Keyframe(Screen::new(0, 3))))
                .unwrap()
        );
        assert!(mirror.apply(&keyframe(2, "")).unwrap());
        assert!(
            !mirror
                .apply(&frame(3, &diff_setting(7, "outside")))
                .unwrap()
        );
    }
}
