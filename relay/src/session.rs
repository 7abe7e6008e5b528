//! One shared terminal session: its host (present or away), its viewers and the frames
//! retained for late joiners. All state sits behind one short-held lock that is never held
//! across an await; pushing to viewers never waits for them.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use protocol::{Mode, RelayToHost, RelayToViewer, Transport, ViewerCount, ViewerWelcome, close};
use tokio::sync::mpsc;

use crate::admission::{Limited, Slot};
use crate::cluster::Peers;
use crate::fanout::{self, Queued};
use crate::metrics::{Gauges, Metrics, add};
use crate::notices::{Change, Notice, Notices};
use crate::queue::{Pushed, ViewerQueue};
use crate::retention::Retention;
use crate::stop::Stopper;

mod cluster;
pub(crate) use cluster::{Replicated, Role};

/// Encodes one of the relay's own (small, well-formed) messages.
pub(crate) fn encoded<T: serde::Serialize>(message: &T) -> Bytes {
    match protocol::encode(message) {
        Ok(bytes) => Bytes::from(bytes),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode a relay message");
            Bytes::new()
        }
    }
}

/// The relay's side of a connected host.
#[derive(Clone)]
pub(crate) struct HostHandle {
    pub conn: u64,
    pub tx: mpsc::Sender<Bytes>,
    pub stop: Stopper,
}

struct Viewer {
    mode: Mode,
    transport: Transport,
    queue: Arc<ViewerQueue>,
}

#[derive(Default)]
struct State {
    host: Option<HostHandle>,
    /// Bumped on every host attach, so a grace timer knows whether its absence still holds.
    generation: u64,
    retention: Retention,
    viewers: HashMap<u64, Viewer>,
    notices: Notices,
    ended: bool,
    /// The other nodes of a cluster (nothing without one).
    peers: Peers,
    /// A replica this node let go of: its viewers rejoin, and find the session afresh.
    dropped: bool,
}

pub(crate) struct Session {
    pub id: String,
    state: Mutex<State>,
}

/// A session that already ended.
#[derive(Debug)]
pub(crate) struct Ended;

/// Why a viewer could not join.
#[derive(Debug)]
pub(crate) enum JoinError {
    Ended,
    /// The session has `--max-viewers-per-session` viewers.
    Full,
    /// This node stopped replicating the session as the viewer came: it may join again.
    Moved,
}

/// When [`Session::flush_notices`] must run next, if at all.
pub(crate) type FlushAfter = Option<Duration>;

/// Accounts for a push. A viewer whose queue overflowed is resynchronised by its own writer
/// (see [`Session::catch_up`]), not here, in the host's frame handling.
fn settle(pushed: Pushed, metrics: &Metrics) {
    match pushed {
        Pushed::Overflowed(dropped) => {
            add(&metrics.frames_skipped, dropped as u64);
            add(&metrics.viewer_resyncs, 1);
        }
        Pushed::Skipped => add(&metrics.frames_skipped, 1),
        Pushed::Queued(sent) => fanout::count(metrics, sent),
        Pushed::Deferred | Pushed::Closed => {}
    }
}

impl State {
    /// Viewers on this node.
    fn count(&self) -> ViewerCount {
        let mut count = ViewerCount::default();
        for viewer in self.viewers.values() {
            match viewer.mode {
                Mode::Collab => count.collab += 1,
                _ => count.read += 1,
            }
        }
        count
    }

    /// Viewers on every node.
    fn total(&self) -> ViewerCount {
        let (local, others) = (self.count(), self.peers.others());
        ViewerCount {
            read: local.read.saturating_add(others.read),
            collab: local.collab.saturating_add(others.collab),
        }
    }

    /// Whether the host is connected, here or (for a replica) to the session's owner.
    fn host_online(&self) -> bool {
        self.host.is_some() || self.peers.host_elsewhere()
    }

    /// What a viewer needs to catch up from nothing, and whether it must wait for a keyframe.
    fn snapshot(&self) -> (Vec<Bytes>, bool) {
        let (frames, waiting) = self.retention.snapshot();
        let mut out = Vec::with_capacity(frames.len() + 2);
        out.push(encoded(&RelayToViewer::Viewers(self.total())));
        // The host's state either way: a viewer resynchronised after its queue overflowed
        // may have lost the HostBack that ended a HostAway it was shown.
        out.push(encoded(match self.host_online() {
            true => &RelayToViewer::HostBack,
            false => &RelayToViewer::HostAway,
        }));
        out.extend(frames);
        (out, waiting)
    }

