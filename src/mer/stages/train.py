"""Leave-one-subject-out (or cross-corpus) training: out-of-fold predictions of every model.

Trains train.models (svm, cnn, hybrid; opt-in, the reference nets ststnet, off-apexnet and
sssnet) plus the majority-class floor and, when the manifest has AU codes, the AU-oracle
ceiling, one fold per subject, training subjects only (with evaluation.protocol cross-corpus:
one fold per test corpus, trained on the training corpora only); writes
reports/predictions.csv and reports/training.json (what made them: the data's sha256 and the
train params). Finished folds are kept in data/folds, so an interrupted run resumes
where it stopped (Ctrl-C, SIGTERM or SIGKILL alike), and a variant reuses the folds its params
leave unchanged; DVC's queued experiments read and fill the project's (mer.paths.project_cache).
train.backend ray runs the folds as Ray
tasks instead of local worker processes, with the same results (mer.evaluation.ray_folds).
One `mer train` at a time per project folder: a second one stops at once with a message (lock
file data/folds.lock; a queued experiment's copy is a folder of its own). MLflow: one parent
run, one child run per (model, fold); see `mer ui`.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from mer import paths
from mer.config import CEILING, params_of
from mer.errors import MerError

if TYPE_CHECKING:
    from mer.config import Params
    from mer.evaluation.ray_folds import RayOptions

log = logging.getLogger(__name__)

LOCK = paths.FOLDS.with_name("folds.lock")  # beside data/folds, not in it (pruned)


@contextmanager
def only_train() -> Iterator[None]:
    """Hold data/folds.lock for the whole stage, or refuse: two trainings in one folder would
    race on data/folds and reports/predictions.csv."""
    from mer.atomic import held_lock

    def refuse() -> None:
        raise MerError(f"another `mer train` is running in {os.getcwd()} (it holds {LOCK}); "
                       "wait for it to finish, or stop it, then rerun")

    with held_lock(LOCK, refuse):  # read-only data/: training says itself it cannot write
        yield


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fresh", action="store_true",
                        help="recompute every fold, ignoring folds finished by an earlier run")


def run(args: argparse.Namespace) -> None:
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    params = params_of(args)
    with only_train():
        _train(args, params)


def ray_options(params: Params) -> RayOptions | None:
    """train.backend ray: where and how folds run on Ray; None for the local pool."""
    from mer.evaluation.ray_folds import RayOptions

    train = params.train
    options = RayOptions(address=train.ray_address, cpus=train.parallel_folds,
                         max_retries=train.ray_max_retries)
    return options if train.backend == "ray" else None


def _train(args: argparse.Namespace, params: Params) -> None:
    from tqdm import tqdm

    from mer.atomic import atomic_outputs, check_target
    from mer.core.clipset import load_clips
    from mer.core.records import file_digest, training_record
    from mer.evaluation.loso import (
        FoldOutcome,
        every_fold_cached,
        fold_keys,
        run_loso,
        superseded_folds,
    )
    from mer.evaluation.report import predictions_csv, predictions_frame
    from mer.evaluation.splits import check_training_classes, protocol_folds
    from mer.models.au_codes import known_aus
    from mer.models.learners import build_learners, ceiling_fits
    from mer.models.pretrain import pretrained_flownet
    from mer.tracking.runs import (
        TRAINING_TAG,
        copy_evaluation,
        link_fold_parents,
        log_dataset,
        log_fold,
        log_params,
        parent_name,
        parent_tags,
        training_digest,
    )
    from mer.tracking.store import PREDICTIONS_TAG, Tracker

    for output in (paths.PREDICTIONS, paths.TRAINING):  # before the folds, not after them
        check_target(output)
    clips = load_clips(paths.FEATURES, paths.MANIFEST, params.labels.scheme,
                       params)
    protocol = params.evaluation
    folds = protocol_folds(clips.clip_id, clips.subject, protocol)
    check_training_classes(clips.y, clips.classes, folds, protocol.protocol)
    coded = int(known_aus(clips.au_codes).sum())
    fits = ceiling_fits(params.train, clips, folds)  # before the CNN is pretrained
    learners = build_learners(params.train, has_au_codes=coded > 0 and fits,
                              has_au_features=clips.au_features.shape[1] > 0,
                              pretrained=pretrained_flownet(
                                  params, paths.project_cache(paths.PRETRAIN)))
    used = sorted({i for fold in folds for part in (fold.train, fold.test) for i in part.tolist()})
    log.info("%s over %d clips of %d subjects, %d fold%s: %s", protocol.protocol, len(used),
             len(set(clips.subject[used].tolist())), len(folds), "s"[:len(folds) != 1],
             ", ".join(m for learner in learners for m in learner.outputs))
    tracker = Tracker(params.tracking.experiment)
    data_hash = file_digest(paths.FEATURES, paths.MANIFEST)
    keys = fold_keys(clips, learners, folds, params.train.seed)
    training = training_digest(keys, params)
    # The same training again after it finished, with every fold cached (nothing to fit):
    # its parent run is reopened, not duplicated. Anything to fit is a new parent: resuming an
    # interrupted training (the stopped one keeps its KILLED or FAILED status and its folds),
    # a training whose fold cache was deleted (its finished parent keeps its runs), --fresh.
    cache = paths.project_cache(paths.FOLDS)
    unchanged = not args.fresh and every_fold_cached(cache, learners, folds, keys)
    superseded = 0 if args.fresh else superseded_folds(cache, learners, folds, keys)
    if superseded:  # a break-it session: a one-line change refitted every fold unexplained
        log.info("%d of the %d fold fits have a fit cached in %s under another key, so they "
                 "are fitted again: their data, the settings they read, the seed or mer's "
                 "code differ (an edit to any module the training imports, a comment "
                 "included, is new code)", superseded, len(learners) * len(folds), cache)
    earlier = (tracker.find_run(TRAINING_TAG, training, "FINISHED", name=parent_name(params))
               if unchanged else None)
    tags = None if earlier else {**parent_tags(data_hash), TRAINING_TAG: training}
    with tracker.run(parent_name(params), run_id=earlier, tags=tags) as parent, \
            tracker.system_metrics(parent, resume=earlier is not None):
        if earlier is None:
            log_params(tracker, parent, params)
            log_dataset(tracker, parent, paths.MANIFEST, clips, data_hash, params.labels.scheme)
        reused = []
        holders: set[str | None] = set()  # the parent runs that hold the folds' runs
        with tqdm(total=len(learners) * len(folds), desc=protocol.protocol, unit="fold") as bar:
            def on_fold(outcome: FoldOutcome, from_cache: bool) -> None:
                reused.append(from_cache)
                holders.add(log_fold(tracker, parent, outcome, clips,
                                     keys[outcome.learner, outcome.fold], from_cache))
                bar.set_postfix_str(f"{outcome.learner} {outcome.subject}"
                                    f"{' (cached)' if from_cache else ''}")
                bar.update()

            outcomes = run_loso(clips, learners, seed=params.train.seed, cache_dir=cache,
                                reuse=not args.fresh, workers=params.train.parallel_folds,
                                on_fold=on_fold, folds=folds, ray=ray_options(params))
        if any(reused):
            log.info("reused %d of %d fold fits, finished in %s by an earlier training with "
                     "the same data, settings and code (`mer train --fresh` fits every one "
                     "again)", sum(reused), len(reused), cache)
        link_fold_parents(tracker, parent, holders)
        held_out = sum(len(fold.test) for fold in folds)
        scored = sum(len(o.clip_id) for o in outcomes if o.learner == CEILING)
        if coded and fits and scored < held_out:
            log.info("%s: scored %d of the %d held-out clips, the ones with AU codes (when the "
                     "training clips have some)", CEILING, scored, held_out)
        with atomic_outputs(paths.PREDICTIONS, paths.TRAINING) as (predictions, training):
            predictions.write_text(predictions_csv(predictions_frame(outcomes, clips)),
                                   encoding="utf-8")
            predictions_sha = file_digest(predictions)
            training.write_text(training_record(params, data_hash, predictions_sha),
                                encoding="utf-8")
        tracker.log(parent, tags={PREDICTIONS_TAG: predictions_sha})
        tracker.log_file(parent, paths.PREDICTIONS)
        if earlier is None:
            copied = copy_evaluation(tracker, parent, predictions_sha=predictions_sha,
                                     data_hash=data_hash, scheme=params.labels.scheme)
            if copied:
                log.info("these predictions are byte for byte those of MLflow run %s, "
                         "evaluated there: its evaluation is copied to run %s (DVC will not "
                         "rerun `mer evaluate` for them)", copied, parent)
    log.info("wrote %s (MLflow run %s)", paths.PREDICTIONS, parent)
