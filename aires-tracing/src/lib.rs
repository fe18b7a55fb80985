//! A [`tracing_subscriber::Layer`] that records every `tracing` event as an
//! Aires event, in the same global pipeline that `aires::init` starts (and
//! so batched, sent to the collector and stored in ClickHouse like the
//! `aires::info!` macros' events).
//!
//! ```
//! use std::time::Duration;
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let memory = aires_core::transport::MemoryTransport::new();
//! let guard = aires_core::init(
//!     aires_core::Config::new("checkout").env_overrides(false).transport(memory.clone()),
//! )?;
//! let subscriber = tracing_subscriber::registry().with(aires_tracing::layer());
//! tracing::subscriber::with_default(subscriber, || {
//!     let span = tracing::info_span!("request", user = "ada");
//!     let _entered = span.enter();
//!     tracing::info!(order_id = 123, amount = 9.99, "order placed");
//! });
//! aires_core::flush(Duration::from_secs(5))?;
//! let event = &memory.events()[0];
//! assert_eq!(event.message, "order placed");
//! assert_eq!(event.attributes.len(), 3); // user (from the span), order_id, amount
//! assert_eq!(event.trace_id.len(), 16); // the span's trace
//! guard.shutdown(Duration::from_secs(5))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! In an application, with the `aires` facade (feature `tracing`, which
//! re-exports this crate as `aires::tracing`), beside a console layer:
//!
//! ```no_run
//! use tracing_subscriber::layer::SubscriberExt;
//! use tracing_subscriber::util::SubscriberInitExt;
//!
//! let _guard = aires_core::init(aires_core::Config::new("checkout"))?;
//! tracing_subscriber::registry()
//!     .with(aires_tracing::layer()) // aires::tracing::layer() through the facade
//!     .with(tracing_subscriber::fmt::layer()) // the console, unaffected by Aires' level
//!     .init();
//! tracing::info!(order_id = 123, "order placed");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Libraries that log through `log` reach the layer too once
//! `tracing_log::LogTracer::init()` forwards their records to `tracing`
//! (their file, line, module and target are the log record's). A program
//! that uses `log` only needs no `tracing` at all: `aires::log::init()`
//! (the facade's `log` feature) installs a logger of its own.
//!
//! # What goes where
//!
//! | `tracing` | Aires |
//! |---|---|
//! | the level, `TRACE`..`ERROR` | `Trace`..`Error` |
//! | the `message` field (`info!("text {x}")`) | the message |
//! | `n = 5`, `n = 5u64`, `x = 0.5`, `ok = true` | i64, u64, f64, bool attributes |
//! | `name = "text"` | a string attribute (the key is never copied; the text is) |
//! | `p = ?value`, `a = %value` | the `Debug` / `Display` text |
//! | `n = 5i128`, `n = 5u128` | an integer when it fits 64 bits, its decimal text otherwise |
//! | `error = &err as &dyn Error` (recorded as an error) | the error columns: message, `source()` chain, backtrace with `RUST_BACKTRACE`; the type is left empty (behind `&dyn Error` the concrete type is not known) |
//! | `trace_id`, `span_id` (hex text, `%id`, or an integer) | the trace and span ids; a value that is not a valid id stays an attribute |
//! | `session_id` | the session id |
//! | `http.method` / `http.request.method`, `http.route`, `http.path` / `url.path`, `http.status_code` / `http.response.status_code`, `http.duration_ms` (f64 or integer milliseconds), `http.user_agent` / `user_agent.original`, `http.client_ip` / `client.address`, `http.host` / `server.address`, `http.scheme` / `url.scheme`, `http.request.body.size`, `http.response.body.size` | the HTTP columns; a value that does not fit (a status of 70000, a negative duration) stays an attribute |
//! | the event's file, line and module path | the call site, built once per call site, then shared: no allocation per event |
//! | the target | attribute `target`, only when it differs from the module path (the default target is the module path) |
//! | the fields of the enclosing spans | attributes with their own names (see below) |
//!
//! # Spans
//!
//! An event inside a span carries a trace id and a span id. A span without
//! a parent starts a new trace (a random W3C trace id); a child inherits its
//! parent's; each span gets a span id of its own, once, when it is created,
//! so every event of one span carries the same ids. A span given a valid
//! `trace_id` field (for example the trace of an incoming request) uses
//! that trace, and its children too (a child takes its trace when it is
//! created: one given later with `Span::record` reaches the children
//! created after it, not those already open). With the `opentelemetry` feature and
//! `tracing-opentelemetry`'s layer installed in the same subscriber, the
//! ids are the OpenTelemetry context's instead, so the logs join the traces
//! it exports (also outside any `tracing` span, when an OpenTelemetry
//! context is current).
//!
//! The fields of the enclosing spans (given when the span is created or
//! later with `Span::record`) are added to each event as attributes, by
//! their plain names; where a name repeats, the event's field wins over the
//! innermost span's, which wins over the outer spans'. The same order
//! decides what the limit on attributes per event (128 by default) keeps
//! first: the event's own fields, then its spans' from the innermost out.
//! A span's `session_id` (text, or a non-negative integer as its decimal
//! text) fills the session column; its other fields, `http.*`
//! included, are plain attributes (so one request span does not turn each
//! of its events into a request in the HTTP views). Turn span fields off
//! with [`AiresLayer::with_span_fields`]`(false)`; the ids stay.
//!
//! # Filters and counting
//!
//! Aires' own level applies first: an event below `aires::level()` is not
//! built, and is counted in `aires::metrics().events_dropped_filtered`; an
//! event while no pipeline runs is counted as dropped before `init` (or
//! after shutdown), as the `aires` macros' are. The layer does not disable
//! anything for the other layers beside it (a console layer still sees
//! debug events that Aires' level drops). A `tracing` filter (a per-layer
//! filter, `layer().with_filter(LevelFilter::WARN)`, or one on the whole
//! subscriber) decides what reaches the layer at all: what it filters out
//! is not seen, so not counted. A filter that disables a span also hides it
//! from the layer: events inside it then carry the ids (and fields) of the
//! nearest enabled span around it, if any.

