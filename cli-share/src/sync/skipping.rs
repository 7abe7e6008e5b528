//! Finds the stretches of a flood the emulator may leave unparsed when it falls behind:
//! plain text whose every row is pushed out of the screen and the kept history by the
//! line feeds of plain text that follow it, so that parsing it or not ends in the same
//! screen and history.
//!
//! A [`Scanner`] sees every byte the emulator is fed, in order, and follows the parser's
//! states (vte's, conservatively: it may believe a sequence lasts longer than it does,
//! never shorter) and the scrolling region. In a backlog it marks a [`Skip`] inside a run
//! of plain text (printable UTF-8, `\t`, `\r`, `\n`, SGR sequences and CAN, which
//! outside a sequence does nothing) that starts after a line feed and ends after a `\r\n`
//! followed, still in the run, by enough line feeds.
//! The emulator then gets `\r` and the SGR sequences that set the pen in place of the
//! stretch: the text after it starts in the same column with the same pen, and whatever
//! rows differ (the cursor may be on another row) scroll away with the rest.

use std::collections::VecDeque;

/// Longest SGR sequence that counts as plain text.
const MAX_SGR_BYTES: usize = 64;
/// Bytes of parameters that are numbers.
const NUMERIC: &[u8] = b"0123456789;:";
/// Most parameters of such a sequence (the parser ignores a sequence with more than 32).
const MAX_PARAMS: usize = 16;
/// The C0 controls that start or cut sequences short.
const BEL: u8 = 0x07;
const CAN: u8 = 0x18;
const SUB: u8 = 0x1a;
const ESC: u8 = 0x1b;

/// A stretch of a backlog the emulator may skip: feed it `\r` and `pen` instead of
/// `bytes[from..to]`, provided the emulator is on its main screen and not buffering a
/// synchronized update when it has parsed `bytes[..from]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    pub from: usize,
    pub to: usize,
    /// The SGR sequences of the stretch that still count for the pen at its end.
    pub pen: Vec<u8>,
}

/// The parser's state, coarsely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ground,
    Escape,
    EscapeIntermediate,
    Csi,
    /// OSC: ends with BEL as well.
    Osc,
    /// DCS, SOS, PM, APC: end only with CAN, SUB or ESC as far as the scanner knows.
    String,
}

impl State {
    /// The state after `byte` in a sequence that only waits for its end: nothing in it is
    /// plain text.
    fn until_end(self, byte: u8) -> State {
        match (self, byte) {
            (_, CAN | SUB) => State::Ground,
            (_, ESC) => State::Escape,
            (State::Osc, BEL) => State::Ground,
            (State::EscapeIntermediate, 0x30..=0x7e) => State::Ground,
            (state, _) => state,
        }
    }
}

/// The bytes of a control sequence between `ESC [` and its final byte.
#[derive(Debug, Default)]
struct Csi {
    /// Parameter and intermediate bytes, up to [`MAX_SGR_BYTES`].
    params: Vec<u8>,
    overflow: bool,
    /// A C0 control came inside (the parser executes it).
    controls: bool,
}

impl Csi {
    fn clear(&mut self) {
        self.params.clear();
        self.overflow = false;
        self.controls = false;
    }

    fn push(&mut self, byte: u8) {
        if self.params.len() < MAX_SGR_BYTES {
            self.params.push(byte);
        } else {
            self.overflow = true;
        }
    }

    /// Only numbers and separators, few enough that the parser takes them all.
    fn numeric(&self) -> bool {
        let separators = self.params.iter().filter(|b| matches!(b, b';' | b':'));
        !self.overflow
            && !self.controls
            && separators.count() < MAX_PARAMS
            && self.params.iter().all(|b| NUMERIC.contains(b))
    }

    /// Parameters, each the first of its sub-parameters, saturating like the parser.
    fn values(&self) -> Vec<u16> {
        self.params
            .split(|b| *b == b';')
            .map(|param| {
                param
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .fold(0u16, |value, digit| {
                        value
                            .saturating_mul(10)
                            .saturating_add(u16::from(digit - b'0'))
                    })
            })
            .collect()
    }
}

