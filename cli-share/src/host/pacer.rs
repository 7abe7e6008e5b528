//! When the next frame goes: every timing of frame sending, in one place.
//!
//! A frame goes once the screen changed, the link has written the last one and the frame
//! interval has passed. An isolated change goes at once; changes that come while a frame
//! is in flight or the interval runs accumulate, and the next frame carries them all. The
//! interval grows with the cost of a snapshot ([`SNAPSHOT_COST_FACTOR`]), so snapshots
//! take a bounded share of the time. During a flood (the encoder says so) frames come
//! every [`FLOOD_FRAME_INTERVAL`] unless the output pauses for [`FLOOD_PAUSE`] (what a
//! Ctrl-C brings back shows at once), and the scrollback the flood left out is repaid once
//! output has been calm for [`CALM_AFTER`]. The emulator parses small output that follows
//! a pause at once, and a flood in batches timed by [`BATCHES`], which the calm period
//! must outlast; when it reports that a flood's output paused and is all parsed, the last
//! frame goes as soon as the snapshot cost allows, without waiting for an interval.

use std::time::Duration;

use tokio::time::Instant;

use crate::sync::emulator_thread::Batches;

/// Shortest time between two frames (and so between two snapshots).
pub const MIN_FRAME_INTERVAL: Duration = Duration::from_millis(10);
/// A snapshot takes at most 1/N of the time while the screen changes continuously.
pub const SNAPSHOT_COST_FACTOR: u32 = 4;
/// The frame interval during a flood, when every frame replaces the whole screen anyway.
pub const FLOOD_FRAME_INTERVAL: Duration = Duration::from_millis(40);
/// During a flood, a pause this long in the output ends the wait for the flood interval.
pub const FLOOD_PAUSE: Duration = Duration::from_millis(4);
/// Quiet time after which the scrollback left out during a flood is sent.
pub const CALM_AFTER: Duration = Duration::from_millis(150);

/// A frame's stream copy leaves this long after its datagram copy: in another packet, so
/// one loss cannot take both, and once the relay has forwarded the datagram, so that the
/// second packet and its acknowledgement do not compete with it for the CPU. The next
/// frame's datagram does not wait for it.
pub const STREAM_COPY_LEAD: Duration = Duration::from_millis(1);

/// How the emulator thread batches a flood's output.
pub const BATCHES: Batches = Batches {
    longest: Duration::from_millis(50),
    ended_by_pause: Duration::from_millis(1),
    inline_bytes: 32 * 1024,
    history_after: Duration::from_millis(10),
};

// How the timings relate. Durations compare in const context through their nanoseconds.
const _: () = {
    let nanos = Duration::as_nanos;
    // The frames' stream copies keep up with the frames.
    assert!(nanos(&STREAM_COPY_LEAD) < nanos(&MIN_FRAME_INTERVAL));
    // The flood interval is an interval, only longer.
    assert!(nanos(&MIN_FRAME_INTERVAL) <= nanos(&FLOOD_FRAME_INTERVAL));
    // After a Ctrl-C in a flood the prompt ends the batch, is parsed, and the output's
    // pause sends it: sooner than the flood interval would.
    assert!(nanos(&BATCHES.ended_by_pause) + nanos(&FLOOD_PAUSE) < nanos(&FLOOD_FRAME_INTERVAL));
    // A flood must not look calm between two batches (a batch, and the parse of the one
    // before it): that would repay the scrollback while the flood buries it again.
    assert!(2 * nanos(&BATCHES.longest) <= nanos(&CALM_AFTER));
    // Calm means several frame intervals without output, not one missed frame.
    assert!(2 * nanos(&FLOOD_FRAME_INTERVAL) < nanos(&CALM_AFTER));
    // A flood's history is parsed on the thread before the scrollback is repaid, whose
    // snapshot would parse it on the host's loop otherwise.
    assert!(nanos(&BATCHES.history_after) < nanos(&CALM_AFTER));
};