// Every public item is documented (checked by clippy with -D warnings).
#![warn(missing_docs)]

mod fields;
mod ids;

use std::borrow::Cow;

use aires_core::{CallSite, EventBuilder, Level, SpanId, Str, TraceId, Value};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::fields::{EventVisitor, SpanFieldVisitor};

/// The layer: records `tracing` events as Aires events. Made by [`layer`].
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt;
/// use tracing_subscriber::Layer;
///
/// let subscriber = tracing_subscriber::registry().with(
///     aires_tracing::layer()
///         .with_span_fields(false)
///         .with_filter(tracing_subscriber::filter::LevelFilter::WARN),
/// );
/// # drop(subscriber);
/// ```
#[derive(Clone, Debug)]
pub struct AiresLayer {
    span_fields: bool,
    /// The subscriber the layer is part of, to ask tracing-opentelemetry
    /// for a span's context.
    #[cfg(feature = "opentelemetry")]
    dispatch: std::sync::OnceLock<tracing_core::dispatcher::WeakDispatch>,
}

/// A new layer, with span fields on. Add it to a
/// [`tracing_subscriber::registry()`] (spans need the registry's storage).
pub fn layer() -> AiresLayer {
    AiresLayer::default()
}

impl Default for AiresLayer {
    fn default() -> Self {
        AiresLayer {
            span_fields: true,
            #[cfg(feature = "opentelemetry")]
            dispatch: std::sync::OnceLock::new(),
        }
    }
}

impl AiresLayer {
    /// Whether the fields of the enclosing spans are added to each event as
    /// attributes (default: true). The trace and span ids are set either
    /// way.
    pub fn with_span_fields(mut self, span_fields: bool) -> Self {
        self.span_fields = span_fields;
        self
    }
}

