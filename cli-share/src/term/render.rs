//! Drawing a [`Screen`] on a local terminal with ANSI sequences: the whole screen (the
//! host's repaint after a notice) or only the rows that changed (`share watch`).
//! Output is clipped to the local terminal's size.

use std::fmt::Write as _;

use protocol::screen::{attrs, shown, takes_a_cell};
use protocol::{Color, Line, Screen, Style};

/// Size of the terminal drawn on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewport {
    pub cols: u16,
    pub rows: u16,
}

/// Clears the terminal and draws `screen`, as one synchronized update.
pub fn full(screen: &Screen, viewport: Viewport) -> Vec<u8> {
    let mut out = String::from("\x1b[?2026h\x1b[0m\x1b[H\x1b[2J");
    for (row, line) in screen.lines.iter().enumerate().take(viewport.rows as usize) {
        draw_line(&mut out, row, line, viewport.cols);
    }
    finish(&mut out, screen, viewport);
    out.into_bytes()
}

/// The rows last drawn, and their screen's size: what [`changed`] compares with. A
/// screen's scrollback is never drawn, so it is not kept (copying it for every frame cost
/// up to 2,000 rows).
pub struct Drawn {
    cols: u16,
    rows: u16,
    lines: Vec<Line>,
}

impl Drawn {
    pub fn of(screen: &Screen) -> Drawn {
        Drawn {
            cols: screen.cols,
            rows: screen.rows,
            lines: screen.lines.clone(),
        }
    }
}

/// Draws the rows of `screen` that differ from `previous` (everything without one).
pub fn changed(previous: Option<&Drawn>, screen: &Screen, viewport: Viewport) -> Vec<u8> {
    let Some(previous) = previous.filter(|p| p.rows == screen.rows && p.cols == screen.cols) else {
        return full(screen, viewport);
    };
    let mut out = String::from("\x1b[?2026h");
    let rows = screen.lines.iter().zip(&previous.lines).enumerate();
    for (row, (line, old)) in rows.take(viewport.rows as usize) {
        if line != old {
            draw_line(&mut out, row, line, viewport.cols);
        }
    }
    finish(&mut out, screen, viewport);
    out.into_bytes()
}

fn finish(out: &mut String, screen: &Screen, viewport: Viewport) {
    let row = screen.cursor.row.min(viewport.rows.saturating_sub(1));
    let col = screen.cursor.col.min(viewport.cols.saturating_sub(1));
    let _ = write!(out, "\x1b[0m\x1b[{};{}H", row + 1, col + 1);
    out.push_str(if screen.cursor.visible {
        "\x1b[?25h"
    } else {
        "\x1b[?25l"
    });
    out.push_str("\x1b[?2026l");
}

fn draw_line(out: &mut String, row: usize, line: &Line, max_cols: u16) {
    let _ = write!(out, "\x1b[{};1H", row + 1);
    let mut cells = 0usize;
    let max = max_cols as usize;
    for run in &line.runs {
        out.push_str(&sgr(run.style));
        let width = if run.style.attrs & attrs::WIDE != 0 {
            2
        } else {
            1
        };
        for c in shown(&run.text) {
            // Combining marks ride on the previous cell.
            let cell_width = if takes_a_cell(c) { width } else { 0 };
            if cells + cell_width > max {
                break;
            }
            cells += cell_width;
            out.push(if c.is_control() { ' ' } else { c });
        }
    }
    out.push_str("\x1b[0m");
    // Erasing from a full row's pending-wrap position would wipe its last cell.
    if cells < max {
        out.push_str("\x1b[K");
    }
}

/// The SGR sequence that sets `style` from scratch.
pub fn sgr(style: Style) -> String {
    let mut out = String::from("\x1b[0");
    const ATTRS: [(u16, &str); 7] = [
        (attrs::BOLD, ";1"),
        (attrs::DIM, ";2"),
        (attrs::ITALIC, ";3"),
        (attrs::UNDERLINE, ";4"),
        (attrs::INVERSE, ";7"),
        (attrs::HIDDEN, ";8"),
        (attrs::STRIKETHROUGH, ";9"),
    ];
    for (bit, code) in ATTRS {
        if style.attrs & bit != 0 {
            out.push_str(code);
        }
    }
    push_color(&mut out, style.fg, 30, 90, 38);
    push_color(&mut out, style.bg, 40, 100, 48);
    out.push('m');
    out
}

