//! Every message type decoded from hostile bytes: a typed error or a message that encodes
//! back to itself, within the allocation bound.

use std::fmt::Debug;

use proptest::prelude::*;
use protocol::wire::WireError;
use protocol::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::alloc::peak_of;
use crate::mutate::input;
use crate::watchdog::guard;

/// Most bytes a decode of `len` input bytes may hold at once: a multiple of the input for
/// what the message legitimately builds (a two-byte empty row is a 32-byte `Line`), and a
/// constant for sequences reserved at their declared length, at most their maximum (500
/// rows and 1,000 runs of a row under construction: 56 KiB).
pub fn bound(len: usize) -> usize {
    64 * 1024 + 32 * len
}

pub fn decode_checked<T: DeserializeOwned>(
    bytes: &[u8],
) -> Result<Result<T, WireError>, TestCaseError> {
    let (decoded, peak) = peak_of(|| decode::<T>(bytes));
    prop_assert!(
        peak <= bound(bytes.len()),
        "decoding {} bytes held {peak} bytes at once (bound {}): {}",
        bytes.len(),
        bound(bytes.len()),
        hex::encode(bytes)
    );
    Ok(decoded)
}

fn round_trip<T>(bytes: &[u8]) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    guard(
        || format!("{} {}", std::any::type_name::<T>(), hex::encode(bytes)),
        || {
            if let Ok(message) = decode_checked::<T>(bytes)? {
                let again = encode(&message).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(decode::<T>(&again).ok(), Some(message));
            }
            Ok(())
        },
    )
}

/// Every message type, and the header peeks the relay runs on host messages.
const KINDS: [&str; 5] = [
    "HostToRelay",
    "RelayToHost",
    "RelayToViewer",
    "ViewerToRelay",
    "ScreenUpdate",
];

proptest! {
    #![proptest_config(crate::config())]

    #[test]
    fn messages((kind, bytes) in prop::sample::select(&KINDS[..]).prop_flat_map(|kind| (Just(kind), input(kind)))) {
        match kind {
            "HostToRelay" => round_trip::<HostToRelay>(&bytes)?,
            "RelayToHost" => round_trip::<RelayToHost>(&bytes)?,
            "RelayToViewer" => round_trip::<RelayToViewer>(&bytes)?,
            "ViewerToRelay" => round_trip::<ViewerToRelay>(&bytes)?,
            _ => round_trip::<ScreenUpdate>(&bytes)?,
        }
        let (_, peak) = peak_of(|| (FrameHeader::peek(&bytes).ok(), peek_version(&bytes)));
        prop_assert!(peak <= bound(bytes.len()));
    }
}
