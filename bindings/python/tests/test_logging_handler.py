"""aires.LoggingHandler maps real logging records."""

from __future__ import annotations

import logging
import sys

import pytest

import aires


@pytest.fixture
def logger(events):
    log = logging.getLogger("shop.orders")
    log.setLevel(1)
    handler = aires.LoggingHandler()
    log.addHandler(handler)
    log.propagate = False
    yield log
    log.removeHandler(handler)


def test_record_fields_levels_and_call_site(logger, events):
    line = sys._getframe().f_lineno + 1
    logger.info("order %s placed", 42, extra={"order_id": 42, "amount": 9.99, "vip": True})
    logger.debug("debugging")
    logger.warning("careful")
    logger.error("failed")
    logger.critical("down")
    logger.log(5, "very verbose")
    got = events(6)
    first = got[0]
    assert first["message"] == "order 42 placed"
    assert first["level"] == "info"
    assert first["attributes"] == {"logger": "shop.orders", "order_id": 42, "amount": 9.99, "vip": True}
    assert first["attribute_types"]["order_id"] == "int"
    assert first["call_site"] == {
        "file": __file__,
        "line": line,
        "module": "test_logging_handler",
        "function": "test_record_fields_levels_and_call_site",
    }
    assert [e["level"] for e in got[1:]] == ["debug", "warn", "error", "fatal", "trace"]


def test_exc_info_becomes_the_error(logger, events):
    try:
        raise ConnectionError("db unreachable")
    except ConnectionError:
        logger.exception("query failed", extra={"table": "orders"})
    [event] = events(1)
    assert event["level"] == "error"
    assert event["error"]["type"] == "ConnectionError"
    assert event["error"]["message"] == "db unreachable"
    assert "raise ConnectionError" in event["error"]["backtrace"]
    assert event["attributes"]["table"] == "orders"


def test_reserved_extra_names_and_context(logger, events):
    with aires.context(session_id="s-9"):
        logger.info("with ids", extra={"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "tags": ["a"]})
    [event] = events(1)
    assert event["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert event["tags"] == ["a"]
    assert event["session_id"] == "s-9"


def test_aires_level_still_applies(start):
    events = start(level="error")
    log = logging.getLogger("shop.level")
    log.setLevel(logging.DEBUG)
    handler = aires.LoggingHandler()
    log.addHandler(handler)
    log.propagate = False
    try:
        log.info("dropped by aires")
        log.error("kept")
    finally:
        log.removeHandler(handler)
    assert [e["message"] for e in events(1)] == ["kept"]
