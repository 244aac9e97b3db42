"""One long video as every spotting corpus adapter produces it: frames and annotated intervals.

Spotting (the MEGC spotting task) finds expressions in long videos: CAS(ME)^2 and SAMM-LV,
and the embedded synthetic long videos written in CAS(ME)^2's format. Each adapter turns its
corpus's workbook and folders into ``LongVideo`` records; the spotter, the interval metric
and the LOSO loop over subjects read only these.

Frame positions are 0-based indices into ``LongVideo.frames`` (the corpus's own frame
numbers, which start at 1 in CAS(ME)^2 and at an offset in SAMM-LV, are converted by the
adapter), and an interval covers ``onset..offset`` inclusive, as the MEGC metric counts it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Literal

from mer.core.frames import NO_FRAME, frame_files, frame_number_of
from mer.data.cells import frame_number, required_text, whole_number
from mer.data.sheets import find_subjects_folder
from mer.errors import DatasetError

log = logging.getLogger(__name__)

Kind = Literal["micro", "macro"]
KINDS: tuple[Kind, ...] = ("micro", "macro")
ANNOTATIONS_KEY = "spotting.annotations"  # the params key naming a long-video corpus's sheet


@dataclass(frozen=True)
class Interval:
    """One annotated (or spotted) expression: frame positions, inclusive, 0-based."""

    onset: int
    apex: int | None  # None when the annotation has no apex
    offset: int
    kind: Kind
    source: str = ""  # 'file:row' of the annotation, for error messages
    aus: str = ""  # the annotation's AUs, normalised (mer.data.aus); '' when not coded
    emotion: str = ""  # the annotation's emotion label as written, lower case; '' when none

    def __post_init__(self) -> None:
        where = f" ({self.source})" if self.source else ""
        if self.kind not in KINDS:
            raise DatasetError(f"interval{where}: kind {self.kind!r} is not one of {KINDS}")
        if not 0 <= self.onset <= self.offset:
            raise DatasetError(f"interval{where}: onset {self.onset} and offset {self.offset} "
                               "must satisfy 0 <= onset <= offset")
        if self.apex is not None and not self.onset <= self.apex <= self.offset:
            raise DatasetError(f"interval{where}: apex {self.apex} lies outside onset "
                               f"{self.onset}..offset {self.offset}")

    @property
    def length(self) -> int:
        """Frames covered, onset and offset included."""
        return self.offset - self.onset + 1


@dataclass(frozen=True)
class LongVideo:
    """One long video of one subject with its ground-truth intervals (empty when unknown)."""

    dataset: str  # casme_sq (CAS(ME)^2), samm_lv, synthetic
    subject: str  # as the corpus names it: s15, 006
    video: str  # unique within the subject: 15_0101, 006_1
    fps: float
    frames: tuple[Path, ...]  # in time order
    intervals: tuple[Interval, ...]

    @property
    def frame_numbers(self) -> tuple[int | None, ...]:
        """Each frame's own number, by position (img1.jpg -> 1): as the workbook counts them."""
        return tuple(frame_number_of(path) for path in self.frames)

    def __post_init__(self) -> None:
        seen: dict[tuple[int, int, str], Interval] = {}
        for interval in self.intervals:
            if interval.offset >= len(self.frames):
                raise DatasetError(
                    f"{self.dataset} video {self.video} ({interval.source or 'annotation'}): "
                    f"offset {interval.offset} is past the video's last frame "
                    f"({len(self.frames) - 1}, {len(self.frames)} frames on disk)")
            key = (interval.onset, interval.offset, interval.kind)
            if key in seen:  # counted twice, it would add a false negative to every run
                raise DatasetError(
                    f"{self.dataset} video {self.video}: {seen[key].source or 'a row'} and "
                    f"{interval.source or 'another row'} annotate the same {interval.kind}-"
                    f"expression (the video's frames {interval.onset}..{interval.offset}, "
                    "counted from 0); delete one")
            seen[key] = interval


@dataclass(frozen=True)
class VideoFrames:
    """The frame files of one long-video folder and the position of each frame number."""

    folder: Path
    files: tuple[Path, ...]  # in frame-number order
    positions: dict[int, int]  # the corpus's frame number -> 0-based position in ``files``

    def position(self, number: int, what: str, where: str) -> int:
        """The position of frame ``number``; a DatasetError naming ``where`` when the folder
        has no such frame (``what``: 'onset', 'offset', ...)."""
        if number in self.positions:
            return self.positions[number]
        first, last = min(self.positions), max(self.positions)
        raise DatasetError(f"{where}: {what} frame {number} is not among the frames on disk in "
                           f"{self.folder} (frame numbers {first}..{last}, {len(self.files)} "
                           f"frames); correct the {what} or restore the missing frames")


def video_frames(folder: Path, where: str) -> VideoFrames:
    """The numbered frames of a long-video folder (mer.core.frames.frame_files: the number is
    the last run of digits in a file name); a folder with none is an error naming ``where``."""
    files = frame_files(folder)
    if not files:
        raise DatasetError(f"{folder} ({where}): the video folder holds no numbered frames "
                           "(.jpg, .png, .bmp with the frame number in the name); restore its "
                           "frames from the corpus")
    warn_of_gaps(list(files), folder, where)
    return VideoFrames(folder, tuple(files.values()),
                       {number: i for i, number in enumerate(files)})


def some_frames(numbers: Sequence[int]) -> str:
    """Frame numbers for a message: the first five, then how many there are in all."""
    return ", ".join(map(str, numbers[:5])) + (f", ... ({len(numbers)} in all)"
                                               if len(numbers) > 5 else "")


