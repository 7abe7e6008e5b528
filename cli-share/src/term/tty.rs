//! The local terminal: whether stdin/stdout are terminals, their size, and raw mode that is
//! undone on every way out (the guard's drop on return or error, a panic hook for panics).

use std::io::{IsTerminal, stdin, stdout};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::{Mutex, Once, PoisonError};

use nix::sys::termios::{self, SetArg, Termios};

/// Mode of stdin before raw mode, for the panic hook.
static SAVED: Mutex<Option<Termios>> = Mutex::new(None);
static PANIC_HOOK: Once = Once::new();

/// Raw mode on stdin while alive.
pub struct RawMode(());

impl RawMode {
    /// Switches stdin to raw mode if it is a terminal; `None` when it is not.
    pub fn enable() -> std::io::Result<Option<RawMode>> {
        let input = stdin();
        if !input.is_terminal() {
            return Ok(None);
        }
        let original = termios::tcgetattr(input.as_fd())?;
        let mut raw = original.clone();
        termios::cfmakeraw(&mut raw);
        *SAVED.lock().unwrap_or_else(PoisonError::into_inner) = Some(original);
        PANIC_HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore();
                previous(info);
            }));
        });
        termios::tcsetattr(input.as_fd(), SetArg::TCSADRAIN, &raw)?;
        Ok(Some(RawMode(())))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        restore();
    }
}

/// Puts stdin back in the mode it had before raw mode, once.
fn restore() {
    let saved = SAVED.lock().unwrap_or_else(PoisonError::into_inner).take();
    if let Some(original) = saved {
        let _ = termios::tcsetattr(stdin().as_fd(), SetArg::TCSADRAIN, &original);
    }
}

nix::ioctl_read_bad!(get_window_size, nix::libc::TIOCGWINSZ, nix::libc::winsize);

/// Columns and rows of the terminal on `fd`.
fn size_of(fd: BorrowedFd<'_>) -> Option<(u16, u16)> {
    let mut size = nix::libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` into the struct we pass.
    unsafe { get_window_size(fd.as_raw_fd(), &mut size) }.ok()?;
    (size.ws_col > 0 && size.ws_row > 0).then_some((size.ws_col, size.ws_row))
}

/// Size of the local terminal (stdout, else stdin); 80x24 when neither is one.
pub fn local_size() -> (u16, u16) {
    size_of(stdout().as_fd())
        .or_else(|| size_of(stdin().as_fd()))
        .unwrap_or((80, 24))
}

pub fn stdout_is_terminal() -> bool {
    stdout().is_terminal()
}
