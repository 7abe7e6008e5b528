//! A relay cluster on Redis: any node serves any session, and a lost node loses no session.
//!
//! The session logic sees the cluster through [`Peers`], one per session (see `peers.rs`):
//! the node its host is connected to owns the session and publishes what happens to it on
//! the session's channel, once per frame whatever the number of viewers; the other nodes
//! with viewers replicate it from there. This module is the node's side: the registry in
//! Redis (`directory.rs`: owners with a TTL their node refreshes, tombstones, live nodes),
//! the one ordered outbox (`outbox.rs`), the one subscription (`subscriber.rs`), and a tick
//! that keeps it all true: heartbeat, refreshed ownership, replicas following their owner,
//! a lost owner noticed. Without `--cluster` none of it exists.

mod directory;
pub(crate) mod keys;
pub(crate) mod metrics;
mod outbox;
mod peers;
mod signing;
mod subscriber;
pub(crate) mod wire;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use protocol::{EndReason, Mode, RelayToViewer};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use url::Url;

use crate::ended::Ending;
use crate::error::RelayError;
use crate::metrics::add;
use crate::session::{Replicated, Role, Session};
use crate::shared::Shared;
pub(crate) use directory::Unreachable;
use directory::{Claim, Directory, NodeRecord, Nodes};
use metrics::{ClusterGauges, ClusterMetrics};
use outbox::Outbox;
pub(crate) use peers::{Peers, Replica, Step};
pub(crate) use signing::Signer;
use subscriber::{Listener, Subscriptions};
use wire::{Note, Stamp, Update};

/// How often a node beats, refreshes its sessions and checks its replicas' owners.
const TICK: Duration = Duration::from_secs(1);
/// An owner key outlives the grace period by this much, so that a viewer who comes back
/// while the host is away still finds the session.
const OWNER_MARGIN: Duration = Duration::from_secs(10);
/// The text whose HMAC under the JWT secret nodes compare.
const SECRET_CHECK: &[u8] = b"share relay cluster: the same JWT secret";

/// What the cluster knows of a session a node does not have.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Elsewhere {
    /// Another node owns it.
    Owned,
    Ended(Ending),
    Unknown,
}

/// How a relay joins a cluster.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// `redis://[user:password@]host:port[/db]`.
    pub redis: String,
    /// This node's name in the cluster, unique: `A-Z a-z 0-9 . _ -`, at most 64.
    pub node_id: String,
    /// Where clients reach this node (listed in `/api/info` for the others' clients);
    /// `None`: the relay's public URL.
    pub advertise: Option<Url>,
}

/// What a session publishes, and how: the node's name, its outbox, its signing key and its
/// counters.
pub(crate) struct Wire {
    pub node: String,
    outbox: Outbox,
    signer: Signer,
    pub metrics: ClusterMetrics,
}

impl Wire {
    pub fn new(node: String, signer: Signer) -> Wire {
        Wire {
            node,
            outbox: Outbox::default(),
            signer,
            metrics: ClusterMetrics::default(),
        }
    }

    /// Publishes `update` on session `sid`'s channel.
    pub fn update(&self, sid: &str, stamp: &Stamp, update: &Update, tails: &[Bytes]) {
        let channel = keys::session_channel(sid);
        let payload = self
            .signer
            .seal(&channel, wire::encode_update(stamp, update, tails));
        self.outbox
            .publish(channel, Bytes::from(payload), &self.metrics);
    }

    /// Sends `note` to node `to`.
    pub fn note(&self, to: &str, note: &Note) {
        let channel = keys::inbox(to);
        let payload = self.signer.seal(&channel, wire::encode_note(note));
        self.outbox
            .publish(channel, Bytes::from(payload), &self.metrics);
    }

    /// What was published on session channels since the last call, opened (tests).
    #[cfg(test)]
    pub fn take_updates(&self) -> Vec<(String, Bytes)> {
        self.outbox
            .take()
            .into_iter()
            .filter(|(channel, _)| keys::session_of(channel).is_some())
            .map(|(channel, payload)| {
                let opened = self.signer.open(&channel, payload).expect("signed");
                (channel, opened)
            })
            .collect()
    }

    /// The notes sent since the last call, with the node each went to (tests).
    #[cfg(test)]
    pub fn take_notes(&self) -> Vec<(String, Note)> {
        self.outbox
            .take()
            .into_iter()
            .filter_map(|(channel, payload)| {
                let to = channel.strip_prefix("share:inbox:")?.to_owned();
                let opened = self.signer.open(&channel, payload).expect("signed");
                Some((to, wire::decode_note(&opened).ok()?))
            })
            .collect()
    }
}

