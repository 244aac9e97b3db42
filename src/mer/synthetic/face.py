"""Faces and motion of the synthetic dataset: subjects, AU displacement fields, rendered frames.

Every subject's face is a real, freely licensed portrait (``mer/assets/faces``, see its
NOTICE.md), possibly mirrored, given its own face shape (a smooth warp), skin tone, texture and
contrast. dlib's 68 landmarks are found once on each portrait and carried through the subject's
warp, so every action unit (AU) moves the right patch of skin: a Gaussian-windowed displacement
field around the AU's landmarks, scaled by an onset -> apex -> offset profile. A frame is the
subject's neutral face pulled back through that field and the head's pose with ``cv2.remap``
(float maps, bicubic), then lit, noised and (by the caller) JPEG-compressed.

Sides follow FACS and the coding sheets: 'R' and 'L' are the subject's right and left, so the
subject's right is the image's left (landmarks 17-21, 36-41, 48).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from statistics import NormalDist

import numpy as np

from mer.errors import MerError
from mer.faces.landmarks import detect_faces, to_grey

# The portraits packaged in mer/assets/faces, cropped like CASME II's Cropped frames.
BASE_FACES = ("astronaut.png", "obama.png", "biden.png")
# dlib upsampling used once per portrait; the crops hold a face 130-240 px wide, found at 1.
DETECT_UPSAMPLE = 1
# iBUG 68-point mirror pairs: index i of a face is index MIRROR[i] of its mirror image.
MIRROR = np.array(
    [*range(16, -1, -1), *range(26, 16, -1), 27, 28, 29, 30, 35, 34, 33, 32, 31,
     45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40,
     54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67, 66, 65])

# "Peak displacements of a fraction of a pixel to about 2 px on a ~200 px face" (design brief
# section 5): AU intensity 1 moves the skin by this fraction of the face's width (jaw to jaw).
PEAK_SHIFT_PER_FACE_WIDTH = 2.0 / 200
# AUs that can be coded on one side only (L/R); the others act on the midline.
LATERAL_AUS = (1, 2, 4, 6, 7, 10, 12, 14, 15)

# Subject appearance: ranges a subject's face is drawn from (uniform unless said otherwise).
FACE_WIDTH_SCALE = (0.92, 1.08)  # horizontal stretch about the face centre
FACE_HEIGHT_SCALE = (0.95, 1.05)
FACE_ROLL_DEG = 3.0  # +- in-plane tilt
FACE_SHIFT = 0.02  # +- placement in the frame, fraction of the frame width
SHAPE_GRID = (5, 4)  # rows, cols of the smooth random face-shape field
SHAPE_WARP = 0.015  # its s.d., fraction of the frame width (about 3.5 px at 232 px)
BRIGHTNESS = (0.75, 1.15)  # overall skin tone gain
WARMTH = 0.08  # +- red-versus-blue balance
GAMMA = (0.8, 1.25)  # contrast
BLOTCH_SIGMA = 0.04  # blotchy low-frequency skin texture, fraction of the frame width
BLOTCH_DEPTH = 0.05  # its multiplicative s.d.
GRAIN_DEPTH = (1.5, 4.0)  # fine static skin grain s.d., grey levels
EXPRESSIVENESS = (0.75, 1.3)  # per-subject AU intensity gain (log-uniform)
TEMPO = (0.8, 1.25)  # per-subject factor on the onset-to-apex time (log-uniform)

# dlib's detection score a subject's neutral face must reach (its detector accepts > 0): a margin
# for expression, head motion and noise.
MIN_DETECTION_SCORE = 0.5
MAX_DRAWS = 20
# dlib's HOG window is 80 px; its box is about a jaw width: smaller faces need upsampling.
DETECTABLE_UNSCALED = 100

# Nuisances at params noise = 1 (they all scale with it).
DRIFT_PX = 1.0  # max head translation over a clip
DRIFT_DEG = 0.3  # max head rotation over a clip
JITTER_PX = 0.12  # per-frame head jitter s.d.
JITTER_SMOOTH = 3  # frames the jitter is averaged over (the head is a mass, not white noise)
FLICKER = (0.005, 0.03)  # illumination gain amplitude range
FLICKER_PERIOD = (8, 80)  # frames
SENSOR_NOISE = 1.5  # s.d., grey levels
# Sensor noise indexes a table of this many normal quantiles (+-3.7 s.d.): a third of the cost
# of rng.standard_normal per frame, and the same after rounding to 8 bits.
NOISE_LEVELS = 4096
BLINK_RATE = 0.3  # probability that a clip holds a blink
BLINK_FRAMES = (16, 50)  # duration (80-250 ms at 200 fps)
# The frame rate the frame counts above are written for (CASME II's and SAMM's); a corpus
# filmed at another rate (SMIC-HS: 100 fps) scales them, so a blink lasts as long in time.
REFERENCE_FPS = 200.0
BLINK_DEPTH = (0.6, 1.0)  # max fraction of the eye the lid covers


@dataclass(frozen=True)
class Anchor:
    """One patch of skin an AU moves: a Gaussian window around landmarks, one direction."""

    points: tuple[int, ...]  # landmarks (subject's right side or midline) whose mean is the centre
    lateral: float  # displacement toward the subject's ear on this side (0 on the midline)
    up: float  # displacement up the face
    sigma: float  # window radius, inter-ocular distances
    weight: float = 1.0
    midline: bool = False  # True: acts once, on the midline; False: mirrored on each side
    offset: tuple[float, float] = (0.0, 0.0)  # (toward the ear, down) centre shift, IODs


# The AUs' anatomy (FACS): where each one moves the skin and which way. Lateral anchors are
# written for the subject's right and mirrored for the left.
AU_ANCHORS: dict[int, tuple[Anchor, ...]] = {
    1: (Anchor((20, 21), -0.15, 1.0, 0.2),),  # inner brow raiser
    2: (Anchor((17, 18), 0.15, 1.0, 0.2),),  # outer brow raiser
    4: (Anchor((19, 20, 21), -0.55, -0.8, 0.22),),  # brow lowerer: down and together
    6: (Anchor((40, 41), 0.15, 1.0, 0.25, offset=(0.05, 0.35)),  # cheek raiser
        Anchor((40, 41), 0.0, 1.0, 0.1, 0.5)),  # ... pushing the lower lid up
    7: (Anchor((40, 41), 0.0, 1.0, 0.1),  # lid tightener: lower lid up
        Anchor((37, 38), 0.0, -1.0, 0.1, 0.4)),  # ... upper lid a little down
    9: (Anchor((31, 32), -0.1, 1.0, 0.14),  # nose wrinkler: nostril wings up
        Anchor((28, 29), 0.0, 1.0, 0.12, 0.5, midline=True)),  # ... wrinkling the bridge
    10: (Anchor((49, 50), 0.0, 1.0, 0.15),  # upper lip raiser
         Anchor((51,), 0.0, 1.0, 0.13, 0.7, midline=True)),
    12: (Anchor((48,), 0.7, 0.7, 0.2),),  # lip corner puller: up and out
    14: (Anchor((48,), -0.7, 0.1, 0.14),  # dimpler: corners pulled in and back
         Anchor((48,), -0.4, 0.0, 0.1, 0.7, offset=(0.18, 0.0))),  # ... dimple beside them
    15: (Anchor((48,), 0.25, -1.0, 0.2),),  # lip corner depressor
    17: (Anchor((57, 8), 0.0, 1.0, 0.25, midline=True),  # chin raiser
         Anchor((57,), 0.0, 1.0, 0.12, 0.5, midline=True)),  # ... pushing the lower lip up
    25: (Anchor((61, 62, 63), 0.0, 0.4, 0.12, 0.6, midline=True),  # lips part
         Anchor((65, 66, 67), 0.0, -1.0, 0.13, midline=True)),
    26: (Anchor((7, 8, 9), 0.0, -1.0, 0.35, midline=True),  # jaw drop
         Anchor((66, 57), 0.0, -1.0, 0.15, 0.6, midline=True)),
}
AUS = tuple(sorted(AU_ANCHORS))


@dataclass(frozen=True)
class AuEvent:
    """One action unit of a clip, as the ground truth states it."""

    au: int
    intensity: float  # 0..1 (times the subject's expressiveness); 1 moves the skin ~2 px
    side: str = ""  # '' both sides, 'R' or 'L' (the subject's)

    @property
    def code(self) -> str:
        """The coding sheet's spelling: '12', 'L10'."""
        return f"{self.side}{self.au}"


