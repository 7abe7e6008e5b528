//! Turns successive screen states into the frames sent to the relay: a diff against the
//! last state sent, or a keyframe (first frame, after a resize or resume, on request, and
//! once the diffs since the last keyframe outweigh it, which bounds what the relay keeps).
//!
//! A keyframe carries the visible screen only, and the frame right after it the
//! scrollback, as an ordinary diff (the keyframe says no row scrolled off yet, the diff
//! scrolls them all in, with their content): a viewer that joins shows the screen after a
//! few KiB, whatever the scrollback weighs. The two count as one keyframe here, and the
//! relay keeps and weighs them together (`relay/src/retention.rs`).
//!
//! During a flood a diff leaves out the rows that scrolled past: viewers get blank rows in
//! their scrollback instead (`Screen::apply` fills rows it has no correction for), and the
//! encoder owes them a keyframe, sent when the host sees the output calm down. So do the
//! rows the emulator holds back during a flood (`Holding`). A keyframe the flood's diffs
//! call for (they outweigh the last one) blanks the scrollback the same way: a flood never
//! sends the scrollback it is about to push out.
//!
//! Every payload is sealed for the share's viewers ([`protocol::e2e`]) where it is set, in
//! [`ScreenEncoder::frame`] (the keyframe's scrollback frame too); without a sealer (before
//! the relay named the session) there are no frames. `seq` counts up for the life of the
//! encoder, across sessions, resumes and relay restarts, so a sealer never sees a number
//! twice.

use protocol::e2e::{E2eError, FRAME_OVERHEAD, FrameSealer};
use protocol::limits::MAX_FRAME_BYTES;
use protocol::{Line, Screen, ScreenFrame, ScreenUpdate, WireError};

/// Room left in a frame for the message around the payload and what sealing adds.
const PAYLOAD_BUDGET: usize = MAX_FRAME_BYTES - 1024 - FRAME_OVERHEAD;
/// Diffs allowed between keyframes even when the last keyframe is tiny (a blank screen).
const MIN_DIFF_BUDGET: usize = 16 * 1024;
/// Scrolled rows a diff carries as they are; beyond this the output floods and the diff
/// carries none. Below it, sending the rows costs less than the keyframe that would
/// otherwise bring them later.
pub(crate) const FLOOD_HISTORY_ROWS: usize = 500;

/// Why no frame could be made.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("no key to seal frames with yet")]
    NoSealer,
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error("cannot seal a frame: {0}")]
    Seal(#[from] E2eError),
}

#[derive(Debug, Default)]
pub struct ScreenEncoder {
    /// Seals every payload for the current session's viewers.
    sealer: Option<FrameSealer>,
    /// What the next diff is taken against: the screen last sent, with its scrollback rows
    /// left blank, since `Screen::diff_successor` only counts them.
    reference: Option<Screen>,
    next_seq: u64,
    /// The last keyframe's payload, and its scrollback's.
    keyframe_bytes: usize,
    diff_bytes_since_keyframe: usize,
    keyframe_due: bool,
    /// Viewers' scrollback has blank rows where a flood was left out.
    history_debt: bool,
    /// The last frame left scrolled rows out.
    flooding: bool,
}

impl ScreenEncoder {
    pub fn new() -> ScreenEncoder {
        ScreenEncoder::default()
    }

    /// Seals frames from now on with `sealer` (a new session's, or the first): the next
    /// frame is a keyframe, as viewers of a new session have nothing to apply a diff to.
    pub fn seal_with(&mut self, sealer: FrameSealer) {
        self.sealer = Some(sealer);
        self.force_keyframe();
    }

    /// Makes no more frames until [`seal_with`](Self::seal_with) (the session ended: a
    /// new one has other keys).
    pub fn stop_sealing(&mut self) {
        self.sealer = None;
    }

    /// Whether frames can be made: a sealer is set.
    pub fn is_sealing(&self) -> bool {
        self.sealer.is_some()
    }

    /// Makes the next frame a keyframe.
    pub fn force_keyframe(&mut self) {
        self.keyframe_due = true;
    }

    /// Whether the next frame is a keyframe whatever the screen: it should be taken with
    /// every scrolled row in it.
    pub fn keyframe_due(&self) -> bool {
        self.keyframe_due || self.reference.is_none()
    }

