"""CAS(ME)^2 long videos (Qu et al., 2018), and the embedded synthetic long videos written in
its format: the format spec and its reader.

Folders (``root`` is the corpus folder)::

    <root>/CAS(ME)^2code_final.xlsx            the coding workbook (any '*code_final*.xlsx')
    <root>/rawpic/s15/15_0101disgustingteeth/img1.jpg, img2.jpg, ...

``rawpic`` may be left out (the ``sNN`` folders directly in ``root``). One subject folder
``s<number>`` per subject (s15 ... s40); in it one folder per long video named
``<subject number>_<video code><description>``: the subject number, '_', the 4-digit video
code of the naming-rule2 sheet, then any text (``15_0101disgustingteeth``, ``15_0502cup``).
Frames are image files numbered from 1 (``img1.jpg``; ``img001.jpg`` reads the same: the
frame number is the last run of digits in the name, mer.core.frames.frame_files); 30 fps.
Every video folder on disk becomes a LongVideo, with no intervals when no row codes it.

Workbook ``CAS(ME)^2code_final.xlsx``, three sheets, none with a header row:

- ``CASFEcode_final`` (``CASMEcode_final`` in another release; any sheet whose name holds
  'code_final'): one row per expression, columns
  A subject index (1, 2, ... as in naming rule1), B expression name ``<video name>_<n>``
  (``disgust1_1``, ``anger1_10``), C onset, D apex, E offset (frame numbers from 1),
  F AUs (``4+L10``), G emotion (``negative``, ``positive``, ``surprise``, ``others``),
  H type (``micro-expression`` or ``macro-expression``), I self-reported emotion (not read).
- ``naming rule1``: one row per subject: A subject number (15, the folder's number),
  B folder name (``s15``, not read: the folder is found by number), C subject index (1).
- ``naming rule2``: one row per video: A video code (``0101``, or the number 101), B video
  name (``disgust1``).

Frame numbers become 0-based positions into the video's frames on disk (``img1`` -> 0).
Quirks handled, each in one place:

- the coding sheet is named ``CASFEcode_final`` or ``CASMEcode_final`` depending on the
  release (public spotting code reads either): ``_CODING_SHEET``
- video codes typed as numbers lose their leading zero (101 for ``0101``; public code pads
  them back with ``%04d``): ``_video_code``
- offset 0 (the coders marked no offset; a few rows): the interval ends at the apex, as the
  MEGC2020 organisers' spotting baseline and SOFTNet read the sheet; a row with no onset, or
  with neither an offset nor an apex, is left out of the ground truth, named in a warning,
  and a video whose every row is left out is left out too (mer.data.long_video.coded_span
  and leave_out_uncoded, shared with SAMM-LV)
- apex 0 or empty (no apex coded), or an apex outside its onset..offset: Interval.apex
  None (mer.data.long_video.annotated_interval)
- a header row some copies add above the coding rows, maybe below title rows and with the
  columns in another order: found by its Onset and Offset names and read by name
  (``CODING_HEADERS``; mer.data.sheets.header_table); without one, the columns are read in
  the released order, and a row 1 holding text where a frame number belongs is an error
  like any other row's, never skipped

Errors (mer.errors.DatasetError) name the file, sheet and row: a missing workbook or sheet,
a subject index or video name the naming rules lack, a row whose video folder is missing, a
frame number not on disk, an unknown type, non-numeric frame numbers, a video name or code
listed twice, two folders of one video.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from mer.data.aus import normalise_aus
from mer.data.cells import cell_text, frame_number, is_blank, required_text, subject_number
from mer.data.long_video import (
    ANNOTATIONS_KEY,
    Interval,
    Kind,
    LongVideo,
    VideoFrames,
    annotated_interval,
    coded_frame,
    coded_span,
    find_frames_root,
    leave_out_uncoded,
    long_videos,
    video_frames,
)
from mer.data.sheets import (
    Row,
    Table,
    find_annotation_file,
    header_table,
    positional_table,
    read_worksheets,
    subject_folders,
)
from mer.errors import DatasetError

FPS = 30.0  # CAS(ME)^2's long videos were filmed at 30 frames per second (Qu et al., 2018)
# The names as released (what a writer of this format writes); the reader also accepts the
# variants listed in the docstring.
WORKBOOK_NAME = "CAS(ME)^2code_final.xlsx"
CODING_SHEET = "CASFEcode_final"
NAMING_SUBJECTS_SHEET = "naming rule1"
NAMING_VIDEOS_SHEET = "naming rule2"
WORKBOOK_PATTERNS = ("*code_final*.xlsx",)
FRAMES_FOLDER = "rawpic"
CODING_COLUMNS = ("subject", "expression", "onset", "apex", "offset", "aus", "emotion", "type",
                  "self_report")
# A header row some copies add (the released sheet has none), read by its names: our column
# name -> the spellings accepted (compared without case and punctuation).
CODING_HEADERS = {
    "subject": ("Subject", "Subject index", "Subject ID", "Sub", "Participant"),
    "expression": ("Filename", "File name", "Expression", "Expression name", "Name"),
    "onset": ("Onset", "Onset frame", "OnsetFrame"),
    "offset": ("Offset", "Offset frame", "OffsetFrame"),
    "type": ("Type", "Expression type"),
}
OPTIONAL_CODING_HEADERS = {
    "apex": ("Apex", "Apex frame", "ApexFrame"),
    "aus": ("AUs", "AU", "Action units"),
    "emotion": ("Emotion", "Estimated emotion"),
    "self_report": ("Self-report", "Self report", "Self-reported emotion"),
}
NAMING_SUBJECTS_COLUMNS = ("subject_number", "folder", "subject")
NAMING_VIDEOS_COLUMNS = ("code", "name")
TYPES: dict[str, Kind] = {"micro-expression": "micro", "macro-expression": "macro"}

_CODING_SHEET = re.compile(r"code_?final", re.IGNORECASE)  # CASFEcode_final, CASMEcode_final
_SUBJECT_FOLDER = re.compile(r"^s(\d+)$", re.IGNORECASE)
_VIDEO_FOLDER = re.compile(r"^(\d+)_(\d{4})")  # 15_0101disgustingteeth: subject, video code


def read_casme_sq(root: str | Path, annotations: str | Path | None = None,
                  dataset: str = "casme_sq") -> list[LongVideo]:
    """Every long video of a CAS(ME)^2-format corpus at ``root``, sorted by (subject, video).

    ``annotations`` is the coding workbook (default: the '*code_final*.xlsx' in ``root``).
    Each video's frames are listed and every annotated frame number is checked on disk.
    Raises DatasetError naming the file, sheet and row of anything unusable.
    """
    root = Path(root)
    frames_root = find_frames_root(root, FRAMES_FOLDER, _SUBJECT_FOLDER, "CAS(ME)^2",
                                   "s15/15_0101disgustingteeth/img1.jpg")
    workbook = Path(annotations) if annotations is not None else find_workbook(root)
    sheets = read_worksheets(workbook, "CAS(ME)^2 coding workbook")
    subjects = _subjects(_sheet(workbook, sheets, NAMING_SUBJECTS_SHEET,
                                NAMING_SUBJECTS_COLUMNS))
    codes = _video_codes(_sheet(workbook, sheets, NAMING_VIDEOS_SHEET, NAMING_VIDEOS_COLUMNS))
    numbers = subject_folders(frames_root, _SUBJECT_FOLDER)  # subject number -> folder name
    folders = _video_folders(frames_root, numbers)
    coding = _coding_table(workbook, sheets)
    frames = {(numbers[key[0]], f"{key[0]}_{key[1]}"): video_frames(folder, f"{dataset} video "
                                                                     f"{key[0]}_{key[1]}")
              for key, folder in folders.items()}
    intervals: dict[tuple[str, str], list[Interval]] = defaultdict(list)
    left_out: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in coding.rows:
        number, code = _video_of(coding, row, subjects, codes, folders)
        key = (numbers[number], f"{number}_{code}")
        interval = _interval(coding, row, frames[key])
        if isinstance(interval, str):
            left_out[key].append(f"row {row.number} ({cell_text(row.values['expression'])}): "
                                 f"{interval}")
        else:
            intervals[key].append(interval)
    frames = leave_out_uncoded(workbook, frames, intervals, left_out)
    return long_videos(dataset, FPS, frames, intervals)

# ------------------------------------------------------------------------------ the workbook

def find_workbook(root: str | Path) -> Path:
    """The coding workbook in ``root``: its one '*code_final*.xlsx'. DatasetError naming
    spotting.annotations when there is none or more than one."""
    return find_annotation_file([Path(root)], WORKBOOK_PATTERNS, "CAS(ME)^2 coding workbook",
                                key=ANNOTATIONS_KEY)


def _key(name: str) -> str:
    return re.sub(r"[\s_]", "", name).lower()


def _sheet(path: Path, sheets: dict[str, list[tuple[object, ...]]], shown: str,
           columns: Sequence[str]) -> Table:
    """The sheet named ``shown``, compared without case, spaces and underscores."""
    for name, rows in sheets.items():
        if _key(name) == _key(shown):
            return positional_table(path, name, rows, columns)
    raise DatasetError(f"{path}: no sheet '{shown}' (sheets: {', '.join(sheets)}); the "
                       f"CAS(ME)^2 workbook maps names to folders with its '{shown}' sheet: "
                       "use the workbook as released")


def _coding_table(path: Path, sheets: dict[str, list[tuple[object, ...]]]) -> Table:
    names = [name for name in sheets if _CODING_SHEET.search(name)]
    if len(names) != 1:
        found = "none" if not names else f"{len(names)} ({', '.join(names)})"
        raise DatasetError(f"{path}: expected one coding sheet named like '{CODING_SHEET}', "
                           f"found {found} among the sheets {', '.join(sheets)}; use the "
                           "workbook as released")
    rows = sheets[names[0]]
    return (header_table(path, names[0], rows, CODING_HEADERS, OPTIONAL_CODING_HEADERS,
                         ("onset", "offset"))
            or positional_table(path, names[0], rows, CODING_COLUMNS))


def _subjects(table: Table) -> dict[int, int]:
    """naming rule1: subject index (coding sheet, column A) -> subject number (folder)."""
    found: dict[int, tuple[int, Row]] = {}
    for row in table.rows:
        where = table.where(row)
        index = subject_number(row.values["subject"], table.headers["subject"], where)
        number = subject_number(row.values["subject_number"], table.headers["subject_number"],
                                where)
        if index in found:
            raise DatasetError(f"{where}: subject index {index} is listed twice (also at row "
                               f"{found[index][1].number}); keep one row per subject")
        found[index] = (number, row)
    return {index: number for index, (number, _) in found.items()}


def _video_code(value: object, column: str, where: str) -> str:
    """Quirk: a video code typed as a number lost its leading zero (101 for '0101')."""
    text = required_text(value, column, where)
    if not re.fullmatch(r"\d{1,4}", text):
        raise DatasetError(f"{where}: column '{column}' holds {text!r}, not a video code; "
                           "write the 4-digit code of the video folder (0101)")
    return f"{int(text):04d}"


def _video_codes(table: Table) -> dict[str, str]:
    """naming rule2: video name (disgust1) -> video code (0101)."""
    codes: dict[str, tuple[str, Row]] = {}
    names: dict[str, Row] = {}
    for row in table.rows:
        where = table.where(row)
        code = _video_code(row.values["code"], table.headers["code"], where)
        name = required_text(row.values["name"], table.headers["name"], where)
        if name in codes:
            raise DatasetError(f"{where}: video name {name!r} is listed twice (also at row "
                               f"{codes[name][1].number}); keep one row per video")
        if code in names:
            raise DatasetError(f"{where}: video code {code} is listed twice (also at row "
                               f"{names[code].number}); keep one row per video")
        codes[name], names[code] = (code, row), row
    return {name: code for name, (code, _) in codes.items()}


# -------------------------------------------------------------------------------- the folders

def _video_folders(frames_root: Path, subjects: dict[int, str]
                   ) -> dict[tuple[int, str], Path]:
    """(subject number, video code) -> the video's folder, for every video folder on disk."""
    found: dict[tuple[int, str], Path] = {}
    for number, subject in subjects.items():
        for folder in sorted((frames_root / subject).iterdir()):
            match = _VIDEO_FOLDER.match(folder.name)
            if not folder.is_dir() or match is None:
                continue  # notes, thumbnails: not a video folder
            key = (number, match.group(2))
            if key in found:
                raise DatasetError(f"{frames_root / subject}: the folders {found[key].name} and "
                                   f"{folder.name} are both video {match.group(2)}; keep one")
            found[key] = folder
    return found


