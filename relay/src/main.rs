//! The `relay` binary: parses flags (each also readable from a `RELAY_*` variable), refuses
//! unsafe set-ups off loopback unless told otherwise ([`relay::exposure`]), starts the
//! relay, prints one line with every bound address and the certificate fingerprints once a
//! certificate is served (an ACME relay first gets one), and shuts down gracefully on
//! SIGINT or SIGTERM. `relay completions SHELL` prints a completion script instead.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{CommandFactory, Parser};
use relay::cli_docs::CliDocs;
use relay::exposure::Consent;
use relay::limits::*;
use relay::{AcmeConfig, Limits, Relay, RelayConfig, read_secret_file};
use tracing_subscriber::prelude::*;

/// Fans a host's terminal session out to viewers over WebTransport and WebSocket.
#[derive(Parser, Debug)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Args {
    #[command(subcommand)]
    docs: Option<CliDocs>,
    /// Viewer page, WebSocket endpoints and API (TCP).
    #[arg(long, env = "RELAY_HTTP", default_value = "127.0.0.1:8080")]
    http: SocketAddr,
    /// QUIC endpoint for hosts (UDP).
    #[arg(long, env = "RELAY_QUIC", default_value = "127.0.0.1:4433")]
    quic: SocketAddr,
    /// WebTransport endpoint for browsers (UDP); default: the QUIC port, dispatched by ALPN.
    #[arg(long, env = "RELAY_WEBTRANSPORT")]
    webtransport: Option<SocketAddr>,
    /// Base of the links handed out (default derived from --http).
    #[arg(long, env = "RELAY_PUBLIC_URL")]
    public_url: Option<url::Url>,
    /// PEM certificate chain for HTTPS, QUIC and WebTransport (requires --key).
    #[arg(long, env = "RELAY_CERT", requires = "key")]
    cert: Option<PathBuf>,
    /// PEM private key of --cert.
    #[arg(long, env = "RELAY_KEY", requires = "cert")]
    key: Option<PathBuf>,
    /// Get the certificate for DOMAIN from an ACME CA, and renew it: HTTPS, QUIC and
    /// WebTransport under the relay's DNS name, `--public-url https://DOMAIN` by default.
    /// Agrees to the CA's terms of service.
    #[arg(
        long,
        env = "RELAY_ACME",
        value_name = "DOMAIN",
        conflicts_with_all = ["cert", "key"],
        value_parser = relay::acme::parse_domain
    )]
    acme: Option<String>,
    /// Contact address of the ACME account (expiry notices, incidents).
    #[arg(long, env = "RELAY_ACME_EMAIL", value_name = "ADDR", requires = "acme")]
    acme_email: Option<String>,
    /// The ACME CA's directory.
    #[arg(long, env = "RELAY_ACME_DIRECTORY", value_name = "URL", default_value = relay::acme::LETS_ENCRYPT)]
    acme_directory: url::Url,
    /// Where the ACME account key and certificates are kept [default: $STATE_DIRECTORY/acme
    /// (systemd's StateDirectory=), else ~/.local/state/share-relay/acme].
    #[arg(long, env = "RELAY_ACME_CACHE", value_name = "DIR", requires = "acme")]
    acme_cache: Option<PathBuf>,
    /// Answer the CA's HTTP-01 challenge on this plain-HTTP address (port 80 in public)
    /// instead of TLS-ALPN-01 on the HTTPS port; other requests there go to HTTPS.
    #[arg(long, env = "RELAY_ACME_HTTP", value_name = "ADDR", requires = "acme")]
    acme_http: Option<SocketAddr>,
    /// A PEM CA certificate to trust for the ACME directory's HTTPS (a private ACME server).
    #[arg(long, env = "RELAY_ACME_CA", value_name = "FILE", requires = "acme")]
    acme_ca: Option<PathBuf>,
    /// Serve plain HTTP on a non-loopback --http address (a LAN test): remote hosts and
    /// browsers then use neither QUIC nor WebTransport, and the traffic can be read.
    #[arg(long, env = "RELAY_INSECURE_HTTP", conflicts_with_all = ["cert", "acme"])]
    insecure_http: bool,
    /// Let anyone who reaches a non-loopback relay create sessions (no --host-key).
    #[arg(long, env = "RELAY_OPEN")]
    open: bool,
    /// File holding the HS256 secret for link tokens.
    #[arg(long, env = "RELAY_JWT_SECRET_FILE", conflicts_with = "jwt_secret")]
    jwt_secret_file: Option<PathBuf>,
    /// The HS256 secret itself (prefer the environment over the command line).
    #[arg(long, env = "RELAY_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// Lifetime of a viewer link, e.g. 3600s, 90m, 1h, 2d.
    #[arg(long, env = "RELAY_LINK_TTL", default_value = "1h", value_parser = parse_duration)]
    link_ttl: Duration,
    /// How long a session survives its host's lost connection.
    #[arg(long, env = "RELAY_GRACE", default_value = "30s", value_parser = parse_duration)]
    grace: Duration,
    /// How often quiet QUIC connections are pinged; one silent for three of these is lost
    /// (the host is shown away). Longer saves CPU with many idle sessions.
    #[arg(long, env = "RELAY_KEEP_ALIVE", default_value = "1s", value_parser = parse_keep_alive)]
    keep_alive: Duration,
    /// A key hosts must present to create sessions (repeatable; comma-separated in the env).
    #[arg(
        long = "host-key",
        env = "RELAY_HOST_KEY",
        value_delimiter = ',',
        hide_env_values = true
    )]
    host_keys: Vec<String>,
    /// File with one host key per line.
    #[arg(long, env = "RELAY_HOST_KEY_FILE")]
    host_key_file: Option<PathBuf>,
    /// Log filter (tracing EnvFilter syntax). wtransport, tungstenite and tokio_tungstenite
    /// stay at info unless named here: at debug and trace they log secrets (a WebTransport
    /// viewer's link token, WebSocket payloads such as a host's key), which naming them
    /// (`debug,wtransport=debug`) lets into the log.
    #[arg(long, env = "RELAY_LOG", default_value = "info")]
    log: String,
    /// Serve /metrics on this address (plain HTTP). Without it, /metrics is served on the
    /// HTTP port only while that port is bound to loopback.
    #[arg(long, env = "RELAY_METRICS")]
    metrics: Option<SocketAddr>,
    /// Join a cluster of relays that share sessions through this Redis
    /// (`redis://[user:password@]HOST:PORT[/DB]`); needs --node-id, --advertise and the
    /// same --jwt-secret-file on every node.
    #[arg(long, env = "RELAY_CLUSTER", value_name = "REDIS_URL", requires_all = ["node_id", "advertise"], hide_env_values = true)]
    cluster: Option<String>,
    /// This node's name in the cluster, unique (A-Z a-z 0-9 . _ -, at most 64).
    #[arg(long, env = "RELAY_NODE_ID", value_name = "ID", requires = "cluster")]
    node_id: Option<String>,
    /// Where clients reach this node (its own https:// URL); the other nodes list it for
    /// their clients, and links name it unless --public-url names the cluster.
    #[arg(
        long,
        env = "RELAY_ADVERTISE",
        value_name = "URL",
        requires = "cluster"
    )]
    advertise: Option<url::Url>,
    #[command(flatten)]
    limits: LimitArgs,
}

