"""SAMM Long Videos (SAMM-LV; Yap et al., 2020): the format and its reader.

Folders (``root`` is the corpus folder)::

    <root>/SAMM_LongVideos_V3_Release.xlsx     the release workbook (any 'SAMM_LongVideos*.xlsx')
    <root>/SAMM_longvideos/006_1/006_1_0001.jpg, 006_1_0002.jpg, ...

``SAMM_longvideos`` may be left out (the video folders directly in ``root``). One folder per
long video, named ``<subject>_<video>`` (``006_1``), with no subject level; frames are named
``<video folder>_<frame number>`` with 4 or 5 zero-padded digits depending on the video (the
frame number is the last run of digits in the name, mer.core.frames.frame_files); 200 fps.
Every video folder on disk becomes a LongVideo, with no intervals when no row codes it.

Workbook: sheet ``FACS_Movement_Only``; about nine rows of notes above the header row (row
10 in V1-V3), found wherever it is by mer.data.sheets.read_table. Columns read: Subject (6 or
'006'), Filename (``<video folder>_<n>``: ``006_1_2``), Onset, Apex, Offset (frame numbers
as on the frame files), Type (``Micro - 1/2`` or ``Macro``), Action Units; Inducement Code,
Duration and Notes are not read. An Emotion column, when a copy adds one, is kept.

Frame numbers become 0-based positions into the video's frames on disk. Quirks handled, each
in one place:

- frame numbers stored as floats (``5562.0``; public code rounds them): read as whole
  numbers by mer.data.cells.frame_number, a fractional one is an error
- Type ``Micro - 1/2`` (micro, under half a second) and ``Macro``, case and spacing as they
  come: ``_kind``
- onset or offset 0 or -1 (not coded; a few rows): read as CAS(ME)^2's are, by one rule
  (mer.data.long_video.coded_span): no offset ends the interval at the apex; a row with no
  onset (a few macro rows, the "extremely long" ones, which SOFTNet and the spotting work
  after it leave out) or with neither an offset nor an apex is left out of the ground truth,
  named in a warning, and a video whose every row is left out is left out too
  (leave_out_uncoded)
- apex -1, 0 or empty (no apex coded), or an apex outside its onset..offset: Interval.apex
  None (mer.data.long_video.annotated_interval)
- two macro rows whose offset lies past the last frame of the released video (020_6_5:
  5476, frames end at 5001; 036_7_4: 8298, frames end at 8201): ended at the video's last
  frame, ``_OFFSET_PAST_THE_VIDEO``; any other frame not on disk is an error

Errors (mer.errors.DatasetError) name the file, sheet and row: a missing workbook or column,
a row whose video folder is missing, a frame number not on disk, an unknown Type, a
non-numeric frame number, a Filename listed twice or not of the form ``<subject>_<video>_<n>``,
a Subject that contradicts the Filename.
"""

from __future__ import annotations

import re
from collections import defaultdict
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
from mer.data.sheets import Row, Table, find_annotation_file, read_table
from mer.errors import DatasetError

FPS = 200.0  # SAMM-LV was filmed at 200 frames per second (Yap et al., 2020)
WORKBOOK_PATTERNS = ("SAMM_LongVideos*.xlsx",)  # in any letter case (find_annotation_file)
FRAMES_FOLDER = "SAMM_longvideos"
COLUMNS = {
    "subject": ("Subject", "Subject ID"),
    "filename": ("Filename", "File name"),
    "onset": ("Onset", "Onset Frame"),
    "offset": ("Offset", "Offset Frame"),
    "type": ("Type", "Expression type"),
}
OPTIONAL_COLUMNS = {
    "apex": ("Apex", "Apex Frame"),
    "aus": ("Action Units", "AUs"),
    "emotion": ("Estimated Emotion", "Emotion"),
}
KINDS: dict[str, Kind] = {"micro": "micro", "macro": "macro"}  # Type's first word -> kind

# Quirk: the rows whose offset lies past the released frames (020_6_5: 5476, frames end at
# 5001; 036_7_4: 8298, frames end at 8201); public spotting code ends them at the last frame.
_OFFSET_PAST_THE_VIDEO = frozenset({"020_6_5", "036_7_4"})
_VIDEO_FOLDER = re.compile(r"^(\d+)_(\d+)$")  # 006_1: subject, video
_FILENAME = re.compile(r"^(\d+)_(\d+)_\w+$")  # 006_1_2: subject, video, expression


