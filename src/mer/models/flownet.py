"""The flow CNN as a fitted model needs it: the network and its predictions, torch only.

``FlowNet`` is a shallow two-stream conv net per flow step, a GRU across steps and a softmax
head; ``TrainedCnn`` is a fitted one (class probabilities and embeddings). Training lives in
mer.models.cnn, with Lightning: a loaded model (``mer predict``, the served pyfunc) imports
this module, not the training stack.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

# derive_seed key of a training loop's batch order (the CNN's and the reference nets'); here,
# not in mer.models.cnn, so that a loaded model never imports the training stack
SHUFFLE_STREAM = 1

# Architecture facts (shapes below are for I = 32):
FIRST_KERNEL, FIRST_STRIDE = 5, 2  # halve the resolution at once: flow is smooth, and full-
# resolution activations cost most of the CPU time (profiled: pooling and batch norm at 32x32)
GRID = 4  # each stream ends on a 4x4 grid: coarse facial layout (brows, eyes, nose, mouth)

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


@contextmanager
def torch_single_thread(deterministic: bool = True) -> Iterator[None]:
    """One intra-op thread: fold workers must not fight over cores, and float reductions
    must not depend on the thread count (parallel and serial runs give equal bytes).

    ``deterministic`` also makes torch refuse nondeterministic algorithms, for training. The
    forward pass of a net in eval mode on one CPU thread is deterministic without it, and
    setting it imports torch's compiler stack (about a second), so prediction leaves it off.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    if not deterministic:
        try:
            yield
        finally:
            torch.set_num_threads(threads)
        return
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(previous)


@dataclass(frozen=True, eq=False)
class TrainedCnn:
    """A fitted FlowNet (eval mode) and how it was fitted."""

    net: FlowNet
    classes: tuple[str, ...]
    train_loss: tuple[float, ...]  # mean weighted loss per epoch (+ au_aux x the AU loss)
    class_weights: tuple[float, ...]
    batch_size: int

    def predict(self, flow: np.ndarray, apex: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, T, 3, I, I), (N, 1, I, I) -> class probabilities (N, K), embeddings (N, E)."""
        probs, embeddings = [], []
        with torch_single_thread(deterministic=False), torch.no_grad():
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
