//! What the cluster layer asks of a session, under the session's lock like everything
//! else: take it over or give it up, apply an owner's updates to a replica, serve the other
//! nodes' requests as its owner. The Redis side of all this is in `crate::cluster`.

use std::collections::HashSet;
use std::time::Instant;

use bytes::Bytes;
use protocol::{FrameHeader, RelayToViewer, ViewerCount, close};

use super::{FlushAfter, Session, State, encoded};
use crate::cluster::metrics::ClusterMetrics;
use crate::cluster::wire::{Published, Update};
use crate::cluster::{Peers, Replica};
use crate::fanout::Queued;
use crate::metrics::{Metrics, add};
use crate::notices::Change;

pub(crate) use crate::cluster::Step;

/// A session's part in the cluster.
pub(crate) enum Role {
    Alone,
    /// Owned here, as this owner value.
    Owner(String),
    /// Replicated from another node.
    Replica,
}

/// What became of a replica's update.
pub(crate) enum Replicated {
    /// Applied; a frame among it is queued for these viewers, to send (see
    /// [`crate::fanout`]).
    Done(Queued),
    /// The session ended, with this message for the viewers.
    Ended(Bytes),
}

/// The change told for viewers whose node is gone (or that let the session go).
const GONE: Change = Change::Left { viewer: 0 };

impl State {
    fn replica(&mut self) -> Option<(&mut Replica, ViewerCount)> {
        let local = self.count();
        self.peers.replica_mut().map(|replica| (replica, local))
    }

    /// A replica's host came or went, as its owner says.
    fn host_elsewhere(&mut self, online: bool, metrics: &Metrics) {
        let Some((replica, _)) = self.replica() else {
            return;
        };
        if replica.set_host_online(online) {
            let message = match online {
                true => RelayToViewer::HostBack,
                false => RelayToViewer::HostAway,
            };
            self.broadcast(&encoded(&message), None, metrics);
        }
        if online {
            // A grace period started when the owner was lost is over.
            self.generation += 1;
        }
    }

    fn owner_count(&mut self, total: ViewerCount, metrics: &Metrics) {
        if let Some((replica, local)) = self.replica() {
            replica.set_total(total, local);
            self.broadcast(&encoded(&RelayToViewer::Viewers(total)), None, metrics);
        }
    }

    fn replicate_frame(
        &mut self,
        message: Bytes,
        metrics: &Metrics,
        cluster: &ClusterMetrics,
    ) -> Queued {
        let Ok(Some(header)) = FrameHeader::peek(&message) else {
            add(&cluster.malformed, 1);
            return Queued::default();
        };
        add(&cluster.frames_received, 1);
        // A replica never asks the host for keyframes: its owner does.
        self.retention.record(&message, header.keyframe);
        self.queue_frame(&message, header.keyframe, metrics)
    }

    /// Applies an update; returns the queues a frame was queued in.
    fn apply(
        &mut self,
        published: Published,
        metrics: &Metrics,
        cluster: &ClusterMetrics,
    ) -> Queued {
        match published.update {
            Update::Frame => return self.replicate_frame(published.tail, metrics, cluster),
            Update::HostAway => self.host_elsewhere(false, metrics),
            Update::HostBack => self.host_elsewhere(true, metrics),
            Update::Viewers(total) => self.owner_count(total, metrics),
            Update::Ended | Update::Claimed | Update::Snapshot { .. } => {}
        }
        Queued::default()
    }

    /// Replaces the replica's state with the owner's snapshot; its viewers skip what they
    /// have until the snapshot's keyframe, which follows.
    fn install(&mut self, published: &Published, metrics: &Metrics, cluster: &ClusterMetrics) {
        let Update::Snapshot {
            host_online,
            viewers,
            ..
        } = &published.update
        else {
            return;
        };
        add(&cluster.snapshots_installed, 1);
        let frames: Vec<(Bytes, bool)> = published
            .frames()
            .into_iter()
            .filter_map(|frame| {
                let header = FrameHeader::peek(&frame).ok().flatten()?;
                Some((frame, header.keyframe))
            })
            .collect();
        self.retention.forget();
        for (frame, keyframe) in &frames {
            self.retention.record(frame, *keyframe);
        }
        self.owner_count(*viewers, metrics);
        self.host_elsewhere(*host_online, metrics);
        for viewer in self.viewers.values() {
            viewer.queue.skip_until_keyframe();
        }
        for (frame, keyframe) in &frames {
            self.broadcast(frame, Some(*keyframe), metrics);
        }
    }
}

