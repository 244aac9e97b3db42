"""The whole suite's environment, set for every process the tests start: nothing here may reach
the network or write outside the test's own folders.

- DVC's usage analytics off: `dvc init` in a test's project reports to DVC's analytics endpoint
  before the project's config can turn it off (a break-it session found bench_pipeline doing
  so).
- The model cache in a folder of the suite's own, removed at its end: a test that predicts with
  a registered model and sets no cache of its own filled the user's ~/.cache/mer/models with
  `mer-test` models (a break-it session found 43, 0.5 GB).
- The files that build real projects are collected first (FIRST).
"""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

os.environ["DVC_NO_ANALYTICS"] = "1"
os.environ["MER_MODEL_CACHE"] = tempfile.mkdtemp(prefix="mer-test-models-")
atexit.register(shutil.rmtree, os.environ["MER_MODEL_CACHE"], ignore_errors=True)

# The test files that build real projects or servers, the costliest first: seconds of setup
# and calls in one clean-clone `bash .ci/run` (`pytest --durations=0`, 2026-12-05). `make test`
# hands whole files to its two workers in collection order (--dist loadfile
# --no-loadscope-reorder), so these start first and the hundreds of quick files fill in after
# them. xdist's default order, the files with the most tests first, started them last: one
# worker ran the last long file alone (about 40 s of the suite's 23 min). The order changes no
# result; a file left out only starts later.
FIRST = (
    "core/test_core_dvc_experiments.py",  # 435 s
    "inference/test_inference_registry.py",  # 422 s
    "faults/test_faults_tracking.py",  # 327 s
    "evaluation/test_evaluation_mlflow_runs.py",  # 214 s
    "evaluation/test_evaluation_tracking.py",  # 192 s
    "core/test_core_composite.py",  # 188 s
    "faults/test_faults_models.py",  # 129 s
    "evaluation/test_evaluation_stages.py",  # 115 s
    "evaluation/test_evaluation_ray.py",  # 113 s
    "evaluation/test_evaluation_loso.py",  # 69 s
    "spotting/test_spotting_cli.py",  # 59 s
    "models/test_models_pretrain.py",  # 57 s
    "core/test_core_dvc_deps.py",  # 44 s
)
TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list) -> None:
    """FIRST's files first, in its order; the others after them, as collected."""
    rank = {name: i for i, name in enumerate(FIRST)}
    items.sort(key=lambda item: rank.get(item.path.relative_to(TESTS).as_posix(), len(FIRST)))
