//! The six logging functions as raw `METH_FASTCALL | METH_KEYWORDS`
//! builtins.
//!
//! Under the limited API of 3.9 PyO3 declares functions `METH_VARARGS |
//! METH_KEYWORDS`, so every call first packs its keyword arguments into a
//! new dict (and its positional ones into a tuple), and then the level
//! check can only run after that: several hundred nanoseconds before
//! anything useful. A fastcall builtin receives the argument array and the
//! tuple of keyword names as the caller laid them out, so the level check
//! is the first thing a call does and the fields are read in place. The
//! calling convention exists in every supported CPython (3.7 and later)
//! and is in the stable ABI from 3.10 on.

use std::ffi::{c_int, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use aires_core::Level;
use pyo3::exceptions::PyTypeError;
use pyo3::ffi::{self, PyMethodDef, PyMethodDefPointer, PyObject, Py_ssize_t};
use pyo3::panic::PanicException;
use pyo3::prelude::*;
use pyo3::types::PyString;
use pyo3::Borrowed;

use crate::emit;

const METH_FASTCALL: c_int = 0x0080;
const METH_KEYWORDS: c_int = 0x0002;

type FastCall = unsafe extern "C" fn(
    *mut PyObject,
    *const *mut PyObject,
    Py_ssize_t,
    *mut PyObject,
) -> *mut PyObject;

macro_rules! fast_fns {
    ($($name:ident => $level:ident),* $(,)?) => {
        $(
            unsafe extern "C" fn $name(
                _module: *mut PyObject,
                args: *const *mut PyObject,
                nargs: Py_ssize_t,
                kwnames: *mut PyObject,
            ) -> *mut PyObject {
                // SAFETY: CPython calls with the fastcall convention.
                unsafe { call(Level::$level, args, nargs, kwnames) }
            }
        )*
        /// The functions, their Python names and docstrings.
        const FUNCTIONS: [(&CStr, FastCall, &CStr); 6] = [$(
            (
                match CStr::from_bytes_with_nul(concat!(stringify!($name), "\0").as_bytes()) {
                    Ok(name) => name,
                    Err(_) => panic!("no interior nul"),
                },
                $name,
                match CStr::from_bytes_with_nul(concat!(
                    stringify!($name),
                    "(message, /, **fields)\n--\n\nRecords an event at level ",
                    stringify!($name),
                    ": the message, then typed keyword fields.\0"
                ).as_bytes()) {
                    Ok(doc) => doc,
                    Err(_) => panic!("no interior nul"),
                },
            ),
        )*];
    };
}

fast_fns! {
    trace => Trace,
    debug => Debug,
    info => Info,
    warn => Warn,
    error => Error,
    fatal => Fatal,
}

#[inline(always)]
unsafe fn call(
    level: Level,
    args: *const *mut PyObject,
    nargs: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    if !aires_core::__private::enabled(level) {
        aires_core::__private::count_filtered();
        // SAFETY: returning a new reference to None.
        return unsafe { none() };
    }
    // SAFETY: CPython holds the GIL for the duration of a builtin call.
    let py = unsafe { Python::assume_attached() };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // CPython passes the plain count to fastcall builtins.
        let positional = nargs;
        if positional != 1 {
            return Err(PyTypeError::new_err(format!(
                "{}() takes the message as its one positional argument ({positional} given); \
                 fields are keyword arguments",
                level.as_str()
            )));
        }
        // SAFETY: `args` holds `positional` arguments then one value per
        // keyword name, all borrowed for the duration of the call, so they
        // are used as borrowed (no reference counting per argument).
        unsafe {
            let message = Borrowed::from_ptr(py, *args);
            let count = if kwnames.is_null() {
                0
            } else {
                ffi::PyTuple_Size(kwnames)
            };
            emit::emit(py, level, &message, |builder| {
                let mut has_trace = false;
                for i in 0..count {
                    // Keyword names are always str.
                    let name = Borrowed::from_ptr(py, ffi::PyTuple_GetItem(kwnames, i))
                        .cast_unchecked::<PyString>();
                    let value = Borrowed::from_ptr(py, *args.add(1 + i as usize));
                    has_trace |= emit::add_field(builder, &name, &value);
                }
                has_trace
            });
        }
        Ok(())
    }));
    match outcome {
        // SAFETY: a new reference to None.
        Ok(Ok(())) => unsafe { none() },
        Ok(Err(error)) => {
            error.restore(py);
            std::ptr::null_mut()
        }
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a Rust panic".into());
            PanicException::new_err(message).restore(py);
            std::ptr::null_mut()
        }
    }
}

unsafe fn none() -> *mut PyObject {
    // SAFETY: None is immortal (3.12+) or reference counted; either way
    // the caller receives a new reference.
    unsafe {
        let none = ffi::Py_None();
        ffi::Py_IncRef(none);
        none
    }
}

/// Adds the six functions to the module.
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    struct Defs([PyMethodDef; 6]);
    // SAFETY: the definitions are immutable after construction and only
    // read by CPython; their pointers are to 'static data.
    unsafe impl Sync for Defs {}
    // SAFETY: as above.
    unsafe impl Send for Defs {}
    static DEFS: std::sync::OnceLock<Defs> = std::sync::OnceLock::new();
    let defs = DEFS.get_or_init(|| {
        Defs(FUNCTIONS.map(|(name, function, doc)| PyMethodDef {
            ml_name: name.as_ptr(),
            ml_meth: PyMethodDefPointer {
                // SAFETY: the flags tell CPython to call it with the
                // fastcall signature it has.
                PyCFunction: unsafe { std::mem::transmute::<FastCall, ffi::PyCFunction>(function) },
            },
            ml_flags: METH_FASTCALL | METH_KEYWORDS,
            ml_doc: doc.as_ptr(),
        }))
    });
    let py = module.py();
    let module_name = module.name()?;
    for (def, (name, _, _)) in defs.0.iter().zip(FUNCTIONS) {
        // SAFETY: `def` is 'static; the result is a new reference or null.
        let function = unsafe {
            Bound::from_owned_ptr_or_err(
                py,
                ffi::PyCFunction_NewEx(
                    std::ptr::from_ref(def).cast_mut(),
                    module.as_ptr(),
                    module_name.as_ptr(),
                ),
            )?
        };
        module.add(name.to_str().expect("ASCII names"), function)?;
    }
    Ok(())
}
