"""What mer logs to MLflow: the LOSO parent run, its per-(model, fold) children, and the
evaluation's pooled metrics and figures. Talks to MLflow only through mer.tracking.store."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mer import config, paths
from mer.config import changed_leaves, yaml_value
from mer.core.records import trained_params
from mer.evaluation import metrics
from mer.evaluation.report import HEADLINE, headline
from mer.spotting import METHODS
from mer.tracking.store import (
    KIND_TAG,
    PARENT_TAG,
    PREDICTIONS_TAG,
    Tracker,
    flatten,
    git_state,
)

if TYPE_CHECKING:
    import pandas as pd

    from mer.config import Params
    from mer.core.clipset import ClipSet
    from mer.evaluation.loso import FoldOutcome

log = logging.getLogger(__name__)

DATA_TAG = "mer.data_sha256"  # sha256 of features.npz + manifest
# A fold's cache key (mer.evaluation.loso.fold_keys) on its child runs, and the digest of
# every key and param on the parent: how a rerun finds what is already logged.
FOLD_KEY_TAG = "mer.fold_key"
TRAINING_TAG = "mer.training_sha256"
# On a parent run: the parent runs, comma-separated, that hold the runs of the folds it took
# from the fold cache (an interrupted training it resumed, a variant it shares folds with).
FOLDS_FROM_TAG = "mer.folds_from"
FOLDS_FROM_MAX = 100  # run ids in FOLDS_FROM_TAG: 3.3k characters, within MLflow's tag limit
DVC_EXP_ENV = "DVC_EXP_NAME"  # set by `dvc exp run` for the stages it runs: the experiment
NAME_CHARS = 250  # MLflow's longest run name


# Params sections a training never reads: left out of its run's name and training digest, so
# a change of the spotter alone neither renames nor re-opens a training.
NOT_TRAINING = ("spotting",)


def parent_name(params: Params, leave_out: Sequence[str] = NOT_TRAINING) -> str:
    """What a parent run was, as its name: variant_name, cut to MLflow's NAME_CHARS."""
    name = variant_name(params, leave_out)
    return name if len(name) <= NAME_CHARS else name[:NAME_CHARS - 1] + "…"


def variant_name(params: Params, leave_out: Sequence[str] = NOT_TRAINING) -> str:
    """The variant ``params`` are: the DVC experiment under `dvc exp run`, else the params
    that differ from the defaults (`mer params --check`) outside the ``leave_out`` sections,
    else 'defaults'. Whole: a version tag holds it uncut (a break-it session: cut to a run
    name's 250 characters, the param that told two versions apart was cut off)."""
    # Dumped here, defaults from the loader, not by config.changed_values: a name is
    # provenance, not params the stage depends on (as tests/core/test_core_dvc_deps.py
    # counts reads: by mer.tracking, or while loading: hence config.parse_params, looked up
    # when called, so that the test's loading hook sees it whatever was imported first).
    changed = changed_leaves(params.model_dump(mode="json"),
                             config.parse_params({}).model_dump(mode="json"))
    return os.environ.get(DVC_EXP_ENV) or ", ".join(
        f"{key}={yaml_value(value)}" for key, value, _ in changed
        if key.split(".", 1)[0] not in leave_out) or "defaults"


def parent_tags(data_hash: str) -> dict[str, str]:
    """A parent run's tags: the checkout mer runs in (git_state), the data, the kind."""
    return {**git_state(), DATA_TAG: data_hash, KIND_TAG: "evaluation"}


