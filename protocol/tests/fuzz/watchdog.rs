//! The hang detector: a fuzz case that runs longer than [`HANG`] aborts the whole test
//! binary with the case's input, instead of leaving CI to time out without a clue.

use std::sync::Mutex;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Far beyond any case's work (microseconds to milliseconds): only a loop that does not
/// end gets here, even on a loaded machine.
const HANG: Duration = Duration::from_secs(60);

struct Running {
    started: Instant,
    what: String,
}

fn running() -> &'static Mutex<Vec<Option<Running>>> {
    static RUNNING: OnceLock<Mutex<Vec<Option<Running>>>> = OnceLock::new();
    RUNNING.get_or_init(|| {
        std::thread::spawn(|| {
            loop {
                std::thread::sleep(Duration::from_secs(1));
                let cases = running().lock().unwrap_or_else(|e| e.into_inner());
                if let Some(case) = cases.iter().flatten().find(|c| c.started.elapsed() > HANG) {
                    eprintln!("fuzz case hung for over {HANG:?}: {}", case.what);
                    std::process::abort();
                }
            }
        });
        Mutex::new(Vec::new())
    })
}

/// Runs `f`, aborting the process if it has not returned after [`HANG`]; `what` describes
/// the input for that message. Call it outside any allocation measurement.
pub fn guard<R>(what: impl FnOnce() -> String, f: impl FnOnce() -> R) -> R {
    let slot = {
        let mut cases = running().lock().unwrap_or_else(|e| e.into_inner());
        let case = Some(Running {
            started: Instant::now(),
            what: what(),
        });
        match cases.iter().position(Option::is_none) {
            Some(free) => {
                cases[free] = case;
                free
            }
            None => {
                cases.push(case);
                cases.len() - 1
            }
        }
    };
    // Freed on return and on a panic alike: proptest catches panics and goes on shrinking.
    struct Free(usize);
    impl Drop for Free {
        fn drop(&mut self) {
            running().lock().unwrap_or_else(|e| e.into_inner())[self.0] = None;
        }
    }
    let _free = Free(slot);
    f()
}
