//! Interned text for the bindings: the same few field keys, and mostly the
//! same messages, come back in almost every event, so each distinct short
//! one is copied once for the life of the process and then shared as
//! `&'static str`, which the core carries without copying: no allocation
//! on the caller's thread and no free on the batch worker's, per field of
//! every event.
//!
//! Memory stays bounded for programs that make keys up at run time (ids in
//! keys or messages): only text up to a length is interned, and only up to
//! a number of distinct entries per table; later text is copied per event,
//! as without a table, and without taking the table's lock.

use std::borrow::Cow;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use crate::value::Str;

type TextSet = HashSet<&'static str, BuildHasherDefault<WordHasher>>;

/// A process-wide table of one kind of text, and its bounds.
#[derive(Debug)]
pub struct InternTable {
    set: Mutex<Option<TextSet>>,
    /// Set once `max_entries` are interned: later misses skip the lock.
    full: AtomicBool,
    max_len: usize,
    max_entries: usize,
}

impl InternTable {
    /// A table keeping up to `max_entries` texts of up to `max_len` bytes.
    pub const fn new(max_len: usize, max_entries: usize) -> Self {
        InternTable {
            set: Mutex::new(None),
            full: AtomicBool::new(false),
            max_len,
            max_entries,
        }
    }

    /// The interned copy of `text`, interning it if there is room.
    #[cold]
    fn intern(&self, text: &str) -> Option<&'static str> {
        let mut global = self.set.lock();
        let set = global.get_or_insert_with(TextSet::default);
        if let Some(interned) = set.get(text) {
            return Some(interned);
        }
        if set.len() >= self.max_entries {
            self.full.store(true, Ordering::Relaxed);
            return None;
        }
        let leaked: &'static str = Box::leak(text.to_owned().into_boxed_str());
        set.insert(leaked);
        Some(leaked)
    }

    /// Whether `text` is the interned copy of itself (the same pointer).
    pub fn holds(&self, text: &str) -> bool {
        self.set
            .lock()
            .as_ref()
            .and_then(|set| set.get(text))
            .is_some_and(|interned| interned.as_ptr() == text.as_ptr())
    }
}

/// Field keys: up to 4,096 of up to 64 bytes.
pub static KEYS: InternTable = InternTable::new(64, 4096);
/// Messages: up to 4,096 of up to 128 bytes.
pub static MESSAGES: InternTable = InternTable::new(128, 4096);

/// Short string values that repeat (currencies, states, names): the
/// `tracing` bridge interns them, since `tracing` hands a string field over
/// as a borrowed `&str` even when it is a literal.
pub static VALUES: InternTable = InternTable::new(32, 4096);

/// How many positions [`Interner::at`] remembers.
const POSITIONS: usize = 32;

/// One thread's view of a table, so a lookup takes no lock. An interned
/// value is a `Cow::Borrowed`, and two of them are the same text exactly
/// when they are the same pointer.
#[derive(Debug)]
pub struct Interner {
    table: &'static InternTable,
    local: TextSet,
    /// What was interned at each position of the last calls: events of one
    /// call site list the same keys in the same order, so this usually
    /// answers with one comparison and no hashing.
    recent: Vec<&'static str>,
    /// Look-ups in a full table this thread may still make: it finds the
    /// texts other threads interned, a bounded number of times, so text
    /// made up at run time never takes the lock on every event.
    lookups_when_full: usize,
}

impl Interner {
    /// An interner of field keys ([`KEYS`]).
    pub fn keys() -> Self {
        Interner::of(&KEYS)
    }

    /// An interner of messages ([`MESSAGES`]).
    pub fn messages() -> Self {
        Interner::of(&MESSAGES)
    }

    /// An interner of short string values ([`VALUES`]).
    pub fn values() -> Self {
        Interner::of(&VALUES)
    }

    /// A view of `table`.
    pub fn of(table: &'static InternTable) -> Self {
        Interner {
            table,
            local: TextSet::default(),
            recent: Vec::new(),
            lookups_when_full: table.max_entries,
        }
    }

    /// `text`, shared when interned, owned otherwise.
    #[inline]
    pub fn get(&mut self, text: &str) -> Str {
        if text.len() > self.table.max_len {
            return Cow::Owned(text.to_owned());
        }
        if let Some(interned) = self.local.get(text) {
            return Cow::Borrowed(interned);
        }
        if self.table.full.load(Ordering::Relaxed) {
            if self.lookups_when_full == 0 {
                return Cow::Owned(text.to_owned());
            }
            self.lookups_when_full -= 1;
        }
        match self.table.intern(text) {
            Some(interned) => {
                self.local.insert(interned);
                Cow::Borrowed(interned)
            }
            None => Cow::Owned(text.to_owned()),
        }
    }