@dataclass(frozen=True)
class BaseFace:
    """A packaged portrait at frame size, and dlib's landmarks on it."""

    name: str
    mirrored: bool
    image: np.ndarray  # (H, W, 3) uint8 BGR
    landmarks: np.ndarray  # (68, 2) float64 x, y px


@dataclass(frozen=True)
class SubjectFace:
    """A synthetic subject: a neutral face and what the renderer needs to animate it."""

    number: int
    base: str  # portrait name, with '(mirrored)' when flipped
    neutral: np.ndarray  # (H, W, 3) uint8 BGR
    closed_eyes: np.ndarray  # (H, W, 3) uint8 BGR, the same face with both eyes shut
    landmarks: np.ndarray  # (68, 2) float64 x, y px on the neutral face

    @property
    def face_width(self) -> float:
        """Jaw-to-jaw width, px: the scale AU displacements are measured in."""
        return float(np.linalg.norm(self.landmarks[16] - self.landmarks[0]))


@dataclass(frozen=True)
class Nuisance:
    """Everything in a clip that is not the expression, one value per frame."""

    shifts: np.ndarray  # (n, 2) float64 head translation, px
    angles: np.ndarray  # (n,) float64 head roll, degrees
    gains: np.ndarray  # (n,) float64 illumination gain
    blink: np.ndarray  # (n,) float64 eyelid closure, 0 open .. 1 shut
    noise_sigma: float  # sensor noise s.d., grey levels


