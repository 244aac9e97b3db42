"""On-the-fly augmentation of a clip's flow sequence and apex frame (training subjects only).

One random geometry per clip, shared by every flow step and the apex image, so the motion
stays coherent. Flow values are displacement vectors, so they follow the geometry too:

- horizontal flip: the field is mirrored and u is negated (a rightward motion becomes leftward);
- rotation and scale: each vector is multiplied by the 2x2 linear part M of the same affine map
  albumentations applies to the pixels (points move p -> M p + t, so displacements move d -> M d).
  Image axes are x right, y DOWN, and albumentations' positive angle turns content
  counter-clockwise on screen: rotating by +90 degrees maps a point right of the centre to
  above it, so the constant field (u, v) = (1, 0) becomes (0, -1). Tests pin this sign.
- optical strain is a ratio of displacement to distance: invariant to flip, rotation and
  isotropic scale, so it is only resampled.

Photometric jitter (brightness, contrast) touches the apex image only, never flow values.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from mer.config import AugmentParams
from mer.models.seeds import derive_seed

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # albumentations phones home otherwise

CHANNELS = 3  # u, v, strain per flow step
U, V = 0, 1
PHOTOMETRIC_STREAM = 1  # derive_seed key of the apex brightness/contrast draws


def _albumentations() -> Any:
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    import albumentations

    return albumentations


def build_geometry(hflip: float, rotate_deg: tuple[float, float], scale: tuple[float, float],
                   seed: int, with_apex: bool = False) -> Any:
    """An albumentations pipeline that records the flip and affine matrix it applied."""
    import cv2

    A = _albumentations()
    return A.Compose(
        [
            A.HorizontalFlip(p=hflip),
            # keep_ratio: one isotropic scale, so strain stays invariant.
            A.Affine(rotate=rotate_deg, scale=scale, keep_ratio=True,
                     interpolation=cv2.INTER_LINEAR, border_mode=cv2.BORDER_CONSTANT,
                     fill=0.0, p=1.0),
        ],
        seed=seed,
        save_applied_params=True,
        additional_targets={"apex": "image"} if with_apex else {},
    )


def rotate_vectors(flow: np.ndarray, applied: list[tuple[str, dict[str, Any]]]) -> np.ndarray:
    """Apply the recorded geometry's effect on vector values to a warped (T, 3, I, I) flow."""
    out = flow.copy()
    for name, params in applied:
        if name == "HorizontalFlip":
            out[:, U] = -out[:, U]
        elif name == "Affine":
            m = np.asarray(params["matrix"], dtype=np.float64)[:2, :2]
            u, v = out[:, U].copy(), out[:, V].copy()
            out[:, U] = m[0, 0] * u + m[0, 1] * v
            out[:, V] = m[1, 0] * u + m[1, 1] * v
        else:  # a transform whose effect on vectors we have not derived must not slip in
            raise ValueError(f"no vector rule for augmentation {name}")
    return out


def apply_geometry(compose: Any, flow: np.ndarray, apex: np.ndarray | None
                   ) -> tuple[np.ndarray, np.ndarray | None]:
    """Warp every step of ``flow`` (T, 3, I, I) and ``apex`` (1, I, I) by one random draw."""
    steps, channels, height, width = flow.shape
    # (T, 3, I, I) -> (I, I, T*3): albumentations wants channels last.
    image = np.ascontiguousarray(flow.reshape(steps * channels, height, width).transpose(1, 2, 0))
    data = {"image": image}
    if apex is not None:
        data["apex"] = np.ascontiguousarray(apex.transpose(1, 2, 0))  # (I, I, 1)
    result = compose(**data)
    warped = result["image"].transpose(2, 0, 1).reshape(steps, channels, height, width)
    warped = rotate_vectors(warped.astype(np.float32), result["applied_transforms"])
    new_apex = None
    if apex is not None:
        new_apex = result["apex"].reshape(height, width, 1).transpose(2, 0, 1)
    return warped, new_apex


class ClipAugmenter:
    """Random, seeded augmentation of one clip at a time, drawn from ``params``' ranges."""

    def __init__(self, params: AugmentParams, seed: int, with_apex: bool) -> None:
        A = _albumentations()
        self.geometry = build_geometry(
            params.hflip, (-params.rotate_deg, params.rotate_deg),
            (1.0 - params.scale, 1.0 + params.scale), seed, with_apex)
        self.with_apex = with_apex
        # A separate stream, so switching the apex stream on does not change flow geometry.
        self.photometric = A.Compose(
            [A.RandomBrightnessContrast(brightness_limit=params.brightness,
                                        contrast_limit=params.contrast, p=1.0)],
            seed=derive_seed(seed, PHOTOMETRIC_STREAM))

    def __call__(self, flow: np.ndarray, apex: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(T, 3, I, I) flow and (1, I, I) apex -> augmented copies."""
        if not self.with_apex:
            warped, _ = apply_geometry(self.geometry, flow, None)
            return warped, apex
        warped, new_apex = apply_geometry(self.geometry, flow, apex)
        assert new_apex is not None
        bright = self.photometric(image=np.ascontiguousarray(new_apex[0]))["image"]
        return warped, bright.reshape(new_apex.shape).astype(np.float32)
