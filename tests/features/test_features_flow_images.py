"""Precomputed flow images become the same tensors as computed flow (T = 1)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mer.config import FeatureParams
from mer.errors import MerError
from mer.features.flow_images import describe_flow_image, read_flow_image

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
    assert described.apex.shape == (1, 28, 28) and not described.apex.any()
    values = dict(zip(described.au_names, described.au, strict=True))
    assert values["grid_r1c0/t0/u"] == pytest.approx(1) and values["grid_r1c0/t0/v"] == -1
    assert values["grid_r0c1/t0/strain_max"] == pytest.approx(0.2)
    # Up-right flow at 45 degrees falls in the bin centred there (7 of 8, y down).
    assert np.argmax([values[f"grid_r0c0/t0/hoof{b}"] for b in range(8)]) == 7
    assert len(described.au_names) == 4 * (8 + 4)


def test_mid_grey_is_no_motion_and_16_bit_maps_alike():
    eight = np.full((20, 20, 3), 128, np.uint8)
    sixteen = np.full((20, 20, 3), 32896, np.uint16)  # 128/255 of 65535
    a, b = describe_flow_image(eight, PARAMS), describe_flow_image(sixteen, PARAMS)
    assert np.abs(a.flow[0, :2]).max() < 0.01  # 128 of 0..255 is about zero
    assert np.allclose(a.flow, b.flow, atol=1e-6)
    assert a.flow.shape == (1, 3, 28, 28)  # resized to input_size


def test_image_on_disk_is_read_in_opencv_channel_order(tmp_path):
    image = np.zeros((28, 28, 3), np.uint8)
    image[:, :, 0] = 255
    cv2.imwrite(str(tmp_path / "f.png"), image)
    read = read_flow_image(tmp_path / "f.png", "clip, flows.csv:2")
    assert np.allclose(describe_flow_image(read, PARAMS).flow[0, 0], 1)  # channel 0 is u


@pytest.mark.parametrize("channels", [1, 4])
def test_wrong_channel_count_names_the_file_and_row(tmp_path, channels):
    path = tmp_path / "bad.png"
    shape = (28, 28) if channels == 1 else (28, 28, channels)
    cv2.imwrite(str(path), np.zeros(shape, np.uint8))
    with pytest.raises(MerError) as err:
        read_flow_image(path, "s1/c1, flows.csv:7")
    message = str(err.value)
    assert "bad.png" in message and "flows.csv:7" in message and f"has {channels}" in message


def test_unreadable_flow_image_is_named(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"nope")
    with pytest.raises(MerError, match=r"broken\.png .*not a readable image"):
        read_flow_image(path, "row 3")
