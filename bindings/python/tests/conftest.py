"""Fixtures: Aires initialised over the core's in-memory transport.

Each test gets a fresh global pipeline (init, then shutdown afterwards) and
reads back what the transport received, decoded by the native module.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

import aires
from aires._testing import memory_events
from aires import _native

Events = Callable[..., list[dict[str, Any]]]


@pytest.fixture
def start() -> Iterator[Callable[..., Events]]:
    """Starts Aires with the memory transport and given options; returns a
    function that waits for (at least) `count` events and returns them."""

    def _start(**options: Any) -> Events:
        options.setdefault("service", "py-tests")
        options.setdefault("level", "trace")
        options.setdefault("batch_timeout", 0.02)
        options.setdefault("env_overrides", False)
        aires.init(transport="memory", **options)

        def events(count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
            assert aires.flush(timeout), "flush timed out"
            return memory_events(count, timeout)

        return events

    yield _start
    aires.shutdown(5.0)


@pytest.fixture
def events(start: Callable[..., Events]) -> Events:
    """Aires started with the defaults of `start`."""
    return start()
