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


def test_the_longest_files_run_first_and_exist(request):
    """tests/conftest.py's order is the run's, and names files that exist: a renamed one would
    fall back to the end of the run without a word."""
    longest = next(plugin.LONGEST_FIRST for plugin in request.config.pluginmanager.get_plugins()
                   if hasattr(plugin, "LONGEST_FIRST"))
    tests = Path(__file__).resolve().parents[1]
    assert {path.name for path in tests.rglob("test_*.py")} >= set(longest)
    rank = [longest.index(item.path.name) if item.path.name in longest else len(longest)
            for item in request.session.items]
    assert rank == sorted(rank)
    makefile = (tests.parent / "Makefile").read_text()
    assert "--dist loadfile --no-loadscope-reorder" in makefile
