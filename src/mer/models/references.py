"""The field's reference networks as learners: STSTNet, OFF-ApexNet and SSSNet.

Each net is written here from its paper's description, so that mer's models can be compared
with the nets the field reports under mer's own protocol, features and metrics. All three read
one flow, onset -> apex (``features.sampling.apex_step`` of mer's T steps), resized to the net's
published input size: u and v (px) and the optical strain.

Read top to bottom: the three ``nn.Module``s, the input they share (``reference_input``), one
fold's training (``fit_reference``), the fitted net (``TrainedReference``) and the one learner
for all three (``ReferenceLearner``).

Training, unlike the papers'. Their schedules, hundreds of epochs at tiny rates (STSTNet's
code: 800 epochs of Adam at lr 5e-5), cost minutes per fold on one CPU core, 26 folds a run.
Instead: Adam, cosine-annealed to 0 over a fixed ``train.references.epochs`` (no early
stopping, nothing read from the held-out subject), with mer's CNN's class-weighted
cross-entropy, so that a comparison with the CNN is one of networks, not of losses; each input
channel standardised with the training subjects' mean and standard deviation; no augmentation.

The defaults, 10 epochs at lr 1e-2 (STSTNet) or 1e-3 (the two nets of 1-3M weights), batch 32,
were chosen on the toy data of tests/toy.py at CASME II's size (26 subjects x 10 clips, T = 3,
32 x 32, noise 4 to make it less easy; the first LOSO fold's 250 training clips; reproduced by
benchmarks/bench_train.py): the fewest epochs after which doubling them lowers the final
training loss by less than 0.02 nats, about 1% of where it starts. Final training loss:

| net (lr)           | 5 epochs | 10    | 20          | 40    |
|--------------------|----------|-------|-------------|-------|
| STSTNet (1e-2)     | 0.154    | 0.018 | 0.004       | 0.002 |
| OFF-ApexNet (1e-3) | 0.059    | 0.017 | 0.001       |       |
| SSSNet (1e-3)      | 0.031    | 0.008 | 0.004-0.012 |       |

Other rates, 10 epochs: STSTNet ends at 1.01 (lr 1e-3) or 0.21 (3e-3), still falling;
OFF-ApexNet at 0.085 with 3e-3 (unsettled early epochs); SSSNet gains nothing from 3e-3 (0.010).
Seconds per fold (fit and predict, one core): STSTNet ~1, OFF-ApexNet ~4, SSSNet ~10 (its
64 x 64 input costs ~1 s an epoch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mer.config import OFF_APEXNET, SSSNET, STSTNET, ReferenceParams
from mer.core.clipset import ClipSet
from mer.features.sampling import apex_step
from mer.interrupts import stop_if_requested
from mer.models.flownet import SHUFFLE_STREAM, balanced_class_weights, torch_single_thread
from mer.models.seeds import derive_seed

U, V = 0, 1  # channels of a flow step (2: optical strain)


class STSTNet(nn.Module):
    """Shallow Triple Stream Three-dimensional CNN: Liong, Gan, See, Khor and Huang, "Shallow
    Triple Stream Three-dimensional CNN (STSTNet) for Micro-expression Recognition", FG 2019
    (MEGC2019). (B, 3, 28, 28) u, v, strain -> (B, K) logits; 1,651 parameters for K = 3."""

    size = 28  # published input side, px
    widths = (3, 5, 8)  # filters of the three streams, each over all three channels

    def __init__(self, n_classes: int) -> None:
        super().__init__()
        self.streams = nn.ModuleList(nn.Conv2d(3, width, 3, padding=1) for width in self.widths)
        self.pool = nn.MaxPool2d(3, stride=3, padding=1)  # 'same' padding: 28 -> 10
        self.merge = nn.AvgPool2d(2)  # 10 -> 5
        self.head = nn.Linear(sum(self.widths) * 5 * 5, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # each stream: (B, 3, 28, 28) -> conv 'same' (B, C, 28, 28) -> max-pool (B, C, 10, 10)
        x = torch.cat([self.pool(F.relu(conv(x))) for conv in self.streams], dim=1)
        x = self.merge(x)  # (B, 16, 5, 5)
        return self.head(x.flatten(1))  # (B, K)


class OffApexNet(nn.Module):
    """Optical Flow Features from Apex frame Network: Gan, Liong, Yau, Huang and Tan,
    "OFF-ApexNet on micro-expression recognition system", Signal Processing: Image
    Communication 74, 2019. Two LeNet-like streams, one on u and one on v (the strain is not an
    input, as published), and two fully connected layers of 1024 with dropout 0.5.
    (B, 3, 28, 28) -> (B, K) logits; 2,664,475 parameters for K = 3."""

    size = 28
    hidden = 1024
    dropout = 0.5

    def __init__(self, n_classes: int) -> None:
        super().__init__()
        self.streams = nn.ModuleList(self._stream() for _ in (U, V))
        self.classifier = nn.Sequential(
            nn.Linear(2 * 16 * 7 * 7, self.hidden), nn.ReLU(), nn.Dropout(self.dropout),
            nn.Linear(self.hidden, self.hidden), nn.ReLU(), nn.Dropout(self.dropout),
            nn.Linear(self.hidden, n_classes),
        )

    @staticmethod
    def _stream() -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(),  # (B, 6, 28, 28)
            nn.MaxPool2d(2),  # (B, 6, 14, 14)
            nn.Conv2d(6, 16, 5, padding=2), nn.ReLU(),  # (B, 16, 14, 14)
            nn.MaxPool2d(2),  # (B, 16, 7, 7)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u, v = x[:, U:U + 1], x[:, V:V + 1]  # (B, 1, 28, 28) each
        features = [stream(c).flatten(1) for stream, c in zip(self.streams, (u, v), strict=True)]
        return self.classifier(torch.cat(features, dim=1))  # (B, 1568) -> (B, K)


class SSSNet(nn.Module):
    """Shallow Single Stream Network: Varanka, Li, Peng and Zhao, "Data leakage and evaluation
    issues in micro-expression analysis", IEEE Transactions on Affective Computing, 2023
    (tvaranka/meb). Two convolutions (32 and 64
    filters, each followed by max-pooling, batch norm and channel dropout) and a 256-unit fully
    connected layer. (B, 3, 64, 64) u, v, strain -> (B, K) logits; 1,349,251 parameters for
    K = 3."""

    size = 64
    dropout = 0.5

    def __init__(self, n_classes: int) -> None:
        super().__init__()
        # Max-pooling before the ReLU: the same function as the paper's ReLU then pooling (ReLU
        # is monotonic), on 9x and 4x fewer activations.
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 5),  # (B, 32, 60, 60): no padding
            nn.MaxPool2d(3), nn.ReLU(),  # (B, 32, 20, 20)
            nn.BatchNorm2d(32), nn.Dropout2d(self.dropout),
            nn.Conv2d(32, 64, 3),  # (B, 64, 18, 18)
            nn.MaxPool2d(2), nn.ReLU(),  # (B, 64, 9, 9)
            nn.BatchNorm2d(64), nn.Dropout2d(self.dropout),
        )
        self.classifier = nn.Sequential(
            nn.Linear(64 * 9 * 9, 256), nn.ReLU(), nn.Dropout(self.dropout),
            nn.Linear(256, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))  # (B, 5184) -> (B, K)


ReferenceNet = STSTNet | OffApexNet | SSSNet
NETS: dict[str, type[ReferenceNet]] = {STSTNET: STSTNet, OFF_APEXNET: OffApexNet, SSSNET: SSSNet}


def reference_input(flow: np.ndarray, size: int) -> torch.Tensor:
    """(N, T, 3, I, I) flow sequences -> (N, 3, size, size): the onset -> apex flow, resized by
    area averaging (shrinking) or bilinearly (enlarging). Flow vectors keep their px values: the
    standardisation that follows makes the scale moot."""
    x = torch.tensor(flow[:, apex_step(flow.shape[1])], dtype=torch.float32)  # (N, 3, I, I)
    if x.shape[-1] > size:
        return F.interpolate(x, size=(size, size), mode="area")
    if x.shape[-1] < size:
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


@dataclass(frozen=True, eq=False)
class TrainedReference:
    """A fitted reference net (eval mode), its input standardisation and how it was fitted."""

    name: str
    net: ReferenceNet
    mean: torch.Tensor  # (1, 3, 1, 1) training subjects' per-channel mean
    std: torch.Tensor  # (1, 3, 1, 1) and standard deviation
    classes: tuple[str, ...]
    train_loss: tuple[float, ...]  # mean weighted loss per epoch
    class_weights: tuple[float, ...]
    batch_size: int

    def proba(self, flow: np.ndarray) -> np.ndarray:
        """(N, T, 3, I, I) flow sequences -> class probabilities (N, K)."""
        out = [np.zeros((0, len(self.classes)))]
        with torch_single_thread(deterministic=False), torch.no_grad():
            self.net.eval()
            x = (reference_input(flow, self.net.size) - self.mean) / self.std
            for batch in x.split(self.batch_size):
                out.append(torch.softmax(self.net(batch).double(), dim=1).numpy())
        return np.concatenate(out)

    # The LOSO loop's interface (mer.evaluation.loso.Fitted):
    def predict(self, clips: ClipSet) -> dict[str, np.ndarray]:
        return {self.name: self.proba(clips.flow)}

    def report(self) -> dict[str, dict[str, Any]]:
        return {self.name: {"train_loss": list(self.train_loss),
                            "class_weights": list(self.class_weights),
                            "parameters": count_parameters(self.net)}}


def fit_reference(name: str, train: ClipSet, params: ReferenceParams, seed: int
                  ) -> TrainedReference:
    """Train the reference net ``name`` on ``train`` for exactly ``params.epochs`` epochs.

    A plain loop rather than Lightning's Trainer, which would bring nothing used here (no
    validation, logging, checkpoints or devices); the steps read as the papers describe them.
    """
    train.require_labels("fit_reference")
    with torch_single_thread():
        torch.manual_seed(seed)  # weight init and dropout
        net = NETS[name](train.n_classes)
        x = reference_input(train.flow, net.size)  # (N, 3, S, S)
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        std = x.std(dim=(0, 2, 3), keepdim=True)
        std = torch.where(std > 0, std, torch.ones_like(std))  # a constant channel stays put
        x = (x - mean) / std
        y = torch.tensor(train.y)
        weights = balanced_class_weights(train.y, train.n_classes)
        weight = torch.tensor(weights, dtype=torch.float32)
        epochs = params.epochs
        optimizer = torch.optim.Adam(net.parameters(), lr=params.lr[name],
                                     weight_decay=params.weight_decay)
        # Annealed to zero over the fixed budget: the last epoch is a settled model.
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs)
        order = torch.Generator().manual_seed(derive_seed(seed, SHUFFLE_STREAM))
        losses = []
        net.train()
        for _ in range(epochs):
            total = 0.0
            for batch in torch.randperm(len(y), generator=order).split(params.batch_size):
                stop_if_requested()  # a Ctrl-C or SIGTERM Python dropped (mer.interrupts)
                loss = F.cross_entropy(net(x[batch]), y[batch], weight=weight)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(batch)
            losses.append(total / len(y))
            schedule.step()
        net.eval()
    return TrainedReference(name=name, net=net, mean=mean, std=std, classes=train.classes,
                            train_loss=tuple(losses), class_weights=tuple(weights.tolist()),
                            batch_size=params.batch_size)


@dataclass(frozen=True)
class ReferenceLearner:
    """One reference net (``name`` in config.REFERENCES), trained per fold by fit_reference."""

    name: str
    params: ReferenceParams

    def __post_init__(self) -> None:
        if self.name not in NETS:
            raise ValueError(f"no reference net {self.name!r}; known: {sorted(NETS)}")

    @property
    def outputs(self) -> tuple[str, ...]:
        return (self.name,)

    def spec(self) -> dict[str, Any]:
        # This net's schedule only: another net's rate does not change this one's folds.
        return {"net": self.name, "epochs": self.params.epochs,
                "lr": self.params.lr[self.name], "batch_size": self.params.batch_size,
                "weight_decay": self.params.weight_decay}

    def fit(self, train: ClipSet, seed: int) -> TrainedReference:
        return fit_reference(self.name, train, self.params, seed)
