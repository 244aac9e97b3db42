"""Read the frames of one micro-expression from a clip folder, an image pair or a video.

Every reader returns a ``FrameWindow``: frames onset..offset in order, and where the apex is
(None when it should be estimated from motion). A clip folder is listed and the apex checked
by the data stage's own code (mer.core.frames: ``frame_files``, ``apex_to_use``), so whatever
`mer data` accepts, `mer predict --clip` accepts too: onset <= apex <= offset, an apex equal
to the onset meaning "no onset->apex motion: estimate it". Image files are read by the data
stage's one frame reader too (``read_clip_frames``): a truncated, empty or non-image frame,
or one of another size than the others, is refused naming the file, as `mer data` refuses it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np

from mer.core.frames import (
    FRAME_SUFFIXES,
    ApexOutsideClip,
    apex_to_use,
    check_same_size,
    frame_files,
    frame_number_of,
    read_clip_frames,
    read_video_frames,
)
from mer.core.frames import read_frame as read_image  # one decoder for training and predict
from mer.data.long_video import some_frames, warn_of_gaps
from mer.errors import MerError

log = logging.getLogger(__name__)
REPLACE = "replace it"  # what to do about a damaged input frame
# A video may decode this many frames (or this share of them) fewer than it declares.
MISSING_FRAMES_OK = 2
MISSING_SHARE_OK = 0.02


@dataclass(frozen=True)
class FrameWindow:
    frames: tuple[np.ndarray, ...]  # (H, W, 3) BGR uint8 each, onset first, offset last
    apex_index: int | None  # index into frames; None = estimate from motion
    description: str  # where the frames came from, for messages and JSON output
    # each frame's number in its video or folder, for messages (a folder's own numbers, gaps
    # and all); () counts from 0
    frame_numbers: tuple[int, ...] = ()

    def number(self, index: int) -> int:
        """The frame number, in its video's or folder's own numbering, of frames[index]."""
        return self.frame_numbers[index] if self.frame_numbers else index


def check_apex(apex_index: int | None, count: int, where: str) -> int | None:
    """The apex index to use in a window of ``count`` frames (index 0 the onset, count - 1 the
    offset) under mer's one apex rule (mer.core.frames.apex_to_use): None (estimate it) when
    absent or at the onset, a MerError naming ``where`` when outside the window."""
    try:
        return apex_to_use(0, apex_index, count - 1)
    except ApexOutsideClip as exc:
        raise MerError(f"{where}: {exc} (apex index {apex_index} of {count} frames, index 0 "
                       "being the onset)") from None


def from_clip_folder(folder: str | Path, onset: int | None = None, apex: int | None = None,
                     offset: int | None = None, options: tuple[str, str] = ("onset", "offset")
                     ) -> FrameWindow:
    """Frames of a clip folder (CASME II style: img46.jpg, reg_img46.jpg, 006_05562.jpg).

    onset/apex/offset are frame numbers as in the file names; absent onset/offset mean the first
    and last frame, an absent apex (or one equal to the onset) is estimated from motion.
    ``options`` are the caller's names for the onset and the offset, which messages use
    (`--video FOLDER`'s start and end: h60 was advised --onset, which --video refuses).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise MerError(f"{folder}: not a folder of frames")
    numbered = frame_files(folder)  # the data stage's listing: which files, which numbers
    if len(numbered) < 2:
        raise MerError(f"{folder}: needs at least two numbered image frames, found {len(numbered)}")
    first, last = min(numbered), max(numbered)
    onset = first if onset is None else onset
    offset = last if offset is None else offset
    start, end = options
    if not first <= onset < offset <= last:
        raise MerError(f"{folder}: {start} {onset} and {end} {offset} must satisfy "
                       f"{first} <= {start} < {end} <= {last} (the frames on disk)")
    try:
        apex = apex_to_use(onset, apex, offset)
    except ApexOutsideClip as exc:
        raise MerError(f"{folder}: {exc}") from None
    missing = [n for n in range(onset, offset + 1) if n not in numbered]
    if missing:
        raise MerError(f"{folder}: frame(s) {some_frames(missing)} between {start} {onset} and "
                       f"{end} {offset} are missing; "
                       f"{_gap_advice(numbered, onset, offset, options)}")
    frames = tuple(read_clip_frames([numbered[n] for n in range(onset, offset + 1)],
                                    advice=REPLACE))
    return FrameWindow(frames, None if apex is None else apex - onset,
                       f"{folder} frames {onset}..{offset}", tuple(range(onset, offset + 1)))


def _gap_advice(numbered: dict[int, Path], onset: int, offset: int,
                options: tuple[str, str]) -> str:
    """What to do about frames missing between onset and offset: the longest run of
    consecutive frames on disk to classify instead (as the ``options`` that give the onset
    and the offset), or, when no two are consecutive, the step the folder's frames are
    sampled at."""
    present = [n for n in range(onset, offset + 1) if n in numbered]
    runs: list[list[int]] = []
    for number in present:
        if runs and runs[-1][-1] == number - 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    longest = max(runs, key=len)
    if len(longest) > 1:
        start, end = options
        article = "an" if start[0] in "aeiou" else "a"
        return (f"copy them back, or give {article} {start} and {end} within consecutive frames, "
                f"e.g. --{start} {longest[0]} --{end} {longest[-1]} (the longest run on disk)")
    steps = {b - a for a, b in pairwise(present)}
    sampled = (f"the folder holds one frame in {steps.pop()} (a subsampled copy?)"
               if len(steps) == 1 else "no two frames on disk are consecutive")
    return f"{sampled}: use the video's full-rate frames"


def from_image_pair(onset_image: str | Path, apex_image: str | Path) -> FrameWindow:
    """The classic onset -> apex input: two images, the second the apex. When the files'
    frame numbers rise (reg_img23.jpg, reg_img52.jpg), the window is numbered by them (the
    apex is frame 52, as `--clip` numbers it); numbers that fall get a warning (the pair
    may be the wrong way round, the motion read backwards), as names that number no frame
    (onset.png; subject1_onset.png and subject1_apex.png alike) get nothing."""
    frames = (read_image(onset_image, advice=REPLACE), read_image(apex_image, advice=REPLACE))
    check_same_size([f.shape for f in frames], [str(onset_image), str(apex_image)],
                    advice="use two frames of the same video")
    description = f"{onset_image} -> {apex_image}"
    first, second = (frame_number_of(Path(onset_image)), frame_number_of(Path(apex_image)))
    if first is None or second is None or first == second:
        return FrameWindow(frames, 1, description)
    if first > second:
        log.warning("%s: the onset's file is frame %d, after the apex's (%d): give the onset "
                    "image first, then the apex image", description, first, second)
        return FrameWindow(frames, 1, description)
    return FrameWindow(frames, 1, description, (first, second))


def video_frames(video: str | Path, name: str | None = None, rate_option: str = ""
                 ) -> tuple[float, Iterator[np.ndarray]]:
    """(fps, frames) of a video file: the frame rate the file gives (0.0 when it gives none)
    and its (H, W, 3) BGR uint8 frames, decoded one at a time, so a long video never sits in
    memory whole. The file is released when the frames run out or the iterator is closed.

    A folder is read as a video of its numbered image frames in number order (the corpora's
    and high-speed cameras' form: img1.jpg, 006_1_0001.jpg; ``frame_numbers`` gives their
    numbers), with no frame rate (0.0).

    Raises MerError when the file is missing, is an image (OpenCV reads one as a 1-frame
    video at 25 frames/s: a break-it session was told its "1 frames" were too few for the
    window), or OpenCV cannot open it, or the folder holds fewer than two numbered frames; a
    FrameError, as the frames are read, for a damaged frame or one of another size. Messages
    name the video ``name`` (default: its path; a served request's row, not the server's
    scratch file); ``rate_option`` is the caller's option that gives a folder its frame rate
    (`mer spot --fps`), which they name (h59: `mer predict`, which has none, named it)."""
    video = Path(video)
    shown = str(video) if name is None else name
    if video.is_dir():
        files = frame_files(video)
        if not files:
            raise MerError(f"{video}: the folder holds no numbered frames (.jpg, .png, .bmp "
                           "with the frame number in the name)")
        if len(files) == 1:
            raise MerError(f"{video}: the folder holds one numbered frame "
                           f"({next(iter(files.values())).name}), not a video: give the "
                           "folder of a video's frames (img1.jpg, img2.jpg, ...)")
        return 0.0, read_video_frames(files.values(), str(video))
    rate = f" {rate_option} N" if rate_option else ""
    if not video.is_file():
        pattern = (f"; for numbered frames, give their folder (--video FOLDER{rate})"
                   if "%" in video.name else "")
        raise MerError(f"{video}: no such video file{pattern}")
    if video.suffix.lower() in FRAME_SUFFIXES:
        raise MerError(f"{shown}: named as an image ({video.suffix}), not a video: give a "
                       "video file, or the folder of a video's numbered frames"
                       f"{f' (with {rate_option})' if rate_option else ''}; two images are "
                       "`mer predict --pair ONSET APEX`")
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise MerError(f"{shown}: OpenCV cannot open it as a video (corrupt or unsupported)")
    fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    declared = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)

    def frames() -> Iterator[np.ndarray]:
        decoded = 0
        try:
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                decoded += 1
                yield frame
        finally:
            capture.release()
        check_decoded(shown, decoded, declared)
    return fps, frames()


