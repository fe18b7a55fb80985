"""init's errors, many threads, flush at exit, and fork safety."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading

import pytest

import aires
from aires._testing import memory_events
from aires import _native


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"endpoint": "127.0.0.1:4317"}, ValueError, "endpoint \"127.0.0.1:4317\" is invalid"),
        ({"endpoint": "ftp://collector"}, ValueError, "scheme must be http or https"),
        ({"batch_size": 0}, ValueError, "batch_size must be greater than 0, got 0"),
        ({"queue_capacity": 0}, ValueError, "queue_capacity must be greater than 0"),
        ({"level": "loud"}, ValueError, "unknown level \"loud\""),
        ({"batch_timeout": -1.0}, ValueError, "batch_timeout must be a finite number of seconds"),
        ({"send_timeout": float("nan")}, ValueError, "send_timeout must be a finite number"),
        ({"overflow": "sometimes"}, ValueError, "overflow must be \"drop\", \"block\" or \"grow\""),
        ({"transport": "carrier-pigeon"}, ValueError, "transport must be one of"),
        ({"batch_size": -1}, OverflowError, "negative"),
    ],
)
def test_bad_options_raise_clear_errors(options, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(")):
        aires.init(**{"env_overrides": False, "transport": "memory", **options})
    assert not aires.is_running()


def test_bad_environment_variable_names_it(monkeypatch):
    monkeypatch.setenv("AIRES_BATCH_SIZE", "lots")
    with pytest.raises(ValueError, match='AIRES_BATCH_SIZE="lots"'):
        aires.init(transport="memory")
    assert not aires.is_running()


def test_environment_overrides_code(monkeypatch, start):
    monkeypatch.setenv("AIRES_SERVICE", "from-env")
    monkeypatch.setenv("AIRES_LEVEL", "error")
    events = start(service="from-code", env_overrides=True)
    assert aires.level() == "error"
    aires.error("boom")
    [event] = events(1)
    assert event["service"] == "from-env"


def test_second_init_is_refused_until_shutdown(events):
    with pytest.raises(RuntimeError, match="already initialized"):
        aires.init(transport="memory")
    assert aires.shutdown(5.0)
    aires.info("after shutdown")
    assert aires.metrics()["events_dropped_after_shutdown"] >= 1
    aires.init(transport="memory", env_overrides=False, batch_timeout=0.02)
    aires.info("again")
    assert [e["message"] for e in memory_events(1)] == ["again"]


def test_a_rust_panic_is_a_python_exception(events):
    with pytest.raises(BaseException, match="boom from Rust") as caught:
        _native._panic_for_tests("boom from Rust")
    assert type(caught.value).__name__ == "PanicException"
    aires.info("still running")
    assert [e["message"] for e in events(1)] == ["still running"]


def test_blocking_overflow_waits_instead_of_dropping(start):
    # A one-slot queue: with "block" each call waits for room (the GIL is
    # released meanwhile) rather than dropping.
    events = start(queue_capacity=1, overflow="block", block_timeout=5.0)
    for i in range(500):
        aires.info("waits", i=i)
    got = events(500)
    assert [e["attributes"]["i"] for e in got] == list(range(500))
    assert aires.metrics()["events_dropped_queue_full"] == 0


def test_many_threads_lose_nothing(start):
    events = start(queue_capacity=100_000)
    per_thread, threads = 2_000, 8

    def work(t: int) -> None:
        for i in range(per_thread):
            aires.info("tick", thread=t, i=i)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    got = events(per_thread * threads, timeout=30)
    seen = {(e["attributes"]["thread"], e["attributes"]["i"]) for e in got}
    assert len(got) == per_thread * threads
    assert seen == {(t, i) for t in range(threads) for i in range(per_thread)}
    metrics = aires.metrics()
    assert metrics["events_dropped_queue_full"] == 0
    assert metrics["events_sent"] == per_thread * threads


def test_a_full_queue_drops_and_counts(start):
    events = start(queue_capacity=4, batch_size=1000, batch_timeout=5.0)
    for i in range(5_000):
        aires.info("flood", i=i)
    got = events(1)
    metrics = aires.metrics()
    assert metrics["events_dropped_queue_full"] > 0
    assert len(got) + metrics["events_dropped_queue_full"] == 5_000


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, **env},
    )


def test_a_script_that_logs_and_exits_loses_nothing():
    # Stdout transport, a long batch timeout: only the exit hook sends them.
    done = _run(
        """
        import aires
        aires.init(service="exit-test", transport="stdout", batch_timeout=60, env_overrides=False)
        for i in range(1000):
            aires.info("bye", i=i)
        """
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert sorted(line["fields"]["i"] for line in lines) == list(range(1000))


def test_multiprocessing_children_flush_at_exit():
    # Process children end with os._exit (no atexit): the fork hook
    # registers the flush with multiprocessing's own exit instead.
    done = _run(
        """
        import multiprocessing, aires
        aires.init(service="mp", transport="stdout", batch_timeout=60, env_overrides=False)

        def child(n):
            for i in range(100):
                aires.info("from a child", n=n, i=i)

        if __name__ == "__main__":
            ctx = multiprocessing.get_context("fork")
            procs = [ctx.Process(target=child, args=(n,)) for n in range(2)]
            for p in procs:
                p.start()
            for p in procs:
                p.join()
                assert p.exitcode == 0
            aires.info("parent done")
        """
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    children = sorted((line["fields"]["n"], line["fields"]["i"]) for line in lines
                      if line["message"] == "from a child")
    assert children == [(n, i) for n in range(2) for i in range(100)]
    assert [line["message"] for line in lines].count("parent done") == 1


def test_forking_right_after_init_never_hangs_the_child():
    # The pipeline's threads start at init; a fork moments later must not
    # leave the child waiting on something they were doing (the clock's
    # first calibration, which takes milliseconds). One process per delay:
    # the calibration happens once per process.
    program = """
        import os, sys, time, aires
        aires.init(service="fork", transport="memory", env_overrides=False)
        time.sleep(float(sys.argv[1]))
        pid = os.fork()
        if pid == 0:
            aires.info("child")
            os._exit(0 if aires.flush(10) else 3)
        _, status = os.waitpid(pid, 0)
        sys.exit(os.waitstatus_to_exitcode(status))
        """
    for delay_ms in range(0, 16):
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(program), str(delay_ms / 1000)],
            capture_output=True, text=True, timeout=30,
        )
        assert done.returncode == 0, (delay_ms, done.stderr)


def test_fork_gives_the_child_a_pipeline_of_its_own(events):
    aires.info("before fork")
    assert [e["message"] for e in events(1)] == ["before fork"]
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            os.close(read_end)
            aires.info("from the child", pid=os.getpid())
            aires.flush(10)
            got = memory_events(1, 10)
            with os.fdopen(write_end, "w") as out:
                json.dump([e["message"] for e in got], out)
            code = 0 if aires.shutdown(5) else 2
        finally:
            os._exit(code)
    os.close(write_end)
    aires.info("parent after fork")
    with os.fdopen(read_end) as child_out:
        child_messages = json.load(child_out)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert child_messages == ["from the child"]
    assert [e["message"] for e in events(2)] == ["before fork", "parent after fork"]


def test_fork_from_a_multiprocessing_pool(start):
    import multiprocessing

    start()
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        results = pool.map(_log_in_worker, range(4))
    assert results == [1, 1, 1, 1]


def _log_in_worker(n: int) -> int:
    aires.info("in a pool worker", n=n)
    assert aires.flush(10)
    return sum(1 for e in memory_events(1, 10) if e["attributes"].get("n") == n)
