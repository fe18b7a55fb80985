"""Trace and span ids from OpenTelemetry's current span."""

from __future__ import annotations

import pytest

import aires

trace = pytest.importorskip("opentelemetry.trace")
sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")


def test_ids_come_from_the_current_span(start):
    events = start(opentelemetry=True)
    tracer = sdk_trace.TracerProvider().get_tracer("tests")
    with tracer.start_as_current_span("checkout") as span:
        aires.info("inside a span")
        with aires.context(trace_id="4bf92f3577b34da6a3ce929d0e0e4736"):
            aires.info("aires context wins")
    aires.info("no span")
    inside, own, outside = events(3)
    ctx = span.get_span_context()
    assert inside["trace_id"] == f"{ctx.trace_id:032x}"
    assert inside["span_id"] == f"{ctx.span_id:016x}"
    assert own["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert outside["trace_id"] is None and outside["span_id"] is None


def test_auto_uses_opentelemetry_once_imported(start):
    # This module imported opentelemetry.trace, so the default picks it up.
    events = start()
    tracer = sdk_trace.TracerProvider().get_tracer("tests")
    with tracer.start_as_current_span("auto"):
        aires.info("auto")
    [event] = events(1)
    assert event["trace_id"] is not None


def test_off_means_off(start):
    events = start(opentelemetry=False)
    tracer = sdk_trace.TracerProvider().get_tracer("tests")
    with tracer.start_as_current_span("ignored"):
        aires.info("not traced")
    [event] = events(1)
    assert event["trace_id"] is None
