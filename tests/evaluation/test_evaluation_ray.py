"""train.backend ray on a real local Ray (2 CPUs, 127.0.0.1, no dashboard): the local
backend's bytes, resuming from the fold cache, a killed worker's fold rerun and no other."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import ray
from test_evaluation_loso import PowerCut, same

from mer.config import parse_params
from mer.core.clipset import ClipSet
from mer.errors import MerError
from mer.evaluation.loso import FoldOutcome, run_loso
from mer.evaluation.ray_folds import RayOptions, connect, gpus_for
from mer.evaluation.report import (
    evaluation_report,
    headline,
    predictions_csv,
    predictions_frame,
    read_predictions,
    to_json,
)
from mer.evaluation.splits import loso_folds
from mer.models.learners import HybridLearner, MajorityLearner, SvmLearner
from mer.stages.train import ray_options

RAY = RayOptions(cpus=2, max_retries=2)


def _mers_sigterm_handler(signum: int, frame: Any) -> None:
    """Stands in for mer.cli's while Ray starts."""


@pytest.fixture(scope="module")
def local_ray():
    """One Ray for the module, started the way `mer train` starts one (worker start-up costs
    seconds: the tests share its workers); stopped at the end. Yields the SIGTERM handler found
    right after Ray started, with _mers_sigterm_handler installed before."""
    previous = signal.signal(signal.SIGTERM, _mers_sigterm_handler)
    try:
        assert connect(ray, RAY), "this test process was connected to Ray already"
        after = signal.getsignal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)
    yield after
    ray.shutdown()


def test_starting_ray_keeps_the_sigterm_handler_it_found(local_ray):
    """ray.init installs sys.exit(15) for SIGTERM: `mer train` would exit 15, runs FAILED."""
    assert local_ray is _mers_sigterm_handler


@dataclass(frozen=True)
class DiesOnce(PowerCut):
    """``inner`` (same name and cache key) that kills its own worker process (SIGKILL, as the
    OOM killer would) the first time it fits ``held_out``'s fold, and appends the held-out
    subject (of ``subjects``) of every fit it completes to ``log``."""

    subjects: tuple[str, ...] = ()
    marker: str = ""
    log: str = ""

    def fit(self, train: ClipSet, seed: int) -> Any:
        trained_on = set(train.subject.tolist())
        if self.held_out not in trained_on and not Path(self.marker).exists():
            Path(self.marker).touch()
            os.kill(os.getpid(), signal.SIGKILL)
        fitted = self.inner.fit(train, seed)
        (held_out,) = set(self.subjects) - trained_on
        with open(self.log, "a", encoding="utf-8") as handle:  # one short line: one write
            handle.write(f"{held_out}\n")
        return fitted


def svm(params) -> SvmLearner:
    return SvmLearner("svm", "au-region", params.svm)


def test_ray_gives_the_local_bytes_and_resumes_from_the_cache(local_ray, clips, params,
                                                               tmp_path):
    learners = [HybridLearner(params), svm(params), MajorityLearner()]
    local = run_loso(clips, learners, seed=0)
    arrived: list[tuple[str, str, bool]] = []

    def on_fold(outcome: FoldOutcome, cached: bool) -> None:
        arrived.append((outcome.learner, outcome.subject, cached))

    on_ray = run_loso(clips, learners, seed=0, cache_dir=tmp_path, on_fold=on_fold, ray=RAY)
    assert same(on_ray, local)
    assert metrics_json(on_ray, clips, tmp_path) == metrics_json(local, clips, tmp_path)
    assert len(arrived) == 3 * 6 and not any(cached for *_, cached in arrived)

    # An interrupted run: two folds never finished. The rerun computes those two only.
    lost = sorted(tmp_path.glob("svm_*.json"))[:2]
    for path in lost:
        path.unlink()
    arrived.clear()
    resumed = run_loso(clips, learners, seed=0, cache_dir=tmp_path, on_fold=on_fold, ray=RAY)
    assert same(resumed, local)
    assert sorted((learner, subject) for learner, subject, cached in arrived if not cached) \
        == [("svm", "sub01"), ("svm", "sub02")]


