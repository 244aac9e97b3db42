"""``mer <command>``: each pipeline stage, runnable alone, reading ./params.yaml.

DVC's stages call exactly these commands.

Stopping: Ctrl-C (SIGINT) exits with code 130 and SIGTERM (``kill``, a scheduler, a container
stop) with code 143, the shells' 128 + signal number, each with one line on stderr. Both unwind
the command: MLflow runs in flight are marked KILLED, fold worker processes are killed, finished
folds stay in data/folds, so rerunning resumes. A second SIGTERM while unwinding is ignored; a
command that has not unwound within UNWIND_S (30 s; a lock left held by the code the stop
interrupted) exits at once with the same code (_Watchdog).
SIGKILL cannot be handled: the workers notice their parent is gone and exit, and the next
command marks the runs it left RUNNING as FAILED (mer.tracking.store.Tracker.close_stale_runs).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any

import mer
from mer.errors import MerError
from mer.interrupts import (
    SIGINT_EXIT,
    SIGTERM_EXIT,
    clear_stop,
    deferred_signals,
    from_ctrl_c,
    requested_stop,
    stop_if_requested,
    stop_now_or_after_store_call,
    stopped_by_signal,
)

if TYPE_CHECKING:
    from mer.config import Params

# albumentations phones home on import unless told not to; nothing here may touch the network.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
MLFLOW_LOG_LEVEL_ENV = "MLFLOW_LOGGING_LEVEL"  # read by MLflow when it is imported
MLFLOW_PROGRESS_ENV = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"  # its download progress bars
SIGPIPE_EXIT = 141  # the shells' 128 + SIGPIPE: stdout's reader went away

# command -> (module with add_arguments(parser) and run(args), one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "synthesize": ("mer.stages.synthesize", "generate the embedded CASME II-format dataset"),
    "data": ("mer.stages.data", "build the clip manifest from data.source"),
    "faces": ("mer.stages.faces", "detect, landmark and align every clip's face"),
    "features": ("mer.stages.features", "optical-flow sequences, strain, AU-region features"),
    "train": ("mer.stages.train", "leave-one-subject-out training: out-of-fold predictions"),
    "evaluate": ("mer.stages.evaluate", "pooled metrics and plots from the predictions"),
    "register": ("mer.stages.register", "train on every subject and register in MLflow"),
    "promote": ("mer.stages.promote", "point a registry alias (champion) at a model version"),
    "export-flow-images": ("mer.stages.export_flow_images", "the clips as MEGC flow images"),
    "predict": ("mer.stages.predict", "classify a clip folder, an image pair or a video"),
    "spot-synthesize": ("mer.stages.spot_synthesize", "generate the embedded long videos "
                        "(CAS(ME)^2 format) for spotting"),
    "spot-eval": ("mer.stages.spot_eval", "spotting F1 under LOSO: spotter vs baseline"),
    "spot": ("mer.stages.spot", "spot every micro- and macro-expression interval in a video, "
             "then recognise each micro one with the registered model"),
    "ui": ("mer.tracking.ui", "open the MLflow UI on 127.0.0.1"),
    "params": ("mer.stages.params", "print the default params.yaml (or --check a file against it)"),
}


log = logging.getLogger(__name__)

# The commands that read every section of params.yaml (DVC's stages): validated first.
PIPELINE = frozenset({"synthesize", "data", "faces", "features", "train", "evaluate", "register",
                      "spot-synthesize", "spot-eval"})

Runner = Callable[[argparse.Namespace], object]



class Terminated(SystemExit):
    """Raised in the main thread on SIGTERM. A SystemExit (code 143), not an Exception, so no
    ``except Exception`` swallows it, and not a KeyboardInterrupt, which Lightning turns into
    ``sys.exit(1)``; mer.tracking marks runs it unwinds KILLED."""

    def __init__(self) -> None:
        super().__init__(SIGTERM_EXIT)


UNWIND_S = 30.0  # how long a stopped command may take to unwind before it exits at once


class _Watchdog:
    """Exit with the stop's code when unwinding takes longer than UNWIND_S.

    A stop is an exception raised wherever the main thread was. Raised inside a library it can
    leave a lock held that the unwinding then waits for forever (seen: after a SIGTERM during a
    CNN fit, MLflow's system-metrics thread never ended and `mer train` hung joining it). The
    first stop starts a daemon timer thread. When ``main`` runs as the program (no argv) it
    stays armed through the interpreter's exit, where thread joins and exit hooks can hang
    too; a caller in the same process (argv given) has it cancelled when ``main`` returns.
    When it fires, one line says so and the process exits with 130 or 143 (os._exit: the stuck
    thread would keep a normal exit waiting too). Finished folds are kept; runs left RUNNING
    are marked FAILED by the next command, as after a SIGKILL. The timer runs from the stop's
    arrival, so a command that takes more than UNWIND_S to reach its next checkpoint after a
    stop Python dropped (mer.interrupts) is ended this way as well."""

    command = ""
    timer: threading.Timer | None = None
    over = False  # the program's command has returned: a stop has nothing left to stop

    def start(self, code: int) -> None:
        if self.timer is not None:
            return

        def give_up() -> None:
            try:  # stderr may be a pipe whose reader the same Ctrl-C ended
                print(f"{_stop_line(self.command, code)}; stopping cleanly took over "
                      f"{UNWIND_S:g} s, so it exits now (the next mer command closes its runs)",
                      file=sys.stderr, flush=True)
            finally:
                os._exit(code)

        self.timer = threading.Timer(UNWIND_S, give_up)
        self.timer.daemon = True
        self.timer.start()

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


_WATCHDOG = _Watchdog()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    if requested_stop() is Terminated or _WATCHDOG.over:  # unwinding, or done: let it end
        return
    _WATCHDOG.start(SIGTERM_EXIT)
    stop_now_or_after_store_call(Terminated())


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    if _WATCHDOG.over:
        return
    _WATCHDOG.start(SIGINT_EXIT)
    stop_now_or_after_store_call(KeyboardInterrupt())


# commands that keep the work they finished before a stop and resume from it when rerun
RESUMES = {"train": "finished folds are kept, rerun to resume"}


def _stop_line(command: str, code: int) -> str:
    """The one line a stopped command prints: interrupted (Ctrl-C) or terminated (SIGTERM),
    and what a rerun resumes (a break-it session: Ctrl-C, what a user at a terminal does, did
    not say that the finished folds were kept)."""
    program = f"mer {command}" if command else "mer"
    resume = f"; {RESUMES[command]}" if command in RESUMES else ""
    stopped = "terminated (SIGTERM)" if code == SIGTERM_EXIT else "interrupted"
    return f"{program}: {stopped}{resume}"


def _stop_exit_code(exc: BaseException) -> int | None:
    """130 or 143 when ``exc`` ends the command because of Ctrl-C or SIGTERM, else None.

    Ctrl-C: mer.interrupts.from_ctrl_c. SIGTERM: Terminated. Any other exception raised after
    a handler raised its stop comes from that stop (a library that turned it into an error of
    its own, or cleanup it cut short), so it exits as the stop does."""
    if isinstance(exc, Terminated):
        return SIGTERM_EXIT
    if from_ctrl_c(exc):
        return SIGINT_EXIT
    stop = requested_stop()
    if stop is Terminated:
        return SIGTERM_EXIT
    if stop is not None:
        return SIGINT_EXIT
    return None


def _install_handlers(command: str, *, program: bool = False) -> Callable[[], None]:
    """Handle SIGTERM like Ctrl-C, both deferred while an MLflow store call completes (a
    commit cut in half would keep the runs from being closed); return what restores the
    previous handlers. ``program``: ``main`` runs as the program, whose watchdog outlives it
    after a stop (_Watchdog), and whose handlers are not restored: once the command has
    returned, a Ctrl-C or SIGTERM is ignored (Python's own handler would print a traceback
    from the interpreter's exit, or lose the stop there), and its exit code stands."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    clear_stop()
    _WATCHDOG.command, _WATCHDOG.over = command, False
    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, _on_sigterm)}
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not ignored
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, _on_sigint)
    hook = sys.unraisablehook
    sys.unraisablehook = _quiet_dropped_stop(hook)

    def restore() -> None:
        _WATCHDOG.over = program  # first: from here the handlers do nothing in a program
        try:
            if not (program and requested_stop() is not None):
                _WATCHDOG.cancel()  # a program that was stopped keeps it until it exits
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, signal.SIG_IGN if program else handler)
            if not program:
                sys.unraisablehook = hook
            clear_stop()
    return restore