impl Session {
    pub fn role(&self) -> Role {
        match &self.lock().peers {
            Peers::Alone => Role::Alone,
            Peers::Owner(owner) => Role::Owner(owner.value()),
            Peers::Replica(_) => Role::Replica,
        }
    }

    /// This node takes the session over (`owner` is its new [`Peers::Owner`]); `moved`
    /// tells the replicas that followed another owner. Returns whether the session was a
    /// replica here (its retained frames are then the old owner's).
    pub fn own(&self, mut owner: Peers, moved: bool) -> bool {
        let mut state = self.lock();
        if moved && let Some(owner) = owner.owner_mut() {
            owner.claimed();
        }
        let replica = matches!(state.peers, Peers::Replica(_));
        state.peers = owner;
        replica
    }

    /// Another node took the session over: the host here (a connection it replaced) is
    /// closed. The viewers here stay, following the new owner as `replica` (true); without
    /// viewers the session is let go of here (false).
    pub fn demote(&self, replica: Peers) -> bool {
        let mut state = self.lock();
        if state.ended {
            return false;
        }
        if let Some(host) = state.host.take() {
            host.stop
                .stop(None, close::REPLACED, "the session moved to another node");
        }
        // Whatever grace period runs here is over: the session lives on elsewhere.
        state.generation += 1;
        if state.viewers.is_empty() {
            state.ended = true;
            state.dropped = true;
            state.retention.forget();
            return false;
        }
        state.peers = replica;
        true
    }

    /// A replica asks its owner for a snapshot: now, or again if the last one is late.
    pub fn ask(&self) {
        if let Some((replica, local)) = self.lock().replica() {
            replica.ask(local, Instant::now());
        }
    }

    /// An update from the session's owner, for a replica.
    pub fn replicated(
        &self,
        published: Published,
        metrics: &Metrics,
        cluster: &ClusterMetrics,
    ) -> Replicated {
        let mut state = self.lock();
        if state.ended {
            return Replicated::Done(Queued::default());
        }
        let Some((replica, local)) = state.replica() else {
            return Replicated::Done(Queued::default());
        };
        let step = replica.accept(&published, local, Instant::now());
        if step != Step::Apply {
            tracing::debug!(session = %self.id, stamp = ?published.stamp, ?step, "update from the owner");
        }
        let queued = match step {
            Step::Apply => state.apply(published, metrics, cluster),
            Step::Install => {
                state.install(&published, metrics, cluster);
                Queued::default()
            }
            // The host left the old owner's node; the new owner's snapshot brings it back.
            Step::Moved => {
                state.host_elsewhere(false, metrics);
                Queued::default()
            }
            Step::Skip => Queued::default(),
            Step::End => return Replicated::Ended(published.tail),
        };
        Replicated::Done(queued)
    }

    /// The replica's view of its owner in Redis: `owner` and whether its node is alive.
    /// Returns the generation a grace timer checks when the owner was just found lost. The
    /// owner followed, alive, is reminded of the viewers here now and then, and asked for a
    /// snapshot if it had been lost.
    pub fn owner_is(
        &self,
        owner: Option<(String, u64)>,
        alive: bool,
        metrics: &Metrics,
    ) -> Option<u64> {
        let mut state = self.lock();
        if state.ended {
            return None;
        }
        let (replica, local) = state.replica()?;
        match owner {
            Some(owner) if alive => {
                let now = Instant::now();
                if replica.owner() != Some(&owner) {
                    replica.follow(owner, local, now);
                    state.host_elsewhere(false, metrics);
                } else {
                    // Back after a lapse: a snapshot brings the host's state back.
                    replica.owner_alive();
                    replica.ask(local, now);
                    replica.remind(local, now);
                }
                None
            }
            _ => {
                let lost = replica.lose_owner();
                state.host_elsewhere(false, metrics);
                lost.then_some(state.generation)
            }
        }
    }

    /// The subscription broke (`false`: the owner's updates may be missed, its viewers see
    /// the host away) or is back (`true`: ask for a snapshot).
    pub fn heard(&self, up: bool, metrics: &Metrics) {
        let mut state = self.lock();
        let Some((replica, local)) = state.replica() else {
            return;
        };
        if up {
            replica.ask(local, Instant::now());
        } else {
            replica.out_of_step();
            state.host_elsewhere(false, metrics);
        }
    }

    /// Lets go of a replica that had no viewers at the last look either (telling its
    /// owner); true if it did.
    pub fn drop_if_unwatched(&self) -> bool {
        let mut state = self.lock();
        let watched = !state.viewers.is_empty() || state.ended;
        let Some((replica, _)) = state.replica() else {
            return false;
        };
        if !replica.unwatched_twice(watched) {
            return false;
        }
        state.peers.changed(ViewerCount::default(), None);
        state.ended = true;
        state.dropped = true;
        state.retention.forget();
        true
    }

