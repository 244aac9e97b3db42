"""The one metrics module: confusion matrix, accuracy, UAR, UF1, per-class recall/precision.

Conventions (MEGC): UAR is the mean recall over the classes present in the truth; UF1 the
mean F1 over the classes present in the truth or the predictions (a class predicted but never
true scores F1 = 0; a class in neither is undefined and skipped). A ratio with a zero
denominator (the precision of a never-predicted class) is 0, as sklearn's zero_division=0.
Pooled metrics use every fold's predictions at once; fold_* metrics are per held-out subject.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """(K, K) counts; row = actual class, column = predicted class."""
    y_true, y_pred = np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{len(y_true)} labels but {len(y_pred)} predictions")
    if len(y_true) and (min(y_true.min(), y_pred.min()) < 0
                        or max(y_true.max(), y_pred.max()) >= n_classes):
        raise ValueError(f"class indices must lie in 0..{n_classes - 1}")
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros(len(num)), where=den > 0)


def recall_per_class(matrix: np.ndarray) -> np.ndarray:
    return _ratio(np.diag(matrix).astype(float), matrix.sum(axis=1).astype(float))


def precision_per_class(matrix: np.ndarray) -> np.ndarray:
    return _ratio(np.diag(matrix).astype(float), matrix.sum(axis=0).astype(float))


def f1_per_class(matrix: np.ndarray) -> np.ndarray:
    tp = np.diag(matrix).astype(float)
    return _ratio(2 * tp, (matrix.sum(axis=0) + matrix.sum(axis=1)).astype(float))


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    y_true = np.asarray(y_true)
    return float(np.mean(y_true == np.asarray(y_pred))) if len(y_true) else 0.0


def uar_of(matrix: np.ndarray) -> float:
    present = matrix.sum(axis=1) > 0
    return float(recall_per_class(matrix)[present].mean()) if present.any() else 0.0


def uf1_of(matrix: np.ndarray) -> float:
    seen = (matrix.sum(axis=1) + matrix.sum(axis=0)) > 0
    return float(f1_per_class(matrix)[seen].mean()) if seen.any() else 0.0


def uar(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Unweighted average recall: mean recall over classes present in ``y_true``."""
    return uar_of(confusion(y_true, y_pred, n_classes))


def uf1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Unweighted F1: mean F1 over classes present in the truth or the predictions."""
    return uf1_of(confusion(y_true, y_pred, n_classes))


def summarise(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str]
              ) -> dict[str, object]:
    """Pooled accuracy, UAR, UF1, per-class recall and precision, and the confusion matrix."""
    matrix = confusion(y_true, y_pred, len(classes))
    return {
        "accuracy": accuracy(y_true, y_pred),
        "uar": uar_of(matrix),
        "uf1": uf1_of(matrix),
        "recall": dict(zip(classes, recall_per_class(matrix).tolist(), strict=True)),
        "precision": dict(zip(classes, precision_per_class(matrix).tolist(), strict=True)),
        "support": dict(zip(classes, matrix.sum(axis=1).tolist(), strict=True)),
        "confusion": matrix.tolist(),
        "clips": len(y_true),
    }


def scores(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict[str, float]:
    """accuracy, UAR and UF1 of one set of predictions (UAR/UF1 over the classes it shows)."""
    matrix = confusion(y_true, y_pred, n_classes)
    return {"accuracy": accuracy(y_true, y_pred), "uar": uar_of(matrix), "uf1": uf1_of(matrix)}


def fold_spread(y_true: np.ndarray, y_pred: np.ndarray, folds: np.ndarray, n_classes: int
                ) -> dict[str, float]:
    """Mean and population std (ddof=0) over folds of accuracy, UAR and UF1.

    Each fold is one held-out subject; its UAR/UF1 average over the classes that subject shows.
    """
    y_true, y_pred, folds = np.asarray(y_true), np.asarray(y_pred), np.asarray(folds)
    per_fold = [scores(y_true[folds == fold], y_pred[folds == fold], n_classes)
                for fold in np.unique(folds)]
    out: dict[str, float] = {"folds": len(per_fold)}
    for name in ("accuracy", "uar", "uf1"):
        values = [fold[name] for fold in per_fold]
        out[f"fold_mean_{name}"] = float(np.mean(values)) if values else 0.0
        out[f"fold_std_{name}"] = float(np.std(values)) if values else 0.0
    return out
