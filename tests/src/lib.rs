//! Helpers shared by the end-to-end tests, the link emulator and the benchmark binaries.

pub mod bench;
pub mod lab;
pub mod netem;
pub mod prometheus;
pub mod redis;
pub mod soak;

/// Logs of the tools in this package go to stderr, filtered by `RUST_LOG`, so that their
/// stdout stays parseable by the scripts that drive them.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
}