/// The bounds of `relay::Limits`; "per address" is per IPv4 address or IPv6 /64.
#[derive(clap::Args, Debug)]
struct LimitArgs {
    /// Live sessions, in all.
    #[arg(long, env = "RELAY_MAX_SESSIONS", default_value_t = DEFAULT_MAX_SESSIONS)]
    max_sessions: usize,
    /// Live sessions created from one address.
    #[arg(long, env = "RELAY_MAX_SESSIONS_PER_ADDR", default_value_t = DEFAULT_MAX_SESSIONS_PER_ADDR)]
    max_sessions_per_addr: usize,
    /// Open connections (TCP and QUIC), in all.
    #[arg(long, env = "RELAY_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Open connections (TCP and QUIC) from one address.
    #[arg(long, env = "RELAY_MAX_CONNECTIONS_PER_ADDR", default_value_t = DEFAULT_MAX_CONNECTIONS_PER_ADDR)]
    max_connections_per_addr: usize,
    /// Viewers of one session.
    #[arg(long, env = "RELAY_MAX_VIEWERS", default_value_t = DEFAULT_MAX_VIEWERS_PER_SESSION)]
    max_viewers: usize,
    /// New connections per second from one address (TCP accepts and QUIC handshakes)...
    #[arg(long, env = "RELAY_HANDSHAKE_RATE", default_value_t = DEFAULT_HANDSHAKE_RATE)]
    handshake_rate: u32,
    /// ...after a burst of this many.
    #[arg(long, env = "RELAY_HANDSHAKE_BURST", default_value_t = DEFAULT_HANDSHAKE_BURST)]
    handshake_burst: u32,
    /// QUIC handshakes in progress above which clients must validate their address (Retry).
    #[arg(long, env = "RELAY_QUIC_RETRY_ABOVE", default_value_t = DEFAULT_QUIC_RETRY_ABOVE)]
    quic_retry_above: usize,
    /// How long a TCP client may take to send its request headers.
    #[arg(long, env = "RELAY_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    header_timeout: Duration,
    /// How long a TCP connection may go without a byte from its peer.
    #[arg(long, env = "RELAY_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    idle_timeout: Duration,
    /// How long a write to a TCP peer or a WebTransport viewer may stay blocked (a peer that
    /// does not read).
    #[arg(long, env = "RELAY_WRITE_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    write_timeout: Duration,
}

