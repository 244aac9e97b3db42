"""benchmarks.bench_compare: the subtle flow-image proxy (the composite's params with only the AU
displacement scale changed, valid params for mer's stages) and the strongest opt-in setting's
rows (valid params; ratios to the default run's best reference; measured only when asked), and
a run kept under a root resuming from its finished folds and from a dataset build it left half
done."""

import json

import pytest
import yaml
from benchmarks.bench_compare import (
    COMPOSITE,
    REPO,
    STRONGEST,
    SUBTLE_INTENSITY,
    _mer,
    build_flow_images,
    build_frames,
    check_arguments,
    check_data_seed,
    check_strongest,
    compare,
    composite_params,
    fold_folder,
    is_built,
    rows_of,
    with_overrides,
)

from dvc_helpers import tiny_params
from mer.config import TrainParams, load_params, parse_params
from mer.core.clipset import load_clips
from toy import write_toy


def test_the_subtle_composite_changes_the_intensity_alone():
    example = yaml.safe_load(COMPOSITE.read_text())
    subtle = yaml.safe_load(composite_params(SUBTLE_INTENSITY))
    assert subtle["data"]["synthetic"].pop("intensity") == SUBTLE_INTENSITY != 1.0
    assert example["data"]["synthetic"].pop("intensity") == 1.0
    assert subtle == example
    params = parse_params(yaml.safe_load(composite_params(SUBTLE_INTENSITY)))
    assert params.data.synthetic.intensity == SUBTLE_INTENSITY


def _runs(*uf1_uar):
    return [{"uf1": uf1, "uar": uar, "fold_sd_uar": 0.1} for uf1, uar in uf1_uar]


def test_a_variants_rows_are_ratios_to_the_best_reference_of_the_default_run():
    default = {"ststnet": _runs((0.70, 0.72), (0.72, 0.74)),
               "off-apexnet": _runs((0.78, 0.80), (0.78, 0.80)),
               "hybrid": _runs((0.79, 0.80), (0.79, 0.80))}
    variant = {"cnn": _runs((0.82, 0.84), (0.80, 0.84)), "hybrid": _runs((0.85, 0.88),
                                                                        (0.85, 0.88))}
    rows = {r["benchmark"]: r for r in rows_of("frames", variant, references_from=default,
                                               label=STRONGEST[0])}
    label = f"frames: hybrid ({STRONGEST[0]})"
    assert set(rows) == {label, f"frames: cnn ({STRONGEST[0]})"}
    assert rows[label]["value"] == pytest.approx(0.85 / 0.78)
    assert rows[label]["unit"] == "x off-apexnet UF1"
    assert "(1.100 x off-apexnet)" in rows[label]["note"]  # UAR 0.88 / 0.80
    assert rows[f"frames: cnn ({STRONGEST[0]})"]["value"] == pytest.approx(0.81 / 0.78)
    # without references_from, a run's own references are the yardstick, unlabelled
    own = {r["benchmark"]: r["value"] for r in rows_of("frames", default)}
    assert own["frames: off-apexnet"] == pytest.approx(1.0)
    assert own["frames: hybrid"] == pytest.approx(0.79 / 0.78)


def test_a_note_names_its_spread_and_each_seed_and_one_seed_has_no_spread():
    """A break-it session: the spread was the population sd, unsaid; the per-seed figures the
    README quotes were in no output; one seed printed a spread of 0.000."""
    runs = {"off-apexnet": _runs((0.70, 0.72), (0.74, 0.76), (0.72, 0.74)),
            "hybrid": _runs((0.80, 0.81), (0.78, 0.79), (0.76, 0.77))}
    [_, hybrid] = rows_of("frames", runs)
    assert hybrid["note"].startswith("UF1 0.780 +- 0.016, UAR 0.790 +- 0.016 (1.068 x "
                                     "off-apexnet) (mean +- population sd over 3 seeds; per "
                                     "seed UF1 0.800 / 0.780 / 0.760); fold sd of UAR 0.100")
    [_, single] = rows_of("frames", {m: r[:1] for m, r in runs.items()})
    assert single["note"].startswith("UF1 0.800, UAR 0.810 (1.125 x off-apexnet) (1 seed: no "
                                     "spread)")
    assert "+-" not in single["note"]


@pytest.mark.parametrize(("arguments", "message"), [
    ((("bogus",), None, (0,)), "--models: no model bogus; choose from ststnet, off-apexnet"),
    ((("svm", "svm"), None, (0,)), "--models lists one twice: svm svm"),
    ((None, None, (0, 0)), "--seeds lists one twice: 0 0"),
    ((None, None, (-1,)), "--seeds: a seed is 0 or more, got -1"),
    ((None, ("bogus",), (0,)), "--hybrid-experts bogus: Input should be 'svm', 'ststnet'"),
])
def test_arguments_are_checked_before_any_build(arguments, message):
    """A break-it session: `--models bogus` failed after the datasets' build (minutes to an
    hour) with "need at least one array to concatenate"; `--seeds -1` named no option."""
    with pytest.raises(ValueError) as err:
        check_arguments(*arguments, {})
    assert str(err.value).startswith(message)
    check_arguments(("svm", "hybrid"), ("off-apexnet",), (0, 1), {"train.svm.trials": "3"})


