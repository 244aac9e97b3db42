"""Pooled LOSO metrics and plots from the out-of-fold predictions.

Reads reports/predictions.csv; writes reports/evaluation.json (per model: accuracy, UAR, UF1,
per-class recall and precision, fold_mean_*/fold_std_* over the folds (held-out subjects;
test corpora cross-corpus); top-level keys
for the primary model, the hybrid when trained; the chance/majority floor and the AU-oracle
ceiling; the sha256 of the predictions it scored), reports/metrics.json (the DVC metric: per
model UAR, UF1, accuracy and the spread of the per-fold UAR) and reports/plots/ (confusion
matrices, per-class and per-subject charts, DVC plot tables). Logs all of it to the MLflow
parent run that trained those predictions, and names that run in data/evaluation_run.json (a
DVC output kept out of git, as the MLflow store is, so a fresh clone's `dvc repro` evaluates
its own training run rather than taking the committed reports for its outputs).
"""

from __future__ import annotations

import argparse
import logging

from mer import paths
from mer.config import Params, params_of

log = logging.getLogger(__name__)


def _unrecorded() -> str:
    """Why reports/training.json does not record the predictions (training_of gave None)."""
    import json

    try:
        json.loads(paths.TRAINING.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"{paths.TRAINING} is missing"
    except (OSError, ValueError) as exc:
        return f"{paths.TRAINING} cannot be read ({exc})"
    return (f"{paths.PREDICTIONS} is not the file {paths.TRAINING} records `mer train` wrote "
            "(edited, or from elsewhere)")


def held_out_clips(params: Params) -> dict[str, tuple[str, str]]:
    """clip_id -> (subject, label) of every clip the folds of evaluation.protocol hold out of
    the manifest and features there are now: what a training's predictions cover."""
    from mer.core.clipset import load_clips
    from mer.evaluation.report import held_out
    from mer.evaluation.splits import protocol_folds

    clips = load_clips(paths.FEATURES, paths.MANIFEST, params.labels.scheme)
    return held_out(clips, protocol_folds(clips.clip_id, clips.subject, params.evaluation))


def run(args: argparse.Namespace) -> None:
    from mer.atomic import atomic_outputs
    from mer.core.npz import MADE_WITH
    from mer.core.records import (
        PREDICTIONS_KEY,
        TRAINED_SECTIONS,
        check_made_with,
        file_digest,
        training_of,
    )
    from mer.evaluation.plots import write_plots
    from mer.evaluation.report import (
        check_predictions,
        check_trained_on,
        evaluation_report,
        fewer_classes,
        headline,
        per_subject,
        read_predictions,
        to_json,
    )
    from mer.labels import get_scheme
    from mer.tracking.runs import log_evaluation, record_run
    from mer.tracking.store import Tracker, tracking_uri

    params = params_of(args)
    # Before writing, quickest first: a mistaken MLFLOW_TRACKING_URI, missing predictions,
    # then the store (opening a new one creates its tables, which takes seconds).
    tracking_uri()
    frame = read_predictions(paths.PREDICTIONS, get_scheme(params.labels.scheme).classes)
    predictions_sha = file_digest(paths.PREDICTIONS)
    inputs = [p for p in (paths.FEATURES, paths.MANIFEST) if p.exists()]
    record = training_of(predictions_sha)
    if record is None:
        log.warning("%s, so whether %s was trained on this data with these params is not "
                    "checked and its figures say nothing of them (`mer train`, or `dvc "
                    "checkout dvc.yaml`, writes both again)", _unrecorded(), paths.PREDICTIONS)
    else:
        if inputs:
            check_trained_on(record, paths.PREDICTIONS, inputs, params,
                             "the figures describe the data as it is")
        # Trained with the train and evaluation params in force (the runtime keys aside):
        # else the figures would be logged and read as those params'.
        check_made_with(record.get(MADE_WITH) or {}, paths.PREDICTIONS, params,
                        TRAINED_SECTIONS, through="evaluate")
    # What the record's checks name first (stale data, other params), then the table itself.
    check_predictions(frame, paths.PREDICTIONS, params.evaluation.protocol,
                      held_out_clips(params) if len(inputs) == 2 else None,
                      params.train.models)
    tracker = Tracker(params.tracking.experiment)
    report = {**evaluation_report(frame), PREDICTIONS_KEY: predictions_sha}
    subjects = per_subject(frame, report["classes"])
    # All or none: the reports never describe other predictions than plots/ does.
    with atomic_outputs(paths.EVALUATION, paths.METRICS, paths.PLOTS) as (
            evaluation_tmp, metrics_tmp, plots_tmp):
        evaluation_tmp.write_text(to_json(report), encoding="utf-8")
        metrics_tmp.write_text(to_json(headline(report), sort_keys=False), encoding="utf-8")
        write_plots(frame, subjects, plots_tmp, report)
    run_id = log_evaluation(
        tracker, report=report, per_subject=subjects, plots=paths.PLOTS,
        report_files=(paths.EVALUATION, paths.METRICS),
        predictions_sha=predictions_sha, params=params,
        data_hash=file_digest(*inputs) if inputs else "unknown")
    record_run(paths.EVALUATION_RUN, run_id, params.tracking.experiment)
    for corpus, shown in fewer_classes(frame, report).items():
        log.warning("%s score %d of the %d classes of labels.scheme (their clips show %s "
                    "only): UAR averages over those, UF1 over those and any other class "
                    "predicted there (an F1 of 0), so they are not comparable with figures over "
                    "every class (reports/data.json says which rows the scheme dropped)",
                    "the pooled figures" if corpus is None else
                    f"{corpus}'s per-corpus figures", len(shown), len(report["classes"]),
                    ", ".join(shown))
    log.info("%s: UAR %.3f, UF1 %.3f, accuracy %.3f (MLflow run %s)", report["primary"],
             report["uar"], report["uf1"], report["accuracy"], run_id)
