//! Terminal screen state as it travels: keyframes (the whole screen plus scrollback) and
//! diffs (rows that changed, and how far the screen scrolled, so a scroll costs a count
//! rather than a resend of every row). [`Screen::diff`] and [`Screen::apply`] are inverse:
//! `old.apply(&old.diff(&new)?)` yields `new`, which the property tests check.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use unicode_width::UnicodeWidthChar;

use crate::bounded;
pub use crate::limits::MAX_ZERO_WIDTH;
use crate::limits::{MAX_COLS, MAX_ROWS, MAX_TEXT_BYTES, SCROLLBACK_LINES};

/// A colour: the terminal default, one of the 256 indexed colours (0-15 are the 16 named
/// ones), or truecolor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Color {
    #[default]
    Default,
    Indexed(u8),
    Rgb(u8, u8, u8),
}

/// Attribute bits of [`Style::attrs`].
pub mod attrs {
    pub const BOLD: u16 = 1;
    pub const ITALIC: u16 = 1 << 1;
    pub const UNDERLINE: u16 = 1 << 2;
    pub const INVERSE: u16 = 1 << 3;
    pub const DIM: u16 = 1 << 4;
    pub const STRIKETHROUGH: u16 = 1 << 5;
    pub const HIDDEN: u16 = 1 << 6;
    /// Every character of the run occupies two cells (CJK, most emoji).
    pub const WIDE: u16 = 1 << 7;
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Style {
    pub fg: Color,
    pub bg: Color,
    pub attrs: u16,
}

/// Consecutive cells of one style. Wide characters appear once in `text` (their spacer
/// cell is implied by [`attrs::WIDE`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Run {
    pub text: String,
    pub style: Style,
}

/// One row. Trailing blank cells in the default style are omitted; `wrapped` says the row
/// continues on the next one (soft wrap), so copied text joins them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Line {
    #[serde(deserialize_with = "bounded::runs")]
    pub runs: Vec<Run>,
    pub wrapped: bool,
}

/// Whether `c` covers a cell of its own: not a character of no width (a combining mark or
/// the like), which the host's emulator stores with the cell before it. Every viewer lays
/// out rows by this rule, as [`Line::cells`] counts them.
pub fn takes_a_cell(c: char) -> bool {
    c.width() != Some(0)
}

/// Whether `c` is a bidirectional control (ALM, LRM, RLM, the embeddings and overrides,
/// the isolates): viewers drop them, so that no text is shown in another order than its
/// cells' ("Trojan Source"). They take no cell.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The characters of `text` a viewer shows: no bidirectional control, and at most
/// [`MAX_ZERO_WIDTH`] characters of no width in a row. The cells they cover are the same.
pub fn shown(text: &str) -> impl Iterator<Item = char> + '_ {
    let mut zero_width = 0;
    text.chars().filter(move |&c| {
        if is_bidi_control(c) {
            return false;
        }
        if takes_a_cell(c) {
            zero_width = 0;
            return true;
        }
        zero_width += 1;
        zero_width <= MAX_ZERO_WIDTH
    })
}

impl Line {
    /// A row of plain text in the default style.
    pub fn plain(text: &str) -> Line {
        Line {
            runs: vec![Run {
                text: text.to_owned(),
                style: Style::default(),
            }],
            wrapped: false,
        }
    }

    pub fn text(&self) -> String {
        self.runs.iter().map(|run| run.text.as_str()).collect()
    }

    /// Cells the row covers: two for each character of a wide run, none for characters of
    /// no width of their own (combining marks and the like, which share the cell before
    /// them, as the host's emulator stores them), one for any other.
    pub fn cells(&self) -> usize {
        self.runs
            .iter()
            .map(|run| {
                let width = if run.style.attrs & attrs::WIDE != 0 {
                    2
                } else {
                    1
                };
                let chars = run.text.chars().filter(|&c| takes_a_cell(c)).count();
                chars * width
            })
            .sum()
    }

