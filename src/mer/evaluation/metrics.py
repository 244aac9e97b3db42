"""The one metrics module: scikit-learn's confusion matrix, accuracy, UAR, UF1, per class.

Conventions (MEGC), which scikit-learn's definitions follow: UAR is the mean recall over the
classes present in the truth (``balanced_accuracy_score``); UF1 the mean F1 over the classes
present in the truth or the predictions (``f1_score(average="macro")``: a class predicted but
never true scores F1 = 0; a class in neither is skipped). A ratio with a zero denominator (the
precision of a never-predicted class) is 0 (``zero_division=0``); the recall of a class with
no clip is undefined (NaN; None in the reports), as UAR leaves it out. Pooled metrics use every
fold's predictions at once; fold_* metrics are per fold: held-out subject (LOSO) or test
corpus (cross-corpus), their spread undefined (None) with one fold.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from sklearn import metrics as sk


def _checked(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int
             ) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{len(y_true)} labels but {len(y_pred)} predictions")
    if len(y_true) and (min(y_true.min(), y_pred.min()) < 0
                        or max(y_true.max(), y_pred.max()) >= n_classes):
        raise ValueError(f"class indices must lie in 0..{n_classes - 1}")
    return y_true, y_pred


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """(K, K) counts; row = actual class, column = predicted class."""
    y_true, y_pred = _checked(y_true, y_pred, n_classes)
    return sk.confusion_matrix(y_true, y_pred, labels=np.arange(n_classes)).astype(np.int64)


def per_class(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """(K,) recall and (K,) precision of each class: the recall of a class with no clip is
    NaN (undefined; UAR leaves the class out), the precision of a class never predicted 0."""
    y_true, y_pred = _checked(y_true, y_pred, n_classes)
    precision, recall, _, support = sk.precision_recall_fscore_support(
        y_true, y_pred, labels=np.arange(n_classes), zero_division=0)
    return np.where(support > 0, recall, np.nan), precision


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(sk.accuracy_score(y_true, y_pred)) if len(y_true) else 0.0


def uar(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Unweighted average recall: mean recall over classes present in ``y_true``."""
    y_true, y_pred = _checked(y_true, y_pred, n_classes)
    if not len(y_true):
        return 0.0
    with warnings.catch_warnings():  # "y_pred contains classes not in y_true": by design
        warnings.simplefilter("ignore", UserWarning)
        return float(sk.balanced_accuracy_score(y_true, y_pred))


def uf1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Unweighted F1: mean F1 over classes present in the truth or the predictions."""
    y_true, y_pred = _checked(y_true, y_pred, n_classes)
    if not len(y_true):
        return 0.0
    return float(sk.f1_score(y_true, y_pred, average="macro", zero_division=0))


def summarise(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str]
              ) -> dict[str, object]:
    """Pooled accuracy, UAR, UF1, per-class recall and precision, and the confusion matrix."""
    matrix = confusion(y_true, y_pred, len(classes))
    recall, precision = per_class(y_true, y_pred, len(classes))
    return {
        **scores(y_true, y_pred, len(classes)),
        "recall": {c: None if np.isnan(r) else r
                   for c, r in zip(classes, recall.tolist(), strict=True)},
        "precision": dict(zip(classes, precision.tolist(), strict=True)),
        "support": dict(zip(classes, matrix.sum(axis=1).tolist(), strict=True)),
        "confusion": matrix.tolist(),
        "clips": len(y_true),
    }


def scores(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict[str, float]:
    """accuracy, UAR and UF1 of one set of predictions (UAR/UF1 over the classes it shows)."""
    return {"accuracy": accuracy(y_true, y_pred), "uar": uar(y_true, y_pred, n_classes),
            "uf1": uf1(y_true, y_pred, n_classes)}


def fold_spread(y_true: np.ndarray, y_pred: np.ndarray, folds: np.ndarray, n_classes: int
                ) -> dict[str, float | None]:
    """Mean and population std (ddof=0) over folds of accuracy, UAR and UF1; the std is None
    with one fold (a cross-corpus run of one test corpus), where no spread is measured.

    Each fold is one held-out subject (LOSO) or test corpus (cross-corpus); its UAR/UF1
    average over the classes its clips show.
    """
    y_true, y_pred, folds = np.asarray(y_true), np.asarray(y_pred), np.asarray(folds)
    per_fold = [scores(y_true[folds == fold], y_pred[folds == fold], n_classes)
                for fold in np.unique(folds)]
    out: dict[str, float | None] = {"folds": len(per_fold)}
    for name in ("accuracy", "uar", "uf1"):
        values = [fold[name] for fold in per_fold]
        out[f"fold_mean_{name}"] = float(np.mean(values)) if values else 0.0
        out[f"fold_std_{name}"] = float(np.std(values)) if len(values) > 1 else None
    return out
