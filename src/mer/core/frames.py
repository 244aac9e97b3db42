"""Frames as every stage reads them: which files are frames, the apex rule, and decoding.

The ground floor under the data, faces and features stages, ``mer predict`` and served
requests, so a clip means the same everywhere:

- the frame listing (``frame_files``): every frame-based corpus numbers its frame files by the
  sheet's frame numbers, with some prefix and padding (CASME II ``img46.jpg`` /
  ``reg_img46.jpg``, SAMM ``006_05562.jpg``, SMIC ``image0100344.bmp``): the number is the
  last run of digits in the file name, so stray spaces (``img 46 .jpg``) do not matter;
- the apex rule (``apex_to_use``): onset <= apex <= offset, an apex equal to the onset meaning
  "no onset->apex motion: estimate it"; ``NO_FRAME`` (-1) is the one value that says a frame
  number is not given (an apex to estimate, a flow image's onset, apex and offset);
- the frame reader (``read_frame``/``decode_frame``/``read_clip_frames``): one decode per
  read, a complete file or a FrameError naming it; frames of one clip of one size;
- a manifest row's frames (``clip_frames``, ``read_frames``) for the faces and features stages.

Why the reader checks more than OpenCV does: ``cv2.imread`` returns a truncated JPEG as a
whole image, its missing part grey ("Premature end of JPEG file" on stderr, no error), so a
frame cut short by an interrupted copy flows 10-20x too large. The reader reads the file's
bytes once, refuses a JPEG without its end-of-image marker after the scan data, a PNG
without IEND, a BMP shorter than its header says, then decodes those same bytes with
``cv2.imdecode`` (identical pixels to ``cv2.imread``, EXIF orientation included).
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mer.errors import DatasetError, MerError

NO_FRAME = -1  # a frame number the annotation does not give: an apex to estimate, a flow image
FRAME_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"})
FRAME_NUMBER = re.compile(r"(\d+)(?=\D*$)")  # the last run of digits in a file name's stem

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


def is_image(path: Path) -> bool:
    """True for an image file's name: a FRAME_SUFFIXES suffix, not hidden (macOS's ._ files)."""
    return not path.name.startswith(".") and path.suffix.lower().strip() in FRAME_SUFFIXES


def frame_number_of(path: Path) -> int | None:
    """The frame number of an image file (the last run of digits in its stem); None for a
    file that is not a frame (hidden, another suffix, no number)."""
    if not is_image(path):
        return None
    match = FRAME_NUMBER.search(path.stem)
    return int(match.group(1)) if match else None


def on_disk(path: Path) -> Path:
    """``path`` as it is written on disk: itself when it exists, else the existing path whose
    names differ from its names only in Unicode normalisation, else ``path`` unchanged.

    A list or sheet typed on Windows or Linux writes 'données' composed (NFC); a folder
    copied from a Mac keeps it decomposed (NFD, 'e' + a combining accent). The two look the
    same in every message, yet name different files here (a break-it session: 'flow image
    fi/données/x.png not found' beside an `ls` that shows it). For many paths, use one
    DiskNames: it lists each folder once."""
    return DiskNames().find(path)


class DiskNames:
    """on_disk for many paths: each folder searched for a name in another Unicode
    normalisation is listed once, not once per name (a break-it session: 3000 images of one
    folder listed NFC and stored NFD took 6.1 s to read, against 1.4 s stored NFC). Keep
    one for one batch of lookups (a list, a sheet): a name added to a folder after its
    listing is not seen."""

    def __init__(self) -> None:
        self._listings: dict[Path, dict[str, Path]] = {}  # folder -> NFC name -> entry

    def find(self, path: Path) -> Path:
        """``path`` as it is written on disk (on_disk)."""
        if path.exists() or path.parent == path:
            return path
        parent = self.find(path.parent)
        name = unicodedata.normalize("NFC", path.name)
        if not (parent / path.name).exists() and not name.isascii() and parent.is_dir():
            entry = self._listing(parent).get(name)
            if entry is not None and not entry.exists():  # renamed since it was listed
                self._listings.pop(parent)
                entry = self._listing(parent).get(name)
            if entry is not None:
                return entry
        return parent / path.name

    def _listing(self, folder: Path) -> dict[str, Path]:
        if folder not in self._listings:
            self._listings[folder] = {unicodedata.normalize("NFC", entry.name): entry
                                      for entry in folder.iterdir()}
        return self._listings[folder]


# What an archive made on a Mac adds beside its folders: the files' resource forks, no data.
MAC_ARCHIVE_FOLDER = "__MACOSX"


def subfolders(folder: Path) -> list[Path]:
    """The folders in ``folder``, by name, but hidden ones (.ipynb_checkpoints, .Trash-1000,
    what Jupyter, desktops and sync tools leave in a corpus) and a Mac archive's __MACOSX,
    as frame_files passes over hidden files."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and p.name != MAC_ARCHIVE_FOLDER)


def name_form(path: Path) -> str:
    """A frame file's name as its folder's frames share it: the stem, lower-case, without
    spaces, with its frame number written '#' ('reg_img46.jpg' -> 'reg_img#'; a copy,
    'image0640110 (1).bmp' -> 'image0640110(#)')."""
    stem = "".join(path.stem.lower().split())  # 'img 47' is 'img47' (a break-it session)
    match = FRAME_NUMBER.search(stem)
    return stem if match is None else f"{stem[:match.start()]}#{stem[match.end():]}"


def frame_files(folder: Path) -> dict[int, Path]:
    """Frame number -> file of every numbered image in ``folder``, by number (maybe none).

    A numbered image named unlike most of the others (name_form: 'image0640110 (1).bmp'
    beside 'image0640111.bmp', a copy a file manager or a sync client leaves) is an error
    naming it: its number is not a frame's (a break-it session: '(1)' was read as frame 1,
    then blamed on a made-up file). Two files of one frame number are an error naming both.
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
    form_of = {path: name_form(path) for path in frames.values()}
    forms = Counter(form_of.values())
    if len(forms) > 1:
        (usual, count), = forms.most_common(1)
        strays = sorted(path.name for path, form in form_of.items() if form != usual)
        example = next(path.name for path, form in form_of.items() if form == usual)
        one = len(strays) == 1
        shown = ", ".join(strays[:5]) + ("" if len(strays) <= 5 else
                                         f" and {len(strays) - 5} more")
        raise DatasetError(f"{folder}: {shown} {'is' if one else 'are'} named unlike its other "
                           f"{count} frame(s) (such as {example}), so {'its' if one else 'their'} "
                           "number is not a frame's: a copy a file manager or a sync client "
                           f"left? Delete or move {'it' if one else 'them'} out of the folder")
    return dict(sorted(frames.items()))



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
    Greyscale frames come out as three equal channels; a 16-bit frame is converted as OpenCV
    converts it (its top 8 bits), and refused when that leaves it black (``_check_deep_range``:
    12-bit values stored in 16 bits), as is a floating-point one. The message reads '<where>: frame
    <name> <problem>; <advice>'.
    """
    import cv2

    if not data:
        raise FrameError(f"{_prefix(where)}frame {name} is an empty file (0 bytes); {advice}")
    short = _cut_short(data)
    if short is not None:
        raise FrameError(f"{_prefix(where)}frame {name} is truncated: {short} ({len(data)} "
                         f"bytes; an interrupted copy or download?); {advice}")
    buffer = np.frombuffer(data, np.uint8)
    image = cv2.imdecode(buffer, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)  # 8-bit: as COLOR
    if image is not None and image.size and image.dtype != np.uint8:
        _check_deep_range(image, name, where, advice)
        image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)  # OpenCV's own 16 -> 8 bit conversion
    if image is None or image.size == 0:
        known = data.startswith((_JPEG, _PNG, _BMP, *_TIFF))
        why = "corrupt" if known else (f"not a JPEG, PNG, BMP or TIFF file: it starts with "
                                       f"{data[:8]!r}")
        raise FrameError(f"{_prefix(where)}frame {name} does not decode as an image ({why}); "
                         f"{advice}")
    return image


