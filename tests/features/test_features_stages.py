"""`mer faces` then `mer features` end to end on a tiny CASME II-style dataset."""

from __future__ import annotations

import argparse
import importlib
import json

import numpy as np
import pandas as pd
import pytest
import yaml
from features_helpers import bump_motion, mouth_centre, profile, write_clip

from mer import paths
from mer.core.manifest import read_manifest, write_manifest
from mer.core.npz import read_faces, read_features
from mer.errors import MerError


def write_params(root, **features):
    params = {"faces": {"workers": 1}, "features": {"workers": 1, **features}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))


def run(stage: str) -> int:
    """Run a stage as `mer <stage>` does; 0 on success (a MerError propagates)."""
    module = importlib.import_module(f"mer.stages.{stage}")
    module.run(argparse.Namespace(params="params.yaml"))
    return 0


def test_faces_then_features_end_to_end(tiny_dataset, monkeypatch):
    monkeypatch.chdir(tiny_dataset)
    write_params(tiny_dataset)
    assert run("faces") == 0
    faces = read_faces(paths.FACES)
    kept = ["casme2/sub01/EP01_01", "casme2/sub02/EP02_01"]
    assert list(faces["clip_id"]) == kept
    assert faces["transform"].shape == (2, 2, 3) and faces["landmarks"].shape == (2, 68, 2)
    report = json.loads(paths.FACES_REPORT.read_text())
    skipped = {s["clip_id"]: s["reason"] for s in report["skipped"]}
    assert "no face" in skipped["casme2/sub02/EP03_01"]
    assert "face lost on frame 6" in skipped["casme2/sub03/EP04_01"]

    assert run("features") == 0
    features = read_features(paths.FEATURES)
    assert list(features["clip_id"]) == kept  # only clips with a face
    assert features["flow"].shape == (2, 3, 3, 32, 32)
    assert features["apex_image"].shape == (2, 1, 32, 32)
    assert features["au_features"].shape == (2, len(features["au_feature_names"]))
    # sub01's apex is annotated (frame 104); sub02's is estimated: the true peak is index 7.
    assert list(features["apex_frame"]) == [104, 17]
    assert list(features["apex_estimated"]) == [False, True]
    report = json.loads(paths.FEATURES_REPORT.read_text())
    assert report["apexes_estimated"] == 1 and report["without_face"] == 2
    assert report["flow"] == "dis"
    # The mouth moves up: mean v over the mouth region at the apex step is clearly negative.
    names = list(features["au_feature_names"])
    assert features["au_features"][0, names.index("mouth/t1/v")] < -0.3


def test_a_clips_faces_and_features_do_not_depend_on_other_clips(tiny_dataset, base_frame,
                                                               monkeypatch):
    """An audit (leak-free, design brief 3): nothing proved that a clip's alignment, flow and
    AU-region features are its own clip's alone, so a corpus-wide template or normaliser in
    these stages would have let the held-out subject steer every fold's inputs. Another
    subject's frames change; this clip's rows stay byte-identical."""
    monkeypatch.chdir(tiny_dataset)
    write_params(tiny_dataset)
    kept = "casme2/sub01/EP01_01"

    def rows() -> list[bytes]:
        assert run("faces") == 0 and run("features") == 0
        faces, features = read_faces(paths.FACES), read_features(paths.FEATURES)
        at = list(features["clip_id"]).index(kept)
        assert list(faces["clip_id"]).index(kept) == at
        return [np.asarray(values[at]).tobytes() for values in (*faces.values(),
                                                                *features.values())
                if np.ndim(values) > 0 and len(values) == len(features["clip_id"])]

    before = rows()
    centre = mouth_centre(base_frame)
    frames = [bump_motion(base_frame, centre, a, (0.4 * i, -0.2 * i))
              for i, a in enumerate(profile(11, 3, 4.0))]  # sub02: other motion, other apex
    write_clip(tiny_dataset, "sub02", "EP02_01", frames, 10)
    after = rows()
    assert read_features(paths.FEATURES)["apex_frame"].tolist() != [104, 17]  # it changed
    assert len(before) >= 8 and after == before


