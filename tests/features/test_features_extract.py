"""describe_clip: step sampling, apex estimation, shapes, HOOF and AU regions."""

from __future__ import annotations

import typing

import numpy as np
import pytest
from features_helpers import bump_motion, profile

from mer.config import FacialRegion, FeatureParams
from mer.errors import MerError
from mer.features.extract import describe_clip, hoof, region_features
from mer.features.regions import au_regions, grid_regions
from mer.features.sampling import apex_step, sample_steps

PARAMS = FeatureParams()


def mouth_clip(face: np.ndarray, landmarks: np.ndarray, count: int, apex: int,
               peak: float = 1.5) -> np.ndarray:
    """(count, S, S) frames: the mouth moves up along a rise-fall profile peaking at ``apex``."""
    centre = tuple(landmarks[48:60].mean(axis=0))
    return np.stack([bump_motion(face, centre, a) for a in profile(count, apex, peak)])


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 5, 8])
@pytest.mark.parametrize(("count", "apex"), [(60, 30), (23, 5), (40, 39), (2, 1), (4, 2)])
def test_steps_are_ordered_in_range_and_include_the_apex(steps, count, apex):
    indices = sample_steps(count, apex, steps)
    assert len(indices) == steps
    assert apex in indices
    assert list(indices) == sorted(indices)
    assert all(1 <= i <= count - 1 for i in indices)
    assert indices[apex_step(steps)] == apex  # the step the reference nets read


def test_classic_and_sequence_sampling():
    assert sample_steps(61, 30, 1) == (30,)  # onset -> apex
    assert sample_steps(61, 30, 3) == (15, 30, 45)  # mid-rise, apex, mid-fall
    assert sample_steps(61, 30, 4) == (10, 20, 30, 45)


def test_short_clip_is_sampled_with_repetition():
    # Fewer than T + 1 frames: steps repeat frames instead of the clip being rejected.
    assert sample_steps(2, 1, 3) == (1, 1, 1)
    assert sample_steps(3, 1, 3) == (1, 1, 2)


def test_apex_is_estimated_at_the_peak(aligned_face):
    face, landmarks = aligned_face
    clip = mouth_clip(face, landmarks, 14, 9)
    described = describe_clip(clip, landmarks, None, PARAMS)
    assert described.apex_index == 9 and described.apex_estimated


def test_head_drift_growing_through_the_clip_does_not_move_the_apex(aligned_face):
    import cv2

    face, landmarks = aligned_face
    clip = mouth_clip(face, landmarks, 14, 5)
    size = face.shape[0]
    drifted = []
    for k, frame in enumerate(clip):  # the head turns 0.15 degrees more each frame
        rotation = cv2.getRotationMatrix2D((size / 2, size / 2), 0.15 * k, 1.0)
        drifted.append(cv2.warpAffine(frame, rotation, (size, size), flags=cv2.INTER_CUBIC,
                                      borderMode=cv2.BORDER_REPLICATE))
    # By the offset the drift moves the face's edges further than the expression moved the
    # mouth, so the largest flow is at the end; the largest deformation is still the apex.
    described = describe_clip(np.stack(drifted), landmarks, None, PARAMS)
    assert abs(described.apex_index - 5) <= 1


def test_a_blink_does_not_become_the_apex(aligned_face):
    face, landmarks = aligned_face
    clip = mouth_clip(face, landmarks, 12, 8, peak=0.8)
    eye = tuple(landmarks[36:42].mean(axis=0))
    blink = np.zeros(len(clip))
    blink[3] = 3.0  # a large, fast lid movement at frame 3, inside the eye
    clip = np.stack([bump_motion_eye(frame, eye, b) for frame, b in zip(clip, blink, strict=True)])
    assert describe_clip(clip, landmarks, None, PARAMS).apex_index == 8


