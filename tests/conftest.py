"""The whole suite's environment, set for every process the tests start: nothing here may reach
the network or write outside the test's own folders.

- DVC's usage analytics off: `dvc init` in a test's project reports to DVC's analytics endpoint
  before the project's config can turn it off (a break-it session found bench_pipeline doing
  so).
- The model cache in a folder of the suite's own, removed at its end: a test that predicts with
  a registered model and sets no cache of its own filled the user's ~/.cache/mer/models with
  `mer-test` models (a break-it session found 43, 0.5 GB).

It also orders the files for `make test`'s two workers (LONGEST_FIRST).
"""

import atexit
import os
import shutil
import tempfile

os.environ["DVC_NO_ANALYTICS"] = "1"
os.environ["MER_MODEL_CACHE"] = tempfile.mkdtemp(prefix="mer-test-models-")
atexit.register(shutil.rmtree, os.environ["MER_MODEL_CACHE"], ignore_errors=True)

# The files that build and run projects, longest first (wall seconds in a quiet `make test` of
# 2026-12-06: 258, 249, 184, 125, 112, 103, 93, 77, 58; the next file takes 31). `make test`
# passes --no-loadscope-reorder, so its two workers take whole files in this order and the
# short ones fill in behind: xdist's own order, most tests first, left test_core_composite (3
# tests, 112 s) to the end of the run, one core idle for 66 s of it.
LONGEST_FIRST = (
    "test_core_dvc_experiments.py",
    "test_inference_registry.py",
    "test_faults_tracking.py",
    "test_evaluation_tracking.py",
    "test_core_composite.py",
    "test_evaluation_mlflow_runs.py",
    "test_evaluation_ray.py",
    "test_faults_models.py",
    "test_evaluation_stages.py",
)


def pytest_collection_modifyitems(items):
    """The files of LONGEST_FIRST first, in its order; each file's tests, and the other files,
    in the order collected."""
    rank = {name: index for index, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
