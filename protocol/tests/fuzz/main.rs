//! Fuzzing on stable Rust: every decoder of untrusted bytes (messages, the frame codec,
//! datagram unpacking, `Screen::apply`, tokens) gets random bytes and mutated golden
//! vectors, and must answer with a typed error or a value, never panic, never hang
//! ([`watchdog`]), and never hold more memory at once than its bound ([`alloc`]).
//!
//! Cases per target: `FUZZ_CASES` (default [`DEFAULT_CASES`], a few seconds in all, which
//! the normal test run affords); `scripts/fuzz.sh --cases N` runs long.

mod alloc;
mod codec;
mod messages;
mod mutate;
mod regressions;
mod screen;
mod tokens;
mod watchdog;

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

/// Cases per target in a normal test run.
const DEFAULT_CASES: u32 = 256;

fn config() -> proptest::test_runner::Config {
    let cases = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    proptest::test_runner::Config {
        cases,
        // A failure becomes a named regression test in `regressions.rs`, not a file.
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    }
}
