"""The spotter: peaks -> intervals, thresholds fitted on training subjects only."""

import math
import re
from pathlib import Path

import numpy as np
import pytest

from mer.config import FeatureParams, SpottingParams
from mer.data.long_video import Interval, LongVideo
from mer.errors import MerError
from mer.evaluation.spotting import pooled_counts
from mer.spotting.folds import evaluate_corpus, loso_spots
from mer.spotting.signals import FACE_CHECK_S, MotionMeter, VideoSignals, window_frames
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


@pytest.mark.parametrize(("seconds", "fps", "k"), [
    (0.5, 25.0, 13), (0.5, 27.0, 14), (0.2, 12.5, 3), (0.2, 17.5, 4), (0.2, 30.0, 6),
    (0.5, 200.0, 100), (0.01, 30.0, 1), (0.35, 90.0, 32), (0.58, 25.0, 15), (0.7, 85.0, 60)])
def test_a_window_is_rounded_to_frames_half_up(seconds, fps, k):
    """Python's round() made 0.5 s at 25 fps 12 frames but at 27 fps 14 (a half goes to the
    even number), and 0.2 s at 12.5 fps 2 frames but at 17.5 fps 4. A break-it session: a
    half that floating point computes just below .5 (0.35 * 90 is 31.499999999999996) was
    rounded down."""
    assert window_frames(seconds, fps) == k


def test_the_face_check_cadence_is_rounded_as_the_windows_are():
    """One rule turns seconds into frames: the face check every FACE_CHECK_S (1 s) was 12
    frames at 12.5 frames/s by Python's round(), where a window of 1 s is 13."""
    for fps in (12.5, 30.0, 7.5):
        meter = MotionMeter(SpottingParams(), FeatureParams(), fps, "video.avi")
        assert meter.check == window_frames(FACE_CHECK_S, fps)
    assert MotionMeter(SpottingParams(), FeatureParams(), 12.5, "video.avi").check == 13


@pytest.mark.parametrize("fps", [float("inf"), float("nan"), 0.0, -25.0, 1e19, 10_001.0])
def test_a_frame_rate_that_is_no_videos_is_a_clear_error(fps):
    """A break-it session: an infinite or NaN rate (a broken header, a request to a served
    model) stopped with Python's OverflowError or ValueError from the window arithmetic, and
    so did 1e19 frames/s in the frame buffer of a followed video."""
    shown = re.escape(f"{fps:g}")
    # (h58: a high-speed camera may film faster than spotting reads: not "no video's rate")
    why = ("faster than spotting's windows and frame buffers are sized for" if 1 < fps < math.inf
           else "no video's rate")
    with pytest.raises(MerError, match=rf"^video\.avi: {shown} frames/s: {why}; spotting "
                       r"reads 4 to 10000 frames/s; if the video's real frame rate differs, "
                       r"pass it with --fps"):
        MotionMeter(SpottingParams(), FeatureParams(), fps, "video.avi")
    assert MotionMeter(SpottingParams(), FeatureParams(), 10_000.0, "video.avi").windows == \
        {"micro": 2000, "macro": 5000}


def test_windows_that_round_to_one_length_are_refused():
    """A break-it session: a 30 frames/s video whose header said 2 frames/s gave one macro
    interval and exit 0: both windows were 1 frame, so no interval could be micro. 2 frames/s
    is now below the rate spotting reads (frame_rate_fault); params whose windows are one
    length at a rate it reads are refused by the meter itself."""
    with pytest.raises(MerError, match=r"^video\.avi: at 4 frames/s the micro window "
                                       r"\(spotting.micro_window 0.2 s\) and the macro one "
                                       r"\(0.25 s\) are both 1 frame\(s\), so no interval could "
                                       r"be told micro; if the video's real frame rate "
                                       r"differs, pass it with --fps"):
        MotionMeter(SpottingParams(macro_window=0.25), FeatureParams(), 4.0, "video.avi")
    assert MotionMeter(SpottingParams(), FeatureParams(), 4.0, "video.avi").windows == \
        {"micro": 1, "macro": 2}


