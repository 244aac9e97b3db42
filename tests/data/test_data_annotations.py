"""Valid annotations that real corpora hold: several micro-expressions in one video folder,
sheets without an apex column, subject folders padded otherwise than the sheet's ids."""

import csv
import re
import shutil

import pytest
from data_builders import casme2_rows, make_casme2, make_samm, make_smic, samm_rows

from mer.data.casme2 import read_casme2
from mer.data.clips import check_unique
from mer.errors import DatasetError

CASME2_SHEET = "CASME2-coding-20140508.xlsx"


def by_clip(manifest):
    return {row["clip"]: row for row in manifest.to_dict("records")}


# ------------------------------------------------- two micro-expressions in one folder

def test_two_disjoint_rows_of_one_casme2_folder_are_two_clips(tmp_path, build):
    rows = casme2_rows()
    rows.append(dict(subject=1, clip="EP02_01f", onset=60, apex=62, offset=64, aus="4",
                     emotion="disgust"))
    root = make_casme2(tmp_path, rows)
    manifest, _ = build("casme2", root)
    clips = by_clip(manifest)
    assert {"EP02_01f@46", "EP02_01f@60", "EP03_02"} <= set(clips)  # once: its own name
    assert "EP02_01f" not in clips
    first, second = clips["EP02_01f@46"], clips["EP02_01f@60"]
    assert first["clip_id"] == "casme2/sub01/EP02_01f@46"
    assert first["frame_paths"] == [f"{root}/Cropped/sub01/EP02_01f/reg_img{n}.jpg"
                                    for n in range(46, 51)]
    assert second["frame_paths"][0] == f"{root}/Cropped/sub01/EP02_01f/reg_img60.jpg"
    assert (second["label"], second["source"]) == ("disgust", f"{root}/{CASME2_SHEET}:8")
    [clip] = [c for c in read_casme2(root).clips if c.clip == "EP02_01f@60"]
    assert clip.folder == root / "Cropped/sub01/EP02_01f"


def test_two_disjoint_rows_of_one_samm_folder_are_two_clips(tmp_path, build):
    rows = samm_rows()
    rows.append({**rows[0], "onset": 5600, "apex": 5602, "offset": 5604})
    manifest, _ = build("samm", make_samm(tmp_path, rows))
    clips = by_clip(manifest)
    assert {"006_1_2@5562", "006_1_2@5600", "006_1_5", "007_3_1"} == set(clips)
    assert len(clips["006_1_2@5600"]["frame_paths"]) == 5


def test_overlapping_rows_of_one_folder_name_both_rows(tmp_path, build):
    rows = casme2_rows()
    rows.append(dict(subject="01", clip="EP02_01f", onset=50, apex=52, offset=54, aus="4",
                     emotion="disgust"))  # 50..54 overlaps 46..50 at frame 50
    with pytest.raises(DatasetError) as err:
        build("casme2", make_casme2(tmp_path, rows))
    message = str(err.value)
    assert f"{CASME2_SHEET}, sheet 'Sheet', row 8: clip sub01/EP02_01f is annotated twice " \
           "with overlapping frames (46..50 at " in message
    assert "row 2, 50..54 here); delete one row" in message


@pytest.mark.parametrize("through_a_symlink", [False, True])
def test_one_video_under_two_subjects_names_both_rows(tmp_path, through_a_symlink):
    """A folder is one person's video: under two subjects it would be trained on in one
    LOSO fold and tested in another. The issue (symlink): a folder was keyed by its path as
    written, so one video reached through a symlinked folder passed as another person's."""
    from dataclasses import replace

    first, second = read_casme2(make_casme2(tmp_path, casme2_rows())).clips[:2]
    folder, also = first.folder, ""
    if through_a_symlink:
        folder, also = tmp_path / "linked", rf" \(as {first.folder}\)"
        folder.symlink_to(first.folder, target_is_directory=True)
    moved = replace(second, subject="sub09", folder=folder, onset=first.offset + 10,
                    offset=first.offset + 14, where="sheet, row 9")
    with pytest.raises(DatasetError, match=rf"sheet, row 9: frame folder {folder} is listed "
                                           rf"under subject sub09 here and under "
                                           rf"{first.subject} at .*row 2{also}; a video is one "
                                           r"person's: correct the subject"):
        check_unique([first, moved])


