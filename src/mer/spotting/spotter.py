"""Peaks of the motion signals -> spotted intervals; thresholds fitted on training subjects.

The spotter (training-free signal, one fitted number per scale): in each video, a scale's
score s (mer.spotting.signals) is thresholded at T = mean(s) + p (max(s) - mean(s)), the
threshold of the MEGC2019/2020 baselines (Li et al., "Spotting micro-expressions on long
videos sequences", FG 2019; He et al., FG 2020). Peaks above T at least k frames apart
(``scipy.signal.find_peaks``) are apexes; each becomes the interval apex - k .. apex + k, micro
on the micro scale, macro on the macro scale, with confidence s(apex) / T. A micro-expression
also excites the macro scale, so overlapping intervals of the two scales keep the more
confident one. p is chosen per scale from spotting.thresholds to maximise that kind's pooled
F1 (MEGC metric) over the training subjects' videos only: per LOSO fold, nothing about the
held-out subject steers its threshold.

That threshold always passes a video's largest peaks, so on a still face it spots noise (a
break-it session: 30 s of a still face, 32 intervals). A peak must also stand
spotting.noise_floor = z robust standard deviations above the video's median score (T =
max(mean + p (max - mean), median + z IQR / 1.349), over the frames with the face that move
at all; none when most do not, noise_threshold), the constant-false-alarm idea of radar
detection: the IQR is the spread of the background, which an expression, a few percent of
the frames, barely moves. z = 6 was chosen on still videos of real faces (5 s and 30 s of
each of the project's three fixture faces, 120 s of one, with sensor noise: their largest
peak stands 2.9-4.3 robust standard deviations up), before its LOSO F1 on the embedded
corpus was measured; 0 is the MEGC baselines' threshold alone.

The plain baseline: peaks of the head-motion-removed flow magnitude above one fixed
threshold (spotting.baseline_threshold, px) on each scale, no fitting, the same intervals and
the same conflict rule.
"""

from __future__ import annotations

import bisect
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from mer.config import FeatureParams, Params, SpottingParams, mer_command
from mer.core.records import file_digest
from mer.data.long_video import Interval, Kind
from mer.errors import MerError
from mer.evaluation.spotting import pooled_counts
from mer.spotting import SCALES
from mer.spotting.signals import VideoSignals

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Spot:
    """One spotted interval with its confidence (peak / threshold, > 1)."""

    interval: Interval
    confidence: float


def peaks(signal: np.ndarray, threshold: float, k: int) -> list[int]:
    """Frames where ``signal`` peaks above ``threshold``, at least k frames apart."""
    from scipy.signal import find_peaks

    if not len(signal) or threshold <= 0:
        return []
    found, _ = find_peaks(signal, height=threshold, distance=max(1, k))
    return [int(t) for t in found]


def relative_threshold(signal: np.ndarray, p: float, face: np.ndarray | None = None,
                       noise_floor: float = 0.0, k: int = 0) -> float:
    """The spotter's threshold on one video's signal: the MEGC baseline's mean + p (max -
    mean), over the frames where the face was tracked (``face``, (frames,) bool; None: every
    frame), raised to the noise threshold (``noise_threshold``) of the same frames after the
    first ``k`` (the scale's window: their score is not defined, always 0); noise_floor 0:
    not raised. Frames without a face have no signal: counted as 0, they lowered the
    threshold with every second of an empty chair (a break-it session: 30 s without a face
    before a video turned its 11 intervals into 17)."""
    faced = signal if face is None else signal[face]
    if not len(faced):
        return 0.0
    threshold = threshold_of(float(faced.mean()), float(faced.max()), p)
    if noise_floor > 0:
        defined = np.ones(len(signal), dtype=bool) if face is None else face.copy()
        defined[:k] = False
        values = signal[defined]
        moving = np.sort(values[values > 0]).tolist()
        threshold = max(threshold, noise_threshold(moving, len(values), noise_floor))
    return threshold


def threshold_of(mean: float, maximum: float, p: float) -> float:
    """mean + p (max - mean): the threshold from a signal's mean and maximum."""
    return mean + p * (maximum - mean)


IQR_PER_SD = 1.349  # interquartile range of normal noise in standard deviations


