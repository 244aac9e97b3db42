"""Helpers for the registry tests: a tiny real project registered in a real MLflow SQLite store,
`mer` run as a subprocess in it, `mlflow models serve` of its champion on 127.0.0.1, and a
team's `mlflow server` (README) on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from dvc_helpers import shrink
from mer.tracking.ui import free_port

REPO = Path(__file__).resolve().parents[1]
FACES = REPO / "tests" / "fixtures" / "faces"
MODEL = "mer-test"
MODEL_CACHE = ".model-cache"  # each project's own, not the user's ~/.cache/mer/models
COMMAND_S = 600  # one stage of the tiny project on a busy 2-core machine
SERVER_START_S = 90
SERVER_STOP_S = 30


def tiny_params() -> dict:
    """params.yaml made tiny as the DVC tests make it (dvc_helpers.shrink: 4 subjects,
    seconds-long training; 2 long videos of 8 s, the smallest spotting corpus whose p `mer
    register` stores), registering under MODEL."""
    params = shrink(yaml.safe_load((REPO / "params.yaml").read_text()))
    params["tracking"]["model_name"] = MODEL
    params["spotting"]["workers"] = 1
    return params


def environment(project: Path) -> dict[str, str]:
    """This environment with the project's own store and model cache and this interpreter's
    scripts first."""
    return {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1",
            "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
            "MER_MODEL_CACHE": str(project / MODEL_CACHE),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def in_process(project: Path, monkeypatch) -> None:
    """In-process loads read ``project``'s registry and model cache, with cwd ``project``;
    MLflow's global URIs are put back after.

    mlflow.set_tracking_uri / set_registry_uri (which tests call in-process) also export
    MLFLOW_TRACKING_URI / MLFLOW_REGISTRY_URI for subprocesses: ``monkeypatch`` owns both
    variables and MLflow's two module globals here, so teardown restores all four and no later
    test's `mlflow models serve` inherits this project's registry."""
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    uri = f"sqlite:///{project / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", uri)
    monkeypatch.setenv("MER_MODEL_CACHE", str(project / MODEL_CACHE))
    monkeypatch.setattr(tracking_utils, "_tracking_uri", tracking_utils._tracking_uri)
    monkeypatch.setattr(registry_utils, "_registry_uri", registry_utils._registry_uri)
    monkeypatch.chdir(project)


def run(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``python *args`` in ``project``."""
    result = subprocess.run([sys.executable, *args], cwd=project, env=environment(project),
                            capture_output=True, text=True, check=False, timeout=COMMAND_S)
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def mer(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(project, "-m", "mer.cli", *args, check=check)


def registered_project(root: Path) -> Path:
    """``root`` with tiny params, its synthetic dataset through the real stages, its tiny
    spotting corpus through spot-eval, and version 1 of MODEL registered (not promoted)."""
    (root / "params.yaml").write_text(yaml.safe_dump(tiny_params()))
    for stage in ("synthesize", "data", "faces", "features", "spot-synthesize", "spot-eval",
                  "register"):
        mer(root, stage)
    return root


def model_folder(project: Path) -> Path:
    """The local folder of the registered mer model (what models:/mer-test/1 resolves to)."""
    (folder,) = [p.parent for p in (project / "mlruns").rglob("MLmodel")
                 if (p.parent / "pyfunc_model.py").exists()]
    return folder


@contextmanager
def served(command: list[str], cwd: Path, env: dict[str, str] | None, log: Path, ready: str
           ) -> Iterator[None]:
    """``command`` running in its own process group, its output in ``log``, until ``ready``
    (a URL) answers; stopped (the whole group) on exit."""
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + SERVER_START_S
            while True:
                assert process.poll() is None, log.read_text()[-3000:]
                try:
                    urllib.request.urlopen(ready, timeout=2)
                    break
                except OSError:
                    assert time.monotonic() < deadline, f"{command[2:4]} did not start"
                    time.sleep(0.5)
            yield
        finally:
            os.killpg(process.pid, 15)
            try:
                process.wait(timeout=SERVER_STOP_S)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait(timeout=SERVER_STOP_S)


@contextmanager
def served_champion(project: Path, log: Path) -> Iterator[str]:
    """The base URL of `mlflow models serve` of models:/MODEL@champion, its output in ``log``;
    stopped (its whole process group) on exit."""
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{MODEL}@champion",
               "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]
    with served(command, project, environment(project), log, f"http://127.0.0.1:{port}/ping"):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def team_server(root: Path) -> Iterator[str]:
    """`mlflow server` as README tells a team to start it (SQLite store and proxied artifacts
    in ``root``: mlflow.db, artifacts/), on a free 127.0.0.1 port; its URL. Its output goes to
    root/server.log; stopped on exit."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "server",
               "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
               "--artifacts-destination", str(root / "artifacts"),
               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with served(command, root, None, root / "server.log", f"http://127.0.0.1:{port}/health"):
        yield f"http://127.0.0.1:{port}"
