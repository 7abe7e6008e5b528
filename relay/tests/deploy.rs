//! The deployment kit in `deploy/`: the systemd unit passes `systemd-analyze verify` (with
//! its ExecStart pointed at the relay just built, the one thing an installation changes)
//! and keeps a low sandbox exposure score; every `RELAY_*` variable the unit, its
//! environment file and the Containerfile set is one the relay reads; the Containerfile
//! builds in one stage and runs as an unprivileged user in another. (No container runtime
//! here: the image itself is not built by the tests.)

use std::path::{Path, PathBuf};
use std::process::Command;

const RELAY: &str = env!("CARGO_BIN_EXE_relay");
const INSTALLED: &str = "/usr/local/bin/relay";
/// `systemd-analyze security` rates exposure from 0 (locked down) to 10; 2 is "OK".
const MAX_EXPOSURE: f64 = 2.0;

fn deploy(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(deploy(name)).unwrap_or_else(|e| panic!("deploy/{name}: {e}"))
}

fn systemd_analyze(args: &[&str], unit: &Path) -> std::process::Output {
    Command::new("systemd-analyze")
        .args(args)
        .arg(unit)
        .output()
        .expect("systemd-analyze (Debian package systemd; scripts/test-deps.sh installs it)")
}

/// The unit as installed, but starting the binary under test.
fn unit_for_this_build(dir: &Path) -> PathBuf {
    let unit = read("share-relay.service");
    let exec = format!("ExecStart={INSTALLED} ");
    assert_eq!(
        unit.matches(&exec).count(),
        1,
        "one ExecStart of {INSTALLED}"
    );
    let path = dir.join("share-relay.service");
    std::fs::write(&path, unit.replace(&exec, &format!("ExecStart={RELAY} "))).unwrap();
    path
}

#[test]
fn the_systemd_unit_verifies_and_is_sandboxed() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_for_this_build(dir.path());
    let verified = systemd_analyze(&["verify"], &unit);
    let complaints = String::from_utf8_lossy(&verified.stderr);
    assert!(
        verified.status.success() && complaints.trim().is_empty(),
        "{complaints}"
    );

    let security = systemd_analyze(&["security", "--offline=yes"], &unit);
    let report = String::from_utf8_lossy(&security.stdout);
    let exposure: f64 = report
        .lines()
        .find_map(|line| {
            let (_, rest) = line.split_once("Overall exposure level for share-relay.service:")?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no exposure level in:\n{report}"));
    assert!(exposure <= MAX_EXPOSURE, "exposure {exposure}:\n{report}");

    let text = read("share-relay.service");
    for setting in [
        "DynamicUser=yes",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE\n",
        "StateDirectory=share-relay",
        "ProtectSystem=strict",
        "RestartPreventExitStatus=2",
    ] {
        assert!(text.contains(setting), "{setting} missing");
    }
}

/// `RELAY_*` names set in `text` (`NAME=value` wherever it stands).
fn variables(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .match_indices("RELAY_")
        .filter_map(|(at, _)| {
            let name: String = text[at..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            text[at + name.len()..].starts_with('=').then_some(name)
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn variables_are_found_wherever_they_are_set() {
    assert_eq!(
        variables("Environment=RELAY_A=1\n-e RELAY_B_2=x RELAY_C\nENV RELAY_D=y \\"),
        ["RELAY_A", "RELAY_B_2", "RELAY_D"]
    );
}

#[test]
fn the_kit_sets_only_variables_the_relay_reads() {
    let help = Command::new(RELAY).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for file in ["share-relay.service", "relay.env", "Containerfile"] {
        let names = variables(&read(file));
        assert!(!names.is_empty(), "{file} sets no RELAY_* variable");
        for name in names {
            assert!(
                help.contains(&format!("[env: {name}=")),
                "{file} sets {name}, which `relay --help` does not list"
            );
        }
    }
}

#[test]
fn the_container_builds_in_one_stage_and_runs_unprivileged_in_another() {
    let containerfile = read("Containerfile");
    let stages: Vec<&str> = containerfile
        .lines()
        .filter(|line| line.starts_with("FROM "))
        .collect();
    assert_eq!(stages.len(), 2, "{stages:?}");
    assert!(stages[0].ends_with(" AS build"), "{stages:?}");
    assert!(containerfile.contains("cargo build --release --locked -p relay"));
    assert!(
        containerfile.contains("COPY --from=build /src/target/release/relay /usr/local/bin/relay")
    );
    let user = containerfile
        .lines()
        .find_map(|line| line.strip_prefix("USER "))
        .expect("a USER");
    let uid: u32 = user
        .split(':')
        .next()
        .unwrap()
        .parse()
        .expect("a numeric uid");
    assert_ne!(uid, 0, "runs as root");
    let after_user = containerfile.split("\nUSER ").nth(1).unwrap();
    assert!(
        !after_user.contains("\nRUN "),
        "nothing runs as root after USER"
    );
}
