"""Faces and features: flow accuracy on sub-pixel motion of a real face, and stage throughput.

1. A real face (astronaut.png) aligned to 128 x 128 by ``align_clip`` is warped by a known smooth
   field of 0.1 to 2 px (cv2.remap, bicubic); mean endpoint error (EPE) of the default DIS
   setting against the exact forward displacement, and other settings as ratios to it.
2. faces + features on the default synthetic dataset (255 clips) with 1 and 2 processes.
3. Apex estimation error on synthetic clips whose true apex is known.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

FACE = Path(__file__).resolve().parents[1] / "tests/fixtures/faces/astronaut.png"
MARGIN = 8  # px at the border excluded from the EPE: warped content leaves the crop there
TIMING_REPEATS = 5
NOISE_SIGMA, JPEG_QUALITY = 2.0, 90  # the noisy variant of the flow pair
APEX_CLIPS = 24  # clips used for the apex-estimation error (each costs K flows)


def _field(x: np.ndarray, y: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Smooth displacement, magnitude 0.1 .. 2 px, direction turning across the face."""
    magnitude = 1.05 + 0.95 * np.sin(5 * x / size + 0.3) * np.cos(4 * y / size)
    angle = 2 * np.pi * (x + 0.5 * y) / size
    return magnitude * np.cos(angle), magnitude * np.sin(angle)


