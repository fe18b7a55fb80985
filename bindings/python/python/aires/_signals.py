"""Flushing on signals: ``aires.handle_signals()``, and the same for
``multiprocessing`` workers, which ``Pool`` ends with SIGTERM."""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType
from typing import Any, Callable, Iterable, Optional

from aires import _native

_Handler = Any  # a callable, signal.SIG_DFL or signal.SIG_IGN


def _flushing_handler(signum: int, previous: _Handler, timeout: float) -> Callable[[int, Optional[FrameType]], None]:
    def handler(received: int, frame: Optional[FrameType]) -> None:
        if _native.is_running():
            _native.shutdown(timeout)
        # Then what would have happened without us.
        if callable(previous):
            signal.signal(signum, previous)
            previous(received, frame)
        elif previous == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
        # SIG_IGN: ignored, as before.

    handler.aires_flushes = True  # type: ignore[attr-defined]
    return handler


def handle_signals(signals: Iterable[int] = (signal.SIGTERM,), *, timeout: float = 5.0) -> None:
    """Installs a handler for each of ``signals`` that sends what is queued
    (for at most ``timeout`` seconds) and then does what was done before:
    calls the previous handler, or, for the default action, re-raises the
    signal so the process ends as it would have (exit status -15 for
    SIGTERM). Call it from the main thread, after any framework that
    installs its own handler, which then runs after the flush."""
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("aires.handle_signals() must be called from the main thread")
    for signum in signals:
        previous = signal.getsignal(signum)
        if getattr(previous, "aires_flushes", False):
            continue
        signal.signal(signum, _flushing_handler(signum, previous, timeout))


def flush_when_terminated(timeout: float) -> None:
    """In a ``multiprocessing`` child: SIGTERM (``Pool.terminate()``, the
    end of ``with Pool()``) flushes before the child ends, unless the
    application handles SIGTERM itself."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _flushing_handler(signal.SIGTERM, signal.SIG_DFL, timeout))
