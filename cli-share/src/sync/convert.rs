//! Conversion of the emulator's cells into the protocol's rows of styled runs.

use std::borrow::Cow;

use alacritty_terminal::grid::Row;
use alacritty_terminal::index::Column;
use alacritty_terminal::term::cell::{Cell, Flags};
use alacritty_terminal::vte::ansi::{Color as EmuColor, NamedColor};
use protocol::screen::{MAX_ZERO_WIDTH, attrs};
use protocol::{Color, Line, Run, Style};

/// The cell flags that make a style, and the attribute each sets.
const STYLE_FLAGS: [(Flags, u16); 8] = [
    (Flags::BOLD, attrs::BOLD),
    (Flags::ITALIC, attrs::ITALIC),
    (Flags::ALL_UNDERLINES, attrs::UNDERLINE),
    (Flags::INVERSE, attrs::INVERSE),
    (Flags::DIM, attrs::DIM),
    (Flags::STRIKEOUT, attrs::STRIKETHROUGH),
    (Flags::HIDDEN, attrs::HIDDEN),
    (Flags::WIDE_CHAR, attrs::WIDE),
];

/// All of [`STYLE_FLAGS`]' flags.
const STYLE_MASK: Flags = {
    let mut mask = Flags::empty();
    let mut i = 0;
    while i < STYLE_FLAGS.len() {
        mask = mask.union(STYLE_FLAGS[i].0);
        i += 1;
    }
    mask
};

/// Flags of a cell that take no cell of the row's text.
const SPACERS: Flags = Flags::WIDE_CHAR_SPACER.union(Flags::LEADING_WIDE_CHAR_SPACER);

/// Converts one emulator row: wide-character spacers are skipped (the WIDE attribute
/// implies them) and trailing blanks in the default style are trimmed. A wide character
/// whose spacer is gone, or a spacer without its wide character (the emulator leaves them
/// so when an erase or a delete hits half of the pair), is shown as a blank cell, as a
/// terminal shows it: counted as two cells, it made the row wider than the screen, which
/// every viewer refuses, the retained keyframe included.
pub fn line(row: &Row<Cell>, cols: usize) -> Line {
    let cells = &row[..Column(cols)];
    let kept = cells
        .iter()
        .rposition(|cell| !is_default_blank(cell))
        .map_or(0, |last| last + 1);
    let mut runs: Vec<Run> = Vec::new();
    // The cell whose look the last run has: a style is worked out only when it changes.
    let mut last_look: Option<Cow<'_, Cell>> = None;
    for (i, cell) in cells[..kept].iter().enumerate() {
        let spacer_follows = || {
            cells
                .get(i + 1)
                .is_some_and(|next| next.flags.contains(Flags::WIDE_CHAR_SPACER))
        };
        let wide_before = || i > 0 && cells[i - 1].flags.contains(Flags::WIDE_CHAR);
        let broken = (cell.flags.contains(Flags::WIDE_CHAR) && !spacer_follows())
            || (cell.flags.contains(Flags::WIDE_CHAR_SPACER) && !wide_before());
        let cell = if broken {
            let mut blank = cell.clone();
            blank.flags.remove(SPACERS);
            blank.clear_wide();
            Cow::Owned(blank)
        } else if cell.flags.intersects(SPACERS) {
            continue;
        } else {
            Cow::Borrowed(cell)
        };
        let same_look = last_look
            .as_ref()
            .is_some_and(|last| looks_alike(last, &cell));
        if !same_look {
            last_look = Some(cell.clone());
            let style = style(&cell);
            if runs.last().is_none_or(|run| run.style != style) {
                runs.push(Run {
                    text: String::new(),
                    style,
                });
            }
        }
        let run = runs
            .last_mut()
            .expect("a run was opened for the first cell");
        run.text.push(cell.c);
        if let Some(zerowidth) = cell.zerowidth() {
            // The emulator keeps every mark written on a cell; viewers show no more than these.
            run.text.extend(zerowidth.iter().take(MAX_ZERO_WIDTH));
        }
    }
    let wrapped = cols > 0 && row[Column(cols - 1)].flags.contains(Flags::WRAPLINE);
    Line { runs, wrapped }
}

/// Whether two cells have the same colours and style flags (so the same [`Style`]).
fn looks_alike(a: &Cell, b: &Cell) -> bool {
    a.fg == b.fg && a.bg == b.bg && style_flags(a) == style_flags(b)
}

fn style_flags(cell: &Cell) -> Flags {
    cell.flags & STYLE_MASK
}

fn is_default_blank(cell: &Cell) -> bool {
    cell.c == ' '
        && style_flags(cell).is_empty()
        && color(cell.fg) == Color::Default
        && color(cell.bg) == Color::Default
        && cell.zerowidth().is_none()
}

fn style(cell: &Cell) -> Style {
    let attrs = STYLE_FLAGS
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
