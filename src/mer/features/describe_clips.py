"""Features of every clip that has a face (or of every precomputed flow image).

Frames are aligned with the transform the faces stage stored, by the same ``warp_faces`` that
``align_clip`` uses, so a clip's features here equal those ``mer predict`` computes for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from mer.config import FeatureParams
from mer.core.flow_image import channel_order, read_flow_image
from mer.core.frames import ClipFrames, clip_frames, read_frames, uses_flow_images
from mer.core.workers import parallel_map
from mer.errors import DatasetError
from mer.faces.align import warp_faces
from mer.features.extract import ClipFeatures, describe_clip
from mer.features.flow_image_features import describe_flow_image


@dataclass(frozen=True)
class FrameTask:
    clip: ClipFrames
    transform: np.ndarray  # (2, 3) frame px -> crop px, from faces.npz
    landmarks: np.ndarray  # (68, 2) onset landmarks in crop px
    size: int  # crop side the transform maps to


@dataclass(frozen=True)
class ImageTask:
    clip_id: str
    path: str
    where: str  # manifest row's annotation source, for messages
    apex: int  # the manifest's apex frame number (-1 when absent)
    order: str  # how the file holds u, v, strain: rgb or bgr (the row's flow_channels_* flag)


def describe_frames(task: FrameTask, params: FeatureParams) -> ClipFeatures:
    # Every frame decoded once by the shared reader, checked whole and of one size.
    faces = warp_faces(read_frames(task.clip), task.transform, task.size)  # (K, S, S)
    return describe_clip(faces, task.landmarks, task.clip.apex_index, params)


def describe_image(task: ImageTask, params: FeatureParams) -> ClipFeatures:
    return describe_flow_image(
        read_flow_image(task.path, f"{task.clip_id}, {task.where}", task.order), params)


def _image_tasks(manifest: Any) -> list[ImageTask]:
    """One task per flow image, its channel order from the row's flags, sorted by clip_id."""
    tasks = []
    for row in manifest.to_dict("records"):
        clip_id, source = str(row["clip_id"]), str(row["source"])
        order = channel_order(list(row["flags"]), f"manifest row {clip_id} ({source})")
        tasks.append(ImageTask(clip_id, str(row["flow_image"]), source, int(row["apex"]),
                               order))
    return sorted(tasks, key=lambda t: t.clip_id)


def frame_tasks(manifest: Any, faces: dict[str, np.ndarray]) -> list[FrameTask]:
    """One task per clip with a face (faces.npz order); a faces.npz naming clips the manifest
    lacks is stale, an error."""
    rows = {str(r["clip_id"]): r for r in manifest.to_dict("records")}
    stale = [c for c in faces["clip_id"] if str(c) not in rows]
    if stale:
        raise DatasetError(f"faces.npz has clips the manifest lacks ({stale[:3]}): it is stale; "
                           "rerun `mer faces`")
    size = int(faces["size"])
    return [FrameTask(clip_frames(rows[str(c)]), t, lm, size)
            for c, t, lm in zip(faces["clip_id"], faces["transform"], faces["landmarks"],
                                strict=True)]


def _stack(clip_ids: list[str], described: list[ClipFeatures],
           apex_frames: list[int]) -> dict[str, np.ndarray]:
    if not described:
        raise DatasetError("no clip has a face, so there are no features: see the faces report")
    names = described[0].au_feature_names
    return {
        "clip_id": np.array(clip_ids, dtype=str),
        "flow": np.stack([d.flow for d in described]),  # (N, T, 3, I, I)
        "apex_image": np.stack([d.apex_image for d in described]),  # (N, 1, I, I)
        "au_features": np.stack([d.au_features for d in described]),  # (N, F)
        "au_feature_names": np.array(names, dtype=str),
        "apex_frame": np.array(apex_frames, dtype=np.int64),
        "apex_estimated": np.array([d.apex_estimated for d in described], dtype=bool),
    }


def extract_features(manifest: Any, faces: dict[str, np.ndarray],
                     params: FeatureParams) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """features.npz arrays (rows sorted by clip_id) and the stage report: what was made, never
    how long it took (the report is in git: a fresh clone's run must not change it)."""
    if uses_flow_images(manifest):
        tasks = _image_tasks(manifest)
        described = parallel_map(partial(describe_image, params=params), tasks,
                                  params.workers, "features", "features.workers")
        arrays = _stack([t.clip_id for t in tasks], described, [t.apex for t in tasks])
        flow = "precomputed flow images"
    else:
        clip_tasks = sorted(frame_tasks(manifest, faces), key=lambda t: t.clip.clip_id)
        described = parallel_map(partial(describe_frames, params=params), clip_tasks,
                                 params.workers, "features", "features.workers")
        arrays = _stack([t.clip.clip_id for t in clip_tasks], described,
                        [t.clip.onset + d.apex_index for t, d in zip(clip_tasks, described,
                                                                    strict=True)])
        flow = params.flow
    estimated = [str(c) for c, e in zip(arrays["clip_id"], arrays["apex_estimated"], strict=True)
                 if e]
    report = {
        "clips": len(arrays["clip_id"]),
        "manifest_clips": len(manifest),
        "without_face": len(manifest) - len(arrays["clip_id"]),
        "apexes_estimated": len(estimated),
        "apex_estimated_clips": estimated,
        "flow": flow,
        "steps": int(arrays["flow"].shape[1]),
        "input_size": params.input_size,
        "au_features": int(arrays["au_features"].shape[1]),
    }
    return arrays, report
