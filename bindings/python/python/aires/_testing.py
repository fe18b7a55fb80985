"""Reading back what the memory transport (``init(transport="memory")``)
received, for tests: the records every SDK shares (``aires_core::sdk``),
with their values turned into Python's."""

from __future__ import annotations

import json
from typing import Any

from aires import _native


def _value(kind: str, text: str) -> Any:
    if kind in ("int", "uint"):
        return int(text)
    if kind == "float":
        return float(text)
    if kind == "bool":
        return text == "true"
    return text


def memory_events(count: int = 0, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Every event received so far, after waiting up to ``timeout`` seconds
    for at least ``count``: dicts with ``attributes`` (typed values),
    ``attribute_types``, ``level``, ``message``, ids (``None`` when unset),
    ``tags``, ``http``, ``error``, ``call_site``, ``service``,
    ``environment``, ``sdk_name``, ``sdk_version``, ``id`` and
    ``timestamp_unix_nano``."""
    events = []
    for record in json.loads(_native._memory_records(count, timeout)):
        pairs = record.pop("attributes")
        record["attributes"] = {k: _value(kind, text) for k, (kind, text) in pairs.items()}
        record["attribute_types"] = {k: kind for k, (kind, _) in pairs.items()}
        for key in ("id", "trace_id", "span_id"):
            record[key] = record[key] or None
        record["timestamp_unix_nano"] = int(record["timestamp_unix_nano"])
        http = record["http"]
        if http is not None:
            for key in ("duration_nanos", "request_bytes", "response_bytes"):
                http[key] = int(http[key])
        events.append(record)
    return events