    /// Whether viewers' scrollback has gaps and no keyframe is due yet to fill them.
    pub fn history_debt(&self) -> bool {
        self.history_debt && !self.keyframe_due
    }

    /// Schedules the keyframe that fills the gaps a flood left in viewers' scrollback.
    pub fn repay_history_debt(&mut self) {
        self.force_keyframe();
    }

    /// Whether the output floods: the last frame left scrolled rows out.
    pub fn flooding(&self) -> bool {
        self.flooding
    }

    /// The frames that bring the relay from the last state sent to `current`: none when
    /// nothing changed, a diff, or a keyframe and the frame with its scrollback. `held`:
    /// the emulator holds scrolled rows back from `current` (a flood). A keyframe too large
    /// for one frame sheds its oldest scrollback, in `current` too, so the next diff
    /// applies to what viewers hold.
    ///
    /// Diffs are taken against the true state, without the gaps viewers have (a reference
    /// with blank rows would look like no successor and force a keyframe every frame).
    /// That is sound because viewers' state differs from it only in scrollback rows, which
    /// a diff never reads or rewrites.
    pub fn encode(
        &mut self,
        current: &mut Screen,
        held: bool,
    ) -> Result<Vec<ScreenFrame>, EncodeError> {
        if self.sealer.is_none() {
            return Err(EncodeError::NoSealer);
        }
        let flooding = held
            || self.reference.as_ref().is_some_and(|reference| {
                current
                    .scrolled_total
                    .saturating_sub(reference.scrolled_total)
                    > FLOOD_HISTORY_ROWS as u64
            });
        let diff = match &self.reference {
            Some(reference) if !self.keyframe_due => reference.diff_successor(current, !flooding),
            _ => None,
        };
        if let (Some(diff), Some(reference)) = (diff, &mut self.reference) {
            if diff.is_empty_for(reference) {
                return Ok(Vec::new());
            }
            let update = ScreenUpdate::Diff(diff);
            let payload = match protocol::encode(&update) {
                Err(WireError::TooLarge { .. }) => Vec::new(),
                other => other?,
            };
            let total = self.diff_bytes_since_keyframe + payload.len();
            let budget = self.keyframe_bytes.max(MIN_DIFF_BUDGET);
            if !payload.is_empty() && total <= budget && payload.len() <= PAYLOAD_BUDGET {
                self.diff_bytes_since_keyframe = total;
                self.flooding = flooding;
                self.history_debt |= flooding;
                if let ScreenUpdate::Diff(diff) = &update
                    && reference.apply(diff).is_err()
                {
                    self.reference = Some(reference_of(current));
                }
                return Ok(vec![self.frame(false, payload)?]);
            }
            if flooding {
                return self.flood_keyframe(current);
            }
        }
        self.keyframe(current)
    }

    /// A keyframe of `current` with blank scrollback rows, owing viewers the real ones.
    fn flood_keyframe(&mut self, current: &mut Screen) -> Result<Vec<ScreenFrame>, EncodeError> {
        let blanked = Screen {
            scrollback: current.scrollback.iter().map(|_| Line::default()).collect(),
            scrolled_total: current.scrolled_total,
            ..visible(current)
        };
        let payload = match protocol::encode(&ScreenUpdate::Keyframe(blanked)) {
            Ok(payload) if payload.len() <= PAYLOAD_BUDGET => payload,
            Ok(_) | Err(WireError::TooLarge { .. }) => return self.keyframe(current),
            Err(error) => return Err(error.into()),
        };
        self.history_debt = true;
        self.flooding = true;
        self.keyframe_bytes = payload.len();
        Ok(vec![self.keyframe_sent(current, payload)?])
    }

    /// A keyframe of `current`'s visible screen and, when it has a scrollback, the diff
    /// that brings it in.
    fn keyframe(&mut self, current: &mut Screen) -> Result<Vec<ScreenFrame>, EncodeError> {
        let (screen, history) = loop {
            let screen = visible(current);
            let Some(diff) = screen
                .diff(current)
                .filter(|_| !current.scrollback.is_empty())
            else {
                break (screen, None);
            };
            match protocol::encode(&ScreenUpdate::Diff(diff)) {
                Ok(history) if history.len() <= PAYLOAD_BUDGET => break (screen, Some(history)),
                Ok(_) | Err(WireError::TooLarge { .. }) => {
                    let shed = current.scrollback.len().div_ceil(2);
                    current.scrollback.drain(..shed);
                }
                Err(error) => return Err(error.into()),
            }
        };
        let payload = protocol::encode(&ScreenUpdate::Keyframe(screen))?;
        self.keyframe_due = false;
        self.history_debt = false;
        self.flooding = false;
        self.keyframe_bytes = payload.len() + history.as_ref().map_or(0, Vec::len);
        let mut frames = vec![self.keyframe_sent(current, payload)?];
        if let Some(history) = history {
            frames.push(self.frame(false, history)?);
        }
        Ok(frames)
    }

