"""What mer logs to MLflow: the LOSO parent run, its per-(model, fold) children, and the
evaluation's pooled metrics and figures. Talks to MLflow only through mer.tracking.store."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mer.evaluation import metrics
from mer.evaluation.report import headline
from mer.tracking.store import KIND_TAG, PREDICTIONS_TAG, Tracker, flatten, git_state

if TYPE_CHECKING:
    import pandas as pd

    from mer.config import Params
    from mer.core.clipset import ClipSet
    from mer.evaluation.loso import FoldOutcome

DATA_TAG = "mer.data_sha256"  # sha256 of features.npz + manifest


def parent_tags(data_hash: str, root: str | Path | None = None) -> dict[str, str]:
    return {**git_state(root), DATA_TAG: data_hash, KIND_TAG: "evaluation"}


def log_params(tracker: Tracker, run_id: str, params: Params) -> None:
    """Every params.yaml value, flattened: train.cnn.lr, labels.scheme, ..."""
    tracker.log(run_id, params=flatten(params.model_dump(mode="json")))


def log_fold(tracker: Tracker, parent: str, outcome: FoldOutcome, clips: ClipSet,
             from_cache: bool) -> list[str]:
    """One child run per model of ``outcome``: fold metrics, confusion, curves, tuning."""
    position = {clip_id: i for i, clip_id in enumerate(clips.clip_id.tolist())}
    index = np.array([position[c] for c in outcome.clip_id], dtype=np.int64)
    y_true = clips.y[index]
    children = []
    for model, proba in outcome.proba.items():
        report = dict(outcome.report.get(model, {}))
        y_pred = proba.argmax(axis=1)
        matrix = metrics.confusion(y_true, y_pred, clips.n_classes)
        tags = {KIND_TAG: "fold", "mer.model": model, "mer.subject": outcome.subject,
                "mer.fold": str(outcome.fold), "mer.from_cache": str(from_cache).lower()}
        with tracker.run(f"{model} {outcome.subject}", parent=parent, tags=tags) as child:
            params: dict[str, Any] = {"model": model, "subject": outcome.subject,
                                      "test_clips": len(index)}
            scores = {**metrics.scores(y_true, y_pred, clips.n_classes),
                      "fit_seconds": outcome.seconds}
            series: dict[str, list[float]] = {}
            if "c" in report:
                params.update(c=report["c"], gamma=report["gamma"])
                scores["inner_uar"] = report["inner_uar"]
            if "train_loss" in report:
                series["train/loss"] = report["train_loss"]
            trials = report.pop("trials", None)
            if trials:
                series["optuna/inner_uar"] = [t["inner_uar"] for t in trials]
            tracker.log(child, params=params, metrics=scores, series=series)
            tracker.log_json(child, {"classes": list(clips.classes), "rows": "actual",
                                     "columns": "predicted", "matrix": matrix.tolist()},
                             "confusion.json")
            tracker.log_json(child, report, "fit_report.json")
            if trials:
                tracker.log_table(child, trials, "optuna_trials.json")
        children.append(child)
    return children


def report_metrics(report: dict[str, Any]) -> dict[str, float]:
    """The parent run's metrics: each model's headline (reports/metrics.json: uar, uf1, acc,
    uar_sd) as hybrid/uar, hybrid/uf1, ...; every other figure is in the run's
    evaluation.json, so the MLflow UI's runs table shows what runs are compared on."""
    return {f"{model}/{key}": float(value)
            for model, figures in headline(report).items() for key, value in figures.items()}


def log_evaluation(tracker: Tracker, *, report: dict[str, Any], per_subject: pd.DataFrame,
                   plots: Path, report_files: Sequence[Path], predictions_sha: str,
                   params: Params, data_hash: str) -> str:
    """Attach pooled metrics and figures to the parent run that wrote these predictions;
    without one (e.g. predictions trained against another tracking store) open a new parent."""
    parent = tracker.find_run(PREDICTIONS_TAG, predictions_sha)
    tags = None if parent else {**parent_tags(data_hash, tracker.root),
                                PREDICTIONS_TAG: predictions_sha}
    with tracker.run("evaluate", run_id=parent, tags=tags) as run:
        if parent is None:
            log_params(tracker, run, params)
        tracker.log(run, metrics=report_metrics(report),
                    tags={"mer.primary_model": str(report["primary"])})
        tracker.log_files(run, plots, "plots")
        for path in report_files:
            tracker.log_file(run, path)
        tracker.log_table(run, per_subject.to_dict(orient="records"), "per_subject.json")
    return run
