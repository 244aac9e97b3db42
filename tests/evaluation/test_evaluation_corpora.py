"""Several corpora: cross-corpus folds (leak-free by construction) and per-corpus metrics."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from mer.config import CEILING, EvaluationParams
from mer.core.clipset import ClipSet
from mer.errors import DatasetError
from mer.evaluation.loso import FoldOutcome, fit_fold, run_fold, run_loso
from mer.evaluation.plots import write_plots
from mer.evaluation.report import (
    evaluation_report,
    fewer_classes,
    per_corpus,
    per_subject,
    predictions_frame,
)
from mer.evaluation.splits import cross_corpus_folds, dataset_of, loso_folds, protocol_folds
from mer.labels import people_apart
from mer.models.au_codes import known_aus
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


def distinct_people(datasets: np.ndarray, train: list[str], test: list[str]) -> list:
    """cross_corpus_folds over clips that are each another person's."""
    datasets = np.asarray(datasets)
    return cross_corpus_folds(datasets, np.array([f"{d}_{i}" for i, d in enumerate(datasets)]),
                              train, test)


def test_a_cross_corpus_fold_testing_people_it_trained_on_is_refused():
    """Corpora that filmed the same people (SAMM-LV's long videos are SAMM's people, and mer
    namespaces both as samm_<id>): training on one and testing on the other tests people the
    fold trained on, a leak the corpora's names hide. Each such fold is refused, naming its
    people; on one side, the corpora are a fold's training or test part together."""
    datasets = np.array(["samm", "samm", "sammlv", "sammlv", "casme2", "casme2"])
    subjects = np.array(["samm_006", "samm_007", "samm_006", "samm_009", "casme2_1",
                         "casme2_2"])
    with pytest.raises(DatasetError, match=r"evaluation: fold samm->sammlv would test 1 "
                                           r"subject\(s\) its training corpora hold clips of "
                                           r"\(samm_006\): the corpora filmed the same people.*"
                                           r"list such corpora on one side"):
        cross_corpus_folds(datasets, subjects, ["samm"], ["sammlv", "casme2"])
    with pytest.raises(DatasetError, match=r"fold casme2\+samm->sammlv would test 1"):
        cross_corpus_folds(datasets, subjects, ["casme2", "samm"], ["sammlv"])
    folds = cross_corpus_folds(datasets, subjects, ["casme2"], ["samm", "sammlv"])
    assert [(f.subject, f.test.tolist()) for f in folds] == [("casme2->samm", [0, 1]),
                                                             ("casme2->sammlv", [2, 3])]
    folds = cross_corpus_folds(datasets, subjects, ["samm", "sammlv"], ["casme2"])
    assert folds[0].train.tolist() == [0, 1, 2, 3]


def test_corpora_of_the_same_people_under_other_numbers_are_never_split_or_pooled():
    """h65: a cross-corpus fold trained on SMIC-HS and tested SMIC-VIS, whose people are
    SMIC-HS's under numbers not documented to match (labels.PEOPLE_AMONG), so no shared
    subject id gave it away. Refused when the corpora are used, on one side or across, and
    under LOSO; a corpus in neither list takes no part and is no reason to refuse."""
    datasets = ["smic", "smic", "smicvis", "smicvis", "casme2", "casme2"]
    clip_ids = np.array([f"{d}/{d}_s{i}/clip{i}" for i, d in enumerate(datasets)])
    subjects = np.array([c.split("/")[1] for c in clip_ids])
    for protocol in (EvaluationParams(protocol="cross-corpus", train_corpora=["smic"],
                                      test_corpora=["smicvis"]),
                     EvaluationParams(protocol="cross-corpus", train_corpora=["smicvis"],
                                      test_corpora=["casme2", "smic"]),
                     EvaluationParams()):
        with pytest.raises(DatasetError, match=rf"evaluation \({protocol.protocol}\): the "
                                               r"corpora smic and smicvis filmed the same "
                                               r"people"):
            protocol_folds(clip_ids, subjects, protocol)
    # two test corpora are never in one fold, and two training corpora only train (h66)
    for train, test in ((["casme2"], ["smic", "smicvis"]), (["smic", "smicvis"], ["casme2"]),
                        (["casme2"], ["smicvis"])):
        folds = protocol_folds(clip_ids, subjects, EvaluationParams(
            protocol="cross-corpus", train_corpora=train, test_corpora=test))
        assert [f.subject for f in folds] == [f"{'+'.join(train)}->{t}" for t in test]
    assert people_apart(["samm", "sammlv", "casme2", "smic"]) is None
    # SMIC-E's parts under the release's own names (h66: 'SMIC-E-HS' was not caught)
    for part in ("smicehs", "smicevis", "smicenir", "smice", "smicnir"):
        assert people_apart(["smic", part]) is not None, part


