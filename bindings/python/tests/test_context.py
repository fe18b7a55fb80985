"""aires.context: carried by contextvars across threads and asyncio tasks."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

import aires

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


def test_context_adds_ids_session_and_fields(events):
    with aires.context(trace_id=TRACE, span_id=SPAN, session_id="s-1", tenant="acme") as ctx:
        assert ctx.trace_id == TRACE and aires.current_context() is ctx
        aires.warn("slow query", table="orders", ms=812)
    aires.info("outside")
    inside, outside = events(2)
    assert inside["trace_id"] == TRACE and inside["span_id"] == SPAN
    assert inside["session_id"] == "s-1"
    assert inside["attributes"] == {"tenant": "acme", "table": "orders", "ms": 812}
    assert outside["trace_id"] is None and outside["session_id"] == ""
    assert outside["attributes"] == {}
    assert aires.current_context() is None


def test_nested_contexts_inherit_and_override(events):
    with aires.context(trace_id=TRACE, tenant="acme", region="eu"):
        with aires.context(span_id=SPAN, region="us"):
            aires.info("inner")
        aires.info("outer")
    inner, outer = events(2)
    assert inner["trace_id"] == TRACE and inner["span_id"] == SPAN
    assert inner["attributes"] == {"tenant": "acme", "region": "us"}
    assert outer["span_id"] is None
    assert outer["attributes"] == {"tenant": "acme", "region": "eu"}


def test_call_fields_override_context_ids(events):
    with aires.context(trace_id=TRACE):
        aires.info("own trace", trace_id="0af7651916cd43dd8448eb211c80319c")
    [event] = events(1)
    assert event["trace_id"] == "0af7651916cd43dd8448eb211c80319c"


def test_bad_context_ids_raise_clear_errors(events):
    with pytest.raises(ValueError, match="trace id must be 32 hex digits"):
        with aires.context(trace_id="xyz"):
            pass
    with pytest.raises(ValueError, match="span_id must not be zero"):
        with aires.context(span_id=0):
            pass


def test_threads_get_the_context_they_are_started_with(events):
    results = []

    def work(name: str) -> None:
        aires.info("in thread", worker=name)

    with aires.context(session_id="copied"):
        ctx = contextvars.copy_context()
    threads = [threading.Thread(target=ctx.copy().run, args=(work, f"w{i}")) for i in range(4)]
    plain = threading.Thread(target=work, args=("plain",))
    for t in threads + [plain]:
        t.start()
    for t in threads + [plain]:
        t.join()
    for event in events(5):
        results.append((event["attributes"]["worker"], event["session_id"]))
    assert sorted(results) == [("plain", ""), ("w0", "copied"), ("w1", "copied"),
                               ("w2", "copied"), ("w3", "copied")]


def test_asyncio_tasks_keep_their_own_context(events):
    async def request(n: int) -> None:
        with aires.context(session_id=f"req-{n}"):
            await asyncio.sleep(0)
            aires.info("step 1", n=n)
            await asyncio.sleep(0.001 * (3 - n))
            aires.info("step 2", n=n)
            await asyncio.to_thread(aires.info, "in a worker thread", n=n)

    async def main() -> None:
        await asyncio.gather(*(request(n) for n in range(3)))

    asyncio.run(main())
    got = events(9)
    assert len(got) == 9
    for event in got:
        assert event["session_id"] == f"req-{event['attributes']['n']}"
