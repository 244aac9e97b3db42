"""SAMM adapter: the header under 13 text rows, formulas, SAMM's AU codes, 5-digit frames."""

import pytest
from data_builders import make_samm, samm_rows

from mer.errors import DatasetError

SHEET = "SAMM_Micro_FACS_Codes_v2.xlsx"


def by_clip(manifest):
    return {row["clip"]: row for row in manifest.to_dict("records")}


def test_manifest_of_samm(tmp_path, build):
    root = make_samm(tmp_path)
    manifest, report = build("samm", root)
    rows = by_clip(manifest)
    assert set(rows) == {"006_1_2", "006_1_5", "007_3_1"}  # anger dropped by casme2-5
    first = rows["006_1_2"]
    assert (first["dataset"], first["subject"], first["fps"]) == ("samm", "006", 200.0)
    assert first["frame_paths"][0] == f"{root}/SAMM/006/006_1_2/006_05562.jpg"
    assert len(first["frame_paths"]) == 5
    assert first["aus"] == "A2" and first["label"] == "happiness"
    assert first["source"] == f"{root}/{SHEET}:15"  # header at row 14, below the notes
    assert rows["007_3_1"]["aus"] == "4+R14" and rows["007_3_1"]["emotion"] == "others"
    assert report["dropped"]["by_emotion"] == {"anger": 1}


def test_apex_minus_one_and_au_alternatives_flagged(tmp_path, build):
    manifest, report = build("samm", make_samm(tmp_path))
    clip = by_clip(manifest)["006_1_5"]
    assert clip["apex"] == -1 and clip["aus"] == "2"
    assert clip["flags"] == ["aus_alternatives", "apex_missing"]
    assert report["apex_to_estimate"]["clip_ids"] == ["samm/006/006_1_5"]


def test_megc3_keeps_anger_as_negative(tmp_path, build):
    manifest, report = build("samm", make_samm(tmp_path), scheme="megc-3")
    assert by_clip(manifest)["007_5_2"]["label"] == "negative"
    assert report["dropped"]["rows"] == 1  # 'others' has no megc-3 class
    assert report["dropped"]["by_emotion"] == {"others": 1}


def test_samm_folder_as_root_with_the_sheet_beside_it(tmp_path, build):
    make_samm(tmp_path)
    manifest, _ = build("samm", tmp_path / "SAMM")
    assert len(manifest) == 3


def test_missing_samm_frame_is_named_with_its_padding(tmp_path, build):
    root = make_samm(tmp_path)
    (root / "SAMM/007/007_3_1/007_00302.jpg").unlink()
    with pytest.raises(DatasetError) as err:
        build("samm", root)
    message = str(err.value)
    assert f"{SHEET}, sheet 'Sheet', row 17" in message
    assert "frame 302 (007_00302.jpg) of samm/007/007_3_1 is missing" in message


def test_offset_typo_repaired_in_samm_too(tmp_path, build):
    rows = samm_rows()
    rows[2]["offset"], rows[2]["frames"] = 34, range(300, 305)  # 34 for 304
    manifest, report = build("samm", make_samm(tmp_path, rows))
    assert by_clip(manifest)["007_3_1"]["offset"] == 304
    assert report["repairs"]["count"] == 1


def test_non_numeric_samm_frame(tmp_path, build):
    rows = samm_rows()
    rows[0]["apex"], rows[0]["frames"] = "peak", range(5562, 5567)
    with pytest.raises(DatasetError) as err:
        build("samm", make_samm(tmp_path, rows))
    assert f"{SHEET}, sheet 'Sheet', row 15: column 'Apex Frame' holds 'peak'" in str(err.value)
