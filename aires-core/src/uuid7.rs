//! A fast UUID v7 generator (RFC 9562): unique process-wide, increasing per thread.
//!
//! `uuid::Uuid::now_v7()` reads the clock and the OS random source on every
//! call (about 280 ns here). This generator reuses the timestamp the event
//! already took and keeps one shared 64-bit state updated by a single
//! compare-and-swap.
//!
//! Layout (RFC 9562 §5.7 with a 22-bit counter, "method 1" of §6.2):
//!
//! ```text
//!  48 bits unix_ts_ms | 4 bits ver=7 | 12 bits counter (high)
//!  2 bits var=0b10    | 10 bits counter (low) | 52 bits random, per process
//! ```
//!
//! The 52 random bits are drawn once per process (again in a forked child,
//! see [`Uuid7::reseed_after_fork`]), not per id: within a process the timestamp
//! and counter already make ids unique, and the random bits keep processes
//! apart. Ids are unique, not secret. Repeating the same bits in every id of
//! a batch lets compression remove them: about 6 bytes per event on the
//! wire.
//!
//! The shared state is `unix_ms << 22 | counter` in one `u64` (42 bits of
//! milliseconds last until the year 2109). The counter restarts at a random
//! value below 2^21 each millisecond. A thread takes the counter values it
//! uses in blocks of [`BLOCK`] with one compare-and-swap on the shared state
//! (a fresh block each new millisecond, or when its block runs out), so an
//! id costs a thread-local increment, not a locked instruction: every id
//! is unique process-wide (the blocks never overlap), and a thread's ids are
//! strictly increasing. Ids of different threads within one millisecond
//! interleave by block, not by the instant they were made. Should a counter
//! overflow (over 2^21 ids in one millisecond), it carries into the
//! timestamp, as the RFC allows. A clock that steps back does not move ids
//! back: the last timestamp is kept until the clock passes it.

use std::cell::Cell;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

const COUNTER_BITS: u32 = 22;
const COUNTER_LOW_BITS: u32 = 10;
const RANDOM_BITS: u32 = 52;
const RANDOM_START_MASK: u64 = (1 << 21) - 1;

/// Counter values a thread takes at a time (see the module docs).
const BLOCK: u64 = 64;

/// The process-wide generator behind [`Uuid7::generate`].
static GENERATOR: Generator = Generator::new();

/// Monotonic state: `unix_ms << COUNTER_BITS | counter` of the last id.
struct Generator(AtomicU64);

impl Generator {
    const fn new() -> Self {
        Generator(AtomicU64::new(0))
    }

    /// The next id of this thread, from its block of the shared sequence.
    #[inline]
    fn next(&'static self, unix_nanos: u64) -> Uuid7 {
        let floor = (unix_nanos / 1_000_000) << COUNTER_BITS;
        let state = BLOCKS.with(|block| {
            let (next, end) = block.get();
            // The block is used while it lasts and its millisecond is not
            // behind the clock (`next` then stays at or past `floor`).
            if next < end && next >= floor {
                block.set((next + 1, end));
                next
            } else {
                let start = self.take_block(floor);
                block.set((start + 1, start + BLOCK));
                start
            }
        });
        Uuid7::from_parts(state, process_bits())
    }

    /// Takes the next [`BLOCK`] states of the shared sequence, restarting
    /// it at a random counter when the clock has passed it.
    #[cold]
    fn take_block(&self, floor: u64) -> u64 {
        let mut current = self.0.load(Ordering::Relaxed);
        loop {
            let start = if current >= floor {
                current + 1
            } else {
                floor | (random_u64() & RANDOM_START_MASK)
            };
            match self.0.compare_exchange_weak(
                current,
                start + BLOCK - 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return start,
                Err(actual) => current = actual,
            }
        }
    }
}

