"""The hybrid: fitting on all subjects for the registry, and saving/loading it."""

from __future__ import annotations

import numpy as np
import pytest

from mer.config import FaceParams, FeatureParams, HybridParams
from mer.errors import MerError
from mer.inference.predictor import BUNDLE_FORMAT, ModelBundle, load_bundle, save_bundle
from mer.models.hybrid import fit_hybrid
from mer.models.references import fit_reference


@pytest.fixture(scope="module")
def model(clips, params):
    return fit_hybrid(clips, params, seed=0)


def test_hybrid_predicts_probabilities_from_feature_arrays(model, clips):
    proba = model.predict_proba(clips.flow, clips.apex_image, clips.au_features)
    assert proba.shape == (len(clips), clips.n_classes)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert model.classes == clips.classes
    assert model.svm is not None and model.svm.tuning.c > 0 and model.svm.tuning.gamma > 0


def test_hybrid_is_the_mean_of_the_cnn_and_the_svm(model, clips):
    cnn = model.cnn_proba(clips.flow, clips.apex_image)
    svm = model.svm_proba(clips.au_features)
    hybrid = model.predict_proba(clips.flow, clips.apex_image, clips.au_features)
    assert np.allclose(hybrid, (cnn + svm) / 2)
    assert not np.allclose(hybrid, cnn) and not np.allclose(hybrid, svm)  # both experts count


def test_the_cnn_is_an_ensemble_of_seeds(model, clips, params):
    assert len(model.cnns) == params.cnn.ensemble >= 2
    members = [cnn.predict(clips.flow, clips.apex_image)[0] for cnn in model.cnns]
    assert not np.array_equal(members[0], members[1])  # each member has its own seed
    assert np.allclose(model.cnn_proba(clips.flow, clips.apex_image), np.mean(members, axis=0))


def test_hybrid_svm_is_the_svm_learner_with_the_same_seed(model, clips, params):
    from mer.models.learners import SvmLearner

    alone = SvmLearner("svm", "au-region", params.svm).fit(clips, seed=0)
    assert alone.tuned.tuning == model.svm.tuning
    assert np.array_equal(alone.predict(clips)["svm"], model.svm_proba(clips.au_features))


def test_inner_folds_split_the_subjects(model, clips, params):
    groups = model.svm.inner_val_subjects
    assert len(groups) == params.svm.inner_folds
    flat = [s for group in groups for s in group]
    assert sorted(flat) == sorted(set(clips.subject.tolist()))  # each subject once


@pytest.mark.parametrize("fitted", ["model", "with_net"])
def test_save_and_load_give_the_same_predictions(fitted, clips, tmp_path, request):
    # The persistence path a registered model takes: the fitted hybrid inside a bundle (with
    # the SVM, or with the SVM and a reference net).
    model = request.getfixturevalue(fitted)
    bundle = ModelBundle(model, clips.classes, FaceParams(), FeatureParams(), {})
    loaded = load_bundle(save_bundle(bundle, tmp_path / "bundle.pkl")).classifier
    before = model.predict_proba(clips.flow, clips.apex_image, clips.au_features)
    after = loaded.predict_proba(clips.flow, clips.apex_image, clips.au_features)
    assert before.tobytes() == after.tobytes()


def test_a_bundle_of_another_format_is_refused_with_a_message(model, clips, tmp_path):
    import dataclasses

    bundle = ModelBundle(model, clips.classes, FaceParams(), FeatureParams(), {})
    old = dataclasses.replace(bundle, format=BUNDLE_FORMAT - 1)
    with pytest.raises(MerError, match=f"format {BUNDLE_FORMAT - 1}.*mer register"):
        load_bundle(save_bundle(old, tmp_path / "old.pkl"))
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(MerError, match="not a readable mer model bundle"):
        load_bundle(tmp_path / "junk.pkl")


