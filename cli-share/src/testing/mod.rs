//! What the unit tests that talk to a relay share: the relay library started in this
//! process, a bound on every wait, a share's keys with frames that show a text, a viewer
//! that keeps the screen it is sent, and a hostile relay the test plays ([`hostile_relay`]).

pub mod hostile_relay;

use std::time::Duration;

use protocol::e2e::{FrameSealer, InputSealer};
use protocol::{Line, Links, RelayToViewer, Screen, ScreenFrame, ScreenUpdate};
use relay::{Relay, RelayConfig, RunningRelay};

use crate::client::{
    NetError, RelayPolicy, ShareKeys, ShareUrl, ViewerLink, ViewerTransport, connect_viewer,
    discover,
};
use crate::sync::{Emulator, Mirror};

/// Generous bound for anything that should happen "soon" on a loaded machine.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(PATIENCE, future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// A relay on loopback whose secret outlives it: restarted, it knows its links again.
pub fn relay_config() -> RelayConfig {
    RelayConfig {
        jwt_secret: Some(b"cli-share-unit-tests-0123456789abcdef".to_vec()),
        ..RelayConfig::loopback()
    }
}

/// Starts a relay. A stopped relay's QUIC socket is released only when quinn's endpoint
/// task next runs, so a restart on its ports retries while they are in use.
pub async fn start_relay(config: RelayConfig) -> RunningRelay {
    within("the relay's ports", async {
        loop {
            match Relay::start(config.clone()).await {
                Err(relay::RelayError::Bind { source, .. })
                    if source.kind() == std::io::ErrorKind::AddrInUse =>
                {
                    tokio::task::yield_now().await
                }
                started => break started.expect("the relay starts"),
            }
        }
    })
    .await
}

/// The keys of a test host's share: links with the secrets, frames sealed for its session.
pub struct TestShare {
    keys: ShareKeys,
    sealer: FrameSealer,
}

impl TestShare {
    /// Keys for session `session_id`, with a write secret.
    pub fn new(session_id: &str) -> TestShare {
        let mut keys = ShareKeys::generate(true);
        let sealer = keys.session(session_id).expect("a new session");
        TestShare { keys, sealer }
    }

    /// The relay's read-only link with the read secret.
    pub fn read_link(&self, relay: &Links) -> String {
        self.keys.links(relay).expect("share links").read
    }

    /// A sealed keyframe of a 40x5 screen showing `text`.
    pub fn showing(&mut self, seq: u64, text: &str) -> ScreenFrame {
        let mut screen = Screen::new(40, 5);
        screen.lines[0] = Line::plain(text);
        let plaintext = protocol::encode(&ScreenUpdate::Keyframe(screen)).expect("encodes");
        ScreenFrame {
            seq,
            keyframe: true,
            payload: self
                .sealer
                .seal(seq, true, &plaintext)
                .expect("seq goes up"),
        }
    }
}

/// A viewer of a share link and the screen its frames build.
pub struct Viewer {
    link: ViewerLink,
    /// With a collab link: seals what the viewer types.
    sealer: Option<InputSealer>,
    pub mirror: Mirror,
}

impl Viewer {
    pub async fn join(url: &str, transport: ViewerTransport) -> Viewer {
        let url = ShareUrl::parse(url).expect("a share URL");
        let link = within("the viewer to join", async {
            let relay = discover(&url.base, &RelayPolicy::default()).await?;
            connect_viewer(&relay, &url, transport).await
        })
        .await
        .expect("the viewer joins");
        Viewer {
            link,
            sealer: url
                .keys
                .write
                .map(|write| InputSealer::new(&write, &url.session_id)),
            mirror: Mirror::new(&url.keys, &url.session_id),
        }
    }

    /// The next message, applied to the screen; a frame that does not open fails the test.
    pub async fn next(&mut self, what: &str) -> Result<RelayToViewer, NetError> {
        let message = within(what, self.link.recv()).await;
        if let Ok(RelayToViewer::Frame(frame)) = &message
            && let Err(error) = self.mirror.apply(frame)
        {
            panic!("{what}: {error}");
        }
        message
    }

    /// Types into a collab session, sealed with the link's write secret.
    pub async fn type_keys(&mut self, keys: &[u8]) {
        let sealer = self.sealer.as_mut().expect("a collab link");
        within("the keys to go", self.link.send_sealed(sealer, keys))
            .await
            .expect("the keys go");
    }

    /// Sends one input message as it is: unsealed, or sealed by a test's forger.
    pub async fn send_raw(&mut self, input: &[u8]) {
        within("the input to go", self.link.send_input(input))
            .await
            .expect("the input goes");
    }

    /// Receives until `pick` matches; a lost link fails the test.
    pub async fn until(&mut self, what: &str, pick: impl Fn(&RelayToViewer) -> bool) {
        loop {
            match self.next(what).await {
                Ok(message) if pick(&message) => return,
                Ok(_) => {}
                Err(error) => panic!("{what}: {error}"),
            }
        }
    }

    /// Receives until the session ends.
    pub async fn ended(&mut self) {
        self.until("the end of the session", |message| {
            matches!(message, RelayToViewer::Ended { .. })
        })
        .await
    }

    /// Receives until the screen shows `text`.
    pub async fn shows(&mut self, text: &str) {
        let what = format!("the screen to show {text:?}");
        while !self
            .mirror
            .screen()
            .is_some_and(|screen| screen.text().contains(text))
        {
            if let Ok(RelayToViewer::Ended { .. }) | Err(_) = self.next(&what).await {
                panic!("{what}: the session ended");
            }
        }
    }
}

/// An asciicast recording read back, checked as a player reads it: every line is JSON, the
/// header first, then events whose times never go back.
pub struct Recording {
    pub header: serde_json::Value,
    /// Time, code and data of each event.
    pub events: Vec<(f64, String, String)>,
}

impl Recording {
    pub fn parse(text: &str) -> Recording {
        let mut lines = text.lines();
        let header: serde_json::Value =
            serde_json::from_str(lines.next().expect("a header")).expect("a JSON header");
        assert_eq!(header["version"], 2, "{header}");
        let mut events: Vec<(f64, String, String)> = Vec::new();
        for line in lines {
            let event: (f64, String, String) = serde_json::from_str(line).unwrap_or_else(|error| {
                panic!("{line:?} is not an event: {error}");
            });
            if let Some(previous) = events.last() {
                assert!(previous.0 <= event.0, "time went back: {line}");
            }
            events.push(event);
        }
        Recording { header, events }
    }

    /// The event codes, in order.
    pub fn codes(&self) -> Vec<&str> {
        self.events
            .iter()
            .map(|(_, code, _)| code.as_str())
            .collect()
    }

    /// All output, in order.
    pub fn output(&self) -> String {
        let output = self.events.iter().filter(|(_, code, _)| code == "o");
        output.map(|(_, _, text)| text.as_str()).collect()
    }

    /// The terminal the recording leaves behind, replayed through the host's emulator.
    pub fn replay(&self) -> Emulator {
        let size = |value: &serde_json::Value| {
            u16::try_from(value.as_u64().expect("a size")).expect("a size")
        };
        let mut emulator = Emulator::new(size(&self.header["width"]), size(&self.header["height"]));
        for (_, code, data) in &self.events {
            match code.as_str() {
                "o" => emulator.feed(data.as_bytes()),
                "r" => {
                    let (cols, rows) = data.split_once('x').expect("COLSxROWS");
                    emulator.resize(cols.parse().expect("cols"), rows.parse().expect("rows"));
                }
                _ => {}
            }
        }
        emulator
    }
}
