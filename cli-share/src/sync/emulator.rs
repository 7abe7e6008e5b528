//! The terminal emulator that mirrors the child's screen (alacritty_terminal), and the
//! [`Screen`] kept from it: visible rows refreshed on each snapshot, scrollback and the
//! count of rows that scrolled off the top accumulated as the emulator produces them.
//!
//! Scrolled-off rows are drained from the emulator's history into the screen's scrollback
//! at every snapshot, so the emulator's history length is exactly the number of rows that
//! scrolled since the previous snapshot (up to [`HISTORY_ROWS`]; a flood that scrolls more
//! between two snapshots counts that many, the rows beyond it are gone anyway).
//!
//! A snapshot converts only the rows that changed: the emulator's visible rows of the last
//! snapshot are kept, and a row equal to one of them (where it was, or where a scroll moved
//! it, into the history too) takes its conversion over. After plain text (see
//! [`Emulator::feed_scanned`]) only the rows the cursor went through are compared: the
//! others only moved, and reading them (cold in the CPU's caches after an idle moment)
//! was most of the cost of an isolated update.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use alacritty_terminal::event::{Event, EventListener};
use alacritty_terminal::grid::{Dimensions, Row};
use alacritty_terminal::index::Line as GridLine;
use alacritty_terminal::term::cell::Cell;
use alacritty_terminal::term::{Config, Term, TermMode};
use alacritty_terminal::vte::ansi::{Processor, StdSyncHandler};
use protocol::limits::{MAX_ROWS, MAX_TEXT_BYTES, SCROLLBACK_LINES};
use protocol::{Cursor, Line, Modes, Screen};

use crate::sync::convert;
use crate::sync::encoder::FLOOD_HISTORY_ROWS;
use crate::sync::osc_cap::OscCap;
use crate::sync::skipping::Skip;

/// Rows the emulator may scroll between two snapshots and still be counted exactly.
/// Counting further would change nothing viewers see: past a scrollback and a screen, a
/// scroll replaces every row. Fewer rows keep a flood cheap: the emulator reallocates
/// its history after every snapshot, and a skip leaves this many lines to parse.
const HISTORY_ROWS: usize = SCROLLBACK_LINES + MAX_ROWS as usize;

/// Sequences after which the child's scrollback is gone: erase saved lines, full reset.
const CLEARS_SCROLLBACK: [&[u8]; 2] = [b"\x1b[3J", b"\x1bc"];

/// Keeps the title and drops everything else the emulator asks for: in particular its
/// answers to queries (`PtyWrite`), since the real terminal answers them.
#[derive(Clone, Default)]
struct Listener {
    title: Arc<Mutex<Option<String>>>,
}

impl EventListener for Listener {
    fn send_event(&self, event: Event) {
        let title = match event {
            Event::Title(title) => title,
            Event::ResetTitle => String::new(),
            _ => return,
        };
        *self.title.lock().unwrap_or_else(PoisonError::into_inner) = Some(title);
    }
}

struct Size {
    cols: usize,
    rows: usize,
}

impl Dimensions for Size {
    fn total_lines(&self) -> usize {
        self.rows
    }
    fn screen_lines(&self) -> usize {
        self.rows
    }
    fn columns(&self) -> usize {
        self.cols
    }
}

pub struct Emulator {
    term: Term<Listener>,
    parser: Processor<StdSyncHandler>,
    /// What the parser is fed: the output with long OSCs cut.
    osc_cap: OscCap,
    listener: Listener,
    screen: Screen,
    /// Tail of the previous chunk, to find a scrollback clear split across two reads.
    tail: Vec<u8>,
    /// The emulator's visible rows at the last snapshot, which `screen.lines` converts.
    rows: Vec<Row<Cell>>,
    /// Scrolled rows the last snapshot left in the emulator's history.
    held: usize,
    /// Rows that may have changed since the last snapshot other than by scrolling.
    touched: Touched,
    /// Lines parsed for the screen they end in, whose rows the history still lacks.
    owed: Option<OwedHistory>,
}

