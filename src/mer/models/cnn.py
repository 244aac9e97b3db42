"""Training the flow CNN (mer.models.flownet: the network and the fitted model).

Read top to bottom: ``FlowNetModule`` (the Lightning training loop around a FlowNet) and
``fit_cnn`` (one fold's training: fixed epochs, no validation data, so nothing about the
held-out subject can steer it), which returns a ``TrainedCnn``.

With ``train.cnn.au_aux`` > 0 the training is multi-task: an auxiliary head on the FlowNet's
embedding predicts each training clip's annotated AUs (multi-label binary cross-entropy over the
AU numbers the training clips name), added to the emotion loss with weight ``au_aux``. The head
exists only during training: the fitted net, its predictions and the saved model are the
emotion FlowNet alone. AUs are the facial evidence the emotion labels of CASME II were read
from, so they are a denser supervision signal than five classes: multi-task learning (Caruana,
"Multitask Learning", Machine Learning 28, 1997: a shared representation trained on a related
task as well) with AUs as the related task, as MER work that uses AU labels beside emotions
does (e.g. Xie et al., "AU-assisted Graph Attention Convolutional Network for
Micro-Expression Recognition", ACM MM 2020).

Measured with ``python -m benchmarks.bench_compare`` on the frames set (the default embedded
CASME II: 246 clips, 26 subjects, casme2-5), one CNN per fit (``train.cnn.ensemble: 1``), seeds
0-5, the values fixed before measuring, under the defaults of then (no pretraining, the hybrid's
expert the SVM); pooled UF1 / UAR, mean +- sd over the six seeds (the SVM, the same in every
row: 0.658 +- 0.014 / 0.727 +- 0.017):

| train.cnn                   | cnn UF1        | cnn UAR        | hybrid UF1     | hybrid UAR     |
| --------------------------- | -------------- | -------------- | -------------- | -------------- |
| au_aux 0, mixup 0 (default) | 0.691 +- 0.015 | 0.755 +- 0.007 | 0.690 +- 0.019 | 0.770 +- 0.015 |
| au_aux 0.5                  | 0.675 +- 0.006 | 0.740 +- 0.009 | 0.699 +- 0.017 | 0.780 +- 0.016 |
| mixup 0.2                   | 0.684 +- 0.016 | 0.752 +- 0.009 | 0.683 +- 0.019 | 0.767 +- 0.018 |

The AU head learns its targets (its loss falls from 0.69 to about 0.1-0.2 over a fold's 30
epochs) but lowers the CNN alone by about twice the seed spread, and raises the hybrid by less
than the spread (seeds 3-5, each against the default's: hybrid UAR -0.009 to +0.025); mixup
changes nothing beyond the spread. Both stay off by default.
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from mer.config import Accelerator, CnnParams
from mer.core.clipset import ClipSet
from mer.errors import MerError
from mer.interrupts import stop_if_requested
from mer.models.au_codes import AuCodeEncoder, known_aus
from mer.models.augment import ClipAugmenter
from mer.models.flownet import (
    SHUFFLE_STREAM,
    FlowNet,
    TrainedCnn,
    balanced_class_weights,
    torch_single_thread,
)
from mer.models.seeds import derive_seed

AUGMENT_STREAM, MIXUP_STREAM = 2, 3  # derive_seed keys of a fit's streams (and SHUFFLE_STREAM)
# cuBLAS is deterministic (as Trainer(deterministic=True) demands) only with a fixed workspace:
# PyTorch's reproducibility notes, "CUDA convolution determinism" and CUBLAS_WORKSPACE_CONFIG.
CUBLAS_WORKSPACE = ":4096:8"


class FlowNetModule(L.LightningModule):
    """Weighted cross-entropy training of a FlowNet, with mixup when ``params.mixup`` > 0 and
    the auxiliary AU loss when ``au_head`` is given (``params.au_aux`` > 0); records the mean
    loss of every epoch.

    ``au_head`` maps the net's embedding (B, E) to AU logits (B, V), V the training clips' AU
    vocabulary; it is trained here and never part of the fitted net.
    """

    def __init__(self, net: FlowNet, class_weights: np.ndarray, params: CnnParams,
                 seed: int, au_head: nn.Linear | None = None) -> None:
        super().__init__()
        self.net = net
        self.au_head = au_head
        self.register_buffer("class_weights", torch.tensor(class_weights, dtype=torch.float32))
        self.params = params
        self.mixing = np.random.default_rng(derive_seed(seed, MIXUP_STREAM))
        self.train_loss: list[float] = []
        self._loss_sum, self._count = 0.0, 0

    def on_train_batch_start(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> None:
        stop_if_requested()  # a Ctrl-C or SIGTERM Python dropped (mer.interrupts)

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        # (B, T, 3, I, I), (B, 1, I, I), (B,), (B, V) multi-hot AUs, (B,) bool AUs annotated
        flow, apex, y, aus, known = batch
        if self.params.mixup > 0:
            loss = self._mixup_loss(flow, apex, y, aus, known)
        else:
            logits, embedding = self.net(flow, apex)
            loss = F.cross_entropy(logits, y, weight=self.class_weights)
            if self.au_head is not None:
                loss = loss + self.params.au_aux * self.au_loss(embedding, aus, known)
        self._loss_sum += float(loss.detach()) * len(y)
        self._count += len(y)
        return loss

    def _mixup_loss(self, flow: torch.Tensor, apex: torch.Tensor, y: torch.Tensor,
                    aus: torch.Tensor | None = None, known: torch.Tensor | None = None
                    ) -> torch.Tensor:
        """Mixup (Zhang, Cisse, Dauphin and Lopez-Paz, "mixup: Beyond Empirical Risk
        Minimization", ICLR 2018): each clip is blended with another clip of the batch,
        weight lam ~ Beta(a, a) per batch, and the loss is the same blend of the two labels'
        losses. Blending two flow fields superposes two motions; u, v and strain stay in
        their units. The AU targets (with an AU head) blend alike, and count only where both
        clips' AUs are annotated."""
        lam = float(self.mixing.beta(self.params.mixup, self.params.mixup))
        order = torch.from_numpy(self.mixing.permutation(len(y)))
        mixed_flow = lam * flow + (1 - lam) * flow[order]
        mixed_apex = lam * apex + (1 - lam) * apex[order]
        logits, embedding = self.net(mixed_flow, mixed_apex)
        loss = (lam * F.cross_entropy(logits, y, weight=self.class_weights)
                + (1 - lam) * F.cross_entropy(logits, y[order], weight=self.class_weights))
        if self.au_head is None or aus is None or known is None:
            return loss
        mixed_aus = lam * aus + (1 - lam) * aus[order]
        return loss + self.params.au_aux * self.au_loss(embedding, mixed_aus,
                                                        known & known[order])

    def au_loss(self, embedding: torch.Tensor, aus: torch.Tensor, known: torch.Tensor
                ) -> torch.Tensor:
        """Binary cross-entropy of the AU head's logits against ``aus`` (B, V) in [0, 1],
        averaged over the V AUs and over the clips with ``known`` (B,) AUs; 0 for a batch
        without any (it then adds no gradient)."""
        if self.au_head is None:
            raise ValueError("au_loss needs an au_head (train.cnn.au_aux > 0)")
        per_clip = F.binary_cross_entropy_with_logits(
            self.au_head(embedding), aus, reduction="none").mean(dim=1)  # (B,)
        weight = known.to(per_clip.dtype)
        return (per_clip * weight).sum() / weight.sum().clamp(min=1.0)

    def on_train_epoch_end(self) -> None:
        self.train_loss.append(self._loss_sum / max(self._count, 1))
        self._loss_sum, self._count = 0.0, 0

    def configure_optimizers(self) -> dict[str, object]:
        trained = [*self.net.parameters(),
                   *(self.au_head.parameters() if self.au_head is not None else ())]
        optimizer = torch.optim.Adam(trained, lr=self.params.lr,
                                     weight_decay=self.params.weight_decay)
        # Annealing to zero over the fixed epoch budget: the last epoch is a settled model,
        # which matters because we never pick an epoch.
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, self.params.epochs)
        return {"optimizer": optimizer, "lr_scheduler": schedule}


