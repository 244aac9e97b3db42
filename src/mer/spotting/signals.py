"""Per-frame facial motion of a long video: the signals the spotter turns into intervals.

The face is found (dlib landmarks on the first frame that shows one; the frames before it,
a fade-in or an empty chair, have no signal: 0, as the first k frames of any video) and then
tracked: each frame's head translation against the found face is estimated by phase
correlation (``cv2.phaseCorrelate``) and the square face crop follows it, resampled to
``spotting.face_size`` px, the size the spotter needs rather than the video's. Phase
correlation cannot tell a face from what replaces it, so once every ``FACE_CHECK_S`` dlib
checks that a face of the same size is still where the crop is (in a window around it, a
fraction of a full-frame detection's cost). When it is not, the face is looked for in the
whole frame, as at the start: found elsewhere (the person moved), tracking starts again there;
found nowhere (the person left, a cut), the frames have no signal until a face is back.
Residual head motion is removed from every flow by subtracting the nose bridge's mean flow
(mer.features.flow.remove_head_motion); regions come from mer.features.regions, eye
interiors masked (a blink is not an expression).

Two scales, micro and macro, each with k = window x fps frames. At frame t the DIS flow
F_t = flow(crop[t - k] -> crop[t]) is computed once, and two signals per region r are kept:

- ``magnitude``: mean over r of |F_t|, px: how much the region moved in the last k frames
  (the plain baseline thresholds this);
- ``score``: sqrt(max(0, -mean over r of <F_t, F_{t+k}>)), px: motion away and back again,
  the onset -> apex -> offset shape of an expression, peaking at the apex t of an expression
  about 2k long. A head shift or any motion that does not return (F_{t+k} ~ 0 or parallel to
  F_t) scores nothing. This is the main-directional maximal-difference idea of the MEGC2020
  baseline (He, Wang, Li, Yap, "Spotting macro- and micro-expression intervals in long video
  sequences", FG 2020), with the frame-pair flow of Zhao et al. ("Rethinking optical flow
  methods for micro-expression spotting", ACM MM 2022): compare frame t with the frames k
  before and k after.

Each signal takes the maximum over regions: an expression moves a few regions, noise all
of them a little.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from mer.config import (
    FeatureParams,
    SpottingParams,
    frame_rate_fault,
    rate_shown,
)
from mer.errors import MerError
from mer.faces.align import warp_grey
from mer.faces.landmarks import detect_faces, to_grey
from mer.features.flow import flow_between, remove_head_motion
from mer.features.regions import au_regions
from mer.spotting import SCALES

log = logging.getLogger(__name__)

# Crop side over the landmarks' extent: room for the forehead above the brows and the chin.
CROP_MARGIN = 1.3
DETECT_UPSAMPLE = 1  # dlib upsampling for the detections; small faces need it
FACE_CHECK_S = 1.0  # how often the tracked face is checked to be still in the crop, s
# A face found further than this fraction of the crop side from the tracked centre, or more
# than this factor larger or smaller, is not the tracked face where it was: tracking restarts.
FACE_DRIFT = 0.25
FACE_SCALE = 1.5
# For a rate that may be the file header's mistake: `mer spot` can override it, a request to
# a served model cannot (a break-it session: its refusals advised --fps).
RATE_ADVICE = ("if the video's real frame rate differs, pass it with --fps (mer spot) or "
               "write it into the file's header (a request to a served model)")


@dataclass(frozen=True)
class VideoSignals:
    """A video's motion signals, one value per frame (0 where not defined)."""

    fps: float
    frames: int
    windows: dict[str, int]  # scale -> k, frames
    score: dict[str, np.ndarray]  # scale -> (frames,) float64 return-to-neutral motion, px
    magnitude: dict[str, np.ndarray]  # scale -> (frames,) float64 motion in the last k, px
    # (frames,) bool: the face was tracked in the frame (None: in every frame). Frames without
    # it have no signal, and the relative threshold is taken over the others.
    face: np.ndarray | None = None


# One frame's values: (t, score by scale, magnitude by scale, whether the face was tracked)
FrameValues = tuple[int, dict[str, float], dict[str, float], bool]


