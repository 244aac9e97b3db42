"""`mer spot-eval`: reports/spotting.json and an MLflow run, on the tiny long-video corpus."""

import json

import pandas as pd
import yaml
from mlflow import MlflowClient

from mer.cli import main
from mer.config import default_params_yaml
from mer.spotting.folds import evaluate_corpus


def spot_eval(tmp_path, monkeypatch, corpus, **spotting) -> dict:
    """`mer spot-eval` in a project at ``tmp_path`` on ``corpus`` (``spotting``: other
    spotting params); its params, as a dict."""
    params = yaml.safe_load(default_params_yaml())
    params["spotting"].update(root=str(corpus), workers=1, **spotting)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert main(["spot-eval"]) == 0
    return params


def test_spot_eval_writes_the_f1_table_and_logs_it(tmp_path, monkeypatch, tiny_long_corpus,
                                                   tiny_long_signals, tiny_spotting):
    spot_eval(tmp_path, monkeypatch, tiny_long_corpus)

    report = json.loads((tmp_path / "reports" / "spotting.json").read_text())
    videos, signals = tiny_long_signals
    expected = evaluate_corpus(videos, signals, tiny_spotting).report
    assert report["synthetic"]["spotter"] == expected["spotter"]
    assert report["synthetic"]["threshold_baseline"] == expected["threshold_baseline"]
    assert [f["subject"] for f in report["synthetic"]["folds"]] == ["s15", "s16"]
    headline = json.loads((tmp_path / "reports" / "spotting_metrics.json").read_text())
    assert headline["spotter"]["micro_f1"] == round(expected["spotter"]["micro"]["f1"], 4)
    assert headline["threshold_baseline"]["overall_f1"] == round(
        expected["threshold_baseline"]["overall"]["f1"], 4)
    # A break-it session: the fixed-threshold baseline's columns were `baseline.*`, which
    # `dvc exp show` puts beside the baseline commit's row. Every output names it the same way.
    assert list(headline) == ["spotter", "threshold_baseline"]

    # The re-check: no interval behind the counts was written, so a score could not be
    # audited or turned into a submission. Every one is, with the corpus's frame numbers.
    intervals = pd.read_csv(tmp_path / "reports" / "spotting_intervals.csv")
    assert set(intervals["method"]) == {"spotter", "threshold_baseline"}
    for who in ("spotter", "threshold_baseline"):
        mine = intervals[intervals["method"] == who]
        for kind in ("micro", "macro"):
            counts = mine[mine["kind"] == kind]["result"].value_counts()
            assert [counts.get(r, 0) for r in ("TP", "FP", "FN")] == [
                expected[who][kind][k] for k in ("tp", "fp", "fn")]
    found = intervals[intervals["result"] != "FN"]
    assert (found["onset_frame"] == found["onset"] + 1).all()  # img1.jpg is position 0
    assert (intervals[intervals["result"] == "TP"]["iou"] >= 0.5).all()
    assert intervals[intervals["result"] == "FP"]["iou"].isna().all()
    assert intervals[intervals["result"] != "FP"]["truth"].str.contains(".xlsx:").all()

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (experiment,) = [e for e in client.search_experiments() if e.name == "mer"]
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.tags["mer.kind"] == "spotting"
    assert run.data.metrics["synthetic/spotter/micro_f1"] == expected["spotter"]["micro"]["f1"]
    assert {key.split("/")[1] for key in run.data.metrics if key.startswith("synthetic/")} == {
        "spotter", "threshold_baseline"}
    assert run.data.metrics["spotting/frames_per_second"] > 0
    assert run.data.params["spotting.iou"] == "0.5"
    assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {
        "spotting.json", "spotting_intervals.csv"}
    # The README audit: every output of spot-eval was committed, so a fresh clone's `dvc
    # repro` skipped it: the table was not reproduced and no spotting run reached MLflow. The
    # run is recorded in data/spotting_run.json, out of git as the store is.
    assert json.loads((tmp_path / "data" / "spotting_run.json").read_text()) == {
        "run_id": run.info.run_id, "experiment": "mer"}