def bump_motion_eye(frame: np.ndarray, centre: tuple[float, float], amount: float) -> np.ndarray:
    """A narrow bump confined to the eye (sigma a fifth of the usual one)."""
    import cv2

    if amount == 0:
        return frame
    h, w = frame.shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    sigma = 2.0
    bump = amount * np.exp(-((x - centre[0]) ** 2 + (y - centre[1]) ** 2) / (2 * sigma**2))
    return cv2.remap(frame, x, (y + bump).astype(np.float32), cv2.INTER_CUBIC,
                     borderMode=cv2.BORDER_REPLICATE)


@pytest.mark.parametrize("steps", [1, 3])
def test_shapes_and_names(aligned_face, steps):
    face, landmarks = aligned_face
    params = FeatureParams(steps=steps, input_size=24, hoof_bins=6)
    described = describe_clip(mouth_clip(face, landmarks, 10, 5), landmarks, 5, params)
    regions = len(au_regions(landmarks, face.shape[0]).names)
    assert described.flow.shape == (steps, 3, 24, 24) and described.flow.dtype == np.float32
    assert described.apex_image.shape == (1, 24, 24)
    assert described.apex_image.min() >= 0 and described.apex_image.max() <= 1
    assert described.au_features.shape == (steps * regions * (6 + 4),)
    assert len(described.au_feature_names) == described.au_features.shape[0]
    assert len(set(described.au_feature_names)) == len(described.au_feature_names)
    assert f"brow_L/t{steps - 1}/hoof5" in described.au_feature_names
    assert "mouth/t0/strain_max" in described.au_feature_names
    assert not described.apex_estimated and described.apex_index == 5


def test_mouth_motion_shows_in_the_mouth_region_only(aligned_face):
    face, landmarks = aligned_face
    described = describe_clip(mouth_clip(face, landmarks, 10, 5), landmarks, 5,
                              FeatureParams(steps=1))
    values = dict(zip(described.au_feature_names, described.au_features, strict=True))
    assert values["mouth/t0/v"] < -0.5  # upward motion: negative v
    # The brows stay still (up to what the broad test bump leaks into the nose reference).
    assert abs(values["brow_L/t0/v"]) < 0.2 * abs(values["mouth/t0/v"])
    assert abs(values["brow_R/t0/v"]) < 0.2 * abs(values["mouth/t0/v"])
    up_bin = 3 * PARAMS.hoof_bins // 4  # bins from +u, y down: 3/4 turn is upwards
    assert values[f"mouth/t0/hoof{up_bin}"] == max(values[f"mouth/t0/hoof{b}"]
                                                   for b in range(PARAMS.hoof_bins))


def test_flow_size_differs_from_face_size(aligned_face):
    face, landmarks = aligned_face
    described = describe_clip(mouth_clip(face, landmarks, 8, 4), landmarks, 4,
                              FeatureParams(steps=1, flow_size=64))
    values = dict(zip(described.au_feature_names, described.au_features, strict=True))
    moving = {name: abs(values[f"{name}/t0/v"])
              for name in ("mouth", "brow_L", "lower_lid_R", "nose")}
    assert values["mouth/t0/v"] < -0.15 and max(moving, key=moving.get) == "mouth"


def test_hoof_directions():
    size, bins = 16, 8
    mask = np.ones((size, size), bool)
    right = np.dstack([np.full((size, size), 2.0), np.zeros((size, size))])
    down = right[..., ::-1]
    assert np.argmax(hoof(right, mask, bins)) == 0
    assert np.argmax(hoof(down, mask, bins)) == bins // 4
    assert hoof(right, mask, bins).sum() == pytest.approx(2.0)  # mean magnitude, px
    assert hoof(right, np.zeros_like(mask), bins).sum() == 0


