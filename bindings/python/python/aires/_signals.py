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
        if callable(previous):
            # The application's own stop comes next, and may log while it
            # drains: send what is queued, and keep the pipeline running
            # (the exit hook shuts it down when the process ends).
            if _native.is_running():
                _native.flush(timeout)
            previous(received, frame)
        elif previous == signal.SIG_DFL:
            # Nothing else will run: send everything, then end the process
            # as the signal would have.
            if _native.is_running():
                _native.shutdown(timeout)
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
        elif _native.is_running():
            # SIG_IGN: ignored, as before, with what was queued sent.
            _native.flush(timeout)

    handler.aires_flushes = True  # type: ignore[attr-defined]
    return handler


def handle_signals(signals: Iterable[int] = (signal.SIGTERM,), *, timeout: float = 5.0) -> None:
    """Installs a handler for each of ``signals`` that sends what is queued
    (for at most ``timeout`` seconds) and then does what was done before.
    With a previous handler of the application's (a server's graceful
    stop), it flushes and calls that handler; the pipeline keeps running,
    so what the stop logs is sent too, and the exit hook shuts it down at
    the end. With the default action, it shuts the pipeline down and
    re-raises the signal, so the process ends as it would have (exit
    status -15 for SIGTERM). Call it from the main thread, after any
    framework that installs its own handler."""
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
