//! `share watch URL`: a terminal viewer. Renders the shared screen live (only the rows
//! that changed), forwards keystrokes with a collab link (the terminal set to the input
//! modes the host's program asked for, so that it encodes keys and pastes as the program
//! expects), or, for scripts, dumps the screen, waits for some text, or sends input.
//!
//! Frames open with the link's read secret and keystrokes are sealed with its write secret
//! (`protocol::e2e`); whether this viewer may type is the link's to say (a write secret),
//! not the relay's. A frame that fails to open or comes out of order ends the watch: the
//! relay altered the session, and nothing it sent after the last authentic frame is shown.
//! What it prints of the host's text (`--dump`, `--until`) is stripped of control
//! sequences ([`plain`]), and `--until` looks for its text in what is printed; the live
//! view draws cells, never control characters.
//!
//! A link the relay refuses is asked about at its status endpoint, so that the watch says
//! which it is: not valid, expired (when), no such session, or ended (when).
//!
//! Exit codes: 0 done, 1 timeout or network failure, 2 bad, expired, keyless or read-only
//! link, no such session, or a relay or trust setting refused, 3 the session ended, 4 the
//! relay altered the session.

use std::time::{Duration, SystemTime};

use protocol::e2e::{E2eError, InputSealer};
use protocol::{EndReason, Modes, RelayToViewer, Screen};
use tokio::signal::unix::{SignalKind, signal};
use tokio::time::{Instant, sleep, sleep_until};

mod escapes;

use crate::cli::{TransportChoice, WatchArgs};
use crate::client::{
    self, LinkStatus, NetError, Nodes, RelayInfo, RelayPolicy, ShareUrl, ViewerLink,
    ViewerTransport,
};
use crate::sync::mirror::Mirror;
use crate::term;
use crate::term::printable::{one_line, printable};
use crate::term::render::{self, Drawn, Viewport};
use crate::term::stdio::{LocalOut, spawn_stdin};
use crate::term::tty::{self, RawMode};
use escapes::unescape;

/// After the first keyframe, how long without news means `--dump` has caught up.
const SETTLE: Duration = Duration::from_millis(200);
/// Longest a `--send` stays connected after sending.
const LINGER: Duration = Duration::from_secs(3);
/// How long a viewer retries a relay that is going away.
const RETRY_FOR: Duration = Duration::from_secs(30);
/// How long a watcher waits before asking a busy relay again.
const BUSY_PAUSE: Duration = Duration::from_secs(2);
/// Ctrl-]: leaves an interactive watch (every other key may belong to the session).
const QUIT_KEY: u8 = 0x1d;

/// Timed out, or the network failed.
const EXIT_FAILED: i32 = 1;
const EXIT_BAD_LINK: i32 = 2;
const EXIT_ENDED: i32 = 3;
const EXIT_ALTERED: i32 = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Goal {
    Dump,
    Until(String),
    SendOnly,
    Interactive,
}

