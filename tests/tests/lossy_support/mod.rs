//! Shared setup of the lossy-link tests: the real relay in namespace A (HTTPS with a
//! development CA, fixed ports, a fixed JWT secret so it can be restarted), a real host
//! (`cli_share::client::Sharing`, the reconnecting host link of `share`) and viewers,
//! each in the namespace the test needs. Everything waits on events with generous
//! timeouts; nothing sleeps to synchronise.

#![allow(dead_code)] // Each test file uses a subset.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use cli_share::Emulator;
use cli_share::Mirror;
use cli_share::ScreenEncoder;
use cli_share::client::{
    HostOptions, HostTransport, RelayPolicy, ShareKeys, ShareUrl, ViewerTransport,
};
use cli_share::client::{ShareEvent, Sharing, Target};
use e2e::netem::{EmulatedLink, Impairments, LinkConfig, RuntimeThread};
use protocol::{HostHello, RelayToViewer};
use relay::{Relay, RelayConfig, RunningRelay};
use rustls::pki_types::CertificateDer;
use tokio::sync::mpsc;

/// Generous bound for anything that should happen "soon" on a loaded machine.
pub const T: Duration = Duration::from_secs(30);
pub const HTTP_PORT: u16 = 8443;
pub const QUIC_PORT: u16 = 4433;

pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(T, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// The usual start of a test: a 50 ms, loss-free link with the relay (grace `grace`)
/// running in A.
pub async fn started(grace: Duration) -> Net {
    let mut net = Net::new(impaired(50, 0.0), grace);
    net.start_relay().await;
    net
}

/// Like [`started`], the relay a node of a cluster on a redis-server in A.
pub async fn started_in_a_cluster(grace: Duration) -> Net {
    let mut net = Net::new(impaired(50, 0.0), grace);
    let redis = e2e::redis::RedisServer::start_in(net.link.a())
        .await
        .expect("redis-server in A");
    net.redis = Some(redis);
    net.start_relay().await;
    net
}

/// A link with the relay in A. Fields drop in declaration order: relay, runtimes, link.
pub struct Net {
    pub relay: Option<RunningRelay>,
    /// With a cluster: its Redis, in A.
    pub redis: Option<e2e::redis::RedisServer>,
    pub a: RuntimeThread,
    pub b: RuntimeThread,
    pub link: EmulatedLink,
    pub ca: CertificateDer<'static>,
    pub ca_file: PathBuf,
    cert: (PathBuf, PathBuf),
    grace: Duration,
}

impl Net {
    pub fn new(impairments: Impairments, grace: Duration) -> Net {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let link = EmulatedLink::new(LinkConfig::symmetric(impairments))
            .unwrap_or_else(|e| panic!("an emulated link: {e}"));
        let a = link.a().runtime().expect("runtime in A");
        let b = link.b().runtime().expect("runtime in B");
        let dir = std::env::temp_dir().join(format!(
            "lossy-{}-{}",
            std::process::id(),
            protocol::token::random_id(6)
        ));
        std::fs::create_dir_all(&dir).expect("cert dir");
        let ca = certs::DevCa::new().expect("dev CA");
        let leaf = ca
            .issue_leaf(&[link.addr_a().to_string()])
            .expect("leaf cert");
        let cert = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert.0, &leaf.cert_pem).expect("write cert");
        std::fs::write(&cert.1, &leaf.key_pem).expect("write key");
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca.ca_pem()).expect("write CA");
        Net {
            relay: None,
            redis: None,
            a,
            b,
            ca: ca.ca_der(),
            ca_file,
            cert,
            grace,
            link,
        }
    }

    pub fn config(&self) -> RelayConfig {
        RelayConfig {
            http: SocketAddr::from((self.link.addr_a(), HTTP_PORT)),
            quic: SocketAddr::from((self.link.addr_a(), QUIC_PORT)),
            cert: Some(self.cert.clone()),
            jwt_secret: Some(b"lossy-tests-secret-0123456789abcdef".to_vec()),
            grace: self.grace,
            cluster: self.redis.as_ref().map(|redis| relay::ClusterConfig {
                redis: redis.url(),
                node_id: "a".into(),
                advertise: None,
            }),
            ..RelayConfig::loopback()
        }
    }

    /// Starts (or restarts, on the same ports and secret) the relay in A. A stopped
    /// relay's QUIC socket is released only when quinn's endpoint task next runs, so a
    /// port still in use is retried until it is free.
    pub async fn start_relay(&mut self) {
        let relay = within("the relay's ports", async {
            loop {
                match self.a.spawn(Relay::start(self.config())).await {
                    Ok(Err(relay::RelayError::Bind { source, .. }))
                        if source.kind() == std::io::ErrorKind::AddrInUse =>
                    {
                        tokio::task::yield_now().await
                    }
                    started => break started.expect("relay task").expect("relay starts"),
                }
            }
        })
        .await;
        self.relay = Some(relay);
    }

    /// A counter of the running relay (summed over its labels).
    pub fn relay_metric(&self, name: &str) -> f64 {
        let relay = self.relay.as_ref().expect("the relay runs");
        e2e::prometheus::sample_sum(&relay.metrics(), name)
            .unwrap_or_else(|| panic!("no metric {name}"))
    }

    pub async fn stop_relay(&mut self) {
        if let Some(relay) = self.relay.take() {
            self.a.spawn(relay.shutdown()).await.expect("shutdown");
        }
    }

    pub fn base(&self) -> url::Url {
        url::Url::parse(&format!("https://{}:{HTTP_PORT}", self.link.addr_a())).unwrap()
    }

    /// A host sharing through the relay from `rt` (B: across the link).
    pub async fn host(&self, rt: &RuntimeThread, transport: Option<HostTransport>) -> Host {
        let target = Target {
            base: self.base(),
            policy: RelayPolicy::trusting(vec![self.ca.clone()]),
            options: HostOptions {
                transport,
                ..HostOptions::default()
            },
        };
        let hello = HostHello::new(40, 5);
        let sharing = rt
            .spawn(async move { Sharing::start_with(target, hello) })
            .await
            .expect("host task");
        let mut host = Host {
            sharing,
            emulator: Emulator::new(40, 5),
            encoder: ScreenEncoder::new(),
            keys: ShareKeys::generate(false),
            link: String::new(),
            resumes: 0,
        };
        host.welcomed().await;
        host
    }

    /// A host in B (on `transport`, `None` for `share`'s choice) and a viewer in A (on
    /// `viewing`), once the viewer shows the host's `text`.
    pub async fn watched(
        &self,
        transport: Option<HostTransport>,
        viewing: ViewerTransport,
        text: &str,
    ) -> (Host, Viewer) {
        let mut host = self.host(&self.b, transport).await;
        let mut viewer = self.viewer(&self.a, &host.link, viewing);
        host.show(text).await;
        viewer.screen_shows(text).await;
        (host, viewer)
    }

    /// Cuts the link both ways for `length` and waits until `viewer` sees the host away.
    pub async fn black_out(&self, length: Duration, viewer: &mut Viewer) {
        self.link.control().blackout(Duration::ZERO, length);
        viewer
            .until("host away", |m| matches!(m, RelayToViewer::HostAway))
            .await;
    }

    /// A viewer of `link` running in `rt` whose messages arrive on the returned channel.
    pub fn viewer(&self, rt: &RuntimeThread, link: &str, transport: ViewerTransport) -> Viewer {
        let (tx, rx) = mpsc::unbounded_channel();
        let link = ShareUrl::parse(link).expect("link");
        let mirror = Mirror::new(&link.keys, &link.session_id);
        let base = link.base.clone();
        let roots = vec![self.ca.clone()];
        rt.spawn(async move {
            let relay = cli_share::client::discover(&base, &RelayPolicy::trusting(roots)).await?;
            let mut viewer = cli_share::client::connect_viewer(&relay, &link, transport).await?;
            loop {
                let message = viewer.recv().await;
                let end = message.is_err();
                if tx.send(message).is_err() || end {
                    return anyhow::Ok(());
                }
            }
        });
        Viewer { rx, mirror }
    }
}

/// The host side: `share`'s reconnecting link fed by a real emulator and frame encoder,
/// sealing for the share's keys.
pub struct Host {
    pub sharing: Sharing,
    emulator: Emulator,
    encoder: ScreenEncoder,
    keys: ShareKeys,
    /// The read-only link, with its key.
    pub link: String,
    pub resumes: u32,
}

