"""Spot, then recognise: every expression interval of a video, and each micro interval's class.

The spot-then-recognise task of MEGC2024 (Li et al., "MEGC2024 challenge summary"): the
spotter (mer.spotting: a FittedSpotter's p on the video's motion signals) finds onset, apex
and offset of each micro- and macro-expression; the frames onset..offset of each micro
interval, with the SPOTTED apex (not re-estimated), go through the one recognition path
(mer.inference.predictor.predict_window) of the registered model. Macro intervals are not
classified: the recogniser is trained on micro-expressions only.

Offline (``spot_video``) the whole video is read for its signals, then read again keeping only
the micro intervals' frames (a long video never sits in memory). Following a stream
(``follow_video``), the last delay + k_micro + k_macro + 1 frames are kept: an interval is
reported once its apex + delay (mer.spotting.spotter.FollowSpotter) has its values, which
takes k_macro frames more (mer.spotting.signals.MotionMeter), so its frames are still at hand.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mer.faces.align import FaceError
from mer.inference.predictor import ModelBundle, Prediction, predict_window
from mer.inference.sources import FrameWindow, check_apex
from mer.spotting.signals import MotionMeter, video_signals
from mer.spotting.spotter import FittedSpotter, FollowSpotter, Spot, spot

# Columns of every spotted interval: frames (0-based; a folder's own frame numbers) and
# seconds, kind, confidence.
INTERVAL_COLUMNS = ("onset", "apex", "offset", "onset_s", "apex_s", "offset_s", "kind",
                    "confidence")
LABEL = "label"  # the recognised class of a micro interval; empty for macro intervals
ERROR = "recognition_error"  # why a micro interval has no class (no face, or lost), or empty


@dataclass(frozen=True)
class SpottedInterval:
    """One spotted interval and, for a micro interval when a recogniser was given, its class
    (``prediction``) or why there is none (``error``)."""

    spot: Spot
    fps: float
    prediction: Prediction | None = None
    error: str = ""

    def row(self, classes: Sequence[str], numbers: Sequence[int] | None = None
            ) -> dict[str, Any]:
        """The interval's values by column (``columns(classes)``); label, prob_<class> and
        recognition_error are None where there is no class (macro, or the face was lost).

        ``numbers``: the frames' own numbers by position, for a folder of frames
        (mer.inference.sources.frame_numbers): onset, apex and offset are then those numbers,
        and seconds count from the first frame's; else positions from 0."""
        i = self.spot.interval
        first = 0 if numbers is None else numbers[0]
        onset, apex, offset = ((i.onset, i.apex, i.offset) if numbers is None else
                               (numbers[i.onset], numbers[i.apex], numbers[i.offset]))
        values: dict[str, Any] = {
            "onset": onset, "apex": apex, "offset": offset,
            "onset_s": round((onset - first) / self.fps, 3),
            "apex_s": round((apex - first) / self.fps, 3),
            "offset_s": round((offset - first) / self.fps, 3), "kind": i.kind,
            "confidence": round(self.spot.confidence, 3)}
        if classes:
            found = self.prediction
            values[LABEL] = found.label if found else None
            values.update({f"prob_{c}": found.probabilities[c] if found else None
                           for c in classes})
            values[ERROR] = self.error or None
        return values


def columns(classes: Sequence[str]) -> tuple[str, ...]:
    """The columns of a spotting answer: recognition's only when there are ``classes``."""
    if not classes:
        return INTERVAL_COLUMNS
    return (*INTERVAL_COLUMNS, LABEL, *(f"prob_{c}" for c in classes), ERROR)


def recognise(bundle: ModelBundle | None, found: Spot, fps: float,
              frames: Sequence[np.ndarray], where: str,
              numbers: Sequence[int] | None = None) -> SpottedInterval:
    """``found`` with its class when it is micro and ``bundle`` is given (``frames``: its
    frames onset..offset). No face on the interval's onset frame, or a face lost inside it, is
    the row's recognition_error: one hard interval does not cost a long video's others.
    ``numbers``: the frames' own numbers by position, which the error names frames by (a
    folder of numbered frames); None: positions from 0."""
    i = found.interval
    if bundle is None or i.kind != "micro":
        return SpottedInterval(found, fps)
    if len(frames) != i.offset - i.onset + 1:
        raise RuntimeError(f"{len(frames)} frames for interval {i.onset}..{i.offset}")
    named = tuple(range(i.onset, i.offset + 1) if numbers is None
                  else numbers[i.onset:i.offset + 1])
    description = f"{where} frames {named[0]}..{named[-1]}"
    window = FrameWindow(tuple(frames), check_apex(i.apex - i.onset, len(frames), description),
                         description, named)
    try:
        return SpottedInterval(found, fps, predict_window(bundle, window))
    except FaceError as exc:  # its reason says which frame and why, without the advice
        return SpottedInterval(found, fps, error=exc.reason)


