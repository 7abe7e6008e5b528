//! Whether this machine can run emulated links, so tests can skip with a reason instead of
//! failing where they lack privileges.

use std::{
    path::Path,
    process::{Command, Stdio},
};

/// Why emulated links cannot run here, or `None` when they can (root, `/dev/net/tun`, `ip`).
pub fn unavailable_reason() -> Option<String> {
    let euid = nix::unistd::geteuid();
    if !euid.is_root() {
        return Some(format!("netem needs root (running as uid {euid})"));
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("netem needs /dev/net/tun".to_owned());
    }
    let ip = Command::new("ip")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !ip.is_ok_and(|s| s.success()) {
        return Some("netem needs the `ip` command (iproute2)".to_owned());
    }
    None
}
