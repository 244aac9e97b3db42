"""DVC as users compare runs: one small metric, a committed baseline, an experiment against
it, and plots DVC draws without network.

The fast tests read dvc.yaml and the Makefile; the slow ones run the real DVC and git on a copy
of the project with tiny params in tmp_path, as the README's "Compare experiments" says: `dvc
repro`, the baseline commit of `make baseline`, `dvc exp run -S train.svm.trials=5`.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from dvc_helpers import REPO, dvc, ran_stages, repro_project, run, tiny_params
from mer.tracking import plots_page

DVC_YAML = yaml.safe_load((REPO / "dvc.yaml").read_text())
# What `make baseline` commits: the lock file and the reports DVC does not cache.
BASELINE = re.search(r"^BASELINE := (.+)$", (REPO / "Makefile").read_text(), re.M)[1].split()
MODELS = ("hybrid", "cnn", "svm", "majority", "au-oracle")  # reports/metrics.json's order
LEARNERS = ("hybrid", "cnn", "svm")
HEADLINE = ("uar", "uf1", "acc", "uar_sd")
EXPERIMENT = "svm-trials-5"
# The README's `dvc exp show` for a comparison: without the file hashes, the floor and the
# ceiling (with them, a train.svm change's 12 changed figures fold the param out of 200 columns)
COMPARE = ("--only-changed", "--drop", r".*/|au-oracle|majority|threshold_baseline")
README = REPO / "README.md"
TABLES = ("confusion", "recall", "subjects")  # reports/plots/<table>/<model>.csv


def _name(entry: str | dict) -> str:
    return entry if isinstance(entry, str) else next(iter(entry))


# ---- dvc.yaml ------------------------------------------------------------------------------

def test_the_dvc_metrics_are_the_two_headline_files():
    """Recognition's headline and spotting's six F1s; the full reports are plain outputs."""
    metrics = [_name(m) for stage in DVC_YAML["stages"].values()
               for m in stage.get("metrics", [])]
    assert metrics == ["reports/metrics.json", "reports/spotting_metrics.json"]
    spotting = {_name(o) for o in DVC_YAML["stages"]["spot-eval"]["outs"]}
    assert spotting == {"reports/spotting.json", "reports/spotting_intervals.csv",
                        "data/spotting_run.json"}
    outs = {_name(o): o for o in DVC_YAML["stages"]["data"]["outs"]}
    assert outs["reports/data.json"] == {"reports/data.json": {"cache": False}}
    evaluate = {_name(o) for o in DVC_YAML["stages"]["evaluate"]["outs"]}
    assert "reports/evaluation.json" in evaluate


def test_plots_are_declared_at_the_top_level_with_their_axes():
    assert not [name for name, stage in DVC_YAML["stages"].items() if "plots" in stage]
    plots = {_name(p): (p if isinstance(p, dict) else {}).get(_name(p)) or {}
             for p in DVC_YAML["plots"]}
    assert plots["reports/plots/confusion"] == {"template": "confusion", "x": "predicted",
                                                "y": "actual"}
    assert plots["reports/plots/recall"] == {"template": "bars", "x": "class", "y": "recall"}
    assert plots["reports/plots/subjects"] == {"template": "bars", "x": "subject", "y": "uar"}
    assert plots["reports/plots"] == {}  # the PNG figures, as images
    bars = (REPO / ".dvc" / "plots" / "bars.json").read_text()
    for anchor in ("DATA", "X", "Y", "TITLE", "COLOR"):
        assert f"<DVC_METRIC_{anchor}>" in bars


def test_baseline_is_the_lock_file_and_the_uncached_reports():
    assert BASELINE == ["dvc.lock", "reports"]
    assert "/dvc_plots/" in (REPO / ".gitignore").read_text().split()


# ---- a tiny project: baseline, one experiment ----------------------------------------------

def git(project: Path, *args: str) -> str:
    return run(project, "git", "-c", "user.name=mer", "-c", "user.email=mer@example.invalid",
               *args)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """After `dvc repro` and a second `dvc repro`, the code committed, the baseline committed
    as `make baseline` does, then one experiment."""
    root = repro_project(tmp_path_factory.mktemp("dvc-experiments"), tiny_params())
    rerun = dvc(root, "repro")
    git(root, "add", ".gitignore", ".dvc", "dvc.yaml", "params.yaml", "src")
    git(root, "commit", "-q", "-m", "the project")
    git(root, "add", *BASELINE)
    git(root, "commit", "-q", "-m", "baseline: dvc repro", "--", *BASELINE)
    left = git(root, "status", "--porcelain")
    # a section misspelt by hand, which no stage but the params stage lists
    written = (root / "params.yaml").read_text()
    (root / "params.yaml").write_text(written + "lables:\n  scheme: megc-3\n")
    misspelt = dvc(root, "repro", fails=True)
    (root / "params.yaml").write_text(written)
    restored = dvc(root, "status")
    # a spotting variant in DVC's own copy of the project (as `dvc queue start` runs them),
    # removed again so the workspace experiment below is the only one
    temp = dvc(root, "exp", "run", "--temp", "-S", "spotting.iou=0.4", "-n", "iou-temp")
    dvc(root, "exp", "remove", "iou-temp")
    # a train variant that changes no fold there: it reuses the project's data/folds
    folds = dvc(root, "exp", "run", "--temp", "-S", "train.parallel_folds=2", "-n", "folds-temp")
    dvc(root, "exp", "remove", "folds-temp")
    experiment = dvc(root, "exp", "run", "-S", "train.svm.trials=5", "-n", EXPERIMENT)
    return SimpleNamespace(root=root, rerun=rerun, left_after_baseline=left,
                           misspelt=misspelt, restored=restored,
                           experiment=experiment, temp=temp, folds=folds)


@pytest.fixture(scope="module")
def fresh_clone(project, tmp_path_factory):
    """The baseline commit cloned, and `dvc repro` there: what `make repro` does in a fresh
    clone of the repository, with its own (empty) MLflow store and DVC cache."""
    clone = tmp_path_factory.mktemp("fresh-clone") / "project"
    run(project.root, "git", "clone", "-q", str(project.root), str(clone))
    ran = dvc(clone, "repro")
    return SimpleNamespace(root=clone, ran=ran)


# ---- dvc repro as users run it: end to end, a no-op rerun, a targeted rerun ----------------

@pytest.mark.slow
def test_a_fresh_clone_runs_every_stage_and_logs_them_to_its_own_store(fresh_clone):
    """The issue: the committed reports matched dvc.lock, so a fresh clone's `dvc repro`
    skipped evaluate and register: its training run was never evaluated, no model was
    registered, and reports/registered.json named a run of another clone's store."""
    from mlflow import MlflowClient

    # all but the params stage, which has no outputs: the committed dvc.lock holds the
    # params.yaml the clone has, so there is nothing to check again
    assert ran_stages(fresh_clone.ran) == set(DVC_YAML["stages"]) - {"params"}, \
        fresh_clone.ran[-3000:]
    assert "Stage 'params' didn't change" in fresh_clone.ran
    uri = f"sqlite:///{fresh_clone.root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    evaluated = json.loads((fresh_clone.root / "data/evaluation_run.json").read_text())
    metrics = client.get_run(evaluated["run_id"]).data.metrics
    assert any(key.startswith("hybrid") for key in metrics), sorted(metrics)
    registered = json.loads((fresh_clone.root / "reports/registered.json").read_text())
    version = client.get_model_version(registered["name"], registered["version"])
    assert version.run_id == registered["run_id"]
    # the record of this clone's version is not a change to commit
    assert "registered.json" not in git(fresh_clone.root, "status", "--porcelain")


