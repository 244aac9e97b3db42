"""The LOSO loop: resuming, never reusing a stale fold, parallel = serial."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from mer.config import SvmParams
from mer.core.clipset import ClipSet
from mer.evaluation.loso import FoldOutcome, run_fold, run_loso
from mer.evaluation.splits import loso_folds
from mer.models.learners import HybridLearner, MajorityLearner, SvmLearner


def same(a: list[FoldOutcome], b: list[FoldOutcome]) -> bool:
    if [(o.learner, o.subject, o.clip_id) for o in a] != \
            [(o.learner, o.subject, o.clip_id) for o in b]:
        return False
    return all(x.proba.keys() == y.proba.keys()
               and all(x.proba[m].tobytes() == y.proba[m].tobytes() for m in x.proba)
               and x.report == y.report for x, y in zip(a, b, strict=True))


@dataclass(frozen=True)
class Like:
    """A learner with ``inner``'s name, outputs and cache key."""

    inner: Any

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def outputs(self) -> tuple[str, ...]:
        return self.inner.outputs

    def spec(self) -> dict[str, Any]:
        return self.inner.spec()


@dataclass(frozen=True)
class PowerCut(Like):
    """Behaves exactly like ``inner`` (same name and cache key) but dies on one fold."""

    held_out: str

    def fit(self, train: ClipSet, seed: int) -> Any:
        if self.held_out not in set(train.subject.tolist()):
            raise KeyboardInterrupt("power cut")
        return self.inner.fit(train, seed)


@dataclass(frozen=True)
class OpenCvThreadsSeen(Like):
    """Behaves like ``inner`` and reports how many threads OpenCV had while it was fitted."""

    def fit(self, train: ClipSet, seed: int) -> Any:
        import cv2

        threads = cv2.getNumThreads()
        fitted = self.inner.fit(train, seed)

        class Fitted:
            predict = staticmethod(fitted.predict)

            def report(self) -> dict[str, dict[str, Any]]:
                return {m: {"opencv_threads": threads} for m in fitted.report()}
        return Fitted()


def svm(params) -> SvmLearner:
    return SvmLearner("svm", "au-region", params.svm)


def test_an_interrupted_run_resumes_from_its_finished_folds(clips, params, tmp_path):
    learners = [svm(params), MajorityLearner()]
    reference = run_loso(clips, learners, seed=0)
    subjects = [fold.subject for fold in loso_folds(clips.subject)]
    with pytest.raises(KeyboardInterrupt):
        run_loso(clips, [PowerCut(learners[0], subjects[3]), learners[1]], seed=0,
                 cache_dir=tmp_path)
    assert len(list(tmp_path.glob("svm_*.json"))) == 3  # folds 0-2 finished and persisted

    seen: list[tuple[str, bool]] = []
    resumed = run_loso(clips, learners, seed=0, cache_dir=tmp_path,
                       on_fold=lambda outcome, cached: seen.append((outcome.subject, cached)))
    assert sorted(s for s, cached in seen if cached) == subjects[:3]
    assert same(resumed, reference)


def test_changed_params_never_reuse_a_fold(clips, params, tmp_path):
    run_loso(clips, [svm(params)], seed=0, cache_dir=tmp_path)
    before = {p.name for p in tmp_path.glob("*.json")}
    other = SvmLearner("svm", "au-region", SvmParams(trials=4, inner_folds=2))
    cached = []
    run_loso(clips, [other], seed=0, cache_dir=tmp_path,
             on_fold=lambda outcome, from_cache: cached.append(from_cache))
    assert not any(cached)
    after = {p.name for p in tmp_path.glob("*.json")}
    assert len(after) == 2 * len(before) and before < after  # the earlier folds are kept
    cached.clear()
    run_loso(clips, [other], seed=1, cache_dir=tmp_path,  # another seed: another key
             on_fold=lambda outcome, from_cache: cached.append(from_cache))
    assert not any(cached)


