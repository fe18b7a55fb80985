//! Field names as `'static` strings: the shared interner of
//! `aires_core::sdk::intern`, with this thread's view kept in a thread
//! local, so a name seen before costs one hash lookup and no lock.

use std::cell::RefCell;

use aires_core::sdk::Interner;
use aires_core::Str;

thread_local! {
    static LOCAL: RefCell<Interner> = RefCell::new(Interner::keys());
}

/// The name as a `Str`: borrowed from the interned copy when there is one.
#[inline]
pub fn key(name: &str) -> Str {
    LOCAL
        .try_with(|local| match local.try_borrow_mut() {
            Ok(mut interner) => interner.get(name),
            Err(_) => Str::Owned(name.to_owned()),
        })
        .unwrap_or_else(|_| Str::Owned(name.to_owned()))
}
