"""SMIC-HS adapter: labels from folders, bounds from the frames, an optional bounds CSV."""

import csv
import shutil

import pytest
from data_builders import make_smic

from mer.config import DataParams
from mer.data.build import build_manifest
from mer.errors import DatasetError


def by_clip(manifest):
    return {row["clip"]: row for row in manifest.to_dict("records")}


def test_manifest_of_smic(tmp_path, build):
    root = make_smic(tmp_path)
    manifest, report = build("smic", root, scheme="megc-3")
    rows = by_clip(manifest)
    assert set(rows) == {"s1_ne_01", "s1_po_01", "s2_sur_01", "s2_ne_03"}  # no non_micro
    clip = rows["s1_ne_01"]
    assert (clip["subject"], clip["fps"], clip["label"]) == ("s1", 100.0, "negative")
    assert (clip["onset"], clip["apex"], clip["offset"]) == (100340, -1, 100343)
    assert clip["frame_paths"][0] == f"{root}/HS/s1/micro/negative/s1_ne_01/image100340.bmp"
    assert clip["flags"] == ["bounds_from_folder", "apex_missing"]
    assert clip["source"] == f"{root}/HS/s1/micro/negative/s1_ne_01"
    assert rows["s1_po_01"]["label"] == "positive" and rows["s2_sur_01"]["label"] == "surprise"
    assert report["clips_per_class"] == {"negative": 2, "positive": 1, "surprise": 1}
    assert report["apex_to_estimate"]["count"] == 4


def test_hs_folder_as_root(tmp_path, build):
    make_smic(tmp_path)
    manifest, _ = build("smic", tmp_path / "HS", scheme="megc-3")
    assert len(manifest) == 4


def test_bounds_csv_overrides_the_folder(tmp_path, build):
    root = make_smic(tmp_path)
    with (tmp_path / "smic.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([["Subject", "Filename", "Onset", "Apex", "Offset"],
                                      [1, "s1_ne_01", 100341, 100342, 100343]])
    manifest, _ = build("smic", root, scheme="megc-3", annotations=tmp_path / "smic.csv")
    clip = by_clip(manifest)["s1_ne_01"]
    assert (clip["onset"], clip["apex"], clip["offset"]) == (100341, 100342, 100343)
    assert clip["flags"] == [] and clip["source"] == f"{tmp_path}/smic.csv:2"
    assert by_clip(manifest)["s1_po_01"]["flags"] == ["bounds_from_folder", "apex_missing"]


def test_bounds_csv_naming_an_unknown_clip(tmp_path, build):
    root = make_smic(tmp_path)
    with (tmp_path / "smic.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([["subject", "clip", "onset", "offset"],
                                      ["s3", "s3_po_09", 1, 5]])
    with pytest.raises(DatasetError, match=r"smic.csv, row 2: clip s3/s3_po_09 has no folder"):
        build("smic", root, scheme="megc-3", annotations=tmp_path / "smic.csv")


def test_hidden_folders_are_not_emotions_or_clips(tmp_path, build):
    """A break-it session: a Jupyter checkpoint folder beside the emotion folders was 'not an
    emotion mer knows', and one beside the clips a clip with no frames."""
    root = make_smic(tmp_path)
    micro = root / "HS" / "s1" / "micro"
    (micro / ".ipynb_checkpoints").mkdir()
    (micro / "negative" / ".Trash-1000").mkdir()
    manifest, _ = build("smic", root, scheme="megc-3")
    assert set(by_clip(manifest)) == {"s1_ne_01", "s1_po_01", "s2_sur_01", "s2_ne_03"}


def test_unknown_emotion_folder(tmp_path, build):
    root = make_smic(tmp_path, clips=[("s1", "negative", "s1_ne_01", 1, 3),
                                      ("s1", "happy-ish", "s1_x_01", 1, 3)])
    with pytest.raises(DatasetError, match=r"micro/happy-ish: 'happy-ish' is not an emotion"):
        build("smic", root, scheme="megc-3")


def test_an_emotion_folder_of_another_corpus_is_refused(tmp_path, build):
    """A break-it session: a folder renamed 'happiness' (an emotion, not one of SMIC's three
    classes) had its clips dropped under megc-3 with only a count at INFO level, while
    'ne' stopped the stage."""
    root = make_smic(tmp_path, clips=[("s1", "negative", "s1_ne_01", 1, 3),
                                      ("s1", "happiness", "s1_po_01", 1, 3),
                                      ("s2", "surprise", "s2_sur_01", 1, 3)])
    with pytest.raises(DatasetError, match=r"micro/happiness: 'happiness' names happiness, "
                                           r"which is not one of SMIC-HS's classes; SMIC's "
                                           r"folders are negative, positive, surprise: rename "
                                           r"it to its class"):
        build("smic", root, scheme="megc-3")


