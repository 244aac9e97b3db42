"""CASME II adapter: layouts, quirks repaired and flagged, every mistake named by file and row."""

from types import SimpleNamespace

import pytest
from data_builders import casme2_rows, make_casme2

from mer.data.casme2 import read_casme2
from mer.errors import DatasetError

SHEET = "CASME2-coding-20140508.xlsx"


def row_of(manifest, clip):
    """One manifest row as attributes (a pandas row's .flags is pandas' own attribute)."""
    return SimpleNamespace(**manifest.set_index("clip").loc[clip].to_dict())


def test_manifest_of_a_cropped_copy(tmp_path, build):
    root = make_casme2(tmp_path)
    manifest, report = build("casme2", root)
    assert list(manifest["clip_id"]) == sorted(manifest["clip_id"])
    assert set(manifest["subject"]) == {"sub01", "sub02", "sub03"}  # from 1, '02' and 3
    first = row_of(manifest, "EP02_01f")
    assert (first.onset, first.apex, first.offset, first.fps) == (46, 48, 50, 200.0)
    assert first.frame_paths == [f"{root}/Cropped/sub01/EP02_01f/reg_img{n}.jpg"
                                 for n in range(46, 51)]
    assert (first.aus, first.emotion, first.label, first.label_index) == \
        ("12", "happiness", "happiness", 0)
    assert first.source == f"{root}/{SHEET}:2"
    assert first.flow_image == "" and first.flags == []
    assert row_of(manifest, "EP03_02").aus == "4+L10"
    assert row_of(manifest, "EP01_11f").aus == "R14"
    assert report["clips"] == 5 and report["subjects"] == 3
    assert report["frames"] == f"{root}/Cropped"


def test_apex_slash_is_missing_and_flagged(tmp_path, build):
    manifest, report = build("casme2", make_casme2(tmp_path))
    clip = row_of(manifest, "EP03_02")
    assert clip.apex == -1 and clip.flags == ["apex_missing"]
    assert report["apex_to_estimate"] == {"count": 1, "clip_ids": ["casme2/sub01/EP03_02"]}


def test_offset_typo_repaired_from_the_folder(tmp_path, build):
    manifest, report = build("casme2", make_casme2(tmp_path))
    clip = row_of(manifest, "EP07_01")
    assert (clip.onset, clip.apex, clip.offset) == (86, 88, 91)
    assert len(clip.frame_paths) == 6
    assert "offset_repaired" in clip.flags and "aus_unknown" in clip.flags and clip.aus == ""
    [repair] = report["repairs"]["clips"]
    assert repair["clip_id"] == "casme2/sub03/EP07_01" and repair["flag"] == "offset_repaired"
    assert repair["source"].endswith(f"{SHEET}:6")
    assert "offset 9 -> 91" in repair["what"]


def test_offset_typo_not_repaired_when_the_folder_does_not_prove_it(tmp_path, build):
    # Was an error; an offset before the onset that nothing repairs now skips the row.
    rows = casme2_rows()
    rows[4]["frames"] = [*range(86, 92), 120]  # the folder ends at 120: 9 is no slip of it
    root = make_casme2(tmp_path, rows)
    corpus = read_casme2(root)
    [skipped] = corpus.skipped
    assert skipped.clip_id == "casme2/sub03/EP07_01"
    assert skipped.source == f"{root}/{SHEET}:6"
    assert skipped.where == f"{root}/{SHEET}, sheet 'Sheet', row 6"
    assert "the offset 9 lies before the onset 86" in skipped.reason
    assert "correct the offset cell" in skipped.reason
    manifest, _ = build("casme2", root)
    assert "EP07_01" not in set(manifest["clip"]) and len(manifest) == 4


def test_a_sheet_whose_apexes_mostly_lie_outside_their_clips_is_warned_about(tmp_path, build,
                                                                             caplog):
    """A break-it session: apexes written as the index within the clip (a convention of
    re-annotations) each lay outside their clip, each was set aside and estimated, and only
    an INFO count said so."""
    rows = [r for r in casme2_rows() if r["clip"] != "EP07_01"]  # fear is dropped: 3 apexes
    for row in rows:
        if isinstance(row["apex"], int):
            row["apex"] = row["apex"] - row["onset"] + 1
    with caplog.at_level("WARNING", logger="mer.data.build"):
        build("casme2", make_casme2(tmp_path, rows))
    assert ("casme2: 3 of the 3 apexes its annotations give lie outside their clips (e.g. "
            in caplog.text)
    assert "such as the apex's index within the clip" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="mer.data.build"):
        build("casme2", make_casme2(tmp_path / "as coded", casme2_rows()))
    assert "lie outside their clips" not in caplog.text


def test_fear_dropped_and_counted(tmp_path, build):
    manifest, report = build("casme2", make_casme2(tmp_path))
    assert "fear" not in set(manifest["emotion"])
    assert report["dropped"]["rows"] == 1 and report["dropped"]["by_emotion"] == {"fear": 1}
    assert "casme2-5" in report["dropped"]["reason"]
    assert report["clips_per_class"] == {"happiness": 1, "disgust": 1, "surprise": 1,
                                         "repression": 1, "others": 1}


