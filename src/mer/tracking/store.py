"""The one place that talks to MLflow.

Backend: ``$MLFLOW_TRACKING_URI`` if set (a team server), else SQLite at
``<project root>/mlflow.db`` with artifacts in ``<project root>/mlruns/`` (MLflow 3 refuses a
plain ./mlruns file store, and a relative SQLite path is lost by ``dvc exp run --temp``, which
runs in a copy under ``.dvc/tmp/exps/``: the project root is the folder above that copy).

Runs: one parent per LOSO evaluation (opened by ``mer train``, completed by ``mer evaluate``,
which finds it by the hash of the predictions it reads), one child per (model, fold). Every run
is opened through ``Tracker.run``, which marks it FAILED if the block raises (Ctrl-C too).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mer import paths
from mer.errors import MerError

ENV_URI = "MLFLOW_TRACKING_URI"
DB_NAME = "mlflow.db"
ARTIFACTS = "mlruns"
PREDICTIONS_TAG = "mer.predictions_sha256"  # links a parent run to its predictions.csv
KIND_TAG = "mer.kind"  # "evaluation" (parent) or "fold" (child)
PARENT_TAG = "mlflow.parentRunId"  # MLflow's own nesting tag
BATCH = 100  # MLflow's limit of params per log_batch call
GIT_TIMEOUT_S = 10


def project_root(start: str | Path | None = None) -> Path:
    """The project folder: ``start`` (default: cwd), or the real project when inside a DVC
    temporary experiment copy (<root>/.dvc/tmp/exps/<tmp>/...)."""
    path = Path(start or Path.cwd()).resolve()
    parts = path.parts
    for i in range(len(parts) - 2):
        if parts[i:i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    return path


def tracking_uri(root: str | Path | None = None) -> str:
    """$MLFLOW_TRACKING_URI, else sqlite:///<abs project root>/mlflow.db."""
    return os.environ.get(ENV_URI) or f"sqlite:///{project_root(root) / DB_NAME}"


def artifact_location(root: str | Path | None = None) -> str | None:
    """<project root>/mlruns for our own SQLite store; None = the team server's default."""
    return None if os.environ.get(ENV_URI) else (project_root(root) / ARTIFACTS).as_uri()


def configure_tracking(root: str | Path | None = None) -> str:
    """Point MLflow's global (fluent) API at our backend; return the URI."""
    import mlflow

    uri = tracking_uri(root)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def ensure_experiment(client: Any, name: str, root: str | Path | None = None) -> str:
    """The id of experiment ``name``, created with our artifact location if missing."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        if experiment.lifecycle_stage == "deleted":
            client.restore_experiment(experiment.experiment_id)
        return str(experiment.experiment_id)
    return str(client.create_experiment(name, artifact_location=artifact_location(root)))


def use_experiment(name: str, root: str | Path | None = None) -> str:
    """Configure tracking and make ``name`` the fluent API's active experiment."""
    import mlflow

    configure_tracking(root)
    experiment_id = ensure_experiment(mlflow.MlflowClient(), name, root)
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def flatten(mapping: Mapping[str, Any], sep: str = ".", prefix: str = "") -> dict[str, Any]:
    """{'train': {'cnn': {'lr': 1}}} -> {'train.cnn.lr': 1}."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, sep, f"{name}{sep}"))
        else:
            out[name] = value
    return out


def file_digest(*files: str | Path) -> str:
    """sha256 over the bytes of ``files`` in order (the data hash of a run)."""
    sha = hashlib.sha256()
    for file in files:
        with Path(file).open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                sha.update(block)
    return sha.hexdigest()


def git_state(root: str | Path | None = None) -> dict[str, str]:
    """The commit and dirtiness of the project's git checkout, as run tags."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=project_root(root), capture_output=True,
                                  text=True, timeout=GIT_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"mlflow.source.git.commit": commit or "unknown",
            "mer.git_dirty": "unknown" if status is None else str(bool(status)).lower()}


