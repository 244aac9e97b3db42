"""A tiny embedded long-video corpus, written once per session by the real generator."""

from pathlib import Path

import pytest

from mer.config import FeatureParams, LongVideoParams, SpottingParams
from mer.synthetic.write_casme_sq import write_long_videos

# 2 subjects x 8 s, 2 micro- and 1 macro-expression each: the smallest LOSO corpus.
TINY_LONG = LongVideoParams(subjects=2, seconds=8.0, micro=2, macro=1)
TINY_SPOTTING = SpottingParams(synthetic=TINY_LONG, workers=1)


@pytest.fixture(scope="session")
def tiny_spotting() -> SpottingParams:
    return TINY_SPOTTING


@pytest.fixture(scope="session")
def tiny_long_corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("long") / "synthetic_long"
    write_long_videos(root, TINY_LONG, seed=0, workers=1)
    return root


@pytest.fixture(scope="session")
def tiny_long_signals(tiny_long_corpus):
    from mer.data.casme_sq import read_casme_sq
    from mer.spotting.folds import corpus_signals

    videos = read_casme_sq(tiny_long_corpus)
    return videos, corpus_signals(videos, TINY_SPOTTING, FeatureParams())