# ---------------------------------------------------------------- portraits and subjects


def read_asset(name: str) -> np.ndarray:
    """(H, W, 3) uint8 BGR portrait from the package's assets."""
    import cv2

    data = resources.files("mer").joinpath("assets", "faces", name).read_bytes()
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise MerError(f"mer/assets/faces/{name} is not a readable image: reinstall mer")
    return image


def fit_to_frame(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale ``image`` to cover width x height and crop the centre."""
    import cv2

    scale = max(width / image.shape[1], height / image.shape[0])
    size = (max(width, round(image.shape[1] * scale)), max(height, round(image.shape[0] * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(image, size, interpolation=interpolation)
    x0, y0 = (size[0] - width) // 2, (size[1] - height) // 2
    return resized[y0:y0 + height, x0:x0 + width].copy()


def find_landmarks(image: np.ndarray, what: str) -> np.ndarray:
    """(68, 2) float64 landmarks of the largest face dlib finds; MerError if none."""
    faces = detect_faces(to_grey(image), DETECT_UPSAMPLE)
    if not faces:
        raise MerError(f"dlib finds no face on {what} ({image.shape[1]}x{image.shape[0]} px); "
                       "use a larger data.synthetic.frame_width/frame_height")
    return faces[0].landmarks


def load_base_face(name: str, mirrored: bool, width: int, height: int) -> BaseFace:
    """A packaged portrait fitted to the frame, optionally mirrored, with its dlib landmarks."""
    image = fit_to_frame(read_asset(name), width, height)
    if mirrored:
        image = np.ascontiguousarray(image[:, ::-1])
    label = f"{name}{' (mirrored)' if mirrored else ''}"
    return BaseFace(label, mirrored, image, find_landmarks(image, f"portrait {label}"))


def _bilinear(field: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(P, C) values of an (H, W, C) field at (P, 2) x, y points, bilinear, edges clamped."""
    h, w = field.shape[:2]
    x = np.clip(points[:, 0], 0, w - 1.001)
    y = np.clip(points[:, 1], 0, h - 1.001)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    top = field[y0, x0] * (1 - fx) + field[y0, x0 + 1] * fx
    bottom = field[y0 + 1, x0] * (1 - fx) + field[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def _smooth_noise(shape: tuple[int, int], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """(H, W) float32 Gaussian-blurred white noise rescaled to unit s.d."""
    import cv2

    noise = rng.standard_normal(shape).astype(np.float32)
    blurred = cv2.GaussianBlur(noise, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return blurred / max(float(blurred.std()), 1e-6)


def _closed_eyes(face: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The face with both eyes painted shut: skin inpainted over the eye, a dark lash line."""
    import cv2

    mask = np.zeros(face.shape[:2], np.uint8)
    for eye in (slice(36, 42), slice(42, 48)):
        cv2.fillPoly(mask, [np.round(landmarks[eye]).astype(np.int32)], 255)
    mask = cv2.dilate(mask, np.ones((5, 5), np.uint8))
    shut = cv2.inpaint(face, mask, 5, cv2.INPAINT_TELEA)
    lash = np.zeros(face.shape[:2], np.uint8)
    for lower_lid in ((36, 41, 40, 39), (42, 47, 46, 45)):
        points = np.round(landmarks[list(lower_lid)]).astype(np.int32)
        cv2.polylines(lash, [points], False, 255, 1, cv2.LINE_AA)
    shade = 1 - 0.45 * cv2.GaussianBlur(lash, (0, 0), 0.8).astype(np.float32)[..., None] / 255
    return np.clip(np.rint(shut * shade), 0, 255).astype(np.uint8)


@cache
def _detector():  # dlib's HOG detector; built once per process (not picklable)
    import dlib

    return dlib.get_frontal_face_detector()


def detection_score(image: np.ndarray, face_width: float) -> float:
    """dlib's best face score, the weakest over the upsamplings the faces stage may use.

    Upsampling 0 counts only for faces large enough for dlib's 80 px window to find unscaled.
    """
    grey = np.ascontiguousarray(to_grey(image))
    upsamplings = (0, 1) if face_width >= DETECTABLE_UNSCALED else (1,)
    scores = []
    for upsample in upsamplings:
        _, found, _ = _detector().run(grey, upsample, 0.0)
        scores.append(max(found, default=-np.inf))
    return float(min(scores))


def make_subject(base: BaseFace, number: int, rng: np.random.Generator) -> SubjectFace:
    """A new subject from a portrait: own face shape, skin tone, texture and contrast.

    A draw that dlib finds only barely (score below MIN_DETECTION_SCORE) is drawn again from the
    same RNG: expression, head motion and noise would push it under the threshold on some frames
    and the faces stage would lose whole clips for a reason that is not in real data.
    """
    for _ in range(MAX_DRAWS):
        subject = _draw_subject(base, number, rng)
        if detection_score(subject.neutral, subject.face_width) >= MIN_DETECTION_SCORE:
            return subject
    raise MerError(f"no detectable face in {MAX_DRAWS} draws of subject {number} from "
                   f"{base.name}: use larger data.synthetic.frame_width/frame_height")


def _draw_subject(base: BaseFace, number: int, rng: np.random.Generator) -> SubjectFace:
    """One random subject from a portrait.

    The shape warp is a random similarity-like stretch plus a smooth random field; the portrait's
    landmarks are carried through it (the warp is smooth, so a fixed-point inversion converges in
    a few steps), so no second dlib landmark pass is needed.
    """
    import cv2

    h, w = base.image.shape[:2]
    centre = base.landmarks.mean(axis=0)
    scale = np.array([rng.uniform(*FACE_WIDTH_SCALE), rng.uniform(*FACE_HEIGHT_SCALE)])
    roll = math.radians(rng.uniform(-FACE_ROLL_DEG, FACE_ROLL_DEG))
    shift = rng.uniform(-FACE_SHIFT, FACE_SHIFT, 2) * w
    rotation = np.array([[math.cos(roll), -math.sin(roll)], [math.sin(roll), math.cos(roll)]])
    forward = rotation @ np.diag(scale)  # base offsets from the centre -> subject offsets
    backward = np.linalg.inv(forward)
    coarse = rng.standard_normal((*SHAPE_GRID, 2)).astype(np.float32) * SHAPE_WARP * w
    field = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)  # (H, W, 2) px

    xs, ys = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    offsets = np.stack([xs - centre[0] - shift[0], ys - centre[1] - shift[1]], axis=-1)
    source = offsets @ backward.T + centre + field  # (H, W, 2) where each subject px comes from
    maps = source.astype(np.float32)
    shaped = cv2.remap(base.image, maps[..., 0], maps[..., 1], cv2.INTER_CUBIC,
                       borderMode=cv2.BORDER_REFLECT)

    # Landmarks: solve source(y) = l for y, i.e. y = centre + shift + forward (l - centre - f(y)).
    points = base.landmarks.copy()
    for _ in range(12):
        points = centre + shift + (base.landmarks - centre - _bilinear(field, points)) @ forward.T

    gains = rng.uniform(*BRIGHTNESS) * (1 + rng.uniform(-WARMTH, WARMTH) * np.array([-1, 0, 1]))
    gamma = rng.uniform(*GAMMA)
    blotches = 1 + BLOTCH_DEPTH * _smooth_noise((h, w), BLOTCH_SIGMA * w, rng)[..., None]
    grain = rng.uniform(*GRAIN_DEPTH) * _smooth_noise((h, w), 0.7, rng)[..., None]
    toned = 255 * (shaped.astype(np.float32) / 255) ** gamma
    neutral = np.clip(np.rint(toned * gains * blotches + grain), 0, 255).astype(np.uint8)
    return SubjectFace(number, base.name, neutral, _closed_eyes(neutral, points), points)


def expressiveness(rng: np.random.Generator) -> tuple[float, float]:
    """(intensity gain, onset-to-apex tempo factor) of a subject's expression style."""
    gain = math.exp(rng.uniform(*np.log(EXPRESSIVENESS)))
    tempo = math.exp(rng.uniform(*np.log(TEMPO)))
    return gain, tempo


# ---------------------------------------------------------------- AU motion


def _iod(landmarks: np.ndarray) -> float:
    """Inter-ocular distance (eye centre to eye centre), px."""
    return float(np.linalg.norm(landmarks[36:42].mean(axis=0) - landmarks[42:48].mean(axis=0)))


def au_anchors(au: int, side: str, landmarks: np.ndarray) -> list[tuple[np.ndarray, np.ndarray,
                                                                        float, float]]:
    """(centre (2,), unit direction (2,) in image x/y, sigma px, weight) of each patch AU moves.

    ``side`` '' moves both sides, 'R'/'L' only the subject's right/left (midline patches of a
    one-sided AU are left still).
    """
    iod = _iod(landmarks)
    sides = ("R", "L") if side == "" else (side,)
    patches = []
    for anchor in AU_ANCHORS[au]:
        if anchor.midline:
            if side:
                continue
            placements = [(list(anchor.points), 0.0)]
        else:
            # The subject's right is the image's left: toward its ear is -x, for the left +x.
            placements = [(list(anchor.points) if s == "R" else list(MIRROR[list(anchor.points)]),
                           -1.0 if s == "R" else 1.0) for s in sides]
        for points, outward in placements:
            centre = landmarks[points].mean(axis=0) + iod * np.array(
                [outward * anchor.offset[0], anchor.offset[1]])
            direction = np.array([outward * anchor.lateral, -anchor.up])
            direction = direction / np.linalg.norm(direction)
            patches.append((centre, direction, anchor.sigma * iod, anchor.weight))
    return patches


def expression_field(landmarks: np.ndarray, aus: Sequence[AuEvent], shape: tuple[int, int],
                     strength: float = 1.0) -> np.ndarray:
    """(H, W, 2) float32 skin displacement at the apex, px: where each neutral point moves.

    Each AU adds its Gaussian-windowed patches, peaking at intensity x strength x
    PEAK_SHIFT_PER_FACE_WIDTH x the face's width.
    """
    h, w = shape
    face_width = float(np.linalg.norm(landmarks[16] - landmarks[0]))
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    field = np.zeros((h, w, 2), np.float32)
    for event in aus:
        peak = event.intensity * strength * PEAK_SHIFT_PER_FACE_WIDTH * face_width
        for centre, direction, sigma, weight in au_anchors(event.au, event.side, landmarks):
            window = np.exp(-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (2 * sigma ** 2))
            field += (peak * weight * window)[..., None] * direction.astype(np.float32)
    return field


def expression_profile(frames: int, apex: int) -> np.ndarray:
    """(frames,) float64 expression strength: 0 at the onset, 1 at the apex, 0 at the offset.

    Raised-cosine rise and decay: smooth, no jerk at either end, as muscles move.
    """
    t = np.arange(frames, dtype=np.float64)
    rise = 0.5 * (1 - np.cos(np.pi * t / max(apex, 1)))
    decay = 0.5 * (1 + np.cos(np.pi * (t - apex) / max(frames - 1 - apex, 1)))
    return np.where(t <= apex, rise, decay)


def sample_nuisance(frames: int, noise: float, rng: np.random.Generator,
                    fps: float = REFERENCE_FPS) -> Nuisance:
    """Head drift and jitter, illumination flicker, a possible blink, sensor noise level.

    ``fps``: the clip's frame rate; jitter smoothing, flicker period and blink length are
    given in frames at REFERENCE_FPS and scaled to it (at REFERENCE_FPS nothing changes).
    """
    per_frame = fps / REFERENCE_FPS  # frames of this clip per frame at REFERENCE_FPS
    smoothing = max(1, round(JITTER_SMOOTH * per_frame))
    t = np.arange(frames) / max(frames - 1, 1)  # 0 .. 1 over the clip
    heading = rng.uniform(0, 2 * np.pi)
    drift = noise * DRIFT_PX * rng.uniform(0, 1) * np.array([np.cos(heading), np.sin(heading)])
    jitter = rng.standard_normal((frames + smoothing - 1, 2)) * noise * JITTER_PX
    kernel = np.ones(smoothing) / smoothing
    smooth = np.stack([np.convolve(jitter[:, i], kernel, "valid") for i in range(2)], axis=1)
    shifts = t[:, None] * drift + smooth
    angles = t * noise * rng.uniform(-DRIFT_DEG, DRIFT_DEG)
    period = rng.uniform(*FLICKER_PERIOD) * per_frame
    gains = 1 + noise * rng.uniform(*FLICKER) * np.sin(
        2 * np.pi * np.arange(frames) / period + rng.uniform(0, 2 * np.pi))
    blink = np.zeros(frames)
    if rng.uniform() < min(1.0, noise * BLINK_RATE):
        length = max(2, round(int(rng.integers(*BLINK_FRAMES)) * per_frame))
        start = int(rng.integers(-length // 2, max(frames - length // 2, -length // 2 + 1)))
        phase = (np.arange(frames) - start) / length
        inside = (phase >= 0) & (phase <= 1)
        blink = np.where(inside, rng.uniform(*BLINK_DEPTH) * np.sin(np.pi * phase) ** 2, 0.0)
    return Nuisance(shifts, angles, gains, blink, noise * SENSOR_NOISE)


def still(frames: int) -> Nuisance:
    """No nuisance at all: a perfectly still head, steady light, no blink, no sensor noise."""
    return Nuisance(np.zeros((frames, 2)), np.zeros(frames), np.ones(frames), np.zeros(frames),
                    0.0)


def _eyelid_masks(landmarks: np.ndarray, shape: tuple[int, int]) -> list[tuple[np.ndarray,
                                                                              float, float]]:
    """Per eye: ((H, W) float32 soft eye mask, lid top y, lid bottom y)."""
    import cv2

    eyes = []
    for eye in (slice(36, 42), slice(42, 48)):
        mask = np.zeros(shape, np.uint8)
        cv2.fillPoly(mask, [np.round(landmarks[eye]).astype(np.int32)], 255)
        mask = cv2.dilate(mask, np.ones((5, 5), np.uint8))
        soft = cv2.GaussianBlur(mask, (0, 0), 1.2).astype(np.float32) / 255
        top = float(landmarks[eye][:, 1].min()) - 2
        bottom = float(landmarks[eye][:, 1].max()) + 2
        eyes.append((soft, top, bottom))
    return eyes


def pixel_grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) float32 x and y coordinates of every pixel."""
    h, w = shape
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return xs, ys


def render_frame(face: np.ndarray, field: np.ndarray, strength: float, shift: np.ndarray,
                 angle: float, centre: np.ndarray,
                 grid: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """(H, W, 3) float32 frame: ``face`` with its skin moved by strength x field, head moved.

    Backward warp: output px x shows the face at R(-angle)(x - centre - shift) + centre minus the
    expression displacement there (the field is smooth and the head moves about a pixel, so the
    field is evaluated at x rather than at the exact source point). ``grid``: pixel_grid(H, W),
    passed in by callers rendering many frames.
    """
    import cv2

    xs, ys = grid if grid is not None else pixel_grid(face.shape[:2])
    theta = math.radians(angle)
    cos, sin = np.float32(math.cos(theta)), np.float32(math.sin(theta))
    dx, dy = xs - np.float32(centre[0] + shift[0]), ys - np.float32(centre[1] + shift[1])
    map_x = cos * dx + sin * dy + np.float32(centre[0]) - np.float32(strength) * field[..., 0]
    map_y = cos * dy - sin * dx + np.float32(centre[1]) - np.float32(strength) * field[..., 1]
    return cv2.remap(face, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


@cache
def _normal_quantiles() -> np.ndarray:
    """(NOISE_LEVELS,) float32 standard-normal quantiles at evenly spaced probabilities."""
    unit = NormalDist()
    return np.array([unit.inv_cdf((i + 0.5) / NOISE_LEVELS) for i in range(NOISE_LEVELS)],
                    np.float32)


def render_clip(subject: SubjectFace, aus: Sequence[AuEvent], frames: int, apex: int,
                nuisance: Nuisance, strength: float,
                rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Yield the clip's (H, W, 3) uint8 BGR frames, onset first (before JPEG compression)."""
    field = expression_field(subject.landmarks, aus, subject.neutral.shape[:2], strength)
    return render_sequence(subject, [(field, expression_profile(frames, apex))], nuisance, rng)


def render_sequence(subject: SubjectFace, layers: Sequence[tuple[np.ndarray, np.ndarray]],
                    nuisance: Nuisance, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Yield (H, W, 3) uint8 BGR frames of a face moved by several motion layers at once.

    ``layers``: (field (H, W, 2) float32 px, profile (n,) float64) pairs; frame k moves the skin
    by the sum of profile[k] x field over the layers (a clip has one layer, a long video one
    per expression plus talking). ``nuisance`` has one value per frame, n frames.
    """
    import cv2

    shape = subject.neutral.shape[:2]
    frames = len(nuisance.gains)
    centre = subject.landmarks.mean(axis=0)
    grid = pixel_grid(shape)
    neutral = subject.neutral.astype(np.float32)
    closed = subject.closed_eyes.astype(np.float32)
    eyes = _eyelid_masks(subject.landmarks, shape) if nuisance.blink.any() else []
    rows = grid[1][:, :1]  # (H, 1) y of each row
    noise = _normal_quantiles() * np.float32(nuisance.noise_sigma)  # (NOISE_LEVELS,)
    zeros = np.zeros(shape, np.float32)
    still_field = np.zeros((*shape, 2), np.float32)
    for k in range(frames):
        face = neutral
        if nuisance.blink[k] > 0:
            # The lid sweeps down from the eye's top edge, hiding the eye behind the shut image.
            cover = np.zeros(shape, np.float32)
            for soft, top, bottom in eyes:
                lid = np.float32(top + nuisance.blink[k] * (bottom - top))
                cover = np.maximum(cover, soft * np.clip(lid - rows + 0.5, 0, 1))
            face = neutral + cover[..., None] * (closed - neutral)
        active = [(field, float(profile[k])) for field, profile in layers if profile[k] != 0]
        if len(active) == 1:  # one layer: scaled inside render_frame, as a clip always was
            field, strength = active[0]
        else:
            field, strength = still_field, 1.0
            if active:
                field = sum(np.float32(p) * f for f, p in active)
        frame = render_frame(face, field, strength, nuisance.shifts[k],
                             float(nuisance.angles[k]), centre, grid)
        # Luma noise: the camera's colour processing and JPEG's 4:2:0 chroma subsampling leave
        # little independent noise per channel.
        luma = noise[rng.integers(0, NOISE_LEVELS, size=shape, dtype=np.uint16)] \
            if nuisance.noise_sigma > 0 else zeros
        # gain x frame + noise, rounded and saturated to uint8 in one pass.
        yield cv2.addWeighted(frame, float(nuisance.gains[k]), cv2.merge([luma, luma, luma]),
                              1.0, 0.0, dtype=cv2.CV_8U)
