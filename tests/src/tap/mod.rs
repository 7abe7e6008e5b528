//! A relay tap: a TCP proxy in front of the relay's HTTP port that sees everything the
//! relay receives and sends over HTTP and WebSocket, in the clear (WebSocket payloads
//! unmasked), and can play a hostile relay. End-to-end encryption tests put the host (on
//! its WebSocket fallback) and the viewers (on WebSocket) behind it and check that nothing
//! recorded holds the screen, the typed keys or the links' secrets; then have it alter the
//! session ([`Tamper`]) and check that viewers notice and the host types nothing.
//!
//! Used in process by the Rust tests, and as the `relay-tap` binary by the browser tests.

mod conn;
mod ws;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

/// How the tap alters the session once [`Tap::arm`]ed. Each viewer connection is altered
/// once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Tamper {
    /// Forward everything unchanged.
    None,
    /// Flip a byte of the next frame's sealed payload.
    Flip,
    /// Send the next two frames in the opposite order.
    Swap,
    /// Send a viewer, before the next frame, a keyframe older than one it was sent.
    Replay,
    /// Pass viewers' input (a read-only viewer's, which the relay drops) to the host,
    /// labelled collab.
    Relabel,
}

/// Which way bytes went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    ToRelay,
    FromRelay,
}

/// Where the tap records traffic: in memory, or appended to two files as it goes.
pub enum Sink {
    Memory {
        to_relay: Vec<u8>,
        from_relay: Vec<u8>,
    },
    Files {
        to_relay: std::fs::File,
        from_relay: std::fs::File,
    },
}

impl Sink {
    pub fn memory() -> Sink {
        Sink::Memory {
            to_relay: Vec::new(),
            from_relay: Vec::new(),
        }
    }

    fn record(&mut self, direction: Direction, bytes: &[u8]) {
        let written = match (self, direction) {
            (Sink::Memory { to_relay, .. }, Direction::ToRelay) => {
                to_relay.extend_from_slice(bytes);
                Ok(())
            }
            (Sink::Memory { from_relay, .. }, Direction::FromRelay) => {
                from_relay.extend_from_slice(bytes);
                Ok(())
            }
            (Sink::Files { to_relay, .. }, Direction::ToRelay) => to_relay.write_all(bytes),
            (Sink::Files { from_relay, .. }, Direction::FromRelay) => from_relay.write_all(bytes),
        };
        written.expect("the tap's recording is written");
    }
}

/// What the tap has seen and done so far.
#[derive(Debug, Clone, Default)]
pub struct TapStats {
    /// WebSocket connections, by the path they upgraded.
    pub websockets: Vec<String>,
    /// Frames the relay sent viewers.
    pub frames_to_viewers: u64,
    /// Distinct keyframes the relay sent viewers, by `seq`.
    pub keyframes: Vec<u64>,
    /// Alterations made (frames flipped, swapped, replayed; inputs relabelled).
    pub tampered: u64,
    /// A connection upgraded to WebSocket after another request on it: its frames went
    /// by unread. The tests fail on it rather than check less than they claim.
    pub unread_upgrades: u64,
}

/// State shared by the tap's connections.
struct Shared {
    /// The relay's HTTP address, once serving.
    relay: OnceLock<SocketAddr>,
    tamper: Tamper,
    armed: AtomicBool,
    sink: Mutex<Sink>,
    stats: watch::Sender<TapStats>,
    /// Keyframes sent to viewers, as sent (an encoded `RelayToViewer::Frame`), by `seq`.
    keyframes: Mutex<BTreeMap<u64, Vec<u8>>>,
    /// The host's connection takes relabelled input to inject here.
    host_inbox: Mutex<Option<mpsc::UnboundedSender<Vec<u8>>>>,
}

impl Shared {
    fn record(&self, direction: Direction, bytes: &[u8]) {
        self.sink
            .lock()
            .expect("sink lock")
            .record(direction, bytes);
    }

    fn armed(&self) -> bool {
        self.armed.load(Ordering::SeqCst)
    }
}

/// A tap bound on loopback; [`serve`](Tap::serve) starts forwarding to the relay.
pub struct Tap {
    addr: SocketAddr,
    listener: Mutex<Option<TcpListener>>,
    shared: Arc<Shared>,
}

impl Tap {
    /// Binds a loopback port, so that the relay can be told its public URL first.
    pub async fn bind(tamper: Tamper, sink: Sink) -> std::io::Result<Tap> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        Ok(Tap {
            addr: listener.local_addr()?,
            listener: Mutex::new(Some(listener)),
            shared: Arc::new(Shared {
                relay: OnceLock::new(),
                tamper,
                armed: AtomicBool::new(false),
                sink: Mutex::new(sink),
                stats: watch::Sender::new(TapStats::default()),
                keyframes: Mutex::default(),
                host_inbox: Mutex::default(),
            }),
        })
    }

    /// The tap's base URL: the relay's public URL, for links that lead through it.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Forwards every connection to the relay's HTTP port at `relay`, from now on.
    pub fn serve(&self, relay: SocketAddr) {
        let listener = self
            .listener
            .lock()
            .expect("lock")
            .take()
            .expect("served once");
        self.shared.relay.set(relay).expect("served once");
        let shared = self.shared.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    if let Err(error) = conn::serve(client, shared).await {
                        tracing::debug!(%error, "tap connection ended");
                    }
                });
            }
        });
    }

    /// Starts altering the session as the tap's [`Tamper`] says.
    pub fn arm(&self) {
        self.shared.armed.store(true, Ordering::SeqCst);
    }

    /// What the tap has seen and done, updated as it goes.
    pub fn stats(&self) -> watch::Receiver<TapStats> {
        self.shared.stats.subscribe()
    }

    /// Everything recorded so far, to the relay and from it (a memory sink).
    pub fn recorded(&self) -> (Vec<u8>, Vec<u8>) {
        match &*self.shared.sink.lock().expect("sink lock") {
            Sink::Memory {
                to_relay,
                from_relay,
            } => (to_relay.clone(), from_relay.clone()),
            Sink::Files { .. } => panic!("the tap records to files"),
        }
    }
}

/// Where `needle` occurs in `haystack`, if anywhere.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len().max(1))
        .position(|window| window == needle)
}
