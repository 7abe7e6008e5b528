//! The cluster's registry in Redis: which node owns each session (with a TTL its owner
//! refreshes), which sessions ended (so that no node revives one from its host token),
//! and which nodes are alive (each refreshes its record every second, and a record that
//! expires means the node is gone). Every command is bounded by a timeout, so a Redis that
//! hangs slows the cluster's bookkeeping, never a session.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};

use crate::cluster::keys;
use crate::cluster::metrics::ClusterMetrics;
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

/// Takes a session: refused (`!ended`) if it ended, otherwise sets the owner and returns
/// the previous one ("" if none).
const CLAIM: &str = r"
if redis.call('EXISTS', KEYS[2]) == 1 then return '!ended' end
local previous = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if previous then return previous end
return ''";

/// Refreshes each owner key that is this node's (or that expired, as after a Redis
/// restart); returns, per key, "" or the other owner's value.
const REFRESH: &str = r"
local out = {}
for i, key in ipairs(KEYS) do
  local value = ARGV[2 * i - 1]
  local current = redis.call('GET', key)
  if (not current) or current == value then
    redis.call('SET', key, value, 'PX', ARGV[2 * i])
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
    claim: redis::Script,
    refresh: redis::Script,
    end: redis::Script,
    up: AtomicBool,
}

impl Directory {
    pub fn new(redis: ConnectionManager) -> Directory {
        Directory {
            redis,
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

    /// Makes `owner` (`"<node> <term>"`) the owner of `sid` for `ttl`.
    pub async fn claim(
        &self,
        sid: &str,
        owner: &str,
        ttl: Duration,
        metrics: &ClusterMetrics,
    ) -> Result<Claim, Unreachable> {
        let mut redis = self.redis.clone();
        let mut invocation = self.claim.key(keys::owner(sid));
        invocation
            .key(keys::ended(sid))
            .arg(owner)
            .arg(ttl.as_millis() as u64);
        let previous: String = self
            .run_within(CLAIM_TIMEOUT, metrics, invocation.invoke_async(&mut redis))
            .await?;
        Ok(match previous.as_str() {
            "!ended" => Claim::Ended,
            other => Claim::Taken(keys::parse_owner(other)),
        })
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
            let mut invocation = self.refresh.prepare_invoke();
            for (sid, value) in chunk {
                invocation
                    .key(keys::owner(sid))
                    .arg(value)
                    .arg(ttl.as_millis() as u64);
            }
            let mut redis = self.redis.clone();
            let answers: Vec<String> = self
                .run(metrics, invocation.invoke_async(&mut redis))
                .await?;
            for ((sid, _), answer) in chunk.iter().zip(answers) {
                if let Some(other) = keys::parse_owner(&answer) {
                    taken.push((sid.clone(), other));
                }
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
        Ok(values
            .into_iter()
            .map(|v| v.as_deref().and_then(keys::parse_owner))
            .collect())
    }

    /// The owner of `sid` and its tombstone's value, in one round trip.
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
        Ok((owner.as_deref().and_then(keys::parse_owner), tombstone))
    }

    /// Marks `sid` ended with `tombstone`, dropping its owner key if `owner` still holds it.
    pub async fn end(
        &self,
        sid: &str,
        owner: &str,
        tombstone: &str,
        remember: Duration,
        metrics: &ClusterMetrics,
    ) -> Result<(), Unreachable> {
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
        let value = serde_json::to_string(record).unwrap_or_default();
        let mut redis = self.redis.clone();
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(keys::node(&record.id))
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
    pub async fn nodes(
        &self,
        metrics: &ClusterMetrics,
    ) -> Result<HashMap<String, NodeRecord>, Unreachable> {
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
            return Ok(HashMap::new());
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
        let mut live = HashMap::new();
        let mut gone = Vec::new();
        for (id, value) in ids.into_iter().zip(values) {
            match value.and_then(|v| serde_json::from_str::<NodeRecord>(&v).ok()) {
                Some(record) if record.id == id => {
                    live.insert(id, record);
                }
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
        Ok(live)
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
