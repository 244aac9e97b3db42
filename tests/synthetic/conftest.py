"""A tiny synthetic dataset, generated once per test session by the real generator."""

from pathlib import Path

import pytest

from mer.config import SyntheticParams
from mer.data.synthetic import generate_dataset

# 4 subjects x 10 clips at a small frame size that dlib still finds faces in (jaw ~120 px).
TINY = SyntheticParams(subjects=4, clips=10, frame_width=160, frame_height=194, workers=1)


@pytest.fixture(scope="session")
def tiny_params() -> SyntheticParams:
    return TINY


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic") / "data"
    generate_dataset(root, TINY, seed=0)
    return root

