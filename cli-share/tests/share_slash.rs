//! `/share` typed at the start of a line is the wrapper's; everything else reaches the
//! child unchanged (`//` sends one `/`), checked on what the child actually received.

mod common;

use common::Host;

fn child_received(args: &[&str], typed: &str, shares: bool) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let received = dir.path().join("received");
    let script = format!("cat > {}", received.display());
    let mut command: Vec<&str> = args.to_vec();
    command.extend(["--", "sh", "-c", &script]);
    let mut host = Host::start(&command);
    host.type_text(typed);
    if shares {
        host.stderr
            .wait_for("the link", |text| text.contains("read-only link:"));
    }
    // End of input: the child sees end of file and exits.
    drop(host.stdin.take());
    assert_eq!(host.wait(), 0, "stderr: {}", host.stderr.text());
    (
        std::fs::read_to_string(&received).unwrap(),
        host.stderr.text(),
    )
}

#[test]
fn share_is_intercepted_while_other_slashes_pass_through() {
    let (got, notices) = child_received(&[], "/tmp\n//x\n/share\nsay /share\n/sharp\n", true);
    assert_eq!(got, "/tmp\n/x\nsay /share\n/sharp\n");
    assert!(notices.contains("read-only link:"), "{notices}");
}

#[test]
fn no_slash_turns_interception_off() {
    let (got, notices) = child_received(&["--no-slash"], "/share\n//x\n", false);
    assert_eq!(got, "/share\n//x\n");
    assert!(!notices.contains("link:"), "{notices}");
}