def warped_pair() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(onset, moved) aligned 128 px faces and the (H, W, 2) true forward flow."""
    import cv2

    from mer.config import FaceParams
    from mer.faces.align import align_clip

    image = cv2.imread(str(FACE))
    params = FaceParams(size=128)
    face = align_clip([image, image], params).faces[0]
    y, x = np.mgrid[0:params.size, 0:params.size].astype(np.float64)
    gu, gv = _field(x, y, params.size)
    moved = cv2.remap(face.astype(np.float32), (x - gu).astype(np.float32),
                      (y - gv).astype(np.float32), cv2.INTER_CUBIC,
                      borderMode=cv2.BORDER_REPLICATE)
    moved = np.clip(np.rint(moved), 0, 255).astype(np.uint8)
    qx, qy = x, y  # face point p lands at q = p + g(q): fixed-point iteration
    for _ in range(30):
        gu, gv = _field(qx, qy, params.size)
        qx, qy = x + gu, y + gv
    return face, moved, np.dstack([qx - x, qy - y])


def _epe(flow: np.ndarray, truth: np.ndarray) -> float:
    error = np.hypot(*(flow - truth)[MARGIN:-MARGIN, MARGIN:-MARGIN].transpose(2, 0, 1))
    return float(error.mean())


def _degrade(image: np.ndarray, seed: int) -> np.ndarray:
    import cv2

    noise = np.random.default_rng(seed).normal(0, NOISE_SIGMA, image.shape)
    noisy = np.clip(image + noise, 0, 255).astype(np.uint8)
    _, encoded = cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)


def _timed(compute) -> tuple[np.ndarray, float]:
    flow = compute()
    started = time.perf_counter()
    for _ in range(TIMING_REPEATS):
        compute()
    return flow, (time.perf_counter() - started) / TIMING_REPEATS


def flow_rows() -> list[dict]:
    import cv2

    from mer.config import FeatureParams
    from mer.features.flow import flow_between, tvl1_available

    cv2.setNumThreads(1)
    face, moved, truth = warped_pair()
    params = FeatureParams()
    flow, seconds = _timed(lambda: flow_between(face, moved, params))
    default_epe = _epe(flow, truth)
    rows = [
        {"benchmark": "flow EPE, default DIS", "value": default_epe, "unit": "px",
         "note": f"128 px aligned real face, smooth 0.1-2 px field, target <= 0.08; "
                 f"finest scale 0, patch {params.dis_patch_size}, stride "
                 f"{params.dis_patch_stride}, {params.dis_iterations} iterations, "
                 f"{params.dis_refine_iterations} refinement iterations"},
        {"benchmark": "flow time, default DIS", "value": seconds * 1000, "unit": "ms",
         "note": "one 128 x 128 flow, one thread"},
    ]
    noisy = [_degrade(image, seed) for seed, image in enumerate((face, moved))]
    rows.append({"benchmark": "flow EPE, default DIS, noisy JPEG", "value":
                 _epe(flow_between(*noisy, params), truth), "unit": "px",
                 "note": f"same pair with Gaussian noise sigma {NOISE_SIGMA} grey levels and "
                         f"JPEG quality {JPEG_QUALITY}, as in the synthetic frames"})
    presets = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
               "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
               "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}
    for name, preset in presets.items():
        for finest in (None, 0):
            dis = cv2.DISOpticalFlow_create(preset)
            if finest is not None:
                dis.setFinestScale(finest)
            other, other_seconds = _timed(lambda dis=dis: dis.calc(face, moved, None))
            label = f"DIS {name}" + (", finest scale 0" if finest == 0 else ", as shipped")
            rows.append({"benchmark": f"flow EPE ratio, {label}",
                         "value": _epe(other, truth) / default_epe, "unit": "x default",
                         "note": f"time {other_seconds / seconds:.2f}x default"})
    if tvl1_available():
        tvl1 = params.model_copy(update={"flow": "tvl1"})
        other, other_seconds = _timed(lambda: flow_between(face, moved, tvl1))
        rows.append({"benchmark": "flow EPE ratio, TV-L1",
                     "value": _epe(other, truth) / default_epe, "unit": "x default",
                     "note": f"time {other_seconds / seconds:.2f}x default"})
    else:
        rows.append({"benchmark": "flow EPE ratio, TV-L1", "value": "absent", "unit": "",
                     "note": "cv2.optflow missing: TV-L1 needs opencv-contrib-python-headless"})
    return rows


def synthetic_manifest(root: Path):
    """Manifest of a generated synthetic dataset, from its ground_truth.csv (which records
    whether the sheet shows each apex), so this benchmark does not depend on the data stage."""
    import pandas as pd

    truth = pd.read_csv(root / "ground_truth.csv", dtype={"subject": str, "clip": str})
    rows = []
    for i, r in enumerate(truth.to_dict("records")):
        subject, clip = r["subject"], r["clip"]
        frames = [str(root / "Cropped" / subject / clip / f"reg_img{n}.jpg")
                  for n in range(int(r["onset"]), int(r["offset"]) + 1)]
        rows.append({"clip_id": f"synthetic/{subject}/{clip}", "frame_paths": frames,
                     "onset": int(r["onset"]), "offset": int(r["offset"]),
                     "apex": int(r["apex"]) if r["apex_in_sheet"] else -1,
                     "true_apex": int(r["apex"]), "flow_image": "",
                     "source": f"ground_truth.csv:{i + 2}"})
    return pd.DataFrame(rows)


def pipeline_rows(root: Path) -> list[dict]:
    from mer.config import Params
    from mer.faces.align_clips import locate_faces
    from mer.features.describe_clips import extract_features

    manifest = synthetic_manifest(root)
    params = Params()
    for frames in manifest["frame_paths"]:  # warm the page cache: time the work, not the disk
        for frame in frames:
            Path(frame).read_bytes()
    load = os.getloadavg()[0]
    seconds = {}
    for workers in (2, 1):
        started = time.perf_counter()
        faces, face_report = locate_faces(
            manifest, params.faces.model_copy(update={"workers": workers}))
        extract_features(
            manifest, faces, params.features.model_copy(update={"workers": workers}))
        seconds[workers] = time.perf_counter() - started
    clips = len(manifest)
    return [
        {"benchmark": "faces + features, 2 processes", "value": seconds[2], "unit": "s",
         "note": f"default synthetic dataset, {clips} clips, {face_report['faces']} with a "
                 f"face, T = {params.features.steps}; budget 90 s"},
        {"benchmark": "faces + features throughput, 2 processes", "value": clips / seconds[2],
         "unit": "clips/s", "note": f"1 process: {clips / seconds[1]:.2f} clips/s"},
        {"benchmark": "scaling 1 -> 2 processes", "value": seconds[1] / seconds[2],
         "unit": "x", "note": f"2.0 would be perfect on 2 idle cores; load average "
                              f"{load:.1f} -> {os.getloadavg()[0]:.1f} during the runs"},
    ]


def apex_rows(root: Path) -> list[dict]:
    from mer.config import Params
    from mer.core.frames import clip_frames, read_frames
    from mer.faces.align import align_clip
    from mer.features.extract import describe_clip

    manifest = synthetic_manifest(root)
    chosen = manifest.iloc[np.linspace(0, len(manifest) - 1, APEX_CLIPS).astype(int)]
    params = Params()
    errors = []
    for row in chosen.to_dict("records"):
        aligned = align_clip(read_frames(clip_frames(row)), params.faces)
        described = describe_clip(aligned.faces, aligned.landmarks, None, params.features)
        errors.append(abs(described.apex_index - (row["true_apex"] - row["onset"])))
    lengths = [len(p) for p in chosen["frame_paths"]]
    return [{"benchmark": "apex estimation error, median", "value": float(np.median(errors)),
             "unit": "frames", "note": f"{APEX_CLIPS} synthetic clips of {min(lengths)}-"
                                       f"{max(lengths)} frames; mean {np.mean(errors):.1f}, "
                                       f"max {max(errors)}"}]


def run() -> list[dict]:
    from mer.config import SyntheticParams
    from mer.synthetic.write_casme2 import generate_dataset

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    rows = flow_rows()
    with tempfile.TemporaryDirectory(prefix="bench_features_") as tmp:
        root = Path(tmp) / "synthetic"
        generate_dataset(root, SyntheticParams(), 0, progress=False)
        rows += pipeline_rows(root)
        rows += apex_rows(root)
    return rows


if __name__ == "__main__":
    from benchmarks.common import module_main

    raise SystemExit(module_main(run, __doc__))