    /// Records a keyframe of `current`.
    fn keyframe_sent(
        &mut self,
        current: &Screen,
        payload: Vec<u8>,
    ) -> Result<ScreenFrame, EncodeError> {
        self.diff_bytes_since_keyframe = 0;
        self.reference = Some(reference_of(current));
        self.frame(true, payload)
    }

    /// The one place a frame's payload is set: `plaintext` sealed under the next `seq`.
    fn frame(&mut self, keyframe: bool, plaintext: Vec<u8>) -> Result<ScreenFrame, EncodeError> {
        let sealer = self.sealer.as_mut().ok_or(EncodeError::NoSealer)?;
        let seq = self.next_seq;
        self.next_seq += 1;
        Ok(ScreenFrame {
            seq,
            keyframe,
            payload: sealer.seal(seq, keyframe, &plaintext)?,
        })
    }
}

/// `screen` without its scrollback, as if no row had scrolled off yet.
fn visible(screen: &Screen) -> Screen {
    Screen {
        cols: screen.cols,
        rows: screen.rows,
        lines: screen.lines.clone(),
        scrollback: Default::default(),
        scrolled_total: screen
            .scrolled_total
            .saturating_sub(screen.scrollback.len() as u64),
        cursor: screen.cursor,
        title: screen.title.clone(),
        alt_screen: screen.alt_screen,
        modes: screen.modes,
    }
}

/// What diffs after `screen` are taken against: `screen` with blank scrollback rows.
fn reference_of(screen: &Screen) -> Screen {
    Screen {
        scrollback: screen.scrollback.iter().map(|_| Line::default()).collect(),
        scrolled_total: screen.scrolled_total,
        ..visible(screen)
    }
}

#[cfg(test)]
mod tests {
    use protocol::e2e::FrameOpener;
    use protocol::limits::SCROLLBACK_LINES;
    use protocol::{Color, Run, Style};

    use super::*;

    const SECRET: [u8; 32] = [5; 32];
    const SESSION: &str = "encoder-tests";

    fn sealing() -> ScreenEncoder {
        let mut encoder = ScreenEncoder::new();
        encoder.seal_with(FrameSealer::new(&SECRET, SESSION));
        encoder
    }

    /// What a viewer with the link's key reads of `frame`.
    fn update(frame: &ScreenFrame) -> ScreenUpdate {
        let opener = FrameOpener::new(&SECRET, SESSION);
        let plain = opener
            .open(frame.seq, frame.keyframe, &frame.payload)
            .expect("opens");
        protocol::decode(&plain).unwrap()
    }

    /// The one frame `encoded` holds.
    fn single(encoded: Result<Vec<ScreenFrame>, EncodeError>) -> ScreenFrame {
        let mut frames = encoded.unwrap();
        assert_eq!(frames.len(), 1, "{frames:?}");
        frames.remove(0)
    }

    fn apply_all(viewer: &mut Option<Screen>, frames: &[ScreenFrame]) {
        for frame in frames {
            apply(viewer, frame);
        }
    }

    fn apply(viewer: &mut Option<Screen>, frame: &ScreenFrame) {
        match (update(frame), viewer.as_mut()) {
            (ScreenUpdate::Keyframe(screen), _) => *viewer = Some(screen),
            (ScreenUpdate::Diff(diff), Some(screen)) => screen.apply(&diff).unwrap(),
            (ScreenUpdate::Diff(_), None) => panic!("diff before keyframe"),
        }
    }

