"""The model registry: log the final model as an MLflow pyfunc, register, promote, load.

Promotion is always an explicit `mer promote`; registering never moves an alias. Every call
goes through one explicit client bound to our store (mer.tracking.store.mlflow_client), except
logging the model, which MLflow offers only in its global (fluent) API: see register_bundle.

Light to import (the CLI reads CHAMPION while building its parser): pandas, mlflow and the
bundle code are imported where they are used.
"""

from __future__ import annotations

import json
import logging
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mer.config import FIGURES, HYBRID  # FIGURES: the hybrid's <protocol>_<figure> tags
from mer.errors import MerError
from mer.spotting import SCALES
from mer.tracking import model_cache

if TYPE_CHECKING:
    import pandas as pd

    from mer.inference.predictor import ModelBundle
    from mer.tracking.store import Tracker

log = logging.getLogger(__name__)

CHAMPION = "champion"  # the alias applications load and `mer promote` moves by default
# What `mer predict` loads, said by every refusal.
TRUSTED = ("mer loads only MLflow models logged by `mer register`: models:/<name>@<alias>, "
           "models:/<name>/<version>, runs:/<run_id>/model, or such a model's local folder")
# How `mer register` marks its model in the MLmodel file, read before anything is unpickled.
MER_MODEL_KEY = "mer_model"
MER_MODEL = "mer.tracking.pyfunc_model"
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
    """Installed versions of what the model needs at serving time (no slow inference), as
    public releases: without a local label, which no package index serves (a break-it
    session: the model pinned torch==2.13.0+cpu, the CPU wheel's version, so its own
    environment could not be built from PyPI; torch==2.13.0 is the same release)."""
    from packaging.version import Version

    pins = []
    for package in RUNTIME_PACKAGES:
        try:
            pins.append(f"{package}=={Version(metadata.version(package)).public}")
        except metadata.PackageNotFoundError:
            pins.append(package)
    return pins


def model_signature(input_example: pd.DataFrame, output_example: pd.DataFrame) -> Any:
    """The served model's signature, inferred from a real clip request and its answer, except
    that a column of dicts (moving_regions: AU region -> px) is a map of its value type: which
    regions moved most differs per request, and inference would fix the keys to the example's.
    Every column is optional, and a video request's column and answer's columns are added
    (mer.inference.serving: a request is either kind), as is a clip answer's error column."""
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types.schema import ColSpec, Map, Object, Schema

    from mer.inference.serving import ERROR, VIDEO_COLUMN, VIDEO_OUTPUTS

    with warnings.catch_warnings():
        # MLflow's hint that an integer column cannot hold a missing value: a request never
        # leaves a value out of a column, it leaves the column out (every one optional, below).
        warnings.filterwarnings("ignore", message=r".*Integer columns in Python cannot "
                                "represent missing values")
        # error: null in a whole answer, which types nothing (added as a string below)
        output_example = output_example.drop(columns=[ERROR], errors="ignore")
        signature = infer_signature(input_example, output_example)
    inputs = [ColSpec(spec.type, spec.name, required=False) for spec in signature.inputs.inputs]
    inputs.append(ColSpec("string", VIDEO_COLUMN, required=False))
    outputs = []
    for spec in signature.outputs.inputs:
        if isinstance(spec.type, Object):
            (value_type,) = {prop.dtype for prop in spec.type.properties}
            spec = ColSpec(Map(value_type), spec.name, spec.required)
        outputs.append(ColSpec(spec.type, spec.name, required=False))
    outputs += [ColSpec(kind, name, required=False)
                for name, kind in {**VIDEO_OUTPUTS, ERROR: "string"}.items()
                if name not in output_example.columns]
    return ModelSignature(Schema(inputs), Schema(outputs))


