"""End to end: a Python program -> a real aires-collector over gRPC -> the
ClickHouse engine (the repository's dev server over chDB); every column of
the stored rows is compared with what the program logged.

Needs the collector binary (AIRES_COLLECTOR_BIN, else target/debug) and the
dev server's venv (tools/clickhouse-dev/.venv, made by
`scripts/clickhouse-dev setup`). Without them the test is skipped, unless
AIRES_REQUIRE_E2E=1 (as scripts/test sets), where it fails instead.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys
import textwrap
import time
import urllib.parse
import urllib.request
import uuid
from typing import Any, Iterator

import pytest

import aires

ROOT = pathlib.Path(__file__).resolve().parents[3]
DEADLINE_S = 60


def _need(path: pathlib.Path, what: str) -> pathlib.Path:
    if not path.exists():
        message = f"{what} not found at {path}"
        if os.environ.get("AIRES_REQUIRE_E2E") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


def _wait_for_line(process: subprocess.Popen[str], log: pathlib.Path, pattern: str) -> str:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        match = re.search(pattern, log.read_text(errors="replace"))
        if match:
            return match.group(1)
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
    collector_bin = _need(
        pathlib.Path(os.environ.get("AIRES_COLLECTOR_BIN", ROOT / "target/debug/aires-collector")),
        "the aires-collector binary",
    )
    clickhouse_python = _need(
        pathlib.Path(
            os.environ.get("AIRES_CLICKHOUSE_PYTHON", ROOT / "tools/clickhouse-dev/.venv/bin/python")
        ),
        "the ClickHouse dev server's venv",
    )
    work = tmp_path_factory.mktemp("stack")
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
        url = _wait_for_line(clickhouse, ch_log, r"(http://[0-9.:]+)")
        with collector_log.open("w") as out:
            collector = subprocess.Popen(
                [str(collector_bin), "--sink", "clickhouse", "--clickhouse-url", url,
                 "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
                 "--batch-timeout-ms", "50"],
                stdout=out, stderr=subprocess.STDOUT, text=True,
                env={**os.environ, "NO_COLOR": "1"},
            )
        started.append(collector)
        grpc = _wait_for_line(collector, collector_log, r"grpc=([0-9.:]+)")
        yield {"clickhouse": url, "endpoint": f"http://{grpc}"}
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


def _rows(url: str, service: str, count: int) -> list[dict[str, Any]]:
    sql = (
        "SELECT *, toUnixTimestamp64Nano(timestamp) AS ts, toString(id) AS sid "
        f"FROM aires.events WHERE service = '{service}' ORDER BY timestamp"
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


PROGRAM = """
import json, os, sys, time
import aires

manifest = {"pid": os.getpid(), "lines": {}}
def here(name):
    manifest["lines"][name] = sys._getframe(1).f_lineno + 1

manifest["start_ns"] = time.time_ns()
aires.init(service=sys.argv[1], environment="e2e", endpoint=sys.argv[2], level="debug",
           env_overrides=False, batch_timeout=0.05)

def place_order():
    here("info")
    aires.info("order placed ✓", order_id=123, amount=9.99, currency="EUR", paid=True,
               big=2**64 - 1, huge=2**70, empty="", tags=["checkout", "web"])

class PaymentError(Exception):
    pass

def pay():
    try:
        try:
            raise TimeoutError("gateway timed out")
        except TimeoutError as cause:
            raise PaymentError("payment failed") from cause
    except PaymentError as err:
        here("error")
        aires.error("payment failed", exc=err,
                    http={"method": "POST", "route": "/pay", "path": "/pay/7", "status": 502,
                          "duration_ms": 31.5, "user_agent": "curl/8.5", "client_ip": "10.1.2.3",
                          "request_bytes": 120, "response_bytes": 48, "host": "shop.example",
                          "scheme": "https"})

place_order()
pay()
with aires.context(trace_id="4bf92f3577b34da6a3ce929d0e0e4736", span_id="00f067aa0ba902b7",
                   session_id="sess-42", tenant="acme"):
    here("warn")
    aires.warn("slow query", table="orders", ms=812)
aires.trace("filtered out")

pid = os.fork()
if pid == 0:
    aires.info("from a forked child", child=True)
    aires.shutdown(10)
    os._exit(0)
os.waitpid(pid, 0)
here("parent")
aires.debug("parent after fork", ratio=0.5)
manifest["end_ns"] = time.time_ns()
with open(sys.argv[3], "w") as out:
    json.dump(manifest, out)
