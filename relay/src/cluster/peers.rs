//! A session's side of the cluster, held in the session's state and changed under its
//! lock, so that what it publishes is in the order the session saw things happen. Without
//! `--cluster` every session is [`Peers::Alone`] and nothing here runs.
//!
//! The node its host is connected to owns the session ([`Owner`]): it publishes frames,
//! host away and back, the viewer count and the end on the session's channel, once each
//! whatever the number of viewers, and only while another node has viewers of it; its
//! counter advances for every update, published or not. Every other node with viewers holds
//! a [`Replica`]: it applies the owner's updates in counter order and asks the owner for a
//! snapshot when it starts, when the owner changes, when it finds a gap and when the owner's
//! node is seen alive again after being lost. It reminds the owner of its viewers every few
//! seconds: an owner that forgot the node (its record was late in Redis) counts them and
//! publishes again, and the replica, finding a gap, asks for a snapshot. Updates are
//! stamped with the owner and its term, so that a replica never mixes the streams of two
//! owners.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use protocol::ViewerCount;

use crate::cluster::Wire;
use crate::cluster::wire::{Note, Published, Stamp, Update};
use crate::metrics::add;
use crate::notices::Change;

/// How long a replica waits for a snapshot before asking again.
const ASK_AGAIN: Duration = Duration::from_secs(1);

/// How often a replica in step reminds its owner of its viewers.
const REMIND: Duration = Duration::from_secs(2);

#[derive(Default)]
pub(crate) enum Peers {
    #[default]
    Alone,
    Owner(Owner),
    Replica(Replica),
}

pub(crate) struct Owner {
    wire: Arc<Wire>,
    sid: String,
    term: u64,
    next: u64,
    /// Viewers on each node that replicates the session.
    remote: HashMap<String, ViewerCount>,
}

pub(crate) struct Replica {
    wire: Arc<Wire>,
    sid: String,
    /// The owner followed (node, term), once known.
    owner: Option<(String, u64)>,
    /// The counter of the owner's next update; `None` until a snapshot came.
    next: Option<u64>,
    asked: Option<Instant>,
    /// When the owner was last reminded of this node's viewers.
    reminded: Option<Instant>,
    /// Viewers on the other nodes, as of the owner's last count.
    others: ViewerCount,
    host_online: bool,
    /// The owner's node is gone and no other node has the session yet.
    owner_lost: bool,
    /// Seen without viewers by the last tick: let go of at the next if still so.
    unwatched: bool,
}

/// What a replica does with an update.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// The next in order: apply it.
    Apply,
    /// A snapshot for this node: replace the replica's state with it.
    Install,
    /// Another node took the session: the host went away from the old one; a snapshot has
    /// been asked for.
    Moved,
    /// Out of order (a gap: a snapshot has been asked for), a duplicate, or from an owner
    /// this replica does not follow.
    Skip,
    /// The session ended.
    End,
}

fn plus(a: ViewerCount, b: ViewerCount) -> ViewerCount {
    ViewerCount {
        read: a.read.saturating_add(b.read),
        collab: a.collab.saturating_add(b.collab),
    }
}

fn minus(a: ViewerCount, b: ViewerCount) -> ViewerCount {
    ViewerCount {
        read: a.read.saturating_sub(b.read),
        collab: a.collab.saturating_sub(b.collab),
    }
}

impl Peers {
    /// This node took the session with a fresh `term`.
    pub fn owner(wire: Arc<Wire>, sid: &str, term: u64) -> Peers {
        Peers::Owner(Owner {
            wire,
            sid: sid.to_owned(),
            term,
            next: 0,
            remote: HashMap::new(),
        })
    }

    /// This node has viewers of a session owned by `owner`.
    pub fn replica(wire: Arc<Wire>, sid: &str, owner: Option<(String, u64)>) -> Peers {
        Peers::Replica(Replica {
            wire,
            sid: sid.to_owned(),
            owner,
            next: None,
            asked: None,
            reminded: None,
            others: ViewerCount::default(),
            host_online: true,
            owner_lost: false,
            unwatched: false,
        })
    }

    /// Viewers on other nodes.
    pub fn others(&self) -> ViewerCount {
        match self {
            Peers::Alone => ViewerCount::default(),
            Peers::Owner(owner) => owner.others(),
            Peers::Replica(replica) => replica.others,
        }
    }