def test_raw_layout_csv_sheet_and_2019_revision(tmp_path, build):
    root = make_casme2(tmp_path, layout="CASME2_RAW_selected", sheet="CASME2-coding-2019.csv",
                       revision_2019=True)
    manifest, report = build("casme2", root)
    assert len(manifest) == 5
    assert row_of(manifest, "EP02_01f").frame_paths[0] == \
        f"{root}/CASME2_RAW_selected/sub01/EP02_01f/img46.jpg"
    assert report["annotations"] == f"{root}/CASME2-coding-2019.csv"


def test_root_may_be_the_folder_of_subjects_with_the_sheet_beside_it(tmp_path, build):
    make_casme2(tmp_path)
    manifest, _ = build("casme2", tmp_path / "Cropped")
    assert len(manifest) == 5


def test_cropped_preferred_when_both_layouts_exist(tmp_path):
    make_casme2(tmp_path, layout="CASME2_RAW_selected")
    make_casme2(tmp_path)
    assert read_casme2(tmp_path).frames_root == f"{tmp_path}/Cropped"


def test_cropped_frames_unpacked_into_a_folder_of_their_name_are_found(tmp_path):
    """The issue: Cropped.zip unpacked into Cropped/ gives Cropped/Cropped/sub01; mer passed
    over it without a word and read the uncropped frames of CASME2_RAW_selected instead."""
    make_casme2(tmp_path, layout="CASME2_RAW_selected")
    make_casme2(tmp_path, layout="Cropped/Cropped")
    assert read_casme2(tmp_path).frames_root == f"{tmp_path}/Cropped/Cropped"


def test_a_layout_folder_without_subjects_is_passed_over_aloud(tmp_path, caplog):
    make_casme2(tmp_path, layout="CASME2_RAW_selected")
    (tmp_path / "Cropped" / "frames").mkdir(parents=True)
    assert read_casme2(tmp_path).frames_root == f"{tmp_path}/CASME2_RAW_selected"
    assert f"{tmp_path}/Cropped holds no subject folder; reading the frames in " \
           f"{tmp_path}/CASME2_RAW_selected instead" in caplog.text


def test_apex_at_onset_is_estimated_instead(tmp_path, build):
    rows = casme2_rows()
    rows[0]["apex"] = 46
    manifest, report = build("casme2", make_casme2(tmp_path, rows))
    clip = row_of(manifest, "EP02_01f")
    assert clip.apex == -1 and clip.flags == ["apex_missing", "apex_at_onset"]
    assert "casme2/sub01/EP02_01f" in report["apex_to_estimate"]["clip_ids"]


# --------------------------------------------------------------------------- bad input

