//! `relay-tap`: the relay tap of `e2e::tap` as a process, for the browser tests. Forwards
//! `127.0.0.1:<port>` (printed) to the relay's HTTP port, records what the relay receives
//! and sends in the clear into `DIR/to-relay.bin` and `DIR/from-relay.bin`, and once told
//! `arm` on stdin alters the session as `--tamper` says. Prints `relay-tap listening URL`,
//! then a `stats {json}` line whenever what it has seen or done changes.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use e2e::tap::{Sink, Tamper, Tap};
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(Debug, Parser)]
struct Args {
    /// The relay's HTTP address (it may start after the tap).
    #[arg(long)]
    relay: SocketAddr,
    /// How to alter the session once armed.
    #[arg(long, value_enum, default_value_t = Tamper::None)]
    tamper: Tamper,
    /// Directory for the two recordings.
    #[arg(long)]
    record: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    e2e::init_tracing();
    let args = Args::parse();
    let file = |name: &str| {
        std::fs::File::create(args.record.join(name)).with_context(|| format!("creating {name}"))
    };
    let sink = Sink::Files {
        to_relay: file("to-relay.bin")?,
        from_relay: file("from-relay.bin")?,
    };
    let tap = Tap::bind(args.tamper, sink).await?;
    tap.serve(args.relay);
    println!("relay-tap listening {}", tap.url());
    let mut stats = tap.stats();
    tokio::spawn(async move {
        while stats.changed().await.is_ok() {
            let seen = stats.borrow_and_update().clone();
            let json = serde_json::json!({
                "websockets": seen.websockets,
                "frames_to_viewers": seen.frames_to_viewers,
                "keyframes": seen.keyframes,
                "tampered": seen.tampered,
                "unread_upgrades": seen.unread_upgrades,
            });
            println!("stats {json}");
        }
    });
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        if line.trim() == "arm" {
            tap.arm();
            println!("armed");
        }
    }
    Ok(())
}