    /// Whether a replica's owner has the host.
    pub fn host_elsewhere(&self) -> bool {
        matches!(self, Peers::Replica(r) if r.host_online)
    }

    pub fn replica_mut(&mut self) -> Option<&mut Replica> {
        match self {
            Peers::Replica(replica) => Some(replica),
            _ => None,
        }
    }

    pub fn owner_mut(&mut self) -> Option<&mut Owner> {
        match self {
            Peers::Owner(owner) => Some(owner),
            _ => None,
        }
    }

    /// A host frame, for the other nodes' viewers.
    pub fn frame(&mut self, message: &Bytes) {
        if let Some(owner) = self.owner_mut()
            && owner.publish_if_replicated(&Update::Frame, std::slice::from_ref(message))
        {
            add(&owner.wire.metrics.frames_published, 1);
        }
    }

    /// The host came (`true`) or went.
    pub fn host(&mut self, online: bool) {
        if let Some(owner) = self.owner_mut() {
            let update = if online {
                Update::HostBack
            } else {
                Update::HostAway
            };
            owner.publish_if_replicated(&update, &[]);
        }
    }

    /// The count of viewers on every node changed.
    pub fn viewers(&mut self, total: ViewerCount) {
        if let Some(owner) = self.owner_mut() {
            owner.publish_if_replicated(&Update::Viewers(total), &[]);
        }
    }

    /// The session ended with `last` (told to every replica, whether it has viewers yet or not).
    pub fn ended(&mut self, last: &Bytes) {
        if let Some(owner) = self.owner_mut() {
            owner.publish(&Update::Ended, std::slice::from_ref(last));
        }
    }

    /// A replica tells its owner of a change among its viewers (now `local`); false when
    /// the session is not a replica (the host is told instead).
    pub fn changed(&mut self, local: ViewerCount, change: Option<Change>) -> bool {
        let Some(replica) = self.replica_mut() else {
            return false;
        };
        replica.note(|sid, from| Note::Viewers {
            sid,
            from,
            viewers: local,
            change,
        });
        true
    }

    /// A replica forwards a collab viewer's input to its owner; false when there is none.
    pub fn input(&self, message: &Bytes) -> bool {
        match self {
            Peers::Replica(replica) if replica.owner.is_some() => {
                replica.note(|sid, _| Note::Input {
                    sid,
                    message: message.to_vec(),
                });
                true
            }
            _ => false,
        }
    }
}

impl Owner {
    fn publish(&mut self, update: &Update, tails: &[Bytes]) {
        let stamp = Stamp {
            owner: self.wire.node.clone(),
            term: self.term,
            n: self.next,
        };
        self.next += 1;
        self.wire.update(&self.sid, &stamp, update, tails);
    }

    /// Publishes `update` if another node replicates the session; true if it did. Its
    /// number is used up either way: a node that replicates the session again after the
    /// owner forgot it finds a gap, and asks for what it missed.
    fn publish_if_replicated(&mut self, update: &Update, tails: &[Bytes]) -> bool {
        if self.remote.is_empty() {
            self.next += 1;
            return false;
        }
        self.publish(update, tails);
        true
    }

    fn others(&self) -> ViewerCount {
        self.remote
            .values()
            .fold(ViewerCount::default(), |a, b| plus(a, *b))
    }

    /// Tells the replicas following the last owner that this one took over.
    pub fn claimed(&mut self) {
        self.publish(&Update::Claimed, &[]);
    }

    /// The owner's term and node, as kept in Redis.
    pub fn value(&self) -> String {
        crate::cluster::keys::owner_value(&self.wire.node, self.term)
    }

    /// Node `from` wants the session: remember its viewers and send it `frames` (the
    /// retained keyframe and diffs; `waiting` when there is no keyframe), with the count of
    /// viewers on every node (`local` here).
    pub fn want(
        &mut self,
        from: String,
        viewers: ViewerCount,
        (frames, waiting): (Vec<Bytes>, bool),
        host_online: bool,
        local: ViewerCount,
    ) {
        self.remote.insert(from.clone(), viewers);
        let others = self.others();
        let snapshot = Update::Snapshot {
            to: from,
            host_online,
            viewers: plus(local, others),
            waiting,
            frames: frames.iter().map(|f| f.len() as u32).collect(),
        };
        self.publish(&snapshot, &frames);
        add(&self.wire.metrics.snapshots_sent, 1);
    }

