"""OpenTelemetry logs from the OpenTelemetry Python SDK itself (not requests
built by hand): its LoggerProvider, its stdlib `logging` bridge and its two
OTLP exporters (opentelemetry-exporter-otlp-proto-grpc and -proto-http) ->
the real aires-collector binary -> the ClickHouse engine (the repository's
dev server over chDB). Every stored row is read back and each column is
checked against the mapping table in README.md ("OpenTelemetry logs
(OTLP)").

Needs the collector binary (AIRES_COLLECTOR_BIN, else target/debug) and the
dev server's venv (tools/clickhouse-dev/.venv, made by
`scripts/clickhouse-dev setup`). Without them the test is skipped, unless
AIRES_REQUIRE_E2E=1 (as scripts/test sets), where it fails instead.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import pathlib
import re
import subprocess
import sys
import time
import traceback
import urllib.parse
import urllib.request
import uuid
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
    OTLPLogExporter as GrpcLogExporter,
)
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import (
    OTLPLogExporter as HttpLogExporter,
)
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    LogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.version import __version__ as SDK_VERSION
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

ROOT = pathlib.Path(__file__).resolve().parents[3]
DEADLINE_S = 60
API_KEY = "interop-key"

# Fixed ids for the record that sets them explicitly.
TRACE = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SPAN = 0x00F067AA0BA902B7


# ---- The stack: ClickHouse (dev server) and the collector binary ----------


def _need(path: pathlib.Path, what: str) -> pathlib.Path:
    if not path.exists():
        message = f"{what} not found at {path}"
        if os.environ.get("AIRES_REQUIRE_E2E") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


def _wait_for_line(process: subprocess.Popen[str], log: pathlib.Path, pattern: str) -> re.Match[str]:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        match = re.search(pattern, log.read_text(errors="replace"))
        if match:
            return match
        if process.poll() is not None:
            raise AssertionError(f"exited before printing {pattern!r}:\n{log.read_text()}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {pattern!r}:\n{log.read_text()}")


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    collector_bin = _need(
        pathlib.Path(os.environ.get("AIRES_COLLECTOR_BIN", target / "debug/aires-collector")),
        "the aires-collector binary",
    )
    clickhouse_python = _need(
        pathlib.Path(
            os.environ.get("AIRES_CLICKHOUSE_PYTHON", ROOT / "tools/clickhouse-dev/.venv/bin/python")
        ),
        "the ClickHouse dev server's venv",
    )
    work = tmp_path_factory.mktemp("otel-stack")
    ch_log, collector_log = work / "clickhouse.log", work / "collector.log"
    started: list[subprocess.Popen[str]] = []
    try:
        with ch_log.open("w") as out:
            clickhouse = subprocess.Popen(
                [str(clickhouse_python), str(ROOT / "tools/clickhouse-dev/server.py"),
                 "--port", "0", "--data", str(work / "data")],
                stdout=out, stderr=subprocess.STDOUT, text=True,
            )
        started.append(clickhouse)
        url = _wait_for_line(clickhouse, ch_log, r"(http://[0-9.:]+)").group(1)
        with collector_log.open("w") as out:
            collector = subprocess.Popen(
                [str(collector_bin), "--sink", "clickhouse", "--clickhouse-url", url,
                 "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
                 "--otlp-http-listen", "127.0.0.1:0", "--batch-timeout-ms", "50",
                 "--api-key", API_KEY],
                stdout=out, stderr=subprocess.STDOUT, text=True,
                env={**os.environ, "NO_COLOR": "1"},
            )
        started.append(collector)
        listening = _wait_for_line(
            collector, collector_log, r"listening.*"
        ).group(0)
        addresses = dict(re.findall(r"(grpc|metrics|otlp_http)=([0-9.:]+)", listening))
        assert set(addresses) == {"grpc", "metrics", "otlp_http"}, listening
        yield {"clickhouse": url, **addresses}
        _stop(collector)
        assert collector.returncode == 0, collector_log.read_text()
    finally:
        for process in reversed(started):
            _stop(process)


def _query(url: str, sql: str) -> list[dict[str, Any]]:
    params = urllib.parse.urlencode(
        {"query": sql + " FORMAT JSONEachRow", "output_format_json_quote_64bit_integers": "0"}
    )
    with urllib.request.urlopen(f"{url}/?{params}", timeout=30) as answer:
        return [json.loads(line) for line in answer.read().decode().splitlines() if line]


def _rows(url: str, run: str, count: int) -> list[dict[str, Any]]:
    """The rows of one run, polled until `count` have arrived (or the
    deadline passes)."""
    sql = (
        "SELECT *, toUnixTimestamp64Nano(timestamp) AS ts, toString(id) AS sid "
        f"FROM aires.events WHERE attributes_string['run'] = '{run}' ORDER BY timestamp"
    )
    deadline = time.monotonic() + DEADLINE_S
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        try:
            rows = _query(url, sql)
        except OSError:
            rows = []  # the table appears once the collector has migrated
        if len(rows) >= count:
            return rows
        time.sleep(0.1)
    raise AssertionError(f"{len(rows)} of {count} rows arrived: {rows}")


def _received(metrics_addr: str) -> int:
    """The collector's count of OTLP log records received."""
    with urllib.request.urlopen(f"http://{metrics_addr}/metrics", timeout=30) as answer:
        text = answer.read().decode()
    match = re.search(r"^aires_collector_otlp_log_records_received_total (\d+)$", text, re.M)
    assert match, text
    return int(match.group(1))


