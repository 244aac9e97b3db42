"""Precomputed flow images become the same tensors as computed flow (T = 1)."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mer.config import FeatureParams
from mer.core.flow_image import FLOW_CHANNELS_BGR, FLOW_CHANNELS_RGB, in_uvs_order, read_flow_image
from mer.core.manifest import COLUMNS, read_manifest, write_manifest
from mer.errors import DatasetError, MerError
from mer.features.describe_clips import extract_features
from mer.features.flow_image_features import cell_means, describe_flow_image

PARAMS = FeatureParams(input_size=28, image_grid=2, hoof_bins=8)


def test_channels_map_to_u_v_strain_in_signed_ranges():
    image = np.zeros((28, 28, 3), np.uint8)
    image[:, :, 0] = 255  # u at its maximum: +1
    image[:, :, 1] = 0  # v at its minimum: -1
    image[:, :, 2] = 51  # strain 51/255 = 0.2
    described = describe_flow_image(image, PARAMS)
    assert described.flow.shape == (1, 3, 28, 28) and described.flow.dtype == np.float32
    assert np.allclose(described.flow[0, 0], 1) and np.allclose(described.flow[0, 1], -1)
    assert np.allclose(described.flow[0, 2], 0.2)
    assert described.apex_image.shape == (1, 28, 28) and not described.apex_image.any()
    values = dict(zip(described.au_feature_names, described.au_features, strict=True))
    assert values["grid_r1c0/t0/u"] == pytest.approx(1) and values["grid_r1c0/t0/v"] == -1
    assert values["grid_r0c1/t0/strain_mean"] == pytest.approx(0.2)
    assert len(described.au_feature_names) == 2 * 2 * 3  # image_grid 2: four cells


def test_cell_means_by_hand():
    maps = np.zeros((4, 4, 3))
    maps[:2, 2:, 0] = [[1, 3], [5, 7]]  # u in the top-right cell: mean 4
    maps[2:, :2, 2] = 0.5  # strain in the bottom-left cell
    features, names = cell_means(maps, 2)
    values = dict(zip(names, features, strict=True))
    assert names[:3] == ("grid_r0c0/t0/u", "grid_r0c0/t0/v", "grid_r0c0/t0/strain_mean")
    assert values["grid_r0c1/t0/u"] == 4 and values["grid_r1c0/t0/strain_mean"] == 0.5
    assert sum(features) == 4 + 0.5


def test_mid_grey_is_no_motion_and_16_bit_maps_alike():
    eight = np.full((20, 20, 3), 128, np.uint8)
    sixteen = np.full((20, 20, 3), 32896, np.uint16)  # 128/255 of 65535
    a, b = describe_flow_image(eight, PARAMS), describe_flow_image(sixteen, PARAMS)
    assert np.abs(a.flow[0, :2]).max() < 0.01  # 128 of 0..255 is about zero
    assert np.allclose(a.flow, b.flow, atol=1e-6)
    assert a.flow.shape == (1, 3, 28, 28)  # resized to input_size


def u_v_strain_pixels() -> np.ndarray:
    """(28, 28, 3) uint8: u at its maximum, v mid-grey (0), strain 51 (0.2)."""
    image = np.zeros((28, 28, 3), np.uint8)
    image[:, :, 0], image[:, :, 1], image[:, :, 2] = 255, 128, 51
    return image


def test_cv2_written_array_is_read_with_bgr(tmp_path):
    cv2.imwrite(str(tmp_path / "f.png"), u_v_strain_pixels())  # array channel 0 (u) first
    read = read_flow_image(tmp_path / "f.png", "clip, flows.csv:2", "bgr")
    assert np.array_equal(read, u_v_strain_pixels())
    assert np.allclose(describe_flow_image(read, PARAMS).flow[0, 0], 1)


def test_pil_written_rgb_is_read_with_rgb(tmp_path):
    Image.fromarray(u_v_strain_pixels(), "RGB").save(tmp_path / "f.png")  # R = u, B = strain
    read = read_flow_image(tmp_path / "f.png", "clip, flows.csv:2", "rgb")
    assert read.shape == (28, 28, 3) and read.flags.c_contiguous
    assert np.array_equal(read, u_v_strain_pixels())
    # Read as bgr, OpenCV's channel 0 (B) is the strain: what mer used to take for u.
    assert np.array_equal(read_flow_image(tmp_path / "f.png", "", "bgr")[:, :, 0],
                          np.full((28, 28), 51))


def test_unknown_order_is_refused():
    with pytest.raises(ValueError, match=r"one of \('rgb', 'bgr'\), not 'auto'"):
        in_uvs_order(u_v_strain_pixels(), "auto")


def image_manifest(tmp_path, flags: list[list[str]]) -> pd.DataFrame:
    """A flow-image manifest (through Parquet) of one PIL-written image per row."""
    rows = []
    for i, row_flags in enumerate(flags):
        path = tmp_path / f"flow{i}.png"
        Image.fromarray(u_v_strain_pixels(), "RGB").save(path)
        rows.append({"dataset": "flow-images", "subject": f"s{i}", "clip": f"c{i}",
                     "clip_id": f"flow-images/s{i}/c{i}", "frame_paths": [], "onset": -1,
                     "apex": -1, "offset": -1, "fps": 0.0, "aus": "", "emotion": "positive",
                     "label": "positive", "label_index": 0, "flow_image": str(path),
                     "flags": ["precomputed_flow", *row_flags],
                     "source": f"flows.csv:{i + 2}"})
    write_manifest(pd.DataFrame(rows, columns=list(COLUMNS)), tmp_path / "manifest.parquet")
    return read_manifest(tmp_path / "manifest.parquet")


def test_features_stage_reads_each_row_by_its_flag(tmp_path):
    manifest = image_manifest(tmp_path, [[FLOW_CHANNELS_RGB], [FLOW_CHANNELS_BGR]])
    features, _ = extract_features(manifest, {}, PARAMS.model_copy(update={"workers": 1}))
    right, wrong = features["flow"][:, 0]  # (3, 28, 28) each: u, v, strain
    assert np.allclose(right[0], 1) and np.abs(right[1]).max() < 0.01
    assert np.allclose(right[2], 0.2)
    assert np.allclose(wrong[0], 51 / 255 * 2 - 1) and np.allclose(wrong[2], 1)


@pytest.mark.parametrize("flags", [[], [FLOW_CHANNELS_RGB, FLOW_CHANNELS_BGR]])
def test_row_without_one_channel_flag_asks_to_rerun_data(tmp_path, flags):
    manifest = image_manifest(tmp_path, [[FLOW_CHANNELS_RGB], flags])
    with pytest.raises(DatasetError) as err:
        extract_features(manifest, {}, PARAMS.model_copy(update={"workers": 1}))
    message = str(err.value)
    assert message.startswith("manifest row flow-images/s1/c1 (flows.csv:3): ")
    assert ("neither" if not flags else "both") in message
    assert "flow_channels_rgb / flow_channels_bgr" in message and "rerun `mer data`" in message


@pytest.mark.parametrize("channels", [1, 4])
def test_wrong_channel_count_names_the_file_and_row(tmp_path, channels):
    path = tmp_path / "bad.png"
    shape = (28, 28) if channels == 1 else (28, 28, channels)
    cv2.imwrite(str(path), np.zeros(shape, np.uint8))
    with pytest.raises(MerError) as err:
        read_flow_image(path, "s1/c1, flows.csv:7", "rgb")
    message = str(err.value)
    assert "bad.png" in message and "flows.csv:7" in message and f"has {channels}" in message


def test_unreadable_flow_image_is_named(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"nope")
    with pytest.raises(MerError, match=r"broken\.png .*not a readable image"):
        read_flow_image(path, "row 3", "bgr")