/// A run of plain text being read.
#[derive(Debug)]
struct Run {
    /// Just after its first line feed: where a skip may start.
    first_line: Option<usize>,
    /// Line feeds so far.
    line_feeds: u64,
    /// Ends of `\r\n` (position, line feeds up to it) with too few line feeds after them yet.
    pending_cuts: VecDeque<(usize, u64)>,
    /// The latest `\r\n` end with enough line feeds after it.
    cut: Option<usize>,
    /// SGR sequences in the run: start, end, whether it resets the pen first.
    sgrs: Vec<(usize, usize, bool)>,
    /// An escape sequence that may turn out to be an SGR started here.
    escape_at: Option<usize>,
}

impl Run {
    fn new() -> Run {
        Run {
            first_line: None,
            line_feeds: 0,
            pending_cuts: VecDeque::new(),
            cut: None,
            sgrs: Vec::new(),
            escape_at: None,
        }
    }

    fn line_feed(&mut self, end: usize, after_cr: bool, keep: usize) {
        self.line_feeds += 1;
        if self.first_line.is_none() {
            self.first_line = Some(end);
        } else if after_cr {
            self.pending_cuts.push_back((end, self.line_feeds));
        }
        while let Some(&(end, line_feeds)) = self.pending_cuts.front() {
            if self.line_feeds - line_feeds < keep as u64 {
                break;
            }
            self.cut = Some(end);
            self.pending_cuts.pop_front();
        }
    }

    /// The skip this run allows, if any.
    fn skip(self, bytes: &[u8]) -> Option<Skip> {
        let (from, to) = (self.first_line?, self.cut?);
        // A stray byte of a broken UTF-8 sequence may be executed as a C1 control.
        if to <= from || std::str::from_utf8(&bytes[from..to]).is_err() {
            return None;
        }
        let inside: Vec<_> = self
            .sgrs
            .iter()
            .filter(|(start, _, _)| (from..to).contains(start))
            .collect();
        let last_reset = inside.iter().rposition(|(_, _, reset)| *reset).unwrap_or(0);
        let pen = inside[last_reset..]
            .iter()
            .flat_map(|(start, end, _)| &bytes[*start..*end])
            .copied()
            .collect();
        Some(Skip { from, to, pen })
    }
}

/// Follows the output fed to the emulator; see the module's documentation.
#[derive(Debug)]
pub struct Scanner {
    state: State,
    csi: Csi,
    rows: usize,
    /// The scrolling region is the whole screen (as far as the scanner can tell).
    full_region: bool,
    /// What the last scan read was all plain text; see [`Scanner::plain`].
    plain: bool,
    /// Where the plain text that ends the last scan starts; see [`Scanner::plain_tail`].
    plain_tail: Option<usize>,
}

impl Scanner {
    pub fn new(rows: u16) -> Scanner {
        Scanner {
            state: State::Ground,
            csi: Csi::default(),
            rows: usize::from(rows.max(1)),
            full_region: true,
            plain: false,
            plain_tail: None,
        }
    }

    /// The emulator was resized, which resets its scrolling region.
    pub fn resized(&mut self, rows: u16) {
        self.rows = usize::from(rows.max(1));
        self.full_region = true;
    }

