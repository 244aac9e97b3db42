"""The written dataset is in CASME II's exact on-disk format, quirks included."""

import csv

import cv2
import openpyxl
import pandas as pd

from mer.synthetic.face import AuEvent
from mer.synthetic.write_casme2 import (
    FRAMES_DIR,
    GROUND_TRUTH,
    SHEET,
    plan_dataset,
    sheet_action_units,
)

CASME2_COLUMNS = ["Subject", "Filename", "Unnamed: 2", "OnsetFrame", "ApexFrame",
                  "OffsetFrame", "Unnamed: 6", "Action Units", "Estimated Emotion"]
CASME2_EMOTIONS = {"happiness", "disgust", "surprise", "repression", "others", "fear", "sadness"}


def test_sheet_has_casme2s_columns_and_an_extra_empty_sheet(tiny_dataset):
    book = openpyxl.load_workbook(tiny_dataset / SHEET)
    assert book.sheetnames == ["Sheet1", "Sheet2"]
    assert book["Sheet2"].max_row == 1 and book["Sheet2"]["A1"].value is None
    table = pd.read_excel(tiny_dataset / SHEET, sheet_name=0)
    assert list(table.columns) == CASME2_COLUMNS
    assert len(table) == 10
    assert set(table["Estimated Emotion"]) <= CASME2_EMOTIONS


def test_sheet_cells_are_typed_as_in_casme2(tiny_dataset, tiny_params):
    rows = list(openpyxl.load_workbook(tiny_dataset / SHEET)["Sheet1"].iter_rows(
        min_row=2, values_only=True))
    plan = plan_dataset(tiny_params, seed=0)
    for row, clip in zip(rows, plan.clips, strict=True):
        subject, name, _, onset, apex, offset, _, aus, emotion = row
        assert subject == (f"{clip.subject:02d}" if clip.subject_as_text else clip.subject)
        assert (name, onset, offset, emotion) == (clip.name, clip.onset, clip.offset,
                                                  clip.emotion)
        assert apex == (clip.apex if clip.apex_in_sheet else "/")
        assert isinstance(aus, int) == (len(clip.aus) == 1 and not clip.aus[0].side)
        assert str(aus) == clip.au_string  # the sheet holds the true AUs
    assert any(isinstance(r[0], str) for r in rows) and any(isinstance(r[0], int) for r in rows)
    assert [r[4] for r in rows].count("/") == 2


def test_action_unit_cells():
    assert sheet_action_units([AuEvent(12, 0.5)]) == 12
    assert sheet_action_units([AuEvent(4, 0.5), AuEvent(7, 0.4)]) == "4+7"
    assert sheet_action_units([AuEvent(4, 0.5), AuEvent(10, 0.4, "L")]) == "4+L10"
    assert sheet_action_units([AuEvent(14, 0.5, "R")]) == "R14"


def test_frames_are_numbered_by_the_sheet(tiny_dataset, tiny_params):
    for clip in plan_dataset(tiny_params, seed=0).clips:
        folder = tiny_dataset / FRAMES_DIR / f"sub{clip.subject:02d}" / clip.name
        numbers = sorted(int(p.stem.removeprefix("reg_img")) for p in folder.glob("reg_img*.jpg"))
        assert numbers == list(range(clip.onset, clip.offset + 1))
    first = next((tiny_dataset / FRAMES_DIR).glob("sub*/*/reg_img*.jpg"))
    assert cv2.imread(str(first)).shape == (194, 160, 3)


def test_ground_truth_matches_the_sheet_and_keeps_the_hidden_apex(tiny_dataset):
    truth = list(csv.DictReader((tiny_dataset / GROUND_TRUTH).open(encoding="utf-8")))
    sheet = pd.read_excel(tiny_dataset / SHEET, sheet_name=0)
    assert len(truth) == len(sheet)
    for row, (_, cells) in zip(truth, sheet.iterrows(), strict=True):
        assert row["clip"] == cells["Filename"]
        assert row["subject"] == f"sub{int(cells['Subject']):02d}"
        assert row["aus"] == str(cells["Action Units"])
        assert int(row["onset"]) < int(row["apex"]) < int(row["offset"])
        if cells["ApexFrame"] == "/":
            assert row["apex_in_sheet"] == "0"
        else:
            assert int(row["apex"]) == int(cells["ApexFrame"])
        coded = {code.lstrip("LR") for code in row["aus"].split("+")}
        present = {name[2:] for name, value in row.items()
                   if name.startswith("AU") and float(value) > 0}
        assert coded == present
        sides = {code[0] for code in row["aus"].split("+") if code[0] in "LR"}
        assert sides == ({row["side"]} if row["side"] else set())