/// The timing state of frame sending; see the module's documentation.
#[derive(Debug)]
pub struct FramePacer {
    /// The screen changed since the last frame.
    dirty: bool,
    /// A frame was handed to the link and not yet written.
    in_flight: bool,
    /// No frame before this instant.
    next_frame_at: Instant,
    /// Not even a flood's last frame before this instant: the snapshot cost's share.
    cost_allows_at: Instant,
    /// The emulator reported that a flood's output paused and is all parsed.
    settled: bool,
    /// During a flood, no frame before this instant unless the output pauses.
    flood_frame_at: Instant,
    /// When the emulator last reported a change.
    last_change: Instant,
}

impl FramePacer {
    pub fn new() -> FramePacer {
        let now = Instant::now();
        FramePacer {
            dirty: false,
            in_flight: false,
            next_frame_at: now,
            cost_allows_at: now,
            settled: false,
            flood_frame_at: now,
            last_change: now,
        }
    }

    /// The emulator reported a change of the screen; `settled`: a flood's output paused
    /// and is all parsed.
    pub fn changed(&mut self, settled: bool) {
        self.dirty = true;
        self.settled |= settled;
        self.last_change = Instant::now();
    }

    /// The next frame must go even if the screen did not change (a keyframe is due).
    pub fn resend(&mut self) {
        self.dirty = true;
    }

    /// The link wrote the frame handed to it, or lost it with the connection: it can take
    /// the next.
    pub fn link_free(&mut self) {
        self.in_flight = false;
    }

    /// A frame waits only for its time: the screen changed, the link is `live` and free.
    /// Then when it may go: after the frame interval, during a `flooding` output after the
    /// flood interval unless the output pauses first, and once a flood has settled as soon
    /// as the snapshot cost allows.
    pub fn due(&self, live: bool, flooding: bool) -> Option<Instant> {
        if !self.dirty || self.in_flight || !live {
            return None;
        }
        Some(if self.settled {
            self.cost_allows_at
        } else if flooding {
            let paused_at = self.last_change + FLOOD_PAUSE;
            self.next_frame_at.max(self.flood_frame_at.min(paused_at))
        } else {
            self.next_frame_at
        })
    }

    /// Whether the next frame ends a flood: its output paused and is all parsed.
    pub fn settled(&self) -> bool {
        self.settled
    }

    /// Whether a frame should be made now.
    pub fn is_due(&self, live: bool, flooding: bool) -> bool {
        self.due(live, flooding)
            .is_some_and(|due| due <= Instant::now())
    }

    /// A frame was made from the current screen, at a snapshot `cost`: the screen counts
    /// as sent, and the next frame waits out an interval that grows with the cost.
    pub fn made(&mut self, cost: Duration) {
        let now = Instant::now();
        self.dirty = false;
        self.settled = false;
        self.cost_allows_at = now + cost * SNAPSHOT_COST_FACTOR;
        self.next_frame_at = self.cost_allows_at.max(now + MIN_FRAME_INTERVAL);
        self.flood_frame_at = now + FLOOD_FRAME_INTERVAL;
    }

    /// The link took the frame: none goes until it is written.
    pub fn handed(&mut self) {
        self.in_flight = true;
    }

    /// Whether a frame is in the link's hands.
    pub fn in_flight(&self) -> bool {
        self.in_flight
    }

    /// When the output will have been calm for [`CALM_AFTER`], unless it changes again.
    pub fn calm_at(&self) -> Instant {
        self.last_change + CALM_AFTER
    }
}

#[cfg(test)]
mod tests {
    use tokio::time::advance;

    use super::*;

    const LIVE: bool = true;
    const CALM: bool = false;
    const FLOODING: bool = true;

    /// A pacer that has just sent a frame made at `cost`, the link free again.
    fn after_a_frame(cost: Duration) -> FramePacer {
        let mut pacer = FramePacer::new();
        pacer.changed(false);
        assert!(pacer.is_due(LIVE, CALM));
        pacer.made(cost);
        pacer.handed();
        pacer.link_free();
        pacer
    }

