"""The one place that talks to MLflow.

Backend: ``$MLFLOW_TRACKING_URI`` if set (a team server), else SQLite at
``<project root>/mlflow.db`` with artifacts in ``<project root>/mlruns/`` (MLflow 3 refuses a
plain ./mlruns file store, and a relative SQLite path is lost by ``dvc exp run --temp``, which
runs in a copy under ``.dvc/tmp/exps/``: the project root is the folder above that copy).

Creating the SQLite store is safe under concurrency: ``ensure_store`` holds a lock file beside
the database (``mlflow.db.lock``, via ``filelock``) while it builds the tables in a temporary
file and renames it into place, so other commands either find a complete store or wait; a
store left half-created by an older mer is set aside (never deleted) and rebuilt when it holds
no runs, and refused with what to do when it does.

Runs: one parent per LOSO evaluation (opened by ``mer train``, completed by ``mer evaluate``,
which finds it by the hash of the predictions it reads), one child per (model, fold). Every run
is opened through ``Tracker.run``, which marks it KILLED on Ctrl-C or SIGTERM and FAILED on any
other exception, and tags it with the host and pid of its process; a process killed outright
(SIGKILL, power cut) cannot close its runs, so every new ``Tracker`` marks the RUNNING runs
whose process is gone FAILED, with a note (``mer.note``).

One client: every call goes through ``mlflow_client`` (tracking and registry bound to our
backend explicitly, never MLflow's global URIs). The one call that exists only in MLflow's
global (fluent) API, logging a pyfunc model, goes through ``Tracker.fluent_run``.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import posixpath
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from mer.errors import MerError, exception_chain
from mer.interrupts import deferred_signals, stopped_by_signal
from mer.paths import REPORTS, project_root

log = logging.getLogger(__name__)

ENV_URI = "MLFLOW_TRACKING_URI"
# The tracking-store schemes MLflow has (a database one may name its driver: postgresql+pg8000).
TRACKING_SCHEMES = ("sqlite", "http", "https", "postgresql", "mysql", "mssql", "databricks",
                    "databricks-uc")  # not file: MLflow 3's file store refuses to start
BARE_SCHEMES = ("databricks",)  # a URI MLflow takes without '://'
# the tracking server's REST call mer asks first: any MLflow tracking server answers it with
# JSON (its experiments, or an error_code), another web server or a model server does not
SERVER_PROBE = "api/2.0/mlflow/experiments/search?max_results=1"
SERVER_TIMEOUT_S = 10  # how long a team server has to answer before mer says it does not
REGISTRY_ENV_URI = "MLFLOW_REGISTRY_URI"  # exported by mlflow.set_registry_uri
DB_NAME = "mlflow.db"
ARTIFACTS = "mlruns"
PREDICTIONS_TAG = "mer.predictions_sha256"  # links a parent run to its predictions.csv
KIND_TAG = "mer.kind"  # "evaluation" (parent) or "fold" (child)
PARENT_TAG = "mlflow.parentRunId"  # MLflow's own nesting tag
# MLflow 3's UI opens an experiment without this tag on the GenAI traces overview; with it,
# on the runs table (the values are the UI's own: mlflow/server/js, ExperimentKind).
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
TRAINING_KIND = "custom_model_development"
# MLflow 3.17's UI (the one installed; tests/evaluation/test_evaluation_tracking.py reads its
# code) no longer reads that tag first: a per-browser switch, GenAI until the user flips it,
# chooses the view, unless the page's address says `workflowType` (kept on the UI's links).
# Every UI address mer prints or stores carries it, so it opens on the runs whatever the
# browser's switch says.
TRAINING_VIEW = "workflowType=machine_learning"
BATCH = 100  # MLflow's limit of params per log_batch call
UI_HOST = "127.0.0.1"  # `mer ui`: local only, the UI has no authentication
UI_PORT = 5000  # `mer ui`'s default port, MLflow's own
GIT_TIMEOUT_S = 10
SQLITE_TIMEOUT_S = 30  # how long a read waits for another process's write to the store
LOCK_TIMEOUT_S = 300  # longest wait for another command creating the store (takes seconds)
HOST_TAG = "mer.host"  # hostname + pid namespace of the process that opened a run
PID_TAG = "mer.pid"
PID_STARTED_TAG = "mer.pid_started"  # that process's start time: a reused pid is not it
NOTE_TAG = "mer.note"  # why mer closed a run it did not finish
NOTE_CHARS = 2000  # of a note: MLflow keeps tag values up to 8000 characters
# Exit codes of a run stopped by a signal (cli: 130 for SIGINT, 143 for SIGTERM).


def tracking_uri(root: str | Path | None = None) -> str:
    """$MLFLOW_TRACKING_URI (checked: ``check_tracking_uri``; a relative SQLite path made
    absolute: ``anchored``), else sqlite:///<abs project root>/mlflow.db."""
    uri = os.environ.get(ENV_URI)
    if uri:
        check_tracking_uri(uri)
        if root is None:  # the project mer runs in: for MLflow's own reads of the variable
            anchor_tracking_uri()  # and the processes mer starts too
        return anchored(uri, root)
    return f"sqlite:///{project_root(root) / DB_NAME}"