def test_a_peak_becomes_the_interval_apex_minus_k_to_apex_plus_k():
    s = signals_with({"micro": [(100, 1.0)], "macro": []})
    s.score["macro"][:] = 0
    spots = spot(s, {"micro": 0.5, "macro": 0.5})
    assert [sp.interval for sp in spots] == [Interval(94, 100, 106, "micro")]
    assert spots[0].confidence > 1


def test_a_video_of_noise_spots_nothing_above_the_noise_floor():
    """A break-it session: mean + p (max - mean) always passes a video's largest peaks, so a
    still face spotted its noise (30 s: 32 intervals). With the noise floor it spots nothing,
    and an expression standing out of the same noise is still spotted."""
    p = {"micro": 0.3, "macro": 0.3}
    noise = signals_with({"micro": [], "macro": []}, frames=900)
    assert len(spot(noise, p)) > 10  # the MEGC threshold alone (noise_floor 0)
    assert spot(noise, p, noise_floor=6.0) == []
    assert followed(noise, p, 6.0) == []
    expression = signals_with({"micro": [(400, 0.3)], "macro": []}, frames=900)
    assert [s.interval for s in spot(expression, p, noise_floor=6.0)] == [
        Interval(394, 400, 406, "micro")]


def test_a_video_without_sensor_noise_is_measured_on_its_still_frames():
    """A break-it session: rendered footage (no sensor noise) scores 0 between expressions;
    the noise statistics were the expressions' own, and neither of two clear ones was
    spotted. Where most frames score 0 there is no noise to measure: no floor."""
    score = np.zeros(300)
    for apex in (100, 200):
        score[apex - 2:apex + 3] = [0.3, 0.7, 1.0, 0.7, 0.3]
    sig = VideoSignals(30.0, 300, {"micro": 6, "macro": 15}, {"micro": score,
                       "macro": np.zeros(300)}, {"micro": score, "macro": np.zeros(300)})
    p = {"micro": 0.3, "macro": 0.3}
    expected = [Interval(94, 100, 106, "micro"), Interval(194, 200, 206, "micro")]
    assert [s.interval for s in spot(sig, p, 6.0)] == expected
    assert [f.interval for _, f in followed(sig, p, 6.0)] == expected


def test_the_noise_threshold_is_the_median_plus_z_robust_standard_deviations():
    from mer.spotting.spotter import noise_threshold

    values = np.random.default_rng(3).gamma(2.0, 0.02, 501)
    q1, median, q3 = np.quantile(values, [0.25, 0.5, 0.75])
    assert noise_threshold(sorted(values), 600, 6.0) == pytest.approx(
        median + 6.0 * (q3 - q1) / 1.349, rel=1e-12)
    assert noise_threshold(sorted(values), 501, 0.0) == noise_threshold([], 0, 6.0) == 0.0
    # most frames still (score 0): no noise to measure, no floor
    assert noise_threshold(sorted(values), 1003, 6.0) == 0.0
    # a still face's score is about normal: its largest of 900 frames stands about 3.3
    # robust standard deviations up, well under 6
    normal = np.random.default_rng(4).normal(1.0, 0.1, 900)
    assert normal.max() < noise_threshold(sorted(normal), 900, 6.0)


def test_a_spotter_registered_before_the_noise_floor_keeps_its_threshold():
    """A bundle pickled before FittedSpotter had noise_floor unpickles without it: its p were
    fitted with the MEGC threshold alone, which it keeps (0), not today's default."""
    import pickle

    from mer.config import FeatureParams
    from mer.spotting.spotter import FittedSpotter

    spotter = FittedSpotter({"micro": 0.3, "macro": 0.35}, {}, FeatureParams(), "synthetic",
                            noise_floor=6.0)
    old = pickle.loads(pickle.dumps(spotter))
    del old.__dict__["noise_floor"]  # as unpickled from a bundle written before it existed
    assert old.noise_floor == 0.0
    assert "noise floor 0" in old.describe()


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


def test_fit_p_ties_keep_the_smaller_p_in_any_listed_order():
    """A review (h67 F4): p 0.7 and 0.9 tie here, and the candidates listed from the largest
    gave 0.9: the first listed won, not the smaller p the docstring promises."""
    sig = signals_with({"micro": [(50, 1.0), (150, 0.6), (250, 1.0)], "macro": []})
    sig.score["macro"][:] = 0
    truth = [Interval(44, 50, 56, "micro"), Interval(244, 250, 256, "micro")]
    listed = (0.1, 0.3, 0.5, 0.7, 0.9)
    for order in (listed, listed[::-1], (0.5, 0.9, 0.1, 0.7, 0.3)):
        assert fit_p([sig], [truth], order, 0.5) == {"micro": 0.7, "macro": 0.9}, order


