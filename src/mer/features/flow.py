"""Dense optical flow between aligned faces, head-motion removal and optical strain.

Conventions: a flow is (H, W, 2) float32 u, v in px, from the reference (onset) frame to the
target: a point at (x, y) in the reference is at (x + u, y + v) in the target. Image y grows
downwards, so a rightward motion has u > 0 and a downward one v > 0.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from mer.config import FeatureParams
from mer.errors import MerError


@cache
def _dis(patch_size: int, patch_stride: int, iterations: int, refine_iterations: int):
    import cv2

    # Start from the medium preset (its variational alpha/delta/gamma, mean normalisation and
    # spatial propagation); finest scale 0 keeps full resolution for sub-pixel motion.
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    dis.setFinestScale(0)
    dis.setPatchSize(patch_size)
    dis.setPatchStride(patch_stride)
    dis.setGradientDescentIterations(iterations)
    dis.setVariationalRefinementIterations(refine_iterations)
    return dis


@cache
def _tvl1():
    import cv2

    return cv2.optflow.DualTVL1OpticalFlow_create()


def tvl1_available() -> bool:
    """True when this OpenCV build has TV-L1 (the contrib build's cv2.optflow)."""
    import cv2

    return hasattr(cv2, "optflow")


def flow_between(reference: np.ndarray, target: np.ndarray, params: FeatureParams) -> np.ndarray:
    """(H, W, 2) float32 flow from ``reference`` to ``target``, both (H, W) uint8 grey."""
    if params.flow == "tvl1":
        if not tvl1_available():
            raise MerError(
                "features.flow is 'tvl1' but this OpenCV has no cv2.optflow: TV-L1 is only in "
                "the contrib build (pip install opencv-contrib-python-headless, which replaces "
                "opencv-python-headless); or set features.flow: dis")
        flow = _tvl1().calc(reference, target, None)
    else:
        dis = _dis(params.dis_patch_size, params.dis_patch_stride, params.dis_iterations,
                   params.dis_refine_iterations)
        flow = dis.calc(reference, target, None)
    return np.asarray(flow, dtype=np.float32)


def remove_head_motion(flow: np.ndarray, reference_mask: np.ndarray) -> np.ndarray:
    """Flow minus its mean over ``reference_mask`` (H, W) bool: a rigid region's translation.

    The nose bridge moves with the head but hardly with any facial action, so its mean flow is
    the global (head) motion; what remains is the face's own.
    """
    if not reference_mask.any():
        raise ValueError("the head-motion reference region is empty")
    return (flow - flow[reference_mask].mean(axis=0)).astype(np.float32)


def resize_map(values: np.ndarray, size: int) -> np.ndarray:
    """A (H, W) or (H, W, C) float map resized to (size, size[, C]), area-averaged.

    Values are not rescaled: flow stays in px of the resolution it was computed at, so every
    clip's u, v share one unit whatever the tensor size.
    """
    import cv2

    if values.shape[0] == size and values.shape[1] == size:
        return values.astype(np.float32, copy=True)
    # area-averaged when either side shrinks (h70: a 20 x 96 map, shrunk bilinearly across
    # its width, lost two of every three columns)
    interpolation = cv2.INTER_AREA if max(values.shape[:2]) > size else cv2.INTER_LINEAR
    return cv2.resize(values.astype(np.float32), (size, size), interpolation=interpolation)