pub async fn run(args: WatchArgs) -> anyhow::Result<i32> {
    let link = match ShareUrl::parse(&args.url) {
        Ok(link) => link,
        Err(error) => return Ok(fail(EXIT_BAD_LINK, &error.to_string())),
    };
    let policy = match args.trust.policy() {
        Ok(policy) => policy,
        Err(error) => return Ok(fail(EXIT_BAD_LINK, &format!("{error:#}"))),
    };
    if let Err(error) = policy.check(&link.base) {
        return Ok(fail(EXIT_BAD_LINK, &error.to_string()));
    }
    if policy.is_plaintext(&link.base) {
        eprintln!(
            "share watch: NOT SECURE (--insecure): this session travels in clear text from a \
             plain http:// relay; anyone on the network can watch it"
        );
    }
    let input = match args.send.as_deref().map(unescape).transpose() {
        Ok(input) => input,
        Err(error) => return Ok(fail(EXIT_BAD_LINK, &format!("--send: {error}"))),
    };
    let sealer = link
        .keys
        .write
        .map(|write| InputSealer::new(&write, &link.session_id));
    if input.is_some() && sealer.is_none() {
        return Ok(fail(
            EXIT_BAD_LINK,
            "this link is read-only (it holds no write key)",
        ));
    }
    let goal = if args.dump {
        Goal::Dump
    } else if let Some(text) = &args.until {
        Goal::Until(text.clone())
    } else if input.is_some() {
        Goal::SendOnly
    } else {
        Goal::Interactive
    };
    let transport = match args.transport {
        TransportChoice::Auto => ViewerTransport::Auto,
        TransportChoice::Webtransport => ViewerTransport::WebTransport,
        TransportChoice::Ws => ViewerTransport::WebSocket,
    };
    let deadline = (goal != Goal::Interactive)
        .then(|| Instant::now() + Duration::from_secs_f64(args.timeout.max(0.0)));
    let give_up = Instant::now() + RETRY_FOR;
    let mut nodes = Nodes::new(link.base.clone());
    let viewer = loop {
        let mut viewer = match connect(&link, &policy, transport, &mut nodes).await {
            Ok(viewer) => viewer,
            Err(failed) => return Ok(failed.code),
        };
        match viewer.recv().await {
            Ok(RelayToViewer::Welcome(_)) => break viewer,
            Ok(RelayToViewer::Ended { reason, message }) => return Ok(ended(reason, &message)),
            Ok(other) => {
                return Ok(fail(
                    EXIT_FAILED,
                    &format!("unexpected first message {other:?}"),
                ));
            }
            // Lost before the welcome (a bad link): join again, as after it.
            Err(NetError::GoingAway | NetError::Closed(_)) if Instant::now() < give_up => {
                sleep(Duration::from_millis(250)).await;
            }
            Err(error) => return Ok(net_failure(&error)),
        }
    };
    let mut session = Session {
        mirror: Mirror::new(&link.keys, &link.session_id),
        link,
        nodes,
        policy,
        transport,
        viewer,
        sealer,
    };
    if let Some(input) = &input
        && let Err(error) = session.send(input).await
    {
        return Ok(net_failure(&error));
    }
    match goal {
        Goal::Interactive => session.interactive().await,
        Goal::SendOnly => Ok(session.linger().await),
        _ => Ok(session.scripted(&goal, deadline).await),
    }
}

struct Session {
    link: ShareUrl,
    /// The relay's cluster (just the link's relay when it is alone).
    nodes: Nodes,
    policy: RelayPolicy,
    transport: ViewerTransport,
    viewer: ViewerLink,
    /// Seals keystrokes: only with a collab link (a write secret).
    sealer: Option<InputSealer>,
    mirror: Mirror,
}

/// What a message from the relay means for the watch.
enum Next {
    Changed,
    Nothing,
    Exit(i32),
}

