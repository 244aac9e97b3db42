"""SAMM-LV: the release workbook below its notes, its quirks, and an error for the rest."""

import re

import pytest
from data_builders import SAMM_LV_HEADER, make_samm_lv, samm_lv_rows

from mer.data.samm_lv import FPS, read_samm_lv
from mer.errors import DatasetError

WORKBOOK = "SAMM_LongVideos_V3_Release.xlsx"


def spans(video):
    return [(i.onset, i.apex, i.offset, i.kind) for i in video.intervals]


def test_reads_every_video_with_its_intervals_as_positions(tmp_path, caplog):
    with caplog.at_level("WARNING", logger="mer.data.samm_lv"):
        videos = read_samm_lv(make_samm_lv(tmp_path))
    assert [(v.subject, v.video, len(v.frames)) for v in videos] == [
        ("006", "006_1", 30), ("006", "006_2", 12), ("007", "007_3", 15)]
    first = videos[0]
    assert first.dataset == "samm_lv" and first.fps == FPS == 200.0
    assert first.frames[0].name == "006_1_0001.jpg"
    # float frame numbers; onset 0 (not coded): the row is left out, named (h67 F3: it was
    # read as apex..offset, an interval no published protocol scores)
    assert spans(first) == [(2, 4, 7, "micro")]
    assert "1 row(s) are left out of the ground truth" in caplog.text
    assert "row 12 (006_1_2): no onset coded" in caplog.text
    assert first.intervals[0].aus == "A2" and first.intervals[0].emotion == ""
    assert first.intervals[0].source == f"{tmp_path / WORKBOOK}:11"  # header at row 10
    assert videos[1].frames[0].name == "006_2_00001.jpg"  # 5-digit frame numbers
    assert spans(videos[1]) == [(1, None, 8, "macro")]  # apex -1: none coded
    assert spans(videos[2]) == [(4, 6, 9, "micro")]  # 'micro - 1/2' in lower case


def test_an_uncoded_offset_ends_at_the_apex_as_in_cas_me_2(tmp_path):
    """A review (h67 F2): offset 0 (none coded) stopped the corpus ("offset 0 comes before
    onset 3"); it is read as CAS(ME)^2's is, one rule for both."""
    videos = read_samm_lv(make_samm_lv(tmp_path, rows=with_row(0, Offset=0)))
    assert spans(videos[0])[0] == (2, 4, 4, "micro")
    assert "row 11: no offset is coded and apex 2 comes before onset 3" in error(
        tmp_path / "early", rows=with_row(0, Offset=0, Apex=2))


@pytest.mark.parametrize("cells", [{"Onset": -1}, {"Onset": "-1.0"}, {"Offset": 0, "Apex": -1},
                                   {"Offset": -1, "Apex": None}, {"Onset": 0, "Offset": 0}])
def test_a_row_without_an_onset_or_an_end_is_left_out_named(tmp_path, caplog, cells):
    """The re-check (h69 F2): -1 in Onset or Offset, or an offset 0 with no apex, stopped the
    whole corpus, asking the user to edit the release workbook."""
    with caplog.at_level("WARNING", logger="mer.data.long_video"):
        videos = read_samm_lv(make_samm_lv(tmp_path, rows=with_row(0, **cells)))
    # 006_1's other row (12, onset 0) is left out too: the video is left out of the evaluation
    assert [v.video for v in videos] == ["006_2", "007_3"]
    assert re.search(r"row 11 \(006_1_1\): (no onset coded|neither an offset nor an apex "
                     r"coded)", caplog.text)


@pytest.mark.parametrize("value", ["/", "-2", "n/a"])
def test_an_onset_that_is_no_frame_number_is_named_with_its_own_advice(tmp_path, value):
    """The re-check (h71): '/' or n/a in Onset read as not coded, as an apex's would, and
    errors gave the apex's advice ("leave the apex as '/' or empty")."""
    message = error(tmp_path, rows=with_row(0, Onset=value))
    assert f"row 11: column 'Onset' holds '{value}', not a frame number" in message
    assert "apex" not in message


def test_a_video_whose_every_row_is_left_out_is_not_scored(tmp_path, caplog):
    """The re-check (h69 F3): a video whose rows were all left out was scored as holding no
    expression, though it holds one, and the warning blamed a partial copy of the workbook."""
    rows = samm_lv_rows()
    rows[2][SAMM_LV_HEADER.index("Onset")] = 0  # 006_2's one row
    with caplog.at_level("WARNING", logger="mer.data.long_video"):
        videos = read_samm_lv(make_samm_lv(tmp_path, rows=rows))
    assert [v.video for v in videos] == ["006_1", "007_3"]
    assert "video(s) 006/006_2 hold only rows left out" in caplog.text


def test_frame_numbers_need_not_start_at_one(tmp_path):
    rows = [[6, "006_1_1", 1, 103, 105, 108, 6, "Micro - 1/2", "2", None]]
    videos = read_samm_lv(make_samm_lv(tmp_path, rows=rows, frames={"006_1": (100, 10, 4)}))
    assert spans(videos[0]) == [(3, 5, 8, "micro")]


