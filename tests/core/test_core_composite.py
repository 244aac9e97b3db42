"""The MEGC2019 composite and the cross-corpus protocol, end to end with `dvc repro`.

Three embedded corpora (CASME II-, SAMM- and SMIC-HS-format synthetic sets, read by the real
adapters) go through every stage on a copy of the project in tmp_path: one manifest, one LOSO
fold per subject over all corpora, per-corpus metrics; then the same params with
evaluation.protocol cross-corpus.
"""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest
import yaml

from dvc_helpers import REPO, ran_stages, repro_project, run, shrink

pytestmark = pytest.mark.slow

EXAMPLE = REPO / "examples" / "megc2019-synthetic.yaml"
CORPORA = {"casme2", "samm", "smic"}


def tiny_composite() -> dict:
    """The example, shrunk (dvc_helpers.shrink), with 2 subjects of 12 clips in each corpus:
    6 LOSO folds, and 2 training subjects for the cross-corpus protocol's inner folds."""
    params = shrink(yaml.safe_load(EXAMPLE.read_text()))
    params["data"]["synthetic"].update(subjects=2, clips=12)
    params["train"]["cnn"]["ensemble"] = 1
    return params


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return repro_project(tmp_path_factory.mktemp("composite"), tiny_composite())


def test_composite_manifest_holds_every_corpus(project):
    manifest = pd.read_parquet(project / "data/manifest.parquet")
    assert set(manifest["dataset"]) == CORPORA
    assert set(manifest["label"]) == {"negative", "positive", "surprise"}
    assert all(s.startswith(f"{d}_") for s, d in
               zip(manifest["subject"], manifest["dataset"], strict=True))
    report = json.loads((project / "reports/data.json").read_text())
    assert set(report["corpora"]) == CORPORA
    assert report["corpora"]["smic"]["clips"] == int((manifest["dataset"] == "smic").sum())


def test_composite_loso_reports_full_and_per_corpus(project):
    metrics = json.loads((project / "reports/evaluation.json").read_text())
    manifest = pd.read_parquet(project / "data/manifest.parquet")
    assert metrics["subjects"] == manifest["subject"].nunique()  # one fold per subject
    assert set(metrics["corpora"]) == CORPORA
    assert sum(c["clips"] for c in metrics["corpora"].values()) == metrics["clips"]
    for model in ("svm", "cnn", "hybrid"):
        assert set(metrics["models"][model]["corpora"]) == CORPORA
    assert (project / "reports/plots/per_corpus.png").stat().st_size > 0
    registered = json.loads((project / "reports/registered.json").read_text())
    assert registered["registered"] is True


def test_cross_corpus_reruns_train_and_reports_the_test_corpora(project):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["evaluation"] = {"protocol": "cross-corpus", "train_corpora": ["casme2"],
                            "test_corpora": ["samm", "smic"]}
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    # data reads evaluation.protocol (a flow-image corpus's channel order may not rest on
    # what the evaluation holds out) and writes the same manifest: faces, features stay
    assert ran_stages(run(project, sys.executable, "-m", "dvc", "repro")) == {
        "params", "data", "train", "evaluate", "register"}
    predictions = pd.read_csv(project / "reports/predictions.csv", dtype=str)
    tested = set(predictions["clip_id"].str.split("/").str[0])
    assert tested == {"samm", "smic"}  # the training corpus is never scored
    metrics = json.loads((project / "reports/evaluation.json").read_text())
    assert set(metrics["corpora"]) == {"samm", "smic"}
    manifest = pd.read_parquet(project / "data/manifest.parquet")
    assert metrics["clips"] == int(manifest["dataset"].isin(["samm", "smic"]).sum())