    #[test]
    fn first_frame_is_a_keyframe_then_diffs_then_nothing() {
        let mut encoder = sealing();
        let mut screen = Screen::new(10, 4);
        let mut viewer = None;
        let first = single(encoder.encode(&mut screen, false));
        assert!(first.keyframe);
        apply(&mut viewer, &first);
        screen.lines[1] = Line::plain("hello");
        let second = single(encoder.encode(&mut screen, false));
        assert!(!second.keyframe);
        assert_eq!(second.seq, first.seq + 1);
        apply(&mut viewer, &second);
        assert_eq!(viewer.as_ref(), Some(&screen));
        assert!(encoder.encode(&mut screen, false).unwrap().is_empty());
        // A program that only switches its input modes (vim's start) changes what viewers'
        // keys must send: that alone is a frame.
        screen.modes.app_cursor = true;
        for frame in encoder.encode(&mut screen, false).unwrap() {
            apply(&mut viewer, &frame);
        }
        assert_eq!(viewer.as_ref(), Some(&screen));
    }

    #[test]
    fn coalesced_changes_arrive_as_one_diff_of_the_final_state() {
        let mut encoder = sealing();
        let mut screen = Screen::new(10, 4);
        let mut viewer = None;
        apply(&mut viewer, &single(encoder.encode(&mut screen, false)));
        for i in 0..50 {
            screen.lines[0] = Line::plain(&format!("step {i}"));
        }
        let frame = single(encoder.encode(&mut screen, false));
        apply(&mut viewer, &frame);
        assert_eq!(viewer.unwrap().lines[0].text(), "step 49");
    }

    #[test]
    fn keyframes_on_demand_on_resize_and_when_diffs_outweigh_the_keyframe() {
        let mut encoder = sealing();
        let mut screen = Screen::new(10, 4);
        assert!(single(encoder.encode(&mut screen, false)).keyframe);
        encoder.force_keyframe();
        screen.lines[0] = Line::plain("a");
        assert!(single(encoder.encode(&mut screen, false)).keyframe);
        screen = Screen::new(12, 4);
        assert!(single(encoder.encode(&mut screen, false)).keyframe);
        let mut kinds = Vec::new();
        for i in 0..200 {
            screen.lines[i % 4] = Line::plain(&format!("{i:>200}"));
            kinds.push(single(encoder.encode(&mut screen, false)).keyframe);
        }
        assert!(
            kinds.iter().any(|k| *k),
            "a keyframe once diffs outweigh one"
        );
        assert!(kinds.iter().filter(|k| !**k).count() > kinds.len() / 2);
    }

    /// Scrolls `lines` numbered rows through `screen`, as the emulator would report them.
    fn scroll(screen: &mut Screen, from: usize, lines: usize) {
        let rows = screen.lines.len();
        let all: Vec<Line> = screen
            .lines
            .drain(..)
            .chain((from..from + lines).map(|i| Line::plain(&format!("line {i}"))))
            .collect();
        let (gone, visible) = all.split_at(all.len() - rows);
        screen.scrollback.extend(gone.iter().cloned());
        let excess = screen.scrollback.len().saturating_sub(SCROLLBACK_LINES);
        screen.scrollback.drain(..excess);
        screen.scrolled_total += gone.len() as u64;
        screen.lines = visible.to_vec();
    }

    #[test]
    fn floods_leave_history_out_and_a_keyframe_repays_it() {
        let mut encoder = sealing();
        let mut screen = Screen::new(20, 4);
        let mut viewer = None;
        apply(&mut viewer, &single(encoder.encode(&mut screen, false)));
        scroll(&mut screen, 0, 10);
        let calm = single(encoder.encode(&mut screen, false));
        apply(&mut viewer, &calm);
        assert_eq!(
            viewer.as_ref(),
            Some(&screen),
            "few rows travel as they are"
        );
        assert!(!encoder.flooding() && !encoder.history_debt());

        let mut next = 10;
        for _ in 0..5 {
            scroll(&mut screen, next, 3 * FLOOD_HISTORY_ROWS);
            next += 3 * FLOOD_HISTORY_ROWS;
            let frame = single(encoder.encode(&mut screen, false));
            assert!(!frame.keyframe, "a flood goes on as diffs");
            let ScreenUpdate::Diff(diff) = update(&frame) else {
                unreachable!()
            };
            assert!(diff.history.is_empty());
            apply(&mut viewer, &frame);
            let seen = viewer.as_ref().unwrap();
            assert_eq!(seen.lines, screen.lines);
            assert_eq!(seen.cursor, screen.cursor);
            assert_eq!(seen.scrolled_total, screen.scrolled_total);
            assert_eq!(seen.scrollback.len(), screen.scrollback.len());
            let blank = Line::default();
            assert!(
                seen.scrollback
                    .iter()
                    .zip(&screen.scrollback)
                    .all(|(seen, real)| seen == real || *seen == blank)
            );
            assert_ne!(seen, &screen, "the flood left gaps");
            assert!(encoder.flooding() && encoder.history_debt());
        }

        // Calm output after the flood still arrives as diffs on top of the gaps.
        scroll(&mut screen, next, 2);
        let frame = single(encoder.encode(&mut screen, false));
        assert!(!frame.keyframe);
        apply(&mut viewer, &frame);
        assert_eq!(viewer.as_ref().unwrap().lines, screen.lines);
        assert!(!encoder.flooding() && encoder.history_debt());

        encoder.repay_history_debt();
        assert!(!encoder.history_debt(), "a keyframe is due");
        let repaid = encoder.encode(&mut screen, false).unwrap();
        assert!(repaid[0].keyframe && !repaid[1].keyframe);
        apply_all(&mut viewer, &repaid);
        assert_eq!(viewer.as_ref(), Some(&screen));
        assert!(!encoder.history_debt());
    }