/// What a grace period that ran out means for a session.
pub(crate) enum Verdict {
    /// The session ends.
    End,
    /// It lives on: another node has its host.
    Keep,
    /// Nobody can tell (Redis is away): its viewers here rejoin later.
    LetGo,
}

pub(crate) struct Cluster {
    pub wire: Arc<Wire>,
    client: redis::Client,
    directory: Directory,
    publisher: ConnectionManager,
    subscriptions: Subscriptions,
    commands: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<subscriber::Command>>>,
    record: NodeRecord,
    owner_ttl: Duration,
    /// The live nodes as of the last tick.
    nodes: Mutex<HashMap<String, NodeRecord>>,
    /// Nodes whose differences were already reported.
    warned: Mutex<HashSet<String>>,
    /// Live nodes with another JWT secret, and with another certificate.
    mismatches: Mutex<(usize, usize)>,
}

fn connection_manager(client: &redis::Client) -> Result<ConnectionManager, RelayError> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(Duration::from_secs(1)))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_lazy_with_config(client.clone(), config)
        .map_err(|e| RelayError::Cluster(e.to_string()))
}

/// The first 16 bytes of HMAC-SHA256(`secret`, a fixed text), in hex.
fn secret_check(secret: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let tag = ring::hmac::sign(&key, SECRET_CHECK);
    tag.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Cluster {
    /// Checks the configuration and prepares the connections (made on first use, so that a
    /// node starts while Redis is away).
    pub fn new(
        config: &ClusterConfig,
        advertise: &Url,
        secret: &[u8],
        certificate: String,
        grace: Duration,
    ) -> Result<Cluster, RelayError> {
        if !keys::valid_node_id(&config.node_id) {
            return Err(RelayError::Cluster(format!(
                "invalid node id {:?}: use 1 to {} of A-Z a-z 0-9 . _ -",
                config.node_id,
                keys::MAX_NODE_ID
            )));
        }
        let client = redis::Client::open(config.redis.as_str())
            .map_err(|e| RelayError::Cluster(format!("{}: {e}", redacted(&config.redis))))?;
        let info = &client.get_connection_info();
        let on_loopback = match info.addr() {
            redis::ConnectionAddr::Tcp(host, _) => {
                host == "localhost"
                    || host
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
            _ => true,
        };
        if !on_loopback && info.redis_settings().password().is_none() {
            tracing::warn!(
                "Redis at {} takes no password: whoever reaches it can feed frames to viewers and type into collab sessions. Give it one (requirepass or an ACL user) and put it in the --cluster URL",
                redacted(&config.redis)
            );
        }
        let (subscriptions, commands) = subscriber::channel();
        let signer = Signer::new(secret);
        let record = NodeRecord {
            id: config.node_id.clone(),
            url: advertise.as_str().trim_end_matches('/').to_owned(),
            secret: secret_check(secret),
            certificate,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            instance: rand::random(),
        };
        Ok(Cluster {
            wire: Arc::new(Wire::new(config.node_id.clone(), signer.clone())),
            directory: Directory::new(connection_manager(&client)?, signer),
            publisher: connection_manager(&client)?,
            client,
            subscriptions,
            commands: Mutex::new(Some(commands)),
            nodes: Mutex::new(HashMap::from([(record.id.clone(), record.clone())])),
            record,
            owner_ttl: grace + OWNER_MARGIN,
            warned: Mutex::default(),
            mismatches: Mutex::default(),
        })
    }

    pub fn node(&self) -> &str {
        &self.wire.node
    }

    /// Whether this node's last Redis command got an answer.
    pub fn is_up(&self) -> bool {
        self.directory.is_up()
    }

    /// Starts the outbox, the subscription and the tick.
    pub fn start(self: &Arc<Self>, shared: &Arc<Shared>) {
        let shutdown = shared.shutdown.clone();
        let cluster = self.clone();
        let publisher = self.publisher.clone();
        shared.tracker.spawn(async move {
            cluster
                .wire
                .outbox
                .run(publisher, &cluster.wire.metrics)
                .await;
        });
        let commands = self
            .commands
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(commands) = commands {
            let listener = Dispatch {
                shared: shared.clone(),
            };
            shared.tracker.spawn(subscriber::run(
                self.client.clone(),
                keys::inbox(self.node()),
                commands,
                listener,
                shutdown.clone(),
            ));
        }
        let shared = shared.clone();
        let cluster = self.clone();
        shared.tracker.clone().spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => cluster.tick(&shared).await,
                    _ = shutdown.cancelled() => return,
                }
            }
        });
    }

    fn live(&self) -> HashMap<String, NodeRecord> {
        self.nodes.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The live nodes (id, URL), this one first: what `/api/info` lists.
    pub fn nodes(&self) -> Vec<(String, String)> {
        let mut nodes: Vec<(String, String)> = self
            .live()
            .into_values()
            .filter(|r| r.id != self.record.id)
            .map(|r| (r.id, r.url))
            .collect();
        nodes.sort();
        nodes.insert(0, (self.record.id.clone(), self.record.url.clone()));
        nodes
    }

    /// Makes this node the owner of `session`, whose host is connecting here. Refused
    /// (`Err`) when the session ended on another node. Returns whether the session was a
    /// replica here (its retained frames are then another owner's). With Redis away the
    /// host is taken anyway; the ownership is written once Redis is back.
    pub async fn claim(&self, session: &Arc<Session>) -> Result<bool, ()> {
        // A host back on the node that owns its session keeps the term: replicas go on.
        let kept = match session.role() {
            Role::Owner(value) => Some(value),
            _ => None,
        };
        let term = rand::random::<u64>();
        let value = kept
            .clone()
            .unwrap_or_else(|| keys::owner_value(self.node(), term));
        let claimed = self
            .directory
            .claim(&session.id, &value, self.owner_ttl, &self.wire.metrics)
            .await;
        let previous = match claimed {
            Ok(Claim::Ended) => return Err(()),
            Ok(Claim::Taken(previous)) => previous,
            Err(e) => {
                tracing::warn!(session = %session.id, error = %e, "cannot record the session's owner in Redis; retrying every second");
                None
            }
        };
        if kept.is_some() {
            return Ok(false);
        }
        let moved = previous
            .as_ref()
            .is_some_and(|(node, term)| keys::owner_value(node, *term) != value);
        if let Some((node, _)) = previous.as_ref().filter(|(node, _)| node != self.node()) {
            let note = Note::Claimed {
                sid: session.id.clone(),
                by: self.node().to_owned(),
                term,
            };
            self.wire.note(node, &note);
        }
        let owner = Peers::owner(self.wire.clone(), &session.id, term);
        let replica = session.own(owner, moved);
        if replica {
            self.subscriptions
                .remove(keys::session_channel(&session.id));
        }
        Ok(replica)
    }

    /// A viewer came for session `sid`, which this node does not have: a replica of it if
    /// another node owns it (`None` if none does), or `Err` when Redis cannot be asked.
    pub async fn replicate(
        &self,
        shared: &Arc<Shared>,
        sid: &str,
    ) -> Result<Option<Arc<Session>>, Unreachable> {
        let metrics = &self.wire.metrics;
        let owners = self.directory.owners(&[sid.to_owned()], metrics).await?;
        let Some(Some(owner)) = owners.into_iter().next() else {
            return Ok(None);
        };
        if owner.0 == self.node() {
            // A session this node owned before it restarted: its host resumes here.
            return Ok(None);
        }
        // A node that joined since the last tick is not in the list yet.
        let alive = self.live().contains_key(&owner.0)
            || (self.directory.nodes(metrics).await)
                .is_ok_and(|nodes| nodes.live.contains_key(&owner.0));
        let replica = || {
            let peers = Peers::replica(self.wire.clone(), sid, Some(owner.clone()));
            Session::with_peers(sid.to_owned(), peers)
        };
        let Some((session, made)) = shared.sessions.get_or_replicate(sid, replica) else {
            return Ok(None);
        };
        if made {
            if !self.subscriptions.add(keys::session_channel(sid)).await {
                shared.sessions.forget(&session);
                session.let_go();
                return Err(Unreachable::new("cannot subscribe"));
            }
            match session.owner_is(Some(owner), alive, &shared.metrics) {
                Some(generation) => shared.start_grace(session.clone(), generation),
                None => session.ask(),
            }
        }
        Ok(Some(session))
    }

    /// `session` ended here as `role`, as `ending` says; `lost` when a replica ended it
    /// because its owner was lost (nobody else will mark it ended).
    pub fn ended(
        self: &Arc<Self>,
        shared: &Shared,
        session: &Session,
        role: Role,
        lost: bool,
        ending: Ending,
    ) {
        let owner = match role {
            Role::Alone => return,
            Role::Owner(value) => Some(value),
            Role::Replica => {
                self.subscriptions
                    .remove(keys::session_channel(&session.id));
                lost.then(String::new)
            }
        };
        let Some(owner) = owner else {
            return;
        };
        let cluster = self.clone();
        let sid = session.id.clone();
        shared.tracker.spawn(async move {
            let metrics = &cluster.wire.metrics;
            let remember = crate::shared::HOST_TOKEN_TTL;
            let tombstone = keys::tombstone(&ending);
            let ended = cluster.directory.end(&sid, &owner, &tombstone, remember, metrics);
            if let Err(e) = ended.await {
                tracing::warn!(session = %sid, error = %e, "cannot mark the session ended in Redis");
            }
        });
    }

    /// What the cluster knows of session `sid`, which this node neither has nor remembers
    /// ended: whether another node owns it, or how it ended (one Redis round trip).
    pub async fn elsewhere(&self, sid: &str) -> Result<Elsewhere, Unreachable> {
        let (owner, tombstone) = self.directory.lookup(sid, &self.wire.metrics).await?;
        Ok(match (owner, tombstone) {
            // A signed tombstone this node cannot read comes from a node of another layout:
            // the session ended, by now at the latest.
            (_, Some(tombstone)) => {
                Elsewhere::Ended(keys::parse_tombstone(&tombstone).unwrap_or(Ending {
                    at: SystemTime::now(),
                    reason: EndReason::HostEnded,
                }))
            }
            // Owned by this node before it restarted: not here until its host resumes.
            (Some((node, _)), None) if node != self.node() => Elsewhere::Owned,
            _ => Elsewhere::Unknown,
        })
    }

    /// Whether a session whose host stayed away through the grace period ends: an owner's
    /// does; a replica's only if no live node owns it now.
    pub async fn verdict(&self, session: &Session) -> Verdict {
        if !matches!(session.role(), Role::Replica) {
            return Verdict::End;
        }
        let metrics = &self.wire.metrics;
        let (Ok(owners), Ok(nodes)) = (
            self.directory
                .owners(std::slice::from_ref(&session.id), metrics)
                .await,
            self.directory.nodes(metrics).await,
        ) else {
            return Verdict::LetGo;
        };
        match owners.into_iter().next().flatten() {
            Some((node, _)) if nodes.live.contains_key(&node) && node != self.node() => {
                Verdict::Keep
            }
            _ => Verdict::End,
        }
    }

    /// Leaves the cluster at once (a graceful shutdown): the other nodes stop counting on
    /// this one, and its sessions' hosts resume elsewhere.
    pub async fn leave(&self) {
        self.directory.leave(self.node(), &self.wire.metrics).await;
    }

    /// Publishes what is left to say (after the sessions were told the relay goes away)
    /// and stops publishing.
    pub fn close(&self) {
        self.wire.outbox.close();
    }

    /// Appends the cluster's metrics.
    pub fn render(&self, sessions: &[Arc<Session>], out: &mut String) {
        let (secrets, certificates) = *self.mismatches.lock().unwrap_or_else(|e| e.into_inner());
        let mut gauges = ClusterGauges {
            redis_up: self.directory.is_up(),
            nodes: self.live().len() as u64,
            other_secret: secrets as u64,
            other_certificate: certificates as u64,
            ..ClusterGauges::default()
        };
        for session in sessions {
            match session.role() {
                Role::Owner(_) => gauges.owned += 1,
                Role::Replica => gauges.replicated += 1,
                Role::Alone => {}
            }
        }
        self.wire.metrics.render(&gauges, out);
    }

    /// Lets go of a replica whose owner cannot be asked about (Redis stayed away through
    /// a grace period): its viewers rejoin later.
    pub fn let_go(&self, shared: &Shared, session: &Arc<Session>) {
        shared.sessions.forget(session);
        session.let_go();
        self.subscriptions
            .remove(keys::session_channel(&session.id));
    }

    /// Another node took `session` over (as `owner`): the viewers here follow it, or the
    /// session is let go of here.
    fn moved_away(
        self: &Arc<Self>,
        shared: &Arc<Shared>,
        session: Arc<Session>,
        owner: (String, u64),
    ) {
        tracing::info!(session = %session.id, node = %owner.0, "the session moved to another node");
        let replica = Peers::replica(self.wire.clone(), &session.id, Some(owner));
        if !session.demote(replica) {
            shared.sessions.forget(&session);
            return;
        }
        let cluster = self.clone();
        shared.tracker.spawn(async move {
            if cluster
                .subscriptions
                .add(keys::session_channel(&session.id))
                .await
            {
                session.ask();
            }
        });
    }

    /// Once a second: the heartbeat, the live nodes, this node's ownerships, and each
    /// replica's owner.
    async fn tick(self: &Arc<Self>, shared: &Arc<Shared>) {
        let metrics = &self.wire.metrics;
        let _ = self.directory.heartbeat(&self.record, metrics).await;
        let live = match self.directory.nodes(metrics).await {
            Ok(Nodes {
                mut live,
                unverified,
            }) => {
                live.entry(self.record.id.clone())
                    .or_insert_with(|| self.record.clone());
                self.compare(&live, &unverified);
                *self.nodes.lock().unwrap_or_else(|e| e.into_inner()) = live.clone();
                Some(live)
            }
            Err(_) => None,
        };
        let sessions = shared.sessions.all();
        let mut owned = Vec::new();
        let mut replicas = Vec::new();
        for session in sessions {
            match session.role() {
                Role::Owner(value) => owned.push((session, value)),
                Role::Replica => replicas.push(session),
                Role::Alone => {}
            }
        }
        let values: Vec<(String, String)> = owned
            .iter()
            .map(|(session, value)| (session.id.clone(), value.clone()))
            .collect();
        if let Ok(taken) = self
            .directory
            .refresh(&values, self.owner_ttl, metrics)
            .await
        {
            for (sid, owner) in taken {
                if let Some((session, _)) = owned.iter().find(|(s, _)| s.id == sid) {
                    self.moved_away(shared, session.clone(), owner);
                }
            }
        }
        // Without the list of live nodes nothing is known to be lost.
        let Some(live) = live else {
            return;
        };
        let alive: HashSet<String> = live.keys().cloned().collect();
        for (session, _) in &owned {
            let flush = session.keep_nodes(&alive, &shared.metrics);
            crate::viewer::flush_later(shared, session, flush);
        }
        let mut kept = Vec::new();
        for session in replicas {
            if session.drop_if_unwatched() {
                shared.sessions.forget(&session);
                self.subscriptions
                    .remove(keys::session_channel(&session.id));
            } else {
                kept.push(session);
            }
        }
        let sids: Vec<String> = kept.iter().map(|s| s.id.clone()).collect();
        let Ok(owners) = self.directory.owners(&sids, metrics).await else {
            return;
        };
        for (session, owner) in kept.into_iter().zip(owners) {
            let alive = owner.as_ref().is_some_and(|(node, _)| alive.contains(node));
            if let Some(generation) = session.owner_is(owner, alive, &shared.metrics) {
                tracing::info!(session = %session.id, "the session's owner is gone; waiting for its host");
                shared.start_grace(session, generation);
            }
        }
    }

    /// Says, once per node, what differs between this node and another that must not, and
    /// keeps count of the nodes that differ (`/metrics`). `unverified`: records whose
    /// signature did not verify, which are not used: their node has another JWT secret, or
    /// it did not write them.
    fn compare(&self, live: &HashMap<String, NodeRecord>, unverified: &[NodeRecord]) {
        let me = &self.record;
        let (forged, other_secret): (Vec<&NodeRecord>, Vec<&NodeRecord>) =
            unverified.iter().partition(|r| r.secret == me.secret);
        for record in forged {
            self.wire.metrics.forged(&keys::node(&record.id));
        }
        let secrets = other_secret.len();
        let others = live.values().chain(other_secret).filter(|r| r.id != me.id);
        let certificates = others
            .clone()
            .filter(|r| r.certificate != me.certificate)
            .count();
        *self.mismatches.lock().unwrap_or_else(|e| e.into_inner()) = (secrets, certificates);
        let mut warned = self.warned.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(twin) = live.get(&me.id).filter(|r| r.instance != me.instance)
            && warned.insert(format!("{} (twin)", me.id))
        {
            tracing::error!(
                url = %twin.url,
                "another relay ({}) uses this node's id {}: give every node its own --node-id",
                twin.url,
                me.id
            );
        }
        for other in others {
            if !warned.insert(other.id.clone()) {
                continue;
            }
            tracing::info!(node = %other.id, url = %other.url, "joined by a node of the cluster");
            if other.secret != me.secret {
                tracing::error!(
                    node = %other.id,
                    "node {} ({}) signs links with another JWT secret: each node refuses the other's links and host tokens, and what it writes to Redis, so viewers and hosts cannot move between them. Give every node the same --jwt-secret-file",
                    other.id,
                    other.url
                );
            }
            if other.certificate != me.certificate {
                tracing::warn!(
                    node = %other.id,
                    "node {} serves another certificate ({}) than this one ({}): clients that reach nodes under one shared name (DNS, a load balancer) need the same certificate on every node (the same --cert/--key, or the same ACME cache); nodes reached under their own names may differ",
                    other.id,
                    other.certificate,
                    me.certificate
                );
            }
            if other.version != me.version {
                tracing::warn!(node = %other.id, "node {} runs version {}, this one {}", other.id, other.version, me.version);
            }
        }
    }
}