class _TrainingClips(Dataset):
    def __init__(self, clips: ClipSet, augmenter: ClipAugmenter | None, aus: np.ndarray,
                 known: np.ndarray) -> None:
        self.clips = clips
        self.augmenter = augmenter
        self.aus = aus  # (N, V) float32 multi-hot AU targets; V = 0 without an AU head
        self.known = known  # (N,) bool: the clip's AUs are annotated

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int
                    ) -> tuple[torch.Tensor, torch.Tensor, int, torch.Tensor, bool]:
        flow, apex = self.clips.flow[i], self.clips.apex_image[i]
        if self.augmenter is not None:
            flow, apex = self.augmenter(flow, apex)  # a flip mirrors AU sides, which we drop
        return (torch.tensor(flow), torch.tensor(apex), int(self.clips.y[i]),
                torch.tensor(self.aus[i]), bool(self.known[i]))


def au_targets(train: ClipSet, params: CnnParams) -> tuple[np.ndarray, np.ndarray]:
    """The AU head's targets for ``train``: (N, V) float32 multi-hot over the AU numbers that
    ``train``'s own clips name, and (N,) bool (clip annotated). V = 0 when ``params.au_aux``
    is 0. MerError when au_aux > 0 but no clip of ``train`` has AU codes."""
    known = known_aus(train.au_codes)
    if params.au_aux == 0:
        return np.zeros((len(train), 0), dtype=np.float32), known
    if not known.any():
        raise MerError(
            f"train.cnn.au_aux is {params.au_aux} but none of the {len(train)} training clips "
            "has annotated AU codes (manifest column aus is empty): set train.cnn.au_aux to 0 "
            "for this dataset, or give its clips AU codes")
    encoder = AuCodeEncoder.fit(train.au_codes)  # the training clips' vocabulary only
    return encoder.transform(train.au_codes).astype(np.float32), known


