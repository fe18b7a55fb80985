//! The logging calls: `aires.info("message", key=value, ...)` and the five
//! others, and the entry point of the `logging` handler.
//!
//! The order of work is the cost order: the level check (one atomic load),
//! then the event: message, call site, context, fields, one push onto the
//! core's queue.

use std::sync::atomic::{AtomicBool, Ordering};

use aires_core::{Event, EventBuilder, Level, Str, Value};
use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::callsite;
use crate::context::{self, bad_id, parse_span_id, parse_trace_id};
use crate::convert::{any_text, count_coerced, for_each_value, text};
use crate::extras::{error_info, exception, http_info};
use crate::keys;

/// Whether the overflow policy may make a push wait (then the GIL is
/// released around it).
pub static MAY_BLOCK: AtomicBool = AtomicBool::new(false);

/// `opentelemetry.trace.get_current_span`, when trace ids are taken from
/// OpenTelemetry.
pub static OTEL_CURRENT_SPAN: Mutex<Option<Py<PyAny>>> = Mutex::new(None);
pub static OTEL_ON: AtomicBool = AtomicBool::new(false);

/// Builds and queues one event (the level already checked): message, call
/// site, context, then the fields added by `add_fields`, which returns
/// whether it set a trace id.
#[inline(always)]
pub fn emit(
    py: Python<'_>,
    level: Level,
    message: &Bound<'_, PyAny>,
    add_fields: impl FnOnce(&mut EventBuilder) -> bool,
) {
    let mut builder = Event::builder(level, message_text(message));
    if let Some(site) = callsite::caller(py) {
        builder.set_call_site(site);
    }
    let context = context::apply(py, &mut builder);
    let has_trace = add_fields(&mut builder) | context.trace_id;
    if context.fields || BOUND_FIELDS.with(|b| b.replace(false)) {
        // The call wins over the context, as everywhere.
        builder.keep_last_of_each_key();
    }
    if !has_trace && OTEL_ON.load(Ordering::Relaxed) {
        add_otel_span(py, &mut builder);
    }
    dispatch(py, builder.build());
}

#[inline]
fn message_text(message: &Bound<'_, PyAny>) -> String {
    match message.cast_exact::<PyString>() {
        Ok(s) => text(s).into_owned(),
        Err(_) => any_text(message),
    }
}

#[inline]
fn dispatch(py: Python<'_>, event: Event) {
    if MAY_BLOCK.load(Ordering::Relaxed) {
        py.detach(|| aires_core::__private::dispatch(event));
    } else {
        aires_core::__private::dispatch(event);
    }
}

/// Adds one keyword field; the reserved names (`exc`, `http`, `trace_id`,
/// `span_id`, `session_id`, `tags`) fill their own parts of the event.
/// Returns whether a trace id was set.
#[inline]
pub fn add_field(
    builder: &mut EventBuilder,
    key: &Bound<'_, PyString>,
    v: &Bound<'_, PyAny>,
) -> bool {
    let key = text(key);
    match key.as_ref() {
        "exc" | "exc_info" | "stack_info" | "extra" | "trace_id" | "span_id" | "session_id"
        | "tags" | "http" | BINDINGS => reserved(builder, &key, v),
        _ => {
            for_each_value(&key, v, |key, value| builder.push_attr(key, value));
            false
        }
    }
}

/// Adds the fields of a dict (the `logging` handler's `extra`).
fn add_dict(builder: &mut EventBuilder, fields: &Bound<'_, PyDict>) -> bool {
    let mut has_trace = false;
    for (key, v) in fields.iter() {
        match key.cast_into::<PyString>() {
            Ok(key) => has_trace |= add_field(builder, &key, &v),
            Err(key) => {
                let key = PyString::new(v.py(), &any_text(key.into_inner().as_any()));
                has_trace |= add_field(builder, &key, &v);
            }
        }
    }
    has_trace
}

/// The keyword a bound logger (`aires.get_logger`) passes its bindings
/// under, as a `Context`, first among the call's fields.
pub const BINDINGS: &str = "_aires_bindings";

