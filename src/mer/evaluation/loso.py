"""The one LOSO loop: any learner, one fold per subject, out-of-fold probabilities.

The loop knows nothing about CNNs or SVMs. A ``Learner`` fits on the training subjects' clips
and returns a ``Fitted`` that predicts class probabilities for one or more named models. The
loop hands ``fit`` only the training clips and ``predict`` only the held-out clips with their
labels removed, so the held-out subject cannot reach training by construction; the tests prove
it by changing that subject and comparing bytes.

Folds are pure functions of (learner, data, fold, seed): they may run in worker processes in
any order with identical results, and each finished fold is persisted under a key hashing all
of those plus the code, so an interrupted run resumes and a stale fold is never reused. The
folds of the last few trainings (KEPT_TRAININGS) are kept: going back to earlier params (the
baseline after an experiment) finds them.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from mer.atomic import held_lock, write_text
from mer.core.clipset import ClipSet
from mer.core.workers import process_count, stop_workers
from mer.evaluation.splits import Fold, loso_folds
from mer.interrupts import (
    ignore_ctrl_c_in_worker,
    stop_if_requested,
    workers_start_without_ctrl_c,
)

if TYPE_CHECKING:
    from mer.evaluation.ray_folds import RayOptions

# Libraries whose version can change a fold's numbers: part of every fold's cache key.
NUMERIC_LIBRARIES = ("numpy", "torch", "lightning", "scikit-learn", "optuna", "albumentations",
                     "opencv-python-headless")
# What a fold fit runs: its key holds the digest of these and every mer module they import
# (mer.core.code; a break-it session: an edit to mer.features.sampling, which every fold
# imports, left every cached fold "made by the same code").
CODE_PACKAGES = ("mer.models", "mer.evaluation")
KEPT_TRAININGS = 8  # trainings whose cached folds data/folds keeps (this one included)
TRAININGS_INDEX = "trainings.index"  # in data/folds: the kept trainings' fold files (_prune)
INDEX_LOCK = "trainings.lock"  # in data/folds: held while the index is read and rewritten


class Fitted(Protocol):
    def predict(self, clips: ClipSet) -> dict[str, np.ndarray]:
        """Model name -> (N, K) class probabilities for ``clips`` (labels hidden)."""

    def report(self) -> dict[str, dict[str, Any]]:
        """Model name -> JSON-able facts about the fit (curves, tuned values, trials)."""


class Learner(Protocol):
    """A learner may also define ``scored(train, test) -> (len(test),) bool``: the held-out
    clips it can score given the fold's training clips (the AU-oracle: clips with AU codes,
    when the training clips have some), shown the held-out clips with their labels removed, as
    predict is. It is fitted and scored on those only; without the method, on every held-out
    clip. And ``reads_au_codes``, True for a learner whose input is the annotated AU codes
    (the AU-oracle): only then do held-out clips reach scored and predict with theirs
    (ClipSet.without_labels)."""

    name: str  # unique among the learners of a run
    outputs: tuple[str, ...]  # model names it predicts, in report order

    def spec(self) -> dict[str, Any]:
        """JSON-able description: everything that changes what fit returns."""

    def fit(self, train: ClipSet, seed: int) -> Fitted:
        """Fit on ``train`` (training subjects only, labels present)."""


@dataclass(frozen=True, eq=False)
class FoldOutcome:
    """One learner's out-of-fold result for one held-out subject."""

    learner: str
    fold: int
    subject: str
    clip_id: tuple[str, ...]
    proba: dict[str, np.ndarray]  # model -> (n_test, K) float64
    report: dict[str, dict[str, Any]]
    seconds: float  # wall time of the fit (informational only; not in any result)
    started: float | None = None  # when the fit began, Unix time in s (MLflow run times)

    def to_json(self, key: str) -> str:
        return json.dumps({
            "key": key, "learner": self.learner, "fold": self.fold, "subject": self.subject,
            "clip_id": list(self.clip_id),
            "proba": {m: p.tolist() for m, p in self.proba.items()},
            "report": self.report, "seconds": self.seconds, "started": self.started,
        }, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> tuple[str, FoldOutcome]:
        raw = json.loads(text)
        return raw["key"], cls(
            learner=raw["learner"], fold=raw["fold"], subject=raw["subject"],
            clip_id=tuple(raw["clip_id"]),
            # (0, 0) for a fold that scored no clip: JSON keeps no column count for it
            proba={m: np.asarray(p, dtype=np.float64).reshape(len(raw["clip_id"]), -1 if p
                                                              else 0)
                   for m, p in raw["proba"].items()},
            report=raw["report"], seconds=raw["seconds"],
            started=raw.get("started"))  # None in a fold cached by an older mer


def fold_seed(seed: int, fold: Fold) -> int:
    """The seed of a fold: train.seed + fold index."""
    return seed + fold.index


def fit_fold(learner: Learner, clips: ClipSet, fold: Fold, seed: int) -> Fitted:
    """Fit ``learner`` on the fold's training subjects only."""
    return learner.fit(clips.take(fold.train), fold_seed(seed, fold))


def scored_test(learner: Learner, clips: ClipSet, fold: Fold) -> np.ndarray:
    """Indices of the held-out clips ``learner`` scores in ``fold`` (Learner.scored)."""
    scored = getattr(learner, "scored", None)
    if scored is None:
        return fold.test
    # Labels removed: which held-out clips are scored may not depend on their labels (an
    # audit: the hook was handed them, where predict never is)
    return fold.test[np.asarray(scored(clips.take(fold.train),
                                       as_held_out(learner, clips.take(fold.test))), dtype=bool)]


def as_held_out(learner: Learner, clips: ClipSet) -> ClipSet:
    """Held-out ``clips`` as ``learner`` may see them: labels hidden, and the annotations that
    may carry one (ClipSet.without_labels), AU codes kept for a learner that reads them
    (Learner.reads_au_codes)."""
    return clips.without_labels(au_codes=getattr(learner, "reads_au_codes", False))


def run_fold(learner: Learner, clips: ClipSet, fold: Fold, seed: int) -> FoldOutcome:
    """Fit on the training subjects, predict the held-out subject with its labels removed."""
    from threadpoolctl import threadpool_limits

    from mer.core.workers import opencv_single_thread

    started, clock = time.time(), time.perf_counter()
    scored = clips.take(scored_test(learner, clips, fold))
    test = as_held_out(learner, scored)
    if len(test) == 0:  # nothing this learner can score here: nothing to fit
        return FoldOutcome(
            learner=learner.name, fold=fold.index, subject=fold.subject, clip_id=(),
            proba={m: np.zeros((0, clips.n_classes)) for m in learner.outputs},
            report={m: {} for m in learner.outputs}, seconds=0.0, started=started)
    # One BLAS/OpenMP thread: a fold's floats must not depend on how many cores its process
    # has (serial and parallel runs give equal bytes), and parallel workers must not compete;
    # one OpenCV thread, for the same reason (the CNN's augmentation warps with OpenCV).
    with threadpool_limits(limits=1), opencv_single_thread():
        fitted = fit_fold(learner, clips, fold, seed)
        predicted = fitted.predict(test)
    proba = {}
    for model in learner.outputs:
        p = np.asarray(predicted[model], dtype=np.float64)
        if p.shape != (len(test), clips.n_classes):
            raise ValueError(f"{learner.name} predicted {p.shape} for model {model}, expected "
                             f"({len(test)}, {clips.n_classes})")
        proba[model] = p
    report = fitted.report()
    return FoldOutcome(
        learner=learner.name, fold=fold.index, subject=fold.subject,
        clip_id=tuple(scored.clip_id.tolist()), proba=proba,
        report={m: report.get(m, {}) for m in learner.outputs},
        seconds=time.perf_counter() - clock, started=started)


def code_digest(roots: Sequence[str] = CODE_PACKAGES,
                libraries: Sequence[str] = NUMERIC_LIBRARIES) -> str:
    """sha256 of the mer source ``roots`` run (mer.core.code.source_digest: those modules and
    every mer module they import, transitively, with the package's data files) and the
    versions of ``libraries``."""
    from mer.core.code import source_digest

    sha = hashlib.sha256(source_digest(roots).encode())
    for library in libraries:
        try:
            sha.update(f"{library}=={metadata.version(library)}".encode())
        except metadata.PackageNotFoundError:
            sha.update(f"{library} absent".encode())
    return sha.hexdigest()


def fold_key(learner: Learner, data_digest: str, code: str, fold: Fold, seed: int) -> str:
    payload = json.dumps({"learner": learner.name, "spec": learner.spec(), "data": data_digest,
                          "code": code, "subject": fold.subject,
                          "seed": fold_seed(seed, fold)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def fold_keys(clips: ClipSet, learners: Sequence[Learner], folds: Sequence[Fold], seed: int
              ) -> dict[tuple[str, int], str]:
    """(learner name, fold index) -> the key its result is cached under: equal keys, equal
    results (same learner spec, data, code and seed)."""
    data_digest, code = clips.digest(), code_digest()
    return {(learner.name, fold.index): fold_key(learner, data_digest, code, fold, seed)
            for learner in learners for fold in folds}


KEY_CHARS = 16  # of a fold key (sha256 hex) in its cache file's name


def _cache_path(cache_dir: Path, learner: Learner, fold: Fold, key: str) -> Path:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in fold.subject)
    return cache_dir / f"{learner.name}_{fold.index:03d}_{safe}_{key[:KEY_CHARS]}.json"


def every_fold_cached(cache_dir: str | Path, learners: Sequence[Learner],
                      folds: Sequence[Fold], keys: dict[tuple[str, int], str]) -> bool:
    """True when ``cache_dir`` holds the result of every (learner, fold) under its key
    (``fold_keys``), so that run_loso with reuse would fit nothing."""
    cache = Path(cache_dir)
    return all(_load_cached(_cache_path(cache, learner, fold, keys[learner.name, fold.index]),
                            keys[learner.name, fold.index]) is not None
               for learner in learners for fold in folds)


def superseded_folds(cache_dir: str | Path, learners: Sequence[Learner],
                     folds: Sequence[Fold], keys: dict[tuple[str, int], str]) -> int:
    """How many (learner, fold) pairs have no result in ``cache_dir`` under their key
    (``fold_keys``) but one under another: fitted from other data, settings, seed or code,
    so fitted again."""
    cache = Path(cache_dir)
    stored = {path.name for path in cache.glob("*.json")}  # listed once, not per fold
    key_part = KEY_CHARS + len(".json")  # the end of a name, which holds the key
    stems = {name[:-key_part] for name in stored}
    count = 0
    for learner in learners:
        for fold in folds:
            name = _cache_path(cache, learner, fold, keys[learner.name, fold.index]).name
            if name not in stored and name[:-key_part] in stems:
                count += 1
    return count


def _load_cached(path: Path, key: str) -> FoldOutcome | None:
    if not path.exists():
        return None
    try:
        stored_key, outcome = FoldOutcome.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):  # recompute it
        return None  # damaged, foreign, or not a readable file (a folder at its path)
    return outcome if stored_key == key else None


# Worker processes receive the clips once, at start-up, not with every task.
_WORKER_CLIPS: ClipSet | None = None
ORPHAN_POLL_S = 0.5  # how often a worker checks that its parent is still alive


def _exit_when_orphaned(parent: int) -> None:
    """Watchdog thread of a worker: end the process as soon as its parent is gone.

    A parent killed outright (SIGKILL, OOM killer) cannot stop its workers, and an idle
    ProcessPoolExecutor worker would wait for work forever (keeping multiprocessing's resource
    tracker alive too). When the parent dies the worker is re-parented, so os.getppid()
    changes; that works on Linux and macOS alike (prctl's PR_SET_PDEATHSIG is Linux-only and
    fires when the parent *thread* that spawned the worker exits, which for a pool is not
    always the main one). os._exit: nothing in a worker is worth flushing, the parent writes
    every result."""
    while True:
        time.sleep(ORPHAN_POLL_S)
        if os.getppid() != parent:
            os._exit(1)


def _init_worker(clips: ClipSet, parent: int) -> None:
    global _WORKER_CLIPS
    _WORKER_CLIPS = clips
    ignore_ctrl_c_in_worker()  # blocked since it started (workers_start_without_ctrl_c)
    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True,
                     name="mer-orphan-watchdog").start()


