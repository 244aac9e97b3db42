"""The MEGC spotting metric against cases worked by hand."""

from __future__ import annotations

import pytest

from mer.data.long_video import Interval
from mer.evaluation.spotting import iou, match, pooled_counts, video_counts


def micro(onset, offset):
    return Interval(onset, None, offset, "micro")


def macro(onset, offset):
    return Interval(onset, None, offset, "macro")


def test_iou_counts_frames_inclusively():
    assert iou(micro(0, 9), micro(0, 9)) == 1.0
    # 5..9 shared (5 frames) of 0..14 (15 frames)
    assert iou(micro(0, 9), micro(5, 14)) == pytest.approx(5 / 15)
    # touching at one frame: 1 of 19
    assert iou(micro(0, 9), micro(9, 18)) == pytest.approx(1 / 19)
    assert iou(micro(0, 9), micro(10, 19)) == 0.0


def test_iou_of_exactly_one_half_is_a_true_positive():
    # truth 0..9 (10 frames), spotted 0..19 (20 frames): 10 / 20 = 0.5
    counts = video_counts([micro(0, 19)], [micro(0, 9)])
    assert counts["micro"].tp == 1
    # spotted 0..20: 10 / 21 < 0.5
    assert video_counts([micro(0, 20)], [micro(0, 9)])["micro"].tp == 0


def test_each_truth_is_matched_once_and_the_better_detection_wins():
    truth = [micro(10, 19)]
    spotted = [micro(10, 21), micro(10, 19)]  # IoU 10/12 and 1.0
    assert match(spotted, truth) == [(1, 0)]
    c = video_counts(spotted, truth)["micro"]
    assert (c.tp, c.fp, c.fn) == (1, 1, 0)
    assert c.precision == 0.5 and c.recall == 1.0
    assert c.f1 == pytest.approx(2 / 3)


def test_the_most_pairs_any_one_to_one_matching_allows():
    """The issue: truth A = 0..1, B = 2..3; spotted S1 = 0..3 (IoU 1/2 with each), S2 = 0..0
    (IoU 1/2 with A). Greedy pairing took S1-A and left S2 and B: TP 1, F1 0.5. S1-B, S2-A
    is TP 2, F1 1 (the MEGC2020 baseline's count of found labels also gives 1)."""
    truth = [micro(0, 1), micro(2, 3)]
    spotted = [micro(0, 3), micro(0, 0)]
    assert match(spotted, truth) == [(0, 1), (1, 0)]
    assert video_counts(spotted, truth)["micro"].f1 == 1.0


def test_among_the_largest_matchings_the_closest_pairs_win():
    truth = [micro(0, 9), micro(20, 29)]
    spotted = [micro(20, 29), micro(1, 9), micro(0, 9)]  # 1.0 with B; 0.9 and 1.0 with A
    assert match(spotted, truth) == [(0, 1), (2, 0)]


def test_kinds_are_matched_separately_and_overall_pools_them():
    truth = [micro(0, 9), macro(100, 159), macro(300, 359)]
    # a micro detection on a macro expression is not a TP of either kind
    spotted = [micro(1, 9), micro(100, 159), macro(300, 350), macro(500, 550)]
    rows = video_counts(spotted, truth)
    assert (rows["micro"].tp, rows["micro"].spotted, rows["micro"].truth) == (1, 2, 1)
    assert (rows["macro"].tp, rows["macro"].spotted, rows["macro"].truth) == (1, 2, 2)
    assert (rows["overall"].tp, rows["overall"].spotted, rows["overall"].truth) == (2, 4, 3)
    assert rows["overall"].f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))


def test_counts_pool_over_videos_not_average():
    # video A: 1 TP of 1 spotted, 1 truth; video B: 0 TP of 3 spotted, 1 truth
    a = ([micro(0, 9)], [micro(0, 9)])
    b = ([micro(50, 55), micro(70, 75), micro(90, 95)], [micro(20, 29)])
    rows = pooled_counts([a, b])
    c = rows["micro"]
    assert (c.tp, c.spotted, c.truth) == (1, 4, 2)
    assert c.precision == 0.25 and c.recall == 0.5
    assert c.f1 == pytest.approx(1 / 3)  # the mean of per-video F1s would be 0.5


def test_empty_cases_score_zero_not_nan():
    none_spotted = pooled_counts([([], [micro(0, 9)])])["micro"]
    assert (none_spotted.precision, none_spotted.recall, none_spotted.f1) == (0, 0, 0)
    no_truth = pooled_counts([([micro(0, 9)], [])])["micro"]
    assert (no_truth.fp, no_truth.precision, no_truth.recall, no_truth.f1) == (1, 0, 0, 0)
    nothing = pooled_counts([([], [])])["overall"]
    assert nothing.as_dict()["f1"] == 0.0
    assert pooled_counts([])["macro"].truth == 0


def test_threshold_outside_zero_one_is_refused():
    with pytest.raises(ValueError, match="IoU threshold"):
        match([micro(0, 1)], [micro(0, 1)], threshold=0)
