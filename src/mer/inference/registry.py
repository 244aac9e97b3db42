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
import yaml

from mer.errors import MerError
from mer.inference.pipeline import (
    BUNDLE_ARTIFACT,
    BUNDLE_FORMAT,
    ModelBundle,
    load_bundle,
    save_bundle,
)

log = logging.getLogger(__name__)

DEFAULT_ALIAS = "champion"
# What `mer predict` loads, said by every refusal.
TRUSTED = ("mer loads only MLflow models logged by `mer register`: models:/<name>@<alias>, "
           "models:/<name>/<version>, runs:/<run_id>/model, or such a model's local folder")
# How `mer register` marks its model in the MLmodel file, read before anything is unpickled.
MER_MODEL_KEY = "mer_model"
MER_MODEL = "mer.inference.pyfunc_model"
FORMAT_KEY = "mer_bundle_format"
CODE_LOADER = "mlflow.pyfunc.loaders.code_model"  # MLflow's loader of a models-from-code model
MODEL_FILE = "pyfunc_model.py"
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
            # Read by check_mer_model before anything in the model is unpickled.
            metadata={MER_MODEL_KEY: MER_MODEL, FORMAT_KEY: bundle.format},
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


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def load_model_bundle(model: str) -> ModelBundle:
    """The bundle of the mer model ``model``: models:/name@alias, models:/name/N, runs:/<run>/<path>
    or a local MLflow model folder.

    Nothing is unpickled before the model's MLmodel file says it is mer's pyfunc model with this
    mer's bundle format (check_mer_model), and the bundle is read by this mer's code, not by
    code shipped inside the model. A bare file is never unpickled: a pickle runs code when read.
    Reading a model never creates a tracking store: a models:/ or runs:/ URI with no store here
    is a MerError naming the missing mlflow.db.
    """
    if model.startswith(("models:/", "runs:/")):
        with tempfile.TemporaryDirectory(prefix="mer-model-") as scratch:
            folder = _download_model(model, Path(scratch))
            return load_bundle(check_mer_model(folder, model), name=f"'{model}'")
    path = Path(model)
    if path.is_dir():
        return load_bundle(check_mer_model(path, model), name=f"'{model}'")
    if path.is_file():
        raise MerError(f"'{model}' is a bare file: mer never unpickles a file it is pointed at "
                       f"(unpickling runs code). {TRUSTED}")
    raise MerError(f"'{model}' is neither a model URI nor a model folder. {TRUSTED}")


def _download_model(model: str, scratch: Path) -> Path:
    """The local copy of a models:/ or runs:/ URI (downloading unpickles nothing)."""
    import os

    import mlflow
    from mlflow.exceptions import MlflowException

    from mer.tracking.store import DB_NAME, ENV_URI, configure_tracking, project_root, store_exists

    if not store_exists():
        raise MerError(f"cannot load model '{model}': there is no MLflow store here "
                       f"({project_root() / DB_NAME} does not exist). Run mer predict in the "
                       f"project folder that registered the model, set {ENV_URI} to its "
                       "store, or pass --model with a model folder")
    configure_tracking(create=False)
    bar = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"  # keep stderr to mer's own lines
    previous = os.environ.get(bar)
    os.environ[bar] = "false"
    try:
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=model, dst_path=str(scratch)))
    except (MlflowException, OSError) as exc:
        raise MerError(f"cannot load model '{model}': {_one_line(exc)}. Register one with "
                       "`mer register`, promote it with `mer promote`, or pass --model with a "
                       "model URI") from None
    finally:
        if previous is None:
            os.environ.pop(bar, None)
        else:
            os.environ[bar] = previous


def check_mer_model(folder: Path, model: str) -> Path:
    """The bundle file of the mer model in ``folder``, once its MLmodel file (plain YAML, read
    safely) says it is the pyfunc model `mer register` logs, of this mer's bundle format, with
    its bundle inside the folder. Reads no pickle."""
    mlmodel = folder / "MLmodel"
    if not folder.is_dir() or not mlmodel.is_file():
        raise MerError(f"'{model}' is not an MLflow model (it has no MLmodel file). {TRUSTED}")
    try:
        meta = yaml.safe_load(mlmodel.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise MerError(f"'{model}': unreadable MLmodel file ({_one_line(exc)}). "
                       f"{TRUSTED}") from None
    meta = meta if isinstance(meta, dict) else {}
    flavors = meta.get("flavors") if isinstance(meta.get("flavors"), dict) else {}
    pyfunc = flavors.get("python_function")
    pyfunc = pyfunc if isinstance(pyfunc, dict) else {}
    artifacts = pyfunc.get("artifacts") if isinstance(pyfunc.get("artifacts"), dict) else {}
    entry = artifacts.get(BUNDLE_ARTIFACT)
    if (pyfunc.get("loader_module") != CODE_LOADER or not isinstance(entry, dict)
            or Path(str(pyfunc.get("model_code_path", ""))).name != MODEL_FILE):
        kinds = ", ".join(sorted(map(str, flavors))) or "none"
        raise MerError(f"'{model}' is not a mer model: it is an MLflow model of flavor(s) "
                       f"{kinds}, and mer expects its own python_function model ({MER_MODEL} "
                       f"with a '{BUNDLE_ARTIFACT}' artifact). {TRUSTED}")
    extra = meta.get("metadata") if isinstance(meta.get("metadata"), dict) else {}
    written = extra.get(FORMAT_KEY)
    if written is None:
        raise MerError(f"'{model}' does not record its bundle format in its MLmodel file (it was "
                       "registered by an older mer, or not by mer): retrain and register it "
                       "with this mer (`mer register`)")
    if written != BUNDLE_FORMAT:
        raise MerError(f"'{model}' holds a model of bundle format {written}, but this mer reads "
                       f"format {BUNDLE_FORMAT}: retrain and register it with this mer "
                       "(`mer register`)")
    relative = str(entry.get("path", ""))
    bundle = (folder / relative).resolve()
    if not relative or not bundle.is_relative_to(folder.resolve()):
        raise MerError(f"'{model}': its bundle path {relative!r} points outside the model "
                       "folder; refused")
    if not bundle.is_file():
        raise MerError(f"'{model}': its model bundle {relative} is missing")
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