impl Session {
    /// `--dump` and `--until`: no rendering, just the screen as text at the end.
    async fn scripted(&mut self, goal: &Goal, deadline: Option<Instant>) -> i32 {
        let deadline = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(10));
        let mut settle: Option<Instant> = None;
        loop {
            let wake = settle.map_or(deadline, |settle| settle.min(deadline));
            let message = tokio::select! {
                message = self.viewer.recv() => message,
                _ = sleep_until(wake) => {
                    if settle.is_some_and(|s| s <= Instant::now()) {
                        return print_screen(self.mirror.screen(), 0);
                    }
                    eprintln!("share watch: timed out");
                    return print_screen(self.mirror.screen(), EXIT_FAILED);
                }
            };
            match self.handle(message).await {
                Next::Exit(code) => return code,
                Next::Nothing => {}
                Next::Changed => match goal {
                    Goal::Until(text) => {
                        if self
                            .mirror
                            .screen()
                            .is_some_and(|s| printable(&s.text()).contains(text.as_str()))
                        {
                            return print_screen(self.mirror.screen(), 0);
                        }
                    }
                    _ => settle = Some(Instant::now() + SETTLE),
                },
            }
        }
    }

    /// After `--send` alone: stays connected until the screen settles (or [`LINGER`]), so
    /// the input is delivered before the connection closes, and usually echoed.
    async fn linger(&mut self) -> i32 {
        let give_up = Instant::now() + LINGER;
        let mut settle = give_up;
        loop {
            tokio::select! {
                message = self.viewer.recv() => match self.handle(message).await {
                    Next::Exit(code) => return code,
                    Next::Changed => settle = (Instant::now() + SETTLE).min(give_up),
                    Next::Nothing => {}
                },
                _ = sleep_until(settle) => return 0,
            }
        }
    }

    /// Renders the session in this terminal until it ends or the user presses Ctrl-].
    async fn interactive(&mut self) -> anyhow::Result<i32> {
        let raw_mode = RawMode::enable()?;
        let out = LocalOut::spawn();
        // Autowrap off: a row the terminal finds wider than the host did (a character it
        // draws wider than unicode-width counts, e.g. an emoji and its variation selector)
        // is cut at the edge instead of wrapping and, on the last row, scrolling the view.
        out.write(b"\x1b[?1049h\x1b[?7l\x1b[H\x1b[2J".to_vec())
            .await;
        let mut stdin = spawn_stdin();
        let mut winch = signal(SignalKind::window_change())?;
        let mut shown: Option<Drawn> = None;
        // The input modes this terminal is in: the ones the host's program asked for.
        let mut modes = Modes::default();
        let code = loop {
            let next = tokio::select! {
                message = self.viewer.recv() => self.handle(message).await,
                key = stdin.recv() => match key {
                    Some(bytes) => self.keys(&bytes).await,
                    None => Next::Exit(0),
                },
                _ = winch.recv() => {
                    shown = None;
                    Next::Changed
                }
            };
            match next {
                Next::Exit(code) => break code,
                Next::Nothing => {}
                Next::Changed => {
                    if let Some(screen) = self.mirror.screen() {
                        let (cols, rows) = tty::local_size();
                        let viewport = Viewport { cols, rows };
                        let mut drawn = render::changed(shown.as_ref(), screen, viewport);
                        drawn.extend(term::modes::switch(modes, screen.modes));
                        out.write(drawn).await;
                        modes = screen.modes;
                        shown = Some(Drawn::of(screen));
                    }
                }
            }
        };
        out.write(term::modes::switch(modes, Modes::default()))
            .await;
        out.write(b"\x1b[0m\x1b[?25h\x1b[?7h\x1b[?1049l".to_vec())
            .await;
        out.finish();
        drop(raw_mode);
        drop(stdin);
        Ok(code)
    }

    async fn keys(&mut self, bytes: &[u8]) -> Next {
        if bytes.contains(&QUIT_KEY) || (self.sealer.is_none() && bytes.contains(&0x03)) {
            return Next::Exit(0);
        }
        if let Err(error) = self.send(bytes).await {
            return Next::Exit(net_failure(&error));
        }
        Next::Nothing
    }

    /// Types `bytes` into the session, sealed; nothing without a collab link.
    async fn send(&mut self, bytes: &[u8]) -> Result<(), NetError> {
        match &mut self.sealer {
            Some(sealer) => self.viewer.send_sealed(sealer, bytes).await,
            None => Ok(()),
        }
    }

    async fn handle(&mut self, message: Result<RelayToViewer, NetError>) -> Next {
        match message {
            Ok(RelayToViewer::Frame(frame)) => match self.mirror.apply(&frame) {
                Ok(true) => Next::Changed,
                Ok(false) => Next::Nothing,
                Err(error) => Next::Exit(altered(&error)),
            },
            Ok(RelayToViewer::Ended { reason, message }) => Next::Exit(ended(reason, &message)),
            // The relay restarts, or the connection was lost (idle timeout, network
            // change): the same link joins again and the screen re-syncs from a keyframe.
            Ok(RelayToViewer::GoingAway)
            | Err(NetError::GoingAway | NetError::Closed(_) | NetError::Connect(_)) => {
                self.reconnect().await
            }
            Ok(_) => Next::Nothing,
            Err(NetError::Ended) => Next::Exit(ended(EndReason::HostEnded, "")),
            Err(error) => Next::Exit(net_failure(&error)),
        }
    }

    /// Comes back with the same link, retrying with a capped backoff, until the relay says
    /// the session ended or the link will never open it again.
    async fn reconnect(&mut self) -> Next {
        let give_up = Instant::now() + RETRY_FOR;
        let mut pause = Duration::from_millis(250);
        while Instant::now() < give_up {
            sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
            match connect(&self.link, &self.policy, self.transport, &mut self.nodes).await {
                Ok(viewer) => {
                    self.viewer = viewer;
                    return Next::Nothing;
                }
                Err(Failed {
                    code,
                    for_good: true,
                }) => return Next::Exit(code),
                // A node of a cluster that stays away: another has the session too.
                Err(_) => {
                    self.nodes.advance();
                }
            }
        }
        Next::Exit(fail(EXIT_FAILED, "the relay went away"))
    }
}

