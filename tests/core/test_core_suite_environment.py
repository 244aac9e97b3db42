"""The suite's own environment (tests/conftest.py): it reaches no network and writes nothing of
the user's."""

import os
from pathlib import Path


def test_the_suite_never_writes_the_users_model_cache():
    """A break-it session: tests that predict with a registered model and set no cache of
    their own left 43 `mer-test` models (0.5 GB) in ~/.cache/mer/models."""
    from mer.tracking.model_cache import cache_root

    assert not cache_root().is_relative_to(Path.home())
    assert cache_root().name.startswith("mer-test-models-")


def test_the_suite_turns_dvc_analytics_off():
    assert os.environ["DVC_NO_ANALYTICS"] == "1"