    /// Checks a row received from the network against the screen's width: at most `cols`
    /// cells and `cols` runs (a run covers at least one cell), so that a viewer never lays
    /// out more than the screen holds.
    fn check_width(&self, cols: u16) -> Result<(), ScreenError> {
        let cells = self.cells();
        if self.runs.len() > cols as usize || cells > cols as usize {
            return Err(ScreenError::LineTooWide {
                runs: self.runs.len(),
                cells,
                cols,
            });
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub row: u16,
    pub col: u16,
    pub visible: bool,
}

/// How the program asked the terminal to encode keys and pastes. They travel with the
/// screen, so that a viewer's keys reach the program as its own terminal's would.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Modes {
    /// DECCKM (`CSI ? 1 h`): unmodified cursor keys send `ESC O A` rather than `ESC [ A`,
    /// and Home and End `ESC O H` and `ESC O F`.
    pub app_cursor: bool,
    /// DECKPAM (`ESC =`): the numeric keypad sends `ESC O p` and the like, not digits.
    pub app_keypad: bool,
    /// Mode 2004: a paste arrives between `ESC [200~` and `ESC [201~`.
    pub bracketed_paste: bool,
}

/// The whole state a viewer renders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Screen {
    pub cols: u16,
    pub rows: u16,
    /// Exactly `rows` rows, top first.
    #[serde(deserialize_with = "bounded::rows")]
    pub lines: Vec<Line>,
    /// Rows that scrolled off the top, oldest first, at most [`SCROLLBACK_LINES`].
    #[serde(deserialize_with = "bounded::scrollback")]
    pub scrollback: VecDeque<Line>,
    /// Rows that ever scrolled off the top, including those dropped from `scrollback`;
    /// gives every row a stable absolute number.
    pub scrolled_total: u64,
    pub cursor: Cursor,
    pub title: String,
    pub alt_screen: bool,
    pub modes: Modes,
}

/// What a frame's payload carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScreenUpdate {
    Keyframe(Screen),
    Diff(ScreenDiff),
}

/// The change from one screen state to the next, at the same size.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScreenDiff {
    /// Rows that scrolled off the top since the previous state. The receiver moves its top
    /// rows into scrollback (blank rows for any beyond the screen height) and shifts the
    /// rest up, before applying the patches below.
    pub scroll: u64,
    /// Corrections to the rows just pushed into scrollback, for rows that changed before
    /// they scrolled away. Indexed from the oldest pushed row still kept.
    #[serde(deserialize_with = "bounded::history_patches")]
    pub history: Vec<(u32, Line)>,
    /// Rows of the screen that differ after the shift.
    #[serde(deserialize_with = "bounded::row_patches")]
    pub lines: Vec<(u16, Line)>,
    pub cursor: Cursor,
    pub title: Option<String>,
    pub alt_screen: bool,
    pub modes: Modes,
}

/// Why a diff or keyframe cannot be applied (bad input from the network).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScreenError {
    #[error("screen size {cols}x{rows} is out of bounds")]
    BadSize { cols: u16, rows: u16 },
    #[error("keyframe has {got} rows, expected {expected}")]
    RowCount { got: usize, expected: usize },
    #[error("row {0} is outside the screen")]
    RowOutOfRange(u32),
    #[error("scrollback holds {0} rows, more than the limit")]
    ScrollbackTooLong(usize),
    #[error("title is too long")]
    TitleTooLong,
    #[error(
        "a row of {runs} runs covering {cells} cells is wider than the screen's {cols} columns"
    )]
    LineTooWide {
        runs: usize,
        cells: usize,
        cols: u16,
    },
}

impl Screen {
    /// A blank screen of the given size.
    pub fn new(cols: u16, rows: u16) -> Screen {
        Screen {
            cols,
            rows,
            lines: vec![Line::default(); rows as usize],
            scrollback: VecDeque::new(),
            scrolled_total: 0,
            cursor: Cursor {
                row: 0,
                col: 0,
                visible: true,
            },
            title: String::new(),
            alt_screen: false,
            modes: Modes::default(),
        }
    }