thread_local! {
    /// This thread's block of states: the next one to use and the end.
    static BLOCKS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// The per-process random bits; 0 until first drawn.
static PROCESS_BITS: AtomicU64 = AtomicU64::new(0);

#[inline]
fn process_bits() -> u64 {
    match PROCESS_BITS.load(Ordering::Relaxed) {
        0 => draw_process_bits(),
        bits => bits,
    }
}

#[cold]
fn draw_process_bits() -> u64 {
    let fresh = fresh_process_bits();
    match PROCESS_BITS.compare_exchange(0, fresh, Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => fresh,
        Err(drawn) => drawn,
    }
}

/// 52 random bits, never 0 (the "not drawn yet" mark).
fn fresh_process_bits() -> u64 {
    (random_u64() & ((1 << RANDOM_BITS) - 1)) | 1
}

/// A UUID version 7: unique, and ordered by creation time.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uuid7(u128);

impl Uuid7 {
    /// A new id stamped with `unix_nanos`: unique in this process, and
    /// greater than every id this thread generated before.
    #[inline]
    pub fn generate(unix_nanos: u64) -> Uuid7 {
        GENERATOR.next(unix_nanos)
    }

    /// Draws new per-process random bits. Call it in a forked child (the
    /// handler `init` registers and the bindings' fork hooks do), whose
    /// copy of the parent's generator would otherwise repeat the parent's
    /// ids.
    ///
    /// The seed mixes the child's pid, so it differs from the parent's
    /// although the child inherited every random state.
    #[doc(hidden)]
    pub fn reseed_after_fork() {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        // The system clock, not the calibrated one: in a fork handler the
        // calibration may be half done by a thread the child does not have.
        hasher.write_u64(crate::clock::system_unix_nanos());
        hasher.write_u64(PROCESS_BITS.load(Ordering::Relaxed));
        let seed = hasher.finish() | 1;
        RNG.with(|cell| cell.set(seed));
        // The forked thread's block came from the parent's sequence.
        BLOCKS.with(|block| block.set((0, 0)));
        PROCESS_BITS.store(fresh_process_bits(), Ordering::Relaxed);
    }

    /// A new id stamped with the current time.
    pub fn now() -> Uuid7 {
        Uuid7::generate(crate::clock::now_unix_nanos())
    }

    fn from_parts(state: u64, random: u64) -> Uuid7 {
        let millis = u128::from(state >> COUNTER_BITS);
        let counter = u128::from(state & ((1 << COUNTER_BITS) - 1));
        let counter_high = counter >> COUNTER_LOW_BITS;
        let counter_low = counter & ((1 << COUNTER_LOW_BITS) - 1);
        let value = (millis << 80)
            | (0x7_u128 << 76)
            | (counter_high << 64)
            | (0b10_u128 << 62)
            | (counter_low << RANDOM_BITS)
            | u128::from(random & ((1 << RANDOM_BITS) - 1));
        Uuid7(value)
    }

    /// The 16 bytes in RFC 9562 (big-endian) order.
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }

    /// The id from its 16 bytes. No check is made that they form a v7 id.
    pub const fn from_bytes(bytes: [u8; 16]) -> Uuid7 {
        Uuid7(u128::from_be_bytes(bytes))
    }

    /// The id as one big-endian integer.
    pub const fn as_u128(self) -> u128 {
        self.0
    }

    /// The embedded Unix timestamp in milliseconds.
    pub const fn unix_millis(self) -> u64 {
        (self.0 >> 80) as u64
    }
}

impl fmt::Display for Uuid7 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        write!(
            f,
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            (v >> 96) as u32,
            (v >> 80) as u16,
            (v >> 64) as u16,
            (v >> 48) as u16,
            v & ((1 << 48) - 1)
        )
    }
}

impl fmt::Debug for Uuid7 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uuid7({self})")
    }
}

thread_local! {
    static RNG: Cell<u64> = const { Cell::new(0) };
}

