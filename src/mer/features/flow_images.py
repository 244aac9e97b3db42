"""Precomputed MEGC-style flow images (u, v, strain in three channels) as feature tensors.

Channels are taken in the order OpenCV returns them (0 = u, 1 = v, 2 = strain), which is the
order the usual preprocessing scripts (STSTNet's, OFF-ApexNet's) wrote with cv2.imwrite. The
images hold min-max scaled values whose units are lost, so the mapping is fixed, not inverted:
u, v from 0..max to -1..1, strain from 0..max to 0..1 (max = 255 for 8-bit, 65535 for 16-bit).
The images are already aligned crops: AU features use a fixed grid of cells, T = 1, and there is
no apex frame (zeros).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mer.config import FeatureParams
from mer.errors import MerError
from mer.features.extract import ClipFeatures, feature_names, region_features
from mer.features.flow import resize_map
from mer.features.regions import grid_regions

CHANNELS = 3  # u, v, strain


def read_flow_image(path: str | Path, where: str) -> np.ndarray:
    """(H, W, 3) integer array of a flow image; ``where`` names the manifest row for errors."""
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
    return image


def describe_flow_image(image: np.ndarray, params: FeatureParams) -> ClipFeatures:
    """Feature tensors (T = 1) of one (H, W, 3) integer flow image."""
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
