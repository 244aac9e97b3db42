"""Several corpora: cross-corpus folds (leak-free by construction) and per-corpus metrics."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from mer.core.clipset import ClipSet
from mer.errors import DatasetError
from mer.evaluation.loso import fit_fold, run_loso
from mer.evaluation.report import evaluation_report, per_corpus
from mer.evaluation.splits import cross_corpus_folds, dataset_of
from mer.models.learners import MajorityLearner, SvmLearner

# toy subjects sorted: the first two become 'samm', the next two 'smic', the rest stay 'casme2'
CORPUS_OF_SUBJECT = ("samm", "samm", "smic", "smic", "casme2", "casme2")


def composite(clips: ClipSet) -> ClipSet:
    """The toy clips as if from three corpora (clip_id dataset/subject/clip)."""
    subjects = sorted(set(clips.subject.tolist()))
    corpus = dict(zip(subjects, CORPUS_OF_SUBJECT, strict=True))
    clip_id = np.array([f"{corpus[s]}/{corpus[s]}_{s}/{c}"
                        for s, c in zip(clips.subject, clips.clip, strict=True)])
    return replace(clips, clip_id=clip_id)


def test_cross_corpus_folds_train_on_the_training_corpora_only(clips):
    data = composite(clips)
    datasets = dataset_of(data.clip_id)
    folds = cross_corpus_folds(datasets, ["casme2"], ["samm", "smic"])
    assert [f.subject for f in folds] == ["casme2->samm", "casme2->smic"]
    for fold, corpus in zip(folds, ["samm", "smic"], strict=True):
        assert set(datasets[fold.train]) == {"casme2"}
        assert set(datasets[fold.test]) == {corpus}
        assert len(fold.test) == int((datasets == corpus).sum())


def test_cross_corpus_with_a_corpus_absent_says_which():
    with pytest.raises(DatasetError, match=r"corpus smic has no clip.*present: casme2"):
        cross_corpus_folds(np.array(["casme2"] * 4), ["casme2"], ["smic"])


def test_cross_corpus_model_never_sees_the_test_corpus(clips, params):
    """Change every label and input of the test corpus: the fitted model is the same."""
    data = composite(clips)
    fold = cross_corpus_folds(dataset_of(data.clip_id), ["casme2", "smic"], ["samm"])[0]
    mask = dataset_of(data.clip_id) == "samm"
    rng = np.random.default_rng(5)
    y, au = data.y.copy(), data.au_features.copy()
    y[mask] = (y[mask] + 1) % data.n_classes
    au[mask] = rng.normal(0, 5, size=au[mask].shape)
    changed = replace(data, y=y, au_features=au)
    probe = data.take(fold.test).without_labels()
    learner = SvmLearner("svm", "au-region", params.svm)
    original = fit_fold(learner, data, fold, seed=0).predict(probe)
    again = fit_fold(learner, changed, fold, seed=0).predict(probe)
    assert original["svm"].tobytes() == again["svm"].tobytes()


def test_run_loso_takes_cross_corpus_folds(clips, params):
    data = composite(clips)
    folds = cross_corpus_folds(dataset_of(data.clip_id), ["casme2"], ["samm", "smic"])
    outcomes = run_loso(data, [MajorityLearner()], seed=0, folds=folds)
    assert [o.subject for o in outcomes] == ["casme2->samm", "casme2->smic"]
    tested = {c for o in outcomes for c in o.clip_id}
    assert tested == {c for c in data.clip_id if not c.startswith("casme2/")}


def predictions() -> pd.DataFrame:
    """Two models, two corpora, hand-checkable scores."""
    rows = []
    for model, guesses in (("svm", "aabb" "aaba"), ("hybrid", "abab" "abab")):
        truth = "abab" "abab"
        for i, (label, guess) in enumerate(zip(truth, guesses, strict=True)):
            corpus = "casme2" if i < 4 else "samm"
            rows.append({"model": model, "subject": f"{corpus}_s{i % 2}",
                         "clip_id": f"{corpus}/{corpus}_s{i % 2}/c{i}", "clip": f"c{i}",
                         "label": label, "prediction": guess,
                         "prob_a": float(guess == "a"), "prob_b": float(guess == "b")})
    return pd.DataFrame(rows)


def test_each_corpus_is_scored_on_its_share_of_the_pooled_predictions():
    frame = predictions()
    svm = per_corpus(frame[frame["model"] == "svm"], ("a", "b"))
    # casme2: truth abab, guess aabb -> recall a 1/2, b 1/2; samm: truth abab, guess aaba
    assert svm["casme2"] == {"clips": 4, "accuracy": 0.5, "uar": 0.5, "uf1": 0.5}
    assert svm["samm"]["clips"] == 4 and svm["samm"]["accuracy"] == 0.25
    assert svm["samm"]["uar"] == pytest.approx(0.25)
    report = evaluation_report(frame)
    assert report["primary"] == "hybrid"
    assert report["corpora"] == {"casme2": {"clips": 4, "accuracy": 1.0, "uar": 1.0, "uf1": 1.0},
                                 "samm": {"clips": 4, "accuracy": 1.0, "uar": 1.0, "uf1": 1.0}}
    assert report["models"]["svm"]["corpora"] == svm


def test_one_corpus_has_no_corpora_section():
    frame = predictions()
    frame = frame[frame["clip_id"].str.startswith("casme2/")]
    report = evaluation_report(frame)
    assert "corpora" not in report and "corpora" not in report["models"]["svm"]
