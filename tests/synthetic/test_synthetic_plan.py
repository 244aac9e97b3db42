"""The dataset plan has CASME II's statistics: classes, subjects, clip lengths, AUs, quirks."""

import re
from collections import Counter

import numpy as np
import pytest

from mer.config import SyntheticParams
from mer.synthetic.write_casme2 import (
    CASME2_CLASS_COUNTS,
    CLIP_FRAMES,
    class_counts,
    plan_dataset,
    scaled_class_counts,
    scaled_counts,
)


@pytest.fixture(scope="module")
def default_plan():
    return plan_dataset(SyntheticParams(), seed=0)


def test_class_counts_are_casme2s_at_255_and_scale_proportionally():
    assert class_counts(255) == CASME2_CLASS_COUNTS
    counts = class_counts(40)
    assert sum(counts.values()) == 40
    for emotion, count in counts.items():
        assert abs(count - CASME2_CLASS_COUNTS[emotion] * 40 / 255) < 1


def test_scaled_counts_sum_exactly():
    assert scaled_counts([1, 1, 1], 10) == [4, 3, 3]
    assert sum(scaled_counts([0.3, 2.2, 5.1, 0.01], 97)) == 97


def test_default_plan_has_casme2_classes_and_uneven_subjects(default_plan):
    assert len(default_plan.subjects) == 26
    assert len(default_plan.clips) == 255
    assert Counter(c.emotion for c in default_plan.clips) == Counter(CASME2_CLASS_COUNTS)
    per_subject = Counter(c.subject for c in default_plan.clips)
    assert sorted(per_subject) == list(range(1, 27))
    assert min(per_subject.values()) >= 2
    assert max(per_subject.values()) >= 4 * min(per_subject.values())  # CASME II: 2 to 36


def test_clip_lengths_and_apex_are_casme2_like(default_plan):
    frames = np.array([c.frames for c in default_plan.clips])
    assert frames.min() >= CLIP_FRAMES[0] and frames.max() <= CLIP_FRAMES[1]
    assert 45 <= np.median(frames) <= 75
    delays = np.array([c.apex - c.onset for c in default_plan.clips])
    assert all(c.onset < c.apex < c.offset for c in default_plan.clips)
    assert 22 <= np.median(delays) <= 38
    assert delays.std() > 5  # the apex timing varies
    assert len({c.onset for c in default_plan.clips}) > 50  # onsets at arbitrary frame numbers


def _share(clips, emotion, au):
    of_class = [c for c in clips if c.emotion == emotion]
    return sum(any(e.au == au for e in c.aus) for c in of_class) / len(of_class)


@pytest.mark.parametrize(("emotion", "au", "casme2"), [
    ("others", 4, 67 / 99), ("disgust", 4, 59 / 63), ("disgust", 7, 30 / 63),
    ("happiness", 12, 27 / 32), ("repression", 17, 19 / 27), ("surprise", 2, 20 / 25),
    ("surprise", 1, 18 / 25),
])
def test_au_shares_follow_casme2(default_plan, emotion, au, casme2):
    assert abs(_share(default_plan.clips, emotion, au) - casme2) < 0.2


def test_classes_overlap_in_their_aus(default_plan):
    # Real data: many 'others' and 'disgust' clips are both coded plain AU4.
    others = {c.au_string for c in default_plan.clips if c.emotion == "others"}
    disgust = {c.au_string for c in default_plan.clips if c.emotion == "disgust"}
    assert "4" in others & disgust


def test_about_one_clip_in_five_has_a_one_sided_au(default_plan):
    one_sided = [c for c in default_plan.clips if any(e.side for e in c.aus)]
    assert 0.1 <= len(one_sided) / len(default_plan.clips) <= 0.3
    assert {e.side for c in one_sided for e in c.aus} - {""} == {"L", "R"}


def test_quirks_are_few_and_deterministic(default_plan):
    missing = [c for c in default_plan.clips if not c.apex_in_sheet]
    assert 2 <= len(missing) <= 4
    text_subjects = [c for c in default_plan.clips if c.subject_as_text]
    assert 0 < len(text_subjects) < len(default_plan.clips)
    again = plan_dataset(SyntheticParams(), seed=0)
    assert again == default_plan


def test_clip_names_are_casme2_style_and_unique(default_plan):
    for clip in default_plan.clips:
        assert re.fullmatch(r"EP\d{2}_\d{2}f?", clip.name)
    keys = [(c.subject, c.name) for c in default_plan.clips]
    assert len(set(keys)) == len(keys)


def test_subjects_differ_in_style_and_reuse_portraits_evenly(default_plan):
    gains = {s.gain for s in default_plan.subjects}
    assert len(gains) == 26
    portraits = Counter((s.base, s.mirrored) for s in default_plan.subjects)
    assert len(portraits) == 6 and max(portraits.values()) - min(portraits.values()) <= 1


def test_bigger_harder_variants_come_from_params():
    plan = plan_dataset(SyntheticParams(subjects=40, clips=600), seed=3)
    assert len(plan.subjects) == 40 and len(plan.clips) == 600
    assert plan != plan_dataset(SyntheticParams(subjects=40, clips=600), seed=4)


def test_scaled_class_counts_keep_every_required_class():
    real = {"a": 5, "b": 4, "c": 1, "d": 1}
    assert scaled_class_counts(real, 11) == real
    for clips in range(3, 12):
        counts = scaled_class_counts(real, clips, ("a", "c", "d"))
        assert sum(counts.values()) == clips and min(counts["a"], counts["c"], counts["d"]) > 0
    with pytest.raises(ValueError, match="required classes"):
        scaled_class_counts(real, 2, ("a", "c", "d"))
