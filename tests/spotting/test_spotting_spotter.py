"""The spotter: peaks -> intervals, thresholds fitted on training subjects only."""

from pathlib import Path

import numpy as np

from mer.data.long_video import Interval, LongVideo
from mer.evaluation.spotting import pooled_counts
from mer.spotting.folds import evaluate_corpus, loso_spots
from mer.spotting.signals import VideoSignals
from mer.spotting.spotter import FollowSpotter, Spot, fit_p, resolve, spot, spot_baseline


def signals_with(peaks_at: dict[str, list[tuple[int, float]]], frames: int = 300,
                 seed: int = 0) -> VideoSignals:
    """Signals of noise with bumps of given heights at given frames, per scale."""
    rng = np.random.default_rng(seed)
    score = {}
    for scale, peaks in peaks_at.items():
        s = np.abs(rng.normal(0, 0.02, frames))
        for t, height in peaks:
            s[t - 2:t + 3] += height * np.array([0.3, 0.7, 1.0, 0.7, 0.3])
        score[scale] = s
    return VideoSignals(30.0, frames, {"micro": 6, "macro": 15}, score,
                        {k: v.copy() for k, v in score.items()})


def video(subject: str, intervals) -> LongVideo:
    frames = tuple(Path(f"img{n}.jpg") for n in range(1, 301))  # never read: signals are given
    return LongVideo("synthetic", subject, f"{subject}_1", 30.0, frames, tuple(intervals))


def test_a_peak_becomes_the_interval_apex_minus_k_to_apex_plus_k():
    s = signals_with({"micro": [(100, 1.0)], "macro": []})
    s.score["macro"][:] = 0
    spots = spot(s, {"micro": 0.5, "macro": 0.5})
    assert [sp.interval for sp in spots] == [Interval(94, 100, 106, "micro")]
    assert spots[0].confidence > 1


def test_overlapping_spots_keep_the_more_confident():
    a = Spot(Interval(10, 15, 20, "micro"), 1.5)
    b = Spot(Interval(0, 15, 30, "macro"), 2.0)
    c = Spot(Interval(40, 45, 50, "micro"), 1.1)
    assert resolve([a, b, c]) == [b, c]


def test_fit_p_finds_the_threshold_that_separates_expressions_from_distractors():
    # expressions at height 1.0, a distractor at 0.6: p must lie between them
    sig = signals_with({"micro": [(50, 1.0), (150, 0.6), (250, 1.0)], "macro": []})
    sig.score["macro"][:] = 0
    truth = [Interval(44, 50, 56, "micro"), Interval(244, 250, 256, "micro")]
    p = fit_p([sig], [truth], (0.1, 0.3, 0.5, 0.7, 0.9), 0.5)
    assert p["micro"] == 0.7
    spotted = [s.interval for s in spot(sig, p)]
    assert pooled_counts([(spotted, truth)])["micro"].f1 == 1.0


def _corpus(held_out_height: float):
    """Three subjects; the third's video has its expression at ``held_out_height``."""
    videos, signals = [], []
    for i, (subject, height) in enumerate((("a", 1.0), ("b", 0.9), ("c", held_out_height))):
        sig = signals_with({"micro": [(60, height), (200, 0.5)], "macro": [(120, 1.0)]},
                           seed=i)
        signals.append(sig)
        videos.append(video(subject, [Interval(54, 60, 66, "micro"),
                                      Interval(105, 120, 135, "macro")]))
    return videos, signals


def test_a_fold_threshold_does_not_depend_on_the_held_out_subject(tiny_spotting):
    videos, signals = _corpus(1.0)
    _, fits = loso_spots(videos, signals, tiny_spotting)
    changed_videos, changed_signals = _corpus(0.3)
    # c's expression is now where a and b have a distractor: a fold training on c lowers p
    changed_signals[2] = signals_with({"micro": [(60, 1.0), (200, 0.5)], "macro": [(120, 1.0)]},
                                      seed=9)
    changed_videos[2] = video("c", [Interval(194, 200, 206, "micro"),
                                    Interval(105, 120, 135, "macro")])
    _, changed_fits = loso_spots(changed_videos, changed_signals, tiny_spotting)
    held_out = {f.subject: f.p for f in fits}
    changed = {f.subject: f.p for f in changed_fits}
    assert changed["c"] == held_out["c"]  # c's fold saw only a and b
    # ... while a fold that trains on c moves: the fit does read its training videos
    assert changed["a"] != held_out["a"] or changed["b"] != held_out["b"]


def test_spotter_beats_the_baseline_on_the_tiny_corpus(tiny_long_signals, tiny_spotting):
    videos, signals = tiny_long_signals
    report = evaluate_corpus(videos, signals, tiny_spotting)
    assert report["videos"] == 2 and report["truth"] == {"micro": 4, "macro": 2}
    assert report["spotter"]["overall"]["tp"] >= 2
    assert report["spotter"]["overall"]["f1"] > report["baseline"]["overall"]["f1"]
    # the baseline is computed, not copied: its counts are its own
    baseline = [[s.interval for s in spot_baseline(sig, tiny_spotting.baseline_threshold)]
                for sig in signals]
    assert report["baseline"]["overall"]["spotted"] == sum(map(len, baseline))


def test_follow_reports_a_peak_once_k_frames_after_its_apex():
    sig = signals_with({"micro": [(100, 1.0)], "macro": []})
    sig.score["macro"][:] = 0
    follower = FollowSpotter(sig.windows, {"micro": 0.5, "macro": 0.5})
    reported = []
    for t in range(sig.frames):
        reported += [(t, f.interval) for f in follower.push(t, {s: sig.score[s][t]
                                                                for s in sig.score})]
    # the expression, once, at its offset (apex + k); before it the running threshold knows
    # only noise and may take a noise peak, after it no noise peak passes
    assert [r for r in reported if r[1].apex == 100] == [(106, Interval(94, 100, 106, "micro"))]
    assert all(t < 100 for t, interval in reported if interval.apex != 100)
