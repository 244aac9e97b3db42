"""Ctrl-C and SIGTERM, deferred while an MLflow store call completes, and raised again where
Python dropped them.

The cli's signal handlers call ``stop_now_or_after_store_call``; mer.tracking wraps every
store call in ``deferred_signals``. A handler's exception that lands in a ``__del__`` method, a
weakref callback or a garbage-collector finaliser is printed as "Exception ignored in ..." and
dropped by Python (seen: a SQLAlchemy weakref callback during a CNN fit), so the command would
run on as if never stopped. The stop stays recorded until the command ends, and the loops that
take time (LOSO folds, training batches, Optuna trials and per-clip jobs) call
``stop_if_requested``, which raises it again. Apart from the tracking code so that every
command can install the handlers without importing it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SIGINT_EXIT = 130  # the shells' 128 + signal number
SIGTERM_EXIT = 143
SIGNAL_EXIT_CODES = (SIGINT_EXIT, SIGTERM_EXIT)


def from_ctrl_c(exc: BaseException) -> bool:
    """Ctrl-C: a KeyboardInterrupt, or the sys.exit(1) Lightning raises within its ``except
    KeyboardInterrupt``."""
    return isinstance(exc, KeyboardInterrupt) or (
        isinstance(exc, SystemExit) and isinstance(exc.__context__, KeyboardInterrupt))


def stopped_by_signal(exc: BaseException) -> bool:
    """Ctrl-C (from_ctrl_c) or the cli's SIGTERM exit (SystemExit 143)."""
    return from_ctrl_c(exc) or (isinstance(exc, SystemExit) and exc.code in SIGNAL_EXIT_CODES)


class _Deferral:
    """Ctrl-C or SIGTERM that arrived during a store call, raised when the call returns;
    ``requested``: the first stop a handler raised (its class), kept until the command ends, so
    a Ctrl-C after a SIGTERM neither re-arms a second SIGTERM nor changes the exit code."""

    depth = 0
    pending: BaseException | None = None
    requested: type[BaseException] | None = None


_DEFERRAL = _Deferral()


def stop_now_or_after_store_call(exc: BaseException) -> None:
    """What the cli's SIGINT/SIGTERM handlers call: raise ``exc`` now, or, inside a store
    call, once it returns. An exception raised in the middle of a SQLite commit leaves the
    connection's write lock held, so closing the runs afterwards fails with 'database is
    locked' and they would stay RUNNING."""
    if _DEFERRAL.requested is None:
        _DEFERRAL.requested = type(exc)
    if _DEFERRAL.depth and threading.current_thread() is threading.main_thread():
        _DEFERRAL.pending = exc
        return
    raise exc


def requested_stop() -> type[BaseException] | None:
    """The class of the first stop (KeyboardInterrupt, the cli's Terminated) a handler raised
    during this command, or None."""
    return _DEFERRAL.requested


def clear_stop() -> None:
    """Forget the recorded stop: the cli calls it when a command starts and ends."""
    _DEFERRAL.requested = None
    _DEFERRAL.pending = None


def stop_if_requested() -> None:
    """Raise the recorded stop again, if any: called between the units of work that take time
    (before each LOSO fold, training batch and per-clip job, after each Optuna trial). While a stop
    propagates these are not reached, so a stop found here was dropped by Python (module
    docstring). No-op outside the main thread, inside a store call (the deferred stop is
    raised when the call returns) and in processes without the cli's handlers (fold
    workers)."""
    stop = _DEFERRAL.requested
    if stop is None or _DEFERRAL.depth or threading.current_thread() is not threading.main_thread():
        return
    raise stop()


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


@contextmanager
def workers_start_without_ctrl_c() -> Iterator[None]:
    """Ctrl-C blocked in this thread while the block starts worker processes; one that came
    meanwhile is delivered, and stops the command, as the block ends.

    Ctrl-C reaches the whole process group. A spawned worker inherits the signal mask, so it
    starts with Ctrl-C blocked and keeps it blocked until its initializer calls
    ``ignore_ctrl_c_in_worker``; otherwise Python's KeyboardInterrupt handler, installed at
    the worker's start-up, turns a Ctrl-C during its seconds of imports into a traceback above
    the command's one line. The cost: a Ctrl-C during the block stops the command once the
    workers it starts have read their start-up data, not at once. multiprocessing's resource
    tracker unblocks Ctrl-C once it has started, so it is started first. The same technique
    as CPython's own resource tracker start-up (bpo-33613)."""
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def ignore_ctrl_c_in_worker() -> None:
    """In a worker process started by ``workers_start_without_ctrl_c``: ignore Ctrl-C from now
    on (the parent alone decides, and stops its workers), dropping one still pending."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
