//! End-to-end encryption against a relay that reads everything it is given: the relay's
//! whole traffic (host on its WebSocket fallback, viewers on WebSocket, through a tap
//! that reads WebSocket in the clear) never holds what the host's screen shows, what a
//! collaborator types, or the links' secrets, while `share watch` shows it all; and a
//! relay that alters the session (a flipped byte, two frames swapped, an old keyframe
//! replayed, a read-only viewer's input passed on as collab) is caught: viewers say "the
//! relay altered this session" and stop, the host types nothing into its child.

mod blind_relay;

use blind_relay::*;
use cli_share::client::{ShareUrl, ViewerTransport, connect_viewer, discover};
use e2e::tap::Tamper;
use protocol::e2e::InputSealer;

/// `share watch`'s exit code when the relay altered the session.
const EXIT_ALTERED: i32 = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_carries_the_session_without_reading_the_screen_or_the_keys() {
    let net = Tapped::start(Tamper::None).await;
    let mut host = net.host(&["--collab"], &["sh"]).await;
    let collab = host.collab.clone().expect("a collab link");
    let shown = marker("shown");
    host.type_text(&format!("echo {shown}\n")).await;
    let (code, out, err) = watch(&host.read, &["--until", &shown, "--timeout", "30"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&shown), "{out}");

    // A collaborator types through the relay; the host's shell runs it.
    let typed = marker("typed");
    let send = format!("echo {typed}\\r");
    let (code, out, err) = watch(&collab, &["--send", &send]).await;
    assert_eq!(code, 0, "{out}{err}");
    host.stdout.contains(&format!("\n{typed}")).await;

    // A late viewer gets the screen from what the relay retained.
    let (code, out, err) = watch(&host.read, &["--until", &typed, "--timeout", "30"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&shown) && out.contains(&typed), "{out}");
    assert_eq!(host.exit().await, 0);

    let seen = net
        .tap_until("the host's and viewers' WebSockets", |seen| {
            seen.websockets.iter().any(|path| path == "/ws/host")
                && seen.websockets.len() >= 4
                && seen.frames_to_viewers >= 3
        })
        .await;
    assert_eq!(seen.unread_upgrades, 0, "every WebSocket was read");
    // The tap reads both ways in the clear: the viewers' token in their upgrades, the
    // host's goodbye in its (masked) WebSocket frames, the links in the relay's welcome.
    let (to_relay, from_relay) = net.tap.recorded();
    let token = token_of(&host.read);
    assert!(e2e::tap::find(&to_relay, token.as_bytes()).is_some());
    assert!(e2e::tap::find(&to_relay, b"the host exited").is_some());
    assert!(e2e::tap::find(&from_relay, token.as_bytes()).is_some());
    let mut secret = vec![
        ("the screen's marker", shown.into_bytes()),
        ("the typed marker", typed.into_bytes()),
    ];
    secret.extend(secrets_of(&collab));
    net.assert_never_seen(&secret);
}

/// A host sharing `sh` read-only through a tap that alters the session as `tamper` says,
/// and a `share watch` of it, joined.
async fn watched(tamper: Tamper) -> (Tapped, Host, tokio::process::Child) {
    let net = Tapped::start(tamper).await;
    let mut host = net.host(&[], &["sh"]).await;
    let mut watcher = watch_command(&host.read, &["--until", "never-shown", "--timeout", "60"])
        .spawn()
        .expect("share watch starts");
    tokio::select! {
        () = host.stderr.contains("a viewer joined") => {}
        exited = watcher.wait() => {
            let mut err = String::new();
            let stderr = watcher.stderr.as_mut().expect("stderr");
            let _ = tokio::io::AsyncReadExt::read_to_string(stderr, &mut err).await;
            panic!("share watch exited before joining: {exited:?}: {err}");
        }
    }
    (net, host, watcher)
}

/// The watch ends with the altered-session exit code and message, having printed nothing.
async fn ends_altered(watcher: tokio::process::Child) {
    let output = within("the watch to stop", watcher.wait_with_output())
        .await
        .expect("share watch output");
    let (out, err) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert_eq!(output.status.code(), Some(EXIT_ALTERED), "{out}{err}");
    assert!(err.contains("the relay altered this session"), "{err}");
    assert!(
        out.trim().is_empty(),
        "nothing shown after the alteration: {out}"
    );
}

/// Once the tap is armed: new output reaches the tap, which alters it once, and the watch
/// ends with the altered-session exit code and message, having printed nothing.
async fn caught(net: &Tapped, host: &mut Host, watcher: tokio::process::Child) {
    host.type_text("echo after-$((6*7))\n").await;
    ends_altered(watcher).await;
    net.tap_until("the alteration", |seen| seen.tampered == 1)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_byte_stops_the_viewer() {
    let (net, mut host, watcher) = watched(Tamper::Flip).await;
    net.tap.arm();
    caught(&net, &mut host, watcher).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_swapped_frames_stop_the_viewer() {
    let (net, mut host, watcher) = watched(Tamper::Swap).await;
    net.tap.arm();
    let before = net.tap.stats().borrow().frames_to_viewers;
    host.type_text("echo one-$((1+1))\n").await;
    net.tap_until("a frame held back", |seen| seen.frames_to_viewers > before)
        .await;
    caught(&net, &mut host, watcher).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_keyframe_stops_the_viewer() {
    let (net, mut host, watcher) = watched(Tamper::Replay).await;
    // A flood's scrollback is repaid by a keyframe once the output calms down.
    host.type_text("seq 1 20000\n").await;
    net.tap_until("a second keyframe", |seen| seen.keyframes.len() >= 2)
        .await;
    net.tap.arm();
    caught(&net, &mut host, watcher).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_viewers_input_passed_on_as_collab_never_reaches_the_child() {
    let net = Tapped::start(Tamper::Relabel).await;
    let dir = std::env::temp_dir().join(format!("relay-blind-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).expect("a directory");
    let received = dir.join("received");
    let script = format!("cat > {}", received.display());
    let mut host = net.host(&["--collab"], &["sh", "-c", &script]).await;
    net.tap.arm();

    // A read-only link's holder, with the relay's help, tries raw input, input sealed with
    // the read secret it has, and input sealed with a key of its own.
    let link = ShareUrl::parse(&host.read).expect("a link");
    let relay = within(
        "discovery",
        discover(&link.base, &cli_share::client::RelayPolicy::default()),
    )
    .await
    .expect("the relay answers");
    let mut reader = within(
        "the viewer",
        connect_viewer(&relay, &link, ViewerTransport::WebSocket),
    )
    .await
    .expect("the viewer joins");
    let mut with_read_key = InputSealer::new(&link.keys.read, &link.session_id);
    let mut with_own_key = InputSealer::new(&[0x42; 32], &link.session_id);
    for forged in [
        b"pwned-raw\r".to_vec(),
        with_read_key.seal(b"pwned-read-key\r"),
        with_own_key.seal(b"pwned-own-key\r"),
    ] {
        reader.send_input(&forged).await.expect("sent");
    }
    net.tap_until("three inputs relabelled", |seen| seen.tampered == 3)
        .await;
    host.stderr.contains("refused input").await;
    host.type_text("/share\n").await;
    host.stderr.contains("3 input messages refused").await;

    host.type_text("typed-by-host\n").await;
    assert_eq!(host.exit().await, 0);
    let got = std::fs::read_to_string(&received).expect("the child wrote its input");
    assert_eq!(got, "typed-by-host\n");
    assert_eq!(host.stderr.text().matches("refused input").count(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}