/// Plain text that buries everything before it, parsed for its screen only (see
/// [`Emulator::feed_screen_first`]): what parsing it again from where it started puts
/// into the history.
struct OwedHistory {
    /// The pen it started with; it started in the first column.
    pen: Cell,
    text: Vec<u8>,
    since: Instant,
}

/// Rows that may differ from the last snapshot's other than by scrolling, numbered as the
/// previous rows that scrolled to them are: row `n` of the screen is `n + scrolled`, a row
/// scrolled into the history `age` rows ago is `scrolled - age`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Touched {
    Nothing,
    /// These rows, inclusive.
    Rows(usize, usize),
    Anything,
}

impl Touched {
    /// What the previous row numbered `number` must be compared with to know whether
    /// `row` is that row moved: `row`, unless it cannot have changed.
    fn compare(self, number: usize, row: &Row<Cell>) -> Option<&Row<Cell>> {
        let moved_only = match self {
            Touched::Nothing => true,
            Touched::Rows(first, last) => number < first || number > last,
            Touched::Anything => false,
        };
        (!moved_only).then_some(row)
    }

    /// Adds the rows from `first` to `last`, or anything if they are unknown.
    fn and(self, rows: Option<(usize, usize)>) -> Touched {
        match (self, rows) {
            (Touched::Anything, _) | (_, None) => Touched::Anything,
            (Touched::Nothing, Some((first, last))) => Touched::Rows(first, last),
            (Touched::Rows(from, to), Some((first, last))) => {
                Touched::Rows(from.min(first), to.max(last))
            }
        }
    }
}

impl Emulator {
    pub fn new(cols: u16, rows: u16) -> Emulator {
        let listener = Listener::default();
        let config = Config {
            scrolling_history: HISTORY_ROWS,
            ..Config::default()
        };
        let size = Size {
            cols: cols.max(1) as usize,
            rows: rows.max(1) as usize,
        };
        let mut term = Term::new(config, &size, listener.clone());
        prime_history(&mut term);
        Emulator {
            term,
            parser: Processor::new(),
            osc_cap: OscCap::default(),
            listener,
            screen: Screen::new(cols.max(1), rows.max(1)),
            tail: Vec::new(),
            rows: Vec::new(),
            held: 0,
            touched: Touched::Anything,
            owed: None,
        }
    }

