//! Wall-clock time for event timestamps, at a third of the cost of
//! `SystemTime::now()`.
//!
//! `SystemTime::now()` (the vDSO `clock_gettime`) costs about 35 ns per call
//! on the machines we measure, more than any other step of building an
//! event. Reading the CPU's invariant time-stamp counter costs about 10 ns.
//! So timestamps are computed as `anchor_wall + elapsed(anchor_tsc, tsc)`,
//! with the TSC read and converted by `quanta` (which falls back to the
//! monotonic clock where the TSC is not invariant).
//!
//! The anchor is a (wall time, TSC) pair taken together. Whoever reads a
//! timestamp more than [`REANCHOR_AFTER_NANOS`] after the anchor takes a new
//! one, so the error from TSC calibration and from NTP adjustments never
//! grows past what one second can hold (microseconds). A re-anchor can move
//! time back by that much; event ids stay ordered regardless (see `uuid7`).
//!
//! The anchor is published with a sequence lock: readers never block and
//! never write shared memory.

use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

/// How long one anchor is trusted.
pub const REANCHOR_AFTER_NANOS: u64 = 1_000_000_000;

struct Anchor {
    /// Odd while being written; 0 until the first anchor.
    seq: AtomicU64,
    wall: AtomicU64,
    raw: AtomicU64,
}

static ANCHOR: Anchor = Anchor {
    seq: AtomicU64::new(0),
    wall: AtomicU64::new(0),
    raw: AtomicU64::new(0),
};
static WRITER: Mutex<()> = Mutex::new(());

fn tsc() -> &'static quanta::Clock {
    static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new)
}

/// Nanoseconds since the Unix epoch, from the system clock; 0 if the clock
/// is set before 1970.
pub fn system_unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Nanoseconds since the Unix epoch: the system clock as of the last
/// anchor, advanced by the TSC.
#[inline]
pub fn now_unix_nanos() -> u64 {
    let clock = tsc();
    let raw = clock.raw();
    loop {
        let seq = ANCHOR.seq.load(Ordering::Acquire);
        if seq == 0 {
            break;
        }
        if seq & 1 == 1 {
            std::hint::spin_loop();
            continue;
        }
        let wall = ANCHOR.wall.load(Ordering::Relaxed);
        let anchor_raw = ANCHOR.raw.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        if ANCHOR.seq.load(Ordering::Relaxed) != seq {
            continue;
        }
        let elapsed = clock.delta_as_nanos(anchor_raw, raw);
        if elapsed < REANCHOR_AFTER_NANOS {
            return wall + elapsed;
        }
        break;
    }
    reanchor(clock)
}

/// Takes a new anchor (unless another thread is doing so) and returns the
/// system clock's time.
#[cold]
fn reanchor(clock: &quanta::Clock) -> u64 {
    let Some(_writer) = WRITER.try_lock() else {
        return system_unix_nanos();
    };
    let raw = clock.raw();
    let wall = system_unix_nanos();
    let seq = ANCHOR.seq.load(Ordering::Relaxed);
    ANCHOR.seq.store(seq | 1, Ordering::Relaxed);
    fence(Ordering::Release);
    ANCHOR.wall.store(wall, Ordering::Relaxed);
    ANCHOR.raw.store(raw, Ordering::Relaxed);
    ANCHOR.seq.store((seq | 1) + 1, Ordering::Release);
    wall
}

/// Makes the clock usable in the child of a `fork()` whose parent had a
/// thread in the middle of a re-anchor: that thread does not exist in the
/// child, so its odd sequence number would make readers spin forever and
/// its lock would never be released. The next read takes a new anchor.
pub(crate) fn repair_after_fork() {
    if WRITER.is_locked() {
        // SAFETY: in a forked child the holder no longer exists.
        unsafe { WRITER.force_unlock() };
    }
    ANCHOR.seq.store(0, Ordering::Release);
}

/// `now + timeout`, or a deadline decades away when that overflows, so a
/// caller passing `Duration::MAX` waits "forever" instead of panicking.
pub(crate) fn deadline_after(timeout: std::time::Duration) -> std::time::Instant {
    let now = std::time::Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + std::time::Duration::from_secs(100 * 365 * 86_400))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_the_system_clock() {
        for _ in 0..1000 {
            let before = system_unix_nanos();
            let now = now_unix_nanos();
            let after = system_unix_nanos();
            // Calibration error within one anchor period is microseconds;
            // allow a millisecond for a loaded machine.
            assert!(now + 1_000_000 >= before, "{now} < {before}");
            assert!(now <= after + 1_000_000, "{now} > {after}");
        }
    }

    #[test]
    fn a_write_cut_short_by_fork_is_repaired() {
        now_unix_nanos();
        // What a child sees when the fork caught a re-anchor half done.
        std::mem::forget(WRITER.lock());
        ANCHOR.seq.fetch_or(1, Ordering::Release);
        repair_after_fork();
        let before = system_unix_nanos();
        let now = now_unix_nanos();
        assert!(now + 1_000_000 >= before, "{now} < {before}");
        assert!(WRITER.try_lock().is_some());
    }

    #[test]
    fn advances() {
        let a = now_unix_nanos();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = now_unix_nanos();
        assert!(b >= a + 1_000_000, "{a} -> {b}");
    }
}
