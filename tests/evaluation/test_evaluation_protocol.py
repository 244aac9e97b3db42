"""Proofs that nothing about the held-out subject reaches its fold's model.

1. Changing the held-out subject's labels, and the annotations that may carry them (clip
   names, AU codes), leaves that fold's predictions byte-identical.
2. Changing its inputs (flow, apex, AU features, AU codes) leaves the fitted model unchanged:
   it predicts the original inputs byte-identically.
3. Scalers, class weights, the normaliser, the tuning split and the epoch count are the ones
   computed from the training subjects.
4. The loop itself hands fit no held-out clip, and predict and scored no label.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.preprocessing import StandardScaler

from mer.config import CNN, HYBRID, REFERENCES, HybridParams, ModelKind, PretrainParams
from mer.core.clipset import HIDDEN, ClipSet
from mer.evaluation.loso import as_held_out, fit_fold, run_fold, run_loso
from mer.evaluation.splits import loso_folds
from mer.models.au_codes import known_aus
from mer.models.flownet import FlowNet, balanced_class_weights
from mer.models.learners import HybridLearner, build_learners
from mer.models.references import reference_input
from toy import state_bytes, toy_clips

FOLD = 2  # an arbitrary held-out subject
LEARNERS = ["cnn-hybrid", "svm", "au-oracle", "majority", *REFERENCES]


def learner(params, name: str) -> Any:
    """The learner ``name`` as the train stage builds it with every model asked for."""
    everything = params.model_copy(update={"models": typing.get_args(ModelKind)})
    return next(x for x in build_learners(everything, True, True) if x.name == name)


def altered(clips: ClipSet, subject: str, *, labels: bool = False, inputs: bool = False,
            annotations: bool = False, au_codes: bool = True) -> ClipSet:
    """``clips`` with ``subject``'s labels, inputs and/or the annotations that may carry a
    label changed: the clip names (a SMIC clip's, s1_ne_01, is its label) and, if
    ``au_codes``, the annotated AU codes (CASME II's emotions were read from them)."""
    mask = clips.subject == subject
    rng = np.random.default_rng(99)
    y, flow, apex = clips.y.copy(), clips.flow.copy(), clips.apex_image.copy()
    au, aus = clips.au_features.copy(), clips.au_codes.astype(object)
    clip, clip_id = clips.clip.astype(object), clips.clip_id.astype(object)
    if labels:
        y[mask] = (y[mask] + 1) % clips.n_classes
    if inputs or (annotations and au_codes):
        aus[mask] = "9+25+L43"
    if annotations:
        clip[mask] = [f"{name}_{clips.classes[label][:2]}" for name, label
                      in zip(clip[mask], y[mask], strict=True)]
        clip_id[mask] = [f"{i}_{c}" for i, c in zip(clip_id[mask], clip[mask], strict=True)]
    if inputs:
        flow[mask] = rng.normal(0, 3, size=flow[mask].shape)
        apex[mask] = rng.uniform(size=apex[mask].shape)
        au[mask] = rng.normal(0, 5, size=au[mask].shape)
    return replace(clips, y=y, flow=flow, apex_image=apex, au_features=au,
                   au_codes=aus.astype(str), clip=clip.astype(str), clip_id=clip_id.astype(str))


@pytest.mark.parametrize("name", LEARNERS)
def test_held_out_labels_do_not_change_the_fold(clips, params, name):
    """With the labels, the annotations that may carry them change too (an audit session: a
    learner reading the held-out clips' names passed the test that changed y alone); the
    AU-oracle's input is the AU codes, so for it only the names change."""
    fold = loso_folds(clips.subject)[FOLD]
    model = learner(params, name)
    original = run_fold(model, clips, fold, seed=0)
    changed = run_fold(model, altered(clips, fold.subject, labels=True, annotations=True,
                                      au_codes=name != "au-oracle"), fold, seed=0)
    assert original.proba.keys() == changed.proba.keys()
    for output in original.proba:
        assert original.proba[output].tobytes() == changed.proba[output].tobytes(), output
    assert original.report == changed.report


def test_held_out_au_codes_do_not_reach_the_cnns_au_head(clips, params):
    """train.cnn.au_aux > 0 trains on AU codes: only the training subjects' (vocabulary and
    targets), so new held-out codes, even AUs no training clip has, change nothing."""
    fold = loso_folds(clips.subject)[FOLD]
    aux = params.model_copy(update={"cnn": params.cnn.model_copy(update={"au_aux": 0.5})})
    model = HybridLearner(aux, outputs=(CNN,))
    aus = clips.au_codes.astype(object)
    aus[clips.subject == fold.subject] = "9+25+L43"
    original = run_fold(model, clips, fold, seed=0)
    changed = run_fold(model, replace(clips, au_codes=aus.astype(str)), fold, seed=0)
    assert original.proba[CNN].tobytes() == changed.proba[CNN].tobytes()
    assert original.report == changed.report


@pytest.mark.parametrize("name", LEARNERS)
def test_held_out_inputs_do_not_change_the_model(clips, params, name):
    fold = loso_folds(clips.subject)[FOLD]
    model = learner(params, name)
    probe = as_held_out(model, clips.take(fold.test))
    original = fit_fold(model, clips, fold, seed=0).predict(probe)
    changed_clips = altered(clips, fold.subject, inputs=True)
    assert changed_clips.digest() != clips.digest()
    changed = fit_fold(model, changed_clips, fold, seed=0).predict(probe)
    for output in original:
        assert original[output].tobytes() == changed[output].tobytes(), output


@pytest.mark.parametrize("name", LEARNERS)
def test_a_held_out_clip_is_predicted_alone(clips, params, name):
    """An audit: the tests above change a held-out subject's clips all together, so a model
    that normalised at test time over the clips predicted with it (batch statistics) would
    pass them. Each held-out clip's probabilities are the same predicted alone as with its
    subject's other clips (to float rounding: another batch size may sum in another order)."""
    fold = loso_folds(clips.subject)[FOLD]
    model = learner(params, name)
    probe = as_held_out(model, clips.take(fold.test))
    fitted = fit_fold(model, clips, fold, seed=0)
    together = fitted.predict(probe)
    alone = [fitted.predict(probe.take(np.array([i]))) for i in range(len(probe))]
    for output, proba in together.items():
        single = np.concatenate([one[output] for one in alone])
        np.testing.assert_allclose(single, proba, rtol=1e-5, atol=1e-7, err_msg=output)


def _pretrained_state(params) -> bytes:
    """A FlowNet's weights, of the toy CNN's shape: what train.cnn.pretrain hands each fold."""
    torch.manual_seed(5)
    return state_bytes(FlowNet(3, params.cnn.channels, params.cnn.embedding,
                               params.cnn.dropout, False))


@pytest.mark.parametrize("variant", ["mixup", "apex-stream", "defaults"])
def test_held_out_subject_changes_nothing_in_the_cnns_other_paths(clips, params, variant):
    """An audit: the tests above run with mixup off, no apex stream, no pretrained weights and
    the SVM as the hybrid's expert, so the default fold (pretrained CNNs, an OFF-ApexNet
    expert) and mixup's partners were never proven leak-free. The held-out subject's labels
    change no prediction, and its inputs no fitted model."""
    cnn, pretrained = params.cnn, None
    if variant == "mixup":
        cnn = cnn.model_copy(update={"mixup": 0.4})
    elif variant == "apex-stream":
        cnn = cnn.model_copy(update={"apex_stream": True})
    hybrid = params.hybrid
    if variant == "defaults":
        cnn = cnn.model_copy(update={"pretrain": PretrainParams(clips=4)})
        hybrid = HybridParams(experts=("off-apexnet",))
        pretrained = _pretrained_state(params)
    varied = params.model_copy(update={"cnn": cnn, "hybrid": hybrid})
    model = HybridLearner(varied, outputs=(CNN, HYBRID), pretrained=pretrained)
    fold = loso_folds(clips.subject)[FOLD]
    original = run_fold(model, clips, fold, seed=0)
    relabelled = run_fold(model, altered(clips, fold.subject, labels=True), fold, seed=0)
    for output in (CNN, HYBRID):
        assert original.proba[output].tobytes() == relabelled.proba[output].tobytes(), output
    assert original.report == relabelled.report
    probe = clips.take(fold.test).without_labels()
    changed = fit_fold(model, altered(clips, fold.subject, inputs=True), fold, seed=0)
    for output in (CNN, HYBRID):
        assert changed.predict(probe)[output].tobytes() == original.proba[output].tobytes()


def test_learners_see_training_statistics_only(clips, params):
    fold = loso_folds(clips.subject)[FOLD]
    train_subjects = set(clips.subject[fold.train].tolist())

    svm = fit_fold(learner(params, "svm"), clips, fold, seed=0)
    expected = StandardScaler().fit(clips.au_features[fold.train].astype(np.float64))
    assert svm.tuned.svm.scaler.n_samples_seen_ == len(fold.train)
    assert np.array_equal(svm.tuned.svm.scaler.mean_, expected.mean_)
    assert np.array_equal(svm.tuned.svm.scaler.scale_, expected.scale_)

    hybrid = fit_fold(learner(params, "cnn-hybrid"), clips, fold, seed=0)
    weights = balanced_class_weights(clips.y[fold.train], clips.n_classes)
    rms_uv = np.sqrt(np.mean(np.square(clips.flow[fold.train][:, :, :2], dtype=np.float64)))
    assert len(hybrid.cnns) == params.cnn.ensemble
    for cnn in hybrid.cnns:
        assert cnn.class_weights == tuple(weights.tolist())
        assert np.allclose(cnn.net.flow_scale[:2].numpy(), rms_uv)
        assert len(cnn.train_loss) == params.cnn.epochs  # fixed: no epoch choice at all
    assert hybrid.svm.svm.scaler.n_samples_seen_ == len(fold.train)

    majority = fit_fold(learner(params, "majority"), clips, fold, seed=0)
    counts = np.bincount(clips.y[fold.train], minlength=clips.n_classes)
    assert np.array_equal(majority.prior, counts / len(fold.train))

    for tuned in (svm.tuned, hybrid.svm):  # Optuna's inner split: training subjects only, once
        groups = tuned.inner_val_subjects
        assert all(fold.subject not in group for group in groups)
        assert sorted(s for group in groups for s in group) == sorted(train_subjects)

    for name in REFERENCES:  # input standardisation, class weights, epochs
        reference = fit_fold(learner(params, name), clips, fold, seed=0)
        x = reference_input(clips.flow[fold.train], reference.net.size)
        assert np.allclose(reference.mean.flatten().numpy(), x.mean(dim=(0, 2, 3)).numpy())
        assert np.allclose(reference.std.flatten().numpy(), x.std(dim=(0, 2, 3)).numpy())
        assert reference.class_weights == tuple(weights.tolist())
        assert len(reference.train_loss) == params.references.epochs


@dataclass
class _SeenBy:
    fit: list[ClipSet]
    predict: list[ClipSet]
    scored: list[ClipSet]


SEEN = _SeenBy([], [], [])


@dataclass(frozen=True)
class _Recorder:
    """A learner that remembers what the loop showed it."""

    name: str = "recorder"
    outputs: tuple[str, ...] = ("recorder",)

    def spec(self) -> dict[str, Any]:
        return {}

    def scored(self, train: ClipSet, test: ClipSet) -> np.ndarray:
        SEEN.scored.append(test)
        return np.ones(len(test), dtype=bool)

    def fit(self, train: ClipSet, seed: int) -> _Recorder:
        SEEN.fit.append(train)
        return self

    def predict(self, clips: ClipSet) -> dict[str, np.ndarray]:
        SEEN.predict.append(clips)
        return {"recorder": np.full((len(clips), clips.n_classes), 1.0 / clips.n_classes)}

    def report(self) -> dict[str, dict[str, Any]]:
        return {}


def test_the_loop_never_shows_the_held_out_subject_to_fit(clips):
    SEEN.fit.clear()
    SEEN.predict.clear()
    SEEN.scored.clear()
    run_loso(clips, [_Recorder()], seed=0)
    folds = loso_folds(clips.subject)
    assert len(SEEN.fit) == len(SEEN.predict) == len(SEEN.scored) == len(folds)
    for fold, train, test, scored in zip(folds, SEEN.fit, SEEN.predict, SEEN.scored,
                                         strict=True):
        assert fold.subject not in set(train.subject.tolist())
        assert (train.y != HIDDEN).all()
        assert set(test.subject.tolist()) == {fold.subject}
        assert (test.y == HIDDEN).all()
        # an audit: the learner's scored hook was shown the held-out labels
        assert set(scored.subject.tolist()) == {fold.subject}
        assert (scored.y == HIDDEN).all()
        assert len(train) + len(test) == len(clips)


@dataclass(frozen=True)
class _OracleRecorder(_Recorder):
    reads_au_codes: bool = True


def test_the_loop_shows_predict_no_annotation_that_may_carry_a_label(clips):
    """An audit session (h65): held-out clips reached predict and scored with their names (a
    SMIC clip's, s1_ne_01, is its label) and their annotated AU codes, so a learner reading
    them passed every test above. Now it sees neither (the AU-oracle, whose input the codes
    are, sees those), and the outcomes still name the clips."""
    for recorder, codes in ((_Recorder(), False), (_OracleRecorder(), True)):
        SEEN.predict.clear()
        SEEN.scored.clear()
        outcomes = run_loso(clips, [recorder], seed=0)
        for fold, test, scored, outcome in zip(loso_folds(clips.subject), SEEN.predict,
                                               SEEN.scored, outcomes, strict=True):
            held = clips.take(fold.test)
            for seen in (test, scored):
                assert seen.clip.tolist() == [f"clip{i}" for i in range(len(held))]
                assert not set(seen.clip_id.tolist()) & set(clips.clip_id.tolist())
                expected = held.au_codes if codes else np.full(len(held), "")
                assert seen.au_codes.tolist() == expected.tolist()
            assert outcome.clip_id == tuple(held.clip_id.tolist())


def test_a_reference_expert_leaves_the_hybrid_leak_free(clips, params):
    # train.hybrid.experts with a reference net: the held-out subject's labels and inputs
    # change neither the fold's predictions nor the fitted hybrid (no weight is fitted at all)
    with_net = params.model_copy(update={"hybrid": HybridParams(experts=("svm", "ststnet")),
                                         "cnn": params.cnn.model_copy(update={"ensemble": 1})})
    model = learner(with_net, "cnn-hybrid")
    fold = loso_folds(clips.subject)[FOLD]
    original = run_fold(model, clips, fold, seed=0)
    relabelled = run_fold(model, altered(clips, fold.subject, labels=True), fold, seed=0)
    assert original.proba["hybrid"].tobytes() == relabelled.proba["hybrid"].tobytes()
    probe = clips.take(fold.test).without_labels()
    changed = fit_fold(model, altered(clips, fold.subject, inputs=True), fold, seed=0)
    assert changed.references[0].name == "ststnet"
    assert changed.predict(probe)["hybrid"].tobytes() == original.proba["hybrid"].tobytes()


def test_a_fold_with_one_training_subject_is_refused_before_any_fit(caplog):
    """A break-it session: a two-subject corpus failed in `mer train` after a CNN fold was
    fitted ("an inner split needs 2 or more training subjects, got 1", no model named), and
    no train.models avoided it, as the au-oracle is added by itself."""
    from mer.config import TrainParams
    from mer.errors import MerError
    from mer.models.learners import ceiling_fits

    two = toy_clips(subjects=2)
    folds = loso_folds(two.subject)
    assert known_aus(two.au_codes).all()
    with pytest.raises(MerError, match=r"^fold sub01: svm tunes C and gamma on an inner split "
                                       r"of the fold's training subjects \(train.svm.inner_folds"
                                       r"\), which needs 2 or more, and its training clips are "
                                       r"1 subject's \(sub02\): add subjects"):
        ceiling_fits(TrainParams(), two, folds)
    with pytest.raises(MerError, match=r"hybrid \(its svm expert, train.hybrid.experts\) tunes"):
        ceiling_fits(TrainParams(models=(CNN, "hybrid"), hybrid=HybridParams(experts=("svm",))),
                     two, folds)
    with caplog.at_level("WARNING", logger="mer.models.learners"):
        assert ceiling_fits(TrainParams(models=(CNN, "hybrid")), two, folds) is False
    assert "fold sub01: the au-oracle (the ceiling) is left out" in caplog.text
    caplog.clear()
    three = toy_clips(subjects=3)
    with caplog.at_level("WARNING", logger="mer.models.learners"):
        assert ceiling_fits(TrainParams(), three, loso_folds(three.subject)) is True
    assert caplog.text == ""
