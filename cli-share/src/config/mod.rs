//! What `share` runs with: each setting from its flag, else its environment variable, else
//! the config file ([`file`]), else its default; `share --print-config` shows each one and
//! where it came from. The host key is read here, from a file only its owner can read, and
//! never shown.

mod file;

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::ValueEnum;

use crate::cli::{Given, GivenAs, HostArgs, TrustArgs};
pub use file::ConfigFile;
use file::Setting;

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Given(GivenAs),
    File { path: PathBuf, line: usize },
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Given(GivenAs::Flag(flag)) => write!(f, "flag {flag}"),
            Origin::Given(GivenAs::Env(variable)) => write!(f, "env {variable}"),
            Origin::File { path, line } => write!(f, "file {}, line {line}", path.display()),
            Origin::Default => f.write_str("default"),
        }
    }
}

/// One setting as `--print-config` shows it.
#[derive(Debug)]
pub struct Shown {
    pub name: &'static str,
    pub value: String,
    pub origin: Origin,
}

/// The settings that apply, and what to tell the user before starting.
#[derive(Debug, Default)]
pub struct Applied {
    /// Where the config file is, and whether it exists.
    pub file: String,
    pub shown: Vec<Shown>,
    /// Loud notes: a setting from the file the user may have forgotten is there.
    pub notes: Vec<String>,
}

/// Gives the host's arguments what the config file says where no flag or variable did, and
/// reads the host key from its file.
pub fn apply_host(
    args: &mut HostArgs,
    given: &Given,
    file: &ConfigFile,
) -> anyhow::Result<Applied> {
    let mut applied = Applied {
        file: match (&file.path, file.found) {
            (Some(path), true) => path.display().to_string(),
            (Some(path), false) => format!("{} (none there)", path.display()),
            (None, _) => "none ($XDG_CONFIG_HOME and $HOME are unset)".into(),
        },
        ..Applied::default()
    };
    let origin = layer(given.get("relay"), &file.relay, file, |url| {
        args.relay = Some(url.clone());
    });
    let relay = match &args.relay {
        Some(url) => url.to_string(),
        None => "none: a relay in this process, on loopback".into(),
    };
    applied.show("relay", relay, origin);
    let origin = layer(
        given.get("transport"),
        &file.transport,
        file,
        |&transport| {
            args.transport = transport;
        },
    );
    let transport = args.transport.to_possible_value();
    let transport = transport.map_or_else(String::new, |value| value.get_name().to_owned());
    applied.show("transport", transport, origin);
    // --no-collab overrides --collab (clap keeps the last) and the file.
    let collab_given = given.get("no_collab").or_else(|| given.get("collab"));
    let origin = layer(collab_given, &file.collab, file, |&collab| {
        args.collab = collab
    });
    applied.show("collab", args.collab.to_string(), origin);
    let (key, origin) = host_key(args, given, file)?;
    applied.show("host key", key, origin);
    applied.trust(&mut args.trust, given, file);
    Ok(applied)
}

/// Gives `share watch` the config file's trust settings where no flag did.
pub fn apply_watch(trust: &mut TrustArgs, given: &Given, file: &ConfigFile) -> Applied {
    let mut applied = Applied::default();
    applied.trust(trust, given, file);
    applied
}

impl Applied {
    fn show(&mut self, name: &'static str, value: String, origin: Origin) {
        self.shown.push(Shown {
            name,
            value,
            origin,
        });
    }

    fn trust(&mut self, trust: &mut TrustArgs, given: &Given, file: &ConfigFile) {
        let origin = layer(given.get("ca"), &file.ca, file, |files| {
            trust.ca = files.clone();
        });
        let files: Vec<_> = trust
            .ca
            .iter()
            .map(|file| file.display().to_string())
            .collect();
        let files = if files.is_empty() {
            "none (the system's roots and $SSL_CERT_FILE)".into()
        } else {
            files.join(", ")
        };
        self.show("ca", files, origin);
        let origin = layer(given.get("insecure"), &file.insecure, file, |&insecure| {
            trust.insecure = insecure;
        });
        if let (true, Origin::File { path, line }) = (trust.insecure, &origin) {
            self.notes.push(format!(
                "NOTE: `insecure = true` in {}, line {line}: a plain http:// relay off this \
                 machine is allowed, and a session through one travels in clear text: anyone \
                 on the network can watch it and take it over. Remove that line unless you \
                 test on a network you trust.",
                path.display()
            ));
        }
        self.show("insecure", trust.insecure.to_string(), origin);
        let origin = given
            .get("relay_quic")
            .map_or(Origin::Default, Origin::Given);
        let endpoint = trust
            .relay_quic
            .as_deref()
            .unwrap_or("none: as /api/info says");
        self.show("relay-quic", endpoint.into(), origin);
    }
}

