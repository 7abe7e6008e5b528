//! A deployment in network namespaces, for tests of what happens beyond loopback: a plain
//! link between two namespaces ([`Lan`]), Debian's ACME test server and its DNS
//! ([`Pebble`]), child processes whose output a test waits on ([`Watched`]), clients that
//! trust only given roots ([`https`]), headless Chromium with a trust store of its own
//! ([`browser`]), and all of it put together as README's "Run your own relay"
//! ([`acme::AcmeLab`]). Needs root, like the netem module it builds on.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use e2e::lab::acme::{AcmeLab, DOMAIN};
//!
//! let lab = AcmeLab::start(None).await?; // pebble in B, nothing in A yet
//! let relay = lab.start_relay(&[]).await?; // the relay binary in A, certified
//! let client = lab.lan.b.runtime()?; // tasks spawned here connect from B
//! let (addr, root) = (lab.relay_addr(), lab.pebble.root());
//! let info = client
//!     .spawn(async move { e2e::lab::https::get(addr, DOMAIN, "/api/info", &[root]).await })
//!     .await??;
//! assert_eq!(info.fingerprint(), relay.fingerprint());
//! // Child processes in B resolve DOMAIN to the relay and may trust the root file:
//! let share = lab.lan.b.command("share"); // ... --relay https://relay.share.test --ca <root>
//! # drop((share, lab.pebble.root_file())); Ok(()) }
//! ```

pub mod acme;
pub mod browser;
pub mod clients;
pub mod https;
mod lan;
mod pebble;
mod process;

use std::path::PathBuf;

use crate::netem::Netns;

pub use lan::Lan;
pub use pebble::{Pebble, PebbleOptions};
pub use process::Watched;

/// A binary of this workspace, next to the running test's directory (`target/<profile>/`).
/// `cargo test --workspace` builds them all; a test of this package alone does not build
/// other packages' binaries, so a missing one is an error that says how to build it.
pub fn workspace_binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    // target/<profile>/deps/<test>-<hash>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .ok_or_else(|| anyhow::anyhow!("unexpected test path {}", exe.display()))?;
    let path = profile_dir.join(name);
    anyhow::ensure!(
        path.is_file(),
        "{} is missing: build it with `cargo build --bin {name}` (or run `cargo test --workspace`)",
        path.display()
    );
    Ok(path)
}

/// Where the lab's relays serve `/metrics` (`--metrics`): on their namespace's loopback, as
/// an operator's monitoring would, since the relay keeps them off its public port.
pub const METRICS_ADDR: &str = "127.0.0.1:9100";

/// `/metrics` of the relay in `ns`, read over plain HTTP at [`METRICS_ADDR`].
pub async fn scrape_metrics(ns: &Netns) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // The namespace's runtime must outlive the request it runs.
    let inside = ns.runtime()?;
    let fetched = inside.spawn(async {
        let mut tcp = tokio::net::TcpStream::connect(METRICS_ADDR).await?;
        tcp.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").await?;
        let mut response = String::new();
        tcp.read_to_string(&mut response).await?;
        std::io::Result::Ok(response)
    });
    let response = tokio::time::timeout(std::time::Duration::from_secs(10), fetched).await???;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("/metrics: no HTTP response"))?;
    anyhow::ensure!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "/metrics: {head}"
    );
    Ok(body.to_owned())
}
