"""RBF SVMs whose C and gamma Optuna tunes on an inner split grouped by subject.

``fit_tuned_svm`` is the whole recipe (inner split, tuning, final fit, calibration), shared by
the AU-region SVM, the AU-oracle and the hybrid's SVM. Tuning and calibration are expressed
over ``InnerProblem``s (inner-train / inner-validation pairs). Every scaler is fitted on the
part it standardises for (inner-train, or the fold's training subjects for the final SVM).
The objective is the inner UAR of the class-balanced SVM's decisions; probabilities come from
a balanced calibrator fitted on the inner-validation decision scores (see fit_rbf_svm), and
the prediction is their argmax.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from mer.config import SvmParams
from mer.evaluation.metrics import uar
from mer.evaluation.splits import inner_splits
from mer.interrupts import stop_if_requested
from mer.models.seeds import derive_seed

SPLIT_STREAM, TUNE_STREAM = 2, 3  # derive_seed keys of the inner split and of Optuna


@dataclass(frozen=True, eq=False)
class InnerProblem:
    """One inner fold: features and labels of its training and validation subjects."""

    x_train: np.ndarray  # (n, D)
    y_train: np.ndarray  # (n,)
    x_val: np.ndarray  # (m, D)
    y_val: np.ndarray  # (m,)


@dataclass(frozen=True)
class Tuning:
    """The chosen C and gamma and every trial that led there."""

    c: float
    gamma: float
    inner_uar: float
    trials: tuple[dict[str, float], ...]  # {"trial" (int), "c", "gamma", "inner_uar"}


ABSENT_SCORE = -1.0  # decision score of a class the SVM never saw: below any vote count
CALIBRATION_MAX_ITER = 1000  # lbfgs stops at sklearn's default 100 before converging on these


def class_scores(svc: SVC, x: np.ndarray, n_classes: int) -> np.ndarray:
    """(N, K) one-vs-rest decision scores in the scheme's class order.

    Inner and final SVMs may see different subsets of classes, so their raw columns differ;
    here column k is always class k.
    """
    raw = svc.decision_function(x)
    out = np.full((len(x), n_classes), ABSENT_SCORE)
    if raw.ndim == 1:  # two classes: sklearn returns the score of classes_[1] only
        out[:, svc.classes_[1]], out[:, svc.classes_[0]] = raw, -raw
    else:
        out[:, svc.classes_] = raw
    return out


def _balanced_svc(c: float, gamma: float) -> SVC:
    return SVC(C=c, gamma=gamma, kernel="rbf", class_weight="balanced")


@dataclass(frozen=True, eq=False)
class RbfSvm:
    """Standardiser + balanced RBF SVC, and a calibrator from its scores to probabilities."""

    scaler: StandardScaler
    svc: SVC
    calibrator: LogisticRegression | None  # None: fewer than 2 classes to calibrate on
    n_classes: int

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(N, D) -> (N, K) probabilities of every class of the scheme."""
        out = np.zeros((len(x), self.n_classes))
        if len(x) == 0:
            return out
        scores = class_scores(self.svc, self.scaler.transform(x), self.n_classes)
        if self.calibrator is None:
            out[np.arange(len(x)), scores.argmax(axis=1)] = 1.0
            return out
        out[:, self.calibrator.classes_] = self.calibrator.predict_proba(scores)
        return out


def fit_rbf_svm(x: np.ndarray, y: np.ndarray, n_classes: int, c: float, gamma: float,
                problems: Sequence[InnerProblem]) -> RbfSvm:
    """Fit the scaler and SVC on (x, y); calibrate on the inner problems' validation scores.

    Calibration: a class-balanced multinomial logistic regression (sklearn's default L2) from the
    K decision scores to the class, fitted on scores the inner SVMs gave to subjects they were
    not trained on (for the hybrid, also embedded by a CNN that never saw them). So the
    probabilities are honest for an unseen subject and balanced (equal class priors, what UAR
    rewards), and the prediction is their argmax. sklearn's SVC(probability=True) would
    instead calibrate on ungrouped folds of the training clips, and is deprecated.
    """
    scores, labels = [], []
    for problem in problems:
        scaler = StandardScaler().fit(problem.x_train)
        if len(np.unique(problem.y_train)) < 2:
            continue
        svc = _balanced_svc(c, gamma).fit(scaler.transform(problem.x_train), problem.y_train)
        scores.append(class_scores(svc, scaler.transform(problem.x_val), n_classes))
        labels.append(problem.y_val)
    calibrator = None
    if labels and len(np.unique(np.concatenate(labels))) >= 2:
        calibrator = LogisticRegression(class_weight="balanced", max_iter=CALIBRATION_MAX_ITER).fit(
            np.concatenate(scores), np.concatenate(labels))
    scaler = StandardScaler().fit(x)
    svc = _balanced_svc(c, gamma).fit(scaler.transform(x), y)
    return RbfSvm(scaler=scaler, svc=svc, calibrator=calibrator, n_classes=n_classes)


