//! The text the flood parts write to a terminal: log lines, coloured test output, UTF-8
//! with wide characters and emoji, long lines that wrap and tab-indented hex dumps, in a
//! fixed mix, generated once per size and kept between runs.

use std::io::Write as _;
use std::path::{Path, PathBuf};

pub const MIB: u64 = 1024 * 1024;

/// A file of `bytes` of mixed terminal text (plain log lines, coloured lines, UTF-8 and long
/// wrapping lines), generated once and kept in `dir`.
pub fn mixed_text(dir: &Path, bytes: u64) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("mixed-text-{bytes}.txt"));
    if std::fs::metadata(&path).is_ok_and(|m| m.len() == bytes) {
        return Ok(path);
    }
    std::fs::create_dir_all(dir)?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let mut written = 0u64;
    let mut n = 0u64;
    while written < bytes {
        let line = match n % 7 {
            0..=2 => format!(
                "2024-01-01T12:00:{:02}Z INFO request {n} served in {}ms\n",
                n % 60,
                n % 97
            ),
            3 => format!(
                "\x1b[1;32m  ok\x1b[0m test module_{n}::case_{} ... \x1b[33m{}ms\x1b[0m\n",
                n % 13,
                n % 50
            ),
            4 => format!("résumé naïve café — 日本語のテキスト {n} ✓ 🚀\n"),
            5 => format!("{}\n", "long-line-that-wraps ".repeat(12)),
            _ => format!(
                "\t{n:08x}: {:032x}\n",
                u128::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ),
        };
        let line = &line.as_bytes()[..line.len().min((bytes - written) as usize)];
        out.write_all(line)?;
        written += line.len() as u64;
        n += 1;
    }
    out.flush()?;
    Ok(path)
}
