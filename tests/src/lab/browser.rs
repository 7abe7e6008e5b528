//! Headless Chromium as someone elsewhere runs it: in a network namespace, with a HOME of
//! its own whose NSS database (made with `certutil`, from libnss3-tools) trusts the given
//! CA roots, opening a share link through `tests/browser/lab-viewer.mjs` (playwright-core,
//! installed by `npm ci` in `tests/browser`). Chromium itself is `$CHROMIUM` or
//! `/usr/bin/chromium`, as for the browser tests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};

use super::Watched;
use crate::netem::Netns;

/// How long the page may take to load, connect and show the text on a loaded machine.
const PAGE_TIMEOUT: Duration = Duration::from_secs(90);

/// A browser profile: the HOME Chromium runs with.
pub struct Browser {
    home: tempfile::TempDir,
}

impl Browser {
    /// A HOME whose NSS database trusts each PEM file of `roots` as a CA.
    pub fn trusting(roots: &[PathBuf]) -> anyhow::Result<Browser> {
        let home = tempfile::tempdir()?;
        let db = home.path().join(".pki/nssdb");
        std::fs::create_dir_all(&db)?;
        let db = format!("sql:{}", db.display());
        certutil(&["-N", "-d", &db, "--empty-password"])?;
        for (n, root) in roots.iter().enumerate() {
            let name = format!("share lab root {n}");
            let root = root.to_str().context("a root's path")?;
            certutil(&["-A", "-d", &db, "-n", &name, "-t", "C,,", "-i", root])?;
        }
        Ok(Browser { home })
    }

    /// Opens `link` over WebTransport from namespace `ns` and waits until the page shows
    /// `text`; returns what the page says of its transport ("via WebTransport").
    pub async fn open(&self, ns: &Netns, link: &str, text: &str) -> anyhow::Result<String> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser/lab-viewer.mjs");
        let mut command = ns.command("node");
        command
            .arg(script)
            .args([link, text])
            .env("HOME", self.home.path());
        let node = Watched::spawn("the browser", command)?;
        let (status, lines) = tokio::time::timeout(PAGE_TIMEOUT, node.exit_status())
            .await
            .context("the browser did not finish")??;
        let report = lines
            .iter()
            .find_map(|line| line.strip_prefix("lab-viewer: "))
            .with_context(|| format!("no report from the browser:\n{}", lines.join("\n")))?;
        if !status.success() {
            bail!(
                "the browser failed ({status}): {report}\n{}",
                lines.join("\n")
            );
        }
        let report: serde_json::Value = serde_json::from_str(report)?;
        Ok(report["transport"].as_str().unwrap_or_default().to_owned())
    }
}

fn certutil(args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new("certutil")
        .args(args)
        .output()
        .context("running certutil (Debian package libnss3-tools)")?;
    if !output.status.success() {
        bail!(
            "certutil {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