def register_bundle(bundle: ModelBundle, name: str, input_example: pd.DataFrame,
                    output_example: pd.DataFrame, tags: dict[str, str], *, experiment: str,
                    run_name: str = "register", run_tags: Mapping[str, str] | None = None,
                    root: str | Path | None = None) -> RegisteredVersion:
    """Log ``bundle`` as a pyfunc model in a new run of ``experiment`` and register it as a new
    version of ``name``, with ``tags`` on the run and the version, and ``run_tags`` on the run
    only.

    The model carries mer's own code (code_paths), so loading it needs only the pinned
    third-party packages, not an installed mer. MLflow refusing any step is a MerError.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    import mer
    from mer.inference.predictor import BUNDLE_ARTIFACT, save_bundle
    from mer.tracking import pyfunc_model
    from mer.tracking.store import Tracker

    signature = model_signature(input_example, output_example)
    run_id = None
    try:
        tracker = Tracker(experiment, root)
        with tempfile.TemporaryDirectory() as scratch, \
                tracker.run(run_name, tags={**(run_tags or {}), **tags}) as run_id:
            bundle_path = save_bundle(bundle, Path(scratch) / "bundle.pkl")
            # MLflow 3 logs a model (a LoggedModel linked to the run, then its registered
            # version) only through the fluent API, which needs an active run and global URIs:
            # fluent_run sets both for this one call, on the run opened above.
            with tracker.fluent_run(run_id):
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
            tracker.client.log_dict(run_id, bundle.provenance, "provenance.json")
            version = str(info.registered_model_version)
            describe_version(tracker, name, version, run_id, tags)  # its last step: complete
    except BaseException as exc:
        # A version exists from inside log_model on: one this registration did not finish
        # describing (stopped or failed) is deleted, not left READY without its evidence.
        if run_id is not None:
            _delete_versions_of(tracker, name, run_id)
        if isinstance(exc, MlflowException):
            raise MerError(f"MLflow refused the registration: {exc}. Check "
                           "MLFLOW_TRACKING_URI (unset, it is <project>/mlflow.db)") from None
        raise
    return RegisteredVersion(name, version, run_id, f"models:/{name}/{version}")


def _delete_versions_of(tracker: Tracker, name: str, run_id: str) -> None:
    """Delete the versions of ``name`` that run ``run_id`` logged, saying so; a store that
    cannot be asked leaves them, also saying so (mer promote refuses an undescribed one)."""
    from mlflow.exceptions import MlflowException

    try:
        for found in tracker.client.search_model_versions(
                f"name = '{name}' and run_id = '{run_id}'"):
            tracker.client.delete_model_version(name, found.version)
            log.warning("deleted version %s of %s: its registration did not finish",
                        found.version, name)
    except (MlflowException, OSError) as exc:
        log.warning("could not delete the unfinished version of %s logged by run %s (%s); "
                    "`mer promote` refuses it", name, run_id, _one_line(exc))


def complete(version: Any) -> bool:
    """Whether a registered version (MLflow's ModelVersion) was registered to the end: its
    description is register_bundle's last step."""
    return bool(version.description)


def unfinished(name: str, version: object, instead: str) -> str:
    """That version ``version`` of model ``name`` was not registered to the end (complete),
    and to run `mer register` again or ``instead``."""
    return (f"version {version} of model '{name}' was not registered to the end (it has no "
            "description: the `mer register` that created it was stopped before it tagged the "
            f"version with its evaluation); run `mer register` again, or {instead}")


def promote(name: str, alias: str, version: str | None, why_none: str = "") -> str:
    """Point ``alias`` of model ``name`` at ``version`` and return it. Without a version
    (``why_none`` says why the caller has none) a MerError names the versions there are and
    the newest: it may be an experiment's or another clone's, so mer never picks it."""
    from mlflow.exceptions import MlflowException

    from mer.tracking.store import ensure_store, mlflow_client

    store = ensure_store()
    client = mlflow_client(store)
    try:
        versions = _versions_of(client, name)
    except MlflowException as exc:
        raise MerError(f"cannot read the registry for model '{name}': {exc}") from None
    if not versions:  # with why this project has none (h66: a record saying why was unread)
        why = f" ({why_none})" if version is None and why_none else ""
        raise MerError(f"model '{name}' has no registered version{why}: run `mer register` "
                       "first (or check tracking.model_name and MLFLOW_TRACKING_URI)")
    if version is None:
        newest = _newest_complete(versions)
        variant = None if newest is None else (newest.tags or {}).get(VARIANT_TAG)
        by = (f"registered by '{variant}'" if variant else
              f"of run {newest.run_id}" if newest is not None else "")
        pick = ("" if newest is None else f"; the newest, {newest.version} ({by}), may be an "
                "experiment's or another clone's, so mer does not pick it")
        raise MerError(
            f"which version of model '{name}' to promote? {why_none or 'none was given'}. "
            f"The model has version(s) {_versions_shown(versions)}{pick}. Pass --version N "
            "(the MLflow UI's Models page says which variant registered each version), or run "
            "`dvc repro` to register this project's model and record it")
    number = model_cache.version_number(version)  # '01' is 1
    chosen = str(version) if number is None else str(number)
    found = next((v for v in versions if str(v.version) == chosen), None)
    if found is None:
        raise MerError(_no_version(name, chosen, versions))
    if not complete(found):
        raise MerError(unfinished(name, chosen, "pass --version with another one"))
    # A version whose files are gone would be the champion every `mer predict` fails to load.
    gone = _files_gone(f"models:/{name}/{chosen}", store, action="promote",
                       source=str(found.source))
    if gone is not None:
        raise gone
    try:
        existing = client.get_registered_model(name).aliases
    except MlflowException as exc:
        raise MerError(f"cannot read the aliases of model '{name}': {exc}") from None
    twin = next((a for a in existing if a != alias and a.lower() == alias.lower()), None)
    if twin is not None:  # MLflow keeps both, pointing at different versions: a mistake
        raise MerError(f"model '{name}' has the alias '{twin}', which '{alias}' differs from "
                       f"in case only; aliases are case-sensitive: use --alias {twin}")
    try:
        client.set_registered_model_alias(name, alias, chosen)
    except MlflowException as exc:
        raise MerError(f"cannot set alias '{alias}' on {name} version {chosen}: {exc}") from None
    return chosen


def _versions_of(client: Any, name: str) -> list[Any]:
    """The registered versions (MLflow's ModelVersion) of model ``name``, oldest first;
    MlflowException when the registry cannot be read."""
    return sorted(client.search_model_versions(f"name = '{name}'"), key=lambda v: int(v.version))


def _no_version(name: str, version: object, versions: list[Any]) -> str:
    """That model ``name`` has no version ``version``, naming the ``versions`` it has."""
    return f"model '{name}' has no version {version}; it has {_versions_shown(versions)}"


def _versions_shown(versions: list[Any]) -> str:
    """Registered ``versions`` as messages list them: '1, 2, 3 (not registered to the end)'
    (h60: advice named a version that loading then refused)."""
    return ", ".join(str(v.version) + ("" if complete(v) else " (not registered to the end)")
                     for v in versions)


def _newest_complete(versions: list[Any]) -> Any | None:
    """The newest of ``versions`` (oldest first) registered to the end, None without one."""
    return next((v for v in reversed(versions) if complete(v)), None)


def _one_line(exc: BaseException) -> str:
    """An exception's message on one line, without a closing period (ours follows)."""
    return " ".join(str(exc).split()).rstrip(".")


def load_model_bundle(model: str) -> ModelBundle:
    """The bundle of the mer model ``model``: models:/name@alias, models:/name/N, runs:/<run>/<path>
    or a local MLflow model folder (load_pinned_bundle, without the pinned URI)."""
    return load_pinned_bundle(model)[0]


def load_pinned_bundle(model: str) -> tuple[ModelBundle, str]:
    """The bundle of the mer model ``model`` and the URI of what was loaded: for a registered
    model, the version the alias pointed at when it was read (models:/name@champion ->
    models:/name/8), so that an answer stays traceable after the alias moves; for a model
    folder downloaded from the registry, the version it records; else ``model``.

    Nothing is unpickled before the model's MLmodel file says it is mer's pyfunc model with this
    mer's bundle format (check_mer_model), and the bundle is read by this mer's code, not by
    code shipped inside the model. A bare file is never unpickled: a pickle runs code when read.
    Reading a model never creates a tracking store: a models:/ or runs:/ URI with no store here
    is a MerError naming the missing mlflow.db. A registered version (models:/name@alias,
    models:/name/N) is fetched once into the model cache and read from that verified copy
    afterwards (mer.tracking.model_cache); the registry still says which version to use.
    """
    from mer.inference.predictor import load_bundle

    if model.startswith(("models:/", "runs:/")):
        store = _store_uri(model)
        cached, version = _cached_model(model, store)
        pinned = model if version is None else version.uri
        if cached is not None:
            return load_bundle(check_mer_model(cached, model), name=f"'{model}'"), pinned
        with tempfile.TemporaryDirectory(prefix="mer-model-") as scratch:
            # the version resolved above, not the alias again: it may have moved since
            folder = _download_model(pinned, store, Path(scratch), shown=model)
            return load_bundle(check_mer_model(folder, model), name=f"'{model}'"), pinned
    path = Path(model)
    if path.is_dir():
        return load_bundle(check_mer_model(path, model), name=f"'{model}'"), _recorded(path, model)
    if path.is_file():
        raise MerError(f"'{model}' is a bare file: mer never unpickles a file it is pointed at "
                       f"(unpickling runs code). {TRUSTED}")
    served = model.startswith(("http://", "https://"))
    server = " A model server's URL goes to `mer predict --server`." if served else ""
    raise MerError(f"'{model}' is neither a model URI nor a model folder.{server} {TRUSTED}")


REGISTERED_META = "registered_model_meta"  # MLflow's record, in a version's folder, of it


def _recorded(folder: Path, model: str) -> str:
    """The registered version a downloaded model ``folder`` records (models:/name/N, from
    MLflow's registered_model_meta file), else ``model``, the folder as given (h59: a shipped
    folder's answers named only the folder)."""
    meta_file = folder / REGISTERED_META
    if not meta_file.is_file():  # (h60: a named pipe there hung the read)
        return model
    try:
        meta = yaml.safe_load(meta_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return model
    if not isinstance(meta, dict):
        return model
    name, number = meta.get("model_name"), model_cache.version_number(meta.get("model_version"))
    uri = f"models:/{name}/{number}"
    if not isinstance(name, str) or number is None or model_cache.registry_entry(uri) is None:
        return model  # (h60: a name 'a/b@c' made no URI)
    return uri


def _refuse_missing_entry(client: Any, model: str, entry: model_cache.RegistryEntry) -> None:
    """A MerError naming the versions there are when model ``entry.name`` has versions but
    not the alias or version asked for (a break-it session: after `dvc repro`, which
    registers and promotes nothing, the advice was to register one, twice); nothing when it
    has none or the registry cannot say."""
    from mlflow.exceptions import MlflowException

    try:
        found = _versions_of(client, entry.name)
    except (MlflowException, MerError, ValueError):
        return
    if found and entry.alias is None:
        raise MerError(f"cannot load model '{model}': "
                       f"{_no_version(entry.name, entry.version, found)}")
    if found:
        how = ("`mer promote` (the version reports/registered.json names) or `mer promote "
               "--version N`" if entry.alias == CHAMPION else
               f"`mer promote --alias {entry.alias} --version N`")
        newest = _newest_complete(found)
        instead = ("" if newest is None else
                   f", or pass --model models:/{entry.name}/{newest.version}")
        raise MerError(f"cannot load model '{model}': model '{entry.name}' has version(s) "
                       f"{_versions_shown(found)} but no alias '{entry.alias}'. Point it at "
                       f"one with {how}{instead}")


def _cannot_load(model: str, exc: BaseException) -> MerError:
    return MerError(f"cannot load model '{model}': {_one_line(exc)}. Register one with "
                    "`mer register`, promote it with `mer promote`, or pass --model with a "
                    "model URI")


def _store_uri(model: str) -> str:
    """The tracking URI ``model`` is read from; a MerError when it is a SQLite store that does
    not exist (reading a model never creates a store) or cannot be read."""
    import os

    from mer import paths
    from mer.tracking.store import (
        ENV_URI,
        check_readable,
        sqlite_file,
        store_exists,
        tracking_uri,
    )

    uri = tracking_uri()
    db = sqlite_file(uri)
    if not store_exists():
        if os.environ.get(ENV_URI):
            raise MerError(f"cannot load model '{model}': {ENV_URI} names the MLflow store "
                           f"{db}, which does not exist; correct it, or unset it to read the "
                           "project's mlflow.db")
        if paths.REGISTERED.is_file():
            raise MerError(f"cannot load model '{model}': this project's MLflow store {db} "
                           f"does not exist, though {paths.REGISTERED} says a model was "
                           "registered there: it was deleted or moved. Put mlflow.db and "
                           "mlruns/ back, or register again into a new store with "
                           "`dvc repro --force` (the fold and pretrained-CNN caches keep it "
                           "short), or pass --model with a model folder")
        raise MerError(f"cannot load model '{model}': there is no MLflow store here "
                       f"({db} does not exist). Run this in the project folder that "
                       "registered the model (or register one there: `mer register`, then "
                       f"`mer promote`), set {ENV_URI} to its store, or pass --model with a "
                       "model folder")
    check_readable(uri)
    return uri


def _resolve_with_mlflow(model: str, store: str, entry: model_cache.RegistryEntry
                         ) -> tuple[model_cache.ModelVersion, bool]:
    """The version ``entry`` names, as MLflow's client reads it from ``store``, and whether it
    was registered to the end (complete)."""
    from mlflow.exceptions import MlflowException

    from mer.tracking.store import mlflow_client

    client = mlflow_client(store)
    try:
        found = (client.get_model_version_by_alias(entry.name, entry.alias)
                 if entry.alias is not None
                 else client.get_model_version(entry.name, entry.version))
    except MlflowException as exc:
        _refuse_missing_entry(client, model, entry)
        raise _cannot_load(model, exc) from None
    return (model_cache.ModelVersion(entry.name, str(found.version), found.run_id or "",
                                     str(found.source), int(found.creation_timestamp)),
            complete(found))


def _entry_by_mlflow_rule(model: str, store: str) -> model_cache.RegistryEntry | None:
    """The registry entry (name, version number) that a models:/ URI naming a moving label
    other than an alias (models:/name/latest, models:/name@latest, models:/name/<stage>)
    means now, by MLflow's own rule for it (mlflow.store.artifact.utils.models.
    get_model_name_and_version); None for other URIs (runs:/, an MLflow 3 logged model
    models:/m-<id>, a folder)."""
    if not model.startswith("models:/"):
        return None
    from mlflow.exceptions import MlflowException
    from mlflow.store.artifact.utils.models import get_model_name_and_version

    from mer.tracking.store import mlflow_client

    try:
        with warnings.catch_warnings():  # the rule is MLflow's, and so is its deprecation
            warnings.filterwarnings("ignore", ".*get_latest_versions", FutureWarning)
            found = get_model_name_and_version(mlflow_client(store), model)
    except MlflowException as exc:
        raise _no_version_named(model, store) or _cannot_load(model, exc) from None
    if len(found) != 2:  # (model id,): a logged model, not a registry entry
        return None
    name, version = found
    number = model_cache.version_number(version)
    if number is None:  # MLflow's rule takes '²' (h60)
        raise MerError(f"cannot load model '{model}': {str(version)!r} is no version number "
                       f"(digits 0-9), e.g. models:/{name}/1")
    return model_cache.RegistryEntry(name, None, str(number))


def _no_version_named(model: str, store: str) -> MerError | None:
    """The MerError for ``model`` = models:/<name> of a registered model, without a version
    or alias (MLflow reads it as a logged model's id: h59 was told to register one); None
    for any other URI, or when the registry cannot say."""
    from mlflow.exceptions import MlflowException

    from mer.tracking.store import mlflow_client

    name = model.removeprefix("models:/").rstrip("/")
    if not name or "/" in name or "@" in name:
        return None
    try:
        versions = _versions_of(mlflow_client(store), name)
    except MlflowException:
        return None
    if not versions:
        return None
    newest = _newest_complete(versions)
    number = "" if newest is None else f" or models:/{name}/{newest.version}"
    return MerError(f"cannot load model '{model}': it names the registered model '{name}' "
                    f"but no version: add an alias or a version, e.g. models:/{name}@"
                    f"{CHAMPION}{number} (it has version(s) {_versions_shown(versions)})")


def _cached_model(model: str, store: str
                  ) -> tuple[Path | None, model_cache.ModelVersion | None]:
    """The verified local copy of the registered version ``model`` names, fetched into the
    model cache when missing or damaged, and that version; (None, None) when ``model`` is not
    a registered version, (None, version) when the cache cannot be written (then the caller
    downloads the version to a temporary folder)."""
    from mer.atomic import OutputError, atomic_path

    entry = model_cache.registry_entry(model) or _entry_by_mlflow_rule(model, store)
    if entry is None:
        return None, None
    version = model_cache.resolve_in_sqlite(store, entry)  # only a version registered to the end
    if version is None:
        version, finished = _resolve_with_mlflow(model, store, entry)
        if not finished:
            # refused as `mer promote` refuses it (h59: /latest loaded one), but only once it
            # is known to be a mer model: a model another tool registered has no description
            # either, and is refused as not mer's first
            with tempfile.TemporaryDirectory(prefix="mer-model-") as scratch:
                check_mer_model(_download_model(version.uri, store, Path(scratch),
                                                shown=model), model)
            raise MerError(f"cannot load model '{model}': " + unfinished(
                entry.name, version.version, "pass --model with another version (models:/"
                f"{entry.name}/N)"))
    folder = model_cache.entry_folder(store, version)
    if not folder.exists():
        log.debug("%s: version %s is not in the model cache yet", model, version.version)
    else:
        damage = model_cache.damage(folder, version)
        if damage is None:
            return folder, version
        log.warning("%s: the cached copy of version %s in %s is damaged (%s): fetching it "
                    "again", model, version.version, folder, damage)
    try:
        with atomic_path(folder) as staged:
            staged.mkdir()
            _download_model(version.uri, store, staged, shown=model)
            model_cache.write_manifest(staged, version)
    except (OutputError, OSError) as exc:
        log.warning("%s: cannot write the model cache (%s); loading without it. Set %s to a "
                    "writable folder", model, _one_line(exc), model_cache.CACHE_ENV)
        return None, version
    return folder, version


def _download_model(model: str, store: str, destination: Path, shown: str | None = None
                    ) -> Path:
    """The local copy, in ``destination``, of a models:/ or runs:/ URI read from the tracking
    URI ``store`` (downloading unpickles nothing); errors name ``shown`` (default ``model``)."""

    import mlflow
    from mlflow.exceptions import MlflowException

    from mer.tracking.store import global_store

    try:
        # runs:/ URIs of MLflow 3 logged models are resolved through the global URIs too.
        with global_store(store):
            folder = Path(mlflow.artifacts.download_artifacts(
                artifact_uri=model, dst_path=str(destination), tracking_uri=store,
                registry_uri=store))
    except (MlflowException, OSError) as exc:
        raise (_files_gone(shown or model, store, pinned=model)
               or _no_version_named(shown or model, store)
               or _cannot_load(shown or model, exc)) from None
    if not (folder / "MLmodel").is_file():  # MLflow copies nothing from a folder that is gone
        gone = _files_gone(shown or model, store, pinned=model)
        if gone is not None:
            raise gone
    return folder


def _files_gone(model: str, store: str, pinned: str | None = None, action: str = "load",
                source: str | None = None) -> MerError | None:
    """Why ``model`` (read as ``pinned``, the version it was resolved to, when given; or with
    the registered ``source`` when the caller has read it) cannot be loaded (or, for
    ``action`` "promote", promoted) when the registry records its files in a local folder
    that no longer exists: a project folder moved or copied away from it (MLflow's store
    records absolute paths). None otherwise, or when the registry cannot say."""
    from urllib.parse import unquote, urlparse

    from mlflow.exceptions import MlflowException

    from mer.tracking.store import ARTIFACTS, DB_NAME, mlflow_client

    client = mlflow_client(store)
    try:
        if source is None:
            uri = pinned or model
            entry = model_cache.registry_entry(uri)
            source = uri if entry is None else _resolve_with_mlflow(uri, store, entry)[0].source
        if source.startswith("models:/m-"):  # an MLflow 3 logged model
            location = client.get_logged_model(source.removeprefix("models:/")).artifact_location
        elif source.startswith("runs:/"):
            location = client.get_run(source.split("/")[1]).info.artifact_uri
        else:
            location = source
    except (MerError, MlflowException, IndexError):  # the registry cannot say
        return None
    parsed = urlparse(location)
    folder = Path(unquote(parsed.path))
    if parsed.scheme not in ("", "file") or folder.exists():
        return None
    parts = folder.parts
    old = Path(*parts[:parts.index(ARTIFACTS)]) if ARTIFACTS in parts else folder.parent
    return MerError(
        f"cannot {action} model '{model}': the registry keeps its files in {folder}, which no "
        f"longer exists. MLflow's store records absolute paths: a project moved or copied from "
        f"{old} still reads from there. Put the old folder back (or a link to this one at "
        f"{old}), or start a fresh store here (move {DB_NAME} and {ARTIFACTS}/ aside) and "
        "register again (`dvc repro`, or `mer register` then `mer promote`)")


def check_mer_model(folder: Path, model: str) -> Path:
    """The bundle file of the mer model in ``folder``, once its MLmodel file (plain YAML, read
    safely) says it is the pyfunc model `mer register` logs, of this mer's bundle format, with
    its bundle inside the folder. Reads no pickle."""
    from mer.inference.predictor import BUNDLE_ARTIFACT, BUNDLE_FORMAT

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


FIGURE_LABELS = ("UAR", "UF1", "accuracy")
# evaluation.protocol -> the prefix of the figures' tags and the description's words for it
PROTOCOLS = {"loso": ("loso_", "Leave-one-subject-out evaluation"),
             "cross-corpus": ("cross_corpus_", "Cross-corpus evaluation")}
PROTOCOL_TAG = "evaluation_protocol"
EVALUATION_RUN_TAG = "evaluation_run_id"
EVALUATION_URL_TAG = "evaluation_run_url"


def tags_from_evaluation(evaluation: dict[str, Any], evaluation_run: str | None,
                         protocol: str = "loso") -> dict[str, str]:
    """Version tags: the hybrid's evaluation that justifies this model (``evaluation``:
    reports/evaluation.json, {} when there is none; ``protocol``: evaluation.protocol, which
    names the figures: loso_uar or cross_corpus_uar, ...) and its MLflow run. Without an
    evaluation of the hybrid, no tags: no run is linked to a version it does not evaluate."""
    hybrid = evaluation.get("models", {}).get(HYBRID, {})
    if not hybrid:
        return {}
    prefix = PROTOCOLS[protocol][0]
    tags = {f"{prefix}{key}": str(hybrid[key]) for key in FIGURES if key in hybrid}
    tags[PROTOCOL_TAG] = protocol
    if evaluation_run:
        tags[EVALUATION_RUN_TAG] = evaluation_run
    return tags


VARIANT_TAG = "variant"  # runs.variant_name: the DVC experiment, or the params changed, uncut
SPOTTING_CORPUS_TAG = "spotting_corpus"  # the corpus the spotter's p were fitted on
SPOTTING_P_TAG = "spotting_p_{}"  # .format(scale): the spotter's p per scale
SPOTTING_FLOOR_TAG = "spotting_noise_floor"  # the spotter's noise floor z (spotting.noise_floor)
SPOTTING_F1_TAG = "spotting_loso_f1_overall"


def variant_tags(variant: str, corpus: str, p: Mapping[str, float], noise_floor: float,
                 loso_f1: Mapping[str, Any]) -> dict[str, str]:
    """Version tags that tell versions of one evaluation apart (a break-it session: versions
    registered by a spotting-only and an SVM-only experiment had the same tags and
    description): the variant that registered it (``variant``: mer.tracking.runs.
    variant_name) and the spotter it carries (the corpus its p were fitted on, p per scale, its
    noise floor, its LOSO F1)."""
    overall = loso_f1.get("overall")
    return {VARIANT_TAG: variant, SPOTTING_CORPUS_TAG: corpus,
            **{SPOTTING_P_TAG.format(scale): str(p[scale]) for scale in SCALES},
            SPOTTING_FLOOR_TAG: str(noise_floor),
            **({SPOTTING_F1_TAG: str(round(float(overall), 4))} if overall is not None
               else {})}


def evaluation_figures(tags: Mapping[str, str]) -> dict[str, float]:
    """The figures ``tags`` (tags_from_evaluation) hold, by tag name: {'loso_uar': 0.75, ...}."""
    prefix = PROTOCOLS[tags.get(PROTOCOL_TAG, "loso")][0]
    return {f"{prefix}{key}": float(tags[f"{prefix}{key}"]) for key in FIGURES
            if f"{prefix}{key}" in tags}


def version_description(tags: Mapping[str, str], evaluation_page: str | None) -> str:
    """A registered version's description (Markdown in the MLflow UI): what it is, its
    evaluation's figures (``tags``: tags_from_evaluation) and a link to the evaluation run's
    page."""
    lines = ["The mer hybrid (train.hybrid: the CNN averaged with its experts), trained by "
             "`mer register` on every subject; `mer promote --version <n>` makes it the "
             "champion."]
    figures = list(evaluation_figures(tags).values())
    if len(figures) == len(FIGURES):
        title = PROTOCOLS[tags.get(PROTOCOL_TAG, "loso")][1]
        lines.append(f"{title}: " + ", ".join(
            f"{label} {value:.3f}" for label, value in zip(FIGURE_LABELS, figures,
                                                            strict=True)) + ".")
    else:
        lines.append("No evaluation was found: run `mer train` and `mer evaluate` first.")
    if evaluation_page:
        lines.append(f"[The evaluation run]({evaluation_page}): per model, per fold.")
    if SPOTTING_CORPUS_TAG in tags:
        p = ", ".join(f"{scale} {tags.get(SPOTTING_P_TAG.format(scale))}"
                      for scale in SCALES)
        f1 = tags.get(SPOTTING_F1_TAG)
        floor = tags.get(SPOTTING_FLOOR_TAG)
        lines.append(f"Spotter: p {p}" + (f", noise floor {floor}" if floor else "")
                     + f", fitted on {tags[SPOTTING_CORPUS_TAG]}"
                     + (f" (LOSO F1 overall {float(f1):.3f})" if f1 else "") + ".")
    if VARIANT_TAG in tags:
        lines.append(f"Registered by: {tags[VARIANT_TAG]}.")
    return "\n\n".join(lines)


def describe_version(tracker: Tracker, name: str, version: str, run_id: str,
                     tags: Mapping[str, str]) -> None:
    """Make version ``version`` of ``name`` (logged by run ``run_id``) say what justifies it:
    ``tags`` (tags_from_evaluation) and, on a team server, the evaluation run's URL as
    version tags, the evaluation's figures as metrics of its source run (shown on the
    version's page), a description whose link to the evaluation run holds at any UI address."""
    from mer.tracking.store import run_page

    evaluation_run = tags.get(EVALUATION_RUN_TAG)
    page = url = None
    if evaluation_run:
        url = tracker.run_url(evaluation_run)
        page = run_page(tracker.client.get_run(evaluation_run).info.experiment_id,
                        evaluation_run)
    all_tags = {**tags, **({EVALUATION_URL_TAG: url} if url else {})}
    for key, value in all_tags.items():
        tracker.client.set_model_version_tag(name, version, key, value)
    tracker.log(run_id, metrics=evaluation_figures(tags), tags=all_tags)
    tracker.client.update_model_version(name, version,
                                        description=version_description(tags, page))


def registration_record(version: RegisteredVersion) -> str:
    """The content of reports/registered.json."""
    return json.dumps({"registered": True, **version.__dict__}, indent=2, sort_keys=True) + "\n"


def not_registered_record(reason: str) -> str:
    """reports/registered.json when nothing was registered, saying why."""
    return json.dumps({"registered": False, "reason": reason}, indent=2, sort_keys=True) + "\n"