def _frames_of(frames: Iterable[np.ndarray], wanted: Sequence[Spot]
               ) -> dict[int, list[np.ndarray]]:
    """Frames onset..offset of each ``wanted`` spot (by index), in one pass over ``frames``."""
    kept: dict[int, list[np.ndarray]] = {n: [] for n in range(len(wanted))}
    last = max((s.interval.offset for s in wanted), default=-1)
    for t, frame in enumerate(frames):
        if t > last:
            break
        for n, s in enumerate(wanted):
            if s.interval.onset <= t <= s.interval.offset:
                kept[n].append(frame)
    return kept


def spot_video(open_frames: Callable[[], Iterator[np.ndarray]], fps: float,
               spotter: FittedSpotter, bundle: ModelBundle | None, where: str,
               numbers: Sequence[int] | None = None) -> tuple[list[SpottedInterval], int]:
    """Every interval of a whole video, in time order, each micro one recognised by ``bundle``
    (None: spotting only), and the number of frames read. ``open_frames`` gives the video's
    (H, W, 3) uint8 BGR frames from the first each time it is called (read twice when
    recognising); each scale is thresholded on the whole video, as `mer spot-eval` does.
    ``numbers``: the frames' own numbers (a folder of frames), which messages name."""
    from contextlib import closing

    with closing(open_frames()) as frames:
        signals = video_signals(frames, fps, spotter.params, spotter.features, where, numbers)
    spots = spot(signals, spotter.p, spotter.noise_floor)
    micro = [s for s in spots if s.interval.kind == "micro"] if bundle is not None else []
    kept: dict[int, list[np.ndarray]] = {}
    if micro:
        with closing(open_frames()) as frames:
            kept = _frames_of(frames, micro)
    done = {id(s): recognise(bundle, s, fps, kept[n], where, numbers)
            for n, s in enumerate(micro)}
    return [done.get(id(s)) or SpottedInterval(s, fps) for s in spots], signals.frames


def follow_video(frames: Iterable[np.ndarray], fps: float, spotter: FittedSpotter,
                 bundle: ModelBundle | None, where: str,
                 numbers: Sequence[int] | None = None) -> Iterator[SpottedInterval]:
    """Each interval once it is decided (3 k_macro frames after its apex, read k_macro frames
    later still), each micro one recognised by ``bundle`` (None: spotting only) before it is
    yielded. The threshold uses the frames read so far (mer.spotting.spotter.FollowSpotter).
    ``numbers``: the frames' own numbers (a folder of frames), which messages name."""
    meter = MotionMeter(spotter.params, spotter.features, fps, where, numbers)
    follower = FollowSpotter(meter.windows, spotter.p, spotter.noise_floor)
    # An interval is decided when frame apex + delay's values come out, k_macro frames after
    # that frame was read; its onset is k_micro frames before the apex (micro intervals).
    recent: deque[np.ndarray] = deque(maxlen=follower.delay + meter.windows["micro"]
                                      + meter.windows["macro"] + 1)
    read = 0

    def spots() -> Iterator[Spot]:
        nonlocal read
        for frame in frames:
            read += 1
            if bundle is not None:
                recent.append(frame)
            for t, score, _, face in meter.push(frame):
                yield from follower.push(t, score, face)
        for t, score, _, face in meter.finish():
            yield from follower.push(t, score, face)
        yield from follower.finish()

    for found in spots():
        i, first = found.interval, read - len(recent)
        window = [] if bundle is None or i.kind != "micro" else \
            list(recent)[i.onset - first:i.offset - first + 1]
        yield recognise(bundle, found, fps, window, where, numbers)
