"""The flow CNN: shapes, determinism, and what its fit may look at."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mer.config import CnnParams, PretrainParams
from mer.core.clipset import HIDDEN
from mer.errors import MerError
from mer.models.au_codes import au_numbers
from mer.models.cnn import (
    MIXUP_STREAM,
    NOT_PRETRAINED,
    FlowNetModule,
    au_targets,
    fit_cnn,
    load_pretrained,
    resolve_accelerator,
)
from mer.models.flownet import FlowNet, balanced_class_weights
from mer.models.seeds import derive_seed
from toy import state_bytes


@pytest.mark.parametrize("steps", [1, 3])
@pytest.mark.parametrize("apex_stream", [False, True])
def test_flownet_shapes(steps, apex_stream):
    net = FlowNet(n_classes=5, channels=4, embedding=8, dropout=0.1, apex_stream=apex_stream)
    logits, embedding = net(torch.randn(7, steps, 3, 16, 16), torch.rand(7, 1, 16, 16))
    assert logits.shape == (7, 5)
    assert embedding.shape == (7, 8)


def test_balanced_class_weights_by_hand():
    # 4 clips of class 0, 2 of class 1, none of class 2: n / (present classes * n_k).
    weights = balanced_class_weights(np.array([0, 0, 0, 0, 1, 1]), 3)
    assert weights.tolist() == [6 / (2 * 4), 6 / (2 * 2), 0.0]


def test_fit_uses_training_statistics_and_a_fixed_epoch_count(clips, params):
    train = clips.take(np.flatnonzero(clips.subject != "sub01"))
    cnn = fit_cnn(train, params.cnn, seed=0)
    assert len(cnn.train_loss) == params.cnn.epochs  # no early stopping, no epoch choice
    assert cnn.class_weights == tuple(balanced_class_weights(train.y, clips.n_classes))
    rms_uv = np.sqrt(np.mean(np.square(train.flow[:, :, :2], dtype=np.float64)))
    assert np.allclose(cnn.net.flow_scale[:2].numpy(), rms_uv)
    assert np.isclose(float(cnn.net.apex_mean), train.apex_image.mean(dtype=np.float64))


def test_fit_is_deterministic(clips, params):
    first, second = fit_cnn(clips, params.cnn, seed=4), fit_cnn(clips, params.cnn, seed=4)
    for (name, a), b in zip(first.net.state_dict().items(), second.net.state_dict().values(),
                            strict=True):
        assert torch.equal(a, b), name
    other = fit_cnn(clips, params.cnn, seed=5)
    assert not torch.equal(first.net.head.weight, other.net.head.weight)


def test_fit_refuses_hidden_labels(clips, params):
    with pytest.raises(ValueError, match="without labels"):
        fit_cnn(clips.without_labels(), params.cnn, seed=0)
    assert (clips.without_labels().y == HIDDEN).all()


@pytest.mark.parametrize("apex_stream", [False, True])
def test_flow_images_single_step_zero_apex(flow_image_clips, params, apex_stream):
    cnn_params = params.cnn.model_copy(update={"apex_stream": apex_stream})
    cnn = fit_cnn(flow_image_clips, cnn_params, seed=0)
    proba, embedding = cnn.predict(flow_image_clips.flow, flow_image_clips.apex_image)
    assert np.isfinite(proba).all() and np.isfinite(embedding).all()
    assert np.allclose(proba.sum(axis=1), 1.0)


@pytest.mark.slow
def test_cnn_learns_the_toy_classes(clips):
    params = CnnParams(epochs=40, batch_size=16, channels=8, embedding=16, dropout=0.0,
                       pretrain=PretrainParams(clips=0))
    cnn = fit_cnn(clips, params, seed=0)
    assert cnn.train_loss[-1] < 0.5 * cnn.train_loss[0]
    proba, _ = cnn.predict(clips.flow, clips.apex_image)
    assert np.mean(proba.argmax(axis=1) == clips.y) > 0.6  # chance is 0.2


def test_mixup_is_seeded_and_changes_the_fit(clips, params):
    mixed = params.cnn.model_copy(update={"mixup": 0.4})
    first, second = fit_cnn(clips, mixed, seed=4), fit_cnn(clips, mixed, seed=4)
    assert first.train_loss == second.train_loss
    for (name, a), b in zip(first.net.state_dict().items(), second.net.state_dict().values(),
                            strict=True):
        assert torch.equal(a, b), name
    plain = fit_cnn(clips, params.cnn, seed=4)
    assert first.train_loss != plain.train_loss  # the blends are what it trained on


def test_mixup_blends_clips_and_labels_alike(clips, params):
    # lam ~ Beta(a, a) from the fit's own stream; the loss is lam * CE(y) + (1 - lam) * CE(y').
    torch.manual_seed(0)
    net = FlowNet(clips.n_classes, 4, 8, dropout=0.0, apex_stream=False)
    weights = balanced_class_weights(clips.y, clips.n_classes)
    module = FlowNetModule(net, weights, params.cnn.model_copy(update={"mixup": 0.4}), seed=7)
    flow, apex = torch.tensor(clips.flow[:6]), torch.tensor(clips.apex_image[:6])
    y = torch.tensor(clips.y[:6])
    loss = module._mixup_loss(flow, apex, y)
    replay = np.random.default_rng(derive_seed(7, MIXUP_STREAM))
    lam = float(replay.beta(0.4, 0.4))
    order = torch.from_numpy(replay.permutation(6))
    logits, _ = net(lam * flow + (1 - lam) * flow[order], apex)
    w = torch.tensor(weights, dtype=torch.float32)
    expected = (lam * F.cross_entropy(logits, y, weight=w)
                + (1 - lam) * F.cross_entropy(logits, y[order], weight=w))
    assert 0 < lam < 1
    assert torch.allclose(loss, expected)


def test_accelerator_auto_uses_a_gpu_only_where_torch_sees_one(clips, params):
    """cpu is the default; auto is the CPU's bytes on a machine without a GPU, and gpu there is
    a MerError saying what to do (on a machine with one, both train on it)."""
    train = clips.take(np.flatnonzero(clips.subject != "sub01"))
    assert params.cnn.accelerator == "cpu"
    on_cpu = fit_cnn(train, params.cnn, seed=0)
    if torch.cuda.is_available():
        assert resolve_accelerator("auto") == resolve_accelerator("gpu") == "gpu"
        on_gpu = fit_cnn(train, params.cnn.model_copy(update={"accelerator": "gpu"}), seed=0)
        assert next(on_gpu.net.parameters()).device.type == "cpu"  # predicts on the CPU
        assert np.allclose(on_gpu.predict(clips.flow, clips.apex_image)[0],
                           on_cpu.predict(clips.flow, clips.apex_image)[0], atol=1e-3)
        return
    auto = fit_cnn(train, params.cnn.model_copy(update={"accelerator": "auto"}), seed=0)
    assert auto.predict(clips.flow, clips.apex_image)[0].tobytes() == \
        on_cpu.predict(clips.flow, clips.apex_image)[0].tobytes()
    with pytest.raises(MerError, match=r"accelerator is gpu but torch .* sees no CUDA GPU"):
        fit_cnn(train, params.cnn.model_copy(update={"accelerator": "gpu"}), seed=0)


def test_au_targets_are_the_training_clips_codes(clips, params):
    train = clips.take(np.arange(10))
    aux = params.cnn.model_copy(update={"au_aux": 0.5})
    aus, known = au_targets(train, aux)
    vocabulary = sorted(set().union(*(au_numbers(c) for c in train.au_codes.tolist())))
    assert aus.shape == (10, len(vocabulary)) and aus.dtype == np.float32
    for row, codes in zip(aus, train.au_codes.tolist(), strict=True):
        assert {vocabulary[j] for j in np.flatnonzero(row)} == au_numbers(codes)
    assert known.all()
    off, _ = au_targets(train, params.cnn)
    assert off.shape == (10, 0)  # au_aux = 0: no AU head, no targets


def test_au_head_shapes_and_unknown_clips_add_nothing(clips, params):
    torch.manual_seed(0)
    net = FlowNet(clips.n_classes, 4, 8, dropout=0.0, apex_stream=False)
    head = torch.nn.Linear(8, 3)
    module = FlowNetModule(net, balanced_class_weights(clips.y, clips.n_classes),
                           params.cnn.model_copy(update={"au_aux": 0.5}), seed=0, au_head=head)
    _, embedding = net(torch.tensor(clips.flow[:4]), torch.tensor(clips.apex_image[:4]))
    assert head(embedding).shape == (4, 3)  # (B, V)
    aus = torch.tensor([[1, 0, 0], [0, 1, 1], [0, 0, 0], [1, 1, 0]], dtype=torch.float32)
    known = torch.tensor([True, True, False, True])
    loss = module.au_loss(embedding, aus, known)
    assert loss.shape == ()
    other = aus.clone()
    other[2] = 1.0  # the unannotated clip's targets are never read
    assert torch.equal(loss, module.au_loss(embedding, other, known))
    expected = F.binary_cross_entropy_with_logits(head(embedding[known]), aus[known])
    assert torch.allclose(loss, expected)
    nothing = module.au_loss(embedding, aus, torch.zeros(4, dtype=torch.bool))
    assert float(nothing.detach()) == 0.0


def test_au_aux_off_never_reads_au_codes(clips, params):
    """au_aux = 0 (the default) trains exactly as before the AU head existed."""
    first = fit_cnn(clips, params.cnn, seed=4)
    recoded = replace(clips, au_codes=np.full(len(clips), "9+25"))
    second = fit_cnn(recoded, params.cnn, seed=4)
    for (name, a), b in zip(first.net.state_dict().items(), second.net.state_dict().values(),
                            strict=True):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("mixup", [0.0, 0.4])
def test_au_aux_is_seeded_and_changes_the_fit(clips, params, mixup):
    aux = params.cnn.model_copy(update={"au_aux": 0.5, "mixup": mixup})
    first, second = fit_cnn(clips, aux, seed=4), fit_cnn(clips, aux, seed=4)
    assert first.train_loss == second.train_loss
    for (name, a), b in zip(first.net.state_dict().items(), second.net.state_dict().values(),
                            strict=True):
        assert torch.equal(a, b), name
    assert first.net.state_dict().keys() == fit_cnn(clips, params.cnn, seed=4).net.state_dict(
        ).keys()  # the AU head is not part of the fitted net
    plain = fit_cnn(clips, params.cnn.model_copy(update={"mixup": mixup}), seed=4)
    assert first.train_loss != plain.train_loss


def test_au_aux_without_any_au_codes_names_the_key(clips, params):
    unknown = replace(clips, au_codes=np.full(len(clips), ""))
    with pytest.raises(MerError, match=r"au_aux is 0\.5 but none .* set train\.cnn\.au_aux to 0"):
        fit_cnn(unknown, params.cnn.model_copy(update={"au_aux": 0.5}), seed=0)


def test_pretrain_starts_from_the_saved_backbone_with_a_fresh_head(clips, params):
    """train.cnn.pretrain: streams, GRU and embedding start from the pretrained net; the head
    and the input normaliser are the fit's own."""
    source = fit_cnn(clips, params.cnn, seed=9)
    state = state_bytes(source.net)
    train = clips.take(np.flatnonzero(clips.subject != "sub01"))
    torch.manual_seed(0)
    net = FlowNet(train.n_classes, 4, 8, dropout=0.3, apex_stream=False)
    fresh = {k: v.clone() for k, v in net.state_dict().items()}
    net.set_normaliser(train.flow, train.apex_image)
    normaliser = {k: v.clone() for k, v in net.state_dict().items() if k in NOT_PRETRAINED}
    load_pretrained(net, state)
    for name, value in net.state_dict().items():
        if name.startswith("head."):
            assert torch.equal(value, fresh[name]), name
        elif name in normaliser:
            assert torch.equal(value, normaliser[name]), name  # the fit's own clips
        else:
            assert torch.equal(value, source.net.state_dict()[name]), name
    tuned = params.cnn.model_copy(update={"pretrain": PretrainParams(clips=4)})
    first, second = fit_cnn(train, tuned, 0, state), fit_cnn(train, tuned, 0, state)
    assert state_bytes(first.net) == state_bytes(second.net)
    assert first.train_loss != fit_cnn(train, params.cnn, seed=0).train_loss


def test_pretrain_refuses_missing_or_unasked_weights_and_another_shape(clips, params):
    tuned = params.cnn.model_copy(update={"pretrain": PretrainParams(clips=4)})
    with pytest.raises(MerError, match="got no pretrained net"):
        fit_cnn(clips, tuned, 0)
    wider = state_bytes(FlowNet(clips.n_classes, 6, 8, dropout=0.0, apex_stream=False))
    with pytest.raises(ValueError, match="clips is 0"):
        fit_cnn(clips, params.cnn, 0, wider)
    with pytest.raises(MerError, match="another shape"):
        fit_cnn(clips, tuned, 0, wider)
