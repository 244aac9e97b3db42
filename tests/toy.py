"""Small structured random features + manifest, for tests and benchmarks of the train stage.

Each class moves one facial region in one direction (a Gaussian blob of flow), with
per-clip amplitude, per-subject bias and noise; AU-region features and AU codes are
class-dependent with overlap. Learnable, not trivial, and fast to build at any size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mer.atomic import atomic_path
from mer.core.clipset import ClipSet
from mer.labels import get_scheme

# Typical AU codes per casme2-5 class (design brief section 5), cycled for other schemes.
CLASS_AUS = ("6+12", "4+7+L10", "1+2", "14+17", "4")

# train params (a params.yaml's train section) for seconds-long fits on these clips: no
# pretraining and the SVM as the hybrid's expert (the defaults' pretraining and OFF-ApexNet
# expert are tested where they are the subject: test_models_pretrain, the DVC and registry tests).
FAST_TRAIN = {"cnn": {"epochs": 2, "batch_size": 16, "channels": 4, "embedding": 8,
                      "ensemble": 2, "pretrain": {"clips": 0}},
              "svm": {"trials": 3, "inner_folds": 2},
              "references": {"epochs": 2},
              "hybrid": {"experts": ["svm"]}}


def toy_tables(subjects: int = 6, clips_per_subject: int = 6, steps: int = 2, size: int = 8,
               n_au: int = 6, scheme: str = "casme2-5", seed: int = 0,
               noise: float = 0.5, with_apex: bool = True
               ) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """(features.npz arrays, manifest) for ``subjects`` x ``clips_per_subject`` clips.

    ``steps=1, with_apex=False`` mimics precomputed flow images (one flow, zero apex frames).
    """
    rng = np.random.default_rng(seed)
    classes = get_scheme(scheme).classes
    k = len(classes)
    n = subjects * clips_per_subject
    subject = np.repeat([f"sub{s + 1:02d}" for s in range(subjects)], clips_per_subject)
    # Every subject gets a run of consecutive classes so most folds hold several classes.
    y = (np.arange(n) + np.repeat(np.arange(subjects), clips_per_subject)) % k
    grid = np.linspace(-1.0, 1.0, size)
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    centres = rng.uniform(-0.6, 0.6, size=(k, 2))
    angles = np.linspace(0, 2 * np.pi, k, endpoint=False)
    au_means = rng.normal(0.0, 1.0, size=(k, n_au))
    subject_bias = rng.normal(0.0, 0.3, size=(subjects, n_au))
    flow = np.empty((n, steps, 3, size, size), np.float32)
    au = np.empty((n, n_au), np.float32)
    for i in range(n):
        c, s = y[i], i // clips_per_subject
        blob = np.exp(-((yy - centres[c, 0]) ** 2 + (xx - centres[c, 1]) ** 2) / 0.15)
        profile = np.sin(np.pi * (np.arange(steps) + 1) / (steps + 1))  # onset->apex->offset
        amplitude = rng.uniform(0.5, 1.5)
        for t in range(steps):
            flow[i, t, 0] = amplitude * profile[t] * np.cos(angles[c]) * blob
            flow[i, t, 1] = amplitude * profile[t] * np.sin(angles[c]) * blob
            flow[i, t, 2] = amplitude * profile[t] * blob * 0.1
        flow[i] += rng.normal(0.0, noise * 0.3, size=flow[i].shape)
        au[i] = au_means[c] + subject_bias[s] + rng.normal(0.0, noise, size=n_au)
    apex = rng.uniform(0.0, 1.0, size=(n, 1, size, size)).astype(np.float32)
    if not with_apex:
        apex = np.zeros_like(apex)
    clip = np.array([f"EP{i:02d}_{i % 3:02d}" for i in range(n)])
    clip_id = np.array([f"synthetic/{s}/{c}" for s, c in zip(subject, clip, strict=True)])
    aus = [CLASS_AUS[c % len(CLASS_AUS)] if rng.random() > 0.2 else CLASS_AUS[rng.integers(5)]
           for c in y]
    order = np.argsort(clip_id)
    features = {
        "clip_id": clip_id[order], "flow": flow[order], "apex_image": apex[order],
        "au_features": au[order],
        "au_feature_names": np.array([f"region{j}" for j in range(n_au)]),
        "apex_frame": np.full(n, steps, dtype=np.int64), "apex_estimated": np.zeros(n, bool),
    }
    manifest = pd.DataFrame({
        "dataset": "synthetic", "subject": subject, "clip": clip, "clip_id": clip_id,
        "frame_paths": [[] for _ in range(n)], "onset": 1, "apex": 1 + steps,
        "offset": 1 + 2 * steps, "fps": 200.0, "aus": aus,
        "emotion": [classes[c] for c in y], "label": [classes[c] for c in y],
        "label_index": y, "flow_image": "", "flags": [[] for _ in range(n)],
        "source": [f"toy:{i}" for i in range(n)],
    }).sort_values("clip_id").reset_index(drop=True)
    return features, manifest


def write_toy(folder: str | Path, **kwargs: object) -> tuple[Path, Path]:
    """Write toy features.npz and manifest.parquet into ``folder``; return both paths."""
    from mer.core.manifest import write_manifest

    folder = Path(folder)
    features, manifest = toy_tables(**kwargs)  # type: ignore[arg-type]
    features_path = folder / "features.npz"
    with atomic_path(features_path) as tmp, tmp.open("wb") as handle:
        np.savez(handle, **features)
    manifest_path = write_manifest(manifest, folder / "manifest.parquet")
    return features_path, manifest_path


def toy_clips(scheme: str = "casme2-5", **kwargs: object) -> ClipSet:
    """The toy tables as a ClipSet, without touching the disk."""
    features, manifest = toy_tables(scheme=scheme, **kwargs)  # type: ignore[arg-type]
    rows = manifest.set_index("clip_id").loc[features["clip_id"]]
    return ClipSet(
        clip_id=features["clip_id"], clip=rows["clip"].to_numpy(dtype=str),
        subject=rows["subject"].to_numpy(dtype=str), flow=features["flow"],
        apex_image=features["apex_image"], au_features=features["au_features"],
        au_codes=rows["aus"].to_numpy(dtype=str),
        y=rows["label_index"].to_numpy(dtype=np.int64), classes=get_scheme(scheme).classes,
        au_feature_names=tuple(features["au_feature_names"].tolist()))


def state_bytes(net) -> bytes:
    """A torch module's state dict as torch.save bytes: what train.cnn.pretrain hands a fit."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    return buffer.getvalue()