# ---- The program: records with every kind of field, through the SDK --------


class Recording(LogRecordExporter):
    """Passes batches to the SDK's exporter and keeps what each export
    returned, so a refused export fails the test with its own result."""

    def __init__(self, inner: LogRecordExporter) -> None:
        self.inner = inner
        self.results: list[LogRecordExportResult] = []

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        result = self.inner.export(batch)
        self.results.append(result)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class CardError(Exception):
    pass


class AuditError(Exception):
    pass


def _line_after() -> int:
    """The line after the caller's."""
    return sys._getframe(1).f_lineno + 1


def emit(provider: LoggerProvider, run: str, at_ns: int) -> dict[str, Any]:
    """Emits four records and returns what the checks need to know about
    them (lines, ids, the stack traces the SDK formats). The records of the
    logs API are timed from `at_ns`."""
    seen: dict[str, Any] = {}

    # 1 and 2: the stdlib `logging` bridge (the SDK's LoggingHandler). It
    # warns that it is moving to opentelemetry-instrumentation-logging; this
    # release still ships it and sets the code.* and exception.* attributes.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        handler = LoggingHandler(level=logging.DEBUG, logger_provider=provider)
    log = logging.getLogger("shop.payments")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    log.addHandler(handler)
    tracer = TracerProvider().get_tracer("interop")
    try:
        with tracer.start_as_current_span("checkout") as span:
            context = span.get_span_context()
            seen["trace_id"], seen["span_id"] = context.trace_id, context.span_id
            try:
                raise CardError("declined by issuer")
            except CardError as error:
                seen["stacktrace"] = "".join(traceback.format_exception(error))
                seen["error_line"] = _line_after()
                log.exception(
                    "payment %s declined", 7,
                    extra={
                        "run": run,
                        "order_id": 7,
                        "amount": 9.5,
                        "retry": False,
                        "raw": b"\x00\x01\x02\xff",
                        "items": ["a", 2],
                        "card": {"brand": "visa", "last4": "4242"},
                        "session.id": "sess-py",
                        "http.request.method": "POST",
                        "http.route": "/pay/{id}",
                        "url.path": "/pay/7",
                        "http.response.status_code": 402,
                    },
                )
        seen["warn_line"] = _line_after()
        log.warning("slow checkout", extra={"run": run, "elapsed_ms": 812})
    finally:
        log.removeHandler(handler)

    # 3 and 4: the logs API itself, with what the bridge does not set:
    # explicit times and ids, a map body, an event name, scope attributes,
    # the older semantic-convention names, an exception object.
    audit = provider.get_logger(
        "shop.audit", version="2.0.0", attributes={"tier": "scope", "host.name": "scope-host"}
    )
    explicit = trace.set_span_in_context(
        NonRecordingSpan(SpanContext(TRACE, SPAN, is_remote=False, trace_flags=TraceFlags(1)))
    )
    failure = AuditError("bad amount")
    seen["audit_stacktrace"] = "".join(traceback.format_exception(failure))
    audit.emit(
        timestamp=at_ns,
        observed_timestamp=at_ns + 1_000_000_000,
        context=explicit,
        severity_number=SeverityNumber.INFO2,
        severity_text="WARNING",
        body={"order": 7, "ok": True, "lines": ["a", "b"]},
        event_name="payment.audit",
        exception=failure,
        attributes={
            "run": run,
            "tier": "record",
            "count": -3,
            "ratio": 0.25,
            "audited": True,
            "code.filepath": "shop/audit.py",
            "code.lineno": 99,
            "code.function": "audit",
            "code.namespace": "shop.audit.jobs",
            "http.method": "GET",
            "http.target": "/orders/7",
            "http.status_code": 200,
            "user_agent.original": "curl/8.5",
            "client.address": "10.1.2.3",
            "server.address": "shop.example",
            "url.scheme": "https",
            "http.request.body.size": 120,
            "http.response.body.size": 48,
            "http.server.request.duration": 0.0315,
        },
    )
    audit.emit(observed_timestamp=at_ns + 7, body="bare", attributes={"run": run})
    return seen


