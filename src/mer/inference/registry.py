"""The model registry: log the final model as an MLflow pyfunc, register, promote, load.

Promotion is always an explicit `mer promote`; registering never moves an alias.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from mer.errors import MerError
from mer.inference.pipeline import ModelBundle, load_bundle, save_bundle

log = logging.getLogger(__name__)

DEFAULT_ALIAS = "champion"
# What the served model imports; pinned to the versions it was trained with.
RUNTIME_PACKAGES = ("torch", "lightning", "numpy", "pandas", "scikit-learn",
                    "opencv-python-headless", "dlib-bin", "face-recognition-models", "mlflow",
                    "pydantic", "pyyaml")


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: str
    run_id: str
    model_uri: str  # models:/name/version


def pip_requirements() -> list[str]:
    """Installed versions of what the model needs at serving time (no slow inference)."""
    pins = []
    for package in RUNTIME_PACKAGES:
        try:
            pins.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            pins.append(package)
    return pins


def register_bundle(bundle: ModelBundle, name: str, input_example: pd.DataFrame,
                    output_example: pd.DataFrame, tags: dict[str, str],
                    run_name: str = "register") -> RegisteredVersion:
    """Log ``bundle`` as a pyfunc model in a new run and register it as a new version of ``name``.

    The model carries mer's own code (code_paths), so loading it needs only the pinned
    third-party packages, not an installed mer.
    """
    import mlflow
    from mlflow.models import infer_signature

    import mer
    from mer.inference import pyfunc_model
    from mer.inference.pyfunc_model import BUNDLE_ARTIFACT

    signature = infer_signature(input_example, output_example)
    with tempfile.TemporaryDirectory() as scratch, \
            mlflow.start_run(run_name=run_name, tags=tags) as run:
        bundle_path = save_bundle(bundle, Path(scratch) / "bundle.pkl")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=pyfunc_model.__file__,
            artifacts={BUNDLE_ARTIFACT: str(bundle_path)},
            code_paths=[str(Path(mer.__file__).parent)],
            pip_requirements=pip_requirements(),
            signature=signature,
            input_example=input_example,
            registered_model_name=name,
        )
        mlflow.log_dict(bundle.provenance, "provenance.json")
    version = str(info.registered_model_version)
    client = mlflow.MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    return RegisteredVersion(name, version, run.info.run_id, f"models:/{name}/{version}")


def promote(name: str, alias: str, version: str | None) -> str:
    """Point ``alias`` of model ``name`` at ``version`` (default: the newest); return it."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from mer.tracking.store import configure_tracking

    configure_tracking()
    client = MlflowClient()
    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except MlflowException as exc:
        raise MerError(f"cannot read the registry for model '{name}': {exc}") from None
    known = sorted((str(v.version) for v in versions), key=int)
    if not known:
        raise MerError(f"model '{name}' has no registered version: run `mer register` first "
                       "(or check tracking.model_name and MLFLOW_TRACKING_URI)")
    chosen = known[-1] if version is None else str(version)
    if chosen not in known:
        raise MerError(f"model '{name}' has no version {chosen}; it has {', '.join(known)}")
    try:
        client.set_registered_model_alias(name, alias, chosen)
    except MlflowException as exc:
        raise MerError(f"cannot set alias '{alias}' on {name} version {chosen}: {exc}") from None
    return chosen


def load_model_bundle(model: str) -> ModelBundle:
    """The bundle behind a model URI (models:/..., runs:/..., a model folder) or a bundle file."""
    path = Path(model)
    if path.is_file():
        return load_bundle(path)
    import mlflow
    from mlflow.exceptions import MlflowException

    from mer.tracking.store import configure_tracking

    configure_tracking()
    try:
        loaded = mlflow.pyfunc.load_model(model)
    except (MlflowException, OSError) as exc:
        raise MerError(f"cannot load model '{model}': {exc}. Register one with `mer register`, "
                       "promote it with `mer promote`, or pass --model with a model URI") from None
    # Models-from-code loads the model file as its own module: check what it holds, not its class.
    bundle = getattr(loaded.unwrap_python_model(), "bundle", None)
    if not isinstance(bundle, ModelBundle):
        raise MerError(f"'{model}' is not a mer model (it holds no mer model bundle)")
    return bundle


def tags_from_metrics(metrics: dict[str, Any], evaluation_run: str | None) -> dict[str, str]:
    """Version tags: the hybrid's LOSO evaluation that justifies this model."""
    hybrid = metrics.get("models", {}).get("hybrid", {})
    tags = {f"loso_{key}": str(hybrid[key]) for key in ("uar", "uf1", "accuracy")
            if key in hybrid}
    if evaluation_run:
        tags["evaluation_run_id"] = evaluation_run
    return tags


def registration_record(version: RegisteredVersion) -> str:
    return json.dumps({"registered": True, **version.__dict__}, indent=2, sort_keys=True) + "\n"