def anchored(uri: str, root: str | Path | None = None) -> str:
    """``uri`` with a relative SQLite path (sqlite:///mlflow.db, as MLflow's docs write it)
    made absolute in the project root (project_root): read in a DVC queue's temporary copy of
    the project, it would name a store deleted with the copy, and the runs with it. Other
    URIs unchanged."""
    prefix = "sqlite:///"
    path = uri[len(prefix):]
    if not uri.lower().startswith(prefix) or not path or path.startswith((":", "/")):
        return uri
    return f"{prefix}{project_root(root) / path}"


def anchor_tracking_uri() -> None:
    """Set $MLFLOW_TRACKING_URI to its ``anchored`` form, so that MLflow's own reads of it
    and every process mer starts agree with tracking_uri() (which calls this); a no-op when
    unset."""
    uri = os.environ.get(ENV_URI)
    if uri:
        os.environ[ENV_URI] = anchored(uri)


@functools.cache
def check_tracking_uri(uri: str) -> None:
    """A MerError, at once, for a $MLFLOW_TRACKING_URI that MLflow would fail on slowly or
    with a traceback: no scheme (a bare path or host:port), a scheme MLflow has no store for,
    or an http(s) server that does not answer within SERVER_TIMEOUT_S (MLflow would retry for
    minutes). Checked once per process and URI."""
    forms = (f"write it as sqlite:////absolute/path/{DB_NAME} or http://host:port, or unset "
             f"it to use {DB_NAME} in the project")
    scheme = (uri.split("://", 1)[0].lower() if "://" in uri
              else uri if uri in BARE_SCHEMES else "")
    if not scheme:
        what = "a file path" if uri.endswith(".db") or "/" in uri else "an address"
        raise MerError(f"{ENV_URI}={uri} is {what} without a scheme, not a tracking URI; "
                       f"{forms}")
    if scheme == "file":
        raise MerError(f"{ENV_URI}={uri}: MLflow 3 keeps its file store (file://, mlruns/) "
                       f"for reading old runs only and refuses to log to it; {forms}")
    if scheme.split("+", 1)[0] not in TRACKING_SCHEMES:
        raise MerError(f"{ENV_URI}={uri}: MLflow has no tracking store for '{scheme}://'; "
                       f"{forms}")
    if scheme in ("http", "https"):
        import urllib.error
        import urllib.request

        probe = f"{uri.rstrip('/')}/{SERVER_PROBE}"
        try:
            request = urllib.request.Request(probe, headers=_credentials())
            with urllib.request.urlopen(request, timeout=SERVER_TIMEOUT_S) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read()
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise MerError(f"no MLflow server answers at {uri} ({ENV_URI}; {reason}): start it, "
                           f"or unset {ENV_URI} to use {DB_NAME} in the project") from None
        if status not in (401, 403) and not _mlflow_answer(body):
            # (h61: a web server's 404 page passed, then `mer promote` printed it whole; a
            # proxy or an authenticating server may refuse the unauthenticated probe: passed)
            raise MerError(f"the server at {uri} ({ENV_URI}) answers, but not as an MLflow "
                           f"tracking server (HTTP {status} for {probe}): give the URL of an "
                           "`mlflow server` (a model server of `mlflow models serve` keeps no "
                           f"runs), or unset {ENV_URI} to use {DB_NAME} in the project")


def _credentials() -> dict[str, str]:
    """The Authorization header MLflow's own requests carry, from the variables MLflow reads
    (MLFLOW_TRACKING_TOKEN, else MLFLOW_TRACKING_USERNAME and _PASSWORD), so a server behind
    an authenticating proxy answers the probe as it answers MLflow; {} without them."""
    import base64

    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if token:
        return {"Authorization": f"Bearer {token}"}
    user, password = (os.environ.get("MLFLOW_TRACKING_USERNAME"),
                      os.environ.get("MLFLOW_TRACKING_PASSWORD"))
    if user and password:
        pair = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}
    return {}


def _mlflow_answer(body: bytes) -> bool:
    """Whether ``body`` is an MLflow tracking server's JSON answer to SERVER_PROBE: its
    experiments, or one of its errors (an error_code: a server whose store fails says so
    itself, through MLflow)."""
    try:
        answer = json.loads(body)
    except ValueError:  # UnicodeDecodeError too
        return False
    return isinstance(answer, dict) and ("experiments" in answer or "error_code" in answer
                                         or answer == {})


