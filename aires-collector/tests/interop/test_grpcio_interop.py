"""The collector's contract, exercised by a client this project did not write.

Stubs are generated from proto/ by grpcio-tools into a temporary directory;
the collector is the real binary (path in AIRES_COLLECTOR_BIN) on an
ephemeral loopback port, printing rows as JSON lines.
"""

import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import threading
import time
import uuid

import grpc
import pytest
from grpc_tools import protoc

ROOT = pathlib.Path(__file__).resolve().parents[3]
PROTO = ROOT / "proto"
DEADLINE_S = 30


@pytest.fixture(scope="session")
def stubs(tmp_path_factory):
    out = tmp_path_factory.mktemp("stubs")
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        str(PROTO / "aires/v1/event.proto"),
        str(PROTO / "aires/v1/collector.proto"),
    ]
    assert protoc.main(args) == 0, "protoc failed"
    for package in (out / "aires", out / "aires" / "v1"):
        (package / "__init__.py").touch()
    sys.path.insert(0, str(out))
    from aires.v1 import collector_pb2, collector_pb2_grpc, event_pb2

    return event_pb2, collector_pb2, collector_pb2_grpc


class Collector:
    """The aires-collector binary, with its stdout collected."""

    def __init__(self):
        binary = os.environ.get("AIRES_COLLECTOR_BIN", str(ROOT / "target/debug/aires-collector"))
        self.process = subprocess.Popen(
            [binary, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
             "--sink", "stdout", "--batch-timeout-ms", "20"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "NO_COLOR": "1"},
        )
        self.rows = []
        deadline = time.monotonic() + DEADLINE_S
        self.address = None
        while self.address is None:
            line = self.process.stderr.readline()
            assert line, "collector exited before listening"
            match = re.search(r"grpc=(\S+)", line)
            if match:
                self.address = match.group(1)
            assert time.monotonic() < deadline, "collector did not start"
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.rows.append(json.loads(line))

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=DEADLINE_S)
        self.reader.join(timeout=DEADLINE_S)
        return code


@pytest.fixture
def collector():
    running = Collector()
    yield running
    if running.process.poll() is None:
        running.process.kill()


def make_batch(event_pb2, count, *, service="interop", bad_trace_at=None):
    events = []
    for i in range(count):
        event = event_pb2.Event(
            id=uuid.uuid4().bytes,
            timestamp_unix_nano=time.time_ns(),
            severity=event_pb2.SEVERITY_WARN,
            message=f"from python {i}",
            attributes=[
                event_pb2.Attribute(key="i", int_value=i),
                event_pb2.Attribute(key="lang", string_value="python"),
                event_pb2.Attribute(key="ratio", double_value=0.25),
                event_pb2.Attribute(key="ok", bool_value=True),
            ],
            trace_id=bytes(range(16)),
            http=event_pb2.HttpInfo(method="GET", route="/py", status_code=200, duration_nanos=1500),
        )
        if bad_trace_at == i:
            event.trace_id = b"\x01\x02"
        events.append(event)
    return event_pb2.EventBatch(
        batch_id=uuid.uuid4().bytes, sdk_name="python-grpcio", sdk_version="1",
        service=service, environment="ci", events=events,
    )


def test_unary_ingest_is_acknowledged_and_stored(stubs, collector):
    event_pb2, collector_pb2, collector_pb2_grpc = stubs
    with grpc.insecure_channel(collector.address) as channel:
        client = collector_pb2_grpc.CollectorStub(channel)
        response = client.Ingest(make_batch(event_pb2, 10, bad_trace_at=3), timeout=DEADLINE_S)
    assert response.accepted == 9
    assert response.rejected == 1
    assert response.rejections[0].index == 3
    assert "trace_id must be 16 bytes" in response.rejections[0].reason
    assert collector.stop() == 0
    assert len(collector.rows) == 9
    row = next(r for r in collector.rows if r["message"] == "from python 0")
    assert row["severity"] == "warn"
    assert row["service"] == "interop"
    assert row["trace_id"] == bytes(range(16)).hex()
    assert ["i", 0] in row["attributes_int"]
    assert ["lang", "python"] in row["attributes_string"]
    assert row["http_route"] == "/py" and row["http_status"] == 200


def test_stream_acks_name_every_batch(stubs, collector):
    event_pb2, collector_pb2, collector_pb2_grpc = stubs
    batches = [make_batch(event_pb2, 5) for _ in range(4)]
    with grpc.insecure_channel(collector.address) as channel:
        client = collector_pb2_grpc.CollectorStub(channel)
        acks = list(client.IngestStream(iter(batches), timeout=DEADLINE_S))
    assert sorted(a.batch_id for a in acks) == sorted(b.batch_id for b in batches)
    assert all(a.accepted == 5 and a.rejected == 0 and not a.HasField("error") for a in acks)
    assert collector.stop() == 0
    assert len(collector.rows) == 20


def test_malformed_bytes_are_invalid_argument(stubs, collector):
    with grpc.insecure_channel(collector.address) as channel:
        ingest = channel.unary_unary(
            "/aires.v1.Collector/Ingest",
            request_serializer=lambda raw: raw,
            response_deserializer=lambda raw: raw,
        )
        with pytest.raises(grpc.RpcError) as failure:
            ingest(b"\x22\xc8\x01\x01\x02", timeout=DEADLINE_S)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert collector.stop() == 0


def test_a_reused_batch_id_is_already_exists_and_a_true_retry_is_not_stored_twice(stubs, collector):
    event_pb2, collector_pb2, collector_pb2_grpc = stubs
    first = make_batch(event_pb2, 5)
    other = make_batch(event_pb2, 7, service="intruder")
    other.batch_id = first.batch_id
    with grpc.insecure_channel(collector.address) as channel:
        client = collector_pb2_grpc.CollectorStub(channel)
        assert client.Ingest(first, timeout=DEADLINE_S).accepted == 5
        with pytest.raises(grpc.RpcError) as failure:
            client.Ingest(other, timeout=DEADLINE_S)
        assert failure.value.code() == grpc.StatusCode.ALREADY_EXISTS
        # A true retry: the same bytes, answered as stored, stored once.
        assert client.Ingest(first, timeout=DEADLINE_S).accepted == 5
    assert collector.stop() == 0
    assert len(collector.rows) == 5
    assert all(r["service"] == "interop" for r in collector.rows)


def test_an_event_that_is_not_utf8_is_refused_alone(stubs, collector):
    event_pb2, collector_pb2, collector_pb2_grpc = stubs
    batch = make_batch(event_pb2, 10)
    batch.events[4].message = "MARK"
    encoded = bytearray(batch.SerializeToString())
    encoded[encoded.index(b"MARK")] = 0xFF
    with grpc.insecure_channel(collector.address) as channel:
        ingest = channel.unary_unary(
            "/aires.v1.Collector/Ingest",
            request_serializer=lambda raw: raw,
            response_deserializer=collector_pb2.IngestResponse.FromString,
        )
        response = ingest(bytes(encoded), timeout=DEADLINE_S)
    assert (response.accepted, response.rejected) == (9, 1)
    assert response.rejections[0].index == 4
    assert response.rejections[0].reason.startswith("malformed event:")
    assert collector.stop() == 0
    assert len(collector.rows) == 9
