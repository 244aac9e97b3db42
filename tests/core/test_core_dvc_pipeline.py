"""dvc.yaml as users run it: `dvc repro` end to end, a no-op rerun, and a targeted rerun.

Runs the real DVC on a copy of the project (its code, dvc.yaml, tiny params) in tmp_path.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
STAGES = ("synthesize", "data", "faces", "features", "train", "evaluate", "register")


def tiny_params() -> dict:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"]["synthetic"].update(subjects=4, clips=24, frame_width=160, frame_height=192)
    params["train"]["cnn"]["epochs"] = 2
    params["train"]["svm"].update(trials=3, inner_folds=2)
    params["spotting"]["synthetic"].update(subjects=2, seconds=8.0, micro=2, macro=1)
    return params


def run(project: Path, *command: str, env: dict[str, str] | None = None,
        stdout_only: bool = False) -> str:
    """``command``'s output (stdout and stderr; only stdout with ``stdout_only``), which must
    succeed, run in ``project`` with this venv first on PATH and the project's MLflow store."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}", **(env or {})}
    result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return result.stdout if stdout_only else result.stdout + result.stderr


def repro_project(root: Path, params: dict) -> Path:
    """A copy of the project (code, dvc.yaml, .gitignore, DVC plot templates, ``params``) in
    ``root``, after `dvc repro`."""
    shutil.copytree(REPO / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "dvc.yaml", root)
    shutil.copy(REPO / ".gitignore", root)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(root, "git", "init", "-q")
    run(root, sys.executable, "-m", "dvc", "init", "-q")
    run(root, sys.executable, "-m", "dvc", "config", "core.analytics", "false")
    shutil.copytree(REPO / ".dvc" / "plots", root / ".dvc" / "plots")
    run(root, sys.executable, "-m", "dvc", "repro")
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return repro_project(tmp_path_factory.mktemp("dvc-project"), tiny_params())


def ran_stages(output: str) -> set[str]:
    return {s for s in STAGES if f"Running stage '{s}'" in output}


def test_repro_builds_every_output(project):
    for path in ("data/manifest.parquet", "data/faces.npz", "data/features.npz",
                 "reports/predictions.csv", "reports/metrics.json", "reports/evaluation.json",
                 "reports/registered.json",
                 "reports/plots", "dvc.lock"):
        assert (project / path).exists(), path


def test_nothing_changed_reruns_nothing(project):
    assert ran_stages(run(project, sys.executable, "-m", "dvc", "repro")) == set()


def test_svm_param_reruns_only_what_depends_on_it(project):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"]["svm"]["trials"] = 4
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert ran_stages(run(project, sys.executable, "-m", "dvc", "repro")) == {
        "train", "evaluate", "register"}
