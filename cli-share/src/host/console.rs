//! The local user's side of the host: the child's output mirrored on their terminal, and
//! notices only they see (links, a QR code, viewers joining, reconnections). A notice never enters
//! the emulator, so viewers never see it; the screen is repainted from the emulator on
//! the user's next key.

use crate::sync::emulator_thread::EmulatorThread;
use crate::term::printable::one_line;
use crate::term::qr;
use crate::term::render::{self, Viewport};
use crate::term::stdio::LocalOut;
use crate::term::tty;

pub struct Console {
    out: LocalOut,
    /// Whether the output is a terminal: notices and repaints go there, else to stderr.
    interactive: bool,
    /// A notice covers part of the screen: repaint on the next keystroke.
    repaint_pending: bool,
}

impl Console {
    pub fn new(out: LocalOut, interactive: bool) -> Console {
        Console {
            out,
            interactive,
            repaint_pending: false,
        }
    }

    /// Resolves once the terminal can take more output without waiting. Cancel-safe.
    pub async fn ready(&self) {
        self.out.ready().await;
    }

    /// Whether the terminal can take more output without waiting: if not, the PTY is not
    /// being read, and a pause in the output may be ours.
    pub fn has_room(&self) -> bool {
        self.out.has_room()
    }

    /// Output of the child, as it comes.
    pub async fn output(&self, bytes: Vec<u8>) {
        self.out.write(bytes).await;
    }

    /// Typed text the child has not seen yet (a command being typed): echoed on a
    /// terminal only.
    pub async fn echo(&self, bytes: Vec<u8>) {
        if self.interactive && !bytes.is_empty() {
            self.out.write(bytes).await;
        }
    }

    /// A message for the local user only: lines apart at `\r\n`. What it quotes from the
    /// relay (links, refusals, close reasons) is printed without control sequences.
    pub async fn notice(&mut self, text: &str) {
        let lines: Vec<String> = text.split("\r\n").map(one_line).collect();
        if self.interactive {
            let body = lines.join("\r\n\x1b[7m share \x1b[0m ");
            // Consecutive notices stack without blank lines between them.
            let lead = if self.repaint_pending { "" } else { "\r\n" };
            let message = format!("{lead}\x1b[0m\x1b[7m share \x1b[0m {body}\r\n");
            self.out.write(message.into_bytes()).await;
            self.repaint_pending = true;
        } else {
            for line in lines {
                eprintln!("share: {line}");
            }
        }
    }

    /// Draws `link` as a QR code, if the terminal is wide enough for one.
    pub async fn qr(&mut self, link: &str) {
        let (cols, rows) = tty::local_size();
        let drawing = match qr::draw(link) {
            Ok(drawing) => drawing,
            Err(error) => {
                let told = format!("cannot draw the link as a QR code: {error}");
                return self.notice(&told).await;
            }
        };
        if drawing.cols > usize::from(cols) {
            let told = format!(
                "the QR code needs {} columns and this terminal has {cols}: widen it and type \
                 /share --qr again",
                drawing.cols
            );
            return self.notice(&told).await;
        }
        if drawing.rows.len() > usize::from(rows) {
            let told = format!(
                "the QR code needs {} rows and this terminal has {rows}: scroll up to see it \
                 whole, or enlarge the terminal and type /share --qr again",
                drawing.rows.len()
            );
            self.notice(&told).await;
        }
        self.picture(&drawing.rows).await;
        self.notice("the QR code above is the read-only link, as secret as the link itself")
            .await;
    }

    /// Rows of cells drawn flush left below what is on the terminal.
    async fn picture(&mut self, rows: &[String]) {
        let lead = if self.repaint_pending { "" } else { "\r\n" };
        let drawn = format!("{lead}{}\r\n", rows.join("\r\n"));
        if self.interactive {
            self.out.write(drawn.into_bytes()).await;
            self.repaint_pending = true;
        } else {
            eprint!("{}", drawn.replace("\r\n", "\n"));
        }
    }

    /// Before the user's next key: repaints the screen a notice covered, from `emulator`.
    pub async fn before_key(&mut self, emulator: &mut EmulatorThread) {
        if !self.repaint_pending {
            return;
        }
        self.repaint_pending = false;
        let (cols, rows) = tty::local_size();
        // The local terminal shows all output read so far: so must the repaint.
        emulator.settle().await;
        let painted = render::full(emulator.lock().snapshot(), Viewport { cols, rows });
        self.out.write(painted).await;
    }

    /// Waits until everything written is on the terminal.
    pub fn finish(self) {
        self.out.finish();
    }
}