def test_going_back_to_earlier_params_reuses_their_folds_within_a_bound(clips, params,
                                                                         tmp_path,
                                                                         monkeypatch):
    """The issue: after an experiment, going back to the baseline fitted every fold the
    experiment had changed again (the cache kept one training). The last KEPT_TRAININGS
    trainings' folds are kept, the least recently used go first."""
    from mer.evaluation import loso

    monkeypatch.setattr(loso, "KEPT_TRAININGS", 2)
    trainings = [svm(params), SvmLearner("svm", "au-region", SvmParams(trials=4, inner_folds=2)),
                 SvmLearner("svm", "au-region", SvmParams(trials=5, inner_folds=2))]
    cached = []

    def train(learner):
        cached.clear()
        run_loso(clips, [learner], seed=0, cache_dir=tmp_path,
                 on_fold=lambda outcome, from_cache: cached.append(from_cache))

    folds = len(set(clips.subject.tolist()))
    train(trainings[0])
    train(trainings[1])
    train(trainings[0])  # back to the baseline: nothing to fit
    assert len(cached) == folds and all(cached)
    train(trainings[2])  # a third: the least recently used (trainings[1]) is pruned
    assert len(list(tmp_path.glob("*.json"))) == 2 * folds
    train(trainings[0])
    assert all(cached)
    train(trainings[1])
    assert not any(cached)


def test_a_small_training_does_not_evict_a_bigger_ones_folds(clips, params, tmp_path,
                                                             monkeypatch):
    """The issue: the cache kept (KEPT_TRAININGS - 1) x this training's fold count of other
    files, so one small experiment (one learner, or one cross-corpus fold) deleted most of
    the baseline's folds, and going back refitted them."""
    from mer.evaluation import loso

    monkeypatch.setattr(loso, "KEPT_TRAININGS", 2)
    folds = loso_folds(clips.subject)
    baseline = [svm(params), MajorityLearner()]
    run_loso(clips, baseline, seed=0, cache_dir=tmp_path)
    run_loso(clips, [MajorityLearner()], seed=1, cache_dir=tmp_path, folds=folds[:1])
    cached = []
    run_loso(clips, baseline, seed=0, cache_dir=tmp_path,
             on_fold=lambda outcome, from_cache: cached.append(from_cache))
    assert len(cached) == 2 * len(folds) and all(cached)


@pytest.mark.parametrize("index", [None, "{half", '{"a": 1}', "[1, 2]"])
def test_without_a_readable_index_the_folds_there_are_kept_as_one_training(
        clips, params, tmp_path, monkeypatch, index):
    """The issue: with no trainings.index (the first run after an older mer wrote the folds)
    or a damaged one, the next training deleted every other training's folds."""
    from mer.evaluation import loso

    monkeypatch.setattr(loso, "KEPT_TRAININGS", 2)
    folds = loso_folds(clips.subject)
    baseline = [svm(params), MajorityLearner()]
    run_loso(clips, baseline, seed=0, cache_dir=tmp_path)
    listed = tmp_path / loso.TRAININGS_INDEX
    if index is None:
        listed.unlink()
    else:
        listed.write_text(index)
    run_loso(clips, [MajorityLearner()], seed=1, cache_dir=tmp_path, folds=folds[:1])
    cached = []
    run_loso(clips, baseline, seed=0, cache_dir=tmp_path,
             on_fold=lambda outcome, from_cache: cached.append(from_cache))
    assert len(cached) == 2 * len(folds) and all(cached)


@pytest.mark.parametrize("damage", ["{half a fi", "[]", "null", "1", '"x"', '{"key": 1}',
                                    "folder"])
def test_a_corrupt_fold_file_is_recomputed(clips, params, tmp_path, damage):
    """Cut short, JSON of another shape (the issue: `[]` was a TypeError traceback) or not a
    file (a folder at its path: an IsADirectoryError traceback)."""
    reference = run_loso(clips, [MajorityLearner()], seed=0, cache_dir=tmp_path)
    victim = sorted(tmp_path.glob("*.json"))[0]
    if damage == "folder":
        victim.unlink()
        victim.mkdir()
        from mer.evaluation.loso import _load_cached

        assert _load_cached(victim, "any") is None  # read as missing: the fold is refitted
        victim.rmdir()  # (writing it there would be refused: mer.atomic)
        return
    victim.write_text(damage)
    assert same(run_loso(clips, [MajorityLearner()], seed=0, cache_dir=tmp_path), reference)


@pytest.mark.slow
def test_parallel_folds_give_the_serial_bytes(clips, params):
    learners = [HybridLearner(params), svm(params)]
    serial = run_loso(clips, learners, seed=0, workers=1)
    parallel = run_loso(clips, learners, seed=0, workers=2)
    assert same(serial, parallel)


