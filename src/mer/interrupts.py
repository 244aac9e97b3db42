"""Ctrl-C and SIGTERM, deferred while an MLflow store call completes.

The cli's signal handlers call ``stop_now_or_after_store_call``; mer.tracking wraps every
store call in ``deferred_signals``. Apart from the tracking code so that every command can
install the handlers without importing it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

SIGINT_EXIT = 130  # the shells' 128 + signal number
SIGTERM_EXIT = 143
SIGNAL_EXIT_CODES = (SIGINT_EXIT, SIGTERM_EXIT)


def stopped_by_signal(exc: BaseException) -> bool:
    """Ctrl-C (KeyboardInterrupt; Lightning turns it into sys.exit(1) within its ``except
    KeyboardInterrupt``) or the cli's SIGTERM exit (SystemExit 143)."""
    return isinstance(exc, KeyboardInterrupt) or (isinstance(exc, SystemExit) and (
        exc.code in SIGNAL_EXIT_CODES or isinstance(exc.__context__, KeyboardInterrupt)))


class _Deferral:
    """Ctrl-C or SIGTERM that arrived during a store call, raised when the call returns."""

    depth = 0
    pending: BaseException | None = None


_DEFERRAL = _Deferral()


def stop_now_or_after_store_call(exc: BaseException) -> None:
    """What the cli's SIGINT/SIGTERM handlers call: raise ``exc`` now, or, inside a store
    call, once it returns. An exception raised in the middle of a SQLite commit leaves the
    connection's write lock held, so closing the runs afterwards fails with 'database is
    locked' and they would stay RUNNING."""
    if _DEFERRAL.depth and threading.current_thread() is threading.main_thread():
        _DEFERRAL.pending = exc
        return
    raise exc


@contextmanager
def deferred_signals() -> Iterator[None]:
    """Defer Ctrl-C/SIGTERM (see stop_now_or_after_store_call) while the block runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _DEFERRAL.depth += 1
    try:
        yield
    finally:
        _DEFERRAL.depth -= 1
    if _DEFERRAL.depth == 0 and _DEFERRAL.pending is not None:
        pending, _DEFERRAL.pending = _DEFERRAL.pending, None
        raise pending
