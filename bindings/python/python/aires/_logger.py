"""``aires.get_logger(**bindings)``: a logger that adds bound fields to
every event, as structlog's ``bind`` does."""

from __future__ import annotations

from typing import Any

from aires import _native


class BoundLogger:
    """The six levels (and ``warning`` / ``critical`` / ``exception``) with
    fields bound to every event. ``bind`` returns a new logger with more
    fields; ``unbind`` one with fewer; ``new`` one with only those given.
    Fields given in the call win over bound ones, which win over
    ``aires.context`` fields, as everywhere in Aires."""

    __slots__ = ("_bindings",)

    def __init__(self, bindings: dict[str, Any]) -> None:
        self._bindings = bindings

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
        _native.trace(message, **{**self._bindings, **fields})

    def debug(self, message: str, /, **fields: Any) -> None:
        _native.debug(message, **{**self._bindings, **fields})

    def info(self, message: str, /, **fields: Any) -> None:
        _native.info(message, **{**self._bindings, **fields})

    def warn(self, message: str, /, **fields: Any) -> None:
        _native.warn(message, **{**self._bindings, **fields})

    warning = warn

    def error(self, message: str, /, **fields: Any) -> None:
        _native.error(message, **{**self._bindings, **fields})

    def exception(self, message: str, /, **fields: Any) -> None:
        """``error`` with the exception being handled, as ``logging.exception``."""
        fields.setdefault("exc_info", True)
        _native.error(message, **{**self._bindings, **fields})

    def fatal(self, message: str, /, **fields: Any) -> None:
        _native.fatal(message, **{**self._bindings, **fields})

    critical = fatal

    def __repr__(self) -> str:
        return f"<aires.BoundLogger {self._bindings!r}>"


def get_logger(**bindings: Any) -> BoundLogger:
    """A logger adding ``bindings`` to every event: ``aires.get_logger(component="db").bind(request_id=r)``."""
    return BoundLogger(dict(bindings))
