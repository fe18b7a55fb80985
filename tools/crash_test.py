#!/usr/bin/env python3
"""Crash test: producers, two collectors behind one address, and the
ClickHouse engine, with faults injected at the worst moments; at the end,
every event is checked against what the SDKs reported.

Topology, all on loopback:

    aires-loadgen (per round; events numbered per thread: thread, seq)
      -> balancer (one address, round robin, skips a dead collector)
        -> collector A, collector B (each with its own --data-dir)
          -> fault proxy (pass | refuse | swallow answers)
            -> ClickHouse (tools/clickhouse-dev)

Each round runs one producer and one fault, picked in turn:

- kill9-collector: SIGKILL one collector (alternately A and B) mid-run,
  restart it on the same port and log;
- sigterm-collector: the same with SIGTERM (a drain);
- swallow-then-kill9: ClickHouse stores inserts whose answers never come
  back, then that collector is killed: the worst moment for exactly once;
- kill9-clickhouse: SIGKILL the ClickHouse engine, restart it;
- refuse-clickhouse: connections to ClickHouse refused for a few seconds;
- long-outage: refused for 12-15 s, longer than the SDK's send timeout
  (10 s), so the producer retries batches a collector still holds, through
  the other collector;
- kill9-producer: SIGKILL the producer (its unsent events are lost with it:
  only duplicates are checked for it).

Checks, per producer (its own service name): no event stored twice
(count = distinct (thread, seq)); the error-rate view counts what the
table holds; and for producers that finished, every event the SDK reported
as sent is stored, and none beyond sent + outcome unknown.

    tools/crash_test.py --bin-dir target/release --rounds 30 --events 20000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FAULTS = [
    "kill9-collector",
    "sigterm-collector",
    "swallow-then-kill9",
    "kill9-clickhouse",
    "refuse-clickhouse",
    "long-outage",
    "kill9-producer",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Proxy:
    """A TCP proxy to one or more backends (tried in turn, from a rotating
    start). Modes: pass; refuse (drop every connection, take none); swallow
    (what the backend answers never reaches the client)."""

    def __init__(self, backends: list[int]):
        self.backends = backends
        self.mode = "pass"
        self.next = 0
        self.lock = threading.Lock()
        self.open: list[socket.socket] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def set_mode(self, mode: str) -> None:
        with self.lock:
            self.mode = mode
            if mode == "refuse":
                for s in self.open:
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    s.close()
                self.open.clear()

    def _accept(self) -> None:
        while True:
            client, _ = self.server.accept()
            if self.mode == "refuse":
                client.close()
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _connect(self) -> socket.socket | None:
        with self.lock:
            start = self.next
            self.next += 1
        for i in range(len(self.backends)):
            port = self.backends[(start + i) % len(self.backends)]
            try:
                return socket.create_connection(("127.0.0.1", port), timeout=2)
            except OSError:
                continue
        return None

    def _serve(self, client: socket.socket) -> None:
        upstream = self._connect()
        if upstream is None:
            client.close()
            return
        upstream.settimeout(None)
        with self.lock:
            self.open += [client, upstream]

        def pump(src: socket.socket, dst: socket.socket, answers: bool) -> None:
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    if answers and self.mode == "swallow":
                        continue
                    dst.sendall(data)
            except OSError:
                pass
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        threading.Thread(target=pump, args=(client, upstream, False), daemon=True).start()
        pump(upstream, client, True)
        for s in (client, upstream):
            s.close()


class Stack:
    def __init__(self, args, work: Path):
        self.args = args
        self.work = work
        self.ch_port = free_port()
        self.clickhouse: subprocess.Popen | None = None
        self.start_clickhouse()
        self.ch_proxy = Proxy([self.ch_port])
        self.collector_ports = [free_port(), free_port()]
        self.collectors: list[subprocess.Popen | None] = [None, None]
        for i in range(2):
            self.start_collector(i)
        self.balancer = Proxy(self.collector_ports)
        self.endpoint = f"http://127.0.0.1:{self.balancer.port}"

    def start_clickhouse(self) -> None:
        python = ROOT / "tools/clickhouse-dev/.venv/bin/python"
        log = open(self.work / "clickhouse.log", "a")
        self.clickhouse = subprocess.Popen(
            [str(python), str(ROOT / "tools/clickhouse-dev/server.py"), "--port", str(self.ch_port),
             "--data", str(self.work / "clickhouse-data")],
            stdout=log, stderr=subprocess.STDOUT,
        )
        wait_for(lambda: listening(self.ch_port), "ClickHouse")

    def start_collector(self, i: int) -> None:
        log = open(self.work / f"collector-{i}.log", "a")
        args = [
            str(Path(self.args.bin_dir) / "aires-collector"),
            "--listen", f"127.0.0.1:{self.collector_ports[i]}", "--metrics-listen", "127.0.0.1:0",
            "--sink", "clickhouse", "--clickhouse-url", f"http://127.0.0.1:{self.ch_proxy.port}",
            "--batch-timeout-ms", "200", "--shutdown-timeout-secs", "10",
        ]
        if not self.args.no_wal:
            args += ["--data-dir", str(self.work / f"wal-{i}"), "--ack", self.args.ack]
        self.collectors[i] = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                              env={**os.environ, "NO_COLOR": "1"})
        wait_for(lambda: listening(self.collector_ports[i]), f"collector {i}", timeout=120)

    def stop_collector(self, i: int, sig: int) -> None:
        process = self.collectors[i]
        process.send_signal(sig)
        process.wait(timeout=60)

    def query(self, sql: str) -> list[dict]:
        params = urllib.parse.urlencode({"query": sql + " FORMAT JSONEachRow", "database": "aires",
                                         "output_format_json_quote_64bit_integers": "0"})
        url = f"http://127.0.0.1:{self.ch_port}/?{params}"
        with urllib.request.urlopen(url, timeout=60) as answer:
            return [json.loads(line) for line in answer.read().decode().splitlines() if line]

    def close(self) -> None:
        for process in self.collectors:
            if process and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
        if self.clickhouse and self.clickhouse.poll() is None:
            self.clickhouse.kill()
            self.clickhouse.wait()


def run_round(stack: Stack, n: int, fault: str, rng: random.Random) -> dict:
    service = f"crash-{n:03d}"
    mode = rng.choice(["unary", "stream"])
    # The producer's connection goes to this round's victim, so a fault of
    # the collector hits it (collectors are killed alternately).
    victim = n % 2
    with stack.balancer.lock:
        stack.balancer.next = victim
    producer = subprocess.Popen(
        [str(Path(stack.args.bin_dir) / "aires-loadgen"), "--endpoint", stack.endpoint,
         "--service", service, "--events", str(stack.args.events), "--threads", "2",
         "--rate", str(stack.args.rate), "--block", "--progress", "false"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "AIRES_GRPC_MODE": mode},
    )
    run_for = stack.args.events / stack.args.rate
    time.sleep(rng.uniform(0.2, 0.6) * run_for)
    if fault == "kill9-collector":
        stack.stop_collector(victim, signal.SIGKILL)
        time.sleep(rng.uniform(0.3, 1.5))
        stack.start_collector(victim)
    elif fault == "sigterm-collector":
        stack.stop_collector(victim, signal.SIGTERM)
        time.sleep(rng.uniform(0.3, 1.5))
        stack.start_collector(victim)
    elif fault == "swallow-then-kill9":
        stack.ch_proxy.set_mode("swallow")
        time.sleep(rng.uniform(0.3, 1.0))
        stack.stop_collector(victim, signal.SIGKILL)
        stack.ch_proxy.set_mode("pass")
        time.sleep(rng.uniform(0.3, 1.0))
        stack.start_collector(victim)
    elif fault == "kill9-clickhouse":
        stack.clickhouse.kill()
        stack.clickhouse.wait()
        time.sleep(rng.uniform(0.5, 2.0))
        stack.start_clickhouse()
    elif fault == "refuse-clickhouse":
        stack.ch_proxy.set_mode("refuse")
        time.sleep(rng.uniform(2.0, 6.0))
        stack.ch_proxy.set_mode("pass")
    elif fault == "long-outage":
        stack.ch_proxy.set_mode("refuse")
        time.sleep(rng.uniform(12.0, 15.0))
        stack.ch_proxy.set_mode("pass")
    elif fault == "kill9-producer":
        producer.kill()
    out, _ = producer.communicate(timeout=600)
    summary = json.loads(out.strip().splitlines()[-1]) if producer.returncode == 0 else None
    return {"round": n, "service": service, "fault": fault, "mode": mode, "summary": summary}


def settled_counts(stack: Stack) -> dict[str, dict]:
    """Per service counts, once they stop changing (the collectors have
    stored what they hold)."""
    sql = ("SELECT service, count() AS n, "
           "uniqExact(attributes_int['thread'], attributes_int['seq']) AS distinct_events "
           "FROM events WHERE service LIKE 'crash-%' GROUP BY service")
    last, stable_since = None, time.monotonic()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        rows = {r["service"]: r for r in stack.query(sql)}
        if rows != last:
            last, stable_since = rows, time.monotonic()
        elif time.monotonic() - stable_since > 5:
            break
        time.sleep(0.5)
    views = {r["service"]: r["total"] for r in stack.query(
        "SELECT service, sum(total) AS total FROM error_rate_per_minute "
        "WHERE service LIKE 'crash-%' GROUP BY service")}
    for service, row in last.items():
        row["view_total"] = views.get(service, 0)
    return last


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", default=str(ROOT / "target/release"))
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--events", type=int, default=20_000, help="events per round")
    parser.add_argument("--rate", type=int, default=10_000, help="events per second per round")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--ack", default="stored", choices=["stored", "persisted"])
    parser.add_argument("--no-wal", action="store_true", help="collectors without --data-dir")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    rng = random.Random(seed)
    work = Path(tempfile.mkdtemp(prefix="aires-crash-test-"))
    print(f"seed {seed}, work directory {work}", flush=True)
    stack = Stack(args, work)
    results = []
    try:
        for n in range(args.rounds):
            fault = FAULTS[n % len(FAULTS)]
            result = run_round(stack, n, fault, rng)
            results.append(result)
            s = result["summary"]
            print(f"round {n:3d} {fault:20s} {result['mode']:6s} "
                  + (f"sent {s['events_sent']} dropped {s['dropped']} unknown {s.get('outcome_unknown', 0)}"
                     if s else "producer killed"), flush=True)
        counts = settled_counts(stack)
    finally:
        stack.close()
    violations = []
    for result in results:
        row = counts.get(result["service"], {"n": 0, "distinct_events": 0, "view_total": 0})
        stored, distinct = int(row["n"]), int(row["distinct_events"])
        where = f"round {result['round']} ({result['fault']}, {result['mode']})"
        if stored != distinct:
            violations.append(f"{where}: {stored - distinct} events stored twice")
        if int(row["view_total"]) != stored:
            violations.append(f"{where}: the view counts {row['view_total']}, the table {stored}")
        s = result["summary"]
        if s:
            if distinct < s["events_sent"]:
                violations.append(f"{where}: {s['events_sent'] - distinct} events reported sent are missing")
            if distinct > s["events_sent"] + s.get('outcome_unknown', 0):
                violations.append(f"{where}: {distinct - s['events_sent'] - s.get('outcome_unknown', 0)} "
                                  "events stored beyond sent + outcome unknown")
            if s["events_sent"] + s["dropped"] + s.get('outcome_unknown', 0) != s["events"]:
                violations.append(f"{where}: the SDK's counts do not add up: {s}")
    report = {
        "seed": seed, "rounds": len(results), "events_per_round": args.events,
        "wal": not args.no_wal, "ack": args.ack, "violations": violations,
        "faults": {f: sum(1 for r in results if r["fault"] == f) for f in FAULTS},
        "stored": sum(int(r["n"]) for r in counts.values()),
    }
    print(json.dumps(report, indent=2))
    if not args.keep and not violations:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