def metrics_json(outcomes: list[FoldOutcome], clips: ClipSet, folder: Path) -> bytes:
    """reports/metrics.json's bytes for these outcomes, as `mer train` + `mer evaluate`
    write it (predictions.csv, read back, evaluated, the headline)."""
    csv = folder / "predictions.csv"
    csv.write_text(predictions_csv(predictions_frame(outcomes, clips)), encoding="utf-8")
    frame = read_predictions(csv, clips.classes)
    return to_json(headline(evaluation_report(frame)), sort_keys=False).encode()


def test_a_killed_worker_loses_no_finished_fold(local_ray, clips, params, tmp_path):
    learners = [svm(params), MajorityLearner()]
    local = run_loso(clips, learners, seed=0)
    marker, log = tmp_path / "killed", tmp_path / "fits.log"
    subjects = [fold.subject for fold in loso_folds(clips.subject)]
    dying = [DiesOnce(learners[0], subjects[3], tuple(subjects), str(marker), str(log)),
             learners[1]]
    on_ray = run_loso(clips, dying, seed=0, cache_dir=tmp_path / "folds", ray=RAY)
    assert marker.exists(), "the worker was never killed"
    assert same(on_ray, local)
    assert metrics_json(on_ray, clips, tmp_path) == metrics_json(local, clips, tmp_path)
    # Every fold fitted to the end exactly once: the folds finished before and after the kill
    # were not rerun, the killed one was rerun (Ray's max_retries) and finished.
    fits = Counter(log.read_text(encoding="utf-8").split())
    assert fits == dict.fromkeys(subjects, 1)
    assert len(list((tmp_path / "folds").glob("*.json"))) == 2 * 6


