"""A manifest row's frames: which files, where the apex is, and decoding them.

Decoding is mer.data.frames' one frame reader (``read_frame``, ``read_clip_frames``): the
data stage checked every frame with it, and the faces and features stages read frames
through it again, each frame decoded once per read and checked in the same pass (a
complete file, the size of the clip's other frames), so a frame damaged after `mer data`
ran stops the stage with the file, the clip and its sheet row instead of corrupting flow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mer.data.frames import read_clip_frames, read_frame
from mer.data.manifest import MISSING_APEX
from mer.errors import DatasetError

__all__ = ["ClipFrames", "clip_frames", "read_frame", "read_frames", "uses_flow_images"]

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
    if apex == MISSING_APEX:
        return ClipFrames(clip_id, paths, onset, None, where)
    if not onset < apex <= offset:
        raise DatasetError(f"{clip_id} ({where}): column apex = {apex} lies outside the clip "
                           f"(onset {onset}, offset {offset}); fix the ApexFrame cell, or leave it "
                           "empty to have the apex estimated")
    return ClipFrames(clip_id, paths, onset, apex - onset, where)


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
                           f"(e.g. {manifest['clip_id'][has_image].iloc[0]}); use one data.source")
    return False
