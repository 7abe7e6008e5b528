//! The terminal emulator, fed the child's output: parsed at once on the feeder's thread
//! when it comes after a pause and is small (an isolated change reaches the screen without
//! waking another thread), otherwise by a thread of its own through a backlog. Feeding
//! never waits for that thread unless the backlog is full, so under a flood the local
//! mirror runs at the terminal's pace. The thread takes the whole backlog at once; during
//! a flood it lets the backlog grow into batches first, and skips the plain text of a
//! batch that would scroll away unseen (see [`crate::sync::skipping`]). A batch ends when
//! the output pauses: nothing fed for a moment and nothing waiting in the PTY, since a
//! feeder that stops in a flood (descheduled, or held up by the terminal) is no pause.
//! A pause can still be the child's being descheduled: if output comes while the thread
//! parses the lines that end a skipped batch, it leaves the rest of them to the next
//! batch, where they are skipped in turn; if none has come when it starts on them, it
//! parses them for the screen first and for the history they fill 10 ms later, so that a
//! flood's last frame waits for a screen of lines, not thousands. Feeders wake the thread
//! only when a batch is due sooner than it would wake. So a text flood costs the emulator
//! about a screen and a history of lines per batch, not every byte, and it leaves the CPU
//! to the child and the local terminal. The host reads the emulator's state through a
//! lock when it takes a snapshot, and hears of every change the thread makes through a
//! watch channel, which also says when a flood has ended: the output paused and all of it
//! is parsed.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, oneshot, watch};

use crate::sync::emulator::Emulator;
use crate::sync::skipping::Scanner;

/// Bytes of output waiting for the emulator before feeding waits: room for a batch ten
/// times the lines [`Emulator::lines_that_bury`] keeps of ordinary text.
const MAX_BACKLOG: usize = 4 * 1024 * 1024;
/// The same after a flood batch the emulator had to parse in full: what a Ctrl-C stops
/// is then parsed within milliseconds, while a batch of ordinary text lines still fits
/// (and a skip in it brings the larger backlog back).
const UNSKIPPABLE_BACKLOG: usize = 512 * 1024;
/// The thread's nice value (0 is the default, 19 the lowest priority).
const NICENESS: i32 = 5;
/// Output taken at once that makes the next round a batch: more than a full redraw.
const FLOOD_BYTES: usize = 64 * 1024;
/// Most bytes parsed while holding the emulator's lock, so snapshots are not held up.
const PARSE_PIECE: usize = 16 * 1024;

/// How output is parsed: at once or in batches. The host's frame pacer sets it
/// (`crate::host::pacer::BATCHES`), with the timings it must agree with.
#[derive(Debug, Clone, Copy)]
pub struct Batches {
    /// Longest a batch waits to grow, so snapshots during a flood stay this fresh.
    pub longest: Duration,
    /// A pause in the output this long ends the batch: what follows a flood (the prompt
    /// after a Ctrl-C) is parsed at once, and the flood's last frame can go.
    pub ended_by_pause: Duration,
    /// Output is parsed at once, by the feeder, while it stays within this many bytes
    /// since the last pause (of `ended_by_pause`); the rest goes to the thread.
    pub inline_bytes: usize,
    /// How long after a flood's last screen is shown, its history still owed (see
    /// [`Emulator::feed_screen_first`]), the thread parses that history if no output
    /// comes first: time for the host to take the screen before the thread takes the
    /// emulator for a couple of milliseconds.
    pub history_after: Duration,
}

/// Says whether output is waiting to be fed (read from the PTY). On a loaded machine the
/// feeder often stops for a millisecond or more in the middle of a flood (descheduled,
/// or writing to a slow terminal): without this, each such stop would end a batch and
/// make the thread parse the lines a longer batch would have skipped.
pub type Unread = Box<dyn Fn() -> bool + Send>;

/// What feeding did with the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fed {
    /// Parsed before returning: the screen may have changed.
    Parsed,
    /// Queued for the thread, which reports the change when it has parsed it.
    Queued,
}

enum Op {
    Output(Vec<u8>),
    Resize(u16, u16),
    /// Answered once everything queued before it is parsed.
    Settle(oneshot::Sender<()>),
}

/// What the thread last reported to the host.
#[derive(Debug, Clone, Copy, Default)]
struct Report {
    /// Bumped on every report.
    generation: u64,
    /// The output paused after a flood and all of it is parsed.
    settled: bool,
}

struct Backlog {
    ops: VecDeque<Op>,
    /// Output bytes in `ops`.
    bytes: usize,
    /// When output was last fed.
    fed_at: Option<Instant>,
    /// Output bytes queued before feeding waits.
    limit: usize,
    closed: bool,
    batches: Batches,
    /// Someone parses: the thread the ops it took, or the feeder inline.
    parsing: bool,
    /// When the thread's current round started, if the last one took a flood's worth.
    flooding: Option<Instant>,
    /// Output parsed inline since the last pause.
    inline_bytes: usize,
    unread: Option<Unread>,
    /// Whether the thread waits for work, and until when: a feeder wakes it only when
    /// the backlog is due before that, not for every chunk of a flood.
    thread: ThreadState,
}

