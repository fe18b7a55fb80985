"""A bare loop of Aires calls, for profilers (perf, py-spy, callgrind).

    python bench/loop.py MODE [N]

MODE: `full` (message and five fields), `nofields`, `filtered` (below the
level), `dict` (building the same keywords as a dict, for scale), `empty`
(the loop alone: subtract it). Runs the loop twice (the first warms up)
and prints the second's time per call.
"""

from __future__ import annotations

import sys
import time

import aires

mode = sys.argv[1]
N = int(sys.argv[2]) if len(sys.argv) > 2 else 300_000
aires.init(service="loop", transport="null", env_overrides=False, queue_capacity=65_536,
           batch_size=1024, level="error" if mode == "filtered" else "info")
info = aires.info


def full() -> None:
    for i in range(N):
        info("order placed", order_id=i, amount=9.99, currency="EUR", paid=True, user="ada")


def nofields() -> None:
    for _ in range(N):
        info("order placed")


def as_dict() -> None:
    for i in range(N):
        dict(order_id=i, amount=9.99, currency="EUR", paid=True, user="ada")


def empty() -> None:
    for _ in range(N):
        pass


loop = {"full": full, "filtered": full, "nofields": nofields, "dict": as_dict, "empty": empty}[mode]
loop()
start = time.perf_counter()
loop()
elapsed = time.perf_counter() - start
print(f"{mode}: {elapsed / N * 1e9:.0f} ns per call")
aires.flush(30)