def warn_of_gaps(numbers: Sequence[int], folder: Path, where: str,
                 advice: str = "restore them from the corpus") -> None:
    """A warning naming the frame numbers missing between the first and the last of a
    video's frames (``numbers``, ascending)."""
    gaps = [n for a, b in pairwise(numbers) for n in range(a + 1, b)]
    if gaps:
        shown = some_frames(gaps)
        log.warning("%s (%s): frame(s) %s are missing between %d and %d; the video is read "
                    "without them, so the motion across each gap counts as one frame step: "
                    "%s", folder, where, shown, numbers[0], numbers[-1], advice)


def find_frames_root(root: Path, folder: str, pattern: re.Pattern[str], corpus: str,
                     example: str) -> Path:
    """The folder of a long-video corpus at ``root`` that holds folders named like
    ``pattern``: ``root/folder`` or root itself; ``example`` shows a frame's path under it."""
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder; point it at your {corpus} copy")
    found = find_subjects_folder([root / folder, root], pattern)
    if found is None:
        raise DatasetError(f"{root}: no {corpus} frames found: expected {root}/{folder}/"
                           f"{example}, or the folders inside {folder} directly in {root}; "
                           f"point the root at your {corpus} copy")
    return found


def coded_frame(value: object, column: str, where: str) -> int | None:
    """An onset or offset cell's frame number; None when it says "not coded": 0 or -1, as
    CAS(ME)^2 and SAMM-LV write it. Anything else that is no frame number (an empty cell, a
    row half filled in; -2; '/', n/a) is an error naming the cell."""
    text = required_text(value, column, where)
    if text.startswith("-") and whole_number(text[1:]) == -NO_FRAME:
        return None
    number = frame_number(value, column, where)
    return None if number == 0 else number


def coded_span(onset: int | None, apex: int | None, offset: int | None, where: str
               ) -> tuple[int, int] | str:
    """(onset, offset) of a row from its frame numbers (None: not coded), read as the
    published spotting protocols read uncoded frames, or why the row is left out of the
    ground truth:

    - no offset: the interval ends at the apex, as the MEGC2020 organisers' spotting
      baseline (He, ``CASME_2.py``) and SOFTNet's ground truth (Liong et al., 2021,
      ``load_gt``) read CAS(ME)^2's and SAMM-LV's offset 0; with no apex either, left out;
    - no onset: left out, as SOFTNet and the work after it leave out SAMM-LV's macro rows of
      onset 0, the "extremely long" ones (micro rows too here: SOFTNet would start them
      before the first frame; the organisers' baseline at frame 0).

    DatasetError naming ``where`` when a row without an offset has its apex before its onset.
    """
    if onset is None:
        return "no onset coded"
    if offset is None:
        if apex is None:
            return "neither an offset nor an apex coded"
        if apex < onset:
            raise DatasetError(f"{where}: no offset is coded and apex {apex} comes before onset "
                               f"{onset}; correct the frame numbers")
        return onset, apex
    return onset, offset


def leave_out_uncoded(workbook: Path, videos: Mapping[tuple[str, str], VideoFrames],
                      intervals: Mapping[tuple[str, str], Sequence[Interval]],
                      left_out: Mapping[tuple[str, str], Sequence[str]]
                      ) -> dict[tuple[str, str], VideoFrames]:
    """``videos`` without those whose every row was left out (coded_span), each row left out
    named in a warning: such a video does hold an expression, so it is left out of the
    evaluation, as SOFTNet leaves out a video without ground truth, rather than scored as
    holding none (every interval spotted in it a false positive)."""
    rows = [row for key in sorted(left_out) for row in left_out[key]]
    if rows:
        log.warning("%s: %d row(s) are left out of the ground truth (no onset, or neither an "
                    "offset nor an apex: mer.data.long_video.coded_span): %s", workbook,
                    len(rows), "; ".join(rows))
    gone = sorted(key for key in left_out if left_out[key] and not intervals.get(key))
    if gone:
        log.warning("%s: video(s) %s hold only rows left out (above), so they are left out of "
                    "the evaluation too, rather than scored as holding no expression", workbook,
                    ", ".join(f"{subject}/{video}" for subject, video in gone))
    return {key: frames for key, frames in videos.items() if key not in gone}


def annotated_interval(frames: VideoFrames, where: str, onset: int, apex: int | None,
                       offset: int, kind: Kind, source: str, aus: str = "",
                       emotion: str = "") -> Interval:
    """An Interval from a row's frame numbers (the corpus's own), turned into positions in
    ``frames``; an offset before the onset or a frame not on disk is an error naming
    ``where``. An apex outside onset..offset is dropped (Interval.apex None): the interval
    is what spotting scores, and the clip adapters likewise set such an apex aside
    (mer.data.repairs.check_order); public spotting code skips or re-estimates these rows."""
    if offset < onset:
        raise DatasetError(f"{where}: offset {offset} comes before onset {onset}; correct the "
                           "frame numbers")
    if apex is not None and not onset <= apex <= offset:
        apex = None
    return Interval(onset=frames.position(onset, "onset", where),
                    apex=None if apex is None else frames.position(apex, "apex", where),
                    offset=frames.position(offset, "offset", where), kind=kind, source=source,
                    aus=aus, emotion=emotion)


def long_videos(dataset: str, fps: float, videos: Mapping[tuple[str, str], VideoFrames],
                intervals: Mapping[tuple[str, str], Sequence[Interval]]) -> list[LongVideo]:
    """LongVideos of (subject, video) -> frames and intervals, sorted by (subject, video),
    each video's intervals by (onset, offset)."""
    return [LongVideo(dataset=dataset, subject=subject, video=video, fps=fps,
                      frames=videos[subject, video].files,
                      intervals=tuple(sorted(intervals.get((subject, video), ()),
                                             key=lambda i: (i.onset, i.offset))))
            for subject, video in sorted(videos)]
