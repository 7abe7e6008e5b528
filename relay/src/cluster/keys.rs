//! Names of everything the cluster keeps in Redis, in one place: each node's record and the
//! set of node ids, each session's owner and its tombstone, and the two kinds of channel (a
//! session's, on which its owner tells the other nodes what happens, and a node's inbox).

use std::time::{Duration, UNIX_EPOCH};

use protocol::EndReason;

use crate::ended::Ending;

/// Longest node id: it is part of keys, channels and every stamped message.
pub const MAX_NODE_ID: usize = 64;

/// The set of node ids that have registered; a member whose record expired is gone.
pub const NODES: &str = "share:nodes";

/// A node's record (its URL and identity checks), kept alive by its heartbeat.
pub fn node(id: &str) -> String {
    format!("share:node:{id}")
}

/// `"<node> <term>"` of the node that owns session `sid`.
pub fn owner(sid: &str) -> String {
    format!("share:owner:{sid}")
}

/// Present once session `sid` ended: its host token must not revive it on any node. Its
/// value says when and how it ended ([`tombstone`]), for the links' status on every node.
pub fn ended(sid: &str) -> String {
    format!("share:ended:{sid}")
}

/// A tombstone's value: `"<Unix seconds> <host_ended|host_lost>"`.
pub fn tombstone(ending: &Ending) -> String {
    let at = ending
        .at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let reason = match ending.reason {
        EndReason::HostEnded => HOST_ENDED,
        EndReason::HostLost => HOST_LOST,
    };
    format!("{at} {reason}")
}

/// Reads a tombstone's value; `None` for anything else.
pub fn parse_tombstone(value: &str) -> Option<Ending> {
    let (at, reason) = value.split_once(' ')?;
    let reason = match reason {
        HOST_ENDED => EndReason::HostEnded,
        HOST_LOST => EndReason::HostLost,
        _ => return None,
    };
    let at = UNIX_EPOCH.checked_add(Duration::from_secs(at.parse().ok()?))?;
    Some(Ending { at, reason })
}

const HOST_ENDED: &str = "host_ended";
const HOST_LOST: &str = "host_lost";

const SESSION_CHANNEL: &str = "share:session:";

/// Where the owner of `sid` publishes, for the nodes with viewers of it.
pub fn session_channel(sid: &str) -> String {
    format!("{SESSION_CHANNEL}{sid}")
}

/// The session a session channel belongs to.
pub fn session_of(channel: &str) -> Option<&str> {
    channel.strip_prefix(SESSION_CHANNEL)
}

/// Where other nodes write to node `id` (viewer counts, input, snapshot requests).
pub fn inbox(id: &str) -> String {
    format!("share:inbox:{id}")
}

/// Whether `id` may name a node: 1 to 64 of `A-Z a-z 0-9 . _ -`.
pub fn valid_node_id(id: &str) -> bool {
    (1..=MAX_NODE_ID).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// An owner value: node and term.
pub fn owner_value(node: &str, term: u64) -> String {
    format!("{node} {term}")
}

/// Reads an owner value; `None` for anything else.
pub fn parse_owner(value: &str) -> Option<(String, u64)> {
    let (node, term) = value.split_once(' ')?;
    valid_node_id(node).then_some(())?;
    Some((node.to_owned(), term.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_node_ids_are_checked() {
        assert_eq!(session_of(&session_channel("abc")), Some("abc"));
        assert_eq!(session_of(&inbox("abc")), None);
        assert_eq!(
            parse_owner(&owner_value("node-a", 42)),
            Some(("node-a".into(), 42))
        );
        assert_eq!(parse_owner("node-a"), None);
        assert_eq!(parse_owner("bad id 1"), None);
        assert!(valid_node_id("relay-1.eu_west"));
        assert!(!valid_node_id(""));
        assert!(!valid_node_id("a b"));
        assert!(!valid_node_id("a:b"));
        assert!(!valid_node_id(&"a".repeat(MAX_NODE_ID + 1)));
        let ending = Ending {
            at: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            reason: EndReason::HostLost,
        };
        assert_eq!(parse_tombstone(&tombstone(&ending)), Some(ending));
        for bad in [
            "1",
            "x host_ended",
            "1 other",
            "99999999999999999999 host_lost",
        ] {
            assert_eq!(parse_tombstone(bad), None, "{bad}");
        }
    }
}