def window_frames(seconds: float, fps: float) -> int:
    """k in frames of a window of ``seconds`` at ``fps`` frames/s, at least 1, rounded half up:
    0.5 s is 13 frames at 25 fps as it is 14 at 27 fps (Python's round() takes a half to the
    even number, which made them 12 and 14). The product is first rounded to 9 decimals, so a
    half that binary floating point puts just below .5 is still one (0.35 s at 90 fps is
    31.499999999999996, and 32 frames)."""
    return max(1, math.floor(round(seconds * fps, 9) + 0.5))


@dataclass(frozen=True)
class FaceTrack:
    """The face found once: crop geometry and regions in crop px."""

    centre: np.ndarray  # (2,) x, y of the crop centre in the frame the face was found in, px
    side: float  # crop side in frame px
    size: int  # crop side after resampling, px
    template: np.ndarray  # (h, w) float32 grey patch of that frame, the head tracked against it
    masks: np.ndarray  # (R, size * size) float32 region masks, each row sums to 1
    reference: np.ndarray  # (size, size) bool nose-bridge head-motion reference

    @classmethod
    def find(cls, grey: np.ndarray, regions: tuple[str, ...], size: int) -> FaceTrack | None:
        """The face of a (H, W) uint8 grey frame to track from, None when it shows none;
        ``regions`` are names au_regions draws (spotting.regions, config.FacialRegion)."""
        faces = detect_faces(grey, DETECT_UPSAMPLE)
        if not faces:
            return None
        points = faces[0].landmarks
        centre, side = cls._square(points)
        crop_points = (points - centre + side / 2) * (size / side)
        found = au_regions(crop_points, size)
        masks = np.stack([found.masks[found.names.index(r)].ravel() for r in regions])
        masks = masks.astype(np.float32) / np.maximum(masks.sum(axis=1, keepdims=True), 1)
        template = cls._patch(grey, centre, side)
        return cls(centre, side, size, template, masks, found.reference)

    @staticmethod
    def _square(points: np.ndarray) -> tuple[np.ndarray, float]:
        """(centre (2,) x, y, side) in px of the square crop around (68, 2) landmarks."""
        low, high = points.min(axis=0), points.max(axis=0)
        side = float((high - low).max()) * CROP_MARGIN
        return (low + high) / 2 - np.array([0.0, 0.05 * side]), side  # a little forehead more

    @staticmethod
    def _patch(grey: np.ndarray, centre: np.ndarray, side: float) -> np.ndarray:
        import cv2

        return cv2.getRectSubPix(grey, (round(side), round(side)),
                                 (float(centre[0]), float(centre[1]))).astype(np.float32)

    def _follow(self, grey: np.ndarray) -> np.ndarray:
        """(2,) x, y in px of the crop centre in a frame, following the head's translation."""
        import cv2

        patch = self._patch(grey, self.centre, self.side)
        (dx, dy), _ = cv2.phaseCorrelate(self.template, patch)
        return self.centre + np.array([dx, dy])

    def still_there(self, grey: np.ndarray) -> bool:
        """Whether dlib finds the tracked face in a (H, W) uint8 grey frame: a face about as
        large as it, at most FACE_DRIFT crop sides from where the crop follows it, searched
        for in a window of two crop sides around that point."""
        centre = self._follow(grey)
        low = np.maximum(np.floor(centre - self.side).astype(int), 0)
        high = np.minimum(np.ceil(centre + self.side).astype(int), grey.shape[::-1])
        if (high - low).min() <= 0:
            return False
        for face in detect_faces(grey[low[1]:high[1], low[0]:high[0]], DETECT_UPSAMPLE):
            found, side = self._square(face.landmarks + low)
            if (np.linalg.norm(found - centre) <= FACE_DRIFT * self.side
                    and abs(np.log(side / self.side)) <= np.log(FACE_SCALE)):
                return True
        return False

    def crop(self, grey: np.ndarray) -> np.ndarray:
        """(size, size) uint8 face crop of a frame, following the head's translation: the
        recognition stages' warp (mer.faces.align.warp_grey, halving a frame it would shrink
        far first; warpAffine's INTER_AREA, asked for here before, is bilinear: h70)."""
        centre = self._follow(grey)
        scale = self.size / self.side
        # Affine map frame -> crop: scale about the tracked centre.
        matrix = np.array([[scale, 0, self.size / 2 - scale * centre[0]],
                           [0, scale, self.size / 2 - scale * centre[1]]])
        return warp_grey(grey, matrix, self.size)