/// SplitMix64 over a per-thread state seeded from the OS on first use. Not
/// cryptographic: the random bits only keep ids of different processes
/// apart and start each millisecond's counter.
#[inline]
pub(crate) fn random_u64() -> u64 {
    RNG.with(|cell| {
        let mut state = cell.get();
        if state == 0 {
            state = std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish()
                | 1;
        }
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        cell.set(state);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn has_rfc_9562_version_and_variant() {
        for _ in 0..1000 {
            let id = uuid::Uuid::from_bytes(Uuid7::now().to_bytes());
            assert_eq!(id.get_version_num(), 7);
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
        }
    }

    #[test]
    fn embeds_the_given_timestamp() {
        let nanos = 1_700_000_000_123_456_789;
        let id = Uuid7::generate(nanos);
        assert!(id.unix_millis() >= 1_700_000_000_123);
        let parsed = uuid::Uuid::from_bytes(id.to_bytes());
        let (secs, _) = parsed.get_timestamp().unwrap().to_unix();
        assert!(secs >= 1_700_000_000);
    }

    #[test]
    fn display_matches_the_uuid_crate() {
        let id = Uuid7::now();
        assert_eq!(
            id.to_string(),
            uuid::Uuid::from_bytes(id.to_bytes())
                .hyphenated()
                .to_string()
        );
    }

    #[test]
    fn ids_share_their_random_bits_until_a_fork_reseeds_them() {
        const MASK: u128 = (1 << RANDOM_BITS) - 1;
        let first = Uuid7::now();
        let second = Uuid7::now();
        assert_eq!(first.as_u128() & MASK, second.as_u128() & MASK);
        Uuid7::reseed_after_fork();
        let child = Uuid7::now();
        assert_ne!(child.as_u128() & MASK, first.as_u128() & MASK);
        assert!(child > second, "reseeding keeps ids increasing");
        assert_eq!(
            uuid::Uuid::from_bytes(child.to_bytes()).get_version_num(),
            7
        );
    }

    #[test]
    fn clock_going_back_does_not_move_ids_back() {
        let generator: &'static Generator = Box::leak(Box::new(Generator::new()));
        let late = generator.next(1_800_000_000_000_000_000);
        let early = generator.next(1_700_000_000_000_000_000);
        assert!(early > late);
        assert_eq!(early.unix_millis(), late.unix_millis());
    }

    #[test]
    fn a_new_millisecond_starts_a_new_block_and_a_spent_block_another() {
        let generator: &'static Generator = Box::leak(Box::new(Generator::new()));
        let ms = 1_750_000_000_000u64;
        let first = generator.next(ms * 1_000_000);
        // Within the millisecond: one block, then the next one.
        let same: Vec<Uuid7> = (0..3 * BLOCK)
            .map(|_| generator.next(ms * 1_000_000 + 10))
            .collect();
        assert!(same.windows(2).all(|w| w[0] < w[1]));
        assert!(same.iter().all(|id| id.unix_millis() == ms && *id > first));
        // The clock moves on: the id carries the new millisecond at once,
        // although the block was not spent.
        let later = generator.next((ms + 5) * 1_000_000);
        assert_eq!(later.unix_millis(), ms + 5);
        assert!(later > same[same.len() - 1]);
    }

    #[test]
    fn strictly_increasing_and_unique_across_threads() {
        const THREADS: usize = 4;
        const PER_THREAD: usize = 50_000;
        let per_thread: Vec<Vec<Uuid7>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..THREADS)
                .map(|_| scope.spawn(|| (0..PER_THREAD).map(|_| Uuid7::now()).collect::<Vec<_>>()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut all = HashSet::new();
        for ids in &per_thread {
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "per-thread order");
            for id in ids {
                let parsed = uuid::Uuid::from_bytes(id.to_bytes());
                assert_eq!(parsed.get_version_num(), 7);
                assert!(all.insert(*id), "duplicate id {id}");
            }
        }
        assert_eq!(all.len(), THREADS * PER_THREAD);
        // The ids' counter part (everything but the random tail) is unique
        // process-wide, which is what makes the order total.
        let states: HashSet<u128> = all.iter().map(|id| id.as_u128() >> RANDOM_BITS).collect();
        assert_eq!(states.len(), THREADS * PER_THREAD);
    }
}