def training_digest(keys: Mapping[tuple[str, int], str], params: Params) -> str:
    """What a parent run trained, as one hash: its folds' keys and every param (a rerun with
    another value of a param no fold depends on, e.g. train.parallel_folds, is another run;
    the NOT_TRAINING sections are left out)."""
    read = {k: v for k, v in params.model_dump(mode="json").items() if k not in NOT_TRAINING}
    payload = json.dumps({"folds": sorted(keys.values()), "params": read}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def log_params(tracker: Tracker, run_id: str, params: Params) -> None:
    """Every params.yaml value, flattened: train.cnn.lr, labels.scheme, ..."""
    tracker.log(run_id, params=flatten(params.model_dump(mode="json")))


# The manifest's columns that describe a clip (not its files or flags): the dataset's table.
DATASET_COLUMNS = ("dataset", "subject", "clip", "clip_id", "onset", "apex", "offset", "fps",
                   "aus", "emotion", "label")
DIGEST_CHARS = 16  # of the data hash, as the dataset's digest (MLflow keeps up to 36)


def log_dataset(tracker: Tracker, run_id: str, manifest: Path, clips: ClipSet, data_hash: str,
                scheme: str) -> None:
    """The clips ``run_id`` trained on as its MLflow dataset: their manifest rows, named by
    corpus and label scheme ('synthetic casme2-5'), digest the run's data hash."""
    from mer.core.manifest import read_manifest

    frame = read_manifest(manifest)
    frame = frame.loc[frame["clip_id"].isin(clips.clip_id.tolist()), list(DATASET_COLUMNS)]
    name = f"{'+'.join(sorted(set(frame['dataset']))) or 'no clips'} {scheme}"
    tracker.log_dataset(run_id, frame.reset_index(drop=True), source=manifest, name=name,
                        digest=data_hash[:DIGEST_CHARS], targets="label")


def log_fold(tracker: Tracker, parent: str, outcome: FoldOutcome, clips: ClipSet, key: str,
             from_cache: bool) -> str | None:
    """One child run per model of ``outcome``, nested under ``parent`` and timed as the fold's
    fit was: fold metrics, confusion figure, curves, tuning; none when ``from_cache`` and
    the runs of fold ``key`` are already in the experiment, complete (a rerun logs no
    duplicates; a run cut short by a kill while logging is logged again), nor for a fold that
    scored no clip (the AU-oracle on a subject without AU codes).

    Returns the parent run that holds the fold's runs: ``parent`` when it holds them (a
    reopened parent, though another parent may have logged the fold later: a break-it
    session found a baseline's parent naming a later variant's, which had refitted shared
    folds), else the newest one that logged them; None for a fold that scored no clip."""
    if not outcome.clip_id:
        return None
    if from_cache:
        for where in ({FOLD_KEY_TAG: key, PARENT_TAG: parent}, {FOLD_KEY_TAG: key}):
            logged = tracker.newest_runs(where, {}, status="FINISHED", limit=1)
            if logged:
                return logged[0].data.tags.get(PARENT_TAG)
    from mer.evaluation.plots import confusion_figure

    position = {clip_id: i for i, clip_id in enumerate(clips.clip_id.tolist())}
    index = np.array([position[c] for c in outcome.clip_id], dtype=np.int64)
    y_true = clips.y[index]
    for model, proba in outcome.proba.items():
        report = dict(outcome.report.get(model, {}))
        y_pred = proba.argmax(axis=1)
        matrix = metrics.confusion(y_true, y_pred, clips.n_classes)
        tags = {KIND_TAG: "fold", "mer.model": model, "mer.subject": outcome.subject,
                "mer.fold": str(outcome.fold), "mer.from_cache": str(from_cache).lower(),
                FOLD_KEY_TAG: key}
        times = ({} if outcome.started is None else
                 {"started": outcome.started, "ended": outcome.started + outcome.seconds})
        with tracker.run(f"{model} {outcome.subject}", parent=parent, tags=tags,
                         **times) as child:
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
            tracker.log_figure(child, confusion_figure(
                matrix, clips.classes, f"{model}, held-out {outcome.subject}"), "confusion.png")
            tracker.log_json(child, report, "fit_report.json")
            if trials:
                tracker.log_table(child, trials, "optuna_trials.json")
    return parent


def link_fold_parents(tracker: Tracker, parent: str, holders: set[str | None]) -> None:
    """Tag ``parent`` with the other parent runs among ``holders`` (log_fold's answers: who
    holds each fold's runs), so the UI leads from a resumed training to the folds it did not
    log again (a break-it session: after Ctrl-C and a rerun, two parents of one name, one
    seemingly missing 7 of 26 folds per model, the other looking like debris)."""
    others = sorted(h for h in holders if h and h != parent)
    if not others:  # a reopened parent holds them all now: an earlier rerun's tag is stale
        tracker.drop_tag(parent, FOLDS_FROM_TAG)
    else:
        tracker.log(parent, tags={FOLDS_FROM_TAG: ",".join(others[:FOLDS_FROM_MAX])})
        log.info("folds taken from the cache keep their MLflow runs under %d earlier parent "
                 "run(s), which tag %s of run %s names", len(others), FOLDS_FROM_TAG, parent)


def report_metrics(report: dict[str, Any]) -> dict[str, float]:
    """The parent run's metrics: each model's headline (reports/metrics.json: uar, uf1, acc,
    uar_sd) as hybrid/uar, hybrid/uf1, ...; on a composite, also each corpus's share of its
    pooled predictions (evaluation.json's corpora, the per-dataset table the field publishes)
    as hybrid/samm/uf1, ...; every other figure is in the run's evaluation.json, so the MLflow
    UI's runs table shows what runs are compared on."""
    pooled = {f"{model}/{key}": float(value)
              for model, figures in headline(report).items() for key, value in figures.items()
              if value is not None}  # uar_sd of one fold: none measured, none logged
    per_corpus = {f"{model}/{corpus}/{short}": float(figures[key])
                  for model in headline(report)
                  for corpus, figures in report["models"][model].get("corpora", {}).items()
                  for short, key in HEADLINE.items() if figures.get(key) is not None}
    return {**pooled, **per_corpus}


PRIMARY_TAG = "mer.primary_model"  # on a parent run once its evaluation is logged
EVALUATION_FROM_TAG = "mer.evaluation_from"  # the run whose evaluation copy_evaluation copied


def copy_evaluation(tracker: Tracker, run_id: str, *, predictions_sha: str, data_hash: str,
                    scheme: str) -> str | None:
    """Give the new parent run ``run_id`` the evaluation (metrics, figures, reports) of the
    newest finished parent run of this experiment that wrote the same predictions from the
    same data under the same label scheme, and so was evaluated on exactly what `mer
    evaluate` would score now; returns that run's id, or None when there is none.

    DVC does not rerun `mer evaluate` for predictions it has evaluated, so a training that
    changes no prediction (an experiment on ``train.parallel_folds``, say) would otherwise
    leave a run without metrics. The copy comes from MLflow, not from ``reports/`` (the
    train stage must not read the evaluate stage's outputs); the run is tagged
    ``mer.evaluation_from`` with its source, and a `mer evaluate` run later replaces it.
    """
    runs = tracker.newest_runs({PREDICTIONS_TAG: predictions_sha, DATA_TAG: data_hash},
                               {"labels.scheme": scheme}, status="FINISHED")
    source = next((r for r in runs if r.info.run_id != run_id and PRIMARY_TAG in r.data.tags),
                  None)
    if source is None or paths.EVALUATION.name not in tracker.artifact_names(source.info.run_id):
        return None  # none, or evaluated by a mer that logged no evaluation.json
    with tracker.artifacts_copied(source.info.run_id, run_id) as copied:
        report = json.loads((copied / paths.EVALUATION.name).read_text(encoding="utf-8"))
        # The values as logged: the report's JSON rounds them.
        logged = source.data.metrics
        tracker.log(run_id, metrics={k: logged[k] for k in report_metrics(report) if k in logged},
                    tags={PRIMARY_TAG: str(report["primary"]),
                          EVALUATION_FROM_TAG: source.info.run_id})
    return source.info.run_id


def log_evaluation(tracker: Tracker, *, report: dict[str, Any], per_subject: pd.DataFrame,
                   plots: Path, report_files: Sequence[Path], predictions_sha: str,
                   params: Params, data_hash: str) -> str:
    """Attach pooled metrics and figures to the parent run that wrote these predictions;
    without one (e.g. predictions trained against another tracking store) open a new parent,
    recording the params reports/training.json says trained them (trained_params)."""
    # The run of this name (the DVC experiment's) that wrote them, else any that did: runs
    # of experiments differing only outside training share their predictions.
    parent = tracker.find_run(PREDICTIONS_TAG, predictions_sha, name=parent_name(params),
                              any_name=True)
    tags = None if parent else {**parent_tags(data_hash),
                                PREDICTIONS_TAG: predictions_sha}
    if parent is None:  # a new run records what trained the predictions, not params.yaml
        params = trained_params(params, predictions_sha) or params  # edited since
        # A break-it session: after mlflow.db was deleted, the evaluation went to a new run
        # without folds, curves or trials, and nothing said the training's runs were gone.
        log.warning("no run in the tracking store %s wrote %s (sha256 %s...), as `mer train` "
                    "logs it: the store was replaced or deleted since, or the predictions "
                    "were trained against another store. The evaluation goes to a new run "
                    "without the folds' runs, curves and Optuna trials; `mer train` logs them "
                    "again (cached fold fits are not refitted), then `mer evaluate`",
                    tracker.uri, paths.PREDICTIONS, predictions_sha[:12])
    metrics = report_metrics(report)
    if parent is not None:  # evaluated again: only what changed, so that a metric's history
        # holds one point per figure the run had, not one per `mer evaluate` (a break-it
        # session: a parent's hybrid/uar held 4 step-0 points after 3 evaluations)
        logged = tracker.client.get_run(parent).data.metrics
        metrics = {k: v for k, v in metrics.items() if logged.get(k) != float(v)}
    with tracker.run(parent_name(params), run_id=parent, tags=tags) as run:
        if parent is None:
            log_params(tracker, run, params)
        tracker.log(run, metrics=metrics, tags={PRIMARY_TAG: str(report["primary"])})
        if parent is not None:
            tracker.drop_tag(run, EVALUATION_FROM_TAG)  # its own evaluation now
        tracker.log_files(run, plots, "plots")
        for path in report_files:
            tracker.log_file(run, path)
        tracker.log_table(run, per_subject.to_dict(orient="records"), "per_subject.json")
    return run


SPOTTING_KIND = "spotting"  # KIND_TAG of a spotting evaluation's run


def record_run(path: Path, run_id: str, experiment: str) -> None:
    """Write the MLflow run a stage logged to ``path`` (mer.paths.EVALUATION_RUN,
    SPOTTING_RUN): {"run_id", "experiment"}, as JSON."""
    from mer.atomic import write_text

    write_text(path, json.dumps({"run_id": run_id, "experiment": experiment}, indent=2) + "\n")


def spotting_metrics(report: Mapping[str, Any]) -> dict[str, float]:
    """<corpus>/<method>/<micro|macro|overall>_<precision|recall|f1>, method one of
    mer.spotting.METHODS: what spotting runs are compared on in the MLflow UI; the counts are
    in the run's spotting.json."""
    return {f"{corpus}/{who}/{row}_{key}": float(figures[who][row][key])
            for corpus, figures in report.items() for who in METHODS
            for row in ("micro", "macro", "overall") for key in ("precision", "recall", "f1")}


def log_spotting(tracker: Tracker, *, report: Mapping[str, Any], report_files: Sequence[Path],
                 params: Params, frames_per_second: float) -> str:
    """One run per spotting evaluation: every param, the F1 table as metrics, the report and
    the intervals behind it (``report_files``)."""
    tags = {**git_state(), KIND_TAG: SPOTTING_KIND}
    with tracker.run(f"spotting: {parent_name(params, leave_out=())}", tags=tags) as run:
        log_params(tracker, run, params)
        tracker.log(run, metrics={**spotting_metrics(report),
                                  "spotting/frames_per_second": float(frames_per_second)})
        for report_file in report_files:
            tracker.log_file(run, report_file)
    return run