    /// Feeds output of the child.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.feed_scanned(bytes, false);
    }

    /// Feeds output of the child that is `plain` text as [`Scanner::plain`] says: text
    /// that writes only on the rows the cursor goes through (or, in the case of a wide
    /// character overwritten near the start of a row, the row above), and moves it only
    /// along and down.
    ///
    /// [`Scanner::plain`]: crate::sync::skipping::Scanner::plain
    pub fn feed_scanned(&mut self, bytes: &[u8], plain: bool) {
        self.settle_history();
        let before = plain.then(|| self.cursor_row()).flatten();
        self.parse(bytes);
        let after = before.and_then(|_| self.cursor_row());
        let rows = before.zip(after);
        self.touched = self.touched.and(
            rows.map(|(before, after)| (before.min(after).saturating_sub(1), before.max(after))),
        );
    }

    fn parse(&mut self, bytes: &[u8]) {
        let (parser, term) = (&mut self.parser, &mut self.term);
        self.osc_cap.pass(bytes, |part| parser.advance(term, part));
        self.track_scrollback_clears(bytes);
    }

    /// Parses `text`, plain text (see `sync/skipping.rs`) that starts in the first column
    /// and buries everything before it (at least [`lines_that_bury`] line feeds, as the
    /// lines a skip leaves), for the screen it ends in: its `stretch`, whose rows would
    /// only scroll into the history, is skipped, and the history owes their rows until
    /// [`settle_history`] parses all of `text` again from where it started, where those
    /// line feeds bury what was parsed here. Only on the main screen, with no
    /// synchronized update buffered; otherwise all of it is parsed.
    ///
    /// A flood's last screen then shows after its last screens of lines, not after the
    /// thousands of lines the history keeps.
    ///
    /// [`lines_that_bury`]: Self::lines_that_bury
    /// [`settle_history`]: Self::settle_history
    pub fn feed_screen_first(&mut self, text: Vec<u8>, stretch: &Skip) {
        self.settle_history();
        if !self.may_skip() {
            self.parse(&text);
            self.touched = Touched::Anything;
            return;
        }
        let pen = self.term.grid().cursor.template.clone();
        self.parse(&text[..stretch.from]);
        self.parse(b"\r");
        self.parse(&stretch.pen);
        self.parse(&text[stretch.to..]);
        self.touched = Touched::Anything;
        self.owed = Some(OwedHistory {
            pen,
            text,
            since: Instant::now(),
        });
    }

    /// Since when the history owes rows (see [`feed_screen_first`](Self::feed_screen_first)).
    pub fn history_owed_since(&self) -> Option<Instant> {
        self.owed.as_ref().map(|owed| owed.since)
    }

    /// Puts into the history the rows it owes: the owed text parsed again from its pen and
    /// the first column, after which the screen is what it was.
    pub fn settle_history(&mut self) {
        let Some(owed) = self.owed.take() else {
            return;
        };
        self.term.grid_mut().cursor.template = owed.pen;
        self.parse(b"\r");
        self.parse(&owed.text);
        self.touched = Touched::Anything;
    }

    /// The cursor's row, numbered as in [`Touched`]; `None` where scrolling does not
    /// count it: on the alternate screen (no history), with the history full, or while a
    /// synchronized update is buffered.
    fn cursor_row(&self) -> Option<usize> {
        if !self.may_skip() {
            return None;
        }
        let grid = self.term.grid();
        let history = grid.history_size();
        let scrolled = history
            .checked_sub(self.held)
            .filter(|_| history < HISTORY_ROWS)?;
        let row = usize::try_from(grid.cursor.point.line.0).ok()?;
        Some(row + scrolled)
    }

    fn track_scrollback_clears(&mut self, bytes: &[u8]) {
        let longest = CLEARS_SCROLLBACK
            .iter()
            .map(|seq| seq.len())
            .max()
            .unwrap_or(1);
        // The seam between the previous chunk and this one, then this one: no copy of
        // the chunk, and no search at all in the common chunk without an escape.
        let mut seam = std::mem::take(&mut self.tail);
        seam.extend_from_slice(&bytes[..bytes.len().min(longest - 1)]);
        if clears_scrollback(&seam) || clears_scrollback(bytes) {
            self.screen.scrollback.clear();
        }
        if bytes.len() >= longest - 1 {
            seam.clear();
            seam.extend_from_slice(&bytes[bytes.len() - (longest - 1)..]);
        } else {
            // The seam holds all of this chunk after the previous tail.
            seam.drain(..seam.len().saturating_sub(longest - 1));
        }
        self.tail = seam;
    }

    /// Line feeds of plain text after which nothing written before them is left on the
    /// screen or in the history: enough to fill both, plus a screen for the rows the
    /// cursor may move down before the first scroll.
    pub fn lines_that_bury(&self) -> usize {
        HISTORY_ROWS + self.lines_that_clear_the_screen()
    }

    /// Line feeds of plain text after which nothing written before them is left on the
    /// screen: a screen of them, and another for the rows the cursor may move down before
    /// the first scroll.
    pub fn lines_that_clear_the_screen(&self) -> usize {
        2 * usize::from(self.screen.rows)
    }

    /// Whether plain text may be skipped now (see `sync/skipping.rs`): lines scroll into
    /// the history only on the main screen, and buffered output is not parsed yet.
    pub fn may_skip(&self) -> bool {
        !self.term.mode().contains(TermMode::ALT_SCREEN) && self.sync_deadline().is_none()
    }

    /// When a synchronized update (mode 2026) is buffered: the instant it must be shown
    /// even if the child never ends it.
    pub fn sync_deadline(&self) -> Option<Instant> {
        self.parser.sync_timeout().sync_timeout()
    }

    /// Ends a synchronized update that timed out.
    pub fn end_sync(&mut self) {
        self.parser.stop_sync(&mut self.term);
        self.touched = Touched::Anything;
    }

    pub fn resize(&mut self, cols: u16, rows: u16) {
        self.settle_history();
        self.touched = Touched::Anything;
        let (cols, rows) = (cols.max(1), rows.max(1));
        self.term.resize(Size {
            cols: cols as usize,
            rows: rows as usize,
        });
        self.screen.cols = cols;
        self.screen.rows = rows;
    }

    pub fn size(&self) -> (u16, u16) {
        (self.screen.cols, self.screen.rows)
    }

    /// The current state: rows that scrolled off since the last snapshot move into the
    /// scrollback, the visible rows are converted afresh where they changed.
    pub fn snapshot(&mut self) -> &mut Screen {
        self.snapshot_holding(Holding::Nothing).0
    }

    /// The current state, leaving in the emulator's history the scrolled rows `holding`
    /// says, and whether any are held: the screen's scrollback and scrolled-row count then
    /// lag behind until a snapshot takes them.
    pub fn snapshot_holding(&mut self, holding: Holding) -> (&mut Screen, bool) {
        // A snapshot that holds nothing takes the history as a full parse would have it;
        // the others hold the rows it still owes.
        if holding == Holding::Nothing {
            self.settle_history();
        }
        let owes = self.owed.is_some();
        let mut previous = Previous(
            std::mem::take(&mut self.rows)
                .into_iter()
                .zip(std::mem::take(&mut self.screen.lines))
                .map(Some)
                .collect(),
        );
        let history = self.term.grid().history_size();
        // Rows that scrolled since the last snapshot; all of them when the history is full.
        let new = match history.checked_sub(self.held) {
            Some(new) if history < HISTORY_ROWS => new,
            _ => HISTORY_ROWS,
        };
        let hold = match holding {
            Holding::Nothing => false,
            Holding::Floods => owes || new > FLOOD_HISTORY_ROWS,
            Holding::Held => owes || self.held > 0 || new > FLOOD_HISTORY_ROWS,
        };
        let touched = std::mem::replace(&mut self.touched, Touched::Nothing);
        if hold {
            self.held = history;
        } else {
            self.drain_history(new, touched, &mut previous);
        }
        let grid = self.term.grid();
        let cols = grid.columns();
        let visible = grid.screen_lines();
        let mut rows = Vec::with_capacity(visible);
        let mut lines = Vec::with_capacity(visible);
        for row in 0..visible {
            let now = &grid[GridLine(row as i32)];
            let (kept, line) = previous
                .take(row + new, touched.compare(row + new, now))
                .or_else(|| previous.take(row, Some(now)))
                .unwrap_or_else(|| (now.clone(), convert::line(now, cols)));
            rows.push(kept);
            lines.push(line);
        }
        self.rows = rows;
        self.screen.lines = lines;
        let point = grid.cursor.point;
        let mode = self.term.mode();
        self.screen.cursor = Cursor {
            row: point.line.0.clamp(0, i32::from(u16::MAX)) as u16,
            col: point.column.0.min(u16::MAX as usize) as u16,
            visible: mode.contains(TermMode::SHOW_CURSOR),
        };
        self.screen.alt_screen = mode.contains(TermMode::ALT_SCREEN);
        self.screen.modes = Modes {
            app_cursor: mode.contains(TermMode::APP_CURSOR),
            app_keypad: mode.contains(TermMode::APP_KEYPAD),
            bracketed_paste: mode.contains(TermMode::BRACKETED_PASTE),
        };
        if let Some(mut title) = self
            .listener
            .title
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            truncate_to_boundary(&mut title, MAX_TEXT_BYTES);
            self.screen.title = title;
        }
        (&mut self.screen, self.held > 0)
    }

    /// Moves the rows that scrolled off (`new` of them since the last snapshot, after the
    /// ones held) into the scrollback.
    fn drain_history(&mut self, new: usize, touched: Touched, previous: &mut Previous) {
        self.held = 0;
        let grid = self.term.grid();
        let history = grid.history_size();
        if history == 0 {
            return;
        }
        let cols = grid.columns();
        let kept = history.min(SCROLLBACK_LINES);
        for age in (1..=kept).rev() {
            let row = &grid[GridLine(-(age as i32))];
            // The row that scrolled first since the last snapshot was its top visible row.
            let line = new
                .checked_sub(age)
                .and_then(|was| previous.take(was, touched.compare(was, row)))
                .map_or_else(|| convert::line(row, cols), |(_, line)| line);
            self.screen.scrollback.push_back(line);
        }
        let excess = self
            .screen
            .scrollback
            .len()
            .saturating_sub(SCROLLBACK_LINES);
        self.screen.scrollback.drain(..excess);
        self.screen.scrolled_total += history as u64;
        self.term.grid_mut().clear_history();
    }
}

