"""The whole suite's environment, set for every process the tests start: nothing here may reach
the network or write outside the test's own folders.

- DVC's usage analytics off: `dvc init` in a test's project reports to DVC's analytics endpoint
  before the project's config can turn it off (a break-it session found bench_pipeline doing
  so).
- The model cache in a folder of the suite's own, removed at its end: a test that predicts with
  a registered model and sets no cache of its own filled the user's ~/.cache/mer/models with
  `mer-test` models (a break-it session found 43, 0.5 GB).
"""

import atexit
import os
import shutil
import tempfile

os.environ["DVC_NO_ANALYTICS"] = "1"
os.environ["MER_MODEL_CACHE"] = tempfile.mkdtemp(prefix="mer-test-models-")
atexit.register(shutil.rmtree, os.environ["MER_MODEL_CACHE"], ignore_errors=True)
