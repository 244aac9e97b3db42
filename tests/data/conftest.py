"""Fixtures of the data tests: tiny corpora on disk and a one-call manifest build."""

from __future__ import annotations

from pathlib import Path

import pytest

from mer.config import DataParams
from mer.data.build import build_manifest


@pytest.fixture
def build():
    """build(source, root, scheme='casme2-5', annotations=None) -> (manifest, report)."""

    def _build(source: str, root: Path, scheme: str = "casme2-5",
               annotations: Path | None = None):
        data = DataParams(source=source, root=root, annotations=annotations)
        return build_manifest(data, scheme)

    return _build
