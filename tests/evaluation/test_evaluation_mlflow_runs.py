"""What a user sees of `mer train` and `mer evaluate` in MLflow, on a real SQLite store.

One tiny toy project (4 subjects, the SVM alone: seconds) goes through the real stages twice,
the second time with every fold cached, as a user rerunning `mer train` would."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from mlflow import MlflowClient

from mer.cli import main
from mer.tracking.store import PARENT_TAG, tracking_uri
from toy import write_toy

QUICK = ("train:\n"
         "  models: [svm]\n"
         "  parallel_folds: 1\n"
         "  svm: {trials: 2, inner_folds: 2}\n")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The project after `mer train`, `mer evaluate`, then both again (every fold cached)."""
    root = tmp_path_factory.mktemp("mlflow-runs")
    write_toy(root / "data", subjects=4, clips_per_subject=5)
    (root / "params.yaml").write_text(QUICK)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        for name in ("MLFLOW_TRACKING_URI", "DVC_EXP_NAME"):
            patch.delenv(name, raising=False)
        for command in ("train", "evaluate", "train", "evaluate"):
            assert main([command]) == 0
    client = MlflowClient(tracking_uri(root))
    experiment = client.get_experiment_by_name("mer")
    runs = client.search_runs([experiment.experiment_id], max_results=1000,
                              order_by=["attributes.start_time ASC"])
    return SimpleNamespace(
        root=root, client=client, experiment=experiment,
        parents=[r for r in runs if PARENT_TAG not in r.data.tags],
        children=[r for r in runs if PARENT_TAG in r.data.tags])


def test_the_parent_run_holds_each_models_headline(project):
    """UAR, UF1, accuracy and fold spread per model, as in reports/metrics.json; the rest of
    the evaluation is the run's evaluation.json."""
    import json

    headline = json.loads((project.root / "reports/metrics.json").read_text())
    parent = project.client.get_run(project.parents[0].info.run_id)
    assert parent.data.metrics == pytest.approx(
        {f"{m}/{k}": v for m, figures in headline.items() for k, v in figures.items()},
        abs=1e-6)  # metrics.json is rounded to 6 decimals
    assert set(headline) == {"svm", "majority", "au-oracle"}
    artifacts = {a.path for a in project.client.list_artifacts(parent.info.run_id)}
    assert {"evaluation.json", "metrics.json"} <= artifacts
    figures = {a.path for a in project.client.list_artifacts(parent.info.run_id, "plots")}
    assert "plots/models.png" in figures  # the models side by side, with their fold spread