/// Which scrolled rows a snapshot leaves in the emulator's history, so that a flood's are
/// not converted every frame only to scroll away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holding {
    /// None: every row that scrolled off goes into the scrollback.
    Nothing,
    /// More than a flood's worth of rows that scrolled since the last snapshot (and those
    /// held before them); fewer go into the scrollback with the held ones. All of them
    /// while the history owes rows (see [`Emulator::feed_screen_first`]).
    Floods,
    /// As `Floods`, and whatever is held already.
    Held,
}

/// The visible rows of the last snapshot with their conversions, not yet taken over.
struct Previous(Vec<Option<(Row<Cell>, Line)>>);

impl Previous {
    /// The last snapshot's row `index` and its conversion, if that row equals `now`, or
    /// without comparing when `now` is known to be that row moved (once).
    fn take(&mut self, index: usize, now: Option<&Row<Cell>>) -> Option<(Row<Cell>, Line)> {
        let slot = self.0.get_mut(index)?;
        if slot
            .as_ref()
            .is_some_and(|(row, _)| now.is_none_or(|now| row == now))
        {
            slot.take()
        } else {
            None
        }
    }
}

/// Has alacritty allocate its history's rows now, while the screen is blank. It allocates
/// them (a thousand at once, 2 MiB at 80 columns, each cell written) when a row first
/// scrolls into the history: in the middle of the update that first scrolls, 1.5 ms on
/// this machine (one tick of every session in the `host-latency` bench). Its history keeps
/// them as a cache when it is emptied, so a snapshot's draining does not free them.
fn prime_history(term: &mut Term<Listener>) {
    let lines = term.grid().screen_lines();
    let grid = term.grid_mut();
    // A blank row scrolls into the history and a blank one comes in: the screen is as it was.
    grid.scroll_up(&(GridLine(0)..GridLine(lines as i32)), 1);
    grid.clear_history();
}

