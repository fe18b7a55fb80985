"""Delivery through a collector that is away for a while: the blocking
overflow policy loses nothing, retries outlast the outage, and the metrics
say where every event went.

Runs the real aires-collector binary (AIRES_COLLECTOR_BIN, else
target/debug) with its null sink; skipped without it unless
AIRES_REQUIRE_E2E=1.
"""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import threading
import time

import pytest

import aires
from aires._testing import memory_events

ROOT = pathlib.Path(__file__).resolve().parents[3]
DEADLINE_S = 60


def _collector_bin() -> pathlib.Path:
    path = pathlib.Path(os.environ.get("AIRES_COLLECTOR_BIN", ROOT / "target/debug/aires-collector"))
    if not path.exists():
        if os.environ.get("AIRES_REQUIRE_E2E") == "1":
            pytest.fail(f"the aires-collector binary not found at {path}")
        pytest.skip(f"the aires-collector binary not found at {path}")
    return path


def _null_collector(collector_bin: pathlib.Path, port: int, out) -> subprocess.Popen:
    """The collector binary on `port`, discarding what it stores."""
    return subprocess.Popen(
        [str(collector_bin), "--sink", "null", "--listen", f"127.0.0.1:{port}",
         "--metrics-listen", "127.0.0.1:0"],
        stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "NO_COLOR": "1"},
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {aires.metrics()}")
        time.sleep(0.02)


def test_block_without_a_timeout_loses_nothing_while_the_collector_restarts(tmp_path):
    collector_bin = _collector_bin()
    port = _free_port()
    aires.init(
        service="py-delivery",
        endpoint=f"http://127.0.0.1:{port}",
        overflow="block",  # no block_timeout: wait as long as it takes
        queue_capacity=64,
        batch_size=16,
        max_batch_bytes=64 * 1024,  # the smallest: the worker's batch fills soon
        batch_timeout=0.02,
        env_overrides=False,
    )
    collector = None
    try:
        # More than the window (64 x 16), the batches that grow behind it
        # (three of 64 KiB, ~1,400 events each) and the queue hold.
        total = 10_000
        producer = threading.Thread(
            target=lambda: [aires.info("tick", i=i) for i in range(total)]
        )
        producer.start()
        # Nothing listens yet: sends fail and are retried, the queue fills,
        # and the producer waits.
        _wait(lambda: aires.metrics()["batch_retries"] > 0, "retries")
        _wait(lambda: aires.metrics()["queue_depth"] == 64, "a full queue")
        time.sleep(1.0)  # the outage: longer than any bounded wait would last
        assert producer.is_alive(), "the producer should still be waiting"
        log = (tmp_path / "collector.log").open("w")
        collector = _null_collector(collector_bin, port, log)
        producer.join(DEADLINE_S)
        assert not producer.is_alive()
        assert aires.flush(DEADLINE_S)
        metrics = aires.metrics()
        assert metrics["events_sent"] == total, metrics
        assert metrics["events_dropped"] == 0, metrics
        assert metrics["events_outcome_unknown"] == 0, metrics
    finally:
        aires.shutdown(5.0)
        if collector is not None:
            collector.terminate()
            collector.wait(30)


def test_metrics_name_events_of_unknown_outcome(start):
    start()
    metrics = aires.metrics()
    assert metrics["events_outcome_unknown"] == 0
    assert metrics["batches_outcome_unknown"] == 0


def test_a_block_timeout_is_opt_in_and_validated():
    with pytest.raises(ValueError, match="block_timeout"):
        aires.init(transport="memory", overflow="block", block_timeout=-1.0, env_overrides=False)
    # As in Node: a timeout without the blocking policy is a mistake.
    with pytest.raises(ValueError, match='block_timeout needs overflow="block"'):
        aires.init(transport="memory", block_timeout=1.0, env_overrides=False)


def test_a_spool_keeps_what_a_cut_short_shutdown_could_not_send(tmp_path):
    from aires import _native

    port = _free_port()
    aires.init(
        service="py-spool",
        endpoint=f"http://127.0.0.1:{port}",  # nothing listens
        spool_dir=str(tmp_path),
        batch_timeout=0.02,
        env_overrides=False,
    )
    for i in range(300):
        aires.info("kept", i=i)
    aires.shutdown(0.8)
    metrics = aires.metrics()
    assert metrics["events_left_in_spool"] == 300, metrics
    assert metrics["events_dropped"] == 0, metrics
    # The next start sends them (here into the in-memory transport).
    aires.init(service="py-spool", transport="memory", spool_dir=str(tmp_path), env_overrides=False)
    try:
        assert aires.flush(10)
        got = memory_events(300, 10.0)
        assert sorted(e["attributes"]["i"] for e in got) == list(range(300))
        assert aires.metrics()["events_replayed"] == 300
    finally:
        aires.shutdown(5.0)


def test_spool_max_bytes_needs_a_spool_dir():
    with pytest.raises(ValueError, match="spool_max_bytes needs spool_dir"):
        aires.init(transport="memory", spool_max_bytes=1000, env_overrides=False)


@pytest.mark.parametrize("overflow", ["drop", "grow"])
def test_grow_lists_a_burst_the_queue_cannot_hold_and_never_waits(overflow):
    """With the collector away, the queue fills: `drop` drops (counted),
    `grow` lists the rest on the heap and delivers it once the collector is
    back, and neither makes the producer wait."""
    collector_bin = _collector_bin()
    port = _free_port()
    aires.init(
        service="py-grow",
        endpoint=f"http://127.0.0.1:{port}",
        overflow=overflow,
        queue_capacity=64,
        batch_size=16,
        max_batch_bytes=64 * 1024,  # the smallest: the worker's batch fills soon
        batch_timeout=0.02,
        env_overrides=False,
    )
    collector = None
    try:
        total = 20_000
        # Returns with nothing listening: no call waited for the collector.
        for i in range(total):
            aires.info("tick", i=i)
        metrics = aires.metrics()
        if overflow == "drop":
            assert metrics["events_dropped_queue_full"] > 0, metrics
            return
        assert metrics["events_dropped"] == 0, metrics
        assert metrics["queue_depth"] > 64, metrics  # listed beyond the queue
        collector = _null_collector(collector_bin, port, subprocess.DEVNULL)
        assert aires.flush(DEADLINE_S)
        metrics = aires.metrics()
        assert metrics["events_sent"] == total, metrics
        assert metrics["events_dropped"] == 0, metrics
    finally:
        aires.shutdown(5.0)
        if collector is not None:
            collector.terminate()
            collector.wait(30)


def test_grow_options_are_checked():
    with pytest.raises(ValueError, match='overflow_max_bytes needs overflow="grow"'):
        aires.init(transport="memory", overflow_max_bytes=1 << 20, env_overrides=False)
    with pytest.raises(ValueError, match="overflow_max_bytes"):
        aires.init(transport="memory", overflow="grow", overflow_max_bytes=0, env_overrides=False)