    #[test]
    fn keyframes_during_a_flood_blank_the_scrollback() {
        let mut encoder = sealing();
        let mut screen = Screen::new(200, 40);
        let mut viewer = None;
        apply(&mut viewer, &single(encoder.encode(&mut screen, false)));
        let mut next = 0;
        let mut flood_keyframes = 0;
        for _ in 0..10 {
            scroll(&mut screen, next, 3 * FLOOD_HISTORY_ROWS);
            next += 3 * FLOOD_HISTORY_ROWS;
            for line in &mut screen.lines {
                *line = Line::plain(&format!("{next:>200}"));
            }
            let frame = single(encoder.encode(&mut screen, false));
            apply(&mut viewer, &frame);
            let seen = viewer.as_ref().unwrap();
            assert_eq!(seen.lines, screen.lines);
            assert_eq!(seen.scrollback.len(), screen.scrollback.len());
            if frame.keyframe {
                flood_keyframes += 1;
                assert!(seen.scrollback.iter().all(|line| *line == Line::default()));
                assert!(frame.payload.len() < 64 * 1024, "no scrollback sent");
            }
            assert!(encoder.flooding() && encoder.history_debt());
        }
        assert!(flood_keyframes > 0, "the diffs outweighed the keyframe");
        encoder.repay_history_debt();
        let repaid = encoder.encode(&mut screen, false).unwrap();
        assert!(repaid[0].keyframe);
        apply_all(&mut viewer, &repaid);
        assert_eq!(viewer.as_ref(), Some(&screen));
    }

    #[test]
    fn no_frames_without_a_sealer_and_seq_goes_on_across_sealers() {
        let mut encoder = ScreenEncoder::new();
        let mut screen = Screen::new(10, 4);
        assert!(matches!(
            encoder.encode(&mut screen, false),
            Err(EncodeError::NoSealer)
        ));
        encoder.seal_with(FrameSealer::new(&SECRET, SESSION));
        let first = single(encoder.encode(&mut screen, false));
        screen.lines[0] = Line::plain("a");
        single(encoder.encode(&mut screen, false));
        encoder.stop_sealing();
        assert!(!encoder.is_sealing());
        assert!(encoder.encode(&mut screen, false).is_err());
        // A new session: its first frame is a keyframe, numbered after the last session's.
        encoder.seal_with(FrameSealer::new(&SECRET, "next session"));
        let next = single(encoder.encode(&mut screen, false));
        assert!(next.keyframe);
        assert_eq!(next.seq, first.seq + 2);
        assert!(
            FrameOpener::new(&SECRET, SESSION)
                .open(next.seq, true, &next.payload)
                .is_err(),
            "sealed for the new session only"
        );
    }

