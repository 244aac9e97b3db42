"""The field's reference nets: shapes, sizes, their input, determinism, what a fit may see."""

from __future__ import annotations

import typing

import numpy as np
import pytest
import torch

from mer.config import REFERENCES, SSSNET, STSTNET, ModelKind, ReferenceParams, TrainParams
from mer.models.flownet import balanced_class_weights
from mer.models.learners import build_learners
from mer.models.references import (
    NETS,
    OffApexNet,
    ReferenceLearner,
    SSSNet,
    STSTNet,
    count_parameters,
    fit_reference,
    reference_input,
)

# Published input sizes, and weights for 3 classes (the MEGC2019 composite's), layer by layer.
SIZES = {STSTNet: 28, OffApexNet: 28, SSSNet: 64}
PARAMETERS_3_CLASSES = {
    # 3 x 3 convs over 3 channels: (27 + 1) x (3 + 5 + 8); fc: 16 x 5 x 5 x 3 + 3
    STSTNet: 28 * 16 + 16 * 5 * 5 * 3 + 3,  # 1,651
    # per stream (26 x 6) + (150 x 16 + 16); fc 1568 -> 1024 -> 1024 -> 3
    OffApexNet: 2 * (26 * 6 + 151 * 16) + 1569 * 1024 + 1025 * 1024 + 1025 * 3,  # 2,664,475
    # conv 76 x 32, bn 2 x 32, conv 289 x 64, bn 2 x 64; fc 5184 -> 256 -> 3
    SSSNet: 76 * 32 + 64 + 289 * 64 + 128 + 5185 * 256 + 257 * 3,  # 1,349,251
}


@pytest.mark.parametrize("net_class", [STSTNet, OffApexNet, SSSNet])
@pytest.mark.parametrize("n_classes", [3, 5])
def test_nets_map_their_published_input_to_logits(net_class, n_classes):
    net = net_class(n_classes)
    assert net.size == SIZES[net_class]
    assert net(torch.randn(4, 3, net.size, net.size)).shape == (4, n_classes)


def test_parameter_counts_are_the_papers():
    counts = {net_class: count_parameters(net_class(3)) for net_class in PARAMETERS_3_CLASSES}
    assert counts == PARAMETERS_3_CLASSES
    assert counts[STSTNet] == 1651  # "about 1.7k": shallow by design
    assert counts[OffApexNet] == 2_664_475 and counts[SSSNet] == 1_349_251


def test_off_apexnet_ignores_the_strain():
    torch.manual_seed(0)
    net = OffApexNet(3).eval()
    x = torch.randn(2, 3, 28, 28)
    other = x.clone()
    other[:, 2] = torch.randn(2, 28, 28)
    assert torch.equal(net(x), net(other))


@pytest.mark.parametrize(("steps", "apex"), [(1, 0), (2, 1), (3, 1), (5, 2)])
def test_reference_input_is_the_onset_apex_flow(steps, apex):
    flow = np.random.default_rng(0).normal(size=(2, steps, 3, 28, 28)).astype(np.float32)
    assert torch.equal(reference_input(flow, 28), torch.tensor(flow[:, apex]))


def test_reference_input_resizes_to_the_net():
    # A smooth field (flow is smooth): a blob of u, v and strain off the centre.
    grid = np.linspace(-1.0, 1.0, 32)
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    blob = np.exp(-((yy - 0.3) ** 2 + (xx + 0.2) ** 2) / 0.2).astype(np.float32)
    flow = np.stack([blob, -2 * blob, 0.1 * blob])[None, None]  # (1, 1, 3, 32, 32)
    smaller, larger = reference_input(flow, 28), reference_input(flow, 64)
    assert smaller.shape == (1, 3, 28, 28) and larger.shape == (1, 3, 64, 64)
    for resized in (smaller, larger):  # the same field, sampled more or less finely
        assert np.allclose(resized.mean(dim=(2, 3)).numpy(), flow[0, 0].mean(axis=(1, 2)),
                           rtol=0.02)
        assert np.allclose(resized.abs().amax(dim=(2, 3)).numpy(),
                           np.abs(flow[0, 0]).max(axis=(1, 2)), rtol=0.05)
    constant = np.full((1, 1, 3, 32, 32), 0.5, np.float32)
    assert torch.allclose(reference_input(constant, 28), torch.tensor(0.5))


