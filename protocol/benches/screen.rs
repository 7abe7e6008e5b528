//! Micro-benchmarks of screen state: the host's diff of consecutive screens and a
//! viewer's apply, for the changes a terminal makes most (a keystroke, a scroll) and a
//! repaint of every row.

mod fixtures;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use protocol::{Line, Screen};

fn repainted(screen: &Screen) -> Screen {
    let mut next = screen.clone();
    for (n, line) in next.lines.iter_mut().enumerate() {
        *line = Line::plain(&format!("repainted row {n} {}", "=".repeat(150)));
    }
    next
}

fn bench_screen(c: &mut Criterion) {
    let base = fixtures::full_screen();
    let cases = [
        ("keystroke", fixtures::typed(&base)),
        ("scroll_5_rows", fixtures::scrolled(&base, 5)),
        (
            "scroll_full_screen",
            fixtures::scrolled(&base, u64::from(fixtures::ROWS)),
        ),
        ("repaint_all_rows", repainted(&base)),
    ];
    let mut group = c.benchmark_group("screen");
    for (name, next) in &cases {
        let diff = base.diff(next).expect("successor");
        group.bench_function(format!("diff/{name}"), |b| {
            b.iter(|| black_box(&base).diff(black_box(next)))
        });
        group.bench_function(format!("apply/{name}"), |b| {
            b.iter_batched_ref(
                || base.clone(),
                |screen| screen.apply(black_box(&diff)).expect("valid"),
                criterion::BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench_screen);
criterion_main!(benches);
