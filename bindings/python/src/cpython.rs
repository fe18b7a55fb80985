//! CPython functions used on the hot path that the limited API of 3.9 does
//! not list, declared here by hand.
//!
//! Every one of them is exported by the interpreter of every CPython the
//! wheel supports (3.9 and later; each is in the stable ABI from 3.10 on),
//! with the same signature, so the abi3 wheel stays valid. Without them the
//! limited API of 3.9 copies every string through a new `bytes` object and
//! reads a frame only through attribute lookups, which costs more than the
//! rest of an event together.

use std::ffi::{c_char, c_int};

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
    /// Reads a `contextvars.ContextVar` in the current context.
    pub fn PyContextVar_Get(
        var: *mut PyObject,
        default_value: *mut PyObject,
        value: *mut *mut PyObject,
    ) -> c_int;
}
