"""Train-stage cost: seconds per LOSO fold per learner, at CASME II's size, default params.

Synthetic structured features (tests/toy.py), not the embedded frames' features:
benchmarks.common's CASME II size (26 subjects x 10 clips) and the features stage's shapes at
the defaults (T=3 flow steps of 32x32, 576 AU-region features).
A couple of folds per learner are timed in this process, single-threaded as in a fold worker;
the whole-stage figure extrapolates them to 26 folds over train.parallel_folds workers; it
leaves out the pretraining that train.cnn.pretrain runs once per project (bench_pipeline's
`dvc repro` includes it). The reference nets as models of their own (opt-in, outside that
figure) are timed too, with the check behind their schedule (mer.models.references): the
final training loss at half, once and twice the epochs. The CNNs start from random weights
(benchmarks.common.without_pretraining): a pretrained start costs the same fit.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

from benchmarks.common import AU_FEATURES, CLIPS_PER_SUBJECT, SIZE, STEPS, SUBJECTS

TIMED_FOLDS = 2
PLATEAU_NOISE = 4.0  # toy noise of the reference schedule check: at 1.5 every net nears 0 loss


def _seconds(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def run() -> list[dict]:
    import numpy as np
    from tests.toy import toy_clips

    from benchmarks.common import without_pretraining
    from mer.config import AugmentParams, TrainParams
    from mer.evaluation.loso import run_fold
    from mer.evaluation.splits import loso_folds
    from mer.models.cnn import fit_cnn
    from mer.models.learners import build_learners

    params = without_pretraining(TrainParams())  # a fit's cost, not its start (common.py)
    clips = toy_clips(subjects=SUBJECTS, clips_per_subject=CLIPS_PER_SUBJECT, steps=STEPS,
                      size=SIZE, n_au=AU_FEATURES, noise=1.5)
    folds = loso_folds(clips.subject)
    train = clips.take(folds[0].train)
    shape = f"{len(train)} training clips, T={STEPS}, I={SIZE}, {params.cnn.epochs} epochs"
    fit_cnn(train, params.cnn.model_copy(update={"epochs": 1}), seed=0)  # warm-up (imports)

    with_augment = _seconds(lambda: fit_cnn(train, params.cnn, seed=0))
    plain = params.cnn.model_copy(update={"augment": AugmentParams(enabled=False)})
    without_augment = _seconds(lambda: fit_cnn(train, plain, seed=0))
    rows = [
        {"benchmark": "CNN fit, one fold", "value": with_augment, "unit": "s",
         "note": f"{shape}, augmentation on"},
        {"benchmark": "CNN fit without augmentation", "value": without_augment, "unit": "s",
         "note": "albumentations per clip and epoch costs the difference"},
    ]
    per_fold = {}
    for learner in build_learners(params, has_au_codes=True, has_au_features=True):
        seconds = [_seconds(lambda f=fold, lr=learner: run_fold(lr, clips, f, params.seed))
                   for fold in folds[:TIMED_FOLDS]]
        per_fold[learner.name] = float(np.mean(seconds))
        svm = (f"; the SVM's {params.svm.trials} Optuna trials" if "svm" in
               params.hybrid.experts else "")  # fitted only as an expert (mer.models.hybrid)
        what = {"cnn-hybrid": f"{params.cnn.ensemble} CNN fit(s) + the hybrid's experts "
                              f"({', '.join(params.hybrid.experts)}{svm}) (cnn and hybrid "
                              "outputs)",
                "svm": f"{params.svm.trials} Optuna trials x {params.svm.inner_folds} inner "
                       "folds on AU-region features",
                "au-oracle": "the same tuning on true AU codes",
                "majority": "class frequencies"}.get(learner.name, "")
        rows.append({"benchmark": f"fold: {learner.name}", "value": per_fold[learner.name],
                     "unit": "s/fold", "note": what})
    total = sum(per_fold.values()) * len(folds) / params.parallel_folds
    rows.append({"benchmark": "LOSO folds, whole train stage (estimate)", "value": total,
                 "unit": "s", "note": f"{len(folds)} folds x all learners / parallel_folds="
                 f"{params.parallel_folds}; add ~20 s of imports, worker start and MLflow"})
    return rows + _reference_rows(clips, params)


def _reference_rows(clips, params) -> list[dict]:
    import numpy as np
    from tests.toy import toy_clips

    from mer.config import REFERENCES
    from mer.evaluation.loso import run_fold
    from mer.evaluation.splits import loso_folds
    from mer.models.references import ReferenceLearner, fit_reference

    schedule = params.references
    folds = loso_folds(clips.subject)
    harder = toy_clips(subjects=SUBJECTS, clips_per_subject=CLIPS_PER_SUBJECT, steps=STEPS,
                       size=SIZE, noise=PLATEAU_NOISE)
    train = harder.take(loso_folds(harder.subject)[0].train)
    rows = []
    for name in REFERENCES:
        learner = ReferenceLearner(name, schedule)
        seconds = [_seconds(lambda f=fold, lr=learner: run_fold(lr, clips, f, params.seed))
                   for fold in folds[:TIMED_FOLDS]]
        rows.append({"benchmark": f"fold: {name}", "value": float(np.mean(seconds)),
                     "unit": "s/fold", "note": f"{schedule.epochs} epochs at lr "
                     f"{schedule.lr[name]:g}; as a model of its own (opt-in), not in the "
                     "estimate above" + ("; as the hybrid's expert it is in cnn-hybrid's fold"
                                         if name in params.hybrid.experts else "")})
        final = {}
        for epochs in (max(1, schedule.epochs // 2), schedule.epochs, 2 * schedule.epochs):
            longer = schedule.model_copy(update={"epochs": epochs})
            final[epochs] = fit_reference(name, train, longer, seed=0).train_loss[-1]
        rows.append({"benchmark": f"{name}: final training loss", "value": final[schedule.epochs],
                     "unit": "nats", "note": "after " + ", ".join(
                         f"{e} epochs {loss:.3f}" for e, loss in final.items())
                     + f" (toy noise {PLATEAU_NOISE}); doubling should gain < 0.02"})
    return rows


if __name__ == "__main__":
    from benchmarks.common import module_main

    raise SystemExit(module_main(run, __doc__))
