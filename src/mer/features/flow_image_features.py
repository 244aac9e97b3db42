"""Precomputed MEGC-style flow images as feature tensors (the file format and its channel
orders: mer.core.flow_image, which reads each image in u, v, strain order).

The values' units are lost, so the mapping is fixed, not inverted: u, v from 0..max to
-1..1 (so a min-max scaled zero at 127.5 of 255 is about 0), strain from 0..max to 0..1
(max = 255 for 8-bit, 65535 for 16-bit). The images are already aligned crops: AU features
use a fixed grid of cells, T = 1, and there is no apex frame (zeros).
"""

from __future__ import annotations

import numpy as np

from mer.config import FeatureParams
from mer.features.extract import ClipFeatures, feature_names, region_features
from mer.features.flow import resize_map
from mer.features.regions import grid_regions


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
        apex_image=np.zeros((1, size, size), np.float32),
        au_features=rows.ravel().astype(np.float32),
        au_feature_names=feature_names(regions.names, 1, params.hoof_bins),
        apex_index=0,
        apex_estimated=False,
    )