/// A Redis URL without its password, for messages.
fn redacted(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "the --cluster URL".into(),
    }
}

/// Hands what the subscription receives to the sessions.
struct Dispatch {
    shared: Arc<Shared>,
}

impl Dispatch {
    fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.shared.cluster.as_ref()
    }

    fn note(&self, cluster: &Arc<Cluster>, note: Note) {
        let shared = &self.shared;
        let sid = match &note {
            Note::Want { sid, .. }
            | Note::Viewers { sid, .. }
            | Note::Input { sid, .. }
            | Note::Claimed { sid, .. } => sid,
        };
        let Some(session) = shared.sessions.get(sid) else {
            return;
        };
        tracing::debug!(session = %session.id, ?note, "note");
        match note {
            Note::Want { from, viewers, .. } => session.want(from, viewers),
            Note::Viewers {
                from,
                viewers,
                change,
                ..
            } => {
                let flush = session.remote_viewers(from, viewers, change, &shared.metrics);
                crate::viewer::flush_later(shared, &session, flush);
            }
            Note::Input { message, .. } => {
                if wire::input_mode(&message) == Some(Mode::Collab)
                    && session.remote_input(Bytes::from(message))
                {
                    add(&shared.metrics.collab_inputs_forwarded, 1);
                }
            }
            Note::Claimed { by, term, .. } => {
                if matches!(session.role(), Role::Owner(_)) && by != cluster.node() {
                    cluster.moved_away(shared, session, (by, term));
                }
            }
        }
    }
}

