"""A clip's frames on disk: find them, check them, and repair what the disk proves wrong.

Every frame-based corpus numbers its frame files by the sheet's frame numbers, with some
prefix and padding (CASME II ``img46.jpg`` / ``reg_img46.jpg``, SAMM ``006_05562.jpg``,
SMIC ``image0100344.bmp``): the number is the last run of digits in the file name, so stray
spaces (``img 46 .jpg``, ``img46 .jpg``) do not matter. Checks, for every clip: onset <=
apex <= offset, every frame onset..offset exists, and every one of them decodes completely
and has the size of the clip's onset frame (the features stage reads every frame, so a
damaged one anywhere in the clip would corrupt its flow).

Three rules here are shared with the faces and features stages, ``mer predict`` and served
requests, so a clip means the same everywhere: the frame listing (``frame_files``: which
files are frames, and their numbers), the apex rule (``apex_to_use``: onset <= apex <=
offset, an apex equal to the onset meaning "no onset->apex motion: estimate it"), and the
frame reader (``read_frame``/``decode_frame``/``read_clip_frames``: one decode per read, a
complete file or a FrameError naming it; frames of one clip of one size).

Why the reader checks more than OpenCV does: ``cv2.imread`` returns a truncated JPEG as a
whole image, its missing part grey ("Premature end of JPEG file" on stderr, no error), so a
frame cut short by an interrupted copy flows 10-20x too large. The reader reads the file's
bytes once, refuses a JPEG without its end-of-image marker after the scan data, a PNG
without IEND, a BMP shorter than its header says, then decodes those same bytes with
``cv2.imdecode`` (identical pixels to ``cv2.imread``, EXIF orientation included).

Repairs, each flagged and described in the clip's notes:

- an offset before the onset (a typo): the sheet's Duration (offset - onset + 1) when it
  has one, else the clip folder's frames when they prove a digit slip, else the row is
  skipped and reported (``repair_reversed_offset``, called by the adapters);
- an offset before the apex that the folder proves a digit slip (``repair_offset``);
- an apex outside its clip (before the onset or after the offset): treated as missing and
  estimated from motion, flag apex_repaired (``check_order``).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

from mer.data.clips import (
    APEX_AT_ONSET,
    APEX_REPAIRED,
    OFFSET_REPAIRED,
    Clip,
    Skipped,
    missing_apex,
)
from mer.data.manifest import MISSING_APEX
from mer.errors import DatasetError, MerError

FRAME_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"})
_NUMBER = re.compile(r"(\d+)(?=\D*$)")  # the last run of digits in a file name's stem
# Folders listed in a 'not found' message: enough to spot the right one.
LISTED_FOLDERS = 12

# The one apex rule of mer (data stage, mer predict, served requests), in words.
APEX_RULE = ("onset <= apex <= offset, where an apex equal to the onset means no "
             "onset->apex motion, so the apex is estimated from motion")


class ApexOutsideClip(MerError):
    """An apex that breaks APEX_RULE: the data stage repairs it, prediction refuses it."""


def apex_to_use(onset: int, apex: int | None, offset: int) -> int | None:
    """The apex under APEX_RULE: ``apex`` when onset < apex <= offset, None (estimate it from
    motion) when absent or equal to the onset; ApexOutsideClip when outside onset..offset."""
    if apex is None:
        return None
    if not onset <= apex <= offset:
        side = "before the onset" if apex < onset else "after the offset"
        raise ApexOutsideClip(f"apex {apex} lies {side} (onset {onset}, offset {offset}): the "
                              f"apex must satisfy {APEX_RULE}")
    return None if apex == onset else apex


def frame_number_of(path: Path) -> int | None:
    """The frame number of an image file (the last run of digits in its stem); None for a
    file that is not a frame (hidden, another suffix, no number)."""
    if path.name.startswith(".") or path.suffix.lower().strip() not in FRAME_SUFFIXES:
        return None
    match = _NUMBER.search(path.stem)
    return int(match.group(1)) if match else None


def frame_files(folder: Path) -> dict[int, Path]:
    """Frame number -> file of every numbered image in ``folder``, by number (maybe none).

    Two files of one frame number are an error naming both.
    """
    frames: dict[int, Path] = {}
    for path in sorted(folder.iterdir()):
        number = frame_number_of(path)
        if number is None or not path.is_file():
            continue
        if number in frames:
            raise DatasetError(f"{folder}: {frames[number].name} and {path.name} are both frame "
                               f"{number}; keep one of them")
        frames[number] = path
    return dict(sorted(frames.items()))


def _absent(folder: Path) -> str:
    """Why ``folder`` is not there: the nearest folder above it that exists, and its folders."""
    missing, parent = folder, folder.parent
    while not parent.is_dir() and parent != parent.parent:
        missing, parent = parent, parent.parent
    if not parent.is_dir():
        return f"{parent} does not exist"
    names = sorted(p.name for p in parent.iterdir() if p.is_dir() and not p.name.startswith("."))
    shown = ", ".join(names[:LISTED_FOLDERS])
    if len(names) > LISTED_FOLDERS:
        shown += f", ... ({len(names)} in all)"
    return f"{parent} has no folder {missing.name} (it holds {shown or 'no folders'})"


def list_frames(folder: Path, where: str) -> dict[int, Path]:
    """Frame number -> file of every image in a clip folder."""
    if not folder.is_dir():
        raise DatasetError(f"{where}: clip folder {folder} not found: {_absent(folder)}; check "
                           "data.root and the row's subject and clip name")
    frames = frame_files(folder)
    if not frames:
        raise DatasetError(f"{where}: clip folder {folder} holds no numbered image frames "
                           f"({', '.join(sorted(FRAME_SUFFIXES))})")
    return frames


def expected_name(example: Path, number: int) -> str:
    """The file name frame ``number`` would have, by analogy with another frame of the clip."""
    match = _NUMBER.search(example.stem)
    assert match is not None  # list_frames keeps only names with a number
    digits = match.group(1)
    # Zero padding (SAMM's 05562) is kept; an unpadded name (img46) stays unpadded.
    text = str(number).zfill(len(digits)) if digits.startswith("0") else str(number)
    return example.stem[:match.start()] + text + example.stem[match.end():] + example.suffix


def is_digit_slip(typed: int, true: int) -> bool:
    """True when ``typed`` is ``true`` with one digit dropped, added, changed or two swapped."""
    a, b = str(typed), str(true)
    if a == b:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        swapped = len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] \
            and a[diff[1]] == b[diff[0]]
        return len(diff) == 1 or swapped
    short, long = sorted((a, b), key=len)
    return len(long) - len(short) == 1 and any(long[:i] + long[i + 1:] == short
                                               for i in range(len(long)))


def _describe(numbers: Sequence[int]) -> str:
    """'46..61, 63..86' for a sorted list of frame numbers."""
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ", ".join(f"{a}..{b}" if a != b else str(a) for a, b in runs)


def repair_offset(clip: Clip, frames: dict[int, Path]) -> Clip:
    """Repair an offset typo (CASME II's sheet has one), when the frames on disk prove it.

    The offset is taken as a typo when it lies before the onset or the apex. It is replaced
    only when the folder's frames run without a gap from the onset to a last frame that
    lies after the apex and that the typed value is one digit slip away from (a digit
    dropped, added, changed or two swapped): then the folder's end is the offset the
    annotator meant. Anything else is left for check_order to report.
    """
    latest = max(clip.onset, clip.apex)
    if clip.offset >= latest:
        return clip
    last = max(frames)
    runs_to_end = all(n in frames for n in range(clip.onset, last + 1))
    if last <= latest or not runs_to_end or not is_digit_slip(clip.offset, last):
        return clip
    note = (f"offset {clip.offset} -> {last}: the sheet's offset lies before the "
            f"{'apex' if clip.apex > clip.onset else 'onset'}, and the clip folder's frames "
            f"run {clip.onset}..{last}")
    return replace(clip, offset=last).flagged(OFFSET_REPAIRED, note)


def repair_reversed_offset(clip: Clip, duration: int | None) -> Clip | Skipped:
    """A clip whose sheet offset lies before its onset, repaired, or the row skipped.

    In order: the sheet's ``duration`` (SAMM's Duration column, offset - onset + 1) when it
    gives a clip of two frames or more (the annotators' own length of the clip); else the
    clip folder's frames when they prove a digit slip (``repair_offset``); else the row is
    skipped with its reason (no value of the row says where the clip ends). Adapters call it
    on every row; other clips pass unchanged.
    """
    if clip.offset >= clip.onset:
        return clip
    if duration is not None and duration >= 2:
        offset = clip.onset + duration - 1
        return replace(clip, offset=offset).flagged(
            OFFSET_REPAIRED, f"offset {clip.offset} -> {offset}: the sheet's offset lies before "
            f"the onset {clip.onset}; its Duration {duration} (offset - onset + 1) gives the "
            "offset")
    try:
        frames = frame_files(clip.folder) if clip.folder is not None and clip.folder.is_dir() \
            else {}
    except MerError:  # two files of one frame: the frame check reports it if the clip is kept
        frames = {}
    if frames:
        repaired = repair_offset(clip, frames)
        if repaired.offset > clip.onset:
            return repaired
    evidence = ("a Duration of 2 frames or more" if duration is None
                else f"a Duration of 2 frames or more (it holds {duration})")
    return Skipped(clip.clip_id, clip.source, clip.where,
                   f"{clip.where}: the offset {clip.offset} lies before the onset {clip.onset}, "
                   f"and neither {evidence} nor the clip folder's frames (a digit slip of its "
                   "last frame) give the true offset; correct the offset cell to include the "
                   "clip")


def check_order(clip: Clip) -> Clip:
    """onset < offset and the apex under APEX_RULE, or a DatasetError naming the row.

    An apex equal to the onset (no motion onset -> apex) is treated as missing: the
    features stage estimates it, and the flags say so. An apex outside the clip (a typo:
    SAMM's sheet has an apex ~3000 frames before its onset) is treated as missing the same
    way, flag apex_repaired with the sheet's value in the note.
    """
    if clip.offset <= clip.onset:
        frames = f"onset {clip.onset}, apex {clip.apex}, offset {clip.offset}"
        raise DatasetError(f"{clip.where}: the offset frame is not after the onset ({frames}); "
                           "a clip needs at least two frames: correct the frame numbers")
    if clip.apex == MISSING_APEX:
        return clip
    try:
        apex = apex_to_use(clip.onset, clip.apex, clip.offset)
    except ApexOutsideClip:
        side = "before the onset" if clip.apex < clip.onset else "after the offset"
        return missing_apex(clip).flagged(
            APEX_REPAIRED, f"the sheet's apex {clip.apex} lies {side} (onset {clip.onset}, "
            f"offset {clip.offset}): set aside, the apex is estimated from motion instead")
    if apex is None:
        return missing_apex(clip).flagged(APEX_AT_ONSET, f"apex {clip.apex} equals the onset: "
                                          "estimated from flow instead")
    return clip


class FrameError(DatasetError):
    """A frame file that is missing, empty, cut short, not an image, or of another size than
    the other frames of its clip: the message names the file and where it came from."""


RESTORE = "restore it from the corpus"
# Threads decoding one clip's frames in the data stage's check (cv2.imdecode releases the
# GIL); the check's result does not depend on it.
CHECK_THREADS = min(4, os.cpu_count() or 1)

_JPEG, _PNG, _BMP = b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM"
_TIFF = (b"II*\x00", b"MM\x00*")
_PNG_END = b"IEND\xaeB`\x82"
_EOI = b"\xff\xd9"  # JPEG end of image
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # JPEG markers without a length


def _jpeg_scan_start(data: bytes) -> int | None:
    """Offset of the first start-of-scan marker of a JPEG, walking its header segments (an
    EXIF thumbnail's own markers are skipped over); None when the header ends first."""
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:  # junk between segments (libjpeg skips it): look further on
            found = data.find(b"\xff\xda", pos)
            return None if found < 0 else found
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
        elif marker == 0xDA:
            return pos
        elif marker in _STANDALONE:
            pos += 2
        else:
            pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
    return None


def _cut_short(data: bytes) -> str | None:
    """Why ``data`` (a whole image file) stops before its format's end, None when it does not.

    Needed because libjpeg, under cv2.imread, decodes a truncated JPEG to a whole image with
    its missing part grey and only a warning on stderr. Inside a JPEG's entropy-coded data an
    0xFF byte is always followed by 0x00 or a restart marker, so the end-of-image marker
    FF D9 found after the first scan starts is the real end (bytes after it are tolerated).
    """
    if data.startswith(_JPEG):
        scan = _jpeg_scan_start(data)
        if scan is None:
            return "its JPEG header ends before the image data starts"
        if data.rfind(_EOI) < scan:
            return "its JPEG image data stops before the end-of-image marker (FF D9)"
    elif data.startswith(_PNG):
        if data.rfind(_PNG_END) < 0:
            return "the PNG stops before its IEND chunk"
    elif data.startswith(_BMP) and len(data) >= 6:
        declared = int.from_bytes(data[2:6], "little")
        if declared > len(data):
            return f"its BMP header declares {declared} bytes"
    return None


def _prefix(where: str | None) -> str:
    return f"{where}: " if where else ""


def decode_frame(data: bytes, name: str, where: str | None = None,
                 advice: str = RESTORE) -> np.ndarray:
    """(H, W, 3) uint8 BGR image of one whole image file's bytes, or a FrameError.

    The one frame decoder of mer: the data stage's check, the faces and features stages,
    ``mer predict`` and served requests. Refused: no bytes, a file cut short (``_cut_short``),
    anything cv2.imdecode cannot decode. Decoded in colour, exactly as cv2.imread does
    (EXIF orientation included; measured pixel-identical), and converted to grey later where
    needed: OpenCV's direct greyscale JPEG decode differs by up to a dozen grey levels.
    Greyscale frames come out as three equal channels. The message reads '<where>: frame
    <name> <problem>; <advice>'.
    """
    import cv2

    if not data:
        raise FrameError(f"{_prefix(where)}frame {name} is an empty file (0 bytes); {advice}")
    short = _cut_short(data)
    if short is not None:
        raise FrameError(f"{_prefix(where)}frame {name} is truncated: {short} ({len(data)} "
                         f"bytes; an interrupted copy or download?); {advice}")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        known = data.startswith((_JPEG, _PNG, _BMP, *_TIFF))
        why = "corrupt" if known else (f"not a JPEG, PNG, BMP or TIFF file: it starts with "
                                       f"{data[:8]!r}")
        raise FrameError(f"{_prefix(where)}frame {name} does not decode as an image ({why}); "
                         f"{advice}")
    return image


def read_frame(path: str | Path, where: str | None = None, advice: str = RESTORE
               ) -> np.ndarray:
    """(H, W, 3) uint8 BGR frame of an image file, read once and checked by ``decode_frame``,
    or a FrameError naming the file (and ``where``: the clip and sheet row)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FrameError(f"{_prefix(where)}frame {path} not found; {advice}") from None
    except OSError as exc:
        raise FrameError(f"{_prefix(where)}frame {path} cannot be read "
                         f"({exc.strerror or exc}); {advice}") from None
    return decode_frame(data, str(path), where, advice)


def check_same_size(sizes: Sequence[tuple[int, ...]], names: Sequence[str],
                    where: str | None = None, advice: str = RESTORE) -> None:
    """A FrameError naming the first frame whose (height, width) is not the clip's usual one
    (the most common; on a tie, the first frame's), so a damaged onset is named itself."""
    counts = Counter(tuple(size[:2]) for size in sizes)
    if len(counts) <= 1:
        return
    usual = max(counts, key=lambda size: counts[size])  # the first of the most common
    odd = next(i for i, size in enumerate(sizes) if tuple(size[:2]) != usual)
    other = next(i for i, size in enumerate(sizes) if tuple(size[:2]) == usual)
    height, width = sizes[odd][:2]
    more = counts[usual] - 1
    raise FrameError(
        f"{_prefix(where)}frames differ in size: frame {names[odd]} is {width}x{height} px, "
        f"while frame {names[other]}{f' and {more} more' if more else ''} "
        f"{'are' if more else 'is'} {usual[1]}x{usual[0]} px (every frame of a clip must have "
        f"one size: one from another clip or camera?); {advice}")


def read_clip_frames(paths: Sequence[str | Path], where: str | None = None,
                     advice: str = RESTORE) -> list[np.ndarray]:
    """Frames of one clip, each read and decoded once by ``read_frame``, all of one size."""
    frames = [read_frame(p, where, advice) for p in paths]
    if frames:
        check_same_size([f.shape for f in frames], [str(p) for p in paths], where, advice)
    return frames


def check_clip_frames(paths: Sequence[Path], where: str) -> None:
    """The data stage's frame check: every frame decodes whole (``read_frame``) and has the
    first frame's size, or a FrameError naming the first bad one and ``where`` (the sheet row).

    Each frame is decoded once, on CHECK_THREADS threads, and dropped: only sizes are kept.
    """
    def size(path: Path) -> tuple[int, ...]:
        return read_frame(path, where).shape[:2]

    with ThreadPoolExecutor(CHECK_THREADS) as pool:
        sizes = list(pool.map(size, paths))  # raises the first failure in clip order
    check_same_size(sizes, [str(p) for p in paths], where)

def resolve_frames(clip: Clip) -> Clip:
    """The clip with its checked frame paths onset..offset (and any repair flagged)."""
    assert clip.folder is not None, "flow-image clips have no frames"
    frames = list_frames(clip.folder, clip.where)
    clip = check_order(repair_offset(clip, frames))
    wanted = range(clip.onset, clip.offset + 1)
    missing = [n for n in wanted if n not in frames]
    if missing:
        example = expected_name(next(iter(frames.values())), missing[0])
        raise DatasetError(f"{clip.where}: frame {missing[0]} ({example}) of {clip.clip_id} is "
                           f"missing from {clip.folder}, which holds frames "
                           f"{_describe(list(frames))} ({len(missing)} of the clip's "
                           f"{len(wanted)} frames {clip.onset}..{clip.offset} missing); "
                           "restore them or correct the onset/offset")
    paths = [frames[n] for n in wanted]
    check_clip_frames(paths, clip.where)
    return replace(clip, frame_paths=tuple(p.as_posix() for p in paths))
