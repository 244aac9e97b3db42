"""Read the frames of one micro-expression from a clip folder, an image pair or a video.

Every reader returns a ``FrameWindow``: frames onset..offset in order, and where the apex is
(None when it should be estimated from motion).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mer.errors import MerError
from mer.faces.frames import read_frame as read_image  # one decoder for training and predict

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
_TRAILING_NUMBER = re.compile(r"(\d+)$")


@dataclass(frozen=True)
class FrameWindow:
    frames: tuple[np.ndarray, ...]  # (H, W, 3) BGR uint8 each, onset first, offset last
    apex_index: int | None  # index into frames; None = estimate from motion
    description: str  # where the frames came from, for messages and JSON output


def _frame_number(path: Path) -> int | None:
    match = _TRAILING_NUMBER.search(path.stem)
    return int(match.group(1)) if match else None


def check_apex(apex_index: int | None, count: int, where: str) -> int | None:
    """``apex_index`` (None: to be estimated) if it lies strictly inside ``count`` frames."""
    if apex_index is not None and not 0 < apex_index < count:
        raise MerError(f"{where}: the apex must lie strictly between onset and offset "
                       f"(index {apex_index} of {count} frames)")
    return apex_index


def from_clip_folder(folder: str | Path, onset: int | None = None, apex: int | None = None,
                     offset: int | None = None) -> FrameWindow:
    """Frames of a clip folder (CASME II style: img46.jpg, reg_img46.jpg, 006_05562.jpg).

    onset/apex/offset are frame numbers as in the file names; absent onset/offset mean the first
    and last frame, an absent apex is estimated from motion.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise MerError(f"{folder}: not a folder of frames")
    numbered = {}
    for path in sorted(folder.iterdir()):
        number = _frame_number(path)
        if path.name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES \
                or number is None:
            continue
        if number in numbered:
            raise MerError(f"{folder}: {numbered[number].name} and {path.name} are both frame "
                           f"{number}; keep one")
        numbered[number] = path
    if len(numbered) < 2:
        raise MerError(f"{folder}: needs at least two numbered image frames, found {len(numbered)}")
    first, last = min(numbered), max(numbered)
    onset = first if onset is None else onset
    offset = last if offset is None else offset
    if not first <= onset < offset <= last:
        raise MerError(f"{folder}: onset {onset} and offset {offset} must satisfy "
                       f"{first} <= onset < offset <= {last} (the frames on disk)")
    missing = [n for n in range(onset, offset + 1) if n not in numbered]
    if missing:
        raise MerError(f"{folder}: frames {missing[:5]} between onset {onset} and offset "
                       f"{offset} are missing")
    frames = tuple(read_image(numbered[n]) for n in range(onset, offset + 1))
    apex_index = None if apex is None else apex - onset
    return FrameWindow(frames, check_apex(apex_index, len(frames), str(folder)),
                       f"{folder} frames {onset}..{offset}")


def from_image_pair(onset_image: str | Path, apex_image: str | Path) -> FrameWindow:
    """The classic onset -> apex input: two images, the second the apex."""
    frames = (read_image(onset_image), read_image(apex_image))
    if frames[0].shape != frames[1].shape:
        raise MerError(f"{onset_image} and {apex_image} differ in size "
                       f"({frames[0].shape[:2]} vs {frames[1].shape[:2]}); use two frames of "
                       "the same video")
    return FrameWindow(frames, 1, f"{onset_image} -> {apex_image}")


def from_video(video: str | Path, start: int | None = None, end: int | None = None,
               apex: int | None = None) -> FrameWindow:
    """Frames start..end (0-based, inclusive) of a video; the apex is estimated unless given."""
    video = Path(video)
    if not video.is_file():
        raise MerError(f"{video}: no such video file")
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise MerError(f"{video}: OpenCV cannot open it as a video (corrupt or unsupported)")
    start = 0 if start is None else start
    frames = []  # only the window is kept: a long video never sits in memory whole
    decoded = 0
    try:
        while end is None or decoded <= end:
            ok, frame = capture.read()
            if not ok:
                break
            if decoded >= start:
                frames.append(frame)
            decoded += 1
    finally:
        capture.release()
    if decoded < 2:
        raise MerError(f"{video}: decoded {decoded} frame(s); a micro-expression needs at "
                       "least two")
    end = decoded - 1 if end is None else end
    if not 0 <= start < end < decoded:
        raise MerError(f"{video}: window {start}..{end} must satisfy 0 <= start < end <= "
                       f"{decoded - 1} (its last frame)")
    apex_index = None if apex is None else apex - start
    return FrameWindow(tuple(frames),
                       check_apex(apex_index, end - start + 1, str(video)),
                       f"{video} frames {start}..{end}")
