"""scripts/ui_screenshots.py refuses what it cannot capture with one line saying what to do
(its captures themselves are looked at by eye: docs/ui/, README "What the MLflow UI shows")."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "ui_screenshots.py"


def screenshots(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          check=False, timeout=120)


def test_a_folder_without_a_store_says_to_run_the_pipeline_or_build_a_tiny_project(tmp_path):
    done = screenshots("--project", str(tmp_path), "--out", str(tmp_path / "ui"))
    assert done.returncode == 2, done.stderr
    assert "has no mlflow.db" in done.stderr and "--tiny" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "ui").exists()


def test_a_missing_chromium_is_named(tmp_path):
    (tmp_path / "mlflow.db").touch()  # a project: Chromium is the one thing missing
    done = screenshots("--project", str(tmp_path), "--chromium", str(tmp_path / "chromium"))
    assert done.returncode == 2 and f"no Chromium at {tmp_path / 'chromium'}" in done.stderr
    assert "--chromium PATH" in done.stderr


def test_tiny_refuses_a_folder_that_holds_a_project(tmp_path):
    (tmp_path / "mlflow.db").touch()
    done = screenshots("--tiny", str(tmp_path))
    assert done.returncode == 2 and "already holds a project" in done.stderr
    assert "--project" in done.stderr


def test_tiny_runs_every_stage_dvc_repro_runs():
    """--tiny builds its project with dvc.yaml's commands, in order (its own list once missed
    the spotting stages, and `mer register` then failed for want of reports/spotting.json)."""
    spec = importlib.util.spec_from_file_location("ui_screenshots", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    assert script.stage_commands() == [stage["cmd"] for stage in stages.values()]
    assert {"mer spot-eval", "mer register"} <= set(script.stage_commands())
    assert set(script.TINY) <= set(yaml.safe_load((REPO / "params.yaml").read_text()))
