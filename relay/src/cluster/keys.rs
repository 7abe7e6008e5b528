//! Names of everything the cluster keeps in Redis, in one place: each node's record and the
//! set of node ids, each session's owner and its tombstone, and the two kinds of channel (a
//! session's, on which its owner tells the other nodes what happens, and a node's inbox).

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

/// Present once session `sid` ended: its host token must not revive it on any node.
pub fn ended(sid: &str) -> String {
    format!("share:ended:{sid}")
}

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
    }
}