    /// Node `from` now has `viewers`; with none it no longer replicates the session.
    /// Returns whether that changed the count.
    pub fn remote_viewers(&mut self, from: String, viewers: ViewerCount) -> bool {
        let before = match viewers.total() {
            0 => self.remote.remove(&from),
            _ => self.remote.insert(from, viewers),
        };
        before.unwrap_or_default() != viewers
    }

    /// Forgets nodes that are no longer alive; true if that changed the count.
    pub fn keep_nodes(&mut self, alive: &HashSet<String>) -> bool {
        let before = self.remote.len();
        self.remote.retain(|node, _| alive.contains(node));
        self.remote.len() != before
    }
}

impl Replica {
    fn note(&self, note: impl FnOnce(String, String) -> Note) {
        if let Some((owner, _)) = &self.owner {
            let note = note(self.sid.clone(), self.wire.node.clone());
            self.wire.note(owner, &note);
        }
    }

    /// Asks the owner for a snapshot (telling it the `local` viewers), unless one was asked
    /// for less than a second ago.
    pub fn ask(&mut self, local: ViewerCount, now: Instant) {
        if self.next.is_some() || self.asked.is_some_and(|at| now - at < ASK_AGAIN) {
            return;
        }
        if self.owner.is_some() {
            self.asked = Some(now);
            self.note(|sid, from| Note::Want {
                sid,
                from,
                viewers: local,
            });
        }
    }

    /// Reminds the owner of the viewers here (`local`), at most every [`REMIND`], while in
    /// step (out of step, [`ask`](Self::ask) tells them).
    pub fn remind(&mut self, local: ViewerCount, now: Instant) {
        if self.next.is_none() || self.reminded.is_some_and(|at| now - at < REMIND) {
            return;
        }
        self.reminded = Some(now);
        self.note(|sid, from| Note::Viewers {
            sid,
            from,
            viewers: local,
            change: None,
        });
    }

    /// Where an update goes; asks for a snapshot when it finds the replica out of step.
    pub fn accept(&mut self, published: &Published, local: ViewerCount, now: Instant) -> Step {
        let Published { stamp, update, .. } = published;
        let from = (stamp.owner.clone(), stamp.term);
        match update {
            Update::Ended => return Step::End,
            Update::Snapshot { to, .. } if *to == self.wire.node => {
                self.owner = Some(from);
                self.next = Some(stamp.n + 1);
                self.asked = None;
                self.owner_lost = false;
                return Step::Install;
            }
            Update::Claimed if self.owner.as_ref() != Some(&from) => {
                self.follow(from, local, now);
                return Step::Moved;
            }
            _ => {}
        }
        if self.owner.as_ref() != Some(&from) {
            return Step::Skip;
        }
        match self.next {
            Some(next) if stamp.n == next => {
                self.next = Some(next + 1);
                Step::Apply
            }
            Some(next) if stamp.n < next => Step::Skip,
            Some(_) => {
                add(&self.wire.metrics.gaps, 1);
                self.next = None;
                self.ask(local, now);
                Step::Skip
            }
            None => {
                self.ask(local, now);
                Step::Skip
            }
        }
    }

    /// Follows `owner` from now on, and asks it for a snapshot.
    pub fn follow(&mut self, owner: (String, u64), local: ViewerCount, now: Instant) {
        self.owner = Some(owner);
        self.next = None;
        self.asked = None;
        self.owner_lost = false;
        self.ask(local, now);
    }

    /// The updates stopped (the subscription broke): ask for a snapshot once they can come.
    pub fn out_of_step(&mut self) {
        self.next = None;
        self.asked = None;
    }

    pub fn owner(&self) -> Option<&(String, u64)> {
        self.owner.as_ref()
    }

    /// Whether a replica without viewers (`watched` false) was already without them at the
    /// last look: it is let go of then, so that a viewer on its way in finds it.
    pub fn unwatched_twice(&mut self, watched: bool) -> bool {
        if watched {
            self.unwatched = false;
            return false;
        }
        std::mem::replace(&mut self.unwatched, true)
    }

    /// The owner's node is gone; true the first time (the grace period starts).
    pub fn lose_owner(&mut self) -> bool {
        !std::mem::replace(&mut self.owner_lost, true)
    }

    /// The owner followed is seen alive. If its node had been lost, the updates and the
    /// host's state may have been missed meanwhile: the replica is out of step, to ask for
    /// a snapshot, and a later loss starts a grace period again.
    pub fn owner_alive(&mut self) {
        if std::mem::replace(&mut self.owner_lost, false) {
            self.out_of_step();
        }
    }