impl From<LimitArgs> for Limits {
    fn from(args: LimitArgs) -> Self {
        Limits {
            max_sessions: args.max_sessions,
            max_sessions_per_addr: args.max_sessions_per_addr,
            max_connections: args.max_connections,
            max_connections_per_addr: args.max_connections_per_addr,
            max_viewers_per_session: args.max_viewers,
            handshake_rate: args.handshake_rate,
            handshake_burst: args.handshake_burst,
            quic_retry_above: args.quic_retry_above,
            header_timeout: args.header_timeout,
            idle_timeout: args.idle_timeout,
            write_timeout: args.write_timeout,
        }
    }
}

/// The longest duration a flag takes: timers and token lifetimes are added to clocks,
/// where a longer one could overflow.
const MAX_DURATION: Duration = Duration::from_secs(366 * 86_400);

fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?}"))?;
    let scale = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        other => {
            return Err(format!(
                "unknown duration unit {other:?} (use s, m, h or d)"
            ));
        }
    };
    let duration = Duration::from_secs(number.saturating_mul(scale));
    if duration > MAX_DURATION {
        return Err(format!(
            "{text} is over a year (366d), the longest any setting takes"
        ));
    }
    Ok(duration)
}

fn parse_keep_alive(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        Duration::ZERO => Err("the keep-alive must be at least 1s".into()),
        // Three of them must fit QUIC's idle timeout (at most 2^62 ms) and NAT bindings
        // rarely outlive a minute of silence.
        interval if interval > Duration::from_secs(60) => {
            Err("a keep-alive over 60s would let NAT bindings expire".into())
        }
        interval => Ok(interval),
    }
}

/// The ACME cache when `--acme-cache` is not given.
fn default_acme_cache() -> anyhow::Result<PathBuf> {
    // systemd sets STATE_DIRECTORY (colon-separated when there are several).
    if let Some(state) = std::env::var_os("STATE_DIRECTORY")
        && let Some(first) = std::env::split_paths(&state).next()
    {
        return Ok(first.join("acme"));
    }
    let home = std::env::var_os("HOME")
        .context("give --acme-cache DIR: neither STATE_DIRECTORY nor HOME is set")?;
    Ok(PathBuf::from(home).join(".local/state/share-relay/acme"))
}

impl Args {
    fn consent(&self) -> Consent {
        Consent {
            insecure_http: self.insecure_http,
            open: self.open,
        }
    }

    fn acme(&self) -> anyhow::Result<Option<AcmeConfig>> {
        let Some(domain) = &self.acme else {
            return Ok(None);
        };
        let cache = match &self.acme_cache {
            Some(dir) => dir.clone(),
            None => default_acme_cache()?,
        };
        Ok(Some(AcmeConfig {
            email: self.acme_email.clone(),
            directory: self.acme_directory.clone(),
            http_challenge: self.acme_http,
            directory_ca: self.acme_ca.clone(),
            ..AcmeConfig::new(domain, cache)
        }))
    }

