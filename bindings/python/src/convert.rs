//! Python values to Aires values: text, the typed field values, and the
//! count of values that had to be stored as their `str()`.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};

use aires_core::{Str, Value};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyFloat, PyInt, PyList, PyString, PyTuple};

use crate::{cpython, keys};

/// Values not kept as given: fields of other types than str, int, float and
/// bool, and ints outside the 64-bit range, stored as their `str()`; ids
/// that do not parse, kept as plain fields; `http` entries that are unknown
/// or of the wrong type, skipped.
pub static VALUES_COERCED: AtomicU64 = AtomicU64::new(0);

/// The text of a `str` (or subclass). Borrowed from the object's cached
/// UTF-8 form; strings with lone surrogates (not valid UTF-8) are copied
/// with the surrogates replaced.
#[inline]
pub fn text<'a>(s: &'a Bound<'_, PyString>) -> Cow<'a, str> {
    let mut size: ffi::Py_ssize_t = 0;
    // SAFETY: `s` is a live str; the returned buffer lives as long as it.
    let data = unsafe { cpython::PyUnicode_AsUTF8AndSize(s.as_ptr(), &mut size) };
    if data.is_null() {
        // SAFETY: the call above set an exception (a UnicodeEncodeError).
        unsafe { ffi::PyErr_Clear() };
        return Cow::Owned(lossy(s));
    }
    // SAFETY: CPython guarantees `size` bytes of valid UTF-8 at `data`.
    Cow::Borrowed(unsafe {
        std::str::from_utf8_unchecked(std::slice::from_raw_parts(data.cast(), size as usize))
    })
}

/// A str with lone surrogates: each becomes one U+FFFD, as JavaScript
/// engines do (a UTF-8 round trip would give one per byte).
#[cold]
fn lossy(s: &Bound<'_, PyString>) -> String {
    let units = s
        .call_method1("encode", ("utf-16-le", "surrogatepass"))
        .ok()
        .and_then(|b| b.extract::<Vec<u8>>().ok());
    match units {
        Some(bytes) => {
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        None => s.to_string_lossy().into_owned(),
    }
}

/// The text of any object: a `str` as it is, anything else its `str()`.
pub fn any_text(value: &Bound<'_, PyAny>) -> String {
    if let Ok(s) = value.cast::<PyString>() {
        return text(s).into_owned();
    }
    match value.str() {
        Ok(s) => text(&s).into_owned(),
        Err(_) => format!("<unprintable {}>", type_name(value)),
    }
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".into())
}

/// Calls `f` with the field (or fields) `key = v` makes, by the value rules
/// (README, "How values are stored"): str, int, float and bool as they are;
/// `None` not at all; a mapping flattened to dotted keys; lists, datetimes
/// and bytes as text (see `aires._values`, which this asks for those).
#[inline]
pub fn for_each_value(key: &str, v: &Bound<'_, PyAny>, mut f: impl FnMut(Str, Value)) {
    if v.is_none() {
        return;
    }
    if is_primitive(v) {
        f(keys::key(key), value(v));
    } else {
        other_value(key, v, &mut f);
    }
}

fn is_primitive(v: &Bound<'_, PyAny>) -> bool {
    v.is_instance_of::<PyString>() || v.is_instance_of::<PyInt>() || v.is_instance_of::<PyFloat>()
}

/// `aires._values.convert`, looked up once.
static CONVERT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

#[cold]
fn other_value(key: &str, v: &Bound<'_, PyAny>, f: &mut dyn FnMut(Str, Value)) {
    let py = v.py();
    let converted = CONVERT
        .get_or_try_init(py, || -> PyResult<Py<PyAny>> {
            Ok(py.import("aires._values")?.getattr("convert")?.unbind())
        })
        .and_then(|convert| convert.bind(py).call1((v,)));
    let Ok(converted) = converted else {
        f(keys::key(key), stringified(v));
        return;
    };
    let Ok(pair) = converted.cast_into::<PyTuple>() else {
        f(keys::key(key), stringified(v));
        return;
    };
    if pair
        .get_item(1)
        .and_then(|c| c.is_truthy())
        .unwrap_or(false)
    {
        count_coerced();
    }
    let Ok(result) = pair.get_item(0) else {
        return;
    };
    if let Ok(items) = result.cast::<PyList>() {
        for item in items.iter() {
            let Ok((suffix, inner)) = item.extract::<(Bound<'_, PyString>, Bound<'_, PyAny>)>()
            else {
                continue;
            };
            f(
                keys::key(&format!("{key}.{}", text(&suffix))),
                value(&inner),
            );
        }
    } else {
        f(keys::key(key), Value::Str(Cow::Owned(any_text(&result))));
    }
}

/// A field value: str, int, float and bool keep their type (ints as i64,
/// or u64 above `i64::MAX`); anything else becomes its `str()`, counted.
#[inline]
pub fn value(v: &Bound<'_, PyAny>) -> Value {
    if let Ok(s) = v.cast_exact::<PyString>() {
        return Value::Str(Cow::Owned(text(s).into_owned()));
    }
    if v.is_exact_instance_of::<PyInt>() {
        return int(v);
    }
    if let Ok(f) = v.cast_exact::<PyFloat>() {
        return Value::F64(f.value());
    }
    if let Ok(b) = v.cast_exact::<PyBool>() {
        return Value::Bool(b.is_true());
    }
    subclass_value(v)
}

/// Subclasses (IntEnum, str enums, numpy-free float subclasses) and the rest.
#[cold]
fn subclass_value(v: &Bound<'_, PyAny>) -> Value {
    if let Ok(b) = v.cast::<PyBool>() {
        return Value::Bool(b.is_true());
    }
    if v.is_instance_of::<PyInt>() {
        return int(v);
    }
    if let Ok(f) = v.cast::<PyFloat>() {
        return Value::F64(f.value());
    }
    if let Ok(s) = v.cast::<PyString>() {
        return Value::Str(Cow::Owned(text(s).into_owned()));
    }
    stringified(v)
}

#[inline]
fn int(v: &Bound<'_, PyAny>) -> Value {
    let mut overflow = 0;
    // SAFETY: `v` is an int; the call reports overflow through `overflow`.
    let small = unsafe { ffi::PyLong_AsLongLongAndOverflow(v.as_ptr(), &mut overflow) };
    if overflow == 0 {
        if small == -1 && PyErr::take(v.py()).is_some() {
            return stringified(v);
        }
        return Value::I64(small);
    }
    if overflow > 0 {
        if let Ok(big) = v.extract::<u64>() {
            return Value::U64(big);
        }
    }
    stringified(v)
}

#[cold]
fn stringified(v: &Bound<'_, PyAny>) -> Value {
    VALUES_COERCED.fetch_add(1, Ordering::Relaxed);
    Value::Str(Cow::Owned(any_text(v)))
}

pub fn count_coerced() {
    VALUES_COERCED.fetch_add(1, Ordering::Relaxed);
}
