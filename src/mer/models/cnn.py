"""The flow CNN: a shallow two-stream conv net per flow step, a GRU across steps, a softmax head.

Read top to bottom: ``FlowNet`` (plain nn.Module, the network), ``FlowNetModule`` (the
Lightning training loop around it), ``fit_cnn`` (one fold's training: fixed epochs, no
validation data, so nothing about the held-out subject can steer it) and ``TrainedCnn``
(the fitted network: class probabilities and embeddings).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from mer.config import CnnParams
from mer.core.clipset import ClipSet
from mer.models.augment import ClipAugmenter
from mer.models.seeds import derive_seed

# Architecture facts (shapes below are for I = 32):
FIRST_KERNEL, FIRST_STRIDE = 5, 2  # halve the resolution at once: flow is smooth, and full-
# resolution activations cost most of the CPU time (profiled: pooling and batch norm at 32x32)
GRID = 4  # each stream ends on a 4x4 grid: coarse facial layout (brows, eyes, nose, mouth)
SHUFFLE_STREAM, AUGMENT_STREAM = 1, 2  # derive_seed keys of the fit's random streams


def conv_stream(in_channels: int, channels: int) -> nn.Sequential:
    """(B, in, I, I) -> (B, channels, GRID, GRID): STSTNet-like shallow stream."""
    return nn.Sequential(
        nn.Conv2d(in_channels, channels, FIRST_KERNEL, stride=FIRST_STRIDE,
                  padding=FIRST_KERNEL // 2),  # (B, C, I/2, I/2)
        nn.BatchNorm2d(channels),
        nn.ReLU(),
        nn.MaxPool2d(2),  # (B, C, I/4, I/4)
        nn.Conv2d(channels, channels, 3, padding=1),
        nn.BatchNorm2d(channels),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(GRID),  # (B, C, GRID, GRID)
    )


class FlowNet(nn.Module):
    """(B, T, 3, I, I) flow/strain sequence [+ (B, 1, I, I) apex] -> (logits, embedding)."""

    def __init__(self, n_classes: int, channels: int, embedding: int, dropout: float,
                 apex_stream: bool) -> None:
        super().__init__()
        small = max(1, channels // 2)
        self.motion = conv_stream(2, channels)  # u, v: direction matters, so a wide stream
        self.strain = conv_stream(1, small)  # optical strain: where the skin deforms
        self.step = nn.Sequential(nn.Linear((channels + small) * GRID * GRID, embedding),
                                  nn.ReLU())
        self.temporal = nn.GRU(embedding, embedding, batch_first=True)
        self.apex = conv_stream(1, small) if apex_stream else None
        fused = embedding + (small * GRID * GRID if apex_stream else 0)
        self.embed = nn.Sequential(nn.Linear(fused, embedding), nn.ReLU())
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(embedding, n_classes)
        # Input scaling, set from the training subjects only (set_normaliser); saved with the net.
        self.register_buffer("flow_scale", torch.ones(3))
        self.register_buffer("apex_mean", torch.zeros(()))
        self.register_buffer("apex_std", torch.ones(()))

    def set_normaliser(self, flow: np.ndarray, apex: np.ndarray) -> None:
        """Scale u and v by one shared RMS (keeps vectors isotropic), strain by its own."""
        uv = float(np.sqrt(np.mean(np.square(flow[:, :, :2], dtype=np.float64))))
        strain = float(np.sqrt(np.mean(np.square(flow[:, :, 2], dtype=np.float64))))
        std = float(np.std(apex, dtype=np.float64))
        self.flow_scale.copy_(torch.tensor([uv or 1.0, uv or 1.0, strain or 1.0]))
        self.apex_mean.fill_(float(np.mean(apex, dtype=np.float64)))
        self.apex_std.fill_(std or 1.0)  # flow-image inputs have all-zero apex frames

    def forward(self, flow: torch.Tensor, apex: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        b, t, c, h, w = flow.shape
        x = flow / self.flow_scale.view(1, 1, c, 1, 1)  # (B, T, 3, I, I)
        x = x.reshape(b * t, c, h, w)  # every step goes through the same streams
        steps = torch.cat([self.motion(x[:, :2]), self.strain(x[:, 2:])], dim=1)
        steps = self.step(steps.flatten(1)).reshape(b, t, -1)  # (B, T, E)
        _, last = self.temporal(steps)  # (1, B, E): state after the offset-side step
        z = last[0]  # (B, E); T = 1 is a single GRU step
        if self.apex is not None:
            a = (apex - self.apex_mean) / self.apex_std  # (B, 1, I, I)
            z = torch.cat([z, self.apex(a).flatten(1)], dim=1)  # (B, E + C/2 * GRID^2)
        embedding = self.embed(z)  # (B, E)
        return self.head(self.dropout(embedding)), embedding  # (B, K), (B, E)


def balanced_class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """n / (classes present * n_k) per class, as sklearn's 'balanced'; 0 for absent classes."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(n_classes)
    weights[present] = len(y) / (present.sum() * counts[present])
    return weights


