//! Shell completions and man pages made from a binary's clap definition, for `relay` and
//! `share` alike: the `completions SHELL` and `man-pages DIR` subcommands (the latter is
//! what `scripts/man.sh` runs). Generated, so they never drift from the flags.

use std::io::Write;
use std::path::PathBuf;

use clap::Subcommand;
use clap_complete::Shell;

/// The subcommands that document the command they are part of.
#[derive(Debug, Clone, Subcommand)]
pub enum CliDocs {
    /// Print a completion script for SHELL (e.g. `source <(share completions bash)`).
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Write the man pages into DIR: one for the command and one for each subcommand.
    ManPages { dir: PathBuf },
}

impl CliDocs {
    /// Writes what was asked for about `command`: the completion script to `out`, or the
    /// man pages (one per visible subcommand too) into their directory.
    pub fn write(&self, command: clap::Command, out: &mut dyn Write) -> std::io::Result<()> {
        match self {
            CliDocs::Completions { shell } => {
                let mut command = command;
                let name = command.get_name().to_owned();
                clap_complete::generate(*shell, &mut command, name, out);
                Ok(())
            }
            CliDocs::ManPages { dir } => {
                std::fs::create_dir_all(dir)?;
                clap_mangen::generate_to(command, dir)
            }
        }
    }
}
