//! Interned text: the same few field keys, and mostly the same messages,
//! come back in almost every event, so each distinct short one is
//! allocated once for the life of the process and then shared as
//! `&'static str`, which the core carries without copying (no allocation
//! on the JavaScript thread, no free on the batch thread).
//!
//! Memory stays bounded: only text up to a length is interned, and only
//! up to a number of distinct entries per kind; later text is allocated
//! per event as before. Applications that put ids in messages or keys
//! fill the table once and then pay the old cost (an allocation), without
//! the table's lock.

use std::borrow::Cow;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use aires_core::Str;

/// FNV-1a: the text is short and chosen by the application, not by an
/// attacker, so the default SipHash's flooding resistance is not needed
/// and its cost showed up in profiles of the hot path.
#[derive(Debug, Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        let mut hash = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = hash;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type TextSet = HashSet<&'static str, BuildHasherDefault<Fnv>>;

/// A process-wide table of one kind of text, and its bounds.
#[derive(Debug)]
struct Table {
    set: Mutex<Option<TextSet>>,
    /// Set once `max_entries` are interned: later misses skip the lock.
    full: AtomicBool,
    max_len: usize,
    max_entries: usize,
}

/// Field keys.
static KEYS: Table = Table {
    set: Mutex::new(None),
    full: AtomicBool::new(false),
    max_len: 64,
    max_entries: 4096,
};

/// Messages.
static MESSAGES: Table = Table {
    set: Mutex::new(None),
    full: AtomicBool::new(false),
    max_len: 128,
    max_entries: 4096,
};

/// How many positions [`Interner::at`] remembers.
const POSITIONS: usize = 32;

/// One thread's view of a table, so a lookup takes no lock. An interned
/// value is a `Cow::Borrowed`, and two of them are the same text exactly
/// when they are the same pointer.
#[derive(Debug)]
pub(crate) struct Interner {
    table: &'static Table,
    local: TextSet,
    /// What was interned at each position of the last calls: events of one
    /// call site list the same keys in the same order, so this usually
    /// answers with one comparison and no hashing.
    recent: Vec<&'static str>,
}

impl Interner {
    /// An interner of field keys.
    pub(crate) fn keys() -> Self {
        Interner::of(&KEYS)
    }

    /// An interner of messages.
    pub(crate) fn messages() -> Self {
        Interner::of(&MESSAGES)
    }

    fn of(table: &'static Table) -> Self {
        Interner {
            table,
            local: TextSet::default(),
            recent: Vec::new(),
        }
    }

    /// `text`, shared when interned, owned otherwise.
    pub(crate) fn get(&mut self, text: &str) -> Str {
        if text.len() > self.table.max_len {
            return Cow::Owned(text.to_owned());
        }
        if let Some(interned) = self.local.get(text) {
            return Cow::Borrowed(interned);
        }
        if self.local.len() >= self.table.max_entries || self.table.full.load(Ordering::Relaxed) {
            // The table is full; text interned by other threads since this
            // one last looked is not worth the lock.
            return Cow::Owned(text.to_owned());
        }
        let mut global = self.table.set.lock().unwrap_or_else(|p| p.into_inner());
        let set = global.get_or_insert_with(TextSet::default);
        let interned = match set.get(text) {
            Some(interned) => *interned,
            None if set.len() < self.table.max_entries => {
                let leaked: &'static str = Box::leak(text.to_owned().into_boxed_str());
                set.insert(leaked);
                leaked
            }
            None => {
                self.table.full.store(true, Ordering::Relaxed);
                return Cow::Owned(text.to_owned());
            }
        };
        drop(global);
        self.local.insert(interned);
        Cow::Borrowed(interned)
    }

    /// [`Interner::get`] for the `position`-th text of a call.
    pub(crate) fn at(&mut self, position: usize, text: &str) -> Str {
        if let Some(&recent) = self.recent.get(position) {
            if recent == text {
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

/// Whether `key` is the interned copy of its text (for debug checks).
pub(crate) fn is_interned(key: &str) -> bool {
    let global = KEYS.set.lock().unwrap_or_else(|p| p.into_inner());
    global
        .as_ref()
        .and_then(|set| set.get(key))
        .is_some_and(|interned| interned.as_ptr() == key.as_ptr())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_text_is_one_pointer_and_long_text_is_owned() {
        let mut a = Interner::keys();
        let mut b = Interner::keys();
        let (x, y) = (a.get("orderId"), b.at(0, "orderId"));
        assert!(
            matches!((&x, &y), (Cow::Borrowed(p), Cow::Borrowed(q)) if p.as_ptr() == q.as_ptr())
        );
        assert_eq!(b.at(0, "orderId"), "orderId", "the remembered position");
        assert_eq!(b.at(0, "amount"), "amount", "another key at that position");
        assert!(matches!(a.get(&"k".repeat(65)), Cow::Owned(_)));
        assert!(matches!(
            Interner::messages().get(&"m".repeat(100)),
            Cow::Borrowed(_)
        ));
    }
}