@pytest.mark.slow
def test_repro_builds_every_output(project):
    for path in ("data/manifest.parquet", "data/faces.npz", "data/features.npz",
                 "reports/predictions.csv", "reports/training.json", "reports/metrics.json",
                 "reports/evaluation.json", "reports/registered.json", "reports/plots",
                 "reports/spotting.json", "reports/spotting_intervals.csv",
                 "reports/spotting_metrics.json", "dvc.lock"):
        assert (project.root / path).exists(), path


@pytest.mark.slow
def test_frames_replaced_in_place_rerun_the_stages_that_read_them(project):
    """A break-it session: frames re-exported under the same names reran `mer data`, whose
    manifest (paths, frame numbers, labels) came out byte-identical, so DVC skipped faces,
    features and train, and every result described the old pixels. The stages that read
    the frames depend on data.root."""
    (frame, *_) = sorted((project.root / "data/synthetic").rglob("*.jpg"))
    original = frame.read_bytes()
    try:
        frame.write_bytes(original + b"\0")  # the same file name, other bytes
        status = dvc(project.root, "status", "faces", "features")
    finally:
        frame.write_bytes(original)
    assert "faces:" in status and "features:" in status, status
    assert dvc(project.root, "status", "faces", "features").strip() == \
        "Data and pipelines are up to date.", "restored: nothing to rerun"


@pytest.mark.slow
def test_nothing_changed_reruns_nothing(project):
    assert ran_stages(project.rerun) == set()
    assert "Stage 'train' didn't change" in project.rerun


@pytest.mark.slow
def test_an_svm_param_reruns_only_what_depends_on_it(project):
    assert ran_stages(project.experiment) == {"params", "train", "evaluate", "register"}


