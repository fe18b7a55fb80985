//! Where in the source an event was emitted.

use std::ops::Deref;

use crate::value::Str;

/// A source location. The macros build one `static` per call site at compile
/// time; bindings build one at run time from the caller's frame.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallSite {
    /// Source file path as the compiler or interpreter saw it.
    pub file: Str,
    /// 1-based line number.
    pub line: u32,
    /// Rust module path, or the module / file module in other languages.
    pub module: Str,
    /// Enclosing function, when known (empty in Rust).
    pub function: Str,
}

impl CallSite {
    /// A call site built at run time (bindings, bridges from other logging
    /// libraries). `function` may be empty.
    pub fn new(
        file: impl Into<Str>,
        line: u32,
        module: impl Into<Str>,
        function: impl Into<Str>,
    ) -> Self {
        CallSite {
            file: file.into(),
            line,
            module: module.into(),
            function: function.into(),
        }
    }

    /// A call site made of static text; `const`, so macros put it in a `static`.
    pub const fn new_static(file: &'static str, line: u32, module: &'static str) -> Self {
        CallSite {
            file: Str::Borrowed(file),
            line,
            module: Str::Borrowed(module),
            function: Str::Borrowed(""),
        }
    }
}

/// How an event refers to its call site: a pointer to a `static` (free), or
/// an owned one (bindings).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum CallSiteRef {
    /// A call site that lives for the whole program.
    Static(&'static CallSite),
    /// A call site built at run time.
    Owned(Box<CallSite>),
}

impl Deref for CallSiteRef {
    type Target = CallSite;

    fn deref(&self) -> &CallSite {
        match self {
            CallSiteRef::Static(site) => site,
            CallSiteRef::Owned(site) => site,
        }
    }
}

/// `'static` call sites for bridges from other logging libraries (the
/// `tracing` layer, the `log` logger): their records name a file, a line
/// and a module, not a `static` of ours. Each distinct one is built once
/// and kept for the rest of the process, as the macros' `static`s are, so
/// an event carries a pointer and costs no allocation for its call site.
///
/// A fixed table of slots, filled with a compare-and-swap and never
/// emptied: a look-up is a hash, an atomic load and a comparison, with no
/// lock. Bounded: when the slots near an entry's hash are taken, the
/// caller gets `None` and builds an owned call site for that event.
mod cache {
    use std::hash::Hasher;
    use std::ptr;
    use std::sync::atomic::{AtomicPtr, Ordering};

    use super::CallSite;
    use crate::sdk::intern::WordHasher;
    use crate::value::Str;

    /// Slots probed past an entry's hash before giving up.
    const MAX_PROBES: usize = 32;

    pub(super) struct Table<const N: usize> {
        slots: [AtomicPtr<CallSite>; N],
    }

    impl<const N: usize> Table<N> {
        pub(super) const fn new() -> Self {
            Table {
                slots: [const { AtomicPtr::new(ptr::null_mut()) }; N],
            }
        }

        /// The entry `matches` accepts, near `hash`; else a new one from
        /// `make`, if a slot is free there.
        #[inline]
        pub(super) fn get_or_insert(
            &self,
            hash: u64,
            matches: impl Fn(&CallSite) -> bool,
            make: impl FnOnce() -> CallSite,
        ) -> Option<&'static CallSite> {
            let mut index = hash as usize % N;
            for _ in 0..MAX_PROBES {
                let entry = self.slots[index].load(Ordering::Acquire);
                if entry.is_null() {
                    return self.insert_from(index, matches, make);
                }
                // SAFETY: entries are leaked boxes, never freed or changed.
                let entry: &'static CallSite = unsafe { &*entry };
                if matches(entry) {
                    return Some(entry);
                }
                index = (index + 1) % N;
            }
            None
        }

