//! A host (`share --now`) and watchers (`share watch`), real processes over the embedded
//! relay on loopback: output reaches watchers over both transports, collab input runs in
//! the host's shell, read-only input is refused, `/unshare` ends viewers (and later
//! watchers are told it ended), bad links fail with their reason, a watcher's terminal
//! takes the program's input modes, and a hostile host's control sequences never reach the
//! watcher's terminal.

mod common;

use cli_share::client::{HostOptions, RelayPolicy, connect_host, discover};
use common::{Host, TestTerminal, spawn_watch, stdout, wait_child, wait_until, watch};
use protocol::{HostHello, Line, Screen, ScreenFrame, ScreenUpdate};

#[test]
fn output_reaches_watchers_over_both_transports() {
    let (mut host, links) = Host::sharing(&[], &["sh"]);
    host.type_text("echo marker-$((6*7))\n");
    for transport in ["ws", "webtransport", "auto"] {
        let output = watch(
            &links.read,
            &[
                "--transport",
                transport,
                "--until",
                "marker-42",
                "--timeout",
                "30",
            ],
        );
        assert_eq!(output.status.code(), Some(0), "{transport}: {output:?}");
        assert!(stdout(&output).contains("marker-42"), "{transport}");
    }
}

#[test]
fn collab_input_runs_in_the_host_shell() {
    let dir = tempfile::tempdir().unwrap();
    let witness = dir.path().join("witness");
    let (_host, links) = Host::sharing(&["--collab"], &["sh"]);
    let collab = links.collab.expect("a collab link");
    let command = format!("echo hi > {}; echo written-$((2+3))\\r", witness.display());
    let sent = watch(&collab, &["--send", &command]);
    assert_eq!(sent.status.code(), Some(0), "{sent:?}");
    let seen = watch(&collab, &["--until", "written-5", "--timeout", "30"]);
    assert_eq!(seen.status.code(), Some(0), "{seen:?}");
    assert_eq!(std::fs::read_to_string(&witness).unwrap(), "hi\n");
}

#[test]
fn read_only_input_is_refused_and_never_reaches_the_child() {
    let dir = tempfile::tempdir().unwrap();
    let received = dir.path().join("received");
    let script = format!("cat > {}", received.display());
    let (mut host, links) = Host::sharing(&["--collab"], &["sh", "-c", &script]);
    let refused = watch(&links.read, &["--send", "leaked\\r"]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("read-only"));
    host.type_text("typed-by-host\n");
    drop(host.stdin.take());
    assert_eq!(host.wait(), 0);
    let got = std::fs::read_to_string(&received).unwrap();
    assert_eq!(got, "typed-by-host\n");
}

#[test]
fn unshare_ends_viewers() {
    let (mut host, links) = Host::sharing(&[], &["sh"]);
    let mut watcher = spawn_watch(
        &links.read,
        &["--until", "never-printed", "--timeout", "60"],
    );
    host.stderr
        .wait_for("the viewer to join", |text| text.contains("joined"));
    host.type_text("/unshare\n");
    assert_eq!(wait_child(&mut watcher), 3);
    let mut printed = String::new();
    std::io::Read::read_to_string(watcher.stdout.as_mut().unwrap(), &mut printed).unwrap();
    assert!(printed.contains("Session ended"), "{printed}");
    // A watcher that comes later is told the session ended, and when.
    let late = watch(&links.read, &["--dump"]);
    assert_eq!(late.status.code(), Some(3), "{late:?}");
    let told = stdout(&late);
    assert!(
        told.starts_with("Session ended on ") && told.contains("GMT: the host stopped sharing"),
        "{told}"
    );
    // The host keeps running its child after unsharing.
    host.type_text("echo still-$((1+1))-here\n");
    host.stdout
        .wait_for("the child", |text| text.contains("still-2-here"));
}

