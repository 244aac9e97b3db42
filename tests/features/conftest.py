"""A tiny CASME II-style dataset made from a real face warped by a small known motion."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from features_helpers import bump_motion, manifest_row, mouth_centre, profile, write_clip

from mer.config import FaceParams
from mer.core.manifest import COLUMNS, write_manifest
from mer.faces.align import align_clip
from mer.faces.landmarks import detect_faces

# Real faces with their NOTICE.md: tests/fixtures/faces.
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"
# Frame size of the tiny clips: CASME II's cropped faces are about this size.
FRAME_W, FRAME_H = 200, 240


@pytest.fixture(scope="session")
def base_frame() -> np.ndarray:
    """(240, 200, 3) BGR: the astronaut's face, cropped loosely like a CASME II Cropped frame."""
    image = cv2.imread(str(FIXTURES / "astronaut.png"))
    left, top, right, bottom = detect_faces(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), 1)[0].box
    cx, cy, side = (left + right) / 2, (top + bottom) / 2, (right - left) * 1.9
    src = np.float32([[cx - side / 2, cy - side * 0.55], [cx + side / 2, cy - side * 0.55],
                      [cx - side / 2, cy + side * 0.65]])
    dst = np.float32([[0, 0], [FRAME_W, 0], [0, FRAME_H]])
    return cv2.warpAffine(image, cv2.getAffineTransform(src, dst), (FRAME_W, FRAME_H),
                          flags=cv2.INTER_CUBIC)


@pytest.fixture(scope="session")
def aligned_face(base_frame) -> tuple[np.ndarray, np.ndarray]:
    """(128, 128) uint8 aligned grey face and its (68, 2) landmarks."""
    clip = align_clip([base_frame, base_frame], FaceParams())
    return clip.faces[0], clip.landmarks


@pytest.fixture
def tiny_dataset(tmp_path, base_frame) -> Path:
    """tmp_path with data/manifest.parquet and Cropped/ frames for four clips:

    - sub01/EP01_01: 9 frames, apex 104 (index 4) annotated, mouth moves up 1.5 px;
    - sub02/EP02_01: 11 frames, apex missing, true peak at index 7 (1.5 px), global drift;
    - sub02/EP03_01: no face at all (grey noise): must be skipped and reported;
    - sub03/EP04_01: face gone on the offset frame (a blank frame): skipped as lost.
    """
    centre = mouth_centre(base_frame)
    rows = []
    frames = [bump_motion(base_frame, centre, a) for a in profile(9, 4, 1.5)]
    rows.append(manifest_row("sub01", "EP01_01",
                             write_clip(tmp_path, "sub01", "EP01_01", frames, 100), 100, 104, 2))
    frames = [bump_motion(base_frame, centre, a, (0.05 * i, 0.03 * i))
              for i, a in enumerate(profile(11, 7, 1.5))]
    rows.append(manifest_row("sub02", "EP02_01",
                             write_clip(tmp_path, "sub02", "EP02_01", frames, 10), 10, -1, 3))
    noise = np.random.default_rng(0).integers(100, 140, (6, FRAME_H, FRAME_W, 3), np.uint8)
    rows.append(manifest_row("sub02", "EP03_01",
                             write_clip(tmp_path, "sub02", "EP03_01", list(noise), 1), 1, 3, 4))
    frames = [base_frame] * 5 + [np.full_like(base_frame, 128)]
    rows.append(manifest_row("sub03", "EP04_01",
                             write_clip(tmp_path, "sub03", "EP04_01", frames, 1), 1, 3, 5))
    manifest = pd.DataFrame(rows, columns=list(COLUMNS))
    write_manifest(manifest, tmp_path / "data" / "manifest.parquet")
    return tmp_path