def test_check_unique_passes_clips_already_named_apart(tmp_path):
    rows = casme2_rows()
    rows.append({**rows[0], "onset": 60, "apex": 62, "offset": 64})
    clips = read_casme2(make_casme2(tmp_path, rows)).clips
    check_unique(clips)  # the data stage checks the adapter's clips again: still fine
    assert len({c.clip_id for c in clips}) == len(clips) == 7


# ------------------------------------------------------------------- no apex column

@pytest.mark.parametrize(("cell", "column"), [("F3", "OffsetFrame"), ("E3", "ApexFrame"),
                                              ("A3", "Subject"), ("I3", "Estimated Emotion"),
                                              ("H3", "Action Units")])
def test_a_formula_with_no_saved_value_is_named_not_read_as_empty(tmp_path, build, cell,
                                                                 column):
    """The issue: a workbook edited by a script (openpyxl, pandas) holds formulas without
    their values; the offset '=D3+4' was called an empty cell, and an apex formula was read
    as 'no apex' (estimated, or under megc-3 the clip left out) without a word."""
    import openpyxl

    root = make_casme2(tmp_path)
    workbook = openpyxl.load_workbook(root / CASME2_SHEET)
    workbook.active[cell] = "=D3+4" if column.endswith("Frame") else "=A2"
    workbook.save(root / CASME2_SHEET)
    with pytest.raises(DatasetError, match=rf"{CASME2_SHEET}, sheet 'Sheet', row 3: column "
                                           rf"'{column}' holds the formula '=[AD][23](\+4)?' "
                                           r"with no saved value .*open it in Excel or "
                                           "LibreOffice and save it"):
        build("casme2", root)


def test_merged_subject_cells_are_named_not_read_as_empty(tmp_path, build):
    """A break-it session: a hand-kept sheet merges each subject's Subject cells (the sheet
    shows the id on every row, the file holds it in the first); the reader said row 3
    "holds ''", with no word of the merge."""
    import openpyxl

    root = make_casme2(tmp_path)
    workbook = openpyxl.load_workbook(root / CASME2_SHEET)
    sheet = workbook.active
    assert sheet["A2"].value == sheet["A3"].value  # two rows of one subject
    sheet.merge_cells("A2:A3")
    workbook.save(root / CASME2_SHEET)
    with pytest.raises(DatasetError, match=rf"{CASME2_SHEET}, sheet 'Sheet', row 3: column "
                                           r"'Subject' lies in the merged cells A2:A3, .*"
                                           r"unmerge them and write the value in every row"):
        build("casme2", root)


@pytest.mark.parametrize(("column", "letter"), [("Subject", "A"),
                                               ("Estimated Emotion", "I"),
                                               ("OnsetFrame", "D")])
def test_an_empty_required_cell_is_called_empty(tmp_path, build, column, letter):
    """A break-it session: a note typed under the table (its Subject cell empty) was "holds
    '', not a subject id; write the subject's number", which points away from deleting the
    row; an empty emotion was "holds '', which is not an emotion mer knows"."""
    import openpyxl

    root = make_casme2(tmp_path)
    workbook = openpyxl.load_workbook(root / CASME2_SHEET)
    sheet = workbook.active
    row = sheet.max_row + 1
    for cell in sheet[2]:
        sheet.cell(row, cell.column, cell.value)
    sheet.cell(row, 2, "note: EP02 re-coded in 2019")
    sheet[f"{letter}{row}"] = None
    workbook.save(root / CASME2_SHEET)
    with pytest.raises(DatasetError, match=rf"{CASME2_SHEET}, sheet 'Sheet', row {row}: column "
                                           rf"'{column}' is empty; fill it in or delete the row"):
        build("casme2", root)


