"""Spotting under leave-one-subject-out on the long-video corpus, with the MEGC metric.

Reads spotting.source at spotting.root (the embedded synthetic long videos by default, read
by the CAS(ME)^2 reader whose format they follow). Writes:

- reports/spotting.json: per corpus, the spotter's (``spotter``: thresholds fitted per LOSO
  fold on training subjects) and the fixed-threshold baseline's (``threshold_baseline``)
  precision, recall and F1 for micro, macro and overall, each fold's fitted p, the params p
  was fitted under (``fitted_with``: `mer spot` and `mer register` refuse p fitted under
  others), the workbook read with its sha256 (``workbook``: they refuse p fitted on an
  earlier version of it) and the frames per second of the signal pass;
- reports/spotting_intervals.csv: every spotted interval (TP or FP) and every missed ground
  truth (FN) behind those counts (mer.spotting.folds.INTERVAL_COLUMNS);
- reports/spotting_metrics.json, the DVC metric: the spotter's and the fixed-threshold
  baseline's micro, macro and overall F1 (``spotter.*``, ``threshold_baseline.*``);
- data/spotting_run.json: the MLflow run it logs them to (mer.tracking.runs.log_spotting),
  run id and experiment. A DVC output kept out of git, as the MLflow store is, so a fresh
  clone's `dvc repro` runs this stage again (reproducing the table and logging its run)
  rather than taking the committed reports for its outputs.
"""

from __future__ import annotations

import argparse
import json
import logging
import time

from mer import paths
from mer.config import check_spotting_paths, params_of
from mer.errors import ParamsError
from mer.spotting import METHODS

log = logging.getLogger(__name__)


def run(args: argparse.Namespace) -> None:
    import pandas as pd

    from mer.atomic import atomic_outputs
    from mer.core.records import file_digest
    from mer.data.spotting_corpora import read_spotting_corpus, spotting_workbook
    from mer.spotting.folds import (
        INTERVAL_COLUMNS,
        corpus_signals,
        evaluate_corpus,
        spotting_headline,
    )
    from mer.spotting.spotter import fitted_with
    from mer.tracking.runs import log_spotting, record_run
    from mer.tracking.store import Tracker

    params = params_of(args)
    spotting = params.spotting
    check_spotting_paths(spotting)
    if spotting.source == "synthetic" and not spotting.root.is_dir():
        where = paths.missing(spotting.root, "does not exist", "paths in params files are "
                              "relative to the folder mer runs in")
        raise ParamsError(f"spotting.root: {where}; the synthetic long videos are generated "
                          "there by `mer spot-synthesize` (or `dvc repro`): run it first, in "
                          "the project folder")
    # The corpus before the store: a wrong folder leaves no mlflow.db behind (a break-it
    # session), and MLflow is still checked before the work, the signals.
    videos = read_spotting_corpus(spotting)
    tracker = Tracker(params.tracking.experiment)  # fail before the work if MLflow is down
    started = time.perf_counter()
    signals = corpus_signals(videos, spotting, params.features)
    seconds = time.perf_counter() - started
    evaluation = evaluate_corpus(videos, signals, spotting)
    workbook = spotting_workbook(spotting)
    corpus = {**evaluation.report, "fitted_with": fitted_with(params),
              "workbook": {"path": str(workbook), "sha256": file_digest(workbook)}}
    report = {spotting.source: corpus}
    # All or none: the intervals never describe another run than the tables do.
    with atomic_outputs(paths.SPOTTING, paths.SPOTTING_METRICS, paths.SPOTTING_INTERVALS) as (
            report_tmp, metrics_tmp, intervals_tmp):
        report_tmp.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n",
                              encoding="utf-8")
        metrics_tmp.write_text(json.dumps(spotting_headline(corpus), indent=2,
                                          sort_keys=False) + "\n", encoding="utf-8")
        intervals = pd.DataFrame(evaluation.intervals, columns=INTERVAL_COLUMNS)
        frames = [c for c in INTERVAL_COLUMNS if c.endswith(("onset", "apex", "offset",
                                                             "_frame"))]
        intervals[frames] = intervals[frames].astype("Int64")  # an empty apex stays empty
        intervals.to_csv(intervals_tmp, index=False, lineterminator="\n", float_format="%.4f")
    run_id = log_spotting(tracker, report=report,
                          report_files=(paths.SPOTTING, paths.SPOTTING_INTERVALS),
                          params=params, frames_per_second=corpus["frames"] / seconds)
    record_run(paths.SPOTTING_RUN, run_id, params.tracking.experiment)
    for who in METHODS:
        f1 = {row: round(corpus[who][row]["f1"], 3) for row in ("micro", "macro", "overall")}
        log.info("%s %s F1: %s", spotting.source, who, f1)
    log.info("signals at %.0f frames/s over %d workers (MLflow run %s)",
             corpus["frames"] / seconds, spotting.workers, run_id)
