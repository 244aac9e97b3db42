"""A clip's frames on disk, checked, and the sheet values the disk proves wrong, repaired.

Every adapter's clips pass through ``resolve_frames``: onset <= apex <= offset (mer's one apex
rule, mer.core.frames.apex_to_use), every frame onset..offset exists, and every one of them
decodes completely and has the size of the clip's onset frame (the features stage reads every
frame, so a damaged one anywhere in the clip would corrupt its flow). The frame listing and
reader themselves are mer.core.frames, shared with the later stages and ``mer predict``.

Repairs, each flagged and described in the clip's notes (the corpus adapters' docstrings say
which corpus needs which):

- an offset before the onset (a typo; SAMM): the sheet's Duration (offset - onset + 1) when
  it has one, else the clip folder's frames when they prove a digit slip, else the row is
  skipped and reported (``repair_reversed_offset``, called by the adapters);
- an offset before the apex that the folder proves a digit slip (CASME II; ``repair_offset``);
- an apex outside its clip (before the onset or after the offset; SAMM): treated as missing
  and estimated from motion, flag apex_repaired (``check_order``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from mer.core.frames import (
    FRAME_NUMBER,
    FRAME_SUFFIXES,
    NO_FRAME,
    ApexOutsideClip,
    apex_to_use,
    check_clip_frames,
    frame_files,
    subfolders,
)
from mer.data.clips import (
    APEX_AT_ONSET,
    APEX_REPAIRED,
    OFFSET_REPAIRED,
    Clip,
    Skipped,
    missing_apex,
)
from mer.errors import DatasetError, MerError

# Folders listed in a 'not found' message: enough to spot the right one.
LISTED_FOLDERS = 12


def _absent(folder: Path) -> str:
    """Why ``folder`` is not there: the nearest folder above it that exists, and its folders."""
    missing, parent = folder, folder.parent
    while not parent.is_dir() and parent != parent.parent:
        missing, parent = parent, parent.parent
    if not parent.is_dir():
        return f"{parent} does not exist"
    if missing.is_symlink():  # (h64: "has no folder X", where `ls` shows X)
        try:
            target = missing.readlink()
        except OSError as exc:
            target = f"a target it cannot read: {exc.strerror}"
        return (f"{missing} is a link to {target}, which is not a folder here (a dangling "
                "link); put the folder itself there")
    names = [p.name for p in subfolders(parent)]
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
                           f"({', '.join(sorted(FRAME_SUFFIXES))}); restore its frames, or "
                           "delete the folder (and its annotation row, if it has one)")
    return frames


def expected_name(example: Path, number: int) -> str:
    """The file name frame ``number`` would have, by analogy with another frame of the clip."""
    match = FRAME_NUMBER.search(example.stem)
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


APEX_SET_ASIDE = ": set aside, the apex is estimated from motion instead"  # ends its note


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
    if clip.apex == NO_FRAME:
        return clip
    try:
        apex = apex_to_use(clip.onset, clip.apex, clip.offset)
    except ApexOutsideClip:
        side = "before the onset" if clip.apex < clip.onset else "after the offset"
        return missing_apex(clip).flagged(
            APEX_REPAIRED, f"the sheet's apex {clip.apex} lies {side} (onset {clip.onset}, "
            f"offset {clip.offset}){APEX_SET_ASIDE}")
    if apex is None:
        return missing_apex(clip).flagged(APEX_AT_ONSET, f"apex {clip.apex} equals the onset: "
                                          "estimated from flow instead")
    return clip


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