def noise_threshold(moving: Sequence[float], frames: int, z: float) -> float:
    """median + z IQR / 1.349 of a signal's values above 0 (``moving``: ascending) among its
    ``frames`` frames with the face after the first k: the least height of a peak that stands
    out of the video's noise. 0 (no floor) when z is 0, or when most of those frames score 0:
    a video without sensor noise (rendered or screen-captured) has no noise to measure, and
    the spread of its few moving frames was the expressions' own (a break-it session: two
    clear ones, none spotted). Quantiles are linearly interpolated (numpy's default), here
    rather than by numpy so that FollowSpotter's running sorted values give the same float."""
    if z <= 0 or 2 * len(moving) < frames or not moving:
        return 0.0
    q1, median, q3 = (_quantile(moving, q) for q in (0.25, 0.5, 0.75))
    return median + z * (q3 - q1) / IQR_PER_SD


def _quantile(ordered: Sequence[float], q: float) -> float:
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def scale_spots(signal: np.ndarray, threshold: float, k: int, kind: Kind, start: int = 0
                ) -> list[Spot]:
    """Each peak above ``threshold`` as the interval apex - k .. apex + k, clipped to frame 0
    and the signal's last frame (``signal`` holds frames start.. of the video)."""
    last = start + len(signal) - 1
    return [Spot(Interval(max(0, start + t - k), start + t, min(last, start + t + k), kind),
                 float(signal[t]) / threshold) for t in peaks(signal, threshold, k)]


def overlaps(a: Spot, b: Spot) -> bool:
    """Whether two spots share a frame."""
    return not (a.interval.offset < b.interval.onset or b.interval.offset < a.interval.onset)


def resolve(spots: Sequence[Spot]) -> list[Spot]:
    """Overlapping spots keep the most confident (ties: the earlier); in time order."""
    kept: list[Spot] = []
    for spot in sorted(spots, key=lambda s: (-s.confidence, s.interval.onset, s.interval.kind)):
        if not any(overlaps(spot, other) for other in kept):
            kept.append(spot)
    return sorted(kept, key=lambda s: (s.interval.onset, s.interval.offset))


def spot(signals: VideoSignals, p: Mapping[str, float], noise_floor: float = 0.0
         ) -> list[Spot]:
    """The spotter's intervals in one video, with p per scale (micro, macro) and the noise
    floor z (spotting.noise_floor; 0: the MEGC threshold alone)."""
    found = []
    for scale in SCALES:
        signal = signals.score[scale]
        threshold = relative_threshold(signal, p[scale], signals.face, noise_floor,
                                       signals.windows[scale])
        found += scale_spots(signal, threshold, signals.windows[scale], scale)
    return resolve(found)


def spot_baseline(signals: VideoSignals, threshold: float) -> list[Spot]:
    """The plain baseline's intervals: flow magnitude peaks above one fixed threshold, px."""
    found = []
    for scale in SCALES:
        found += scale_spots(signals.magnitude[scale], threshold, signals.windows[scale], scale)
    return resolve(found)


