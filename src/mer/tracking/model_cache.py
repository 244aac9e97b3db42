"""A verified local copy of every registered model version `mer predict` has loaded.

Loading ``models:/<name>@<alias>`` through MLflow costs seconds before any prediction: importing
MLflow (with pandas, SQLAlchemy and Alembic) and copying the model's artifacts. So the copy is
kept, one folder per registered version under the model cache (``$MER_MODEL_CACHE``, default
``$XDG_CACHE_HOME/mer/models``, i.e. ``~/.cache/mer/models``), named by what identifies that
version in its registry: store URI, model name, version, source run, artifact source and
creation time. A re-created registry whose version 1 is another model gets another folder.

MLflow stays the registry. Every call still asks it which version the alias names now, so a
`mer promote` is seen by the next call: for a SQLite store (the project's own ``mlflow.db``) by
reading MLflow's registry tables read-only, as MLflow's SQL store reads them (a millisecond, no
MLflow import); for any other store, with workspaces on, or when the tables do not read as
expected, through MLflow's client. The folder records a sha256 per file; a copy whose files do
not match (damaged, edited, half-deleted) is never used: it is reported and fetched again.
Delete the cache folder at any time; the next call fetches what it needs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path

from mer.core.records import file_digest
from mer.tracking.store import sqlite_file

CACHE_ENV = "MER_MODEL_CACHE"
MANIFEST = ".mer-manifest.json"  # in each cached folder: the version and a sha256 per file
MANIFEST_FORMAT = 1
# a registered version's number: ASCII digits (h60: '²' passed str.isdigit and crashed int();
# '٢', a decimal digit of another script, was version 2 in some places and none in others)
VERSION_NUMBER = re.compile("[0-9]+")
# models:/<name>@<alias> and models:/<name>/<version>: the two URIs that name a registry entry.
REGISTRY_URI = re.compile(r"models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/@]+)"
                          rf"|/(?P<version>{VERSION_NUMBER.pattern}))/?")
# MLflow's own meanings (mlflow.store.model_registry): a deleted version's internal stage, the
# one status a usable version has, the alias MLflow resolves itself, the default workspace.
DELETED_STAGE = "Deleted_Internal"
READY = "READY"
LATEST_ALIAS = "latest"
DEFAULT_WORKSPACE = "default"
WORKSPACE_ENVS = ("MLFLOW_ENABLE_WORKSPACES", "MLFLOW_WORKSPACE")


@dataclass(frozen=True)
class RegistryEntry:
    """What ``models:/name@alias`` or ``models:/name/version`` asks the registry for."""

    name: str
    alias: str | None
    version: str | None


@dataclass(frozen=True)
class ModelVersion:
    """One registered version, as the registry describes it."""

    name: str
    version: str
    run_id: str  # the run that logged it ("" for a version registered from a bare source)
    source: str  # where its artifacts come from (models:/m-<id> for an MLflow 3 logged model)
    created: int  # creation time, ms since the epoch

    @property
    def uri(self) -> str:
        """The URI that pins this version, whatever alias pointed at it."""
        return f"models:/{self.name}/{self.version}"


def version_number(text: object) -> int | None:
    """``text`` as a registered version's number ('01' is 1), None when it is none."""
    return int(str(text)) if VERSION_NUMBER.fullmatch(str(text)) else None


def registry_entry(model: str) -> RegistryEntry | None:
    """The registry entry ``model`` names; None for other URIs (runs:/, folders), which are
    not cached. ``@latest`` is MLflow's own rule: mer.tracking.registry asks MLflow which
    version it means now, as for models:/name/latest."""
    match = REGISTRY_URI.fullmatch(model)
    if match is None or (match["alias"] or "").lower() == LATEST_ALIAS:
        return None
    return RegistryEntry(match["name"], match["alias"], match["version"])


def cache_root() -> Path:
    """$MER_MODEL_CACHE, else $XDG_CACHE_HOME/mer/models, else ~/.cache/mer/models."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mer" / "models"


def entry_folder(store: str, version: ModelVersion) -> Path:
    """Where the copy of ``version`` of the registry at ``store`` lives."""
    identity = json.dumps([store, *asdict(version).values()])
    key = hashlib.sha256(identity.encode()).hexdigest()[:20]
    readable = re.sub(r"[^A-Za-z0-9._-]", "_", version.name)
    return cache_root() / f"{readable}-v{version.version}-{key}"


def resolve_in_sqlite(store: str, entry: RegistryEntry) -> ModelVersion | None:
    """The version ``entry`` names in the SQLite registry at ``store``, read from MLflow's
    tables without MLflow; None whenever MLflow should answer instead: not a SQLite file,
    workspaces on, tables of another shape, or no such alias or usable version (MLflow then
    says what is wrong in its own words; mer.tracking.registry refuses a version registered
    but not to the end, which has no description)."""
    db = sqlite_file(store)
    if db is None or not db.is_file() or any(os.environ.get(e) for e in WORKSPACE_ENVS):
        return None
    try:
        with closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)) as connection:
            has_workspace = any(row[1] == "workspace" for row in
                                connection.execute("PRAGMA table_info(model_versions)"))
            where = " AND workspace = :workspace" if has_workspace else ""
            names = {"name": entry.name, "alias": entry.alias, "version": entry.version,
                     "workspace": DEFAULT_WORKSPACE, "deleted": DELETED_STAGE}
            version = version_number(entry.version)
            if entry.alias is not None:
                found = connection.execute(
                    "SELECT version FROM registered_model_aliases WHERE name = :name AND "
                    f"alias = :alias{where}", names).fetchone()
                if found is None:
                    return None
                version = version_number(found[0])
            if version is None:
                return None
            row = connection.execute(
                "SELECT version, run_id, source, creation_time, status, description FROM "
                "model_versions WHERE name = :name AND version = :version AND current_stage "
                f"!= :deleted{where}", {**names, "version": version}).fetchone()
    except sqlite3.Error:
        return None
    # (no description: registered but not to the end, which MLflow's client reports)
    if row is None or row[4] != READY or None in (row[0], row[2], row[3]) or not row[5]:
        return None
    return ModelVersion(entry.name, str(row[0]), row[1] or "", str(row[2]), int(row[3]))


def digests(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` but the manifest, by POSIX path relative to it."""
    return {path.relative_to(folder).as_posix(): file_digest(path)
            for path in sorted(folder.rglob("*"))
            if path.is_file() and path.name != MANIFEST}


def write_manifest(folder: Path, version: ModelVersion) -> None:
    """Record ``version`` and the digest of every file of the copy in ``folder``."""
    manifest = {"format": MANIFEST_FORMAT, "version": asdict(version), "files": digests(folder)}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True),
                                   encoding="utf-8")


def damage(folder: Path, version: ModelVersion) -> str | None:
    """None when ``folder`` holds an intact copy of ``version``: its manifest names it and every
    file, no more, no fewer, has the digest the manifest records. Otherwise what is wrong."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return f"unreadable manifest ({exc.__class__.__name__})"
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT \
            or manifest.get("version") != asdict(version):
        return "its manifest describes another model version"
    recorded = manifest.get("files")
    found = digests(folder)
    if recorded == found:
        return None
    recorded = recorded if isinstance(recorded, dict) else {}
    changed = sorted(set(recorded) ^ set(found)
                     | {f for f in set(recorded) & set(found) if recorded[f] != found[f]})
    return f"{len(changed)} file(s) differ from its manifest, e.g. {changed[0]}"