# A 16-bit frame is read by its top 8 bits: below this it would be all but black (0-15 of 255)
DEEP_DARK = 1 << 12
# The share of a deep frame's values that must lie below DEEP_DARK for it to be refused: a
# 12-bit sensor's few hot pixels (saturated, 65535) do not make its frame bright.
DEEP_DARK_SHARE = 99.9


def _check_deep_range(image: np.ndarray, name: str, where: str | None, advice: str) -> None:
    """A FrameError for a frame of more than 8 bits that OpenCV cannot make an 8-bit one of:
    a floating-point image (its values have no one 8-bit meaning, and OpenCV's own decode
    fails on them), or one whose values all lie below DEEP_DARK but for a few hot pixels (at
    least DEEP_DARK_SHARE per cent of them): a 10- or 12-bit camera's values stored in 16
    bits, which read by their top 8 bits are a black frame whose face no detector finds (the
    error blamed the face)."""
    if not np.issubdtype(image.dtype, np.integer):
        raise FrameError(
            f"{_prefix(where)}frame {name} is a {image.dtype.itemsize * 8}-bit floating-point "
            f"image (values {float(image.min()):.4g} to {float(image.max()):.4g}), which has no "
            "one 8-bit reading; save the frames as 8- or 16-bit integer images; " + advice)
    brightest = int(image.max())
    if brightest < DEEP_DARK:
        typical, values = brightest, f"brightest value is {brightest}"
    else:
        typical = int(np.percentile(image, DEEP_DARK_SHARE))
        if typical >= DEEP_DARK:
            return
        hot = int(np.count_nonzero(image.max(axis=-1) > typical if image.ndim == 3
                                   else image > typical))
        values = (f"values lie at or below {typical} but for {hot} pixel(s) up to {brightest} "
                  "(hot pixels?)")
    full = np.iinfo(image.dtype).max
    raise FrameError(
        f"{_prefix(where)}frame {name} is a {image.dtype.itemsize * 8}-bit image whose "
        f"{values} of {full}: read by its top 8 bits, as mer and OpenCV read such frames, it "
        f"is black (0-{typical * 256 // (full + 1)} of 255). A 10- or 12-bit camera's values "
        "stored in 16 bits? Scale the frames to their full range, or to 8 bits, first; "
        f"{advice}")


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


