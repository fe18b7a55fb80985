//! The reserved fields: `exc` (an exception with its cause chain and
//! traceback) and `http` (a dict of request information).

use std::time::Duration;

use aires_core::{ErrorInfo, HttpInfo, Str};
use pyo3::exceptions::PyBaseException;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::convert::{any_text, count_coerced};

/// The exception to record for an `exc=` / `exc_info=` value: an exception
/// instance, an `exc_info` triple, or `True` for the one being handled. `None` when there is nothing to record.
pub fn exception<'py>(value: &Bound<'py, PyAny>) -> Option<Bound<'py, PyBaseException>> {
    if let Ok(exc) = value.cast::<PyBaseException>() {
        return Some(exc.clone());
    }
    // `sys.exc_info()`'s (type, value, traceback), as `logging` takes it.
    if let Ok(triple) = value.cast::<pyo3::types::PyTuple>() {
        if triple.len() == 3 {
            return triple.get_item(1).ok()?.cast_into::<PyBaseException>().ok();
        }
    }
    // As `logging` reads `exc_info`: any other true value means the
    // exception being handled.
    if value.is_truthy().unwrap_or(false) {
        let sys = value.py().import("sys").ok()?;
        let current = sys.call_method0("exc_info").ok()?.get_item(1).ok()?;
        return current.cast_into::<PyBaseException>().ok();
    }
    None
}

/// Type (`module.QualName`, builtins unprefixed), message, the chain of
/// `__cause__` / `__context__` (outermost first, each as `Type: message`)
/// and the formatted traceback, as `traceback.format_exception` prints it.
pub fn error_info(exc: &Bound<'_, PyBaseException>) -> ErrorInfo {
    let mut info = ErrorInfo::new(Str::Owned(qualified_type(exc.as_any())), message(exc));
    let mut current = exc.clone();
    // A chain can loop (an exception set as its own context); stop at 32.
    for _ in 0..32 {
        let Some(next) = cause_of(&current) else {
            break;
        };
        info.chain.push(format!(
            "{}: {}",
            qualified_type(next.as_any()),
            message(&next)
        ));
        current = next;
    }
    info.backtrace = format_traceback(exc);
    info
}

fn cause_of<'py>(exc: &Bound<'py, PyBaseException>) -> Option<Bound<'py, PyBaseException>> {
    let linked = |name: &str| {
        exc.getattr(name)
            .ok()
            .and_then(|v| v.cast_into::<PyBaseException>().ok())
    };
    if let Some(cause) = linked("__cause__") {
        return Some(cause);
    }
    let suppressed = exc
        .getattr("__suppress_context__")
        .and_then(|v| v.is_truthy())
        .unwrap_or(false);
    if suppressed {
        return None;
    }
    linked("__context__")
}

fn message(exc: &Bound<'_, PyBaseException>) -> String {
    any_text(exc.as_any())
}

fn qualified_type(value: &Bound<'_, PyAny>) -> String {
    let ty = value.get_type();
    let name = ty
        .qualname()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "BaseException".into());
    match ty.module() {
        Ok(module) if module != "builtins" => format!("{module}.{name}"),
        _ => name,
    }
}

fn format_traceback(exc: &Bound<'_, PyBaseException>) -> Option<String> {
    let py = exc.py();
    let traceback = py.import("traceback").ok()?;
    // The three-argument form works on every supported version.
    let lines = traceback
        .call_method1(
            "format_exception",
            (exc.get_type(), exc, exc.getattr("__traceback__").ok()),
        )
        .ok()?;
    let text = PyString::new(py, "").call_method1("join", (lines,)).ok()?;
    Some(any_text(&text))
}

/// `http={"method": "POST", "route": "/pay", "status": 502, "duration_ms": 31.5, ...}`.
/// Unknown keys and values of the wrong type are skipped and counted.
pub fn http_info(dict: &Bound<'_, PyDict>) -> HttpInfo {
    let mut http = HttpInfo::default();
    for (key, value) in dict.iter() {
        let key = any_text(&key);
        let text = || Str::Owned(any_text(&value));
        let number = || -> Option<f64> {
            if value.is_instance_of::<pyo3::types::PyBool>() {
                return None;
            }
            value.extract::<f64>().ok()
        };
        match key.as_str() {
            "method" => http.method = text(),
            "route" => http.route = text(),
            "path" => http.path = text(),
            "user_agent" => http.user_agent = text(),
            "client_ip" => http.client_ip = text(),
            "host" => http.host = text(),
            "scheme" => http.scheme = text(),
            "status" | "status_code" => match value.extract::<u16>() {
                Ok(status) => http.status = status,
                Err(_) => count_coerced(),
            },
            "duration_ms" | "duration" => match number() {
                Some(v) if v.is_finite() && v >= 0.0 => {
                    let seconds = if key == "duration" { v } else { v / 1000.0 };
                    http.duration = Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX);
                }
                _ => count_coerced(),
            },
            "request_bytes" => match value.extract::<u64>() {
                Ok(v) => http.request_bytes = v,
                Err(_) => count_coerced(),
            },
            "response_bytes" => match value.extract::<u64>() {
                Ok(v) => http.response_bytes = v,
                Err(_) => count_coerced(),
            },
            _ => count_coerced(),
        }
    }
    http
}
