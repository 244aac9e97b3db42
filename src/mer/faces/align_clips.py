"""The faces of every clip of a manifest: one onset alignment each, clips without a face reported.

Only the onset, apex (or middle) and offset frames are decoded here, once each, by the shared
frame reader (``read_frames``: a damaged frame or one of another size stops the stage naming
the file and sheet row): the alignment comes from the onset and the other two are the frames
``align_clip`` checks the face on.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from mer.config import FaceParams
from mer.core.frames import ClipFrames, clip_frames, read_frames, uses_flow_images
from mer.core.workers import parallel_map
from mer.faces.align import FaceLostError, NoFaceError, align_clip
from mer.faces.landmarks import LANDMARKS


@dataclass(frozen=True)
class FaceResult:
    clip_id: str
    transform: np.ndarray | None  # (2, 3) float32, None when skipped
    landmarks: np.ndarray | None  # (68, 2) float32 onset landmarks in crop px
    skipped: str | None  # why the clip has no face
    flags: tuple[str, ...]  # kept, but worth a look


def locate_clip(clip: ClipFrames, params: FaceParams) -> FaceResult:
    """Align one clip from its onset; a missing or lost face is a skip, not an error."""
    last = len(clip.paths) - 1
    check = clip.apex_index if clip.apex_index is not None else last // 2
    indices = sorted({0, check, last})
    frames = read_frames(clip, indices)
    try:
        aligned = align_clip(frames, params, apex_index=indices.index(check),
                             frame_numbers=[clip.onset + i for i in indices])
    except (NoFaceError, FaceLostError) as exc:
        return FaceResult(clip.clip_id, None, None, str(exc), ())
    return FaceResult(clip.clip_id, aligned.transform, aligned.landmarks, None, aligned.flags)


def empty_faces(size: int) -> dict[str, np.ndarray]:
    """A valid faces.npz with no clips."""
    return {"clip_id": np.array([], dtype=str), "transform": np.zeros((0, 2, 3), np.float32),
            "landmarks": np.zeros((0, LANDMARKS, 2), np.float32), "size": np.array(size)}


def locate_faces(manifest: Any, params: FaceParams) -> tuple[dict[str, np.ndarray],
                                                             dict[str, Any]]:
    """faces.npz arrays (rows sorted by clip_id) and the report of one manifest's clips."""
    if uses_flow_images(manifest):
        return empty_faces(params.size), {
            "clips": len(manifest), "faces": 0,
            "skipped_stage": "data.source is flow-images: the images are already aligned "
                             "crops, so no face is detected"}
    clips = sorted((clip_frames(row) for row in manifest.to_dict("records")),
                   key=lambda c: c.clip_id)
    results = parallel_map(partial(locate_clip, params=params), clips, params.workers, "faces",
                           "faces.workers")
    found = [r for r in results if r.skipped is None]
    arrays = empty_faces(params.size)
    if found:
        arrays |= {"clip_id": np.array([r.clip_id for r in found], dtype=str),
                   "transform": np.stack([r.transform for r in found]).astype(np.float32),
                   "landmarks": np.stack([r.landmarks for r in found]).astype(np.float32)}
    report = {
        "clips": len(clips),
        "faces": len(found),
        "skipped": [{"clip_id": r.clip_id, "reason": r.skipped} for r in results if r.skipped],
        "flagged": [{"clip_id": r.clip_id, "flags": list(r.flags)} for r in found if r.flags],
    }
    return arrays, report
