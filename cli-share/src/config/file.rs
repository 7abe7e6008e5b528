//! The config file, `$XDG_CONFIG_HOME/share/config.toml` (else
//! `~/.config/share/config.toml`): defaults for what people would otherwise type every time.
//! Each value keeps its line, for the errors and for `--print-config`; an unknown key is an
//! error, so a misspelt one is never silently ignored. Paths may start with `~/`, and a
//! relative one is taken from the file's directory.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;
use url::Url;

use super::Origin;
use crate::cli::HostTransportChoice;

/// A value from the file, with the line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting<T> {
    pub value: T,
    pub line: usize,
}

/// What the config file says; all `None` when there is none.
#[derive(Debug, Default)]
pub struct ConfigFile {
    /// Where it was looked for; `None` without `$XDG_CONFIG_HOME` and `$HOME`.
    pub path: Option<PathBuf>,
    pub found: bool,
    pub relay: Option<Setting<Url>>,
    pub transport: Option<Setting<HostTransportChoice>>,
    pub collab: Option<Setting<bool>>,
    pub host_key_file: Option<Setting<PathBuf>>,
    pub ca: Option<Setting<Vec<PathBuf>>>,
    pub insecure: Option<Setting<bool>>,
}

/// The file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Written {
    relay: Option<Spanned<String>>,
    transport: Option<Spanned<HostTransportChoice>>,
    collab: Option<Spanned<bool>>,
    host_key_file: Option<Spanned<String>>,
    ca: Option<Spanned<Vec<String>>>,
    insecure: Option<Spanned<bool>>,
}

/// Why the config file cannot apply.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading the config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// The TOML parser's message names the line and column, and shows them.
    #[error("the config file {path} is malformed: {message}")]
    Malformed { path: String, message: String },
    #[error("the config file {path}, line {line}: {message}")]
    Value {
        path: String,
        line: usize,
        message: String,
    },
}

/// Where the config file is: `$XDG_CONFIG_HOME/share/config.toml` when that variable is an
/// absolute path (the XDG spec ignores any other), else `$HOME/.config/share/config.toml`.
pub fn location(xdg_config_home: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    let xdg = xdg_config_home
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute());
    let dir = xdg.or_else(|| {
        home.filter(|home| !home.is_empty())
            .map(|home| PathBuf::from(home).join(".config"))
    })?;
    Some(dir.join("share").join("config.toml"))
}

impl ConfigFile {
    /// Where `setting` is in this file.
    pub fn origin<T>(&self, setting: &Setting<T>) -> Origin {
        Origin::File {
            path: self.path.clone().unwrap_or_default(),
            line: setting.line,
        }
    }

