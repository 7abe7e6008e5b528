//! The `dev-certs` binary writes a usable set, keeps it on a second run and replaces
//! a broken one.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn run(dir: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_dev-certs"))
        .arg(dir)
        .output()
        .expect("run dev-certs");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "dev-certs failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The fingerprint of cert.pem, checked against what the binary printed.
fn fingerprint_on_disk(dir: &Path, stdout: &str) -> String {
    let (chain, _) = certs::load_pem(&dir.join("cert.pem"), &dir.join("key.pem")).unwrap();
    let hex = certs::fingerprint_hex(&chain[0]);
    assert!(
        stdout.contains(&hex),
        "fingerprint {hex} not printed:\n{stdout}"
    );
    hex
}

#[test]
fn second_run_keeps_the_set() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nested/dev");

    let first = run(&dir);
    for name in ["ca.pem", "cert.pem", "key.pem"] {
        assert!(dir.join(name).is_file(), "{name} missing");
    }
    let mode = fs::metadata(dir.join("key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let fp = fingerprint_on_disk(&dir, &first);
    let ca = certs::load_certs(&dir.join("ca.pem")).unwrap();
    let (chain, _) = certs::load_pem(&dir.join("cert.pem"), &dir.join("key.pem")).unwrap();
    certs::verify_server_cert(&ca, &chain, "localhost").unwrap();

    // The printed commands are usable as is.
    let cert_path = dir.canonicalize().unwrap().join("cert.pem");
    assert!(
        first.contains(&format!("--cert {}", cert_path.display())),
        "{first}"
    );
    let spki = certs::spki_fingerprint_base64(&chain[0]).unwrap();
    assert!(
        first.contains(&format!("--ignore-certificate-errors-spki-list={spki}")),
        "{first}"
    );

    let ca_before = fs::read(dir.join("ca.pem")).unwrap();
    let second = run(&dir);
    assert!(second.contains("Keeping"), "{second}");
    assert_eq!(fingerprint_on_disk(&dir, &second), fp);
    assert_eq!(fs::read(dir.join("ca.pem")).unwrap(), ca_before);
}

#[test]
fn broken_set_is_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let first = run(dir);
    let fp = fingerprint_on_disk(dir, &first);

    // A key from some other certificate: the set no longer matches.
    let other = certs::webtransport_cert(
        &certs::localhost_sans(),
        std::time::Duration::from_secs(3600),
    )
    .unwrap();
    fs::write(dir.join("key.pem"), &other.key_pem).unwrap();
    let second = run(dir);
    assert!(second.contains("Replacing"), "{second}");
    let new_fp = fingerprint_on_disk(dir, &second);
    assert_ne!(new_fp, fp);
    let mode = fs::metadata(dir.join("key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}
