//! Command-line interface of `share`, and where each value came from (a flag, its
//! environment variable, or neither), which decides whether the config file applies.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use relay::cli_docs::CliDocs;
use serde::Deserialize;
use url::Url;

use crate::client::{RelayPolicy, Trust};

/// What `share --help` and the man page tell after the flags.
const AFTER_HELP: &str = "\
Typed at the start of a line, then Enter (the program never sees these lines):
  /share [--collab] [--qr] [--record FILE]
      share and show the links; --qr draws the read link as a QR code, on this
      terminal only; --record records the share into FILE until /unshare.
  /unshare
      stop sharing, and the recording /share --record started.

Config file: $XDG_CONFIG_HOME/share/config.toml, else ~/.config/share/config.toml,
with the keys relay, transport, collab, host_key_file, ca and insecure. A flag or
its environment variable overrides the file; --print-config shows what applies.";

#[derive(Debug, Parser)]
#[command(
    name = "share",
    version,
    about = "Run a shell or agent in a PTY and share it live: type /share to get a link.",
    after_long_help = AFTER_HELP,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub action: Option<Action>,
    #[command(flatten)]
    pub host: HostArgs,
}

/// The command line as parsed, with what clap knows of each value's origin.
pub struct Invocation {
    pub(crate) cli: Cli,
    pub(crate) matches: ArgMatches,
}

impl Invocation {
    /// Parses the process's arguments; exits with clap's message on a usage error.
    pub fn from_env() -> Invocation {
        let matches = Cli::command().get_matches();
        Invocation::from_matches(matches).unwrap_or_else(|error| error.exit())
    }

    /// Parses `args` (the first is the program's name).
    #[cfg(test)]
    pub fn try_parse_from<I, T>(args: I) -> clap::error::Result<Invocation>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        Invocation::from_matches(Cli::command().try_get_matches_from(args)?)
    }

    fn from_matches(matches: ArgMatches) -> clap::error::Result<Invocation> {
        Ok(Invocation {
            cli: Cli::from_arg_matches(&matches)?,
            matches,
        })
    }
}

/// Which values the user gave, for one (sub)command: a value given neither as a flag nor
/// in the environment may come from the config file.
pub struct Given<'a> {
    command: clap::Command,
    matches: &'a ArgMatches,
}

impl Given<'_> {
    /// The host's values (`share [CMD]`).
    pub fn host(matches: &ArgMatches) -> Given<'_> {
        Given {
            command: Cli::command(),
            matches,
        }
    }

    /// `share watch`'s values; `None` if `matches` is not a watch.
    pub fn watch(matches: &ArgMatches) -> Option<Given<'_>> {
        Some(Given {
            command: Cli::command().find_subcommand("watch")?.clone(),
            matches: matches.subcommand_matches("watch")?,
        })
    }

    /// How the argument `id` (its field's name) was given, if it was.
    pub fn get(&self, id: &str) -> Option<GivenAs> {
        let arg = self
            .command
            .get_arguments()
            .find(|arg| arg.get_id() == id)?;
        match self.matches.value_source(id)? {
            ValueSource::CommandLine => Some(GivenAs::Flag(format!("--{}", arg.get_long()?))),
            ValueSource::EnvVariable => {
                Some(GivenAs::Env(arg.get_env()?.to_string_lossy().into_owned()))
            }
            _ => None,
        }
    }
}

/// How the user gave a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GivenAs {
    /// On the command line, e.g. `--relay`.
    Flag(String),
    /// In an environment variable, e.g. `SHARE_RELAY`.
    Env(String),
}