    /// What [`Interner::at`] last interned at `position`: the text it
    /// compares the next one with first.
    #[inline]
    pub fn recent(&self, position: usize) -> Option<&'static str> {
        self.recent.get(position).copied()
    }

    /// [`Interner::get`] for the `position`-th text of a call.
    #[inline]
    pub fn at(&mut self, position: usize, text: &str) -> Str {
        if let Some(recent) = self.recent(position) {
            if same_bytes(recent.as_bytes(), text.as_bytes()) {
                return Cow::Borrowed(recent);
            }
        }
        let value = self.get(text);
        if let Cow::Borrowed(interned) = value {
            if let Some(slot) = self.recent.get_mut(position) {
                *slot = interned;
            } else if position == self.recent.len() && position < POSITIONS {
                self.recent.push(interned);
            }
        }
        value
    }
}

/// `a == b`, word by word in line (the last word overlapping) rather than
/// a call to `memcmp`, for the short texts that repeat in every event: a
/// field's value or the pieces of a message, against what they were last
/// time.
#[inline(always)]
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n < 8 || b.len() != n {
        return a == b;
    }
    let word = |bytes: &[u8], at: usize| {
        u64::from_ne_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
    };
    let mut at = 0;
    while at + 8 < n {
        if word(a, at) != word(b, at) {
            return false;
        }
        at += 8;
    }
    word(a, n - 8) == word(b, n - 8)
}

/// FxHash, eight bytes at a time (also the Python binding's call-site
/// cache's hasher): keys are short and chosen by the
/// application, not by an attacker, so SipHash's flooding resistance is
/// not needed (and a collision costs only a longer probe).
#[derive(Debug, Default)]
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
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_i32(&mut self, n: i32) {
        self.add(n as u32 as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_bytes_is_slice_equality_at_every_length() {
        let text: Vec<u8> = (0..40u8).collect();
        for n in 0..=text.len() {
            let a = &text[..n];
            let copy = a.to_vec();
            assert!(same_bytes(a, &copy), "{n} bytes");
            for at in 0..n {
                let mut b = a.to_vec();
                b[at] ^= 1;
                assert!(!same_bytes(a, &b), "{n} bytes, differing at {at}");
            }
            assert!(!same_bytes(a, &text[..n.saturating_sub(1)]) || n == 0);
        }
    }

    #[test]
    fn equal_text_is_one_pointer_and_long_text_is_owned() {
        let mut a = Interner::keys();
        let mut b = Interner::keys();
        let (x, y) = (a.get("orderId"), b.at(0, "orderId"));
        assert!(
            matches!((&x, &y), (Cow::Borrowed(p), Cow::Borrowed(q)) if p.as_ptr() == q.as_ptr())
        );
        assert!(KEYS.holds(&x));
        assert_eq!(b.at(0, "orderId"), "orderId", "the remembered position");
        assert_eq!(b.at(0, "amount"), "amount", "another key at that position");
        assert!(matches!(a.get(&"k".repeat(65)), Cow::Owned(_)));
        assert!(matches!(
            Interner::messages().get(&"m".repeat(100)),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn a_full_table_copies_instead_and_stays_bounded() {
        static SMALL: InternTable = InternTable::new(16, 3);
        let mut interner = Interner::of(&SMALL);
        for key in ["a", "b", "c"] {
            assert!(matches!(interner.get(key), Cow::Borrowed(_)));
        }
        assert!(matches!(interner.get("d"), Cow::Owned(_)));
        assert!(matches!(Interner::of(&SMALL).get("e"), Cow::Owned(_)));
        assert!(matches!(Interner::of(&SMALL).get("a"), Cow::Borrowed(_)));
        assert_eq!(SMALL.set.lock().as_ref().unwrap().len(), 3);
        // A thread's look-ups in the full table are bounded too.
        let mut late = Interner::of(&SMALL);
        for made_up in ["x1", "x2", "x3"] {
            assert!(matches!(late.get(made_up), Cow::Owned(_)));
        }
        assert!(matches!(late.get("b"), Cow::Owned(_)), "no look-ups left");
    }
}