def test_a_fold_runs_opencv_on_one_thread(clips):
    """A fold is one task per core: OpenCV (the CNN's augmentation warps) must not start a
    pool of its own beside it, and the process's setting comes back after the fold."""
    import cv2

    before = cv2.getNumThreads()
    cv2.setNumThreads(2)
    try:
        fold = loso_folds(clips.subject)[0]
        outcome = run_fold(OpenCvThreadsSeen(MajorityLearner()), clips, fold, seed=0)
        assert outcome.report["majority"] == {"opencv_threads": 1}
        assert cv2.getNumThreads() == 2
    finally:
        cv2.setNumThreads(before)


@pytest.mark.parametrize("apex_stream", [False, True])
def test_precomputed_flow_images_run_under_loso(params, apex_stream):
    """MEGC-style inputs: one flow image per clip (T=1), apex frames all zero."""
    import numpy as np

    from toy import toy_clips

    flow_images = toy_clips(steps=1, with_apex=False)
    cnn = params.cnn.model_copy(update={"apex_stream": apex_stream})
    learner = HybridLearner(params.model_copy(update={"cnn": cnn}))
    outcomes = run_loso(flow_images, [learner], seed=0)
    assert len(outcomes) == len(set(flow_images.subject.tolist()))
    for outcome in outcomes:
        for proba in outcome.proba.values():
            assert np.isfinite(proba).all() and np.allclose(proba.sum(axis=1), 1.0)


def test_queued_dvc_experiments_share_the_projects_folds(clips, params, tmp_path,
                                                          monkeypatch):
    """`dvc queue start` runs each variant in its own copy under .dvc/tmp/exps/, which starts
    without data/folds: every queued variant fitted every fold again (a break-it session),
    even those its params leave unchanged. They share the project's (project_cache)."""
    from mer import paths

    learners = [svm(params), MajorityLearner()]
    folds = len(set(clips.subject.tolist()))
    monkeypatch.chdir(tmp_path)
    run_loso(clips, learners, seed=0, cache_dir=paths.project_cache(paths.FOLDS))
    cached = []

    def note(outcome, from_cache):
        cached.append((outcome.learner, from_cache))

    for copy in ("tmpa1", "tmpb2"):
        cached.clear()
        folder = tmp_path / ".dvc" / "tmp" / "exps" / copy
        folder.mkdir(parents=True)
        monkeypatch.chdir(folder)
        outcomes = run_loso(clips, [SvmLearner("svm", "au-region",
                                               SvmParams(trials=4, inner_folds=2)),
                                    MajorityLearner()],
                            seed=0, cache_dir=paths.project_cache(paths.FOLDS), on_fold=note)
        assert len(outcomes) == 2 * folds
        assert sorted(cached) == sorted([("majority", True)] * folds + [("svm", copy == "tmpb2")]
                                        * folds)  # the second variant reuses the first's
        assert not (folder / paths.FOLDS).exists()
    listed = json.loads((tmp_path / paths.FOLDS / "trainings.index").read_text())
    assert len(listed) == 2  # the variant (twice) and the baseline, whose folds are kept


def test_a_training_still_fitting_keeps_its_folds_when_another_finishes(clips, params,
                                                                        tmp_path, monkeypatch):
    """Two queued experiments share the project's fold cache: one that finished pruned it to
    the trainings listed in the index, deleting the folds the other had finished so far (it
    was not listed until it finished), and the other's resume fitted them again. A training
    is listed when it starts."""
    from mer.evaluation import loso

    monkeypatch.setattr(loso, "KEPT_TRAININGS", 2)
    run_loso(clips, [MajorityLearner()], seed=2, cache_dir=tmp_path)  # an earlier training

    def meanwhile(outcome, from_cache):  # another training starts and finishes
        if outcome.fold == 0:
            run_loso(clips, [MajorityLearner()], seed=1, cache_dir=tmp_path)

    learner = svm(params)
    folds = loso_folds(clips.subject)
    run_loso(clips, [learner], seed=0, cache_dir=tmp_path, folds=folds[:2], on_fold=meanwhile)
    cached = []
    run_loso(clips, [learner], seed=0, cache_dir=tmp_path, folds=folds[:2],
             on_fold=lambda outcome, from_cache: cached.append(from_cache))
    assert cached == [True, True]
