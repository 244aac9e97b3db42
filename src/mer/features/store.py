"""Reading data/features.npz (written by the features stage with mer.faces.store.write_npz)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mer.faces.store import read_npz
from mer.features.pipeline import FEATURES_KEYS


def read_features(path: str | Path) -> dict[str, np.ndarray]:
    """clip_id (N,), flow (N, T, 3, I, I), apex (N, 1, I, I), au (N, F), au_names (F,),
    apex_frame (N,), apex_estimated (N,); rows sorted by clip_id."""
    return read_npz(path, FEATURES_KEYS, "mer features")
