"""One annotated clip as every adapter produces it, the manifest flags, and the duplicate check.

An adapter turns its corpus's sheet and folders into ``Clip`` records (one per annotation
row) and ``Skipped`` records (rows it leaves out, with why); everything after that is shared:
duplicate check, label scheme (mer.data.labelling), frame checks (mer.core.frames) and the
manifest table.

One video folder may hold several micro-expressions (CAS(ME)^3 and SAMM annotate some folders
twice, with disjoint frames): each row is a clip. A folder annotated once keeps its name as the
clip name; when a folder holds several rows, each clip is named ``<folder>@<onset>``
(``distinct_clip_names``) while ``Clip.folder`` still points at the real folder. Two rows of
one folder whose onset..offset overlap are one micro-expression annotated twice: an error.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from mer.core.frames import NO_FRAME
from mer.data.cells import required_text
from mer.errors import DatasetError
from mer.labels import EMOTION_ALIASES, normalise_emotion

# Manifest flags: facts about a row that later stages or a reader should know.
APEX_MISSING = "apex_missing"  # no usable apex in the annotation: the features stage estimates it
APEX_AT_ONSET = "apex_at_onset"  # the sheet's apex equals its onset (no onset->apex motion)
APEX_REPAIRED = "apex_repaired"  # the sheet's apex lies outside its clip: set aside, estimated
APEX_NO_COLUMN = "apex_no_column"  # the sheet has no apex column: every apex is estimated
OFFSET_REPAIRED = "offset_repaired"  # an offset typo repaired (frames on disk, sheet's Duration)
BOUNDS_FROM_FOLDER = "bounds_from_folder"  # onset/offset are the clip folder's first/last frame
PRECOMPUTED_FLOW = "precomputed_flow"  # a flow image, no frames; onset/apex/offset are -1


@dataclass(frozen=True)
class Clip:
    """One annotation row, normalised; ``frame_paths`` are filled in by the frame check."""

    dataset: str
    subject: str  # as the corpus names its folders: sub01, 006, s1
    clip: str
    onset: int
    apex: int  # NO_FRAME when the annotation has none
    offset: int
    fps: float
    aus: str  # normalised, mer.data.aus
    emotion: str  # normalised, mer.labels
    source: str  # 'file:row' of the annotation
    where: str  # the same, as a message names it: 'file, sheet 'x', row N'
    folder: Path | None = None  # the clip's frame folder; None for flow images
    flow_image: str = ""
    flags: tuple[str, ...] = ()
    notes: tuple[tuple[str, str], ...] = ()  # (flag, what was done in words) for the report
    frame_paths: tuple[str, ...] = ()

    @property
    def clip_id(self) -> str:
        return f"{self.dataset}/{self.subject}/{self.clip}"

    def flagged(self, flag: str, note: str | None = None) -> Clip:
        """A copy with ``flag`` (and a note for the report) added."""
        flags = self.flags if flag in self.flags else (*self.flags, flag)
        notes = self.notes if note is None else (*self.notes, (flag, note))
        return replace(self, flags=flags, notes=notes)


@dataclass(frozen=True)
class Skipped:
    """An annotation row left out, with why: the data report lists it."""

    clip_id: str  # dataset/subject/clip as the row names it
    source: str  # 'file:row' of the annotation
    where: str  # the same, as a message names it
    reason: str  # what is wrong with the row and what would fix it


@dataclass(frozen=True)
class Corpus:
    """What an adapter read: its clips and where they came from (for the data report)."""

    dataset: str
    clips: tuple[Clip, ...]
    annotations: str  # the annotation file, or the folder the clips were found in
    frames_root: str  # the folder holding the subject folders ('' for flow images)
    skipped: tuple[Skipped, ...] = ()  # rows the adapter left out (a value it cannot repair)
    worksheet: str | None = None  # the workbook's worksheet read; None for a CSV or folders


def emotion_of(value: object, column: str, where: str) -> str:
    """The normalised emotion of a cell; an emotion mer does not know is an error."""
    text = required_text(value, column, where)
    emotion = normalise_emotion(text)
    if emotion is None:
        known = ", ".join(sorted(set(EMOTION_ALIASES.values())))
        raise DatasetError(f"{where}: column '{column}' holds {text!r}, which is not an emotion "
                           f"mer knows ({known}); correct the cell")
    return emotion


def missing_apex(clip: Clip) -> Clip:
    """Mark a clip whose annotation gives no apex: the features stage estimates it from flow."""
    return replace(clip, apex=NO_FRAME).flagged(APEX_MISSING)


def _same_source(clip: Clip) -> str:
    """What a clip reads, as one key: its frame folder with symlinks resolved, or its flow
    image's sha256 (a copy under another path, or the same file through a symlink, is one
    image). An image not there yet is keyed by its resolved path: the frame check names it."""
    if clip.folder is not None:
        return os.path.realpath(clip.folder)
    if clip.flow_image:
        image = Path(clip.flow_image)
        if image.is_file():
            return "sha256:" + hashlib.sha256(image.read_bytes()).hexdigest()
        return os.path.realpath(image)
    return clip.clip_id  # neither known yet: the clip's name stands for it


def _overlap(a: Clip, b: Clip) -> bool:
    return max(a.onset, b.onset) <= min(a.offset, b.offset)


def check_unique(clips: Sequence[Clip]) -> None:
    """Two rows for one micro-expression, or one video or image under two names, are an
    error naming both rows: LOSO would train and test on one sample.

    Rows of one folder (or flow image) are one micro-expression annotated twice when their
    onset..offset overlap; disjoint rows are distinct micro-expressions of one video and
    pass (``distinct_clip_names`` gives them distinct clip names). A folder is one person's
    video: listed under two subjects it is an error (also through a symlink), as a flow image
    listed twice is, under any names or paths (a copy of the file included).
    """
    seen: dict[str, list[Clip]] = defaultdict(list)
    ids: dict[str, tuple[Clip, str]] = {}  # clip id -> (its first row, its source key)
    for clip in clips:
        key = _same_source(clip)
        name = clip.folder.name if clip.folder is not None else clip.clip
        for other in seen[key]:
            if clip.folder is None:  # a flow image has no frames: listed twice is twice
                also = ("" if (other.subject, other.clip) == (clip.subject, clip.clip)
                        else f" as {other.subject}/{other.clip}")
                if os.path.abspath(other.flow_image) == os.path.abspath(clip.flow_image):
                    raise DatasetError(f"{clip.where}: flow image of clip {clip.subject}/"
                                       f"{name} is listed twice (also{also} at "
                                       f"{other.where}); delete one row")
                in_a_tree = Path(clip.where) == Path(clip.flow_image)  # no row: a folder's
                first = (f"clip {other.subject}/{other.clip}" if in_a_tree else
                         f"listed{also} at {other.where}")
                remedy = "delete the wrong copy" if in_a_tree else "delete one row"
                raise DatasetError(
                    f"{clip.where}: flow image {'' if in_a_tree else f'{clip.flow_image} '}"
                    f"of clip {clip.subject}/{name} "
                    f"is byte for byte {other.flow_image} ({first}): one image is one sample, "
                    f"which LOSO would train and test on; {remedy}, or export "
                    "the right clip's image in its place")
            if other.subject != clip.subject:
                raise DatasetError(
                    f"{clip.where}: frame folder {clip.folder} is listed under subject "
                    f"{clip.subject} here and under {other.subject} at {other.where}"
                    f"{'' if other.folder == clip.folder else f' (as {other.folder})'}; a "
                    "video is one person's: correct the subject")
            if _overlap(other, clip):
                raise DatasetError(
                    f"{clip.where}: clip {clip.subject}/{name} is annotated twice with "
                    f"overlapping frames ({other.onset}..{other.offset} at {other.where}, "
                    f"{clip.onset}..{clip.offset} here); delete one row, or correct the frame "
                    "numbers if they are two micro-expressions")
        seen[key].append(clip)
        # Rows of one folder share a name until distinct_clip_names; other folders may not.
        if clip.clip_id in ids and ids[clip.clip_id][1] != key:
            raise DatasetError(f"{clip.where}: clip {clip.clip_id} is named twice (also at "
                               f"{ids[clip.clip_id][0].where}); rename one of them")
        ids[clip.clip_id] = (clip, key)


def distinct_clip_names(clips: Sequence[Clip]) -> tuple[Clip, ...]:
    """The clips, checked by ``check_unique``, each folder annotated several times with its
    clips named ``<folder>@<onset>``; a folder annotated once keeps its name."""
    check_unique(clips)
    rows = Counter(_same_source(clip) for clip in clips)
    return tuple(replace(clip, clip=f"{clip.clip}@{clip.onset}")
                 if rows[_same_source(clip)] > 1 else clip for clip in clips)
