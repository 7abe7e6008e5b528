//! `baseline-relay`: the naive ttyd-style relay and host wrapper the benchmark suite compares
//! the real relay and `share` with (see `e2e::bench::baseline`).
//!
//! `baseline-relay serve` prints `baseline-relay listening ws=<addr>` once bound;
//! `baseline-relay host --url ws://<addr>/host/<id> -- <command>` wraps a command.

use std::net::SocketAddr;

use clap::{Parser, Subcommand};
use e2e::bench::baseline;

#[derive(Parser)]
#[command(about = "Naive relay and host wrapper used as the benchmarks' baseline")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the relay.
    Serve {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
    /// Runs a command in a PTY and shares its raw output through the relay.
    Host {
        /// `ws://<relay>/host/<session id>`.
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 120)]
        cols: u16,
        #[arg(long, default_value_t = 40)]
        rows: u16,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    e2e::init_tracing();
    match Args::parse().command {
        Command::Serve { listen } => {
            let listener = tokio::net::TcpListener::bind(listen).await?;
            println!("baseline-relay listening ws={}", listener.local_addr()?);
            baseline::serve(listener).await
        }
        Command::Host {
            url,
            cols,
            rows,
            command,
        } => {
            let result = baseline::host(&url, cols, rows, &command).await;
            // The runtime would wait for the blocking stdin reader on shutdown.
            if let Err(error) = &result {
                eprintln!("baseline host: {error:#}");
            }
            std::process::exit(i32::from(result.is_err()));
        }
    }
}
