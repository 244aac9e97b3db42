"""Facial regions where each action unit shows, built from the 68 onset landmarks.

L/R are the subject's sides (FACS, as in the coding sheets' L10/R14): the subject's left is on
the image's right. Asymmetric AUs (one-sided in about a fifth of CASME II clips) get a region
per side.

| region        | AUs                     | where                                          |
| ------------- | ----------------------- | ---------------------------------------------- |
| brow_R/L      | AU1, AU2, AU4           | brow, the forehead above it, the lid below it  |
| glabella      | AU4                     | between the inner brow ends                    |
| upper_lid_R/L | AU7 (upper lid down)    | above the eye's midline, eye interior masked   |
| lower_lid_R/L | AU7, AU6                | below it: the lower lid rising is AU7's mark   |
| cheek_R/L     | AU6                     | infraorbital cheek                             |
| nose          | AU9                     | nose from bridge to base                       |
| upper_lip_R/L | AU10                    | nose base to upper lip, split at the midline   |
| lip_corner_R/L| AU12, AU14, AU15        | around each mouth corner                       |
| chin          | AU17                    | chin boss below the lower lip                  |
| mouth         | AU25, AU26              | the lips                                       |

Every region excludes the eye interiors (a blink is not an expression): grown by BLINK_MARGIN,
since the upper lid sweeps past its contour in a blink, but only by LOWER_LID_MARGIN for the
lower lid region, since the lower lid hardly moves in a blink and AU7 moves the skin right at
its contour (measured: AU7 detection AUC 0.79 with one eye region, 0.88 split at the midline,
0.90 with the tight lower margin, on the synthetic set). Geometry is written in
units of the inter-ocular distance ``d`` so it does not depend on the crop size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mer.faces.landmarks import BROW_L, BROW_R, CHIN, EYE_L, EYE_R, LIPS_OUTER, eye_centres

# Region extents, in inter-ocular distances d. Choices, made once here; the table above says why
# each region exists.
FOREHEAD = 0.30  # brow region reaches this far above the brow (AU1/AU2 forehead lift)
BROW_TO_LID = 0.12  # and this far below it (AU4 pulls the brow down onto the lid)
LID_SIDE, LID_ABOVE, LID_BELOW = 0.12, 0.12, 0.20  # eye region around the eye contour
BLINK_MARGIN = 0.08  # eye interior mask grown by this much: lids sweep past their contour
LOWER_LID_MARGIN = 0.03  # ... but the lower lid hardly moves in a blink
NOSE_SIDE = 0.10  # nose region beyond the nose wings
BRIDGE_HALF_WIDTH = 0.12  # head-motion reference stripe along the nose bridge
CORNER_HALF = 0.22  # lip-corner box half side
CHIN_HALF_WIDTH = 0.35
LIP_PAD = 0.05  # mouth and chin boxes grown or shrunk by this much


@dataclass(frozen=True)
class Regions:
    names: tuple[str, ...]
    masks: np.ndarray  # (R, H, W) bool, one per name
    reference: np.ndarray  # (H, W) bool: head-motion reference (nose bridge)


def _box(size: int, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """(size, size) bool: pixels whose centres lie in [x0, x1] x [y0, y1].

    Coordinates follow dlib and cv2.warpAffine: pixel i's centre is at i.
    """
    centres = np.arange(size, dtype=np.float64)
    rows = (centres >= min(y0, y1)) & (centres <= max(y0, y1))
    cols = (centres >= min(x0, x1)) & (centres <= max(x0, x1))
    return rows[:, None] & cols[None, :]


def _eye_interior(points: np.ndarray, size: int, margin: float) -> np.ndarray:
    import cv2

    mask = np.zeros((size, size), np.uint8)
    # Polygon in 1/16 px fixed point (cv2's shift=4) for sub-pixel landmarks.
    cv2.fillPoly(mask, [np.rint(points * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
    radius = max(1, round(margin))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask, kernel).astype(bool)


def au_regions(landmarks: np.ndarray, size: int) -> Regions:
    """AU regions of a (size, size) aligned face from its (68, 2) landmarks in that face's px."""
    p = np.asarray(landmarks, dtype=np.float64)
    right_eye, left_eye = eye_centres(p)
    d = float(np.linalg.norm(left_eye - right_eye))
    boxes: dict[str, tuple[float, float, float, float]] = {}
    for side, brow, eye in (("R", BROW_R, EYE_R), ("L", BROW_L, EYE_L)):
        bx, by, ex, ey = p[brow, 0], p[brow, 1], p[eye, 0], p[eye, 1]
        boxes[f"brow_{side}"] = (bx.min(), by.min() - FOREHEAD * d,
                                 bx.max(), by.max() + BROW_TO_LID * d)
        midline = ey.mean()
        boxes[f"upper_lid_{side}"] = (ex.min() - LID_SIDE * d, ey.min() - LID_ABOVE * d,
                                      ex.max() + LID_SIDE * d, midline)
        boxes[f"lower_lid_{side}"] = (ex.min() - LID_SIDE * d, midline,
                                      ex.max() + LID_SIDE * d, ey.max() + LID_BELOW * d)
    boxes["glabella"] = (p[21, 0], min(p[21, 1], p[22, 1]) - FOREHEAD * d, p[22, 0], p[27, 1])
    for side, eye, outer_corner, wing in (("R", EYE_R, 36, 31), ("L", EYE_L, 45, 35)):
        boxes[f"cheek_{side}"] = (p[outer_corner, 0], p[eye, 1].max() + LID_BELOW * d,
                                  p[wing, 0], p[30, 1])
    boxes["nose"] = (p[31, 0] - NOSE_SIDE * d, p[27, 1], p[35, 0] + NOSE_SIDE * d, p[33, 1])
    mid = p[51, 0]
    boxes["upper_lip_R"] = (p[48, 0], p[33, 1], mid, p[62, 1])
    boxes["upper_lip_L"] = (mid, p[33, 1], p[54, 0], p[62, 1])
    for side, corner in (("R", 48), ("L", 54)):
        x, y = p[corner]
        boxes[f"lip_corner_{side}"] = (x - CORNER_HALF * d, y - CORNER_HALF * d,
                                       x + CORNER_HALF * d, y + CORNER_HALF * d)
    boxes["chin"] = (p[57, 0] - CHIN_HALF_WIDTH * d, p[57, 1] + LIP_PAD * d,
                     p[57, 0] + CHIN_HALF_WIDTH * d, p[CHIN, 1] - LIP_PAD * d)
    lips = p[LIPS_OUTER]
    boxes["mouth"] = (lips[:, 0].min() - LIP_PAD * d, lips[:, 1].min() - LIP_PAD * d,
                      lips[:, 0].max() + LIP_PAD * d, lips[:, 1].max() + LIP_PAD * d)
    eyes = {margin: _eye_interior(p[EYE_R], size, margin * d)
            | _eye_interior(p[EYE_L], size, margin * d)
            for margin in (BLINK_MARGIN, LOWER_LID_MARGIN)}
    names = tuple(boxes)
    masks = np.stack([_box(size, *boxes[n])
                      & ~eyes[LOWER_LID_MARGIN if n.startswith("lower_lid") else BLINK_MARGIN]
                      for n in names])  # (R, H, W)
    # Upper bridge only (points 28-29): the tip (30) follows the upper lip (AU10) and the
    # top (27) the brows (AU4). The nose wrinkler (AU9) moves it too (FACS: the skin across
    # the root of the nose; mer.synthetic.face moves 28-29 at half weight), and a review (h70
    # F2) measured the cost on an AU9 alone: 73 % of the nose's motion removed, 0.22 px of
    # downward motion added to every still region. A reference AU9 does not move (a fit over
    # several still areas) changes every figure of the embedded set: not done yet.
    reference = _box(size, p[28, 0] - BRIDGE_HALF_WIDTH * d, p[28, 1],
                     p[29, 0] + BRIDGE_HALF_WIDTH * d, p[29, 1])
    return Regions(names, masks, reference)


def grid_regions(size: int, cells: int) -> Regions:
    """A cells x cells grid over an already aligned (size, size) crop (flow images)."""
    edges = np.linspace(0, size, cells + 1).round().astype(int)
    names, masks = [], []
    for r in range(cells):
        for c in range(cells):
            mask = np.zeros((size, size), bool)
            mask[edges[r]:edges[r + 1], edges[c]:edges[c + 1]] = True
            names.append(f"grid_r{r}c{c}")
            masks.append(mask)
    return Regions(tuple(names), np.stack(masks), np.ones((size, size), bool))