    /// Whether the host is online; returns whether that changed.
    pub fn set_host_online(&mut self, online: bool) -> bool {
        std::mem::replace(&mut self.host_online, online) != online
    }

    /// The owner counted `total` viewers in all, `local` of them here.
    pub fn set_total(&mut self, total: ViewerCount, local: ViewerCount) {
        self.others = minus(total, local);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::wire::decode_update;

    fn wire(node: &str) -> Arc<Wire> {
        Arc::new(Wire::new(
            node.to_owned(),
            crate::cluster::Signer::new(b"secret"),
        ))
    }

    fn published(owner: &str, term: u64, n: u64, update: Update) -> Published {
        Published {
            stamp: Stamp {
                owner: owner.into(),
                term,
                n,
            },
            update,
            tail: Bytes::new(),
        }
    }

    fn snapshot_for(to: &str) -> Update {
        Update::Snapshot {
            to: to.into(),
            host_online: true,
            viewers: ViewerCount::default(),
            waiting: false,
            frames: vec![],
        }
    }

    /// What `replica` does with update `n` of `owner`'s `term`, at `now`.
    fn step(
        replica: &mut Replica,
        (owner, term): (&str, u64),
        n: u64,
        update: Update,
        now: Instant,
    ) -> Step {
        let local = ViewerCount { read: 1, collab: 0 };
        replica.accept(&published(owner, term, n, update), local, now)
    }

    #[test]
    fn a_replica_applies_in_order_once_and_asks_again_after_a_gap() {
        let b = wire("b");
        let mut peers = Peers::replica(b.clone(), "s", Some(("a".into(), 1)));
        let replica = peers.replica_mut().unwrap();
        let now = Instant::now();
        replica.ask(ViewerCount { read: 1, collab: 0 }, now);
        let asked = b.take_notes();
        assert!(matches!(&asked[..], [(to, Note::Want { from, .. })] if to == "a" && from == "b"));
        let a = ("a", 1);
        let expected = [
            // Frames before the snapshot are in it.
            (4, Update::Frame, Step::Skip),
            (5, snapshot_for("b"), Step::Install),
            (6, Update::Frame, Step::Apply),
            // A duplicate, then another node's snapshot, in step.
            (6, Update::Frame, Step::Skip),
            (7, snapshot_for("c"), Step::Apply),
        ];
        for (n, update, expected) in expected {
            assert_eq!(step(replica, a, n, update, now), expected, "update {n}");
        }
        assert_eq!(
            step(replica, ("x", 9), 8, Update::Frame, now),
            Step::Skip,
            "another owner's"
        );
        assert!(b.take_notes().is_empty());
        // A gap: skipped, and a snapshot asked for at once, not again within a second.
        assert_eq!(step(replica, a, 10, Update::Frame, now), Step::Skip);
        assert_eq!(b.take_notes().len(), 1);
        assert_eq!(step(replica, a, 11, Update::Frame, now), Step::Skip);
        assert!(b.take_notes().is_empty(), "not again within a second");
        let later = now + ASK_AGAIN;
        step(replica, a, 12, Update::Frame, later);
        assert_eq!(b.take_notes().len(), 1, "again after a second");
        assert_eq!(step(replica, a, 13, Update::Ended, later), Step::End);
    }

    #[test]
    fn a_new_owner_is_followed_from_its_claim() {
        let b = wire("b");
        let mut peers = Peers::replica(b.clone(), "s", Some(("a".into(), 1)));
        let replica = peers.replica_mut().unwrap();
        let now = Instant::now();
        step(replica, ("a", 1), 0, snapshot_for("b"), now);
        assert_eq!(
            step(replica, ("c", 2), 0, Update::Claimed, now),
            Step::Moved
        );
        assert_eq!(replica.owner(), Some(&("c".into(), 2)));
        let asked = b.take_notes();
        assert!(matches!(&asked[..], [(to, Note::Want { .. })] if to == "c"));
        // The old owner's last frames are not mixed in.
        assert_eq!(step(replica, ("a", 1), 1, Update::Frame, now), Step::Skip);
        assert_eq!(
            step(replica, ("c", 2), 1, snapshot_for("b"), now),
            Step::Install
        );
        assert_eq!(step(replica, ("c", 2), 2, Update::Frame, now), Step::Apply);
    }

    #[test]
    fn an_owner_publishes_once_per_frame_and_only_for_replicas() {
        let a = wire("a");
        let mut peers = Peers::owner(a.clone(), "s", 5);
        let frame = Bytes::from_static(b"frame");
        peers.frame(&frame);
        assert!(a.take_updates().is_empty(), "nobody replicates yet");
        let owner = peers.owner_mut().unwrap();
        let viewers = ViewerCount { read: 3, collab: 1 };
        let local = ViewerCount { read: 1, collab: 0 };
        owner.want(
            "b".into(),
            viewers,
            (vec![frame.clone()], false),
            true,
            local,
        );
        owner.want("c".into(), viewers, (vec![], true), true, local);
        assert_eq!(peers.others(), ViewerCount { read: 6, collab: 2 });
        a.take_updates();
        peers.frame(&frame);
        let sent = a.take_updates();
        assert_eq!(sent.len(), 1, "one publish whatever the number of viewers");
        let (channel, payload) = &sent[0];
        assert_eq!(channel, "share:session:s");
        let update = decode_update(payload.clone()).unwrap();
        assert_eq!(
            update.stamp.n, 3,
            "the frame nobody replicated used up a number"
        );
        assert_eq!(update.tail, frame);
        let owner = peers.owner_mut().unwrap();
        owner.remote_viewers("b".into(), ViewerCount::default());
        assert!(owner.keep_nodes(&HashSet::from(["a".to_owned()])));
        peers.frame(&frame);
        assert!(a.take_updates().is_empty(), "nobody replicates any more");
    }

    #[test]
    fn a_replica_forwards_input_and_changes_to_its_owner() {
        let b = wire("b");
        let mut peers = Peers::replica(b.clone(), "s", Some(("a".into(), 1)));
        assert!(peers.input(&Bytes::from_static(b"typed")));
        let local = ViewerCount { read: 0, collab: 1 };
        assert!(peers.changed(local, Some(Change::Left { viewer: 3 })));
        let notes = b.take_notes();
        assert!(matches!(&notes[0].1, Note::Input { message, .. } if message == b"typed"));
        assert!(matches!(&notes[1].1, Note::Viewers { viewers, .. } if *viewers == local));
        assert!(!Peers::Alone.input(&Bytes::new()));
    }

    #[test]
    fn a_replica_in_step_reminds_its_owner_of_its_viewers_every_few_seconds() {
        let b = wire("b");
        let mut peers = Peers::replica(b.clone(), "s", Some(("a".into(), 1)));
        let replica = peers.replica_mut().unwrap();
        let local = ViewerCount { read: 2, collab: 0 };
        let now = Instant::now();
        replica.remind(local, now);
        assert!(b.take_notes().is_empty(), "out of step, it asks instead");
        step(replica, ("a", 1), 0, snapshot_for("b"), now);
        replica.remind(local, now);
        let notes = b.take_notes();
        assert!(
            matches!(&notes[..], [(to, Note::Viewers { viewers, change: None, .. })]
                if to == "a" && *viewers == local),
            "{notes:?}"
        );
        replica.remind(local, now + REMIND / 2);
        assert!(b.take_notes().is_empty(), "not again so soon");
        replica.remind(local, now + REMIND);
        assert_eq!(b.take_notes().len(), 1, "again after a while");
    }

    #[test]
    fn an_owner_seen_alive_after_being_lost_is_asked_for_a_snapshot() {
        let b = wire("b");
        let mut peers = Peers::replica(b.clone(), "s", Some(("a".into(), 1)));
        let replica = peers.replica_mut().unwrap();
        let local = ViewerCount { read: 1, collab: 0 };
        let now = Instant::now();
        step(replica, ("a", 1), 0, snapshot_for("b"), now);
        replica.owner_alive();
        replica.ask(local, now);
        assert!(
            b.take_notes().is_empty(),
            "in step, never lost: nothing to ask"
        );
        assert!(replica.lose_owner(), "lost: a grace period starts");
        assert!(!replica.lose_owner(), "still lost: the same grace period");
        replica.owner_alive();
        replica.ask(local, now);
        let notes = b.take_notes();
        assert!(
            matches!(&notes[..], [(to, Note::Want { .. })] if to == "a"),
            "{notes:?}"
        );
        assert!(replica.lose_owner(), "lost again: another grace period");
    }
}