fn push_color(out: &mut String, color: Color, base: u8, bright: u8, extended: u8) {
    let _ = match color {
        Color::Default => Ok(()),
        Color::Indexed(i) if i < 8 => write!(out, ";{}", base + i),
        Color::Indexed(i) if i < 16 => write!(out, ";{}", bright + i - 8),
        Color::Indexed(i) => write!(out, ";{extended};5;{i}"),
        Color::Rgb(r, g, b) => write!(out, ";{extended};2;{r};{g};{b}"),
    };
}

#[cfg(test)]
mod tests {
    use protocol::Run;
    use protocol::screen::MAX_ZERO_WIDTH;

    use super::*;
    use crate::sync::emulator::Emulator;

    const VIEW: Viewport = Viewport { cols: 20, rows: 5 };

    #[test]
    fn styles_become_sgr() {
        let style = Style {
            fg: Color::Indexed(9),
            bg: Color::Rgb(1, 2, 3),
            attrs: attrs::BOLD | attrs::UNDERLINE,
        };
        assert_eq!(sgr(style), "\x1b[0;1;4;91;48;2;1;2;3m");
        assert_eq!(sgr(Style::default()), "\x1b[0m");
    }

    #[test]
    fn a_rendered_screen_reads_back_the_same() {
        let mut source = Emulator::new(VIEW.cols, VIEW.rows);
        source.feed(
            "\x1b[31mred\x1b[0m 中文\r\n\x1b[1;44mbold on blue\x1b[0m\r\n\x1b[?25l".as_bytes(),
        );
        let screen = source.snapshot().clone();
        let mut copy = Emulator::new(VIEW.cols, VIEW.rows);
        copy.feed(&full(&screen, VIEW));
        let redrawn = copy.snapshot();
        assert_eq!(redrawn.lines, screen.lines);
        assert_eq!(redrawn.cursor, screen.cursor);
    }

    #[test]
    fn zero_width_marks_outside_the_short_list_do_not_clip_a_row_that_fits() {
        // 40 cells as the host counts them (unicode-width): each Arabic shadda, Hebrew
        // point or Devanagari sign rides on the letter before it.
        let text = "a\u{651}".repeat(40);
        let line = Line::plain(&text);
        assert_eq!(line.cells(), 40);
        let mut screen = Screen::new(40, 1);
        screen.lines[0] = line;
        let out = String::from_utf8(full(&screen, Viewport { cols: 40, rows: 1 })).unwrap();
        assert_eq!(out.matches('a').count(), 40, "{out:?}");
    }

    #[test]
    fn a_watcher_sees_no_bidi_control_and_at_most_the_cap_of_marks() {
        // What a hostile host could send: 100,000 marks on one cell, and an override that
        // would show `exe.png` for `gnp.exe` on a terminal that does bidi.
        let mut screen = Screen::new(40, 2);
        screen.lines[0] = Line::plain(&format!("a{}b", "\u{301}".repeat(100_000)));
        screen.lines[1] = Line::plain("echo \u{202e}gnp.exe \u{2066}x\u{2069}");
        let out = String::from_utf8(full(&screen, Viewport { cols: 40, rows: 2 })).unwrap();
        assert_eq!(out.matches('\u{301}').count(), MAX_ZERO_WIDTH);
        assert!(out.contains('b'), "the cell after the marks is drawn");
        assert!(out.contains("echo gnp.exe x"), "{out:?}");
        assert!(
            !out.chars().any(protocol::screen::is_bidi_control),
            "{out:?}"
        );
    }

    #[test]
    fn only_changed_rows_are_drawn_and_rows_are_clipped() {
        let mut screen = Screen::new(40, 3);
        screen.lines[0] = Line::plain("unchanged");
        let previous = Drawn::of(&screen);
        screen.lines[1] = Line {
            runs: vec![Run {
                text: "x".repeat(30),
                style: Style::default(),
            }],
            wrapped: false,
        };
        let out = String::from_utf8(changed(Some(&previous), &screen, VIEW)).unwrap();
        assert!(!out.contains("unchanged"));
        assert!(out.contains(&"x".repeat(20)));
        assert!(!out.contains(&"x".repeat(21)));
    }
}