/// Why joining failed: the exit code (the reason already told), and whether joining again
/// cannot help (the session ended, the link expired or is not valid).
struct Failed {
    code: i32,
    for_good: bool,
}

impl From<i32> for Failed {
    fn from(code: i32) -> Failed {
        Failed {
            code,
            for_good: false,
        }
    }
}

/// Discovers the relay of `link` (the current node of its cluster) and joins its session.
async fn connect(
    link: &ShareUrl,
    policy: &RelayPolicy,
    transport: ViewerTransport,
    nodes: &mut Nodes,
) -> Result<ViewerLink, Failed> {
    let relay = client::discover(nodes.current(), policy)
        .await
        .map_err(|error| net_failure(&error))?;
    nodes.learn(&relay);
    // A busy relay (a full session, or a node of a cluster that cannot reach Redis) says
    // when to come back.
    let give_up = Instant::now() + RETRY_FOR;
    loop {
        match client::connect_viewer(&relay, link, transport).await {
            Ok(viewer) => return Ok(viewer),
            Err(NetError::Busy(why)) if Instant::now() < give_up => {
                tracing::info!(%why, "the relay is busy; retrying");
                sleep(BUSY_PAUSE).await;
            }
            Err(error @ (NetError::Forbidden | NetError::NotFound)) => {
                return Err(refused(&relay, link, &error).await);
            }
            Err(error) => return Err(net_failure(&error).into()),
        }
    }
}

/// Tells why the relay refused `link`, as its status endpoint says, or the refusal as it
/// came when the relay cannot say (an older relay, or the link opens the session now).
async fn refused(relay: &RelayInfo, link: &ShareUrl, refusal: &NetError) -> Failed {
    let bad_link = |why: &str| Failed {
        code: fail(EXIT_BAD_LINK, why),
        for_good: true,
    };
    match client::link_status(relay, link).await {
        Ok(LinkStatus::Invalid) => bad_link(
            "this link is not valid for this session (403): it was changed or cut short, or \
             made for another relay; ask the host for it again",
        ),
        Ok(LinkStatus::Expired { at }) => bad_link(&format!(
            "this link expired on {} (403): ask the host for a fresh one (/share shows new links)",
            date(at)
        )),
        Ok(LinkStatus::Ended { at, reason }) => Failed {
            code: ended_at(reason, at),
            for_good: true,
        },
        Ok(LinkStatus::NotFound) => fail(
            EXIT_BAD_LINK,
            "this relay has no such session (404): check the link (if the relay just \
             restarted, the session is back once its host reconnects)",
        )
        .into(),
        Ok(LinkStatus::Live) | Err(_) => net_failure(refusal).into(),
    }
}

/// `at` as an HTTP date, e.g. "Tue, 15 Nov 1994 08:12:31 GMT".
fn date(at: SystemTime) -> String {
    httpdate::fmt_http_date(at)
}

fn net_failure(error: &NetError) -> i32 {
    match error {
        NetError::Forbidden => fail(
            EXIT_BAD_LINK,
            "the link is invalid or has expired (403 Forbidden)",
        ),
        NetError::NotFound => fail(
            EXIT_BAD_LINK,
            "no such session on this relay (404 Not Found)",
        ),
        NetError::Rejected(_)
        | NetError::Url(_)
        | NetError::LinkKey(_)
        | NetError::PlainHttp(_)
        | NetError::ForeignEndpoint { .. } => fail(EXIT_BAD_LINK, &error.to_string()),
        NetError::Ended => ended(EndReason::HostEnded, ""),
        other => fail(EXIT_FAILED, &other.to_string()),
    }
}

fn why_ended(reason: EndReason) -> &'static str {
    match reason {
        EndReason::HostEnded => "the host stopped sharing",
        EndReason::HostLost => "the host's connection was lost",
    }
}

/// A session that ended before this watch joined it, as its relay remembers it.
fn ended_at(reason: EndReason, at: SystemTime) -> i32 {
    println!("Session ended on {}: {}", date(at), why_ended(reason));
    EXIT_ENDED
}

fn ended(reason: EndReason, message: &str) -> i32 {
    let why = why_ended(reason);
    if message.is_empty() {
        println!("Session ended: {why}");
    } else {
        // The relay passes the message on: on one line, it cannot print one of ours.
        println!("Session ended: {why} ({})", one_line(message));
    }
    EXIT_ENDED
}