class MotionMeter:
    """Streaming signals: push frames in order, get each frame's values once they are known.

    The score at t needs F_{t+k}: values of frame t come out k frames later (macro scale: the
    last), so a live caller is at most ``max k`` frames behind.
    """

    def __init__(self, params: SpottingParams, features: FeatureParams, fps: float,
                 where: str, numbers: Sequence[int] | None = None) -> None:
        """``numbers``: the frames' own numbers by position (a folder of numbered frames,
        img1.jpg -> 1), which messages name frames by; None: positions from 0 (a video
        file)."""
        fault = frame_rate_fault(fps)
        if fault is not None:
            raise MerError(f"{where}: {rate_shown(fps)} frames/s: {fault}; {RATE_ADVICE}")
        self.params, self.fps, self.where, self.numbers = params, fps, where, numbers
        self.features = features.model_copy(update={  # the spotter's DIS budget
            "flow": "dis", "dis_iterations": params.flow_iterations,
            "dis_refine_iterations": params.flow_refine_iterations})
        self.windows = {"micro": window_frames(params.micro_window, fps),
                        "macro": window_frames(params.macro_window, fps)}
        if self.windows["micro"] == self.windows["macro"]:
            # Both scales would be one signal, and every spot macro (a break-it session: a
            # 30 frames/s video whose header said 2 spotted 0 micro intervals, silently).
            raise MerError(
                f"{where}: at {fps:g} frames/s the micro window (spotting.micro_window "
                f"{params.micro_window:g} s) and the macro one ({params.macro_window:g} s) "
                f"are both {self.windows['micro']} frame(s), so no interval could be told "
                f"micro; {RATE_ADVICE}")
        self.track: FaceTrack | None = None
        self.crops: list[np.ndarray] = []  # the last max(k) + 1 crops
        # scale -> frame t -> (P, 2) flow crop[t - k] -> crop[t] (None for t < k), kept from
        # the oldest frame whose values are not out yet
        self.flows: dict[str, dict[int, np.ndarray | None]] = {s: {} for s in SCALES}
        self.masks: dict[int, np.ndarray] = {}  # frame t -> its track's (R, P) region masks
        self.count = 0  # frames pushed
        self.start = 0  # the frame the face was found in: frames before it have no signal
        self.missing = 0  # the first frame of the current stretch without a face
        self.longest = 0  # frames of the longest finished stretch with a face
        self.restarts = 0  # times the face was found away from where it was tracked
        self.check = window_frames(FACE_CHECK_S, fps)  # frames between two face checks
        self.emitted = 0  # frames whose values are out

    def _flow(self, scale: str, t: int) -> np.ndarray | None:
        k = self.windows[scale]
        if t - self.start < k:
            return None
        flow = flow_between(self.crops[-1 - k], self.crops[-1], self.features)
        return remove_head_motion(flow, self.track.reference).reshape(-1, 2)

    def push(self, frame: np.ndarray) -> list[FrameValues]:
        """Add the next (H, W[, 3]) uint8 frame; the FrameValues of the frames whose values
        became known (each frame once, in order)."""
        grey = to_grey(frame)
        t = self.count
        self.count += 1
        lost = (self.track is not None and (t - self.start) % self.check == 0
                and not self.track.still_there(grey))
        if lost:
            self.longest = max(self.longest, t - self.start)
            self.track, self.missing, self.crops = None, t, []
        if self.track is None:
            self.track = FaceTrack.find(grey, self.params.regions, self.params.face_size)
            self._say_found(t, lost)
            if self.track is None:  # no face: no signal, and the next frame is tried
                return self._emit(t - self.windows["macro"])
            self.start = t
        self.crops.append(self.track.crop(grey))
        del self.crops[:-(max(self.windows.values()) + 1)]
        self.masks[t] = self.track.masks
        for scale in SCALES:
            self.flows[scale][t] = self._flow(scale, t)
        return self._emit(t - self.windows["macro"])

    def _number(self, t: int) -> int:
        """Frame ``t`` (a position from 0) as the video numbers it."""
        return t if self.numbers is None else self.numbers[t]

    def _say_found(self, t: int, lost: bool) -> None:
        """Warn of frame ``t``'s change of face: lost, found elsewhere, found after none."""
        first = self._number(0)
        at = f"frame {self._number(t)} ({(self._number(t) - first) / self.fps:.1f} s)"
        if lost and self.track is not None:
            self.restarts += 1  # a moving camera does this every check: say it once
            log.log(logging.WARNING if self.restarts == 1 else logging.DEBUG,
                    "%s: the face moved away from where it was tracked by %s; tracking starts "
                    "again where it is now", self.where, at)
        elif lost:
            log.warning("%s: the face left the view by %s; no signal until one is found "
                        "again", self.where, at)
        elif self.track is not None and self.missing < t:
            log.warning("%s: no face in frames %d-%d (%.1f s); spotting starts%s at frame "
                        "%d, where one was found", self.where, self._number(self.missing),
                        self._number(t - 1),
                        (self._number(t) - self._number(self.missing)) / self.fps,
                        " again" if self.missing else "", self._number(t))

    def finish(self) -> list[FrameValues]:
        """Values of the last frames, whose F_{t+k} lies past the video's end (score 0).
        Raises MerError when no frame showed a face."""
        if self.track is None and self.count and not self.longest:  # never a face
            raise MerError(f"{self.where}: no face found in any of its {self.count} frames; "
                           "spotting needs a frontal face in view (dlib's detector)")
        shortest = 2 * self.windows["micro"] + 1  # F_t and F_t+k of one apex t
        longest = max(self.longest, self.count - self.start if self.track is not None else 0)
        if self.count and longest < shortest:
            raise MerError(
                f"{self.where}: {longest} frames with a face in a row "
                f"({longest / self.fps:.2f} s at {self.fps:g} frames/s) are "
                f"fewer than one micro-expression window needs ({shortest}: 2 x "
                f"spotting.micro_window {self.params.micro_window:g} s + 1), so nothing could "
                f"be spotted; give a longer video, or, {RATE_ADVICE}")
        if self.restarts > 1:
            log.warning("%s: the face was tracked again %d times (-v lists them): the head or "
                        "camera moves more than the tracker follows, and each restart leaves "
                        "up to the next %d frames without a signal", self.where, self.restarts,
                        self.windows["macro"])
        return self._emit(self.count - 1)

    def _emit(self, last: int) -> list[FrameValues]:
        out = []
        while self.emitted <= last:
            out.append(self._values(self.emitted))
            for scale in SCALES:
                self.flows[scale].pop(self.emitted, None)
            self.masks.pop(self.emitted, None)
            self.emitted += 1
        return out

    def _values(self, t: int) -> FrameValues:
        """Frame t's score and magnitude by scale, and whether the face was tracked in it."""
        score, magnitude = {}, {}
        for scale in SCALES:
            now = self.flows[scale].get(t)
            ahead = self.flows[scale].get(t + self.windows[scale])
            score[scale] = magnitude[scale] = 0.0
            if now is None:
                continue
            masks = self.masks[t]  # (R, P)
            magnitude[scale] = float((masks @ np.linalg.norm(now, axis=1)).max())
            if ahead is not None:
                dot = masks @ (now * ahead).sum(axis=1)  # (R,) mean <F_t, F_t+k> per region
                score[scale] = float(np.sqrt(max(0.0, float((-dot).max()))))
        return t, score, magnitude, t in self.masks


