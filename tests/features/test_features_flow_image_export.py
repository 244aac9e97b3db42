"""`mer export-flow-images`: the embedded set as MEGC-style flow images, and read back right.

A tiny embedded project (2 subjects, 6 clips of small frames, one worker) runs synthesize,
data, faces and features and is exported; a second project reads the export as data.source
flow-images with data.flow_channels auto, as a team reads the flow images of a licensed corpus.
"""

from __future__ import annotations

import contextlib
import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mer.cli import main
from mer.config import FeatureParams
from mer.core.flow_image import RGB, read_flow_image
from mer.core.manifest import read_manifest
from mer.core.npz import read_faces, read_features
from mer.data.flow_image_corpus import strain_correlations
from mer.features.describe_clips import frame_tasks
from mer.features.flow_image_export import (
    CSV_COLUMNS,
    ExportTask,
    corpus_subjects,
    export_clip,
    min_max_scaled,
)

SIZE = 28  # the export's default side
# Small and single-process so the four stages take seconds; 6 clips still hold several classes.
FRAMES_PROJECT = {
    "data": {"synthetic": {"subjects": 2, "clips": 6, "frame_width": 160, "frame_height": 192,
                           "workers": 1}},
    "faces": {"workers": 1},
    "features": {"workers": 1},
}


def mer(folder: Path, *argv: str) -> int:
    with contextlib.chdir(folder):
        return main(list(argv))