        /// Inserts at the first free slot from `index` on, unless another
        /// thread inserted the same call site meanwhile.
        #[cold]
        fn insert_from(
            &self,
            mut index: usize,
            matches: impl Fn(&CallSite) -> bool,
            make: impl FnOnce() -> CallSite,
        ) -> Option<&'static CallSite> {
            let new = Box::into_raw(Box::new(make()));
            for _ in 0..MAX_PROBES {
                match self.slots[index].compare_exchange(
                    ptr::null_mut(),
                    new,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    // SAFETY: leaked from here on: never freed.
                    Ok(_) => return Some(unsafe { &*new }),
                    Err(entry) => {
                        // SAFETY: as in `get_or_insert`.
                        let entry: &'static CallSite = unsafe { &*entry };
                        if matches(entry) {
                            // SAFETY: `new` was never shared.
                            drop(unsafe { Box::from_raw(new) });
                            return Some(entry);
                        }
                    }
                }
                index = (index + 1) % N;
            }
            // SAFETY: `new` was never shared.
            drop(unsafe { Box::from_raw(new) });
            None
        }
    }

    /// Call sites of `'static` text, told apart by the text's address: a
    /// program has as many as it has places that log.
    pub(super) static STATIC: Table<16384> = Table::new();
    /// Call sites of borrowed text, told apart by the text itself, copied
    /// once. Bounded in count and in text length, for records made up at
    /// run time.
    pub(super) static COPIED: Table<4096> = Table::new();
    /// Longer file or module text is not copied into [`COPIED`].
    pub(super) const MAX_COPIED_LEN: usize = 512;

    pub(super) fn same_static(held: &Str, text: &'static str) -> bool {
        matches!(held, Str::Borrowed(held) if ptr::eq(*held, text))
    }

    pub(super) fn hash_static(file: &'static str, line: u32, module: &'static str) -> u64 {
        let mut hasher = WordHasher::default();
        hasher.write_usize(file.as_ptr() as usize);
        hasher.write_usize(file.len());
        hasher.write_u32(line);
        hasher.write_usize(module.as_ptr() as usize);
        hasher.write_usize(module.len());
        hasher.finish()
    }

    pub(super) fn hash_text(file: &str, line: u32, module: &str) -> u64 {
        let mut hasher = WordHasher::default();
        hasher.write(file.as_bytes());
        hasher.write_u32(line);
        hasher.write(module.as_bytes());
        hasher.finish()
    }
}

impl CallSite {
    /// The process-wide `'static` call site of `file`, `line` and `module`
    /// (`'static` text, as `file!()` and `module_path!()` give): built on
    /// first use, then shared. `None` when the table has no room left near
    /// it; build an owned one for that event then.
    #[doc(hidden)]
    #[inline]
    pub fn cached_static(
        file: &'static str,
        line: u32,
        module: &'static str,
    ) -> Option<&'static CallSite> {
        cache::STATIC.get_or_insert(
            cache::hash_static(file, line, module),
            |site| {
                site.line == line
                    && cache::same_static(&site.file, file)
                    && cache::same_static(&site.module, module)
            },
            || CallSite::new_static(file, line, module),
        )
    }

    /// Like [`CallSite::cached_static`] for text of any lifetime (a record
    /// handed over by another library): looked up by its content, copied
    /// once. `None` for text longer than 512 bytes or when the table has no
    /// room left near it.
    #[doc(hidden)]
    #[inline]
    pub fn cached_copy(file: &str, line: u32, module: &str) -> Option<&'static CallSite> {
        if file.len() > cache::MAX_COPIED_LEN || module.len() > cache::MAX_COPIED_LEN {
            return None;
        }
        cache::COPIED.get_or_insert(
            cache::hash_text(file, line, module),
            |site| site.line == line && site.file == file && site.module == module,
            || {
                let leak = |text: &str| -> &'static str { Box::leak(text.into()) };
                CallSite::new_static(leak(file), line, leak(module))
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_text_gets_one_call_site_per_place() {
        let a = CallSite::cached_static("src/a.rs", 3, "app::a").unwrap();
        let again = CallSite::cached_static("src/a.rs", 3, "app::a").unwrap();
        assert!(std::ptr::eq(a, again));
        assert_eq!((&*a.file, a.line, &*a.module), ("src/a.rs", 3, "app::a"));
        let other_line = CallSite::cached_static("src/a.rs", 4, "app::a").unwrap();
        assert!(!std::ptr::eq(a, other_line));
        assert_eq!(other_line.line, 4);
    }

    #[test]
    fn copied_text_is_looked_up_by_content() {
        let file = String::from("src/b.rs");
        let module = String::from("app::b");
        let first = CallSite::cached_copy(&file, 9, &module).unwrap();
        let same = CallSite::cached_copy(&file.clone(), 9, &module.clone()).unwrap();
        assert!(std::ptr::eq(first, same));
        assert!(matches!(first.file, Str::Borrowed("src/b.rs")));
        assert!(CallSite::cached_copy(&"x".repeat(513), 1, "m").is_none());
    }

    #[test]
    fn a_full_neighbourhood_gives_none_and_keeps_what_it_holds() {
        static SMALL: cache::Table<4> = cache::Table::new();
        let site = |line: u32| move || CallSite::new_static("f.rs", line, "m");
        let hits: Vec<_> = (0..6)
            .map(|line| SMALL.get_or_insert(0, |s| s.line == line, site(line)))
            .collect();
        assert!(hits[..4].iter().all(Option::is_some));
        assert!(hits[4..].iter().all(Option::is_none), "only 4 slots");
        let again = SMALL.get_or_insert(0, |s| s.line == 2, site(2)).unwrap();
        assert!(std::ptr::eq(again, hits[2].unwrap()));
    }
}