@pytest.mark.slow
def test_a_section_misspelt_by_hand_stops_the_run_naming_it(project):
    """A break-it session (h62 F6): `lables:` added to params.yaml by hand was read by no
    stage, so `dvc repro` and `dvc exp run` ran nothing and the experiment reported the
    baseline's figures as its own. The params stage lists the whole file."""
    assert ran_stages(project.misspelt) == {"params"}, project.misspelt[-3000:]
    assert "unknown key 'lables' (did you mean 'labels'?)" in project.misspelt
    assert "Traceback" not in project.misspelt
    assert project.restored.strip() == "Data and pipelines are up to date.", project.restored


@pytest.mark.slow
def test_a_queued_spotting_variant_reruns_only_spotting_and_register(project):
    """`dvc exp run --temp` (and every `dvc queue` entry) runs in a copy that holds only what
    git and DVC track: train's outputs come from DVC's cache, and register's pretrained CNN
    from the project's data/pretrain (mer.paths.project_cache), so nothing is trained again."""
    assert ran_stages(project.temp) == {"params", "spot-eval", "register"}, \
        project.temp[-3000:]
    assert "pretraining the CNN" not in project.temp
    # its version's run says which variant made it, as its spotting run does (a break-it
    # session: every variant's registering run was named `register`, with no commit)
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{project.root / 'mlflow.db'}")
    names = {run.info.run_name: run.data.tags for run in client.search_runs(
        [e.experiment_id for e in client.search_experiments()])}
    assert "spotting: iou-temp" in names
    baseline = git(project.root, "rev-parse", "HEAD").strip()  # experiments move no branch
    assert names["register: iou-temp"]["mlflow.source.git.commit"] == baseline
    # and so does the version itself, with the spotter it carries (a break-it session:
    # versions of a spotting-only and an SVM-only variant had one set of tags)
    versions = {v.tags.get("variant"): v for v in client.search_model_versions()}
    assert {"iou-temp", EXPERIMENT} <= set(versions)
    spotted = versions["iou-temp"]
    assert {"spotting_corpus", "spotting_p_micro", "spotting_p_macro"} <= set(spotted.tags)
    assert "Registered by: iou-temp." in spotted.description


@pytest.mark.slow
def test_a_queued_train_variant_reuses_the_projects_folds(project):
    """A break-it session: DVC's copy starts without data/folds, so every queued train variant
    fitted every fold again, even those its params leave unchanged (mer.paths.project_cache)."""
    assert "train" in ran_stages(project.folds), project.folds[-3000:]
    reused = re.search(r"reused (\d+) of (\d+) fold fits", project.folds)
    assert reused and reused[1] == reused[2], project.folds[-3000:]


@pytest.mark.slow
def test_the_registered_provenance_gives_the_evaluation_as_numbers(project):
    """provenance.json's LOSO figures were the version tags' strings ("0.7978...")."""
    evaluation = json.loads((project.root / "reports/evaluation.json").read_text())
    recorded = [json.loads(path.read_text())["loso"]
                for path in (project.root / "mlruns").rglob("provenance.json")]
    assert recorded
    for loso in recorded:
        assert set(loso) == {"loso_uar", "loso_uf1", "loso_accuracy", "evaluation_protocol"}
        assert loso["evaluation_protocol"] == "loso"
        assert all(isinstance(loso[f"loso_{key}"], float) for key in ("uar", "uf1", "accuracy"))
    assert evaluation["models"]["hybrid"]["uar"] in {loso["loso_uar"] for loso in recorded}


@pytest.mark.slow
def test_the_baseline_commit_leaves_nothing_behind(project):
    assert project.left_after_baseline == ""


@pytest.mark.slow
def test_headline_metrics_are_twenty_six_numbers(project):
    shown = json.loads(dvc(project.root, "metrics", "show", "--json", stdout_only=True))
    [(_, revision)] = shown.items()
    # not data.json, evaluation.json or spotting.json
    assert list(revision["data"]) == ["reports/metrics.json", "reports/spotting_metrics.json"]
    headline = revision["data"]["reports/metrics.json"]["data"]
    assert list(headline) == list(MODELS)
    assert all(list(figures) == list(HEADLINE) for figures in headline.values())
    spotting = revision["data"]["reports/spotting_metrics.json"]["data"]
    assert {who: list(f1) for who, f1 in spotting.items()} == {
        who: ["micro_f1", "macro_f1", "overall_f1"] for who in ("spotter", "threshold_baseline")}