def test_a_second_worksheet_with_the_columns_is_named(tmp_path, build, caplog):
    """The issue: a workbook with a filtered copy of the coding sheet in front was read from
    that copy (4 clips of 2 subjects) without a word."""
    import openpyxl

    root = make_casme2(tmp_path)
    workbook = openpyxl.load_workbook(root / CASME2_SHEET)
    workbook.copy_worksheet(workbook.active).title = "happiness only"
    workbook.save(root / CASME2_SHEET)
    with caplog.at_level("WARNING", logger="mer.data"):
        build("casme2", root)
    assert f"{CASME2_SHEET}: worksheets 'Sheet' and 'happiness only' both have the columns " \
           "of the casme2 coding sheet; mer reads 'Sheet' ('happiness only' comes after it)" \
           in caplog.text


def test_an_empty_template_or_hidden_sheet_in_front_is_passed_over(tmp_path, build, caplog):
    """The issue: an empty template sheet placed first was read and the run failed; a hidden
    filtered copy placed first was read without a word; data.json did not say which
    worksheet was read."""
    import openpyxl

    root = make_casme2(tmp_path)
    full, full_report = build("casme2", root)
    workbook = openpyxl.load_workbook(root / CASME2_SHEET)
    filled = workbook.active
    template = workbook.create_sheet("template", 0)
    template.append([cell.value for cell in filled[1]])
    hidden = workbook.copy_worksheet(filled)
    hidden.title = "old copy"
    hidden.delete_rows(3, 3)
    hidden.sheet_state = "hidden"
    workbook.move_sheet(hidden, -workbook.index(hidden))
    assert workbook.sheetnames[:3] == ["old copy", "template", "Sheet"]
    workbook.active = 2
    workbook.save(root / CASME2_SHEET)
    with caplog.at_level("WARNING", logger="mer.data"):
        manifest, report = build("casme2", root)
    assert list(manifest["clip_id"]) == list(full["clip_id"])
    assert report["worksheet"] == "Sheet"
    assert full_report["worksheet"] == "Sheet"
    assert "mer reads 'Sheet' ('old copy' is hidden)" in caplog.text
    assert "mer reads 'Sheet' ('template' has no data rows)" in caplog.text

    # Only the hidden sheet has rows: it is read, and the warning says it is hidden.
    workbook = openpyxl.load_workbook(root / CASME2_SHEET)
    del workbook["Sheet"]
    workbook.save(root / CASME2_SHEET)
    caplog.clear()
    with caplog.at_level("WARNING", logger="mer.data"):
        manifest, report = build("casme2", root)
    assert len(manifest) == len(full) - 3
    assert report["worksheet"] == "old copy"
    assert "from worksheet 'old copy', which is hidden" in caplog.text


def test_sheet_without_an_apex_column_estimates_every_apex(tmp_path, build):
    manifest, report = build("casme2", make_casme2(tmp_path, apex_column=False))
    assert set(manifest["apex"]) == {-1}
    assert all("apex_missing" in flags for flags in manifest["flags"])
    assert report["apex_to_estimate"]["count"] == len(manifest) == 5
    assert by_clip(manifest)["EP07_01"]["offset"] == 91  # the offset repair still works


# ----------------------------------------------------------- subject folder padding

def test_casme2_subject_folders_without_padding(tmp_path, build):
    root = make_casme2(tmp_path, subject_folder=lambda n: f"sub{n}")
    manifest, report = build("casme2", root)
    assert set(manifest["subject"]) == {"sub1", "sub2", "sub3"}  # as the folders on disk
    assert by_clip(manifest)["EP02_01f"]["frame_paths"][0] == \
        f"{root}/Cropped/sub1/EP02_01f/reg_img46.jpg"
    assert report["clips"] == 5


def test_samm_subject_folders_without_padding(tmp_path, build):
    root = make_samm(tmp_path, subject_folder=str)  # folders 6 and 7; the sheet has 6, '007'
    manifest, _ = build("samm", root)
    assert set(manifest["subject"]) == {"6", "7"}
    assert by_clip(manifest)["007_3_1"]["frame_paths"][0] == \
        f"{root}/SAMM/7/007_3_1/007_00300.jpg"


def test_a_subject_with_no_folder_names_the_subject_folders_there_are(tmp_path, build):
    rows = casme2_rows()
    root = make_casme2(tmp_path, rows)
    rows[0]["subject"] = 9
    make_casme2(tmp_path / "other", rows)
    (tmp_path / "other" / CASME2_SHEET).replace(root / CASME2_SHEET)
    with pytest.raises(DatasetError) as err:
        build("casme2", root)
    message = str(err.value)
    assert f"{CASME2_SHEET}, sheet 'Sheet', row 2: clip folder" in message
    assert f"{root}/Cropped has no folder sub09 (it holds sub01, sub02, sub03)" in message