/// Where a setting comes from: what the user gave, else the file's value (handed to
/// `apply`), else its default.
fn layer<T>(
    given: Option<GivenAs>,
    setting: &Option<Setting<T>>,
    file: &ConfigFile,
    apply: impl FnOnce(&T),
) -> Origin {
    match (given, setting) {
        (Some(given), _) => Origin::Given(given),
        (None, Some(setting)) => {
            apply(&setting.value);
            file.origin(setting)
        }
        (None, None) => Origin::Default,
    }
}

/// Reads the host key from where the user put it: a flag over a variable, `--host-key`
/// over `--host-key-file` (their variables likewise), else the file's `host_key_file`.
/// Returns how to show it, never the key.
fn host_key(
    args: &mut HostArgs,
    given: &Given,
    file: &ConfigFile,
) -> anyhow::Result<(String, Origin)> {
    let rank = |given: &Option<GivenAs>| match given {
        Some(GivenAs::Flag(_)) => 0,
        Some(GivenAs::Env(_)) => 1,
        None => 2,
    };
    let as_value = given.get("host_key");
    let as_file = given.get("host_key_file");
    let (value_rank, file_rank) = (rank(&as_value), rank(&as_file));
    if value_rank == 0 && file_rank == 0 {
        bail!("give --host-key or --host-key-file, not both");
    }
    let (path, origin) = match (as_value, as_file.zip(args.host_key_file.clone())) {
        (Some(value), _) if value_rank <= file_rank => {
            return Ok(("set (hidden)".into(), Origin::Given(value)));
        }
        (_, Some((given, path))) => (path, Origin::Given(given)),
        (_, None) => match &file.host_key_file {
            Some(setting) => (setting.value.clone(), file.origin(setting)),
            None => return Ok(("none".into(), Origin::Default)),
        },
    };
    args.host_key = Some(read_host_key(&path)?);
    Ok((format!("read from {} (hidden)", path.display()), origin))
}

/// The key in `path`, which must be private: the whole file but surrounding whitespace.
fn read_host_key(path: &Path) -> anyhow::Result<String> {
    let bytes = relay::read_secret_file(path).context("the host key")?;
    let key = String::from_utf8(bytes)
        .ok()
        .map(|text| text.trim().to_owned())
        .filter(|key| !key.is_empty() && !key.contains(char::is_whitespace));
    key.with_context(|| {
        format!(
            "the host key file {} must hold one key, on one line",
            path.display()
        )
    })
}