def test_a_kind_without_true_intervals_gets_the_p_that_spots_least(caplog):
    """A break-it session: with no micro-expression in the training videos every p scored F1
    0, and the tie rule (the smaller p, more recall) shipped the p that spots the most: 49
    false alarms in 60 s. It is the largest candidate, with a warning."""
    sig = signals_with({"micro": [(50, 1.0), (150, 0.6)], "macro": [(250, 1.0)]})
    truth = [Interval(235, 250, 265, "macro")]
    with caplog.at_level("WARNING", logger="mer.spotting"):
        p = fit_p([sig], [truth], (0.1, 0.3, 0.5, 0.7, 0.9), 0.5)
    assert p["micro"] == 0.9
    assert "no micro interval in the 1 training video(s): F1 cannot choose p micro, so it " \
           "is the largest candidate, 0.9" in caplog.text
    assert "no macro interval" not in caplog.text


def test_a_synthetic_spotting_corpus_without_expressions_is_refused():
    """A break-it session: micro 0 and macro 0 ended `mer spot-synthesize` in a raw
    IndexError, after leaving an empty data folder."""
    from pydantic import ValidationError

    from mer.config import SpottingParams

    with pytest.raises(ValidationError, match=r"spotting.synthetic: micro and macro are both "
                                              r"0, so the videos hold no expression"):
        SpottingParams.model_validate({"synthetic": {"micro": 0, "macro": 0}})
    assert SpottingParams.model_validate({"synthetic": {"micro": 0, "macro": 2}})


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
    report = evaluate_corpus(videos, signals, tiny_spotting).report
    assert report["videos"] == 2 and report["truth"] == {"micro": 4, "macro": 2}
    assert report["spotter"]["overall"]["tp"] >= 2
    assert report["spotter"]["overall"]["f1"] > report["threshold_baseline"]["overall"]["f1"]
    # the baseline is computed, not copied: its counts are its own
    baseline = [[s.interval for s in spot_baseline(sig, tiny_spotting.baseline_threshold)]
                for sig in signals]
    assert report["threshold_baseline"]["overall"]["spotted"] == sum(map(len, baseline))


def followed(sig: VideoSignals, p: dict[str, float], noise_floor: float = 0.0
             ) -> list[tuple[int, Spot]]:
    """(frame whose scores decided it, spot) of each spot FollowSpotter reports on ``sig``,
    the stream's end (``finish``) counted as its last frame."""
    follower = FollowSpotter(sig.windows, p, noise_floor)
    reported = []
    for t in range(sig.frames):
        reported += [(t, f) for f in follower.push(t, {s: sig.score[s][t] for s in sig.score})]
    return reported + [(sig.frames - 1, f) for f in follower.finish()]


def test_follow_reports_a_peak_once_3_k_macro_frames_after_its_apex():
    sig = signals_with({"micro": [(100, 1.0)], "macro": []})
    sig.score["macro"][:] = 0
    reported = [(t, f.interval) for t, f in followed(sig, {"micro": 0.5, "macro": 0.5})]
    assert FollowSpotter(sig.windows, {}).delay == 3 * 15
    # the expression, once, at apex + 3 k_macro; before it the running threshold knows only
    # noise and may take a noise peak, after it no noise peak passes
    assert [r for r in reported if r[1].apex == 100] == [(145, Interval(94, 100, 106, "micro"))]
    assert all(interval.apex < 100 for _, interval in reported if interval.apex != 100)


def bump(frames: int, apex: int, height: float, width: float) -> np.ndarray:
    """A smooth expression-shaped bump: height at ``apex``, falling over about ``width``."""
    return height * np.exp(-(((np.arange(frames) - apex) / width) ** 2))


