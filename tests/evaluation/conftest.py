"""Tiny structured clips, fast params and a shared MLflow store for the evaluation tests."""

from __future__ import annotations

import pytest
import yaml

from mer.config import TrainParams
from mer.core.clipset import ClipSet
from toy import FAST_TRAIN, toy_clips


@pytest.fixture(scope="session")
def clips() -> ClipSet:
    """6 subjects x 6 clips, T=2 steps of 8x8 flow, 6 AU-region features, AU codes."""
    return toy_clips()


@pytest.fixture(scope="session")
def params() -> TrainParams:
    """Seconds-long fits (toy.FAST_TRAIN)."""
    return TrainParams.model_validate(FAST_TRAIN)


@pytest.fixture(scope="session")
def params_yaml() -> str:
    """params.yaml text with the same train section as ``params``, folds run one by one."""
    return yaml.safe_dump({"train": {"parallel_folds": 1, **FAST_TRAIN}})


@pytest.fixture(scope="session")
def tracking_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One project folder (and so one mlflow.db) for the tests that only need a store:
    creating an MLflow database takes seconds."""
    return str(tmp_path_factory.mktemp("tracking"))


@pytest.fixture
def own_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ignore a team MLFLOW_TRACKING_URI of the developer's shell."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