#[derive(Debug, Clone, Copy)]
enum ThreadState {
    /// Parsing, or about to look at the backlog.
    Awake,
    /// Waiting until it is woken, or at most until the instant.
    Waiting(Option<Instant>),
}

impl Backlog {
    /// When the thread should take the backlog: at once, unless it is flooding and
    /// the batch can still grow.
    fn due(&self) -> Option<Instant> {
        let first = self.ops.front()?;
        let now = Instant::now();
        let (Some(round), Some(fed_at)) = (self.flooding, self.fed_at) else {
            return Some(now);
        };
        let only_output = self.ops.len() == 1 && matches!(first, Op::Output(_));
        if !only_output || self.bytes >= self.limit {
            return Some(now);
        }
        let longest = round + self.batches.longest;
        let pause = fed_at + self.batches.ended_by_pause;
        if pause <= now && !self.paused(now) {
            // Feeding paused, the output did not: the feeder wakes the thread when it
            // feeds what is waiting.
            return Some(longest);
        }
        Some(longest.min(pause))
    }

    /// Whether what was just queued needs the thread woken: it waits past the time the
    /// backlog is now due.
    fn wakes_thread(&self) -> bool {
        match self.thread {
            ThreadState::Awake => false,
            ThreadState::Waiting(until) => self
                .due()
                .is_some_and(|due| until.is_none_or(|until| due < until)),
        }
    }

    /// Whether the output has paused since it was last fed: nothing fed for a while, and
    /// nothing waiting to be fed.
    fn paused(&self, now: Instant) -> bool {
        self.feeding_paused(now) && !self.unread.as_ref().is_some_and(|unread| unread())
    }

    /// Whether nothing was fed for a while.
    fn feeding_paused(&self, now: Instant) -> bool {
        self.fed_at
            .is_none_or(|fed_at| now.duration_since(fed_at) >= self.batches.ended_by_pause)
    }

    /// Notes `len` bytes of output fed now; returns whether the feeder parses them itself:
    /// nothing is queued or being parsed, no flood is on, and they keep the output since
    /// the last pause within the inline budget.
    fn feeds_inline(&mut self, len: usize) -> bool {
        let now = Instant::now();
        // A stop in feeding is enough to renew the small inline budget (a flood soon goes
        // to the thread anyway): an isolated change pays no system call to ask the PTY.
        if self.feeding_paused(now) {
            self.inline_bytes = 0;
        }
        self.fed_at = Some(now);
        let inline = self.ops.is_empty()
            && !self.parsing
            && self.flooding.is_none()
            && self.inline_bytes + len <= self.batches.inline_bytes;
        if inline {
            self.inline_bytes += len;
            self.parsing = true;
        }
        inline
    }
}

struct Shared {
    emulator: Mutex<Emulator>,
    /// Follows every byte the emulator parses (see `sync/skipping.rs`); used by whoever
    /// parses, one at a time (`Backlog::parsing`).
    scanner: Mutex<Scanner>,
    backlog: Mutex<Backlog>,
    /// Signals the thread: work due before it would wake, the backlog closed, or a
    /// synchronized update begun.
    work: Condvar,
    /// Signals feeders: the thread took the backlog.
    room: Notify,
    reports: watch::Sender<Report>,
}

