"""Spotting under leave-one-subject-out on the long-video corpus, with the MEGC metric.

Reads spotting.source at spotting.root (the embedded synthetic long videos by default, read
by the CAS(ME)^2 reader whose format they follow); writes reports/spotting.json: per corpus,
the spotter's (thresholds fitted per LOSO fold on training subjects) and the fixed-threshold
baseline's precision, recall and F1 for micro, macro and overall, each fold's fitted p, the
params p was fitted under (``fitted_with``: `mer spot` and `mer register` refuse p fitted
under others) and the frames per second of the signal pass; and
reports/spotting_metrics.json, the DVC metric: the spotter's and the baseline's micro, macro
and overall F1. Logs it to MLflow (mer.tracking.runs.log_spotting).
"""

from __future__ import annotations

import argparse
import json
import logging
import time

from mer import paths
from mer.config import load_params

log = logging.getLogger(__name__)


def run(args: argparse.Namespace) -> None:
    from mer.atomic import write_text
    from mer.data.spotting_corpora import read_spotting_corpus
    from mer.spotting.folds import corpus_signals, evaluate_corpus, spotting_headline
    from mer.spotting.spotter import fitted_with
    from mer.tracking.runs import log_spotting
    from mer.tracking.store import Tracker

    params = load_params(args.params)
    spotting = params.spotting
    tracker = Tracker(params.tracking.experiment)  # fail before the work if MLflow is down
    videos = read_spotting_corpus(spotting)
    started = time.perf_counter()
    signals = corpus_signals(videos, spotting, params.features)
    seconds = time.perf_counter() - started
    corpus = {**evaluate_corpus(videos, signals, spotting), "fitted_with": fitted_with(params)}
    report = {spotting.source: corpus}
    write_text(paths.SPOTTING, json.dumps(report, indent=2, sort_keys=True) + "\n")
    write_text(paths.SPOTTING_METRICS,
               json.dumps(spotting_headline(corpus), indent=2, sort_keys=False) + "\n")
    run_id = log_spotting(tracker, report=report, report_file=paths.SPOTTING, params=params,
                          frames_per_second=corpus["frames"] / seconds)
    for who in ("spotter", "baseline"):
        f1 = {row: round(corpus[who][row]["f1"], 3) for row in ("micro", "macro", "overall")}
        log.info("%s %s F1: %s", spotting.source, who, f1)
    log.info("signals at %.0f frames/s over %d workers (MLflow run %s)",
             corpus["frames"] / seconds, spotting.workers, run_id)
