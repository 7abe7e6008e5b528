//! Recording the child's output to an asciicast v2 file ([`asciicast`]) while the session
//! runs (`share --record`, `/share --record`).
//!
//! The host loop hands every chunk of PTY output to [`Recorder::output`], which never
//! waits: chunks queue for a thread that writes them, up to [`QUEUE_BYTES`]. When the disk
//! falls that far behind, a chunk is dropped rather than waited for, and the recording
//! says so where it happened (a marker event counting the bytes lost). Waiting would keep
//! every byte but hand the disk's pace to the program and to every viewer: a full or hung
//! file system (a network mount) would freeze the session it records. A gap costs only the
//! recording, and only after 8 MiB of backlog, which a local disk does not build up.
//!
//! The writer flushes each time the queue runs empty, so the file is whole up to the last
//! burst of output even if the process is killed; dropping the recorder (every way out of
//! the host, a panic included) writes what is queued, then flushes.

pub mod asciicast;

use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use asciicast::{Event, Header, Utf8Stream};

/// Most bytes of output queued for the disk; more are dropped.
pub const QUEUE_BYTES: usize = 8 << 20;
/// What the writer gathers before a write to the file.
const WRITE_BUFFER: usize = 64 << 10;

/// What the writer is handed, with when it happened.
enum Entry {
    Output(Duration, Vec<u8>),
    Resize(Duration, u16, u16),
    /// Output was dropped before this point.
    Gap(Duration, u64),
}

/// How a recording went, once finished.
#[derive(Debug)]
pub struct Outcome {
    /// Bytes of output dropped because the disk was behind.
    pub lost: u64,
    pub error: Option<io::Error>,
}

/// A recording in progress.
pub struct Recorder {
    /// `None` once finished.
    queue: Option<mpsc::Sender<Entry>>,
    /// Bytes of output in the queue or being written.
    queued: Arc<AtomicUsize>,
    limit: usize,
    started: Instant,
    /// Bytes dropped since the last gap was marked.
    unmarked: u64,
    lost: u64,
    writer: Option<JoinHandle<io::Result<()>>>,
}

impl Recorder {
    /// Creates `path`, which must not exist yet (a recording is never overwritten), readable
    /// by its owner only (it holds everything the screen showed), and starts recording.
    pub fn create(path: &Path, header: &Header) -> io::Result<Recorder> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        Recorder::start(Box::new(file), header, QUEUE_BYTES)
    }

    /// Records into `out`, queueing at most `limit` bytes of output for it.
    fn start(out: Box<dyn Write + Send>, header: &Header, limit: usize) -> io::Result<Recorder> {
        let mut out = BufWriter::with_capacity(WRITE_BUFFER, out);
        out.write_all(header.line().as_bytes())?;
        out.flush()?;
        let (queue, entries) = mpsc::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let writer = std::thread::Builder::new().name("recorder".into()).spawn({
            let queued = queued.clone();
            move || write_entries(out, &entries, &queued)
        })?;
        Ok(Recorder {
            queue: Some(queue),
            queued,
            limit,
            started: Instant::now(),
            unmarked: 0,
            lost: 0,
            writer: Some(writer),
        })
    }

    /// Output of the child; never waits for the disk.
    pub fn output(&mut self, bytes: &[u8]) {
        let queued = self.queued.load(Ordering::Acquire);
        if queued + bytes.len() > self.limit {
            self.unmarked += bytes.len() as u64;
            return;
        }
        let at = self.mark_gap();
        self.queued.fetch_add(bytes.len(), Ordering::AcqRel);
        self.send(Entry::Output(at, bytes.to_vec()));
    }

    /// The child's terminal is now `cols` by `rows`.
    pub fn resize(&mut self, cols: u16, rows: u16) {
        let at = self.mark_gap();
        self.send(Entry::Resize(at, cols, rows));
    }

    /// Writes what is queued and closes the file.
    pub fn finish(mut self) -> Outcome {
        self.close()
    }

    /// Marks the output dropped since the last mark, if any; returns the time now.
    fn mark_gap(&mut self) -> Duration {
        let at = self.started.elapsed();
        if self.unmarked > 0 {
            self.send(Entry::Gap(at, self.unmarked));
            self.lost += self.unmarked;
            self.unmarked = 0;
        }
        at
    }

    fn send(&self, entry: Entry) {
        // A writer that failed has gone; its error is told by `finish`.
        if let Some(queue) = &self.queue {
            let _ = queue.send(entry);
        }
    }

    fn close(&mut self) -> Outcome {
        self.mark_gap();
        self.queue = None;
        let error = match self.writer.take().map(JoinHandle::join) {
            None | Some(Ok(Ok(()))) => None,
            Some(Ok(Err(error))) => Some(error),
            Some(Err(_)) => Some(io::Error::other("the recording's writer panicked")),
        };
        Outcome {
            lost: self.lost,
            error,
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.close();
    }
}

