//! CPython functions used on the hot path that the limited API of 3.9 does
//! not list, declared here by hand.
//!
//! Every one of them is exported by the interpreter of every CPython the
//! wheel supports (3.9 and later; each is in the stable ABI from 3.10 on),
//! with the same signature, so the abi3 wheel stays valid. Without them the
//! limited API of 3.9 copies every string through a new `bytes` object and
//! reads a frame only through attribute lookups, which costs more than the
//! rest of an event together.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::OnceLock;

use pyo3::ffi::{PyObject, Py_ssize_t};

extern "C" {
    /// The UTF-8 form of a `str`, cached inside the object (no copy after
    /// the first call; ASCII strings are their own UTF-8).
    pub fn PyUnicode_AsUTF8AndSize(unicode: *mut PyObject, size: *mut Py_ssize_t) -> *const c_char;
    /// The calling Python frame (borrowed), or null.
    pub fn PyEval_GetFrame() -> *mut PyObject;
    /// The frame's code object (a new reference).
    pub fn PyFrame_GetCode(frame: *mut PyObject) -> *mut PyObject;
    /// The frame's current line.
    pub fn PyFrame_GetLineNumber(frame: *mut PyObject) -> c_int;
    /// The calling frame (a new reference), or null at the outermost one.
    /// In CPython's API since 3.9.
    pub fn PyFrame_GetBack(frame: *mut PyObject) -> *mut PyObject;
    /// Reads a `contextvars.ContextVar` in the current context.
    pub fn PyContextVar_Get(
        var: *mut PyObject,
        default_value: *mut PyObject,
        value: *mut *mut PyObject,
    ) -> c_int;
}

/// `PyFrame_GetLasti(frame)`: the frame's last instruction offset.
pub type GetLasti = unsafe extern "C" fn(frame: *mut PyObject) -> c_int;

/// `PyFrame_GetLasti`, which CPython exports from 3.11 on: found at run
/// time, since naming it here would stop the module loading on 3.9 and
/// 3.10.
pub fn frame_get_lasti() -> Option<GetLasti> {
    static LASTI: OnceLock<Option<GetLasti>> = OnceLock::new();
    *LASTI.get_or_init(|| {
        let symbol = lookup(c"PyFrame_GetLasti")?;
        // SAFETY: CPython's PyFrame_GetLasti has exactly this signature.
        Some(unsafe { std::mem::transmute::<*mut c_void, GetLasti>(symbol) })
    })
}

#[cfg(unix)]
fn lookup(name: &CStr) -> Option<*mut c_void> {
    extern "C" {
        fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    }
    #[cfg(target_os = "macos")]
    const RTLD_DEFAULT: *mut c_void = -2isize as *mut c_void;
    #[cfg(not(target_os = "macos"))]
    const RTLD_DEFAULT: *mut c_void = std::ptr::null_mut();
    // SAFETY: a plain symbol lookup in the process's global scope.
    let symbol = unsafe { dlsym(RTLD_DEFAULT, name.as_ptr()) };
    (!symbol.is_null()).then_some(symbol)
}

#[cfg(not(unix))]
fn lookup(_name: &CStr) -> Option<*mut c_void> {
    None
}
