"""Faults of the MLflow tracking store and of stopped trainings, all real: concurrent `mer`
processes racing to create mlflow.db, a store an earlier race left half-migrated, SIGTERM and
SIGKILL sent to `mer train` (serial and with parallel fold workers), Ctrl-C while the workers
of `mer train`, `mer synthesize` or `mer faces` start, runs left RUNNING by a dead process, and
`mer predict` outside a project.

The killed commands run as subprocesses (`python -m mer.cli`) on a tiny toy project (6
subjects x 6 clips, toy.FAST_TRAIN: 2 CNN epochs without pretraining, 3 Optuna trials); most
of their time is Python imports.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path

import cv2
import numpy as np
import psutil
import pytest
import yaml
from mlflow import MlflowClient

from mer.cli import Terminated, _install_handlers, main
from mer.config import TrainParams
from mer.core.workers import parallel_map
from mer.errors import MerError, exception_chain
from mer.evaluation import loso
from mer.evaluation.loso import run_loso
from mer.models.cnn import FlowNetModule
from mer.models.learners import build_learners
from mer.tracking.store import DB_NAME, PARENT_TAG, Tracker, _unreachable, tracking_uri
from toy import FAST_TRAIN, toy_clips, write_toy

pytestmark = pytest.mark.faults

# The run tags that name a run's process (mer.tracking.store.PID_TAG, NOTE_TAG, HOST_TAG),
# spelled out so this file also runs, and fails test by test, against the code before them.
PID_TAG, NOTE_TAG, HOST_TAG = "mer.pid", "mer.note", "mer.host"
STARTUP_S = 240  # imports and store creation on a busy 2-core machine
GONE_S = 30  # how long the workers of a killed parent may take to notice


@pytest.fixture
def own_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ignore a team MLFLOW_TRACKING_URI of the developer's shell."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def make_project(folder: Path, workers: int = 1) -> Path:
    write_toy(folder / "data")
    (folder / "params.yaml").write_text(yaml.safe_dump(
        {"train": {"parallel_folds": workers, **FAST_TRAIN}}))
    return folder


@pytest.fixture
def project(tmp_path: Path, own_store: None) -> Path:
    return make_project(tmp_path / "project")


def start(project: Path, *args: str, log: str = "mer") -> subprocess.Popen[bytes]:
    """`mer <args>` in ``project`` as its own process; stdout and stderr to files there."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["NO_ALBUMENTATIONS_UPDATE"] = "1"
    with (project / f"{log}.out").open("wb") as out, (project / f"{log}.err").open("wb") as err:
        return subprocess.Popen([sys.executable, "-m", "mer.cli", *args], cwd=project,
                                env=env, stdout=out, stderr=err)


def stderr_of(project: Path, log: str = "mer") -> str:
    return (project / f"{log}.err").read_text(errors="replace")


