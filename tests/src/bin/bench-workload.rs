//! `bench-workload`: the programs `scripts/bench.sh` runs inside the wrappers under test
//! (`share`, the naive wrapper, `script`). Each prints `READY` and waits for a line on
//! stdin, so that viewers attach before it starts; its output goes straight to the PTY,
//! one write(2) per line or chunk, with no buffering in between.
//!
//! - `ticker`: a tick line every interval, each carrying the CLOCK_MONOTONIC time taken
//!   just before its write (`e2e::bench::stamps`), then `ticks done`.
//! - `flood --from FILE`: the file in 64 KiB writes, as `cat` does, then the line
//!   `flood end`; `--stamp PATH` records in PATH the time that last write returned.
//!
//! `--hold` keeps the program (and so the session) alive until another line arrives, as a
//! shell stays after a command: a session that ends drops what its viewers have not yet
//! been sent, and the measurements are of a session that goes on.

use std::fs::File;
use std::io::{BufRead as _, Read as _, Write};
use std::os::fd::AsFd as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use e2e::bench::stamps::{monotonic_ns, tick_line};

#[derive(Parser)]
#[command(about = "Programs the benchmarks run in a PTY, printing timestamped output")]
struct Args {
    /// Waits for a line on stdin before exiting.
    #[arg(long)]
    hold: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Prints `count` tick lines, one every `interval_us` microseconds.
    Ticker {
        #[arg(long)]
        interval_us: u64,
        #[arg(long)]
        count: u64,
    },
    /// Writes a file to the terminal, then `flood end`.
    Flood {
        #[arg(long)]
        from: PathBuf,
        /// Where to write the CLOCK_MONOTONIC nanoseconds at which the last write returned.
        #[arg(long)]
        stamp: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Unbuffered: every write below is one system call on the PTY.
    let mut out = File::from(std::io::stdout().as_fd().try_clone_to_owned()?);
    out.write_all(b"READY\n")?;
    wait_for_line()?;
    match args.command {
        Command::Ticker { interval_us, count } => {
            ticker(&mut out, Duration::from_micros(interval_us), count)?;
        }
        Command::Flood { from, stamp } => flood(&mut out, &from, stamp.as_deref())?,
    }
    if args.hold {
        wait_for_line()?;
    }
    Ok(())
}

fn wait_for_line() -> anyhow::Result<()> {
    std::io::stdin().lock().read_line(&mut String::new())?;
    Ok(())
}

/// Ticks on a fixed schedule from the start, so a late tick does not delay the next.
fn ticker(out: &mut File, interval: Duration, count: u64) -> anyhow::Result<()> {
    let start = Instant::now();
    for seq in 1..=count {
        let due = start + interval * u32::try_from(seq).context("too many ticks")?;
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        out.write_all(tick_line(seq, monotonic_ns()).as_bytes())?;
    }
    out.write_all(b"ticks done\n")?;
    Ok(())
}

fn flood(out: &mut File, from: &Path, stamp: Option<&Path>) -> anyhow::Result<()> {
    let mut file = File::open(from).with_context(|| format!("opening {}", from.display()))?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])?;
    }
    // The file may end inside an escape sequence: CAN cancels it, so the line shows as is.
    out.write_all(b"\x18\nflood end\n")?;
    let done = monotonic_ns();
    if let Some(stamp) = stamp {
        std::fs::write(stamp, done.to_string())
            .with_context(|| format!("writing {}", stamp.display()))?;
    }
    Ok(())
}
