//! A flood of output (50 MB) goes through to the local terminal in full while a watcher
//! keeps up with the final screen instead of replaying a backlog.

mod common;

use std::time::{Duration, Instant};

use common::{Host, spawn_watch, wait_child};

const FLOOD_BYTES: usize = 50_000_000;

#[test]
fn a_flood_completes_locally_and_the_watcher_sees_the_final_screen() {
    let (mut host, links) = Host::sharing(&[], &["sh"]);
    let mut watcher = spawn_watch(
        &links.read,
        &[
            "--transport",
            "ws",
            "--until",
            "flood-7-done",
            "--timeout",
            "120",
        ],
    );
    host.stderr
        .wait_for("the viewer to join", |text| text.contains("joined"));
    let started = Instant::now();
    host.type_text(&format!(
        "yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c {FLOOD_BYTES}; echo flood-$((3+4))-done\n"
    ));
    // Generous: a debug build on a loaded machine emulates a few MB/s.
    let done = common::wait_longer("the whole flood locally", Duration::from_secs(300), || {
        (host.stdout.len() > FLOOD_BYTES && host.stdout.tail(4096).contains("flood-7-done"))
            .then_some(())
    });
    assert!(done.is_some(), "local output: {} bytes", host.stdout.len());
    let local = started.elapsed();
    assert_eq!(
        wait_child(&mut watcher),
        0,
        "the watcher saw the final screen"
    );
    eprintln!(
        "flood: {} MB locally in {:.1?}, watcher caught up {:.1?} after the start",
        FLOOD_BYTES / 1_000_000,
        local,
        started.elapsed()
    );
    assert!(host.stdout.len() > FLOOD_BYTES);
}
