//! The `share` command's library: the host side (`share [CMD]`: PTY, terminal emulator,
//! screen sync, `/share`), `share watch`, and the client side of the relay's wire.
//!
//! Laid out by role: `host` runs the child and shares it, `sync` turns a terminal into
//! frames and frames back into a screen, `watch` is the terminal viewer, `term` the local
//! terminal, and [`client`] everything that talks to a relay. What is public is
//! what the binary, the end-to-end tests and the benchmarks use: the client, the screen
//! sync both ends run, and [`run`].

mod cli;
pub mod client;
mod host;
mod sync;
mod term;
#[cfg(test)]
mod testing;
mod watch;

pub use cli::Cli;
use cli::Watch;
pub use sync::{Emulator, Mirror, ScreenEncoder};

/// Runs the command line: the host, or `share watch`; returns the exit code.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.watch {
        Some(Watch::Watch(args)) => watch::run(args).await,
        None => host::run(cli.host).await,
    }
}
