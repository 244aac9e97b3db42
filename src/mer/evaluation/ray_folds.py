"""LOSO folds as Ray tasks: train.backend ray (the optional extra: pip install 'mer[ray]').

Each pending (learner, fold) is one Ray task running the same ``run_fold`` as the local pool;
its FoldOutcome comes back to this process, which caches it and hands it on as soon as it
arrives. So the results are the local backend's bytes, an interrupted run resumes from the
fold cache, and a finished fold is never lost. Each task asks for one CPU, and one GPU when its
learner's CNN trains on one (train.cnn.accelerator gpu, or auto on a cluster with GPUs). A task
whose worker process dies (killed, out of memory, node lost) is rerun by Ray up to
``max_retries`` times; an exception raised by the fold itself is not retried.

Where: ``address`` (train.ray_address), else $RAY_ADDRESS, else a Ray started here for this run
with ``cpus`` CPUs, without dashboard or usage reporting, and stopped afterwards (Ray 2.60
turns a 127.0.0.1 node address into the machine's own and listens on every interface; its
token authentication, on by default, keeps others out). A process already connected (ray.init
called before, e.g. by a test) keeps its connection. Every worker must run the same mer and
numeric libraries as this process: a task checks the code digest the fold keys hash, and
refuses to compute a fold with other code.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from mer.core.clipset import ClipSet
from mer.core.workers import process_count
from mer.errors import MerError, exception_chain
from mer.evaluation.loso import FoldOutcome, Learner, code_digest, run_fold
from mer.evaluation.splits import Fold
from mer.interrupts import stop_if_requested

log = logging.getLogger(__name__)

ADDRESS_ENV = "RAY_ADDRESS"  # Ray's own variable for the cluster to join
CPUS_PER_FOLD = 1  # a fold is single-threaded (run_fold pins BLAS, torch and OpenCV to one thread)
GPUS_PER_FOLD = 1  # a CNN fold on a GPU has it to itself
CONNECT_TIMEOUT_S = 10.0  # how long a Ray address may take to accept a connection
JOIN_ADVICE = "start it (`ray start --head`) or fix train.ray_address / $RAY_ADDRESS"

Task = tuple[int, Learner, Fold, Path | None, str]  # (learner index, learner, fold, cache, key)
Finish = Callable[[int, FoldOutcome, Path | None, str], None]


@dataclass(frozen=True)
class RayOptions:
    """train.backend ray: the cluster (None: $RAY_ADDRESS, else a Ray started here with
    ``cpus`` CPUs) and how often a fold whose worker died is rerun."""

    address: str | None = None
    cpus: int = 1
    max_retries: int = 3


def import_ray() -> Any:
    """Ray, imported with token authentication on when this machine holds a token
    (use_token_when_there_is_one: Ray reads RAY_AUTH_MODE as it is imported)."""
    if "ray" not in sys.modules:
        use_token_when_there_is_one()
    try:
        import ray
    except ImportError:
        raise MerError("train.backend is ray but Ray is not installed here: "
                       "pip install 'mer[ray]' (or set train.backend: local)") from None
    return ray


# What an HTTP/2 client sends first (RFC 9113, 3.4: the preface, then an empty SETTINGS
# frame); a gRPC server, as Ray's GCS and client server are, answers with a SETTINGS frame.
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
HTTP2_SETTINGS = 4  # frame type, byte 3 of a frame's 9-byte header


# What ray.init takes: 'auto', host:port (the head's GCS), ray://host:port (Ray Client).
_ADDRESS = re.compile(r"(?:ray://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):([0-9]{1,5})")
_HIGHEST_PORT = 65535


def checked_address(address: str | None, named_by: str) -> str | None:
    """``address`` without surrounding spaces (as pasted from a document), None when empty;
    a MerError naming ``named_by`` (the param or variable) when it is no Ray address: Ray
    raised a raw ValueError for 'localhost', and waited minutes for '127.0.0.1:6390 ' (a
    break-it session)."""
    if address is None or not address.strip():
        return None
    address = address.strip()
    match = _ADDRESS.fullmatch(address)
    if address != "auto" and (match is None or not 0 < int(match.group(2)) <= _HIGHEST_PORT):
        raise MerError(f"{named_by} is {address!r}, which is no Ray address: write the head's "
                       "host:port (10.0.0.5:6379, its GCS port, as `ray start --head` prints "
                       "it), ray://host:10001 for Ray Client, or auto for a cluster started "
                       "on this machine")
    return address


def check_answers(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """A MerError unless a gRPC server (Ray's GCS, or its client server for 'ray://')
    answers at a Ray address's host:port ('10.0.0.5:6379', 'ray://head:10001') within
    ``timeout`` s: ray.init would wait for anything else for many minutes, printing only its
    own retries, with its own SIGTERM handler in place. Addresses without a port ('auto')
    are left to ray.init."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return
    where = f"{host}:{port}"
    try:
        link = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
    except OSError as exc:
        raise MerError(f"cannot join the Ray cluster at {address}: nothing answers at {where} "
                       f"({exc.strerror or type(exc).__name__}, within {timeout:g} s); "
                       f"{JOIN_ADVICE}") from None
    with link:
        try:
            link.sendall(HTTP2_PREFACE)
            header = link.recv(9)
        except OSError:  # no answer in time, or the connection dropped
            header = b""
    if len(header) < 4 or header[3] != HTTP2_SETTINGS:
        said = f"it said {header[:16]!r}" if header else f"no answer within {timeout:g} s"
        raise MerError(f"cannot join the Ray cluster at {address}: what answers at {where} is "
                       f"not a Ray cluster (no gRPC server: {said}; a wrong port, or another "
                       f"service?); {JOIN_ADVICE}")


# Where Ray looks for its authentication token (Ray 2.60, docs.ray.io ray-security/token-auth):
# the variable holding it, the variable naming its file, the default file.
TOKEN_ENV, TOKEN_PATH_ENV, AUTH_MODE_ENV = "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE"
TOKEN_ADVICE = ("copy the head node's ~/.ray/auth_token to this machine's ~/.ray/auth_token "
                "(`ray get-auth-token` on the head prints it), or export RAY_AUTH_TOKEN with it")


def _token_file() -> Path:
    return Path(os.environ.get(TOKEN_PATH_ENV) or Path.home() / ".ray" / "auth_token")


def use_token_when_there_is_one() -> None:
    """Set RAY_AUTH_MODE token when this machine holds a token and it is not set, as `ray
    start --head` itself does (Ray 2.60: it turns token authentication on whenever a token
    exists, and any local ray.init writes one to ~/.ray/auth_token), where ray.init(address=
    ...) never does: the README's `ray start --head` then `mer train` was refused, and Ray
    said why only in its log lines (a break-it session). A cluster without token
    authentication accepts such a driver too, and a Ray started here uses a token anyway."""
    if AUTH_MODE_ENV not in os.environ and (os.environ.get(TOKEN_ENV) or _token_file().is_file()):
        os.environ[AUTH_MODE_ENV] = "token"


def _token_here() -> str:
    """What token this machine gives, for a message."""
    if os.environ.get(AUTH_MODE_ENV, "token").lower() != "token":
        return f"{AUTH_MODE_ENV} is {os.environ[AUTH_MODE_ENV]!r} here"
    if os.environ.get(TOKEN_ENV):
        return f"the one ${TOKEN_ENV} holds is not the cluster's"
    if _token_file().is_file():
        return f"the one in {_token_file()} is not the cluster's"
    return f"this machine has none ({_token_file()} does not exist)"


def _refused_token(exc: BaseException) -> bool:
    """True when a failed ray.init was refused for its authentication token: Ray raises its
    AuthenticationError and then a ConnectionError from it."""
    return any(type(cause).__name__ == "AuthenticationError" or "InvalidAuthToken" in str(cause)
               for cause in exception_chain(exc))


def connect(ray: Any, options: RayOptions) -> bool:
    """Join the cluster ``options`` names, or start a local Ray; True when this call did
    (the caller then shuts it down), False when this process was connected already.

    ray.init replaces this process's SIGTERM handler with ``sys.exit(15)``; the handler it
    found (mer's: exit 143, runs KILLED, mer.cli) is put back."""
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no network at run time
    address = checked_address(options.address, "train.ray_address") or \
        checked_address(os.environ.get(ADDRESS_ENV), f"${ADDRESS_ENV}")
    if address:
        check_answers(address)
    on_sigterm = signal.getsignal(signal.SIGTERM)
    try:
        if address:
            ray.init(address=address, logging_level="WARNING")
        else:
            # Workers of a Ray started here import what this process imports, as the local
            # pool's spawned workers do: its sys.path. "local": a Ray of its own even when a
            # `ray start` cluster runs on this machine, which ray.init would otherwise join,
            # refusing num_cpus with a traceback (h61); to use that cluster, name it.
            search = os.pathsep.join(p for p in sys.path if p and Path(p).is_dir())
            cpus = process_count(options.cpus, options.cpus, "train.parallel_folds")
            ray.init(address="local", num_cpus=cpus, include_dashboard=False,
                     logging_level="WARNING", runtime_env={"env_vars": {"PYTHONPATH": search}})
    except Exception as exc:  # Ray's AuthenticationError, raised bare or under a ConnectionError
        if address and _refused_token(exc):
            raise MerError(f"cannot join the Ray cluster at {address}: it asks for Ray's "
                           f"authentication token, and {_token_here()}; {TOKEN_ADVICE}"
                           ) from None
        if not isinstance(exc, ConnectionError):
            raise
        raise MerError(f"cannot join the Ray cluster at {address} ({exc}); "
                       f"{JOIN_ADVICE}") from None
    finally:
        if threading.current_thread() is threading.main_thread() and on_sigterm is not None:
            signal.signal(signal.SIGTERM, on_sigterm)
    return True


def gpus_for(learner: Learner, cluster_gpus: float) -> int:
    """GPUs one fold of ``learner`` asks for: its ``accelerator`` (learners with a CNN have
    one) is gpu, or auto on a cluster with GPUs. MerError: gpu on a cluster without any
    (the task would wait for one forever)."""
    accelerator = getattr(learner, "accelerator", "cpu")
    if accelerator == "gpu" and not cluster_gpus:
        raise MerError(f"train.cnn.accelerator is gpu but the Ray cluster has no GPU "
                       f"({learner.name} could never start); add a GPU node or set "
                       "train.cnn.accelerator to auto or cpu")
    return GPUS_PER_FOLD if accelerator == "gpu" or (accelerator == "auto" and cluster_gpus) \
        else 0


@cache
def _worker_code() -> str:
    return code_digest()


def _fold_task(learner: Learner, clips: ClipSet, fold: Fold, seed: int, code: str
               ) -> FoldOutcome:
    """One fold on a Ray worker, refused when the worker's code is not the driver's."""
    if _worker_code() != code:
        import socket

        raise MerError(f"the Ray worker on {socket.gethostname()} runs another mer or other "
                       "numeric library versions than the driver (code digest "
                       f"{_worker_code()[:12]} vs {code[:12]}); install the same versions on "
                       "every node")
    return run_fold(learner, clips, fold, seed)


def run_on_ray(clips: ClipSet, tasks: Sequence[Task], seed: int, options: RayOptions,
               finish: Finish) -> None:
    """Run every task as a Ray task; ``finish`` each outcome in this process as it arrives.

    On any error or interrupt the tasks still queued or running are cancelled (a cluster
    must not go on computing folds nobody will use); the Ray this call started is stopped."""
    ray = import_ray()
    started = connect(ray, options)
    refs: dict[Any, tuple[int, Path | None, str]] = {}
    try:
        resources = ray.cluster_resources()
        cluster_gpus = resources.get("GPU", 0)
        if resources.get("CPU", 0) < CPUS_PER_FOLD:  # an autoscaler may yet add nodes
            log.warning("the Ray cluster has no CPU for a fold now (%g CPUs): the folds wait "
                        "until a node with CPUs joins (`ray start --address <head>:<port>` on "
                        "it); stop with Ctrl-C (finished folds are kept)",
                        resources.get("CPU", 0))
        clips_ref = ray.put(clips)  # once, not with every task
        code = code_digest()
        remote = ray.remote(_fold_task)
        for li, learner, fold, path, key in tasks:
            ref = remote.options(
                num_cpus=CPUS_PER_FOLD, num_gpus=gpus_for(learner, cluster_gpus),
                max_retries=options.max_retries, retry_exceptions=False,
                name=f"{learner.name} fold {fold.index} ({fold.subject})",
            ).remote(learner, clips_ref, fold, seed, code)
            refs[ref] = (li, path, key)
        remaining = list(refs)
        while remaining:
            stop_if_requested()  # a Ctrl-C or SIGTERM Python dropped (mer.interrupts)
            ready, remaining = ray.wait(remaining, num_returns=1)
            li, path, key = refs[ready[0]]
            finish(li, _result(ray, ready[0], options), path, key)
    except BaseException:
        for ref in refs:
            # A task that finished meanwhile, or a cluster already gone: nothing to stop.
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        raise
    finally:
        if started:
            ray.shutdown()


# What a worker whose Python lacks a module says when it unpickles a task's arguments (a node
# started from another environment: a break-it session got 41 lines of Ray's traceback).
_MISSING_MODULE = re.compile(r"No module named '([^']+)'")


def _result(ray: Any, ref: Any, options: RayOptions) -> FoldOutcome:
    """The fold's outcome; its own exception as itself (a MerError stays one), a worker that
    died more than ``max_retries`` times as a MerError."""
    try:
        return ray.get(ref)
    except (ray.exceptions.RayTaskError, ray.exceptions.RaySystemError) as exc:
        if isinstance(getattr(exc, "cause", None), MerError):  # a user's mistake: its message
            raise exc.cause from None
        missing = _MISSING_MODULE.search(str(exc))
        if missing:  # before any mer code ran there: the task's arguments need mer to load
            raise MerError(f"a Ray worker cannot import {missing.group(1)} ({missing.group(0)}"
                           "): install this clone's mer, with the same libraries, in the Python "
                           "that runs `ray start` on every node (pip install -e '.[ray]'), then "
                           "restart the nodes; finished folds are kept, rerun to resume"
                           ) from None
        raise
    except (ray.exceptions.LocalRayletDiedError, ray.exceptions.ObjectLostError) as exc:
        # (h61: `ray stop` mid-run ended in Ray's 33-line traceback)
        raise MerError(f"a fold's result was lost: the Ray cluster, or the node that held it, "
                       f"went away ({type(exc).__name__}); finished folds are kept: start the "
                       "cluster again (or see its logs) and rerun to resume") from None
    except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
            ray.exceptions.OutOfMemoryError) as exc:
        times = options.max_retries + 1  # (h61: "died 1 times")
        raise MerError(f"a fold's Ray worker died {times} time{'s' if times > 1 else ''} "
                       f"({type(exc).__name__}); see the cluster's logs, raise "
                       "train.ray_max_retries or give the workers more memory; finished "
                       "folds are kept, rerun to resume") from None