def test_gap_in_a_clip_folder(tmp_path, build):
    root = make_smic(tmp_path)
    (root / "HS/s2/micro/surprise/s2_sur_01/image000514.bmp").unlink()
    with pytest.raises(DatasetError) as err:
        build("smic", root, scheme="megc-3")
    assert "s2_sur_01: frame 514 (image000514.bmp) of smic/s2/s2_sur_01 is missing" in \
        str(err.value)


@pytest.mark.parametrize(("copy", "message"), [
    ("image000514 (1).bmp", r"image000514 \(1\).bmp is named unlike its other 5 frame\(s\) "
                            r"\(such as image000512.bmp\).*Delete or move it out of the folder"),
    ("image000514 copy 2.bmp", r"image000514 copy 2.bmp is named unlike its other 5 frame"),
    ("image000514 - Copy.bmp", r"image000514 - Copy.bmp and image000514.bmp are both frame 514"),
])
def test_a_copy_of_a_frame_left_in_a_clip_folder_is_named(tmp_path, build, copy, message):
    """h64 F4: 'image0640110 (1).bmp', a copy Explorer or a sync client leaves, was read as
    frame 1, so the clip was said to lack frames 2 to 640107, blaming a made-up file."""
    root = make_smic(tmp_path)
    folder = root / "HS/s2/micro/surprise/s2_sur_01"
    shutil.copyfile(folder / "image000514.bmp", folder / copy)
    with pytest.raises(DatasetError, match=rf"s2_sur_01: {message}"):
        build("smic", root, scheme="megc-3")
    # a clip problem like any other: on_bad_clip: skip leaves the clip out (h66: the copy
    # stopped the stage, where a missing frame is skipped)
    manifest, report = build_manifest(DataParams(source="smic", root=root, on_bad_clip="skip"),
                                      "megc-3")
    assert "s2_sur_01" not in set(manifest["clip"]) and len(manifest) > 0
    assert [c["clip_id"] for c in report["skipped"]["clips"]] == ["smic/s2/s2_sur_01"]


def test_casme2_scheme_leaves_one_class_of_smic(tmp_path, build):
    with pytest.raises(DatasetError, match=r"leaves only the class surprise of smic .*megc-3"):
        build("smic", make_smic(tmp_path), scheme="casme2-5")


def test_root_without_smic(tmp_path, build):
    with pytest.raises(DatasetError, match=r"no SMIC-HS clips found: expected .*HS/s1/micro"):
        build("smic", tmp_path, scheme="megc-3")


def test_empty_clip_folder_follows_on_bad_clip(tmp_path):
    """The issue: an empty clip folder stopped the stage even with data.on_bad_clip: skip."""
    from mer.config import DataParams
    from mer.data.build import build_manifest

    root = make_smic(tmp_path)
    (root / "HS/s2/micro/negative/s2_ne_09").mkdir()
    with pytest.raises(DatasetError, match=r"s2_ne_09: clip folder .* holds no numbered image "
                                           r"frames .*restore its frames, or delete the folder "
                                           r".*on_bad_clip: skip"):
        build_manifest(DataParams(source="smic", root=root), "megc-3")
    manifest, report = build_manifest(DataParams(source="smic", root=root, on_bad_clip="skip"),
                                      "megc-3")
    assert len(manifest) == 4
    assert [s["clip_id"] for s in report["skipped"]["clips"]] == ["smic/s2/s2_ne_09"]


def test_micro_folder_in_any_case_and_subjects_without_one_are_named(tmp_path, build, caplog):
    """The issue: a subject whose folder was 'Micro' was dropped without a word."""
    root = make_smic(tmp_path)
    (root / "HS/s2/micro").rename(root / "HS/s2/Micro")
    (root / "HS/s3/non_micro/s3_n1").mkdir(parents=True)
    manifest, report = build("smic", root, scheme="megc-3")
    assert len(manifest) == 4 and report["subjects"] == 2
    assert "HS: the subject folder(s) s3 hold no 'micro' folder" in caplog.text


def test_two_micro_folders_of_one_subject(tmp_path, build):
    root = make_smic(tmp_path)
    (root / "HS/s1/MICRO").mkdir()
    with pytest.raises(DatasetError, match=r"s1: the folders .* are both its micro-expression "
                                           "folder; merge them"):
        build("smic", root, scheme="megc-3")
