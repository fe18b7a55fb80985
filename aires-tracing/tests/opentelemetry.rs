//! The `opentelemetry` feature: with tracing-opentelemetry's layer in the
//! same subscriber, events take the OpenTelemetry context's trace and span
//! ids, so logs join the traces it exports.

mod common;

use aires::transport::MemoryTransport;
use common::*;
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry;

fn ids_of(span: &tracing::Span) -> (String, String) {
    let cx = span.context();
    let otel = cx.span();
    let context = otel.span_context();
    assert!(context.is_valid());
    (
        hex(&context.trace_id().to_bytes()),
        hex(&context.span_id().to_bytes()),
    )
}

#[test]
fn events_take_the_opentelemetry_contexts_ids() {
    let _lock = global_lock();
    let memory = MemoryTransport::new();
    let guard = aires::init(test_config(&memory)).unwrap();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = || {
        registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
            .with(aires_tracing::layer())
    };
    let (mut request_ids, mut child_ids) = Default::default();
    tracing::subscriber::with_default(subscriber(), || {
        let request = tracing::info_span!("request");
        let _request = request.enter();
        tracing::info!("in request");
        let child = tracing::info_span!("child");
        child.in_scope(|| tracing::info!("in child"));
        request_ids = ids_of(&request);
        child_ids = ids_of(&child);
    });

    // Outside any tracing span, under an OpenTelemetry context set by
    // other code (an incoming request's, say).
    let remote = SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    let attached = opentelemetry::Context::current()
        .with_remote_span_context(remote)
        .attach();
    tracing::subscriber::with_default(subscriber(), || tracing::info!("under a remote context"));
    drop(attached);
    tracing::subscriber::with_default(subscriber(), || tracing::info!("under none"));

    guard.shutdown(DEADLINE).unwrap();
    let events = memory.events();
    let ids = |i: usize| (hex(&events[i].trace_id), hex(&events[i].span_id));
    assert_eq!(ids(0), request_ids);
    assert_eq!(ids(1), child_ids);
    assert_eq!(child_ids.0, request_ids.0, "one trace");
    assert_ne!(child_ids.1, request_ids.1);
    assert_eq!(
        ids(2),
        (
            "4bf92f3577b34da6a3ce929d0e0e4736".to_string(),
            "00f067aa0ba902b7".to_string()
        )
    );
    assert_eq!(ids(3), (String::new(), String::new()));
}