def artifact_location(root: str | Path | None = None) -> str | None:
    """Where a SQLite store's experiments keep their artifacts: the mlruns/ folder beside its
    database (<project root>/mlruns for the project's own mlflow.db), as an absolute URI;
    None for a server, whose default it is. MLflow's own default for a SQLite store is
    ./mlruns of the folder the experiment is created from (a break-it session: a team's
    sqlite:////srv/team.db experiment created by a DVC queue's temporary copy kept every
    run's figures and model in that copy, deleted with it)."""
    db = sqlite_file(tracking_uri(root))
    return None if db is None else _artifacts_beside(db)


def _artifacts_beside(db: Path) -> str:
    """The URI of the mlruns/ folder beside the SQLite database ``db``."""
    return (db.parent / ARTIFACTS).as_uri()


def sqlite_file(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, None for other backends and in-memory."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///"):].split("?", 1)[0]
    return None if path in ("", ":memory:") else Path(path)


def store_exists(root: str | Path | None = None) -> bool:
    """False only when the backend is our own SQLite file and it does not exist yet."""
    db = sqlite_file(tracking_uri(root))
    return db is None or (db.exists() and db.stat().st_size > 0)


def check_readable(uri: str) -> None:
    """A MerError, naming the file and what to do, when ``uri`` is a SQLite store that is
    locked, unreadable or not a database; nothing for another backend or a missing file.
    What reads a store without creating it asks first: MLflow's own answer is a SQLAlchemy
    traceback. Imports no MLflow (a cached model loads without it)."""
    db = sqlite_file(uri)
    if db is not None and db.exists() and db.stat().st_size > 0:
        _store_contents(db)