def _inner_uar(problems: Sequence[_Precomputed], c: float, gamma: float, n_classes: int
               ) -> float:
    """UAR of the pooled inner-validation predictions (the outer protocol, one level down)."""
    truth, predicted = [], []
    for p in problems:
        if len(np.unique(p.y_train)) < 2:  # nothing to learn: predict the only class
            guess = np.full(len(p.y_val), p.y_train[0])
        else:
            svc = SVC(C=c, kernel="precomputed", class_weight="balanced")
            guess = svc.fit(np.exp(-gamma * p.d_train), p.y_train).predict(
                np.exp(-gamma * p.d_val))
        truth.append(p.y_val)
        predicted.append(guess)
    return uar(np.concatenate(truth), np.concatenate(predicted), n_classes)


@dataclass(frozen=True, eq=False)
class _Precomputed:
    """An inner problem as squared distances of its standardised features: each trial only
    exponentiates them (the RBF kernel exp(-gamma d^2)), 2-3x faster than refitting on the
    raw features, with the same predictions."""

    d_train: np.ndarray  # (n, n)
    y_train: np.ndarray
    d_val: np.ndarray  # (m, n)
    y_val: np.ndarray

    @classmethod
    def of(cls, problem: InnerProblem) -> _Precomputed:
        scaler = StandardScaler().fit(problem.x_train)  # inner-train statistics only
        x_train, x_val = scaler.transform(problem.x_train), scaler.transform(problem.x_val)
        return cls(euclidean_distances(x_train, squared=True), problem.y_train,
                   euclidean_distances(x_val, x_train, squared=True), problem.y_val)


def tune_c_gamma(problems: Sequence[InnerProblem], params: SvmParams, n_classes: int,
                 seed: int) -> Tuning:
    """Optuna TPE search of log C and log gamma maximising the pooled inner UAR."""
    import optuna

    precomputed = [_Precomputed.of(p) for p in problems]

    def objective(trial: optuna.Trial) -> float:
        c = trial.suggest_float("c", params.c_min, params.c_max, log=True)
        gamma = trial.suggest_float("gamma", params.gamma_min, params.gamma_max, log=True)
        return _inner_uar(precomputed, c, gamma, n_classes)

    optuna_logger = logging.getLogger("optuna")
    level = optuna_logger.level
    optuna_logger.setLevel(logging.WARNING)
    try:
        study = optuna.create_study(direction="maximize",
                                    sampler=optuna.samplers.TPESampler(seed=seed))
        # The callback raises a Ctrl-C or SIGTERM Python dropped (mer.interrupts).
        study.optimize(objective, n_trials=params.trials,
                       callbacks=[lambda study, trial: stop_if_requested()])
    finally:
        optuna_logger.setLevel(level)
    trials = tuple({"trial": t.number, "c": t.params["c"], "gamma": t.params["gamma"],
                    "inner_uar": float(t.value)} for t in study.trials if t.value is not None)
    best = study.best_trial
    return Tuning(c=best.params["c"], gamma=best.params["gamma"], inner_uar=float(best.value),
                  trials=trials)


@dataclass(frozen=True, eq=False)
class TunedSvm:
    """A fitted, calibrated SVM, the tuning that chose its C and gamma, and the inner split."""

    svm: RbfSvm
    tuning: Tuning
    inner_val_subjects: tuple[tuple[str, ...], ...]  # validation subjects of each inner fold

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.svm.predict_proba(x)

    def report(self) -> dict[str, object]:
        return {"c": self.tuning.c, "gamma": self.tuning.gamma,
                "inner_uar": self.tuning.inner_uar, "trials": list(self.tuning.trials),
                "inner_val_subjects": [list(s) for s in self.inner_val_subjects]}


def fit_tuned_svm(x: np.ndarray, y: np.ndarray, subjects: np.ndarray, n_classes: int,
                  params: SvmParams, seed: int) -> TunedSvm:
    """Tune C and gamma on an inner split of these (training) subjects, then fit on all of them.

    Equal seeds give equal models, so the hybrid's SVM is the reported 'svm' model exactly.
    """
    splits = inner_splits(y, subjects, params.inner_folds, derive_seed(seed, SPLIT_STREAM))
    problems = [InnerProblem(x[tr], y[tr], x[va], y[va]) for tr, va in splits]
    tuning = tune_c_gamma(problems, params, n_classes, derive_seed(seed, TUNE_STREAM))
    svm = fit_rbf_svm(x, y, n_classes, tuning.c, tuning.gamma, problems)
    inner_subjects = tuple(tuple(sorted(set(subjects[va].tolist()))) for _, va in splits)
    return TunedSvm(svm, tuning, inner_subjects)
