//! What `share` and `share watch` refuse before they send anything, as the user meets it:
//! a plain-HTTP relay off this machine exits 2 naming the fix, and so does an unusable
//! `--ca` or `--relay-quic`. The quick start (the embedded relay on loopback) needs none of
//! it: the other tests of this package run it.

mod common;

use std::process::{Command, Output, Stdio};

use common::SHARE;

/// TEST-NET-1: nothing answers there, so a refusal is the only quick way out.
const REMOTE_HTTP: &str = "http://192.0.2.1:8080";

fn share(args: &[&str]) -> Output {
    Command::new(SHARE)
        .args(args)
        .env_remove("SHARE_RELAY")
        .env_remove("SSL_CERT_FILE")
        .stdin(Stdio::null())
        .output()
        .expect("share runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_plain_http_relay_off_loopback_exits_2_naming_the_fix() {
    let relay_link = format!("{REMOTE_HTTP}/s/AAAAAAAAAAAAAAAAAAAAAA#a.b.c");
    let link = protocol::e2e::ShareSecrets::generate(false).read_link(&relay_link);
    for output in [
        share(&["--relay", REMOTE_HTTP, "--now", "--", "true"]),
        share(&["watch", &link, "--dump"]),
    ] {
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        let why = stderr(&output);
        assert!(why.contains("plain http://"), "{why}");
        assert!(
            why.contains("https://") && why.contains("--insecure"),
            "{why}"
        );
    }
}

#[test]
fn unusable_trust_settings_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("not-a-ca.pem");
    std::fs::write(&not_pem, "not a certificate\n").unwrap();
    let missing = dir.path().join("missing.pem");
    for (args, expected) in [
        (vec!["--ca", not_pem.to_str().unwrap()], "not-a-ca.pem"),
        (vec!["--ca", missing.to_str().unwrap()], "missing.pem"),
        (vec!["--relay-quic", "no-port"], "--relay-quic"),
    ] {
        let mut all = args.clone();
        all.extend(["--now", "--", "true"]);
        let output = share(&all);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        assert!(stderr(&output).contains(expected), "{args:?}: {output:?}");
    }
}