#[test]
fn bad_links_fail_with_the_reason() {
    let (_host, links) = Host::sharing(&[], &["sh"]);
    let (base, fragment) = links.read.split_once('#').unwrap();
    // The token's header changed; the keys after it intact.
    let forged = format!("{base}#x{fragment}");
    let output = watch(&forged, &["--transport", "ws", "--dump"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("this link is not valid for this session (403)"),
        "{stderr}"
    );
    // The token alone, without the keys after it: refused before connecting.
    let token: String = fragment.split('.').take(3).collect::<Vec<_>>().join(".");
    let output = watch(&format!("{base}#{token}"), &["--dump"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("carries no key"), "{stderr}");
    let (prefix, _) = base.rsplit_once('/').unwrap();
    let unknown = format!("{prefix}/AAAAAAAAAAAAAAAAAAAAAA#{fragment}");
    let output = watch(&unknown, &["--transport", "ws", "--dump"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Another session's token: not valid for this one.
    assert!(stderr.contains("not valid for this session"), "{stderr}");
}

#[test]
fn a_watchers_terminal_takes_the_programs_input_modes_and_its_keys_go_through() {
    let dir = tempfile::tempdir().unwrap();
    let received = dir.path().join("received");
    // The program asks for application cursor keys, the application keypad and bracketed
    // paste, as vim and readline do, then records the next three bytes it is sent.
    let script = format!(
        "printf '\\033[?1h\\033=\\033[?2004h'; stty raw -echo; echo ready-$((1+1)); \
         head -c 3 > {}; echo got-them; sleep 60",
        received.display()
    );
    let (_host, links) = Host::sharing(&["--collab"], &["sh", "-c", &script]);
    let terminal = TestTerminal::new(80, 24);
    let mut watcher = terminal.spawn_share(&["watch", &links.collab.expect("a collab link")]);
    terminal
        .output
        .wait_for("the modes and the program", |text| {
            text.contains("\x1b[?1h")
                && text.contains("\x1b[?7l")
                && text.contains("\x1b=")
                && text.contains("\x1b[?2004h")
                && text.contains("ready-2")
        });
    // What xterm sends for the up arrow in application cursor mode.
    terminal.type_text("\x1bOA");
    let got = wait_until("the program to get the keys", || {
        std::fs::read(&received)
            .ok()
            .filter(|bytes| bytes.len() == 3)
    });
    assert_eq!(got.as_deref(), Some(&b"\x1bOA"[..]));
    terminal
        .output
        .wait_for("the program's answer", |text| text.contains("got-them"));
    // Ctrl-] leaves, and the terminal is put back as it was.
    let before = terminal.output.len();
    terminal.type_text("\x1d");
    assert_eq!(wait_child(&mut watcher), 0);
    terminal
        .output
        .wait_for("the terminal put back", |text| text.contains("\x1b[?1049l"));
    let reset = terminal.output.tail(terminal.output.len() - before);
    for sequence in ["\x1b[?1l", "\x1b>", "\x1b[?2004l", "\x1b[?7h"] {
        assert!(reset.contains(sequence), "{sequence:?} in {reset:?}");
    }
}

/// What a hostile host puts on its screen: a title, a screen clear, an OSC 52 clipboard
/// write and an 8-bit CSI. The real host's emulator never stores any.
const HOSTILE: &str = "A\x1b]0;pwned\x07B\x1b[2JC\x1b]52;c;ZWNobyBoaQ==\x1b\\D\u{9b}31mE";

/// Characters a terminal would act on, other than the newline.
fn controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| c != '\n' && c.is_control())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_hosts_control_sequences_never_reach_the_watchers_terminal() {
    let relay = relay::Relay::start(relay::RelayConfig::loopback())
        .await
        .expect("the relay starts");
    let info = discover(relay.public_url(), &RelayPolicy::default())
        .await
        .expect("discovered");
    let mut host = connect_host(&info, &HostHello::new(80, 5), &HostOptions::default())
        .await
        .expect("the host is welcomed");
    let mut screen = Screen::new(80, 5);
    screen.lines[0] = Line::plain(HOSTILE);
    let plain = protocol::encode(&ScreenUpdate::Keyframe(screen)).unwrap();
    // The host is hostile, not the relay: its frame is sealed as a real host's would be.
    let secrets = protocol::e2e::ShareSecrets::generate(false);
    let payload = protocol::e2e::FrameSealer::new(secrets.read(), &host.welcome.session_id)
        .seal(0, true, &plain)
        .expect("sealed");
    let frame = ScreenFrame {
        seq: 0,
        keyframe: true,
        payload,
    };
    host.sender.send_frame(frame).await.expect("the frame goes");

    let link = secrets.read_link(&host.welcome.links.read);
    for goal in [&["--dump"][..], &["--until", "ABCDE"]] {
        let args = [goal, &["--timeout", "30"]].concat();
        let link = link.clone();
        let output = tokio::task::spawn_blocking(move || watch(&link, &args))
            .await
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{goal:?}: {output:?}");
        let printed = stdout(&output);
        assert!(printed.contains("ABCDE"), "{goal:?}: {printed:?}");
        assert!(controls(&printed).is_empty(), "{goal:?}: {printed:?}");
    }
    relay.shutdown().await;
}
