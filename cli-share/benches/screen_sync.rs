//! Cost of the host's sync path: emulating output, taking a snapshot and encoding the
//! frame (diff or keyframe, sealed for viewers as `share` does), with a full scrollback,
//! as under a flood; and scanning a flood's batch for what it may skip.

use std::hint::black_box;

use cli_share::Emulator;
use cli_share::Scanner;
use cli_share::ScreenEncoder;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use protocol::e2e::FrameSealer;

const COLS: u16 = 200;
const ROWS: u16 = 50;

fn mixed_output(lines: usize) -> Vec<u8> {
    (0..lines)
        .map(|i| {
            format!(
                "\x1b[3{}mline {i}\x1b[0m {} 中文 {}\r\n",
                i % 8,
                "word ".repeat(i % 30),
                i * 7
            )
        })
        .collect::<String>()
        .into_bytes()
}

/// An emulator whose scrollback is full, with an encoder that has sent its state.
fn warmed_up() -> (Emulator, ScreenEncoder) {
    let mut emulator = Emulator::new(COLS, ROWS);
    emulator.feed(&mixed_output(3000));
    let mut encoder = ScreenEncoder::new();
    encoder.seal_with(FrameSealer::new(&[7; 32], "bench-session"));
    encoder.encode(emulator.snapshot(), false).unwrap();
    (emulator, encoder)
}

fn bench(c: &mut Criterion) {
    let chunk = mixed_output(100);
    let mut group = c.benchmark_group("sync");
    group.throughput(Throughput::Bytes(chunk.len() as u64));
    group.bench_function("emulate 100 lines", |b| {
        let mut emulator = Emulator::new(COLS, ROWS);
        b.iter(|| emulator.feed(black_box(&chunk)));
    });
    group.bench_function("emulate 100 lines + snapshot + diff frame", |b| {
        let (mut emulator, mut encoder) = warmed_up();
        b.iter(|| {
            emulator.feed(&chunk);
            black_box(encoder.encode(emulator.snapshot(), false).unwrap());
        });
    });
    group.finish();
    // A flood's batch of 50 ms on this machine, scanned with the lines a 24-row screen
    // keeps (its history and two screens).
    let batch = mixed_output(20_000);
    let mut group = c.benchmark_group("sync");
    group.throughput(Throughput::Bytes(batch.len() as u64));
    group.bench_function("scan a flood batch", |b| {
        let keep = Emulator::new(80, 24).lines_that_bury();
        let mut scanner = Scanner::new(24);
        b.iter(|| scanner.scan(black_box(&batch), keep))
    });
    group.finish();
    c.bench_function("sync/keystroke echo: snapshot + diff frame", |b| {
        let (mut emulator, mut encoder) = warmed_up();
        b.iter(|| {
            emulator.feed(b"x");
            black_box(encoder.encode(emulator.snapshot(), false).unwrap());
        });
    });
    c.bench_function(
        "sync/a line printed at 80x24, full scrollback: snapshot + diff frame",
        |b| {
            let mut emulator = Emulator::new(80, 24);
            emulator.feed(&mixed_output(3000));
            let mut encoder = ScreenEncoder::new();
            encoder.encode(emulator.snapshot(), false).unwrap();
            let mut tick = 0u64;
            b.iter(|| {
                tick += 1;
                emulator.feed(format!("tick {tick} 1234567890\r\n").as_bytes());
                black_box(encoder.encode(emulator.snapshot(), false).unwrap());
            });
        },
    );
    c.bench_function("screen/diff, one row changed, full scrollback", |b| {
        let (mut emulator, _) = warmed_up();
        let before = emulator.snapshot().clone();
        emulator.feed(b"x");
        let after = emulator.snapshot().clone();
        b.iter(|| black_box(before.diff(&after)));
    });
    // Screen::diff used to start by cloning the old screen, scrollback included.
    c.bench_function("screen/clone with full scrollback", |b| {
        let (mut emulator, _) = warmed_up();
        let screen = emulator.snapshot().clone();
        b.iter(|| black_box(screen.clone()));
    });
    c.bench_function("sync/keyframe with full scrollback", |b| {
        let (mut emulator, mut encoder) = warmed_up();
        b.iter(|| {
            encoder.force_keyframe();
            emulator.feed(b"x");
            black_box(encoder.encode(emulator.snapshot(), false).unwrap());
        });
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
