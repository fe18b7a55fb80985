//! Interned field keys and messages: the shared interner of
//! `aires_core::sdk::intern`, one per thread (see `emit.rs`).

pub(crate) use aires_core::sdk::Interner;

/// Whether `key` is the interned copy of its text (for debug checks).
pub(crate) fn is_interned(key: &str) -> bool {
    aires_core::sdk::intern::KEYS.holds(key)
}