# no flush, no shutdown: the exit hook sends what is still queued
"""


def test_every_field_arrives_in_clickhouse(stack: dict[str, str], tmp_path: pathlib.Path) -> None:
    service = f"py-e2e-{uuid.uuid4().hex[:8]}"
    program = tmp_path / "program.py"
    program.write_text(textwrap.dedent(PROGRAM))
    manifest_path = tmp_path / "manifest.json"
    done = subprocess.run(
        [sys.executable, str(program), service, stack["endpoint"], str(manifest_path)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    manifest = json.loads(manifest_path.read_text())
    lines = manifest["lines"]

    rows = _rows(stack["clickhouse"], service, 5)
    assert len(rows) == 5, rows
    by_message = {row["message"]: row for row in rows}
    assert set(by_message) == {
        "order placed ✓", "payment failed", "slow query", "from a forked child", "parent after fork",
    }

    common = {
        "service": service, "environment": "e2e", "sdk_name": "aires-python",
        "file": str(program), "module": "program",
    }
    for row in rows:
        for key, value in common.items():
            assert row[key] == value, (key, row)
        assert manifest["start_ns"] <= row["ts"] <= manifest["end_ns"], row
        assert uuid.UUID(row["sid"]).version == 7
        assert row["sdk_version"] == aires.__version__
        assert uuid.UUID(row["batch_id"]) and row["received_at"]

    # Every typed map and tag list of every row, exactly.
    maps = ("attributes_string", "attributes_int", "attributes_float", "attributes_bool", "tags")
    expected_maps = {
        "order placed ✓": ({"currency": "EUR", "big": str(2**64 - 1), "huge": str(2**70), "empty": ""},
                           {"order_id": 123}, {"amount": 9.99}, {"paid": True}, ["checkout", "web"]),
        "payment failed": ({}, {}, {}, {}, []),
        "slow query": ({"tenant": "acme", "table": "orders"}, {"ms": 812}, {}, {}, []),
        "from a forked child": ({}, {}, {}, {"child": True}, []),
        "parent after fork": ({}, {}, {"ratio": 0.5}, {}, []),
    }
    for message, expected in expected_maps.items():
        assert tuple(by_message[message][m] for m in maps) == expected, message
    for message in ("order placed ✓", "from a forked child", "parent after fork", "slow query"):
        row = by_message[message]
        assert row["error_type"] == row["error_message"] == row["error_backtrace"] == ""
        assert row["error_chain"] == [] and row["http_method"] == "" and row["http_status"] == 0

    info = by_message["order placed ✓"]
    assert info["severity"] == "info"
    assert (info["line"], info["function"]) == (lines["info"], "place_order")
    assert info["attributes_int"] == {"order_id": 123}
    assert info["attributes_float"] == {"amount": 9.99}
    assert info["attributes_bool"] == {"paid": True}
    # u64 above i64::MAX is stored as text by the collector; > 64 bits by the SDK.
    assert info["attributes_string"] == {
        "currency": "EUR", "big": str(2**64 - 1), "huge": str(2**70), "empty": "",
    }
    assert info["tags"] == ["checkout", "web"]
    assert (info["trace_id"], info["span_id"], info["session_id"]) == ("", "", "")
    assert info["http_method"] == "" and info["error_type"] == ""

    error = by_message["payment failed"]
    assert error["severity"] == "error"
    assert (error["line"], error["function"]) == (lines["error"], "pay")
    assert error["error_type"] == "__main__.PaymentError"
    assert error["error_message"] == "payment failed"
    assert error["error_chain"] == ["TimeoutError: gateway timed out"]
    assert "raise PaymentError" in error["error_backtrace"]
    assert "direct cause" in error["error_backtrace"]
    assert {k: error[k] for k in error if k.startswith("http_")} == {
        "http_method": "POST", "http_route": "/pay", "http_path": "/pay/7", "http_status": 502,
        "http_duration_ns": 31_500_000, "http_user_agent": "curl/8.5",
        "http_client_ip": "10.1.2.3", "http_request_bytes": 120, "http_response_bytes": 48,
        "http_host": "shop.example", "http_scheme": "https",
    }

    warn = by_message["slow query"]
    assert warn["severity"] == "warn"
    assert warn["line"] == lines["warn"] and warn["function"] == "<module>"
    assert warn["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert warn["span_id"] == "00f067aa0ba902b7"
    assert warn["session_id"] == "sess-42"
    assert warn["attributes_string"] == {"tenant": "acme", "table": "orders"}
    assert warn["attributes_int"] == {"ms": 812}

    child_line = 1 + textwrap.dedent(PROGRAM).splitlines().index(
        '    aires.info("from a forked child", child=True)'
    )
    child = by_message["from a forked child"]
    assert child["line"] == child_line and child["attributes_bool"] == {"child": True}
    parent = by_message["parent after fork"]
    assert parent["severity"] == "debug" and parent["line"] == lines["parent"]
    assert parent["attributes_float"] == {"ratio": 0.5}
