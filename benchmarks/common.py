"""What the benchmark modules share: running one alone, and fitting at the defaults' cost."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from typing import Any

# CASME II's size in tests/toy.py's structured features, for the modules that time folds on
# them (bench_train, bench_scale): 26 subjects x 10 clips (CASME II: 255 clips), and the
# features stage's shapes at the default params (reports/features.json: T=3 flow steps of
# 32x32, 576 AU-region features = 16 regions x 3 steps x (8 HOOF bins + 4 statistics)).
SUBJECTS, CLIPS_PER_SUBJECT, STEPS, SIZE, AU_FEATURES = 26, 10, 3, 32, 576


def stoppable(main: Callable[[], int]) -> int:
    """``main()``, stopped by Ctrl-C (exit 130) or SIGTERM (143: `timeout`, a CI cancel) with
    one line and its temporary folders removed (a break-it session: a SIGTERM left a build's
    temporary folder behind, Ctrl-C printed a 20-line traceback). What the stopped module
    measured is lost; the sections of the modules finished before it are in BENCHMARKS.md,
    and bench_compare's --root keeps its finished folds."""
    from mer.cli import Terminated  # mer's own SIGTERM stop, unwinding every ``with``
    from mer.interrupts import SIGINT_EXIT, SIGTERM_EXIT

    def on_sigterm(signum: int, frame: Any) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        return main()
    except (KeyboardInterrupt, Terminated) as stop:
        ctrl_c = isinstance(stop, KeyboardInterrupt)
        print(f"stopped ({'Ctrl-C' if ctrl_c else 'SIGTERM'}): the running module's figures "
              "are lost (modules finished before it are written; a --root keeps its datasets "
              "and finished folds)", file=sys.stderr)
        return SIGINT_EXIT if ctrl_c else SIGTERM_EXIT
    finally:
        signal.signal(signal.SIGTERM, previous)


def module_main(run: Callable[[], list[dict]], doc: str | None,
                argv: list[str] | None = None) -> int:
    """`python -m benchmarks.<module>`: run it and print its rows (BENCHMARKS.md is written by
    `python -m benchmarks.run --only <module>`). Takes no argument but --help, so a mistyped
    option is an error rather than minutes of benchmark (a break-it session: --help started
    the 303 MB synthetic set, and three modules did nothing at all)."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="It prints its rows; `python -m benchmarks.run --only <module>` writes them into "
               "BENCHMARKS.md.")
    parser.parse_args(argv)

    def rows() -> int:
        for row in run():
            print(row)
        return 0

    return stoppable(rows)


def without_pretraining(train: Any) -> Any:
    """``train`` (TrainParams) with train.cnn.pretrain.clips 0: the CNNs start from random
    weights. For timing a fit, fold or prediction: pretrained weights change what a net
    learns, not what fitting or running it costs (the pretraining itself, minutes once per
    project, is timed by bench_pipeline's `dvc repro`). A fit at the defaults otherwise needs
    the pretrained net (a break-it session: bench_train, bench_scale and bench_inference
    failed on it once the defaults pretrained)."""
    cnn = train.cnn.model_copy(update={"pretrain": train.cnn.pretrain.model_copy(
        update={"clips": 0})})
    return train.model_copy(update={"cnn": cnn})
