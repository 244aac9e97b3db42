"""SMIC-HS: 16 subjects, 100 fps, three classes, no apex annotation.

Layout of the public release: ``<root>/HS/s1/micro/negative/s1_ne_01/image0xxxxx.bmp``
(cropped copies name frames ``reg_image...``), or ``root`` is the HS folder itself. Labels
come from the emotion folder (negative / positive / surprise); ``non_micro`` folders are
not micro-expressions and are ignored. Onset and offset are the clip folder's first and
last frame (flag bounds_from_folder); the apex is estimated later (flag apex_missing).
An optional CSV (data.annotations) with columns subject, clip, onset, offset and optionally
apex overrides the bounds of the clips it lists.
"""

from __future__ import annotations

import re
from pathlib import Path

from mer.data.cells import frame_number, required_text, subject_number
from mer.data.clips import BOUNDS_FROM_FOLDER, Clip, Corpus, missing_apex
from mer.data.frames import list_frames
from mer.data.manifest import MISSING_APEX
from mer.data.sheets import read_table
from mer.errors import DatasetError
from mer.labels import normalise_emotion

FPS = 100.0  # SMIC-HS was filmed at 100 frames per second (Li et al., 2013)
MICRO = "micro"  # SMIC's folder of micro-expression clips (beside non_micro)
_SUBJECT_FOLDER = re.compile(r"^s(\d+)$")
CSV_COLUMNS = {
    "subject": ("subject", "Subject"),
    "clip": ("clip", "Filename", "video"),
    "onset": ("onset", "OnsetFrame", "Onset Frame"),
    "offset": ("offset", "OffsetFrame", "Offset Frame"),
}
CSV_OPTIONAL = {"apex": ("apex", "ApexFrame", "Apex Frame")}


def _subjects(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_dir() and _SUBJECT_FOLDER.match(p.name)
             and (p / MICRO).is_dir()]
    return sorted(found, key=lambda p: int(p.name[1:]))


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
    for subject in _subjects(frames):
        for emotion_dir in sorted(p for p in (subject / MICRO).iterdir() if p.is_dir()):
            emotion = normalise_emotion(emotion_dir.name)
            if emotion is None:
                raise DatasetError(f"{emotion_dir}: '{emotion_dir.name}' is not an emotion "
                                   "mer knows; SMIC's folders are negative, positive and "
                                   "surprise: rename or remove it")
            for folder in sorted(p for p in emotion_dir.iterdir() if p.is_dir()):
                numbers = list_frames(folder, str(folder))
                clip = Clip(dataset="smic", subject=subject.name, clip=folder.name,
                            onset=min(numbers), apex=MISSING_APEX, offset=max(numbers),
                            fps=FPS, aus="", emotion=emotion, source=folder.as_posix(),
                            where=str(folder), folder=folder, flags=(BOUNDS_FROM_FOLDER,))
                clips.append(missing_apex(clip))
    return clips


def _with_bounds(clips: list[Clip], csv_path: Path) -> list[Clip]:
    """The clips with onset/offset (and apex) from the CSV's rows, where it has one."""
    table = read_table(csv_path, CSV_COLUMNS, CSV_OPTIONAL, what="SMIC annotation CSV")
    by_name = {(c.subject, c.clip): i for i, c in enumerate(clips)}
    updated = list(clips)
    seen: dict[tuple[str, str], str] = {}
    for row in table.rows:
        where, cells, names = table.where(row), row.values, table.headers
        subject = f"s{subject_number(cells['subject'], names['subject'], where)}"
        name = required_text(cells["clip"], names["clip"], where)
        if (subject, name) not in by_name:
            raise DatasetError(f"{where}: clip {subject}/{name} has no folder under "
                               f"{MICRO}/<emotion>/ in data.root; fix the row or the folder")
        if (subject, name) in seen:
            raise DatasetError(f"{where}: clip {subject}/{name} is annotated twice (also at "
                               f"{seen[subject, name]}); delete one row")
        seen[subject, name] = where
        apex = frame_number(cells["apex"], names["apex"], where, missing_ok=True) \
            if "apex" in cells else MISSING_APEX
        old = clips[by_name[(subject, name)]]
        clip = Clip(dataset=old.dataset, subject=subject, clip=name,
                    onset=frame_number(cells["onset"], names["onset"], where), apex=apex,
                    offset=frame_number(cells["offset"], names["offset"], where),
                    fps=old.fps, aus="", emotion=old.emotion, source=table.source(row),
                    where=where, folder=old.folder)
        updated[by_name[(subject, name)]] = missing_apex(clip) if apex == MISSING_APEX else clip
    return updated


def read_smic(root: str | Path, annotations: str | Path | None = None) -> Corpus:
    """Every micro-expression clip of SMIC-HS (frames not yet checked)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"data.root {root} is not a folder; point it at your SMIC copy")
    frames = frames_root(root)
    clips = _folder_clips(frames)
    if annotations is not None:
        clips = _with_bounds(clips, Path(annotations))
    source = str(annotations) if annotations is not None else str(frames)
    return Corpus("smic", tuple(clips), source, str(frames))
