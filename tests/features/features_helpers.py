"""Helpers for the features tests: known motions of a real face, tiny CASME II-style clips."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mer.faces.landmarks import detect_faces


def bump_motion(frame: np.ndarray, centre: tuple[float, float], amplitude: float,
                shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """``frame`` with a Gaussian bump moving up by ``amplitude`` px around ``centre`` (x, y),
    plus a global ``shift`` (dx, dy)."""
    h, w = frame.shape[:2]
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    sigma = w / 10
    bump = amplitude * np.exp(-((x - centre[0]) ** 2 + (y - centre[1]) ** 2) / (2 * sigma**2))
    map_x = x - shift[0]
    map_y = y - shift[1] + bump  # content moves up where the bump is
    return cv2.remap(frame, map_x, map_y.astype(np.float32), cv2.INTER_CUBIC,
                     borderMode=cv2.BORDER_REPLICATE)


def profile(count: int, apex_index: int, peak: float) -> list[float]:
    """Onset -> apex -> offset amplitude: linear rise to ``peak`` then linear fall to 0."""
    rise = [peak * i / apex_index for i in range(apex_index + 1)]
    fall = [peak * (1 - j / (count - 1 - apex_index)) for j in range(1, count - apex_index)]
    return rise + fall


def write_clip(root: Path, subject: str, clip: str, frames: list[np.ndarray],
               onset: int) -> list[str]:
    folder = root / "Cropped" / subject / clip
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, frame in enumerate(frames):
        path = folder / f"reg_img{onset + i}.jpg"
        cv2.imwrite(str(path), frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
        paths.append(str(path.relative_to(root)))
    return paths


def manifest_row(subject: str, clip: str, paths: list[str], onset: int, apex: int,
                 row: int, flow_image: str = "") -> dict:
    return {
        "dataset": "casme2", "subject": subject, "clip": clip,
        "clip_id": f"casme2/{subject}/{clip}", "frame_paths": paths, "onset": onset,
        "apex": apex, "offset": onset + max(len(paths), 1) - 1, "fps": 200.0, "aus": "12",
        "emotion": "happiness", "label": "happiness", "label_index": 0,
        "flow_image": flow_image, "flags": [] if apex != -1 else ["apex_missing"],
        "source": f"CASME2-coding-tiny.xlsx:{row}",
    }


def mouth_centre(frame: np.ndarray) -> tuple[float, float]:
    face = detect_faces(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), 1)[0]
    x, y = face.landmarks[48:60].mean(axis=0)
    return float(x), float(y)
