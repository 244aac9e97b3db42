"""Tiny synthetic datasets, generated once per test session by the real generator."""

from pathlib import Path

import pytest

from mer.config import SyntheticParams
from mer.synthetic.write_casme2 import generate_dataset

# 4 subjects x 10 clips at a small frame size that dlib still finds faces in (jaw ~120 px).
TINY = SyntheticParams(subjects=4, clips=10, frame_width=160, frame_height=194, workers=1)
# The same size in all three formats: SAMM 5 subjects x 10 clips, SMIC-HS 2 x 6 (scaled from
# their real sizes by CASME II's factors, with their minimums).
TINY_ALL = TINY.model_copy(update={"corpora": ("casme2", "samm", "smic")})


@pytest.fixture(scope="session")
def tiny_params() -> SyntheticParams:
    return TINY


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic") / "data"
    generate_dataset(root, TINY, seed=0)
    return root


@pytest.fixture(scope="session")
def tiny_all_params() -> SyntheticParams:
    return TINY_ALL


@pytest.fixture(scope="session")
def tiny_all_dataset(tmp_path_factory) -> Path:
    """CASME II, SAMM and SMIC-HS formats in one root."""
    root = tmp_path_factory.mktemp("synthetic_all") / "data"
    generate_dataset(root, TINY_ALL, seed=0)
    return root
