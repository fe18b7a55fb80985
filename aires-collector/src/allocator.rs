//! Giving freed memory back to the operating system once a thread is idle.
//!
//! The collector binary allocates with mimalloc. A block freed by another
//! thread than the one that allocated it (rows decoded by a processor and
//! dropped once stored, request buffers read on one runtime thread and
//! decoded on a processor) waits on its page until the owning thread
//! allocates again; a thread that has gone idle would keep those pages,
//! and the process its peak memory, indefinitely. Idle threads therefore
//! collect their heap once: processors when their queue stays empty, the
//! runtime's threads when they park (see `main.rs`), at most once a second
//! each.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// How often one thread collects, at most.
const EVERY: Duration = Duration::from_secs(1);

thread_local! {
    static LAST: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Returns this thread's freed memory to the operating system, unless it
/// did so less than a second ago. Harmless when mimalloc is not the global
/// allocator: its own heap is then empty.
pub fn release_idle_memory() {
    let now = Instant::now();
    let due = LAST.with(|last| match last.get() {
        Some(at) if now.duration_since(at) < EVERY => false,
        _ => {
            last.set(Some(now));
            true
        }
    });
    if due {
        // SAFETY: `mi_collect` takes no pointers and may be called from any
        // thread at any time; `false` asks for the cheap collection (free
        // lists and delayed purges), not an aggressive one.
        unsafe { libmimalloc_sys::mi_collect(false) };
    }
}
