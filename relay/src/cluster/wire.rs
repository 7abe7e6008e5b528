//! What nodes say to each other through Redis. On a session's channel its owner publishes
//! [`Update`]s, each with a [`Stamp`] (owner, term, counter) so that a replica applies them
//! in order, once each, and notices a gap; the bytes a viewer gets (a frame, the end) ride
//! after the header unchanged, as the host sent them. To a node's inbox go [`Note`]s.
//!
//! Redis is trusted with the sessions (see the README's "Cluster"), but what comes out of
//! it is still decoded within bounds: lengths are checked before anything is allocated,
//! and a malformed message is dropped and counted, never a panic.

use bytes::Bytes;
use protocol::{Mode, ViewerCount};
use serde::{Deserialize, Serialize};

use crate::notices::Change;

/// Largest header of an update (node id, counters, a snapshot's frame lengths).
const MAX_HEADER: usize = 64 * 1024;
/// Largest update: a snapshot (a keyframe and the diffs retained after it) with room to spare.
pub const MAX_UPDATE: usize = 16 * 1024 * 1024;
/// Largest note: an input of [`protocol::limits::MAX_INPUT_BYTES`] and its envelope.
pub const MAX_NOTE: usize = protocol::limits::MAX_INPUT_BYTES + 1024;

/// Who published an update, and where it stands in the owner's sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub owner: String,
    /// Drawn at random when the owner claimed the session.
    pub term: u64,
    /// 0 for the first update of the term, one more for each after it.
    pub n: u64,
}

/// What an owner tells the nodes that replicate its session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Update {
    /// The tail is one frame message, as the host sent it.
    Frame,
    HostAway,
    HostBack,
    /// Viewers on every node.
    Viewers(ViewerCount),
    /// The tail is the `Ended` message viewers get.
    Ended,
    /// This owner took the session over: replicas follow it from here.
    Claimed,
    /// The session as of this update, for node `to` (others skip it): the tail is the
    /// retained frames, of the lengths in `frames`; `waiting` when there is no keyframe.
    Snapshot {
        to: String,
        host_online: bool,
        viewers: ViewerCount,
        waiting: bool,
        frames: Vec<u32>,
    },
}

/// A decoded update and the bytes after its header.
#[derive(Debug)]
pub struct Published {
    pub stamp: Stamp,
    pub update: Update,
    pub tail: Bytes,
}

/// What a node sends another about one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Note {
    /// Node `from` has viewers of the session (or is about to): publish to it, and send it
    /// a snapshot.
    Want {
        sid: String,
        from: String,
        viewers: ViewerCount,
    },
    /// Node `from` now has `viewers` (none: it stopped replicating), after `change`.
    Viewers {
        sid: String,
        from: String,
        viewers: ViewerCount,
        change: Option<Change>,
    },
    /// A collab viewer's input, an encoded `RelayToHost::ViewerInput`.
    Input { sid: String, message: Vec<u8> },
    /// Node `by` took the session over: the receiver is no longer its owner.
    Claimed { sid: String, by: String, term: u64 },
}

/// Why a message from Redis was dropped.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("{0} bytes is more than a cluster message may hold")]
    TooLarge(usize),
    #[error("truncated")]
    Truncated,
    #[error("malformed: {0}")]
    Malformed(#[from] protocol::WireError),
    #[error("a snapshot's frame lengths do not add up")]
    BadSnapshot,
}

/// Encodes an update: the header's length (u32, big-endian), the header, then the tails.
pub fn encode_update(stamp: &Stamp, update: &Update, tails: &[Bytes]) -> Vec<u8> {
    let header = protocol::encode(&(stamp, update)).unwrap_or_default();
    let len = tails.iter().map(Bytes::len).sum::<usize>();
    let mut out = Vec::with_capacity(4 + header.len() + len);
    out.extend_from_slice(&(header.len() as u32).to_be_bytes());
    out.extend_from_slice(&header);
    for tail in tails {
        out.extend_from_slice(tail);
    }
    out
}

