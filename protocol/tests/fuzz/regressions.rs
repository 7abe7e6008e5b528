//! Inputs the fuzzers found, each kept as a test of its own (found by the targets named).

use bytes::BytesMut;
use protocol::*;
use tokio_util::codec::Decoder;

use crate::alloc::peak_of;
use crate::messages::bound;

fn hex(text: &str) -> Vec<u8> {
    hex::decode(text).expect("hex digits")
}

/// `bytes` do not decode as a `T`, and finding out holds less than 1 KiB.
fn refused_cheaply<T: serde::de::DeserializeOwned>(bytes: &[u8]) {
    let (decoded, peak) = peak_of(|| decode::<T>(bytes));
    assert!(decoded.is_err());
    assert!(peak < 1024, "held {peak} bytes");
}

/// `messages` (HostToRelay): a 15-byte `Hello` whose host key declares 65,535 bytes made
/// bincode allocate all of them before finding the message too short.
#[test]
fn a_string_longer_than_its_message_is_refused_before_allocating() {
    refused_cheaply::<HostToRelay>(&hex("00fc7011010000fbffff040100fbff"));
    // The same with a 4 MiB byte field declared by a 10-byte `Input`.
    let mut input = vec![0, 252];
    input.extend_from_slice(&(4u32 << 20).to_le_bytes());
    input.extend_from_slice(b"abcd");
    refused_cheaply::<ViewerToRelay>(&input);
}

/// `messages` (RelayToHost): a refusal message declaring 65,535 bytes, same cause.
#[test]
fn a_refusal_message_longer_than_its_message_is_refused_before_allocating() {
    refused_cheaply::<RelayToHost>(&hex("000100fbffff0d75706772616465207368617265"));
}

/// `messages` (ScreenUpdate) and `screen::screen_apply`: a keyframe declaring 2^64 - 1
/// scrollback rows, or 65,535 screen rows, made serde reserve 1 MiB for them.
#[test]
fn a_keyframe_declaring_more_rows_than_the_limit_is_refused_before_allocating() {
    let cases = [
        "0009020202036f6b200102000103e4b8ad02ff800001ec84000102242000000a01fdffffffffffffffff0101086f6c64206c696e6500000000fb2c010102010c64656d6f20e2809420e29c9300",
        "000802fbffff0202036f6b200102000103e4b8ad02ff800001ec84000102242000000a010101086f6c64206c696e6500000000fb2c010102010c64656d6f20e2809420e29c9300",
    ];
    for case in cases {
        let bytes = hex(case);
        let (decoded, peak) = peak_of(|| decode::<ScreenUpdate>(&bytes));
        let error = decoded.expect_err("too many rows").to_string();
        assert!(error.contains("at most"), "{error}");
        assert!(peak < bound(bytes.len()), "held {peak} bytes");
    }
}

/// `codec::frame_codec`: a length prefix announcing a frame within the limit made the codec
/// reserve the whole frame before any of it arrived: 4 bytes cost 4 MiB.
#[test]
fn a_length_prefix_alone_does_not_reserve_its_frame() {
    let mut buf = BytesMut::from(&(limits::MAX_FRAME_BYTES as u32).to_be_bytes()[..]);
    let (decoded, peak) = peak_of(|| LengthCodec::default().decode(&mut buf));
    assert!(matches!(decoded, Ok(None)));
    assert!(peak < 1024, "held {peak} bytes");
}

/// `screen::screen_apply`: two scrolls of 1,990 rows. Rows were pushed into scrollback
/// before the oldest were dropped, so its buffer doubled to 4,096 rows (128 KiB) on the way
/// and kept that capacity for good.
#[test]
fn scrollback_never_grows_past_its_limit_on_the_way() {
    let mut screen = Screen::new(8, 2);
    let diff = ScreenDiff {
        scroll: 1990,
        ..ScreenDiff::default()
    };
    screen.apply(&diff).expect("a valid scroll");
    let (applied, peak) = peak_of(|| screen.apply(&diff));
    applied.expect("a valid scroll");
    assert!(
        peak <= 3 * 1024 * std::mem::size_of::<Line>(),
        "held {peak} bytes"
    );
    assert_eq!(screen.scrollback.len(), limits::SCROLLBACK_LINES);
    assert!(screen.scrollback.capacity() < 2 * limits::SCROLLBACK_LINES);
}

/// Found by review, beyond the fuzzers' small inputs: messages over 256 KiB were decoded
/// under the largest message's limit (32 MiB), so a 300 KB message declaring a 33 MB byte
/// field had it allocated before the decoder found the message too short.
#[test]
fn a_field_many_times_a_large_message_is_refused_before_allocating() {
    for len in [300_000, 1_000_000] {
        for (kind, variant) in [("ViewerToRelay::Input", 0u8), ("HostToRelay::Bye", 3u8)] {
            let mut bytes = vec![variant, 252];
            bytes.extend_from_slice(&33_000_000u32.to_le_bytes());
            bytes.resize(len, b'x');
            let (decoded, peak) = peak_of(|| match variant {
                0 => decode::<ViewerToRelay>(&bytes).map(|_| ()),
                _ => decode::<HostToRelay>(&bytes).map(|_| ()),
            });
            assert!(decoded.is_err());
            assert!(
                peak <= bound(len),
                "{kind}: decoding {len} bytes held {peak} bytes at once (bound {})",
                bound(len)
            );
        }
    }
}