fn clears_scrollback(bytes: &[u8]) -> bool {
    bytes.contains(&0x1b)
        && CLEARS_SCROLLBACK
            .iter()
            .any(|seq| bytes.windows(seq.len()).any(|window| window == *seq))
}

fn truncate_to_boundary(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}

#[cfg(test)]
mod tests {
    use protocol::screen::attrs;

    use crate::sync::osc_cap::MAX_OSC;
    use protocol::{Color, Style};

    use super::*;

    fn screen_after(cols: u16, rows: u16, output: &[u8]) -> Screen {
        let mut emulator = Emulator::new(cols, rows);
        emulator.feed(output);
        emulator.snapshot().clone()
    }

    /// A 1 MiB title pushed onto the title stack (4,096 pushes of it took 4 GiB in the
    /// emulator as it was): the emulator keeps 8 KiB of the OSC, so its title is cut
    /// before it is stored and copied.
    #[test]
    fn a_huge_title_is_cut_before_the_emulator_keeps_it() {
        let mut emulator = Emulator::new(80, 24);
        let title = "A".repeat(1 << 20);
        emulator.feed(format!("\x1b]0;{title}\x07").as_bytes());
        emulator.feed("\x1b[22t".repeat(64).as_bytes());
        emulator.feed(b"after");
        let screen = emulator.snapshot();
        // The OSC's first 8 KiB are `0;` and the title: cut there, not only when the
        // snapshot takes it (which would keep 8 KiB of the title itself).
        assert_eq!(screen.title.len(), MAX_OSC - 2);
        assert!(screen.lines[0].text().starts_with("after"));
    }