def test_cnn_only_model_has_no_hybrid_head(clips, params):
    cnn_only = fit_hybrid(clips, params, seed=0, with_experts=False)
    assert set(cnn_only.predict(clips.without_labels())) == {"cnn"}
    with pytest.raises(ValueError, match="CNN-only"):
        cnn_only.predict_proba(clips.flow, clips.apex_image, clips.au_features)


def test_loading_and_predicting_import_no_training_stack(model, clips, tmp_path):
    # `mer predict` and the served model load a bundle: Lightning (seconds to import) and
    # Optuna are the training stack's, and must not come with it.
    import subprocess
    import sys

    bundle = ModelBundle(model, clips.classes, FaceParams(), FeatureParams(), {})
    path = save_bundle(bundle, tmp_path / "bundle.pkl")
    np.savez(tmp_path / "x.npz", flow=clips.flow, apex=clips.apex_image, au=clips.au_features)
    script = (
        "import sys, numpy as np\n"
        "from mer.inference.predictor import load_bundle\n"
        f"model = load_bundle({str(path)!r}).classifier\n"
        f"x = np.load({str(tmp_path / 'x.npz')!r})\n"
        "assert model.predict_proba(x['flow'], x['apex'], x['au']).shape[0] == len(x['au'])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('lightning', 'pytorch_lightning', 'optuna', 'mer')))\n")
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True).stdout
    assert "mer.models.flownet" in loaded  # the check sees what the bundle imported
    assert "lightning" not in loaded and "optuna" not in loaded
    assert "mer.models.cnn" not in loaded


@pytest.fixture(scope="module")
def with_net(clips, params):
    experts = params.model_copy(update={"hybrid": HybridParams(experts=("svm", "ststnet"))})
    return fit_hybrid(clips, experts, seed=0)


def test_hybrid_averages_every_expert_of_train_hybrid(with_net, clips, params):
    cnn = with_net.cnn_proba(clips.flow, clips.apex_image)
    svm = with_net.svm_proba(clips.au_features)
    (net,) = with_net.references
    assert net.name == "ststnet" and len(net.train_loss) == params.references.epochs
    hybrid = with_net.predict_proba(clips.flow, clips.apex_image, clips.au_features)
    assert np.allclose(hybrid, (cnn + svm + net.proba(clips.flow)) / 3)
    assert np.allclose(with_net.predict(clips.without_labels())["hybrid"], hybrid)
    # The reference expert has a seed of its own, not the reference learner's
    alone = fit_reference("ststnet", clips, params.references, seed=0).proba(clips.flow)
    assert not np.allclose(alone, net.proba(clips.flow))


def test_the_order_of_the_experts_changes_nothing(clips, params):
    """The issue: each reference expert's seed came from its place in train.hybrid.experts,
    so [off-apexnet, ststnet] and [ststnet, off-apexnet] gave different hybrids (UAR 0.45 and
    0.63 on a small set), though the mean has equal weights."""
    def hybrid(*experts):
        chosen = params.model_copy(update={"hybrid": HybridParams(experts=experts)})
        return fit_hybrid(clips, chosen, seed=0).predict_proba(
            clips.flow, clips.apex_image, clips.au_features)

    np.testing.assert_array_equal(hybrid("ststnet", "sssnet"), hybrid("sssnet", "ststnet"))


def test_hybrid_without_the_svm_has_none(clips, params):
    experts = params.model_copy(update={"hybrid": HybridParams(experts=("ststnet",))})
    model = fit_hybrid(clips, experts, seed=0)
    assert model.svm is None and [r.name for r in model.references] == ["ststnet"]
    cnn, net = model.cnn_proba(clips.flow, clips.apex_image), model.references[0]
    hybrid = model.predict_proba(clips.flow, clips.apex_image, clips.au_features)
    assert np.allclose(hybrid, (cnn + net.proba(clips.flow)) / 2)
    with pytest.raises(ValueError, match="no SVM"):
        model.svm_proba(clips.au_features)