class Tracker:
    """An MLflow client bound to our backend and one experiment."""

    def __init__(self, experiment: str, root: str | Path | None = None) -> None:
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        self.root = project_root(root)
        self.uri = tracking_uri(self.root)
        self.client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        try:
            self.experiment_id = ensure_experiment(self.client, experiment, self.root)
        except MlflowException as exc:
            hint = (f"check the server, or unset {ENV_URI} to use {DB_NAME} in the project"
                    if os.environ.get(ENV_URI) else f"check or move {DB_NAME} in {self.root}")
            raise MerError(f"cannot open MLflow tracking store {self.uri} (experiment "
                           f"'{experiment}'): {exc.message}; {hint}") from None

    @contextmanager
    def run(self, name: str | None = None, *, parent: str | None = None,
            tags: Mapping[str, str] | None = None, run_id: str | None = None
            ) -> Iterator[str]:
        """Create a run (or reopen ``run_id``); FINISHED on success, FAILED on any exception."""
        if run_id is None:
            all_tags = {**(tags or {}), **({PARENT_TAG: parent} if parent else {})}
            run_id = self.client.create_run(self.experiment_id, run_name=name,
                                            tags=all_tags).info.run_id
        else:
            self.client.update_run(run_id, status="RUNNING")
            for key, value in (tags or {}).items():
                self.client.set_tag(run_id, key, value)
        try:
            yield run_id
        except BaseException:
            self.client.set_terminated(run_id, status="FAILED")
            raise
        self.client.set_terminated(run_id, status="FINISHED")

    def log(self, run_id: str, *, params: Mapping[str, Any] | None = None,
            metrics: Mapping[str, float] | None = None,
            series: Mapping[str, list[float]] | None = None,
            tags: Mapping[str, str] | None = None) -> None:
        """Params, step-0 metrics, metric series (step = index) and tags in few round trips."""
        import time

        from mlflow.entities import Metric, Param, RunTag

        stamp = int(time.time() * 1000)
        entries: list[Any] = [Param(k, str(v)) for k, v in (params or {}).items()]
        entries += [Metric(k, float(v), stamp, 0) for k, v in (metrics or {}).items()]
        entries += [Metric(k, float(v), stamp, step)
                    for k, values in (series or {}).items() for step, v in enumerate(values)]
        entries += [RunTag(k, str(v)) for k, v in (tags or {}).items()]
        for start in range(0, len(entries), BATCH):
            chunk = entries[start:start + BATCH]
            self.client.log_batch(
                run_id, metrics=[e for e in chunk if isinstance(e, Metric)],
                params=[e for e in chunk if isinstance(e, Param)],
                tags=[e for e in chunk if isinstance(e, RunTag)])

    def log_json(self, run_id: str, obj: Any, artifact_file: str) -> None:
        self.client.log_text(run_id, json.dumps(obj, indent=2, sort_keys=True), artifact_file)

    def log_table(self, run_id: str, rows: list[dict[str, Any]], artifact_file: str) -> None:
        """A table the MLflow UI shows as one (artifact_file must end in .json)."""
        import pandas as pd

        self.client.log_table(run_id, data=pd.DataFrame(rows), artifact_file=artifact_file)

    def log_files(self, run_id: str, folder: str | Path, artifact_path: str | None = None
                  ) -> None:
        self.client.log_artifacts(run_id, str(folder), artifact_path)

    def log_file(self, run_id: str, file: str | Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(run_id, str(file), artifact_path)

    def find_run(self, tag: str, value: str) -> str | None:
        """The newest run of this experiment whose ``tag`` equals ``value``."""
        return newest_run(self.client, [self.experiment_id], tag, value)


def newest_run(client: Any, experiment_ids: list[str], tag: str, value: str) -> str | None:
    """The id of the newest run in ``experiment_ids`` whose ``tag`` equals ``value``, or None."""
    runs = client.search_runs(experiment_ids, filter_string=f"tags.`{tag}` = '{value}'",
                              order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0].info.run_id if runs else None


def evaluation_run_id(predictions: str | Path = paths.PREDICTIONS,
                      root: str | Path | None = None) -> str | None:
    """The newest parent run, in any experiment, that wrote ``predictions`` (default:
    reports/predictions.csv), or None. Links a registered model to its LOSO evaluation."""
    from mlflow import MlflowClient

    predictions = Path(predictions)
    if not predictions.exists():
        return None
    uri = tracking_uri(root)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return None
    return newest_run(client, experiments, PREDICTIONS_TAG, file_digest(predictions))


@contextmanager
def scratch_folder() -> Iterator[Path]:
    """A temporary folder for artifacts that exist only to be logged."""
    with tempfile.TemporaryDirectory(prefix="mer-mlflow-") as folder:
        yield Path(folder)