    #[tokio::test(start_paused = true)]
    async fn an_isolated_change_goes_at_once() {
        let mut pacer = FramePacer::new();
        assert_eq!(pacer.due(LIVE, CALM), None, "nothing changed");
        pacer.changed(false);
        assert_eq!(pacer.due(LIVE, CALM), Some(Instant::now()));
        assert!(pacer.is_due(LIVE, CALM));
        assert_eq!(pacer.due(!LIVE, CALM), None, "not before the link is up");
    }

    #[tokio::test(start_paused = true)]
    async fn changes_wait_for_the_link_and_the_interval_and_go_as_one_frame() {
        let mut pacer = FramePacer::new();
        pacer.changed(false);
        pacer.made(Duration::ZERO);
        pacer.handed();
        let sent = Instant::now();
        pacer.changed(false);
        pacer.changed(false);
        assert_eq!(pacer.due(LIVE, CALM), None, "a frame is in flight");
        advance(Duration::from_millis(3)).await;
        pacer.link_free();
        assert_eq!(pacer.due(LIVE, CALM), Some(sent + MIN_FRAME_INTERVAL));
        assert!(!pacer.is_due(LIVE, CALM));
        advance(MIN_FRAME_INTERVAL).await;
        assert!(pacer.is_due(LIVE, CALM));
        pacer.made(Duration::ZERO);
        assert_eq!(
            pacer.due(LIVE, CALM),
            None,
            "both changes went in that frame"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_interval_grows_with_the_snapshot_cost_even_when_the_output_pauses() {
        let cost = Duration::from_millis(7);
        let mut pacer = after_a_frame(cost);
        let made = Instant::now();
        pacer.changed(false);
        for flooding in [CALM, FLOODING] {
            assert_eq!(
                pacer.due(LIVE, flooding),
                Some(made + cost * SNAPSHOT_COST_FACTOR)
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_flood_waits_for_its_interval_while_the_output_keeps_coming() {
        let mut pacer = after_a_frame(Duration::ZERO);
        let made = Instant::now();
        let step = FLOOD_PAUSE / 2;
        while Instant::now() + step < made + FLOOD_FRAME_INTERVAL {
            advance(step).await;
            pacer.changed(false);
            assert!(!pacer.is_due(LIVE, FLOODING));
            assert!(pacer.is_due(LIVE, CALM) == (Instant::now() >= made + MIN_FRAME_INTERVAL));
        }
        advance(step).await;
        pacer.changed(false);
        assert!(pacer.is_due(LIVE, FLOODING), "the flood interval is over");
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_in_a_flood_sends_the_frame_at_once() {
        let mut pacer = after_a_frame(Duration::ZERO);
        advance(MIN_FRAME_INTERVAL).await;
        pacer.changed(false);
        assert!(!pacer.is_due(LIVE, FLOODING));
        advance(FLOOD_PAUSE).await;
        assert!(pacer.is_due(LIVE, FLOODING), "what a Ctrl-C brings back");
    }

    #[tokio::test(start_paused = true)]
    async fn calm_comes_after_the_last_change() {
        let mut pacer = after_a_frame(Duration::ZERO);
        pacer.changed(false);
        let changed = Instant::now();
        assert_eq!(pacer.calm_at(), changed + CALM_AFTER);
        advance(CALM_AFTER / 2).await;
        pacer.resend();
        assert_eq!(
            pacer.calm_at(),
            changed + CALM_AFTER,
            "a resend is no output"
        );
        pacer.changed(false);
        assert_eq!(pacer.calm_at(), Instant::now() + CALM_AFTER);
    }

    #[tokio::test(start_paused = true)]
    async fn a_resend_goes_without_a_change() {
        let mut pacer = after_a_frame(Duration::ZERO);
        assert_eq!(pacer.due(LIVE, CALM), None);
        pacer.resend();
        advance(MIN_FRAME_INTERVAL).await;
        assert!(pacer.is_due(LIVE, CALM));
    }
}
