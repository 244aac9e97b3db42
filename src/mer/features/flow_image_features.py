"""Precomputed MEGC-style flow images as feature tensors (the file format and its channel
orders: mer.core.flow_image, which reads each image in u, v, strain order).

The values' units are lost, so the mapping is fixed, not inverted: u, v from 0..max to
-1..1 (so a min-max scaled zero at 127.5 of 255 is about 0), strain from 0..max to 0..1
(max = 255 for 8-bit, 65535 for 16-bit). The images are already aligned crops: T = 1, there is
no apex frame (zeros), and the SVM's features are the mean u, v and strain of each cell of a
fixed ``features.image_grid`` x ``image_grid`` grid (CELL_STATS), not the landmark regions.

Why cell means rather than the frames' per-region HOOF and strain maximum: min-max scaling
moves each image's zero motion away from mid-grey by a different amount, so a histogram of
flow directions reads a shifted field, and the maximum a single pixel. Measured on the embedded
composite as flow images (`benchmarks/bench_compare.py`'s dataset: 443 clips, 74 subjects,
megc-3), the tuned SVM alone, LOSO, pooled UF1 / UAR:

| SVM features (per cell)                      | 4 x 4 grid    | 7 x 7 grid    |
| -------------------------------------------- | ------------- | ------------- |
| HOOF (8 bins), mean u, v, strain mean, max   | 0.858 / 0.856 | 0.862 / 0.856 |
| the same without HOOF                        |               | 0.894 / 0.897 |
| mean u, v, strain (this)                     |               | 0.908 / 0.909 |
"""

from __future__ import annotations

import numpy as np

from mer.config import FeatureParams
from mer.features.extract import ClipFeatures
from mer.features.flow import resize_map
from mer.features.regions import grid_regions

CELL_STATS = ("u", "v", "strain_mean")  # per grid cell, in this order


def cell_means(maps: np.ndarray, cells: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """(I, I, 3) u, v, strain maps -> (cells * cells * 3,) means of each cell, row-major, and
    their names ('grid_r<row>c<column>/t0/<stat>')."""
    regions = grid_regions(maps.shape[0], cells)
    means = np.stack([maps[mask].astype(np.float64).mean(axis=0) for mask in regions.masks])
    names = tuple(f"{region}/t0/{stat}" for region in regions.names for stat in CELL_STATS)
    return means.ravel(), names


def describe_flow_image(image: np.ndarray, params: FeatureParams) -> ClipFeatures:
    """Feature tensors (T = 1) of one (H, W, 3) integer flow image in u, v, strain order.

    flow: (1, 3, I, I) float32, u and v in -1..1 (0 = no motion when the scaling was
    symmetric), strain in 0..1; apex: (1, I, I) zeros; au: (image_grid^2 * 3,) cell means.
    """
    top = float(np.iinfo(image.dtype).max)
    scaled = image.astype(np.float32) / top  # (H, W, 3) in 0..1
    maps = np.dstack([scaled[:, :, :2] * 2 - 1, scaled[:, :, 2]])  # u, v in -1..1; strain
    maps = resize_map(maps, params.input_size)  # (I, I, 3)
    features, names = cell_means(maps, params.image_grid)
    size = params.input_size
    return ClipFeatures(
        flow=maps.transpose(2, 0, 1)[None].astype(np.float32),  # (1, 3, I, I)
        apex_image=np.zeros((1, size, size), np.float32),
        au_features=features.astype(np.float32),
        au_feature_names=names,
        apex_index=0,
        apex_estimated=False,
    )
