"""SMIC-HS: 16 subjects, 100 fps, three classes, no apex annotation.

Layout of the public release: ``<root>/HS/s1/micro/negative/s1_ne_01/image0xxxxx.bmp``
(cropped copies name frames ``reg_image...``), or ``root`` is the HS folder itself. Labels
come from the emotion folder (negative / positive / surprise); ``non_micro`` folders are
not micro-expressions and are ignored. Onset and offset are the clip folder's first and
last frame (flag bounds_from_folder); the apex is estimated later (flag apex_missing).
An optional CSV (data.annotations) with columns subject, clip, onset, offset and optionally
apex overrides the bounds of the clips it lists. Quirks handled:

- subject folders ``s1`` or ``s01``, and CSV subjects written 1, 01, s1 or s01: matched by
  subject number, the same with and without the CSV (``_subject_number``); a CSV subject
  with no folder is an error listing the subject folders there are (``_with_bounds``)
- a CSV row with no apex (or no apex column): estimated, flag apex_missing; an apex outside
  its clip: estimated, flags apex_missing, apex_repaired (mer.data.repairs.check_order)
- a CSV offset before its onset: repaired when the clip folder proves a digit slip, else the
  row (and its clip) is skipped and listed in Corpus.skipped
  (mer.data.repairs.repair_reversed_offset)
- several CSV rows for one clip folder with disjoint frames: one clip each, named
  ``s1_ne_01@100341`` (mer.data.clips.distinct_clip_names); overlapping rows are an error
"""

from __future__ import annotations

import logging
import re
from itertools import pairwise
from pathlib import Path

from mer.core.frames import NO_FRAME, frame_files, subfolders
from mer.data.cells import frame_number, required_text, subject_number
from mer.data.clips import (
    BOUNDS_FROM_FOLDER,
    Clip,
    Corpus,
    Skipped,
    distinct_clip_names,
    missing_apex,
)
from mer.data.repairs import repair_reversed_offset
from mer.data.sheets import read_table
from mer.errors import DatasetError
from mer.labels import normalise_emotion

log = logging.getLogger(__name__)

FPS = 100.0  # SMIC-HS was filmed at 100 frames per second (Li et al., 2013)
MICRO = "micro"  # SMIC's folder of micro-expression clips (beside non_micro)
EMOTION_FOLDERS = ("negative", "positive", "surprise")  # SMIC-HS's classes, one folder each
_SUBJECT_FOLDER = re.compile(r"^s(\d+)$", re.IGNORECASE)
CSV_COLUMNS = {
    "subject": ("subject", "Subject"),
    "clip": ("clip", "Filename", "video"),
    "onset": ("onset", "OnsetFrame", "Onset Frame"),
    "offset": ("offset", "OffsetFrame", "Offset Frame"),
}
CSV_OPTIONAL = {"apex": ("apex", "ApexFrame", "Apex Frame")}


def micro_folder(subject: Path) -> Path | None:
    """The subject's folder of micro-expression clips (``micro``, in any case), or None."""
    found = [p for p in subject.iterdir() if p.is_dir() and p.name.lower() == MICRO]
    if len(found) > 1:
        raise DatasetError(f"{subject}: the folders {' and '.join(p.name for p in found)} are "
                           "both its micro-expression folder; merge them into one")
    return found[0] if found else None


def _subject_folders(folder: Path) -> list[Path]:
    """Every folder named like a subject (s1, S01) in ``folder``."""
    if not folder.is_dir():
        return []
    return [p for p in folder.iterdir() if p.is_dir() and _SUBJECT_FOLDER.match(p.name)]


def _subjects(folder: Path) -> dict[Path, Path]:
    """Subject folder -> its micro folder, for the subject folders of ``folder`` that hold
    one, by subject number."""
    micro = {p: m for p in _subject_folders(folder) if (m := micro_folder(p)) is not None}
    found = sorted(micro, key=lambda p: (_subject_number(p.name), p.name))
    for a, b in pairwise(found):
        if _subject_number(a.name) == _subject_number(b.name):
            raise DatasetError(f"{folder}: the folders {a.name} and {b.name} are both subject "
                               f"{_subject_number(a.name)}; merge them into one folder")
    return {p: micro[p] for p in found}


def _subject_number(folder_name: str) -> int:
    match = _SUBJECT_FOLDER.match(folder_name)
    assert match is not None  # _subjects keeps only folders named like a subject
    return int(match.group(1))


def frames_root(root: Path) -> Path:
    """The folder holding s1, s2, ...: ``root/HS`` or root itself."""
    for folder in (root / "HS", root):
        if _subjects(folder):
            return folder
    raise DatasetError(f"data.root {root}: no SMIC-HS clips found: expected "
                       f"{root}/HS/s1/{MICRO}/negative/s1_ne_01/... or the subject folders "
                       "(s1, s2, ...) directly in data.root; point data.root at your SMIC copy")


