//! A user-space network emulator for tests and benchmarks (kernel netem is not available on
//! our machines). Two network namespaces, A and B, each get a TUN device; a forwarder in this
//! process reads IP packets from each device and writes them to the other, applying per
//! direction random and bursty loss, delay, jitter, a rate limit and blackout windows — to
//! TCP, UDP and QUIC alike. Needs root; check [`unavailable_reason`] first.
//!
//! Put a relay in A and a host in B:
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use std::time::Duration;
//! use e2e::netem::{EmulatedLink, Impairments, LinkConfig};
//!
//! let link = EmulatedLink::new(LinkConfig::symmetric(Impairments {
//!     loss_pct: 5.0,
//!     delay: Duration::from_millis(25), // one way: 50 ms round trip
//!     ..Default::default()
//! }))?;
//! let relay_rt = link.a().runtime()?; // sockets created by its tasks live in A
//! let host_rt = link.b().runtime()?;
//! let relay_addr = std::net::SocketAddr::from((link.addr_a(), 4433));
//! let server = relay_rt.spawn(async move { tokio::net::UdpSocket::bind(relay_addr).await });
//! let socket = server.await??;
//! // ... host_rt.spawn(client connecting to relay_addr) ...
//! link.control().blackout(Duration::ZERO, Duration::from_secs(5));
//! # drop((socket, host_rt)); Ok(()) }
//! ```
//! Drop order: whatever runs on a [`RuntimeThread`] before the thread, the threads before the
//! [`EmulatedLink`].

mod availability;
mod config;
mod control;
mod delay;
mod error;
mod forwarder;
mod impair;
mod link;
mod loss;
mod netns;
mod rate;
mod runtime_thread;
mod tun;

pub use availability::unavailable_reason;
pub use config::{Blackout, GilbertElliott, Impairments, LinkConfig, RateLimit};
pub use control::{DirectionStats, LinkControl, LinkStats};
pub use error::NetemError;
pub use link::{EmulatedLink, TUN_NAME};
pub use netns::Netns;
pub use runtime_thread::RuntimeThread;
