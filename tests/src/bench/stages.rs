//! Where an update's time goes, stretch by stretch, from a system-wide trace of a
//! `host-latency` run (`scripts/latency-stages.sh`): the kernel's syscall trace points as
//! `perf script -F comm,pid,tid,time,event,trace` prints them. Each tick starts at the
//! ticker's `write`; then, in order, the wrapper's PTY read, its send to the relay, the
//! relay's receive, the relay's send and the viewer's receive. Trace points cost each
//! call about a microsecond, where `perf trace` cost this machine about 30 us a call and
//! so overstated every stretch with more system calls in it.

use std::collections::BTreeMap;

use super::stats::median;

/// The processes a trace is read for.
#[derive(Debug, Clone, Copy)]
pub struct Pids {
    pub relay: u32,
    pub naive_relay: u32,
    pub viewer: u32,
}

/// One trace line: the process and thread name, the event (`sys_exit_read`) and its
/// arguments (`0x1c`, or `fd: 0x..., count: 0x...`).
#[derive(Debug)]
struct Event<'a> {
    comm: &'a str,
    pid: u32,
    micros: f64,
    name: &'a str,
    args: &'a str,
}

fn parse(line: &str) -> Option<Event<'_>> {
    // The name may hold spaces, so the line is read from the `pid/tid` token on.
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let at = tokens.iter().position(|t| {
        t.split_once('/').is_some_and(|(pid, tid)| {
            !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) && tid.parse::<u32>().is_ok()
        })
    })?;
    let pid = tokens[at].split_once('/')?.0.parse().ok()?;
    let seconds: f64 = tokens.get(at + 1)?.strip_suffix(':')?.parse().ok()?;
    let event = tokens.get(at + 2)?.strip_suffix(':')?;
    let name = event.rsplit(':').next()?;
    let comm_end = line.find(tokens[at])?;
    let args_start = line.find(event)? + event.len() + 1;
    Some(Event {
        comm: line[..comm_end].trim(),
        pid,
        micros: seconds * 1e6,
        name,
        args: line.get(args_start..).unwrap_or("").trim(),
    })
}

/// Whether an exit event returned something: bytes or messages, not 0 (end of file)
/// or `-errno` (`EAGAIN` from a socket polled empty).
fn succeeded(event: &Event) -> bool {
    let value = event.args.trim_start_matches("0x");
    u64::from_str_radix(value, 16).is_ok_and(|v| (1..1 << 32).contains(&v))
}

/// A socket send starting (UDP, or TCP for the WebSockets).
fn sends(event: &Event) -> bool {
    matches!(
        event.name,
        "sys_enter_sendmsg" | "sys_enter_sendto" | "sys_enter_writev"
    )
}

/// A socket receive that got something.
fn receives(event: &Event) -> bool {
    matches!(event.name, "sys_exit_recvmmsg" | "sys_exit_recvfrom") && succeeded(event)
}

/// `count` of an enter event of `write`.
fn write_count(event: &Event) -> Option<u64> {
    let (_, count) = event.args.split_once("count: ")?;
    u64::from_str_radix(count.trim().trim_start_matches("0x"), 16).ok()
}

/// Which session and viewer a tick went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Path {
    OursWebSocket,
    OursWebTransport,
    Naive,
}

impl Path {
    pub fn label(self) -> &'static str {
        match self {
            Path::OursWebSocket => "ours -> WebSocket",
            Path::OursWebTransport => "ours -> WebTransport",
            Path::Naive => "naive",
        }
    }
}

/// The stretches of one tick, in microseconds.
pub const STRETCHES: [&str; 6] = [
    "ticker write -> the wrapper's PTY read",
    "PTY read -> the wrapper's send",
    "send -> the relay's receive",
    "the relay's receive -> its send",
    "relay send -> the viewer's receive",
    "ticker write -> the viewer's receive",
];

/// A tick line is longer than anything else the ticker writes (its start and end lines).
const MIN_TICK_WRITE: u64 = 17;

/// The stretches of every tick that went the whole way, by path.
pub fn ticks(trace: &str, pids: Pids) -> BTreeMap<Path, Vec<[f64; 6]>> {
    let mut events: Vec<Event> = trace.lines().filter_map(parse).collect();
    events.sort_by(|a, b| a.micros.total_cmp(&b.micros));
    let starts: Vec<usize> = (0..events.len())
        .filter(|&i| {
            let e = &events[i];
            e.comm == "bench-workload"
                && e.name == "sys_enter_write"
                && write_count(e).is_some_and(|n| n >= MIN_TICK_WRITE)
        })
        .collect();
    let mut by_path: BTreeMap<Path, Vec<[f64; 6]>> = BTreeMap::new();
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(events.len());
        if let Some((path, stretches)) = tick(&events[start..end], pids) {
            by_path.entry(path).or_default().push(stretches);
        }
    }
    by_path
}