def _run_in_worker(learner: Learner, fold: Fold, seed: int) -> FoldOutcome:
    assert _WORKER_CLIPS is not None
    return run_fold(learner, _WORKER_CLIPS, fold, seed)


OnFold = Callable[[FoldOutcome, bool], None]  # (outcome, came from the cache)


def run_loso(clips: ClipSet, learners: Sequence[Learner], *, seed: int,
             cache_dir: str | Path | None = None, reuse: bool = True, workers: int = 1,
             on_fold: OnFold | None = None, folds: Sequence[Fold] | None = None,
             ray: RayOptions | None = None) -> list[FoldOutcome]:
    """Every learner on every LOSO fold (or on ``folds``, e.g. cross-corpus ones); outcomes
    sorted by (learner order, fold).

    ``workers`` > 1 runs folds in that many spawned processes (same results as 1); with
    ``ray``, each fold is a Ray task instead (mer.evaluation.ray_folds; same results).
    With ``cache_dir``, finished folds are stored there and (if ``reuse``) reused when their
    key matches, and the folds of all but the KEPT_TRAININGS most recent trainings there are
    deleted (_prune), before fitting and again after: several processes may share the
    folder (DVC's queued experiments share the project's, mer.paths.project_cache).
    """
    names = [learner.name for learner in learners]
    if len(set(names)) != len(names):
        raise ValueError(f"learner names must be unique, got {names}")
    folds = loso_folds(clips.subject) if folds is None else folds
    cache = Path(cache_dir) if cache_dir is not None else None
    keys = fold_keys(clips, learners, folds, seed)
    done: dict[tuple[int, int], FoldOutcome] = {}
    pending: list[tuple[int, Learner, Fold, Path | None, str]] = []
    keep: set[Path] = set()
    for li, learner in enumerate(learners):
        for fold in folds:
            key = keys[learner.name, fold.index]
            path = _cache_path(cache, learner, fold, key) if cache else None
            if path is not None:
                keep.add(path)
            cached = _load_cached(path, key) if path and reuse else None
            if cached is not None:
                done[li, fold.index] = cached
                if on_fold:
                    on_fold(cached, True)
            else:
                pending.append((li, learner, fold, path, key))
    if cache is not None:  # listed first before any fit: another's prune keeps its folds
        _prune(cache, keep)

    def finish(li: int, outcome: FoldOutcome, path: Path | None, key: str) -> None:
        if path is not None:
            write_text(path, outcome.to_json(key))
        done[li, outcome.fold] = outcome
        if on_fold:
            on_fold(outcome, False)

    if ray is None and pending:  # train.parallel_folds: no more than the CPUs, or the folds
        workers = process_count(workers, len(pending), "train.parallel_folds")
    if ray is not None and pending:
        from mer.evaluation.ray_folds import run_on_ray

        run_on_ray(clips, pending, seed, ray, finish)
    elif workers <= 1:  # process_count: no more than the pending folds
        for li, learner, fold, path, key in pending:
            stop_if_requested()  # a Ctrl-C or SIGTERM Python dropped (mer.interrupts)
            finish(li, run_fold(learner, clips, fold, seed), path, key)
    else:
        # spawn, not fork: forking a process that already runs torch threads can deadlock.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context,
                                 initializer=_init_worker, initargs=(clips, os.getpid())
                                 ) as pool:
            futures: dict[Future[FoldOutcome], tuple[int, Path | None, str]] = {}
            try:  # submit spawns the workers: a signal may come while it does
                for li, learner, fold, path, key in pending:
                    with workers_start_without_ctrl_c():  # submit spawns them
                        future = pool.submit(_run_in_worker, learner, fold, seed)
                    futures[future] = (li, path, key)
                remaining = set(futures)
                while remaining:
                    stop_if_requested()  # after keeping every fold that finished
                    finished, remaining = wait(remaining, return_when=FIRST_COMPLETED)
                    for future in finished:
                        li, path, key = futures[future]
                        finish(li, future.result(), path, key)
            except BaseException:
                stop_workers(pool)
                raise
    if cache is not None:
        _prune(cache, keep)
    return [done[key] for key in sorted(done)]


