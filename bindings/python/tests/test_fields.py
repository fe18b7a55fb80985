"""Fields arrive with their types and values intact."""

from __future__ import annotations

import math
import sys

import aires


class Opaque:
    def __str__(self) -> str:
        return "opaque!"


def test_every_supported_type_keeps_its_type(events):
    aires.info(
        "order placed",
        order_id=123,
        amount=9.99,
        currency="EUR",
        paid=True,
        negative=-(2**63),
        unsigned=2**64 - 1,
    )
    [event] = events(1)
    assert event["message"] == "order placed"
    assert event["level"] == "info"
    assert event["service"] == "py-tests"
    assert event["sdk_name"] == "aires-python"
    assert event["sdk_version"] == aires.__version__
    assert event["attributes"] == {
        "order_id": 123,
        "amount": 9.99,
        "currency": "EUR",
        "paid": True,
        "negative": -(2**63),
        "unsigned": 2**64 - 1,
    }
    assert event["attribute_types"] == {
        "order_id": "int",
        "amount": "float",
        "currency": "str",
        "paid": "bool",
        "negative": "int",
        "unsigned": "uint",
    }
    assert len(event["id"]) == 32


def test_unicode_and_empty_strings(events):
    aires.info("héllo 🌍 ünïcode", city="Zürich", emoji="🚀", empty="", 键="值")
    aires.info("")
    first, second = events(2)
    assert first["message"] == "héllo 🌍 ünïcode"
    assert first["attributes"] == {"city": "Zürich", "emoji": "🚀", "empty": "", "键": "值"}
    assert second["message"] == ""


def test_lone_surrogates_are_replaced_not_fatal(events):
    aires.info("bad \udc80 text", field="x\ud800y")
    [event] = events(1)
    assert event["message"].startswith("bad ") and event["message"].endswith(" text")
    assert event["attributes"]["field"][0] == "x"


def test_big_ints_become_text_and_are_counted(events):
    before = aires.metrics()["values_coerced"]
    aires.info("big", huge=2**70, very_negative=-(2**63) - 1)
    [event] = events(1)
    assert event["attributes"] == {"huge": str(2**70), "very_negative": str(-(2**63) - 1)}
    assert event["attribute_types"] == {"huge": "str", "very_negative": "str"}
    assert aires.metrics()["values_coerced"] == before + 2


def test_special_floats_stay_floats(events):
    aires.info("floats", nan=float("nan"), inf=math.inf, ninf=-math.inf, tiny=5e-324, big=sys.float_info.max)
    [event] = events(1)
    attrs = event["attributes"]
    assert math.isnan(attrs["nan"])
    assert attrs["inf"] == math.inf and attrs["ninf"] == -math.inf
    assert attrs["tiny"] == 5e-324 and attrs["big"] == sys.float_info.max
    assert set(event["attribute_types"].values()) == {"float"}


def test_other_types_become_their_str_and_are_counted(events):
    before = aires.metrics()["values_coerced"]
    aires.info("others", obj=Opaque(), nothing=None, items=[1, 2], raw=b"\x00")
    [event] = events(1)
    # Lists, bytes and None follow the value rules (test_values.py); only
    # the object without one is its str(), counted.
    assert event["attributes"] == {"obj": "opaque!", "items": "[1,2]", "raw": "AA=="}
    assert aires.metrics()["values_coerced"] == before + 1


def test_subclasses_keep_the_base_type(events):
    import enum

    class Color(enum.IntEnum):
        RED = 1

    class Name(str):
        pass

    aires.info("subclasses", color=Color.RED, name=Name("ada"))
    [event] = events(1)
    assert event["attributes"] == {"color": 1, "name": "ada"}
    assert event["attribute_types"] == {"color": "int", "name": "str"}


def test_message_that_is_not_a_str_is_its_str(events):
    aires.info(42)
    aires.info(Opaque())
    first, second = events(2)
    assert first["message"] == "42"
    assert second["message"] == "opaque!"


def test_http_tags_and_session(events):
    aires.error(
        "payment failed",
        http={"method": "POST", "route": "/pay", "path": "/pay/7", "status": 502,
              "duration_ms": 31.5, "user_agent": "curl/8", "client_ip": "10.0.0.1",
              "request_bytes": 12, "response_bytes": 34, "host": "shop", "scheme": "https"},
        tags=["payments", "retry"],
        session_id="sess-1",
    )
    [event] = events(1)
    assert event["http"] == {
        "method": "POST", "route": "/pay", "path": "/pay/7", "status": 502,
        "duration_nanos": 31_500_000, "user_agent": "curl/8", "client_ip": "10.0.0.1",
        "request_bytes": 12, "response_bytes": 34, "host": "shop", "scheme": "https",
    }
    assert event["tags"] == ["payments", "retry"]
    assert event["session_id"] == "sess-1"
    assert event["attributes"] == {}


def test_explicit_trace_and_span_ids(events):
    aires.info("traced", trace_id="4bf92f3577b34da6a3ce929d0e0e4736", span_id=0x00F067AA0BA902B7)
    [event] = events(1)
    assert event["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert event["span_id"] == "00f067aa0ba902b7"


def test_bad_ids_become_plain_fields_and_are_counted(events):
    before = aires.metrics()["values_coerced"]
    aires.info("bad ids", trace_id="not-hex", span_id=0)
    [event] = events(1)
    assert event["trace_id"] is None and event["span_id"] is None
    assert event["attributes"] == {"trace_id": "not-hex", "span_id": 0}
    assert aires.metrics()["values_coerced"] == before + 2


def test_the_message_is_the_one_positional_argument(events):
    import pytest

    with pytest.raises(TypeError, match="takes the message as its one positional argument"):
        aires.info("a", "b")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"\(0 given\)"):
        aires.info()  # type: ignore[call-arg]
    aires.info("still works", **{"dotted.key": 1, "with space": "ok"})
    [event] = events(1)
    assert event["attributes"] == {"dotted.key": 1, "with space": "ok"}


def test_context_fields_come_first_and_order_is_kept(events):
    with aires.context(a=1, b=2):
        aires.info("ordered", z=1, y=2, x=3)
    [event] = events(1)
    assert list(event["attributes"]) == ["a", "b", "z", "y", "x"]
