//! Random W3C ids for spans.
//!
//! Each thread steps its own 64-bit counter from a random start (the
//! standard library's `RandomState`, seeded from the operating system) and
//! mixes it with SplitMix64's finalizer, a bijection: no id repeats within
//! a thread for 2⁶⁴ draws, and threads start far apart. Not for secrets,
//! only for ids that must not collide; no lock, no system call per id.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use aires_core::{SpanId, TraceId};

const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
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
        let next = STATE
            .try_with(|state| {
                let next = state.get().wrapping_add(GOLDEN_GAMMA);
                state.set(next);
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
}
