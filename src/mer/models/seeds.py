"""Derived seeds: one params seed fans out into independent, reproducible streams."""

from __future__ import annotations

import numpy as np


def derive_seed(seed: int, *keys: int) -> int:
    """A 31-bit seed for the stream named by ``keys`` under ``seed``.

    SeedSequence mixes the keys, so (seed, 1) and (seed + 1, 0) are unrelated streams, unlike
    plain addition; 31 bits fit every library's seed argument (torch, sklearn, optuna).
    """
    state = np.random.SeedSequence([seed, *keys]).generate_state(1)[0]
    return int(state) & 0x7FFFFFFF
