//! `share` under a pseudo-terminal made by the test, as under a user's terminal: resizes
//! reach viewers, and the terminal's mode is restored when the child is killed.

mod common;

use common::{TestTerminal, parse_links, stdout, wait_child, wait_until, watch};
use nix::sys::termios::LocalFlags;

#[test]
fn resizing_the_host_terminal_reaches_viewers() {
    let terminal = TestTerminal::new(100, 30);
    let mut share = terminal.spawn_share(&["--now", "--", "sh"]);
    let text = terminal
        .output
        .wait_for("the links", |text| parse_links(text).is_some());
    let links = parse_links(&text).unwrap();
    terminal.type_text("stty size\r");
    let before = watch(&links.read, &["--until", "30 100", "--timeout", "30"]);
    assert_eq!(before.status.code(), Some(0), "{before:?}");
    terminal.resize(120, 40);
    // The resize and the typed command race inside share (a signal and stdin): ask again
    // until the child reports the new size to the viewer.
    let after = wait_until("the new size on the viewer", || {
        terminal.type_text("stty size\r");
        let output = watch(&links.read, &["--until", "40 120", "--timeout", "5"]);
        (output.status.code() == Some(0)).then_some(output)
    })
    .expect("the viewer sees the new size");
    terminal.type_text("exit\r");
    assert_eq!(wait_child(&mut share), 0);
    assert!(stdout(&after).contains("40 120"));
}

#[test]
fn terminal_mode_is_restored_when_the_child_is_killed() {
    let terminal = TestTerminal::new(80, 24);
    let cooked = terminal.termios();
    assert!(
        cooked
            .local_flags
            .contains(LocalFlags::ICANON | LocalFlags::ECHO)
    );
    let mut share = terminal.spawn_share(&["--no-slash", "--", "sh"]);
    let raw = wait_until("raw mode", || {
        let mode = terminal.termios();
        (!mode.local_flags.contains(LocalFlags::ICANON)).then_some(mode)
    });
    assert!(raw.is_some(), "share switched the terminal to raw mode");
    terminal.type_text("kill -9 $$\r");
    assert_eq!(wait_child(&mut share), 128 + 9);
    let restored = terminal.termios();
    assert_eq!(restored.local_flags, cooked.local_flags);
    assert_eq!(restored.input_flags, cooked.input_flags);
    assert_eq!(restored.output_flags, cooked.output_flags);
}
