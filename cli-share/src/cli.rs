//! Command-line interface of `share`.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use url::Url;

use crate::client::{RelayPolicy, Trust};

#[derive(Debug, Parser)]
#[command(
    name = "share",
    version,
    about = "Run a shell or agent in a PTY and share it live: type /share to get a link.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub watch: Option<Watch>,
    #[command(flatten)]
    pub host: HostArgs,
}

#[derive(Debug, Args)]
pub struct HostArgs {
    /// Relay to share through, by its HTTP(S) base URL; without one, a relay runs
    /// in-process on loopback.
    #[arg(long, env = "SHARE_RELAY")]
    pub relay: Option<Url>,
    /// Ask for a collaborative link too (viewers can type).
    #[arg(long)]
    pub collab: bool,
    /// Start sharing at launch and print the links.
    #[arg(long)]
    pub now: bool,
    /// Do not intercept `/share` and `/unshare` typed at the start of a line.
    #[arg(long)]
    pub no_slash: bool,
    /// Key required by relays started with `--host-key`.
    #[arg(long, env = "SHARE_HOST_KEY", hide_env_values = true)]
    pub host_key: Option<String>,
    /// How to reach the relay: QUIC, falling back to WebSocket when it does not connect
    /// within 3 s (auto), or only one of them (ws skips the wait where UDP is blocked).
    #[arg(long, value_enum, env = "SHARE_TRANSPORT", default_value_t = HostTransportChoice::Auto)]
    pub transport: HostTransportChoice,
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Program to run, with its arguments (default: $SHELL, else /bin/sh).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<OsString>,
}

#[derive(Debug, Subcommand)]
pub enum Watch {
    /// Watch a shared session in this terminal (and type into it with a collab link).
    Watch(WatchArgs),
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HostTransportChoice {
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
        assert!(cli.host.now && cli.watch.is_none());
        assert_eq!(cli.host.command, ["sh", "-c", "echo hi"]);
        let cli = Cli::parse_from(["share", "vim", "-u", "NONE"]);
        assert_eq!(cli.host.command, ["vim", "-u", "NONE"]);
        let cli = Cli::parse_from(["share", "watch", "http://x/s/a#b", "--dump"]);
        assert!(matches!(
            cli.watch,
            Some(Watch::Watch(WatchArgs { dump: true, .. }))
        ));
    }
}