    /// Half of a wide character erased or deleted (the emulator keeps the other half) is
    /// a blank cell: the row stays within the screen, which every viewer checks.
    #[test]
    fn a_wide_character_cut_in_half_leaves_a_row_within_the_screen() {
        let full_row = "x".repeat(79);
        for output in [
            "中\x1b[D\x1b[41m\x1b[K\x1b[m\r\n".to_owned(),
            "中\r\x1b[C\x1b[41m\x1b[P\x1b[m\r\n".to_owned(),
            format!("中{full_row}\r\x1b[C\x1b[X\r\n"),
            "ab中cd\r\x1b[3C\x1b[@\r\n".to_owned(),
        ] {
            let screen = screen_after(80, 3, output.as_bytes());
            assert_eq!(
                screen.validate(),
                Ok(()),
                "{output:?}: {:?}",
                screen.lines[0]
            );
            assert!(screen.lines[0].cells() <= 80, "{output:?}");
        }
        // An erase of the first half: the spacer left is a blank too, the row's cells line up.
        let screen = screen_after(20, 2, "中ab\r\x1b[X".as_bytes());
        assert_eq!(screen.lines[0].cells(), 4);
        assert_eq!(screen.lines[0].text(), "  ab");
    }

    #[test]
    fn a_cell_carries_at_most_the_cap_of_marks_to_viewers() {
        let marks = "\u{301}".repeat(10_000);
        let screen = screen_after(20, 2, format!("a{marks}b").as_bytes());
        let text = &screen.lines[0].runs[0].text;
        assert_eq!(
            text.matches('\u{301}').count(),
            protocol::screen::MAX_ZERO_WIDTH
        );
        assert!(text.starts_with('a') && text.ends_with('b'), "{text:?}");
        assert_eq!(screen.lines[0].cells(), 2);
    }

    #[test]
    fn colours_and_attributes() {
        let screen = screen_after(
            20,
            3,
            b"\x1b[1;31mA\x1b[0;38;5;200mB\x1b[38;2;1;2;3;48;5;4;3;4;7;2;9;8mC\x1b[0m D",
        );
        let runs = &screen.lines[0].runs;
        let styles: Vec<Style> = runs.iter().map(|run| run.style).collect();
        assert_eq!(runs[0].text, "A");
        assert_eq!(
            styles[0],
            Style {
                fg: Color::Indexed(1),
                bg: Color::Default,
                attrs: attrs::BOLD
            }
        );
        assert_eq!(styles[1].fg, Color::Indexed(200));
        assert_eq!(styles[2].fg, Color::Rgb(1, 2, 3));
        assert_eq!(styles[2].bg, Color::Indexed(4));
        assert_eq!(
            styles[2].attrs,
            attrs::ITALIC
                | attrs::UNDERLINE
                | attrs::INVERSE
                | attrs::DIM
                | attrs::STRIKETHROUGH
                | attrs::HIDDEN
        );
        assert_eq!(runs[3].text, " D");
        assert_eq!(runs[3].style, Style::default());
    }

    #[test]
    fn wide_characters_skip_their_spacer() {
        let screen = screen_after(10, 2, "a中b".as_bytes());
        let line = &screen.lines[0];
        assert_eq!(line.text(), "a中b");
        assert_eq!(line.runs[1].text, "中");
        assert_eq!(line.runs[1].style.attrs, attrs::WIDE);
        assert_eq!(line.cells(), 4);
        assert_eq!(screen.cursor.col, 4);
    }

