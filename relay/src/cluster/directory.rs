//! The cluster's registry in Redis: which node owns each session (with a TTL its owner
//! refreshes), which sessions ended (so that no node revives one from its host token),
//! and which nodes are alive (each refreshes its record every second, and a record that
//! expires means the node is gone). Every command is bounded by a timeout, so a Redis that
//! hangs slows the cluster's bookkeeping, never a session. Every value is signed
//! (`signing.rs`); one that does not verify counts as absent, and the scripts replace it
//! when asked to.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};

use crate::cluster::keys;
use crate::cluster::metrics::ClusterMetrics;
use crate::cluster::signing::{Signer, unverified_text};
use crate::metrics::add;

/// How long one Redis command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a host's claim may take: its welcome waits for it, and a host that waits
/// long for a welcome goes to another node.
const CLAIM_TIMEOUT: Duration = Duration::from_millis(250);
/// A node's record outlives its last heartbeat by this long.
pub const NODE_TTL: Duration = Duration::from_secs(3);
/// Owner keys refreshed in one script call.
const REFRESH_CHUNK: usize = 256;

/// Takes a session: refused (`!ended <tombstone>`) if it ended, otherwise sets the owner
/// and returns the previous one ("" if none). A tombstone equal to `ARGV[3]` (one that did
/// not verify) is deleted instead.
const CLAIM: &str = r"
local ended = redis.call('GET', KEYS[2])
if ended and ended ~= ARGV[3] then return '!ended ' .. ended end
if ended then redis.call('DEL', KEYS[2]) end
local previous = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if previous then return previous end
return ''";

/// Refreshes each owner key that is this node's (or that expired, as after a Redis
/// restart, or that holds the value given to replace: one that did not verify); returns,
/// per key, "" or the other owner's value.
const REFRESH: &str = r"
local out = {}
for i, key in ipairs(KEYS) do
  local value = ARGV[3 * i - 2]
  local current = redis.call('GET', key)
  if (not current) or current == value or current == ARGV[3 * i] then
    redis.call('SET', key, value, 'PX', ARGV[3 * i - 1])
    out[i] = ''
  else
    out[i] = current
  end
end
return out";

/// Marks a session ended (the tombstone `ARGV[3]`, for `ARGV[2]` seconds) and drops its
/// owner key if it is still `ARGV[1]`'s.
const END: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[2])
return 1";

/// What a node publishes about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub id: String,
    /// Where clients reach the node.
    pub url: String,
    /// HMAC-SHA256 of a fixed text under the JWT secret, shortened: equal on nodes that
    /// share the secret, and telling nothing of it.
    pub secret: String,
    /// SHA-256 fingerprint of the certificate served when the node started.
    pub certificate: String,
    pub version: String,
    /// Drawn at start: two processes that took the same node id tell each other apart.
    pub instance: u64,
}

/// The nodes listed in Redis.
#[derive(Debug, Default)]
pub struct Nodes {
    /// Live nodes by id: their records verified.
    pub live: HashMap<String, NodeRecord>,
    /// Records that did not verify, for telling the operator why such a node is not used:
    /// another JWT secret, an older version, or a record that no node wrote.
    pub unverified: Vec<NodeRecord>,
}

/// Why Redis could not answer.
#[derive(Debug, thiserror::Error)]
#[error("Redis: {0}")]
pub struct Unreachable(String);

impl Unreachable {
    pub fn new(why: &str) -> Unreachable {
        Unreachable(why.to_owned())
    }
}

/// How a claim went.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// Taken; from this other owner, if any.
    Taken(Option<(String, u64)>),
    /// The session ended: its host token must not revive it.
    Ended,
}

pub(crate) struct Directory {
    redis: ConnectionManager,
    signer: Signer,
    claim: redis::Script,
    refresh: redis::Script,
    end: redis::Script,
    up: AtomicBool,
}

impl Directory {
    pub fn new(redis: ConnectionManager, signer: Signer) -> Directory {
        Directory {
            redis,
            signer,
            claim: redis::Script::new(CLAIM),
            refresh: redis::Script::new(REFRESH),
            end: redis::Script::new(END),
            up: AtomicBool::new(false),
        }
    }

    /// Whether the last command got an answer.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    async fn run<T>(
        &self,
        metrics: &ClusterMetrics,
        command: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, Unreachable> {
        self.run_within(COMMAND_TIMEOUT, metrics, command).await
    }

    async fn run_within<T>(
        &self,
        timeout: Duration,
        metrics: &ClusterMetrics,
        command: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, Unreachable> {
        let result = match tokio::time::timeout(timeout, command).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(Unreachable(e.to_string())),
            Err(_) => Err(Unreachable("timed out".into())),
        };
        self.up.store(result.is_ok(), Ordering::Relaxed);
        if result.is_err() {
            add(&metrics.redis_errors, 1);
        }
        result
    }

