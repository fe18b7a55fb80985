//! Random W3C ids for spans.
//!
//! Each thread steps its own 64-bit counter from a random start (the
//! standard library's `RandomState`, seeded from the operating system) and
//! mixes it with SplitMix64's finalizer, a bijection: no id repeats within
//! a thread for 2⁶⁴ draws, and threads start far apart. Not for secrets,
//! only for ids that must not collide; no lock, no system call per id. A
//! forked child, whose copy of the counter would repeat its parent's ids,
//! starts from a new random point (`aires_core`'s fork generation moves on
//! in the child).

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use aires_core::sdk::fork_generation;
use aires_core::{SpanId, TraceId};

const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

thread_local! {
    /// The counter, and the fork generation it was seeded in.
    static STATE: Cell<(u64, u64)> = Cell::new((seed(), fork_generation()));
}

fn seed() -> u64 {
    static THREADS: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(THREADS.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    hasher.finish()
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A random non-zero `u64`.
fn random_nonzero() -> u64 {
    loop {
        let generation = fork_generation();
        let next = STATE
            .try_with(|state| {
                let (last, seeded_in) = state.get();
                let start = if seeded_in == generation {
                    last
                } else {
                    seed()
                };
                let next = start.wrapping_add(GOLDEN_GAMMA);
                state.set((next, generation));
                next
            })
            // A thread whose locals are gone (a span made in a destructor).
            .unwrap_or_else(|_| seed());
        let value = mix(next);
        if value != 0 {
            return value;
        }
    }
}

/// A new random trace id.
pub(crate) fn new_trace_id() -> TraceId {
    let high = u128::from(random_nonzero()) << 64;
    TraceId::from_int(high | u128::from(random_nonzero())).expect("non-zero")
}

/// A new random span id.
pub(crate) fn new_span_id() -> SpanId {
    SpanId::from_int(random_nonzero()).expect("non-zero")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_do_not_repeat_within_or_across_threads() {
        let mine: HashSet<SpanId> = (0..10_000).map(|_| new_span_id()).collect();
        assert_eq!(mine.len(), 10_000);
        let theirs: HashSet<SpanId> =
            std::thread::spawn(|| (0..10_000).map(|_| new_span_id()).collect())
                .join()
                .unwrap();
        assert!(mine.is_disjoint(&theirs));
        assert_ne!(new_trace_id(), new_trace_id());
    }

    #[cfg(unix)]
    #[test]
    fn a_forked_child_does_not_repeat_its_parents_ids() {
        let _ = new_span_id(); // this thread's counter exists before the fork
        let mut fds = [0; 2];
        // SAFETY: plain system calls; the child only draws ids, writes them
        // to the pipe and exits without running destructors or exit hooks.
        let child = unsafe {
            assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
            let pid = libc::fork();
            assert!(pid >= 0, "fork failed");
            if pid == 0 {
                let ids = [new_span_id().to_bytes(), new_span_id().to_bytes()].concat();
                libc::write(fds[1], ids.as_ptr().cast(), ids.len());
                libc::_exit(0);
            }
            libc::close(fds[1]);
            let mut ids = [0u8; 16];
            let n = libc::read(fds[0], ids.as_mut_ptr().cast(), ids.len());
            let mut status = 0;
            libc::waitpid(pid, &mut status, 0);
            assert_eq!(n, 16, "the child answered");
            ids
        };
        let parent = [new_span_id().to_bytes(), new_span_id().to_bytes()].concat();
        assert_ne!(child.as_slice(), parent.as_slice(), "the same ids in both");
    }
}
