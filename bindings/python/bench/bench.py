"""Per-call cost and sustained events/s of the same event (a message and
five fields) through five Python loggers, each in its own process:

- aires: into the core's null transport;
- stdlib logging with a JSON formatter, writing to a file;
- structlog with its JSON renderer, writing to a file;
- structlog with ``aires.StructlogProcessor`` as its last processor;
- the OpenTelemetry SDK's LoggingHandler with BatchLogRecordProcessor and an
  exporter that discards.

Modes: `call` is the time a call takes on the caller's thread (N calls,
divided by N); `1 thread` and `4 threads` are events/s from start until the
last event has been handled (written, exported or sent), so the background
work counts. Every run checks that all N events arrived (for aires: were
sent or counted as dropped; the table shows the drops).

    python bench/bench.py [--events N] [--runs R] [--only NAME,...]
                          [--baseline-python PATH]

With ``--baseline-python``, the row ``aires-before`` runs aires in that
interpreter (another build of the SDK, for a before/after comparison in
the same run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable

FIELDS = 5


def aires_dropped() -> int:
    import aires

    return aires.metrics()["events_dropped"] if aires.is_running() else 0


def setup_aires(path: str) -> tuple[Callable[[int], None], Callable[[], int]]:
    import aires

    # The default drop policy, with a queue deep enough to absorb the
    # producer's bursts while the worker is descheduled; drops are reported.
    aires.init(service="bench", transport="null", env_overrides=False, queue_capacity=1 << 18,
               batch_size=1024)
    info = aires.info

    def log(i: int) -> None:
        info("order placed", order_id=i, amount=9.99, currency="EUR", paid=True, user="ada")

    def finish() -> int:
        assert aires.flush(60)
        return aires._native._null_events() + aires.metrics()["events_dropped"]

    return log, finish


def setup_logging(path: str) -> tuple[Callable[[int], None], Callable[[], int]]:
    import logging

    class JsonFormatter(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            entry = {
                "ts": record.created, "level": record.levelname, "message": record.getMessage(),
                "logger": record.name, "file": record.pathname, "line": record.lineno,
                "function": record.funcName,
            }
            entry.update(record.__dict__.get("fields", {}))
            return json.dumps(entry)

    handler = logging.FileHandler(path)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("bench")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False

    def log(i: int) -> None:
        logger.info("order placed", extra={"fields": {
            "order_id": i, "amount": 9.99, "currency": "EUR", "paid": True, "user": "ada"}})

    def finish() -> int:
        handler.flush()
        handler.close()
        with open(path, "rb") as f:
            return sum(1 for _ in f)

    return log, finish


def setup_structlog(path: str) -> tuple[Callable[[int], None], Callable[[], int]]:
    import structlog

    out = open(path, "w")
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.WriteLoggerFactory(file=out),
        wrapper_class=structlog.make_filtering_bound_logger(20),
        cache_logger_on_first_use=True,
    )
    logger = structlog.get_logger()

    def log(i: int) -> None:
        logger.info("order placed", order_id=i, amount=9.99, currency="EUR", paid=True, user="ada")

    def finish() -> int:
        out.flush()
        out.close()
        with open(path, "rb") as f:
            return sum(1 for _ in f)

    return log, finish


def setup_structlog_aires(path: str) -> tuple[Callable[[int], None], Callable[[], int]]:
    """structlog, shipping through ``aires.StructlogProcessor`` (what a
    structlog user adopting Aires writes)."""
    import structlog

    import aires

    aires.init(service="bench", transport="null", env_overrides=False, queue_capacity=1 << 18,
               batch_size=1024)
    structlog.configure(
        processors=[structlog.processors.add_log_level, aires.StructlogProcessor()],
        cache_logger_on_first_use=True,
    )
    logger = structlog.get_logger()

    def log(i: int) -> None:
        logger.info("order placed", order_id=i, amount=9.99, currency="EUR", paid=True, user="ada")

    def finish() -> int:
        assert aires.flush(60)
        return aires._native._null_events() + aires.metrics()["events_dropped"]

    return log, finish


def setup_otel(path: str) -> tuple[Callable[[int], None], Callable[[], int]]:
    import logging

    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogExporter, LogExportResult

    class Discard(LogExporter):
        def __init__(self) -> None:
            self.count = 0

        def export(self, batch: Any) -> LogExportResult:
            self.count += len(batch)
            return LogExportResult.SUCCESS

        def force_flush(self, timeout_millis: int = 30_000) -> bool:
            return True

        def shutdown(self) -> None:
            pass

    exporter = Discard()
    provider = LoggerProvider()
    # The default queue (2048) drops under a tight loop; give it room so
    # that every event is exported, as for the others.
    provider.add_log_record_processor(
        BatchLogRecordProcessor(exporter, max_queue_size=1 << 20, max_export_batch_size=512)
    )
    logger = logging.getLogger("bench")
    logger.addHandler(LoggingHandler(level=logging.INFO, logger_provider=provider))
    logger.setLevel(logging.INFO)
    logger.propagate = False

    def log(i: int) -> None:
        logger.info("order placed", extra={
            "order_id": i, "amount": 9.99, "currency": "EUR", "paid": True, "user": "ada"})

    def finish() -> int:
        provider.force_flush(60_000)
        return exporter.count

    return log, finish


SETUPS = {
    "aires": setup_aires,
    "logging-json": setup_logging,
    "structlog-json": setup_structlog,
    "structlog-aires": setup_structlog_aires,
    "otel-sdk": setup_otel,
}


def run_one(name: str, mode: str, events: int) -> dict[str, float]:
    """In a fresh process: one measurement."""
    with tempfile.TemporaryDirectory() as tmp:
        log, finish = SETUPS[name](os.path.join(tmp, "out.log"))
        for i in range(1000):  # warm-up (first-call caches, call sites)
            log(i)
        threads = 4 if mode == "4 threads" else 1
        per_thread = events // threads

        def work() -> None:
            for i in range(per_thread):
                log(i)

        start = time.perf_counter()
        if threads == 1:
            work()
        else:
            workers = [threading.Thread(target=work) for _ in range(threads)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
        called = time.perf_counter()
        delivered = finish()
        done = time.perf_counter()
        expected = per_thread * threads + 1000
        assert delivered == expected, f"{name}: {delivered} of {expected} events arrived"
        return {
            "ns_per_call": (called - start) / (per_thread * threads) * 1e9,
            "events_per_s": per_thread * threads / (done - start),
            "dropped": aires_dropped() if name == "aires" else 0,
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=400_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", default=",".join(SETUPS))
    parser.add_argument("--baseline-python", help="an interpreter with another build of aires")
    parser.add_argument("--child", nargs=2, metavar=("NAME", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child[0], args.child[1], args.events)))
        return

    names = args.only.split(",")
    if args.baseline_python:
        names.insert(names.index("aires") + 1 if "aires" in names else 0, "aires-before")
    modes = ["1 thread", "4 threads"]
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    for _ in range(args.runs):  # interleaved, so drift hits all alike
        for name in names:
            for mode in modes:
                python, child = sys.executable, name
                if name == "aires-before":
                    python, child = args.baseline_python, "aires"
                out = subprocess.run(
                    [python, __file__, "--events", str(args.events), "--child", child, mode],
                    check=True, capture_output=True, text=True,
                )
                results.setdefault((name, mode), []).append(json.loads(out.stdout))

    def median(name: str, mode: str, key: str) -> float:
        return statistics.median(r[key] for r in results[(name, mode)])

    base = "aires" if "aires" in names else names[0]
    print(f"{args.events} events per run, median of {args.runs} runs, Python {sys.version.split()[0]}")
    print()
    print("| logger | ns per call (1 thread) | events/s, 1 thread | events/s, 4 threads "
          f"| per-call cost vs {base} | events dropped (all runs) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in names:
        ns = median(name, "1 thread", "ns_per_call")
        print(
            f"| {name} | {ns:,.0f} | {median(name, '1 thread', 'events_per_s'):,.0f} "
            f"| {median(name, '4 threads', 'events_per_s'):,.0f} "
            f"| {ns / median(base, '1 thread', 'ns_per_call'):.1f}x "
            f"| {sum(r['dropped'] for m in modes for r in results[(name, m)]):,} |"
        )


if __name__ == "__main__":
    main()
