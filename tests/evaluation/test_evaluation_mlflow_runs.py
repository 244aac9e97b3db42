"""What a user sees of `mer train` and `mer evaluate` in MLflow, on a real SQLite store.

One tiny toy project (4 subjects, the SVM alone: seconds) goes through the real stages twice,
the second time with every fold cached, as a user rerunning `mer train` would."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from mlflow import MlflowClient

from mer.cli import main
from mer.config import parse_params
from mer.tracking.runs import parent_name
from mer.tracking.store import PARENT_TAG, tracking_uri
from toy import write_toy

QUICK = ("train:\n"
         "  models: [svm]\n"
         "  parallel_folds: 1\n"
         "  svm: {trials: 2, inner_folds: 2}\n")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The project after `mer train`, `mer evaluate`, then both again (every fold cached)."""
    root = tmp_path_factory.mktemp("mlflow-runs")
    write_toy(root / "data", subjects=4, clips_per_subject=5)
    (root / "params.yaml").write_text(QUICK)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        for name in ("MLFLOW_TRACKING_URI", "DVC_EXP_NAME"):
            patch.delenv(name, raising=False)
        for command in ("train", "evaluate", "train", "evaluate"):
            assert main([command]) == 0
    client = MlflowClient(tracking_uri(root))
    experiment = client.get_experiment_by_name("mer")
    runs = client.search_runs([experiment.experiment_id], max_results=1000,
                              order_by=["attributes.start_time ASC"])
    return SimpleNamespace(
        root=root, client=client, experiment=experiment,
        parents=[r for r in runs if PARENT_TAG not in r.data.tags],
        children=[r for r in runs if PARENT_TAG in r.data.tags])