class FlowNetModule(L.LightningModule):
    """Weighted cross-entropy training of a FlowNet; records the mean loss of every epoch."""

    def __init__(self, net: FlowNet, class_weights: np.ndarray, params: CnnParams) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("class_weights", torch.tensor(class_weights, dtype=torch.float32))
        self.params = params
        self.train_loss: list[float] = []
        self._loss_sum, self._count = 0.0, 0

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        flow, apex, y = batch  # (B, T, 3, I, I), (B, 1, I, I), (B,)
        logits, _ = self.net(flow, apex)
        loss = F.cross_entropy(logits, y, weight=self.class_weights)
        self._loss_sum += float(loss.detach()) * len(y)
        self._count += len(y)
        return loss

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
def torch_single_thread() -> Iterator[None]:
    """One intra-op thread: fold workers must not fight over cores, and float reductions
    must not depend on the thread count (parallel and serial runs give equal bytes)."""
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


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


@dataclass(frozen=True, eq=False)
class TrainedCnn:
    """A fitted FlowNet (eval mode) and how it was fitted."""

    net: FlowNet
    classes: tuple[str, ...]
    train_loss: tuple[float, ...]  # mean weighted loss per epoch
    class_weights: tuple[float, ...]
    batch_size: int

    def predict(self, flow: np.ndarray, apex: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, T, 3, I, I), (N, 1, I, I) -> class probabilities (N, K), embeddings (N, E)."""
        probs, embeddings = [], []
        with torch_single_thread(), torch.no_grad():
            self.net.eval()
            for start in range(0, len(flow), self.batch_size):
                stop = start + self.batch_size
                logits, embedding = self.net(torch.tensor(flow[start:stop]),
                                             torch.tensor(apex[start:stop]))
                probs.append(torch.softmax(logits.double(), dim=1).numpy())
                embeddings.append(embedding.numpy())
        k, e = len(self.classes), self.net.head.in_features
        return (np.concatenate(probs) if probs else np.zeros((0, k)),
                np.concatenate(embeddings) if embeddings else np.zeros((0, e), np.float32))


def fit_cnn(train: ClipSet, params: CnnParams, seed: int) -> TrainedCnn:
    """Train a FlowNet on ``train`` for exactly ``params.epochs`` epochs."""
    train.require_labels("fit_cnn")
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
        module = FlowNetModule(net, weights, params)
        trainer = L.Trainer(
            max_epochs=params.epochs, accelerator="cpu", devices=1, deterministic=True,
            logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, num_sanity_val_steps=0)
        trainer.fit(module, loader)
    net.eval()
    return TrainedCnn(net=net, classes=train.classes, train_loss=tuple(module.train_loss),
                      class_weights=tuple(weights.tolist()), batch_size=params.batch_size)