def test_follow_reports_a_macro_expression_that_also_excites_the_micro_scale():
    """A macro expression moves the micro scale too: a sharper, smaller bump inside the broad
    one. Offline, the two overlapping spots keep the more confident, the macro one; the micro
    spot is sure first (k_micro after its apex) but must not block it."""
    sig = signals_with({"micro": [(60, 1.0)], "macro": []})
    sig.score["macro"] += bump(sig.frames, 150, 1.0, 8.0)
    sig.score["micro"] += bump(sig.frames, 147, 0.6, 2.0)
    p = {"micro": 0.5, "macro": 0.5}
    offline = [s.interval for s in spot(sig, p)]
    assert offline == [Interval(54, 60, 66, "micro"), Interval(135, 150, 165, "macro")]
    # before frame 60 the running thresholds know only noise (and may take a noise peak)
    reported = [(t, f) for t, f in followed(sig, p) if f.interval.apex >= 60]
    assert [f.interval for _, f in reported] == offline
    assert reported[-1][0] == 150 + 3 * 15


def test_follow_decides_what_is_pending_when_the_stream_ends():
    """An expression ending with the video: its interval clipped to the last frame, as offline."""
    sig = signals_with({"micro": [(100, 1.0), (296, 1.0)], "macro": []})
    sig.score["macro"][:] = 0
    reported = followed(sig, {"micro": 0.5, "macro": 0.5})
    assert reported[-1] == (299, spot(sig, {"micro": 0.5, "macro": 0.5})[-1])
    assert reported[-1][1].interval == Interval(290, 296, 299, "micro")


def expression_stream(seed: int, frames: int = 1800) -> VideoSignals:
    """A minute at 30 fps of random micro- and macro-expressions, 2-4 s apart, after the two
    strongest ones (frames 40 and 120), so the running threshold settles by frame 200. Each
    macro one excites the micro scale with a sharp bump near its apex, 0.3, 0.8 or 1.3 times
    its height (below the threshold, overlapping and less confident, or more confident);
    each micro one the macro scale at 0.3 times its height (below the threshold). Heights
    are at least 20% from the threshold and the two confidences of a macro one at least 20%
    apart, more than the running threshold drifts after frame 200."""
    rng = np.random.default_rng(seed)
    score = {scale: np.abs(rng.normal(0, 0.02, frames)) for scale in ("micro", "macro")}

    def expression(kind: str, apex: int, height: float, ratio: float) -> None:
        if kind == "macro":
            score["macro"] += bump(frames, apex, height, 8.0)
            score["micro"] += bump(frames, apex + int(rng.integers(-8, 9)), ratio * height, 2.0)
        else:
            score["micro"] += bump(frames, apex, height, 2.0)
            score["macro"] += bump(frames, apex, 0.3 * height, 8.0)

    expression("macro", 40, 2.0, 0.3)
    expression("micro", 120, 2.0, 0.0)
    apex = 200 + int(rng.integers(60, 120))
    while apex < frames - 60:
        if rng.random() < 0.5:
            expression("macro", apex, rng.uniform(1.0, 1.45), float(rng.choice([0.3, 0.8, 1.3])))
        else:
            expression("micro", apex, rng.uniform(1.0, 1.8), 0.0)
        apex += int(rng.integers(60, 120))
    return VideoSignals(30.0, frames, {"micro": 6, "macro": 15}, score,
                        {k: v.copy() for k, v in score.items()})


@pytest.mark.parametrize("noise_floor", [0.0, 6.0])
@pytest.mark.parametrize("seed", range(8))
def test_follow_gives_the_offline_spots_once_the_threshold_has_settled(seed, noise_floor):
    """Once the stream has shown its strongest motion, the follow spotter's intervals are the
    offline ones. Before it they can differ (the running threshold is lower), and in general
    also where a run of ever more confident overlapping spots reaches further than 3 k_macro
    frames ahead (FollowSpotter); expressions 2-4 s apart have none. With a noise floor, too
    (its running median and IQR)."""
    sig = expression_stream(seed)
    p = {"micro": 0.3, "macro": 0.3}
    offline = [s.interval for s in spot(sig, p, noise_floor) if s.interval.apex >= 200]
    kinds = {i.kind for i in offline}
    assert len(offline) >= 8 and kinds == {"micro", "macro"}
    assert [f.interval for _, f in followed(sig, p, noise_floor)
            if f.interval.apex >= 200] == offline