    /// Reads the next output and returns the stretches of it that may be skipped, in
    /// order: those followed by at least `keep` line feeds of plain text.
    pub fn scan(&mut self, bytes: &[u8], keep: usize) -> Vec<Skip> {
        let starts_plain = self.state == State::Ground && self.full_region;
        let mut scan = Scan::new(bytes, keep, starts_plain);
        let mut at = 0;
        while let Some(&byte) = bytes.get(at) {
            at = match self.state {
                State::Ground => self.ground(byte, at, &mut scan),
                State::Escape => self.escape(byte, at, &mut scan),
                State::Csi => self.csi(byte, at, &mut scan),
                State::EscapeIntermediate | State::Osc | State::String => {
                    self.state = self.state.until_end(byte);
                    at + 1
                }
            };
        }
        let ends_plain = self.state == State::Ground && self.full_region;
        self.plain_tail = scan.plain_from.filter(|_| ends_plain);
        let all_plain = scan.plain && ends_plain;
        let skips = scan.finish();
        // A stray byte of a broken UTF-8 sequence may be executed as a C1 control. A
        // character cut at the end is fine: the parser completes it where the cursor is.
        // Checked last: a flood's batch has skips, and reading it all again is for nothing.
        self.plain = all_plain
            && skips.is_empty()
            && std::str::from_utf8(bytes)
                .map_or_else(|error| error.error_len().is_none(), |_| true);
        skips
    }

    /// Whether everything the last [`scan`](Self::scan) read was plain text (printable
    /// UTF-8, `\t`, `\r`, `\n`, SGR sequences and CAN), outside any sequence at both ends,
    /// with a scrolling region that is the whole screen, and none of it to skip: output
    /// that, fed as it is, writes only on the rows the cursor goes through, and moves it
    /// only along and down.
    pub fn plain(&self) -> bool {
        self.plain
    }

    /// Where the plain text (as for [`plain`](Self::plain), UTF-8 aside) that ends what the
    /// last [`scan`](Self::scan) read starts, if it ends so. A line feed in it was read
    /// outside any sequence, and after it the scanner is in the state it is in now: the
    /// parser may stop right after that line feed and leave the rest for the next scan,
    /// which reads it again.
    pub fn plain_tail(&self) -> Option<usize> {
        self.plain_tail
    }

    /// A byte outside any sequence; returns where to read on.
    fn ground(&mut self, byte: u8, at: usize, scan: &mut Scan) -> usize {
        match byte {
            ESC => {
                self.state = State::Escape;
                scan.sequence_starts(at);
                at + 1
            }
            // CAN outside a sequence is a control the parser executes as nothing.
            b'\n' | b'\r' | b'\t' | CAN | 0x20..=0x7e | 0x80..=0xff => {
                scan.text(at, self.full_region)
            }
            _ => {
                scan.not_text(at);
                at + 1
            }
        }
    }

    /// The byte after ESC says which sequence this is: only a CSI may be an SGR.
    fn escape(&mut self, byte: u8, at: usize, scan: &mut Scan) -> usize {
        self.state = match byte {
            b'[' => {
                self.csi.clear();
                State::Csi
            }
            b']' => State::Osc,
            b'P' | b'X' | b'^' | b'_' => State::String,
            0x20..=0x2f => State::EscapeIntermediate,
            b'c' => {
                // Full reset.
                self.full_region = true;
                State::Ground
            }
            0x30..=0x7e | CAN | SUB => State::Ground,
            _ => State::Escape,
        };
        if self.state != State::Csi {
            scan.not_text(at);
        }
        at + 1
    }

    /// A byte of a control sequence: its parameters, or its end.
    fn csi(&mut self, byte: u8, at: usize, scan: &mut Scan) -> usize {
        match byte {
            0x40..=0x7e => {
                self.state = State::Ground;
                let sgr = self.csi_dispatch(byte);
                scan.sequence_ends(at, sgr);
            }
            CAN | SUB => {
                self.state = State::Ground;
                scan.not_text(at);
            }
            ESC => {
                self.state = State::Escape;
                scan.not_text(at);
            }
            0x20..=0x3f => self.csi.push(byte),
            0x00..=0x1f => self.csi.controls = true,
            _ => {}
        }
        at + 1
    }