def _quiet_dropped_stop(hook: Callable[[Any], object]) -> Callable[[Any], None]:
    """A sys.unraisablehook in place of ``hook``: a stop raised where Python cannot raise it
    (a finalizer, a gc or weakref callback) is dropped with an 'Exception ignored in ...'
    traceback; mer has recorded it (mer.interrupts) and acts on it at the next check, so
    Python's own printing of it is left out. Anything else, and everything when a hook other
    than Python's own is installed (pytest's, a caller's), goes to ``hook``."""
    def quiet(unraisable: Any) -> None:
        if hook is sys.__unraisablehook__ and unraisable.exc_type is not None and issubclass(
                unraisable.exc_type, (KeyboardInterrupt, Terminated)):
            return
        hook(unraisable)
    return quiet


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Runner]]:
    parser = argparse.ArgumentParser(
        prog="mer", description="Micro-expression recognition pipeline. Each command reads "
        "./params.yaml; `mer <command> --help` for its options.")
    parser.add_argument("--version", action="version", version=f"mer {mer.__version__}")
    parser.add_argument("--params", default="params.yaml",
                        help="params file (default: %(default)s)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    # The same two options after the command (`mer train --params x.yaml`); SUPPRESS keeps a
    # value given before the command when they are absent after it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--params", default=argparse.SUPPRESS,
                        help="params file (default: params.yaml)")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="log debug detail")
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    runners: dict[str, Runner] = {}
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        # The module's docstring as written: argparse's default rewraps it into one block,
        # running a usage line into the prose (a break-it session, `mer spot --help`).
        command = sub.add_parser(name, help=help_text, description=module.__doc__,
                                 parents=[common],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        if hasattr(module, "add_arguments"):
            module.add_arguments(command)
        runners[name] = module.run
    return parser, runners


def _stdout_closed() -> bool:
    """True when stdout is a pipe whose reader has gone (poll reports an error on it)."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # no real file behind stdout
        return False


def _command_in(argv: Sequence[str]) -> str:
    """The command ``argv`` names (its first word that is one), for the stop line of a stop
    that comes before the arguments are parsed; '' when it names none."""
    return next((word for word in argv if word in COMMANDS), "")


def _configure_logging(verbose: bool) -> None:
    """mer's own messages (DEBUG with --verbose, else INFO); the libraries' only from warnings
    up. torch, Lightning and others log INFO lines of their own, some at the interpreter's exit.
    MLflow gives its loggers a handler of their own when it is imported, at the level its
    MLFLOW_LOGGING_LEVEL variable names (INFO by default): that variable is set to WARNING
    unless the user set it, and its logger is set too in case MLflow is imported already.
    Its download progress bars ("Downloading artifacts") are off unless the user set
    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("mer").setLevel(logging.DEBUG if verbose else logging.INFO)
    os.environ.setdefault(MLFLOW_PROGRESS_ENV, "false")  # read at each download
    level = os.environ.setdefault(MLFLOW_LOG_LEVEL_ENV, "WARNING")
    if "mlflow" in sys.modules:
        logging.getLogger("mlflow").setLevel(level.upper())


def _params_readers(path: str) -> tuple[Callable[[], Params], Callable[[], dict[str, Any]]]:
    """(load_params(path), read_params_file(path)), the file read at the first call of either
    only (config.params_of, config.tracking_of)."""
    @functools.cache
    def read_file() -> dict[str, Any]:
        from mer.config import read_params_file

        return read_params_file(path)

    @functools.cache
    def read() -> Params:
        from mer.config import parse_params

        return parse_params(read_file(), path)
    return read, read_file


def main(argv: Sequence[str] | None = None) -> int:
    # The handlers come first: importing the commands' modules (pydantic's models) takes about
    # half a second, and Python's own Ctrl-C in it printed a traceback, or was lost inside a
    # library and the command ran on. During the imports a stop waits for them to finish.
    command = _command_in(sys.argv[1:] if argv is None else argv)
    restore = _install_handlers(command, program=argv is None)
    try:
        with deferred_signals():
            parser, runners = build_parser()
        args = parser.parse_args(argv)
        command = args.command
        _configure_logging(verbose=args.verbose)
        if hasattr(args, "params"):  # read once for the whole command (config.params_of)
            args.read_params, args.read_params_file = _params_readers(args.params)
            if command in PIPELINE:  # a params mistake is reported before any heavy import
                args.read_params()
        runners[command](args)
        # A Ctrl-C that Python dropped inside a library (mer.interrupts) while the command
        # had no more units of work to check it at: the command ends as stopped, not as done.
        stop_if_requested()
    except BaseException as exc:
        if isinstance(exc, BrokenPipeError) and _stdout_closed():
            # The reader of our output went away (`mer params --check | head`): end quietly,
            # as a program killed by SIGPIPE does, with nothing left to flush at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return SIGPIPE_EXIT
        code = _stop_exit_code(exc)
        if code is None:
            if not isinstance(exc, MerError):
                raise
            print(f"mer {command}: error: {exc}", file=sys.stderr)
            return 2
        if not stopped_by_signal(exc):
            log.debug("raised while stopping", exc_info=exc)
        print(_stop_line(command, code), file=sys.stderr)
        return code
    finally:
        restore()
    return 0


if __name__ == "__main__":
    sys.exit(main())
