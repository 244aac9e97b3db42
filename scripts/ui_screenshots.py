"""Screenshots of the MLflow UI over a mer project, for the README (docs/ui/).

    python scripts/ui_screenshots.py --tiny build/ui-project    # build a tiny project first
    python scripts/ui_screenshots.py --project . --out docs/ui   # an existing project

Starts the server `mer ui` runs (mer.tracking.ui.ui_command) on 127.0.0.1 with a free port
against the project's store, finds through its REST API the experiment, the newest parent run
and the champion (else newest) version of the registered model, and has headless Chromium
capture three pages: runs.png (the experiment's runs), run.png (that training's parent run:
its metrics, datasets, tags) and model-version.png (the version, its description and tags).
Nothing is downloaded. MLflow's UI renders in the browser: Chromium gets a virtual-time budget
to finish before capturing; look at the PNGs before committing them.

--tiny runs the real stages on a small synthetic dataset (4 subjects, 24 clips, 2 CNN epochs:
a few minutes on 2 cores) in that folder, then promotes version 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from mer.errors import MerError
from mer.tracking.runs import TRAINING_TAG
from mer.tracking.store import TRAINING_VIEW, experiment_page, run_page
from mer.tracking.ui import SERVER_ENVIRONMENT, free_port, ui_command, wait_until_answers

REPO = Path(__file__).resolve().parents[1]
# Window per page, px: the runs table wide enough for metric columns, the run and version
# pages tall enough for their metrics and tags.
WINDOWS = {"runs.png": (1800, 900), "run.png": (1400, 1800), "model-version.png": (1400, 1300)}
RENDER_MS = 20000  # Chromium's virtual time for the single-page app to fetch and draw
SERVER_START_S = 120
# The tiny project: every other param is params.yaml's. 2 long videos of 8 s: the smallest
# spotting corpus whose thresholds `mer register` stores with the model.
TINY = {"data": {"synthetic": {"subjects": 4, "clips": 24}},
        "train": {"cnn": {"epochs": 2}, "svm": {"trials": 3, "inner_folds": 2}},
        "spotting": {"synthetic": {"subjects": 2, "seconds": 8.0, "micro": 2, "macro": 1}}}


def stage_commands() -> list[str]:
    """The pipeline's commands in dvc.yaml's order (`mer synthesize` ... `mer register`): the
    tiny project runs exactly what `dvc repro` runs, so a new stage cannot be left out."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    return [stage["cmd"] for stage in stages.values()]


def merged(base: dict, update: dict) -> dict:
    return {**base, **{k: merged(base.get(k, {}), v) if isinstance(v, dict) else v
                       for k, v in update.items()}}


def environment(project: Path) -> dict[str, str]:
    """This environment with the project's store (not a team server) and this interpreter's
    scripts (mlflow, dvc) first on PATH."""
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1",
           "MLFLOW_TRACKING_URI": f"sqlite:///{project.resolve() / 'mlflow.db'}",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MLFLOW_REGISTRY_URI", None)
    return env


def check_folder(project: Path, tiny: bool) -> None:
    """--tiny wants a folder without a project, --project one with its MLflow store."""
    if tiny and (project / "mlflow.db").exists():
        raise MerError(f"{project} already holds a project (mlflow.db): pass it as --project, "
                       "or give --tiny a new folder")
    if not tiny and not (project / "mlflow.db").exists():
        raise MerError(f"{project} has no mlflow.db: run the pipeline there first, or "
                       "build a tiny project with --tiny FOLDER")


def build_tiny(project: Path) -> None:
    """The real stages, in ``project`` (check_folder), on TINY params; version 1 promoted to
    champion."""
    project.mkdir(parents=True, exist_ok=True)
    params = merged(yaml.safe_load((REPO / "params.yaml").read_text()), TINY)
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    for command in (*stage_commands(), "mer promote --version 1"):
        print(command, file=sys.stderr)
        done = subprocess.run([sys.executable, "-m", "mer.cli", *command.split()[1:]],
                              cwd=project, env=environment(project), check=False)
        if done.returncode != 0:
            raise MerError(f"`{command}` failed in {project} (code {done.returncode})")


