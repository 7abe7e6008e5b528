//! Helpers shared by the end-to-end tests, the link emulator and the benchmark binaries.

pub mod bench;
pub mod lab;
pub mod netem;
pub mod prometheus;
pub mod redis;
pub mod soak;
pub mod tap;

use std::path::PathBuf;

/// The `share` binary of this workspace's debug build (`cargo build -p cli-share` makes
/// it; `cargo test --workspace` builds it before any test runs).
pub fn share_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target.join("debug/share");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p cli-share` first",
        path.display()
    );
    path
}

/// Logs of the tools in this package go to stderr, filtered by `RUST_LOG`, so that their
/// stdout stays parseable by the scripts that drive them.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
}