/// A frame failed to open or came out of order: the relay (or its path) changed what the
/// host sent. Said on stderr; the screen is not printed, the watch does not reconnect.
fn altered(error: &E2eError) -> i32 {
    match error {
        E2eError::Altered | E2eError::Replayed(_) => fail(EXIT_ALTERED, &error.to_string()),
        other => fail(
            EXIT_ALTERED,
            &format!("the relay altered this session ({other})"),
        ),
    }
}

/// Says why the watch stops. `why` often carries the relay's words (a close reason, its
/// `/api/info` answer), which are printed without their control sequences.
fn fail(code: i32, why: &str) -> i32 {
    eprintln!("share watch: {}", one_line(why));
    code
}

fn print_screen(screen: Option<&Screen>, code: i32) -> i32 {
    if let Some(screen) = screen {
        let text = printable(&screen.text());
        println!("{}", text.trim_end_matches('\n'));
    }
    code
}

#[cfg(test)]
mod tests {
    use protocol::{HostHello, RelayToHost};

    use super::*;
    use crate::client::{HostConnection, HostOptions, HostTransport, connect_host};
    use crate::testing::{TestShare, relay_config, start_relay, within};

    /// A host on a relay of its own, showing `text`, and its read-only link.
    async fn host_showing(text: &str) -> (relay::RunningRelay, HostConnection, String) {
        let relay = start_relay(relay_config()).await;
        let options = HostOptions {
            transport: Some(HostTransport::Quic),
            ..HostOptions::default()
        };
        let mut host = within("the host", async {
            let info = client::discover(relay.public_url(), &RelayPolicy::default()).await?;
            connect_host(&info, &HostHello::new(40, 5), &options).await
        })
        .await
        .expect("the host is welcomed");
        let mut share = TestShare::new(&host.welcome.session_id);
        within("the frame", host.sender.send_frame(share.showing(0, text)))
            .await
            .expect("sent");
        let read = share.read_link(&host.welcome.links);
        (relay, host, read)
    }

    /// A watch of `link` until it shows `text` (60 s), once the host saw it join.
    async fn joined_watch(
        host: &mut HostConnection,
        link: &str,
        text: &str,
    ) -> tokio::task::JoinHandle<anyhow::Result<i32>> {
        let watching = tokio::spawn(run(WatchArgs {
            until: Some(text.into()),
            timeout: 60.0,
            ..args(link)
        }));
        within("the watcher to join", async {
            while !matches!(
                host.receiver.recv().await,
                Ok(RelayToHost::ViewerJoined { .. })
            ) {}
        })
        .await;
        watching
    }

    fn args(url: &str) -> WatchArgs {
        WatchArgs {
            url: url.to_owned(),
            transport: TransportChoice::Auto,
            dump: false,
            until: None,
            timeout: 10.0,
            send: None,
            trust: Default::default(),
        }
    }

    #[tokio::test]
    async fn until_exits_0_once_the_screen_shows_the_text_and_1_after_its_timeout() {
        let (relay, _host, link) = host_showing("hello watchers").await;
        let link = &link;
        let shown = WatchArgs {
            until: Some("hello watchers".into()),
            ..args(link)
        };
        assert_eq!(within("the watch", run(shown)).await.unwrap(), 0);
        let never = WatchArgs {
            until: Some("never shown".into()),
            timeout: 0.5,
            ..args(link)
        };
        assert_eq!(within("the watch", run(never)).await.unwrap(), EXIT_FAILED);
        relay.shutdown().await;
    }

    #[tokio::test]
    async fn a_watch_of_a_session_that_ends_exits_3() {
        let (relay, mut host, link) = host_showing("about to end").await;
        let watching = joined_watch(&mut host, &link, "never shown").await;
        host.sender.bye("done").await.expect("goodbye");
        let code = within("the watch", watching).await.expect("joined");
        assert_eq!(code.unwrap(), EXIT_ENDED);
        relay.shutdown().await;
    }

