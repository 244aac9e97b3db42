"""The metrics module against examples computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from mer.evaluation import metrics

# 3 classes, 6 clips: confusion (rows actual, columns predicted)
#   [[1, 1, 0],
#    [0, 2, 0],
#    [1, 0, 1]]
Y_TRUE = np.array([0, 0, 1, 1, 2, 2])
Y_PRED = np.array([0, 1, 1, 1, 0, 2])


def test_confusion_by_hand():
    assert metrics.confusion(Y_TRUE, Y_PRED, 3).tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]


def test_accuracy_uar_uf1_by_hand():
    assert metrics.accuracy(Y_TRUE, Y_PRED) == pytest.approx(4 / 6)
    # recalls 1/2, 2/2, 1/2
    assert metrics.uar(Y_TRUE, Y_PRED, 3) == pytest.approx((0.5 + 1.0 + 0.5) / 3)
    # F1 = 2TP / (2TP + FP + FN): 2/4, 4/5, 2/3
    assert metrics.uf1(Y_TRUE, Y_PRED, 3) == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)


def test_per_class_recall_and_precision_by_hand():
    summary = metrics.summarise(Y_TRUE, Y_PRED, ("a", "b", "c"))
    assert summary["recall"] == pytest.approx({"a": 0.5, "b": 1.0, "c": 0.5})
    assert summary["precision"] == pytest.approx({"a": 0.5, "b": 2 / 3, "c": 1.0})
    assert summary["support"] == {"a": 2, "b": 2, "c": 2}


def test_absent_classes():
    # Class 2 never occurs and is never predicted: skipped by UAR and UF1.
    # Class 1 is predicted once but never occurs: not in UAR, F1 = 0 in UF1.
    y_true, y_pred = np.array([0, 0, 0]), np.array([0, 0, 1])
    assert metrics.uar(y_true, y_pred, 3) == pytest.approx(2 / 3)
    assert metrics.uf1(y_true, y_pred, 3) == pytest.approx((0.8 + 0.0) / 2)
    summary = metrics.summarise(y_true, y_pred, ("a", "b", "c"))
    assert summary["precision"]["c"] == 0.0  # zero division -> 0


def test_fold_spread_is_per_subject():
    folds = np.array(["s1", "s1", "s1", "s2", "s2", "s2"])
    y_true = np.array([0, 1, 1, 0, 0, 1])
    y_pred = np.array([0, 1, 1, 1, 1, 1])
    spread = metrics.fold_spread(y_true, y_pred, folds, 2)
    # s1: accuracy 1, UAR 1; s2: accuracy 1/3, recalls 0 and 1 -> UAR 1/2
    assert spread["folds"] == 2
    assert spread["fold_mean_accuracy"] == pytest.approx((1 + 1 / 3) / 2)
    assert spread["fold_mean_uar"] == pytest.approx(0.75)
    assert spread["fold_std_uar"] == pytest.approx(0.25)  # population std of {1, 0.5}


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="labels but"):
        metrics.confusion(np.array([0]), np.array([0, 1]), 2)
    with pytest.raises(ValueError, match="class indices"):
        metrics.confusion(np.array([0]), np.array([2]), 2)
