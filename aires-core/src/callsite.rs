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
