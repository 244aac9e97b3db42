"""Open the MLflow UI on 127.0.0.1 over this project's tracking store.

The same backend as every stage: $MLFLOW_TRACKING_URI if set, else <project>/mlflow.db with
artifacts in <project>/mlruns/. Each LOSO evaluation is one parent run with a child run per
(model, fold). Stop with Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from pathlib import Path

from mer.errors import MerError
from mer.tracking.store import UI_HOST as HOST
from mer.tracking.store import UI_PORT as DEFAULT_PORT
from mer.tracking.store import artifact_location, ensure_store, project_root, tracking_uri


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help="port to listen on (default: %(default)s)")


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


def run(args: argparse.Namespace) -> None:
    root = project_root()
    ensure_store(root)  # created under the store's lock, never by `mlflow ui` racing a stage
    command = ui_command(args.port, root)
    print(f"MLflow UI for {root}: http://{HOST}:{args.port} (Ctrl-C to stop)", file=sys.stderr)
    try:
        done = subprocess.run(command, cwd=root, env=ui_environment(), check=False)
    except KeyboardInterrupt:
        return
    if done.returncode not in (0, -2, 130):  # Ctrl-C ends the server with SIGINT
        raise MerError(f"`mlflow ui` exited with code {done.returncode}; is port {args.port} "
                       "already in use? Try `mer ui --port <another>`")
