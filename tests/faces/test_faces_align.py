"""Face detection, landmarks and alignment with the real dlib model on real faces."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from mer.config import FaceParams
from mer.faces import landmarks as lm
from mer.faces.align import (
    FaceLostError,
    NoFaceError,
    align_clip,
    transform_points,
    warp_faces,
)

# Real faces with their NOTICE.md: tests/fixtures/faces.
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"
PORTRAITS = ("astronaut.png", "obama-480p.jpg", "biden.jpg")
PARAMS = FaceParams()


def read(name: str) -> np.ndarray:
    image = cv2.imread(str(FIXTURES / name))
    assert image is not None, name
    return image


def first_video_frame() -> np.ndarray:
    capture = cv2.VideoCapture(str(FIXTURES / "video_01.mp4"))
    ok, frame = capture.read()
    capture.release()
    assert ok
    return frame


@pytest.fixture(scope="module", params=PORTRAITS)
def aligned(request):
    image = read(request.param)
    return image, align_clip([image, image], PARAMS)


def test_eyes_are_level_at_the_set_distance_and_row(aligned):
    _, clip = aligned
    left, right = lm.eye_centres(clip.landmarks.astype(np.float64))
    assert abs(left[1] - right[1]) < 0.01  # level
    assert np.hypot(*(right - left)) == pytest.approx(PARAMS.eye_distance * PARAMS.size, abs=0.01)
    assert (left[1] + right[1]) / 2 == pytest.approx(PARAMS.eye_row * PARAMS.size, abs=0.01)
    assert (left[0] + right[0]) / 2 == pytest.approx(PARAMS.size / 2, abs=0.01)


def test_landmarks_are_plausible(aligned):
    _, clip = aligned
    p = clip.landmarks
    assert clip.faces.shape == (2, PARAMS.size, PARAMS.size) and clip.faces.dtype == np.uint8
    assert p.shape == (68, 2)
    inside = (p[lm.JAW.stop:] >= 0).all() and (p[lm.JAW.stop:] < PARAMS.size).all()
    assert inside  # brows, eyes, nose and mouth all in the crop
    brows_y = p[lm.BROW_R.start:lm.BROW_L.stop, 1].mean()
    eyes_y = p[lm.EYE_R.start:lm.EYE_L.stop, 1].mean()
    assert brows_y < eyes_y < p[33, 1] < p[lm.LIPS_OUTER, 1].mean() < p[lm.CHIN, 1]
    assert p[lm.MOUTH_CORNER_R, 0] < p[33, 0] < p[lm.MOUTH_CORNER_L, 0]
    assert p[lm.CHIN, 1] < PARAMS.size  # the chin (AU17 region) is in the crop
    # The face is roughly symmetric about the crop's vertical centre line.
    assert abs(p[33, 0] - PARAMS.size / 2) < 0.1 * PARAMS.size


def test_aligned_pixels_follow_the_transform(aligned):
    image, clip = aligned
    # The crop at an aligned landmark shows what the frame shows at the original landmark.
    again = warp_faces([image], clip.transform, PARAMS.size)
    assert np.array_equal(again[0], clip.faces[0])
    assert clip.transform.dtype == np.float32 and clip.transform.shape == (2, 3)


def test_one_transform_per_clip_adds_no_motion():
    image = read("obama-480p.jpg")
    shifted = cv2.warpAffine(image, np.float32([[1, 0, 2], [0, 1, 0]]),
                             (image.shape[1], image.shape[0]), borderMode=cv2.BORDER_REPLICATE)
    clip = align_clip([image, image, shifted], PARAMS)
    # Identical frames give identical crops; a 2 px shift stays a shift (scaled), not undone.
    assert np.array_equal(clip.faces[0], clip.faces[1])
    moved = transform_points(np.array([[202.0, 100.0]]), clip.transform) \
        - transform_points(np.array([[200.0, 100.0]]), clip.transform)
    scale = float(np.hypot(*clip.transform[:, 0]))
    assert np.linalg.norm(moved) == pytest.approx(2 * scale, rel=1e-4)
    assert not np.array_equal(clip.faces[0], clip.faces[2])


def test_largest_of_several_faces_is_followed():
    frame = first_video_frame()
    faces = lm.detect_faces(lm.to_grey(frame), PARAMS.upsample)
    assert len(faces) >= 2
    assert faces[0].area == max(f.area for f in faces)
    clip = align_clip([frame, frame], PARAMS)
    # The chosen face's onset landmarks map back onto the largest face's box (the one on the
    # left, per the fixture's notice).
    inverse = cv2.invertAffineTransform(clip.transform)
    centre = transform_points(clip.landmarks, inverse).mean(axis=0)
    left, top, right, bottom = faces[0].box
    assert left < centre[0] < right and top < centre[1] < bottom
    assert centre[0] < frame.shape[1] / 2


def test_no_face_raises():
    noise = np.random.default_rng(0).integers(0, 255, (240, 200), np.uint8)
    with pytest.raises(NoFaceError, match="no face found"):
        align_clip([noise, noise], PARAMS)


def test_face_gone_later_is_lost():
    image = read("obama-480p.jpg")
    with pytest.raises(FaceLostError, match="face lost on frame 12"):
        align_clip([image, image, np.full_like(image, 90)], PARAMS,
                   frame_numbers=[10, 11, 12])


def test_face_that_moved_out_of_the_onset_crop_is_lost():
    image = read("obama-480p.jpg")
    moved = cv2.warpAffine(image, np.float32([[1, 0, 25], [0, 1, 0]]),
                           (image.shape[1], image.shape[0]), borderMode=cv2.BORDER_REPLICATE)
    with pytest.raises(FaceLostError, match=r"face moved 0\.1"):
        align_clip([image, image, moved], PARAMS)


def test_face_missed_by_the_detector_but_present_is_kept_and_flagged():
    image = read("obama-480p.jpg")
    blurred = cv2.GaussianBlur(image, (0, 0), 8)  # a strong blur: dlib misses the face
    assert not lm.detect_faces(lm.to_grey(blurred), PARAMS.upsample)
    clip = align_clip([image, blurred], PARAMS)
    assert len(clip.flags) == 1 and "not re-detected on frame 1" in clip.flags[0]


def test_model_is_found_without_importing_its_package():
    code = ("import sys; from mer.faces.landmarks import model_folder; "
            "print(model_folder()); assert 'face_recognition_models' not in sys.modules")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip(), lm.PREDICTOR_FILE).is_file()


def test_dlib_models_are_loaded_once_per_process():
    assert lm._detector() is lm._detector()
    assert lm._predictor() is lm._predictor()


def test_grey_and_colour_frames_align_alike():
    image = read("astronaut.png")
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    colour_clip, grey_clip = align_clip([image, image], PARAMS), align_clip([grey, grey], PARAMS)
    assert np.array_equal(colour_clip.transform, grey_clip.transform)
    assert np.array_equal(colour_clip.faces, grey_clip.faces)


def _flow_error(frame: np.ndarray, shift: int, warp) -> tuple[float, float]:
    """(crop scale, mean endpoint error in crop px over the face) of mer's flow between the
    crops of ``frame`` and of it moved ``shift`` whole pixels right (exact: no resampling)."""
    from mer.config import FeatureParams
    from mer.features.flow import flow_between

    clip = align_clip([frame, frame], PARAMS)
    matrix = clip.transform.astype(np.float64)
    grey = lm.to_grey(frame)
    onset, moved = warp([grey, np.roll(grey, shift, axis=1)], clip.transform, PARAMS.size)
    flow = flow_between(onset, moved, FeatureParams())
    points = clip.landmarks
    rows = slice(int(points[19, 1]), int(points[8, 1]) - 5)
    face = flow[rows, int(points[0, 0]) + 5:int(points[16, 0]) - 5]
    expected = shift * matrix[:, 0]  # the frame's x axis in the crop
    error = np.hypot(face[..., 0] - expected[0], face[..., 1] - expected[1]).mean()
    return float(np.hypot(*matrix[0, :2])), float(error)


def test_a_large_frame_is_halved_before_it_is_cropped():
    """A review (h70 F1): a frame shrunk to a quarter (SAMM's 2040 x 1088 frames crop at
    about 0.25) was sampled bilinearly, one point per crop pixel, and aliased: a whole-pixel
    motion read with a mean error of 0.09 crop px (a 0.25 px motion read 36 % low). Halved
    first (cv2.pyrDown), 0.02."""
    from mer.faces.align import PYRAMID_BELOW

    large = cv2.resize(read("biden.jpg"), None, fx=1.4, fy=1.4, interpolation=cv2.INTER_CUBIC)
    scale, error = _flow_error(large, 2, warp_faces)
    assert scale < PYRAMID_BELOW / 1.5
    assert error < 0.03, error

    def plain(frames, transform, size):  # the warp before: bilinear, no halving
        return np.stack([cv2.warpAffine(f, transform, (size, size), flags=cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_REPLICATE) for f in frames])

    assert _flow_error(large, 2, plain)[1] > 2 * error


def test_a_frame_cropped_at_scale_above_the_pyramid_is_warped_as_before():
    """The embedded set crops at 0.45-0.64: its crops, hence its figures, do not move."""
    from mer.faces.align import PYRAMID_BELOW, warp_grey

    grey = lm.to_grey(read("obama-480p.jpg"))
    clip = align_clip([read("obama-480p.jpg")] * 2, PARAMS)
    assert np.hypot(*clip.transform[0, :2]) >= PYRAMID_BELOW
    before = cv2.warpAffine(grey, clip.transform, (PARAMS.size, PARAMS.size),
                            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    assert np.array_equal(warp_grey(grey, clip.transform, PARAMS.size), before)
    assert np.array_equal(warp_faces([grey], clip.transform, PARAMS.size)[0], before)
