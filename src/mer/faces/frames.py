"""A manifest row's frames: which files, where the apex is, and decoding them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mer.data.manifest import MISSING_APEX
from mer.errors import DatasetError, MerError


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


def read_frame(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 BGR frame, or a MerError naming the file.

    Decoded in colour then converted to grey where needed, exactly as ``mer predict`` does:
    OpenCV's direct greyscale JPEG decode differs by up to a dozen grey levels.
    """
    import cv2

    path = Path(path)
    if not path.is_file():
        raise MerError(f"{path}: frame file not found; check the path (in a dataset: restore the "
                       "file or rebuild the manifest)")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise MerError(f"{path}: frame does not decode (corrupt or not an image); replace it")
    return image


def read_frames(paths: tuple[str, ...] | list[str]) -> list[np.ndarray]:
    return [read_frame(p) for p in paths]


def uses_flow_images(manifest: Any) -> bool:
    """True for a manifest of precomputed flow images (no frames), False for one of frames."""
    has_image = manifest["flow_image"].astype(str) != ""
    if has_image.all():
        return True
    if has_image.any():
        raise DatasetError("the manifest mixes clips with frames and clips with flow images "
                           f"(e.g. {manifest['clip_id'][has_image].iloc[0]}); use one data.source")
    return False