impl fmt::Display for Applied {
    /// What `--print-config` prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const FILE: &str = "config file";
        let names = self.shown.iter().map(|s| s.name.len());
        let width = names.max().unwrap_or(0).max(FILE.len());
        writeln!(f, "{FILE:width$}  {}", self.file)?;
        for shown in &self.shown {
            writeln!(
                f,
                "{:width$}  {}  ({})",
                shown.name, shown.value, shown.origin
            )?;
        }
        for note in &self.notes {
            writeln!(f, "{note}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::Invocation;
    use crate::cli::HostTransportChoice;

    fn file(dir: &Path, text: &str) -> ConfigFile {
        ConfigFile::parse(&dir.join("config.toml"), text, None).expect("a valid file")
    }

    /// The host's arguments for `flags` under `config`, and what `--print-config` prints.
    fn host(flags: &[&str], config: &ConfigFile) -> anyhow::Result<(HostArgs, String)> {
        let invocation = Invocation::try_parse_from([&["share"], flags].concat())?;
        let mut args = invocation.cli.host;
        let applied = apply_host(&mut args, &Given::host(&invocation.matches), config)?;
        Ok((args, applied.to_string()))
    }

    /// Asserts that `printed` shows `name` with a line ending in `ending`.
    fn shows(printed: &str, name: &str, ending: &str) {
        let prefix = format!("{name} ");
        let line = printed.lines().find(|line| line.starts_with(&prefix));
        assert!(
            line.is_some_and(|line| line.ends_with(ending)),
            "{name}: {printed}"
        );
    }

    #[test]
    fn flags_override_the_file_which_overrides_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let config = file(
            dir.path(),
            "relay = \"https://file.example\"\ncollab = true\ntransport = \"ws\"\nca = [\"ca.pem\"]\n",
        );
        let (args, printed) = host(&[], &config).unwrap();
        assert_eq!(args.relay.unwrap().as_str(), "https://file.example/");
        assert!(args.collab);
        assert_eq!(args.transport, HostTransportChoice::Ws);
        assert_eq!(args.trust.ca, [dir.path().join("ca.pem")]);
        shows(&printed, "relay", "config.toml, line 1)");
        shows(&printed, "collab", "line 2)");
        shows(&printed, "insecure", "(default)");
        assert!(printed.starts_with(&format!("config file  {}", dir.path().display())));

        let flags = [
            "--relay",
            "https://flag.example",
            "--no-collab",
            "--transport",
            "quic",
            "--ca",
            "/flag-ca.pem",
        ];
        let (args, printed) = host(&flags, &config).unwrap();
        assert_eq!(args.relay.unwrap().as_str(), "https://flag.example/");
        assert!(!args.collab);
        assert_eq!(args.transport, HostTransportChoice::Quic);
        assert_eq!(args.trust.ca, [Path::new("/flag-ca.pem")]);
        shows(&printed, "relay", "(flag --relay)");
        shows(&printed, "collab", "(flag --no-collab)");
        shows(&printed, "ca", "(flag --ca)");

        let (args, printed) = host(&[], &ConfigFile::default()).unwrap();
        assert!(args.relay.is_none() && !args.collab);
        shows(&printed, "relay", "(default)");
    }

    #[test]
    fn the_host_key_is_read_from_a_private_file_and_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("host-key");
        std::fs::write(&key_file, "  the-secret-key\n").unwrap();
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let config = file(dir.path(), "host_key_file = \"host-key\"\n");
        let (args, printed) = host(&[], &config).unwrap();
        assert_eq!(args.host_key.as_deref(), Some("the-secret-key"));
        shows(&printed, "host key", "config.toml, line 1)");

        let (args, printed) = host(&["--host-key", "flag-secret"], &config).unwrap();
        assert_eq!(args.host_key.as_deref(), Some("flag-secret"));
        shows(&printed, "host key", "(flag --host-key)");
        for secret in ["the-secret-key", "flag-secret"] {
            assert!(!printed.contains(secret), "{printed}");
        }

        let both = ["--host-key", "k", "--host-key-file", "f"];
        let error = host(&both, &config).unwrap_err().to_string();
        assert!(error.contains("not both"), "{error}");

        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o640)).unwrap();
        let error = format!("{:#}", host(&[], &config).unwrap_err());
        assert!(
            error.contains(&format!("chmod 600 {}", key_file.display())),
            "{error}"
        );
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&key_file, "two\nkeys\n").unwrap();
        let error = format!("{:#}", host(&[], &config).unwrap_err());
        assert!(error.contains("one key, on one line"), "{error}");
    }

    #[test]
    fn insecure_from_the_file_comes_with_a_loud_note() {
        let dir = tempfile::tempdir().unwrap();
        let config = file(dir.path(), "\ninsecure = true\n");
        let invocation = Invocation::try_parse_from(["share"]).unwrap();
        let mut args = invocation.cli.host;
        let applied = apply_host(&mut args, &Given::host(&invocation.matches), &config).unwrap();
        assert!(args.trust.insecure);
        assert_eq!(applied.notes.len(), 1);
        assert!(applied.notes[0].contains("line 2"), "{:?}", applied.notes);
        assert!(
            applied.notes[0].contains("clear text"),
            "{:?}",
            applied.notes
        );

        let watch = Invocation::try_parse_from(["share", "watch", "https://r/s/x#t"]).unwrap();
        let Some(crate::cli::Action::Watch(mut args)) = watch.cli.action else {
            panic!("a watch");
        };
        let given = Given::watch(&watch.matches).expect("a watch");
        let applied = apply_watch(&mut args.trust, &given, &config);
        assert!(args.trust.insecure && applied.notes.len() == 1);
    }
}
