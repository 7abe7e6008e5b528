//! A client's UDP socket that repeats its connection's first flight until the relay
//! answers. After an outage the host cannot tell when the path is back, and QUIC resends a
//! lost first flight only when its probe timer fires, which backs off to seconds. Sending
//! the same datagrams again every few milliseconds gets the handshake through within one
//! interval of the path's return. With 0-RTT, the hello and keyframe ride in that flight.
//! The copies are exact duplicates, which the relay discards, so only one connection
//! results. Its single-use resumption ticket is used only once however many copies arrive.

use std::fmt;
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use quinn::udp::{EcnCodepoint, RecvMeta, Transmit};
use quinn::{AsyncUdpSocket, Runtime, UdpPoller};

use super::timer::ExactTimers;

/// How often the flight is sent again: densely at first, where most outages end (a blip,
/// a tunnel, a Wi-Fi handover), then sparsely, to spare a link that stays down.
const DENSE_EVERY: Duration = Duration::from_millis(20);
const DENSE_FOR: Duration = Duration::from_secs(3);
const SPARSE_EVERY: Duration = Duration::from_millis(100);
/// What counts as the first flight: datagrams sent this soon after the first one (the
/// handshake's own retransmissions come a second later and more), up to this many bytes.
const FLIGHT_WINDOW: Duration = Duration::from_millis(250);
const FLIGHT_MAX_BYTES: usize = 8 * 1024;

/// One recorded transmit, sent again as it was.
struct Datagram {
    destination: SocketAddr,
    ecn: Option<EcnCodepoint>,
    contents: Vec<u8>,
    segment_size: Option<usize>,
    src_ip: Option<IpAddr>,
}

/// The first flight, until anything comes back.
#[derive(Default)]
struct Flight {
    /// Something arrived: the relay answered and QUIC's own recovery takes over. Checked
    /// before anything else, so that once answered a datagram costs one atomic load.
    answered: AtomicBool,
    recorded: Mutex<Recorded>,
}

#[derive(Default)]
struct Recorded {
    datagrams: Vec<Datagram>,
    bytes: usize,
    started: Option<Instant>,
}

impl Flight {
    fn is_answered(&self) -> bool {
        self.answered.load(Ordering::Acquire)
    }

    fn recorded(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.recorded.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, transmit: &Transmit) {
        if self.is_answered() {
            return;
        }
        let mut recorded = self.recorded();
        let started = *recorded.started.get_or_insert_with(Instant::now);
        if started.elapsed() > FLIGHT_WINDOW
            || recorded.bytes + transmit.contents.len() > FLIGHT_MAX_BYTES
        {
            return;
        }
        recorded.bytes += transmit.contents.len();
        recorded.datagrams.push(Datagram {
            destination: transmit.destination,
            ecn: transmit.ecn,
            contents: transmit.contents.to_vec(),
            segment_size: transmit.segment_size,
            src_ip: transmit.src_ip,
        });
    }

    fn answer(&self) {
        if !self.answered.swap(true, Ordering::AcqRel) {
            self.recorded().datagrams = Vec::new();
        }
    }
}

/// The socket quinn sends through: records the first flight, notices the first answer.
struct RecordingSocket {
    inner: Arc<dyn AsyncUdpSocket>,
    flight: Arc<Flight>,
}

impl fmt::Debug for RecordingSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordingSocket")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl AsyncUdpSocket for RecordingSocket {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        self.inner.clone().create_io_poller()
    }

    fn try_send(&self, transmit: &Transmit) -> io::Result<()> {
        let sent = self.inner.try_send(transmit);
        // A send that failed outright (no route during an outage) is recorded too: it is
        // exactly what must go out once the route is back. One that would block is retried
        // by quinn, and recorded then.
        if !matches!(&sent, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
            self.flight.record(transmit);
        }
        sent
    }

    fn poll_recv(
        &self,
        cx: &mut Context,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let received = self.inner.poll_recv(cx, bufs, meta);
        if matches!(received, Poll::Ready(Ok(n)) if n > 0) && !self.flight.is_answered() {
            self.flight.answer();
        }
        received
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn max_transmit_segments(&self) -> usize {
        self.inner.max_transmit_segments()
    }

    fn max_receive_segments(&self) -> usize {
        self.inner.max_receive_segments()
    }

    fn may_fragment(&self) -> bool {
        self.inner.may_fragment()
    }
}

/// Keeps the first flight repeating while it is held (the link that owns the endpoint);
/// dropping it stops the repeats, so an abandoned attempt says nothing more.
pub(crate) struct Repeats {
    inner: Arc<dyn AsyncUdpSocket>,
    flight: Arc<Flight>,
}

impl Repeats {
    /// Whether anything at all came back from the relay: a handshake that timed out
    /// without it met a path that drops UDP, one that timed out with it did not.
    pub fn answered(&self) -> bool {
        self.flight.is_answered()
    }