@pytest.mark.slow  # spawns worker processes
def test_outputs_do_not_depend_on_worker_count(tiny_dataset, monkeypatch):
    monkeypatch.chdir(tiny_dataset)
    outputs = []
    for workers in (1, 2):
        (tiny_dataset / "params.yaml").write_text(yaml.safe_dump(
            {"faces": {"workers": workers}, "features": {"workers": workers}}))
        assert run("faces") == 0 and run("features") == 0
        outputs.append([path.read_bytes() for path in (
            paths.FACES, paths.FEATURES, paths.FACES_REPORT, paths.FEATURES_REPORT)])
    # byte-identical, timestamps included; the reports too, which are in git (a break-it
    # session: they held the stage's seconds, so every fresh clone's `make repro` changed them)
    assert outputs[0] == outputs[1]


def test_apex_outside_the_clip_names_the_clip_and_row(tiny_dataset, monkeypatch):
    monkeypatch.chdir(tiny_dataset)
    write_params(tiny_dataset)
    manifest = read_manifest(paths.MANIFEST)
    manifest.loc[0, "apex"] = 250
    write_manifest(manifest, paths.MANIFEST)
    with pytest.raises(MerError) as err:
        run("faces")
    assert "casme2/sub01/EP01_01" in str(err.value)
    assert "CASME2-coding-tiny.xlsx:2" in str(err.value) and "apex = 250" in str(err.value)


def test_undecodable_frame_is_named(tiny_dataset, monkeypatch):
    monkeypatch.chdir(tiny_dataset)
    write_params(tiny_dataset)
    broken = tiny_dataset / "Cropped/sub01/EP01_01/reg_img100.jpg"
    broken.write_bytes(b"not a jpeg")
    with pytest.raises(MerError, match=r"reg_img100\.jpg does not decode as an image"):
        run("faces")


def test_features_refuse_a_stale_faces_file(tiny_dataset, monkeypatch):
    monkeypatch.chdir(tiny_dataset)
    write_params(tiny_dataset)
    assert run("faces") == 0
    manifest = read_manifest(paths.MANIFEST)
    write_manifest(manifest[manifest["clip"] != "EP01_01"], paths.MANIFEST)
    with pytest.raises(MerError, match="stale"):
        run("features")


def test_clips_the_manifest_gained_after_a_stage_are_refused_not_dropped(tiny_dataset,
                                                                        monkeypatch):
    """The issue: subjects added to the coding sheet, then `mer data` and `mer train` (or
    `mer features`) without `mer faces`: the new clips were left out as 'no face found', exit
    0. Clips added to the manifest, or given other frames, since a stage ran are refused."""
    from mer.config import load_params
    from mer.core.clipset import load_clips
    from mer.errors import DatasetError

    monkeypatch.chdir(tiny_dataset)
    write_params(tiny_dataset)
    full = read_manifest(paths.MANIFEST)
    write_manifest(full[full["clip"] != "EP01_01"], paths.MANIFEST)  # before sub-01 was coded
    assert run("faces") == 0 and run("features") == 0
    write_manifest(full, paths.MANIFEST)  # `mer data` after coding it
    (added,) = full.loc[full["clip"] == "EP01_01", "clip_id"]
    stale = (r"{} was made from an older data/manifest.parquet: 1 clip\(s\) added to it since, "
             r"e.g. \['{}'\]; rerun {} first")
    with pytest.raises(DatasetError, match=stale.format("faces.npz", added, "`mer faces`")):
        run("features")
    with pytest.raises(DatasetError, match=stale.format(
            "features.npz", added, "`mer faces` and `mer features`")):
        load_clips(paths.FEATURES, paths.MANIFEST, "casme2-5", load_params())
    assert run("faces") == 0  # faces.npz is current now: only `mer features` is left to run
    with pytest.raises(DatasetError, match=stale.format("features.npz", added, "`mer features`")):
        load_clips(paths.FEATURES, paths.MANIFEST, "casme2-5", load_params())
    assert run("features") == 0
    assert added in set(load_clips(paths.FEATURES, paths.MANIFEST, "casme2-5",
                                   load_params()).clip_id)

    moved = full.copy()  # the sheet's offset corrected: the clip's frames are others now
    moved.loc[moved["clip_id"] == added, "frame_paths"] = moved.loc[
        moved["clip_id"] == added, "frame_paths"].map(lambda f: f[:-1])
    moved.loc[moved["clip_id"] == added, "offset"] -= 1
    write_manifest(moved, paths.MANIFEST)
    with pytest.raises(DatasetError, match=r"features.npz was made from an older .*1 clip\(s\) "
                                           r"given other frames or apex since"):
        load_clips(paths.FEATURES, paths.MANIFEST, "casme2-5", load_params())
    # labels are joined when training runs: a new label alone needs no faces or features
    relabelled = full.copy()
    relabelled.loc[relabelled["clip_id"] == added, "aus"] = "4+7"
    write_manifest(relabelled, paths.MANIFEST)
    load_clips(paths.FEATURES, paths.MANIFEST, "casme2-5", load_params())


