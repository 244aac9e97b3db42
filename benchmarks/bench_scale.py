"""Scale-out: the train stage's LOSO folds on the local pool vs on Ray, and a study's plan.

The same folds (CASME II's size: 26 subjects x 10 clips of tests/toy.py's structured features,
every default learner, a CNN budget cut to keep the benchmark to minutes) run twice on this
machine: ``run_loso`` with the local pool of 2 workers, then with train.backend ray on a Ray
started for the run with 2 CPUs (its start and stop counted: what `mer train` pays). Their
ratio is Ray's overhead here; their outputs are checked equal, byte for byte.

The plan on paper: a full study is folds x seeds x variants LOSO runs of every learner. Its
work is the per-fold costs measured here at default params on a toy set of the study's size
(68 subjects, about the composite's clips; one fold per learner, single-threaded as in a
worker), and its expected wall time on N one-CPU workers is that work / N,
times the overhead ratio measured above, never below the slowest single fold.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

from benchmarks.common import AU_FEATURES, CLIPS_PER_SUBJECT, SIZE, STEPS, SUBJECTS

WORKERS = 2  # this machine's cores
CNN_BUDGET = {"epochs": 5, "ensemble": 1}  # the pool vs Ray comparison only
SVM_BUDGET = {"trials": 10}
# The study planned: the MEGC2019 composite's 68 subjects, 5 seeds, 12 param variants.
STUDY_FOLDS, STUDY_SEEDS, STUDY_VARIANTS = 68, 5, 12
STUDY_CLIPS_PER_SUBJECT = 7  # 476 clips: the composite's 442 over 68 subjects, rounded up
PLAN_WORKERS = (2, 8, 32, 128)


def _timed(action):
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


def run() -> list[dict]:
    from tests.toy import toy_clips

    from benchmarks.common import without_pretraining
    from mer.config import TrainParams
    from mer.evaluation.loso import run_fold, run_loso
    from mer.evaluation.ray_folds import RayOptions
    from mer.evaluation.splits import loso_folds
    from mer.models.learners import build_learners

    clips = toy_clips(subjects=SUBJECTS, clips_per_subject=CLIPS_PER_SUBJECT, steps=STEPS,
                      size=SIZE, n_au=AU_FEATURES, noise=1.5)
    defaults = without_pretraining(TrainParams())  # a fold's cost, not its start (common.py)
    cut = defaults.model_copy(update={
        "cnn": defaults.cnn.model_copy(update=CNN_BUDGET),
        "svm": defaults.svm.model_copy(update=SVM_BUDGET)})
    learners = build_learners(cut, has_au_codes=True, has_au_features=True)
    tasks = len(learners) * len(loso_folds(clips.subject))

    local, local_s = _timed(lambda: run_loso(clips, learners, seed=0, workers=WORKERS))
    on_ray, ray_s = _timed(lambda: run_loso(clips, learners, seed=0,
                                            ray=RayOptions(cpus=WORKERS)))
    same = all(a.proba.keys() == b.proba.keys() and
               all(a.proba[m].tobytes() == b.proba[m].tobytes() for m in a.proba)
               for a, b in zip(local, on_ray, strict=True))
    ratio = ray_s / local_s
    budget = (f"{tasks} (learner, fold) tasks, CNN {CNN_BUDGET['epochs']} epochs x "
              f"{CNN_BUDGET['ensemble']}, SVM {SVM_BUDGET['trials']} trials")
    rows = [
        {"benchmark": "train folds, local pool", "value": local_s, "unit": "s",
         "note": f"{budget}; {WORKERS} spawned workers, their start included"},
        {"benchmark": "train folds, Ray", "value": ray_s, "unit": "s",
         "note": f"the same on a Ray started for the run with {WORKERS} CPUs (start and stop "
                 f"included); outputs byte-identical to the pool: {same}"},
        {"benchmark": "Ray / local pool", "value": ratio, "unit": "x",
         "note": "Ray's overhead on this machine: its start (~10 s of processes) and a "
                 "worker per CPU importing torch, spread over the run"},
    ]

    # The plan's folds at the study's size: the composite's 68 subjects and about its 442
    # clips (a break-it session: folds timed at CASME II's 255 clips planned the study)
    study = toy_clips(subjects=STUDY_FOLDS, clips_per_subject=STUDY_CLIPS_PER_SUBJECT,
                      steps=STEPS, size=SIZE, n_au=AU_FEATURES, noise=1.5)
    first = loso_folds(study.subject)[0]
    per_fold = {learner.name: _timed(lambda lr=learner: run_fold(lr, study, first, 0))[1]
                for learner in build_learners(defaults, has_au_codes=True,
                                              has_au_features=True)}
    return rows + plan_rows(per_fold, ratio, len(study))


def plan_rows(per_fold: dict[str, float], ratio: float, clips: int) -> list[dict]:
    """The study's plan: ``per_fold`` (learner -> seconds of one fold at the study's size,
    ``clips`` clips), times STUDY_FOLDS x STUDY_SEEDS x STUDY_VARIANTS, over N workers times
    Ray's overhead ``ratio`` (Ray / local pool), never below 1: Ray measured faster than the
    pool measures the machine's load, not Ray (the re-check saw 0.51 under load, which
    planned a study in half its work's time per worker)."""
    run_work = sum(per_fold.values()) * STUDY_FOLDS
    study_work = run_work * STUDY_SEEDS * STUDY_VARIANTS
    slowest = max(per_fold.values())
    overhead = max(ratio, 1.0)
    said = (f"{overhead:.2f} (the overhead above)" if ratio >= 1.0 else
            f"1.00 (no overhead: the {ratio:.2f} above is below 1, the machine's load)")
    rows = [{"benchmark": "plan: work of one LOSO run, default params", "value":
             run_work / 3600, "unit": "CPU h", "note": f"{STUDY_FOLDS} folds x ("
             + ", ".join(f"{name} {s:.2f} s" for name, s in per_fold.items())
             + f") per fold, measured here on {clips} clips of {STUDY_FOLDS} "
             "subjects (the MEGC2019 composite: 442)"},
            {"benchmark": "plan: work of the study", "value": study_work / 3600,
             "unit": "CPU h", "note": f"{STUDY_FOLDS} folds x {STUDY_SEEDS} seeds x "
             f"{STUDY_VARIANTS} variants = "
             f"{STUDY_FOLDS * STUDY_SEEDS * STUDY_VARIANTS * len(per_fold)} Ray tasks"}]
    for workers in PLAN_WORKERS:
        wall = max(study_work / workers * overhead, slowest)
        rows.append({"benchmark": f"plan: study on {workers} workers", "value": wall / 3600,
                     "unit": "h", "note": f"work / {workers} x {said}; variants as DVC queue "
                     "entries sharing one Ray cluster"})
    rows.append({"benchmark": "plan: slowest single fold", "value": slowest, "unit": "s",
                 "note": "the floor of any wall time: a fold is one task, never split"})
    return rows


if __name__ == "__main__":
    from benchmarks.common import module_main

    raise SystemExit(module_main(run, __doc__))