def _prune(cache: Path, keep: set[Path]) -> None:
    """List this training (``keep``: its folds) first in TRAININGS_INDEX, and delete the
    cached folds of all but the KEPT_TRAININGS most recent trainings listed there: going back
    to the params before an experiment reuses their folds instead of fitting them again,
    whatever the trainings' sizes, and the cache stays bounded. Without an index (written by
    an older mer, or damaged) the other folds there count as one earlier training. Under
    INDEX_LOCK, so that trainings sharing the folder (queued DVC experiments) do not drop one
    another's entries; a training still fitting was listed when it started (run_loso), so
    another's prune keeps the folds it has finished."""
    with held_lock(cache / INDEX_LOCK, lambda: None):  # held for milliseconds: wait
        index = cache / TRAININGS_INDEX
        this = sorted(path.name for path in keep)
        try:
            earlier = json.loads(index.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            earlier = None
        if not (isinstance(earlier, list) and all(
                isinstance(names, list) and all(isinstance(n, str) for n in names)
                for names in earlier)):  # none yet (an older mer), or damaged
            # The folds there are one earlier training's, pruned as one: none is lost for it.
            others = sorted(p.name for p in cache.glob("*.json") if p.name not in this)
            earlier = [others] if others else []
        trainings = [this, *(names for names in earlier if names != this)][:KEPT_TRAININGS]
        kept = {name for names in trainings for name in names}
        for stale in cache.glob("*.json"):
            if stale.name not in kept and stale.is_file():
                stale.unlink(missing_ok=True)
        write_text(index, json.dumps(trainings, indent=1))