def test_cross_corpus_folds_train_on_the_training_corpora_only(clips):
    data = composite(clips)
    datasets = dataset_of(data.clip_id)
    folds = distinct_people(datasets, ["casme2"], ["samm", "smic"])
    assert [f.subject for f in folds] == ["casme2->samm", "casme2->smic"]
    for fold, corpus in zip(folds, ["samm", "smic"], strict=True):
        assert set(datasets[fold.train]) == {"casme2"}
        assert set(datasets[fold.test]) == {corpus}
        assert len(fold.test) == int((datasets == corpus).sum())


def test_a_corpus_in_neither_list_is_named(caplog):
    """A break-it session: with data.sources casme2, samm and smic, train [casme2] and test
    [samm] left smic's 32 clips (faces and features computed) out without a word."""
    datasets = np.array(["casme2"] * 4 + ["samm"] * 3 + ["smic"] * 2)
    with caplog.at_level("WARNING", logger="mer.evaluation"):
        distinct_people(datasets, ["casme2"], ["samm"])
    assert ("evaluation: smic (2 clips), in neither evaluation.train_corpora nor test_corpora: "
            "no fold trains or tests on those clips") in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="mer.evaluation"):
        distinct_people(datasets, ["casme2", "smic"], ["samm"])
    assert not caplog.text


def test_cross_corpus_with_a_corpus_absent_says_which():
    with pytest.raises(DatasetError, match=r"corpus smic has no clip.*present: casme2\); check "
                                           r"the corpora data reads \(data.sources, or a "
                                           "flow-image CSV.s dataset column"):
        distinct_people(np.array(["casme2"] * 4), ["casme2"], ["smic"])


def test_cross_corpus_folds_do_not_depend_on_the_lists_order():
    """The issue: each test corpus was seeded by its place in evaluation.test_corpora, so
    [smic, samm] and [samm, smic] gave different samm figures."""
    datasets = np.array(["casme2", "samm", "smic", "casme2", "samm", "smic"])
    one = distinct_people(datasets, ["casme2", "smic"], ["samm"])
    other = distinct_people(datasets, ["smic", "casme2"], ["samm"])
    assert [(f.index, f.subject, f.train.tolist(), f.test.tolist()) for f in one] == \
        [(f.index, f.subject, f.train.tolist(), f.test.tolist()) for f in other]
    both = distinct_people(datasets, ["casme2"], ["smic", "samm"])
    assert [(f.index, f.subject) for f in both] == [(0, "casme2->samm"), (1, "casme2->smic")]


@pytest.mark.parametrize("protocol", ["loso", "cross-corpus"])
def test_a_fold_that_trains_on_one_class_is_refused_before_fitting(protocol):
    """The issue: a training corpus of one class fitted every CNN fold, then ended in
    scikit-learn's 'The number of classes has to be greater than one' traceback."""
    from mer.evaluation.splits import check_training_classes

    classes = ("negative", "positive", "surprise")
    if protocol == "loso":
        y, subjects = np.array([0, 0, 1, 0, 0]), np.array(["a", "a", "b", "c", "c"])
        folds = loso_folds(subjects)
        check_training_classes(y, classes, folds[:1] + folds[2:])  # a and c: b's class too
        message = (r"fold b: the clips of every subject but b hold only class 'negative' \(4 "
                   r"clips\); a classifier needs two or more classes to learn from: the other "
                   r"classes' clips are all b's")
    else:
        y = np.array([0, 0, 1, 2])
        folds = distinct_people(np.array(["casme2", "casme2", "samm", "smic"]), ["casme2"],
                                ["samm", "smic"])
        message = (r"fold casme2->samm: the clips of the training corpora hold only class "
                   r"'negative' \(2 clips\); .* add a training corpus whose clips have other "
                   "classes")
    with pytest.raises(DatasetError, match=message):
        check_training_classes(y, classes, folds, protocol)


