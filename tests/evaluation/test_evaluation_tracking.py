"""MLflow tracking on a real temporary SQLite store (no mocks)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest
from mlflow import MlflowClient

from mer.errors import ParamsError
from mer.paths import project_root
from mer.tracking.store import (
    EXPERIMENT_KIND_TAG,
    NOTE_TAG,
    PARENT_TAG,
    PREDICTIONS_TAG,
    TRAINING_KIND,
    TRAINING_VIEW,
    Tracker,
    evaluation_run_id,
    flatten,
    tracking_uri,
)
from mer.tracking.ui import free_port, ui_command, ui_environment


def test_default_store_is_sqlite_under_the_project_root(tmp_path, own_store):
    assert tracking_uri(tmp_path) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"


def test_env_overrides_the_store(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "postgresql://team-db/mlflow")
    assert tracking_uri(tmp_path) == "postgresql://team-db/mlflow"
    assert "--default-artifact-root" not in ui_command(5001, tmp_path)


def test_a_relative_sqlite_uri_names_the_projects_store_from_a_dvc_queue_copy(tmp_path,
                                                                              monkeypatch):
    """The issue: MLFLOW_TRACKING_URI=sqlite:///mlflow.db (MLflow's docs' form) under `dvc
    queue start` wrote every run to a store in the queue's temporary copy, deleted with it,
    and registered.json then named a version number of that lost registry."""
    from mer.tracking.store import anchor_tracking_uri

    copy = tmp_path / ".dvc" / "tmp" / "exps" / "tmp1a2b"
    copy.mkdir(parents=True)
    monkeypatch.chdir(copy)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db")
    assert tracking_uri() == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    anchor_tracking_uri()  # what `mer` does first: MLflow and child processes read it too
    assert os.environ["MLFLOW_TRACKING_URI"] == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    for kept in ("sqlite:////srv/mlflow.db", "sqlite:///:memory:", "http://127.0.0.1:5000"):
        monkeypatch.setenv("MLFLOW_TRACKING_URI", kept)
        anchor_tracking_uri()
        assert os.environ["MLFLOW_TRACKING_URI"] == kept


def test_runs_name_the_checkout_they_ran_in_not_the_project_it_came_from(tmp_path,
                                                                          monkeypatch):
    """The issue: a queued experiment, run in a temporary copy at its own commit with its
    params applied, was tagged with the workspace's commit (made later) and not dirty."""
    from mer.tracking.store import git_state

    def commit(folder: Path, text: str) -> str:
        (folder / "params.yaml").write_text(text)
        for args in (["init", "-q"], ["add", "params.yaml"],
                     ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", text]):
            subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True)
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, check=True,
                              capture_output=True, text=True).stdout.strip()

    workspace = commit(tmp_path, "a: 1\n")
    copy = tmp_path / ".dvc" / "tmp" / "exps" / "tmp1a2b"
    copy.mkdir(parents=True)
    queued = commit(copy, "a: 0\n")
    (copy / "params.yaml").write_text("a: 2\n")  # `dvc exp run -S a=2`
    monkeypatch.chdir(copy)
    assert queued != workspace
    assert git_state() == {"mlflow.source.git.commit": queued, "mer.git_dirty": "true"}


def test_files_the_pipeline_writes_leave_a_run_clean(tmp_path, monkeypatch):
    """A break-it session: under `dvc repro` of a pristine clone, DVC had rewritten dvc.lock
    (and the stages their reports) before `mer train` ran, so every run was tagged dirty."""
    from mer.tracking.store import git_state

    for name in ("dvc.lock", "reports/faces.json", "params.yaml", "src/code.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("committed\n")
    for args in (["init", "-q"], ["add", "."],
                 ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c"]):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dvc.lock").write_text("rewritten by dvc repro\n")
    (tmp_path / "reports" / "faces.json").write_text("rewritten by mer faces\n")
    assert git_state()["mer.git_dirty"] == "false"
    for edited in ("params.yaml", "src/code.py"):  # what the commit does not reproduce
        (tmp_path / edited).write_text("edited\n")
        assert git_state()["mer.git_dirty"] == "true"
        subprocess.run(["git", "checkout", "-q", "--", edited], cwd=tmp_path, check=True)
    monkeypatch.chdir(tmp_path / "src")  # run from a subfolder: the whole checkout counts
    (tmp_path / "params.yaml").write_text("edited\n")
    assert git_state()["mer.git_dirty"] == "true"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


def test_a_server_that_stops_answering_ends_a_call_in_seconds_in_one_line(monkeypatch):
    """The issue: the team server died mid `mer train`; MLflow retried each call for minutes
    (7 retries backing off to 2 min), and 12 minutes later mer ended in 4 chained
    tracebacks."""
    from mer.errors import MerError
    from mer.tracking.store import HTTP_RETRIES, bound_http_retries, mlflow_client

    for name in HTTP_RETRIES:
        monkeypatch.delenv(name, raising=False)
    bound_http_retries()  # as `mer` does when MLFLOW_TRACKING_URI is set
    uri = f"http://127.0.0.1:{closed_port()}"
    started = time.monotonic()
    with pytest.raises(MerError, match=rf"the MLflow server at {uri} stopped answering "
                                       r"\(ConnectionError, after 3 retries of 20 s at most\): "
                                       r"what had finished is kept"):
        mlflow_client(uri).get_experiment_by_name("mer")
    assert time.monotonic() - started < 45
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    bound_http_retries()  # the user's own setting wins
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "0"


def test_a_server_that_hangs_ends_a_command_within_its_bound_and_is_not_called_again(
        monkeypatch):
    """A break-it session: a team server that stopped answering without refusing (a dead
    SSH tunnel) stalled `mer train` for over 10 minutes: 60 s of silence per try, 5 tries per
    call, and the failed run's cleanup called it again."""
    import socket

    from mer.errors import MerError
    from mer.tracking.store import HTTP_RETRIES, bound_http_retries, mlflow_client

    retries, backoff, timeout = (float(HTTP_RETRIES[k]) for k in (
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
        "MLFLOW_HTTP_REQUEST_TIMEOUT"))
    assert (retries + 1) * timeout + sum(backoff * 2 ** n for n in range(int(retries))) < 100
    for name in HTTP_RETRIES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "1")  # the test's own: seconds, not 90
    bound_http_retries()
    with socket.socket() as silent:  # takes connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        client = mlflow_client(uri)
        started = time.monotonic()
        with pytest.raises(MerError, match=rf"the MLflow server at {uri} stopped answering "
                                           r"\(.*after 3 retries of 1 s at most\)"):
            client.get_experiment_by_name("mer")
        assert time.monotonic() - started < 30
        started = time.monotonic()
        with pytest.raises(MerError, match=rf"the MLflow server at {uri} stopped answering "
                                           "earlier in this command; what had finished is kept"):
            mlflow_client(uri).set_terminated("0" * 32, "KILLED")  # the cleanup: at once
        assert time.monotonic() - started < 1


def test_a_run_whose_server_went_silent_ends_with_the_first_detailed_error(tmp_path,
                                                                          monkeypatch):
    """A final read: the run's cleanup (its FAILED status and note) called the silent server
    again and replaced the error that said how it failed (the retries, the exception) with
    "stopped answering earlier"; the cleanup is skipped, the first error is raised."""
    from contextlib import ExitStack

    from mer.errors import MerError
    from mer.tracking.store import HTTP_RETRIES
    from registry_helpers import team_server

    for name in HTTP_RETRIES:
        monkeypatch.setenv(name, "0" if name != "MLFLOW_HTTP_REQUEST_TIMEOUT" else "5")
    (tmp_path / "params.yaml").write_text("{}\n")
    with ExitStack() as server:
        url = server.enter_context(team_server(tmp_path / "server"))
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        tracker = Tracker("mer", tmp_path)
        with pytest.raises(MerError) as raised, tracker.run("fold") as run_id:
            server.close()  # the server stops: its port refuses
            tracker.log(run_id, metrics={"uar": 0.5})
    assert re.match(rf"the MLflow server at {url} stopped answering \(ConnectionError, after "
                    r"0 retries of 5 s at most\)", str(raised.value)), raised.value


@pytest.mark.parametrize(("uri", "message"), [
    ("/work/proj/mlflow.db", r"=/work/proj/mlflow.db is a file path without a scheme, not a "
                             r"tracking URI; write it as sqlite:////absolute/path/mlflow.db or "
                             r"http://host:port"),
    ("127.0.0.1:5000", r"=127.0.0.1:5000 is an address without a scheme, not a tracking URI"),
    ("htp://127.0.0.1:5000", r"MLflow has no tracking store for 'htp://'"),
    ("file:///tmp/fsstore", r"MLflow 3 keeps its file store \(file://, mlruns/\) for reading "
                            r"old runs only"),
    ("http://127.0.0.1:{port}", r"no MLflow server answers at http://127.0.0.1:\d+ "
                                r"\(MLFLOW_TRACKING_URI; .*\): start it, or unset"),
])
def test_a_tracking_uri_mistake_is_one_line_at_once(tmp_path, uri, message):
    """The issue: a server that is down made promote, predict and evaluate retry for minutes;
    a path or a bad scheme ended in MLflow's traceback."""
    (tmp_path / "params.yaml").write_text("{}\n")
    env = {**ui_environment(), "MLFLOW_TRACKING_URI": uri.format(port=closed_port()),
           "NO_ALBUMENTATIONS_UPDATE": "1"}
    for command in (["promote"], ["evaluate"], ["ui"]):
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "mer.cli", *command], cwd=tmp_path,
                              env=env, capture_output=True, text=True, check=False, timeout=300)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert re.search(message, done.stderr.strip().splitlines()[-1]), done.stderr
        assert time.monotonic() - started < 60
    assert not (tmp_path / "mlflow.db").exists()


def test_the_server_probe_carries_mlflows_credentials(monkeypatch):
    """The probe that tells an MLflow tracking server from another web server sends what
    MLflow's own requests send, so a server behind an authenticating proxy (which may answer
    an anonymous request with its login page) is judged by its answer to MLflow."""
    from mer.tracking.store import _credentials

    for name in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    assert _credentials() == {}
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ana")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "s3cret")
    assert _credentials() == {"Authorization": "Basic YW5hOnMzY3JldA=="}
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "t0ken")
    assert _credentials() == {"Authorization": "Bearer t0ken"}


def test_a_web_server_that_is_not_mlflow_is_named_as_such_at_once(tmp_path):
    """h61 F5: any answer to /health passed the check, so a tracking URI naming another web
    server (here Python's own file server; a model server answers /health too) was called
    "the team server" by `mer ui`, and promote and evaluate printed its 404 page whole."""
    from registry_helpers import served

    (tmp_path / "params.yaml").write_text("{}\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with served([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                tmp_path, None, tmp_path.parent / "http.log", url):
        env = {**ui_environment(), "MLFLOW_TRACKING_URI": url, "NO_ALBUMENTATIONS_UPDATE": "1"}
        for command in (["promote"], ["evaluate"], ["ui"]):
            done = subprocess.run([sys.executable, "-m", "mer.cli", *command], cwd=tmp_path,
                                  env=env, capture_output=True, text=True, check=False,
                                  timeout=300)
            assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
            assert len(done.stderr.strip().splitlines()) == 1, done.stderr
            assert re.search(rf"the server at {url} \(MLFLOW_TRACKING_URI\) answers, but not as "
                             rf"an MLflow tracking server \(HTTP 404 for {url}/api/2.0/mlflow/"
                             r"experiments/search\?max_results=1\): give the URL of an `mlflow "
                             r"server`", done.stderr), done.stderr
    assert not (tmp_path / "mlflow.db").exists()