def test_p_fitted_under_other_spotting_params_is_refused(tmp_path, monkeypatch,
                                                        tiny_long_corpus):
    """The re-check: after spotting.micro_window (or the corpus, or the candidates) changed,
    `mer spot` took p from reports/spotting.json as if they held, and said so on stderr; the
    report did not record what it was fitted under. It does, and the p are refused."""
    import pytest

    from mer.config import load_params
    from mer.errors import MerError
    from mer.spotting.spotter import read_fitted_spotter

    params = spot_eval(tmp_path, monkeypatch, tiny_long_corpus)
    report = tmp_path / "reports" / "spotting.json"
    fitted = json.loads(report.read_text())["synthetic"]["fitted_with"]
    assert fitted["spotting.micro_window"] == 0.2
    assert fitted["spotting.root"] == str(tiny_long_corpus)
    assert read_fitted_spotter(report, load_params("params.yaml")).p  # as fitted: read
    for key, value in (("micro_window", 0.3), ("thresholds", [0.2, 0.4]),
                       ("root", str(tmp_path)), ("noise_floor", 0.0)):
        changed = yaml.safe_load(yaml.safe_dump(params))
        changed["spotting"][key] = value
        (tmp_path / "other.yaml").write_text(yaml.safe_dump(changed), encoding="utf-8")
        # The README audit: the message named params.yaml and `mer spot-eval`, not the file
        # --params gave.
        with pytest.raises(MerError, match=rf"spotting.json was fitted under other params "
                                           rf"than other.yaml holds \(spotting.{key} .*: "
                                           r"rerun `mer --params other.yaml spot-eval` to "
                                           r"fit p under these$"):  # not dvc repro: params.yaml
            read_fitted_spotter(report, load_params("other.yaml"))
    # The re-check: the same corpus folder written another way was refused.
    import os

    changed = yaml.safe_load(yaml.safe_dump(params))
    changed["spotting"]["root"] = os.path.relpath(tiny_long_corpus, tmp_path)
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(changed), encoding="utf-8")
    assert read_fitted_spotter(report, load_params("other.yaml")).p
    # The re-check: a report that is not JSON was "no fitted p".
    text = report.read_text()
    report.write_text("{", encoding="utf-8")
    with pytest.raises(MerError, match=r"spotting.json is not a JSON report \(Expecting"):
        read_fitted_spotter(report, load_params("params.yaml"))
    report.write_text(text, encoding="utf-8")
    changed = yaml.safe_load(yaml.safe_dump(params))
    changed["spotting"]["baseline_threshold"] = 0.9  # the baseline's: p holds
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(changed), encoding="utf-8")
    assert read_fitted_spotter(report, load_params("other.yaml")).p
    # A break-it session: a report written before spotting.noise_floor was recorded was
    # refused even under noise_floor: 0, the threshold its p were fitted with ("null there").
    content = json.loads(text)
    del content["synthetic"]["fitted_with"]["spotting.noise_floor"]
    report.write_text(json.dumps(content), encoding="utf-8")
    changed["spotting"]["noise_floor"] = 0.0
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(changed), encoding="utf-8")
    assert read_fitted_spotter(report, load_params("other.yaml")).noise_floor == 0.0
    with pytest.raises(MerError, match=r"\(spotting.noise_floor 0.0 there, 6.0 now\)"):
        read_fitted_spotter(report, load_params("params.yaml"))


def test_p_fitted_on_an_earlier_workbook_is_refused(tmp_path, monkeypatch, tiny_long_corpus,
                                                    caplog):
    """A row corrected in the coding workbook after `mer spot-eval`: `mer spot` and `mer
    register` used p fitted on the old rows, and with spotting.annotations outside
    spotting.root DVC did not notice the edit either; nothing said so. The report records the
    workbook and its sha256, p fitted on another version of it are refused, and a workbook
    outside spotting.root is warned about, as the data stage warns of a sheet outside
    data.root."""
    import hashlib
    import shutil

    import pytest
    from openpyxl import load_workbook

    from mer.config import load_params
    from mer.data.casme_sq import WORKBOOK_NAME
    from mer.errors import MerError
    from mer.spotting.spotter import read_fitted_spotter

    corpus = tmp_path / "corpus"
    shutil.copytree(tiny_long_corpus, corpus)
    workbook = tmp_path / "coding.xlsx"
    shutil.move(corpus / WORKBOOK_NAME, workbook)
    spot_eval(tmp_path, monkeypatch, corpus, annotations=str(workbook))
    assert f"{workbook} lies outside spotting.root ({corpus}), so DVC does not notice edits " \
        "to it and `dvc repro` will not rerun the spot-eval stage after one" in caplog.text
    report = tmp_path / "reports" / "spotting.json"
    assert json.loads(report.read_text())["synthetic"]["workbook"] == {
        "path": str(workbook), "sha256": hashlib.sha256(workbook.read_bytes()).hexdigest()}
    params = load_params("params.yaml")
    assert read_fitted_spotter(report, params).p  # fitted on what it holds: read

    book = load_workbook(workbook)
    book.worksheets[0].cell(1, 5).value += 1  # an offset corrected
    book.save(workbook)
    with pytest.raises(MerError, match=rf"{workbook} changed after `mer spot-eval` fitted the "
                                       rf"p in {report} on it: rerun `mer spot-eval`"):
        read_fitted_spotter(report, params)
    assert main(["spot", "--video", str(next((corpus / "rawpic").glob("s*/*"))),
                 "--fps", "30", "--spot-only"]) == 2
    workbook.unlink()  # a machine that spots but does not hold the corpus: not checked
    assert read_fitted_spotter(report, params).p


def test_the_workbook_in_root_is_recorded_and_not_warned_about(tmp_path, monkeypatch,
                                                               tiny_long_corpus, caplog):
    from mer.data.casme_sq import WORKBOOK_NAME

    spot_eval(tmp_path, monkeypatch, tiny_long_corpus)
    assert "lies outside" not in caplog.text
    recorded = json.loads((tmp_path / "reports" / "spotting.json").read_text())["synthetic"]
    assert recorded["workbook"]["path"] == str(tiny_long_corpus / WORKBOOK_NAME)


def test_spot_eval_before_its_corpus_says_to_generate_it_and_leaves_no_store(
        tmp_path, monkeypatch, capsys):
    """A break-it session: `mer spot-eval` before `mer spot-synthesize` (or in the wrong
    folder) created mlflow.db, then advised pointing spotting.root at a CAS(ME)^2 copy."""
    (tmp_path / "params.yaml").write_text("{}\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["spot-eval"]) == 2
    err = capsys.readouterr().err
    assert (f"spotting.root: data/synthetic_long does not exist in {tmp_path}") in err, err
    assert "generated there by `mer spot-synthesize` (or `dvc repro`): run it first" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]  # no store


def test_a_real_corpus_that_does_not_read_leaves_no_store(tmp_path, monkeypatch, capsys):
    """The corpus is read before the store is opened: a folder without the corpus's frames
    is refused with nothing written."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"spotting": {
        "source": "casme_sq", "root": "empty"}}), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["spot-eval"]) == 2
    assert "empty" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "params.yaml"]