@pytest.mark.parametrize("protocol", ["loso", "cross-corpus"])
def test_a_fold_testing_a_class_its_training_lacks_is_warned_about(protocol, caplog):
    """A break-it session: cross-corpus training on a corpus without surprise scored every
    surprise clip of the test corpora wrong (recall 0), and neither train nor evaluate said
    so."""
    from mer.evaluation.splits import check_training_classes

    classes = ("negative", "positive", "surprise")
    if protocol == "loso":
        y, subjects = np.array([0, 1, 0, 1, 2, 0]), np.array(["a", "a", "b", "b", "c", "c"])
        folds = loso_folds(subjects)
        expected = ("1 of the 3 folds test clips of a class their training clips hold none "
                    "of, so no model can predict it there and its recall is 0 in them: fold "
                    "c: surprise (1 test clip(s)); every clip of it is the held-out subject's")
    else:
        y = np.array([0, 1, 0, 1, 2, 2, 0, 2])
        folds = distinct_people(np.array(["samm"] * 2 + ["casme2"] * 4 + ["smic"] * 2),
                                ["samm"], ["casme2", "smic"])
        expected = ("2 of the 2 folds test clips of a class their training clips hold none "
                    "of, so no model can predict it there and its recall is 0 in them: fold "
                    "samm->casme2: surprise (2 test clip(s)); fold samm->smic: surprise (1 test "
                    "clip(s)); add a training corpus (evaluation.train_corpora) with clips of it")
    with caplog.at_level("WARNING", logger="mer.evaluation.splits"):
        check_training_classes(y, classes, folds, protocol)
    assert expected in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="mer.evaluation.splits"):
        check_training_classes(np.array([0, 1, 2, 0, 1, 2]), classes,
                               loso_folds(np.array(["a", "a", "a", "b", "b", "b"])), "loso")
    assert caplog.text == ""


def test_cross_corpus_model_never_sees_the_test_corpus(clips, params):
    """Change every label and input of the test corpus: the fitted model is the same."""
    data = composite(clips)
    fold = cross_corpus_folds(dataset_of(data.clip_id), data.subject, ["casme2", "smic"],
                              ["samm"])[0]
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
    folds = cross_corpus_folds(dataset_of(data.clip_id), data.subject, ["casme2"],
                               ["samm", "smic"])
    outcomes = run_loso(data, [MajorityLearner()], seed=0, folds=folds)
    assert [o.subject for o in outcomes] == ["casme2->samm", "casme2->smic"]
    tested = {c for o in outcomes for c in o.clip_id}
    assert tested == {c for c in data.clip_id if not c.startswith("casme2/")}


def test_cross_corpus_spread_is_over_its_folds_the_test_corpora(clips):
    """One fold per test corpus, not per subject in it: fold_* figures describe those."""
    data = composite(clips)
    folds = cross_corpus_folds(dataset_of(data.clip_id), data.subject, ["casme2"],
                               ["samm", "smic"])
    frame = predictions_frame(run_loso(data, [MajorityLearner()], seed=0, folds=folds), data)
    assert set(frame["fold"]) == {"casme2->samm", "casme2->smic"}
    majority = evaluation_report(frame)["models"]["majority"]
    corpora = majority["corpora"]
    assert majority["folds"] == 2
    assert majority["fold_mean_uar"] == pytest.approx(
        (corpora["samm"]["uar"] + corpora["smic"]["uar"]) / 2)


def predictions() -> pd.DataFrame:
    """Two models, two corpora, hand-checkable scores."""
    rows = []
    for model, guesses in (("svm", "aabb" "aaba"), ("hybrid", "abab" "abab")):
        truth = "abab" "abab"
        for i, (label, guess) in enumerate(zip(truth, guesses, strict=True)):
            corpus = "casme2" if i < 4 else "samm"
            rows.append({"model": model, "fold": f"{corpus}_s{i % 2}",
                         "subject": f"{corpus}_s{i % 2}",
                         "clip_id": f"{corpus}/{corpus}_s{i % 2}/c{i}", "clip": f"c{i}",
                         "label": label, "prediction": guess,
                         "prob_a": float(guess == "a"), "prob_b": float(guess == "b")})
    return pd.DataFrame(rows)


def test_each_corpus_is_scored_on_its_share_of_the_pooled_predictions():
    frame = predictions()
    svm = per_corpus(frame[frame["model"] == "svm"], ("a", "b"))
    # casme2: truth abab, guess aabb -> recall a 1/2, b 1/2; samm: truth abab, guess aaba
    assert svm["casme2"] == {"clips": 4, "accuracy": 0.5, "uar": 0.5, "uf1": 0.5,
                             "classes": ["a", "b"]}
    assert svm["samm"]["clips"] == 4 and svm["samm"]["accuracy"] == 0.25
    assert svm["samm"]["uar"] == pytest.approx(0.25)
    report = evaluation_report(frame)
    assert report["primary"] == "hybrid"
    every = {"clips": 4, "accuracy": 1.0, "uar": 1.0, "uf1": 1.0, "classes": ["a", "b"]}
    assert report["corpora"] == {"casme2": every, "samm": every}
    assert report["models"]["svm"]["corpora"] == svm
    assert fewer_classes(frame, report) == {}


