"""Every way a Python program ends, and what each delivers: SIGTERM with
``aires.handle_signals()``, ``multiprocessing`` workers (``with Pool()``
terminates them), and structlog pipelines. Each runs as a child process
printing events with the stdout transport, counted from outside."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import time


def _lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)


def _terminated_after_ready(code: str) -> tuple[int, str, str]:
    """Starts `code`, waits for it to print READY on stderr, sends SIGTERM."""
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    assert child.stderr is not None
    deadline = time.monotonic() + 60
    seen = ""
    while "READY" not in seen:
        assert time.monotonic() < deadline, "the child never got ready"
        ready, _, _ = select.select([child.stderr], [], [], 1.0)
        if ready:
            seen += child.stderr.readline()
    child.send_signal(signal.SIGTERM)
    stdout, stderr = child.communicate(timeout=60)
    return child.returncode, stdout, seen + stderr


SIGTERM_PROGRAM = """
    import sys, time, aires
    aires.init(service="sigterm", transport="stdout", batch_timeout=60, batch_size=8192,
               max_batch_bytes=16 << 20, queue_capacity=8192, env_overrides=False)
    {install}
    for i in range(4000):
        aires.info("queued", i=i)
    print("READY", file=sys.stderr, flush=True)
    time.sleep(60)
"""


def test_sigterm_with_handle_signals_delivers_what_was_queued_then_ends_as_sigterm():
    code, stdout, stderr = _terminated_after_ready(SIGTERM_PROGRAM.format(install="aires.handle_signals()"))
    assert code == -signal.SIGTERM, stderr
    assert sorted(e["fields"]["i"] for e in _lines(stdout)) == list(range(4000))


def test_handle_signals_runs_the_handler_that_was_there_before():
    install = """
    import signal
    signal.signal(signal.SIGTERM, lambda *_: (print("APP HANDLER", file=sys.stderr, flush=True), sys.exit(3)))
    aires.handle_signals()
    """
    code, stdout, stderr = _terminated_after_ready(SIGTERM_PROGRAM.format(install=textwrap.indent(textwrap.dedent(install), "    ").strip()))
    assert code == 3, stderr
    assert "APP HANDLER" in stderr
    assert len(_lines(stdout)) == 4000


def test_what_the_applications_own_handler_logs_while_it_stops_is_delivered_too():
    code = """
    import signal, sys, time, aires
    aires.init(service="sigterm", transport="stdout", batch_timeout=60, batch_size=8192,
               max_batch_bytes=16 << 20, queue_capacity=8192, env_overrides=False)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    aires.handle_signals()
    for i in range(4000):
        aires.info("queued", i=i)
    print("READY", file=sys.stderr, flush=True)
    while not stopping:
        time.sleep(0.01)
    for i in range(4000, 4101):
        aires.info("draining", i=i)
    """
    rc, stdout, stderr = _terminated_after_ready(code)
    assert rc == 0, stderr
    assert sorted(e["fields"]["i"] for e in _lines(stdout)) == list(range(4101))


def test_without_handle_signals_sigterm_loses_what_was_queued():
    # The documented default: Python's own SIGTERM action ends the process
    # at once, running no exit hooks.
    code, stdout, _ = _terminated_after_ready(SIGTERM_PROGRAM.format(install=""))
    assert code == -signal.SIGTERM
    assert _lines(stdout) == []


def test_pool_workers_deliver_what_they_logged_when_the_pool_ends():
    done = _run(
        """
        import multiprocessing, aires
        aires.init(service="pool", transport="stdout", batch_timeout=60, env_overrides=False)

        def work(n):
            for i in range(100):
                aires.info("from a worker", n=n, i=i)
            return n

        if __name__ == "__main__":
            with multiprocessing.get_context("fork").Pool(2) as pool:
                assert pool.map(work, range(6)) == list(range(6))
            aires.info("parent done")
        """
    )
    assert done.returncode == 0, done.stderr
    events = _lines(done.stdout)
    worker = sorted((e["fields"]["n"], e["fields"]["i"]) for e in events if e["message"] == "from a worker")
    assert worker == [(n, i) for n in range(6) for i in range(100)]


def test_pool_workers_started_by_spawn_deliver_when_they_init_themselves(tmp_path):
    # spawn re-imports the main module in each worker: it must be a file.
    program = tmp_path / "spawned.py"
    program.write_text(textwrap.dedent(
        """
        import multiprocessing, aires

        def start():
            aires.init(service="spawned", transport="stdout", batch_timeout=60, env_overrides=False)

        def work(n):
            aires.info("from a spawned worker", n=n)
            return n

        if __name__ == "__main__":
            with multiprocessing.get_context("spawn").Pool(2, initializer=start) as pool:
                assert pool.map(work, range(10)) == list(range(10))
        """
    ))
    done = subprocess.run([sys.executable, str(program)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert sorted(e["fields"]["n"] for e in _lines(done.stdout)) == list(range(10))


def test_a_structlog_pipeline_ships_to_aires(events):
    import structlog

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            __import__("aires").StructlogProcessor(),
        ],
        cache_logger_on_first_use=False,
    )
    try:
        log = structlog.get_logger().bind(request_id="r-1")
        log.info("order placed", order_id=7, user={"id": 3})
        try:
            1 / 0
        except ZeroDivisionError:
            log.exception("failed")
        log.warning("slow", ms=812)
    finally:
        structlog.reset_defaults()
    placed, failed, slow = events(3)
    assert placed["message"] == "order placed" and placed["level"] == "info"
    assert placed["attributes"] == {"request_id": "r-1", "order_id": 7, "user.id": 3}
    assert failed["level"] == "error" and failed["error"]["type"] == "ZeroDivisionError"
    assert slow["level"] == "warn" and slow["attributes"]["ms"] == 812


def test_sys_exit_and_an_uncaught_exception_deliver_what_was_logged():
    for ending, want_code in (("sys.exit(3)", 3), ("raise RuntimeError('boom')", 1)):
        done = _run(
            f"""
            import sys, aires
            aires.init(service="exit", transport="stdout", batch_timeout=60, batch_size=8192,
                       max_batch_bytes=16 << 20, env_overrides=False)
            for i in range(3000):
                aires.info("bye", i=i)
            {ending}
            """
        )
        assert done.returncode == want_code, done.stderr
        assert len(_lines(done.stdout)) == 3000, (ending, done.stderr[-500:])
