"""Optical flow against known displacements of a real aligned face; head motion; strain."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mer.config import FeatureParams
from mer.core.flow_image import optical_strain
from mer.errors import MerError
from mer.features.flow import flow_between, remove_head_motion, resize_map, tvl1_available

PARAMS = FeatureParams()
MARGIN = 8  # px at the crop border where warped content leaves the frame


def warp(face: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``face`` with content moved by (u, v) (backward map, bicubic), as uint8."""
    y, x = np.mgrid[0:face.shape[0], 0:face.shape[1]].astype(np.float32)
    moved = cv2.remap(face.astype(np.float32), x - u.astype(np.float32),
                      y - v.astype(np.float32), cv2.INTER_CUBIC,
                      borderMode=cv2.BORDER_REPLICATE)
    return np.clip(np.rint(moved), 0, 255).astype(np.uint8)


def endpoint_error(flow: np.ndarray, u: np.ndarray, v: np.ndarray) -> float:
    inner = np.s_[MARGIN:-MARGIN, MARGIN:-MARGIN]
    return float(np.hypot(flow[..., 0] - u, flow[..., 1] - v)[inner].mean())


def smooth_field(x: np.ndarray, y: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A smooth displacement field of 0.1 to 2 px over a (size, size) image."""
    magnitude = 1.05 + 0.95 * np.sin(5 * x / size + 0.3) * np.cos(4 * y / size)
    angle = 2 * np.pi * (x + 0.5 * y) / size
    return magnitude * np.cos(angle), magnitude * np.sin(angle)


def test_subpixel_smooth_motion_is_recovered(aligned_face):
    face, _ = aligned_face
    size = face.shape[0]
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    u, v = smooth_field(x, y, size)
    assert np.hypot(u, v).min() > 0.09 and np.hypot(u, v).max() < 2.01
    moved = warp(face, u, v)  # moved(q) = face(q - g(q))
    # Forward truth: the point p of the face lands at q with q = p + g(q); solve by iteration.
    qx, qy = x, y
    for _ in range(30):
        gu, gv = smooth_field(qx, qy, size)
        qx, qy = x + gu, y + gv
    flow = flow_between(face, moved, PARAMS)
    assert flow.shape == (size, size, 2) and flow.dtype == np.float32
    assert endpoint_error(flow, qx - x, qy - y) < 0.08


def test_sign_convention_rightward_and_downward_are_positive(aligned_face):
    face, _ = aligned_face
    ones = np.ones(face.shape)
    right = flow_between(face, warp(face, 0.5 * ones, 0 * ones), PARAMS)
    down = flow_between(face, warp(face, 0 * ones, 0.5 * ones), PARAMS)
    inner = np.s_[MARGIN:-MARGIN, MARGIN:-MARGIN]
    assert right[inner][..., 0].mean() == pytest.approx(0.5, abs=0.05)
    assert abs(right[inner][..., 1].mean()) < 0.05
    assert down[inner][..., 1].mean() == pytest.approx(0.5, abs=0.05)


def test_global_shift_is_removed_by_the_nose_bridge(aligned_face):
    face, _ = aligned_face
    size = face.shape[0]
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    local = -1.0 * np.exp(-((x - 64) ** 2 + (y - 100) ** 2) / (2 * 8**2))  # mouth moves up
    flow = flow_between(face, warp(face, 0.8 + 0 * x, 0.3 + local), PARAMS)
    bridge = np.zeros((size, size), bool)
    bridge[50:70, 58:70] = True
    residual = remove_head_motion(flow, bridge)
    assert np.abs(residual[bridge].mean(axis=0)).max() < 1e-5
    still = np.zeros((size, size), bool)
    still[20:40, 20:108] = True  # the forehead: only the head moved there
    assert np.abs(residual[still].mean(axis=0)).max() < 0.05
    assert residual[96:104, 60:68, 1].mean() < -0.6  # the local motion survives


def test_head_motion_reference_must_not_be_empty():
    with pytest.raises(ValueError, match="empty"):
        remove_head_motion(np.zeros((8, 8, 2), np.float32), np.zeros((8, 8), bool))


def test_strain_of_a_translation_is_zero_and_of_a_stretch_is_not(aligned_face):
    constant = np.full((32, 32, 2), 1.5, np.float32)
    assert np.abs(optical_strain(constant)).max() == 0
    x = np.arange(32, dtype=np.float32)
    stretch = np.dstack([np.tile(0.1 * x, (32, 1)), np.zeros((32, 32), np.float32)])
    assert optical_strain(stretch)[4:-4, 4:-4] == pytest.approx(0.1, abs=1e-6)
    # Estimated flow of a shifted real face: strain stays near zero.
    face, _ = aligned_face
    ones = np.ones(face.shape)
    flow = flow_between(face, warp(face, 0.7 * ones, -0.4 * ones), PARAMS)
    assert optical_strain(flow)[MARGIN:-MARGIN, MARGIN:-MARGIN].mean() < 0.02


def test_resize_keeps_vector_units():
    flow = np.full((128, 128, 2), 0.5, np.float32)
    small = resize_map(flow, 32)
    assert small.shape == (32, 32, 2)
    assert np.allclose(small, 0.5)  # u, v stay in px at the flow_size scale


def test_resize_averages_a_map_wider_than_tall():
    """A review (h70 F4): the interpolation was chosen from the height alone, so a 20 x 96
    map shrunk bilinearly across its width kept one column in three."""
    stripes = np.tile((np.arange(96) % 3 == 0).astype(np.float32), (20, 1))  # mean 1/3
    assert resize_map(stripes, 32).mean() == pytest.approx(1 / 3, abs=0.02)
    assert resize_map(stripes.T.copy(), 32).mean() == pytest.approx(1 / 3, abs=0.02)


def test_flow_is_deterministic(aligned_face):
    face, _ = aligned_face
    target = np.roll(face, 1, axis=1)
    assert np.array_equal(flow_between(face, target, PARAMS), flow_between(face, target, PARAMS))


@pytest.mark.skipif(tvl1_available(), reason="this OpenCV has TV-L1 (contrib build)")
def test_tvl1_without_contrib_names_the_key(aligned_face):
    face, _ = aligned_face
    with pytest.raises(MerError, match=r"features\.flow is 'tvl1'.*contrib"):
        flow_between(face, face, FeatureParams(flow="tvl1"))


@pytest.mark.skipif(not tvl1_available(), reason="TV-L1 needs the OpenCV contrib build")
def test_tvl1_recovers_a_shift(aligned_face):
    face, _ = aligned_face
    ones = np.ones(face.shape)
    flow = flow_between(face, warp(face, 0.5 * ones, 0 * ones), FeatureParams(flow="tvl1"))
    assert flow[MARGIN:-MARGIN, MARGIN:-MARGIN, 0].mean() == pytest.approx(0.5, abs=0.05)


def test_dis_stride_must_be_below_patch_size():
    from mer.config import parse_params
    from mer.errors import ParamsError

    with pytest.raises(ParamsError, match=r"features\.dis_patch_stride \(8\)"):
        parse_params({"features": {"dis_patch_size": 8, "dis_patch_stride": 8}})
