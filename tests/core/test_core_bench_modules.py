"""The benchmark modules' work at today's defaults and APIs, on tiny inputs.

`make bench` runs only by hand, so nothing else notices when a change in mer breaks one of
them (a break-it session: bench_train, bench_scale and bench_inference failed once the defaults
pretrained, bench_features once read_frames took a ClipFrames; a full `make bench` then wrote
nothing). These run their code on a few clips: the figures are not the benchmark's."""

import pytest


@pytest.mark.slow
def test_bench_features_apex_rows_run(tmp_path, monkeypatch):
    import benchmarks.bench_features as bench

    from mer.config import SyntheticParams
    from mer.synthetic.write_casme2 import generate_dataset

    root = tmp_path / "synthetic"
    generate_dataset(root, SyntheticParams(subjects=2, clips=4, workers=1), 0, progress=False)
    monkeypatch.setattr(bench, "APEX_CLIPS", 2)
    [row] = bench.apex_rows(root)
    assert row["benchmark"] == "apex estimation error, median" and row["value"] >= 0


@pytest.mark.slow
def test_bench_train_runs_at_the_defaults(monkeypatch):
    import benchmarks.bench_train as bench

    monkeypatch.setattr(bench, "SUBJECTS", 4)
    monkeypatch.setattr(bench, "CLIPS_PER_SUBJECT", 3)
    monkeypatch.setattr(bench, "TIMED_FOLDS", 1)
    rows = {row["benchmark"]: row for row in bench.run()}
    assert {"CNN fit, one fold", "fold: cnn-hybrid", "fold: svm", "fold: off-apexnet",
            "LOSO folds, whole train stage (estimate)"} <= set(rows)
    assert "off-apexnet" in rows["fold: cnn-hybrid"]["note"]  # the hybrid's default expert


def test_the_study_plan_never_takes_ray_for_faster_than_the_pool():
    """The re-check: under load Ray measured 0.51x the local pool, and the plan then put a
    study of 15.7 CPU h at 4.0 h on 2 workers, half its work per worker."""
    from benchmarks.bench_scale import STUDY_FOLDS, STUDY_SEEDS, STUDY_VARIANTS, plan_rows

    per_fold = {"cnn-hybrid": 10.0, "svm": 1.0}
    work = sum(per_fold.values()) * STUDY_FOLDS * STUDY_SEEDS * STUDY_VARIANTS
    for ratio, factor in ((0.51, 1.0), (1.2, 1.2)):
        rows = {r["benchmark"]: r for r in plan_rows(per_fold, ratio, 476)}
        on_two = rows["plan: study on 2 workers"]
        assert on_two["value"] == pytest.approx(work / 2 * factor / 3600)
    assert "no overhead: the 0.51 above is below 1" in plan_rows(per_fold, 0.51, 476)[2]["note"]


def test_the_benchmarks_toy_features_have_the_features_stages_shapes():
    """h63: bench_train said its 504 AU-region features were what the features stage writes;
    that stage writes 576 at the defaults (reports/features.json, the committed baseline's)."""
    import json

    from benchmarks.common import AU_FEATURES, SIZE, STEPS

    from mer.paths import project_root

    stage = json.loads((project_root() / "reports" / "features.json").read_text())
    shapes = (stage["steps"], stage["input_size"], stage["au_features"])
    assert shapes == (STEPS, SIZE, AU_FEATURES)


@pytest.mark.slow
def test_bench_spotting_scores_fresh_draws(tmp_path, monkeypatch):
    """h65: the spotting figure was measured only on the draw its design was compared on;
    bench_spotting now also scores draws that chose nothing, each written by the real stage."""
    import yaml
    from benchmarks.bench_spotting import fresh_draw_rows

    from mer.paths import project_root

    params = yaml.safe_load((project_root() / "params.yaml").read_text())
    params["spotting"]["workers"] = 1
    params["spotting"]["synthetic"].update(subjects=2, seconds=8.0, micro=1, macro=1)
    monkeypatch.chdir(tmp_path)
    rows = fresh_draw_rows(params, seeds=(1, 2))
    for seed in (1, 2):
        drawn = yaml.safe_load((tmp_path / f"fresh_seed{seed}" / "params.yaml").read_text())
        assert drawn["spotting"]["seed"] == seed
    assert {row["benchmark"] for row in rows} >= {"spotter overall F1, fresh draws",
                                                  "threshold_baseline micro F1, fresh draws"}
    for row in rows:
        assert 0 <= row["value"] <= 1 and "LOSO on spotting.seed 1, 2: mean +- " in row["note"]
