//! The `share` command's library: the host side (`share [CMD]`: PTY, terminal emulator,
//! screen sync, `/share`), `share watch`, and the client side of the relay's wire.
//!
//! Laid out by role: `host` runs the child and shares it, `sync` turns a terminal into
//! frames and frames back into a screen, `watch` is the terminal viewer, `term` the local
//! terminal, `record` writes recordings, `config` merges flags with the config file, and
//! [`client`] everything that talks to a relay. What is public is what the binary, the
//! end-to-end tests and the benchmarks use: the client, the screen sync both ends run, and
//! [`run`].

mod cli;
pub mod client;
mod config;
mod host;
mod record;
mod sync;
mod term;
#[cfg(test)]
mod testing;
mod watch;

use clap::CommandFactory;

use cli::Cli;
pub use cli::Invocation;
use cli::{Action, Given};
use config::ConfigFile;
pub use sync::{Emulator, Mirror, Scanner, ScreenEncoder};
pub use term::printable::one_line;

/// A config file or setting that cannot apply: nothing was started (as for a usage error).
const EXIT_CONFIG: i32 = 2;

/// Runs the command line: the host, `share watch`, or the completions and man pages;
/// returns the exit code.
pub async fn run(Invocation { cli, matches }: Invocation) -> anyhow::Result<i32> {
    match cli.action {
        Some(Action::Docs(docs)) => {
            docs.write(Cli::command(), &mut std::io::stdout())?;
            Ok(0)
        }
        Some(Action::Watch(mut args)) => {
            let file = match ConfigFile::load() {
                Ok(file) => file,
                Err(error) => return Ok(refuse(&error.into())),
            };
            if let Some(given) = Given::watch(&matches) {
                let applied = config::apply_watch(&mut args.trust, &given, &file);
                for note in applied.notes {
                    eprintln!("share watch: {note}");
                }
            }
            watch::run(args).await
        }
        None => {
            let mut args = cli.host;
            let applied = ConfigFile::load()
                .map_err(anyhow::Error::from)
                .and_then(|file| config::apply_host(&mut args, &Given::host(&matches), &file));
            let applied = match applied {
                Ok(applied) => applied,
                Err(error) => return Ok(refuse(&error)),
            };
            if args.print_config {
                print!("{applied}");
                return Ok(0);
            }
            for note in applied.notes {
                eprintln!("share: {note}");
            }
            host::run(args).await
        }
    }
}

fn refuse(error: &anyhow::Error) -> i32 {
    eprintln!("share: {error:#}");
    EXIT_CONFIG
}