def read_video_frames(paths: Iterable[str | Path], where: str | None = None
                      ) -> Iterator[np.ndarray]:
    """(H, W, 3) uint8 BGR frames of a video's image files in order, decoded one at a time (a
    long video never sits in memory whole) by ``read_frame``, each of the first frame's size:
    a FrameError names a frame of another size (one from another video or camera), and
    ``where`` (the video)."""
    first: tuple[str, tuple[int, ...]] | None = None
    for path in paths:
        frame = read_frame(path, where)
        if first is None:
            first = (str(path), frame.shape[:2])
        elif frame.shape[:2] != first[1]:
            check_same_size([first[1], frame.shape[:2]], [first[0], str(path)], where)
        yield frame


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


# What to do about a damaged frame found after the data stage, which checked every frame.
CHANGED_SINCE_DATA = ("`mer data` checked every frame, so the file changed since: restore it "
                      "from the corpus, or rerun `mer data` (data.on_bad_clip: skip leaves "
                      "the clip out)")


@dataclass(frozen=True)
class ClipFrames:
    clip_id: str
    paths: tuple[str, ...]  # frames onset..offset inclusive
    onset: int  # frame number of paths[0], as in the sheet
    apex_index: int | None  # index into paths; None = estimate from motion
    where: str  # the annotation row it came from ('file:row'), for messages


def clip_frames(row: dict[str, Any] | Any) -> ClipFrames:
    """Frames and apex of one manifest row (a dict or a pandas row), checked for consistency."""
    clip_id, where = str(row["clip_id"]), str(row["source"])
    onset, apex, offset = int(row["onset"]), int(row["apex"]), int(row["offset"])
    paths = tuple(str(p) for p in row["frame_paths"])
    if len(paths) != offset - onset + 1:
        raise DatasetError(f"{clip_id} ({where}): {len(paths)} frame paths for frames "
                           f"{onset}..{offset}; rebuild the manifest with `mer data`")
    if len(paths) < 2:
        raise DatasetError(f"{clip_id} ({where}): a clip needs at least two frames, has "
                           f"{len(paths)}; check its onset and offset")
    try:
        apex_frame = apex_to_use(onset, None if apex == NO_FRAME else apex, offset)
    except ApexOutsideClip as exc:
        raise DatasetError(f"{clip_id} ({where}): column apex = {apex}: {exc}; fix the "
                           "ApexFrame cell, or leave it empty to have the apex estimated") from None
    return ClipFrames(clip_id, paths, onset, None if apex_frame is None else apex_frame - onset,
                      where)


def read_frames(clip: ClipFrames, indices: Sequence[int] | None = None) -> list[np.ndarray]:
    """(H, W, 3) uint8 BGR frames ``indices`` (default: all) of a clip, each decoded once by
    the shared reader and of one size, or a FrameError naming the file, clip and sheet row."""
    chosen = range(len(clip.paths)) if indices is None else indices
    return read_clip_frames([clip.paths[i] for i in chosen], f"{clip.clip_id} ({clip.where})",
                            CHANGED_SINCE_DATA)


def uses_flow_images(manifest: Any) -> bool:
    """True for a manifest of precomputed flow images (no frames), False for one of frames."""
    has_image = manifest["flow_image"].astype(str) != ""
    if has_image.all():
        return True
    if has_image.any():
        raise DatasetError("the manifest mixes clips with frames and clips with flow images "
                           f"(e.g. {manifest['clip_id'][has_image].iloc[0]}); list only frame "
                           "corpora or only flow images in data.source / data.sources, then "
                           "rerun `mer data`")
    return False