def test_a_corpus_that_shows_fewer_classes_says_so():
    """The re-check: a corpus that keeps one class scored UAR/UF1 1.000 in evaluation.json
    (that class's recall) and read as an ordinary figure. Its figures say which classes they
    average over, and fewer_classes (the evaluate stage's warning) names it."""
    frame = predictions()
    frame.loc[frame["clip_id"].str.startswith("samm/"), "label"] = "a"
    report = evaluation_report(frame)
    assert report["corpora"]["samm"]["classes"] == ["a"]
    assert report["corpora"]["casme2"]["classes"] == ["a", "b"]
    assert fewer_classes(frame, report) == {"samm": ["a"]}
    # The re-check: a cross-corpus run whose one test corpus lacks a class averaged its
    # pooled figures over fewer classes without a word (one corpus: no per-corpus figures).
    only_samm = frame[frame["clip_id"].str.startswith("samm/")]
    report = evaluation_report(only_samm)
    assert "corpora" not in report
    assert fewer_classes(only_samm, report) == {None: ["a"]}


def test_one_corpus_has_no_corpora_section():
    frame = predictions()
    frame = frame[frame["clip_id"].str.startswith("casme2/")]
    report = evaluation_report(frame)
    assert "corpora" not in report and "corpora" not in report["models"]["svm"]


# The AU-oracle ceiling reads annotated AU codes. On a composite, SMIC-HS has none: the oracle
# learns from and scores only the clips that have codes, and says how many it scored.

def without_smic_codes(clips: ClipSet) -> ClipSet:
    """The composite with SMIC-HS's AU codes gone, as in the real MEGC2019 composite, and one
    CASME II clip's code unknown ('?', as some sheets write it)."""
    data = composite(clips)
    aus = data.au_codes.astype(object)
    aus[dataset_of(data.clip_id) == "smic"] = ""
    aus[np.flatnonzero(dataset_of(data.clip_id) == "casme2")[0]] = "?"
    return replace(data, au_codes=aus.astype(str))


def oracle(params) -> SvmLearner:
    return SvmLearner(CEILING, "au-codes", params.svm)


def test_the_au_oracle_scores_only_clips_with_au_codes(clips, params):
    data = without_smic_codes(clips)
    coded = known_aus(data.au_codes)
    outcomes = run_loso(data, [oracle(params)], seed=0)
    assert {c for o in outcomes for c in o.clip_id} == set(data.clip_id[coded])
    smic = [o for o in outcomes if o.subject in set(data.subject[~coded])
            and not set(data.clip_id[data.subject == o.subject]) & set(data.clip_id[coded])]
    assert len(smic) == 2 and all(o.proba[CEILING].shape == (0, data.n_classes) for o in smic)
    report = evaluation_report(predictions_frame(outcomes, data))
    assert report["ceiling"]["au_oracle_clips"] == int(coded.sum()) < len(data)
    assert set(report["models"][CEILING]["corpora"]) == {"casme2", "samm"}


def test_the_au_oracle_learns_nothing_from_clips_without_au_codes(clips, params):
    """Relabel every training clip that has no codes: the oracle's fold is the same bytes.
    (It used to learn them as an all-zero code, i.e. 'a SMIC-HS clip'.)"""
    data = without_smic_codes(clips)
    fold = loso_folds(data.subject)[-1]  # a CASME II subject: SMIC-HS subjects train
    y = data.y.copy()
    relabel = ~known_aus(data.au_codes) & (data.subject != fold.subject)
    y[relabel] = (y[relabel] + 1) % data.n_classes
    original = run_fold(oracle(params), data, fold, seed=0)
    again = run_fold(oracle(params), replace(data, y=y), fold, seed=0)
    assert len(original.clip_id) > 0
    assert original.proba[CEILING].tobytes() == again.proba[CEILING].tobytes()


def test_an_au_oracle_fold_with_no_coded_training_clip_scores_nothing(clips, params):
    """Cross-corpus from SMIC-HS alone: nothing to learn codes from, so nothing is scored."""
    data = without_smic_codes(clips)
    fold = cross_corpus_folds(dataset_of(data.clip_id), data.subject, ["smic"], ["samm"])[0]
    outcome = run_fold(oracle(params), data, fold, seed=0)
    assert outcome.clip_id == () and outcome.proba[CEILING].shape == (0, data.n_classes)
    key, cached = FoldOutcome.from_json(outcome.to_json("k"))
    assert key == "k" and cached.clip_id == () and len(cached.proba[CEILING]) == 0


def test_plots_of_a_composite_whose_ceiling_skips_a_corpus(clips, params, tmp_path):
    data = without_smic_codes(clips)
    outcomes = run_loso(data, [oracle(params), MajorityLearner()], seed=0)
    frame = predictions_frame(outcomes, data)
    report = evaluation_report(frame)
    written = write_plots(frame, per_subject(frame, data.classes), tmp_path, report)
    assert "per_corpus.png" in written["files"]
    subjects = pd.read_csv(tmp_path / "subjects" / f"{CEILING}.csv", dtype={"subject": str})
    assert set(subjects["subject"]) == set(data.subject[known_aus(data.au_codes)])
