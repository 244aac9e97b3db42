"""A frame-based corpus exported as MEGC-style precomputed flow images (``mer export-flow-images``).

Real teams run mer on flow images of the licensed corpora (data.source flow-images); the
embedded synthetic set exported in that format stands in for them, to tune and benchmark on.
Each image is made the way the public MEGC2019 preprocessing (STSTNet, OFF-ApexNet) makes
one: the onset and apex frames aligned (here by the clip's similarity transform from
faces.npz, as the features stage aligns them), the onset->apex flow on the aligned crop
(mer's own ``flow_between``, params.features; no head-motion removal, which that
preprocessing does not do), its optical strain, u, v and strain area-resized to a small
square and each channel of each image min-max scaled to 0..255. Saved as PNG with R, G, B =
u, v, strain (the ``rgb`` order of mer.core.flow_image), beside a ``labels.csv`` that
mer.data.flow_image_corpus reads back.

The apex is the sheet's, or, where the data stage left it to be estimated, the one the
features stage chose (features.npz ``apex_frame``), so the image holds the motion the
features of the same clip describe.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from mer.config import FeatureParams
from mer.core.flow_image import CHANNELS, RGB, optical_strain
from mer.core.frames import read_frames, uses_flow_images
from mer.core.workers import parallel_map
from mer.errors import DatasetError, MerError
from mer.faces.align import warp_faces
from mer.features.describe_clips import FrameTask, frame_tasks
from mer.features.flow import flow_between, resize_map

CSV_NAME = "labels.csv"  # the name mer.data.flow_image_corpus looks for first
CSV_COLUMNS = ("subject", "clip", "label", "path", "dataset")
TOP = 255  # 8-bit images: each channel min-max scaled to 0..TOP
ORDER = RGB  # how the PNGs hold u, v, strain: R, G, B (data.flow_channels: rgb)


@dataclass(frozen=True)
class ExportTask:
    frames: FrameTask  # the clip's frames, its faces.npz transform and crop side
    apex_index: int  # index into the clip's frames of the apex the image is made at
    size: int  # side of the flow image, px


@dataclass(frozen=True)
class ExportRow:
    """One row of labels.csv."""

    subject: str  # as the corpus writes it (no <dataset>_ prefix)
    clip: str
    label: str  # class under labels.scheme, as the manifest has it
    path: str  # of the PNG, relative to labels.csv
    dataset: str


@dataclass(frozen=True)
class FlowImageExport:
    rows: tuple[ExportRow, ...]  # sorted by clip_id
    images: tuple[np.ndarray, ...]  # (size, size, 3) uint8 u, v, strain, one per row
    without_face: int  # manifest clips faces.npz has no face for: not exported


# Where a flat channel of a flow image is written, as a share of TOP: u and v at the middle,
# which the reader takes for no motion (mer.features.flow_image_features: 2 x - 1), strain at
# 0 (h70: a still clip's u and v written as 0 read back as the largest motion left and up).
FLAT = (0.5, 0.5, 0.0)


def min_max_scaled(maps: np.ndarray, flat: tuple[float, ...] = FLAT) -> np.ndarray:
    """(H, W, C) float maps -> uint8, each channel min-max scaled to 0..255 on its own; a flat
    channel (nothing to scale) at ``flat``'s share of 255 (one per channel)."""
    low = maps.min(axis=(0, 1), keepdims=True)
    span = maps.max(axis=(0, 1), keepdims=True) - low
    scaled = np.divide(maps - low, span, out=np.broadcast_to(
        np.asarray(flat, np.float64), maps.shape).copy(), where=span > 0)
    return np.round(scaled * TOP).astype(np.uint8)


def flow_image(onset: np.ndarray, apex: np.ndarray, size: int,
               params: FeatureParams) -> np.ndarray:
    """(size, size, 3) uint8 u, v, strain of the flow from ``onset`` to ``apex`` ((S, S) uint8
    grey aligned faces), each channel min-max scaled to 0..255."""
    flow = flow_between(onset, apex, params)  # (S, S, 2) px
    maps = np.dstack([flow, optical_strain(flow)])  # (S, S, 3) u, v, strain
    return min_max_scaled(resize_map(maps, size))  # area-averaged when shrinking


def export_clip(task: ExportTask, params: FeatureParams) -> np.ndarray:
    """The flow image of one clip: its onset and apex frames read, aligned and compared."""
    clip = task.frames
    frames = read_frames(clip.clip, [0, task.apex_index])
    onset, apex = warp_faces(frames, clip.transform, clip.size)  # (2, S, S)
    return flow_image(onset, apex, task.size, params)


