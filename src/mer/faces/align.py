"""One similarity transform per clip, from the onset frame: eyes level, fixed eye distance.

Every frame of a clip is warped by the onset's transform, so alignment adds no motion of its
own: whatever moves in the aligned crops moved in the video.

A face lost mid-clip. The face is detected again (near the onset face) on the apex frame (the
middle frame when the apex is unknown) and on the offset frame:
- found, and its rigid landmarks (eye corners, nose) moved less than ``faces.max_drift`` of the
  crop in onset-aligned coordinates: fine; residual head motion is removed later from the flow;
- found but moved further: the onset crop no longer holds the face where the flow expects it,
  so the clip is skipped (FaceLostError, the reason names the frame and the drift);
- not found: dlib also misses faces that are there (blur, a hand, a strong expression), so the
  aligned frame is compared with the aligned onset: a normalised correlation of at least
  ``faces.min_correlation`` keeps the onset transform and flags the clip; lower means the face
  is gone (a cut, an occlusion) and the clip is skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mer.config import FaceParams
from mer.errors import MerError
from mer.faces.landmarks import NOSE_BASE, NOSE_BRIDGE, Face, detect_faces, eye_centres, to_grey

# Eye corners and the nose: points a blink or an expression hardly moves, so their displacement
# measures head motion rather than the micro-expression itself.
RIGID_POINTS = np.r_[36, 39, 42, 45, np.arange(NOSE_BRIDGE.start, NOSE_BASE.stop)]
# Re-detection looks only near the onset face: the face box grown by this many box sizes on each
# side. A face that moved further is lost whatever we do.
SEARCH_MARGIN = 0.5


class FaceError(MerError):
    """A clip whose face cannot be aligned; ``reason`` is what happened, without the advice
    the message adds (a row's recognition_error: a break-it session found the reason cut at
    the first '. ', inside a video's path such as 'Mr. Smith.mp4')."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = message if reason is None else reason


class NoFaceError(FaceError):
    """No face in the frame the clip's alignment is taken from."""


class FaceLostError(FaceError):
    """The face found on the onset frame is gone or moved away later in the clip."""


@dataclass(frozen=True)
class AlignedClip:
    faces: np.ndarray  # (K, S, S) uint8 grey frames, all warped by the onset's transform
    landmarks: np.ndarray  # (68, 2) float32 onset landmarks in aligned-crop px
    transform: np.ndarray  # (2, 3) float32 similarity: original frame px -> aligned crop px
    flags: tuple[str, ...] = ()  # facts worth reporting (face not re-detected on frame k)


def similarity_transform(landmarks: np.ndarray, params: FaceParams) -> np.ndarray:
    """(2, 3) float32 map of frame px to crop px putting the eyes level at the params' place."""
    left, right = eye_centres(np.asarray(landmarks, dtype=np.float64))
    dx, dy = right - left
    distance = float(np.hypot(dx, dy))
    scale = params.eye_distance * params.size / distance
    cos, sin = scale * dx / distance, scale * dy / distance
    linear = np.array([[cos, sin], [-sin, cos]])  # rotates the eye line onto the x axis
    target = np.array([params.size / 2, params.eye_row * params.size])
    shift = target - linear @ ((left + right) / 2)
    return np.hstack([linear, shift[:, None]]).astype(np.float32)


def transform_points(points: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """(P, 2) points mapped by a (2, 3) affine transform, float32."""
    points = np.asarray(points, dtype=np.float64)
    matrix = np.asarray(transform, dtype=np.float64)
    return (points @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


# Crop px per frame px below which a frame is halved (cv2.pyrDown) before it is warped:
# bilinear sampling reads one point per crop pixel, so a large frame shrunk much further
# aliases, and sub-pixel flow reads biased. A review (h70) shifted a real face (the fixtures'
# biden.jpg) by whole pixels and measured mer's flow over the crop: mean endpoint error
# 0.06-0.09 px at scales 0.2-0.44 (SAMM's 2040 x 1088 frames crop at about 0.25; a 0.25 px
# motion read 36 % low), 0.02 px after halving. Scales 0.4-0.75 alias too (0.04-0.05 px
# against 0.02), but halving there moves every figure of the embedded set (crops at
# 0.45-0.64), which a full re-measurement must go with: not done yet.
PYRAMID_BELOW = 0.4


def warp_grey(grey: np.ndarray, transform: np.ndarray, size: int) -> np.ndarray:
    """(size, size) uint8 crop of a grey frame under a (2, 3) frame -> crop transform, the
    frame first halved by cv2.pyrDown (a Gaussian blur, then every second pixel) while the
    transform shrinks it below PYRAMID_BELOW (each halving doubles the transform's linear
    part: pyrDown's pixel i is the frame's pixel 2i). Bilinear sampling; borders replicate
    the edge, as a constant black border would move with any drift and show up as flow."""
    import cv2

    matrix = np.asarray(transform, dtype=np.float64).copy()
    while np.hypot(matrix[0, 0], matrix[0, 1]) < PYRAMID_BELOW and min(grey.shape[:2]) > 1:
        grey = cv2.pyrDown(grey)
        matrix[:, :2] *= 2
    # float64 as given: OpenCV computes in double whatever the matrix type, so a float32
    # transform (faces.npz) warps as before, and the spotter's float64 one is not rounded
    return cv2.warpAffine(grey, matrix, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def warp_faces(frames: list[np.ndarray] | np.ndarray, transform: np.ndarray,
               size: int) -> np.ndarray:
    """(K, size, size) uint8 grey crops of BGR or grey frames under one transform
    (warp_grey)."""
    crops = [warp_grey(to_grey(frame), transform, size) for frame in frames]
    return np.stack(crops) if crops else np.zeros((0, size, size), np.uint8)


def _nearest_face(grey: np.ndarray, onset: Face, upsample: int) -> Face | None:
    """The face nearest the onset face, searched in a window around it."""
    left, top, right, bottom = onset.box
    margin_x, margin_y = SEARCH_MARGIN * (right - left), SEARCH_MARGIN * (bottom - top)
    x0, y0 = max(0, int(left - margin_x)), max(0, int(top - margin_y))
    x1 = min(grey.shape[1], int(right + margin_x))
    y1 = min(grey.shape[0], int(bottom + margin_y))
    found = detect_faces(grey[y0:y1, x0:x1], upsample)
    if not found:
        return None
    offset = np.array([x0, y0])
    nearest = min(found, key=lambda f: float(np.linalg.norm(f.centre + offset - onset.centre)))
    box = tuple(int(v) for v in np.add(nearest.box, [x0, y0, x0, y0]))
    return Face(box, nearest.landmarks + offset)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Zero-mean normalised cross-correlation of two equal-size images, in -1..1."""
    a = a.astype(np.float64) - a.mean()
    b = b.astype(np.float64) - b.mean()
    norm = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / norm) if norm > 0 else 0.0


def _check_frame(number: int, grey: np.ndarray, crop: np.ndarray, onset: Face,
                 onset_crop: np.ndarray, transform: np.ndarray,
                 params: FaceParams) -> str | None:
    """None when the face is where the onset put it; a flag when kept on trust; else raise."""
    face = _nearest_face(grey, onset, params.upsample)
    if face is None:
        similarity = _correlation(crop, onset_crop)
        if similarity < params.min_correlation:
            raise FaceLostError(
                f"face lost on frame {number}: not detected, and the aligned frame correlates "
                f"{similarity:.2f} with the onset (faces.min_correlation {params.min_correlation})")
        return f"face not re-detected on frame {number} (correlation {similarity:.2f}); kept"
    moved = transform_points(face.landmarks[RIGID_POINTS], transform) \
        - transform_points(onset.landmarks[RIGID_POINTS], transform)
    drift = float(np.linalg.norm(moved, axis=1).mean()) / params.size
    if drift > params.max_drift:
        raise FaceLostError(
            f"face moved {drift:.3f} of the crop between the onset and frame {number} "
            f"(faces.max_drift {params.max_drift}): one onset alignment cannot follow it")
    return None


def align_clip(frames: Sequence[np.ndarray], params: FaceParams, apex_index: int | None = None,
               frame_numbers: Sequence[int] | None = None) -> AlignedClip:
    """Align every frame of a clip (onset first) by the onset face's similarity transform.

    On a frame with several faces the largest is followed. The apex (or middle) and offset
    frames are checked for the same face (see the module docstring). Raises NoFaceError when
    the onset has no face, FaceLostError when the face is lost later. ``frame_numbers`` (one
    per frame) only label frames in messages; by default they are the indices.
    """
    if len(frames) < 2:
        raise MerError(f"a clip needs at least two frames (onset and one more), got {len(frames)}")
    onset_grey = to_grey(frames[0])
    found = detect_faces(onset_grey, params.upsample)
    if not found:
        raise NoFaceError(f"no face found on the onset frame ({onset_grey.shape[1]}x"
                          f"{onset_grey.shape[0]} px, dlib upsampling {params.upsample})")
    onset = found[0]
    transform = similarity_transform(onset.landmarks, params)
    faces = warp_faces(frames, transform, params.size)  # (K, S, S)
    last = len(frames) - 1
    checked = sorted({last, apex_index if apex_index is not None else last // 2} - {0})
    flags = []
    numbers = list(range(len(frames))) if frame_numbers is None else list(frame_numbers)
    for index in checked:
        flag = _check_frame(numbers[index], to_grey(frames[index]), faces[index], onset,
                            faces[0], transform, params)
        if flag is not None:
            flags.append(flag)
    return AlignedClip(faces, transform_points(onset.landmarks, transform), transform,
                       tuple(flags))