def toy_project(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The toy data and QUICK params in ``root``, made the working folder, with the project's
    own MLflow store (not one named by the environment) and no DVC experiment."""
    write_toy(root / "data", subjects=4, clips_per_subject=5)
    (root / "params.yaml").write_text(QUICK)
    monkeypatch.chdir(root)
    for name in ("MLFLOW_TRACKING_URI", "DVC_EXP_NAME"):
        monkeypatch.delenv(name, raising=False)


def test_a_parent_run_is_named_by_the_params_that_differ(project):
    assert project.parents[0].info.run_name == \
        "train.models=[svm], train.parallel_folds=1, train.svm.trials=2, train.svm.inner_folds=2"


def test_a_variant_is_named_whole_a_run_name_cut_to_mlflows_limit(monkeypatch):
    """A break-it session: a registered version's variant tag was the run name, cut at 250
    characters, so the changed param that told two versions apart could be cut off."""
    from mer.tracking.runs import NAME_CHARS, variant_name

    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    params = parse_params({"train": {"models": ["svm", "cnn", "hybrid", "ststnet",
                                                "off-apexnet", "sssnet"],
                                     "cnn": {"epochs": 7, "batch_size": 8, "ensemble": 2},
                                     "svm": {"trials": 3, "inner_folds": 2},
                                     "hybrid": {"experts": ["svm", "ststnet", "sssnet"]},
                                     "seed": 11, "parallel_folds": 1},
                           "spotting": {"iou": 0.4}})
    whole = variant_name(params, leave_out=())
    assert len(whole) > NAME_CHARS and whole.endswith("spotting.iou=0.4")
    cut = parent_name(params, leave_out=())
    assert len(cut) == NAME_CHARS and cut == whole[:NAME_CHARS - 1] + "…"


def test_training_no_cnn_pretrains_none(project):
    """train.models [svm] under the default train.cnn.pretrain (510 clips): no pretraining
    corpus is built, since no model would start from it."""
    cache = project.root / "data" / "pretrain"
    assert not cache.exists() or not any(cache.iterdir())


def test_under_dvc_exp_run_a_parent_run_is_named_by_the_experiment(monkeypatch):
    params = parse_params({"train": {"seed": 3}})
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    assert parent_name(params) == "train.seed=3"
    assert parent_name(parse_params({})) == "defaults"
    monkeypatch.setenv("DVC_EXP_NAME", "svm-trials-5")  # what `dvc exp run` exports
    assert parent_name(params) == "svm-trials-5"
    monkeypatch.setenv("DVC_EXP_NAME", "x" * 300)
    assert len(parent_name(params)) == 250  # MLflow's longest run name


def test_the_parent_run_holds_each_models_headline(project):
    """UAR, UF1, accuracy and fold spread per model, as in reports/metrics.json; the rest of
    the evaluation is the run's evaluation.json."""
    import json

    headline = json.loads((project.root / "reports/metrics.json").read_text())
    parent = project.client.get_run(project.parents[0].info.run_id)
    model_metrics = {k: v for k, v in parent.data.metrics.items() if not k.startswith("system/")}
    assert model_metrics == pytest.approx(
        {f"{m}/{k}": v for m, figures in headline.items() for k, v in figures.items()},
        abs=1e-6)  # metrics.json is rounded to 6 decimals
    assert set(headline) == {"svm", "majority", "au-oracle"}
    artifacts = {a.path for a in project.client.list_artifacts(parent.info.run_id)}
    assert {"evaluation.json", "metrics.json"} <= artifacts
    figures = {a.path for a in project.client.list_artifacts(parent.info.run_id, "plots")}
    assert "plots/models.png" in figures  # the models side by side, with their fold spread


def test_the_parent_run_has_the_machines_system_metrics_while_training(project):
    """MLflow's system metrics (CPU, memory, disk, network) of both `mer train`s, the second
    (every fold cached, the parent reopened) continuing the first's steps; they describe the
    machine, so no report, hence no DVC metric, holds them."""
    parent = project.client.get_run(project.parents[0].info.run_id)
    system = {k for k in parent.data.metrics if k.startswith("system/")}
    assert {"system/cpu_utilization_percentage", "system/system_memory_usage_megabytes"} <= system
    steps = [m.step for m in project.client.get_metric_history(
        parent.info.run_id, "system/cpu_utilization_percentage")]
    assert len(steps) >= 2 and len(steps) == len(set(steps))  # one step at least per train
    for report in (project.root / "reports").glob("*.json"):
        assert "system/" not in report.read_text(), report.name


def test_folds_are_nested_runs_timed_as_their_fit(project):
    """One child per (model, fold) under its parent, starting and ending when the fold's fit
    did (the cached fold's times), with its confusion matrix as an image and a Source."""
    import json

    parent = project.parents[0].info.run_id
    children = [c for c in project.children if c.data.tags[PARENT_TAG] == parent]
    assert len(children) == 3 * 4  # svm, majority, au-oracle x 4 held-out subjects
    folds = {}
    for path in (project.root / "data/folds").glob("*.json"):
        fold = json.loads(path.read_text())
        folds[fold["learner"], fold["subject"]] = fold
    for child in children:
        # each of these learners has one model, of its own name
        fold = folds[child.data.tags["mer.model"], child.data.tags["mer.subject"]]
        assert child.info.start_time == round(fold["started"] * 1000)
        assert child.info.end_time == round((fold["started"] + fold["seconds"]) * 1000)
        assert child.data.tags["mlflow.source.name"]
        assert [a.path for a in project.client.list_artifacts(child.info.run_id)
                if a.path.startswith("confusion")] == ["confusion.png"]
    png = project.client.download_artifacts(children[0].info.run_id, "confusion.png",
                                            str(project.root))
    assert Path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_parent_run_logs_the_clips_it_trained_on_as_a_dataset(project):
    """The MLflow UI's Datasets column: the manifest's rows of the trained clips."""
    import json

    run = project.client.get_run(project.parents[0].info.run_id)
    [entry] = run.inputs.dataset_inputs
    dataset = entry.dataset
    assert dataset.name == "synthetic casme2-5"
    assert dataset.digest == run.data.tags["mer.data_sha256"][:16]
    assert json.loads(dataset.source)["uri"].endswith("data/manifest.parquet")
    assert json.loads(dataset.profile)["num_rows"] == 4 * 5
    assert {t.key: t.value for t in entry.tags}["mlflow.data.context"] == "training"


def test_rerunning_with_every_fold_cached_logs_no_new_runs(project):
    """The second `mer train` found every fold cached: it reopened its parent run and logged
    no child twice; the second `mer evaluate` completed that same parent."""
    [parent] = project.parents
    assert parent.info.status == "FINISHED"
    keys = [c.data.tags["mer.fold_key"] for c in project.children]
    assert len(keys) == len(set(keys)) == 3 * 4
    assert {c.data.tags["mer.from_cache"] for c in project.children} == {"false"}
    # A break-it session: each `mer evaluate` added another step-0 point to every metric.
    for key in ("svm/uar", "majority/uf1"):
        assert len(project.client.get_metric_history(parent.info.run_id, key)) == 1


def test_a_reopened_parent_keeps_the_duration_of_its_training(tmp_path, monkeypatch):
    """A review (h62 F10): `mer evaluate`, and `mer train` with every fold cached, reopen the
    training's parent run, and each moved its end time: the MLflow UI's Duration became the
    time since training, a day for an evaluation made the next day."""
    import time

    toy_project(tmp_path, monkeypatch)
    assert main(["train"]) == 0
    client = MlflowClient(tracking_uri(tmp_path))
    [parent] = [r for r in client.search_runs(
        [client.get_experiment_by_name("mer").experiment_id], max_results=1000)
        if PARENT_TAG not in r.data.tags]
    time.sleep(1.1)
    for command in ("evaluate", "train"):
        assert main([command]) == 0
        run = client.get_run(parent.info.run_id)
        assert run.info.status == "FINISHED", command
        assert (run.info.start_time, run.info.end_time) == \
            (parent.info.start_time, parent.info.end_time), command


def test_a_training_whose_fold_cache_is_gone_is_a_new_parent(tmp_path, monkeypatch):
    """The issue: the same training again after its fold cache was deleted reopened the
    finished parent, which then held every fold twice (and a stop made it KILLED)."""
    import shutil

    toy_project(tmp_path, monkeypatch)
    assert main(["train"]) == 0
    shutil.rmtree(tmp_path / "data" / "folds")
    assert main(["train"]) == 0
    client = MlflowClient(tracking_uri(tmp_path))
    runs = client.search_runs([client.get_experiment_by_name("mer").experiment_id],
                              max_results=1000)
    parents = [r for r in runs if PARENT_TAG not in r.data.tags]
    assert [p.info.status for p in parents] == ["FINISHED", "FINISHED"]
    assert not any("mer.folds_from" in p.data.tags for p in parents)  # each logged its own
    for parent in parents:
        children = [r for r in runs if r.data.tags.get(PARENT_TAG) == parent.info.run_id]
        keys = [c.data.tags["mer.fold_key"] for c in children]
        assert len(keys) == len(set(keys)) == 3 * 4


def test_a_training_that_refits_cached_folds_says_why(tmp_path, monkeypatch, caplog):
    """A break-it session: after a pull that edited one log message, an SVM-only variant
    refitted every fold (minutes, not seconds), while DVC said train was up to date and
    nothing said why."""
    toy_project(tmp_path, monkeypatch)
    with caplog.at_level("INFO", logger="mer.stages.train"):
        assert main(["train"]) == 0
    assert "under another key" not in caplog.text
    (tmp_path / "params.yaml").write_text(QUICK + "  seed: 7\n")
    caplog.clear()
    with caplog.at_level("INFO", logger="mer.stages.train"):
        assert main(["train"]) == 0
    assert ("12 of the 12 fold fits have a fit cached in data/folds under another key, so "
            "they are fitted again: their data, the settings they read, the seed or mer's "
            "code differ") in caplog.text


def test_evaluating_without_the_training_run_says_so(tmp_path, monkeypatch, caplog):
    """A break-it session: after mlflow.db was deleted, `mer evaluate` logged to a new run
    named as a training parent, without folds, curves or trials, and said nothing; `mer
    train` then logs the cached folds again, and the evaluation goes to its run. (After the
    deletion each command runs in a process of its own, as a user's does.)"""
    import os
    import subprocess
    import sys

    toy_project(tmp_path, monkeypatch)
    assert main(["train"]) == 0
    with caplog.at_level("WARNING", logger="mer.tracking.runs"):
        assert main(["evaluate"]) == 0
    assert "no run in the tracking store" not in caplog.text
    (tmp_path / "mlflow.db").unlink()

    def mer(command: str) -> str:
        done = subprocess.run([sys.executable, "-m", "mer.cli", command], cwd=tmp_path,
                              env={**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"},
                              capture_output=True, text=True, check=False, timeout=600)
        assert done.returncode == 0, done.stderr
        return done.stderr

    said = mer("evaluate")
    assert ("no run in the tracking store sqlite:///" in said
            and "wrote reports/predictions.csv (sha256 " in said
            and "`mer train` logs them again (cached fold fits are not refitted), then `mer "
                "evaluate`" in said), said
    assert "reused 12 of 12 fold fits" in mer("train")
    assert "no run in the tracking store" not in mer("evaluate")


def test_the_baseline_never_reopens_an_experiments_run(tmp_path, monkeypatch):
    """A break-it session: an experiment that changed a param outside training (spotting.iou)
    shares the baseline's training and predictions; back on the baseline, the rerun training
    reopened that experiment's parent (named for it, holding its params), and `mer evaluate`
    then logged the baseline's evaluation there too."""
    import json

    toy_project(tmp_path, monkeypatch)
    monkeypatch.setenv("DVC_EXP_NAME", "iou4")  # what `dvc exp run -n iou4` exports
    assert main(["train"]) == 0 and main(["evaluate"]) == 0
    monkeypatch.delenv("DVC_EXP_NAME")
    assert main(["train"]) == 0  # every fold cached
    client = MlflowClient(tracking_uri(tmp_path))
    runs = client.search_runs([client.get_experiment_by_name("mer").experiment_id],
                              max_results=1000, order_by=["attributes.start_time ASC"])
    parents = [r for r in runs if PARENT_TAG not in r.data.tags]
    assert [p.info.run_name for p in parents] == ["iou4", parent_name(parse_params(
        yaml.safe_load(QUICK)))]
    assert main(["evaluate"]) == 0
    recorded = json.loads((tmp_path / "data" / "evaluation_run.json").read_text())
    assert recorded["run_id"] == parents[1].info.run_id
    assert main(["train"]) == 0  # the baseline's own parent is reopened: no third
    assert len([r for r in client.search_runs(
        [client.get_experiment_by_name("mer").experiment_id], max_results=1000)
        if PARENT_TAG not in r.data.tags]) == 2


def test_a_reopened_parent_that_holds_its_folds_names_no_other(tmp_path, monkeypatch):
    """A break-it session: after a variant refitted folds it shares with the baseline (`mer
    train --fresh`), the baseline's rerun tagged the baseline's parent, which holds a run of
    every fold of its own, with mer.folds_from the later variant's."""
    toy_project(tmp_path, monkeypatch)
    assert main(["train"]) == 0
    variant = QUICK + "  cnn: {epochs: 3}\n"  # a param the SVM's folds do not read
    (tmp_path / "params.yaml").write_text(variant)
    assert main(["train"]) == 0  # its folds from the baseline's cache: it names the baseline
    assert main(["train", "--fresh"]) == 0  # now fitted again, under the variant's parent
    (tmp_path / "params.yaml").write_text(QUICK)
    assert main(["train"]) == 0  # the baseline's parent reopened, every fold cached
    client = MlflowClient(tracking_uri(tmp_path))
    runs = client.search_runs([client.get_experiment_by_name("mer").experiment_id],
                              max_results=1000, order_by=["attributes.start_time ASC"])
    baseline, *variants = [r for r in runs if PARENT_TAG not in r.data.tags]
    assert baseline.info.run_name == parent_name(parse_params(yaml.safe_load(QUICK)))
    assert "mer.folds_from" not in baseline.data.tags, baseline.data.tags["mer.folds_from"]
    own = {r.data.tags["mer.fold_key"] for r in runs
           if r.data.tags.get(PARENT_TAG) == baseline.info.run_id}
    assert own and all(r.data.tags["mer.fold_key"] in own for r in runs
                       if r.data.tags.get(PARENT_TAG) in {v.info.run_id for v in variants})


def test_a_training_that_predicts_as_an_evaluated_one_carries_its_evaluation(tmp_path,
                                                                            monkeypatch):
    """The issue: an experiment whose predictions come out byte for byte as before (a change
    of train.parallel_folds) opened a new parent run that never got metrics: DVC does not
    rerun `mer evaluate` for predictions it has evaluated. The new parent now carries the
    evaluated run's metrics, figures and reports, copied from MLflow, and names its source;
    a training that predicts anything else gets nothing copied."""
    toy_project(tmp_path, monkeypatch)
    assert main(["train"]) == 0 and main(["evaluate"]) == 0
    (tmp_path / "params.yaml").write_text(QUICK.replace("parallel_folds: 1",
                                                        "parallel_folds: 2"))
    assert main(["train"]) == 0
    (tmp_path / "params.yaml").write_text(QUICK + "  seed: 1\n")
    assert main(["train"]) == 0
    client = MlflowClient(tracking_uri(tmp_path))
    runs = client.search_runs([client.get_experiment_by_name("mer").experiment_id],
                              max_results=1000, order_by=["attributes.start_time ASC"])
    evaluated, same, other = [r for r in runs if PARENT_TAG not in r.data.tags]
    assert same.data.tags["mer.predictions_sha256"] == \
        evaluated.data.tags["mer.predictions_sha256"]
    assert same.data.tags["mer.evaluation_from"] == evaluated.info.run_id
    # its folds, all from the cache, keep their runs under the evaluated parent, which it
    # names (a break-it session: a resumed training's parent looked as if folds were missing)
    assert same.data.tags["mer.folds_from"] == evaluated.info.run_id
    assert "mer.folds_from" not in evaluated.data.tags | other.data.tags
    assert same.data.tags["mer.primary_model"] == evaluated.data.tags["mer.primary_model"]
    headline = {k: v for k, v in evaluated.data.metrics.items() if not k.startswith("system/")}
    assert headline and {k: same.data.metrics[k] for k in headline} == headline

    def artifacts(run, folder=None) -> set[str]:
        found = set()
        for item in client.list_artifacts(run.info.run_id, folder):
            found |= artifacts(run, item.path) if item.is_dir else {item.path}
        return found

    assert artifacts(same) == artifacts(evaluated)
    # its own `mer evaluate` (as after a change DVC reruns it for) replaces the copy's source
    (tmp_path / "params.yaml").write_text(QUICK.replace("parallel_folds: 1",
                                                        "parallel_folds: 2"))
    assert main(["train"]) == 0 and main(["evaluate"]) == 0
    assert "mer.evaluation_from" not in client.get_run(same.info.run_id).data.tags
    assert {"evaluation.json", "metrics.json", "per_subject.json", "predictions.csv",
            "plots/per_class.png"} <= artifacts(same)
    # another seed predicts otherwise: nothing to copy, the run waits for `mer evaluate`
    assert other.data.tags["mer.predictions_sha256"] != \
        evaluated.data.tags["mer.predictions_sha256"]
    assert "mer.evaluation_from" not in other.data.tags
    assert not {k for k in other.data.metrics if not k.startswith("system/")}
    assert artifacts(other) == {"predictions.csv"}


def test_evaluate_refuses_predictions_of_other_train_or_evaluation_params(tmp_path,
                                                                          monkeypatch, capsys):
    """The issue: after params.yaml's train.svm.trials (or evaluation.protocol) changed,
    `mer evaluate` without `mer train` exited 0 and wrote metrics.json, logged to MLflow as
    the new params' figures. A key that changes only speed (train.parallel_folds) passes."""
    toy_project(tmp_path, monkeypatch)
    assert main(["train"]) == 0
    metrics = tmp_path / "reports" / "metrics.json"
    (tmp_path / "params.yaml").write_text(QUICK.replace("parallel_folds: 1",
                                                        "parallel_folds: 2"))
    assert main(["evaluate"]) == 0
    written = metrics.read_bytes()
    (tmp_path / "params.yaml").write_text(QUICK.replace("trials: 2", "trials: 3"))
    capsys.readouterr()
    assert main(["evaluate"]) == 2
    error = capsys.readouterr().err
    assert ("reports/predictions.csv was made with train.svm.trials 2, but params.yaml now "
            "says 3: rerun `mer train` and `mer evaluate` first") in error
    assert metrics.read_bytes() == written  # nothing written


def test_an_evaluated_run_without_its_evaluation_json_is_not_copied(tmp_path, monkeypatch):
    """A run evaluated by a mer that logged no evaluation.json (or whose artifact is gone)
    has nothing to copy: the new training's run is left for `mer evaluate`, not failed."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    toy_project(tmp_path, monkeypatch)
    assert main(["train"]) == 0 and main(["evaluate"]) == 0
    client = MlflowClient(tracking_uri(tmp_path))
    experiment = client.get_experiment_by_name("mer").experiment_id
    (evaluated,) = [r for r in client.search_runs([experiment]) if PARENT_TAG not in r.data.tags]
    get_artifact_repository(evaluated.info.artifact_uri).delete_artifacts("evaluation.json")
    (tmp_path / "params.yaml").write_text(QUICK.replace("parallel_folds: 1",
                                                        "parallel_folds: 2"))
    assert main(["train"]) == 0
    runs = client.search_runs([experiment], order_by=["attributes.start_time ASC"])
    _, new = [r for r in runs if PARENT_TAG not in r.data.tags]
    assert new.info.status == "FINISHED" and "mer.evaluation_from" not in new.data.tags


def test_evaluate_refuses_predictions_a_training_cannot_have_written(tmp_path, monkeypatch,
                                                                      caplog, capsys):
    """A break-it session: a predictions table edited by hand (one subject's rows three times,
    another subject gone) was scored without a word: UAR 0.810 for a true 0.798, 254 clips
    for the hybrid against the CNN's 246, logged to MLflow like any run."""
    import pandas as pd

    toy_project(tmp_path, monkeypatch)
    assert main(["train"]) == 0 and main(["evaluate"]) == 0
    path = tmp_path / "reports" / "predictions.csv"
    metrics = tmp_path / "reports" / "metrics.json"
    written, scored = path.read_bytes(), metrics.read_bytes()
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    svm = frame["model"] == "svm"
    first, second = sorted(set(frame["subject"]))[:2]
    edits = {
        "more than once": pd.concat([frame, frame[svm & (frame["subject"] == first)]]),
        "model svm lacks": frame[~(svm & (frame["subject"] == second))],
        "in the fold of its own subject": frame.assign(
            fold=frame["fold"].where(~svm, first)),
        "no fold of this manifest and features holds out": frame.assign(
            clip_id=frame["clip_id"] + "x"),
        # a second break-it session: each of these was scored, one as UAR 1.0
        f"lacks the 5 held-out clip(s) of subject(s) {second}": frame[
            frame["subject"] != second],
        "has label 'happiness', but the manifest says": frame.assign(label=frame["label"].where(
            frame["label"] != "disgust", "happiness")),
        "has subject": frame.assign(subject=frame["subject"].where(
            frame["subject"] != first, second), fold=frame["fold"].where(
            frame["fold"] != first, second)),
        "is not the class of the highest probability": frame.assign(
            prediction=frame["label"]),
        "holds model(s) best, which train.models does not train": pd.concat(
            [frame, frame[svm].assign(model="best")]),
        "lacks model(s) svm of train.models": frame[~svm],
        # a bad cell names its line, model and clip (it said only "has labels ['']")
        f"line 6: label '' (model {frame['model'][4]}, clip {frame['clip_id'][4]}) is none of":
            frame.assign(label=frame["label"].where(frame.index != 4, "")),
        f"line 3: prob_disgust 'x' (model {frame['model'][1]}, clip {frame['clip_id'][1]}) is "
        "not a probability": frame.assign(prob_disgust=frame["prob_disgust"].where(
            frame.index != 1, "x")),
    }
    for words, edited in edits.items():
        edited.to_csv(path, index=False, lineterminator="\n")
        capsys.readouterr()
        assert main(["evaluate"]) == 2, words
        error = capsys.readouterr().err
        assert words in error, error
        assert error.startswith("mer evaluate: error: reports/predictions.csv"), error
        assert metrics.read_bytes() == scored  # nothing written
    path.write_bytes(written)
    record = tmp_path / "reports" / "training.json"
    kept = record.read_bytes()
    record.write_text("{")  # a break-it session: named as an edited table
    caplog.clear()
    assert main(["evaluate"]) == 0
    assert "reports/training.json cannot be read (" in caplog.text
    record.unlink()
    caplog.clear()
    assert main(["evaluate"]) == 0
    assert "reports/training.json is missing, so whether" in caplog.text
    record.write_bytes(kept)
    frame.iloc[::-1].to_csv(path, index=False, lineterminator="\n")  # the rows reordered
    caplog.clear()
    assert main(["evaluate"]) == 0
    assert "is not the file reports/training.json records" in caplog.text
