"""A copy of the project run by the real DVC and git in tmp_path, with tiny params: what the
DVC tests (tests/core/test_core_dvc_experiments.py, test_core_composite.py) share."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
STAGES = tuple(yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"])


def shrink(params: dict) -> dict:
    """``params`` (a params file's dict) made tiny: 4 subjects of 24 clips at 160 x 192, 2 CNN
    epochs after 1 of pretraining on the smallest pretraining corpus (mer.models.pretrain: 4
    clips of 2 subjects), 2 epochs of the hybrid's reference net, 3 Optuna trials on 2 inner
    folds, 2 long videos of 8 s to spot in.

    synthesize, faces, features and train run in one process each (their workers and
    train.parallel_folds 1): the suite runs two test files at once on two cores, so a second
    worker only added its start-up, the imports of a fresh Python (Lightning's alone take
    seconds). Their worker pools have tests of their own (test_evaluation_loso,
    test_faults_tracking, test_features_stages). spotting.workers stays 2: spot-synthesize's
    and spot-eval's pools run in these projects only."""
    params["data"]["synthetic"].update(subjects=4, clips=24, frame_width=160, frame_height=192,
                                       workers=1)
    params["faces"]["workers"] = params["features"]["workers"] = 1
    params["train"]["parallel_folds"] = 1
    params["train"]["cnn"]["epochs"] = 2
    params["train"]["cnn"]["pretrain"].update(clips=4, subjects=2, epochs=1)
    params["train"]["references"]["epochs"] = 2
    params["train"]["svm"].update(trials=3, inner_folds=2)
    params["spotting"]["synthetic"].update(subjects=2, seconds=8.0, micro=2, macro=1)
    return params


def tiny_params() -> dict:
    """The repository's params.yaml, shrunk."""
    return shrink(yaml.safe_load((REPO / "params.yaml").read_text()))


def run(project: Path, *command: str, env: dict[str, str] | None = None,
        stdout_only: bool = False, fails: bool = False) -> str:
    """``command``'s output (stdout and stderr; only stdout with ``stdout_only``), which must
    succeed (fail, with ``fails``), run in ``project`` with this venv first on PATH and the
    project's MLflow store."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}", **(env or {})}
    result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True,
                            check=False)
    assert (result.returncode != 0) == fails, (result.stdout + result.stderr)[-4000:]
    return result.stdout if stdout_only else result.stdout + result.stderr


def dvc(project: Path, *args: str, **kwargs) -> str:
    return run(project, sys.executable, "-m", "dvc", *args, **kwargs)


def repro_project(root: Path, params: dict) -> Path:
    """A copy of the project (code, dvc.yaml, .gitignore, DVC plot templates, ``params``) in
    ``root``, after `dvc repro`."""
    shutil.copytree(REPO / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "dvc.yaml", root)
    shutil.copy(REPO / ".gitignore", root)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(root, "git", "init", "-q")
    dvc(root, "init", "-q")
    dvc(root, "config", "core.analytics", "false")
    shutil.copytree(REPO / ".dvc" / "plots", root / ".dvc" / "plots")
    dvc(root, "repro")
    return root


def ran_stages(output: str) -> set[str]:
    """The stages a `dvc repro` or `dvc exp run` output says it ran."""
    return {s for s in STAGES if f"Running stage '{s}'" in output}
