//! A host (`share --now`) and watchers (`share watch`), real processes over the embedded
//! relay on loopback: output reaches watchers over both transports, collab input runs in
//! the host's shell, read-only input is refused, `/unshare` ends viewers, bad links fail.

mod common;

use common::{Host, spawn_watch, stdout, wait_child, watch};

#[test]
fn output_reaches_watchers_over_both_transports() {
    let (mut host, links) = Host::sharing(&[], &["sh"]);
    host.type_text("echo marker-$((6*7))\n");
    for transport in ["ws", "webtransport", "auto"] {
        let output = watch(
            &links.read,
            &[
                "--transport",
                transport,
                "--until",
                "marker-42",
                "--timeout",
                "30",
            ],
        );
        assert_eq!(output.status.code(), Some(0), "{transport}: {output:?}");
        assert!(stdout(&output).contains("marker-42"), "{transport}");
    }
}

#[test]
fn collab_input_runs_in_the_host_shell() {
    let dir = tempfile::tempdir().unwrap();
    let witness = dir.path().join("witness");
    let (_host, links) = Host::sharing(&["--collab"], &["sh"]);
    let collab = links.collab.expect("a collab link");
    let command = format!("echo hi > {}; echo written-$((2+3))\\r", witness.display());
    let sent = watch(&collab, &["--send", &command]);
    assert_eq!(sent.status.code(), Some(0), "{sent:?}");
    let seen = watch(&collab, &["--until", "written-5", "--timeout", "30"]);
    assert_eq!(seen.status.code(), Some(0), "{seen:?}");
    assert_eq!(std::fs::read_to_string(&witness).unwrap(), "hi\n");
}

#[test]
fn read_only_input_is_refused_and_never_reaches_the_child() {
    let dir = tempfile::tempdir().unwrap();
    let received = dir.path().join("received");
    let script = format!("cat > {}", received.display());
    let (mut host, links) = Host::sharing(&["--collab"], &["sh", "-c", &script]);
    let refused = watch(&links.read, &["--send", "leaked\\r"]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("read-only"));
    host.type_text("typed-by-host\n");
    drop(host.stdin.take());
    assert_eq!(host.wait(), 0);
    let got = std::fs::read_to_string(&received).unwrap();
    assert_eq!(got, "typed-by-host\n");
}

#[test]
fn unshare_ends_viewers() {
    let (mut host, links) = Host::sharing(&[], &["sh"]);
    let mut watcher = spawn_watch(
        &links.read,
        &["--until", "never-printed", "--timeout", "60"],
    );
    host.stderr
        .wait_for("the viewer to join", |text| text.contains("joined"));
    host.type_text("/unshare\n");
    assert_eq!(wait_child(&mut watcher), 3);
    let mut printed = String::new();
    std::io::Read::read_to_string(watcher.stdout.as_mut().unwrap(), &mut printed).unwrap();
    assert!(printed.contains("Session ended"), "{printed}");
    // The host keeps running its child after unsharing.
    host.type_text("echo still-$((1+1))-here\n");
    host.stdout
        .wait_for("the child", |text| text.contains("still-2-here"));
}

#[test]
fn bad_links_fail_with_the_reason() {
    let (_host, links) = Host::sharing(&[], &["sh"]);
    let (base, fragment) = links.read.split_once('#').unwrap();
    // The token's header changed; the keys after it intact.
    let forged = format!("{base}#x{fragment}");
    let output = watch(&forged, &["--transport", "ws", "--dump"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("403"),
        "{output:?}"
    );
    // The token alone, without the keys after it: refused before connecting.
    let token: String = fragment.split('.').take(3).collect::<Vec<_>>().join(".");
    let output = watch(&format!("{base}#{token}"), &["--dump"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("carries no key"), "{stderr}");
    let (prefix, _) = base.rsplit_once('/').unwrap();
    let unknown = format!("{prefix}/AAAAAAAAAAAAAAAAAAAAAA#{fragment}");
    let output = watch(&unknown, &["--transport", "ws", "--dump"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("403") || stderr.contains("404"), "{stderr}");
}
