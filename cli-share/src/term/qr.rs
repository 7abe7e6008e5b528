//! A QR code drawn in a terminal with half blocks: each character cell holds two modules,
//! one above the other, so a code of a link with its keys (version 11 or so, 61 modules)
//! takes 69 columns and 35 rows with its quiet zone, and fits an 80-column terminal. Dark
//! on light whatever the terminal's colours, as phones expect.

use qrcode::{Color, EcLevel, QrCode};

/// The light margin around the code, in modules, as the standard asks.
const QUIET_ZONE: usize = 4;
/// Black on bright white, then back to normal.
const COLOURS: &str = "\x1b[30;107m";
const RESET: &str = "\x1b[0m";

/// A code, drawn.
#[derive(Debug)]
pub struct Drawing {
    /// Rows of cells, each with its colours set and reset.
    pub rows: Vec<String>,
    /// Columns each row takes.
    pub cols: usize,
}

/// Draws `text` as a QR code (low error correction: a screen is not a crumpled label, and a
/// smaller code fits more terminals).
pub fn draw(text: &str) -> Result<Drawing, qrcode::types::QrError> {
    let code = QrCode::with_error_correction_level(text, EcLevel::L)?;
    let width = code.width();
    let colors = code.to_colors();
    let size = width + 2 * QUIET_ZONE;
    let dark = |x: usize, y: usize| {
        let inside = |v: usize| (QUIET_ZONE..QUIET_ZONE + width).contains(&v);
        inside(x) && inside(y) && colors[(y - QUIET_ZONE) * width + (x - QUIET_ZONE)] == Color::Dark
    };
    let rows = (0..size)
        .step_by(2)
        .map(|y| {
            let cells: String = (0..size)
                .map(|x| match (dark(x, y), dark(x, y + 1)) {
                    (false, false) => ' ',
                    (true, false) => '▀',
                    (false, true) => '▄',
                    (true, true) => '█',
                })
                .collect();
            format!("{COLOURS}{cells}{RESET}")
        })
        .collect();
    Ok(Drawing { rows, cols: size })
}

/// Reads back a code drawn by [`draw`] in `text` (what the terminal was sent): the text the
/// code holds, as a phone would decode it from the screen.
#[cfg(test)]
pub fn decode_drawn(text: &str) -> Option<String> {
    let rows: Vec<Vec<char>> = text
        .split(['\r', '\n'])
        .filter_map(|line| {
            let start = line.find(COLOURS)? + COLOURS.len();
            let end = start + line[start..].find(RESET)?;
            Some(line[start..end].chars().collect())
        })
        .collect();
    // Each cell is two modules high; each module becomes 4x4 pixels for the detector.
    const SCALE: usize = 4;
    let (width, height) = (rows.first()?.len() * SCALE, rows.len() * 2 * SCALE);
    let mut image = rqrr::PreparedImage::prepare_from_bitmap(width, height, |x, y| {
        let top = (y / SCALE).is_multiple_of(2);
        match rows[y / (2 * SCALE)][x / SCALE] {
            '█' => true,
            '▀' => top,
            '▄' => !top,
            _ => false,
        }
    });
    let grid = image.detect_grids().into_iter().next()?;
    grid.decode().ok().map(|(_, text)| text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_with_its_keys_fits_80_columns_and_decodes_back() {
        // As long as a real read link: a relay URL, a session id, the JWT, the read secret.
        let link = format!(
            "https://share.example.com/s/{}#{}.{}.{}.{}",
            "a".repeat(22),
            "e".repeat(36),
            "p".repeat(140),
            "s".repeat(43),
            "k".repeat(43)
        );
        let drawing = draw(&link).expect("a code");
        assert!(drawing.cols <= 80, "{} columns", drawing.cols);
        let drawn = drawing.rows.join("\r\n");
        assert_eq!(decode_drawn(&drawn).as_deref(), Some(link.as_str()));
    }
}
