"""Training the flow CNN (mer.models.flownet: the network and the fitted model).

Read top to bottom: ``FlowNetModule`` (the Lightning training loop around a FlowNet) and
``fit_cnn`` (one fold's training: fixed epochs, no validation data, so nothing about the
held-out subject can steer it), which returns a ``TrainedCnn``.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from mer.config import Accelerator, CnnParams
from mer.core.clipset import ClipSet
from mer.errors import MerError
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
    """Weighted cross-entropy training of a FlowNet, with mixup when ``params.mixup`` > 0;
    records the mean loss of every epoch."""

    def __init__(self, net: FlowNet, class_weights: np.ndarray, params: CnnParams,
                 seed: int) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("class_weights", torch.tensor(class_weights, dtype=torch.float32))
        self.params = params
        self.mixing = np.random.default_rng(derive_seed(seed, MIXUP_STREAM))
        self.train_loss: list[float] = []
        self._loss_sum, self._count = 0.0, 0

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        flow, apex, y = batch  # (B, T, 3, I, I), (B, 1, I, I), (B,)
        if self.params.mixup > 0:
            loss = self._mixup_loss(flow, apex, y)
        else:
            logits, _ = self.net(flow, apex)
            loss = F.cross_entropy(logits, y, weight=self.class_weights)
        self._loss_sum += float(loss.detach()) * len(y)
        self._count += len(y)
        return loss

    def _mixup_loss(self, flow: torch.Tensor, apex: torch.Tensor, y: torch.Tensor
                     ) -> torch.Tensor:
        """Mixup (Zhang, Cisse, Dauphin and Lopez-Paz, "mixup: Beyond Empirical Risk
        Minimization", ICLR 2018): each clip is blended with another clip of the batch,
        weight lam ~ Beta(a, a) per batch, and the loss is the same blend of the two labels'
        losses. Blending two flow fields superposes two motions; u, v and strain stay in
        their units."""
        lam = float(self.mixing.beta(self.params.mixup, self.params.mixup))
        order = torch.from_numpy(self.mixing.permutation(len(y)))
        mixed_flow = lam * flow + (1 - lam) * flow[order]
        mixed_apex = lam * apex + (1 - lam) * apex[order]
        logits, _ = self.net(mixed_flow, mixed_apex)
        return (lam * F.cross_entropy(logits, y, weight=self.class_weights)
                + (1 - lam) * F.cross_entropy(logits, y[order], weight=self.class_weights))

    def on_train_epoch_end(self) -> None:
        self.train_loss.append(self._loss_sum / max(self._count, 1))
        self._loss_sum, self._count = 0.0, 0

    def configure_optimizers(self) -> dict[str, object]:
        optimizer = torch.optim.Adam(self.net.parameters(), lr=self.params.lr,
                                     weight_decay=self.params.weight_decay)
        # Annealing to zero over the fixed epoch budget: the last epoch is a settled model,
        # which matters because we never pick an epoch.
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, self.params.epochs)
        return {"optimizer": optimizer, "lr_scheduler": schedule}


class _TrainingClips(Dataset):
    def __init__(self, clips: ClipSet, augmenter: ClipAugmenter | None) -> None:
        self.clips = clips
        self.augmenter = augmenter

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        flow, apex = self.clips.flow[i], self.clips.apex_image[i]
        if self.augmenter is not None:
            flow, apex = self.augmenter(flow, apex)
        return torch.tensor(flow), torch.tensor(apex), int(self.clips.y[i])


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


def fit_cnn(train: ClipSet, params: CnnParams, seed: int) -> TrainedCnn:
    """Train a FlowNet on ``train`` for exactly ``params.epochs`` epochs, on the device
    ``params.accelerator`` resolves to (MerError: gpu asked, none seen); the returned net is
    on the CPU."""
    train.require_labels("fit_cnn")
    accelerator = resolve_accelerator(params.accelerator)
    if accelerator == "gpu":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    with torch_single_thread(), _quiet_lightning():
        torch.manual_seed(seed)  # weight init and dropout
        net = FlowNet(train.n_classes, params.channels, params.embedding, params.dropout,
                      params.apex_stream)
        net.set_normaliser(train.flow, train.apex_image)
        weights = balanced_class_weights(train.y, train.n_classes)
        augmenter = (ClipAugmenter(params.augment, derive_seed(seed, AUGMENT_STREAM),
                                   with_apex=params.apex_stream)
                     if params.augment.enabled else None)
        loader = DataLoader(
            _TrainingClips(train, augmenter), batch_size=params.batch_size, shuffle=True,
            generator=torch.Generator().manual_seed(derive_seed(seed, SHUFFLE_STREAM)))
        module = FlowNetModule(net, weights, params, seed)
        trainer = L.Trainer(
            max_epochs=params.epochs, accelerator=accelerator, devices=1, deterministic=True,
            logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, num_sanity_val_steps=0)
        trainer.fit(module, loader)
    net.cpu().eval()  # predictions and the saved model run on the CPU
    return TrainedCnn(net=net, classes=train.classes, train_loss=tuple(module.train_loss),
                      class_weights=tuple(weights.tolist()), batch_size=params.batch_size)
