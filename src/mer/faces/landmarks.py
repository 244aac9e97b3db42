"""dlib face detection and the 68-point landmarker, loaded once per process, fully offline.

Landmark indices follow the iBUG 300-W scheme the model was trained on. "Left" and "right" are
the subject's (the FACS convention the coding sheets use: L10 is the subject's left), so the
subject's right eye is on the image's left.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from mer.errors import MerError

LANDMARKS = 68
JAW = slice(0, 17)
BROW_R = slice(17, 22)  # subject's right brow, image left
BROW_L = slice(22, 27)
NOSE_BRIDGE = slice(27, 31)
NOSE_BASE = slice(31, 36)
EYE_R = slice(36, 42)
EYE_L = slice(42, 48)
LIPS_OUTER = slice(48, 60)
MOUTH_CORNER_R, MOUTH_CORNER_L = 48, 54
CHIN = 8
PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"


@dataclass(frozen=True)
class Face:
    box: tuple[int, int, int, int]  # left, top, right, bottom in frame px
    landmarks: np.ndarray  # (68, 2) float64 x, y in frame px

    @property
    def area(self) -> int:
        left, top, right, bottom = self.box
        return (right - left) * (bottom - top)

    @property
    def centre(self) -> np.ndarray:
        left, top, right, bottom = self.box
        return np.array([(left + right) / 2, (top + bottom) / 2])


def model_folder() -> Path:
    """Folder of face-recognition-models' .dat files, found without importing the package.

    Importing it runs ``import pkg_resources``, which recent setuptools no longer ships.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise MerError("the dlib landmark model is missing: pip install face-recognition-models")
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    if not (folder / PREDICTOR_FILE).is_file():
        raise MerError(f"{folder / PREDICTOR_FILE} is missing: reinstall face-recognition-models")
    return folder


@cache
def _detector():  # dlib objects are costly to load (~100 MB model) and not picklable
    import dlib

    return dlib.get_frontal_face_detector()


@cache
def _predictor():
    import dlib

    return dlib.shape_predictor(str(model_folder() / PREDICTOR_FILE))


def to_grey(frame: np.ndarray) -> np.ndarray:
    """(H, W) uint8 grey from a BGR or grey frame."""
    import cv2

    if frame.ndim == 2:
        return frame
    if frame.ndim == 3 and frame.shape[2] == 3:
        return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    if frame.ndim == 3 and frame.shape[2] == 1:
        return frame[:, :, 0]
    raise MerError(f"expected a BGR or grey frame, got an array of shape {frame.shape}")


def detect_faces(grey: np.ndarray, upsample: int) -> list[Face]:
    """Every face dlib's HOG detector finds, with its 68 landmarks, largest first."""
    grey = np.ascontiguousarray(grey, dtype=np.uint8)
    faces = []
    for rect in _detector()(grey, upsample):
        shape = _predictor()(grey, rect)
        points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
        faces.append(Face((rect.left(), rect.top(), rect.right(), rect.bottom()), points))
    # Largest first; ties broken by position so the choice never depends on dlib's order.
    return sorted(faces, key=lambda f: (-f.area, f.box))


def eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(image-left eye centre, image-right eye centre), each (2,) x, y."""
    return landmarks[EYE_R].mean(axis=0), landmarks[EYE_L].mean(axis=0)
