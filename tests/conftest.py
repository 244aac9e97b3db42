"""The whole suite's environment: DVC's usage analytics off in every process the tests start.

`dvc init` in a test's project reports to DVC's analytics endpoint before the project's config
can turn it off (a break-it session found bench_pipeline doing so); nothing here may reach the
network."""

import os

os.environ["DVC_NO_ANALYTICS"] = "1"