    fn into_config(self) -> anyhow::Result<RelayConfig> {
        let acme = self.acme()?;
        let jwt_secret = match (&self.jwt_secret_file, self.jwt_secret) {
            (Some(path), _) => {
                let secret = read_secret_file(path).context("the JWT secret")?;
                let trimmed = secret.trim_ascii().to_vec();
                Some(trimmed)
            }
            (None, Some(secret)) => Some(secret.into_bytes()),
            (None, None) => None,
        };
        if jwt_secret.as_ref().is_some_and(|s| s.len() < 16) {
            bail!("the JWT secret must be at least 16 bytes");
        }
        let mut host_keys: Vec<String> = self
            .host_keys
            .into_iter()
            .filter(|k| !k.is_empty())
            .collect();
        if let Some(path) = &self.host_key_file {
            let bytes = read_secret_file(path).context("the host keys")?;
            let text = String::from_utf8(bytes)
                .with_context(|| format!("host keys in {} are not UTF-8", path.display()))?;
            host_keys.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(String::from),
            );
        }
        let cluster = match (self.cluster, self.node_id, self.advertise) {
            (Some(redis), Some(node_id), Some(advertise)) => Some(relay::ClusterConfig {
                redis,
                node_id,
                advertise: Some(advertise),
            }),
            _ => None,
        };
        Ok(RelayConfig {
            http: self.http,
            quic: self.quic,
            webtransport: self.webtransport,
            public_url: self.public_url,
            cert: self.cert.zip(self.key),
            jwt_secret,
            link_ttl: self.link_ttl,
            grace: self.grace,
            keep_alive: self.keep_alive,
            host_keys,
            acme,
            limits: self.limits.into(),
            metrics: self.metrics,
            cluster,
            ..RelayConfig::default()
        })
    }
}

/// Exits with status 2, as clap does for a usage error.
fn refuse(refusal: &dyn std::fmt::Display) -> ! {
    eprintln!("relay: error: {refusal}");
    std::process::exit(2)
}

async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(docs) = &args.docs {
        return docs
            .write(Args::command(), &mut std::io::stdout())
            .context("writing the documentation");
    }
    let filter = relay::logging::filter(&args.log)
        .unwrap_or_else(|error| refuse(&format!("--log: {error:#}")));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(filter),
        )
        .init();
    let consent = args.consent();
    // A configuration refused is not worth restarting for (the unit's
    // RestartPreventExitStatus=2): it says why and exits 2, as a refused flag does.
    let config = args
        .into_config()
        .unwrap_or_else(|error| refuse(&format!("{error:#}")));
    match relay::exposure::check(&config, consent) {
        Ok(warnings) => {
            for warning in warnings {
                eprintln!("relay: warning: {warning}");
            }
        }
        Err(refusal) => refuse(&refusal),
    }
    let acme = config.acme.clone();
    let relay = Relay::start(config).await.context("starting the relay")?;
    if let Some(acme) = acme.filter(|_| relay.fingerprints().is_empty()) {
        tracing::info!(
            domain = %acme.domain,
            directory = %acme.directory,
            "waiting for the first certificate"
        );
    }
    tokio::select! {
        _ = relay.certified() => {}
        _ = terminated() => {
            relay.shutdown().await;
            return Ok(());
        }
    }
    let scheme = relay.public_url().scheme().to_owned();
    println!(
        "relay listening http={scheme}://{} quic={} webtransport=https://{} public_url={} fingerprints={}",
        relay.http_addr(),
        relay.quic_addr(),
        relay.webtransport_addr(),
        relay.public_url(),
        relay.fingerprints().join(","),
    );
    terminated().await;
    tracing::info!("shutting down");
    relay.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_units() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("x").is_err());
        assert_eq!(parse_duration("366d"), Ok(MAX_DURATION));
        let refused = parse_duration("367d").unwrap_err();
        assert!(refused.contains("over a year"), "{refused}");
        assert!(parse_duration("5000000000000000000d").is_err());
    }

    #[test]
    fn limit_flags_default_to_the_library_defaults() {
        let args = Args::try_parse_from(["relay"]).unwrap();
        assert_eq!(Limits::from(args.limits), Limits::default());
    }

    #[test]
    fn keep_alives_are_bounded() {
        assert_eq!(parse_keep_alive("15s"), Ok(Duration::from_secs(15)));
        assert!(parse_keep_alive("0").is_err());
        assert!(parse_keep_alive("2m").is_err());
    }
}
