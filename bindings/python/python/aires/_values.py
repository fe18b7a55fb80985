"""The value rules for what is not a str, int, float or bool (see the
README's "How values are stored"; the Node SDK follows the same rules):

- a mapping is flattened to dotted keys, ``{"user": {"id": 7}}`` giving
  ``user.id = 7`` (8 levels deep, then JSON text; a cycle as ``[Circular]``);
- a list, tuple or set is its JSON text, ``[1,"two"]``;
- a datetime is ISO-8601 text: an aware one in UTC with ``Z`` and
  milliseconds (microseconds when it has them), a naive one as it is;
  dates and times by ``isoformat()``;
- bytes are base64 text;
- ``None`` is not stored;
- anything else is its ``str()`` (counted in ``values_coerced``).

The native module calls :func:`convert` only for values of those other types.
"""

from __future__ import annotations

import base64
import datetime
import json
import math
from collections.abc import Mapping
from typing import Any, Union

MAX_DEPTH = 8

#: What :func:`convert` answers: the text, or the flattened items (dotted
#: suffix, str/int/float/bool), and whether the value was only ``str()``-ed.
Converted = tuple[Union[str, list[tuple[str, Any]]], bool]

_PRIMITIVES = (str, int, float, bool)


def iso(value: Union[datetime.datetime, datetime.date, datetime.time]) -> str:
    """ISO-8601 text; an aware datetime in UTC with ``Z``, as JavaScript's
    ``toISOString`` writes it (plus microseconds when it has them)."""
    if isinstance(value, datetime.datetime) and value.utcoffset() is not None:
        utc = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        text = utc.isoformat(timespec="milliseconds" if utc.microsecond % 1000 == 0 else "microseconds")
        return text + "Z"
    return value.isoformat()


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return iso(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


def _jsonable(value: Any, depth: int = 0) -> Any:
    """What JSON can hold, as ``JSON.stringify`` in the Node SDK writes it:
    NaN and infinities as null, integers beyond 64 bits as their text,
    datetimes, bytes and other objects by the rules above."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if -(1 << 63) <= value < (1 << 64) else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if depth >= 32:
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v, depth + 1) for v in value]
    return _json_default(value)


def json_text(value: Any) -> str:
    """Compact JSON, as ``JSON.stringify`` writes it."""
    try:
        return json.dumps(_jsonable(value), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (ValueError, TypeError, RecursionError):
        return json.dumps(str(value), ensure_ascii=False)


def _flatten(prefix: str, mapping: Mapping[Any, Any], depth: int, seen: set[int], out: list[tuple[str, Any]]) -> None:
    seen.add(id(mapping))
    for key, value in mapping.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if value is None:
            continue
        if isinstance(value, _PRIMITIVES):
            out.append((path, value))
        elif isinstance(value, Mapping):
            if id(value) in seen:
                out.append((path, "[Circular]"))
            elif depth + 1 >= MAX_DEPTH:
                out.append((path, json_text(value)))
            else:
                _flatten(path, value, depth + 1, seen, out)
        else:
            out.append((path, convert(value)[0]))
    seen.discard(id(mapping))


def convert(value: Any) -> Converted:
    """A value that is not a str, int, float, bool or None, by the rules above."""
    if isinstance(value, Mapping):
        out: list[tuple[str, Any]] = []
        _flatten("", value, 0, set(), out)
        return out, False
    if isinstance(value, (list, tuple, set, frozenset)):
        return json_text(list(value) if isinstance(value, (set, frozenset)) else value), False
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return iso(value), False
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii"), False
    return str(value), True