    #[tokio::test]
    async fn bad_links_and_input_on_a_read_only_link_exit_2() {
        let (relay, host, link) = host_showing("read only").await;
        let read_only = WatchArgs {
            send: Some("echo leaked\\r".into()),
            ..args(&link)
        };
        assert_eq!(
            within("the watch", run(read_only)).await.unwrap(),
            EXIT_BAD_LINK
        );
        // A token changed in its signature: the relay refuses it.
        let (base, fragment) = link.split_once('#').unwrap();
        let forged = format!("{base}#x{fragment}");
        assert_eq!(
            within("the watch", run(args(&forged))).await.unwrap(),
            EXIT_BAD_LINK
        );
        // The relay's link alone carries no key: refused before connecting.
        let keyless = &host.welcome.links.read;
        assert_eq!(
            within("the watch", run(args(keyless))).await.unwrap(),
            EXIT_BAD_LINK
        );
        assert_eq!(
            within("the watch", run(args("not a link"))).await.unwrap(),
            EXIT_BAD_LINK
        );
        relay.shutdown().await;
    }

    #[tokio::test]
    async fn a_frame_that_does_not_open_ends_the_watch_with_exit_4() {
        let (relay, mut host, link) = host_showing("authentic").await;
        let watching = joined_watch(&mut host, &link, "forged").await;
        // What a relay would send if it could write screens: a frame under another key.
        let mut forger = TestShare::new(&host.welcome.session_id);
        let forged = forger.showing(1, "forged");
        within("the frame", host.sender.send_frame(forged))
            .await
            .expect("sent");
        let code = within("the watch", watching).await.expect("joined");
        assert_eq!(code.unwrap(), EXIT_ALTERED);
        relay.shutdown().await;
    }

    #[tokio::test]
    async fn refused_links_are_asked_about_expired_unknown_and_ended_sessions() {
        let (relay, host, link) = host_showing("status").await;
        let (page, fragment) = link.split_once('#').unwrap();
        let keys = fragment.splitn(4, '.').nth(3).unwrap();
        let sid = &host.welcome.session_id;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let expired = relay.token_key().sign(&protocol::Claims {
            sid: sid.clone(),
            mode: protocol::Mode::Read,
            exp: now - 60,
            iat: now - 120,
            jti: "expired".into(),
        });
        let expired_link = format!("{page}#{expired}.{keys}");
        let refused = |link: String| async move {
            let status = client::link_status(
                &client::discover(
                    &ShareUrl::parse(&link).unwrap().base,
                    &RelayPolicy::default(),
                )
                .await
                .unwrap(),
                &ShareUrl::parse(&link).unwrap(),
            )
            .await
            .unwrap();
            (within("the watch", run(args(&link))).await.unwrap(), status)
        };
        let (code, status) = refused(expired_link.clone()).await;
        assert_eq!(code, EXIT_BAD_LINK);
        assert!(matches!(status, LinkStatus::Expired { .. }), "{status:?}");
        let (base, _) = page.rsplit_once('/').unwrap();
        let unknown = "AAAAAAAAAAAAAAAAAAAAAA";
        let another_sessions = format!("{base}/{unknown}#{fragment}");
        let (code, status) = refused(another_sessions).await;
        assert_eq!((code, status), (EXIT_BAD_LINK, LinkStatus::Invalid));
        let token = relay
            .token_key()
            .issue(unknown, protocol::Mode::Read, Duration::from_secs(60));
        let (code, status) = refused(format!("{base}/{unknown}#{token}.{keys}")).await;
        assert_eq!((code, status), (EXIT_BAD_LINK, LinkStatus::NotFound));
        // The session ends: its links, expired or not, say so with exit 3.
        host.sender.bye("done").await.expect("goodbye");
        let ended = within("the end", async {
            loop {
                if let (EXIT_ENDED, status) = refused(link.clone()).await {
                    return status;
                }
            }
        })
        .await;
        assert!(matches!(ended, LinkStatus::Ended { .. }), "{ended:?}");
        let (code, status) = refused(expired_link).await;
        assert_eq!(code, EXIT_ENDED, "{status:?}");
        relay.shutdown().await;
    }

    #[test]
    fn failures_map_to_exit_codes() {
        assert_eq!(net_failure(&NetError::Forbidden), EXIT_BAD_LINK);
        assert_eq!(net_failure(&NetError::NotFound), EXIT_BAD_LINK);
        assert_eq!(net_failure(&NetError::Url("x".into())), EXIT_BAD_LINK);
        assert_eq!(net_failure(&NetError::Ended), EXIT_ENDED);
        assert_eq!(net_failure(&NetError::Timeout("x")), EXIT_FAILED);
        assert_eq!(net_failure(&NetError::Closed("x".into())), EXIT_FAILED);
    }
}