impl Host {
    /// Waits for the next welcome; true when it resumed the session.
    pub async fn welcomed(&mut self) -> bool {
        let (session_id, links, resumed) = self
            .until("host welcome", |event| match event {
                ShareEvent::Welcome {
                    session_id,
                    links,
                    resumed,
                    ..
                } => Some((session_id, links, resumed)),
                _ => None,
            })
            .await;
        // As `share` does: frames sealed for the session, a new link starts from a keyframe.
        if let Some(sealer) = self.keys.session(&session_id) {
            self.encoder.seal_with(sealer);
        }
        if resumed {
            self.resumes += 1;
        } else {
            self.link = self.keys.links(&links).expect("share links").read;
        }
        self.encoder.force_keyframe();
        resumed
    }

    /// Waits until the host notices it lost its link and starts resuming.
    pub async fn reconnecting(&mut self) {
        self.until("host reconnecting", |event| {
            matches!(event, ShareEvent::Reconnecting(_)).then_some(())
        })
        .await
    }

    /// The first event `pick` takes; sharing stopping on the way fails the test.
    async fn until<T>(&mut self, what: &str, pick: impl Fn(ShareEvent) -> Option<T>) -> T {
        within(what, async {
            loop {
                match self.sharing.next().await {
                    Some(ShareEvent::Stopped(why)) => panic!("sharing stopped: {why}"),
                    Some(event) => {
                        if let Some(picked) = pick(event) {
                            return picked;
                        }
                    }
                    None => panic!("sharing task ended"),
                }
            }
        })
        .await
    }

    /// Waits until sharing stops for good; returns why.
    pub async fn stopped(&mut self) -> String {
        within("host stopped", async {
            loop {
                match self.sharing.next().await {
                    Some(ShareEvent::Stopped(why)) => return why,
                    Some(_) => {}
                    None => return "task ended".into(),
                }
            }
        })
        .await
    }

    /// Puts `text` on the screen and hands the resulting frame to the link.
    pub async fn show(&mut self, text: &str) {
        self.emulator.feed(format!("\r\n{text}").as_bytes());
        let frames = self
            .encoder
            .encode(self.emulator.snapshot(), false)
            .expect("encode");
        assert!(!frames.is_empty(), "the screen changed");
        let mut frames = Some(frames);
        within("the link to take a frame", async {
            while let Some(f) = frames.take() {
                if !self.sharing.send_frames(f.clone()) {
                    frames = Some(f);
                    match self.sharing.next().await {
                        Some(ShareEvent::Stopped(why)) => panic!("sharing stopped: {why}"),
                        None => panic!("sharing task ended"),
                        _ => {}
                    }
                }
            }
        })
        .await;
    }
}

/// A viewer's messages, and the screen they build.
pub struct Viewer {
    rx: mpsc::UnboundedReceiver<Result<RelayToViewer, cli_share::client::NetError>>,
    pub mirror: Mirror,
}

impl Viewer {
    /// The next message; panics on a connection error.
    pub async fn next(&mut self, what: &str) -> RelayToViewer {
        let message = within(what, self.rx.recv())
            .await
            .unwrap_or_else(|| panic!("{what}: viewer task ended"))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        if let RelayToViewer::Frame(frame) = &message
            && let Err(error) = self.mirror.apply(frame)
        {
            panic!("{what}: {error}");
        }
        message
    }

    /// Receives until the screen shows `text`; `Ended` on the way fails the test.
    pub async fn screen_shows(&mut self, text: &str) {
        let what = format!("screen showing {text:?}");
        loop {
            if self
                .mirror
                .screen()
                .is_some_and(|s| s.text().contains(text))
            {
                return;
            }
            if let RelayToViewer::Ended { reason, .. } = self.next(&what).await {
                panic!("{what}: session ended ({reason:?})");
            }
        }
    }

    /// Receives until `pick` matches; `Ended` fails the test unless picked.
    pub async fn until(&mut self, what: &str, pick: impl Fn(&RelayToViewer) -> bool) {
        loop {
            let message = self.next(what).await;
            if pick(&message) {
                return;
            }
            if let RelayToViewer::Ended { reason, .. } = message {
                panic!("{what}: session ended ({reason:?})");
            }
        }
    }
}

/// Link with a round trip of `rtt` and `loss_pct` loss each way.
pub fn impaired(rtt_ms: u64, loss_pct: f64) -> Impairments {
    Impairments {
        delay: Duration::from_millis(rtt_ms / 2),
        loss_pct,
        ..Default::default()
    }
}
