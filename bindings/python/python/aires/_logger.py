"""``aires.get_logger(**bindings)``: a logger that adds bound fields to
every event, as structlog's ``bind`` does."""

from __future__ import annotations

from typing import Any

from aires import _native


class BoundLogger:
    """The six levels (and ``warning`` / ``critical`` / ``exception``) with
    fields bound to every event. ``bind`` returns a new logger with more
    fields; ``unbind`` one with fewer; ``new`` one with only those given.
    Fields given in the call win over bound ones, key by key after nested
    values are flattened, and bound ones over ``aires.context`` fields, as
    everywhere in Aires. Bound ``trace_id``, ``span_id``, ``session_id``
    and ``tags`` fill their columns; a bad id raises ``ValueError``."""

    __slots__ = ("_bindings", "_context")

    def __init__(self, bindings: dict[str, Any]) -> None:
        self._bindings = bindings
        # Converted once: each call hands them to the core ahead of its own
        # fields, which win key by key (after flattening, so a call's
        # `user={"id": 2}` keeps a bound `user.name`).
        fields = dict(bindings)
        ids = {name: fields.pop(name, None) for name in ("trace_id", "span_id", "session_id")}
        self._context = _native.Context(None, ids["trace_id"], ids["span_id"], ids["session_id"], fields or None)

    def bind(self, **fields: Any) -> "BoundLogger":
        return BoundLogger({**self._bindings, **fields})

    def unbind(self, *keys: str) -> "BoundLogger":
        return BoundLogger({k: v for k, v in self._bindings.items() if k not in keys})

    def new(self, **fields: Any) -> "BoundLogger":
        return BoundLogger(dict(fields))

    @property
    def bindings(self) -> dict[str, Any]:
        """A copy of the bound fields."""
        return dict(self._bindings)

    def trace(self, message: str, /, **fields: Any) -> None:
        _native.trace(message, _aires_bindings=self._context, **fields)

    def debug(self, message: str, /, **fields: Any) -> None:
        _native.debug(message, _aires_bindings=self._context, **fields)

    def info(self, message: str, /, **fields: Any) -> None:
        _native.info(message, _aires_bindings=self._context, **fields)

    def warn(self, message: str, /, **fields: Any) -> None:
        _native.warn(message, _aires_bindings=self._context, **fields)

    warning = warn

    def error(self, message: str, /, **fields: Any) -> None:
        _native.error(message, _aires_bindings=self._context, **fields)

    def exception(self, message: str, /, **fields: Any) -> None:
        """``error`` with the exception being handled, as ``logging.exception``."""
        fields.setdefault("exc_info", True)
        _native.error(message, _aires_bindings=self._context, **fields)

    def fatal(self, message: str, /, **fields: Any) -> None:
        _native.fatal(message, _aires_bindings=self._context, **fields)

    critical = fatal

    def __repr__(self) -> str:
        return f"<aires.BoundLogger {self._bindings!r}>"


def get_logger(**bindings: Any) -> BoundLogger:
    """A logger adding ``bindings`` to every event: ``aires.get_logger(component="db").bind(request_id=r)``."""
    return BoundLogger(dict(bindings))
