"""Value errors of real sheets: repaired and flagged, or the row skipped and reported.

SAMM v2 has apexes outside their clips (one ~3000 frames before its onset) and an offset
typed before its onset; CASME II an offset typo. None of them stops the data stage.
"""

import pytest
from data_builders import casme2_rows, make_casme2, make_samm, samm_rows

from mer.core.frames import APEX_RULE, ApexOutsideClip, apex_to_use
from mer.data.casme2 import read_casme2
from mer.data.clips import Clip
from mer.data.repairs import check_order
from mer.data.samm import read_samm

SAMM_SHEET = "SAMM_Micro_FACS_Codes_v2.xlsx"


def by_clip(manifest):
    return {row["clip"]: row for row in manifest.to_dict("records")}


def notes_of(report, clip_id):
    return {r["flag"]: r["what"] for r in report["repairs"]["clips"] if r["clip_id"] == clip_id}


def test_samm_apex_thousands_of_frames_before_its_onset(tmp_path, build):
    rows = samm_rows()
    rows[0]["apex"] = 2564  # onset 5562: the apex lies ~3000 frames early
    manifest, report = build("samm", make_samm(tmp_path, rows))
    clip = by_clip(manifest)["006_1_2"]
    assert (clip["onset"], clip["apex"], clip["offset"]) == (5562, -1, 5566)
    assert clip["flags"] == ["apex_missing", "apex_repaired"]
    assert len(clip["frame_paths"]) == 5
    note = notes_of(report, "samm/006/006_1_2")["apex_repaired"]
    assert note.startswith("the sheet's apex 2564 lies before the onset (onset 5562, offset "
                           "5566)")
    assert "samm/006/006_1_2" in report["apex_to_estimate"]["clip_ids"]


@pytest.mark.parametrize("apex", [-1449, "-1449"])
def test_samm_negative_apex_is_repaired_with_a_note(tmp_path, build, apex):
    rows = samm_rows()
    rows[0]["apex"] = apex
    manifest, report = build("samm", make_samm(tmp_path, rows))
    assert by_clip(manifest)["006_1_2"]["flags"] == ["apex_missing", "apex_repaired"]
    assert notes_of(report, "samm/006/006_1_2")["apex_repaired"].startswith(
        "the sheet's apex -1449 lies before the onset (onset 5562")


def test_samm_offset_before_onset_repaired_from_duration(tmp_path, build):
    rows = samm_rows()
    # offset 30 for 304; Duration 5 = 304 - 300 + 1. The folder runs on to 320, of which 30
    # is a digit slip too: the sheet's own Duration wins over the folder's end.
    rows[2].update(offset=30, duration=5, frames=range(300, 321))
    manifest, report = build("samm", make_samm(tmp_path, rows))
    clip = by_clip(manifest)["007_3_1"]
    assert (clip["onset"], clip["apex"], clip["offset"]) == (300, 302, 304)
    assert clip["flags"] == ["offset_repaired"] and len(clip["frame_paths"]) == 5
    assert notes_of(report, "samm/007/007_3_1")["offset_repaired"] == (
        "offset 30 -> 304: the sheet's offset lies before the onset 300; its Duration 5 "
        "(offset - onset + 1) gives the offset")


@pytest.mark.parametrize("duration", [None, 1, -270, "n/a"])
def test_samm_offset_before_onset_without_a_usable_duration_skips_the_row(tmp_path, build,
                                                                           duration):
    rows = samm_rows()
    rows[2].update(offset=3, frames=range(300, 321))  # 3 is no digit slip of 320
    if duration is not None:
        rows[2]["duration"] = duration
    root = make_samm(tmp_path, rows)
    corpus = read_samm(root)
    [skipped] = corpus.skipped
    assert skipped.clip_id == "samm/007/007_3_1"
    assert skipped.source == f"{root}/{SAMM_SHEET}:17"
    assert skipped.reason.startswith(f"{root}/{SAMM_SHEET}, sheet 'Sheet', row 17: the offset "
                                     "3 lies before the onset 300")
    assert "Duration" in skipped.reason and "correct the offset cell" in skipped.reason
    assert "007_3_1" not in {c.clip for c in corpus.clips}
    manifest, _ = build("samm", root)  # not an error: the other clips are built
    assert set(by_clip(manifest)) == {"006_1_2", "006_1_5"}