    #[test]
    fn payloads_are_sealed_and_never_carry_the_screen_in_clear() {
        let mut encoder = sealing();
        let mut screen = Screen::new(40, 4);
        scroll(&mut screen, 0, 6);
        screen.lines[0] = Line::plain("plain-marker");
        let keyframes = encoder.encode(&mut screen, false).unwrap();
        assert_eq!(keyframes.len(), 2, "the screen, then its scrollback");
        screen.lines[1] = Line::plain("second-marker");
        let diff = single(encoder.encode(&mut screen, false));
        let markers = [("plain-marker", &keyframes[0]), ("line 0", &keyframes[1])];
        for (marker, frame) in markers.into_iter().chain([("second-marker", &diff)]) {
            let shown = String::from_utf8_lossy(&frame.payload);
            assert!(!shown.contains(marker), "{shown}");
        }
        let mut viewer = None;
        apply_all(&mut viewer, &keyframes);
        apply(&mut viewer, &diff);
        assert_eq!(viewer.as_ref(), Some(&screen));
    }

    #[test]
    fn oversized_keyframes_shed_scrollback() {
        let mut encoder = sealing();
        let mut screen = Screen::new(1000, 2);
        // A thousand runs of one cell, each of another colour: over 4 MiB in 2,000 rows.
        let runs = (0..1000u32)
            .map(|i| Run {
                text: "x".into(),
                style: Style {
                    fg: Color::Rgb(i as u8, (i >> 8) as u8, 7),
                    ..Style::default()
                },
            })
            .collect();
        let colourful = Line {
            runs,
            wrapped: false,
        };
        screen.scrollback = std::iter::repeat_n(colourful, SCROLLBACK_LINES).collect();
        screen.scrolled_total = SCROLLBACK_LINES as u64;
        let frames = encoder.encode(&mut screen, false).unwrap();
        assert!(frames.iter().all(|f| f.payload.len() <= MAX_FRAME_BYTES));
        assert!(!screen.scrollback.is_empty() && screen.scrollback.len() < SCROLLBACK_LINES);
        let mut viewer = None;
        apply_all(&mut viewer, &frames);
        assert_eq!(viewer.as_ref(), Some(&screen));
    }

    /// An 80x24 screen under a full scrollback of ordinary lines.
    fn full_screen() -> Screen {
        let mut screen = Screen::new(80, 24);
        scroll(&mut screen, 0, SCROLLBACK_LINES + 30);
        screen.lines[23] = Line::plain("$ the prompt");
        screen
    }

    #[test]
    fn a_keyframe_is_the_screen_alone_and_the_next_frame_its_scrollback() {
        let mut encoder = sealing();
        let mut screen = full_screen();
        let frames = encoder.encode(&mut screen, false).unwrap();
        let [keyframe, history] = &frames[..] else {
            panic!("two frames: {frames:?}")
        };
        assert!(keyframe.keyframe && !history.keyframe);
        assert_eq!(history.seq, keyframe.seq + 1);
        assert!(
            keyframe.payload.len() < 4 * 1024,
            "{}",
            keyframe.payload.len()
        );
        let mut viewer = None;
        apply(&mut viewer, keyframe);
        let first = viewer.clone().unwrap();
        assert_eq!(first.lines, screen.lines, "the screen shows at once");
        assert!(first.scrollback.is_empty());
        apply(&mut viewer, history);
        assert_eq!(viewer.as_ref(), Some(&screen), "then its scrollback");

        // Both count as the keyframe: diffs up to their weight follow as diffs.
        let weight = keyframe.payload.len() + history.payload.len();
        let mut diffs = 0;
        let mut next = SCROLLBACK_LINES + 30;
        while diffs < weight {
            scroll(&mut screen, next, 1);
            next += 1;
            let frames = encoder.encode(&mut screen, false).unwrap();
            if frames[0].keyframe {
                break;
            }
            diffs += frames[0].payload.len();
            apply_all(&mut viewer, &frames);
            assert_eq!(viewer.as_ref(), Some(&screen));
        }
        assert!(diffs > weight / 2, "{diffs} of {weight} bytes of diffs");
    }

    #[test]
    fn rows_the_emulator_holds_back_are_a_flood_owed_to_viewers() {
        let mut encoder = sealing();
        let mut screen = Screen::new(20, 4);
        let mut viewer = None;
        apply(&mut viewer, &single(encoder.encode(&mut screen, false)));
        screen.lines[0] = Line::plain("the last screen");
        let frame = single(encoder.encode(&mut screen, true));
        assert!(!frame.keyframe);
        apply(&mut viewer, &frame);
        assert_eq!(viewer.as_ref(), Some(&screen));
        assert!(encoder.flooding() && encoder.history_debt());
    }
}