    /// Closes a replica's viewers with "going away": they rejoin, and find the session
    /// afresh (Redis stayed away through a grace period, so this node cannot tell).
    pub fn let_go(&self) {
        let mut state = self.lock();
        if std::mem::replace(&mut state.ended, true) {
            return;
        }
        state.dropped = true;
        let last = encoded(&RelayToViewer::GoingAway);
        for viewer in state.viewers.values() {
            viewer
                .queue
                .close(Some(last.clone()), close::GOING_AWAY, "going away");
        }
        state.retention.forget();
    }

    /// As owner: node `from` wants the session, with `viewers` there.
    pub fn want(&self, from: String, viewers: ViewerCount) {
        let mut state = self.lock();
        if state.ended {
            return;
        }
        let snapshot = state.retention.snapshot();
        let (host_online, local) = (state.host_online(), state.count());
        if let Some(owner) = state.peers.owner_mut() {
            owner.want(from, viewers, snapshot, host_online, local);
        }
    }

    /// As owner: node `from` has `viewers` now, after `change` (none: it let the session go).
    pub fn remote_viewers(
        &self,
        from: String,
        viewers: ViewerCount,
        change: Option<Change>,
        metrics: &Metrics,
    ) -> FlushAfter {
        let mut state = self.lock();
        if state.ended {
            return None;
        }
        let changed = state.peers.owner_mut()?.remote_viewers(from, viewers);
        match change {
            Some(change) => state.changed(change, metrics),
            None if changed => state.changed(GONE, metrics),
            None => None,
        }
    }

    /// As owner: forgets the viewers of nodes no longer alive.
    pub fn keep_nodes(&self, alive: &HashSet<String>, metrics: &Metrics) -> FlushAfter {
        let mut state = self.lock();
        if state.ended || !state.peers.owner_mut()?.keep_nodes(alive) {
            return None;
        }
        state.changed(GONE, metrics)
    }

    /// A collab viewer's input from another node (an encoded `RelayToHost::ViewerInput`):
    /// to the host, if it is here and has room.
    pub fn remote_input(&self, message: Bytes) -> bool {
        let state = self.lock();
        match (&state.host, &state.peers) {
            (Some(host), Peers::Owner(_)) => host.tx.try_send(message).is_ok(),
            _ => false,
        }
    }

