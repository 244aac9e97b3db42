"""FACS coding sheets: CASME II and SAMM write the same columns, so one reader serves both.

CASME II: ``Subject, Filename, (unnamed), OnsetFrame, ApexFrame, OffsetFrame, (unnamed),
Action Units, Estimated Emotion`` (+ ``Objective Classes`` in the 2019 revision).
SAMM: ``Subject, Filename, Inducement Code, Onset Frame, Apex Frame, Offset Frame, Duration,
Micro, Action Units, Estimated Emotion, Objective Classes, Notes`` below ~13 text rows.
Headers are compared without case and spaces, so 'OnsetFrame' and 'Onset Frame' are one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mer.data.aus import normalise_aus
from mer.data.cells import frame_number, required_text, subject_number
from mer.data.clips import Clip, emotion_of, missing_apex
from mer.data.manifest import MISSING_APEX
from mer.data.sheets import Row, Table, read_table

COLUMNS = {
    "subject": ("Subject",),
    "clip": ("Filename",),
    "onset": ("OnsetFrame", "Onset Frame", "Onset"),
    "apex": ("ApexFrame", "Apex Frame", "Apex"),
    "offset": ("OffsetFrame", "Offset Frame", "Offset"),
    "aus": ("Action Units", "AUs"),
    "emotion": ("Estimated Emotion", "Emotion"),
}


def read_coding_sheet(path: Path, dataset: str, fps: float, frames_root: Path,
                      subject_folder: Callable[[int], str]) -> tuple[Clip, ...]:
    """One Clip per row of a CASME II / SAMM coding sheet; frames are checked later."""
    table = read_table(path, COLUMNS, what=f"{dataset} coding sheet")
    return tuple(_clip(table, row, dataset, fps, frames_root, subject_folder)
                 for row in table.rows)


def _clip(table: Table, row: Row, dataset: str, fps: float, frames_root: Path,
          subject_folder: Callable[[int], str]) -> Clip:
    where, cells, names = table.where(row), row.values, table.headers
    subject = subject_folder(subject_number(cells["subject"], names["subject"], where))
    name = required_text(cells["clip"], names["clip"], where)
    aus, au_flags = normalise_aus(cells["aus"])
    clip = Clip(
        dataset=dataset, subject=subject, clip=name,
        onset=frame_number(cells["onset"], names["onset"], where),
        apex=frame_number(cells["apex"], names["apex"], where, missing_ok=True),
        offset=frame_number(cells["offset"], names["offset"], where),
        fps=fps, aus=aus,
        emotion=emotion_of(cells["emotion"], names["emotion"], where),
        source=table.source(row), where=where,
        folder=frames_root / subject / name, flags=au_flags,
    )
    # CASME II writes '/' and SAMM -1 where the coders marked no apex.
    return missing_apex(clip) if clip.apex == MISSING_APEX else clip
