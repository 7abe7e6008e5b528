//! Micro-benchmarks of the per-frame wire work: encoding a screen update into a `Frame`
//! message, length-prefixing it, the relay's header peek, and a viewer's full decode.

mod fixtures;

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use protocol::{
    FrameHeader, HostToRelay, LengthCodec, RelayToViewer, ScreenFrame, ScreenUpdate, decode, encode,
};
use tokio_util::codec::{Decoder, Encoder};

/// The encoded `HostToRelay::Frame` carrying `update`.
fn frame_message(update: &ScreenUpdate, keyframe: bool) -> Vec<u8> {
    let payload = encode(update).expect("fixture encodes");
    encode(&HostToRelay::Frame(ScreenFrame {
        seq: 123_456,
        keyframe,
        payload,
    }))
    .expect("fixture encodes")
}

fn bench_updates(c: &mut Criterion) {
    let screen = fixtures::full_screen();
    let diff = ScreenUpdate::Diff(screen.diff(&fixtures::typed(&screen)).expect("successor"));
    let scroll = ScreenUpdate::Diff(
        screen
            .diff(&fixtures::scrolled(&screen, 5))
            .expect("successor"),
    );
    let keyframe = ScreenUpdate::Keyframe(screen);

    for (name, update, is_key) in [
        ("diff_one_row", &diff, false),
        ("diff_scroll_5_rows", &scroll, false),
        ("keyframe", &keyframe, true),
    ] {
        let message = frame_message(update, is_key);
        let mut group = c.benchmark_group(format!("wire/{name}"));
        group.throughput(Throughput::Bytes(message.len() as u64));
        group.bench_function("encode_frame", |b| {
            b.iter(|| frame_message(black_box(update), is_key))
        });
        group.bench_function("prefix_and_split", |b| {
            let mut codec = LengthCodec::default();
            let mut buf = BytesMut::with_capacity(message.len() + 4);
            b.iter(|| {
                codec
                    .encode(black_box(&message[..]), &mut buf)
                    .expect("fits");
                codec.decode(&mut buf).expect("valid").expect("complete")
            })
        });
        group.bench_function("relay_peek_header", |b| {
            b.iter(|| FrameHeader::peek(black_box(&message)).expect("valid"))
        });
        group.bench_function("viewer_decode_frame_and_update", |b| {
            b.iter(|| {
                let RelayToViewer::Frame(frame) =
                    decode::<RelayToViewer>(black_box(&message)).expect("valid")
                else {
                    unreachable!("fixture is a frame")
                };
                decode::<ScreenUpdate>(&frame.payload).expect("valid")
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench_updates);
criterion_main!(benches);
