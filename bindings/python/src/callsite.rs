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

#[derive(Default)]
struct Sites {
    /// `None` for code in an internal module (see [`set_internal_paths`]):
    /// the call site is further out.
    map: HashMap<Key, Option<&'static CallSite>, BuildHasherDefault<WordHasher>>,
    /// Keeps every code object in the map alive.
    code: Vec<Py<PyAny>>,
    /// Path prefixes of modules that log on their caller's behalf (the
    /// `aires` package's bound logger and structlog processor, structlog).
    internal: Vec<String>,
}

static SITES: Mutex<Option<Sites>> = Mutex::new(None);

/// Frames passed over at most, looking for code outside internal modules.
const MAX_FRAMES: usize = 64;

/// Files under these path prefixes are not call sites: an event logged
/// from them takes the first frame further out (the application's call to
/// the bound logger, or to structlog). Set by the `aires` package.
#[pyfunction]
pub fn _set_internal_paths(paths: Vec<String>) {
    let mut sites = SITES.lock();
    let sites = sites.get_or_insert_with(Sites::default);
    sites.internal = paths;
    sites.map.clear(); // decisions made with the old list
}

/// The call site of the Python code calling into the module right now, or
/// `None` outside any Python frame. Frames of internal modules are passed
/// over.
#[inline]
pub fn caller(py: Python<'_>) -> Option<&'static CallSite> {
    // SAFETY: the GIL is held; the current frame is borrowed and stays
    // alive for this call.
    let mut frame = unsafe { cpython::PyEval_GetFrame() };
    // The frames walked past, owned (PyFrame_GetBack returns new ones).
    let mut outer: Option<Bound<'_, PyAny>> = None;
    for _ in 0..MAX_FRAMES {
        if frame.is_null() {
            return None;
        }
        match site_of(py, frame) {
            Some(site) => return site,
            None => {
                // SAFETY: `frame` is alive (borrowed, or owned by `outer`);
                // the result is a new reference or null.
                let back = unsafe { cpython::PyFrame_GetBack(frame) };
                if back.is_null() {
                    return None;
                }
                // SAFETY: a new reference, owned from here.
                let back = unsafe { Bound::from_owned_ptr(py, back) };
                frame = back.as_ptr();
                outer = Some(back);
            }
        }
    }
    drop(outer);
    None
}

/// The call site of `frame`: `Some(None)` when no code object can be read,
/// `None` when it is internal code (look further out).
#[inline]
fn site_of(py: Python<'_>, frame: *mut pyo3::ffi::PyObject) -> Option<Option<&'static CallSite>> {
    // SAFETY: the GIL is held and `frame` is a live frame; the code object
    // is a new reference owned by `code`.
    let (code, position) = unsafe {
        let code = cpython::PyFrame_GetCode(frame);
        if code.is_null() {
            pyo3::ffi::PyErr_Clear();
            return Some(None);
        }
        // The instruction offset is read in a few instructions; the line
        // (a walk of the code's line table) only when it is new.
        let position = match cpython::frame_get_lasti() {
            Some(lasti) => Position::Instruction(lasti(frame)),
            None => Position::Line(cpython::PyFrame_GetLineNumber(frame)),
        };
        (Bound::from_owned_ptr(py, code), position)
    };
    let key = (code.as_ptr() as usize, position);
    let mut sites = SITES.lock();
    let sites = sites.get_or_insert_with(Sites::default);
    if let Some(site) = sites.map.get(&key) {
        return site.map(Some);
    }
    let line = match position {
        Position::Line(line) => line,
        // SAFETY: the frame is still alive and no Python code ran.
        Position::Instruction(_) => unsafe { cpython::PyFrame_GetLineNumber(frame) },
    };
    let built = build(&code, line);
    let internal = sites
        .internal
        .iter()
        .any(|prefix| built.file.starts_with(prefix.as_str()));
    let site: Option<&'static CallSite> = (!internal).then(|| &*Box::leak(Box::new(built)));
    sites.map.insert(key, site);
    sites.code.push(code.unbind());
    site.map(Some)
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
    let module = module_of(&file);
    CallSite::new(file, line.max(0) as u32, module, function)
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
    let site: &'static CallSite = Box::leak(Box::new(CallSite::new(
        file.to_owned(),
        line,
        module.to_owned(),
        function.to_owned(),
    )));
    sites.insert(key, site);
    site
}
