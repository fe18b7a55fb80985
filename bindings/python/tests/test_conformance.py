"""The cross-language conformance cases (conformance/cases.json) through
the Python SDK: each case is a logging call made as a Python user makes it,
and its canonical row (aires_core::sdk::rows, the same code in every SDK)
must be the case's."""

from __future__ import annotations

import base64
import datetime
import json
import pathlib
from typing import Any

import pytest

import aires
from aires import _native

CASES = json.loads((pathlib.Path(__file__).parents[3] / "conformance" / "cases.json").read_text())["cases"]


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return value["$repeat"] * value["times"] + value.get("then", "")


def _value(value: Any) -> Any:
    """A tagged JSON value as the Python value a user would pass."""
    if isinstance(value, dict):
        if "$bigint" in value:
            return int(value["$bigint"])
        if "$float" in value:
            return float(value["$float"])
        if "$datetime" in value:
            return datetime.datetime.fromisoformat(value["$datetime"].replace("Z", "+00:00"))
        if "$bytes" in value:
            return base64.b64decode(value["$bytes"])
        if "$repeat" in value:
            return _text(value)
        if "$utf16" in value:
            return "".join(chr(unit) for unit in value["$utf16"])
        return {k: _value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_value(v) for v in value]
    return value


def _expand(expected: Any) -> Any:
    if isinstance(expected, dict):
        if "$repeat" in expected:
            return _text(expected)
        return {k: _expand(v) for k, v in expected.items()}
    if isinstance(expected, list):
        return [_expand(v) for v in expected]
    return expected


def _call(case: dict[str, Any]) -> None:
    log_fn_name = case.get("level", "info")
    fields = {k: _value(v) for k, v in case.get("fields", {}).items()}
    fields.update(case.get("ids", {}))
    if "error" in case:
        error_class = getattr(__import__("builtins"), case["error"]["type"])
        try:
            raise error_class(case["error"]["message"])
        except Exception as exc:  # noqa: BLE001 - any class the case names
            fields["exc_info"] = exc
    target: Any = aires
    if "bindings" in case:
        target = aires.get_logger(**{k: _value(v) for k, v in case["bindings"].items()})
    log = getattr(target, log_fn_name)
    message = _text(case["message"])
    if "context" in case:
        with aires.context(**{k: _value(v) for k, v in case["context"].items()}):
            log(message, **fields)
    else:
        log(message, **fields)


@pytest.mark.parametrize("case", [c for c in CASES if "python" not in c.get("not", {})], ids=lambda c: c["name"])
def test_conformance(case, start):
    events = start()
    _call(case)
    events(1)
    [row] = json.loads(_native._memory_rows())
    for key, want in _expand(case["row"]).items():
        assert row[key] == want, key