/// What the layer keeps in each span's extensions.
struct SpanData {
    trace_id: TraceId,
    span_id: SpanId,
    /// The span's own fields (empty with span fields off).
    fields: Vec<(&'static str, Value)>,
}

fn level_of(level: &tracing_core::Level) -> Level {
    match *level {
        tracing_core::Level::TRACE => Level::Trace,
        tracing_core::Level::DEBUG => Level::Debug,
        tracing_core::Level::INFO => Level::Info,
        tracing_core::Level::WARN => Level::Warn,
        _ => Level::Error,
    }
}

/// Where an event comes from, and what to record of it.
enum Origin<'a> {
    /// A `tracing` call site: `'static` metadata.
    Tracing(&'static tracing_core::Metadata<'static>),
    /// A `log` record through `tracing-log`: its metadata, borrowed.
    Log(tracing_core::Metadata<'a>),
}

impl<S> tracing_subscriber::Layer<S> for AiresLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    #[cfg(feature = "opentelemetry")]
    fn on_register_dispatch(&self, subscriber: &tracing_core::Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut fields = Vec::new();
        let mut visitor = SpanFieldVisitor {
            fields: self.span_fields.then_some(&mut fields),
            trace_id: None,
        };
        attrs.record(&mut visitor);
        let trace_id = visitor.trace_id;
        let inherited = span
            .scope()
            .skip(1)
            .find_map(|ancestor| ancestor.extensions().get::<SpanData>().map(|d| d.trace_id));
        let data = SpanData {
            trace_id: trace_id.or(inherited).unwrap_or_else(ids::new_trace_id),
            span_id: ids::new_span_id(),
            fields,
        };
        span.extensions_mut().replace(data);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        // Values first, without the span's extensions held: formatting one
        // runs the application's code, which may log inside this span.
        let mut recorded = Vec::new();
        let mut visitor = SpanFieldVisitor {
            fields: self.span_fields.then_some(&mut recorded),
            trace_id: None,
        };
        values.record(&mut visitor);
        let trace_id = visitor.trace_id;
        let mut extensions = span.extensions_mut();
        let Some(data) = extensions.get_mut::<SpanData>() else {
            return;
        };
        for (key, value) in recorded {
            match data.fields.iter_mut().find(|(held, _)| *held == key) {
                Some((_, held)) => *held = value,
                None => data.fields.push((key, value)),
            }
        }
        if let Some(trace_id) = trace_id {
            data.trace_id = trace_id;
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let level = level_of(event.metadata().level());
        // Aires' level first, as its macros do: nothing is evaluated for an
        // event it drops, and the drop is counted.
        if !aires_core::__private::enabled(level) {
            aires_core::__private::count_filtered();
            return;
        }
        // `tracing-log`'s call sites are all named "log event": any other
        // name is passed over before its (dearer) test of the call site.
        let metadata = event.metadata();
        let normalized = if metadata.name() == "log event" {
            event.normalized_metadata()
        } else {
            None
        };
        let origin = match normalized {
            Some(normalized) => Origin::Log(normalized),
            None => Origin::Tracing(metadata),
        };

        let leaf = ctx.event_span(event);
        let (mut trace_id, mut span_id) = leaf
            .as_ref()
            .and_then(|leaf| {
                leaf.scope().find_map(|span| {
                    let extensions = span.extensions();
                    let data = extensions.get::<SpanData>()?;
                    Some((Some(data.trace_id), Some(data.span_id)))
                })
            })
            .unwrap_or((None, None));
        #[cfg(feature = "opentelemetry")]
        if let Some((otel_trace, otel_span)) = self.otel_ids(leaf.as_ref().map(|leaf| leaf.id())) {
            (trace_id, span_id) = (Some(otel_trace), Some(otel_span));
        }

        // The message is among the fields: the visitor sets it, in the one
        // pass over them.
        aires_core::__private::dispatch_with(level, "", |builder| {
            // The target is recorded when it differs from the module path.
            let target: Option<Str> = match &origin {
                Origin::Tracing(metadata) => {
                    set_static_call_site(builder, metadata);
                    let target = metadata.target();
                    // By default both are the same `module_path!()` text:
                    // the same pointer, compared before the bytes.
                    let same = metadata
                        .module_path()
                        .is_some_and(|module| std::ptr::eq(module, target) || module == target);
                    (!same).then_some(Cow::Borrowed(target))
                }
                Origin::Log(metadata) => {
                    set_copied_call_site(builder, metadata);
                    let target = metadata.target();
                    (metadata.module_path() != Some(target)).then(|| Cow::Owned(target.to_owned()))
                }
            };
            // Attributes go in in order of precedence (the event's own
            // fields, its spans' from the innermost out, the target), and
            // only the first of a repeated key is kept: the limit on
            // attributes then cuts the least preferred.
            //
            // The event's own fields first; this may run the application's
            // `Debug` impls, so no span's extensions are held meanwhile.
            let mut visitor = EventVisitor::new(builder, matches!(origin, Origin::Log(_)));
            event.record(&mut visitor);
            let EventVisitor {
                http,
                trace_id: event_trace,
                span_id: event_span,
                session_set: mut has_session,
                ..
            } = visitor;
            if let Some(http) = http {
                builder.set_http(http);
            }
            let mut may_repeat = false;
            if self.span_fields {
                if let Some(leaf) = &leaf {
                    for span in leaf.scope() {
                        let extensions = span.extensions();
                        let Some(data) = extensions.get::<SpanData>() else {
                            continue;
                        };
                        for (key, value) in &data.fields {
                            match (*key, value) {
                                ("session_id", Value::Str(session)) => {
                                    if !has_session {
                                        builder.set_session_id(session.clone());
                                        has_session = true;
                                    }
                                }
                                _ => {
                                    builder.push_attr(*key, value.clone());
                                    may_repeat = true;
                                }
                            }
                        }
                    }
                }
            }
            if let Some(target) = target {
                builder.push_attr("target", Value::Str(target));
                may_repeat = true;
            }
            if let Some(event_trace) = event_trace {
                if Some(event_trace) != trace_id {
                    // Another trace: the enclosing span is not part of it.
                    span_id = None;
                }
                trace_id = Some(event_trace);
            }
            span_id = event_span.or(span_id);
            builder.set_trace_id(trace_id);
            builder.set_span_id(span_id);
            if may_repeat {
                builder.keep_first_of_each_key();
            }
        });
    }
}

/// A `tracing` call site's file, line and module, as one `'static`
/// [`CallSite`] shared by all its events.
#[inline]
fn set_static_call_site(
    builder: &mut EventBuilder,
    metadata: &'static tracing_core::Metadata<'static>,
) {
    let Some(file) = metadata.file() else {
        return;
    };
    let line = metadata.line().unwrap_or(0);
    let module = metadata.module_path().unwrap_or("");
    match CallSite::cached_static(file, line, module) {
        Some(site) => builder.set_call_site(site),
        None => builder.set_call_site_owned(CallSite::new_static(file, line, module)),
    }
}

/// A `log` record's file, line and module (borrowed text), shared the same
/// way by content.
fn set_copied_call_site(builder: &mut EventBuilder, metadata: &tracing_core::Metadata<'_>) {
    let Some(file) = metadata.file() else {
        return;
    };
    let line = metadata.line().unwrap_or(0);
    let module = metadata.module_path().unwrap_or("");
    match CallSite::cached_copy(file, line, module) {
        Some(site) => builder.set_call_site(site),
        None => {
            builder.set_call_site_owned(CallSite::new(file.to_owned(), line, module.to_owned(), ""))
        }
    }
}

#[cfg(feature = "opentelemetry")]
impl AiresLayer {
    /// The trace and span ids of the OpenTelemetry context of `span` (kept
    /// by tracing-opentelemetry's layer), or of the current OpenTelemetry
    /// context outside any span; `None` when it has no valid span context.
    fn otel_ids(&self, span: Option<Id>) -> Option<(TraceId, SpanId)> {
        use opentelemetry::trace::TraceContextExt;
        let ids = |cx: &opentelemetry::Context| {
            let otel_span = cx.span();
            let context = otel_span.span_context();
            if !context.is_valid() {
                return None;
            }
            Some((
                TraceId::from_bytes(context.trace_id().to_bytes())?,
                SpanId::from_bytes(context.span_id().to_bytes())?,
            ))
        };
        match span {
            Some(span) => {
                let dispatch = self.dispatch.get()?.upgrade()?;
                let cx = tracing_opentelemetry::get_otel_context(&span, &dispatch)?;
                ids(&cx)
            }
            None => opentelemetry::Context::map_current(ids),
        }
    }
}