def test_flow_image_dataset(tmp_path, monkeypatch):
    import cv2

    monkeypatch.chdir(tmp_path)
    write_params(tmp_path, input_size=16)
    rng = np.random.default_rng(0)
    rows = []
    for i in range(3):
        cv2.imwrite(f"flow{i}.png", rng.integers(0, 256, (28, 28, 3), np.uint8))
        rows.append({"dataset": "flow-images", "subject": f"s{i}", "clip": f"c{i}",
                     "clip_id": f"flow-images/s{i}/c{i}", "frame_paths": [], "onset": 0,
                     "apex": -1, "offset": 0, "fps": 0.0, "aus": "", "emotion": "positive",
                     "label": "positive", "label_index": 1, "flow_image": f"flow{i}.png",
                     "flags": ["precomputed_flow", "flow_channels_bgr"],
                     "source": f"flows.csv:{i + 2}"})
    write_manifest(pd.DataFrame(rows), paths.MANIFEST)
    assert run("faces") == 0
    assert read_faces(paths.FACES)["clip_id"].shape == (0,)
    assert "flow-images" in json.loads(paths.FACES_REPORT.read_text())["skipped_stage"]
    assert run("features") == 0
    features = read_features(paths.FEATURES)
    assert features["flow"].shape == (3, 1, 3, 16, 16)
    assert features["au_feature_names"][0] == "grid_r0c0/t0/u"

    cv2.imwrite("flow1.png", rng.integers(0, 256, (28, 28), np.uint8))  # grey: 1 channel
    with pytest.raises(MerError) as err:
        run("features")
    assert "flow1.png" in str(err.value) and "flows.csv:3" in str(err.value)
    assert "has 1" in str(err.value)


def test_stages_run_by_hand_refuse_inputs_made_with_other_params(tiny_dataset, monkeypatch):
    """The issue: after a params change, `mer train` and `mer register` run by hand used the
    features of the old params (and register served the new ones), without a word."""
    from mer.config import load_params
    from mer.core.clipset import load_clips
    from mer.errors import DatasetError

    monkeypatch.chdir(tiny_dataset)
    write_params(tiny_dataset)
    assert run("faces") == 0 and run("features") == 0
    params = load_params()
    load_clips(paths.FEATURES, paths.MANIFEST, "casme2-5", params)

    write_params(tiny_dataset, dis_iterations=12)
    changed = load_params()
    with pytest.raises(DatasetError, match=r"features.npz was made with features.dis_iterations "
                                           r"25, but params.yaml now says 12: rerun `mer "
                                           r"features` first"):
        load_clips(paths.FEATURES, paths.MANIFEST, "casme2-5", changed)

    params_yaml = yaml.safe_load((tiny_dataset / "params.yaml").read_text())
    params_yaml["faces"]["size"] = 96
    (tiny_dataset / "params.yaml").write_text(yaml.safe_dump(params_yaml))
    with pytest.raises(DatasetError, match=r"faces.npz was made with faces.size 128, but "
                                           r"params.yaml now says 96: rerun `mer faces` first"):
        run("features")
    write_params(tiny_dataset)  # faces.workers and features.workers 1: not a change
    params_yaml = yaml.safe_load((tiny_dataset / "params.yaml").read_text())
    params_yaml["faces"]["workers"] = params_yaml["features"]["workers"] = 2
    (tiny_dataset / "params.yaml").write_text(yaml.safe_dump(params_yaml))
    assert run("features") == 0
    load_clips(paths.FEATURES, paths.MANIFEST, "casme2-5", load_params())