@contextmanager
def ui_server(project: Path, log: Path) -> Iterator[str]:
    """The base URL of `mer ui`'s server over ``project``; stopped (its process group) after."""
    port = free_port()
    with log.open("wb") as output:
        process = subprocess.Popen(ui_command(port, project), cwd=project,
                                   env={**environment(project), **SERVER_ENVIRONMENT},
                                   stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            if not wait_until_answers(process, f"{url}/health", SERVER_START_S):
                if process.poll() is not None:
                    raise MerError(f"the MLflow UI server exited: {log.read_text()[-2000:]}")
                raise MerError(f"the MLflow UI server did not start; see {log}")
            yield url
        finally:
            os.killpg(process.pid, 15)
            process.wait(timeout=30)


def api(url: str, endpoint: str, **query: str) -> dict:
    with urllib.request.urlopen(f"{url}/api/2.0/mlflow/{endpoint}?"
                                f"{urllib.parse.urlencode(query)}", timeout=30) as response:
        return json.loads(response.read())


def pages(url: str, experiment: str) -> dict[str, str]:
    """File name -> UI page (hash route) to capture."""
    try:
        found = api(url, "experiments/get-by-name", experiment_name=experiment)["experiment"]
    except OSError:
        raise MerError(f"the project has no MLflow experiment '{experiment}': run `mer train` "
                       "and `mer evaluate` first (or --tiny)") from None
    experiment_id = found["experiment_id"]
    body = json.dumps({"experiment_ids": [experiment_id], "max_results": 1000,
                       "order_by": ["attributes.start_time DESC"]}).encode()
    request = urllib.request.Request(f"{url}/api/2.0/mlflow/runs/search", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        runs = json.loads(response.read()).get("runs", [])
    parents = [r for r in runs
               if any(t["key"] == TRAINING_TAG for t in r["data"].get("tags", []))
               and r["data"].get("metrics")]
    if not parents:
        raise MerError("no parent run with metrics: run `mer train` and `mer evaluate` first")
    models = api(url, "registered-models/search").get("registered_models", [])
    if not models:
        raise MerError("no registered model: run `mer register` first")
    model = models[0]
    aliases = {a["alias"]: a["version"] for a in model.get("aliases", [])}
    version = aliases.get("champion", max((v["version"] for v in model["latest_versions"]),
                                          key=int))
    name = urllib.parse.quote(model["name"])
    return {"runs.png": f"{url}/{experiment_page(experiment_id)}",
            "run.png": f"{url}/{run_page(experiment_id, parents[0]['info']['run_id'])}",
            "model-version.png": f"{url}/#/models/{name}/versions/{version}?{TRAINING_VIEW}"}


def capture(chromium: str, page: str, out: Path) -> None:
    width, height = WINDOWS[out.name]
    # Chromium refuses to run as root with its sandbox (containers, CI); it only opens our UI.
    sandbox = ["--no-sandbox"] if os.geteuid() == 0 else []
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [chromium, "--headless", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
             *sandbox, f"--user-data-dir={profile}", f"--window-size={width},{height}",
             f"--virtual-time-budget={RENDER_MS}", f"--screenshot={out}", page],
            capture_output=True, text=True, check=False, timeout=180)
    if done.returncode != 0 or not out.exists():
        raise MerError(f"Chromium could not capture {page}: {done.stderr[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--project", type=Path, help="an existing project folder")
    where.add_argument("--tiny", type=Path, help="a new folder to build a tiny project in")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "ui")
    parser.add_argument("--experiment", default="mer")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args(argv)
    try:
        project = (args.tiny or args.project).resolve()
        check_folder(project, tiny=args.tiny is not None)  # the folder first: on any machine
        if not Path(args.chromium).exists():  # before minutes of building
            raise MerError(f"no Chromium at {args.chromium}: install it (apt-get install "
                           "chromium) or pass --chromium PATH")
        if args.tiny:
            build_tiny(project)
        args.out.mkdir(parents=True, exist_ok=True)
        with ui_server(project, args.out / "server.log") as url:
            for name, page in pages(url, args.experiment).items():
                capture(args.chromium, page, args.out / name)
                print(f"{args.out / name}: {page}", file=sys.stderr)
        (args.out / "server.log").unlink()
    except MerError as exc:
        print(f"ui_screenshots: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