def fit_p(signals: Sequence[VideoSignals], truths: Sequence[Sequence[Interval]],
          candidates: Sequence[float], iou: float, noise_floor: float = 0.0
          ) -> dict[str, float]:
    """p per scale maximising that kind's pooled F1 over the given (training) videos, spotted
    with the noise floor z ``noise_floor`` (spotting.noise_floor).

    Scales are fitted one after the other (micro first, macro given it), since each kind's
    detections are resolved against the other's. Ties keep the smaller p (more recall). A
    scale with no true interval of its kind in the videos gets the largest candidate. The
    order ``candidates`` are listed in changes nothing.
    """
    if len(signals) != len(truths):
        raise ValueError(f"{len(signals)} videos' signals but {len(truths)} truths")
    candidates = sorted(float(p) for p in candidates)  # ties: the first tried, the smaller p
    chosen = {scale: float(candidates[len(candidates) // 2]) for scale in SCALES}
    for scale in SCALES:
        if not any(i.kind == scale for truth in truths for i in truth):
            # Every p scores F1 0, and the tie rule would take the p that spots the most,
            # all false alarms (a break-it session: 49 in 60 s): the one that spots least.
            chosen[scale] = float(max(candidates))
            log.warning("no %s interval in the %d training video(s): F1 cannot choose p "
                        "%s, so it is the largest candidate, %g (the fewest false alarms)",
                        scale, len(signals), scale, chosen[scale])
            continue
        best, best_f1 = chosen[scale], -1.0
        for p in candidates:
            trial = {**chosen, scale: float(p)}
            spotted = [[s.interval for s in spot(v, trial, noise_floor)] for v in signals]
            f1 = pooled_counts(zip(spotted, truths, strict=True), iou)[scale].f1
            if f1 > best_f1:
                best, best_f1 = float(p), f1
        chosen[scale] = best
    return chosen


class FollowSpotter:
    """The spotter on a stream: each frame's signals in, each interval out once it is decided.

    The offline rule on what has been seen: peaks (``scale_spots``) and the conflict rule
    (``resolve``), with T = mean + p (max - mean) over the frames up to now (the offline
    threshold once the stream ends). A peak is decided ``delay`` = 3 k_macro frames after its
    apex: by then every spot that could overlap it (apex at most its k + k_macro later) has
    had the k frames after its own apex that make it a peak (``find_peaks``' distance k), so
    it is resolved, as offline, against every spot still pending (apex after the last decided
    frame) and the ones already reported, which stand. ``finish`` decides the rest when the
    stream ends. Where the two can differ: before a scale's largest motion has been seen its
    running threshold is below the final one, so it passes peaks the offline one does not
    and makes that scale's spots more confident (a micro-expression before any macro one
    may lose to its own macro-scale motion); after it, the running threshold still differs
    from the final one by (1 - p) (mean so far - the whole signal's mean), so a peak near
    the threshold can pass one and not the other; and a chain of ever more confident
    overlapping spots reaching more than ``delay`` frames ahead. The noise threshold
    (``noise_floor`` z) is likewise the median and IQR of the frames so far, kept sorted.
    """

    def __init__(self, windows: Mapping[str, int], p: Mapping[str, float],
                 noise_floor: float = 0.0) -> None:
        self.windows, self.p, self.noise_floor = dict(windows), dict(p), noise_floor
        self.delay = 3 * max(self.windows[scale] for scale in SCALES)  # frames after the apex
        self.values: dict[str, list[float]] = {scale: [] for scale in SCALES}
        self.sums = dict.fromkeys(SCALES, 0.0)
        self.maxima = dict.fromkeys(SCALES, 0.0)
        # each scale's frames with the face after its first k, and their values above 0,
        # ascending (noise_threshold, as relative_threshold counts them)
        self.defined = dict.fromkeys(SCALES, 0)
        self.moving: dict[str, list[float]] = {scale: [] for scale in SCALES}
        self.faced = 0  # frames with the face tracked: the mean is over them (relative_threshold)
        self.decided = -1  # apexes up to this frame are decided
        self.reported: list[Spot] = []  # the reported spots a pending one may still overlap

    def push(self, t: int, score: Mapping[str, float], face: bool = True) -> list[Spot]:
        """Add frame t's scores (frames in order from 0) and whether the face was tracked in
        it; the spots decided by it (apex t - delay), in time order."""
        self.faced += face
        for scale in SCALES:
            value = float(score[scale])
            self.values[scale].append(value)
            if face:
                self.sums[scale] += value
                self.maxima[scale] = max(self.maxima[scale], value)
                if t >= self.windows[scale]:
                    self.defined[scale] += 1
                    if value > 0 and self.noise_floor > 0:
                        bisect.insort(self.moving[scale], value)
        return self._decide(t - self.delay)

    def finish(self) -> list[Spot]:
        """The spots of the frames still pending when the stream ends, in time order."""
        return self._decide(len(self.values[SCALES[0]]) - 1)

    def _decide(self, last: int) -> list[Spot]:
        """Spots with apex up to ``last`` (none before the last decided frame): the offline
        rule on the ``delay`` frames before the first pending apex and all frames after it."""
        if last <= self.decided:
            return []
        start = max(0, self.decided + 1 - self.delay)
        pending = []
        for scale in SCALES:
            values = self.values[scale]
            threshold = max(threshold_of(self.sums[scale] / max(self.faced, 1),
                                         self.maxima[scale], self.p[scale]),
                            noise_threshold(self.moving[scale], self.defined[scale],
                                            self.noise_floor))
            pending += [s for s in scale_spots(np.array(values[start:]), threshold,
                                               self.windows[scale], scale, start)
                        if s.interval.apex > self.decided
                        and not any(overlaps(s, r) for r in self.reported)]
        new = [s for s in resolve(pending) if s.interval.apex <= last]
        self.decided = last
        self.reported = [r for r in self.reported + new if r.interval.offset >= start]
        return new


def follow_signals(signals: VideoSignals, p: Mapping[str, float], noise_floor: float = 0.0
                   ) -> list[Spot]:
    """The spots FollowSpotter reports on a whole video's signals, frame by frame, as
    `mer spot --follow` decides them (frames without a face included, as it pushes them)."""
    follower = FollowSpotter(signals.windows, p, noise_floor)
    face = signals.face if signals.face is not None else np.ones(signals.frames, dtype=bool)
    found = [s for t in range(signals.frames) for s in follower.push(
        t, {scale: signals.score[scale][t] for scale in SCALES}, bool(face[t]))]
    return found + follower.finish()


# The spotting params the signal pass reads (MotionMeter): what a fitted p is only valid with.
SIGNAL_KEYS = ("face_size", "flow_iterations", "flow_refine_iterations", "micro_window",
               "macro_window", "regions")


@dataclass(frozen=True)
class FittedSpotter:
    """The spotter as `mer spot` runs it and `mer register` stores it beside the recogniser:
    p per scale, fitted by `mer spot-eval` on every subject of the spotting corpus, with the
    signal settings it was fitted under."""

    p: dict[str, float]  # scale (micro, macro) -> p in 0..1
    signal: dict[str, Any]  # SIGNAL_KEYS -> value: windows (s), face crop (px), DIS budget
    features: FeatureParams  # the DIS settings the spotter keeps (patch size, stride)
    corpus: str  # spotting.source p was fitted on, or "--p" when given by hand
    provenance: dict[str, Any] = field(default_factory=dict)  # videos, subjects, LOSO F1
    # spotting.noise_floor p was fitted with (z); a spotter registered before it existed
    # unpickles without it and keeps the threshold it was fitted with: none (0)
    noise_floor: float = 0.0

    @property
    def params(self) -> SpottingParams:
        """The spotting params of the signal pass (the others at their defaults, unused)."""
        return SpottingParams(**self.signal)

    def describe(self) -> str:
        return (f"p micro {self.p['micro']:g}, macro {self.p['macro']:g}, noise floor "
                f"{self.noise_floor:g} ({self.corpus})")


def _given_p(p: Sequence[float]) -> dict[str, float]:
    """p by scale from --p MICRO MACRO; MerError unless two values in 0..1."""
    if len(p) != len(SCALES) or not all(0 <= value <= 1 for value in p):
        raise MerError(f"--p {' '.join(map(str, p))}: give two values (micro, macro), each "
                       "in 0..1")
    return dict(zip(SCALES, map(float, p), strict=True))


def given_spotter(p: Sequence[float], params: Params) -> FittedSpotter:
    """The spotter with p (micro, macro) given by hand and this project's signal settings."""
    return FittedSpotter(_given_p(p),
                         {key: getattr(params.spotting, key) for key in SIGNAL_KEYS},
                         params.features, "--p", noise_floor=params.spotting.noise_floor)


def with_given_p(spotter: FittedSpotter, p: Sequence[float]) -> FittedSpotter:
    """``spotter`` (a registered one: its signal settings) with p given by hand."""
    return replace(spotter, p=_given_p(p), corpus="--p", provenance={})


# The params p is fitted under beyond the signal pass's: the corpus, the candidates and the
# IoU that scores them, and the DIS settings the spotter keeps from features.
FIT_KEYS = ("source", "root", "annotations", *SIGNAL_KEYS, "thresholds", "noise_floor", "iou")
FIT_FEATURE_KEYS = ("flow", "dis_patch_size", "dis_patch_stride")


def fitted_with(params: Params) -> dict[str, Any]:
    """The params a fitted p holds for, JSON values by dotted key ('spotting.micro_window'):
    `mer spot-eval` records them in reports/spotting.json, read_fitted_spotter compares."""
    values = {**{f"spotting.{key}": getattr(params.spotting, key) for key in FIT_KEYS},
              "spotting.synthetic.fps": params.spotting.synthetic.fps,
              **{f"features.{key}": getattr(params.features, key) for key in FIT_FEATURE_KEYS}}
    return json.loads(json.dumps(values, default=str))  # Path -> str, tuple -> list


# Params recorded since reports were first written, with the value a report written before
# holds for: its p were fitted without a noise floor (a break-it session: such a report was
# refused even under noise_floor: 0, "null there").
RECORDED_SINCE = {"spotting.noise_floor": 0.0}


def _recorded(recorded: Mapping[str, Any], key: str) -> Any:
    return recorded[key] if key in recorded else RECORDED_SINCE.get(key)


# The recorded params that are paths: one folder written two ways ('../corpus' and its
# absolute path, from the project folder both run in) is the same.
PATH_KEYS = ("spotting.root", "spotting.annotations")


def _same_value(key: str, recorded: Any, now: Any) -> bool:
    if key in PATH_KEYS and isinstance(recorded, str) and isinstance(now, str):
        return Path(recorded).resolve() == Path(now).resolve()
    return recorded == now


def _rerun(params: Params) -> str:
    """The commands that fit p again, for messages: `mer spot-eval`, or `dvc repro` (after
    `dvc repro --force spot-eval` when DVC finds nothing changed: it does not track a workbook
    outside spotting.root); for params from another file than params.yaml only `mer --params
    FILE spot-eval`, as DVC reads params.yaml."""
    if params.source != "params.yaml":
        return f"`{mer_command('spot-eval', params.source)}`"
    return ("`mer spot-eval` (or `dvc repro`, after `dvc repro --force spot-eval` if DVC finds "
            "nothing changed)")


def _check_workbook(report: Path, recorded: Any, rerun: str) -> None:
    """A MerError when the workbook p was fitted on (``recorded``: path and sha256, from
    ``report``) holds other bytes now: run by hand after a row was corrected, `mer spot` would
    use p fitted on the old rows, and DVC does not track a workbook outside spotting.root. A
    workbook no longer there is not checked (a machine that spots need not hold the corpus)."""
    if not isinstance(recorded, dict) or not isinstance(recorded.get("path"), str):
        return
    workbook = Path(recorded["path"])
    if workbook.is_file() and file_digest(workbook) != recorded.get("sha256"):
        raise MerError(f"{workbook} changed after `mer spot-eval` fitted the p in {report} on "
                       f"it: rerun {rerun} to fit p on what it holds now")


def read_fitted_spotter(report: Path, params: Params) -> FittedSpotter:
    """The spotter `mer spot-eval` fitted on every subject of spotting.source (``report``:
    reports/spotting.json), with this project's signal settings. MerError naming what to run
    when it is missing, or when it was fitted under other params than ``params`` holds
    (``fitted_with``: changed since, with no `dvc repro spot-eval` after it) or on a workbook
    edited since (``workbook``); a report without the record (an older mer's) is not checked,
    with a warning saying so."""
    source = params.spotting.source
    rerun = _rerun(params)
    if not report.exists():
        raise MerError(f"{report} not found: run {rerun} to fit the spotter's thresholds p on "
                       "the spotting corpus")
    try:
        content = json.loads(report.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MerError(f"{report} is not a JSON report ({exc}): rerun {rerun}") from None
    try:
        fitted = content[source]
        p = {scale: float(fitted["p"][scale]) for scale in SCALES}
    except (KeyError, TypeError, ValueError):
        raise MerError(f"{report} has no fitted p for spotting.source {source}: rerun "
                       f"{rerun}") from None
    recorded = fitted.get("fitted_with")
    if not isinstance(recorded, dict):
        log.warning("%s records no params its p were fitted under (an older mer wrote it), so "
                    "they are used unchecked: rerun %s to have them checked", report, rerun)
    else:
        now = fitted_with(params)
        changed = [key for key in now if not _same_value(key, _recorded(recorded, key), now[key])]
        if changed:
            what = "; ".join(f"{key} {json.dumps(_recorded(recorded, key))} there, "
                             f"{json.dumps(now[key])} now" for key in changed[:3])
            raise MerError(f"{report} was fitted under other params than {params.source} "
                           f"holds ({what}): rerun {rerun} to fit p under these")
        _check_workbook(report, fitted.get("workbook"), rerun)
    provenance = {"videos": fitted.get("videos"), "subjects": fitted.get("subjects"),
                  "loso_f1": {kind: fitted.get("spotter", {}).get(kind, {}).get("f1")
                              for kind in ("micro", "macro", "overall")}}
    return FittedSpotter(p, {key: getattr(params.spotting, key) for key in SIGNAL_KEYS},
                         params.features, source, provenance, params.spotting.noise_floor)
