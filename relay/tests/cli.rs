//! The `relay` binary off loopback, end to end: plain HTTP is refused until
//! `--insecure-http`, a relay without host keys until `--open`, each refusal exits 2 and
//! names the fix, and a start with consent says on every start what was consented to.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const RELAY: &str = env!("CARGO_BIN_EXE_relay");
/// Generous: the machine is shared and loaded.
const START: Duration = Duration::from_secs(30);

/// Every address a test relay binds: reachable from elsewhere (port 0: any free one).
const EVERYWHERE: &str = "0.0.0.0:0";

fn relay(args: &[&str]) -> Command {
    let mut command = Command::new(RELAY);
    command
        .args(["--quic", "127.0.0.1:0", "--log", "error"])
        .args(args)
        .env_clear()
        .stdin(Stdio::null());
    command
}

fn refused(args: &[&str]) -> String {
    let Output { status, stderr, .. } = relay(args).output().expect("run relay");
    let stderr = String::from_utf8_lossy(&stderr).into_owned();
    assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
    stderr
}

/// Starts the relay, waits for its start line, stops it: what it printed on stderr.
fn started(args: &[&str]) -> String {
    let mut child: Child = relay(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run relay");
    let stdout = child.stdout.take().expect("stdout");
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let start_line = loop {
        match received.recv_timeout(START) {
            Ok(line) if line.starts_with("relay listening") => break Ok(line),
            Ok(_) => continue,
            Err(e) => break Err(e),
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    let mut stderr = String::new();
    let _ = child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr);
    if let Err(e) = start_line {
        panic!("{args:?}: no start line ({e}): {stderr}");
    }
    stderr
}

#[test]
fn off_loopback_the_relay_starts_only_with_consent_and_says_so() {
    let plain = refused(&["--http", EVERYWHERE, "--host-key", "k"]);
    assert!(
        plain.contains("refusing plain HTTP on 0.0.0.0:0"),
        "{plain}"
    );
    for fix in [
        "--acme DOMAIN",
        "--cert/--key",
        "127.0.0.1",
        "--insecure-http",
    ] {
        assert!(plain.contains(fix), "{fix} missing in: {plain}");
    }

    let open = refused(&["--http", EVERYWHERE, "--insecure-http"]);
    assert!(
        open.contains("refusing to let anyone create sessions"),
        "{open}"
    );
    for fix in ["--host-key KEY", "--host-key-file FILE", "--open"] {
        assert!(open.contains(fix), "{fix} missing in: {open}");
    }

    let lan = started(&["--http", EVERYWHERE, "--insecure-http", "--open"]);
    assert!(
        lan.contains("neither QUIC nor WebTransport") && lan.contains("can read the traffic"),
        "{lan}"
    );
    assert!(
        lan.contains("anyone who reaches it may create sessions"),
        "{lan}"
    );

    let loopback = started(&["--http", "127.0.0.1:0"]);
    assert!(!loopback.contains("warning"), "{loopback}");

    let both = refused(&[
        "--http",
        EVERYWHERE,
        "--insecure-http",
        "--cert",
        "c.pem",
        "--key",
        "k.pem",
    ]);
    assert!(both.contains("cannot be used with"), "{both}");
}

/// A configuration refused after the flags parsed (a short secret, a secret file others
/// may read) exits 2 as a refused flag does, which the systemd unit does not restart.
#[test]
fn refused_secrets_exit_2_with_the_fix() {
    let short = refused(&["--jwt-secret", "short"]);
    assert!(short.contains("at least 16 bytes"), "{short}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret");
    std::fs::write(&path, "a secret of more than sixteen bytes").unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let readable = refused(&["--jwt-secret-file", path.to_str().unwrap()]);
    assert!(readable.contains("chmod 600"), "{readable}");
}
