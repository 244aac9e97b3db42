"""FACS coding sheets: CASME II and SAMM write the same columns, so one reader serves both.

CASME II: ``Subject, Filename, (unnamed), OnsetFrame, ApexFrame, OffsetFrame, (unnamed),
Action Units, Estimated Emotion`` (+ ``Objective Classes`` in the 2019 revision).
SAMM: ``Subject, Filename, Inducement Code, Onset Frame, Apex Frame, Offset Frame, Duration,
Micro, Action Units, Estimated Emotion, Objective Classes, Notes`` below ~13 text rows.
Headers are compared without case and spaces, so 'OnsetFrame' and 'Onset Frame' are one.

Optional columns: the apex (CAS(ME)^3 part C and SMIC-style sheets have none: every apex is
then missing and estimated, as for an empty cell) and Duration (SAMM: offset - onset + 1,
used only to repair an offset typed before its onset: mer.data.repairs.repair_reversed_offset).
Rows whose offset cannot be repaired are skipped and returned with their reason; several
rows of one clip folder become clips named ``<folder>@<onset>``
(mer.data.clips.distinct_clip_names).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from mer.core.frames import NO_FRAME, DiskNames
from mer.data.aus import normalise_aus
from mer.data.cells import (
    UnsavedFormula,
    frame_number,
    required_text,
    subject_number,
    whole_number,
)
from mer.data.clips import (
    APEX_NO_COLUMN,
    Clip,
    Corpus,
    Skipped,
    distinct_clip_names,
    emotion_of,
    missing_apex,
)
from mer.data.repairs import repair_reversed_offset
from mer.data.sheets import (
    Row,
    Table,
    find_annotation_file,
    read_table,
    subject_namer,
)
from mer.errors import DatasetError

COLUMNS = {
    "subject": ("Subject",),
    "clip": ("Filename",),
    "onset": ("OnsetFrame", "Onset Frame", "Onset"),
    "offset": ("OffsetFrame", "Offset Frame", "Offset"),
    "aus": ("Action Units", "AUs"),
    "emotion": ("Estimated Emotion", "Emotion"),
}
OPTIONAL_COLUMNS = {
    "apex": ("ApexFrame", "Apex Frame", "Apex"),
    "duration": ("Duration",),  # SAMM: offset - onset + 1
}


@dataclass(frozen=True)
class CodedCorpus:
    """What one FACS-coded corpus (CASME II, SAMM) has of its own; the reading is shared."""

    sheet: str  # how messages name its sheet: 'CASME II coding sheet'
    fps: float
    sheet_patterns: tuple[str, ...]  # file names of its sheet, found in the root or its parent
    frames_root: Callable[[Path], Path]  # the folder holding its subject folders
    subject_pattern: re.Pattern[str]  # a subject folder's name; group 1 is the number
    subject_folder: Callable[[int], str]  # subject number -> folder name as the corpus pads it


def read_coded_corpus(corpus: CodedCorpus, root: str | Path, annotations: str | Path | None,
                      dataset: str, copy: str) -> Corpus:
    """Every clip of a FACS-coded corpus at ``root`` (frames not yet checked); ``copy`` names
    the corpus in the message for a root that is not a folder."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"data.root {root} is not a folder; point it at your {copy} copy")
    frames = corpus.frames_root(root)
    sheet = Path(annotations) if annotations is not None else find_annotation_file(
        [root, root.parent], corpus.sheet_patterns, corpus.sheet)
    clips, skipped, worksheet = read_coding_sheet(
        sheet, dataset, corpus.fps, frames,
        subject_namer(frames, corpus.subject_pattern, corpus.subject_folder))
    return Corpus(dataset, clips, str(sheet), str(frames), skipped, worksheet)


def read_coding_sheet(path: Path, dataset: str, fps: float, frames_root: Path,
                      subject_folder: Callable[[int], str]
                      ) -> tuple[tuple[Clip, ...], tuple[Skipped, ...], str | None]:
    """(clips, skipped rows, worksheet read) of a CASME II / SAMM coding sheet (the worksheet
    is None for a CSV); frames are checked later.

    ``subject_folder`` maps a subject number to its folder's name under ``frames_root``.
    """
    table = read_table(path, COLUMNS, OPTIONAL_COLUMNS, what=f"{dataset} coding sheet")
    # Named over every row of a folder, skipped ones too: a kept clip and a skipped row of one
    # folder never share a clip_id.
    disk = DiskNames()  # each subject folder listed once, whatever the rows' count
    named = distinct_clip_names([_clip(table, row, dataset, fps, frames_root, subject_folder,
                                       disk) for row in table.rows])
    clips: list[Clip] = []
    skipped: list[Skipped] = []
    for row, clip in zip(table.rows, named, strict=True):
        duration = row.values.get("duration")
        repaired = repair_reversed_offset(clip, whole_number(duration))
        if isinstance(repaired, Skipped) and isinstance(duration, UnsavedFormula):
            repaired = replace(repaired, reason=(
                f"{repaired.reason} (its Duration cell holds the formula '{duration}' with no "
                "saved value: the workbook was written by a program that does not compute "
                "formulas; open it in Excel or LibreOffice and save it)"))
        (skipped if isinstance(repaired, Skipped) else clips).append(repaired)
    return tuple(clips), tuple(skipped), table.sheet


def _clip(table: Table, row: Row, dataset: str, fps: float, frames_root: Path,
          subject_folder: Callable[[int], str], disk: DiskNames) -> Clip:
    where, cells, names = table.where(row), row.values, table.headers
    subject = subject_folder(subject_number(cells["subject"], names["subject"], where))
    name = required_text(cells["clip"], names["clip"], where)
    aus, au_flags = normalise_aus(cells["aus"], names["aus"], where)
    # No apex column: every apex is missing, as for an empty cell (and flagged as such).
    apex = frame_number(cells["apex"], names["apex"], where, missing_ok=True) \
        if "apex" in cells else NO_FRAME
    if "apex" not in cells:
        au_flags = (*au_flags, APEX_NO_COLUMN)
    clip = Clip(
        dataset=dataset, subject=subject, clip=name,
        onset=frame_number(cells["onset"], names["onset"], where),
        apex=apex,
        offset=frame_number(cells["offset"], names["offset"], where),
        fps=fps, aus=aus,
        emotion=emotion_of(cells["emotion"], names["emotion"], where),
        source=table.source(row), where=where,
        folder=disk.find(frames_root / subject / name), flags=au_flags,
    )
    # CASME II writes '/' and SAMM -1 where the coders marked no apex.
    return missing_apex(clip) if clip.apex == NO_FRAME else clip