def test_samm_sheet_with_several_value_errors_loads(tmp_path, build):
    rows = samm_rows()
    rows[0]["apex"] = 2564  # before its onset
    rows[1].update(apex=1290, frames=range(1210, 1214))  # after its offset 1213
    rows[2].update(offset=30, duration=5)  # offset typo, Duration right
    rows[3].update(offset=2, frames=range(40, 47))  # no Duration, 2 no slip of 46: skipped
    manifest, report = build("samm", make_samm(tmp_path, rows), scheme="megc-3")
    clips = by_clip(manifest)
    assert clips["006_1_2"]["flags"] == ["apex_missing", "apex_repaired"]
    assert clips["006_1_5"]["flags"] == ["aus_alternatives", "apex_missing", "apex_repaired"]
    assert "apex 1290 lies after the offset" in notes_of(report, "samm/006/006_1_5")[
        "apex_repaired"]
    assert "007_3_1" not in clips  # 'others': no megc-3 class
    assert "007_5_2" not in clips
    assert [s.clip_id for s in read_samm(tmp_path).skipped] == ["samm/007/007_5_2"]


def test_folder_digit_slip_still_wins_over_a_skip(tmp_path):
    rows = samm_rows()
    rows[2].update(offset=34, frames=range(300, 305))  # 34 for 304, the folder ends at 304
    corpus = read_samm(make_samm(tmp_path, rows))
    assert corpus.skipped == ()
    [clip] = [c for c in corpus.clips if c.clip == "007_3_1"]
    assert clip.offset == 304 and clip.flags[-1] == "offset_repaired"


def test_an_unrepairable_offset_beside_an_unsaved_duration_formula_is_said(tmp_path, build,
                                                                              caplog):
    """A break-it session: a SAMM row whose offset lies before its onset, and whose Duration
    is a formula the workbook holds no value for, was left out with only a count on the
    console, and its reason did not say the Duration had no value."""
    rows = samm_rows()
    rows[2].update(offset=25, frames=range(300, 305))  # 25 is no slip of 304; no duration
    manifest, _ = build("samm", make_samm(tmp_path, rows))
    assert "007_3_1" not in set(manifest["clip"])
    assert "skipped samm/007/007_3_1: " in caplog.text
    assert "its Duration cell holds the formula '=F17-D17+1' with no saved value" in caplog.text


def test_casme2_without_a_duration_column_skips_an_unrepairable_offset(tmp_path):
    rows = casme2_rows()
    rows[0].update(offset=4, frames=range(46, 51))  # 4 is no slip of 50
    corpus = read_casme2(make_casme2(tmp_path, rows))
    assert [s.clip_id for s in corpus.skipped] == ["casme2/sub01/EP02_01f"]
    assert len(corpus.clips) == 5


# ------------------------------------------------------------------------ the apex rule

@pytest.mark.parametrize(("apex", "used"), [(None, None), (46, None), (47, 47), (50, 50)])
def test_apex_rule(apex, used):
    assert apex_to_use(46, apex, 50) == used


@pytest.mark.parametrize(("apex", "side"), [(45, "before the onset"), (51, "after the offset")])
def test_apex_rule_outside(apex, side):
    with pytest.raises(ApexOutsideClip) as err:
        apex_to_use(46, apex, 50)
    assert str(err.value) == (f"apex {apex} lies {side} (onset 46, offset 50): the apex must "
                              f"satisfy {APEX_RULE}")
    assert APEX_RULE.startswith("onset <= apex <= offset")


def test_check_order_follows_the_rule():
    clip = Clip(dataset="casme2", subject="sub01", clip="EP", onset=46, apex=50, offset=50,
                fps=200.0, aus="", emotion="others", source="s:2", where="s, row 2")
    assert check_order(clip) == clip  # apex == offset is inside the clip
    at_onset = check_order(Clip(**{**clip.__dict__, "apex": 46}))
    assert (at_onset.apex, at_onset.flags) == (-1, ("apex_missing", "apex_at_onset"))
    outside = check_order(Clip(**{**clip.__dict__, "apex": 51}))
    assert (outside.apex, outside.flags) == (-1, ("apex_missing", "apex_repaired"))
    assert outside.notes[0][1].startswith("the sheet's apex 51 lies after the offset")


def test_a_skipped_row_and_its_folder_sibling_keep_distinct_ids(tmp_path):
    """Two rows of one SAMM folder, one unrepairable: the kept clip is still <folder>@<onset>."""
    from data_builders import make_samm

    from mer.data.samm import read_samm

    rows = [dict(subject=6, clip="006_1_2", onset=10, apex=12, offset=4, aus="4",
                 emotion="Anger"),
            dict(subject=6, clip="006_1_2", onset=20, apex=22, offset=24, aus="4",
                 emotion="Anger")]
    corpus = read_samm(make_samm(tmp_path, rows))
    assert [c.clip_id for c in corpus.clips] == ["samm/006/006_1_2@20"]
    assert [s.clip_id for s in corpus.skipped] == ["samm/006/006_1_2@10"]