    /// Follows the scrolling region. Returns `Some(resets)` for an SGR sequence that is
    /// plain text: `resets` when it sets the pen from scratch.
    fn csi_dispatch(&mut self, byte: u8) -> Option<bool> {
        let numeric = self.csi.numeric();
        match byte {
            b'm' if numeric => {
                let params = &self.csi.params;
                let resets = params.is_empty()
                    || params.as_slice() == b"0"
                    || params.starts_with(b"0;")
                    || params.starts_with(b";");
                Some(resets)
            }
            b'r' if self.csi.overflow => {
                // Unknown: assume the worst until the region is reset.
                self.full_region = false;
                None
            }
            // Markers and intermediates make it another sequence (or none).
            b'r' if self.csi.params.iter().all(|b| NUMERIC.contains(b)) => {
                let values = self.csi.values();
                let top = values.first().copied().filter(|v| *v != 0).unwrap_or(1);
                let bottom = values.get(1).copied().filter(|v| *v != 0);
                let bottom = bottom.map_or(self.rows, usize::from);
                if values.len() > 2 {
                    self.full_region = false;
                } else if usize::from(top) < bottom {
                    self.full_region = top == 1 && bottom >= self.rows;
                }
                None
            }
            _ => None,
        }
    }
}

/// Bytes before the first one that may end a run of text or feed a line (a C0 control other
/// than `\t`, or DEL). A flood is mostly such text, so it is read a word at a time.
fn text_len(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH_BITS: u64 = ONES << 7;
    let (words, rest) = bytes.as_chunks::<8>();
    for (index, word) in words.iter().enumerate() {
        let value = u64::from_ne_bytes(*word);
        // Whether a byte is below 0x20 or is 0x7f (a DEL turns into a zero byte): exact as
        // an answer for the word; a tab makes it look at the word's bytes for nothing.
        let below_space = value.wrapping_sub(ONES * 0x20) & !value;
        let del = value ^ (ONES * 0x7f);
        let is_del = del.wrapping_sub(ONES) & !del;
        if (below_space | is_del) & HIGH_BITS != 0
            && let Some(end) = first_end(word)
        {
            return index * 8 + end;
        }
    }
    words.len() * 8 + first_end(rest).unwrap_or(rest.len())
}

/// [`text_len`] a byte at a time, if a byte ends the text.
fn first_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .iter()
        .position(|&byte| (byte < 0x20 && byte != b'\t') || byte == 0x7f)
}

/// One backlog being scanned: the run of plain text open at the current byte, and the
/// skips the runs closed so far allow.
struct Scan<'a> {
    bytes: &'a [u8],
    keep: usize,
    run: Option<Run>,
    skips: Vec<Skip>,
    /// Nothing but plain text so far.
    plain: bool,
    /// Where the plain text up to the current byte starts.
    plain_from: Option<usize>,
}