impl Listener for Dispatch {
    fn message(&self, channel: &str, payload: Bytes) {
        let Some(cluster) = self.cluster() else {
            return;
        };
        let metrics = &cluster.wire.metrics;
        add(&metrics.received, 1);
        add(&metrics.received_bytes, payload.len() as u64);
        // Bounded before the signature is computed over it.
        let most = match keys::session_of(channel) {
            Some(_) => wire::MAX_UPDATE,
            None => wire::MAX_NOTE,
        };
        if payload.len() > most + signing::SIGNATURE {
            add(&metrics.malformed, 1);
            return;
        }
        let Some(payload) = cluster.wire.signer.open(channel, payload) else {
            metrics.forged(channel);
            return;
        };
        if let Some(sid) = keys::session_of(channel) {
            let Ok(published) = wire::decode_update(payload) else {
                add(&metrics.malformed, 1);
                return;
            };
            let Some(session) = self.shared.sessions.get(sid) else {
                return;
            };
            match session.replicated(published, &self.shared.metrics, metrics) {
                Replicated::Done(queued) => {
                    // The subscription's task reads on at once; the writes go on their own.
                    let shared = self.shared.clone();
                    self.shared
                        .tracker
                        .spawn(async move { queued.send(&shared).await });
                }
                Replicated::Ended(last) => {
                    let (last, reason) = match protocol::decode::<RelayToViewer>(&last) {
                        Ok(RelayToViewer::Ended { reason, .. }) => (last, reason),
                        _ => {
                            let reason = EndReason::HostEnded;
                            let message = "the session has ended".into();
                            let last =
                                crate::session::encoded(&RelayToViewer::Ended { reason, message });
                            (last, reason)
                        }
                    };
                    self.shared.end_replica(&session, last, reason);
                }
            }
            return;
        }
        match wire::decode_note(&payload) {
            Ok(note) => self.note(cluster, note),
            Err(_) => add(&metrics.malformed, 1),
        }
    }

    fn connected(&self, up: bool) {
        if up {
            tracing::info!("subscribed to the cluster's channels");
        } else {
            tracing::warn!("lost the subscription to the cluster's channels; reconnecting");
        }
        for session in self.shared.sessions.all() {
            session.heard(up, &self.shared.metrics);
        }
    }
}
