//! The `share` and `relay` binaries as people set them up: `share --print-config` saying
//! where each setting comes from (flag, environment, config file, default) and refusing a
//! malformed file by its line, a `share --record` recording that is whole after a SIGTERM,
//! and the shell completions and man pages both binaries generate.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use e2e::lab::{Watched, workspace_binary};

/// Generous bound for anything that should happen "soon" on a loaded machine.
const T: Duration = Duration::from_secs(60);

/// `share ARGS...` with an environment of the test's only: `vars`, and a home whose config
/// directory is `config_home`.
fn share(args: &[&str], config_home: &Path, vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(workspace_binary("share").unwrap());
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", config_home)
        .env("XDG_CONFIG_HOME", config_home)
        .envs(vars.iter().copied());
    command
}

fn run(mut command: Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("the binary runs");
    let text = |bytes| String::from_utf8(bytes).expect("UTF-8");
    (status.code().unwrap_or(-1), text(stdout), text(stderr))
}

#[test]
fn print_config_says_where_each_setting_comes_from_and_shows_no_secret() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("share");
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("host-key");
    std::fs::write(&key_file, "file-secret-key\n").unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        "relay = \"https://relay.example\"\ncollab = true\nhost_key_file = \"host-key\"\n\
         insecure = true\n",
    )
    .unwrap();

    let vars = [
        ("SHARE_TRANSPORT", "ws"),
        ("SHARE_HOST_KEY", "env-secret-key"),
    ];
    let (code, printed, _) = run(share(
        &["--print-config", "--no-collab"],
        home.path(),
        &vars,
    ));
    assert_eq!(code, 0, "{printed}");
    let file = config.display();
    for shown in [
        format!("https://relay.example/  (file {file}, line 1)"),
        "ws  (env SHARE_TRANSPORT)".into(),
        "false  (flag --no-collab)".into(),
        "set (hidden)  (env SHARE_HOST_KEY)".into(),
        format!("true  (file {file}, line 4)"),
        "$SSL_CERT_FILE)  (default)".into(),
    ] {
        assert!(printed.contains(&shown), "{shown:?} in:\n{printed}");
    }
    assert!(printed.contains("NOTE: `insecure = true`"), "{printed}");
    for secret in ["env-secret-key", "file-secret-key"] {
        assert!(!printed.contains(secret), "{printed}");
    }

    // The file's key when no flag or variable gives one; a key file others can read is
    // refused with its fix.
    let (code, printed, _) = run(share(&["--print-config"], home.path(), &[]));
    assert_eq!(code, 0, "{printed}");
    let from_file = format!(
        "read from {} (hidden)  (file {file}, line 3)",
        key_file.display()
    );
    assert!(printed.contains(&from_file), "{printed}");
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, _, error) = run(share(&["--print-config"], home.path(), &[]));
    assert_eq!(code, 2);
    assert!(
        error.contains(&format!("chmod 600 {}", key_file.display())),
        "{error}"
    );

    std::fs::write(&config, "collab = true\nrelay = https://relay.example\n").unwrap();
    let (code, _, error) = run(share(&["--print-config"], home.path(), &[]));
    assert_eq!(code, 2);
    assert!(error.contains("line 2"), "{error}");
    assert!(error.contains(&config.display().to_string()), "{error}");
}

#[tokio::test]
async fn a_recording_is_whole_after_a_sigterm() {
    let home = tempfile::tempdir().unwrap();
    let recording = home.path().join("session.cast");
    let program = "echo recorded-$((6*7)); exec sleep 600";
    let args = [
        "--record",
        recording.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        program,
    ];
    let host = Watched::spawn("share", share(&args, home.path(), &[])).unwrap();
    // Printed once the host read it, which it hands to the recording first.
    host.wait_for("recorded-42", T).await.unwrap();
    let (status, lines) = host.terminate().await.unwrap();
    assert_eq!(status.code(), Some(128 + 15), "{lines:?}");
    let told = format!("share: recorded to {}", recording.display());
    assert!(lines.contains(&told), "{lines:?}");

    let text = std::fs::read_to_string(&recording).unwrap();
    let mut lines = text.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["version"], 2);
    assert_eq!(header["title"], format!("sh -c {program}"));
    let mut output = String::new();
    for line in lines {
        let (_, code, data): (f64, String, String) = serde_json::from_str(line).unwrap();
        if code == "o" {
            output += &data;
        }
    }
    assert!(output.contains("recorded-42"), "{text}");
    let mode = std::fs::metadata(&recording).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "a recording is private");
}

/// `binary ARGS...`, which must succeed: what it printed.
fn printed(binary: &str, args: &[&str]) -> String {
    let output = Command::new(workspace_binary(binary).unwrap())
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{binary} {args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// The long flags `binary ARGS... -h` lists (the short help: `--help` goes on to tell of
/// the `/share` lines' options).
fn flags(binary: &str, args: &[&str]) -> Vec<String> {
    let help = printed(binary, &[args, &["-h"]].concat());
    let mut flags: Vec<String> = help
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|word| word.starts_with("--") && word.len() > 2)
        .map(String::from)
        .collect();
    flags.sort();
    flags.dedup();
    flags
}

#[test]
fn completions_know_every_subcommand_and_flag() {
    for (binary, subcommands) in [
        ("share", &["watch", "completions", "man-pages"][..]),
        ("relay", &["completions", "man-pages"]),
    ] {
        let bash = printed(binary, &["completions", "bash"]);
        assert!(bash.contains(&format!("_{binary}()")), "{bash}");
        for word in subcommands
            .iter()
            .map(|s| s.to_string())
            .chain(flags(binary, &[]))
        {
            assert!(
                bash.contains(&word),
                "{binary}'s bash completion lacks {word}"
            );
        }
        for shell in ["zsh", "fish", "elvish", "powershell"] {
            assert!(printed(binary, &["completions", shell]).contains(binary));
        }
    }
    let watch = printed("share", &["completions", "bash"]);
    for flag in flags("share", &["watch"]) {
        assert!(
            watch.contains(&flag),
            "share watch's {flag} is not completed"
        );
    }
}

#[test]
fn man_pages_render_with_every_flag() {
    let dir = tempfile::tempdir().unwrap();
    printed("share", &["man-pages", dir.path().to_str().unwrap()]);
    printed("relay", &["man-pages", dir.path().to_str().unwrap()]);
    for (page, binary, args) in [
        ("share.1", "share", &[][..]),
        ("share-watch.1", "share", &["watch"]),
        ("share-completions.1", "share", &["completions"]),
        ("relay.1", "relay", &[]),
    ] {
        // Plain text, and wide enough that no flag is hyphenated across lines.
        let rendered = Command::new("man")
            .arg("-l")
            .arg(dir.path().join(page))
            .env("LC_ALL", "C")
            .env("MANWIDTH", "1000")
            .output()
            .expect("man (scripts/test-deps.sh installs man-db)");
        assert!(rendered.status.success(), "man -l {page}: {rendered:?}");
        let text = String::from_utf8_lossy(&rendered.stdout);
        for flag in flags(binary, args) {
            assert!(text.contains(&flag), "{page} lacks {flag}:\n{text}");
        }
    }
}
