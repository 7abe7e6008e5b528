//! `netem`: sets up two network namespaces joined by an emulated lossy link and forwards
//! until Ctrl-C or SIGTERM, for manual experiments and the benchmark script. Prints
//! `KEY=value` lines (namespace names, addresses) then `NETEM_READY=1`; on exit prints the
//! packet counts.
//!
//! ```text
//! sudo netem --loss 5 --delay 25 &            # 50 ms round trip, 5 % loss each way
//! sudo ip netns exec "$NETEM_NS_A" relay ...  # then a host in "$NETEM_NS_B"
//! ```

use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use e2e::netem::{
    Blackout, EmulatedLink, GilbertElliott, Impairments, LinkConfig, RateLimit, unavailable_reason,
};
use tokio::signal::unix::{SignalKind, signal};

/// Emulate a lossy link between two fresh network namespaces (A and B). Impairments apply to
/// both directions.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Random loss, percent of packets.
    #[arg(long, value_name = "PCT", default_value_t = 0.0)]
    loss: f64,
    /// Bursty loss (Gilbert-Elliott): chance per packet, percent, of entering the bad state.
    #[arg(long, value_name = "PCT")]
    burst_enter: Option<f64>,
    /// Chance per packet, percent, of leaving the bad state (mean burst = 100/PCT packets).
    #[arg(
        long,
        value_name = "PCT",
        default_value_t = 25.0,
        requires = "burst_enter"
    )]
    burst_leave: f64,
    /// Loss in the bad state, percent.
    #[arg(
        long,
        value_name = "PCT",
        default_value_t = 100.0,
        requires = "burst_enter"
    )]
    burst_loss: f64,
    /// One-way delay in milliseconds (the round trip gets twice this).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    delay: u64,
    /// Each packet's delay varies uniformly by up to ± this many milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    jitter: u64,
    /// Let jitter reorder packets (by default a packet never overtakes an earlier one).
    #[arg(long)]
    reorder: bool,
    /// Rate limit in bytes per second.
    #[arg(long, value_name = "BYTES/S")]
    rate: Option<u64>,
    /// Queue size of the rate limiter in bytes (default: 100 ms worth, at least 64 KiB).
    #[arg(long, value_name = "BYTES", requires = "rate")]
    queue: Option<u64>,
    /// Start a blackout (everything dropped) this many seconds after start-up.
    #[arg(long, value_name = "S", requires = "blackout_for")]
    blackout_at: Option<f64>,
    /// Length of the blackout in seconds (starts at once unless --blackout-at is given).
    #[arg(long, value_name = "S")]
    blackout_for: Option<f64>,
    /// Seed for loss and jitter decisions, for repeatable runs.
    #[arg(long)]
    seed: Option<u64>,
}

impl Args {
    fn impairments(&self) -> anyhow::Result<Impairments> {
        let blackout = match self.blackout_for {
            Some(length) => Some(Blackout::scheduled(
                seconds(self.blackout_at.unwrap_or(0.0), "--blackout-at")?,
                seconds(length, "--blackout-for")?,
            )),
            None => None,
        };
        Ok(Impairments {
            loss_pct: self.loss,
            burst: self.burst_enter.map(|enter| GilbertElliott {
                enter_bad_pct: enter,
                leave_bad_pct: self.burst_leave,
                loss_in_bad_pct: self.burst_loss,
            }),
            delay: Duration::from_millis(self.delay),
            jitter: Duration::from_millis(self.jitter),
            allow_reorder: self.reorder,
            rate: self.rate.map(|bytes_per_sec| {
                let mut limit = RateLimit::new(bytes_per_sec);
                if let Some(queue) = self.queue {
                    limit.queue_bytes = queue;
                }
                limit
            }),
            blackout,
        })
    }
}

fn seconds(value: f64, flag: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value).with_context(|| format!("{flag} {value}: not a duration"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    e2e::init_tracing();
    let args = Args::parse();
    if let Some(reason) = unavailable_reason() {
        bail!("{reason}");
    }
    let config = LinkConfig::symmetric(args.impairments()?);
    let link = match args.seed {
        Some(seed) => EmulatedLink::with_seed(config, seed),
        None => EmulatedLink::new(config),
    }
    .context("setting up the emulated link")?;

    println!("NETEM_NS_A={}", link.a().name());
    println!("NETEM_NS_B={}", link.b().name());
    println!("NETEM_ADDR_A={}", link.addr_a());
    println!("NETEM_ADDR_B={}", link.addr_b());
    println!("NETEM_READY=1");

    // SIGTERM too, so a script's `kill` still deletes the namespaces.
    let mut term = signal(SignalKind::terminate()).context("installing a SIGTERM handler")?;
    tokio::select! {
        ctrl_c = tokio::signal::ctrl_c() => ctrl_c.context("waiting for Ctrl-C")?,
        _ = term.recv() => {}
    }
    let stats = link.control().stats();
    eprintln!("a->b: {:?}", stats.a_to_b);
    eprintln!("b->a: {:?}", stats.b_to_a);
    Ok(())
}