def wait_until(condition: Callable[[], bool], timeout: float, what: str,
               process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the process ended (code {process.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def folds_done(project: Path) -> int:
    return len(list((project / "data" / "folds").glob("*.json")))


def runs_of(project: Path) -> list:
    client = MlflowClient(tracking_uri(project))
    experiments = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(experiments, max_results=1000)


def parents(runs: list) -> list:
    return [r for r in runs if PARENT_TAG not in r.data.tags]


@pytest.fixture
def reap() -> Iterator[list[psutil.Process]]:
    """Processes a test started (directly or not): whatever still lives at the end is
    killed, by pid, so a failing test leaves no orphan behind."""
    started: list[psutil.Process] = []
    yield started
    for process in started:
        with suppress(psutil.Error):
            process.kill()


def tree(process: subprocess.Popen[bytes], reap: list[psutil.Process]) -> list[psutil.Process]:
    """The descendants of ``process`` (fold workers, multiprocessing's resource tracker)."""
    found = psutil.Process(process.pid).children(recursive=True)
    reap.extend(found)
    return found


# 1. Creating the store under concurrency ------------------------------------------------------

def test_concurrent_commands_on_a_new_project_share_one_working_store(project, reap):
    """Three `mer evaluate` started at once on a project with no mlflow.db: each creates or
    waits for the store, none shows a migration traceback, and the store works after."""
    processes = [start(project, "evaluate", log=f"evaluate{i}") for i in range(3)]
    reap.extend(psutil.Process(p.pid) for p in processes)
    codes = [p.wait(timeout=STARTUP_S) for p in processes]
    errors = [stderr_of(project, f"evaluate{i}") for i in range(3)]
    for code, err in zip(codes, errors, strict=True):
        assert "Traceback" not in err, err
        assert code == 2 and "reports/predictions.csv not found" in err, err
    with sqlite3.connect(project / DB_NAME) as con:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert not any(t.startswith("_alembic_tmp_") for t in tables)
    tracker = Tracker("mer", project)
    with tracker.run("after") as run:
        tracker.log(run, metrics={"uar": 0.5})
    assert MlflowClient(tracking_uri(project)).get_run(run).data.metrics == {"uar": 0.5}


@pytest.mark.slow
def test_two_trainings_at_once_one_trains_the_other_refuses(project, reap):
    """`mer train` twice at once on a new project: one trains, the other stops with one line
    saying another training runs here; the store holds exactly one finished LOSO run."""
    processes = [start(project, "train", log=f"train{i}") for i in range(2)]
    reap.extend(psutil.Process(p.pid) for p in processes)
    codes = sorted(p.wait(timeout=4 * STARTUP_S) for p in processes)
    errors = [stderr_of(project, f"train{i}") for i in range(2)]
    assert not any("Traceback" in e for e in errors), errors
    assert codes == [0, 2], errors
    refusal = next(e for e in errors if "error:" in e)
    assert "another `mer train` is running" in refusal and "folds.lock" in refusal
    assert [r.info.status for r in parents(runs_of(project))] == ["FINISHED"]


def half_created_store(db: Path, runs: int = 0) -> None:
    """What a crashed concurrent creation by an older mer leaves: the initial tables, no
    migration recorded, and alembic's temporary copy of the tags table."""
    import sqlalchemy
    from mlflow.store.tracking.dbmodels.initial_models import Base as InitialBase

    engine = sqlalchemy.create_engine(f"sqlite:///{db}")
    InitialBase.metadata.create_all(engine)
    engine.dispose()
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE _alembic_tmp_tags (key VARCHAR(250), value VARCHAR(5000), "
                    "run_uuid VARCHAR(32))")
        for i in range(runs):
            con.execute("INSERT INTO runs (run_uuid, experiment_id) VALUES (?, 0)", (f"r{i}",))
    con.close()


def test_a_store_left_half_created_and_empty_is_set_aside_and_rebuilt(tmp_path, own_store):
    half_created_store(tmp_path / DB_NAME)
    before = (tmp_path / DB_NAME).read_bytes()
    tracker = Tracker("mer", tmp_path)
    with tracker.run("works"):
        pass
    aside = list(tmp_path.glob(f"{DB_NAME}.broken-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == before  # kept, not deleted


def test_a_store_left_half_created_with_runs_is_refused_untouched(tmp_path, own_store):
    half_created_store(tmp_path / DB_NAME, runs=2)
    before = (tmp_path / DB_NAME).read_bytes()
    with pytest.raises(MerError) as error:
        Tracker("mer", tmp_path)
    message = str(error.value)
    assert str(tmp_path / DB_NAME) in message and "_alembic_tmp_tags" in message
    assert "back it up" in message and "mlflow db upgrade" in message
    assert (tmp_path / DB_NAME).read_bytes() == before
    assert not list(tmp_path.glob(f"{DB_NAME}.broken-*"))


KILLED_MID_WRITE = """
import os, signal, sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA cache_size=1")  # spill to the file: the journal is hot
con.execute("BEGIN")
for i in range(3000):
    con.execute("INSERT INTO experiment_tags (key, value, experiment_id) VALUES (?, ?, 0)",
                (f"k{i}", "x" * 500))
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_store_killed_mid_write_opens_with_its_runs(tmp_path, own_store):
    """SIGKILL in the middle of a store write leaves a hot journal beside mlflow.db; the next
    command rolls it back and keeps every run. (A guard on the store check added with these
    fixes: it passes on the code before them too.)"""
    tracker = Tracker("mer", tmp_path)
    with tracker.run("kept") as kept:
        tracker.log(kept, metrics={"uar": 0.5})
    killed = subprocess.run([sys.executable, "-c", KILLED_MID_WRITE, str(tmp_path / DB_NAME)],
                            check=False)
    assert killed.returncode == -signal.SIGKILL
    assert (tmp_path / f"{DB_NAME}-journal").exists()
    tracker = Tracker("mer", tmp_path)
    assert tracker.client.get_run(kept).data.metrics == {"uar": 0.5}


# 2. Stopped trainings ---------------------------------------------------------------------------

@pytest.mark.slow
def test_sigterm_then_sigkill_mid_train_resume_to_the_uninterrupted_metrics(
        tmp_path, own_store, monkeypatch, reap):
    """SIGTERM: exit 143, one line, runs KILLED. SIGKILL: runs left RUNNING, which the next
    run marks FAILED with a note. The rerun resumes from data/folds and `mer evaluate` writes
    the bytes of an uninterrupted run."""
    reference = make_project(tmp_path / "reference")
    monkeypatch.chdir(reference)
    assert main(["train"]) == 0 and main(["evaluate"]) == 0
    expected = (reference / "reports" / "metrics.json").read_bytes()

    project = make_project(tmp_path / "project")
    first = start(project, "train", log="sigterm")
    reap.append(psutil.Process(first.pid))
    wait_until(lambda: folds_done(project) >= 1, STARTUP_S, "a first fold", first)
    first.send_signal(signal.SIGTERM)
    code = first.wait(timeout=60)
    err = stderr_of(project, "sigterm")
    assert code == 143, err
    assert "Traceback" not in err, err
    assert err.strip().splitlines()[-1].startswith("mer train: terminated (SIGTERM)")
    runs = runs_of(project)
    assert [r.info.status for r in parents(runs)] == ["KILLED"], err  # err: the watchdog's?
    assert all(r.info.status != "RUNNING" for r in runs), err
    kept = folds_done(project)

    second = start(project, "train", log="sigkill")
    reap.append(psutil.Process(second.pid))
    wait_until(lambda: folds_done(project) > kept, STARTUP_S, "a new fold", second)
    second.kill()
    second.wait(timeout=60)
    killed = [r for r in runs_of(project) if r.data.tags.get(PID_TAG) == str(second.pid)]
    assert any(r.info.status == "RUNNING" for r in killed)  # the fault is real

    monkeypatch.chdir(project)
    assert main(["train"]) == 0 and main(["evaluate"]) == 0
    assert (project / "reports" / "metrics.json").read_bytes() == expected
    runs = {r.info.run_id: r for r in runs_of(project)}
    assert all(r.info.status != "RUNNING" for r in runs.values())
    for run in killed:
        if run.info.status == "RUNNING":
            closed = runs[run.info.run_id]
            assert closed.info.status == "FAILED"
            assert f"process {second.pid}" in closed.data.tags[NOTE_TAG]
    assert sorted(r.info.status for r in parents(list(runs.values()))) == [
        "FAILED", "FINISHED", "KILLED"]
    # The resumed parent names the stopped ones that hold the runs of the folds it did not
    # fit again (a break-it session: no link between them in the UI).
    (resumed,) = [r for r in parents(list(runs.values())) if r.info.status == "FINISHED"]
    holders = {r.data.tags[PARENT_TAG] for r in runs.values() if r.info.status == "FINISHED"
               and r.data.tags.get(PARENT_TAG, resumed.info.run_id) != resumed.info.run_id}
    assert holders and set(resumed.data.tags["mer.folds_from"].split(",")) == holders


def start_parallel_training(tmp_path: Path, reap: list[psutil.Process]
                            ) -> tuple[Path, subprocess.Popen[bytes], list[psutil.Process]]:
    """`mer train` with train.parallel_folds 2, once its workers have finished a fold."""
    project = make_project(tmp_path / "project", workers=2)
    process = start(project, "train")
    reap.append(psutil.Process(process.pid))
    wait_until(lambda: folds_done(project) >= 1, STARTUP_S, "a first fold", process)
    children = tree(process, reap)
    assert len(children) >= 3  # two fold workers and multiprocessing's resource tracker
    return project, process, children


@pytest.mark.slow
def test_sigkill_with_parallel_folds_leaves_no_orphan(tmp_path, own_store, reap):
    _, process, children = start_parallel_training(tmp_path, reap)
    process.kill()
    process.wait(timeout=60)
    _, alive = psutil.wait_procs(children, timeout=GONE_S)
    assert not alive, [" ".join(p.cmdline()) for p in alive if p.is_running()]


@pytest.mark.slow
def test_sigterm_with_parallel_folds_stops_workers_and_runs(tmp_path, own_store, reap):
    project, process, children = start_parallel_training(tmp_path, reap)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 143
    _, alive = psutil.wait_procs(children, timeout=GONE_S)
    assert not alive
    err = stderr_of(project)
    assert "Traceback" not in err, err
    assert err.strip().splitlines()[-1].startswith("mer train: terminated (SIGTERM)")
    runs = runs_of(project)
    assert [r.info.status for r in parents(runs)] == ["KILLED"]
    assert all(r.info.status != "RUNNING" for r in runs)


# A `mer` command as the `mer` script runs it, with workers that take WORKER_START_S to start.
# A spawned worker runs its parent's main script as __mp_main__ before it reads its start-up
# data and runs its initializer: here a sleep, as long as the imports take on a busy machine.
SLOW_WORKER_START = """
import os, sys, time
from pathlib import Path

if __name__ == "__mp_main__":
    Path(f"worker-{os.getpid()}.starting").touch()
    time.sleep(WORKER_START_S)
elif __name__ == "__main__":
    import mer.cli

    sys.argv = ["mer", COMMAND]
    sys.exit(mer.cli.main())  # as the `mer` script calls it
"""
WORKER_START_S = 3.0


def _ctrl_c_group() -> None:
    """In the child before exec: its own process group, as a terminal's foreground job, and
    SIGINT back to its default (see ctrl_c_raises)."""
    os.setpgid(0, 0)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_in_own_group(project: Path, script: Path, reap: list) -> subprocess.Popen[bytes]:
    """Run ``script`` in ``project`` as a terminal's foreground job (_ctrl_c_group), stderr to
    mer.err there, without the developer's MLFLOW_TRACKING_URI."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["NO_ALBUMENTATIONS_UPDATE"] = "1"
    with (project / "mer.err").open("wb") as err:
        process = subprocess.Popen([sys.executable, script.name], cwd=project, env=env,
                                   stdout=subprocess.DEVNULL, stderr=err,
                                   preexec_fn=_ctrl_c_group)
    reap.append(psutil.Process(process.pid))
    return process


def workers_project(folder: Path, command: str) -> Path:
    """A project whose ``command`` runs 2 worker processes: `mer train`'s fold workers on the
    toy clips; `mer synthesize`'s renderers and `mer faces`' per-clip workers (parallel_map)
    on the tiny embedded corpus."""
    from dvc_helpers import run, tiny_params

    if command == "train":
        return make_project(folder, workers=2)
    params = tiny_params()
    params["data"]["synthetic"]["workers"] = params["faces"]["workers"] = 2
    folder.mkdir(parents=True)
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    if command == "faces":
        for stage in ("synthesize", "data"):
            run(folder, sys.executable, "-m", "mer.cli", stage)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("command", ["train", "synthesize", "faces"])
def test_ctrl_c_while_workers_start_prints_one_line(tmp_path, own_store, reap, command):
    """Ctrl-C reaches the whole process group, workers included, before they have started
    ignoring it: exit 130 with the one line, no worker's KeyboardInterrupt traceback, and no
    worker left."""
    project = workers_project(tmp_path / "project", command)
    script = project / "slow_workers.py"
    script.write_text(SLOW_WORKER_START.replace("WORKER_START_S", repr(WORKER_START_S))
                      .replace("COMMAND", repr(command)))
    process = start_in_own_group(project, script, reap)
    wait_until(lambda: any(project.glob("worker-*.starting")), STARTUP_S,
               "a worker starting", process)
    children = tree(process, reap)
    os.killpg(process.pid, signal.SIGINT)
    code = process.wait(timeout=60)
    _, alive = psutil.wait_procs(children, timeout=GONE_S)  # each has written its stderr
    err_text = stderr_of(project)
    assert code == 130, err_text
    assert "Traceback" not in err_text, err_text
    resume = "; finished folds are kept, rerun to resume" if command == "train" else ""
    assert err_text.strip().splitlines()[-1] == f"mer {command}: interrupted{resume}"
    assert not alive, [" ".join(p.cmdline()) for p in alive if p.is_running()]


# `mer train` that gets a Ctrl-C while the cli imports the commands' modules, before parsing
# its arguments; with SWALLOW, the import catches it, as a library's broad except can.
CTRL_C_IN_IMPORT = """
import importlib, os, signal, sys
import mer.cli

real = importlib.import_module

def ctrl_c_during(name, *args, **kwargs):
    if name == "mer.stages.train":
        try:
            os.kill(os.getpid(), signal.SIGINT)
            sum(range(100_000))  # the handler runs between these bytecodes
        except BaseException:
            if not SWALLOW:
                raise
    return real(name, *args, **kwargs)

mer.cli.importlib.import_module = ctrl_c_during
sys.argv = ["mer", "train"]
sys.exit(mer.cli.main())
"""


@pytest.mark.parametrize("swallow", [False, True])
def test_ctrl_c_while_the_cli_starts_prints_one_line(tmp_path, own_store, reap, swallow):
    """The issue: in a command's first half second (the cli importing its modules), Ctrl-C
    came before mer's handlers: Python printed a KeyboardInterrupt traceback, or, caught
    inside pydantic, the Ctrl-C was lost and the command ran on."""
    (tmp_path / "params.yaml").write_text("{}\n")
    script = tmp_path / "ctrl_c_in_import.py"
    script.write_text(CTRL_C_IN_IMPORT.replace("SWALLOW", repr(swallow)))
    process = start_in_own_group(tmp_path, script, reap)
    code = process.wait(timeout=120)
    err_text = stderr_of(tmp_path)
    assert code == 130, err_text
    assert "Traceback" not in err_text, err_text
    assert err_text.strip().splitlines() == [
        "mer train: interrupted; finished folds are kept, rerun to resume"]


# `mer synthesize` whose renderers take RENDER_S per clip: a stop has to kill them.
SLOW_RENDER = """
import os, sys, time
from pathlib import Path

if __name__ == "__mp_main__":
    import mer.synthetic.write_casme2 as casme2

    def slow(job):
        Path(f"render-{os.getpid()}.started").touch()
        time.sleep(RENDER_S)

    casme2.write_frames = slow  # what the parent's tasks name, looked up here
elif __name__ == "__main__":
    import mer.cli

    sys.argv = ["mer", "synthesize"]
    sys.exit(mer.cli.main())
"""


@pytest.mark.slow
def test_ctrl_c_while_synthesize_renders_stops_at_once_and_leaves_no_staging(
        tmp_path, own_store, reap):
    """Renderers ignore Ctrl-C (the parent decides): the parent must kill them, not wait for
    their clips. Waiting made the stop outlast the cli's UNWIND_S, which then exited without
    removing data/.synthetic.* (the half-written corpus)."""
    from mer.cli import UNWIND_S

    project = workers_project(tmp_path / "project", "synthesize")
    script = project / "slow_render.py"
    script.write_text(SLOW_RENDER.replace("RENDER_S", repr(2 * UNWIND_S)))
    process = start_in_own_group(project, script, reap)
    wait_until(lambda: any(project.glob("render-*.started")), STARTUP_S, "a clip rendering",
               process)
    children = tree(process, reap)
    started = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)
    code = process.wait(timeout=2 * UNWIND_S)
    _, alive = psutil.wait_procs(children, timeout=GONE_S)
    err_text = stderr_of(project)
    assert code == 130 and time.monotonic() - started < UNWIND_S / 2, err_text
    assert "Traceback" not in err_text, err_text
    assert err_text.strip().splitlines()[-1] == "mer synthesize: interrupted"
    assert list((project / "data").glob(".synthetic*")) == []
    assert not alive, [" ".join(p.cmdline()) for p in alive if p.is_running()]


HOLD_RUN = """
import sys, time
from mer.tracking.store import Tracker
tracker = Tracker("stale", sys.argv[1])
with tracker.run(sys.argv[2]) as run:
    print(run, flush=True)
    time.sleep(600)
"""


def test_runs_of_dead_processes_are_closed_and_others_left_alone(tmp_path, own_store, reap):
    """Two processes each hold a run open; one is SIGKILLed. The next Tracker (any new
    command) marks that run FAILED with a note; the live process's run, and a RUNNING run of
    another host, stay RUNNING."""
    Tracker("stale", tmp_path)  # create the store first: the two processes only open it
    holders = {name: subprocess.Popen([sys.executable, "-c", HOLD_RUN, str(tmp_path), name],
                                      stdout=subprocess.PIPE, text=True)
               for name in ("killed", "live")}
    reap.extend(psutil.Process(p.pid) for p in holders.values())
    ids = {name: p.stdout.readline().strip() for name, p in holders.items()}
    holders["killed"].kill()
    holders["killed"].wait()
    tracker = Tracker("stale", tmp_path)
    ids["elsewhere"] = tracker.client.create_run(
        tracker.experiment_id, run_name="elsewhere",
        tags={HOST_TAG: "another-host", PID_TAG: str(holders["killed"].pid)}).info.run_id

    Tracker("stale", tmp_path)  # any new command
    client = MlflowClient(tracking_uri(tmp_path))
    got = {name: client.get_run(run_id) for name, run_id in ids.items()}
    assert got["killed"].info.status == "FAILED"
    assert f"process {holders['killed'].pid}" in got["killed"].data.tags[NOTE_TAG]
    assert got["live"].info.status == "RUNNING" and NOTE_TAG not in got["live"].data.tags
    assert got["elsewhere"].info.status == "RUNNING"
    holders["live"].terminate()
    holders["live"].wait(timeout=60)


class _SignalInFinaliser:
    """An object whose finaliser sends ``signum`` to this process: the handler runs inside
    ``__del__``, where Python prints its exception as "Exception ignored in" and drops it. The
    real places are a library's weakref callbacks and finalisers (seen: SQLAlchemy's, during a
    CNN fit: SIGTERM was then ignored and the training ran to its end)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum

    def __del__(self) -> None:
        signal.raise_signal(self.signum)


def drop_signal(signum: int) -> None:
    _SignalInFinaliser(signum)  # collected at once


@pytest.fixture
def dropped(monkeypatch: pytest.MonkeyPatch) -> list:
    """What Python dropped as "Exception ignored in" during the test."""
    seen: list = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    return seen


@pytest.fixture
def ctrl_c_raises():
    """SIGINT as a foreground process has it: Python's KeyboardInterrupt handler. Tests run in
    the background of a non-interactive shell start with SIGINT ignored, and mer leaves an
    ignored SIGINT ignored (as shells expect of background jobs), so a SIGINT test would
    test nothing there."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


STOPS = [(signal.SIGTERM, 143, "mer train: terminated (SIGTERM)"),
         (signal.SIGINT, 130, "mer train: interrupted; finished folds are kept, rerun to resume")]


def train_dropping_a_stop(project: Path, monkeypatch: pytest.MonkeyPatch, signum: int,
                          then: Callable[[], None] = lambda: None) -> tuple[int, list]:
    """`mer train` in ``project``, in this process, where the first fold ends by dropping
    ``signum`` (then calls ``then``); its exit code and the folds it ran."""
    monkeypatch.chdir(project)
    folds: list = []
    real = loso.run_fold

    def fold_then_drop_a_stop(*args, **kwargs):
        folds.append(real(*args, **kwargs))
        if len(folds) == 1:
            drop_signal(signum)
            then()
        return folds[-1]

    monkeypatch.setattr(loso, "run_fold", fold_then_drop_a_stop)
    return main(["train"]), folds


@pytest.mark.parametrize(("signum", "code", "line"), STOPS, ids=["SIGTERM", "SIGINT"])
def test_a_stop_python_dropped_ends_train_before_the_next_fold(
        tmp_path, own_store, monkeypatch, capsys, dropped, ctrl_c_raises, signum, code, line):
    project = make_project(tmp_path / "project")
    exit_code, folds = train_dropping_a_stop(project, monkeypatch, signum)
    assert dropped  # the fault is real: Python dropped the handler's exception
    assert exit_code == code and len(folds) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(line)
    assert [r.info.status for r in parents(runs_of(project))] == ["KILLED"]


def test_an_error_raised_after_a_sigterm_exits_as_the_sigterm(
        tmp_path, own_store, monkeypatch, capsys, dropped):
    """Whatever the stop turns into on its way out (here an error a library raised instead),
    the command exits as the stop does: 143 and one line, no traceback."""
    def library_error() -> None:
        raise RuntimeError("cut short")

    project = make_project(tmp_path / "project")
    exit_code, _ = train_dropping_a_stop(project, monkeypatch, signal.SIGTERM, library_error)
    assert exit_code == 143
    err = capsys.readouterr().err
    assert "Traceback" not in err and "cut short" not in err
    assert err.strip().splitlines()[-1].startswith("mer train: terminated (SIGTERM)")


def test_a_ctrl_c_python_dropped_mid_fit_ends_it_at_the_next_batch(
        tmp_path, own_store, monkeypatch, dropped, ctrl_c_raises):
    """SIGINT: Lightning has no handler of its own for it (for SIGTERM it has one, which also
    stops the fit after the batch)."""
    project = make_project(tmp_path / "project")
    monkeypatch.chdir(project)
    steps = []
    real = FlowNetModule.training_step

    def step_then_drop_a_ctrl_c(self, batch, batch_idx):
        steps.append(batch_idx)
        loss = real(self, batch, batch_idx)
        if len(steps) == 1:
            drop_signal(signal.SIGINT)
        return loss

    monkeypatch.setattr(FlowNetModule, "training_step", step_then_drop_a_ctrl_c)
    assert main(["train"]) == 130
    assert dropped and steps == [0]
    assert folds_done(project) == 0


def test_a_sigterm_python_dropped_with_parallel_folds_stops_and_keeps_every_finished_fold(
        tmp_path, monkeypatch, dropped):
    """Fold workers: the stop is raised again once the folds that finished are kept."""
    params = TrainParams.model_validate({**FAST_TRAIN, "models": ["svm"]})
    learners = build_learners(params, has_au_codes=True, has_au_features=True)
    reported = []
    handed_back = []  # folds the workers finished and the pool handed back

    def recording_wait(*args, **kwargs):
        finished, remaining = real_wait(*args, **kwargs)
        handed_back.extend(finished)
        return finished, remaining

    real_wait = loso.wait
    monkeypatch.setattr(loso, "wait", recording_wait)

    def keep_then_drop(outcome, cached: bool) -> None:
        reported.append(outcome)
        if len(reported) == 1:
            drop_signal(signal.SIGTERM)

    restore = _install_handlers("train")
    try:
        with pytest.raises(Terminated):
            run_loso(toy_clips(), learners, seed=0, cache_dir=tmp_path, workers=2,
                     on_fold=keep_then_drop)
    finally:
        restore()
    assert dropped
    assert 1 <= len(reported) < 3 * 6  # stopped before the 18 folds of 3 learners
    # none finished was lost: each fold handed back was kept
    assert len(list(tmp_path.glob("*.json"))) == len(reported) == len(handed_back)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_python_dropped_ends_a_per_clip_job_at_the_next_clip(monkeypatch, dropped,
                                                                     ctrl_c_raises, signum):
    """mer.core.workers.parallel_map (features, faces, ...) under the cli's handlers."""
    done = []

    def job(item: int) -> int:
        done.append(item)
        if item == 0:
            drop_signal(signum)
        return item

    restore = _install_handlers("features")
    try:
        with pytest.raises((Terminated, KeyboardInterrupt)):
            parallel_map(job, list(range(5)), workers=1, description="clips",
                         key="faces.workers")
    finally:
        restore()
    assert dropped and done == [0]


HANGS_WHILE_STOPPING = """
import atexit, os, signal, sys, time
import mer.cli
from mer.evaluation import loso
from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

mer.cli.UNWIND_S = 2.0
real = loso.run_fold

def fold_then_sigterm(*args, **kwargs):
    outcome = real(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGTERM)
    return outcome

loso.run_fold = fold_then_sigterm
# Waits forever, as for a thread stuck on a lock the stop left held:
if sys.argv[1] == "unwinding":  # the command's own cleanup
    SystemMetricsMonitor.finish = lambda self: time.sleep(3600)
else:  # after main() returned, at the interpreter's exit
    atexit.register(time.sleep, 3600)
sys.argv = ["mer", "train"]
sys.exit(mer.cli.main())  # as the `mer` script calls it
"""


@pytest.mark.slow
@pytest.mark.parametrize("hangs_in", ["unwinding", "exit"])
def test_a_stop_that_hangs_exits_after_the_grace_period(project, reap, hangs_in):
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    process = subprocess.Popen([sys.executable, "-c", HANGS_WHILE_STOPPING, hangs_in],
                               cwd=project, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    reap.append(psutil.Process(process.pid))
    _, err = process.communicate(timeout=STARTUP_S)
    assert process.returncode == 143, err
    assert "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("mer train: terminated (SIGTERM)")
    assert "stopping cleanly took over 2 s, so it exits now" in last


# 3. `mer predict` outside a project -------------------------------------------------------------

def test_predict_outside_a_project_creates_no_store(tmp_path, own_store, monkeypatch, capsys):
    frame = np.full((64, 64, 3), 128, np.uint8)
    for name in ("onset.png", "apex.png"):
        cv2.imwrite(str(tmp_path / name), frame)
    monkeypatch.chdir(tmp_path)
    code = main(["predict", "--pair", "onset.png", "apex.png", "--model", "models:/mer@champion"])
    err = capsys.readouterr().err
    assert code == 2
    assert str(tmp_path / DB_NAME) in err and "does not exist" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / DB_NAME).exists()


def predict_error(folder: Path, capsys) -> str:
    """`mer predict --pair` on two grey frames in ``folder`` (the cwd), which must fail with
    one line: its text."""
    frame = np.full((64, 64, 3), 128, np.uint8)
    for name in ("onset.png", "apex.png"):
        cv2.imwrite(str(folder / name), frame)
    code = main(["predict", "--pair", "onset.png", "apex.png", "--model",
                 "models:/mer@champion"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def test_predict_names_the_store_it_cannot_read(tmp_path, own_store, monkeypatch, capsys):
    """A break-it session: MLFLOW_TRACKING_URI naming a missing file was reported as the
    project's mlflow.db missing; in the project that registered the model, a deleted store
    got 'run mer predict in the project folder that registered the model'; a damaged or
    locked mlflow.db was a 29-frame SQLAlchemy traceback from `mer predict` and `mer spot`
    (`mer promote` said it in one line)."""
    from contextlib import closing

    from mer.tracking import store

    monkeypatch.chdir(tmp_path)
    elsewhere = tmp_path / "nope" / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{elsewhere}")
    err = predict_error(tmp_path, capsys)
    assert f"MLFLOW_TRACKING_URI names the MLflow store {elsewhere}, which does not" in err
    monkeypatch.delenv("MLFLOW_TRACKING_URI")

    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "registered.json").write_text('{"registered": true}')
    err = predict_error(tmp_path, capsys)
    assert f"this project's MLflow store {tmp_path / DB_NAME} does not exist" in err
    assert "deleted or moved" in err and "`dvc repro --force`" in err

    for damaged in (b"garbage\n", b"SQLite format 3\x00" + bytes(4080)):
        (tmp_path / DB_NAME).write_bytes(damaged)
        err = predict_error(tmp_path, capsys)
        assert f"{tmp_path / DB_NAME} is not a readable MLflow SQLite store" in err
    (tmp_path / DB_NAME).unlink()
    with closing(sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)) as holder:
        holder.execute("CREATE TABLE t (x)")
        holder.execute("BEGIN EXCLUSIVE")
        monkeypatch.setattr(store, "SQLITE_TIMEOUT_S", 0.2)
        started = time.monotonic()
        err = predict_error(tmp_path, capsys)
        assert f"cannot read the MLflow store {tmp_path / DB_NAME}: database is locked" in err
        assert time.monotonic() - started < 30


def test_mlflow_globals_follow_the_environment_after_a_fluent_call(tmp_path, monkeypatch):
    """A command that used MLflow's global API (registering a model) must not pin the globals
    to its store: a later command in the same process, with another $MLFLOW_TRACKING_URI,
    resolved runs:/ URIs against the first project's store ('Failed to download artifacts')."""
    import mlflow

    from mer.tracking.store import global_store

    first = f"sqlite:///{tmp_path / 'first.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", first)
    with global_store(f"sqlite:///{tmp_path / 'store.db'}"):
        assert mlflow.get_tracking_uri().endswith("store.db")
        assert mlflow.get_registry_uri().endswith("store.db")
    assert mlflow.get_tracking_uri() == first
    second = f"sqlite:///{tmp_path / 'second.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", second)
    assert mlflow.get_tracking_uri() == second
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert mlflow.get_tracking_uri() not in (first, second)


def test_a_copied_project_says_its_store_writes_into_the_old_folder(tmp_path, own_store):
    """MLflow's SQLite store records absolute artifact locations: a copy of a project folder
    would have written its runs' files into the original's mlruns/."""
    import shutil

    original = tmp_path / "original"
    original.mkdir()
    tracker = Tracker("mer", root=original)
    with tracker.run("a run"):
        pass
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    with pytest.raises(MerError) as error:
        Tracker("mer", root=copy)
    message = str(error.value)
    assert f"copied or moved from {original}" in message and "mv mlflow.db" in message
    Tracker("mer", root=original)  # the original is fine


def test_a_team_sqlite_store_keeps_artifacts_beside_its_database(tmp_path, monkeypatch):
    """A break-it session: with MLFLOW_TRACKING_URI=sqlite:////abs/team.db, the experiment
    created by a DVC queue's temporary copy of the project kept its artifacts in that copy's
    mlruns/ (MLflow's default: ./mlruns of the folder it runs in), so every run's figures
    and the registered model were deleted with the copy, and every later run wrote there."""
    from mlflow import MlflowClient

    team = tmp_path / "team"
    team.mkdir()
    uri = f"sqlite:///{team / 'team.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    copy = tmp_path / "project" / ".dvc" / "tmp" / "exps" / "tmpabc"  # a queued variant's
    copy.mkdir(parents=True)
    monkeypatch.chdir(copy)
    tracker = Tracker("mer", root=copy)
    with tracker.run("a run") as run:
        tracker.log_json(run, {"uar": 0.5}, "evaluation.json")
    assert (MlflowClient(uri).get_experiment_by_name("mer").artifact_location
            == (team / "mlruns").as_uri())
    assert list(team.glob("mlruns/**/evaluation.json"))
    assert not (copy / "mlruns").exists()
    # a store whose experiment was made so before: named, not written into a deleted folder
    MlflowClient(uri).create_experiment("old", artifact_location=(copy / "mlruns").as_uri())
    shutil.rmtree(copy)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MerError, match=rf"{team / 'team.db'} keeps the artifacts of experiment "
                                       rf"'old' in {copy / 'mlruns'}, not beside it: .* \(a "
                                       r"folder since deleted\)"):
        Tracker("old", root=tmp_path)


def test_a_looping_exception_chain_is_walked_once() -> None:
    """An exception chain that loops back on itself (each error set as the other's context)
    is walked once: the check for a silent MLflow server walked it forever (final read)."""
    first, second = RuntimeError("outer"), ValueError("inner")
    first.__context__, second.__context__ = second, first
    assert [type(e) for e in exception_chain(first)] == [RuntimeError, ValueError]
    answer: list[BaseException | None] = []
    walker = threading.Thread(target=lambda: answer.append(_unreachable(first)), daemon=True)
    walker.start()
    walker.join(10)
    assert answer == [None]


def test_no_last_system_metrics_go_to_a_server_that_stopped_answering(monkeypatch, caplog):
    """h61: after mer's client had given up on a server that went away mid-command, the
    system metrics' last flush called it again: one more call's retries and warnings before
    mer's one line. (Nothing listens at the URI: a server gone.)"""
    import socket

    from mer.tracking import store

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        uri = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setattr(store, "_SILENT_SERVERS", {uri})
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # the monitor's own calls
    with Tracker.system_metrics(types.SimpleNamespace(uri=uri), "0" * 32, resume=False):
        time.sleep(0.5)  # a sample, not yet published
    assert "could not log the last system metrics" not in caplog.text
