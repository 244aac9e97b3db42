"""Tuned RBF SVMs: class bookkeeping, calibration, Optuna determinism, AU-code features."""

from __future__ import annotations

import numpy as np
from sklearn.svm import SVC

from mer.config import SvmParams
from mer.models.au_codes import AuCodeEncoder, au_numbers
from mer.models.svm import ABSENT_SCORE, InnerProblem, class_scores, fit_rbf_svm, tune_c_gamma


def blobs(n_per_class=10, classes=(0, 1, 2), seed=0):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(3.0 * c, 1.0, size=(n_per_class, 4)) for c in classes])
    return x, np.repeat(classes, n_per_class)


def problems(seed=0):
    out = []
    for k in range(2):
        x_train, y_train = blobs(seed=seed + 2 * k)
        x_val, y_val = blobs(n_per_class=4, seed=seed + 2 * k + 1)
        out.append(InnerProblem(x_train, y_train, x_val, y_val))
    return out


def test_class_scores_follow_the_scheme_order():
    x, y = blobs(classes=(1, 3))  # a binary SVM over classes 1 and 3 of 5
    svc = SVC().fit(x, y)
    scores = class_scores(svc, x, 5)
    assert scores.shape == (len(x), 5)
    assert (scores[:, [0, 2, 4]] == ABSENT_SCORE).all()
    assert np.array_equal(scores[:, 3], -scores[:, 1])
    assert np.mean(scores[:, [1, 3]].argmax(axis=1) == (y == 3)) > 0.9


def test_probabilities_cover_every_class():
    x, y = blobs(classes=(0, 1, 2))
    model = fit_rbf_svm(x, y, 4, c=1.0, gamma=0.1, problems=problems())
    proba = model.predict_proba(x)
    assert proba.shape == (len(x), 4)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert (proba[:, 3] == 0).all()  # a class never seen gets no mass
    assert np.mean(proba.argmax(axis=1) == y) > 0.9


def test_tuning_is_seeded_and_stays_in_range():
    params = SvmParams(trials=5, inner_folds=2, c_min=0.1, c_max=10, gamma_min=0.01,
                       gamma_max=1)
    first, second = (tune_c_gamma(problems(), params, 3, seed=7) for _ in range(2))
    assert first == second
    assert len(first.trials) == 5
    assert all(0.1 <= t["c"] <= 10 and 0.01 <= t["gamma"] <= 1 for t in first.trials)
    assert first.inner_uar == max(t["inner_uar"] for t in first.trials)


def test_au_codes_become_numbers_without_sides():
    assert au_numbers("4+7+L10") == {4, 7, 10}
    assert au_numbers("R14") == {14}
    assert au_numbers("") == set()
    assert au_numbers("?") == set()


def test_au_vocabulary_comes_from_training_clips_only():
    encoder = AuCodeEncoder.fit(np.array(["4+7", "12", ""]))
    assert encoder.vocabulary == (4, 7, 12)
    # AU 9 was never seen in training: ignored, not a new column.
    assert encoder.transform(np.array(["9+L4", "12"])).tolist() == [[1, 0, 0], [0, 0, 1]]
