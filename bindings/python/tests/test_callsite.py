"""The call site is the caller's file, line and function."""

from __future__ import annotations

import aires


class Checkout:
    def pay(self) -> int:
        line = _line() + 1
        aires.info("from a method")
        return line


def _line() -> int:
    import sys

    return sys._getframe(1).f_lineno


def test_call_site_is_the_callers_line(events):
    line = _line() + 1
    aires.info("here")
    method_line = Checkout().pay()
    for _ in range(3):
        loop_line = _line() + 1
        aires.info("in a loop")
    got = events(5)
    site = got[0]["call_site"]
    assert site["file"] == __file__
    assert site["line"] == line
    assert site["function"] == "test_call_site_is_the_callers_line"
    assert site["module"] == "test_callsite"
    method = got[1]["call_site"]
    assert method["line"] == method_line
    assert method["function"] in ("Checkout.pay", "pay")  # qualname from 3.11 on
    assert all(e["call_site"]["line"] == loop_line for e in got[2:])


def test_same_code_different_lines_are_told_apart(events):
    def log(n: int) -> list[int]:
        lines = []
        if n:
            lines.append(_line() + 1)
            aires.info("one")
        else:
            lines.append(_line() + 1)
            aires.info("two")
        return lines

    expected = log(1) + log(0) + log(1)
    got = events(3)
    assert [e["call_site"]["line"] for e in got] == expected
