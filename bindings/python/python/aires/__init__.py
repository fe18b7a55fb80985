"""Aires for Python: structured events shipped through the Aires Rust core.

    import aires
    aires.init(service="checkout", environment="prod", endpoint="http://127.0.0.1:4317")
    aires.info("order placed", order_id=123, amount=9.99, currency="EUR")
    with aires.context(trace_id="4bf92f3577b34da6a3ce929d0e0e4736", session_id="s-1"):
        aires.warn("slow query", table="orders", ms=812)
    aires.shutdown()

The logging calls (``trace`` ... ``fatal``) are the native functions
themselves: a call below the level returns after one check, and an event is
built and queued in one call into the core, which batches and sends it on
its own threads.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import os
import sys
from typing import Any, Iterator, Mapping, Optional, Union

from aires import _native
from aires._logger import BoundLogger, get_logger
from aires._logging import LoggingHandler
from aires._signals import flush_when_terminated as _flush_when_terminated
from aires._signals import handle_signals
from aires._structlog import StructlogProcessor
from aires._native import debug, error, fatal, info, trace, warn

__all__ = [
    "init",
    "trace",
    "debug",
    "info",
    "warn",
    "warning",
    "error",
    "fatal",
    "critical",
    "context",
    "current_context",
    "flush",
    "shutdown",
    "metrics",
    "is_running",
    "level",
    "LoggingHandler",
    "get_logger",
    "BoundLogger",
    "handle_signals",
    "StructlogProcessor",
]
__version__: str = _native.__version__

#: ``logging``-style aliases.
warning = warn
critical = fatal

#: Code under these paths logs on its caller's behalf (the bound logger, the
#: structlog processor): an event's call site is the first frame outside.
_internal_paths = [os.path.dirname(os.path.abspath(__file__)) + os.sep]
_native._set_internal_paths(_internal_paths)


def _add_internal_path(path: str) -> None:
    if path not in _internal_paths:
        _internal_paths.append(path)
        _native._set_internal_paths(_internal_paths)


_current: contextvars.ContextVar[Optional[_native.Context]] = contextvars.ContextVar(
    "aires_context", default=None
)
_native._set_context_var(_current)

#: How long the exit hook waits for queued events to be sent.
_exit_timeout: float = 5.0


def init(
    service: Optional[str] = None,
    *,
    environment: Optional[str] = None,
    endpoint: Optional[str] = None,
    level: Optional[str] = None,
    batch_size: Optional[int] = None,
    batch_timeout: Optional[float] = None,
    max_batch_bytes: Optional[int] = None,
    queue_capacity: Optional[int] = None,
    overflow: Optional[str] = None,
    block_timeout: Optional[float] = None,
    overflow_max_bytes: Optional[int] = None,
    retry_max_elapsed: Optional[float] = None,
    max_in_flight: Optional[int] = None,
    send_timeout: Optional[float] = None,
    shutdown_timeout: Optional[float] = None,
    env_overrides: bool = True,
    opentelemetry: Optional[bool] = None,
    transport: Optional[str] = None,
    spool_dir: Optional[str] = None,
    spool_max_bytes: Optional[int] = None,
) -> None:
    """Starts the pipeline. Options left ``None`` keep their defaults, and
    ``AIRES_*`` environment variables override what is given here (unless
    ``env_overrides=False``); see the README for the table.

    Durations are in seconds. ``opentelemetry=None`` takes trace and span ids
    from OpenTelemetry's current span when ``opentelemetry.trace`` has been
    imported by then; ``True`` requires it, ``False`` never looks.
    ``transport`` is ``"default"`` (gRPC to ``endpoint``, or stdout without
    one), ``"stdout"``, ``"null"`` or ``"memory"`` (tests). ``overflow`` is
    what a call does when the queue is full: ``"drop"`` (the default; the
    event is dropped and counted), ``"block"`` (wait for room, at most
    ``block_timeout`` if given) or ``"grow"`` (list the event on the heap,
    up to ``overflow_max_bytes``, 64 MiB by default, then drop and count;
    never waits).

    Raises ``ValueError`` for an invalid option and ``RuntimeError`` when
    already running (call :func:`shutdown` first).
    """
    if opentelemetry is None:
        opentelemetry = True if "opentelemetry.trace" in sys.modules else False
    global _exit_timeout
    _native.init(
        service=service,
        environment=environment,
        endpoint=endpoint,
        level=level,
        batch_size=batch_size,
        batch_timeout=batch_timeout,
        max_batch_bytes=max_batch_bytes,
        queue_capacity=queue_capacity,
        overflow=overflow,
        block_timeout=block_timeout,
        overflow_max_bytes=overflow_max_bytes,
        retry_max_elapsed=retry_max_elapsed,
        max_in_flight=max_in_flight,
        send_timeout=send_timeout,
        shutdown_timeout=shutdown_timeout,
        env_overrides=env_overrides,
        transport=transport,
        opentelemetry=opentelemetry,
        spool_dir=spool_dir,
        spool_max_bytes=spool_max_bytes,
    )
    if shutdown_timeout is not None:
        _exit_timeout = shutdown_timeout
    mp = sys.modules.get("multiprocessing")
    if mp is not None and mp.parent_process() is not None:
        # Started in a multiprocessing child (spawn or forkserver, or a
        # Pool initializer): flush when it ends, as a forked child does.
        _ForkedChild.register_finalizer(None)


def flush(timeout: float = 2.0) -> bool:
    """Waits until everything logged so far has been sent (or dropped and
    counted). Returns ``False`` if ``timeout`` seconds passed first or Aires
    is not running. Releases the GIL while waiting."""
    return _native.flush(timeout)


def shutdown(timeout: float = 5.0) -> bool:
    """Sends what is queued and stops. Returns ``False`` if ``timeout``
    seconds passed first. Later calls are counted as dropped; :func:`init`
    may be called again."""
    return _native.shutdown(timeout)


def metrics() -> dict[str, int]:
    """The pipeline's self-metrics: events enqueued, sent, dropped (by
    cause), batches, retries, queue depth, and ``values_coerced``."""
    return _native.metrics()


def is_running() -> bool:
    """Whether :func:`init` has run and :func:`shutdown` has not."""
    return _native.is_running()


def level() -> str:
    """The least severe level recorded now, or ``"off"``."""
    return _native.level()


@contextlib.contextmanager
def context(
    *,
    trace_id: Union[str, int, None] = None,
    span_id: Union[str, int, None] = None,
    session_id: Optional[str] = None,
    **fields: Any,
) -> Iterator[_native.Context]:
    """Adds trace id, span id, session id and fields to every event logged
    inside the block, in this thread or asyncio task and in those started
    from it with a copy of its context (``asyncio.create_task``,
    ``contextvars.copy_context().run``, ``asyncio.to_thread``). Blocks nest;
    the inner one wins. Ids are hex strings (32 and 16 digits) or ints;
    a bad id raises ``ValueError``."""
    ctx = _native.Context(_current.get(), trace_id, span_id, session_id, fields or None)
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def current_context() -> Optional[_native.Context]:
    """The context of the innermost ``aires.context`` block, if any."""
    return _current.get()


def _at_exit() -> None:
    if _native.is_running():
        _native.shutdown(_exit_timeout)


def _after_fork_in_child() -> None:
    _native._after_fork_in_child()
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is not None and _native.is_running():
        # A multiprocessing child ends with os._exit, which skips atexit,
        # after running multiprocessing's own finalizers; those of the
        # parent are cleared first, then the after-fork callbacks run.
        mp_util.register_after_fork(_ForkedChild.instance, _ForkedChild.register_finalizer)


class _ForkedChild:
    """Registers the exit flush with multiprocessing in a child process:
    at its normal end (multiprocessing's finalizers) and on SIGTERM."""

    instance: "_ForkedChild"

    @staticmethod
    def register_finalizer(_: object) -> None:
        mp_util = sys.modules.get("multiprocessing.util")
        if mp_util is not None:
            mp_util.Finalize(None, _at_exit, exitpriority=0)
        # Pool.terminate() (the end of ``with Pool()``) sends SIGTERM.
        _flush_when_terminated(_exit_timeout)


_ForkedChild.instance = _ForkedChild()


atexit.register(_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


