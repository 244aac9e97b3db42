"""Tiny fictitious corpora in each real on-disk format, with the real formats' quirks.

Frames are 16x16 random images written with OpenCV; sheets are written with openpyxl. Each
builder takes plain rows, so a test changes one value to create the mistake it tests.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import openpyxl

SIZE = 16
CASME2_HEADER = ["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None,
                 "Action Units", "Estimated Emotion"]
SAMM_HEADER = ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame",
               "Offset Frame", "Duration", "Micro", "Action Units", "Estimated Emotion",
               "Objective Classes", "Notes"]
SAMM_HEADER_ROW = 14  # 13 rows of notes above it, as in SAMM_Micro_FACS_Codes_v2.xlsx


def write_frame(path: Path, seed: int, grey: bool = False, channels: int = 3) -> Path:
    rng = np.random.default_rng(seed)
    shape = (SIZE, SIZE) if grey or channels == 1 else (SIZE, SIZE, channels)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), rng.integers(0, 256, shape, dtype=np.uint8))
    return path


def write_workbook(path: Path, rows: list[list[Any]], empty_sheets: int = 2,
                   trailing_columns: int = 3) -> Path:
    """An xlsx with ``rows`` in its first sheet, extra empty sheets, trailing empty columns."""
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    # A formatted but empty cell far right: the sheet now has trailing empty columns.
    width = max(len(r) for r in rows)
    sheet.cell(row=1, column=width + trailing_columns).number_format = "0"
    for index in range(empty_sheets):
        book.create_sheet(f"Sheet{index + 2}")
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


# ----------------------------------------------------------------------------------- CASME II

def casme2_rows() -> list[dict[str, Any]]:
    """Six clips of three subjects with CASME II's quirks; 'frames' = numbers on disk."""
    return [
        # a single AU as a number cell; subject as the number 1
        dict(subject=1, clip="EP02_01f", onset=46, apex=48, offset=50, aus=12,
             emotion="happiness"),
        # ApexFrame '/', a one-sided AU
        dict(subject=1, clip="EP03_02", onset=10, apex="/", offset=14, aus="4+L10",
             emotion="disgust"),
        # subject written '02'
        dict(subject="02", clip="EP01_11f", onset=20, apex=22, offset=24, aus="R14",
             emotion="repression"),
        dict(subject="02", clip="EP05_03", onset=30, apex=31, offset=33, aus="1+2",
             emotion="surprise"),
        # the offset typo: 9 typed for 91; the folder runs 86..91
        dict(subject=3, clip="EP07_01", onset=86, apex=88, offset=9, aus="?", emotion="others",
             frames=range(86, 92)),
        # fear: casme2-5 drops it
        dict(subject=3, clip="EP08_02", onset=5, apex=6, offset=8, aus="4+7", emotion="fear"),
    ]


def casme2_sheet_rows(rows: list[dict[str, Any]], revision_2019: bool = False,
                      apex_column: bool = True) -> list[list]:
    """The sheet's cells; without ``apex_column`` the ApexFrame column is left out entirely."""
    header = CASME2_HEADER + (["Objective Classes"] if revision_2019 else [])
    body = [[r["subject"], r["clip"], None, r["onset"], r.get("apex"), r["offset"], None,
             r["aus"], r["emotion"]] + ([1] if revision_2019 else []) for r in rows]
    apex = header.index("ApexFrame")
    return [[c for i, c in enumerate(r) if apex_column or i != apex] for r in [header, *body]]


def casme2_subject(number: int) -> str:
    return f"sub{number:02d}"


def make_casme2(root: Path, rows: list[dict[str, Any]] | None = None, layout: str = "Cropped",
                sheet: str = "CASME2-coding-20140508.xlsx", revision_2019: bool = False,
                apex_column: bool = True,
                subject_folder: Callable[[int], str] = casme2_subject) -> Path:
    """A CASME II copy under ``root``; returns root. ``subject_folder`` names the subject
    folders on disk (``sub01`` as in the release unless a test pads them otherwise)."""
    rows = casme2_rows() if rows is None else rows
    prefix = "reg_img" if layout == "Cropped" else "img"
    for index, row in enumerate(rows):
        subject = subject_folder(int(str(row["subject"]).removeprefix("sub")))
        frames = row["frames"] if "frames" in row else range(row["onset"], row["offset"] + 1)
        for number in frames:
            write_frame(root / layout / subject / row["clip"] / f"{prefix}{number}.jpg",
                        seed=index * 1000 + number)
    table = casme2_sheet_rows(rows, revision_2019, apex_column)
    if sheet.endswith(".csv"):
        with (root / sheet).open("w", newline="") as handle:
            csv.writer(handle).writerows([["" if v is None else v for v in r] for r in table])
    else:
        write_workbook(root / sheet, table)
    return root


