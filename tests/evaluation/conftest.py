"""Tiny structured clips, fast params and a shared MLflow store for the evaluation tests."""

from __future__ import annotations

import pytest

from mer.config import CnnParams, ReferenceParams, SvmParams, TrainParams
from mer.core.clipset import ClipSet
from toy import toy_clips


@pytest.fixture(scope="session")
def clips() -> ClipSet:
    """6 subjects x 6 clips, T=2 steps of 8x8 flow, 6 AU-region features, AU codes."""
    return toy_clips()


@pytest.fixture(scope="session")
def params() -> TrainParams:
    return TrainParams(cnn=CnnParams(epochs=2, batch_size=16, channels=4, embedding=8,
                                     ensemble=2),
                       svm=SvmParams(trials=3, inner_folds=2),
                       references=ReferenceParams(epochs=2))


@pytest.fixture(scope="session")
def params_yaml() -> str:
    """params.yaml text with the same train section as ``params``."""
    return ("train:\n"
            "  parallel_folds: 1\n"
            "  cnn: {epochs: 2, batch_size: 16, channels: 4, embedding: 8, ensemble: 2}\n"
            "  svm: {trials: 3, inner_folds: 2}\n"
            "  references: {epochs: 2}\n")


@pytest.fixture(scope="session")
def tracking_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One project folder (and so one mlflow.db) for the tests that only need a store:
    creating an MLflow database takes seconds."""
    return str(tmp_path_factory.mktemp("tracking"))


@pytest.fixture
def own_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ignore a team MLFLOW_TRACKING_URI of the developer's shell."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
