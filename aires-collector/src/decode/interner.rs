//! Text of one batch that many of its rows share.

use std::collections::HashMap;

use arcstr::ArcStr;

use super::wire::utf8;
use super::DecodeError;

/// Text of one batch that many rows share, allocated (and checked to be
/// UTF-8) once: attribute keys, call sites, services, HTTP methods and
/// routes through a map, messages and attribute values through a cache.
///
/// A small direct-mapped cache, indexed by a cheap hash of the text, answers
/// most look-ups (a batch has few distinct keys and call sites); the map
/// behind it, with the standard library's keyed hash, keeps text that
/// collides in the cache, whatever a client sends, from costing more than a
/// map look-up.
pub(super) struct Interner<'a> {
    cache: Box<[CacheSlot<'a>; Interner::CACHE_SLOTS]>,
    known: HashMap<&'a [u8], ArcStr>,
    /// For text that may or may not repeat (messages, attribute values):
    /// the cache alone, so that unique text costs no map entry.
    values: Box<[CacheSlot<'a>; Interner::CACHE_SLOTS]>,
    /// Bytes of the text allocated so far (for memory accounting).
    allocated: usize,
}

/// What an `ArcStr` allocation holds besides its text: a length and a
/// reference count.
const ARCSTR_HEADER: usize = 16;

/// Text and its shared copy.
type CacheSlot<'a> = Option<(&'a [u8], ArcStr)>;

impl Default for Interner<'_> {
    fn default() -> Self {
        Interner {
            cache: Box::new(std::array::from_fn(|_| None)),
            known: HashMap::new(),
            values: Box::new(std::array::from_fn(|_| None)),
            allocated: 0,
        }
    }
}

impl<'a> Interner<'a> {
    const CACHE_BITS: u32 = 8;
    const CACHE_SLOTS: usize = 1 << Self::CACHE_BITS;
    /// Bounds the map whatever a batch holds; text past it is not shared.
    const MAX_ENTRIES: usize = 4096;

    /// The text in `cache` equal to `bytes`, or the slot it belongs in.
    #[inline(always)]
    fn cached(cache: &[CacheSlot<'a>], bytes: &[u8]) -> Result<ArcStr, usize> {
        let slot = cache_slot(bytes, Self::CACHE_BITS);
        match &cache[slot] {
            Some((cached, text)) if same_text(cached, bytes) => Ok(text.clone()),
            _ => Err(slot),
        }
    }

    /// The shared text for `bytes`, which must be UTF-8.
    #[inline(always)]
    pub(super) fn bytes(&mut self, bytes: &'a [u8]) -> Result<ArcStr, DecodeError> {
        Self::cached(&self.cache[..], bytes).or_else(|slot| self.bytes_missed(bytes, slot))
    }

    /// [`Interner::bytes`] for text not in its cache slot.
    #[inline(never)]
    fn bytes_missed(&mut self, bytes: &'a [u8], slot: usize) -> Result<ArcStr, DecodeError> {
        let text = match self.known.get(bytes) {
            Some(text) => text.clone(),
            None => {
                let text = self.owned(utf8(bytes)?);
                if self.known.len() < Self::MAX_ENTRIES {
                    self.known.insert(bytes, text.clone());
                }
                text
            }
        };
        self.cache[slot] = Some((bytes, text.clone()));
        Ok(text)
    }

    /// The text of `bytes` (which must be UTF-8), shared with the last text
    /// equal to it that took the same cache slot.
    #[inline(always)]
    pub(super) fn value(&mut self, bytes: &'a [u8]) -> Result<ArcStr, DecodeError> {
        Self::cached(&self.values[..], bytes).or_else(|slot| self.value_missed(bytes, slot))
    }

    /// [`Interner::value`] for text not in its cache slot.
    #[inline(never)]
    fn value_missed(&mut self, bytes: &'a [u8], slot: usize) -> Result<ArcStr, DecodeError> {
        let text = self.owned(utf8(bytes)?);
        self.values[slot] = Some((bytes, text.clone()));
        Ok(text)
    }

    /// A new shared copy of `text`, counted in [`Interner::allocated`].
    pub(super) fn owned(&mut self, text: &str) -> ArcStr {
        self.allocated += crate::row::allocation(text.len() + ARCSTR_HEADER);
        text.into()
    }

    /// Bytes of the text allocated so far.
    pub(super) fn allocated(&self) -> usize {
        self.allocated
    }

    /// The shared text for `text`.
    pub(super) fn str(&mut self, text: &'a str) -> ArcStr {
        self.bytes(text.as_bytes()).expect("a str is UTF-8")
    }
}

/// `a == b`, without a call for text of up to 16 bytes.
#[inline(always)]
fn same_text(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().expect("8 bytes"));
    let half = |s: &[u8], at: usize| u32::from_le_bytes(s[at..at + 4].try_into().expect("4 bytes"));
    match n {
        0..=3 => a.iter().zip(b).all(|(x, y)| x == y),
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        _ => a == b,
    }
}

/// A cache slot for `bytes`: a multiplicative hash of its length and of up
/// to its first and last eight bytes.
#[inline]
pub(super) fn cache_slot(bytes: &[u8], bits: u32) -> usize {
    let n = bytes.len();
    let (head, tail) = if n >= 8 {
        let head = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
        let tail = u64::from_le_bytes(bytes[n - 8..].try_into().expect("8 bytes"));
        (head, tail)
    } else if n >= 4 {
        let head = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes"));
        let tail = u32::from_le_bytes(bytes[n - 4..].try_into().expect("4 bytes"));
        (u64::from(head), u64::from(tail))
    } else if n > 0 {
        let head = u64::from(bytes[0]) | u64::from(bytes[n / 2]) << 8;
        (head, u64::from(bytes[n - 1]))
    } else {
        (0, 0)
    };
    let mixed = (head ^ tail.rotate_left(29) ^ n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (mixed >> (64 - bits)) as usize
}
