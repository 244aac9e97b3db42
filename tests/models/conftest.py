"""Tiny structured clips and fast params for the model tests."""

from __future__ import annotations

import pytest

from mer.config import CnnParams, ReferenceParams, SvmParams, TrainParams
from mer.core.clipset import ClipSet
from toy import toy_clips


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
    return TrainParams(cnn=CnnParams(epochs=2, batch_size=16, channels=4, embedding=8,
                                     ensemble=2),
                       svm=SvmParams(trials=3, inner_folds=2),
                       references=ReferenceParams(epochs=2))
