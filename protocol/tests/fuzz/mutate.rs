//! Inputs for the fuzz targets: the golden vectors as seeds (so mutations start from
//! well-formed messages and reach deep into them), and mutations that break them the way
//! a hostile peer would: flipped bits, bytes set to varint markers and extremes, inserted,
//! removed and repeated stretches, truncation, and splices from other seeds.

use std::path::PathBuf;
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::sample::Index;

/// One golden vector: its Rust type name and its bytes.
#[derive(Debug, Clone)]
pub struct Seed {
    pub kind: String,
    pub bytes: Vec<u8>,
}

/// The checked-in golden vectors (`protocol/tests/vectors/vectors.json`).
pub fn seeds() -> &'static [Seed] {
    static SEEDS: OnceLock<Vec<Seed>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/vectors.json");
        let file: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("vectors.json"))
                .expect("vectors.json is JSON");
        file["vectors"]
            .as_array()
            .expect("a list of vectors")
            .iter()
            .map(|v| Seed {
                kind: v["type"].as_str().expect("type").to_owned(),
                bytes: hex::decode(v["hex"].as_str().expect("hex")).expect("hex digits"),
            })
            .collect()
    })
}

/// The seeds of one Rust type.
pub fn seeds_of(kind: &str) -> Vec<Vec<u8>> {
    seeds()
        .iter()
        .filter(|s| s.kind == kind)
        .map(|s| s.bytes.clone())
        .collect()
}

/// Bytes that mean something to bincode: varint markers (251: u16 follows, 252: u32, 253:
/// u64, 254/255: u128 and invalid), the largest one-byte value, bools and option tags.
const INTERESTING: &[u8] = &[0, 1, 2, 0x7f, 0x80, 250, 251, 252, 253, 254, 255];

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(Index, u8),
    SetByte(Index, u8),
    /// A varint marker and its widest value: a declared length or count beyond anything.
    HugeVarint(Index, u8),
    Insert(Index, Vec<u8>),
    Remove(Index, usize),
    Repeat(Index, usize, usize),
    Truncate(Index),
    Splice(Index, Index, Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let byte = prop_oneof![prop::sample::select(INTERESTING), any::<u8>()];
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(i, bit)| Mutation::FlipBit(i, bit)),
        3 => (any::<Index>(), byte.clone()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        2 => (any::<Index>(), 251u8..=253).prop_map(|(i, m)| Mutation::HugeVarint(i, m)),
        1 => (any::<Index>(), prop::collection::vec(byte, 1..8)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<Index>(), 1usize..8).prop_map(|(i, n)| Mutation::Remove(i, n)),
        1 => (any::<Index>(), 1usize..16, 1usize..64).prop_map(|(i, n, times)| Mutation::Repeat(i, n, times)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => (any::<Index>(), any::<Index>(), any::<Index>()).prop_map(|(s, a, b)| Mutation::Splice(s, a, b)),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let at = |i: &Index, len: usize| if len == 0 { 0 } else { i.index(len) };
    match mutation {
        Mutation::FlipBit(i, bit) if !bytes.is_empty() => {
            let at = at(i, bytes.len());
            bytes[at] ^= 1 << bit;
        }
        Mutation::SetByte(i, b) if !bytes.is_empty() => {
            let at = at(i, bytes.len());
            bytes[at] = *b;
        }
        Mutation::HugeVarint(i, marker) => {
            let at = at(i, bytes.len() + 1);
            let width = match marker {
                251 => 2,
                252 => 4,
                _ => 8,
            };
            let mut varint = vec![*marker];
            varint.extend(std::iter::repeat_n(0xff, width));
            bytes.splice(at..at, varint);
        }
        Mutation::Insert(i, inserted) => {
            let at = at(i, bytes.len() + 1);
            bytes.splice(at..at, inserted.iter().copied());
        }
        Mutation::Remove(i, n) if !bytes.is_empty() => {
            let at = at(i, bytes.len());
            bytes.drain(at..(at + n).min(bytes.len()));
        }
        Mutation::Repeat(i, n, times) if !bytes.is_empty() => {
            let at = at(i, bytes.len());
            let stretch = bytes[at..(at + n).min(bytes.len())].to_vec();
            let repeated: Vec<u8> = stretch
                .iter()
                .copied()
                .cycle()
                .take(stretch.len() * times)
                .collect();
            bytes.splice(at..at, repeated);
        }
        Mutation::Truncate(i) => {
            let len = at(i, bytes.len() + 1);
            bytes.truncate(len);
        }
        Mutation::Splice(seed, from, to) => {
            let all = seeds();
            let other = &all[seed.index(all.len())].bytes;
            let (a, b) = (at(from, other.len() + 1), at(to, other.len() + 1));
            let (a, b) = (a.min(b), a.max(b));
            let into = at(from, bytes.len() + 1);
            bytes.splice(into..into, other[a..b].iter().copied());
        }
        _ => {}
    }
}

/// Inputs for a decoder of `kind`: mostly mutated seeds of that kind (1 to 4 mutations),
/// sometimes random bytes.
pub fn input(kind: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let own = seeds_of(kind);
    assert!(!own.is_empty(), "no golden vector of type {kind}");
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..256),
        6 => (prop::sample::select(own), prop::collection::vec(mutation(), 1..5)).prop_map(|(mut bytes, mutations)| {
            for m in &mutations {
                apply(&mut bytes, m);
            }
            bytes
        }),
    ]
}
