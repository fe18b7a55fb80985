"""``aires.LoggingHandler``: the standard library's ``logging`` through Aires."""

from __future__ import annotations

import logging
from typing import Any, Optional

from aires import _native

# Attributes every LogRecord has; everything else on a record came from
# ``extra={...}`` (or a custom LogRecord factory) and is sent as a field.
_RECORD_ATTRIBUTES = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
) | {"message", "asctime", "taskName"}


def _aires_level(levelno: int) -> int:
    """logging's numbers to the core's: 1 trace ... 6 fatal."""
    if levelno >= logging.CRITICAL:
        return 6
    if levelno >= logging.ERROR:
        return 5
    if levelno >= logging.WARNING:
        return 4
    if levelno >= logging.INFO:
        return 3
    if levelno >= logging.DEBUG:
        return 2
    return 1


class LoggingHandler(logging.Handler):
    """Sends ``logging`` records through Aires.

    The record's level maps to Aires' (CRITICAL to fatal, WARNING to warn,
    below DEBUG to trace), its message is ``record.getMessage()``, its call
    site the record's ``pathname``, ``lineno``, ``funcName`` and ``module``,
    ``exc_info`` becomes the event's error, ``stack_info`` the field
    ``stack_info``, and every ``extra`` field a typed
    field (the reserved names ``trace_id``, ``span_id``, ``session_id``,
    ``tags`` and ``http`` fill their parts of the event, as in
    ``aires.info``). The logger's name is sent as the field ``logger``.

        logging.getLogger().addHandler(aires.LoggingHandler())
    """

    def __init__(self, level: int = logging.NOTSET, *, logger_field: Optional[str] = "logger") -> None:
        super().__init__(level)
        self._logger_field = logger_field

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields: dict[str, Any] = {}
            if self._logger_field:
                fields[self._logger_field] = record.name
            for key, value in record.__dict__.items():
                if key not in _RECORD_ATTRIBUTES:
                    fields[key] = value
            if record.stack_info:
                fields["stack_info"] = record.stack_info
            exc = record.exc_info[1] if record.exc_info else None
            _native.emit_record(
                _aires_level(record.levelno),
                record.getMessage(),
                fields,
                record.pathname,
                record.lineno,
                record.funcName or "",
                record.module,
                exc,
            )
        except Exception:
            self.handleError(record)