def test_the_train_params_are_read_at_every_run_not_kept_with_a_dataset(tmp_path,
                                                                         monkeypatch):
    """A break-it session: with --root, a dataset kept from an earlier run was measured with
    the train params of the day it was built (its params.yaml's copy), whatever params.yaml
    said since; a flow-image set, with the code's defaults."""
    import benchmarks.bench_compare as bench

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "params.yaml").write_text("train: {svm: {trials: 7}}\n")
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    write_toy(project / "data", subjects=4, clips_per_subject=5, scheme="megc-3")
    (project / "params.yaml").write_text("labels: {scheme: megc-3}\n"
                                         "train: {svm: {trials: 2}}\n")
    seen = []

    def stop(train, overrides):
        seen.append(train.svm.trials)
        raise RuntimeError("seen")

    monkeypatch.setattr(bench, "REPO", repo)
    monkeypatch.setattr(bench, "with_overrides", stop)
    with pytest.raises(RuntimeError, match="seen"):
        compare(project, (0,), models=("svm",))
    assert seen == [7]


@pytest.mark.parametrize("strongest", [False, True])
def test_the_strongest_setting_is_measured_only_when_asked(tmp_path, monkeypatch, strongest):
    """`make bench` (run's defaults) leaves STRONGEST out: it took nearly half of the
    module's time (45 of 95 min on 2026-12-02)."""
    import inspect

    import benchmarks.bench_compare as bench

    asked = []

    def record(project, seeds, experts, models, overrides, pretrain_cache, fold_cache):
        asked.append((experts, models, overrides))
        return {name: [{"uf1": 0.7, "uar": 0.7, "fold_sd_uar": 0.1}]
                for name in ("off-apexnet", "cnn", "hybrid")}

    monkeypatch.setattr(bench, "build", lambda dataset, root, data_seed=0: tmp_path / dataset)
    monkeypatch.setattr(bench, "compare", record)
    rows = bench.run(("frames",), (0,), strongest=strongest)
    assert asked == [(None, None, None)] + [STRONGEST[1:]] * strongest
    assert any(STRONGEST[0] in row["benchmark"] for row in rows) == strongest
    assert inspect.signature(bench.run).parameters["strongest"].default is False


@pytest.mark.parametrize("arguments, named", [
    ((None, ("svm",), None), "--models"),
    ((("svm",), None, None), "--hybrid-experts"),
    ((None, None, {"train.cnn.epochs": "2"}), "--set"),
])
def test_the_strongest_setting_is_refused_beside_another_setting(arguments, named):
    """Its rows are ratios to the reference nets of a default run; the check comes before any
    build, from the command line as from run()."""
    with pytest.raises(ValueError, match=f"drop {named}, or --strongest"):
        check_strongest(*arguments)
    experts, models, overrides = arguments
    with pytest.raises(ValueError, match=f"drop {named}, or --strongest"):
        check_arguments(models, experts, (0,), overrides or {}, strongest=True)
    check_strongest(None, None, {})


def test_the_strongest_settings_params_are_valid():
    _, experts, models, overrides = STRONGEST
    train = with_overrides(load_params(REPO / "params.yaml").train, overrides)
    assert train.cnn.pretrain.clips > 0 and train.cnn.ensemble == 3
    data = train.model_dump(mode="json") | {"models": list(models),
                                             "hybrid": {"experts": list(experts)}}
    validated = TrainParams.model_validate(data)  # what compare's learners are built from
    assert (validated.models, validated.hybrid.experts) == (models, experts)


def test_a_kept_run_resumes_from_its_finished_folds(tmp_path):
    """A fold kept by an earlier (e.g. interrupted) run is read back, not recomputed; a missing
    one is computed; another seed or another setting is computed afresh in its own folder."""
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    write_toy(project / "data", subjects=4, clips_per_subject=5, scheme="megc-3")
    (project / "params.yaml").write_text("labels: {scheme: megc-3}\n")
    train = parse_params({"train": {"parallel_folds": 1, "svm": {"trials": 2,
                                                                 "inner_folds": 2}}}).train
    folds = fold_folder(project, None, ("svm",), None)
    first = compare(project, (0,), models=("svm",), fold_cache=folds, train=train)
    kept = sorted((folds / "seed0").glob("svm_*.json"))
    assert len(kept) == 4  # one per subject
    # Doctor one kept fold so that every clip of it is predicted wrong, and drop another:
    doctored = json.loads(kept[0].read_text())
    proba = doctored["proba"]["svm"]
    clips = load_clips(project / "data/features.npz", project / "data/manifest.parquet",
                       "megc-3")
    truth = dict(zip(clips.clip_id.tolist(), clips.y.tolist(), strict=True))
    doctored["proba"]["svm"] = [[0.0 if k == truth[c] else 1.0 for k in range(len(p))]
                                for c, p in zip(doctored["clip_id"], proba, strict=True)]
    kept[0].write_text(json.dumps(doctored))
    kept[1].unlink()
    again = compare(project, (0,), models=("svm",), fold_cache=folds, train=train)
    assert again["svm"][0]["uar"] < first["svm"][0]["uar"]  # the doctored fold was read
    assert kept[1].exists()  # the missing fold was computed and kept
    assert not (folds / "seed1").exists()
    compare(project, (1,), models=("svm",), fold_cache=folds, train=train)
    assert len(list((folds / "seed1").glob("svm_*.json"))) == 4
    assert kept[0].exists()  # a seed does not sweep another seed's folds
    assert fold_folder(project, None, None, None) != folds != fold_folder(
        project, None, ("svm",), {"train.svm.trials": "3"})
    assert fold_folder(project, *STRONGEST[1:]) != fold_folder(project, None, None, None)