impl Shared {
    fn emulator(&self) -> MutexGuard<'_, Emulator> {
        lock(&self.emulator)
    }

    /// Parses output, skipping what the scanner allows and the emulator's state permits.
    /// With `announce`, every change is reported to the host.
    ///
    /// After a skip, the lines that end the output are parsed a piece at a time, and
    /// `more_output` is asked before each piece: if it says yes, the output did not pause
    /// after all (on a busy machine the child is often descheduled for a millisecond or
    /// more), and the rest is left for the caller to parse with what came, where a skip
    /// may bury it. So a flood that only seemed to stop costs a piece of those lines, not
    /// all of them. If nothing is queued when they start, the output paused: they are
    /// parsed for their screen first and the history they fill follows (see
    /// [`Emulator::feed_screen_first`]), so a flood's last frame need not wait for it.
    fn parse_output(
        &self,
        bytes: &[u8],
        announce: bool,
        more_output: &mut dyn FnMut() -> bool,
    ) -> Parsed {
        let mut scanner = lock(&self.scanner);
        let keep = self.emulator().lines_that_bury();
        let mut parsed = 0;
        let mut skipped = 0;
        // Where the last skip ended, if it was the last one found: the lines from there
        // bury everything before them.
        let mut burying_from = None;
        let skips = scanner.scan(bytes, keep);
        let plain = scanner.plain();
        for skip in skips {
            self.parse(&bytes[parsed..skip.from], announce, false);
            let mut emulator = self.emulator();
            if emulator.may_skip() {
                skipped += skip.to - skip.from;
                emulator.feed(b"\r");
                emulator.feed(&skip.pen);
                parsed = skip.to;
                burying_from = Some(skip.to);
            } else {
                parsed = skip.from;
                burying_from = None;
            }
        }
        let plain_tail = scanner.plain_tail().filter(|_| skipped > 0);
        let Some(plain_tail) = plain_tail else {
            self.parse(&bytes[parsed..], announce, plain);
            return Parsed {
                skipped,
                left_from: None,
            };
        };
        while parsed < bytes.len() {
            // Leaves only right after a line feed of the plain text that ends the output
            // (where a skip ends, or a piece). Asked before the first piece too: output
            // that came during the scan leaves every line to the next round's skip.
            if parsed >= plain_tail {
                if more_output() {
                    return Parsed {
                        skipped,
                        left_from: Some(parsed),
                    };
                }
                // The output paused: unless it goes on, these lines end in the screen
                // viewers see last, which need not wait for the history they also fill.
                if burying_from == Some(parsed)
                    && self.parse_screen_first(&bytes[parsed..], announce)
                {
                    return Parsed {
                        skipped,
                        left_from: None,
                    };
                }
            }
            let end = line_end(bytes, (parsed + PARSE_PIECE).max(plain_tail));
            self.parse(&bytes[parsed..end], announce, false);
            parsed = end;
        }
        Parsed {
            skipped,
            left_from: None,
        }
    }

    /// Parses `lines`, plain text that buries everything before it, for its screen first
    /// (see [`Emulator::feed_screen_first`]); false if it has no stretch to leave out.
    fn parse_screen_first(&self, lines: &[u8], announce: bool) -> bool {
        let mut emulator = self.emulator();
        let rows = emulator.size().1;
        // The lines start right after a line feed of plain text, with the whole screen
        // scrolling: where a new scanner starts.
        let keep = emulator.lines_that_clear_the_screen();
        let Some(stretch) = Scanner::new(rows).scan(lines, keep).pop() else {
            return false;
        };
        emulator.feed_screen_first(lines.to_vec(), &stretch);
        if announce {
            self.changed(emulator, false);
        }
        true
    }

    /// Parses `bytes`, `plain` text or not (see [`Emulator::feed_scanned`]).
    fn parse(&self, bytes: &[u8], announce: bool, plain: bool) {
        for piece in bytes.chunks(PARSE_PIECE) {
            let mut emulator = self.emulator();
            emulator.feed_scanned(piece, plain);
            if announce {
                self.changed(emulator, false);
            }
        }
    }

    /// Reports a change; takes the lock so a snapshot sees the change it hears of.
    fn changed(&self, emulator: MutexGuard<'_, Emulator>, settled: bool) {
        self.reports.send_modify(|report| {
            report.generation = report.generation.wrapping_add(1);
            report.settled = settled;
        });
        drop(emulator);
    }
}

/// What [`Shared::parse_output`] did with the output.
struct Parsed {
    /// Bytes skipped.
    skipped: usize,
    /// Where the parse stopped, if it did: the bytes from there on are for the next round.
    left_from: Option<usize>,
}

/// Just past the first line feed at or after `from`; the end if there is none.
fn line_end(bytes: &[u8], from: usize) -> usize {
    bytes
        .get(from..)
        .and_then(|rest| rest.iter().position(|&byte| byte == b'\n'))
        .map_or(bytes.len(), |at| from + at + 1)
}

pub struct EmulatorThread {
    shared: Arc<Shared>,
    reports: watch::Receiver<Report>,
}

impl EmulatorThread {
    /// Starts the thread. The thread ends when this is dropped.
    pub fn spawn(emulator: Emulator, batches: Batches) -> EmulatorThread {
        let (reports_tx, reports) = watch::channel(Report::default());
        let thread = Parser::new(emulator, batches, reports_tx);
        let shared = thread.shared.clone();
        std::thread::spawn(move || thread.run());
        EmulatorThread { shared, reports }
    }

    /// Feeds output of the child: parses it at once if it is small and comes after a
    /// pause, else queues it for the thread, waiting only while the backlog is full.
    pub async fn feed(&self, bytes: &[u8]) -> Fed {
        loop {
            let room = self.shared.room.notified();
            tokio::pin!(room);
            // Registered before the check, so a take in between is not missed.
            room.as_mut().enable();
            {
                let mut backlog = lock(&self.shared.backlog);
                if backlog.feeds_inline(bytes.len()) {
                    drop(backlog);
                    self.parse_inline(bytes);
                    return Fed::Parsed;
                }
                if backlog.bytes < backlog.limit || backlog.closed {
                    backlog.bytes += bytes.len();
                    match backlog.ops.back_mut() {
                        // One contiguous backlog, so a skip can span what came in chunks.
                        Some(Op::Output(queued)) => queued.extend_from_slice(bytes),
                        _ => backlog.ops.push_back(Op::Output(bytes.to_vec())),
                    }
                    if backlog.wakes_thread() {
                        self.shared.work.notify_one();
                    }
                    return Fed::Queued;
                }
            }
            room.await;
        }
    }

