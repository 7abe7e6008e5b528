//! `Screen::apply_update` fed decoded hostile updates, one after another, from the golden
//! keyframe: a refused update leaves the screen exactly as it was, an accepted one leaves a
//! screen that still validates, and neither decoding nor applying exceeds the bound.

use proptest::prelude::*;
use protocol::*;

use crate::alloc::peak_of;
use crate::messages::decode_checked;
use crate::mutate::{input, seeds_of};
use crate::watchdog::guard;

/// Most bytes applying an update of `len` encoded bytes may hold at once: copies of the
/// rows it carries, and scrollback's buffer growing to its final 2,048 rows from 1,024
/// (the old and the new buffer: 96 KiB).
fn apply_bound(len: usize) -> usize {
    32 * len + 3 * 1024 * std::mem::size_of::<Line>()
}

fn golden_keyframe() -> Screen {
    let bytes = seeds_of("ScreenUpdate")
        .into_iter()
        .find(|bytes| bytes.first() == Some(&0))
        .expect("a golden keyframe");
    match decode::<ScreenUpdate>(&bytes) {
        Ok(ScreenUpdate::Keyframe(screen)) => screen,
        other => panic!("the golden keyframe decodes as {other:?}"),
    }
}

/// Text that tests the width rules: wide and combining characters, controls, and runs
/// long enough to overflow the golden keyframe's 8 columns.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a中\u{301}\u{200d}\u{fe0f}\t\u{0}]{0,12}",
        (1usize..2000).prop_map(|n| "x".repeat(n)),
    ]
}

fn line() -> impl Strategy<Value = Line> {
    (
        prop::collection::vec((text(), any::<u16>()), 0..12),
        any::<bool>(),
    )
        .prop_map(|(runs, wrapped)| Line {
            runs: runs
                .into_iter()
                .map(|(text, attrs)| Run {
                    text,
                    style: Style {
                        attrs,
                        ..Style::default()
                    },
                })
                .collect(),
            wrapped,
        })
}

/// Well-formed updates with hostile values: scroll counts up to 2^64 - 1, rows and history
/// indices anywhere, titles around the limit, keyframes of any size and row count.
fn structured_update() -> impl Strategy<Value = Vec<u8>> {
    let small_or_any_u16 = prop_oneof![0u16..12, any::<u16>()];
    let diff = (
        prop_oneof![0u64..4, 1990u64..2010, any::<u64>()],
        prop::collection::vec((prop_oneof![0u32..4, any::<u32>()], line()), 0..4),
        prop::collection::vec((small_or_any_u16.clone(), line()), 0..4),
        prop::option::of(prop_oneof![
            Just(8191usize),
            Just(8192),
            Just(8193),
            0usize..8
        ]),
    )
        .prop_map(|(scroll, history, lines, title)| {
            ScreenUpdate::Diff(ScreenDiff {
                scroll,
                history,
                lines,
                title: title.map(|n| "t".repeat(n)),
                ..ScreenDiff::default()
            })
        });
    let keyframe = (
        small_or_any_u16.clone(),
        small_or_any_u16,
        prop::collection::vec(line(), 0..12),
        0u64..5000,
    )
        .prop_map(|(cols, rows, lines, scrolled_total)| {
            let mut screen = Screen::new(1, 1);
            screen.cols = cols;
            screen.rows = rows;
            screen.lines = lines;
            screen.scrolled_total = scrolled_total;
            ScreenUpdate::Keyframe(screen)
        });
    prop_oneof![3 => diff, 1 => keyframe].prop_map(|update| encode(&update).expect("encodes"))
}

proptest! {
    #![proptest_config(crate::config())]

    #[test]
    fn screen_apply(updates in prop::collection::vec(prop_oneof![input("ScreenUpdate"), structured_update()], 1..6)) {
        let mut screen = golden_keyframe();
        for bytes in &updates {
            guard(|| format!("screen update {}", hex::encode(bytes)), || {
                let Ok(update) = decode_checked::<ScreenUpdate>(bytes)? else {
                    return Ok(());
                };
                let before = screen.clone();
                let (applied, peak) = peak_of(|| screen.apply_update(update));
                prop_assert!(peak <= apply_bound(bytes.len()), "apply held {peak} bytes");
                match applied {
                    Ok(()) => {
                        prop_assert_eq!(screen.validate(), Ok(()));
                        prop_assert!(screen.lines.len() == screen.rows as usize);
                    }
                    Err(_) => prop_assert_eq!(&screen, &before),
                }
                Ok(())
            })?;
        }
    }
}