def test_a_worker_without_a_module_the_task_needs_is_one_line(local_ray, tmp_path,
                                                             monkeypatch):
    """A break-it session: a cluster started from another environment, without mer, ended
    `mer train` in 41 lines of Ray's traceback ('No module named mer'), the task's arguments
    failing to load before mer's own version check could run. Here the module exists only
    on this process's path, as mer does only in the driver's environment."""
    from mer.evaluation.ray_folds import _result

    (tmp_path / "only_in_the_driver.py").write_text("class Held:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # after the workers' path was set
    import only_in_the_driver

    ref = ray.remote(lambda held: 1).options(max_retries=0).remote(only_in_the_driver.Held())
    with pytest.raises(MerError, match=r"a Ray worker cannot import only_in_the_driver \(No "
                                       r"module named 'only_in_the_driver'\): install this "
                                       r"clone's mer, .* on every node"):
        _result(ray, ref, RAY)


@pytest.mark.parametrize(("error", "said"), [
    (ray.exceptions.LocalRayletDiedError(), "a fold's result was lost: the Ray cluster, or "
     "the node that held it, went away (LocalRayletDiedError); finished folds are kept"),
    (ray.exceptions.WorkerCrashedError(), "a fold's Ray worker died 1 time (WorkerCrashedError)")])
def test_a_cluster_gone_mid_run_is_one_line(error, said):
    """h61: `ray stop` during `mer train` ended in a 33-line traceback of Ray's
    LocalRayletDiedError, which _result did not turn into mer's message; and a worker with
    no retries "died 1 times". (Ray's own get, raising what it raises then.)"""
    from types import SimpleNamespace

    from mer.evaluation.ray_folds import _result

    def get(ref: Any) -> Any:
        raise error

    with pytest.raises(MerError, match=re.escape(said)):
        _result(SimpleNamespace(exceptions=ray.exceptions, get=get), None,
                RayOptions(cpus=1, max_retries=0))


def test_train_backend_ray_reaches_the_loso_loop(tmp_path):
    params = parse_params({"train": {"backend": "ray", "parallel_folds": 3,
                                     "ray_address": "10.0.0.5:6379", "ray_max_retries": 5}})
    assert ray_options(params) == RayOptions(address="10.0.0.5:6379", cpus=3, max_retries=5)
    assert ray_options(parse_params({})) is None  # local, the default


def test_gpu_folds_ask_ray_for_a_gpu_and_refuse_a_cluster_without_one(params):
    def learner(accelerator: str) -> HybridLearner:
        return HybridLearner(params.model_copy(
            update={"cnn": params.cnn.model_copy(update={"accelerator": accelerator})}))

    assert gpus_for(learner("cpu"), cluster_gpus=2) == 0
    assert gpus_for(learner("auto"), cluster_gpus=0) == 0
    assert gpus_for(learner("auto"), cluster_gpus=2) == 1
    assert gpus_for(learner("gpu"), cluster_gpus=2) == 1
    assert gpus_for(svm(params), cluster_gpus=2) == 0
    with pytest.raises(MerError, match="the Ray cluster has no GPU"):
        gpus_for(learner("gpu"), cluster_gpus=0)


@contextmanager
def socket_port() -> Iterator[int]:
    """A free local TCP port, nothing listening on it once the block starts."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    yield port


class NotJoined:  # Ray as a process sees it before joining: ray.init must not be called
    @staticmethod
    def is_initialized() -> bool:
        return False

    @staticmethod
    def init(**kwargs: Any) -> None:
        raise AssertionError(f"ray.init({kwargs}) was called")


@pytest.mark.parametrize("address", ["127.0.0.1:{port}", "ray://127.0.0.1:{port}"])
def test_an_address_where_nothing_answers_is_one_line_in_seconds(address):
    """The issue: train.ray_address 127.0.0.1:1 hung `mer train` for over 7 minutes with only
    Ray's own retries, and a SIGTERM then exited 15 with no message (Ray's handler)."""
    import time

    with socket_port() as port:
        target = address.format(port=port)

    started = time.monotonic()
    with pytest.raises(MerError, match=rf"cannot join the Ray cluster at {target}: nothing "
                                       rf"answers at 127.0.0.1:{port} \(.*\); start it"):
        connect(NotJoined, RayOptions(address=target, cpus=1, max_retries=0))
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(("address", "env", "named"), [
    ("localhost", None, "train.ray_address"), (None, "http://127.0.0.1:6390", "$RAY_ADDRESS"),
    ("127.0.0.1:99999", None, "train.ray_address"), ("127.0.0.1:6390/", None,
                                                     "train.ray_address")])
def test_a_malformed_ray_address_is_named_at_once(monkeypatch, address, env, named):
    """A break-it session: 'localhost' ended in Ray's raw ValueError, 'http://...' was
    blamed on DNS, '127.0.0.1:6390/' waited minutes."""
    if env is None:
        monkeypatch.delenv("RAY_ADDRESS", raising=False)
    else:
        monkeypatch.setenv("RAY_ADDRESS", env)
    shown = re.escape(repr(address or env))
    with pytest.raises(MerError, match=rf"^{re.escape(named)} is {shown}, which is no Ray "
                                       r"address: write the head's host:port"):
        connect(NotJoined, RayOptions(address=address, cpus=1, max_retries=0))


def test_spaces_around_a_ray_address_are_not_part_of_it(monkeypatch):
    """A break-it session: '127.0.0.1:6390 ' (pasted with a space) skipped the check that
    something answers there, and ray.init waited for minutes."""
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with socket_port() as port:
        address = f" 127.0.0.1:{port} "
    with pytest.raises(MerError, match=rf"cannot join the Ray cluster at 127\.0\.0\.1:{port}: "
                                       "nothing answers"):
        connect(NotJoined, RayOptions(address=address, cpus=1, max_retries=0))


def test_a_port_where_something_else_answers_is_not_taken_for_ray(local_ray):
    """The issue: an address where a service other than Ray listens (a stale address, the
    dashboard's port) hung `mer train` as a closed one did. What answers must speak gRPC, as
    the real GCS of the local Ray does."""
    import subprocess
    import sys
    import time

    from mer.evaluation.ray_folds import check_answers

    check_answers(ray.get_runtime_context().gcs_address)  # the real one passes
    with socket_port() as port:
        server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                                   "127.0.0.1"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                check_answers(f"127.0.0.1:{port}", timeout=2)
            except MerError as exc:
                if "nothing answers" in str(exc) and time.monotonic() < deadline:
                    time.sleep(0.2)  # the server is starting
                    continue
                assert (f"what answers at 127.0.0.1:{port} is not a Ray cluster (no gRPC "
                        "server: it said b'") in str(exc)
                break
            raise AssertionError("an HTTP/1 server was taken for a Ray cluster")
    finally:
        server.kill()
        server.wait()


@contextmanager
def ray_head(token: Path, own_temp: bool = True) -> Iterator[str]:
    """A cluster started as the README starts one (`ray start --head`), with its own token
    file and RAY_AUTH_MODE unset, so Ray turns token authentication on, as on any machine
    where a local ray.init ever wrote ~/.ray/auth_token; its address. Stopped afterwards.
    ``own_temp`` False: in Ray's default temp folder, where a bare ray.init finds it."""
    import tempfile
    import time

    from mer.evaluation.ray_folds import check_answers

    # Ray's socket paths must be short
    temp = tempfile.mkdtemp(prefix="mer-ray-", dir="/tmp") if own_temp else None
    with socket_port() as port:
        address = f"127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_AUTH", "RAY_ADDRESS"))}
    env["RAY_AUTH_TOKEN_PATH"] = str(token)
    head = subprocess.Popen(
        [str(Path(sys.executable).with_name("ray")), "start", "--head", "--block",
         "--port", str(port), "--num-cpus", "1", "--include-dashboard=false",
         "--disable-usage-stats", *(["--temp-dir", temp] if temp else [])],
        env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                check_answers(address, timeout=1)
                break
            except MerError:
                assert head.poll() is None and time.monotonic() < deadline, "no head started"
                time.sleep(1)
        yield address
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()


@pytest.mark.slow
def test_a_ray_of_its_own_starts_beside_a_ray_start_cluster(tmp_path):
    """h61: with a `ray start --head` cluster on the machine and no address given, ray.init
    joined it and refused mer's num_cpus with a 25-line traceback; the README says mer then
    starts a Ray of train.parallel_folds CPUs for the run."""
    import secrets

    token = tmp_path / "auth_token"
    token.write_text(secrets.token_hex(32))
    with ray_head(token, own_temp=False):
        started = _join(None, token, cpus=2)
    assert started.returncode == 0, started.stderr[-2000:]
    assert "joined 2.0" in started.stdout  # its own 2 CPUs, not the head's 1


def _join(address: str | None, token: Path, cpus: int = 1
          ) -> subprocess.CompletedProcess[str]:
    """mer's connect in a fresh process (Ray keeps its authentication mode per process),
    with RAY_AUTH_MODE unset and ``token`` as this machine's token file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_AUTH", "RAY_ADDRESS"))}
    env["RAY_AUTH_TOKEN_PATH"] = str(token)
    script = ("from mer.evaluation.ray_folds import RayOptions, connect, import_ray\n"
              "ray = import_ray()  # as run_on_ray imports it\n"
              f"connect(ray, RayOptions(address={address!r}, cpus={cpus}, max_retries=0))\n"
              "print('joined', ray.cluster_resources()['CPU'])\nray.shutdown()\n")
    return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
def test_a_cluster_started_with_ray_start_is_joined_with_this_machines_token(tmp_path):
    """A break-it session: the README's `ray start --head`, then `mer train` with RAY_ADDRESS,
    was refused ('cannot join ... start it or fix the address', both right), because Ray 2.60
    turns token authentication on for a head when a token exists, and ray.init(address=...)
    never does for a driver; Ray said why only in its log lines."""
    import secrets

    token, other = tmp_path / "auth_token", tmp_path / "other_token"
    token.write_text(secrets.token_hex(32))
    other.write_text(secrets.token_hex(32))
    with ray_head(token) as address:
        joined = _join(address, token)
        assert "joined 1.0" in joined.stdout, joined.stderr[-2000:]
        refused = _join(address, other)
    assert refused.returncode != 0
    assert (f"cannot join the Ray cluster at {address}: it asks for Ray's authentication "
            f"token, and the one in {other} is not the cluster's; copy the head node's "
            "~/.ray/auth_token") in refused.stderr, refused.stderr[-2000:]