    /// Sends the flight again; `false` once the relay answered.
    fn send_again(&self) -> bool {
        if self.flight.is_answered() {
            return false;
        }
        for datagram in &self.flight.recorded().datagrams {
            // Best effort, like the first sending: a full or unroutable socket loses a copy.
            let _ = self.inner.try_send(&Transmit {
                destination: datagram.destination,
                ecn: datagram.ecn,
                contents: &datagram.contents,
                segment_size: datagram.segment_size,
                src_ip: datagram.src_ip,
            });
        }
        true
    }
}

async fn repeat(repeats: Weak<Repeats>) {
    let started = tokio::time::Instant::now();
    loop {
        let every = if started.elapsed() < DENSE_FOR {
            DENSE_EVERY
        } else {
            SPARSE_EVERY
        };
        tokio::time::sleep(every).await;
        match repeats.upgrade() {
            Some(repeats) if repeats.send_again() => {}
            _ => return,
        }
    }
}

/// A client endpoint on `bind` whose first flight repeats as long as the returned
/// [`Repeats`] is held and nothing has come back.
pub(crate) fn client_endpoint(bind: SocketAddr) -> io::Result<(quinn::Endpoint, Arc<Repeats>)> {
    // Every QUIC link of ours to the relay (`quic::start`) has an endpoint of its own, made
    // here: its connection timer is an exact one.
    let runtime = Arc::new(ExactTimers);
    let inner = runtime.wrap_udp_socket(std::net::UdpSocket::bind(bind)?)?;
    let flight = Arc::new(Flight::default());
    let repeats = Arc::new(Repeats {
        inner: inner.clone(),
        flight: flight.clone(),
    });
    tokio::spawn(repeat(Arc::downgrade(&repeats)));
    let socket = Arc::new(RecordingSocket { inner, flight });
    let endpoint = quinn::Endpoint::new_with_abstract_socket(
        quinn::EndpointConfig::default(),
        None,
        socket,
        runtime,
    )?;
    Ok((endpoint, repeats))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Trust;

    const PATIENCE: Duration = Duration::from_secs(10);

    /// A client endpoint knocking at `peer` (a plain UDP socket: nothing answers unless the
    /// test does), and the datagram of its first flight.
    async fn knocking(
        peer: &tokio::net::UdpSocket,
    ) -> (quinn::Endpoint, Arc<Repeats>, quinn::Connecting, Vec<u8>) {
        let tls = Trust::pinned_hex(&["00".repeat(32)])
            .unwrap()
            .client_config(&[b"test"])
            .unwrap();
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
        let config = quinn::ClientConfig::new(Arc::new(crypto));
        let (endpoint, repeats) = client_endpoint("127.0.0.1:0".parse().unwrap()).unwrap();
        let connecting = endpoint
            .connect_with(config, peer.local_addr().unwrap(), "localhost")
            .unwrap();
        let mut buf = vec![0; 64 * 1024];
        let (n, _) = tokio::time::timeout(PATIENCE, peer.recv_from(&mut buf))
            .await
            .expect("the first flight")
            .unwrap();
        buf.truncate(n);
        (endpoint, repeats, connecting, buf)
    }

    /// Receives until `copies` exact copies of `first` came.
    async fn copies_of(peer: &tokio::net::UdpSocket, first: &[u8], copies: usize) {
        let mut buf = vec![0; 64 * 1024];
        let mut seen = 0;
        while seen < copies {
            let (n, _) = tokio::time::timeout(PATIENCE, peer.recv_from(&mut buf))
                .await
                .expect("another copy")
                .unwrap();
            if buf[..n] == *first {
                seen += 1;
            }
        }
    }

    /// Whether a copy of `first` comes within ten repeat intervals, after what is queued.
    async fn copy_comes(peer: &tokio::net::UdpSocket, first: &[u8]) -> bool {
        let mut buf = vec![0; 64 * 1024];
        while peer.try_recv_from(&mut buf).is_ok() {}
        let quiet = tokio::time::sleep(DENSE_EVERY * 10);
        tokio::pin!(quiet);
        loop {
            tokio::select! {
                _ = &mut quiet => return false,
                received = peer.recv_from(&mut buf) => {
                    let (n, _) = received.unwrap();
                    if buf[..n] == *first {
                        return true;
                    }
                }
            }
        }
    }

    #[tokio::test]
    async fn the_first_flight_repeats_until_anything_comes_back() {
        let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (endpoint, repeats, _connecting, first) = knocking(&peer).await;
        copies_of(&peer, &first, 3).await;

        peer.send_to(b"an answer", endpoint.local_addr().unwrap())
            .await
            .unwrap();
        tokio::time::timeout(PATIENCE, async {
            while !repeats.flight.is_answered() {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the answer is noticed");
        assert!(
            !copy_comes(&peer, &first).await,
            "repeats stop once answered"
        );
        assert!(repeats.flight.recorded().datagrams.is_empty());
    }

    #[tokio::test]
    async fn an_abandoned_attempt_stops_repeating() {
        let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (_endpoint, repeats, _connecting, first) = knocking(&peer).await;
        copies_of(&peer, &first, 1).await;
        drop(repeats);
        assert!(!copy_comes(&peer, &first).await);
    }
}
