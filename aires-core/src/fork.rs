//! A forked child must not repeat its parent's ids: its memory is a copy of
//! the parent's, the id generators' states included. From the first `init`
//! (or the first call of [`generation`]) a `pthread_atfork` handler runs in
//! every child: it repairs the clock, draws new random bits for event ids,
//! and moves [`generation`] on, so that id generators outside this crate
//! (the `tracing` layer's span and trace ids) reseed as well. The language
//! bindings' own fork hooks ([`crate::global::forget_after_fork`]) do the
//! same.
//!
//! Only this: the child keeps the pipeline it inherited (whose worker
//! threads did not survive the fork) until it forgets it, as the bindings
//! do, or shuts it down.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

/// How many forks this process's memory has been through, as its children
/// count them.
static FORKS: AtomicU64 = AtomicU64::new(0);

/// A number that changes in each forked child (and nowhere else): an id
/// generator that keeps the value it was seeded under reseeds when the
/// value differs. Starts watching for forks.
pub fn generation() -> u64 {
    watch();
    FORKS.load(Ordering::Relaxed)
}

/// Registers the child's handler, once per process.
pub(crate) fn watch() {
    static WATCHING: Once = Once::new();
    WATCHING.call_once(|| {
        #[cfg(unix)]
        // SAFETY: registers a plain `extern "C" fn` that does not unwind.
        unsafe {
            libc::pthread_atfork(None, None, Some(in_child));
        }
    });
}

#[cfg(unix)]
extern "C" fn in_child() {
    // A panic must not cross into C.
    let _ = std::panic::catch_unwind(repair_in_child);
}

/// What a forked child needs before it takes a timestamp or an id. Runs on
/// the forking thread, the only one the child has.
pub(crate) fn repair_in_child() {
    crate::clock::repair_after_fork();
    crate::uuid7::Uuid7::reseed_after_fork();
    FORKS.fetch_add(1, Ordering::Relaxed);
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::uuid7::Uuid7;

    /// Runs `child` in a forked child and returns the bytes it wrote.
    fn in_forked_child(child: impl FnOnce() -> Vec<u8>) -> Vec<u8> {
        let mut fds = [0; 2];
        // SAFETY: plain system calls; the child only computes, writes to
        // the pipe and exits without running destructors or exit hooks.
        unsafe {
            assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
            let pid = libc::fork();
            assert!(pid >= 0, "fork failed");
            if pid == 0 {
                libc::close(fds[0]);
                let bytes = child();
                libc::write(fds[1], bytes.as_ptr().cast(), bytes.len());
                libc::_exit(0);
            }
            libc::close(fds[1]);
            let mut out = vec![0u8; 64];
            let n = libc::read(fds[0], out.as_mut_ptr().cast(), out.len());
            libc::close(fds[0]);
            let mut status = 0;
            libc::waitpid(pid, &mut status, 0);
            out.truncate(usize::try_from(n).expect("read from the child"));
            out
        }
    }

    #[test]
    fn a_child_draws_other_event_ids_and_moves_the_generation_on() {
        let generation_before = generation();
        let random_bits = |id: Uuid7| id.as_u128() & ((1 << 52) - 1);
        let parent_before = random_bits(Uuid7::now());
        let child = in_forked_child(|| {
            let mut out = random_bits(Uuid7::now()).to_le_bytes().to_vec();
            out.extend(generation().to_le_bytes());
            out
        });
        assert_eq!(child.len(), 24, "the child answered");
        let child_bits = u128::from_le_bytes(child[..16].try_into().unwrap());
        let child_generation = u64::from_le_bytes(child[16..].try_into().unwrap());
        assert_ne!(
            child_bits, parent_before,
            "the child's ids repeat the parent's"
        );
        assert_eq!(child_generation, generation_before + 1);
        // The parent is untouched.
        assert_eq!(random_bits(Uuid7::now()), parent_before);
        assert_eq!(generation(), generation_before);
    }
}