    /// Reads the config file where this process's environment says it is; an absent file
    /// is an empty one.
    pub fn load() -> Result<ConfigFile, ConfigError> {
        let home = std::env::var_os("HOME");
        let Some(path) = location(std::env::var_os("XDG_CONFIG_HOME"), home.clone()) else {
            return Ok(ConfigFile::default());
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => ConfigFile::parse(&path, &text, home.as_deref().map(Path::new)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile {
                path: Some(path),
                ..ConfigFile::default()
            }),
            Err(source) => Err(ConfigError::Read {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    /// The file at `path`, whose text is `text`; `home` is what `~` stands for.
    pub fn parse(path: &Path, text: &str, home: Option<&Path>) -> Result<ConfigFile, ConfigError> {
        let shown = path.display().to_string();
        let written: Written = toml::from_str(text).map_err(|error| ConfigError::Malformed {
            path: shown.clone(),
            message: error.to_string(),
        })?;
        let invalid = |line: usize, message: String| ConfigError::Value {
            path: shown.clone(),
            line,
            message,
        };
        let dir = path.parent().unwrap_or(Path::new("/"));
        let to_path = |written: &String, line: usize| {
            expand(written, dir, home).ok_or_else(|| {
                invalid(
                    line,
                    format!("{written:?} starts with ~/ but $HOME is not set"),
                )
            })
        };
        Ok(ConfigFile {
            path: Some(path.to_owned()),
            found: true,
            relay: lift(text, &written.relay, |url: &String, line| {
                Url::parse(url).map_err(|error| invalid(line, format!("relay: {error}: {url:?}")))
            })?,
            transport: lift(text, &written.transport, copied)?,
            collab: lift(text, &written.collab, copied)?,
            host_key_file: lift(text, &written.host_key_file, to_path)?,
            ca: lift(text, &written.ca, |files: &Vec<String>, line| {
                files.iter().map(|file| to_path(file, line)).collect()
            })?,
            insecure: lift(text, &written.insecure, copied)?,
        })
    }
}

/// A written value as a [`Setting`], converted by `convert` (given the value and its line).
fn lift<T, U>(
    text: &str,
    written: &Option<Spanned<T>>,
    convert: impl FnOnce(&T, usize) -> Result<U, ConfigError>,
) -> Result<Option<Setting<U>>, ConfigError> {
    let Some(written) = written else {
        return Ok(None);
    };
    let line = text[..written.span().start].matches('\n').count() + 1;
    let value = convert(written.get_ref(), line)?;
    Ok(Some(Setting { value, line }))
}

/// A value kept as written.
fn copied<T: Copy>(value: &T, _line: usize) -> Result<T, ConfigError> {
    Ok(*value)
}

/// `written` as a path: `~/` is `home`, a relative path is taken from `dir`. `None` for a
/// `~/` without a home.
fn expand(written: &str, dir: &Path, home: Option<&Path>) -> Option<PathBuf> {
    match written.strip_prefix("~/") {
        Some(rest) => Some(home?.join(rest)),
        None => Some(dir.join(written)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ConfigFile, ConfigError> {
        ConfigFile::parse(
            Path::new("/home/u/.config/share/config.toml"),
            text,
            Some(Path::new("/home/u")),
        )
    }

    #[test]
    fn the_file_is_found_under_xdg_config_home_else_home() {
        let at = |xdg: Option<&str>, home: Option<&str>| {
            location(xdg.map(Into::into), home.map(Into::into))
        };
        assert_eq!(
            at(Some("/x"), Some("/home/u")),
            Some("/x/share/config.toml".into())
        );
        // A relative XDG_CONFIG_HOME is ignored, as the spec says.
        for xdg in [None, Some(""), Some("relative")] {
            assert_eq!(
                at(xdg, Some("/home/u")),
                Some("/home/u/.config/share/config.toml".into())
            );
        }
        assert_eq!(at(None, None), None);
    }

    #[test]
    fn every_value_keeps_its_line_and_paths_are_resolved() {
        let file = parse(
            "# my relay\n\
             relay = \"https://relay.example\"\n\
             collab = true\n\
             transport = \"ws\"\n\
             host_key_file = \"~/.share-key\"\n\
             ca = [\"company.pem\", \"/etc/ca.pem\"]\n\
             insecure = false\n",
        )
        .expect("parses");
        let relay = file.relay.expect("a relay");
        assert_eq!(
            (relay.value.as_str(), relay.line),
            ("https://relay.example/", 2)
        );
        assert_eq!(
            file.collab,
            Some(Setting {
                value: true,
                line: 3
            })
        );
        assert_eq!(
            file.transport,
            Some(Setting {
                value: HostTransportChoice::Ws,
                line: 4
            })
        );
        assert_eq!(
            file.host_key_file.expect("a key file").value,
            Path::new("/home/u/.share-key")
        );
        assert_eq!(
            file.ca.expect("CAs").value,
            [
                Path::new("/home/u/.config/share/company.pem"),
                Path::new("/etc/ca.pem")
            ]
        );
        assert_eq!(
            file.insecure,
            Some(Setting {
                value: false,
                line: 7
            })
        );
    }

    #[test]
    fn a_malformed_file_names_the_line() {
        for (text, line, says) in [
            (
                "collab = true\nrelay = https://x\n",
                2,
                "TOML parse error at line 2",
            ),
            ("\n\ncolab = true\n", 3, "unknown field `colab`"),
            ("collab = \"yes\"\n", 1, "invalid type"),
            ("transport = \"udp\"\n", 1, "unknown variant `udp`"),
            (
                "\nrelay = \"not a url\"\n",
                2,
                "relay: relative URL without a base",
            ),
        ] {
            let error = parse(text).expect_err(text).to_string();
            assert!(error.contains(&format!("line {line}")), "{text:?}: {error}");
            assert!(error.contains(says), "{text:?}: {error}");
            assert!(
                error.contains("/home/u/.config/share/config.toml"),
                "{error}"
            );
        }
    }
}
