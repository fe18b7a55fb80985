"""``aires.StructlogProcessor``: structlog pipelines shipping to Aires."""

from __future__ import annotations

from typing import Any, MutableMapping

from aires import _native

_LEVELS = {
    "trace": _native.trace,
    "debug": _native.debug,
    "info": _native.info,
    "msg": _native.info,
    "warn": _native.warn,
    "warning": _native.warn,
    "error": _native.error,
    "exception": _native.error,
    "err": _native.error,
    "fatal": _native.fatal,
    "critical": _native.fatal,
}

#: Keys structlog's own processors add that the event already has a column for.
_DROPPED = frozenset({"event", "level", "timestamp"})


class StructlogProcessor:
    """The last processor of a structlog chain: records the event in Aires.

        structlog.configure(processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            aires.StructlogProcessor(),
        ])

    ``event`` is the message, the method name (or ``level`` when
    ``add_log_level`` ran) the level, ``exc_info`` / ``stack_info`` as in
    ``aires.info``, and every other key a field (``timestamp`` is dropped:
    the event has its own). By default the event then stops there
    (``structlog.DropEvent``); ``drop=False`` passes it on unchanged to a
    renderer after this one.
    """

    def __init__(self, *, drop: bool = True) -> None:
        import os

        import structlog

        import aires

        self._drop = drop
        # The call site is the application's call to structlog, not a frame
        # of structlog's or of this processor.
        aires._add_internal_path(os.path.dirname(os.path.abspath(structlog.__file__)) + os.sep)

    def __call__(self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
        level = event_dict.get("level", method_name)
        log = _LEVELS.get(str(level).lower(), _native.info)
        fields = {k: v for k, v in event_dict.items() if k not in _DROPPED}
        if method_name == "exception":
            fields.setdefault("exc_info", True)
        log(str(event_dict.get("event", "")), **{str(k): v for k, v in fields.items()})
        if self._drop:
            import structlog

            raise structlog.DropEvent
        return event_dict