@pytest.mark.slow
def test_exp_show_has_the_baseline_and_the_experiment(project):
    shown = dvc(project.root, "exp", "show", "--csv", stdout_only=True)
    table = list(csv.DictReader(io.StringIO(shown)))
    metrics = [c for c in table[0] if c.split(".")[0] in MODELS]
    # no column named like the row of the baseline commit (a break-it session)
    assert not [c for c in table[0] if c.startswith("baseline.")]
    assert metrics == [f"{m}.{k}" for m in MODELS for k in HEADLINE]
    workspace, baseline, experiment = table  # the workspace holds the experiment's results
    assert (workspace["rev"], baseline["typ"]) == ("workspace", "baseline")
    assert (baseline["train.svm.trials"], experiment["train.svm.trials"]) == ("3", "5")
    assert experiment["Experiment"] == EXPERIMENT
    for row in (baseline, experiment):
        assert all(float(row[c]) >= 0 for c in metrics)
    assert [workspace[c] for c in metrics] == [experiment[c] for c in metrics]


@pytest.mark.slow
def test_the_comparison_fits_a_200_column_terminal(project):
    """The README's comparison on a 200-column terminal: every learner figure and param that
    changed, in full (nothing folded into DVC's last '…' column), and the command is the
    README's."""
    assert f"dvc exp show {' '.join(COMPARE[:2])} '{COMPARE[2]}'" in README.read_text()
    shown = dvc(project.root, "exp", "show", "--no-pager", *COMPARE, env={"COLUMNS": "200"},
                stdout_only=True)
    lines = [line.rstrip() for line in shown.splitlines() if line.strip("─ ")]
    assert max(map(len, lines)) <= 200, shown
    diff = json.loads(dvc(project.root, "metrics", "diff", "--json", stdout_only=True))
    changed = [m for m in diff["reports/metrics.json"] if m.split(".")[0] in LEARNERS]
    assert changed
    assert set(lines[0].split()) >= {"Experiment", "train.svm.trials", *changed}, shown
    assert "…" not in shown
    assert sum(EXPERIMENT in line for line in lines) == 1


@pytest.mark.slow
def test_metrics_diff_compares_the_baseline(project):
    diff = json.loads(dvc(project.root, "metrics", "diff", "--json", stdout_only=True))
    changed = diff["reports/metrics.json"]
    assert set(changed) <= {f"{m}.{k}" for m in MODELS for k in HEADLINE}
    assert {"old", "new", "diff"} == set(next(iter(changed.values())))
    params = json.loads(dvc(project.root, "params", "diff", "--json", stdout_only=True))
    trials = params["params.yaml"]["train.svm.trials"]
    assert (trials["old"], trials["new"]) == (3, 5)


def expected_plots() -> set[str]:
    tables = {f"reports/plots/{t}/{m}.csv" for t in TABLES for m in MODELS}
    figures = {f"reports/plots/confusion_{m}.png" for m in MODELS}
    return tables | figures | {f"reports/plots/{f}.png"
                                for f in ("models", "per_class", "per_subject")}


@pytest.mark.slow
def test_plots_show_json_draws_every_declared_plot(project):
    shown = json.loads(dvc(project.root, "plots", "show", "--json", stdout_only=True))
    assert "errors" not in shown
    assert set(shown["data"]) == expected_plots()
    for name, renders in shown["data"].items():
        [render] = renders
        assert render["type"] == ("image" if name.endswith(".png") else "vega"), name
    recall = shown["data"]["reports/plots/recall/hybrid.csv"][0]["content"]
    assert recall["mark"]["type"] == "bar"
    assert recall["encoding"]["x"]["field"] == "class"
    assert recall["encoding"]["y"]["field"] == "recall"
    confusion = shown["data"]["reports/plots/confusion/svm.csv"][0]["content"]
    assert confusion["spec"]["encoding"]["x"]["field"] == "predicted"


@pytest.mark.slow
def test_plots_diff_sets_the_baseline_beside_the_experiment(project):
    shown = json.loads(dvc(project.root, "plots", "diff", "--json", stdout_only=True))
    assert "errors" not in shown
    values = shown["data"]["reports/plots/subjects/svm.csv"][0]["content"]["data"]["values"]
    assert {v["rev"] for v in values} == {"HEAD", "workspace"}


@pytest.mark.slow
def test_plots_show_page_needs_no_network(project):
    """As `make install` sets it up: the page with Vega inline as DVC's html_template."""
    plots_page.write_page(project.root / "build" / "dvc-plots.html")
    dvc(project.root, "config", "--local", "plots.html_template", "../build/dvc-plots.html")
    dvc(project.root, "plots", "show", "-o", "shown")
    html = (project.root / "shown" / "index.html").read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc=", html)
    assert "cdn.jsdelivr" not in html
    assert html.count("vegaEmbed('#") == len(TABLES) * len(MODELS)
    images = re.findall(r'<img src="([^"]+)"', html.split("<body>", 1)[1])
    assert len(images) == len(MODELS) + 3  # a confusion matrix each; models, per class, subject
    assert all((project.root / "shown" / src).is_file() for src in images)