thread_local! {
    /// Set when a call's bindings added fields: the call's own, after them,
    /// must replace those of the same key.
    static BOUND_FIELDS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[cold]
fn reserved(builder: &mut EventBuilder, key: &str, v: &Bound<'_, PyAny>) -> bool {
    match key {
        BINDINGS => {
            if let Ok(bound) = v.cast::<context::Context>() {
                let applied = context::add(builder, bound.get());
                if applied.fields {
                    BOUND_FIELDS.with(|b| b.set(true));
                }
                return applied.trace_id;
            }
        }
        "exc" | "exc_info" => {
            if let Some(exc) = exception(v) {
                builder.set_error_info(error_info(&exc));
            }
        }
        // A str is a stack already formatted (a `logging` record's); any
        // other true value asks for the caller's.
        "stack_info" => {
            let stack = match v.cast::<PyString>() {
                Ok(text) => Some(any_text(text.as_any())),
                Err(_) if v.is_truthy().unwrap_or(false) => stack_text(v.py()),
                Err(_) => None,
            };
            if let Some(stack) = stack {
                builder.push_attr(keys::key("stack_info"), Value::Str(stack.into()));
            }
        }
        "extra" => {
            if let Ok(extra) = v.cast::<PyDict>() {
                return add_dict(builder, extra);
            }
            if let Ok(mapping) = v.cast::<pyo3::types::PyMapping>() {
                if let Ok(extra) = mapping
                    .items()
                    .and_then(|items| PyDict::from_sequence(items.as_any()))
                {
                    return add_dict(builder, &extra);
                }
            }
            if !v.is_none() {
                bad_id(builder, key, v);
            }
        }
        "http" => match v.cast::<PyDict>() {
            Ok(dict) => builder.set_http(http_info(dict)),
            Err(_) => bad_id(builder, key, v),
        },
        "trace_id" if !v.is_none() => match parse_trace_id(v) {
            Ok(id) => {
                builder.set_trace_id(id);
                return true;
            }
            Err(_) => bad_id(builder, key, v),
        },
        "span_id" if !v.is_none() => match parse_span_id(v) {
            Ok(id) => builder.set_span_id(id),
            Err(_) => bad_id(builder, key, v),
        },
        "session_id" if !v.is_none() => builder.set_session_id(Str::Owned(any_text(v))),
        // A str is one tag, a list (or other iterable) of str the tags;
        // anything else stays an ordinary field named `tags`, counted.
        "tags" => match tag_list(v) {
            Some(tags) => builder.extend_tags(tags),
            None if v.is_none() => {}
            None => {
                count_coerced();
                for_each_value(key, v, |key, value| builder.push_attr(key, value));
            }
        },
        _ => {}
    }
    false
}

/// The tags `v` gives: one str, or an iterable (not a mapping, str or
/// bytes) of str only. `None` when it is anything else.
pub fn tag_list(v: &Bound<'_, PyAny>) -> Option<Vec<Str>> {
    if let Ok(s) = v.cast::<PyString>() {
        return Some(vec![Str::Owned(text(s).into_owned())]);
    }
    let is_mapping = v.cast::<PyDict>().is_ok() || v.hasattr("keys").unwrap_or(false);
    if v.is_none() || is_mapping || v.cast::<pyo3::types::PyBytes>().is_ok() {
        return None;
    }
    v.try_iter()
        .ok()?
        .map(|item| {
            let item = item.ok()?;
            let s = item.cast::<PyString>().ok()?;
            Some(Str::Owned(text(s).into_owned()))
        })
        .collect()
}

/// The caller's stack as `logging` writes `stack_info`.
fn stack_text(py: Python<'_>) -> Option<String> {
    let lines = py
        .import("traceback")
        .ok()?
        .call_method0("format_stack")
        .ok()?;
    let joined = PyString::new(py, "").call_method1("join", (lines,)).ok()?;
    let text = any_text(&joined);
    Some(format!(
        "Stack (most recent call last):\n{}",
        text.trim_end_matches('\n')
    ))
}

#[cold]
fn add_otel_span(py: Python<'_>, builder: &mut EventBuilder) {
    let Some(current_span) = OTEL_CURRENT_SPAN.lock().as_ref().map(|f| f.clone_ref(py)) else {
        return;
    };
    let ids = (|| -> PyResult<Option<(u128, u64)>> {
        let context = current_span
            .bind(py)
            .call0()?
            .call_method0("get_span_context")?;
        if !context.getattr("is_valid")?.is_truthy()? {
            return Ok(None);
        }
        Ok(Some((
            context.getattr("trace_id")?.extract()?,
            context.getattr("span_id")?.extract()?,
        )))
    })();
    match ids {
        Ok(Some((trace, span))) => {
            builder.set_trace_id(aires_core::TraceId::from_int(trace));
            builder.set_span_id(aires_core::SpanId::from_int(span));
        }
        Ok(None) => {}
        Err(_) => {} // no usable span: the event goes without ids
    }
}

/// Records one `logging` record (see `aires.LoggingHandler`): the level as
/// the core's, the record's own call site, its `extra` fields and exception.
#[pyfunction]
#[pyo3(signature = (level, message, fields, file, line, function, module, exc=None))]
#[allow(clippy::too_many_arguments)]
pub fn emit_record(
    py: Python<'_>,
    level: u8,
    message: &Bound<'_, PyAny>,
    fields: Option<&Bound<'_, PyDict>>,
    file: &Bound<'_, PyString>,
    line: u32,
    function: &Bound<'_, PyString>,
    module: &Bound<'_, PyString>,
    exc: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let level = Level::ALL
        .get(usize::from(level.clamp(1, 6)) - 1)
        .copied()
        .expect("clamped to 1..=6");
    if !aires_core::__private::enabled(level) {
        aires_core::__private::count_filtered();
        return Ok(());
    }
    let site = callsite::from_record(&text(file), line, &text(function), &text(module));
    let mut builder = Event::builder(level, message_text(message));
    builder.set_call_site(site);
    let context = context::apply(py, &mut builder);
    let mut has_trace = context.trace_id;
    if let Some(fields) = fields {
        has_trace |= add_dict(&mut builder, fields);
    }
    if context.fields {
        builder.keep_last_of_each_key();
    }
    if let Some(exc) = exc.and_then(exception) {
        builder.set_error_info(error_info(&exc));
    }
    if !has_trace && OTEL_ON.load(Ordering::Relaxed) {
        add_otel_span(py, &mut builder);
    }
    dispatch(py, builder.build());
    Ok(())
}