def _video_of(table: Table, row: Row, subjects: dict[int, int], codes: dict[str, str],
              folders: dict[tuple[int, str], Path]) -> tuple[int, str]:
    """(subject number, video code) of a coding row, its folder checked on disk."""
    where, cells, names = table.where(row), row.values, table.headers
    index = subject_number(cells["subject"], names["subject"], where)
    if index not in subjects:
        raise DatasetError(f"{where}: subject index {index} is not in the 'naming rule1' sheet "
                           f"(indexes {', '.join(map(str, sorted(subjects)))}); correct the "
                           "index or add the subject to naming rule1")
    expression = required_text(cells["expression"], names["expression"], where)
    name = expression.rsplit("_", 1)[0] if "_" in expression else expression
    if name not in codes:
        raise DatasetError(f"{where}: expression {expression!r}: video name {name!r} is not in "
                           "the 'naming rule2' sheet; write the expression as <video name>_<n> "
                           "with a video name naming rule2 lists, or add the video there")
    key = (subjects[index], codes[name])
    if key not in folders:
        subject = f"s{subjects[index]}"
        raise DatasetError(f"{where}: no video folder {subject}/{key[0]}_{key[1]}* for "
                           f"expression {expression!r} under the frames folder; restore the "
                           "video's frames from the corpus or correct the row")
    return key


# ----------------------------------------------------------------------------- the intervals

def _interval(table: Table, row: Row, frames: VideoFrames) -> Interval | str:
    """The row's interval, or why it is left out (long_video.coded_span)."""
    where, cells, names = table.where(row), row.values, table.headers
    # Apex 0 or empty: no apex coded.
    apex = frame_number(cells["apex"], names["apex"], where, missing_ok=True)
    apex = None if apex <= 0 else apex
    span = coded_span(coded_frame(cells["onset"], names["onset"], where), apex,
                      coded_frame(cells["offset"], names["offset"], where), where)
    if isinstance(span, str):
        return span
    onset, offset = span
    kind_text = cell_text(cells["type"]).lower()
    if kind_text not in TYPES:
        raise DatasetError(f"{where}: column '{names['type']}' holds {cell_text(cells['type'])!r}"
                           f", not an expression type; write one of {', '.join(TYPES)}")
    return annotated_interval(
        frames, where, onset, apex, offset, kind=TYPES[kind_text], source=table.source(row),
        aus=normalise_aus(cells["aus"], names["aus"], where)[0],
        emotion="" if is_blank(cells["emotion"]) else cell_text(cells["emotion"]).lower())