    /// Parses output on this thread (the backlog is marked as being parsed).
    fn parse_inline(&self, bytes: &[u8]) {
        self.shared.parse_output(bytes, false, &mut || false);
        let syncing = self.shared.emulator().sync_deadline().is_some();
        lock(&self.shared.backlog).parsing = false;
        if syncing {
            // The thread shows a synchronized update the child never ends: it must know.
            self.shared.work.notify_one();
        }
    }

    /// Tells the thread where fed output comes from, so that it can tell a pause in the
    /// output from a pause in feeding.
    pub fn feeds_from(&self, unread: Unread) {
        lock(&self.shared.backlog).unread = Some(unread);
    }

    /// Resizes the emulator after the output queued so far.
    pub async fn resize(&self, cols: u16, rows: u16) {
        self.push(Op::Resize(cols, rows));
    }

    /// Waits until everything fed so far is parsed.
    pub async fn settle(&self) {
        let (done, parsed) = oneshot::channel();
        {
            let mut backlog = lock(&self.shared.backlog);
            if backlog.ops.is_empty() && !backlog.parsing {
                return;
            }
            backlog.ops.push_back(Op::Settle(done));
        }
        self.shared.work.notify_one();
        let _ = parsed.await;
    }

    fn push(&self, op: Op) {
        lock(&self.shared.backlog).ops.push_back(op);
        self.shared.work.notify_one();
    }

    /// Resolves once the thread changed the emulator's state since the last
    /// [`lock`](Self::lock); returns whether a flood has ended: the output paused and all
    /// of it is parsed.
    pub async fn changed(&mut self) -> bool {
        if self.reports.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
        self.reports.borrow().settled
    }

    /// The emulator, for a snapshot; changes up to now count as seen.
    pub fn lock(&mut self) -> MutexGuard<'_, Emulator> {
        let emulator = self.shared.emulator();
        // Changes are announced with the lock held, so none is lost between the two.
        self.reports.borrow_and_update();
        emulator
    }
}

impl Drop for EmulatorThread {
    fn drop(&mut self) {
        let mut backlog = lock(&self.shared.backlog);
        backlog.closed = true;
        // The source may hold the PTY open: it goes with its reader, not with the thread.
        backlog.unread = None;
        drop(backlog);
        self.shared.work.notify_one();
    }
}

