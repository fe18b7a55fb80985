//! Field keys, interned: the same few keys come back in almost every
//! event, so each distinct short key is allocated once for the life of
//! the process and then shared as `&'static str`, which the core carries
//! without copying.

use std::borrow::Cow;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;

use aires_core::Str;

/// Keys longer than this are not interned.
const MAX_KEY_LEN: usize = 64;
/// At most this many keys are interned (a bound on the memory kept, for
/// applications that put ids in keys); later ones are allocated per event.
const MAX_KEYS: usize = 4096;

/// FNV-1a: keys are short and chosen by the application, not by an
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

type KeySet = HashSet<&'static str, BuildHasherDefault<Fnv>>;

static INTERNED: Mutex<Option<KeySet>> = Mutex::new(None);

/// One thread's view of the interned keys, so a lookup takes no lock.
#[derive(Debug, Default)]
pub(crate) struct Keys {
    local: KeySet,
}

impl Keys {
    /// `key` as a field key: shared when interned, owned otherwise.
    pub(crate) fn key(&mut self, key: &str) -> Str {
        if key.len() > MAX_KEY_LEN {
            return Cow::Owned(key.to_owned());
        }
        if let Some(interned) = self.local.get(key) {
            return Cow::Borrowed(interned);
        }
        let mut global = INTERNED.lock().unwrap_or_else(|p| p.into_inner());
        let set = global.get_or_insert_with(KeySet::default);
        let interned = match set.get(key) {
            Some(interned) => *interned,
            None if set.len() < MAX_KEYS => {
                let leaked: &'static str = Box::leak(key.to_owned().into_boxed_str());
                set.insert(leaked);
                leaked
            }
            None => return Cow::Owned(key.to_owned()),
        };
        drop(global);
        self.local.insert(interned);
        Cow::Borrowed(interned)
    }
}