pub fn decode_update(bytes: Bytes) -> Result<Published, WireError> {
    if bytes.len() > MAX_UPDATE {
        return Err(WireError::TooLarge(bytes.len()));
    }
    let prefix: [u8; 4] = bytes
        .get(..4)
        .and_then(|p| p.try_into().ok())
        .ok_or(WireError::Truncated)?;
    let len = u32::from_be_bytes(prefix) as usize;
    if len > MAX_HEADER {
        return Err(WireError::TooLarge(len));
    }
    let header = bytes.get(4..4 + len).ok_or(WireError::Truncated)?;
    let (stamp, update): (Stamp, Update) = protocol::decode(header)?;
    let tail = bytes.slice(4 + len..);
    if let Update::Snapshot { frames, .. } = &update
        && frames.iter().map(|&l| l as usize).sum::<usize>() != tail.len()
    {
        return Err(WireError::BadSnapshot);
    }
    Ok(Published {
        stamp,
        update,
        tail,
    })
}

impl Published {
    /// A snapshot's frames, sharing the message's buffer; empty for other updates.
    pub fn frames(&self) -> Vec<Bytes> {
        let Update::Snapshot { frames, .. } = &self.update else {
            return Vec::new();
        };
        let mut at = 0;
        frames
            .iter()
            .map(|&len| {
                let frame = self.tail.slice(at..at + len as usize);
                at += len as usize;
                frame
            })
            .collect()
    }
}

pub fn encode_note(note: &Note) -> Vec<u8> {
    protocol::encode(note).unwrap_or_default()
}

pub fn decode_note(bytes: &[u8]) -> Result<Note, WireError> {
    if bytes.len() > MAX_NOTE {
        return Err(WireError::TooLarge(bytes.len()));
    }
    Ok(protocol::decode(bytes)?)
}

/// The mode of a forwarded input, checked before it reaches a host.
pub fn input_mode(message: &[u8]) -> Option<Mode> {
    match protocol::decode::<protocol::RelayToHost>(message) {
        Ok(protocol::RelayToHost::ViewerInput { mode, .. }) => Some(mode),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(n: u64) -> Stamp {
        Stamp {
            owner: "a".into(),
            term: 7,
            n,
        }
    }

    #[test]
    fn updates_round_trip_with_their_tails() {
        let frame = Bytes::from_static(b"frame bytes");
        let bytes = encode_update(&stamp(3), &Update::Frame, std::slice::from_ref(&frame));
        let published = decode_update(Bytes::from(bytes)).unwrap();
        assert_eq!(published.stamp, stamp(3));
        assert_eq!(published.update, Update::Frame);
        assert_eq!(published.tail, frame);

        let frames = [Bytes::from_static(b"key"), Bytes::from_static(b"diff")];
        let snapshot = Update::Snapshot {
            to: "b".into(),
            host_online: true,
            viewers: ViewerCount::default(),
            waiting: false,
            frames: vec![3, 4],
        };
        let bytes = encode_update(&stamp(4), &snapshot, &frames);
        let published = decode_update(Bytes::from(bytes)).unwrap();
        assert_eq!(published.frames(), frames);
    }

    #[test]
    fn bad_updates_are_refused_without_panicking() {
        assert!(decode_update(Bytes::new()).is_err());
        assert!(decode_update(Bytes::from_static(&[0, 0, 0, 9, 1])).is_err());
        assert!(decode_update(Bytes::from_static(&[255, 255, 255, 255])).is_err());
        let lying = Update::Snapshot {
            to: "b".into(),
            host_online: true,
            viewers: ViewerCount::default(),
            waiting: false,
            frames: vec![100],
        };
        let bytes = encode_update(&stamp(0), &lying, &[Bytes::from_static(b"short")]);
        assert!(matches!(
            decode_update(Bytes::from(bytes)),
            Err(WireError::BadSnapshot)
        ));
        let mut garbage = encode_update(&stamp(0), &Update::Frame, &[]);
        garbage[5] = 0xff;
        let _ = decode_update(Bytes::from(garbage));
        assert!(decode_note(&[0xff; 8]).is_err());
        assert!(decode_note(&vec![0; MAX_NOTE + 1]).is_err());
    }

    #[test]
    fn notes_round_trip() {
        let note = Note::Viewers {
            sid: "s".into(),
            from: "b".into(),
            viewers: ViewerCount { read: 2, collab: 1 },
            change: Some(Change::Left { viewer: 9 }),
        };
        assert_eq!(decode_note(&encode_note(&note)).unwrap(), note);
    }
}