# ------------------------------------------------------------------------------------- SAMM

def samm_rows() -> list[dict[str, Any]]:
    return [
        dict(subject=6, clip="006_1_2", onset=5562, apex=5564, offset=5566, aus="A2",
             emotion="Happiness"),
        dict(subject=6, clip="006_1_5", onset=1210, apex=-1, offset=1213, aus="L2 or R2",
             emotion="Surprise"),
        dict(subject="007", clip="007_3_1", onset=300, apex=302, offset=304, aus="R14A+4",
             emotion="Other"),
        dict(subject="007", clip="007_5_2", onset=40, apex=41, offset=43, aus="4+7",
             emotion="Anger"),
    ]


def samm_subject(number: int) -> str:
    return f"{number:03d}"


def make_samm(root: Path, rows: list[dict[str, Any]] | None = None,
              subject_folder: Callable[[int], str] = samm_subject) -> Path:
    """A SAMM copy under ``root``. A row's Duration is a formula (openpyxl stores no value
    for it) unless the row gives ``duration``, written as a value as in the release."""
    rows = samm_rows() if rows is None else rows
    notes = [[f"SAMM note line {i}: citation, licence, coding conventions"]
             for i in range(1, SAMM_HEADER_ROW)]
    body = []
    for index, row in enumerate(rows):
        number = SAMM_HEADER_ROW + 1 + index
        subject = subject_folder(int(row["subject"]))
        frames = row["frames"] if "frames" in row else range(row["onset"], row["offset"] + 1)
        for frame in frames:
            write_frame(root / "SAMM" / subject / row["clip"] / f"{row['clip'][:3]}_"
                        f"{frame:05d}.jpg", seed=index * 1000 + frame, grey=True)
        duration = row.get("duration", f"=F{number}-D{number}+1")
        body.append([row["subject"], row["clip"], 1, row["onset"], row["apex"], row["offset"],
                     duration, "Micro - 1/2", row["aus"], row["emotion"], 1, None])
    write_workbook(root / "SAMM_Micro_FACS_Codes_v2.xlsx", [*notes, SAMM_HEADER, *body])
    return root


# ------------------------------------------------------------------------------------- SMIC

SMIC_CLIPS = [  # (subject, emotion folder, clip, first frame, frames)
    ("s1", "negative", "s1_ne_01", 100340, 4),
    ("s1", "positive", "s1_po_01", 2001, 3),
    ("s2", "surprise", "s2_sur_01", 512, 5),
    ("s2", "negative", "s2_ne_03", 7, 3),
]


def make_smic(root: Path, clips=SMIC_CLIPS, non_micro: bool = True) -> Path:
    for index, (subject, emotion, clip, first, count) in enumerate(clips):
        for number in range(first, first + count):
            write_frame(root / "HS" / subject / "micro" / emotion / clip / f"image{number:06d}.bmp",
                        seed=index * 1000 + number)
    if non_micro:  # SMIC's non-micro clips sit beside 'micro' and are not used
        write_frame(root / "HS" / "s1" / "non_micro" / "s1_n1" / "image000001.bmp", seed=1)
    return root


# ------------------------------------------------------------------------------- flow images

FLOW_ROWS = [  # subject, clip, label, dataset
    ("1", "EP02_01f", "positive", "casme2"),
    ("1", "EP03_02", "negative", "casme2"),
    ("1", "s1_sur_01", "surprise", "smic"),
    ("6", "006_1_2", "negative", "samm"),
]


def make_flow_images(root: Path, rows=FLOW_ROWS, csv_name: str = "labels.csv",
                     with_dataset: bool = True, channels: int = 3) -> Path:
    lines = [["subject", "clip", "label", "path"] + (["dataset"] if with_dataset else [])]
    for index, (subject, clip, label, dataset) in enumerate(rows):
        relative = f"flow/{dataset}_{subject}_{clip}.png"
        write_frame(root / relative, seed=index, channels=channels)
        lines.append([subject, clip, label, relative] + ([dataset] if with_dataset else []))
    with (root / csv_name).open("w", newline="") as handle:
        csv.writer(handle).writerows(lines)
    return root


# ------------------------------------------------------------------ CAS(ME)^2 long videos

CASME_SQ_SUBJECTS = [(15, "s15", 1), (16, "s16", 2)]  # naming rule1: number, folder, index
CASME_SQ_VIDEOS = [(101, "disgust1", "disgustingteeth"), (502, "happy2", "cup")]  # rule2
CASME_SQ_FRAMES = {(15, "0101"): 20, (15, "0502"): 12, (16, "0101"): 10, (16, "0502"): 9}