def video_signals(frames: Iterable[np.ndarray], fps: float, params: SpottingParams,
                  features: FeatureParams, where: str, numbers: Sequence[int] | None = None
                  ) -> VideoSignals:
    """Every frame's signals of a whole video (frames in order, BGR or grey uint8);
    ``numbers``: the frames' own numbers, for messages (MotionMeter)."""
    meter = MotionMeter(params, features, fps, where, numbers)
    rows = []
    for frame in frames:
        rows += meter.push(frame)
    rows += meter.finish()
    if not rows:
        raise MerError(f"{where}: the video has no frames")
    n = len(rows)
    score = {s: np.array([r[1][s] for r in rows]) for s in SCALES}
    magnitude = {s: np.array([r[2][s] for r in rows]) for s in SCALES}
    face = np.array([r[3] for r in rows], dtype=bool)
    return VideoSignals(fps, n, dict(meter.windows), score, magnitude, face)


def read_frames(paths: Iterable, where: str | None = None) -> Iterator[np.ndarray]:
    """Grey frames of a video's image files in order, read by the data stage's one frame
    reader (mer.core.frames.read_video_frames: all of the first frame's size, else a
    FrameError naming the frame and ``where``, the video)."""
    from mer.core.frames import read_video_frames

    for frame in read_video_frames(paths, where):
        yield to_grey(frame)