def test_evaluate_without_predictions_says_so_before_opening_the_store(tmp_path, own_store):
    """It created mlflow.db (seconds of table creation) before saying what was missing."""
    (tmp_path / "params.yaml").write_text("{}\n")
    done = subprocess.run([sys.executable, "-m", "mer.cli", "evaluate"], cwd=tmp_path,
                          env={**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"},
                          capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "predictions.csv not found" in done.stderr
    assert not (tmp_path / "mlflow.db").exists()


def test_mer_ui_names_the_team_servers_own_ui(tmp_path):
    """The issue: `mer ui` with MLFLOW_TRACKING_URI=http://... failed with a traceback that
    blamed the port; the server already serves the UI."""
    from mlflow import MlflowClient

    from registry_helpers import team_server

    (tmp_path / "params.yaml").write_text("{}\n")
    with team_server(tmp_path / "server") as url:
        done = subprocess.run([sys.executable, "-m", "mer.cli", "ui"], cwd=tmp_path,
                              env={**ui_environment(), "MLFLOW_TRACKING_URI": url},
                              capture_output=True, text=True, check=False, timeout=300)
        assert done.returncode == 0, done.stderr
        assert f"the runs are on the team server: its UI is {url} (experiment" in done.stderr
        # A break-it session: the bare address opens MLflow 3's GenAI view, where a local
        # store's `mer ui` gave the experiment's runs in the model-training view.
        found = MlflowClient(url).create_experiment("mer")
        done = subprocess.run([sys.executable, "-m", "mer.cli", "ui"], cwd=tmp_path,
                              env={**ui_environment(), "MLFLOW_TRACKING_URI": url},
                              capture_output=True, text=True, check=False, timeout=300)
    assert (f"its UI is {url}/#/experiments/{found}/runs?workflowType=machine_learning "
            "(experiment 'mer')") in done.stderr, done.stderr
    assert not (tmp_path / "mlflow.db").exists()


def test_mer_ui_outside_a_project_makes_no_store(tmp_path, own_store):
    done = subprocess.run([sys.executable, "-m", "mer.cli", "ui", "--port", "5999"],
                          cwd=tmp_path, env=ui_environment(), capture_output=True, text=True,
                          check=False, timeout=300)
    assert done.returncode == 2 and "params.yaml not found" in done.stderr
    assert not list(tmp_path.iterdir())


def test_mer_ui_refuses_a_store_path_that_does_not_exist(tmp_path):
    """h62 F8: a mistyped MLFLOW_TRACKING_URI path made its folders and an empty store, then
    was served as the project's UI."""
    (tmp_path / "params.yaml").write_text("{}\n")
    uri = f"sqlite:///{tmp_path}/nonexist/dir/x.db"
    done = subprocess.run([sys.executable, "-m", "mer.cli", "ui", "--port", str(free_port())],
                          cwd=tmp_path, env={**ui_environment(), "MLFLOW_TRACKING_URI": uri},
                          capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert (f"MLFLOW_TRACKING_URI={uri}: {tmp_path}/nonexist/dir/x.db does not exist, so it "
            "holds no runs: check the path, or unset MLFLOW_TRACKING_URI") in done.stderr
    assert not (tmp_path / "nonexist").exists() and not (tmp_path / "mlflow.db").exists()
    (tmp_path / "folder.db").mkdir()  # (h66: a folder was said not to exist)
    uri = f"sqlite:///{tmp_path}/folder.db"
    done = subprocess.run([sys.executable, "-m", "mer.cli", "ui", "--port", str(free_port())],
                          cwd=tmp_path, env={**ui_environment(), "MLFLOW_TRACKING_URI": uri},
                          capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 2, done.stderr
    assert f"{tmp_path}/folder.db is a folder, not an SQLite database file" in done.stderr


def test_commands_that_read_only_the_tracking_section_ignore_a_mistake_elsewhere(
        tmp_path, monkeypatch, capsys, own_store):
    """h62 F9: `mer ui` would not show the runs while train.svm.trials was half-edited; ui,
    promote and the default --model read only tracking.*, which is still checked."""
    from mer.cli import main
    from mer.config import tracking_of

    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("train: {svm: {trials: five}}\n"
                                          "tracking: {model_name: team-model}\n")
    args = SimpleNamespace(params="params.yaml")
    assert tracking_of(args).model_name == "team-model"
    # promote gets past the params to the registry: no version of that model yet, and the
    # pipeline's record of why is named (h66: it said only to run `mer register`)
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "registered.json").write_text(
        '{"registered": false, "reason": "train.models (svm) has no hybrid"}\n')
    assert main(["promote"]) == 2
    err = capsys.readouterr().err
    assert "team-model" in err and "train.svm.trials" not in err, err
    assert ("model 'team-model' has no registered version (reports/registered.json says this "
            "project's pipeline registered no model (train.models (svm) has no hybrid))") in err
    (tmp_path / "params.yaml").write_text("train: {svm: {trials: five}}\n"
                                          "tracking: {model_name: ''}\n")
    with pytest.raises(ParamsError, match=r"tracking\.model_name is empty"):
        tracking_of(args)


def test_dvc_temporary_experiments_log_into_the_real_project(tmp_path):
    copy = tmp_path / ".dvc" / "tmp" / "exps" / "tmpab12cd" / "reports"
    assert project_root(copy) == tmp_path.resolve()
    assert project_root(tmp_path / "sub") == (tmp_path / "sub").resolve()


@pytest.mark.parametrize("cache", ["folds", "pretrain"])
def test_dvc_temporary_experiments_share_the_projects_caches(tmp_path, monkeypatch, cache):
    """The caches are keyed by everything that made an entry: a queued copy reads and fills
    the project's (its folds and its pretrained CNN), and mer in the project itself names
    them relative, as in its logs."""
    from mer import paths

    folder = {"folds": paths.FOLDS, "pretrain": paths.PRETRAIN}[cache]
    assert folder in paths.CACHES
    copy = tmp_path / ".dvc" / "tmp" / "exps" / "tmpab12cd"
    copy.mkdir(parents=True)
    monkeypatch.chdir(copy)
    assert paths.project_cache(folder) == tmp_path.resolve() / folder
    monkeypatch.chdir(tmp_path)
    assert paths.project_cache(folder) == folder


def test_ui_command_serves_our_store_on_localhost(tmp_path, own_store):
    command = ui_command(5123, tmp_path)
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert command[command.index("--port") + 1] == "5123"
    assert command[command.index("--backend-store-uri") + 1] == tracking_uri(tmp_path)
    assert command[command.index("--default-artifact-root") + 1] == \
        (tmp_path.resolve() / "mlruns").as_uri()


def test_parent_and_child_runs_with_metrics(tracking_root, own_store):
    tracker = Tracker("parent-child", tracking_root)
    with tracker.run("loso") as parent:
        tracker.log(parent, params={"train.seed": 0})
        with tracker.run("hybrid sub01", parent=parent) as child:
            tracker.log(child, metrics={"uar": 0.5}, series={"train/loss": [1.0, 0.5, 0.25]})
            tracker.log_json(child, {"matrix": [[1]]}, "confusion.json")
    client = MlflowClient(tracking_uri(tracking_root))
    got_child = client.get_run(child)
    assert got_child.data.tags[PARENT_TAG] == parent
    assert got_child.data.metrics["uar"] == 0.5
    history = client.get_metric_history(child, "train/loss")
    assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 0.5), (2, 0.25)]
    assert [a.path for a in client.list_artifacts(child)] == ["confusion.json"]
    assert client.get_run(parent).info.status == "FINISHED"
    assert client.get_run(parent).data.params == {"train.seed": "0"}
    experiment = client.get_experiment(tracker.experiment_id)
    assert experiment.artifact_location == (Path(tracking_root).resolve() / "mlruns").as_uri()


def test_a_table_logged_again_replaces_the_first(tracking_root, own_store):
    """The issue: MLflow's log_table appends to a table of the same name, so each rerun of
    `mer evaluate` on the same predictions (the same run) added the per-subject rows again."""
    tracker = Tracker("table-again", tracking_root)
    with tracker.run("loso") as run:
        tracker.log_table(run, [{"subject": "sub01", "uar": 0.5}], "per_subject.json")
    with tracker.run(run_id=run) as again:
        tracker.log_table(again, [{"subject": "sub01", "uar": 0.75}], "per_subject.json")
    client = MlflowClient(tracking_uri(tracking_root))
    table = json.loads((Path(client.download_artifacts(run, "per_subject.json"))).read_text())
    assert table["data"] == [["sub01", 0.75]]
    logged = json.loads(client.get_run(run).data.tags["mlflow.loggedArtifacts"])
    assert logged == [{"path": "per_subject.json", "type": "table"}]  # the UI shows a table


def test_a_fold_that_scored_no_clip_has_no_child_run(tracking_root, own_store, clips):
    """The AU-oracle on a subject without AU codes scores nothing: no fold run, no error."""
    import numpy as np

    from mer.config import CEILING
    from mer.evaluation.loso import FoldOutcome
    from mer.tracking.runs import log_fold

    tracker = Tracker("empty-fold", tracking_root)
    empty = FoldOutcome(learner=CEILING, fold=0, subject=clips.subject[0], clip_id=(),
                        proba={CEILING: np.zeros((0, clips.n_classes))},
                        report={CEILING: {}}, seconds=0.0, started=time.time())
    with tracker.run("loso") as parent:
        assert log_fold(tracker, parent, empty, clips, "key", from_cache=False) is None
    client = MlflowClient(tracking_uri(tracking_root))
    children = client.search_runs([tracker.experiment_id],
                                  filter_string=f"tags.{PARENT_TAG} = '{parent}'")
    assert children == []


@pytest.mark.parametrize(("error", "status"), [(RuntimeError("boom"), "FAILED"),
                                               (KeyboardInterrupt(), "KILLED")])
def test_a_crash_marks_the_run_failed(tracking_root, own_store, error, status):
    """An error marks the run FAILED; Ctrl-C (and SIGTERM, see tests/faults) KILLED."""
    tracker = Tracker("crash", tracking_root)
    ids = []
    with pytest.raises(type(error)), tracker.run("loso") as parent:
        ids.append(parent)
        with tracker.run("child", parent=parent) as child:
            ids.append(child)
            raise error
    client = MlflowClient(tracking_uri(tracking_root))
    assert [client.get_run(i).info.status for i in ids] == [status, status]
    # A break-it session: a command refused at once (no Ray cluster, no GPU) left FAILED
    # runs, alike in the runs table, that did not say why.
    assert [client.get_run(i).data.tags.get(NOTE_TAG) for i in ids] == \
        (["failed: RuntimeError: boom"] * 2 if status == "FAILED" else [None, None])


def test_the_experiment_is_marked_as_model_training(tracking_root, own_store):
    """MLflow 3's UI opens an experiment on its runs, not the GenAI traces overview, when the
    experiment's kind tag says model training; an older experiment gets the tag, a kind
    chosen by hand stays."""
    client = MlflowClient(tracking_uri(tracking_root))
    tracker = Tracker("kind-new", tracking_root)
    assert client.get_experiment(tracker.experiment_id).tags[EXPERIMENT_KIND_TAG] == \
        "custom_model_development"
    old = client.create_experiment("kind-old")
    chosen = client.create_experiment("kind-chosen", tags={EXPERIMENT_KIND_TAG: "finetuning"})
    Tracker("kind-old", tracking_root)
    Tracker("kind-chosen", tracking_root)
    assert client.get_experiment(old).tags[EXPERIMENT_KIND_TAG] == TRAINING_KIND
    assert client.get_experiment(chosen).tags[EXPERIMENT_KIND_TAG] == "finetuning"


def test_evaluation_run_is_found_by_its_predictions(tracking_root, own_store, tmp_path):
    predictions = tmp_path / "predictions.csv"
    predictions.write_text("model,subject\nsvm,sub01\n")
    from mer.core.records import file_digest

    assert evaluation_run_id(file_digest(predictions), tracking_root) is None
    tracker = Tracker("find-me", tracking_root)
    with tracker.run("loso", tags={PREDICTIONS_TAG: file_digest(predictions)}) as parent:
        pass
    assert evaluation_run_id(file_digest(predictions), tracking_root) == parent
    assert tracker.find_run(PREDICTIONS_TAG, file_digest(predictions)) == parent


def test_a_composites_per_corpus_figures_are_run_metrics():
    """The issue: a lab comparing runs on the field's per-corpus table (STSTNet's SAMM UF1,
    baseline against an experiment) found the corpora only inside evaluation.json: the MLflow
    runs table and search_runs could not show them. Each corpus's share is a metric now."""
    from mer.tracking.runs import report_metrics

    hybrid = {"uar": 0.8, "uf1": 0.7, "accuracy": 0.75, "fold_std_uar": 0.1,
              "corpora": {"samm": {"clips": 3, "accuracy": 0.5, "uar": 0.4, "uf1": 0.3},
                          "smic": {"clips": 2, "accuracy": 1.0, "uar": 1.0, "uf1": 1.0}}}
    svm = {"uar": 0.6, "uf1": 0.5, "accuracy": 0.55, "fold_std_uar": 0.2}  # one corpus
    assert report_metrics({"models": {"hybrid": hybrid, "svm": svm}}) == {
        "hybrid/uar": 0.8, "hybrid/uf1": 0.7, "hybrid/acc": 0.75, "hybrid/uar_sd": 0.1,
        "svm/uar": 0.6, "svm/uf1": 0.5, "svm/acc": 0.55, "svm/uar_sd": 0.2,
        "hybrid/samm/uar": 0.4, "hybrid/samm/uf1": 0.3, "hybrid/samm/acc": 0.5,
        "hybrid/smic/uar": 1.0, "hybrid/smic/uf1": 1.0, "hybrid/smic/acc": 1.0}


def test_flatten():
    assert flatten({"a": {"b": 1, "c": {"d": 2}}, "e": 3}) == {"a.b": 1, "a.c.d": 2, "e": 3}
    assert flatten({"a": {"b": 1}}, sep="/") == {"a/b": 1}


def _interruptible() -> None:
    """In the child before exec: SIGINT back to its default, so Python turns it into
    KeyboardInterrupt as in a terminal, and a process group of its own, as a shell starts a
    job in, so that Ctrl-C can be sent as a terminal sends it: to the whole group."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.setpgrp()


def started_ui(root: Path, port: int, params: Path, log: Path) -> subprocess.Popen:
    """`mer ui --port <port>` over the store at ``root``, once it says where the UI is. Ctrl-C
    reaches it as a terminal sends it: a suite started in the background (`make test &`) has
    SIGINT ignored, and its children inherit that unless told otherwise (_interruptible)."""
    with log.open("wb") as output:
        ui = subprocess.Popen([sys.executable, "-m", "mer.cli", "ui", "--port", str(port),
                               "--params", str(params)],
                              cwd=root, env=ui_environment(), stdout=output,
                              stderr=subprocess.STDOUT, preexec_fn=_interruptible)
    deadline = time.monotonic() + 120
    while "(Ctrl-C to stop)" not in log.read_text():
        if ui.poll() is not None or time.monotonic() > deadline:
            ui.kill()
            ui.wait(timeout=30)
            raise AssertionError(log.read_text()[-3000:])
        time.sleep(0.5)
    return ui


@pytest.mark.slow
def test_the_mlflow_ui_opens_the_experiment_on_its_training_runs(tracking_root, own_store,
                                                                 tmp_path):
    """`mer ui` (the real MLflow UI server on 127.0.0.1) prints, once the server answers, the
    experiment's runs table in the model-training view: its REST API (what the browser reads)
    says the experiment is model training and lists the parent with its nested fold, and the
    UI's own code reads the view from the printed address (MLflow 3.17's UI otherwise opens
    on its GenAI overview, whatever the tag says). Ctrl-C to `mer ui` stops the server."""
    tracker = Tracker("ui-served", tracking_root)
    with tracker.run("train.svm.trials=5") as parent, \
            tracker.run("svm sub01", parent=parent):
        pass
    (tmp_path / "params.yaml").write_text("tracking: {experiment: ui-served}\n")
    port = free_port()
    log = tmp_path / "ui.log"
    ui = started_ui(tracking_root, port, tmp_path / "params.yaml", log)
    base = f"http://127.0.0.1:{port}"

    def api(path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"{base}/api/2.0/mlflow/{path}", headers={"Content-Type": "application/json"},
            data=None if body is None else json.dumps(body).encode())
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    try:
        # One local user: the server and its uvicorn worker, not MLflow's GenAI job runner
        # and its worker pool (16 processes on a 2-core machine before).
        (server,) = psutil.Process(ui.pid).children()
        processes = server.children(recursive=True)
        assert not [p.cmdline() for p in processes if "mlflow.server.jobs" in " ".join(p.cmdline())]
        assert len(processes) <= 2, [p.cmdline() for p in processes]
        experiment = api("experiments/get-by-name?experiment_name=ui-served")["experiment"]
        tags = {t["key"]: t["value"] for t in experiment["tags"]}
        assert tags[EXPERIMENT_KIND_TAG] == TRAINING_KIND == "custom_model_development"
        address = f"{base}/#/experiments/{experiment['experiment_id']}/runs?{TRAINING_VIEW}"
        assert f"MLflow UI for {Path(tracking_root).resolve()}: {address} " in log.read_text()
        with urllib.request.urlopen(base, timeout=30) as response:
            script = re.search(r'src="([^"]*/main\.[0-9a-f]+\.js)"', response.read().decode())
        with urllib.request.urlopen(f"{base}/{script[1]}", timeout=30) as response:
            code = response.read().decode()
        assert '.get("workflowType")' in code and '"machine_learning"' in code
        assert TRAINING_VIEW == "workflowType=machine_learning"
        runs = api("runs/search", {"experiment_ids": [experiment["experiment_id"]]})["runs"]
        names = {r["info"]["run_name"]: {t["key"]: t["value"] for t in r["data"]["tags"]}
                 for r in runs}
        assert set(names) == {"train.svm.trials=5", "svm sub01"}
        assert names["svm sub01"][PARENT_TAG] == parent
        # Ctrl-C as a terminal sends it, to the foreground process group. A break-it session:
        # the server got it too and printed uvicorn's 45-line traceback. Only mer gets it,
        # and stops the server it started.
        os.killpg(ui.pid, signal.SIGINT)
        assert ui.wait(timeout=60) == 0
        assert not server.is_running() or server.status() == psutil.STATUS_ZOMBIE
        said = log.read_text()
        assert "Traceback" not in said and "KeyboardInterrupt" not in said, said[-3000:]
        assert "mer ui: stopping the MLflow UI\n" in said, said[-3000:]
    finally:
        if ui.poll() is None:
            ui.kill()
            ui.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_killed_mer_ui_leaves_no_server_holding_the_port(tracking_root, own_store, tmp_path):
    """The server has its own process group (so that a terminal's Ctrl-C reaches `mer ui`
    alone); `mer ui` killed outright (SIGKILL, a closed terminal) still takes it down, and a
    new `mer ui` starts on the same port at once."""
    params = tmp_path / "params.yaml"
    params.write_text("{}\n")
    port = free_port()
    ui = started_ui(tracking_root, port, params, tmp_path / "ui.log")
    (server,) = psutil.Process(ui.pid).children()
    left = [server, *server.children(recursive=True)]
    try:
        ui.kill()
        ui.wait(timeout=30)
        _, alive = psutil.wait_procs(left, timeout=60)
        assert not alive, [p.cmdline() for p in alive]
    finally:
        for process in left:  # a failure leaves no server running
            with contextlib.suppress(psutil.Error):
                process.kill()
    with pytest.raises(ConnectionRefusedError):  # nothing listens on the port
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    # A plain bind took the port for in use while its connections were in TIME_WAIT (up to a
    # minute after a server stopped): `mer ui` starts there again at once.
    again = started_ui(tracking_root, port, params, tmp_path / "again.log")
    os.killpg(again.pid, signal.SIGINT)
    assert again.wait(timeout=60) == 0


def test_a_registered_version_carries_its_loso_evaluation(tracking_root, own_store):
    """The version's source run holds the LOSO metrics; the version has tags, a description
    and a link (a URL, and a Markdown link in the description) to the evaluation run."""
    from mer.tracking.registry import describe_version, tags_from_evaluation

    tracker = Tracker("registered", tracking_root)
    with tracker.run("evaluation") as evaluation:
        pass
    with tracker.run("register") as source:
        pass
    client = tracker.client
    client.create_registered_model("mer-described")
    version = client.create_model_version("mer-described", f"runs:/{source}/model",
                                          run_id=source).version
    report = {"models": {"hybrid": {"uar": 0.75, "uf1": 0.7, "accuracy": 0.8}}}
    describe_version(tracker, "mer-described", version, source,
                     tags_from_evaluation(report, evaluation))

    described = client.get_model_version("mer-described", version)
    page = f"#/experiments/{tracker.experiment_id}/runs/{evaluation}?workflowType=machine_learning"
    # A local store's UI is at whatever `mer ui --port` serves it: no URL with a port guessed
    # (a break-it session: :5000 on every version); the description's link is relative.
    assert "evaluation_run_url" not in described.tags
    assert described.tags["evaluation_run_id"] == evaluation
    assert described.tags["loso_uar"] == "0.75"
    assert f"]({page})" in described.description
    assert "UAR 0.750, UF1 0.700, accuracy 0.800" in described.description
    assert client.get_run(described.run_id).data.metrics == {
        "loso_uar": 0.75, "loso_uf1": 0.7, "loso_accuracy": 0.8}


def test_a_version_names_its_evaluation_protocol_and_is_linked_only_to_an_evaluation():
    """The issue: a cross-corpus evaluation tagged a version loso_uar and was described as
    leave-one-subject-out; and with no evaluation.json, the version was still linked to the
    MLflow run of predictions it was not checked against."""
    from mer.tracking.registry import tags_from_evaluation, version_description

    report = {"models": {"hybrid": {"uar": 0.75, "uf1": 0.7, "accuracy": 0.8}}}
    tags = tags_from_evaluation(report, "run-1", "cross-corpus")
    assert tags == {"cross_corpus_uar": "0.75", "cross_corpus_uf1": "0.7",
                    "cross_corpus_accuracy": "0.8", "evaluation_protocol": "cross-corpus",
                    "evaluation_run_id": "run-1"}
    description = version_description(tags, None)
    assert "Cross-corpus evaluation: UAR 0.750, UF1 0.700, accuracy 0.800." in description
    assert "Leave-one-subject-out" not in description
    assert tags_from_evaluation({}, "run-1", "loso") == {}
    assert "No evaluation was found" in version_description({}, None)


def test_a_version_names_its_variant_and_its_spotter():
    """A break-it session: versions registered by a spotting-only and an SVM-only experiment
    had the same tags and description; what told them apart was inside provenance.json."""
    from mer.tracking.registry import tags_from_evaluation, variant_tags, version_description

    report = {"models": {"hybrid": {"uar": 0.75, "uf1": 0.7, "accuracy": 0.8}}}
    tags = {**tags_from_evaluation(report, "run-1", "loso"),
            **variant_tags("iou4", "synthetic", {"micro": 0.3, "macro": 0.35}, 6.0,
                           {"micro": 0.3, "macro": 0.6, "overall": 0.4627})}
    assert {k: tags[k] for k in ("variant", "spotting_corpus", "spotting_p_micro",
                                 "spotting_p_macro", "spotting_noise_floor",
                                 "spotting_loso_f1_overall")} == {
        "variant": "iou4", "spotting_corpus": "synthetic", "spotting_p_micro": "0.3",
        "spotting_p_macro": "0.35", "spotting_noise_floor": "6.0",
        "spotting_loso_f1_overall": "0.4627"}
    description = version_description(tags, None)
    assert ("Spotter: p micro 0.3, macro 0.35, noise floor 6.0, fitted on synthetic (LOSO F1 "
            "overall 0.463)." in description)
    assert "Registered by: iou4." in description
    assert "spotting_loso_f1_overall" not in variant_tags("x", "--p", {"micro": 0.1,
                                                                      "macro": 0.2}, 0.0, {})


def test_mer_ui_on_a_port_in_use_says_so_at_once(tmp_path, own_store):
    """Another server's answers on the port would pass for the new one's: refused up front."""
    (tmp_path / "params.yaml").write_text("{}\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "mer.cli", "ui", "--port", str(port)],
                              cwd=tmp_path, env=ui_environment(), capture_output=True,
                              text=True, check=False, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"port {port} on 127.0.0.1 is in use" in done.stderr and "--port" in done.stderr
    # the store it made is said to be new (h66: made without a word)
    assert f"{tmp_path}/mlflow.db is new and holds no runs yet: `dvc repro`" in done.stderr


@pytest.mark.parametrize("port", ["70000", "-1", "0", "http"])
def test_mer_ui_on_no_port_says_so(tmp_path, monkeypatch, capsys, port):
    """The issue: --port 70000 and -1 ended in an OverflowError traceback, and --port 0
    started a UI on a port of the system's choosing that mer never named."""
    from mer.cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(["ui", "--port", port])
    assert exited.value.code == 2
    assert (f"argument --port: '{port}' is not a port to listen on: give a number from 1 to "
            "65535") in capsys.readouterr().err
    assert not (tmp_path / "mlflow.db").exists()


def test_the_served_model_pins_public_releases():
    """A break-it session: the registered model's requirements pinned torch==2.13.0+cpu (the
    CPU wheel's local version), which PyPI does not serve, so the model's own environment
    (`mlflow models serve` without --env-manager local, build-docker) could not be built."""
    from importlib import metadata

    from packaging.version import Version

    from mer.tracking.registry import RUNTIME_PACKAGES, pip_requirements

    pins = pip_requirements()
    assert len(pins) == len(RUNTIME_PACKAGES) and not [pin for pin in pins if "+" in pin]
    assert f"torch=={Version(metadata.version('torch')).public}" in pins
