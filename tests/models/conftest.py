"""Tiny structured clips and fast params for the model tests."""

from __future__ import annotations

import pytest

from mer.config import TrainParams
from mer.core.clipset import ClipSet
from toy import FAST_TRAIN, toy_clips


@pytest.fixture(scope="session")
def clips() -> ClipSet:
    """6 subjects x 6 clips, T=2 steps of 8x8 flow, 6 AU-region features."""
    return toy_clips()


@pytest.fixture(scope="session")
def flow_image_clips() -> ClipSet:
    """Precomputed flow images: T=1, apex frames all zero."""
    return toy_clips(steps=1, with_apex=False)


@pytest.fixture(scope="session")
def params() -> TrainParams:
    """Seconds-long fits (toy.FAST_TRAIN)."""
    return TrainParams.model_validate(FAST_TRAIN)
