"""Precomputed MEGC-style flow images (u, v, strain in three channels) as feature tensors.

A flow image is one (H, W, 3) 8- or 16-bit image per clip holding the onset->apex
horizontal flow u, vertical flow v and optical strain, each min-max scaled to the integer
range. Which file channel holds which depends on the tool that wrote it: the usual public
preprocessing (MATLAB, PIL, imageio) writes u, v, strain as R, G, B, which OpenCV decodes as
channel 2, 1, 0; an array saved with cv2.imwrite has u in OpenCV's channel 0. The data stage
finds (or is told, data.flow_channels) the order of each corpus and flags every manifest row
with it (mer.data.flow_images); ``read_flow_image`` takes that order and returns u, v,
strain in channels 0, 1, 2.

The values' units are lost, so the mapping is fixed, not inverted: u, v from 0..max to
-1..1 (so a min-max scaled zero at 127.5 of 255 is about 0), strain from 0..max to 0..1
(max = 255 for 8-bit, 65535 for 16-bit). The images are already aligned crops: AU features
use a fixed grid of cells, T = 1, and there is no apex frame (zeros).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mer.config import FeatureParams
from mer.data.flow_images import BGR, ORDERS, RGB
from mer.errors import MerError
from mer.features.extract import ClipFeatures, feature_names, region_features
from mer.features.flow import resize_map
from mer.features.regions import grid_regions

CHANNELS = 3  # u, v, strain


def in_uvs_order(image: np.ndarray, order: str) -> np.ndarray:
    """(H, W, 3) pixels as OpenCV decodes them -> the same pixels in u, v, strain order.

    ``order``: ``bgr`` (OpenCV's channel 0 is u: kept as is) or ``rgb`` (R, G, B hold u, v,
    strain: OpenCV's channels reversed).
    """
    if order == BGR:
        return image
    if order == RGB:
        return image[:, :, ::-1]
    raise ValueError(f"flow image channel order must be one of {ORDERS}, not {order!r}")


def read_flow_image(path: str | Path, where: str, order: str) -> np.ndarray:
    """(H, W, 3) integer array of a flow image, channels u, v, strain (pixel values).

    ``order`` is how the file holds them (``rgb`` or ``bgr``, see ``in_uvs_order``; ``bgr``
    returns the channels as OpenCV decodes them); ``where`` names the manifest row for errors.
    """
    import cv2

    path = Path(path)
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED) if path.is_file() else None
    if image is None:
        raise MerError(f"{path} ({where}): missing or not a readable image; fix the file or "
                       "its manifest row")
    channels = 1 if image.ndim == 2 else image.shape[2]
    if channels != CHANNELS:
        raise MerError(f"{path} ({where}): a flow image needs {CHANNELS} channels (u, v, "
                       f"strain), this one has {channels}; regenerate it as a 3-channel image")
    if not np.issubdtype(image.dtype, np.integer):
        raise MerError(f"{path} ({where}): expected an 8- or 16-bit image, got {image.dtype}")
    return np.ascontiguousarray(in_uvs_order(image, order))


def describe_flow_image(image: np.ndarray, params: FeatureParams) -> ClipFeatures:
    """Feature tensors (T = 1) of one (H, W, 3) integer flow image in u, v, strain order.

    flow: (1, 3, I, I) float32, u and v in -1..1 (0 = no motion when the scaling was
    symmetric), strain in 0..1; apex: (1, I, I) zeros; au: the grid cells' features.
    """
    top = float(np.iinfo(image.dtype).max)
    scaled = image.astype(np.float32) / top  # (H, W, 3) in 0..1
    maps = np.dstack([scaled[:, :, :2] * 2 - 1, scaled[:, :, 2]])  # u, v in -1..1; strain
    maps = resize_map(maps, params.input_size)  # (I, I, 3)
    regions = grid_regions(params.input_size, params.image_grid)
    rows = region_features(maps[:, :, :2], maps[:, :, 2], regions, params.hoof_bins)
    size = params.input_size
    return ClipFeatures(
        flow=maps.transpose(2, 0, 1)[None].astype(np.float32),  # (1, 3, I, I)
        apex=np.zeros((1, size, size), np.float32),
        au=rows.ravel().astype(np.float32),
        au_names=feature_names(regions.names, 1, params.hoof_bins),
        apex_index=0,
        apex_estimated=False,
    )