/// Lets the child, the PTY and the local terminal have the CPU first: the emulator's work
/// can wait, and the longer it waits during a flood the more of it is skipped.
fn lower_priority() {
    let tid = nix::unistd::gettid().as_raw() as nix::libc::id_t;
    // SAFETY: plain system call on this thread's id; a failure leaves the priority as is.
    unsafe { nix::libc::setpriority(nix::libc::PRIO_PROCESS, tid, NICENESS) };
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The ops of one round, and whether the output had paused when they were taken.
struct Round {
    ops: VecDeque<Op>,
    paused: bool,
}

/// The thread's side.
struct Parser {
    shared: Arc<Shared>,
}

impl Parser {
    fn new(emulator: Emulator, batches: Batches, reports: watch::Sender<Report>) -> Parser {
        let rows = emulator.size().1;
        Parser {
            shared: Arc::new(Shared {
                emulator: Mutex::new(emulator),
                scanner: Mutex::new(Scanner::new(rows)),
                backlog: Mutex::new(Backlog {
                    ops: VecDeque::new(),
                    bytes: 0,
                    fed_at: None,
                    limit: MAX_BACKLOG,
                    closed: false,
                    batches,
                    parsing: false,
                    flooding: None,
                    inline_bytes: 0,
                    unread: None,
                    thread: ThreadState::Awake,
                }),
                work: Condvar::new(),
                room: Notify::new(),
                reports,
            }),
        }
    }

    fn run(self) {
        lower_priority();
        while let Some(mut round) = self.next_round() {
            while let Some(op) = round.ops.pop_front() {
                match op {
                    Op::Output(bytes) => {
                        // Left output goes back in front of the backlog: nothing of this
                        // round may come after it.
                        let may_leave = round.ops.is_empty();
                        let Parsed { skipped, left_from } = self.output(&bytes, may_leave);
                        tracing::trace!(bytes = bytes.len(), skipped, left_from, "output parsed");
                        if skipped > 0 || bytes.len() >= FLOOD_BYTES {
                            let limit = if skipped > 0 {
                                MAX_BACKLOG
                            } else {
                                UNSKIPPABLE_BACKLOG
                            };
                            lock(&self.shared.backlog).limit = limit;
                        }
                        if let Some(from) = left_from {
                            self.leave(bytes, from);
                        }
                    }
                    Op::Resize(cols, rows) => {
                        lock(&self.shared.scanner).resized(rows);
                        let mut emulator = self.shared.emulator();
                        emulator.resize(cols, rows);
                        self.shared.changed(emulator, false);
                    }
                    Op::Settle(done) => {
                        let _ = done.send(());
                    }
                }
            }
            self.round_done(round.paused);
        }
    }

    /// Waits for work and takes all of it when due; `None` once the backlog is closed.
    /// Ends a synchronized update the child never ended in time.
    fn next_round(&self) -> Option<Round> {
        loop {
            let (sync_deadline, owed_since) = {
                let emulator = self.shared.emulator();
                (emulator.sync_deadline(), emulator.history_owed_since())
            };
            let mut backlog = lock(&self.shared.backlog);
            if backlog.closed {
                return None;
            }
            let due = backlog.due();
            let history_due = owed_since.map(|since| since + backlog.batches.history_after);
            let now = Instant::now();
            if due.is_some_and(|due| due <= now) {
                let paused = backlog.flooding.is_some() && backlog.paused(now);
                let taken = std::mem::take(&mut backlog.bytes);
                let ops = std::mem::take(&mut backlog.ops);
                backlog.flooding = (taken >= FLOOD_BYTES).then_some(now);
                backlog.parsing = true;
                drop(backlog);
                self.shared.room.notify_waiters();
                return Some(Round { ops, paused });
            }
            if sync_deadline.is_some_and(|deadline| deadline <= now) {
                drop(backlog);
                // The child never ended its synchronized update: show it anyway.
                let mut emulator = self.shared.emulator();
                emulator.end_sync();
                self.shared.changed(emulator, false);
                continue;
            }
            if history_due.is_some_and(|at| at <= now) {
                drop(backlog);
                // The screen is as it was: nothing to report.
                self.shared.emulator().settle_history();
                continue;
            }
            let wake = due
                .into_iter()
                .chain(sync_deadline)
                .chain(history_due)
                .min();
            backlog.thread = ThreadState::Waiting(wake);
            let work = &self.shared.work;
            let mut backlog = match wake {
                None => work.wait(backlog).unwrap_or_else(PoisonError::into_inner),
                Some(wake) => {
                    let waited = work.wait_timeout(backlog, wake - now);
                    waited.unwrap_or_else(PoisonError::into_inner).0
                }
            };
            backlog.thread = ThreadState::Awake;
        }
    }

    /// A round is parsed: once the output of a flood has paused and nothing came since,
    /// the host hears that the flood is over.
    fn round_done(&self, paused: bool) {
        let mut backlog = lock(&self.shared.backlog);
        backlog.parsing = false;
        let settled = paused && backlog.ops.is_empty();
        drop(backlog);
        if settled {
            self.shared.changed(self.shared.emulator(), true);
        }
    }

    /// Parses output as the thread does, reporting every change; stops early if more
    /// output is queued (see [`Shared::parse_output`]).
    fn output(&self, bytes: &[u8], may_leave: bool) -> Parsed {
        let backlog = &self.shared.backlog;
        let mut more_output =
            || may_leave && matches!(lock(backlog).ops.front(), Some(Op::Output(_)));
        self.shared.parse_output(bytes, true, &mut more_output)
    }

    /// Puts the output the thread left unparsed back in front of the backlog, with the
    /// output that came since.
    fn leave(&self, mut bytes: Vec<u8>, from: usize) {
        bytes.drain(..from);
        let mut backlog = lock(&self.shared.backlog);
        backlog.bytes += bytes.len();
        match backlog.ops.front_mut() {
            Some(Op::Output(came)) => {
                bytes.extend_from_slice(came);
                *came = bytes;
            }
            _ => backlog.ops.push_front(Op::Output(bytes)),
        }
    }
}

#[cfg(test)]
mod tests {
    use protocol::Screen;

    use crate::sync::emulator::Holding;

    use super::*;

    /// xorshift64: reproducible floods without a dependency.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    /// Mostly text lines (plain, coloured, UTF-8 with wide and combining characters,
    /// tabs, lines longer than the screen, bare line feeds), now and then a sequence that
    /// must stop skipping (cursor moves, clears, titles, scrolling regions, the alternate
    /// screen, strings with text inside, synchronized updates, broken UTF-8); it ends
    /// with a partial line.
    fn flood(rng: &mut Rng, lines: usize) -> Vec<u8> {
        flood_with(rng, lines, 10_000)
    }

    /// [`flood`] with one line in about `rare` a sequence that stops skipping.
    fn flood_with(rng: &mut Rng, lines: usize, rare: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for n in 0..lines {
            // Sequences that stop skipping are rare enough to leave long runs of text.
            let kind = if rng.below(rare) == 0 {
                11
            } else {
                rng.below(11)
            };
            let line = match kind {
                0..=3 => format!("{n} INFO request served in {}ms\r\n", rng.below(100)),
                4 => format!("\x1b[1;32mok\x1b[0m case_{n} \x1b[33m{}ms\x1b[m\r\n", n % 7),
                5 => format!("\x1b[4{}m résumé 日本語 e\u{301} 🚀 {n}\r\n", n % 8),
                6 => format!("{}\r\n", "wrap ".repeat(rng.below(60))),
                7 if n % 5 == 0 => format!("\x18\t{n:x}\x18\r\n"),
                7 => format!("\t{n:x}\t{:x}\r\n", n * 7919),
                8 => format!("bare line feed {n}\n"),
                9 => format!("\x1b[38;2;{};2;3mtrue colour{n}", rng.below(256)),
                10 => format!("no newline {n} "),
                _ => match rng.below(14) {
                    0 => "\x1b[3A\x1b[2Kup".to_owned(),
                    1 => "\x1b[H\x1b[2J".to_owned(),
                    2 => format!("\x1b]0;title {n}\x07"),
                    3 => "\x1b[2;5r".to_owned(),
                    4 => "\x1b[r".to_owned(),
                    5 => "\x1b[?1049h".to_owned(),
                    6 => "\x1b[?1049l".to_owned(),
                    7 => "\x1bPq text\r\n\r\n in a string\x1b\\".to_owned(),
                    8 => "\x1b[?2026hsync\r\n\x1b[?2026l".to_owned(),
                    9 => {
                        out.extend_from_slice(b"broken \x88 utf-8\r\n");
                        continue;
                    }
                    10 => "\x1b[1\n0m control inside\r\n".to_owned(),
                    11 => "\x1b[3J".to_owned(),
                    12 => "\x1b(0qqq\x1b(B\r\n".to_owned(),
                    _ => "\x1bc".to_owned(),
                },
            };
            out.extend_from_slice(line.as_bytes());
        }
        out.extend_from_slice("partial 日本".as_bytes());
        out
    }

    /// Splits `bytes` at random points, inside characters and sequences too, into
    /// chunks of `largest / 2` to `largest` bytes.
    fn chunks<'a>(rng: &mut Rng, bytes: &'a [u8], largest: usize) -> Vec<&'a [u8]> {
        let mut chunks = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let size = largest / 2 + rng.below(largest / 2);
            let (chunk, after) = rest.split_at(size.clamp(1, rest.len()));
            chunks.push(chunk);
            rest = after;
        }
        chunks
    }

    /// The screens after each chunk in `snapshot_after` and at the end, by a full parse
    /// and by the skipping parser; and the bytes skipped.
    fn both(
        (cols, rows): (u16, u16),
        chunks: &[&[u8]],
        snapshot_after: &[usize],
    ) -> (Screen, Screen, usize) {
        let mut full = Emulator::new(cols, rows);
        let batches = crate::host::pacer::BATCHES;
        let skipping = Parser::new(
            Emulator::new(cols, rows),
            batches,
            watch::channel(Report::default()).0,
        );
        let mut skipped = 0;
        for (i, chunk) in chunks.iter().enumerate() {
            full.feed(chunk);
            skipped += skipping.output(chunk, true).skipped;
            if snapshot_after.contains(&i) {
                full.snapshot();
                skipping.shared.emulator().snapshot();
            }
        }
        let skipped_screen = skipping.shared.emulator().snapshot().clone();
        (full.snapshot().clone(), skipped_screen, skipped)
    }

    #[test]
    fn skipping_ends_in_the_state_of_a_full_parse() {
        let mut skipped = 0;
        for seed in 1..=12u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let size = (20 + rng.below(100) as u16, 5 + rng.below(40) as u16);
            let lines = 10_000 + rng.below(30_000);
            let output = flood(&mut rng, lines);
            let largest = 1 << (10 + rng.below(12));
            let chunks = chunks(&mut rng, &output, largest);
            let (full, skipping, bytes) = both(size, &chunks, &[]);
            assert_eq!(full, skipping, "seed {seed}, size {size:?}");
            skipped += bytes;
        }
        assert!(skipped > 0, "the floods had stretches to skip");
    }

    #[test]
    fn output_left_for_the_next_round_ends_in_the_state_of_a_full_parse() {
        let (mut skipped, mut left) = (0, 0);
        for seed in 1..=8u64 {
            let mut rng = Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d));
            let (cols, rows) = (20 + rng.below(100) as u16, 5 + rng.below(40) as u16);
            let lines = 10_000 + rng.below(30_000);
            // Sequences that stop skipping often enough to end some rounds.
            let output = flood_with(&mut rng, lines, 1_500);
            let largest = 1 << (14 + rng.below(8));
            let chunks = chunks(&mut rng, &output, largest);
            let mut full = Emulator::new(cols, rows);
            let parser = Parser::new(
                Emulator::new(cols, rows),
                crate::host::pacer::BATCHES,
                watch::channel(Report::default()).0,
            );
            // As the thread does: what a round leaves comes first in the next one.
            let mut backlog = Vec::new();
            for (i, chunk) in chunks.iter().enumerate() {
                full.feed(chunk);
                backlog.extend_from_slice(chunk);
                let last = i + 1 == chunks.len();
                let mut more_output = || !last && rng.below(3) == 0;
                let parsed = parser.shared.parse_output(&backlog, true, &mut more_output);
                skipped += parsed.skipped;
                let Some(from) = parsed.left_from else {
                    backlog.clear();
                    continue;
                };
                left += 1;
                backlog.drain(..from);
                if rng.below(2) == 0 {
                    continue;
                }
                // Nothing came after all: the next round is what was left, and the
                // screen and scrollback are those of a full parse.
                let parsed = parser.shared.parse_output(&backlog, true, &mut || false);
                assert!(parsed.left_from.is_none());
                backlog.clear();
                let expected = full.snapshot().clone();
                let mut screen = parser.shared.emulator().snapshot().clone();
                // Rows beyond the history counted between two snapshots are not counted,
                // and a skip leaves fewer of them.
                screen.scrolled_total = expected.scrolled_total;
                assert_eq!(
                    screen, expected,
                    "seed {seed}, size {cols}x{rows}, chunk {i}"
                );
            }
            assert!(backlog.is_empty(), "the last round parses everything");
            let expected = full.snapshot().clone();
            let mut screen = parser.shared.emulator().snapshot().clone();
            screen.scrolled_total = expected.scrolled_total;
            assert_eq!(screen, expected, "seed {seed}, size {cols}x{rows}");
        }
        assert!(
            skipped > 0 && left > 0,
            "skipped {skipped} bytes, left output {left} times"
        );
    }

    #[test]
    fn snapshots_during_the_flood_leave_the_end_state_alone() {
        let mut skipped = 0;
        for seed in 1..=4 {
            let mut rng = Rng(seed);
            let output = flood(&mut rng, 40_000);
            let chunks = chunks(&mut rng, &output, 1024 * 1024);
            let snapshots: Vec<usize> = (0..chunks.len()).step_by(2).collect();
            let (full, mut skipping, bytes) = both((80, 24), &chunks, &snapshots);
            // Rows beyond the history the emulator counts between two snapshots are not
            // counted, and a skip leaves fewer of them.
            skipping.scrolled_total = full.scrolled_total;
            assert_eq!(full, skipping, "seed {seed}");
            skipped += bytes;
        }
        assert!(skipped > 0, "the floods had stretches to skip");
    }

    /// Output that is mostly plain text touching few rows (a spinner, a line typed and
    /// rubbed out, wide and zero-width characters, wide characters overwritten at the
    /// start of a row, lines that wrap, coloured log lines), now and then a sequence that
    /// is not (cursor moves, erasures, the alternate screen).
    fn plain_chunk(rng: &mut Rng, step: usize) -> String {
        match rng.below(14) {
            0 => format!("\r{}", ["|", "/", "-", "\\"][step % 4]),
            1 => format!("typed {step}"),
            2 => "\r\x1b[Kprompt$ ".to_owned(),
            3 => format!("\x1b[3{}mlog line {step}\x1b[m\r\n", step % 8),
            4 => "日本".to_owned(),
            5 => "\rx".to_owned(),
            6 => "e\u{301}".to_owned(),
            7 => format!("{}\r\n", "wrapping ".repeat(1 + rng.below(8))),
            8 => "\t·\t".to_owned(),
            9 => "\r\n".repeat(1 + rng.below(4)),
            10 => ["\x1b[2A", "\x1b[H", "\x1b[2J", "\x1bM"][rng.below(4)].to_owned(),
            11 => ["\x1b[?1049h", "\x1b[?1049l"][rng.below(2)].to_owned(),
            _ => format!("tick {step} {}\r\n", rng.below(1000)),
        }
    }

    #[test]
    fn snapshots_after_plain_text_match_those_that_compare_every_row() {
        let mut plain = 0;
        for seed in 1..=8u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let (cols, rows) = (8 + rng.below(30) as u16, 2 + rng.below(10) as u16);
            let mut full = Emulator::new(cols, rows);
            let parser = Parser::new(
                Emulator::new(cols, rows),
                crate::host::pacer::BATCHES,
                watch::channel(Report::default()).0,
            );
            for step in 0..600 {
                let chunk = plain_chunk(&mut rng, step);
                full.feed(chunk.as_bytes());
                parser.output(chunk.as_bytes(), true);
                plain += usize::from(lock(&parser.shared.scanner).plain());
                // Now and then two chunks between snapshots.
                if rng.below(4) == 0 {
                    continue;
                }
                let expected = full.snapshot().clone();
                let snapshot = parser.shared.emulator().snapshot().clone();
                assert_eq!(
                    snapshot, expected,
                    "seed {seed}, step {step}, {cols}x{rows}"
                );
            }
        }
        assert!(plain > 2000, "most chunks were plain text: {plain}");
    }

    #[test]
    fn a_stop_in_feeding_ends_no_batch_while_output_waits() {
        use std::sync::atomic::{AtomicBool, Ordering};

        let batches = crate::host::pacer::BATCHES;
        let parser = Parser::new(
            Emulator::new(80, 24),
            batches,
            watch::channel(Report::default()).0,
        );
        let waiting = Arc::new(AtomicBool::new(true));
        let mut backlog = lock(&parser.shared.backlog);
        let now = Instant::now();
        let round = now - batches.longest / 2;
        backlog.flooding = Some(round);
        backlog.fed_at = Some(now - 2 * batches.ended_by_pause);
        backlog.ops.push_back(Op::Output(vec![b'x'; 1000]));
        backlog.bytes = 1000;
        let source = waiting.clone();
        backlog.unread = Some(Box::new(move || source.load(Ordering::Relaxed)));

        assert_eq!(
            backlog.due(),
            Some(round + batches.longest),
            "the batch grows on"
        );
        assert!(!backlog.paused(Instant::now()));
        waiting.store(false, Ordering::Relaxed);
        assert!(
            backlog.due().is_some_and(|due| due <= Instant::now()),
            "the output paused"
        );
        assert!(backlog.paused(Instant::now()));
    }

    /// `count` numbered lines in red, the SGR sequences `pens` gives before some of them.
    fn red_lines(count: usize, pens: &[(usize, &str)]) -> Vec<u8> {
        let mut output = b"start\r\n\x1b[31m".to_vec();
        for n in 0..count {
            if let Some((_, sgr)) = pens.iter().find(|(at, _)| *at == n) {
                output.extend_from_slice(sgr.as_bytes());
            }
            output.extend_from_slice(format!("line {n}\r\n").as_bytes());
        }
        output
    }

    #[test]
    fn the_pen_set_in_a_skipped_stretch_holds_after_it() {
        let output = red_lines(20_000, &[(5, "\x1b[0;42m"), (9, "\x1b[1m")]);
        let (full, skipping, skipped) = both((40, 10), &[&output], &[]);
        assert!(skipped > 0);
        assert_eq!(full, skipping);
    }

    #[test]
    fn a_floods_last_screen_shows_before_its_history_which_follows_exactly() {
        // The pen changes in the lines only the history shows (the screen must have it),
        // and in the last screen (the lines before keep the pen they began with when the
        // history is parsed again).
        let mut output = red_lines(6_000, &[(5_000, "\x1b[1m"), (5_995, "\x1b[0;42m")]);
        output.extend_from_slice(b"end");
        let mut full = Emulator::new(40, 10);
        full.feed(&output);
        let expected = full.snapshot().clone();
        let parser = Parser::new(
            Emulator::new(40, 10),
            crate::host::pacer::BATCHES,
            watch::channel(Report::default()).0,
        );
        let parsed = parser.output(&output, true);
        assert!(parsed.skipped > 0 && parsed.left_from.is_none());

        let mut emulator = parser.shared.emulator();
        assert!(emulator.history_owed_since().is_some(), "the history waits");
        let (screen, held) = emulator.snapshot_holding(Holding::Held);
        assert!(held, "the rows it owes are held from the scrollback");
        assert_eq!(
            (&screen.lines, screen.cursor),
            (&expected.lines, expected.cursor),
            "the screen is the full parse's"
        );
        assert!(
            screen.scrollback.is_empty(),
            "{:?}",
            screen.scrollback.len()
        );

        let mut screen = emulator.snapshot().clone();
        assert!(emulator.history_owed_since().is_none());
        screen.scrolled_total = expected.scrolled_total;
        assert_eq!(screen, expected, "the history followed");
    }

    #[tokio::test]
    async fn the_thread_parses_an_owed_history_once_the_output_stays_quiet() {
        let lines: String = (0..6_000).map(|n| format!("line {n}\r\n")).collect();
        // Long enough that the test sees the history owed before the thread parses it.
        let batches = Batches {
            history_after: Duration::from_millis(200),
            ..crate::host::pacer::BATCHES
        };
        let mut thread = EmulatorThread::spawn(Emulator::new(40, 10), batches);
        assert_eq!(thread.feed(lines.as_bytes()).await, Fed::Queued);
        thread.settle().await;
        let owed_since = thread.lock().history_owed_since();
        let owed_since = owed_since.expect("the thread showed the screen first");
        // Nothing is reported when the history is parsed (the screen stays): ask until then.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while thread.lock().history_owed_since().is_some() {
            assert!(
                std::time::Instant::now() < deadline,
                "the history is still owed"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(owed_since.elapsed() >= batches.history_after);
        let mut expected = Emulator::new(40, 10);
        expected.feed(lines.as_bytes());
        let expected = expected.snapshot().clone();
        let mut screen = thread.lock().snapshot().clone();
        screen.scrolled_total = expected.scrolled_total;
        assert_eq!(screen, expected);
    }
}