/// The writer thread: one line per entry, a flush whenever the queue runs empty.
fn write_entries(
    mut out: BufWriter<Box<dyn Write + Send>>,
    entries: &Receiver<Entry>,
    queued: &AtomicUsize,
) -> io::Result<()> {
    let mut text = Utf8Stream::default();
    loop {
        let entry = match entries.try_recv() {
            Ok(entry) => entry,
            Err(TryRecvError::Empty) => {
                out.flush()?;
                match entries.recv() {
                    Ok(entry) => entry,
                    Err(_) => break,
                }
            }
            Err(TryRecvError::Disconnected) => break,
        };
        match entry {
            Entry::Output(at, bytes) => {
                let output = text.push(&bytes);
                if !output.is_empty() {
                    out.write_all(Event::Output(&output).line(at).as_bytes())?;
                }
                queued.fetch_sub(bytes.len(), Ordering::AcqRel);
            }
            Entry::Resize(at, cols, rows) => {
                out.write_all(Event::Resize { cols, rows }.line(at).as_bytes())?;
            }
            Entry::Gap(at, lost) => {
                // The character the lost bytes ended is gone with them.
                text.reset();
                let label = format!(
                    "share: {lost} bytes of output lost here (the disk was slower than the program)"
                );
                out.write_all(Event::Marker(&label).line(at).as_bytes())?;
            }
        }
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use std::sync::{Condvar, Mutex, PoisonError};

    use super::*;
    use crate::testing::{PATIENCE, Recording};

    /// A disk whose writes wait while it is closed.
    #[derive(Clone, Default)]
    struct Disk {
        written: Arc<Mutex<Vec<u8>>>,
        /// Whether writes wait.
        stalled: Arc<(Mutex<bool>, Condvar)>,
    }

    impl Disk {
        fn stall(&self, stalled: bool) {
            let (flag, changed) = &*self.stalled;
            *flag.lock().unwrap_or_else(PoisonError::into_inner) = stalled;
            changed.notify_all();
        }

        fn text(&self) -> String {
            let written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
            String::from_utf8(written.clone()).expect("UTF-8")
        }
    }

    impl Write for Disk {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            let (flag, changed) = &*self.stalled;
            let stalled = flag.lock().unwrap_or_else(PoisonError::into_inner);
            drop(changed.wait_while(stalled, |stalled| *stalled));
            self.written
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn header() -> Header {
        Header {
            cols: 20,
            rows: 4,
            timestamp: 1_700_000_000,
            title: "test".into(),
        }
    }

    #[test]
    fn output_and_resizes_replay_to_the_screen_they_made() {
        let disk = Disk::default();
        let mut recorder = Recorder::start(Box::new(disk.clone()), &header(), 1 << 20).unwrap();
        let mut live = crate::Emulator::new(20, 4);
        let chunks: [&[u8]; 4] = [
            b"\x1b[1;31mred\x1b[0m \xe2\x82",
            b"\xac euro\r\nline 2\r\n",
            b"line 3\r\nline 4\r\nline 5",
            b"\x1b[2;3Hmoved",
        ];
        for (i, chunk) in chunks.iter().enumerate() {
            if i == 2 {
                recorder.resize(12, 3);
                live.resize(12, 3);
            }
            recorder.output(chunk);
            live.feed(chunk);
        }
        let outcome = recorder.finish();
        assert!(outcome.error.is_none() && outcome.lost == 0, "{outcome:?}");
        let recording = Recording::parse(&disk.text());
        assert_eq!(recording.header["width"], 20);
        assert_eq!(recording.codes(), ["o", "o", "r", "o", "o"]);
        assert_eq!(recording.events[2].2, "12x3");
        let mut replayed = recording.replay();
        assert_eq!(replayed.snapshot().lines, live.snapshot().lines);
        assert_eq!(replayed.snapshot().cursor, live.snapshot().cursor);
    }

    #[test]
    fn a_disk_that_falls_behind_costs_a_marked_gap_never_a_wait() {
        let disk = Disk::default();
        let mut recorder = Recorder::start(Box::new(disk.clone()), &header(), 1000).unwrap();
        disk.stall(true);
        let chunk = [b'x'; 100];
        // While the disk stands still, the producer goes on: 100 KB into a 1 KB queue.
        let (done, finished) = mpsc::channel();
        let producer = std::thread::spawn(move || {
            for _ in 0..1000 {
                recorder.output(&chunk);
            }
            done.send(()).expect("the test waits");
            recorder
        });
        finished
            .recv_timeout(PATIENCE)
            .expect("output never waits for the disk");
        let mut recorder = producer.join().expect("the producer");
        disk.stall(false);
        let drained = Instant::now();
        while recorder.queued.load(Ordering::Acquire) > 0 {
            assert!(drained.elapsed() < PATIENCE, "the queue drains");
            std::thread::yield_now();
        }
        recorder.output(b"after the gap");
        let outcome = recorder.finish();
        assert!(outcome.error.is_none(), "{outcome:?}");

        let recording = Recording::parse(&disk.text());
        let kept = recording.output().matches('x').count();
        // What the writer took before it stalled, what its buffer held, and the queue.
        assert!(kept <= 100 + WRITE_BUFFER + 1000, "{kept} bytes kept");
        assert!(outcome.lost > 0);
        assert_eq!(outcome.lost, 100_000 - kept as u64);
        // One gap, or more if the writer took from the queue before its buffer filled
        // and the disk's stall held it (the threads' timing decides): each marked, and
        // the marks add up to what was lost.
        let markers: Vec<_> = recording.events.iter().filter(|e| e.1 == "m").collect();
        let marked: u64 = markers
            .iter()
            .map(|marker| {
                let count = marker.2.strip_prefix("share: ").and_then(|rest| {
                    rest.strip_suffix(
                        " bytes of output lost here (the disk was slower than the program)",
                    )
                });
                count
                    .and_then(|n| n.parse::<u64>().ok())
                    .expect("a gap marker")
            })
            .sum();
        assert!(!markers.is_empty() && marked == outcome.lost, "{markers:?}");
        let last = recording.events.last().expect("events");
        assert_eq!(
            last.2, "after the gap",
            "the gap is marked before what follows it"
        );
    }
}
