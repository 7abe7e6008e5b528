//! What end-to-end encryption costs a frame, beside what encoding it costs: the payload
//! of a keystroke's diff, of a 100-line scroll's diff and of a full keyframe (200x50 with
//! 2,000 lines of scrollback) encoded, sealed by the host (AES-256-GCM, `protocol::e2e`)
//! and opened by a viewer. The seal's share of a frame's encode bounds its effect on a
//! flood's throughput.

mod fixtures;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use protocol::e2e::{FrameOpener, FrameSealer};
use protocol::{ScreenUpdate, encode};

const SECRET: [u8; 32] = [0x5e; 32];
const SESSION: &str = "0123456789abcdef0123456789abcdef";

fn bench_sealing(c: &mut Criterion) {
    let screen = fixtures::full_screen();
    let diff_to =
        |next: &protocol::Screen| ScreenUpdate::Diff(screen.diff(next).expect("successor"));
    let payloads = [
        ("keystroke_diff", diff_to(&fixtures::typed(&screen)), false),
        (
            "diff_100_lines",
            diff_to(&fixtures::scrolled(&screen, 100)),
            false,
        ),
        ("keyframe", ScreenUpdate::Keyframe(screen.clone()), true),
    ];
    for (name, update, is_key) in &payloads {
        let (update, is_key) = (update, *is_key);
        let payload = encode(update).expect("fixture encodes");
        let mut group = c.benchmark_group(format!("sealing/{name}"));
        group.throughput(Throughput::Bytes(payload.len() as u64));
        group.bench_function("encode", |b| b.iter(|| encode(black_box(update))));
        group.bench_function("seal", |b| {
            let mut sealer = FrameSealer::new(&SECRET, SESSION);
            let mut seq = 0;
            b.iter(|| {
                seq += 1;
                sealer.seal(seq, is_key, black_box(&payload))
            })
        });
        group.bench_function("open", |b| {
            let sealed = FrameSealer::new(&SECRET, SESSION)
                .seal(7, is_key, &payload)
                .expect("first seal");
            let opener = FrameOpener::new(&SECRET, SESSION);
            b.iter(|| opener.open(7, is_key, black_box(&sealed)))
        });
        group.finish();
    }
}

criterion_group!(benches, bench_sealing);
criterion_main!(benches);