impl<'a> Scan<'a> {
    fn new(bytes: &'a [u8], keep: usize, plain: bool) -> Scan<'a> {
        Scan {
            bytes,
            keep,
            run: None,
            skips: Vec::new(),
            plain,
            plain_from: None,
        }
    }

    /// Text at `at`: opens a run where the whole screen scrolls, and counts a line feed.
    /// Returns where the next byte is that may end the run or feed a line: the bulk of a
    /// flood is read in one go.
    fn text(&mut self, at: usize, full_region: bool) -> usize {
        let bytes = self.bytes;
        if self.run.is_none() && full_region {
            self.run = Some(Run::new());
        }
        if full_region {
            self.plain_from.get_or_insert(at);
        } else {
            self.plain_from = None;
        }
        if let (Some(run), b'\n') = (&mut self.run, bytes[at]) {
            let after_cr = at.checked_sub(1).map(|i| bytes[i]) == Some(b'\r');
            run.line_feed(at + 1, after_cr, self.keep);
        }
        at + 1 + text_len(&bytes[at + 1..])
    }

    /// An escape sequence starts at `at`; it may turn out to be an SGR.
    fn sequence_starts(&mut self, at: usize) {
        if let Some(run) = &mut self.run {
            run.escape_at = Some(at);
        }
    }

    /// The sequence ends at `at`: an SGR (`Some(resets)`) is plain text and stays in the
    /// run; any other sequence is not.
    fn sequence_ends(&mut self, at: usize, sgr: Option<bool>) {
        match (&mut self.run, sgr) {
            (Some(run), Some(resets)) => {
                let start = run.escape_at.take().unwrap_or(at);
                run.sgrs.push((start, at + 1, resets));
            }
            // Plain, and no run to keep it in.
            (None, Some(_)) => {}
            _ => self.not_text(at),
        }
    }

    /// The byte at `at` is not plain text: the open run ends before it, or before the
    /// sequence it is part of.
    fn not_text(&mut self, at: usize) {
        self.plain = false;
        self.plain_from = None;
        let Some(mut closed) = self.run.take() else {
            return;
        };
        let end = closed.escape_at.unwrap_or(at);
        // Line feeds at or after `end` belong to no run: they were never counted, but the
        // cut must also lie before the end.
        if closed.cut.is_some_and(|cut| cut > end) {
            closed.cut = None;
        }
        if let Some(skip) = closed.skip(&self.bytes[..end]) {
            self.skips.push(skip);
        }
    }

    /// The skips of the whole backlog. A sequence cut off by its end ends the run where
    /// it started.
    fn finish(mut self) -> Vec<Skip> {
        self.not_text(self.bytes.len());
        self.skips
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(count: usize) -> String {
        (0..count).map(|i| format!("line {i}\r\n")).collect()
    }

    #[test]
    fn text_ends_at_the_first_control_wherever_it_lies_in_a_word() {
        let naive = |bytes: &[u8]| first_end(bytes).unwrap_or(bytes.len());
        // Bytes on either side of the limits, high bytes (UTF-8) that must not borrow into
        // a match, and tabs that look like controls to the word test.
        let alphabet = [
            0x00, 0x09, 0x0a, 0x1b, 0x1f, 0x20, 0x41, 0x7e, 0x7f, 0x80, 0xc3, 0xff,
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for len in 0..40 {
            for _ in 0..200 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        // Mostly text, so the first stop lands anywhere in a long line.
                        match seed % 16 {
                            0 => alphabet[(seed >> 8) as usize % alphabet.len()],
                            _ => [b'a', 0x09, 0x80, 0xff, 0x20][(seed >> 8) as usize % 5],
                        }
                    })
                    .collect();
                assert_eq!(text_len(&bytes), naive(&bytes), "{bytes:02x?}");
            }
        }
    }

