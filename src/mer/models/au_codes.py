"""Annotated AU codes as model inputs or targets: the manifest's ``aus`` strings, multi-hot.

Used by the au-oracle ceiling (mer.models.learners: an SVM on the codes) and by the CNN's
auxiliary AU head (mer.models.cnn, ``train.cnn.au_aux``: the codes as training targets). Both
fit the vocabulary on a fold's training clips only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np


def au_numbers(codes: str) -> set[int]:
    """AU numbers in a normalised code string: '4+7+L10' -> {4, 7, 10} (side dropped);
    '' (unknown) -> set()."""
    return {int(number) for number in re.findall(r"\d+", codes)}


def known_aus(aus: np.ndarray) -> np.ndarray:
    """(N,) bool: the clips whose code string names at least one AU ('' or '?' do not)."""
    return np.array([bool(au_numbers(codes)) for codes in aus.tolist()], dtype=bool)


@dataclass(frozen=True)
class AuCodeEncoder:
    """Multi-hot over the AU numbers seen in the training clips (unseen ones are ignored)."""

    vocabulary: tuple[int, ...]

    @classmethod
    def fit(cls, aus: np.ndarray) -> AuCodeEncoder:
        return cls(tuple(sorted(set().union(*(au_numbers(a) for a in aus.tolist())))))

    def transform(self, aus: np.ndarray) -> np.ndarray:
        """(N,) code strings -> (N, len(vocabulary)) float64 0/1."""
        out = np.zeros((len(aus), len(self.vocabulary)))
        column = {au: j for j, au in enumerate(self.vocabulary)}
        for i, codes in enumerate(aus.tolist()):
            for au in au_numbers(codes) & column.keys():
                out[i, column[au]] = 1.0
        return out