#[derive(Debug, Args, Default)]
pub struct HostArgs {
    /// Relay to share through, by its HTTP(S) base URL; without one, a relay runs
    /// in-process on loopback.
    #[arg(long, env = "SHARE_RELAY")]
    pub relay: Option<Url>,
    /// Ask for a collaborative link too (viewers can type).
    #[arg(long, overrides_with = "no_collab")]
    pub collab: bool,
    /// Ask for a read-only link only, whatever the config file says.
    #[arg(long, overrides_with = "collab")]
    pub no_collab: bool,
    /// Start sharing at launch and print the links.
    #[arg(long)]
    pub now: bool,
    /// Do not intercept `/share` and `/unshare` typed at the start of a line.
    #[arg(long)]
    pub no_slash: bool,
    /// Key required by relays started with `--host-key` (prefer --host-key-file: a flag
    /// shows in the process list).
    #[arg(long, env = "SHARE_HOST_KEY", hide_env_values = true)]
    pub host_key: Option<String>,
    /// File holding that key; it must be private (chmod 600), as the relay requires of its
    /// secret files.
    #[arg(long, env = "SHARE_HOST_KEY_FILE", value_name = "FILE")]
    pub host_key_file: Option<PathBuf>,
    /// How to reach the relay: QUIC, falling back to WebSocket when it does not connect
    /// within 3 s (auto), or only one of them (ws skips the wait where UDP is blocked).
    #[arg(long, value_enum, env = "SHARE_TRANSPORT", default_value_t = HostTransportChoice::Auto)]
    pub transport: HostTransportChoice,
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Record the session (the program's output, not what only you see) to FILE, an
    /// asciicast v2 file for asciinema and its player; FILE must not exist.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Print the settings that apply and where each comes from (flag, environment, config
    /// file, default), then exit.
    #[arg(long)]
    pub print_config: bool,
    /// Program to run, with its arguments (default: $SHELL, else /bin/sh).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<OsString>,
}

#[derive(Debug, Subcommand)]
pub enum Action {
    /// Watch a shared session in this terminal (and type into it with a collab link).
    Watch(WatchArgs),
    #[command(flatten)]
    Docs(CliDocs),
}

#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    /// The link: <relay>/s/<id>#<token>.
    pub url: String,
    #[arg(long, value_enum, default_value_t = TransportChoice::Auto)]
    pub transport: TransportChoice,
    /// Print the screen as plain text once synced, and exit.
    #[arg(long)]
    pub dump: bool,
    /// Exit 0 once the screen contains TEXT (printing the screen), 1 after --timeout.
    #[arg(long, value_name = "TEXT")]
    pub until: Option<String>,
    /// Seconds --until waits.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// Send TEXT as input once connected (C escapes: \r \n \t \e \\ \xHH).
    #[arg(long, value_name = "TEXT")]
    pub send: Option<String>,
    #[command(flatten)]
    pub trust: TrustArgs,
}

/// How far to trust the relay, for `share` and `share watch` alike.
#[derive(Debug, Clone, Default, Args)]
pub struct TrustArgs {
    /// Also trust this CA (PEM): a private CA, a company's, a test ACME server's root.
    /// Repeatable; the CAs in $SSL_CERT_FILE are trusted too. Both add to the system's roots.
    #[arg(long, value_name = "FILE")]
    pub ca: Vec<PathBuf>,
    /// Allow a plain http:// relay off this machine, for a test on a network you trust:
    /// links, host key and screen then travel in clear text, and every share says so.
    #[arg(long)]
    pub insecure: bool,
    /// Where the relay's QUIC and WebTransport listen when not on the relay URL's host
    /// (what /api/info says is then ignored).
    #[arg(long, value_name = "HOST:PORT")]
    pub relay_quic: Option<String>,
}

impl TrustArgs {
    /// The policy these flags (and `$SSL_CERT_FILE`) make.
    pub fn policy(&self) -> anyhow::Result<RelayPolicy> {
        let from_env = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
        let mut extra_roots = Vec::new();
        for file in self.ca.iter().chain(&from_env) {
            extra_roots.extend(certs::load_certs(file)?);
        }
        // Unusable certificates are refused now, not at the first connection.
        Trust::webpki(&extra_roots)?;
        if let Some(endpoint) = &self.relay_quic {
            let has_port = endpoint
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            let is_authority = Url::parse(&format!("https://{endpoint}"))
                .is_ok_and(|url| url.path() == "/" && url.username().is_empty());
            anyhow::ensure!(
                has_port && is_authority,
                "--relay-quic takes HOST:PORT, not {endpoint:?}"
            );
        }
        Ok(RelayPolicy {
            extra_roots,
            insecure: self.insecure,
            pinned_endpoint: self.relay_quic.clone(),
        })
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostTransportChoice {
    #[default]
    Auto,
    Quic,
    Ws,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TransportChoice {
    Auto,
    Webtransport,
    Ws,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn command_after_double_dash_and_watch_subcommand() {
        let cli = Cli::parse_from(["share", "--now", "--", "sh", "-c", "echo hi"]);
        assert!(cli.host.now && cli.action.is_none());
        assert_eq!(cli.host.command, ["sh", "-c", "echo hi"]);
        let cli = Cli::parse_from(["share", "vim", "-u", "NONE"]);
        assert_eq!(cli.host.command, ["vim", "-u", "NONE"]);
        let cli = Cli::parse_from(["share", "watch", "http://x/s/a#b", "--dump"]);
        assert!(matches!(
            cli.action,
            Some(Action::Watch(WatchArgs { dump: true, .. }))
        ));
    }
}
