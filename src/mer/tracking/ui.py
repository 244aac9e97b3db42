"""Open the MLflow UI on 127.0.0.1 over this project's tracking store.

The same backend as every stage: $MLFLOW_TRACKING_URI if set, else <project>/mlflow.db with
artifacts in <project>/mlruns/. Each LOSO evaluation is one parent run with a child run per
(model, fold). Once the server answers, it prints the address of the experiment's runs table in
the model-training view (MLflow's UI otherwise opens on its GenAI pages). Stop with Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from mer.errors import MerError
from mer.interrupts import clear_stop
from mer.paths import project_root
from mer.tracking.store import (
    DB_NAME,
    ENV_URI,
    artifact_location,
    check_tracking_uri,
    ensure_store,
    experiment_page,
    sqlite_file,
    store_exists,
    tracking_uri,
)
from mer.tracking.store import UI_HOST as HOST
from mer.tracking.store import UI_PORT as DEFAULT_PORT

READY_POLL_S = 0.5  # how often `mer ui` asks whether the server answers yet
STOP_S = 30  # how long a stopping server may take before `mer ui` returns anyway


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=port_number, default=DEFAULT_PORT,
                        help="port to listen on, 1-65535 (default: %(default)s)")


def port_number(text: str) -> int:
    """A TCP port to listen on, 1-65535 (argparse type: its error names the option). Not 0:
    the system would choose one, and mer could not say where the UI is."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port to listen on: give a "
                                         "number from 1 to 65535")
    return port


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


# MLflow's server also starts a job runner (a Huey consumer with worker processes) for its GenAI
# jobs: online trace scoring and archival. mer logs no traces; without it the server is 2
# processes instead of 16 on a 2-core machine.
SERVER_ENVIRONMENT = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def ui_environment() -> dict[str, str]:
    """This process's environment for the `mlflow ui` subprocess (SERVER_ENVIRONMENT set)."""
    return {**os.environ, **SERVER_ENVIRONMENT}


def ui_command(port: int, root: str | Path | None = None) -> list[str]:
    """The `mlflow ui` command line for this project's backend."""
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", tracking_uri(root),
               "--host", HOST, "--port", str(port),
               "--workers", "1"]  # one local user: MLflow's 4 workers took ~40 s to start
    location = artifact_location(root)
    if location is not None:
        # Our experiments store artifacts under file://<root>/mlruns; the UI reads them there.
        command += ["--default-artifact-root", location, "--no-serve-artifacts"]
    return command


def own_process_group() -> None:
    """Run in the server's process before it starts (``preexec_fn``): its own process group,
    so a terminal's Ctrl-C reaches `mer ui` alone, which stops the server with SIGTERM
    (uvicorn shuts down cleanly; on the terminal's SIGINT it printed a 45-line traceback, a
    break-it session); on Linux the server also gets SIGTERM when `mer ui` dies, however it
    dies (PR_SET_PDEATHSIG), so a closed terminal leaves no server holding the port."""
    os.setpgrp()
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG


def ui_address(home: str, experiment: str) -> str:
    """Where to point the browser at the MLflow server answering at ``home``
    ('http://127.0.0.1:5000', `mer ui`'s or a team's): the runs table of ``experiment`` in
    the model-training view (mer.tracking.store.TRAINING_VIEW), asked of the server's REST
    API, else (no such experiment yet) the UI's home."""
    home = home.rstrip("/")
    query = urllib.parse.urlencode({"experiment_name": experiment})
    try:
        with urllib.request.urlopen(f"{home}/api/2.0/mlflow/experiments/get-by-name?{query}",
                                    timeout=READY_POLL_S * 20) as response:
            found = json.loads(response.read())["experiment"]["experiment_id"]
    except (OSError, KeyError, ValueError):  # 404: the project has no runs yet
        return home
    return f"{home}/{experiment_page(str(found))}"


def wait_until_answers(server: subprocess.Popen, url: str, timeout_s: float | None = None
                       ) -> bool:
    """Poll ``url`` (a server's health page) until it answers (True), or ``server`` exits or
    ``timeout_s`` passes (False)."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while server.poll() is None and (deadline is None or time.monotonic() < deadline):
        try:
            with urllib.request.urlopen(url, timeout=READY_POLL_S):
                return True
        except OSError:
            time.sleep(READY_POLL_S)
    return False


def run(args: argparse.Namespace) -> None:
    from mer.config import TrackingParams, params_of, tracking_of

    root = project_root()
    server_uri = os.environ.get(ENV_URI, "")
    if not server_uri and not Path(args.params).exists() and not store_exists(root):
        params_of(args)  # neither a project nor a store: that error, no new store
    experiment = (tracking_of(args) if Path(args.params).exists()
                  else TrackingParams()).experiment
    if server_uri.startswith(("http://", "https://")):
        check_tracking_uri(server_uri)
        print(f"the runs are on the team server: its UI is {ui_address(server_uri, experiment)} "
              f"(experiment '{experiment}'); `mer ui` serves only a project's own "
              f"{DB_NAME} (unset {ENV_URI} for that)", file=sys.stderr)
        return
    database = sqlite_file(server_uri) if server_uri else None
    if database is not None and not database.is_file():
        # (h62: a mistyped path made its folders and an empty store, then was served as
        # the project's UI)
        what = ("is a folder, not an SQLite database file" if database.is_dir() else
                "does not exist, so it holds no runs")
        raise MerError(f"{ENV_URI}={server_uri}: {database} {what}: check the path, or unset "
                       f"{ENV_URI} to see the project's {DB_NAME}")
    new = database is None and not store_exists(root)
    ensure_store(root)  # created under the store's lock, never by `mlflow ui` racing a stage
    if new:  # (h66: made without a word, then served as if it held runs)
        print(f"mer ui: {root / DB_NAME} is new and holds no runs yet: `dvc repro` (or `mer "
              "train` and `mer evaluate`) logs them", file=sys.stderr)
    with socket.socket() as probe:  # else another server's answers would pass for ours
        # As uvicorn binds: a port whose last server has just stopped (its connections in
        # TIME_WAIT for a minute) is free; one a server listens on is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, args.port))
        except OSError:
            raise MerError(f"port {args.port} on {HOST} is in use (another `mer ui`?): stop "
                           "that server or try `mer ui --port <another>`") from None
    store = f" (runs in {database}, {ENV_URI})" if database is not None else ""
    print(f"starting the MLflow UI for {root}{store} on http://{HOST}:{args.port} ...",
          file=sys.stderr)
    server = subprocess.Popen(ui_command(args.port, root), cwd=root, env=ui_environment(),
                              preexec_fn=own_process_group)
    try:
        if wait_until_answers(server, f"http://{HOST}:{args.port}/health"):
            address = ui_address(f"http://{HOST}:{args.port}", experiment)
            print(f"MLflow UI for {root}: {address} (Ctrl-C to stop)", file=sys.stderr)
        code = server.wait()
    except KeyboardInterrupt:  # the way `mer ui` ends: a stop handled, not a stop to report
        clear_stop()
        print("mer ui: stopping the MLflow UI", file=sys.stderr)
        return
    finally:  # the server has its own process group: only mer stops it
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=STOP_S)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    if code != 0:
        raise MerError(f"`mlflow ui` exited with code {code} (its error is above); if it "
                       f"says the address is in use, try `mer ui --port <another>`")