    /// A collab viewer's input here, for a host on another node; false if it cannot go.
    pub fn forward_input(&self, message: &Bytes) -> bool {
        self.lock().peers.input(message)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use protocol::{HostToRelay, Mode, ScreenFrame, Transport};

    use super::*;
    use crate::cluster::wire::{Note, decode_update};
    use crate::cluster::{Signer, Wire};

    fn frame(seq: u64, keyframe: bool) -> Bytes {
        encoded(&HostToRelay::Frame(ScreenFrame {
            seq,
            keyframe,
            payload: vec![1, 2, 3],
        }))
    }

    /// A session owned by node A, whose host is online.
    fn owned_by(a: &Arc<Wire>) -> Arc<Session> {
        let session = Session::with_peers("s".into(), Peers::owner(a.clone(), "s", 5));
        let host = crate::session::HostHandle {
            conn: 1,
            tx: tokio::sync::mpsc::channel(64).0,
            stop: crate::stop::Stopper::default(),
        };
        assert!(
            session
                .attach_host(host, false, &Metrics::default())
                .is_ok()
        );
        session
    }

    /// A replica on node B of A's session.
    fn replica_on(b: &Arc<Wire>) -> Arc<Session> {
        Session::with_peers(
            "s".into(),
            Peers::replica(b.clone(), "s", Some(("a".into(), 5))),
        )
    }

    /// Carries B's notes to A and A's updates to B until neither has more to say; returns
    /// how many updates A published.
    fn exchange(a: &Arc<Wire>, owned: &Session, b: &Arc<Wire>, replica: &Session) -> usize {
        let (metrics, cluster) = (Metrics::default(), ClusterMetrics::default());
        let mut published = 0;
        loop {
            let notes = b.take_notes();
            for (to, note) in &notes {
                assert_eq!(to, "a");
                match note.clone() {
                    Note::Want { from, viewers, .. } => owned.want(from, viewers),
                    Note::Viewers {
                        from,
                        viewers,
                        change,
                        ..
                    } => {
                        owned.remote_viewers(from, viewers, change, &metrics);
                    }
                    other => panic!("{other:?}"),
                }
            }
            let updates = a.take_updates();
            published += updates.len();
            for (_, payload) in &updates {
                let update = decode_update(payload.clone()).unwrap();
                let _ = replica.replicated(update, &metrics, &cluster);
            }
            if notes.is_empty() && updates.is_empty() {
                return published;
            }
        }
    }

    /// A in step with B: B asked, A answered with a snapshot that B installed.
    fn in_step() -> (Arc<Wire>, Arc<Session>, Arc<Wire>, Arc<Session>) {
        let (a, b) = (
            Arc::new(Wire::new("a".into(), Signer::new(b"secret"))),
            Arc::new(Wire::new("b".into(), Signer::new(b"secret"))),
        );
        let (owned, replica) = (owned_by(&a), replica_on(&b));
        let metrics = Metrics::default();
        owned.frame(frame(0, true), true, &metrics);
        let joined = replica.join(1, Mode::Read, Transport::WebSocket, 8, &metrics);
        assert!(joined.is_ok());
        replica.ask();
        assert!(exchange(&a, &owned, &b, &replica) >= 1, "a snapshot");
        (a, owned, b, replica)
    }

    /// A's tick ran while B's node record had lapsed for a moment (a late heartbeat): A
    /// forgot B and published nothing more for it. B's reminder brings it back, and the
    /// gap in A's counter makes B ask for what it missed.
    #[test]
    fn a_replica_its_owner_forgot_for_a_tick_is_replicated_again() {
        let metrics = Metrics::default();
        let (a, owned, b, replica) = in_step();
        owned.frame(frame(1, false), false, &metrics);
        assert_eq!(exchange(&a, &owned, &b, &replica), 1, "in step: published");
        let _ = owned.keep_nodes(&HashSet::from(["a".to_owned()]), &metrics);
        owned.frame(frame(2, false), false, &metrics);
        assert_eq!(a.take_updates().len(), 0, "B forgotten: nothing published");
        // B's tick sees A alive, its owner as before: B reminds A of its viewers.
        assert_eq!(
            replica.owner_is(Some(("a".into(), 5)), true, &metrics),
            None
        );
        let notes = b.take_notes();
        assert!(
            matches!(&notes[..], [(_, Note::Viewers { from, .. })] if from == "b"),
            "{notes:?}"
        );
        let Note::Viewers {
            from,
            viewers,
            change,
            ..
        } = notes[0].1.clone()
        else {
            unreachable!()
        };
        owned.remote_viewers(from, viewers, change, &metrics);
        // A counts B's viewers again (published), B finds a gap and asks, A answers with
        // a snapshot: every update B applies from now on is A's.
        assert!(
            exchange(&a, &owned, &b, &replica) >= 2,
            "the count and a snapshot"
        );
        owned.frame(frame(3, false), false, &metrics);
        assert_eq!(exchange(&a, &owned, &b, &replica), 1, "frame 3, for B");
        assert_eq!(
            replica.lock().retention.snapshot().0.len(),
            4,
            "B holds the keyframe and every diff after it"
        );
    }

    /// A's node record lapsed for one of B's ticks, A and its host never went anywhere:
    /// B asks A for a snapshot, which has the host online again.
    #[test]
    fn an_owner_back_after_a_missed_heartbeat_has_its_host_online_again() {
        let metrics = Metrics::default();
        let (a, owned, b, replica) = in_step();
        let owner = Some(("a".to_owned(), 5));
        assert!(replica.host_online());
        assert!(replica.owner_is(owner.clone(), false, &metrics).is_some());
        assert!(!replica.host_online(), "the owner lost: the host away");
        assert_eq!(replica.owner_is(owner, true, &metrics), None);
        assert!(exchange(&a, &owned, &b, &replica) >= 1, "a snapshot");
        assert!(replica.host_online(), "the owner is back, its host with it");
    }

    /// After that lapse, A's node really dies: a grace period starts again.
    #[test]
    fn an_owner_lost_again_after_coming_back_starts_a_grace_period() {
        let metrics = Metrics::default();
        let (_a, _owned, _b, replica) = in_step();
        let owner = Some(("a".to_owned(), 5));
        assert!(replica.owner_is(owner.clone(), false, &metrics).is_some());
        assert_eq!(
            replica.owner_is(owner.clone(), false, &metrics),
            None,
            "still lost"
        );
        assert_eq!(replica.owner_is(owner.clone(), true, &metrics), None);
        assert!(
            replica.owner_is(owner, false, &metrics).is_some(),
            "lost again: a grace period starts"
        );
    }
}