@pytest.fixture(scope="module")
def fitted(clips, params):
    """Every reference net fitted on the toy clips but sub01's."""
    train = clips.take(np.flatnonzero(clips.subject != "sub01"))
    return train, {name: fit_reference(name, train, params.references, seed=0)
                   for name in REFERENCES}


@pytest.mark.parametrize("name", REFERENCES)
def test_fit_predicts_probabilities(fitted, clips, name):
    proba = fitted[1][name].predict(clips.without_labels())[name]
    assert proba.shape == (len(clips), clips.n_classes)
    assert np.isfinite(proba).all() and (proba >= 0).all()
    assert np.allclose(proba.sum(axis=1), 1.0)


@pytest.mark.parametrize("name", REFERENCES)
def test_fit_uses_training_statistics_and_a_fixed_epoch_count(fitted, params, name):
    train, models = fitted
    model = models[name]
    assert len(model.train_loss) == params.references.epochs
    assert model.class_weights == tuple(balanced_class_weights(train.y, train.n_classes))
    x = reference_input(train.flow, model.net.size)
    assert torch.allclose(model.mean.flatten(), x.mean(dim=(0, 2, 3)))
    assert torch.allclose(model.std.flatten(), x.std(dim=(0, 2, 3)))
    report = model.report()[name]
    assert report["parameters"] == count_parameters(model.net)
    assert report["train_loss"] == list(model.train_loss)


@pytest.mark.parametrize("name", REFERENCES)
def test_fit_is_deterministic(clips, params, name):
    probe = clips.without_labels()
    first = fit_reference(name, clips, params.references, seed=4).predict(probe)[name]
    second = fit_reference(name, clips, params.references, seed=4).predict(probe)[name]
    assert first.tobytes() == second.tobytes()
    other = fit_reference(name, clips, params.references, seed=5).predict(probe)[name]
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("name", REFERENCES)
def test_fit_refuses_hidden_labels(clips, params, name):
    with pytest.raises(ValueError, match="without labels"):
        ReferenceLearner(name, params.references).fit(clips.without_labels(), seed=0)


def test_flow_images_single_step(flow_image_clips, params):
    model = fit_reference(SSSNET, flow_image_clips, params.references, seed=0)
    proba = model.proba(flow_image_clips.flow)
    assert np.isfinite(proba).all() and np.allclose(proba.sum(axis=1), 1.0)


def test_ststnet_learns_the_toy_classes(clips):
    # The default schedule (10 epochs, lr 1e-2) on 36 clips of 8 x 8 flow.
    model = fit_reference(STSTNET, clips, ReferenceParams(), seed=0)
    assert model.train_loss[-1] < 0.5 * model.train_loss[0]
    assert np.mean(model.proba(clips.flow).argmax(axis=1) == clips.y) > 0.6  # chance is 0.2


def test_build_learners_returns_the_references_asked_for(params):
    everything = TrainParams(models=typing.get_args(ModelKind), references=params.references)
    learners = build_learners(everything, has_au_codes=True, has_au_features=True)
    references = [x for x in learners if isinstance(x, ReferenceLearner)]
    assert sorted(x.name for x in references) == sorted(REFERENCES)
    assert all(x.outputs == (x.name,) and x.params == params.references for x in references)
    outputs = [m for x in learners for m in x.outputs]
    assert len(outputs) == len(set(outputs))  # one learner per model name

    default = build_learners(TrainParams(), has_au_codes=True, has_au_features=True)
    assert not [x for x in default if isinstance(x, ReferenceLearner)]  # opt-in

    one = build_learners(TrainParams(models=("svm", STSTNET)), True, True)
    assert [x.name for x in one if isinstance(x, ReferenceLearner)] == [STSTNET]


def test_learner_spec_is_its_own_schedule(params):
    spec = ReferenceLearner(STSTNET, params.references).spec()
    assert spec == {"net": STSTNET, "epochs": params.references.epochs,
                    "lr": params.references.lr[STSTNET],
                    "batch_size": params.references.batch_size,
                    "weight_decay": params.references.weight_decay}
    faster = params.references.model_copy(update={"lr": {**params.references.lr, SSSNET: 1.0}})
    assert ReferenceLearner(STSTNET, faster).spec() == spec  # another net's rate: same folds
    with pytest.raises(ValueError, match="no reference net"):
        ReferenceLearner("alexnet", params.references)
    assert set(NETS) == set(REFERENCES)