def expect_error(build, root, *fragments, scheme="casme2-5"):
    with pytest.raises(DatasetError) as err:
        build("casme2", root, scheme)
    message = str(err.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_missing_root(tmp_path):
    with pytest.raises(DatasetError, match=r"data.root .*nope is not a folder"):
        read_casme2(tmp_path / "nope")


def test_root_without_frames(tmp_path, build):
    (tmp_path / "empty").mkdir()
    expect_error(build, tmp_path / "empty", "no CASME II frames found", "Cropped/sub01")


def test_missing_sheet(tmp_path, build):
    root = make_casme2(tmp_path / "copy")
    (root / SHEET).unlink()
    expect_error(build, root, "no CASME II coding sheet (CASME2-coding-*.xlsx or "
                 "CASME2-coding-*.csv) found in", "set data.annotations")


def test_non_numeric_frame(tmp_path, build):
    rows = casme2_rows()
    rows[1]["onset"], rows[1]["frames"] = "ten", range(10, 15)
    expect_error(build, make_casme2(tmp_path, rows), f"{SHEET}, sheet 'Sheet', row 3",
                 "column 'OnsetFrame' holds 'ten', not a frame number")


def test_apex_before_onset_is_estimated_instead(tmp_path, build):
    # Was an error ("the apex frame comes before the onset"): now repaired and flagged.
    rows = casme2_rows()
    rows[0]["apex"] = 40
    manifest, report = build("casme2", make_casme2(tmp_path, rows))
    clip = row_of(manifest, "EP02_01f")
    assert (clip.onset, clip.apex, clip.offset) == (46, -1, 50)
    assert clip.flags == ["apex_missing", "apex_repaired"]
    [note] = [r for r in report["repairs"]["clips"] if r["flag"] == "apex_repaired"]
    assert note["clip_id"] == "casme2/sub01/EP02_01f"
    assert "apex 40 lies before the onset (onset 46, offset 50)" in note["what"]


def test_apex_after_offset_is_estimated_instead(tmp_path, build):
    # Was an error ("the apex frame comes after the offset"): now repaired and flagged.
    rows = casme2_rows()
    rows[0]["offset"], rows[0]["frames"] = 47, range(46, 51)  # 47 is no digit slip of 50
    manifest, report = build("casme2", make_casme2(tmp_path, rows))
    clip = row_of(manifest, "EP02_01f")
    assert (clip.onset, clip.apex, clip.offset) == (46, -1, 47)
    assert clip.flags == ["apex_missing", "apex_repaired"]
    assert any("apex 48 lies after the offset (onset 46, offset 47)" in r["what"]
               for r in report["repairs"]["clips"])


def test_one_frame_clip_is_still_an_error(tmp_path, build):
    rows = casme2_rows()
    rows[0]["apex"], rows[0]["offset"], rows[0]["frames"] = "/", 46, range(46, 47)
    expect_error(build, make_casme2(tmp_path, rows), f"{SHEET}, sheet 'Sheet', row 2",
                 "the offset frame is not after the onset (onset 46, apex -1, offset 46)")


def test_missing_frame_is_named(tmp_path, build):
    root = make_casme2(tmp_path)
    (root / "Cropped/sub01/EP02_01f/reg_img48.jpg").unlink()
    expect_error(build, root, f"{SHEET}, sheet 'Sheet', row 2",
                 "frame 48 (reg_img48.jpg) of casme2/sub01/EP02_01f is missing",
                 "holds frames 46..47, 49..50")


def test_missing_clip_folder(tmp_path, build):
    rows = casme2_rows()
    root = make_casme2(tmp_path, rows)
    rows[0]["clip"] = "EP99_01"
    make_casme2(tmp_path / "other", rows)
    (tmp_path / "other" / SHEET).replace(root / SHEET)
    expect_error(build, root, f"{SHEET}, sheet 'Sheet', row 2",
                 "clip folder", "sub01/EP99_01 not found")


def test_empty_frame_file(tmp_path, build):
    root = make_casme2(tmp_path)
    (root / "Cropped/sub02/EP01_11f/reg_img21.jpg").write_bytes(b"")
    expect_error(build, root, f"{SHEET}, sheet 'Sheet', row 4",
                 "reg_img21.jpg is an empty file")


def test_undecodable_key_frame(tmp_path, build):
    root = make_casme2(tmp_path)
    (root / "Cropped/sub02/EP01_11f/reg_img22.jpg").write_bytes(b"not a jpeg at all")
    expect_error(build, root, f"{SHEET}, sheet 'Sheet', row 4",
                 "reg_img22.jpg does not decode as an image")


def test_every_problem_listed_at_once(tmp_path, build):
    root = make_casme2(tmp_path)
    (root / "Cropped/sub01/EP02_01f/reg_img47.jpg").unlink()
    (root / "Cropped/sub02/EP05_03/reg_img32.jpg").unlink()
    expect_error(build, root, "2 of 5 clips have problems", "row 2", "row 5",
                 "reg_img47.jpg", "reg_img32.jpg")


def test_duplicate_clip(tmp_path, build):
    rows = casme2_rows()
    rows.append({**rows[0], "subject": "01"})
    expect_error(build, make_casme2(tmp_path, rows), f"{SHEET}, sheet 'Sheet', row 8",
                 "clip sub01/EP02_01f is annotated twice", "row 2")


def test_unknown_emotion(tmp_path, build):
    rows = casme2_rows()
    rows[2]["emotion"] = "joy"
    expect_error(build, make_casme2(tmp_path, rows), f"{SHEET}, sheet 'Sheet', row 4",
                 "column 'Estimated Emotion' holds 'joy'", "not an emotion mer knows")


def test_nothing_left_after_the_scheme(tmp_path, build):
    rows = [r for r in casme2_rows() if r["emotion"] in {"fear", "disgust"}]
    rows[0]["emotion"] = "sadness"
    expect_error(build, make_casme2(tmp_path, rows),
                 "no clip of casme2 is left under labels.scheme 'seed-4'",
                 "fear (1), sadness (1)", "megc-3", scheme="seed-4")


def test_one_class_left_is_an_error(tmp_path, build):
    rows = [r for r in casme2_rows() if r["emotion"] in {"fear", "disgust", "happiness"}]
    rows[0]["emotion"] = "fear"
    expect_error(build, make_casme2(tmp_path, rows),
                 "labels.scheme 'casme2-5' leaves only the class disgust")


def test_a_clip_folder_named_in_another_unicode_normalisation_is_found(tmp_path, build):
    """The sheet says 'sérieux' composed (NFC, as typed on Windows or Linux), the folder copied
    from a Mac is decomposed (NFD): the same name to a user."""
    import unicodedata

    composed, decomposed = (unicodedata.normalize(form, "sérieux_01") for form in ("NFC", "NFD"))
    rows = [dict(r, clip=composed) if r["clip"] == "EP02_01f" else r for r in casme2_rows()]
    root = make_casme2(tmp_path, rows)
    folder = root / "Cropped" / "sub01"
    (folder / composed).rename(folder / decomposed)
    manifest, _ = build("casme2", root)
    clip = row_of(manifest, composed)
    assert clip.frame_paths == [f"{folder}/{decomposed}/reg_img{n}.jpg" for n in range(46, 51)]
