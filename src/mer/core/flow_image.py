"""A precomputed flow image on disk (MEGC2019 style): its channel orders and its reader, and
the optical strain its third channel holds.

A flow image is one (H, W, 3) 8- or 16-bit image per clip holding the onset->apex
horizontal flow u, vertical flow v and optical strain, each min-max scaled to the integer
range. Which file channel holds which depends on the tool that wrote it: the usual public
preprocessing (MATLAB, PIL, imageio) writes u, v, strain as R, G, B, which OpenCV decodes as
channel 2, 1, 0; an array saved with cv2.imwrite has u in OpenCV's channel 0. The data stage
finds (or is told, data.flow_channels) the order of each corpus and flags every manifest row
with it (mer.data.flow_image_corpus); the features stage reads the flag (``channel_order``)
and the image in u, v, strain order (``read_flow_image``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mer.errors import DatasetError, MerError

CHANNELS = 3  # u, v, strain
GREY_TOLERANCE = 2  # grey levels of 255 by which a grey image's channels may differ (is_grey)
# Channel orders of a flow image file, as data.flow_channels names them.
RGB = "rgb"  # R, G, B hold u, v, strain (MATLAB / PIL / imageio); OpenCV's channel 2 is u
BGR = "bgr"  # as cv2.imwrite wrote a (u, v, strain) array: OpenCV's channel 0 is u
ORDERS = (RGB, BGR)
# Manifest flags: the channel order the data stage found (or was told) for the clip's image.
FLOW_CHANNELS_RGB = "flow_channels_rgb"
FLOW_CHANNELS_BGR = "flow_channels_bgr"
FLAG_OF_ORDER = {RGB: FLOW_CHANNELS_RGB, BGR: FLOW_CHANNELS_BGR}


def optical_strain(flow: np.ndarray) -> np.ndarray:
    """(H, W) float32 optical strain magnitude of a (H, W, 2) flow.

    Strain tensor e = (J + J^T) / 2 of the flow's Jacobian J; magnitude
    sqrt(e_xx^2 + e_yy^2 + 2 e_xy^2). A translation (constant flow) has zero strain.
    """
    du_dy, du_dx = np.gradient(flow[:, :, 0].astype(np.float64))
    dv_dy, dv_dx = np.gradient(flow[:, :, 1].astype(np.float64))
    shear = (du_dy + dv_dx) / 2
    return np.sqrt(du_dx**2 + dv_dy**2 + 2 * shear**2).astype(np.float32)


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
    MerError for a missing or unreadable file, a float image, other than 3 channels (an opaque
    alpha channel is dropped), or 3 identical channels that are not constant (grey).
    """
    import cv2

    path = Path(path)
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED) if path.is_file() else None
    if image is None:
        raise MerError(f"{path} ({where}): missing or not a readable image; fix the file or "
                       "its manifest row")
    if not np.issubdtype(image.dtype, np.integer):
        raise MerError(f"{path} ({where}): expected an 8- or 16-bit image, got {image.dtype}")
    channels = 1 if image.ndim == 2 else image.shape[2]
    if channels == CHANNELS + 1 and (image[:, :, CHANNELS] == np.iinfo(image.dtype).max).all():
        image, channels = image[:, :, :CHANNELS], CHANNELS  # an opaque alpha (matplotlib's
        # imsave writes RGBA): the colour channels are the image
    if channels != CHANNELS:
        alpha = " with an alpha channel that is not opaque" if channels == CHANNELS + 1 else ""
        raise MerError(f"{path} ({where}): a flow image needs {CHANNELS} channels (u, v, "
                       f"strain), this one has {channels}{alpha}; regenerate it as a 3-channel "
                       "image")
    if is_grey(image):  # break-it sessions: grey saved as RGB or LA passed, then dithered grey
        raise MerError(f"{path} ({where}): its {CHANNELS} channels are one and the same picture "
                       "(a grey image saved in colour, or with an alpha channel), so it holds no "
                       "u, v, strain; regenerate it as a 3-channel flow image")
    return np.ascontiguousarray(in_uvs_order(image, order))


def is_grey(image: np.ndarray) -> bool:
    """Whether the (H, W, 3) integer ``image``'s channels are one picture that is not constant:
    equal to within GREY_TOLERANCE grey levels of 255 (dither or noise added to a grey image
    saved in colour). u, v and strain are each min-max scaled to the full range, so no flow
    image's channels come so close."""
    tolerance = GREY_TOLERANCE * np.iinfo(image.dtype).max / 255
    wide = image.astype(np.int64)
    return bool(np.ptp(wide) > 2 * tolerance
                and np.abs(wide[:, :, 1:] - wide[:, :, :1]).max() <= tolerance)


def channel_order(flags: Sequence[str], where: str) -> str:
    """``rgb`` or ``bgr``, from a manifest row's flags; a row with neither is an error."""
    found = [order for order, flag in FLAG_OF_ORDER.items() if flag in flags]
    if len(found) == 1:
        return found[0]
    what = "neither" if not found else "both"
    raise DatasetError(f"{where}: the manifest row of this flow image has {what} of the flags "
                       f"{FLOW_CHANNELS_RGB} / {FLOW_CHANNELS_BGR}, so the order of its u, v, "
                       "strain channels is unknown (the manifest predates channel-order "
                       "detection or was edited); rerun `mer data`")