def _folder_clips(frames: Path) -> list[Clip]:
    clips = []
    subjects = _subjects(frames)
    without = sorted(p.name for p in _subject_folders(frames) if p not in subjects)
    if without:
        log.warning("%s: the subject folder(s) %s hold no '%s' folder, so none of their clips "
                    "is read; if they have clips, put them in <subject>/%s/<emotion>/",
                    frames, ", ".join(without), MICRO, MICRO)
    for subject, micro in subjects.items():
        for emotion_dir in subfolders(micro):
            emotion = normalise_emotion(emotion_dir.name)
            if emotion not in EMOTION_FOLDERS:  # a break-it session: 'happiness' was dropped
                what = ("is not an emotion mer knows" if emotion is None else
                        f"names {emotion}, which is not one of SMIC-HS's classes")
                raise DatasetError(f"{emotion_dir}: '{emotion_dir.name}' {what}; SMIC's "
                                   f"folders are {', '.join(EMOTION_FOLDERS)}: rename it to its "
                                   "class, or remove it")
            for folder in subfolders(emotion_dir):
                # An empty folder, or one whose files frame_files refuses (a copy of a
                # frame, two files of one number), gets no bounds here: the frame check
                # reports it, as an error or a skipped clip (data.on_bad_clip), like a clip of
                # any corpus (h66: a copy stopped the stage under on_bad_clip: skip).
                try:
                    numbers = frame_files(folder) or {NO_FRAME: folder}
                except DatasetError:
                    numbers = {NO_FRAME: folder}
                clip = Clip(dataset="smic", subject=subject.name, clip=folder.name,
                            onset=min(numbers), apex=NO_FRAME, offset=max(numbers),
                            fps=FPS, aus="", emotion=emotion, source=folder.as_posix(),
                            where=str(folder), folder=folder, flags=(BOUNDS_FROM_FOLDER,))
                clips.append(missing_apex(clip))
    return clips


def _unknown_clip(clips: list[Clip], number: int, name: str, where: str) -> DatasetError:
    """The error of a CSV row naming no clip folder: which subject folders there are."""
    subjects = sorted({c.subject for c in clips}, key=_subject_number)
    mine = [c.subject for c in clips if _subject_number(c.subject) == number]
    if not mine:
        return DatasetError(f"{where}: clip s{number}/{name} has no folder: no subject folder "
                            f"of subject {number} in data.root (the subject folders are "
                            f"{', '.join(subjects)}); fix the row's subject or the folder")
    return DatasetError(f"{where}: clip {mine[0]}/{name} has no folder under {MICRO}/<emotion>/ "
                        "in data.root; fix the row or the folder")


def _with_bounds(clips: list[Clip], csv_path: Path) -> tuple[list[Clip], list[Skipped]]:
    """The clips with onset/offset (and apex) from the CSV's rows, where it has one.

    A folder with several rows becomes one clip per row; a row whose offset cannot be
    repaired is skipped, and its folder's clip with it.
    """
    table = read_table(csv_path, CSV_COLUMNS, CSV_OPTIONAL, what="SMIC annotation CSV")
    by_key = {(_subject_number(c.subject), c.clip): c for c in clips}
    annotated: dict[tuple[int, str], list[Clip]] = {}
    skipped: list[Skipped] = []
    for row in table.rows:
        where, cells, names = table.where(row), row.values, table.headers
        number = subject_number(cells["subject"], names["subject"], where)
        name = required_text(cells["clip"], names["clip"], where)
        old = by_key.get((number, name))
        if old is None:
            raise _unknown_clip(clips, number, name, where)
        apex = frame_number(cells["apex"], names["apex"], where, missing_ok=True) \
            if "apex" in cells else NO_FRAME
        clip = Clip(dataset=old.dataset, subject=old.subject, clip=name,
                    onset=frame_number(cells["onset"], names["onset"], where), apex=apex,
                    offset=frame_number(cells["offset"], names["offset"], where),
                    fps=old.fps, aus="", emotion=old.emotion, source=table.source(row),
                    where=where, folder=old.folder)
        fixed = repair_reversed_offset(missing_apex(clip) if apex == NO_FRAME else clip,
                                       None)
        rows = annotated.setdefault((number, name), [])
        if isinstance(fixed, Skipped):
            skipped.append(fixed)
        else:
            rows.append(fixed)
    updated = []
    for clip in clips:
        key = (_subject_number(clip.subject), clip.clip)
        updated.extend(annotated.get(key, [clip]))
    return updated, skipped


def read_smic(root: str | Path, annotations: str | Path | None = None) -> Corpus:
    """Every micro-expression clip of SMIC-HS (frames not yet checked)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"data.root {root} is not a folder; point it at your SMIC copy")
    frames = frames_root(root)
    clips = _folder_clips(frames)
    skipped: list[Skipped] = []
    if annotations is not None:
        clips, skipped = _with_bounds(clips, Path(annotations))
    source = str(annotations) if annotations is not None else str(frames)
    return Corpus("smic", distinct_clip_names(clips), source, str(frames), tuple(skipped))
