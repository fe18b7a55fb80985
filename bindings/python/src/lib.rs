//! `aires._native`: the compiled half of the Python package `aires`.
//!
//! It converts Python arguments into the core's [`aires_core::Event`] and
//! hands them to the core's global pipeline; queueing, batching, encoding
//! and delivery are the core's. The public API is the Python package
//! (`bindings/python/python/aires`), which wraps this module.

mod callsite;
mod context;
mod convert;
mod cpython;
mod emit;
mod extras;
mod fastcall;
mod keys;
mod lifecycle;
mod memory;

use pyo3::prelude::*;

/// mimalloc for this module's Rust allocations (Python's own objects keep
/// CPython's allocator): every event's strings are allocated on the
/// caller's thread and freed on the batch worker's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    fastcall::register(m)?;
    m.add_function(wrap_pyfunction!(emit::emit_record, m)?)?;
    m.add_function(wrap_pyfunction!(context::_set_context_var, m)?)?;
    m.add_function(wrap_pyfunction!(callsite::_set_internal_paths, m)?)?;
    m.add_class::<context::Context>()?;
    m.add_function(wrap_pyfunction!(lifecycle::init, m)?)?;
    m.add_function(wrap_pyfunction!(lifecycle::flush, m)?)?;
    m.add_function(wrap_pyfunction!(lifecycle::shutdown, m)?)?;
    m.add_function(wrap_pyfunction!(lifecycle::metrics, m)?)?;
    m.add_function(wrap_pyfunction!(lifecycle::is_running, m)?)?;
    m.add_function(wrap_pyfunction!(lifecycle::level, m)?)?;
    m.add_function(wrap_pyfunction!(lifecycle::_after_fork_in_child, m)?)?;
    m.add_function(wrap_pyfunction!(lifecycle::_panic_for_tests, m)?)?;
    m.add_function(wrap_pyfunction!(memory::_memory_records, m)?)?;
    m.add_function(wrap_pyfunction!(memory::_memory_clear, m)?)?;
    m.add_function(wrap_pyfunction!(memory::_memory_rows, m)?)?;
    m.add_function(wrap_pyfunction!(memory::_sdk_options, m)?)?;
    m.add_function(wrap_pyfunction!(memory::_sdk_metric_names, m)?)?;
    m.add_function(wrap_pyfunction!(memory::_null_events, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // Resolved now, on the importing thread, like every lazy value a
    // forked child might otherwise find half made.
    cpython::frame_get_lasti();
    Ok(())
}
