"""The whole pipeline as users run it: `dvc repro` of the default synthetic dataset, a no-op
rerun, a spotting variant in DVC's own copy of the project (`dvc exp run --temp`, as `dvc
queue start` runs each variant) and the rerun after an SVM parameter changes, in a copy of the
project; then `mer train`
(default params, every LOSO fold) on the embedded MEGC composite's 443 flow images, the
stand-in for the licensed composite (benchmarks.bench_compare builds it).

Targets (issue 12): the default `dvc repro` within 10 min and a LOSO run on ~442 flow images
within 15 min, on 2 cores. Wall times depend on what else the machine runs, so each note gives
the load average around the timed command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
STAGES = tuple(yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"])


def _ran(output: str) -> str:
    """The stages a `dvc repro` or `dvc exp run` output says it ran, in pipeline order."""
    return ", ".join(s for s in STAGES if f"Running stage '{s}'" in output)


def _timed(project: Path, *command: str) -> tuple[float, str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
           # `dvc init` reports to DVC's analytics endpoint before its config can say no
           "DVC_NO_ANALYTICS": "1"}
    start = time.perf_counter()
    result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return time.perf_counter() - start, result.stdout + result.stderr


def _loaded(project: Path, *command: str) -> tuple[float, str]:
    """``_timed`` with the 1-min load average before and after in its note."""
    before = os.getloadavg()[0]
    seconds, _ = _timed(project, *command)
    return seconds, f"load average {before:.1f} -> {os.getloadavg()[0]:.1f}"


def flow_images_train() -> dict:
    """The wall time of `mer train` on the embedded composite's flow images, default params."""
    from benchmarks.bench_compare import build
    from mer.config import TrainParams

    defaults = TrainParams()
    with tempfile.TemporaryDirectory() as folder:
        project = build("flow-images", Path(folder))
        seconds, load = _loaded(project, sys.executable, "-m", "mer.cli", "train")
        clips = len((project / "flow-images/labels.csv").read_text().splitlines()) - 1
    return {"benchmark": f"mer train, {clips} flow images (embedded MEGC composite, full "
                         "intensity), default params", "value": seconds, "unit": "s",
            "note": f"every LOSO fold of {', '.join(defaults.models)} and the floor on "
                    f"{defaults.parallel_folds} workers, the CNN's pretraining (once per "
                    f"project) included; target <= 900 s on 2 quiet cores; {load}"}


def run() -> list[dict]:
    dvc = (sys.executable, "-m", "dvc")
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        shutil.copytree(REPO / "src", project / "src",
                        ignore=shutil.ignore_patterns("__pycache__"))
        for name in ("dvc.yaml", "params.yaml", ".gitignore"):  # data/ is never committed
            shutil.copy(REPO / name, project)
        _timed(project, "git", "init", "-q")
        _timed(project, *dvc, "init", "-q")
        _timed(project, *dvc, "config", "core.analytics", "false")
        full, load = _loaded(project, *dvc, "repro")
        noop, _ = _timed(project, *dvc, "repro")
        _timed(project, "git", "add", "-A")  # the baseline, as `make baseline` commits it
        _timed(project, "git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid",
               "commit", "-q", "-m", "baseline")
        iou = yaml.safe_load((project / "params.yaml").read_text())["spotting"]["iou"]
        variant, variant_output = _timed(project, *dvc, "exp", "run", "--temp", "-S",
                                         f"spotting.iou={iou - 0.1:.2f}")
        params = yaml.safe_load((project / "params.yaml").read_text())
        params["train"]["svm"]["trials"] += 1
        (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        targeted, output = _timed(project, *dvc, "repro")
    return [
        {"benchmark": "dvc repro, default synthetic dataset, from nothing", "value": full,
         "unit": "s", "note": f"all {len(STAGES)} stages; target <= 600 s; {load}"},
        {"benchmark": "dvc repro with nothing changed", "value": noop, "unit": "s",
         "note": "target < 5 s"},
        {"benchmark": "dvc exp run --temp of spotting.iou alone", "value": variant, "unit": "s",
         "note": f"DVC's copy of the baseline, as a queued variant; reran: {_ran(variant_output)}"},
        {"benchmark": "dvc repro after train.svm.trials changes", "value": targeted, "unit": "s",
         "note": f"reran: {_ran(output)}"},
        flow_images_train(),
    ]


if __name__ == "__main__":
    from benchmarks.common import module_main

    raise SystemExit(module_main(run, __doc__))