def frame_numbers(video: str | Path) -> list[int] | None:
    """The frames' own numbers, by position, of a folder ``video_frames`` reads as a video
    (img1.jpg -> 1), with a warning naming gaps in the numbering; None for a video file,
    whose frames are counted from 0."""
    video = Path(video)
    if not video.is_dir():
        return None
    numbers = list(frame_files(video))
    warn_of_gaps(numbers, video, "the video's frames", "onset, apex and offset are still "
                 "the frames' own numbers")
    return numbers


def check_decoded(video: str | Path, decoded: int, declared: int) -> None:
    """A MerError when decoding stopped well short of the frame count the file declares (a
    truncated or damaged file): read silently, the rest of the video would be missing from
    the answer. The count of some containers is an estimate, so a few frames short pass."""
    if declared > 0 and declared - decoded > max(MISSING_FRAMES_OK, MISSING_SHARE_OK * declared):
        raise MerError(f"{video}: decoding stopped after {decoded} of the {declared} frames the "
                       "file declares: it is truncated or damaged. Re-encode what can be read "
                       "(e.g. ffmpeg -i broken.mp4 fixed.mp4) to use that part, or use an "
                       "intact copy")


def from_video(video: str | Path, start: int | None = None, end: int | None = None,
               apex: int | None = None) -> FrameWindow:
    """Frames start..end (inclusive) of a video, in its own numbering: a video file's frames
    count from 0; a folder of numbered frames is read as from_clip_folder reads a clip, by the
    numbers in their names (img52.jpg is 52, as `--clip` and `mer spot` number them; h59: a
    folder's frames were counted from 0, so --apex 52 was img75.jpg). The apex is estimated
    unless given. MerError for a window or apex outside the video."""
    video = Path(video)
    if video.is_dir():  # the window of a folder of frames is a clip: --clip's rules
        return from_clip_folder(video, start, apex, end, options=("start", "end"))
    start = 0 if start is None else start
    if start < 0:  # a break-it session: 'window -5..None' when no end was given
        raise MerError(f"{video}: the window starts at frame {start}, before the video's first "
                       "frame, 0 (0-based frame numbers)")
    if end is not None and not start < end:
        raise MerError(f"{video}: window {start}..{end} must satisfy start < end (0-based "
                       "frame numbers of the video)")
    _, stream = video_frames(video)
    frames = []  # only the window is kept
    decoded = 0
    with closing(stream):
        for frame in stream:
            if decoded >= start:
                frames.append(frame)
            decoded += 1
            if end is not None and decoded > end:
                break
    if decoded < 2:
        raise MerError(f"{video}: decoded {decoded} frame(s); a micro-expression needs at "
                       "least two")
    end = decoded - 1 if end is None else end
    if not 0 <= start < end < decoded:
        raise MerError(f"{video}: window {start}..{end} must satisfy 0 <= start < end <= "
                       f"{decoded - 1} (its last frame)")
    try:  # in the video's frame numbers, as the user gave them
        apex_index = apex_to_use(start, apex, end)
    except ApexOutsideClip as exc:
        raise MerError(f"{video} frames {start}..{end}: {exc}") from None
    return FrameWindow(tuple(frames), None if apex_index is None else apex_index - start,
                       f"{video} frames {start}..{end}", tuple(range(start, end + 1)))