    fn push(
        &self,
        queue: &ViewerQueue,
        message: &Bytes,
        keyframe: Option<bool>,
        metrics: &Metrics,
    ) {
        settle(queue.push(message.clone(), keyframe), metrics);
    }

    fn broadcast(&self, message: &Bytes, keyframe: Option<bool>, metrics: &Metrics) {
        for viewer in self.viewers.values() {
            self.push(&viewer.queue, message, keyframe, metrics);
        }
    }

    /// Queues a frame for every viewer; returns the queues to send (see [`fanout`]).
    fn queue_frame(&self, message: &Bytes, keyframe: bool, metrics: &Metrics) -> Queued {
        let mut queued = Vec::with_capacity(self.viewers.len());
        for viewer in self.viewers.values() {
            let pushed = viewer.queue.enqueue(message.clone(), Some(keyframe));
            if let Pushed::Queued(_) = pushed {
                queued.push(viewer.queue.clone());
            }
            settle(pushed, metrics);
        }
        Queued(queued)
    }

    /// Tells the viewers the count, and the host the change with the count (a replica
    /// tells its owner instead, which tells the host).
    fn announce(&mut self, change: Change, metrics: &Metrics) {
        let viewers = self.total();
        self.broadcast(&encoded(&RelayToViewer::Viewers(viewers)), None, metrics);
        if self.peers.changed(self.count(), Some(change)) {
            return;
        }
        self.peers.viewers(viewers);
        self.tell_host(&match change {
            Change::Joined {
                viewer,
                mode,
                transport,
            } => RelayToHost::ViewerJoined {
                viewer,
                mode,
                transport,
                viewers,
            },
            Change::Left { viewer } => RelayToHost::ViewerLeft { viewer, viewers },
        });
    }

    /// Announces `change` now or holds it (see [`crate::notices`]).
    fn changed(&mut self, change: Change, metrics: &Metrics) -> FlushAfter {
        match self.notices.changed(change, Instant::now()) {
            Notice::Now(change) => {
                self.announce(change, metrics);
                None
            }
            Notice::Later(after) => after,
        }
    }

    fn tell_host(&self, message: &RelayToHost) {
        if let Some(host) = &self.host {
            // A host that does not read its control messages loses some; it is never awaited.
            let _ = host.tx.try_send(encoded(message));
        }
    }
}

impl Session {
    pub fn new(id: String) -> Arc<Session> {
        Session::with_peers(id, Peers::Alone)
    }