def read_csv(folder: Path) -> list[dict[str, str]]:
    with (folder / "labels.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def frames_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("frames")
    (root / "params.yaml").write_text(yaml.safe_dump(FRAMES_PROJECT))
    for stage in ("synthesize", "data", "faces", "features"):
        assert mer(root, stage) == 0, stage
    return root


@pytest.fixture(scope="module")
def exported(frames_project: Path) -> Path:
    assert mer(frames_project, "export-flow-images", "--out", "export") == 0
    return frames_project / "export"


# ---- fast: the pieces --------------------------------------------------------------------

def test_each_channel_is_min_max_scaled_on_its_own():
    maps = np.zeros((4, 4, 3), np.float32)
    maps[:, :, 0] = np.arange(16).reshape(4, 4) - 3.0  # u: -3..12 px
    maps[:, :, 1] = 0.25 * np.arange(16).reshape(4, 4)  # v: 0..3.75 px
    maps[:, :, 2] = 0.5  # strain flat: nothing to scale
    scaled = min_max_scaled(maps)
    assert scaled.dtype == np.uint8
    assert scaled[0, 0, 0] == 0 and scaled[3, 3, 0] == 255
    assert scaled[0, 0, 1] == 0 and scaled[3, 3, 1] == 255
    assert np.array_equal(scaled[:, :, 0], scaled[:, :, 1])  # same shape, other unit
    assert not scaled[:, :, 2].any()


def test_a_still_clip_reads_back_as_no_motion():
    """A review (h70 F3): identical onset and apex frames gave flat u and v channels written
    as 0, which the reader maps to -1: the largest motion left and up, where there was none."""
    from mer.config import FeatureParams
    from mer.features.flow_image_export import flow_image
    from mer.features.flow_image_features import describe_flow_image

    face = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
    image = flow_image(face, face.copy(), 28, FeatureParams())
    assert image[..., :2].min() == image[..., :2].max() == 128 and not image[..., 2].any()
    u, v, strain = describe_flow_image(image, FeatureParams()).flow[0].mean(axis=(1, 2))
    assert abs(u) < 0.01 and abs(v) < 0.01 and strain == 0


def test_subjects_lose_only_the_namespace_of_several_corpora():
    composite = pd.DataFrame({"subject": ["casme2_sub01", "samm_006", "smic_s1"],
                              "dataset": ["casme2", "samm", "smic"]})
    assert corpus_subjects(composite) == ["sub01", "006", "s1"]
    single = pd.DataFrame({"subject": ["sub01", "synthetic_x"],
                           "dataset": ["synthetic", "synthetic"]})
    assert corpus_subjects(single) == ["sub01", "synthetic_x"]


def test_a_non_empty_folder_needs_force_and_the_project_is_never_replaced(tmp_path, capsys):
    (tmp_path / "params.yaml").write_text("{}\n")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("keep me")
    assert mer(tmp_path, "export-flow-images", "--out", "taken") == 2
    assert "not empty" in capsys.readouterr().err
    assert mer(tmp_path, "export-flow-images", "--out", ".", "--force") == 2
    assert "holds this project" in capsys.readouterr().err
    assert (tmp_path / "taken" / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("folder", ["data", "src", "taken"])
def test_force_replaces_only_an_earlier_export(tmp_path, capsys, folder):
    """The issue: `--out data --force` deleted the manifest, the features and the corpus;
    `--out src --force` the code."""
    (tmp_path / "params.yaml").write_text("{}\n")
    (tmp_path / folder).mkdir()
    (tmp_path / folder / "manifest.parquet").write_text("keep me")
    assert mer(tmp_path, "export-flow-images", "--out", folder, "--force") == 2
    assert "is not an earlier export of `mer export-flow-images`" in capsys.readouterr().err
    assert (tmp_path / folder / "manifest.parquet").read_text() == "keep me"


def test_a_size_beyond_the_flow_is_refused(tmp_path, capsys):
    (tmp_path / "params.yaml").write_text("{}\n")
    assert mer(tmp_path, "export-flow-images", "--out", "x", "--size", "4096") == 2
    assert "--size 4096 is larger than the flow it is made from (features.flow_size 128 px)" \
        in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_missing_inputs_name_the_command_to_run(tmp_path, capsys):
    (tmp_path / "params.yaml").write_text("{}\n")
    assert mer(tmp_path, "export-flow-images", "--out", "export") == 2
    assert "run `mer data`" in capsys.readouterr().err
    assert not (tmp_path / "export").exists()


# ---- slow: a real tiny project, exported and read back -----------------------------------

@pytest.mark.slow
def test_every_clip_with_a_face_is_listed_with_its_label(frames_project, exported):
    manifest = read_manifest(frames_project / "data" / "manifest.parquet").set_index("clip_id")
    features = read_features(frames_project / "data" / "features.npz")
    rows = read_csv(exported)
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert [f"{r['dataset']}/{r['subject']}/{r['clip']}" for r in rows] \
        == list(features["clip_id"])
    for row in rows:
        clip = manifest.loc[f"{row['dataset']}/{row['subject']}/{row['clip']}"]
        assert row["label"] == clip["label"] and row["subject"] == clip["subject"]
        image = read_flow_image(exported / row["path"], row["clip"], RGB)
        assert image.shape == (SIZE, SIZE, 3) and image.dtype == np.uint8
        # Each channel min-max scaled: it spans 0..255.
        assert (image.min(axis=(0, 1)) == 0).all() and (image.max(axis=(0, 1)) == 255).all()
    assert len({r["label"] for r in rows}) >= 2


@pytest.mark.slow
def test_images_are_u_v_strain_saved_as_r_g_b(frames_project, exported):
    """Read as rgb, each file is exactly the clip's u, v, strain, and its third channel is the
    strain of the first two (which the auto detector relies on)."""
    data = frames_project / "data"
    manifest, faces = read_manifest(data / "manifest.parquet"), read_faces(data / "faces.npz")
    features = read_features(data / "features.npz")
    apex = dict(zip(features["clip_id"], features["apex_frame"], strict=True))
    rows = {f"{r['dataset']}/{r['subject']}/{r['clip']}": r for r in read_csv(exported)}
    params = FeatureParams(workers=1)
    with contextlib.chdir(frames_project):  # frame paths are relative to the project
        for task in frame_tasks(manifest, faces):
            clip = task.clip
            expected = export_clip(ExportTask(task, int(apex[clip.clip_id]) - clip.onset, SIZE),
                                   params)
            read = read_flow_image(exported / rows[clip.clip_id]["path"], clip.clip_id, RGB)
            assert np.array_equal(read, expected), clip.clip_id
            correlations = strain_correlations(read[:, :, ::-1])  # as OpenCV decodes the file
            assert correlations["rgb"] > correlations["bgr"] + 0.2, clip.clip_id


@pytest.mark.slow
def test_without_features_it_says_to_run_them(frames_project, tmp_path, capsys):
    (tmp_path / "params.yaml").write_text("{}\n")
    (tmp_path / "data").mkdir()
    for name in ("manifest.parquet", "faces.npz"):
        shutil.copy(frames_project / "data" / name, tmp_path / "data")
    assert mer(tmp_path, "export-flow-images", "--out", "export") == 2
    assert "run `mer features`" in capsys.readouterr().err


@pytest.mark.slow
def test_the_export_is_deterministic(frames_project, exported):
    assert mer(frames_project, "export-flow-images", "--out", "again") == 0
    assert files_of(frames_project / "again") == files_of(exported)
    # --force replaces a previous export, here with the same bytes.
    assert mer(frames_project, "export-flow-images", "--out", "again", "--force") == 0
    assert files_of(frames_project / "again") == files_of(exported)


@pytest.mark.slow
def test_a_flow_images_project_reads_the_export_as_rgb(tmp_path, exported):
    params = {"data": {"source": "flow-images", "root": str(exported), "flow_channels": "auto"},
              "features": {"workers": 1}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    for stage in ("data", "faces", "features"):
        assert mer(tmp_path, stage) == 0, stage
    report = json.loads((tmp_path / "reports" / "data.json").read_text())
    channels = report["flow_channels"]
    assert channels["order"] == RGB
    assert channels["evidence"]["votes"]["bgr"] == 0
    rows = read_csv(exported)
    assert channels["evidence"]["votes"]["rgb"] >= 0.8 * len(rows)
    manifest = read_manifest(tmp_path / "data" / "manifest.parquet")
    assert sorted(zip(manifest["subject"], manifest["clip"], manifest["label"], strict=True)) \
        == sorted((r["subject"], r["clip"], r["label"]) for r in rows)
    features = read_features(tmp_path / "data" / "features.npz")
    input_size = FeatureParams().input_size
    assert features["flow"].shape == (len(rows), 1, 3, input_size, input_size)  # T = 1


@pytest.mark.slow
def test_the_export_says_which_scheme_its_labels_are(frames_project, caplog):
    """A break-it session: the README's flow-image project (default scheme casme2-5) refused
    an export of a megc-3 composite, whose labels are megc-3 classes, and nothing said so."""
    with caplog.at_level("INFO", logger="mer.stages"):
        assert mer(frames_project, "export-flow-images", "--out", "named") == 0
    scheme = yaml.safe_load((frames_project / "params.yaml").read_text()).get(
        "labels", {}).get("scheme", "casme2-5")
    assert (f"its labels are labels.scheme {scheme} classes: give the flow-image project "
            f"`labels: {{scheme: {scheme}}}`") in caplog.text


def test_the_export_of_synthetic_data_carries_their_seed(exported):
    """A flow-images project reading the export still knows its subjects' data seed (the
    pretraining corpus must not be drawn from it)."""
    from mer.synthetic.record import synthesis_seeds

    assert list(synthesis_seeds([exported])) == [0]