    #[test]
    fn trailing_default_blanks_are_trimmed_but_coloured_ones_kept() {
        let screen = screen_after(10, 2, b"ab   \r\n\x1b[41m  \x1b[0m");
        assert_eq!(screen.lines[0].runs.len(), 1);
        assert_eq!(screen.lines[0].text(), "ab");
        assert_eq!(screen.lines[1].text(), "  ");
        assert!(
            screen.lines[1]
                .runs
                .iter()
                .all(|run| run.style.bg == Color::Indexed(1))
        );
    }

    #[test]
    fn soft_wraps_are_flagged() {
        let screen = screen_after(4, 3, b"abcdef\r\ngh");
        assert!(screen.lines[0].wrapped);
        assert!(!screen.lines[1].wrapped);
        assert_eq!(screen.lines[1].text(), "ef");
    }

    #[test]
    fn scrolled_rows_move_to_scrollback_and_are_counted() {
        let mut emulator = Emulator::new(10, 3);
        emulator.feed(b"1\r\n2\r\n3\r\n4");
        let first = emulator.snapshot().clone();
        assert_eq!(first.scrolled_total, 1);
        assert_eq!(first.scrollback.len(), 1);
        assert_eq!(first.scrollback[0].text(), "1");
        emulator.feed(b"\r\n5\r\n6");
        let second = emulator.snapshot().clone();
        assert_eq!(second.scrolled_total, 3);
        assert_eq!(second.text(), "4\n5\n6\n");
        let diff = first.diff(&second).expect("a successor");
        assert_eq!(diff.scroll, 2);
        let mut viewer = first.clone();
        viewer.apply(&diff).unwrap();
        assert_eq!(viewer, second);
    }

    /// The screen a fresh emulator shows after `output`: every row converted anew.
    fn fresh(cols: u16, rows: u16, output: &[u8]) -> Screen {
        screen_after(cols, rows, output)
    }

    #[test]
    fn rows_taken_over_from_the_last_snapshot_equal_a_fresh_conversion() {
        let mut emulator = Emulator::new(30, 6);
        let mut output = Vec::new();
        let steps: [&[u8]; 9] = [
            b"one\r\ntwo\r\n\x1b[31mred\x1b[0m\r\n",
            b"x",
            b"\r\nscroll 1\r\nscroll 2\r\nscroll 3\r\nscroll 4\r\n",
            b"\x1b[2;1Hrewritten\x1b[6;1H",
            b"\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n",
            "wide 日本 e\u{301}\r\n".as_bytes(),
            b"\x1b[?1049halt\r\nscreen",
            b"\x1b[?1049l\r\nback",
            b"\x1b[2J\x1b[Hcleared",
        ];
        for step in steps {
            output.extend_from_slice(step);
            emulator.feed(step);
            let taken = emulator.snapshot().clone();
            let expected = fresh(30, 6, &output);
            let step = String::from_utf8_lossy(step);
            assert_eq!(taken.lines, expected.lines, "after {step:?}");
            // The alternate screen hides the history: rows drain into the scrollback only
            // from the main screen, earlier for the emulator snapshot step by step.
            if !taken.alt_screen && !expected.alt_screen {
                assert_eq!(taken.scrollback, expected.scrollback, "after {step:?}");
            }
        }
    }

