//! A counting global allocator: measures the peak of what one thread allocates while it
//! runs a closure, so a fuzz case can fail when a decoder allocates beyond its bound.
//! Counting is per thread (test threads run side by side) and off outside [`peak_of`].

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

pub struct Counting;

thread_local! {
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn record(delta: isize) {
    // `try_with`: the allocator also runs while thread-locals are torn down.
    let _ = ACTIVE.try_with(|active| {
        if active.get() {
            let live = LIVE.get() + delta;
            LIVE.set(live);
            if live > PEAK.get() {
                PEAK.set(live);
            }
        }
    });
}

// SAFETY: every call is forwarded to the system allocator unchanged; the bookkeeping
// touches only const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size() as isize);
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        record(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Counted as the new block arriving before the old one leaves, which is what a
        // moving realloc costs at its peak.
        record(new_size as isize);
        record(-(layout.size() as isize));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Runs `f` and returns its result with the most bytes it held allocated at once (what it
/// allocated and had not freed yet, on this thread).
pub fn peak_of<R>(f: impl FnOnce() -> R) -> (R, usize) {
    LIVE.set(0);
    PEAK.set(0);
    ACTIVE.set(true);
    let result = f();
    ACTIVE.set(false);
    (result, PEAK.get().max(0) as usize)
}

#[test]
fn the_counter_sees_allocations_and_frees() {
    let (_, peak) = peak_of(|| {
        let big = vec![1u8; 1 << 20];
        drop(big);
        vec![2u8; 1000]
    });
    assert!(peak >= 1 << 20, "peak {peak}");
    assert!(peak < (1 << 20) + 4096, "peak {peak}");
}