def test_known_offsets_past_the_video_end_at_its_last_frame(tmp_path):
    rows = [[20, "020_6_5", 1, 4990, 4992, 5476, 0, "Macro", "4", None],
            [20, "020_6_6", 1, 4990, 4992, 5476, 0, "Macro", "4", None]]
    make_samm_lv(tmp_path, rows=rows[:1], frames={"020_6": (4990, 12, 4)})
    videos = read_samm_lv(tmp_path)
    assert spans(videos[0]) == [(0, 2, 11, "macro")]  # ...not frame 5476: frame 5001
    # any other row past the frames is an error
    make_samm_lv(tmp_path, rows=rows[1:], frames={"020_6": (4990, 12, 4)})
    with pytest.raises(DatasetError, match=r"row 11: offset frame 5476 is not among the frames"):
        read_samm_lv(tmp_path)


def error(tmp_path, **kwargs) -> str:
    make_samm_lv(tmp_path, **kwargs)
    with pytest.raises(DatasetError) as caught:
        read_samm_lv(tmp_path)
    return str(caught.value)


def with_row(index, **cells):
    rows = samm_lv_rows()
    for name, value in cells.items():
        rows[index][SAMM_LV_HEADER.index(name)] = value
    return rows


def test_missing_workbook(tmp_path):
    """The re-check: the error named data.annotations, recognition's key, not spotting's."""
    make_samm_lv(tmp_path, workbook="labels.xlsx")
    with pytest.raises(DatasetError, match=r"no SAMM-LV release workbook \(SAMM_LongVideos\*"
                                           r".* set spotting.annotations to its path"):
        read_samm_lv(tmp_path)
    with pytest.raises(DatasetError, match=r"not found; set spotting.annotations to its path"):
        read_samm_lv(tmp_path, tmp_path / "other.xlsx")
    assert len(read_samm_lv(tmp_path, tmp_path / "labels.xlsx")) == 3


def test_missing_column(tmp_path):
    import openpyxl

    make_samm_lv(tmp_path)
    book = openpyxl.load_workbook(tmp_path / WORKBOOK)
    book.active.cell(row=10, column=8).value = "Kind"
    book.save(tmp_path / WORKBOOK)
    with pytest.raises(DatasetError, match=r"sheet 'FACS_Movement_Only': the header row \(row "
                                           r"10\) lacks the column\(s\) 'Type'"):
        read_samm_lv(tmp_path)


def test_the_headers_the_two_long_video_readers_share(tmp_path):
    """The re-check: 'Subject ID' and 'Expression type' were refused by one reader and not
    the other; the readers take the same spellings of the columns they share."""
    import openpyxl

    from mer.data.casme_sq import CODING_HEADERS
    from mer.data.samm_lv import COLUMNS

    make_samm_lv(tmp_path)
    book = openpyxl.load_workbook(tmp_path / WORKBOOK)
    book.active.cell(row=10, column=1).value = "Subject ID"
    book.active.cell(row=10, column=8).value = "Expression type"
    book.save(tmp_path / WORKBOOK)
    assert len(read_samm_lv(tmp_path)) == 3
    def keys(spellings):  # as headers are compared: no case, no punctuation or spaces
        return {re.sub(r"[^a-z0-9]", "", spelling.lower()) for spelling in spellings}

    for name in ("subject", "onset", "offset", "type"):
        assert keys(CODING_HEADERS[name]) >= keys(COLUMNS[name]), name


def test_row_whose_video_folder_is_missing(tmp_path):
    message = error(tmp_path, frames={"006_1": (1, 30, 4), "006_2": (1, 12, 4)})
    assert "row 14: no video folder 007_3 for Filename 007_3_1" in message


def test_frame_outside_the_frames_on_disk(tmp_path):
    message = error(tmp_path, rows=with_row(2, Offset=13))
    assert "row 13: offset frame 13 is not among the frames on disk" in message
    assert "(frame numbers 1..12, 12 frames)" in message


def test_unknown_type(tmp_path):
    message = error(tmp_path, rows=with_row(0, Type="Mikro"))
    assert "row 11: column 'Type' holds 'Mikro', not an expression type" in message


def test_non_numeric_and_fractional_frame_numbers(tmp_path):
    assert "row 12: column 'Onset' holds '1o', not a frame number" in error(
        tmp_path, rows=with_row(1, Onset="1o"))
    assert "row 11: column 'Offset' holds '8.5', not a frame number" in error(
        tmp_path, rows=with_row(0, Offset=8.5))


def test_duplicate_filename(tmp_path):
    message = error(tmp_path, rows=with_row(1, Filename="006_1_1"))
    assert "row 12: Filename 006_1_1 is listed twice (also at row 11)" in message


def test_bad_filename_and_contradicting_subject(tmp_path):
    assert "row 11: column 'Filename' holds '006-1-1', not <subject>_<video>_<n>" in error(
        tmp_path, rows=with_row(0, Filename="006-1-1"))
    assert "row 14: Subject 6 contradicts Filename 007_3_1" in error(
        tmp_path, rows=with_row(3, Subject=6))


def test_offset_before_onset(tmp_path):
    assert "row 14: offset 4 comes before onset 5" in error(tmp_path, rows=with_row(3, Offset=4))