    #[test]
    fn a_flood_waits_in_the_history_until_a_snapshot_takes_it() {
        let mut emulator = Emulator::new(20, 4);
        emulator.feed(b"first\r\n");
        emulator.snapshot();
        let flood: String = (0..FLOOD_HISTORY_ROWS + 100)
            .map(|i| format!("line {i}\r\n"))
            .collect();
        emulator.feed(flood.as_bytes());
        let all = fresh(20, 4, format!("first\r\n{flood}").as_bytes());
        let (held, holds) = emulator.snapshot_holding(Holding::Floods);
        assert!(holds);
        assert_eq!(held.lines, all.lines, "the screen is current");
        assert!(held.scrollback.is_empty() && held.scrolled_total == 0);
        emulator.feed(b"more\r\n");
        let (still, holds) = emulator.snapshot_holding(Holding::Held);
        assert!(holds && still.scrollback.is_empty());
        let (taken, holds) = emulator.snapshot_holding(Holding::Floods);
        assert!(!holds, "a few more rows bring the flood's with them");
        let all = fresh(20, 4, format!("first\r\n{flood}more\r\n").as_bytes());
        assert_eq!(taken, &all);
    }

    #[test]
    fn scroll_regions_do_not_feed_scrollback() {
        let screen = screen_after(10, 4, b"top\x1b[2;3r\x1b[3;1Ha\r\nb\r\nc");
        assert_eq!(screen.scrolled_total, 0);
        assert_eq!(screen.lines[0].text(), "top");
    }

    #[test]
    fn scrollback_is_bounded() {
        let mut emulator = Emulator::new(10, 2);
        for chunk in 0..3 {
            let output: String = (0..1500).map(|i| format!("{chunk}-{i}\r\n")).collect();
            emulator.feed(output.as_bytes());
            emulator.snapshot();
        }
        let screen = emulator.snapshot();
        assert_eq!(screen.scrollback.len(), SCROLLBACK_LINES);
        // The last line feed leaves an empty bottom row: 4500 lines, 4499 scrolls.
        assert_eq!(screen.scrolled_total, 4499);
        assert_eq!(screen.scrollback.back().unwrap().text(), "2-1498");
        assert_eq!(screen.lines[0].text(), "2-1499");
    }

    #[test]
    fn clearing_scrollback_is_followed() {
        let mut emulator = Emulator::new(10, 2);
        emulator.feed(b"a\r\nb\r\nc\r\n");
        assert!(!emulator.snapshot().scrollback.is_empty());
        emulator.feed(b"\x1b[H\x1b[2J\x1b[");
        emulator.feed(b"3J");
        assert!(emulator.snapshot().scrollback.is_empty());
    }

    #[test]
    fn alt_screen_title_and_cursor() {
        let screen = screen_after(10, 3, b"\x1b]0;hello\x07main\x1b[?1049h\x1b[2;3Hx\x1b[?25l");
        assert!(screen.alt_screen);
        assert_eq!(screen.title, "hello");
        assert_eq!(screen.lines[1].text(), "  x");
        assert_eq!(
            screen.cursor,
            Cursor {
                row: 1,
                col: 3,
                visible: false
            }
        );
    }

    #[test]
    fn input_modes_follow_the_program() {
        let mut emulator = Emulator::new(10, 3);
        assert_eq!(emulator.snapshot().modes, Modes::default());
        // What vim's terminfo start sequence (smkx) and a shell's readline ask for.
        emulator.feed(b"\x1b[?1h\x1b=\x1b[?2004h");
        let all = Modes {
            app_cursor: true,
            app_keypad: true,
            bracketed_paste: true,
        };
        assert_eq!(emulator.snapshot().modes, all);
        emulator.feed(b"\x1b[?1l\x1b>");
        let paste_only = Modes {
            bracketed_paste: true,
            ..Modes::default()
        };
        assert_eq!(emulator.snapshot().modes, paste_only);
        emulator.feed(b"\x1b[?2004l");
        assert_eq!(emulator.snapshot().modes, Modes::default());
    }

    #[test]
    fn queries_get_no_answer_and_sync_updates_wait() {
        let mut emulator = Emulator::new(10, 3);
        emulator.feed(b"\x1b[6n\x1b[c\x1b[?2026hA");
        assert_eq!(emulator.snapshot().lines[0].text(), "");
        assert!(emulator.sync_deadline().is_some());
        emulator.end_sync();
        assert_eq!(emulator.snapshot().lines[0].text(), "A");
    }
}
