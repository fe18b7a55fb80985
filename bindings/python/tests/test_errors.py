"""Exceptions: type, message, the cause/context chain and the traceback."""

from __future__ import annotations

import aires


class PaymentError(Exception):
    pass


def _charge() -> None:
    raise TimeoutError("gateway timed out")


def _pay() -> None:
    try:
        _charge()
    except TimeoutError as e:
        raise PaymentError("payment failed") from e


def test_exception_with_explicit_cause(events):
    try:
        _pay()
    except PaymentError as err:
        aires.error("checkout failed", exc=err, order_id=7)
    [event] = events(1)
    error = event["error"]
    assert error["type"] == f"{__name__}.PaymentError"
    assert error["message"] == "payment failed"
    assert error["chain"] == ["TimeoutError: gateway timed out"]
    assert "Traceback (most recent call last)" in error["backtrace"]
    assert "in _charge" in error["backtrace"] and "in _pay" in error["backtrace"]
    assert "The above exception was the direct cause" in error["backtrace"]
    assert event["attributes"] == {"order_id": 7}


def test_implicit_context_and_suppressed_context(events):
    try:
        try:
            {}["missing"]
        except KeyError:
            raise ValueError("while handling")
    except ValueError as err:
        aires.error("implicit", exc=err)
    try:
        try:
            {}["missing"]
        except KeyError:
            raise ValueError("suppressed") from None
    except ValueError as err:
        aires.error("suppressed", exc=err)
    implicit, suppressed = events(2)
    assert implicit["error"]["chain"] == ["KeyError: 'missing'"]
    assert "During handling of the above exception" in implicit["error"]["backtrace"]
    assert suppressed["error"]["chain"] == []


def test_exc_true_records_the_exception_being_handled(events):
    try:
        1 / 0
    except ZeroDivisionError:
        aires.error("division", exc=True)
    aires.error("no exception", exc=True)
    first, second = events(2)
    assert first["error"]["type"] == "ZeroDivisionError"
    assert first["error"]["message"] == "division by zero"
    assert second["error"] is None


def test_self_referencing_chain_terminates(events):
    err = ValueError("loop")
    other = KeyError("other")
    err.__context__ = other
    other.__context__ = err
    aires.error("loop", exc=err)
    [event] = events(1)
    assert 1 <= len(event["error"]["chain"]) <= 32