def read_samm_lv(root: str | Path, annotations: str | Path | None = None) -> list[LongVideo]:
    """Every long video of SAMM-LV at ``root``, sorted by (subject, video).

    ``annotations`` is the release workbook (default: the 'SAMM_LongVideos*.xlsx' in
    ``root``). Each video's frames are listed and every annotated frame number is checked on
    disk. Raises DatasetError naming the file, sheet and row of anything unusable.
    """
    root = Path(root)
    frames_root = find_frames_root(root, FRAMES_FOLDER, _VIDEO_FOLDER, "SAMM-LV",
                                   "006_1/006_1_0001.jpg")
    workbook = Path(annotations) if annotations is not None else find_workbook(root)
    table = read_table(workbook, COLUMNS, OPTIONAL_COLUMNS, what="SAMM-LV release workbook",
                       key=ANNOTATIONS_KEY)
    folders = {path.name: path for path in sorted(frames_root.iterdir())
               if path.is_dir() and _VIDEO_FOLDER.match(path.name)}
    frames = {(name.split("_")[0], name): video_frames(folder, f"samm_lv video {name}")
              for name, folder in folders.items()}
    intervals: dict[tuple[str, str], list[Interval]] = defaultdict(list)
    left_out: dict[tuple[str, str], list[str]] = defaultdict(list)
    seen: dict[str, Row] = {}
    for row in table.rows:
        video, filename = _video_of(table, row, folders, seen)
        key = (video.split("_")[0], video)
        interval = _interval(table, row, filename, frames[key])
        if isinstance(interval, str):
            left_out[key].append(f"row {row.number} ({filename}): {interval}")
        else:
            intervals[key].append(interval)
    frames = leave_out_uncoded(workbook, frames, intervals, left_out)
    return long_videos("samm_lv", FPS, frames, intervals)


def find_workbook(root: str | Path) -> Path:
    """The release workbook in ``root``: its one 'SAMM_LongVideos*.xlsx'. DatasetError naming
    spotting.annotations when there is none or more than one."""
    return find_annotation_file([Path(root)], WORKBOOK_PATTERNS, "SAMM-LV release workbook",
                                key=ANNOTATIONS_KEY)


def _video_of(table: Table, row: Row, folders: dict[str, Path], seen: dict[str, Row]
              ) -> tuple[str, str]:
    """(video folder name, Filename) of a row, checked against its Subject and the disk."""
    where, cells, names = table.where(row), row.values, table.headers
    filename = required_text(cells["filename"], names["filename"], where)
    match = _FILENAME.fullmatch(filename)
    if match is None:
        raise DatasetError(f"{where}: column '{names['filename']}' holds {filename!r}, not "
                           "<subject>_<video>_<n> (006_1_2); correct the cell")
    if filename in seen:
        raise DatasetError(f"{where}: Filename {filename} is listed twice (also at row "
                           f"{seen[filename].number}); delete one row or correct the name")
    seen[filename] = row
    subject = subject_number(cells["subject"], names["subject"], where)
    if subject != int(match.group(1)):
        raise DatasetError(f"{where}: Subject {cell_text(cells['subject'])} contradicts "
                           f"Filename {filename} (subject {match.group(1)}); correct one of them")
    video = f"{match.group(1)}_{match.group(2)}"
    if video not in folders:
        raise DatasetError(f"{where}: no video folder {video} for Filename {filename} among the "
                           "SAMM-LV video folders; restore the video's frames from the corpus "
                           "or correct the row")
    return video, filename


def _kind(value: object, column: str, where: str) -> Kind:
    """Quirk: Type is 'Micro - 1/2' or 'Macro'; its first word decides, in any case."""
    text = required_text(value, column, where)
    word = re.split(r"[\s\-]+", text.lower(), maxsplit=1)[0] if text else ""
    if word not in KINDS:
        raise DatasetError(f"{where}: column '{column}' holds {text!r}, not an expression type; "
                           "write 'Micro - 1/2' or 'Macro'")
    return KINDS[word]


def _interval(table: Table, row: Row, filename: str, frames: VideoFrames) -> Interval | str:
    """The row's interval, or why it is left out (long_video.coded_span)."""
    where, cells, names = table.where(row), row.values, table.headers
    apex = frame_number(cells["apex"], names["apex"], where, missing_ok=True) \
        if "apex" in cells else None
    apex = None if apex is None or apex <= 0 else apex  # -1, 0, empty: no apex coded
    span = coded_span(coded_frame(cells["onset"], names["onset"], where), apex,
                      coded_frame(cells["offset"], names["offset"], where), where)
    if isinstance(span, str):
        return span
    onset, offset = span
    last = max(frames.positions)
    if filename in _OFFSET_PAST_THE_VIDEO and offset > last:
        offset = last  # Quirk: see _OFFSET_PAST_THE_VIDEO
    emotion = cells.get("emotion")
    return annotated_interval(
        frames, where, onset, apex, offset, kind=_kind(cells["type"], names["type"], where),
        source=table.source(row),
        aus=normalise_aus(cells.get("aus"), names.get("aus", "aus"), where)[0],
        emotion="" if is_blank(emotion) else cell_text(emotion).lower())
