"""Augmentation moves flow vectors with the pixels, and photometric jitter spares flow."""

from __future__ import annotations

import numpy as np
import pytest

from mer.config import AugmentParams
from mer.models.augment import ClipAugmenter, apply_geometry, build_geometry, rotate_vectors

SIZE = 9  # odd: the rotation centre is a pixel centre, so 90 degrees maps the grid onto itself
INNER = slice(2, SIZE - 2)  # away from the zero-filled border


def constant_flow(u: float, v: float, strain: float = 0.5, steps: int = 2) -> np.ndarray:
    flow = np.empty((steps, 3, SIZE, SIZE), np.float32)
    flow[:, 0], flow[:, 1], flow[:, 2] = u, v, strain
    return flow


def fixed(hflip: bool = False, rotate: float = 0.0, scale: float = 1.0, with_apex=False):
    return build_geometry(1.0 if hflip else 0.0, (rotate, rotate), (scale, scale), seed=0,
                          with_apex=with_apex)


def test_horizontal_flip_negates_u_and_mirrors_the_field():
    flow = constant_flow(1.0, 0.0)
    flow[:, 1, :, 0] = 7.0  # a marker in v on the left edge
    out, _ = apply_geometry(fixed(hflip=True), flow, None)
    assert np.allclose(out[:, 0], -1.0)
    assert np.allclose(out[:, 1, :, -1], 7.0)  # the marker is now on the right edge
    assert np.allclose(out[:, 1, :, :-1], 0.0)
    assert np.allclose(out[:, 2], 0.5)  # strain is a scalar: resampled, not changed


def test_rotation_by_90_degrees_turns_rightward_motion_upward():
    # x right, y down; albumentations' +90 turns content counter-clockwise on screen,
    # so (u, v) = (1, 0) becomes (0, -1): the documented sign.
    out, _ = apply_geometry(fixed(rotate=90.0), constant_flow(1.0, 0.0), None)
    assert np.allclose(out[:, 0, INNER, INNER], 0.0, atol=1e-5)
    assert np.allclose(out[:, 1, INNER, INNER], -1.0, atol=1e-5)
    assert np.allclose(out[:, 2, INNER, INNER], 0.5, atol=1e-5)


def test_vectors_turn_the_way_the_pixels_turn():
    """The sign is not assumed: a marker right of the centre must move where (1, 0) points."""
    flow = constant_flow(1.0, 0.0, strain=0.0, steps=1)
    centre = SIZE // 2
    flow[0, 2, centre, centre + 3] = 1.0  # marker in the strain channel, 3 px right
    out, _ = apply_geometry(fixed(rotate=90.0), flow, None)
    row, col = np.unravel_index(np.argmax(out[0, 2]), out[0, 2].shape)
    moved = np.array([col - centre, row - centre]) / 3.0  # (dx, dy) of the marker, unit
    vector = out[0, :2, centre, centre]
    assert np.allclose(moved, vector, atol=1e-5)


def test_scale_multiplies_vectors():
    out, _ = apply_geometry(fixed(scale=2.0), constant_flow(1.0, 0.5), None)
    assert np.allclose(out[:, 0, INNER, INNER], 2.0, atol=1e-5)
    assert np.allclose(out[:, 1, INNER, INNER], 1.0, atol=1e-5)


# OpenCV warps at most 4 channels at a time, so a clip's 3T planes go in groups of 4, 3 and 1
# (albumentations splits 2 into 1 + 1), and its code paths for those widths round differently
# (OpenCV 5.1 vs 4.x): steps agree to float32 rounding, not bit for bit. A different geometry
# moves values by tenths.
SAME_GEOMETRY_ATOL = 1e-6


@pytest.mark.parametrize("steps", [2, 3, 4])  # 6, 9 and 12 planes: every grouping
def test_every_step_and_the_apex_share_one_geometry(steps):
    rng = np.random.default_rng(0)
    pattern = rng.uniform(0.1, 0.9, size=(SIZE, SIZE)).astype(np.float32)  # a valid image
    flow = np.stack([np.stack([pattern, pattern, pattern])] * steps)  # (T, 3, I, I)
    apex = pattern[None].copy()
    params = AugmentParams(hflip=0.5, rotate_deg=30, scale=0.2, brightness=0, contrast=0)
    augmenter = ClipAugmenter(params, seed=3, with_apex=True)
    for _ in range(5):
        out, out_apex = augmenter(flow, apex)
        assert not np.allclose(out[0, 2], pattern)  # something happened
        for step in range(1, steps):
            np.testing.assert_allclose(out[step], out[0], rtol=0, atol=SAME_GEOMETRY_ATOL)
        np.testing.assert_allclose(out_apex[0], out[0, 2], rtol=0,
                                   atol=SAME_GEOMETRY_ATOL)  # apex warped like strain


def test_photometric_changes_touch_the_apex_never_flow():
    flow = constant_flow(0.3, -0.2)
    apex = np.full((1, SIZE, SIZE), 0.5, np.float32)
    params = AugmentParams(hflip=0.0, rotate_deg=0.0, scale=0.0, brightness=0.5, contrast=0.5)
    augmenter = ClipAugmenter(params, seed=1, with_apex=True)
    changed = 0
    for _ in range(5):
        out, out_apex = augmenter(flow, apex)
        assert np.array_equal(out, flow)  # identity geometry, and no photometric on flow
        changed += not np.allclose(out_apex, apex)
    assert changed > 0


def test_augmentation_is_seeded():
    flow = constant_flow(1.0, 0.0)
    flow[:, :, 0, 0] = 3.0
    apex = np.zeros((1, SIZE, SIZE), np.float32)
    first = ClipAugmenter(AugmentParams(), seed=5, with_apex=False)
    second = ClipAugmenter(AugmentParams(), seed=5, with_apex=False)
    for _ in range(3):
        assert np.array_equal(first(flow, apex)[0], second(flow, apex)[0])


def test_a_transform_without_a_vector_rule_is_refused():
    with pytest.raises(ValueError, match="no vector rule"):
        rotate_vectors(constant_flow(1, 0), [("VerticalFlip", {})])