def test_eye_interiors_are_masked(aligned_face):
    face, landmarks = aligned_face
    regions = au_regions(landmarks, face.shape[0])
    eye_centre = np.rint(landmarks[36:42].mean(axis=0)).astype(int)
    assert not regions.masks[:, eye_centre[1], eye_centre[0]].any()
    # Motion confined to the eye interior leaves the eye region's features at zero.
    flow = np.zeros((*face.shape, 2), np.float32)
    flow[eye_centre[1] - 1:eye_centre[1] + 2, eye_centre[0] - 2:eye_centre[0] + 3, 1] = 3.0
    rows = region_features(flow, np.zeros(face.shape, np.float32), regions, 8)
    for lid in ("upper_lid_R", "lower_lid_R"):
        assert np.abs(rows[regions.names.index(lid)]).max() == 0, lid


def test_a_rising_lower_lid_shows_in_the_lower_lid_region_only(aligned_face):
    # AU7's mark: the skin just below the lower lid (landmarks 40, 41) moves up.
    face, landmarks = aligned_face
    regions = au_regions(landmarks, face.shape[0])
    flow = np.zeros((*face.shape, 2), np.float32)
    for x, y in np.rint(landmarks[[40, 41]]).astype(int):
        flow[y + 2:y + 5, x - 2:x + 3, 1] = -1.0  # upwards, 2-4 px below the contour
    rows = region_features(flow, np.zeros(face.shape, np.float32), regions, 8)
    v = 8 + 1  # column of the mean v after the HOOF bins and mean u
    assert rows[regions.names.index("lower_lid_R"), v] < 0
    for other in ("upper_lid_R", "lower_lid_L", "cheek_R", "brow_R"):
        assert rows[regions.names.index(other), v] == 0, other


def test_regions_cover_each_au_area(aligned_face):
    face, landmarks = aligned_face
    regions = au_regions(landmarks, face.shape[0])
    # The names spotting.regions may list (config.FacialRegion), in their order.
    assert regions.names == typing.get_args(FacialRegion)
    sizes = dict(zip(regions.names, regions.masks.sum(axis=(1, 2)), strict=True))
    assert min(sizes.values()) > 50  # every region has pixels to measure
    # Subject's left is the image's right.
    columns = {n: np.nonzero(m.any(axis=0))[0].mean() for n, m in zip(regions.names,
                                                                       regions.masks,
                                                                       strict=True)}
    assert columns["lip_corner_L"] > columns["lip_corner_R"]
    assert columns["brow_L"] > columns["brow_R"]


def test_grid_regions_tile_the_image():
    regions = grid_regions(30, 4)
    assert regions.masks.shape == (16, 30, 30)
    assert (regions.masks.sum(axis=0) == 1).all()


def test_bad_inputs(aligned_face):
    face, landmarks = aligned_face
    clip = np.stack([face, face, face])
    with pytest.raises(MerError, match="outside the clip"):
        describe_clip(clip, landmarks, 3, PARAMS)
    with pytest.raises(MerError, match="outside the clip"):
        describe_clip(clip, landmarks, 0, PARAMS)
    with pytest.raises(MerError, match="at least two frames"):
        describe_clip(clip[:1], landmarks, None, PARAMS)
    with pytest.raises(MerError, match="uint8"):
        describe_clip(clip.astype(np.float32), landmarks, 1, PARAMS)


def test_two_frame_clip_works_at_any_t(aligned_face):
    face, landmarks = aligned_face
    clip = mouth_clip(face, landmarks, 2, 1)
    described = describe_clip(clip, landmarks, None, FeatureParams(steps=3))
    assert described.apex_index == 1
    assert np.array_equal(described.flow[0], described.flow[1])  # the repeated frame


def test_describe_clip_is_deterministic_and_pure(aligned_face):
    face, landmarks = aligned_face
    clip = mouth_clip(face, landmarks, 9, 4)
    before = clip.copy(), landmarks.copy()
    first = describe_clip(clip, landmarks, None, PARAMS)
    second = describe_clip(clip, landmarks, None, PARAMS)
    assert np.array_equal(first.flow, second.flow)
    assert np.array_equal(first.au_features, second.au_features)
    assert np.array_equal(clip, before[0]) and np.array_equal(landmarks, before[1])