    /// Makes `owner` (`"<node> <term>"`) the owner of `sid` for `ttl`. A tombstone that
    /// does not verify is no tombstone: the claim is made again, replacing it.
    pub async fn claim(
        &self,
        sid: &str,
        owner: &str,
        ttl: Duration,
        metrics: &ClusterMetrics,
    ) -> Result<Claim, Unreachable> {
        let owner = self.signer.sign_text(&keys::owner(sid), owner);
        let mut forged = String::new();
        // Twice at most: a second tombstone that does not verify means someone keeps
        // writing them, and the claim waits for the next attempt.
        for _ in 0..2 {
            let mut redis = self.redis.clone();
            let mut invocation = self.claim.key(keys::owner(sid));
            invocation
                .key(keys::ended(sid))
                .arg(&owner)
                .arg(ttl.as_millis() as u64)
                .arg(&forged);
            let answer: String = self
                .run_within(CLAIM_TIMEOUT, metrics, invocation.invoke_async(&mut redis))
                .await?;
            let Some(tombstone) = answer.strip_prefix("!ended ") else {
                return Ok(Claim::Taken(self.owner(sid, &answer, metrics)));
            };
            if self.tombstone(sid, tombstone, metrics).is_some() {
                return Ok(Claim::Ended);
            }
            forged = tombstone.to_owned();
        }
        Err(Unreachable::new(
            "a tombstone that does not verify keeps coming back",
        ))
    }

    /// The owner in `value`, read from `sid`'s owner key; `None` when there is none or its
    /// signature does not verify.
    fn owner(&self, sid: &str, value: &str, metrics: &ClusterMetrics) -> Option<(String, u64)> {
        if value.is_empty() {
            return None;
        }
        keys::parse_owner(self.verified(&keys::owner(sid), value, metrics)?)
    }

