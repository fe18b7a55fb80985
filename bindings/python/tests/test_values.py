"""The value rules shared with the Node SDK (README, "How values are
stored"), the stdlib's exc_info / stack_info / extra, tags, and key
precedence (the call wins over bindings and context)."""

from __future__ import annotations

import datetime
import sys

import aires


def test_nested_mappings_flatten_to_dotted_keys_and_lists_are_json(events):
    cyclic: dict = {"name": "loop"}
    cyclic["self"] = cyclic
    aires.info(
        "nested",
        user={"id": 7, "address": {"city": "Zürich"}, "none": None, "roles": ["a", "b"]},
        items=(1, "two", 3.5),
        cyclic=cyclic,
    )
    [event] = events(1)
    assert event["attributes"] == {
        "user.id": 7,
        "user.address.city": "Zürich",
        "user.roles": '["a","b"]',
        "items": '[1,"two",3.5]',
        "cyclic.name": "loop",
        "cyclic.self": "[Circular]",
    }
    assert event["attribute_types"]["user.id"] == "int"


def test_datetimes_are_iso_8601_and_bytes_base64(events):
    utc = datetime.timezone.utc
    aires.info(
        "times",
        aware=datetime.datetime(2024, 2, 29, 23, 59, 59, 123000, tzinfo=utc),
        micro=datetime.datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=utc),
        offset=datetime.datetime(2024, 3, 1, 1, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=1))),
        naive=datetime.datetime(2024, 2, 29, 12, 0),
        day=datetime.date(2024, 2, 29),
        raw=b"\x00\xffaires",
    )
    [event] = events(1)
    assert event["attributes"] == {
        "aware": "2024-02-29T23:59:59.123Z",
        "micro": "2024-02-29T23:59:59.123456Z",
        "offset": "2024-03-01T00:00:00.000Z",
        "naive": "2024-02-29T12:00:00",
        "day": "2024-02-29",
        "raw": "AP9haXJlcw==",
    }


def test_tags_that_are_not_strings_stay_a_counted_field(events):
    before = aires.metrics()["values_coerced"]
    aires.info("tags", tags=7)
    aires.info("tags", tags=["a", "b"])
    aires.info("tags", tags="one")
    bad, good, one = events(3)
    assert bad["attributes"] == {"tags": 7} and bad["tags"] == []
    assert good["tags"] == ["a", "b"] and one["tags"] == ["one"]
    assert aires.metrics()["values_coerced"] == before + 1


def test_the_call_wins_over_bound_fields_and_context(events):
    log = aires.get_logger(shared="bound", component="db").bind(request_id="r-1")
    with aires.context(shared="context", only_context=1):
        aires.info("call", shared="call")
        log.info("bound")
        log.info("bound and call", shared="call")
    call, bound, both = events(3)
    assert call["attributes"] == {"only_context": 1, "shared": "call"}
    assert bound["attributes"] == {"only_context": 1, "shared": "bound", "component": "db", "request_id": "r-1"}
    assert both["attributes"]["shared"] == "call"
    assert log.bindings == {"shared": "bound", "component": "db", "request_id": "r-1"}
    assert log.unbind("shared").bindings == {"component": "db", "request_id": "r-1"}


def test_exc_info_stack_info_and_extra_mean_what_they_do_in_logging(events):
    try:
        raise ValueError("bad card")
    except ValueError:
        aires.error("with exc_info", exc_info=True)
        aires.error("with a triple", exc_info=sys.exc_info())
        aires.get_logger().exception("from exception()")
    aires.info("stack", stack_info=True)
    aires.info("extra", extra={"order_id": 9, "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"})
    aires.info("no exception", exc_info=False)
    flagged, triple, method, stack, extra, nothing = events(6)
    for event in (flagged, triple, method):
        assert event["error"]["type"] == "ValueError"
        assert event["error"]["message"] == "bad card"
        assert "raise ValueError" in event["error"]["backtrace"]
        assert "exc_info" not in event["attributes"]
    assert stack["attributes"]["stack_info"].startswith("Stack (most recent call last):")
    assert "test_exc_info_stack_info_and_extra" in stack["attributes"]["stack_info"]
    assert extra["attributes"] == {"order_id": 9}
    assert extra["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert nothing["error"] is None and nothing["attributes"] == {}


def test_bound_loggers_and_structlog_record_the_applications_call_site(events):
    import structlog

    log = aires.get_logger(component="db")
    log.info("bound")  # the call site is this line
    line_bound = sys._getframe().f_lineno - 1
    structlog.configure(processors=[aires.StructlogProcessor()], cache_logger_on_first_use=False)
    try:
        structlog.get_logger().info("via structlog")
        line_structlog = sys._getframe().f_lineno - 1
    finally:
        structlog.reset_defaults()
    bound, via = events(2)
    for event, line in ((bound, line_bound), (via, line_structlog)):
        assert event["call_site"]["file"] == __file__, event["call_site"]
        assert event["call_site"]["line"] == line
        assert event["call_site"]["function"] == "test_bound_loggers_and_structlog_record_the_applications_call_site"


def test_a_stack_given_as_text_is_kept_and_any_true_exc_info_means_the_current_exception(events):
    import logging
    import types

    handler = aires.LoggingHandler()
    logger = logging.getLogger("stack-test")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("from logging", stack_info=True)
        try:
            raise KeyError("k")
        except KeyError:
            aires.error("truthy", exc_info=1)
        aires.info("mapping extra", extra=types.MappingProxyType({"m": 1}))
    finally:
        logger.removeHandler(handler)
    record, truthy, mapping = events(3)
    stack = record["attributes"]["stack_info"]
    assert stack.startswith("Stack (most recent call last):")
    assert "test_a_stack_given_as_text" in stack and "aires/_logging.py" not in stack
    assert truthy["error"]["type"] == "KeyError"
    assert mapping["attributes"] == {"m": 1}


def test_a_lone_surrogate_is_one_replacement_character(events):
    aires.info("s", text="a\udc80b")
    [event] = events(1)
    assert event["attributes"]["text"] == "a\ufffdb"
