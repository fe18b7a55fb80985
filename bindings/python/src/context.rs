//! `aires.context(...)`: trace ids, session id and fields carried by a
//! `contextvars.ContextVar`, so they follow threads started with
//! `contextvars.copy_context()` and asyncio tasks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use aires_core::{Attribute, EventBuilder, SpanId, Str, TraceId};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::{any_text, count_coerced, for_each_value, value};
use crate::cpython;

/// The `ContextVar` the Python package keeps the current [`Context`] in.
static VAR: OnceLock<Py<PyAny>> = OnceLock::new();
/// Set once any context is made: until then, events skip the lookup.
static USED: AtomicBool = AtomicBool::new(false);

/// Hands the module the package's `ContextVar` (once, at import).
#[pyfunction]
pub fn _set_context_var(var: Bound<'_, PyAny>) {
    let _ = VAR.set(var.unbind());
}

/// What a `with aires.context(...)` block adds to every event inside it.
/// Nested blocks start from the enclosing one.
#[pyclass(frozen, module = "aires._native")]
#[derive(Debug, Default)]
pub struct Context {
    pub trace_id: Option<TraceId>,
    pub span_id: Option<SpanId>,
    pub session_id: Option<String>,
    pub tags: Vec<String>,
    pub fields: Vec<Attribute>,
}

#[pymethods]
impl Context {
    #[new]
    #[pyo3(signature = (parent=None, trace_id=None, span_id=None, session_id=None, fields=None))]
    fn new(
        parent: Option<&Bound<'_, Context>>,
        trace_id: Option<&Bound<'_, PyAny>>,
        span_id: Option<&Bound<'_, PyAny>>,
        session_id: Option<&Bound<'_, PyAny>>,
        fields: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Context> {
        USED.store(true, Ordering::Relaxed);
        let mut context = match parent {
            Some(parent) => {
                let parent = parent.get();
                Context {
                    trace_id: parent.trace_id,
                    span_id: parent.span_id,
                    session_id: parent.session_id.clone(),
                    tags: parent.tags.clone(),
                    fields: parent.fields.clone(),
                }
            }
            None => Context::default(),
        };
        if let Some(id) = trace_id {
            context.trace_id = Some(parse_trace_id(id)?);
        }
        if let Some(id) = span_id {
            context.span_id = Some(parse_span_id(id)?);
        }
        if let Some(session) = session_id {
            context.session_id = Some(any_text(session));
        }
        if let Some(fields) = fields {
            for (key, v) in fields.iter() {
                let key = any_text(&key);
                if key == "tags" {
                    // Tags add up: the enclosing blocks', this one's, the call's.
                    if let Some(tags) = crate::emit::tag_list(&v) {
                        context
                            .tags
                            .extend(tags.into_iter().map(|t| t.into_owned()));
                        continue;
                    }
                    count_coerced();
                }
                for_each_value(&key, &v, |key, value| {
                    context.fields.retain(|a| a.key != key);
                    context.fields.push(Attribute::new(key, value));
                });
            }
        }
        Ok(context)
    }

    /// The trace id as 32 hex digits, or `None`.
    #[getter]
    fn trace_id(&self) -> Option<String> {
        self.trace_id.map(|id| id.to_string())
    }

    /// The span id as 16 hex digits, or `None`.
    #[getter]
    fn span_id(&self) -> Option<String> {
        self.span_id.map(|id| id.to_string())
    }

    /// The session id, or `None`.
    #[getter]
    fn session_id(&self) -> Option<String> {
        self.session_id.clone()
    }
}

/// A trace id from 32 hex digits or a non-zero int (as OpenTelemetry keeps it).
pub fn parse_trace_id(id: &Bound<'_, PyAny>) -> PyResult<TraceId> {
    if let Ok(n) = id.extract::<u128>() {
        return TraceId::from_int(n)
            .ok_or_else(|| pyo3::exceptions::PyValueError::new_err("trace_id must not be zero"));
    }
    TraceId::from_hex(&any_text(id))
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))
}

/// A span id from 16 hex digits or a non-zero int.
pub fn parse_span_id(id: &Bound<'_, PyAny>) -> PyResult<SpanId> {
    if let Ok(n) = id.extract::<u64>() {
        return SpanId::from_int(n)
            .ok_or_else(|| pyo3::exceptions::PyValueError::new_err("span_id must not be zero"));
    }
    SpanId::from_hex(&any_text(id))
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))
}

/// Applies the current context to an event. Returns whether it set a trace id.
#[inline]
pub fn apply(py: Python<'_>, builder: &mut EventBuilder) -> Applied {
    const NOTHING: Applied = Applied {
        trace_id: false,
        fields: false,
    };
    if !USED.load(Ordering::Relaxed) {
        return NOTHING;
    }
    let Some(var) = VAR.get() else {
        return NOTHING;
    };
    let mut raw = std::ptr::null_mut();
    // SAFETY: `var` is a ContextVar; on success `raw` is a new reference
    // (or null when unset and no default).
    let status = unsafe { cpython::PyContextVar_Get(var.as_ptr(), std::ptr::null_mut(), &mut raw) };
    if status != 0 {
        PyErr::take(py);
        return NOTHING;
    }
    if raw.is_null() {
        return NOTHING;
    }
    // SAFETY: a new reference, owned from here.
    let current = unsafe { Bound::from_owned_ptr(py, raw) };
    let Ok(context) = current.cast::<Context>() else {
        return NOTHING;
    };
    add(builder, context.get())
}

/// Adds what `context` carries to an event: the ambient context, or a bound
/// logger's bindings (which come after it, and so win over it).
pub fn add(builder: &mut EventBuilder, context: &Context) -> Applied {
    if let Some(session) = &context.session_id {
        builder.set_session_id(Str::Owned(session.clone()));
    }
    for field in &context.fields {
        builder.push_attr(field.key.clone(), field.value.clone());
    }
    if !context.tags.is_empty() {
        builder.extend_tags(context.tags.iter().map(|t| Str::Owned(t.clone())));
    }
    if context.span_id.is_some() {
        builder.set_span_id(context.span_id);
    }
    if context.trace_id.is_some() {
        builder.set_trace_id(context.trace_id);
    }
    Applied {
        trace_id: context.trace_id.is_some(),
        fields: !context.fields.is_empty(),
    }
}

/// What [`apply`] added to an event.
pub struct Applied {
    /// A trace id (then OpenTelemetry's is not looked up).
    pub trace_id: bool,
    /// Fields, which the call's own fields of the same key replace.
    pub fields: bool,
}

/// An id field given on one call that does not parse: kept as a plain field.
pub fn bad_id(builder: &mut EventBuilder, key: &str, id: &Bound<'_, PyAny>) {
    count_coerced();
    builder.push_attr(Str::Owned(key.to_owned()), value(id));
}