@pytest.mark.slow
def test_an_interrupted_build_is_finished_by_the_next(tmp_path):
    """A build killed after it began (its folder made) or after the flow-image export (written
    whole) is finished by the next run under the same root, not refused."""
    text = yaml.safe_dump(tiny_params())
    frames = tmp_path / "composite"
    frames.mkdir()
    (frames / "params.yaml").write_text(text)
    build_frames(frames, text)
    assert (frames / "data/features.npz").exists()
    project = tmp_path / "flow-images"
    _mer(frames, "export-flow-images", "--out", str(project / "flow-images"))
    build_flow_images(frames, project)
    assert (project / "data/features.npz").exists()


def test_a_fresh_draw_of_the_data_is_its_own_dataset(tmp_path):
    """A break-it session: the defaults were chosen on the benchmark's sets (data seed 0), and
    bench_compare could not measure them on a set that chose nothing. --data-seed draws one,
    built beside the others; the pretraining corpus's seed and negatives are refused first."""
    drawn = yaml.safe_load(composite_params(SUBTLE_INTENSITY, data_seed=7))
    assert drawn["data"]["seed"] == 7
    assert drawn["data"]["synthetic"]["intensity"] == SUBTLE_INTENSITY
    assert yaml.safe_load(composite_params(SUBTLE_INTENSITY))["data"].get("seed", 0) == 0
    check_data_seed(7)
    for bad, message in ((-1, "greater than or equal to 0"), (1000, "train.cnn.pretrain.seed "
                                                                      "equals data.seed")):
        with pytest.raises(ValueError, match=f"--data-seed {bad}: .*{message}"):
            check_data_seed(bad)
    # The re-check: the params the comparison uses, --set applied, are checked too (this
    # one passed and failed after the build); without a pretrained model it may hold.
    with pytest.raises(ValueError, match=r"--data-seed 7: train\.cnn\.pretrain\.seed equals"):
        check_data_seed(7, {"train.cnn.pretrain.seed": "7"}, ("cnn",))
    check_data_seed(7, {"train.cnn.pretrain.seed": "7"}, ("svm",))


def test_a_partial_dataset_is_not_taken_for_built(tmp_path):
    """A break-it session: a folder holding features.npz alone (or an empty one) passed for a
    built dataset, and mer's errors on it came out as tracebacks."""
    project = tmp_path / "frames"
    (project / "data").mkdir(parents=True)
    (project / "data/features.npz").write_bytes(b"x")
    assert not is_built(project)
    (project / "params.yaml").write_text("{}\n")
    (project / "data/manifest.parquet").write_bytes(b"x")
    assert is_built(project)
    (project / "data/features.npz").write_bytes(b"")
    assert not is_built(project)


def test_a_root_that_is_a_file_is_one_line(tmp_path):
    """A break-it session: `--root` naming a file ended in a NotADirectoryError traceback."""
    import subprocess
    import sys

    afile = tmp_path / "afile"
    afile.write_text("")
    done = subprocess.run([sys.executable, "-m", "benchmarks.bench_compare", "--dataset",
                           "frames", "--root", str(afile), "--models", "svm", "--seeds", "0"],
                          cwd=REPO, capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "Not a directory" in done.stderr and "delete its folder" not in done.stderr


def test_a_failure_advises_a_rebuild_only_where_one_could_help(tmp_path):
    """The re-check: "delete its folder" followed every error, also a refused param and a
    --root that is a file, which no rebuild changes."""
    from benchmarks.bench_compare import failure_message

    from mer.errors import DatasetError, ParamsError

    damaged = DatasetError("features.npz is empty")
    assert "delete its folder" in failure_message(damaged, tmp_path)
    assert failure_message(damaged, None) == "features.npz is empty"
    assert failure_message(ParamsError("train.cnn.pretrain.seed equals data.seed"),
                           tmp_path) == "train.cnn.pretrain.seed equals data.seed"
    afile = tmp_path / "afile"
    afile.write_text("")
    assert "delete" not in failure_message(NotADirectoryError("Not a directory"), afile)