    /// The text of `sid`'s tombstone `value`; `None` when its signature does not verify.
    fn tombstone<'a>(
        &self,
        sid: &str,
        value: &'a str,
        metrics: &ClusterMetrics,
    ) -> Option<&'a str> {
        self.verified(&keys::ended(sid), value, metrics)
    }

    /// The text of `value`, read at `place`, if its signature verifies; counted otherwise.
    fn verified<'a>(
        &self,
        place: &str,
        value: &'a str,
        metrics: &ClusterMetrics,
    ) -> Option<&'a str> {
        let verified = self.signer.verify_text(place, value);
        if verified.is_none() {
            metrics.forged(place);
        }
        verified
    }

    /// Refreshes the owner keys of `owned` (session id, owner value); returns the sessions
    /// another node took, with that node's value.
    pub async fn refresh(
        &self,
        owned: &[(String, String)],
        ttl: Duration,
        metrics: &ClusterMetrics,
    ) -> Result<Vec<(String, (String, u64))>, Unreachable> {
        let mut taken = Vec::new();
        for chunk in owned.chunks(REFRESH_CHUNK) {
            // (sid, signed value, a value that did not verify, to replace)
            let mut pending: Vec<(&str, String, String)> = chunk
                .iter()
                .map(|(sid, value)| {
                    let signed = self.signer.sign_text(&keys::owner(sid), value);
                    (sid.as_str(), signed, String::new())
                })
                .collect();
            // Twice at most, as in `claim`: the second time replaces what did not verify.
            for _ in 0..2 {
                if pending.is_empty() {
                    break;
                }
                let mut invocation = self.refresh.prepare_invoke();
                for (sid, value, forged) in &pending {
                    invocation
                        .key(keys::owner(sid))
                        .arg(value)
                        .arg(ttl.as_millis() as u64)
                        .arg(forged);
                }
                let mut redis = self.redis.clone();
                let answers: Vec<String> = self
                    .run(metrics, invocation.invoke_async(&mut redis))
                    .await?;
                let mut again = Vec::new();
                for ((sid, value, _), answer) in pending.into_iter().zip(answers) {
                    if answer.is_empty() {
                        continue;
                    }
                    match self.owner(sid, &answer, metrics) {
                        Some(other) => taken.push((sid.to_owned(), other)),
                        None => again.push((sid, value, answer)),
                    }
                }
                pending = again;
            }
        }
        Ok(taken)
    }

    /// The owners of `sids`, in order.
    pub async fn owners(
        &self,
        sids: &[String],
        metrics: &ClusterMetrics,
    ) -> Result<Vec<Option<(String, u64)>>, Unreachable> {
        if sids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = sids.iter().map(|sid| keys::owner(sid)).collect();
        let mut redis = self.redis.clone();
        let values: Vec<Option<String>> = self
            .run(metrics, async move {
                redis::cmd("MGET").arg(&keys).query_async(&mut redis).await
            })
            .await?;
        Ok(sids
            .iter()
            .zip(values)
            .map(|(sid, v)| self.owner(sid, v.as_deref()?, metrics))
            .collect())
    }

    /// The owner of `sid` and its tombstone's text, in one round trip.
    pub async fn lookup(
        &self,
        sid: &str,
        metrics: &ClusterMetrics,
    ) -> Result<(Option<(String, u64)>, Option<String>), Unreachable> {
        let keys = [keys::owner(sid), keys::ended(sid)];
        let mut redis = self.redis.clone();
        let (owner, tombstone): (Option<String>, Option<String>) = self
            .run(metrics, async move {
                redis::cmd("MGET").arg(&keys).query_async(&mut redis).await
            })
            .await?;
        let owner = owner.and_then(|owner| self.owner(sid, &owner, metrics));
        let tombstone = tombstone.and_then(|t| self.tombstone(sid, &t, metrics).map(str::to_owned));
        Ok((owner, tombstone))
    }

    /// Marks `sid` ended with `tombstone`, dropping its owner key if `owner` still holds it
    /// (`""`: whoever holds it).
    pub async fn end(
        &self,
        sid: &str,
        owner: &str,
        tombstone: &str,
        remember: Duration,
        metrics: &ClusterMetrics,
    ) -> Result<(), Unreachable> {
        let owner = match owner {
            "" => String::new(),
            owner => self.signer.sign_text(&keys::owner(sid), owner),
        };
        let tombstone = self.signer.sign_text(&keys::ended(sid), tombstone);
        let mut redis = self.redis.clone();
        let mut invocation = self.end.key(keys::owner(sid));
        invocation
            .key(keys::ended(sid))
            .arg(owner)
            .arg(remember.as_secs().max(1))
            .arg(tombstone);
        self.run(metrics, invocation.invoke_async::<i64>(&mut redis))
            .await
            .map(|_| ())
    }

    /// Publishes this node's record for another [`NODE_TTL`].
    pub async fn heartbeat(
        &self,
        record: &NodeRecord,
        metrics: &ClusterMetrics,
    ) -> Result<(), Unreachable> {
        let key = keys::node(&record.id);
        let json = serde_json::to_string(record).unwrap_or_default();
        let value = self.signer.sign_text(&key, &json);
        let mut redis = self.redis.clone();
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(key)
            .arg(value)
            .arg("PX")
            .arg(NODE_TTL.as_millis() as u64)
            .ignore()
            .cmd("SADD")
            .arg(keys::NODES)
            .arg(&record.id)
            .ignore();
        self.run(metrics, pipe.query_async::<()>(&mut redis)).await
    }

    /// The records of the live nodes (this one included, once it has a heartbeat), by id;
    /// forgets the ids whose record expired.
    pub async fn nodes(&self, metrics: &ClusterMetrics) -> Result<Nodes, Unreachable> {
        let mut redis = self.redis.clone();
        let ids: Vec<String> = self
            .run(metrics, async {
                redis::cmd("SMEMBERS")
                    .arg(keys::NODES)
                    .query_async(&mut redis)
                    .await
            })
            .await?;
        if ids.is_empty() {
            return Ok(Nodes::default());
        }
        let node_keys: Vec<String> = ids.iter().map(|id| keys::node(id)).collect();
        let values: Vec<Option<String>> = self
            .run(metrics, async {
                redis::cmd("MGET")
                    .arg(&node_keys)
                    .query_async(&mut redis)
                    .await
            })
            .await?;
        let mut nodes = Nodes::default();
        let mut gone = Vec::new();
        for (id, value) in ids.into_iter().zip(values) {
            let Some(value) = value else {
                gone.push(id);
                continue;
            };
            let place = keys::node(&id);
            let verified = self.signer.verify_text(&place, &value);
            let text = verified.unwrap_or_else(|| unverified_text(&value));
            match serde_json::from_str::<NodeRecord>(text) {
                Ok(record) if record.id == id && verified.is_some() => {
                    nodes.live.insert(id, record);
                }
                Ok(record) if record.id == id => nodes.unverified.push(record),
                _ => gone.push(id),
            }
        }
        if !gone.is_empty() {
            let _ = self
                .run(metrics, async {
                    redis::cmd("SREM")
                        .arg(keys::NODES)
                        .arg(&gone)
                        .query_async::<i64>(&mut redis)
                        .await
                })
                .await;
        }
        Ok(nodes)
    }

    /// Takes this node out of the cluster at once (a graceful shutdown).
    pub async fn leave(&self, id: &str, metrics: &ClusterMetrics) {
        let mut redis = self.redis.clone();
        let mut pipe = redis::pipe();
        pipe.cmd("DEL")
            .arg(keys::node(id))
            .ignore()
            .cmd("SREM")
            .arg(keys::NODES)
            .arg(id)
            .ignore();
        let _ = self.run(metrics, pipe.query_async::<()>(&mut redis)).await;
    }
}