def corpus_subjects(manifest: Any) -> list[str]:
    """Each row's subject as its corpus writes it. A manifest of several corpora writes
    ``<dataset>_<subject>`` (mer.data.build.namespaced): the prefix is dropped when every
    subject of the manifest has its dataset's, and the flow-image reader adds it again when
    the CSV mixes datasets."""
    pairs = list(zip(manifest["subject"].astype(str), manifest["dataset"].astype(str),
                     strict=True))
    if not all(s.startswith(f"{d}_") for s, d in pairs):
        return [s for s, _ in pairs]
    return [s[len(d) + 1:] for s, d in pairs]


def _apex_frames(features: dict[str, np.ndarray]) -> dict[str, int]:
    return {str(c): int(a) for c, a in zip(features["clip_id"], features["apex_frame"],
                                           strict=True)}


def _apex_index(task: FrameTask, apex_frames: dict[str, int]) -> int:
    """The apex the features stage used for the clip (the sheet's, or the estimated one)."""
    clip = task.clip
    stale = "data/features.npz is stale: rerun `mer features`"
    if clip.clip_id not in apex_frames:
        raise DatasetError(f"{clip.clip_id} has a face but no features; {stale}")
    index = apex_frames[clip.clip_id] - clip.onset
    if clip.apex_index is not None and index != clip.apex_index:
        raise DatasetError(f"{clip.clip_id} ({clip.where}): the sheet's apex is frame "
                           f"{clip.onset + clip.apex_index}, the features' frame "
                           f"{apex_frames[clip.clip_id]}; {stale}")
    if not 1 <= index < len(clip.paths):
        raise DatasetError(f"{clip.clip_id}: features.npz's apex frame "
                           f"{apex_frames[clip.clip_id]} lies outside frames {clip.onset}.."
                           f"{clip.onset + len(clip.paths) - 1}; {stale}")
    return index


def export_tasks(manifest: Any, faces: dict[str, np.ndarray], features: dict[str, np.ndarray],
                 size: int) -> tuple[list[ExportTask], list[ExportRow]]:
    """One task and one CSV row per clip with a face, sorted by clip_id."""
    if uses_flow_images(manifest):
        raise MerError("the manifest lists precomputed flow images, not frames: there is "
                       "nothing to export; run it in a project whose data.source has frames "
                       "(the embedded synthetic set, casme2, samm, smic)")
    subjects = dict(zip(manifest["clip_id"].astype(str), corpus_subjects(manifest), strict=True))
    rows = {str(r["clip_id"]): r for r in manifest.to_dict("records")}
    apex_frames = _apex_frames(features)
    tasks, listed = [], []
    for task in sorted(frame_tasks(manifest, faces), key=lambda t: t.clip.clip_id):
        row, subject = rows[task.clip.clip_id], subjects[task.clip.clip_id]
        dataset, clip = str(row["dataset"]), str(row["clip"])
        tasks.append(ExportTask(task, _apex_index(task, apex_frames), size))
        listed.append(ExportRow(subject, clip, str(row["label"]),
                                f"{dataset}/{subject}/{clip}.png", dataset))
    if not tasks:
        raise DatasetError("no clip has a face, so there is no flow image to export: see "
                           "reports/faces.json")
    return tasks, listed


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a (H, W, 3) u, v, strain image, saved R, G, B = u, v, strain (``rgb``).

    cv2 writes its array's channels as B, G, R, so the array is reversed to strain, v, u.
    """
    import cv2

    if image.ndim != 3 or image.shape[2] != CHANNELS:
        raise ValueError(f"expected a (H, W, {CHANNELS}) u, v, strain image, got {image.shape}")
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(image[:, :, ::-1]))
    if not ok:
        raise MerError("OpenCV could not encode a flow image as PNG")
    return encoded.tobytes()


def write_flow_images(folder: Path, export: FlowImageExport) -> None:
    """The PNGs and labels.csv into ``folder`` (a staging folder: the caller commits it)."""
    for row, image in zip(export.rows, export.images, strict=True):
        path = folder / row.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode_png(image))
    with (folder / CSV_NAME).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        writer.writerows([getattr(row, c) for c in CSV_COLUMNS] for row in export.rows)


def export_flow_images(manifest: Any, faces: dict[str, np.ndarray],
                       features: dict[str, np.ndarray], params: FeatureParams,
                       size: int) -> FlowImageExport:
    """Every clip with a face as a (size, size) flow image, in ``rgb`` order once written."""
    tasks, rows = export_tasks(manifest, faces, features, size)
    images = parallel_map(partial(export_clip, params=params), tasks, params.workers,
                          "flow images", "features.workers")
    return FlowImageExport(tuple(rows), tuple(images), len(manifest) - len(tasks))

