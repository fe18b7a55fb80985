//! Field names as `'static` strings: a program uses a bounded set of field
//! names, so each is copied once and then shared by every event that uses
//! it, instead of being allocated on the caller's thread and freed on the
//! batch worker's for every field of every event.
//!
//! Bounded all the same, for programs that make names up at run time
//! (`**{f"k{i}": ...}`): past [`MAX_KEYS`] names, or for names longer than
//! [`MAX_KEY_LEN`], a name is copied per event as before.

use std::cell::RefCell;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use aires_core::Str;
use parking_lot::Mutex;

/// Most distinct names kept for the life of the process.
pub const MAX_KEYS: usize = 4096;
/// Longest name kept.
pub const MAX_KEY_LEN: usize = 64;

type Set = HashSet<&'static str, BuildHasherDefault<WordHasher>>;

/// Every name kept, shared by all threads.
static GLOBAL: Mutex<Option<Set>> = Mutex::new(None);

thread_local! {
    /// This thread's view of [`GLOBAL`], read without a lock.
    static LOCAL: RefCell<Set> = RefCell::new(Set::default());
}

/// The name as a `Str`: borrowed from the kept copy when there is one.
#[inline]
pub fn key(name: &str) -> Str {
    if name.len() > MAX_KEY_LEN {
        return Str::Owned(name.to_owned());
    }
    let local = LOCAL.try_with(|local| {
        let mut local = local.borrow_mut();
        if let Some(kept) = local.get(name) {
            return Some(*kept);
        }
        let kept = keep(name)?;
        local.insert(kept);
        Some(kept)
    });
    match local {
        Ok(Some(kept)) => Str::Borrowed(kept),
        _ => Str::Owned(name.to_owned()),
    }
}

#[cold]
fn keep(name: &str) -> Option<&'static str> {
    let mut global = GLOBAL.lock();
    let global = global.get_or_insert_with(Set::default);
    if let Some(kept) = global.get(name) {
        return Some(kept);
    }
    if global.len() >= MAX_KEYS {
        return None;
    }
    let kept: &'static str = Box::leak(name.to_owned().into_boxed_str());
    global.insert(kept);
    Some(kept)
}

/// FxHash, eight bytes at a time: names are short and trusted not to be
/// chosen to collide (and a collision costs only a longer probe).
#[derive(Default)]
pub struct WordHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl WordHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for WordHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        let mut tail = [0u8; 8];
        let rest = chunks.remainder();
        tail[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(tail));
    }

    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    #[inline]
    fn write_i32(&mut self, n: i32) {
        self.add(n as u32 as u64);
    }
}