def test_a_dangling_link_in_place_of_a_clip_folder_is_named_as_such(tmp_path, build):
    """h64 F6: a clip folder that is a link to nowhere was "not found: Cropped/sub01 has no
    folder EP02_01f", where `ls` shows it."""
    root = make_casme2(tmp_path)
    clip = next(p for p in sorted((root / "Cropped" / "sub01").iterdir()) if p.is_dir())
    shutil.rmtree(clip)
    clip.symlink_to(tmp_path / "nowhere" / clip.name)
    with pytest.raises(DatasetError, match=rf"{re.escape(str(clip))} is a link to "
                                           rf"{re.escape(str(tmp_path / 'nowhere' / clip.name))}"
                                           r", which is not a folder here \(a dangling link\)"):
        build("casme2", root)


def test_two_folders_of_one_subject_are_an_error(tmp_path, build):
    root = make_casme2(tmp_path)
    (root / "Cropped/sub1").mkdir()
    with pytest.raises(DatasetError, match=r"Cropped: the folders sub01 and sub1 are both "
                                           "subject 1; merge them"):
        build("casme2", root)


SMIC_PADDED = [("s01", "negative", "s01_ne_01", 100340, 4),
               ("s01", "positive", "s01_po_01", 2001, 3),
               ("s02", "surprise", "s02_sur_01", 512, 5)]


def write_csv(path, rows):
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


@pytest.mark.parametrize("subject", [1, "01", "s1", "s01"])
def test_smic_subject_matched_by_number_with_and_without_the_csv(tmp_path, build, subject):
    root = make_smic(tmp_path, clips=SMIC_PADDED)
    without, _ = build("smic", root, scheme="megc-3")
    sheet = write_csv(tmp_path / "smic.csv", [["subject", "clip", "onset", "apex", "offset"],
                                              [subject, "s01_ne_01", 100341, 100342, 100343]])
    with_csv, _ = build("smic", root, scheme="megc-3", annotations=sheet)
    assert list(without["subject"]) == list(with_csv["subject"]) == ["s01", "s01", "s02"]
    clip = by_clip(with_csv)["s01_ne_01"]
    assert (clip["onset"], clip["apex"], clip["offset"]) == (100341, 100342, 100343)


def test_smic_csv_subject_with_no_folder_names_the_subject_folders(tmp_path, build):
    root = make_smic(tmp_path, clips=SMIC_PADDED)
    sheet = write_csv(tmp_path / "smic.csv", [["subject", "clip", "onset", "offset"],
                                              [3, "s03_po_09", 1, 5]])
    with pytest.raises(DatasetError, match=r"smic.csv, row 2: clip s3/s03_po_09 has no folder: "
                                           r"no subject folder of subject 3 .*are s01, s02\)"):
        build("smic", root, scheme="megc-3", annotations=sheet)


def test_smic_csv_rows_of_one_folder_and_a_reversed_offset(tmp_path, build):
    root = make_smic(tmp_path)
    sheet = write_csv(tmp_path / "smic.csv", [
        ["subject", "clip", "onset", "offset"],
        ["s1", "s1_ne_01", 100340, 100341],
        ["s1", "s1_ne_01", 100342, 100343],  # a second micro-expression of the folder
        ["s2", "s2_sur_01", 516, 5],  # offset before onset, no slip of the folder's 516
    ])
    manifest, _ = build("smic", root, scheme="megc-3", annotations=sheet)
    clips = by_clip(manifest)
    assert set(clips) == {"s1_ne_01@100340", "s1_ne_01@100342", "s1_po_01", "s2_ne_03"}
    assert len(clips["s1_ne_01@100342"]["frame_paths"]) == 2
    from mer.data.smic import read_smic

    [skipped] = read_smic(root, sheet).skipped
    assert skipped.clip_id == "smic/s2/s2_sur_01" and skipped.source == f"{sheet}:4"
    assert "the offset 5 lies before the onset 516" in skipped.reason