    /// A session whose place in a cluster is `peers`.
    pub fn with_peers(id: String, peers: Peers) -> Arc<Session> {
        Arc::new(Session {
            id,
            state: Mutex::new(State {
                peers,
                ..State::default()
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `host` the session's host; returns the host it replaces and the viewer count.
    /// `forget_base` drops retained frames the new host may not continue from.
    pub fn attach_host(
        &self,
        host: HostHandle,
        forget_base: bool,
        metrics: &Metrics,
    ) -> Result<(Option<HostHandle>, ViewerCount), Ended> {
        let mut state = self.lock();
        if state.ended {
            return Err(Ended);
        }
        if forget_base {
            state.retention.forget();
        }
        state.generation += 1;
        let previous = state.host.replace(host);
        if previous.is_none() {
            state.broadcast(&encoded(&RelayToViewer::HostBack), None, metrics);
            state.peers.host(true);
        }
        Ok((previous, state.total()))
    }

    /// The host on connection `conn` is gone; returns the generation a grace timer checks,
    /// or `None` when that host had already been replaced.
    pub fn host_away(&self, conn: u64, metrics: &Metrics) -> Option<u64> {
        let mut state = self.lock();
        if state.ended || state.host.as_ref().map(|h| h.conn) != Some(conn) {
            return None;
        }
        state.host = None;
        state.broadcast(&encoded(&RelayToViewer::HostAway), None, metrics);
        state.peers.host(false);
        Some(state.generation)
    }

    /// Whether the host has stayed away since [`host_away`](Self::host_away) returned `generation`.
    pub fn still_away(&self, generation: u64) -> bool {
        let state = self.lock();
        !state.ended && state.host.is_none() && state.generation == generation
    }

    /// Queues a host's frame for every viewer; returns the queues to send it from (outside
    /// this lock) and whether the host should send a keyframe.
    pub fn frame(&self, message: Bytes, keyframe: bool, metrics: &Metrics) -> (Queued, bool) {
        let mut state = self.lock();
        let request = state.retention.record(&message, keyframe);
        let queued = state.queue_frame(&message, keyframe, metrics);
        state.peers.frame(&message);
        (queued, request)
    }

    /// Adds a viewer, unless the session already has `max_viewers`; its queue starts with
    /// the welcome, and its writer then takes the host state and the screen (see
    /// [`catch_up`](Self::catch_up)). The others hear of it through [`Notices`]: call
    /// [`flush_notices`](Self::flush_notices) after the returned delay.
    pub fn join(
        &self,
        viewer: u64,
        mode: Mode,
        transport: Transport,
        max_viewers: usize,
        metrics: &Metrics,
    ) -> Result<(Arc<ViewerQueue>, FlushAfter), JoinError> {
        let mut state = self.lock();
        if state.dropped {
            return Err(JoinError::Moved);
        }
        if state.ended {
            return Err(JoinError::Ended);
        }
        if state.viewers.len() >= max_viewers {
            return Err(JoinError::Full);
        }
        let queue = Arc::new(ViewerQueue::default());
        state.viewers.insert(
            viewer,
            Viewer {
                mode,
                transport,
                queue: queue.clone(),
            },
        );
        queue.join(encoded(&RelayToViewer::Welcome(ViewerWelcome {
            version: protocol::PROTOCOL_VERSION,
            session_id: self.id.clone(),
            mode,
            viewer,
            viewers: state.total(),
            host_online: state.host_online(),
        })));
        let change = Change::Joined {
            viewer,
            mode,
            transport,
        };
        Ok((queue, state.changed(change, metrics)))
    }

    /// Gives a viewer's writer the snapshot its queue waits for, after a join or an
    /// overflow (see [`ViewerQueue::catch_up`]): in `batch`, after what was queued
    /// meanwhile. Built here, on the viewer's own task, at most once per batch it takes,
    /// so that a viewer that stopped reading costs the host's frame handling nothing.
    pub fn catch_up(&self, queue: &ViewerQueue, batch: &mut VecDeque<Bytes>) {
        let state = self.lock();
        // Closed meanwhile: the close brought what the viewer still gets.
        if !queue.catching_up() {
            return;
        }
        let (snapshot, waiting) = state.snapshot();
        queue.catch_up(snapshot, waiting, batch);
    }

    pub fn leave(&self, viewer: u64, metrics: &Metrics) -> FlushAfter {
        let mut state = self.lock();
        if state.viewers.remove(&viewer).is_none() || state.ended {
            return None;
        }
        state.changed(Change::Left { viewer }, metrics)
    }

    /// Announces the held viewer change, if its time has come; otherwise says when to
    /// try again.
    pub fn flush_notices(&self, metrics: &Metrics) -> FlushAfter {
        let mut state = self.lock();
        if state.ended {
            return None;
        }
        match state.notices.flush(Instant::now()) {
            Ok(Some(change)) => {
                state.announce(change, metrics);
                None
            }
            Ok(None) => None,
            Err(wait) => Some(wait),
        }
    }

    /// Viewers right now.
    pub fn viewer_count(&self) -> usize {
        self.lock().viewers.len()
    }

    /// Whether the host is connected, here or (for a replica) to the session's owner.
    pub fn host_online(&self) -> bool {
        self.lock().host_online()
    }

    /// Where a collab viewer's input goes, if the host is here.
    pub fn host_tx(&self) -> Option<mpsc::Sender<Bytes>> {
        self.lock().host.as_ref().map(|h| h.tx.clone())
    }

    /// Ends the session: every viewer gets what is queued for it, then `last`, and is
    /// closed with `code`; so is the host. Returns false if it had already ended.
    pub fn end(
        &self,
        last: Bytes,
        host_last: Option<Bytes>,
        code: u16,
        reason: &'static str,
    ) -> bool {
        let mut state = self.lock();
        if std::mem::replace(&mut state.ended, true) {
            return false;
        }
        // Other nodes' viewers hear of an end for good; of a relay going away, that the
        // host is away (it resumes on another node).
        match code {
            close::ENDED => state.peers.ended(&last),
            close::GOING_AWAY => state.peers.host(false),
            _ => {}
        }
        let mut snapshot = None;
        for viewer in state.viewers.values() {
            // A viewer yet to catch up gets the final screen too, before the goodbye.
            let mut final_messages = match viewer.queue.catching_up() {
                true => snapshot.get_or_insert_with(|| state.snapshot().0).clone(),
                false => Vec::new(),
            };
            final_messages.push(last.clone());
            viewer.queue.close(final_messages, code, reason);
        }
        if let Some(host) = state.host.take() {
            host.stop.stop(host_last, code, reason);
        }
        state.retention.forget();
        true
    }

    pub fn gauges(&self, gauges: &mut Gauges) {
        let state = self.lock();
        gauges.sessions += 1;
        gauges.hosts_away += u64::from(!state.host_online());
        gauges.retained_bytes_total += state.retention.bytes() as u64;
        for viewer in state.viewers.values() {
            let t = usize::from(viewer.transport == Transport::WebTransport);
            let m = usize::from(viewer.mode == Mode::Collab);
            gauges.viewers[t][m] += 1;
            let queued = viewer.queue.queued_bytes() as u64;
            gauges.queued_bytes_total += queued;
            gauges.queued_bytes_max = gauges.queued_bytes_max.max(queued);
        }
    }
}

/// Ids of ended sessions remembered so their host tokens cannot bring them back; the
/// oldest are forgotten beyond this many (a restarted relay forgets them all).
pub const MAX_TOMBSTONES: usize = 65_536;

/// Every live session by id, with the slot it holds against the session limits, and the
/// ids of recently ended ones.
#[derive(Default)]
pub(crate) struct Registry {
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    slots: Mutex<HashMap<String, Slot>>,
    tombstones: Mutex<Tombstones>,
}

#[derive(Default)]
struct Tombstones {
    ids: std::collections::HashSet<String>,
    order: std::collections::VecDeque<String>,
}

impl Tombstones {
    fn add(&mut self, id: &str) {
        if self.ids.insert(id.to_owned()) {
            self.order.push_back(id.to_owned());
        }
        while self.order.len() > MAX_TOMBSTONES {
            if let Some(oldest) = self.order.pop_front() {
                self.ids.remove(&oldest);
            }
        }
    }
}

/// Why a host token could not bring its session back.
#[derive(Debug)]
pub(crate) enum Unavailable {
    /// The session ended on this relay.
    Ended,
    /// Re-creating it would exceed a session limit.
    Limited(Limited),
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn slots(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.lock().get(id).cloned()
    }

    /// Creates a session with a fresh id, holding `slot` until it ends.
    pub fn create(&self, slot: Slot) -> Arc<Session> {
        let mut sessions = self.lock();
        loop {
            let id = protocol::token::random_id(16);
            if let std::collections::hash_map::Entry::Vacant(entry) = sessions.entry(id.clone()) {
                self.slots().insert(id.clone(), slot);
                return entry.insert(Session::new(id)).clone();
            }
        }
    }

    /// The session `id`, re-created (empty, holding the slot `acquire` gives) if this relay
    /// does not know it (it restarted); the flag says whether it was re-created. A session
    /// that ended here is not re-created: its host token must not revive it.
    pub fn get_or_recreate(
        &self,
        id: &str,
        acquire: impl FnOnce() -> Result<Slot, Limited>,
    ) -> Result<(Arc<Session>, bool), Unavailable> {
        let mut sessions = self.lock();
        if let Some(session) = sessions.get(id) {
            return Ok((session.clone(), false));
        }
        if self.tombstones().ids.contains(id) {
            return Err(Unavailable::Ended);
        }
        let slot = acquire().map_err(Unavailable::Limited)?;
        self.slots().insert(id.to_owned(), slot);
        let session = Session::new(id.to_owned());
        sessions.insert(id.to_owned(), session.clone());
        Ok((session, true))
    }

    /// The session `id`, or a replica of it made by `replica` (a session of another node of
    /// the cluster); the flag says whether it was made. A session that ended here is not.
    pub fn get_or_replicate(
        &self,
        id: &str,
        replica: impl FnOnce() -> Arc<Session>,
    ) -> Option<(Arc<Session>, bool)> {
        let mut sessions = self.lock();
        if let Some(session) = sessions.get(id) {
            return Some((session.clone(), false));
        }
        if self.tombstones().ids.contains(id) {
            return None;
        }
        let session = replica();
        sessions.insert(id.to_owned(), session.clone());
        Some((session, true))
    }

    /// Forgets a session that lives on elsewhere (a replica this node let go of, or a
    /// session another node took over), without remembering it as ended.
    pub fn forget(&self, session: &Arc<Session>) -> bool {
        let mut sessions = self.lock();
        let known = sessions
            .get(&session.id)
            .is_some_and(|s| Arc::ptr_eq(s, session));
        if known {
            sessions.remove(&session.id);
            self.slots().remove(&session.id);
        }
        known
    }

    /// Every live session.
    pub fn all(&self) -> Vec<Arc<Session>> {
        self.lock().values().cloned().collect()
    }

    /// Forgets an ended session, remembering that it ended.
    pub fn remove(&self, session: &Arc<Session>) {
        if self.forget(session) {
            self.tombstones().add(&session.id);
        }
    }

    fn tombstones(&self) -> MutexGuard<'_, Tombstones> {
        self.tombstones.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn drain(&self) -> Vec<Arc<Session>> {
        let drained = self.lock().drain().map(|(_, s)| s).collect();
        self.slots().clear();
        drained
    }

    pub fn gauges(&self) -> Gauges {
        let sessions: Vec<Arc<Session>> = self.lock().values().cloned().collect();
        let mut gauges = Gauges::default();
        for session in sessions {
            session.gauges(&mut gauges);
        }
        gauges
    }
}

#[cfg(test)]
mod tests {
    use protocol::{HostToRelay, ScreenFrame};

    use super::*;
    use crate::queue::MAX_QUEUE_MESSAGES;

    fn host(conn: u64) -> HostHandle {
        HostHandle {
            conn,
            tx: mpsc::channel(64).0,
            stop: Stopper::default(),
        }
    }

    fn frame(seq: u64, keyframe: bool) -> Bytes {
        encoded(&HostToRelay::Frame(ScreenFrame {
            seq,
            keyframe,
            payload: vec![1, 2, 3],
        }))
    }

    /// What the viewer's writer takes when it catches up.
    fn caught_up(session: &Session, queue: &ViewerQueue) -> Vec<Bytes> {
        let mut batch = VecDeque::new();
        session.catch_up(queue, &mut batch);
        batch.into()
    }

    #[test]
    fn a_viewer_whose_queue_overflowed_while_the_host_came_back_is_told_it_is_back() {
        let metrics = Metrics::default();
        let back = encoded(&RelayToViewer::HostBack);
        let session = Session::new("s".into());
        assert!(session.attach_host(host(1), false, &metrics).is_ok());
        let _ = session.frame(frame(0, true), true, &metrics);
        let (queue, _) = session
            .join(1, Mode::Read, Transport::WebSocket, 8, &metrics)
            .unwrap();
        assert!(caught_up(&session, &queue).contains(&back));
        // The viewer stops reading: its queue takes HostAway, then HostBack, then frames
        // until it overflows, which drops them all.
        assert!(session.host_away(1, &metrics).is_some());
        assert!(session.attach_host(host(2), false, &metrics).is_ok());
        for seq in 1..=MAX_QUEUE_MESSAGES as u64 {
            let _ = session.frame(frame(seq, false), false, &metrics);
        }
        assert!(queue.catching_up(), "the queue overflowed");
        let resynced = caught_up(&session, &queue);
        assert!(
            resynced.contains(&back),
            "the snapshot says the host is back"
        );
        assert_eq!(
            resynced.last(),
            Some(&frame(MAX_QUEUE_MESSAGES as u64, false))
        );
    }
}
