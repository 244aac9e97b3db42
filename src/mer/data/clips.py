"""One annotated clip as every adapter produces it, the manifest flags, and the label scheme step.

An adapter turns its corpus's sheet and folders into ``Clip`` records (one per annotation
row); everything after that is shared: duplicate check, label scheme, frame checks
(mer.data.frames) and the manifest table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from mer.data.cells import cell_text
from mer.data.manifest import MISSING_APEX
from mer.errors import DatasetError
from mer.labels import EMOTION_ALIASES, LabelScheme, normalise_emotion

# Manifest flags: facts about a row that later stages or a reader should know.
APEX_MISSING = "apex_missing"  # no usable apex in the annotation: the features stage estimates it
APEX_AT_ONSET = "apex_at_onset"  # the sheet's apex equals its onset (no onset->apex motion)
OFFSET_REPAIRED = "offset_repaired"  # an offset digit slip repaired from the frames on disk
BOUNDS_FROM_FOLDER = "bounds_from_folder"  # onset/offset are the clip folder's first/last frame
PRECOMPUTED_FLOW = "precomputed_flow"  # a flow image, no frames; onset/apex/offset are -1
NO_FRAME = -1  # onset/offset of a precomputed flow image: it has no frame numbers


@dataclass(frozen=True)
class Clip:
    """One annotation row, normalised; ``frame_paths`` are filled in by the frame check."""

    dataset: str
    subject: str  # as the corpus names its folders: sub01, 006, s1
    clip: str
    onset: int
    apex: int  # MISSING_APEX when the annotation has none
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
class Corpus:
    """What an adapter read: its clips and where they came from (for the data report)."""

    dataset: str
    clips: tuple[Clip, ...]
    annotations: str  # the annotation file, or the folder the clips were found in
    frames_root: str  # the folder holding the subject folders ('' for flow images)


def emotion_of(value: object, column: str, where: str) -> str:
    """The normalised emotion of a cell; an emotion mer does not know is an error."""
    emotion = normalise_emotion(cell_text(value))
    if emotion is None:
        known = ", ".join(sorted(set(EMOTION_ALIASES.values())))
        raise DatasetError(f"{where}: column '{column}' holds {cell_text(value)!r}, which is not "
                           f"an emotion mer knows ({known}); correct the cell")
    return emotion


def missing_apex(clip: Clip) -> Clip:
    """Mark a clip whose annotation gives no apex: the features stage estimates it from flow."""
    return replace(clip, apex=MISSING_APEX).flagged(APEX_MISSING)


def check_unique(clips: Sequence[Clip]) -> None:
    """Two annotation rows for one clip are an error naming both rows."""
    first: dict[str, Clip] = {}
    for clip in clips:
        if clip.clip_id in first:
            raise DatasetError(f"{clip.where}: clip {clip.subject}/{clip.clip} is annotated "
                               f"twice (also at {first[clip.clip_id].where}); delete one row")
        first[clip.clip_id] = clip


@dataclass(frozen=True)
class Labelled:
    clips: tuple[Clip, ...]  # kept by the scheme
    labels: tuple[str, ...]  # class of each kept clip
    dropped: dict[str, int]  # emotion the scheme drops -> rows dropped


def apply_scheme(clips: Sequence[Clip], scheme: LabelScheme, dataset: str) -> Labelled:
    """Keep the clips whose emotion the scheme maps to a class; count the others by emotion."""
    kept = [(c, scheme.label_of(c.emotion)) for c in clips]
    dropped = Counter(c.emotion for c, label in kept if label is None)
    result = Labelled(tuple(c for c, label in kept if label is not None),
                      tuple(label for _, label in kept if label is not None),
                      dict(sorted(dropped.items())))
    if not result.clips:
        found = ", ".join(f"{e} ({n})" for e, n in result.dropped.items()) or "none"
        raise DatasetError(f"no clip of {dataset} is left under labels.scheme '{scheme.name}' "
                           f"(classes {', '.join(scheme.classes)}); the emotions found were "
                           f"{found}. Choose a labels.scheme that covers them (e.g. megc-3)")
    classes = sorted(set(result.labels), key=scheme.classes.index)
    if len(classes) < 2:
        raise DatasetError(f"labels.scheme '{scheme.name}' leaves only the class {classes[0]} "
                           f"of {dataset} ({len(result.clips)} clips); a classifier needs at "
                           "least two classes: choose another labels.scheme (e.g. megc-3)")
    return result