def _store_contents(db: Path) -> tuple[set[str], tuple[Any, ...] | None, int]:
    """(tables, alembic version row, runs + registered models held) of SQLite file ``db``,
    or a MerError saying why it cannot be read."""
    try:
        # Read-write, not mode=ro: a process killed mid-write leaves a hot journal, which
        # only a writer can roll back (a read-only connection fails on it).
        with closing(sqlite3.connect(db, timeout=SQLITE_TIMEOUT_S)) as con:
            tables = {row[0] for row in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            version = (con.execute("SELECT version_num FROM alembic_version").fetchone()
                       if "alembic_version" in tables else None)
            held = sum(con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                       for table in ("runs", "registered_models") if table in tables)
    except sqlite3.OperationalError as exc:  # locked, unreadable, no space, ...
        raise MerError(f"cannot read the MLflow store {db}: {exc}; check the file and its "
                       "folder, then rerun") from None
    except sqlite3.DatabaseError as exc:  # not a database, malformed
        fix = (f"check {ENV_URI}, which names it" if os.environ.get(ENV_URI) else
               f"move it away (mer creates a new one) or set {ENV_URI}")  # (h66)
        raise MerError(f"{db} is not a readable MLflow SQLite store ({exc}); {fix}") from None
    return tables, version, held


def _store_state(db: Path) -> tuple[str, str, int]:
    """(state, detail, runs + registered models held) of SQLite file ``db``; state is
    'absent', 'ready' (schema at MLflow's head) or 'incomplete' (older schema or a migration
    that stopped half-way)."""
    from mlflow.store.db.utils import _get_latest_schema_revision

    if not db.exists() or db.stat().st_size == 0:
        return "absent", "", 0
    tables, version, held = _store_contents(db)
    leftovers = sorted(t for t in tables if t.startswith("_alembic_tmp_"))
    if leftovers:
        return "incomplete", f"leftover table {', '.join(leftovers)}", held
    if version is None or version[0] != _get_latest_schema_revision():
        return "incomplete", f"schema version {version[0] if version else 'none'}", held
    return "ready", "", held


def _create_store(db: Path, artifacts: str) -> None:
    """Build every MLflow table in a temporary file beside ``db``, then rename it to ``db``:
    other processes never see a half-built store."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    tmp = db.with_name(f".{db.name}.creating-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    uri = f"sqlite:///{tmp}"
    try:
        store = SqlAlchemyStore(uri, artifacts)
        store.engine.dispose()
        SqlAlchemyStore._engine_map.pop(uri, None)
        with tmp.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, db)
    finally:
        tmp.unlink(missing_ok=True)


def _open_old_store(uri: str, db: Path) -> None:
    """Let MLflow open (and, when tables are missing, migrate) a store of an older MLflow
    while we hold the lock, so two commands never migrate it at once."""
    from mlflow.exceptions import MlflowException
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    try:
        SqlAlchemyStore(uri, _artifacts_beside(db))
    except MlflowException as exc:
        raise MerError(f"cannot open MLflow tracking store {db}: {exc.message}") from None


def ensure_store(root: str | Path | None = None) -> str:
    """The tracking URI, with our SQLite store created first if it does not exist yet.

    Concurrent commands serialise on ``<db>.lock``: one creates, the others wait and then
    find it ready. A store that an earlier crash left half-migrated is set aside as
    ``<db>.broken-<time>`` and rebuilt when it holds no run or model; with runs in it, a
    MerError says how to repair it. A team server ($MLFLOW_TRACKING_URI not SQLite) is
    returned untouched."""
    from filelock import FileLock, Timeout

    uri = tracking_uri(root)
    db = sqlite_file(uri)
    if db is None:
        return uri
    artifacts = _artifacts_beside(db)  # as experiments record it (artifact_location)
    db = db.resolve()
    lock = FileLock(f"{db}.lock", timeout=LOCK_TIMEOUT_S)
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except Timeout:  # (an OSError too: first)
        raise MerError(f"waited {LOCK_TIMEOUT_S} s for {lock.lock_file}: another mer command is "
                       f"creating the MLflow store {db}; rerun when it has finished") from None
    except OSError:  # a read-only folder: nothing can be created there, MLflow says so
        return uri
    try:
        state, detail, held = _store_state(db)
        if state == "ready":
            return uri
        if state == "incomplete":
            if held and detail.startswith("schema version"):
                _open_old_store(uri, db)
                return uri
            if held:
                tables = detail.removeprefix("leftover table ").split(", ")
                drops = " ".join(f"DROP TABLE {t};" for t in tables)
                raise MerError(
                    f"{db} was left half-migrated ({detail}) and holds {held} runs or "
                    f"models: back it up (cp {db} {db}.bak), drop the leftover table(s) "
                    f"(sqlite3 {db} '{drops}'), then run `mlflow db upgrade {uri}`")
            aside = db.with_name(f"{db.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}")
            os.replace(db, aside)
            log.warning("%s was left half-created (%s) with no runs in it: moved it to "
                        "%s and created a new store", db, detail, aside.name)
        _create_store(db, artifacts)
    finally:
        lock.release()
    return uri


def mlflow_client(uri: str) -> Any:
    """An MlflowClient bound to ``uri`` for both tracking and registry, whose every call
    completes before a Ctrl-C or SIGTERM is raised, with MLflow's HTTP retries bounded
    (bound_http_retries)."""
    from mlflow import MlflowClient

    bound_http_retries()  # read by MLflow at each request
    return _DeferringClient(MlflowClient(tracking_uri=uri, registry_uri=uri), uri)


def ensure_experiment(client: Any, name: str, root: str | Path | None = None) -> str:
    """The id of experiment ``name``, created with our artifact location if missing, and
    marked as model training (EXPERIMENT_KIND_TAG) unless someone chose another kind."""
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            return str(client.create_experiment(name, artifact_location=artifact_location(root),
                                                tags={EXPERIMENT_KIND_TAG: TRAINING_KIND}))
        except MlflowException as exc:  # a concurrent command created it first
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
    check_not_moved(experiment.name, experiment.artifact_location, root)
    if experiment.lifecycle_stage == "deleted":
        client.restore_experiment(experiment.experiment_id)
    if EXPERIMENT_KIND_TAG not in experiment.tags:  # created by an older mer, or by hand
        client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, TRAINING_KIND)
    return str(experiment.experiment_id)


def check_not_moved(experiment: str, location: str | None, root: str | Path | None = None
                    ) -> None:
    """A MerError when a SQLite store keeps ``experiment``'s artifacts in an mlruns/ folder
    that is not the one beside its database (artifact_location): the store records absolute
    locations, so a project folder copied or moved elsewhere would write its runs' files
    into the old folder (or fail when it is gone), as would an experiment created in a
    folder since deleted (a DVC queue's temporary copy)."""
    from urllib.parse import unquote, urlparse

    db = sqlite_file(tracking_uri(root))  # artifact_location's folder is db.parent
    if db is None or not location or location == _artifacts_beside(db):
        return
    parsed = urlparse(location)
    if parsed.scheme != "file" or not parsed.path.rstrip("/").endswith(f"/{ARTIFACTS}"):
        return  # a location someone chose on purpose (a server's, a bucket)
    old = Path(unquote(parsed.path)).parent
    if old.resolve() == db.parent.resolve():
        return
    raise MerError(
        f"{db} keeps the artifacts of experiment '{experiment}' in {old / ARTIFACTS}, not "
        f"beside it: the store was copied or moved from {old}, or the experiment was created "
        f"there{'' if old.exists() else ' (a folder since deleted)'}, and MLflow's store "
        f"records absolute paths, so new runs would write into {old / ARTIFACTS}. Either "
        f"start a fresh store here (move {db.name} and {ARTIFACTS}/ aside, e.g. "
        f"`mv {db.name} {db.name}.copied`), or work with the store in {old}")


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


# Tracked files the pipeline itself writes: dvc.lock and the stages' reports (mer.paths).
PIPELINE_WRITES = ("dvc.lock", REPORTS.as_posix())


def git_state(checkout: str | Path | None = None) -> dict[str, str]:
    """The commit and dirtiness of the git checkout mer runs in (``checkout``, default the
    current folder), as run tags. Not project_root: a DVC queue runs each experiment in a
    temporary copy checked out at the experiment's own commit, with its params applied.

    Dirty: a tracked file differs from the commit, other than those the pipeline writes
    (``PIPELINE_WRITES``: DVC rewrites dvc.lock, and the stages their reports, before the
    next stage runs; a break-it session found every run of a pristine clone's `make repro`
    tagged dirty)."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=checkout or Path.cwd(), capture_output=True,
                                  text=True, timeout=GIT_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no", "--", ":/",
                 *(f":(exclude){path}" for path in PIPELINE_WRITES))
    return {"mlflow.source.git.commit": commit or "unknown",
            "mer.git_dirty": "unknown" if status is None else str(bool(status)).lower()}


def host_id() -> str:
    """This machine as run tags name it: hostname plus, on Linux, the pid namespace, so two
    containers sharing a hostname never judge each other's pids."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return socket.gethostname()
    return f"{socket.gethostname()}/{namespace}"


def _process_started(pid: int) -> str | None:
    """Start time of process ``pid`` (seconds, 0.01 s resolution), None when unknown."""
    try:
        import psutil

        return f"{psutil.Process(pid).create_time():.2f}"
    except Exception:  # no psutil, no such process, no permission: unknown
        return None


def owner_tags() -> dict[str, str]:
    """Who runs this process: tags on every run it opens, read by close_stale_runs."""
    started = _process_started(os.getpid())
    return {HOST_TAG: host_id(), PID_TAG: str(os.getpid()),
            **({PID_STARTED_TAG: started} if started else {})}


def _process_gone(pid: int, started: str | None) -> bool:
    """True when no process ``pid`` exists, or it is another one that reused the pid."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, owned by someone else
        pass
    except OSError:
        return False
    if started is None:
        return False
    now = _process_started(pid)
    return now is not None and abs(float(now) - float(started)) > 1.0


# MLflow retries a request to a server that does not answer 7 times, backing off up to 2 min
# (for rate limits): minutes per call, so a server that died mid-run hung `mer train` for 12
# minutes. mer's defaults (a user's own settings win): 3 retries over about 8 s for a server
# that refuses, and 20 s of silence per try for one that hangs (a dead tunnel; a break-it
# session: 60 s per try, so 5 minutes per call, and the run's cleanup called again), so
# about 90 s in all (test_evaluation_tracking).
RETRIES_ENV, TIMEOUT_ENV = "MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"
HTTP_RETRIES = {RETRIES_ENV: "3", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1", TIMEOUT_ENV: "20"}
# The tracking servers found not answering in this process: later calls to one fail at once
# (the failed command's cleanup, e.g. marking its run KILLED, would wait as long again).
_SILENT_SERVERS: set[str] = set()


def bound_http_retries() -> None:
    """Set MLflow's HTTP retry variables to HTTP_RETRIES where the user has not set them."""
    for name, value in HTTP_RETRIES.items():
        os.environ.setdefault(name, value)


def _unreachable(exc: BaseException) -> BaseException | None:
    """The connection failure or timeout behind an MLflow exception (MLflow wraps requests'
    errors in its own), None when the server answered."""
    import requests

    failures = (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                requests.exceptions.RetryError)
    return next((seen for seen in exception_chain(exc) if isinstance(seen, failures)), None)


class _DeferringClient:
    """An MlflowClient whose every call completes before a Ctrl-C or SIGTERM is raised, and
    whose calls to a tracking server that stopped answering end in one MerError."""

    def __init__(self, client: Any, uri: str) -> None:
        self._client, self._uri = client, uri

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._uri in _SILENT_SERVERS:
                raise MerError(f"the MLflow server at {self._uri} stopped answering earlier "
                               f"in this command; {_AFTER_SILENCE}")
            try:
                with deferred_signals():
                    return attribute(*args, **kwargs)
            except Exception as exc:
                failure = _unreachable(exc)
                if failure is None:
                    raise
                _SILENT_SERVERS.add(self._uri)
                raise MerError(
                    f"the MLflow server at {self._uri} stopped answering "
                    f"({type(failure).__name__}, after {os.environ.get(RETRIES_ENV, '7')} "
                    f"retries of {os.environ.get(TIMEOUT_ENV, '120')} s at most): "
                    f"{_AFTER_SILENCE}") from None
        return call


_AFTER_SILENCE = ("what had finished is kept (`mer train` resumes from its finished folds); "
                  f"rerun once it answers, or unset {ENV_URI} to use {DB_NAME} in the project")


@contextmanager
def global_store(uri: str) -> Iterator[None]:
    """MLflow's global tracking and registry URIs set to ``uri`` for the block (the fluent API
    and runs:/ URIs read them), then unset: MLflow again follows $MLFLOW_TRACKING_URI and
    $MLFLOW_REGISTRY_URI, which are put back as they were. Setting a URI exports it to those
    variables, and restoring a value instead of unsetting would pin the globals to it after the
    variables change (a later command in the same process would use another project's store)."""
    import mlflow

    saved = {name: os.environ.get(name) for name in (ENV_URI, REGISTRY_ENV_URI)}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class Tracker:
    """An MLflow client bound to our backend and one experiment."""

    def __init__(self, experiment: str, root: str | Path | None = None) -> None:
        from mlflow.exceptions import MlflowException

        self.root = project_root(root)
        self._context: dict[str, str] | None = None
        self.uri = ensure_store(self.root)
        self.client = mlflow_client(self.uri)
        try:
            self.experiment_id = ensure_experiment(self.client, experiment, self.root)
            self.close_stale_runs()
        except MlflowException as exc:
            hint = (f"check the server, or unset {ENV_URI} to use {DB_NAME} in the project"
                    if os.environ.get(ENV_URI) else f"check or move {DB_NAME} in {self.root}")
            raise MerError(f"cannot open MLflow tracking store {self.uri} (experiment "
                           f"'{experiment}'): {exc.message}; {hint}") from None

    def context_tags(self) -> dict[str, str]:
        """The user, source (command) and git tags MLflow's own start_run adds to a run,
        resolved once per Tracker (resolving asks git)."""
        if self._context is None:
            from mlflow.tracking.context.registry import resolve_tags

            self._context = resolve_tags()
        return self._context

    @contextmanager
    def run(self, name: str | None = None, *, parent: str | None = None,
            tags: Mapping[str, str] | None = None, run_id: str | None = None,
            started: float | None = None, ended: float | None = None) -> Iterator[str]:
        """Create a run (or reopen ``run_id``), tagged with this process (owner_tags) and, when
        new, MLflow's context tags; FINISHED on success, KILLED when stopped by Ctrl-C or
        SIGTERM, FAILED on any other exception. ``started`` and ``ended`` (Unix time, s) give
        the run the times of work done before it was logged, e.g. a fold's fit. A reopened run
        that finishes keeps its end time unless ``ended`` is given, so the UI's Duration stays
        the work it first logged (h62: evaluating a training a day later made its Duration a
        day)."""
        all_tags = {**(tags or {}), **owner_tags()}
        opened: str | None = None
        end_ms = None if ended is None else _millis(ended)
        try:
            # A Ctrl-C or SIGTERM during the calls below is raised at the end of this block,
            # inside the try, so the run it interrupted is closed too.
            with deferred_signals():
                if run_id is None:
                    all_tags = {**self.context_tags(), **all_tags,
                                **({PARENT_TAG: parent} if parent else {})}
                    opened = self.client.create_run(
                        self.experiment_id, run_name=name, tags=all_tags,
                        start_time=None if started is None else _millis(started)).info.run_id
                else:
                    # Owner first, then RUNNING: a concurrent close_stale_runs must not see
                    # the previous (finished) owner on a running run.
                    opened = run_id
                    if end_ms is None:
                        end_ms = self.client.get_run(run_id).info.end_time
                    self.log(run_id, tags=all_tags)
                    self.client.update_run(run_id, status="RUNNING")
            yield opened
        except BaseException as exc:
            # Not on a server found silent: the cleanup would fail at once, and its error
            # would replace the one that says how the server failed.
            if opened is not None and self.uri not in _SILENT_SERVERS:
                stopped = stopped_by_signal(exc)
                if not stopped:  # say why in the runs table, as the console did
                    said = str(exc) if isinstance(exc, MerError) else \
                        f"{type(exc).__name__}: {exc}"
                    self.client.set_tag(opened, NOTE_TAG, f"failed: {said}"[:NOTE_CHARS])
                self.client.set_terminated(opened, status="KILLED" if stopped else "FAILED")
            raise
        self.client.set_terminated(opened, status="FINISHED", end_time=end_ms)

    @contextmanager
    def fluent_run(self, run_id: str) -> Iterator[None]:
        """MLflow's global (fluent) API pointed at this store, with ``run_id`` (opened by
        ``run``) its active run, for calls that exist only there (see ``global_store``)."""
        import mlflow

        with global_store(self.uri), mlflow.start_run(run_id=run_id):
            yield

    @contextmanager
    def system_metrics(self, run_id: str, *, resume: bool) -> Iterator[None]:
        """MLflow's system metrics of this machine (system/cpu_utilization_percentage,
        system/system_memory_usage_megabytes, disk, network) logged to ``run_id`` while the
        block runs: one step per MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL seconds (MLflow's
        default, 10), the last, shorter interval included; ``resume`` continues the steps of a
        reopened run. Off when MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING is false. They describe the
        machine, not the model: MLflow only, never a report."""
        from mlflow.environment_variables import MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING as ENABLE
        from mlflow.exceptions import MlflowException
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

        if ENABLE.is_set() and not ENABLE.get():
            yield
            return
        monitor = SystemMetricsMonitor(run_id, resume_logging=resume, tracking_uri=self.uri)
        monitor.start()
        try:
            yield
        finally:
            with deferred_signals():
                monitor.finish()
                # finish() drops the samples of the interval the block's end cut short (all of
                # them when the block is shorter than one interval): they are logged here,
                # unless the server stopped answering (h61: one more call's retries and
                # warnings after mer's client had given up on it)
                if self.uri not in _SILENT_SERVERS and any(m.metrics for m in monitor.monitors):
                    try:
                        monitor.publish_metrics(monitor.aggregate_metrics())
                        monitor.mlflow_logger.flush()
                    except MlflowException as exc:  # a figure of the machine: not worth failing for
                        log.warning("could not log the last system metrics of run %s: %s",
                                    run_id, exc.message)

    def close_stale_runs(self) -> list[str]:
        """Mark FAILED, with a note, every RUNNING run of this store opened on this host by a
        process that no longer exists (killed by SIGKILL, a power cut, ...); return their ids.
        Runs of other hosts, and of live processes, are left alone."""
        experiments = [e.experiment_id for e in self.client.search_experiments()]
        host = host_id().replace("'", "''")
        runs = self.client.search_runs(
            experiments, max_results=1000,
            filter_string=f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = '{host}'")
        closed = []
        for stale in runs:
            tags = stale.data.tags
            try:
                pid = int(tags.get(PID_TAG, ""))
            except ValueError:
                continue
            if pid == os.getpid() or not _process_gone(pid, tags.get(PID_STARTED_TAG)):
                continue
            self.client.set_tag(stale.info.run_id, NOTE_TAG,
                                f"marked FAILED by mer (pid {os.getpid()}) at "
                                f"{time.strftime('%Y-%m-%d %H:%M:%S')}: process {pid} that "
                                "ran it ended without closing it (killed?)")
            self.client.set_terminated(stale.info.run_id, status="FAILED")
            closed.append(stale.info.run_id)
        if closed:
            log.warning("marked %d stale RUNNING MLflow run(s) FAILED: their process (killed?) "
                        "no longer exists", len(closed))
        return closed

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

    def log_figure(self, run_id: str, figure: Any, artifact_file: str) -> None:
        """A matplotlib figure as a PNG artifact, which the MLflow UI shows as an image."""
        self.client.log_figure(run_id, figure, artifact_file,
                               save_kwargs={"metadata": {"Software": None}})  # stable bytes

    def log_dataset(self, run_id: str, frame: Any, *, source: str | Path, name: str,
                    digest: str, targets: str, context: str = "training") -> None:
        """``frame`` (a pandas DataFrame read from ``source``) as the run's input dataset,
        which the MLflow UI lists in its Datasets column; one dataset per (name, digest)."""
        import warnings

        import mlflow.data
        from mlflow.entities import DatasetInput, InputTag
        from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

        with warnings.catch_warnings():
            # Two warnings that do not apply to a record of a training table: MLflow registers
            # two sources of local files, and hints at integer columns for model serving.
            warnings.filterwarnings("ignore", "The specified dataset source can be interpreted")
            warnings.filterwarnings("ignore", "Hint: Inferred schema contains integer")
            dataset = mlflow.data.from_pandas(frame, source=str(source), name=name,
                                              digest=digest, targets=targets)
            entity = dataset._to_mlflow_entity()
        self.client.log_inputs(run_id, datasets=[DatasetInput(
            entity, tags=[InputTag(MLFLOW_DATASET_CONTEXT, context)])])

    def log_json(self, run_id: str, obj: Any, artifact_file: str) -> None:
        self.client.log_text(run_id, json.dumps(obj, indent=2, sort_keys=True), artifact_file)

    def log_table(self, run_id: str, rows: list[dict[str, Any]], artifact_file: str) -> None:
        """A table the MLflow UI shows as one (artifact_file must end in .json). A table of
        that name already in the run is replaced: MLflow's log_table appends to it, which
        doubled the per-subject table of an evaluation run each time `mer evaluate` reran."""
        import pandas as pd
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        folder = posixpath.dirname(artifact_file) or None
        if any(f.path == artifact_file for f in self.client.list_artifacts(run_id, folder)):
            get_artifact_repository(self.client.get_run(run_id).info.artifact_uri
                                    ).delete_artifacts(artifact_file)
        self.client.log_table(run_id, data=pd.DataFrame(rows), artifact_file=artifact_file)

    def log_files(self, run_id: str, folder: str | Path, artifact_path: str | None = None
                  ) -> None:
        self.client.log_artifacts(run_id, str(folder), artifact_path)

    def log_file(self, run_id: str, file: str | Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(run_id, str(file), artifact_path)

    def run_url(self, run_id: str) -> str | None:
        """The MLflow UI's page of run ``run_id`` on the team server ($MLFLOW_TRACKING_URI
        http(s)://...); None for a local store, whose UI's address is whatever `mer ui
        --port` serves it at later (a break-it session: every version linked :5000 while the
        README advises --port 5050 when 5000 is taken)."""
        if not self.uri.startswith(("http://", "https://")):
            return None
        page = run_page(self.client.get_run(run_id).info.experiment_id, run_id)
        return f"{self.uri.rstrip('/')}/{page}"

    def find_run(self, tag: str, value: str, status: str | None = None,
                 name: str | None = None, any_name: bool = False) -> str | None:
        """The newest run of this experiment whose ``tag`` equals ``value`` (and whose status
        is ``status``, e.g. FINISHED, when given), named ``name`` when given, else, with
        ``any_name``, of any name (newest_run)."""
        return newest_run(self.client, [self.experiment_id], tag, value, status, name,
                          any_name)

    def newest_runs(self, tags: Mapping[str, str], params: Mapping[str, str],
                    status: str | None = None, limit: int = 20) -> list[Any]:
        """Up to ``limit`` runs (MLflow Run objects, their tags and metrics with them) of this
        experiment, newest first, whose ``tags`` and ``params`` have these values (and whose
        status is ``status`` when given)."""
        return self.client.search_runs([self.experiment_id],
                                       filter_string=_runs_where(tags, params, status),
                                       order_by=["attributes.start_time DESC"],
                                       max_results=limit)

    def artifact_names(self, run_id: str) -> set[str]:
        """The paths of the artifacts (files and folders) at the root of run ``run_id``."""
        return {item.path for item in self.client.list_artifacts(run_id)}

    @contextmanager
    def artifacts_copied(self, source: str, run_id: str) -> Iterator[Path]:
        """Download the root artifacts of run ``source`` that run ``run_id`` lacks into a
        temporary folder, yield it (to read them), then log them to ``run_id``."""
        import tempfile

        missing = self.artifact_names(source) - self.artifact_names(run_id)
        with tempfile.TemporaryDirectory() as folder:
            for name in sorted(missing):
                self.client.download_artifacts(source, name, folder)
            yield Path(folder)
            self.log_files(run_id, folder)

    def drop_tag(self, run_id: str, key: str) -> None:
        """Delete tag ``key`` of run ``run_id`` when it has one."""
        if key in self.client.get_run(run_id).data.tags:
            self.client.delete_tag(run_id, key)


def experiment_page(experiment_id: str) -> str:
    """An experiment's runs table in the MLflow UI (model-training view), relative to the
    UI's address."""
    return f"#/experiments/{experiment_id}/runs?{TRAINING_VIEW}"


def run_page(experiment_id: str, run_id: str) -> str:
    """A run's page in the MLflow UI (model-training view), relative to the UI's address."""
    return f"#/experiments/{experiment_id}/runs/{run_id}?{TRAINING_VIEW}"


def _millis(seconds: float) -> int:
    """Unix time in s -> MLflow's timestamps (ms)."""
    return round(seconds * 1000)


def _runs_where(tags: Mapping[str, str], params: Mapping[str, str] | None = None,
                status: str | None = None) -> str:
    """MLflow's search filter for runs whose ``tags`` and ``params`` have these values (and
    whose status is ``status``, when given)."""
    terms = [f"tags.`{key}` = '{value}'" for key, value in tags.items()]
    terms += [f"params.`{key}` = '{value}'" for key, value in (params or {}).items()]
    terms += [f"attributes.status = '{status}'"] if status else []
    return " and ".join(terms)


NAMED_RUNS_SEARCHED = 100  # newest runs of a tag value searched for one of a name


def newest_run(client: Any, experiment_ids: list[str], tag: str, value: str,
               status: str | None = None, name: str | None = None,
               any_name: bool = False) -> str | None:
    """The id of the newest run in ``experiment_ids`` whose ``tag`` equals ``value`` (and, when
    given, whose status is ``status`` and whose name is ``name``; with ``any_name``, the
    newest of any name when none has that name), or None. One search either way. (A break-it
    session: experiments whose params differ only outside training share a training and its
    predictions, and the baseline's rerun reopened an experiment's parent, named for it and
    holding its params.)"""
    runs = client.search_runs(experiment_ids, filter_string=_runs_where({tag: value}, None,
                                                                         status),
                              order_by=["attributes.start_time DESC"],
                              max_results=1 if name is None else NAMED_RUNS_SEARCHED)
    named = next((run for run in runs if name is None or run.info.run_name == name), None)
    found = named or (runs[0] if any_name and runs else None)
    return found.info.run_id if found else None


def evaluation_run_id(predictions_sha: str, root: str | Path | None = None,
                      name: str | None = None) -> str | None:
    """The newest parent run, in any experiment, that wrote the predictions whose sha256
    (mer.core.records.file_digest) is ``predictions_sha``, one named ``name`` first when
    given, or None. Links a registered model to its evaluation."""
    if not store_exists(root):
        return None
    client = mlflow_client(tracking_uri(root))
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return None
    return newest_run(client, experiments, PREDICTIONS_TAG, predictions_sha, name=name,
                      any_name=True)