def casme_sq_rows() -> list[list[Any]]:
    """Coding rows (columns A..I of CASFEcode_final) with CAS(ME)^2's quirks."""
    return [
        [1, "disgust1_1", 3, 5, 8, "4+L10", "negative", "micro-expression", "disgust"],
        # offset 0: no offset coded; the interval ends at the apex, 12
        [1, "disgust1_2", 10, 12, 0, 4, "negative", "macro-expression", "disgust"],
        # apex 0: no apex coded
        [1, "happy2_1", 2, 0, 6, "12", "positive", "macro-expression", "happy"],
        [2, "happy2_1", 4, 6, 9, "R12", "positive", "micro-expression", "happy"],
    ]


def make_casme_sq(root: Path, rows: list[list[Any]] | None = None,
                  frames: dict[tuple[int, str], int] | None = None,
                  subjects: list[tuple[Any, ...]] | None = None,
                  videos: list[tuple[Any, ...]] | None = None,
                  coding_sheet: str = "CASFEcode_final", header_row: bool = False,
                  workbook: str = "CAS(ME)^2code_final.xlsx") -> Path:
    """A CAS(ME)^2 copy under ``root`` (rawpic/sNN/NN_<code><description>/imgN.jpg, frames
    numbered from 1) and its headerless three-sheet workbook; returns root."""
    rows = casme_sq_rows() if rows is None else rows
    frames = CASME_SQ_FRAMES if frames is None else frames
    subjects = CASME_SQ_SUBJECTS if subjects is None else subjects
    videos = CASME_SQ_VIDEOS if videos is None else videos
    described = {f"{int(code):04d}": text for code, _, text in videos}
    for index, ((number, code), count) in enumerate(sorted(frames.items())):
        folder = root / "rawpic" / f"s{number}" / f"{number}_{code}{described.get(code, '')}"
        for frame in range(1, count + 1):
            write_frame(folder / f"img{frame}.jpg", seed=index * 1000 + frame)
    book = openpyxl.Workbook()
    coding = book.active
    coding.title = coding_sheet
    if header_row:
        coding.append(["Subject", "Filename", "Onset", "Apex", "Offset", "AUs", "Emotion",
                       "Type", "Self-report"])
    for row in rows:
        coding.append(row)
    for title, table in (("naming rule1", subjects), ("naming rule2", videos)):
        sheet = book.create_sheet(title)
        for cells in table:
            sheet.append(list(cells)[:3] if title == "naming rule1" else list(cells)[:2])
    root.mkdir(parents=True, exist_ok=True)
    book.save(root / workbook)
    return root


# ---------------------------------------------------------------------------- SAMM-LV

SAMM_LV_HEADER = ["Subject", "Filename", "Inducement Code", "Onset", "Apex", "Offset",
                  "Duration", "Type", "Action Units", "Notes"]
SAMM_LV_HEADER_ROW = 10  # 9 rows of notes above it, as in SAMM_LongVideos_V3_Release.xlsx
# video folder -> (first frame number, frames, digits of the frame number)
SAMM_LV_FRAMES = {"006_1": (1, 30, 4), "006_2": (1, 12, 5), "007_3": (1, 15, 4)}


def samm_lv_rows() -> list[list[Any]]:
    """Data rows with SAMM-LV's quirks (Subject, Filename, ..., Type, Action Units, Notes)."""
    return [
        [6, "006_1_1", 1, 3.0, 5.0, 8.0, 6, "Micro - 1/2", "A2", None],  # floats
        [6, "006_1_2", 1, 0, 14, 25, 0, "Macro", "4+7", "onset not coded"],  # onset 0
        ["006", "006_2_1", 1, 2, -1, 9, 8, "Macro", "12", None],  # apex -1
        [7, "007_3_1", 1, 5, 7, 10, 6, "micro - 1/2", "R14A", None],
    ]


def make_samm_lv(root: Path, rows: list[list[Any]] | None = None,
                 frames: dict[str, tuple[int, int, int]] | None = None,
                 workbook: str = "SAMM_LongVideos_V3_Release.xlsx") -> Path:
    """A SAMM-LV copy under ``root`` (SAMM_longvideos/006_1/006_1_0001.jpg) and its release
    workbook (sheet FACS_Movement_Only, notes above the header row); returns root."""
    rows = samm_lv_rows() if rows is None else rows
    frames = SAMM_LV_FRAMES if frames is None else frames
    for index, (video, (first, count, digits)) in enumerate(sorted(frames.items())):
        for frame in range(first, first + count):
            write_frame(root / "SAMM_longvideos" / video / f"{video}_{frame:0{digits}d}.jpg",
                        seed=index * 1000 + frame, grey=True)
    notes = [[f"SAMM Long Videos note line {i}"] for i in range(1, SAMM_LV_HEADER_ROW)]
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "FACS_Movement_Only"
    for row in [*notes, SAMM_LV_HEADER, *rows]:
        sheet.append(row)
    root.mkdir(parents=True, exist_ok=True)
    book.save(root / workbook)
    return root