def test_rerun_advice_leaves_out_the_stages_rerun_since(tiny_dataset, monkeypatch):
    """The issue: after a faces change and `mer faces`, `mer train` still said to rerun `mer
    faces` and `mer features`: it read only the record of the features.npz in hand."""
    from mer.config import load_params
    from mer.core.clipset import load_clips
    from mer.errors import DatasetError

    monkeypatch.chdir(tiny_dataset)
    write_params(tiny_dataset)
    assert run("faces") == 0 and run("features") == 0
    params_yaml = yaml.safe_load((tiny_dataset / "params.yaml").read_text())
    params_yaml["faces"]["size"] = 96
    (tiny_dataset / "params.yaml").write_text(yaml.safe_dump(params_yaml))
    stale = r"features.npz was made with faces.size 128, but params.yaml now says 96: rerun {}"
    try:
        with pytest.raises(DatasetError, match=stale.format("`mer faces` and `mer features` "
                                                            "first")):
            load_clips(paths.FEATURES, paths.MANIFEST, "casme2-5", load_params())
        assert run("faces") == 0
        with pytest.raises(DatasetError, match=stale.format("`mer features` first")):
            load_clips(paths.FEATURES, paths.MANIFEST, "casme2-5", load_params())
    finally:  # the dataset is shared: back to the defaults
        write_params(tiny_dataset)
        assert run("faces") == 0 and run("features") == 0


def test_stages_run_by_hand_refuse_a_manifest_made_with_other_data_params(tiny_dataset,
                                                                          monkeypatch):
    """The issue: after a data or labels change without `mer data`, `mer faces`, `mer
    features` and `mer train` run by hand used the old manifest's clips and labels."""
    from mer.config import load_params
    from mer.core.clipset import load_clips
    from mer.errors import DatasetError

    monkeypatch.chdir(tiny_dataset)
    write_params(tiny_dataset)
    made = load_params().recorded(("data", "labels"))
    write_manifest(read_manifest(paths.MANIFEST), paths.MANIFEST, made)  # as `mer data` does
    assert run("faces") == 0 and run("features") == 0
    load_clips(paths.FEATURES, paths.MANIFEST, "casme2-5", load_params())

    params_yaml = yaml.safe_load((tiny_dataset / "params.yaml").read_text())
    params_yaml["data"] = {"annotations": "elsewhere.xlsx"}
    (tiny_dataset / "params.yaml").write_text(yaml.safe_dump(params_yaml))
    stale = (r"manifest.parquet was made with data.annotations None, but params.yaml now says "
             r"'elsewhere.xlsx': rerun {} first")
    # each command is told to rerun every stage before it that the change touches
    for stage, rerun in (("faces", "`mer data`"), ("features", "`mer data` and `mer faces`")):
        with pytest.raises(DatasetError, match=stale.format(rerun)):
            run(stage)
    with pytest.raises(DatasetError, match=r"features.npz was made with data.annotations .*"
                                           r"rerun `mer data`, `mer faces` and `mer features`"):
        load_clips(paths.FEATURES, paths.MANIFEST, "casme2-5", load_params())

    write_params(tiny_dataset)
    write_manifest(read_manifest(paths.MANIFEST), paths.MANIFEST,
                   {**made, "labels": {"scheme": "megc-3"}})  # `mer data` run, faces not
    with pytest.raises(DatasetError, match=r"manifest.parquet was made with labels.scheme "
                                           r"'megc-3', but params.yaml now says 'casme2-5': "
                                           r"rerun `mer data`, `mer faces` and `mer features`"):
        load_clips(paths.FEATURES, paths.MANIFEST, "casme2-5", load_params())
