//! The caller's file, line and function, read from the current Python frame
//! and kept as `'static` call sites, one per (code object, instruction).
//!
//! A program has a bounded number of places that log, so, like the Rust
//! macros' `static` call sites, each is built once and lives for the rest of
//! the process; an event then carries a pointer, not three strings. The
//! cache holds a reference to each code object so that its address, part of
//! the key, is never reused by another.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use aires_core::{CallSite, Str};
use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::convert::text;
use crate::cpython;
use aires_core::sdk::intern::WordHasher;

/// Where in a code object: the instruction offset when the interpreter
/// tells it (3.11+), else the line.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Position {
    Instruction(i32),
    Line(i32),
}

type Key = (usize, Position);

struct Sites {
    map: HashMap<Key, &'static CallSite, BuildHasherDefault<WordHasher>>,
    /// Keeps every code object in the map alive.
    code: Vec<Py<PyAny>>,
}

static SITES: Mutex<Option<Sites>> = Mutex::new(None);

/// The call site of the Python code calling into the module right now, or
/// `None` outside any Python frame.
#[inline]
pub fn caller(py: Python<'_>) -> Option<&'static CallSite> {
    // SAFETY: the GIL is held; the frame is borrowed and stays alive for
    // this call, the code object is a new reference owned by `code`.
    let (code, frame, position) = unsafe {
        let frame = cpython::PyEval_GetFrame();
        if frame.is_null() {
            return None;
        }
        let code = cpython::PyFrame_GetCode(frame);
        if code.is_null() {
            pyo3::ffi::PyErr_Clear();
            return None;
        }
        // The instruction offset is read in a few instructions; the line
        // (a walk of the code's line table) only when it is new.
        let position = match cpython::frame_get_lasti() {
            Some(lasti) => Position::Instruction(lasti(frame)),
            None => Position::Line(cpython::PyFrame_GetLineNumber(frame)),
        };
        (Bound::from_owned_ptr(py, code), frame, position)
    };
    let key = (code.as_ptr() as usize, position);
    let mut sites = SITES.lock();
    let sites = sites.get_or_insert_with(|| Sites {
        map: HashMap::default(),
        code: Vec::new(),
    });
    if let Some(site) = sites.map.get(&key) {
        return Some(site);
    }
    let line = match position {
        Position::Line(line) => line,
        // SAFETY: the frame is still the current one (no Python code ran).
        Position::Instruction(_) => unsafe { cpython::PyFrame_GetLineNumber(frame) },
    };
    let site: &'static CallSite = Box::leak(Box::new(build(&code, line)));
    sites.map.insert(key, site);
    sites.code.push(code.unbind());
    Some(site)
}

#[cold]
fn build(code: &Bound<'_, PyAny>, line: i32) -> CallSite {
    let attr = |name: &str| -> Str {
        code.getattr(name)
            .ok()
            .and_then(|v| v.cast_into::<PyString>().ok())
            .map(|s| Str::Owned(text(&s).into_owned()))
            .unwrap_or_default()
    };
    // co_qualname (3.11+) names methods as Class.method.
    let mut function = attr("co_qualname");
    if function.is_empty() {
        function = attr("co_name");
    }
    let file = attr("co_filename");
    CallSite {
        module: module_of(&file),
        file,
        line: line.max(0) as u32,
        function,
    }
}

/// The module name, from the file name: `app/orders.py` -> `orders`.
fn module_of(file: &str) -> Str {
    let name = file.rsplit(['/', '\\']).next().unwrap_or(file);
    Str::Owned(name.strip_suffix(".py").unwrap_or(name).to_owned())
}

/// A call site for the logging handler: the record's own path, line and
/// function, cached the same way (by text, as records carry no code object).
pub fn from_record(file: &str, line: u32, function: &str, module: &str) -> &'static CallSite {
    type RecordSites = HashMap<(String, u32, String), &'static CallSite>;
    static RECORD_SITES: Mutex<Option<RecordSites>> = Mutex::new(None);
    let mut sites = RECORD_SITES.lock();
    let sites = sites.get_or_insert_with(HashMap::new);
    let key = (file.to_owned(), line, function.to_owned());
    if let Some(site) = sites.get(&key) {
        return site;
    }
    let site: &'static CallSite = Box::leak(Box::new(CallSite {
        file: Str::Owned(file.to_owned()),
        line,
        module: Str::Owned(module.to_owned()),
        function: Str::Owned(function.to_owned()),
    }));
    sites.insert(key, site);
    site
}
