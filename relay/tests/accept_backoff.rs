//! The `relay` binary out of file descriptors: accept fails at once for as long as none is
//! freed, and an accept loop that retried at once would spin a core. It backs off instead,
//! counts the failures, and accepts again once descriptors are free.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// File descriptors the relay may have: a few dozen connections' worth.
const FD_LIMIT: u32 = 64;

struct Relay {
    child: Child,
    http: String,
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Relay {
    let relay = env!("CARGO_BIN_EXE_relay");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n {FD_LIMIT} && exec {relay} --http 127.0.0.1:0 --quic 127.0.0.1:0 \
             --header-timeout 60s --log error"
        ))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("relay starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("ready line");
    let http = line
        .split_whitespace()
        .find_map(|word| word.strip_prefix("http=http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    Relay { child, http }
}

/// CPU time of `pid` so far, in clock ticks (USER_HZ, 100 a second on Linux).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |dir| dir.count())
}

fn get(addr: &str, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

#[test]
fn out_of_file_descriptors_the_accept_loop_backs_off_and_recovers() {
    let relay = start();
    // More connections than the relay has descriptors: the kernel completes them into the
    // listen backlog, and the relay's accepts fail with EMFILE.
    let held: Vec<TcpStream> = (0..2 * FD_LIMIT)
        .map(|_| TcpStream::connect(&relay.http).expect("connect"))
        .collect();
    let pid = relay.child.id();
    let deadline = Instant::now() + Duration::from_secs(20);
    while open_fds(pid) < FD_LIMIT as usize {
        assert!(
            Instant::now() < deadline,
            "the relay never ran out of descriptors"
        );
        std::thread::sleep(Duration::from_millis(10)); // poll interval
    }
    let (ticks, started) = (cpu_ticks(pid), Instant::now());
    std::thread::sleep(Duration::from_secs(2)); // the measurement window, not a wait
    let cores = (cpu_ticks(pid) - ticks) as f64 / 100.0 / started.elapsed().as_secs_f64();
    println!("relay CPU while out of descriptors: {cores:.3} cores");
    assert!(cores < 0.2, "the accept loop spins: {cores:.3} cores");

    drop(held);
    let deadline = Instant::now() + Duration::from_secs(20);
    let metrics = loop {
        match get(&relay.http, "/metrics") {
            Ok(response) if response.starts_with("HTTP/1.1 200") => break response,
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            other => panic!("the relay did not recover: {other:?}"),
        }
    };
    let errors: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("relay_accept_errors_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("relay_accept_errors_total");
    assert!(errors >= 1, "failed accepts are counted");
}
