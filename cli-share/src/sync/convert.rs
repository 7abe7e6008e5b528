//! Conversion of the emulator's cells into the protocol's rows of styled runs.

use alacritty_terminal::grid::Row;
use alacritty_terminal::index::Column;
use alacritty_terminal::term::cell::{Cell, Flags};
use alacritty_terminal::vte::ansi::{Color as EmuColor, NamedColor};
use protocol::screen::attrs;
use protocol::{Color, Line, Run, Style};

/// Converts one emulator row: wide-character spacers are skipped (the WIDE attribute
/// implies them) and trailing blanks in the default style are trimmed.
pub fn line(row: &Row<Cell>, cols: usize) -> Line {
    let cells = (0..cols).map(|col| &row[Column(col)]);
    let kept = cells
        .clone()
        .rposition(|cell| !is_default_blank(cell))
        .map_or(0, |last| last + 1);
    let mut runs: Vec<Run> = Vec::new();
    for cell in cells.take(kept) {
        if cell
            .flags
            .intersects(Flags::WIDE_CHAR_SPACER | Flags::LEADING_WIDE_CHAR_SPACER)
        {
            continue;
        }
        let style = style(cell);
        let run = match runs.last_mut() {
            Some(run) if run.style == style => run,
            _ => {
                runs.push(Run {
                    text: String::new(),
                    style,
                });
                runs.last_mut().expect("just pushed")
            }
        };
        run.text.push(cell.c);
        if let Some(zerowidth) = cell.zerowidth() {
            run.text.extend(zerowidth);
        }
    }
    let wrapped = cols > 0 && row[Column(cols - 1)].flags.contains(Flags::WRAPLINE);
    Line { runs, wrapped }
}

fn is_default_blank(cell: &Cell) -> bool {
    cell.c == ' ' && cell.zerowidth().is_none() && style(cell) == Style::default()
}

fn style(cell: &Cell) -> Style {
    const FLAGS: [(Flags, u16); 8] = [
        (Flags::BOLD, attrs::BOLD),
        (Flags::ITALIC, attrs::ITALIC),
        (Flags::ALL_UNDERLINES, attrs::UNDERLINE),
        (Flags::INVERSE, attrs::INVERSE),
        (Flags::DIM, attrs::DIM),
        (Flags::STRIKEOUT, attrs::STRIKETHROUGH),
        (Flags::HIDDEN, attrs::HIDDEN),
        (Flags::WIDE_CHAR, attrs::WIDE),
    ];
    let attrs = FLAGS
        .iter()
        .filter(|(flag, _)| cell.flags.intersects(*flag))
        .fold(0, |acc, (_, bit)| acc | bit);
    Style {
        fg: color(cell.fg),
        bg: color(cell.bg),
        attrs,
    }
}

fn color(color: EmuColor) -> Color {
    match color {
        EmuColor::Indexed(index) => Color::Indexed(index),
        EmuColor::Spec(rgb) => Color::Rgb(rgb.r, rgb.g, rgb.b),
        EmuColor::Named(named) => {
            let index = named as usize;
            let dim_black = NamedColor::DimBlack as usize;
            if index < 16 {
                Color::Indexed(index as u8)
            } else if (dim_black..dim_black + 8).contains(&index) {
                Color::Indexed((index - dim_black) as u8)
            } else {
                Color::Default
            }
        }
    }
}