# Parameters a pretrained FlowNet does not pass on: the emotion head (its classes are the
# pretraining corpus's) and the input normaliser (set from the fit's own training clips, so
# that they reach the streams at unit RMS, the scale the pretraining corpus reached them at).
NOT_PRETRAINED = ("head.", "flow_scale", "apex_mean", "apex_std")


def load_pretrained(net: FlowNet, state: bytes) -> None:
    """Copy every parameter and buffer of ``state`` (torch.save bytes of a FlowNet's
    state_dict, mer.models.pretrain) into ``net`` but its head and input normaliser
    (NOT_PRETRAINED). MerError when its net has another shape (train.cnn channels, embedding
    and apex_stream must be those it was pretrained with)."""
    saved = torch.load(io.BytesIO(state), map_location="cpu", weights_only=True)
    kept = {k: v for k, v in saved.items() if not k.startswith(NOT_PRETRAINED)}
    own = {k: tuple(v.shape) for k, v in net.state_dict().items()
           if not k.startswith(NOT_PRETRAINED)}
    wrong = sorted(set(kept) ^ set(own)) + sorted(
        k for k in kept.keys() & own.keys() if tuple(kept[k].shape) != own[k])
    if wrong:
        raise MerError(f"train.cnn.pretrain: the pretrained FlowNet has another shape (keys "
                       f"{', '.join(wrong[:5])} differ); pretrain with this fit's train.cnn "
                       "channels, embedding and apex_stream")
    net.load_state_dict(kept, strict=False)


@contextmanager
def _quiet_lightning() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            # We load in-process on purpose (tiny data; worker processes cost more than they save).
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")
            # lightning 2.6 on torch 2.13 (their bug, harmless): LeafSpec is deprecated.
            warnings.filterwarnings("ignore", message=".*LeafSpec.*")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def resolve_accelerator(setting: Accelerator) -> str:
    """The Lightning accelerator train.cnn.accelerator asks for on this machine: 'cpu' or
    'gpu' (a CUDA device torch sees). MerError for 'gpu' when torch sees none."""
    if setting == "cpu":
        return "cpu"
    if torch.cuda.is_available():
        return "gpu"
    if setting == "gpu":
        raise MerError(
            f"train.cnn.accelerator is gpu but torch {torch.__version__} sees no CUDA GPU on "
            f"this machine (CUDA build: {torch.version.cuda or 'none'}); install a CUDA build "
            "of torch where a GPU is, or set train.cnn.accelerator to cpu or auto")
    return "cpu"


def fit_cnn(train: ClipSet, params: CnnParams, seed: int, pretrained: bytes | None = None
            ) -> TrainedCnn:
    """Train a FlowNet on ``train`` for exactly ``params.epochs`` epochs, on the device
    ``params.accelerator`` resolves to (MerError: gpu asked, none seen); the returned net is
    on the CPU. With ``params.au_aux`` > 0 it also learns ``train``'s AU codes through an
    auxiliary head (``au_targets``; MerError when no training clip has codes), which the
    returned net does not keep. With ``params.pretrain.clips`` > 0 the net starts from
    ``pretrained`` (mer.models.pretrain.pretrained_flownet; load_pretrained): MerError when it
    is missing, ValueError when given with pretraining off."""
    train.require_labels("fit_cnn")
    if (params.pretrain.clips > 0) != (pretrained is not None):
        if pretrained is not None:
            raise ValueError("fit_cnn got pretrained weights but train.cnn.pretrain.clips is 0")
        raise MerError(f"train.cnn.pretrain.clips is {params.pretrain.clips} but this fit got "
                       "no pretrained net: build it with "
                       "mer.models.pretrain.pretrained_flownet(params, cache) and pass it on")
    accelerator = resolve_accelerator(params.accelerator)
    if accelerator == "gpu":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    with torch_single_thread(), _quiet_lightning():
        torch.manual_seed(seed)  # weight init and dropout
        net = FlowNet(train.n_classes, params.channels, params.embedding, params.dropout,
                      params.apex_stream)
        net.set_normaliser(train.flow, train.apex_image)
        if pretrained is not None:
            load_pretrained(net, pretrained)
        aus, known = au_targets(train, params)
        # created after the net, so au_aux = 0 draws the very same initial weights as before
        au_head = nn.Linear(params.embedding, aus.shape[1]) if params.au_aux > 0 else None
        weights = balanced_class_weights(train.y, train.n_classes)
        augmenter = (ClipAugmenter(params.augment, derive_seed(seed, AUGMENT_STREAM),
                                   with_apex=params.apex_stream)
                     if params.augment.enabled else None)
        loader = DataLoader(
            _TrainingClips(train, augmenter, aus, known), batch_size=params.batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(derive_seed(seed, SHUFFLE_STREAM)))
        module = FlowNetModule(net, weights, params, seed, au_head)
        trainer = L.Trainer(
            max_epochs=params.epochs, accelerator=accelerator, devices=1, deterministic=True,
            logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, num_sanity_val_steps=0)
        trainer.fit(module, loader)
    net.cpu().eval()  # predictions and the saved model run on the CPU
    return TrainedCnn(net=net, classes=train.classes, train_loss=tuple(module.train_loss),
                      class_weights=tuple(weights.tolist()), batch_size=params.batch_size)