/// One tick's events, from its write to the next tick's.
fn tick(events: &[Event], pids: Pids) -> Option<(Path, [f64; 6])> {
    let written = events.first()?.micros;
    // The naive relay is `baseline-relay` too (`serve`), and so is its main thread's name.
    let wrapper =
        |e: &Event| (e.comm == "share" || e.comm == "baseline-relay") && e.pid != pids.naive_relay;
    let mut rest = events.iter().skip(1);
    let read = rest.find(|e| wrapper(e) && e.name == "sys_exit_read" && succeeded(e))?;
    let naive = read.comm == "baseline-relay";
    let sent = rest.find(|e| wrapper(e) && sends(e))?;
    let relay = if naive { pids.naive_relay } else { pids.relay };
    let received = rest.find(|e| e.pid == relay && receives(e))?;
    let forwarded = rest.find(|e| e.pid == relay && sends(e))?;
    let shown = rest.find(|e| e.pid == pids.viewer && receives(e))?;
    let path = match (naive, shown.name) {
        (true, _) => Path::Naive,
        (false, "sys_exit_recvmmsg") => Path::OursWebTransport,
        (false, _) => Path::OursWebSocket,
    };
    let times = [read, sent, received, forwarded, shown].map(|e| e.micros - written);
    Some((
        path,
        [
            times[0],
            times[1] - times[0],
            times[2] - times[1],
            times[3] - times[2],
            times[4] - times[3],
            times[4],
        ],
    ))
}

/// The median of each stretch (NaN without ticks).
pub fn medians(ticks: &[[f64; 6]]) -> [f64; 6] {
    std::array::from_fn(|stretch| {
        let values: Vec<f64> = ticks.iter().map(|t| t[stretch]).collect();
        median(&values).unwrap_or(f64::NAN)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIDS: Pids = Pids {
        relay: 20,
        naive_relay: 30,
        viewer: 40,
    };

    fn line(comm: &str, pid: u32, us: u64, event: &str, args: &str) -> String {
        let seconds = us as f64 / 1e6;
        format!("{comm:>16} {pid}/{pid} {seconds:.6}: syscalls:{event}: {args}")
    }

    #[test]
    fn trace_lines_parse_with_spaces_in_names() {
        let text =
            "  tokio-rt-worker 13640/13641 60561.554785:         syscalls:sys_exit_recvmmsg: 0x1";
        let event = parse(text).unwrap();
        assert_eq!(event.comm, "tokio-rt-worker");
        assert_eq!(event.pid, 13640);
        assert_eq!(event.name, "sys_exit_recvmmsg");
        assert_eq!(event.args, "0x1");
        assert!((event.micros - 60561554785.0).abs() < 1.0);
        let spaced = parse(
            "memfd:sealed 91 11996/11996 1.000001: syscalls:sys_enter_write: fd: 0x4, count: 0x8",
        )
        .unwrap();
        assert_eq!(spaced.comm, "memfd:sealed 91");
        assert_eq!(write_count(&spaced), Some(8));
        assert!(parse("not a trace line").is_none());
    }

    #[test]
    fn a_tick_is_split_into_its_stretches_and_failed_calls_do_not_count() {
        let tick_write = "fd: 0x1, buf: 0x5, count: 0x1b";
        let trace = [
            line("bench-workload", 10, 1000, "sys_enter_write", tick_write),
            line("share", 11, 1040, "sys_exit_read", "0x0"),
            line("share", 11, 1050, "sys_exit_read", "0x1c"),
            line("share", 11, 1100, "sys_enter_sendmsg", "fd: 0x9"),
            line("relay", 20, 1130, "sys_exit_recvmmsg", "0xfffffffffffffff5"),
            line("relay", 20, 1160, "sys_exit_recvmmsg", "0x1"),
            line("relay", 20, 1200, "sys_enter_sendto", "fd: 0xc"),
            line("bench", 40, 1290, "sys_exit_recvfrom", "0x48"),
            // The next tick, through the naive pair, over the same stretches.
            line("bench-workload", 10, 2000, "sys_enter_write", tick_write),
            line("baseline-relay", 12, 2100, "sys_exit_read", "0x1c"),
            line("baseline-relay", 12, 2150, "sys_enter_sendto", "fd: 0x3"),
            line("baseline-relay", 30, 2200, "sys_exit_recvfrom", "0x22"),
            line("baseline-relay", 30, 2210, "sys_enter_sendto", "fd: 0x8"),
            line("bench", 40, 2260, "sys_exit_recvfrom", "0x1e"),
            // A tick the viewer never got is left out.
            line("bench-workload", 10, 3000, "sys_enter_write", tick_write),
            line("share", 11, 3050, "sys_exit_read", "0x1c"),
        ]
        .join("\n");
        let ticks = ticks(&trace, PIDS);
        assert_eq!(
            ticks[&Path::OursWebSocket],
            vec![[50.0, 50.0, 60.0, 40.0, 90.0, 290.0]]
        );
        assert_eq!(
            ticks[&Path::Naive],
            vec![[100.0, 50.0, 50.0, 10.0, 50.0, 260.0]]
        );
        assert!(!ticks.contains_key(&Path::OursWebTransport));
    }

    #[test]
    fn medians_are_taken_per_stretch() {
        let ticks = [[1.0; 6], [3.0; 6], [2.0, 9.0, 2.0, 2.0, 2.0, 2.0]];
        assert_eq!(medians(&ticks), [2.0, 3.0, 2.0, 2.0, 2.0, 2.0]);
    }
}
