"""Spotting under leave-one-subject-out: signals once per video, thresholds fitted per fold.

Each video's motion signals do not depend on any label, so they are computed once
(``corpus_signals``). Per LOSO fold (mer.evaluation.splits.loso_folds over the videos'
subjects) the spotter's p per scale is fitted on the training subjects' videos only
(mer.spotting.spotter.fit_p) and applied to the held-out subject's videos; the held-out
intervals of all folds are pooled into the MEGC metric (mer.evaluation.spotting). The plain
baseline has nothing to fit and runs on every video in the same pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mer.config import FeatureParams, SpottingParams
from mer.core.workers import parallel_map
from mer.data.long_video import Interval, LongVideo
from mer.evaluation.splits import loso_folds
from mer.evaluation.spotting import iou, match, pooled_counts, table
from mer.spotting import METHODS, SCALES, SPOTTER, THRESHOLD_BASELINE
from mer.spotting.signals import VideoSignals, read_frames, video_signals
from mer.spotting.spotter import Spot, fit_p, spot, spot_baseline


def _signals_task(task: tuple[LongVideo, SpottingParams, FeatureParams]) -> VideoSignals:
    video, params, features = task
    where = f"{video.dataset} video {video.video}"
    return video_signals(read_frames(video.frames, where), video.fps, params, features, where,
                         video.frame_numbers)


def corpus_signals(videos: Sequence[LongVideo], params: SpottingParams,
                   features: FeatureParams) -> list[VideoSignals]:
    """Every video's signals, over spotting.workers processes (results do not depend on it)."""
    return parallel_map(_signals_task, [(v, params, features) for v in videos],
                        params.workers, "spotting signals", "spotting.workers")


@dataclass(frozen=True)
class FoldFit:
    subject: str  # held out
    p: dict[str, float]  # scale -> fitted p, from the training subjects only


def loso_spots(videos: Sequence[LongVideo], signals: Sequence[VideoSignals],
               params: SpottingParams) -> tuple[list[list[Spot]], list[FoldFit]]:
    """Each video's spots when its subject is held out, and every fold's fitted p."""
    folds = loso_folds([v.subject for v in videos])
    truths = [v.intervals for v in videos]
    spots: list[list[Spot]] = [[] for _ in videos]
    fits = []
    for fold in folds:
        p = fit_p([signals[i] for i in fold.train], [truths[i] for i in fold.train],
                  params.thresholds, params.iou, params.noise_floor)
        fits.append(FoldFit(fold.subject, p))
        for i in fold.test:
            spots[i] = spot(signals[i], p, params.noise_floor)
    return spots, fits


def _scores(videos: Sequence[LongVideo], spots: Sequence[Sequence[Spot]],
            iou: float) -> dict[str, dict[str, float | int]]:
    spotted: list[list[Interval]] = [[s.interval for s in video] for video in spots]
    return table(pooled_counts(zip(spotted, [v.intervals for v in videos], strict=True), iou))


@dataclass(frozen=True)
class CorpusEvaluation:
    """What `mer spot-eval` reports of one corpus."""

    report: dict[str, Any]  # reports/spotting.json's entry: tables, each fold's p, p on all
    intervals: list[dict[str, Any]]  # reports/spotting_intervals.csv: INTERVAL_COLUMNS rows


# One row per spotted interval (TP or FP) and per ground truth no spotted interval matched
# (FN), for each of METHODS: the spotter (each video spotted with its LOSO fold's p) and the
# threshold baseline. onset, apex, offset: 0-based positions in the video's frames; *_frame:
# the corpus's own frame numbers (from the file names, as the workbook counts them); truth:
# the matched or missed ground truth's 'workbook:row'; iou: of the matched pair.
INTERVAL_COLUMNS = ("method", "subject", "video", "kind", "result", "onset", "apex", "offset",
                    "onset_frame", "apex_frame", "offset_frame", "confidence", "iou", "truth")


def evaluate_corpus(videos: Sequence[LongVideo], signals: Sequence[VideoSignals],
                    params: SpottingParams) -> CorpusEvaluation:
    """The corpus's report (the tables of the spotter under LOSO and of the threshold baseline,
    each fold's fitted p) and every interval behind its counts (``INTERVAL_COLUMNS``)."""
    spots, fits = loso_spots(videos, signals, params)
    baseline = [spot_baseline(s, params.baseline_threshold) for s in signals]
    report = {
        "videos": len(videos),
        "subjects": len({v.subject for v in videos}),
        "frames": sum(s.frames for s in signals),
        "truth": {kind: sum(i.kind == kind for v in videos for i in v.intervals)
                  for kind in SCALES},
        SPOTTER: _scores(videos, spots, params.iou),
        THRESHOLD_BASELINE: _scores(videos, baseline, params.iou),
        "folds": [{"subject": f.subject, "p": f.p} for f in fits],
        # fitted on every subject, as `mer register` trains on all: what `mer spot` uses
        "p": fit_p(signals, [v.intervals for v in videos], params.thresholds, params.iou,
                   params.noise_floor),
    }
    rows = [row for method, found in zip(METHODS, (spots, baseline), strict=True)
            for video, video_spots in zip(videos, found, strict=True)
            for row in _interval_rows(method, video, video_spots, params.iou)]
    return CorpusEvaluation(report, rows)


def _interval_rows(method: str, video: LongVideo, spots: Sequence[Spot], threshold: float
                   ) -> list[dict[str, Any]]:
    """One video's rows of reports/spotting_intervals.csv, in time order."""
    numbers = video.frame_numbers
    spotted = [s.interval for s in spots]
    pairs = dict(match(spotted, video.intervals, threshold))
    matched = set(pairs.values())

    def row(interval: Interval, result: str, confidence: float | None,
            truth: Interval | None) -> dict[str, Any]:
        def number(position: int | None) -> int | None:
            return None if position is None else numbers[position]

        return {"method": method, "subject": video.subject, "video": video.video,
                "kind": interval.kind, "result": result, "onset": interval.onset,
                "apex": interval.apex, "offset": interval.offset,
                "onset_frame": number(interval.onset), "apex_frame": number(interval.apex),
                "offset_frame": number(interval.offset), "confidence": confidence,
                "iou": None if truth is None or result != "TP" else iou(interval, truth),
                "truth": truth.source if truth is not None else ""}

    rows = [row(s.interval, "TP" if i in pairs else "FP", s.confidence,
                video.intervals[pairs[i]] if i in pairs else None)
            for i, s in enumerate(spots)]
    rows += [row(t, "FN", None, t) for j, t in enumerate(video.intervals) if j not in matched]
    return sorted(rows, key=lambda r: (r["onset"], r["offset"], r["kind"], r["result"]))


def spotting_headline(corpus: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The content of reports/spotting_metrics.json, the spotting DVC metric: the spotter's and
    the threshold baseline's micro, macro and overall F1, by METHODS (six numbers, so `dvc exp
    show` stays narrow; precision, recall and counts stay in reports/spotting.json)."""
    return {who: {f"{row}_f1": round(float(corpus[who][row]["f1"]), 4)
                  for row in ("micro", "macro", "overall")}
            for who in METHODS}