    /// Checks a keyframe received from the network before it is used.
    pub fn validate(&self) -> Result<(), ScreenError> {
        if self.cols == 0 || self.rows == 0 || self.cols > MAX_COLS || self.rows > MAX_ROWS {
            return Err(ScreenError::BadSize {
                cols: self.cols,
                rows: self.rows,
            });
        }
        if self.lines.len() != self.rows as usize {
            return Err(ScreenError::RowCount {
                got: self.lines.len(),
                expected: self.rows as usize,
            });
        }
        if self.scrollback.len() > SCROLLBACK_LINES {
            return Err(ScreenError::ScrollbackTooLong(self.scrollback.len()));
        }
        if self.title.len() > MAX_TEXT_BYTES {
            return Err(ScreenError::TitleTooLong);
        }
        for line in self.scrollback.iter().chain(&self.lines) {
            line.check_width(self.cols)?;
        }
        Ok(())
    }

    /// The visible rows as plain text, one per line, trailing blanks trimmed.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            out.push_str(line.text().trim_end());
            out.push('\n');
        }
        out
    }

    /// Scrollback then the visible rows, as plain text.
    pub fn text_with_scrollback(&self) -> String {
        let mut out = String::new();
        for line in self.scrollback.iter().chain(&self.lines) {
            out.push_str(line.text().trim_end());
            out.push('\n');
        }
        out
    }

    /// Applies a frame's update: a keyframe replaces the state, a diff patches it.
    pub fn apply_update(&mut self, update: ScreenUpdate) -> Result<(), ScreenError> {
        match update {
            ScreenUpdate::Keyframe(screen) => {
                screen.validate()?;
                *self = screen;
                Ok(())
            }
            ScreenUpdate::Diff(diff) => self.apply(&diff),
        }
    }

    /// Applies a diff. Validates everything first, so a bad diff leaves the state as it was.
    pub fn apply(&mut self, diff: &ScreenDiff) -> Result<(), ScreenError> {
        let rows = self.rows as usize;
        let pushed = pushed_kept(diff.scroll);
        if let Some((row, _)) = diff.lines.iter().find(|(row, _)| *row as usize >= rows) {
            return Err(ScreenError::RowOutOfRange(u32::from(*row)));
        }
        if let Some((index, _)) = diff.history.iter().find(|(i, _)| *i as usize >= pushed) {
            return Err(ScreenError::RowOutOfRange(*index));
        }
        if let Some(title) = &diff.title
            && title.len() > MAX_TEXT_BYTES
        {
            return Err(ScreenError::TitleTooLong);
        }
        for (_, line) in &diff.lines {
            line.check_width(self.cols)?;
        }
        for (_, line) in &diff.history {
            line.check_width(self.cols)?;
        }

        self.scroll_up(diff.scroll);
        let first_pushed = self.scrollback.len() - pushed;
        for (index, line) in &diff.history {
            self.scrollback[first_pushed + *index as usize] = line.clone();
        }
        for (row, line) in &diff.lines {
            self.lines[*row as usize] = line.clone();
        }
        self.cursor = diff.cursor;
        if let Some(title) = &diff.title {
            self.title.clone_from(title);
        }
        self.alt_screen = diff.alt_screen;
        self.modes = diff.modes;
        Ok(())
    }

    /// Moves `count` rows off the top into scrollback: the current top rows first, then
    /// blank ones if `count` exceeds the height. Only the rows scrollback keeps are built.
    fn scroll_up(&mut self, count: u64) {
        if count == 0 {
            return;
        }
        let rows = self.rows as usize;
        let kept = pushed_kept(count) as u64;
        for index in (count - kept)..count {
            let line = if index < rows as u64 {
                std::mem::take(&mut self.lines[index as usize])
            } else {
                Line::default()
            };
            // Room first: pushing past the limit before trimming would double the
            // buffer, and a VecDeque keeps its capacity for good.
            if self.scrollback.len() == SCROLLBACK_LINES {
                self.scrollback.pop_front();
            }
            self.scrollback.push_back(line);
        }
        let shift = count.min(rows as u64) as usize;
        self.lines.drain(..shift);
        self.lines.resize(rows, Line::default());
        self.scrolled_total = self.scrolled_total.saturating_add(count);
    }

    /// The diff that turns `self` into `next`, or `None` when only a keyframe can (size
    /// changed, or `next` is not a successor of `self`).
    ///
    /// Works on the shifted state without building it: the host calls this for every
    /// frame, and copying a full scrollback each time would dominate its cost.
    pub fn diff(&self, next: &Screen) -> Option<ScreenDiff> {
        self.diff_to(next, Kept::Compare, true)
    }

    /// [`diff`](Self::diff) for a `next` whose scrollback can only have gained rows at its
    /// end and lost them at its front since `self` (a host's emulator from one snapshot to
    /// the next): the scrollback rows `self` holds are not read, only counted (a scrollback
    /// cleared meanwhile still shows in its length), which with a full scrollback is most
    /// of the cost. Without `history`, the rows that scrolled off are left out: applied, the
    /// diff puts blank rows in their place.
    pub fn diff_successor(&self, next: &Screen, history: bool) -> Option<ScreenDiff> {
        self.diff_to(next, Kept::Trusted, history)
    }

    fn diff_to(&self, next: &Screen, kept: Kept, history: bool) -> Option<ScreenDiff> {
        if self.cols != next.cols || self.rows != next.rows || next.lines.len() != self.lines.len()
        {
            return None;
        }
        let scroll = next.scrolled_total.checked_sub(self.scrolled_total)?;
        let rows = self.lines.len();
        let pushed = pushed_kept(scroll);
        // Rows `scroll_up` would push, oldest first: the top rows, then blank ones.
        let first_pushed_row = scroll - pushed as u64;
        let pushed_row = |k: usize| -> Option<&Line> {
            let row = first_pushed_row + k as u64;
            (row < rows as u64).then(|| &self.lines[row as usize])
        };
        let kept_before = self.scrollback.len();
        let dropped = (kept_before + pushed).saturating_sub(SCROLLBACK_LINES);
        if kept_before + pushed - dropped != next.scrollback.len() {
            return None;
        }
        // Row `i` of the shifted scrollback; `None` is a blank row.
        let shifted_scrollback = |i: usize| -> Option<&Line> {
            let j = i + dropped;
            if j < kept_before {
                Some(&self.scrollback[j])
            } else {
                pushed_row(j - kept_before)
            }
        };
        let blank = Line::default();
        let same = |old: Option<&Line>, new: &Line| old.unwrap_or(&blank) == new;
        let first_pushed = next.scrollback.len().checked_sub(pushed)?;
        // Rows already in the viewer's scrollback never change; a mismatch means `next` is
        // not a successor of `self`.
        if kept == Kept::Compare
            && !(0..first_pushed).all(|i| same(shifted_scrollback(i), &next.scrollback[i]))
        {
            return None;
        }
        let history = (0..if history { pushed } else { 0 })
            .filter(|&i| {
                !same(
                    shifted_scrollback(first_pushed + i),
                    &next.scrollback[first_pushed + i],
                )
            })
            .map(|i| (i as u32, next.scrollback[first_pushed + i].clone()))
            .collect();
        let shift = scroll.min(rows as u64) as usize;
        let lines = (0..rows)
            .filter(|&row| !same(self.lines.get(row + shift), &next.lines[row]))
            .map(|row| (row as u16, next.lines[row].clone()))
            .collect();
        Some(ScreenDiff {
            scroll,
            history,
            lines,
            cursor: next.cursor,
            title: (self.title != next.title).then(|| next.title.clone()),
            alt_screen: next.alt_screen,
            modes: next.modes,
        })
    }
}

/// What [`Screen::diff_to`] does with the scrollback rows both screens hold.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kept {
    /// Compares them: a difference means the screens are not successive.
    Compare,
    /// Takes them as equal, as the caller knows.
    Trusted,
}

/// How many of `scroll` pushed rows scrollback keeps.
fn pushed_kept(scroll: u64) -> usize {
    scroll.min(SCROLLBACK_LINES as u64) as usize
}

impl ScreenDiff {
    /// Whether applying the diff would change nothing.
    pub fn is_empty_for(&self, base: &Screen) -> bool {
        self.scroll == 0
            && self.history.is_empty()
            && self.lines.is_empty()
            && self.title.is_none()
            && self.cursor == base.cursor
            && self.alt_screen == base.alt_screen
            && self.modes == base.modes
    }
}
