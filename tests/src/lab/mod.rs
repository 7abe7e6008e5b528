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