def provider_for(transport: str, stack: dict[str, str]) -> tuple[LoggerProvider, Recording, Resource]:
    resource = Resource.create({
        "service.name": "checkout",
        "deployment.environment.name": "prod",
        "host.name": "web-1",
    })
    provider = LoggerProvider(resource=resource)
    headers = {"x-api-key": API_KEY}
    if transport == "grpc":
        # Exports on the emitting thread: each record is its own request.
        exporter = Recording(GrpcLogExporter(
            endpoint=f"http://{stack['grpc']}", insecure=True, headers=headers, timeout=10,
        ))
        provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    else:
        exporter = Recording(HttpLogExporter(
            endpoint=f"http://{stack['otlp_http']}/v1/logs", headers=headers, timeout=10,
            compression=Compression.Gzip,
        ))
        provider.add_log_record_processor(BatchLogRecordProcessor(exporter, schedule_delay_millis=50))
    return provider, exporter, resource


# ---- The checks -------------------------------------------------------------


def _typed(attributes: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """Attributes split into the four typed maps, as the collector stores
    them (bool before int: a Python bool is an int)."""
    maps: tuple[dict[str, Any], ...] = ({}, {}, {}, {})
    for key, value in attributes.items():
        if isinstance(value, bool):
            maps[3][key] = value
        elif isinstance(value, int):
            maps[1][key] = value
        elif isinstance(value, float):
            maps[2][key] = value
        else:
            maps[0][key] = value
    return maps


def _json_strings(strings: dict[str, str], keys: Sequence[str]) -> dict[str, Any]:
    """The map with the JSON-text values of `keys` parsed (their spacing and
    key order are not part of the mapping)."""
    return {k: json.loads(v) if k in keys else v for k, v in strings.items()}


@pytest.mark.parametrize("transport", ["grpc", "http-protobuf-gzip"])
def test_the_python_sdk_ships_every_field(stack: dict[str, str], transport: str) -> None:
    run = f"py-{transport}-{uuid.uuid4().hex[:8]}"
    received_before = _received(stack["metrics"])
    provider, exporter, resource = provider_for(transport, stack)
    start_ns = time.time_ns()
    # An hour ago to the nanosecond: every digit must survive, and the
    # table's TTL (30 days by default) must not drop the rows.
    at_ns = (start_ns // 1_000_000_000 - 3600) * 1_000_000_000 + 123_456_789
    seen = emit(provider, run, at_ns)
    end_ns = time.time_ns()
    assert provider.force_flush(timeout_millis=20_000), "the SDK flushed in time"
    provider.shutdown()
    assert exporter.results, "the SDK exported"
    assert all(r == LogRecordExportResult.SUCCESS for r in exporter.results), exporter.results

    rows = _rows(stack["clickhouse"], run, 4)
    assert len(rows) == 4, rows
    by_message = {row["message"]: row for row in rows}
    assert len(by_message) == 4, list(by_message)
    error = by_message.pop("payment 7 declined")
    warn = by_message.pop("slow checkout")
    bare = by_message.pop("bare")
    (audit,) = by_message.values()

    # The resource: service and environment in their columns, the SDK in
    # sdk_name/sdk_version, every other resource attribute on every row.
    resource_rest = {
        k: v for k, v in resource.attributes.items()
        if k not in ("service.name", "deployment.environment.name")
    }
    assert resource_rest["telemetry.sdk.language"] == "python"
    assert resource_rest["host.name"] == "web-1"
    for row in rows:
        assert row["service"] == "checkout", row
        assert row["environment"] == "prod", row
        assert row["sdk_name"] == "otlp-python", row
        assert row["sdk_version"] == SDK_VERSION == resource.attributes["telemetry.sdk.version"]
        assert uuid.UUID(row["sid"]).version == 7, row["sid"]
        assert row["tags"] == [] and row["error_chain"] == [], row
        assert "service.name" not in row["attributes_string"], "in its column only"
        assert "deployment.environment.name" not in row["attributes_string"]
    assert len({row["sid"] for row in rows}) == 4

    # 1. logging.exception inside a span: the bridge's code.* and
    # exception.* attributes, the span's ids, every kind of `extra=` value.
    assert error["severity"] == "error"
    assert start_ns - 10_000 <= error["ts"] <= end_ns, (start_ns, error["ts"], end_ns)
    assert error["trace_id"] == f"{seen['trace_id']:032x}"
    assert error["span_id"] == f"{seen['span_id']:016x}"
    assert error["session_id"] == "sess-py"
    assert error["error_type"] == "CardError"
    assert error["error_message"] == "declined by issuer"
    assert error["error_backtrace"] == seen["stacktrace"]
    assert "raise CardError" in error["error_backtrace"]
    assert (error["file"], error["line"], error["function"]) == (__file__, seen["error_line"], "emit")
    assert error["module"] == "shop.payments", "the scope's name: the logging logger's"
    assert {k: error[k] for k in error if k.startswith("http_")} == {
        "http_method": "POST", "http_route": "/pay/{id}", "http_path": "/pay/7", "http_status": 402,
        "http_duration_ns": 0, "http_user_agent": "", "http_client_ip": "", "http_request_bytes": 0,
        "http_response_bytes": 0, "http_host": "", "http_scheme": "",
    }
    strings, ints, floats, bools = _typed(resource_rest)
    assert error["attributes_int"] == {**ints, "order_id": 7}
    assert error["attributes_float"] == {**floats, "amount": 9.5}
    assert error["attributes_bool"] == {**bools, "retry": False}
    assert _json_strings(error["attributes_string"], ["items", "card"]) == {
        **strings,
        "run": run,
        "severity_text": "ERROR",
        "raw": base64.b64encode(b"\x00\x01\x02\xff").decode(),
        "items": ["a", 2],
        "card": {"brand": "visa", "last4": "4242"},
    }

    # 2. logging.warning outside the span: no ids, no error, no HTTP.
    assert warn["severity"] == "warn"
    assert start_ns - 10_000 <= warn["ts"] <= end_ns
    assert (warn["trace_id"], warn["span_id"], warn["session_id"]) == ("", "", "")
    assert (warn["error_type"], warn["error_message"], warn["error_backtrace"]) == ("", "", "")
    assert (warn["http_method"], warn["http_status"], warn["http_path"]) == ("", 0, "")
    assert (warn["file"], warn["line"], warn["function"]) == (__file__, seen["warn_line"], "emit")
    assert warn["module"] == "shop.payments"
    assert warn["attributes_int"] == {**ints, "elapsed_ms": 812}
    assert warn["attributes_string"] == {**strings, "run": run, "severity_text": "WARN"}
    assert (warn["attributes_float"], warn["attributes_bool"]) == (floats, bools)

    # 3. The logs API with everything explicit.
    assert audit["ts"] == at_ns, "time_unix_nano, not the observed time"
    assert audit["severity"] == "info", "the number (INFO2) wins over the text"
    assert json.loads(audit["message"]) == {"order": 7, "ok": True, "lines": ["a", "b"]}
    assert (audit["trace_id"], audit["span_id"]) == (f"{TRACE:032x}", f"{SPAN:016x}")
    assert audit["session_id"] == ""
    assert audit["error_type"] == f"{AuditError.__module__}.{AuditError.__qualname__}"
    assert audit["error_message"] == "bad amount"
    assert audit["error_backtrace"] == seen["audit_stacktrace"]
    assert (audit["file"], audit["line"], audit["function"]) == ("shop/audit.py", 99, "audit")
    assert audit["module"] == "shop.audit.jobs", "code.namespace over the scope's name"
    assert {k: audit[k] for k in audit if k.startswith("http_")} == {
        "http_method": "GET", "http_route": "", "http_path": "/orders/7", "http_status": 200,
        "http_duration_ns": 31_500_000, "http_user_agent": "curl/8.5", "http_client_ip": "10.1.2.3",
        "http_request_bytes": 120, "http_response_bytes": 48, "http_host": "shop.example",
        "http_scheme": "https",
    }
    assert audit["attributes_string"] == {
        **strings,
        "host.name": "scope-host",  # the scope's over the resource's
        "tier": "record",  # the record's over the scope's
        "run": run,
        "severity_text": "WARNING",
        "event.name": "payment.audit",
    }
    assert audit["attributes_int"] == {**ints, "count": -3}
    assert audit["attributes_float"] == {**floats, "ratio": 0.25}
    assert audit["attributes_bool"] == {**bools, "audited": True}

    # 4. A bare record: the observed time, info, the scope's name and
    # attributes, nothing else.
    assert bare["ts"] == at_ns + 7, "the observed time"
    assert bare["severity"] == "info"
    assert (bare["trace_id"], bare["span_id"], bare["error_type"]) == ("", "", "")
    assert (bare["file"], bare["line"], bare["function"]) == ("", 0, "")
    assert bare["module"] == "shop.audit"
    assert (bare["http_method"], bare["http_status"], bare["http_duration_ns"]) == ("", 0, 0)
    assert bare["attributes_string"] == {**strings, "host.name": "scope-host", "tier": "scope", "run": run}
    assert (bare["attributes_int"], bare["attributes_float"], bare["attributes_bool"]) == (ints, floats, bools)

    assert _received(stack["metrics"]) - received_before == 4