    #[test]
    fn the_plain_text_that_ends_a_scan_is_found() {
        let cases: [(&[u8], Option<usize>); 11] = [
            (b"one\r\ntwo\r\n", Some(0)),
            (b"one\r\n\x18\ntwo\r\n", Some(0)),
            (b"\x1b[31\x18after\r\n", Some(5)),
            (b"\x1b[31mred\x1b[m\r\nplain\r\n", Some(5)),
            (b"up\x1b[2Aover\r\n", Some(6)),
            (b"\x1b]0;title\r\nstill\x07after\r\n", Some(17)),
            (b"\x1bPq\r\nin a string\r\n\x1b\\after\r\n", Some(20)),
            (b"lines\r\n\x1b[3", None),
            (b"lines\r\n\x1b]0;tit", None),
            (b"\x1b[2;5rin a region\r\n", None),
            (b"bell\x07", None),
        ];
        for (bytes, expected) in cases {
            let mut scanner = Scanner::new(24);
            scanner.scan(bytes, 2);
            assert_eq!(
                scanner.plain_tail(),
                expected,
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        // The stretch goes on from one scan to the next only as far as that scan reads.
        let mut scanner = Scanner::new(24);
        scanner.scan(b"\x1b]0;title", 2);
        scanner.scan(b" more\x07text\r\n", 2);
        assert_eq!(scanner.plain_tail(), Some(6));
    }

    #[test]
    fn plain_text_is_told_from_the_rest() {
        let mut scanner = Scanner::new(24);
        for (bytes, plain) in [
            (&b"text\r\n\ttabbed \x1b[1;31mred\x1b[m\r\n"[..], true),
            (b"a cancel \x18 between sequences does nothing", true),
            ("\x1b[32m日本語 e\u{301}".as_bytes(), true),
            (b"\x1b[2Jcleared", false),
            (b"up\x1b[A", false),
            (b"bell\x07", false),
            (b"back\x08", false),
            (b"\xff broken", false),
            (b"cut \xe6\x97", true),
            (b"\x1b[3", false),
            (b"1m starts inside a sequence", false),
            (b"\x1b]0;title\x07", false),
            (b"\x1b[2;10r", false),
            (b"text in a region", false),
            (b"\x1b[r", false),
            (b"text again", true),
        ] {
            scanner.scan(bytes, 100);
            let text = String::from_utf8_lossy(bytes);
            assert_eq!(scanner.plain(), plain, "{text:?}");
        }
    }

    #[test]
    fn a_long_run_of_text_keeps_its_last_lines() {
        let text = lines(100);
        let skips = Scanner::new(24).scan(text.as_bytes(), 10);
        assert_eq!(skips.len(), 1);
        let skip = &skips[0];
        assert_eq!(&text[..skip.from], "line 0\r\n");
        assert_eq!(text[skip.to..].matches('\n').count(), 10);
        assert!(skip.pen.is_empty());
    }

    #[test]
    fn short_runs_and_bare_line_feeds_are_kept() {
        let mut scanner = Scanner::new(24);
        assert!(scanner.scan(lines(10).as_bytes(), 10).is_empty());
        let bare: String = (0..100).map(|i| format!("line {i}\n")).collect();
        assert!(scanner.scan(bare.as_bytes(), 10).is_empty());
    }

    #[test]
    fn the_pen_is_replayed_from_its_last_reset() {
        let text = format!(
            "a\r\n\x1b[1m{}\x1b[0;31mb\x1b[4m\r\n{}",
            lines(5),
            lines(20)
        );
        let skips = Scanner::new(24).scan(text.as_bytes(), 10);
        assert_eq!(skips.len(), 1);
        assert_eq!(skips[0].pen, b"\x1b[0;31m\x1b[4m");
    }

    #[test]
    fn other_sequences_split_runs() {
        let text = format!(
            "{}\x1b[2J{}\x1b]0;title\x07{}",
            lines(30),
            lines(30),
            lines(30)
        );
        let skips = Scanner::new(24).scan(text.as_bytes(), 10);
        assert_eq!(skips.len(), 3);
        let clear = text.find("\x1b[2J").unwrap();
        assert!(skips[0].to <= clear && skips[1].from > clear);
    }

    #[test]
    fn scrolling_regions_stop_skipping_until_reset() {
        let mut scanner = Scanner::new(24);
        assert!(
            scanner
                .scan(format!("\x1b[2;20r{}", lines(50)).as_bytes(), 10)
                .is_empty()
        );
        assert!(scanner.scan(lines(50).as_bytes(), 10).is_empty());
        assert!(
            scanner
                .scan(format!("\x1b[1;24r{}", lines(50)).as_bytes(), 10)
                .len()
                == 1
        );
        scanner.scan(b"\x1b[5r", 10);
        assert!(scanner.scan(lines(50).as_bytes(), 10).is_empty());
        scanner.resized(30);
        assert_eq!(scanner.scan(lines(50).as_bytes(), 10).len(), 1);
    }

    #[test]
    fn text_inside_strings_is_not_plain() {
        let mut scanner = Scanner::new(24);
        // An unterminated device control string swallows the text that follows.
        let text = format!("\x1bPq{}", lines(50));
        assert!(scanner.scan(text.as_bytes(), 10).is_empty());
        assert!(scanner.scan(lines(50).as_bytes(), 10).is_empty());
        assert_eq!(
            scanner
                .scan(format!("\x1b\\{}", lines(50)).as_bytes(), 10)
                .len(),
            1
        );
    }

    #[test]
    fn broken_utf8_is_not_skipped() {
        let mut text = lines(20).into_bytes();
        text.extend_from_slice(b"\x88\r\n");
        text.extend_from_slice(lines(20).as_bytes());
        assert!(Scanner::new(24).scan(&text, 10).is_empty());
    }
}
